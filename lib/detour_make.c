// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Making a jump detour at a hit: the site's checks, the kind of detour it
 * wants, the detour built in a scratch slot, then the jmp written with the
 * process's threads held (the rules are detour.c's opening comment).
 */
#include <stdlib.h>
#include <string.h>

#include "mech.h"
#include "detour_internal.h"
#include "lifeline.h"

#define DETOUR_LEN_NEVER 0xff           /* site->detour_len: the site cannot have one */
#define CHEAP_WAIT 4096 /* hits between cheap re-checks (a probe inside the range) */
#define MAX_TRIES 6     /* costly attempts before giving up, the last for a lasting reason */
#define MAX_DTRIES 7    /* bp->dtries' largest value (3 bits) */

/* The static half of detour.c's rules (detour_rules.c), once per site: sets s->detour_len. */
static void analyse_site(struct site *s)
{
	const char *why;
	int len = detour_rules_analyse(s->elf, s->off, &why);

	if (len < 0) {
		pr_debug("%s+0x%llx: no jump detour: %s", s->elf->path, (unsigned long long)s->off,
			 why);
		s->detour_len = DETOUR_LEN_NEVER;
		return;
	}
	s->detour_len = (uint8_t)len;
}

/* Whether s's detours should record into the ring instead of trapping: all its probes are no-stop. */
static bool wants_rec(const struct proc *p, const struct site *s)
{
	return s->nprobes && s->nasync == s->nprobes && !s->twice && !s->npost &&
	       !p->ring_failed && !p->mm_owner;
}

/* Does every probe of s say so (and s has probes)? */
static bool every_probe(const struct site *s, bool (*says)(const struct uprobe *))
{
	for (unsigned i = 0; i < s->nprobes; i++)
		if (!says(s->probes[i]))
			return false;
	return s->nprobes > 0;
}

/*
 * Whether s's detours should only count: all its probes are no-stop with no
 * handler at all (asked of the probes: a count in struct site would grow
 * every probe's memory).
 */
static bool wants_count(const struct proc *p, const struct site *s)
{
	/* the count gadget keeps the flags with lahf/sahf: without them, records */
	return wants_rec(p, s) && caps_have(UPROBE_CAP_LAHF) && every_probe(s, uprobe_counts_only);
}

static bool probe_no_time(const struct uprobe *u)
{
	return u->no_time;
}

static bool probe_args_only(const struct uprobe *u)
{
	return u->args_only;
}

/*
 * Whether s's records may leave out the time stamp: every probe said so
 * (UPROBE_RECORD_NO_TIME); never for return probes, whose duration needs it.
 */
static bool wants_notime(const struct proc *p, const struct site *s)
{
	return wants_rec(p, s) && !s->nret && every_probe(s, probe_no_time);
}

/*
 * Whether s's records may hold the arguments only: every probe said so
 * (UPROBE_RECORD_ARGS_ONLY); never for return probes (their gadgets record all).
 */
static bool wants_args(const struct proc *p, const struct site *s)
{
	return wants_rec(p, s) && !s->nret && every_probe(s, probe_args_only);
}

/* Is the detour at slot of the kind s wants now? */
static bool slot_fits(struct proc *p, const struct site *s, uint64_t slot)
{
	return detour_slot_is_rec(p, slot) == wants_rec(p, s) &&
	       detour_slot_is(p, slot, xol_is_count) == wants_count(p, s) &&
	       detour_slot_is(p, slot, xol_is_nsret) == (wants_rec(p, s) && s->nret) &&
	       detour_slot_is(p, slot, xol_is_notime) == wants_notime(p, s) &&
	       detour_slot_is(p, slot, xol_is_args) == wants_args(p, s);
}

/*
 * A failed attempt: when to look again, or never. A cheap failure (a probe
 * inside the range) waits CHEAP_WAIT hits. A costly one for a lasting
 * reason (the process could not be held, its memory not written) waits 4x
 * longer each time, and the site gives up at MAX_TRIES. A moment's one
 * (`now`: a thread inside the range, in a slot or a signal frame returning
 * into it, a value pointing there on its stack) says nothing of the next
 * moment, and never gives up: on a loaded machine the wrong moment came 7
 * times in a row, leaving a hot probe on its int3 (a stop per hit) for
 * good. It waits 2x longer each time instead, up to CHEAP_WAIT hits
 * (32 << MAX_DTRIES): a site whose moment never comes costs one hold of
 * its process per CHEAP_WAIT hits. dtries counts both kinds, so that a
 * lasting failure after many moments' ones gives up sooner.
 */
static void later(struct bp *b, bool costly, bool now)
{
	if (!costly) {
		b->dwait = CHEAP_WAIT;
		return;
	}
	if (b->dtries < MAX_DTRIES)
		b->dtries++;
	if (now) {
		b->dwait = (uint16_t)(32u << b->dtries);
		return;
	}
	if (b->dtries >= MAX_TRIES) {
		b->dstate = DETOUR_NEVER;
		return;
	}
	b->dwait = (uint16_t)(16u << (2 * b->dtries));
}

/* A breakpoint strictly inside (addr, addr + len)? */
static bool range_has_bp(struct proc *p, uint64_t addr, unsigned len)
{
	for (unsigned i = 1; i < len; i++) {
		struct bp *o = bp_lookup(&p->bps, addr + i);

		if (o && !o->retired)
			return true;
	}
	return false;
}

/* A free slot of p's areas in reach of addr, holding the detour; 0 if none. */
static uint64_t build_detour(struct uprobe_tracer *t, struct proc *p, struct site *s,
			     uint64_t addr, const struct detour_covered *c, bool rec, bool count)
{
	uint8_t code[ARCH_SLOT_SIZE], jmp[ARCH_JMP_LEN];
	/* marked even on a count-only detour: what it was built for, as slot_fits() asks */
	bool notime = rec && wants_notime(p, s), args = rec && wants_args(p, s);

	for (struct xol_area *a = p->areas; a; a = a->next) {
		uint64_t slot = a->start + (uint64_t)a->used * ARCH_SLOT_SIZE, gadget = 0;

		if (a->used >= a->nslots || !arch_jump(addr, slot, jmp))
			continue;
		if (rec && !(gadget = count	 ? ring_count_gadget(p, a)
				      : s->nret ? ring_nsent_gadget(p, a)
						: ring_rec_gadget(p, a, args, notime)))
			continue;
		memset(code, INT3, sizeof(code));
		if (arch_relocate_detour(c->plans, c->n, addr, slot, gadget, code) < 0)
			continue;
		if (a->used >= a->info_cap) {
			unsigned cap = a->info_cap ? a->info_cap * 2 : 64;
			struct slot_info *info = reallocarray(a->info, cap, sizeof(*info));

			if (!info)
				return 0;
			a->info = info;
			a->info_cap = cap;
		}
		if (xol_mark(a, a->used, &a->detour_map) ||
		    (rec && xol_mark(a, a->used, &a->rec_map)) ||
		    (count && xol_mark(a, a->used, &a->count_map)) ||
		    (notime && xol_mark(a, a->used, &a->notime_map)) ||
		    (args && xol_mark(a, a->used, &a->args_map)) ||
		    (rec && s->nret && xol_mark(a, a->used, &a->nsret_map)) ||
		    mem_write(p, slot, code, sizeof(code)))
			return 0;
		a->info[a->used] = (struct slot_info){ .insn_addr = addr, .site = s };
		s->refs++;
		a->used++;
		/* after our death its int3 becomes a nop, and the detour a plain jump */
		lifeline_note(p, xol_detour_int3(a, a->used - 1), 0x90, LL_DETOUR);
		return slot;
	}
	return 0;
}

/*
 * Has the kernel patched, or may it patch, the code a detour at addr would
 * cover? A kernel uprobe's int3, or its restore of the file's byte, inside
 * our jmp leaves half a jump (kernel.c). It may come at any time; what we
 * can see is whether one is there now: a byte of the page(s) of the range
 * that differs from the file and is none of ours (an int3 or optimized
 * call of the kernel, or anyone's patch), or a probe tracefs lists on
 * them. Either marks the site for good: where someone probes, they may
 * probe again.
 */
static bool kernel_near(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t addr,
			unsigned len)
{
	const struct elf_seg *seg = elf_exec_seg_at_off(s->elf, s->off);
	uint64_t lo = addr & ~(uint64_t)(KERNEL_PAGE - 1);
	uint64_t hi = ((addr + len - 1) | (KERNEL_PAGE - 1)) + 1;
	uint64_t seg_lo, seg_hi;
	uint8_t buf[2 * KERNEL_PAGE];

	if (s->kernel)
		return true;
	if (!seg)
		goto seen;
	/* only the file's bytes of the segment: the pages' vaddrs as offsets, clamped */
	seg_lo = addr - (s->off - seg->off);
	seg_hi = seg_lo + seg->filesz;
	if (lo < seg_lo)
		lo = seg_lo;
	if (hi > seg_hi)
		hi = seg_hi;
	if (hi - lo > sizeof(buf) || mem_read(p, lo, buf, hi - lo))
		goto seen;
	for (uint64_t v = lo; v < hi; v++) {
		uint8_t byte = buf[v - lo];
		const uint8_t want = s->elf->data[s->off - (addr - v)];
		struct bp *o;

		if (byte == want)
			continue;
		o = bp_lookup(&p->bps, v);
		if ((o && !o->retired && byte == INT3) || (v == p->trap && byte == INT3))
			continue;
		if (detour_covering(p, v) || ((o = bp_lookup(&p->bps, v)) && detour_on(o)))
			continue;
		goto seen;
	}
	if (!kernel_probe_near(s->elf, s->off - (addr - lo), s->off + (hi - addr)))
		return false;
seen:
	kernel_site_seen(t, s);
	return true;
}

/* One attempt() at a hit: what its steps share. */
struct attempt_state {
	struct uprobe_tracer *t;
	struct task *k;
	pid_t tid; /* k's: whether k is still there after a hold */
	struct proc *p;
	struct site *s;
	struct bp *b; /* looked up again after each hold */
	uint64_t addr;
	/* holding the others handles their stops, which may read k's registers: keep ours */
	struct user_regs_struct regs;
	struct detour_covered c;
	bool rec, count;
};

/* What a step of attempt() says: go on, or attempt() returns false, or true (k is gone). */
enum attempt_step {
	STEP_ON,
	STEP_FAILED,
	STEP_GONE,
};

/*
 * The checks that hold no thread: the process, the site's static rules
 * (once per site), other probes in the range, the kernel's uprobes near
 * it. false: not now (b->dwait says when again), or never (b->dstate).
 */
static bool site_checks(struct attempt_state *a)
{
	struct uprobe_tracer *t = a->t;
	struct proc *p = a->p;
	struct site *s = a->s;
	struct bp *b = a->b;
	uint64_t addr = a->addr;

	if (p->mm_owner || p->fork_child || !p->areas) {
		later(b, false, false);
		return false;
	}
	a->rec = wants_rec(p, s);
	if (!s->detour_len)
		analyse_site(s);
	if (s->detour_len == DETOUR_LEN_NEVER || detour_covered_plans(s, &a->c) ||
	    a->c.len != s->detour_len) {
		b->dstate = DETOUR_NEVER;
		return false;
	}
	if (range_has_bp(p, addr, a->c.len)) {
		later(b, false, false);
		return false;
	}
	/* the kernel's uprobes and our detours cannot share bytes (kernel.c) */
	if (kernel_near(t, p, s, addr, a->c.len)) {
		b->dstate = DETOUR_NEVER;
		return false;
	}
	return true;
}

/*
 * After a call that held p's threads, and so handled their stops: false
 * when k is gone; else k has its registers back and a->b is looked up
 * again (the stops may have changed the table).
 */
static bool rejoin(struct attempt_state *a)
{
	if (!still_there(a->t, a->k, a->tid))
		return false;
	a->k->regs = a->regs;
	a->k->regs_valid = true;
	a->b = bp_lookup(&a->p->bps, a->addr);
	return true;
}

/* Is a->b still the attempt's breakpoint (after rejoin())? */
static bool same_bp(const struct attempt_state *a)
{
	return a->b && !a->b->retired && a->b->site == a->s;
}

/* The first no-stop detour of the process: its ring first (holds it once). */
static enum attempt_step ring_step(struct attempt_state *a)
{
	if (!a->rec || a->p->ring)
		return STEP_ON;
	ring_ensure(a->t, a->p);
	if (!rejoin(a))
		return STEP_GONE;
	if (!same_bp(a))
		return STEP_FAILED;
	a->rec = wants_rec(a->p, a->s) && a->p->ring;
	return STEP_ON;
}

/* Has b no detour slot yet, or one of another kind than this attempt's? */
static bool needs_slot(const struct attempt_state *a)
{
	struct proc *p = a->p;
	struct site *s = a->s;
	struct bp *b = a->b;
	bool rec = a->rec, count = a->count;

	return !bp_detour(b) || detour_slot_is_rec(p, bp_detour(b)) != rec ||
	       detour_slot_is(p, bp_detour(b), xol_is_count) != count ||
	       detour_slot_is(p, bp_detour(b), xol_is_nsret) != (rec && s->nret) ||
	       detour_slot_is(p, bp_detour(b), xol_is_notime) != (rec && wants_notime(p, s)) ||
	       detour_slot_is(p, bp_detour(b), xol_is_args) != (rec && wants_args(p, s));
}

/*
 * No slot in reach of addr: one more area near it, then the detour built
 * there (the area's making holds the process). *slot stays 0 if none.
 */
static enum attempt_step build_near(struct attempt_state *a, uint64_t *slot)
{
	struct uprobe_tracer *t = a->t;
	struct proc *p = a->p;
	char saved[sizeof(t->errmsg)];

	/* the user's last error message is not ours to replace */
	memcpy(saved, t->errmsg, sizeof(saved));
	if (area_near(t, p, a->addr) == 0)
		*slot = build_detour(t, p, a->s, a->addr, &a->c, a->rec, a->count);
	if (!*slot && a->count)
		*slot = build_detour(t, p, a->s, a->addr, &a->c, a->rec, false);
	memcpy(t->errmsg, saved, sizeof(saved));
	if (!rejoin(a))
		return STEP_GONE;
	return same_bp(a) ? STEP_ON : STEP_FAILED;
}

/* b's detour slot, of the kind wanted: built now if it has none, or one of another kind. */
static enum attempt_step slot_step(struct attempt_state *a)
{
	struct proc *p = a->p;
	uint64_t addr = a->addr, slot;
	enum attempt_step step;

	a->count = a->rec && wants_count(p, a->s);
	if (!needs_slot(a))
		return STEP_ON;
	/* built before the threads are held, to hold them shorter; kept if this fails */
	slot = build_detour(a->t, p, a->s, addr, &a->c, a->rec, a->count);
	if (!slot && a->count) /* no counter block in reach: it records instead */
		slot = build_detour(a->t, p, a->s, addr, &a->c, a->rec, false);
	if (!slot) {
		step = build_near(a, &slot);
		if (step != STEP_ON)
			return step;
	}
	if (!slot) {
		pr_debug("pid %d: no jump detour for 0x%llx: no scratch slot within reach", p->pid,
			 (unsigned long long)addr);
		a->b->dstate = DETOUR_NEVER;
		return STEP_FAILED;
	}
	bp_set_detour(a->b, slot);
	return STEP_ON;
}

/*
 * With the threads held and clear of the range: the jmp written, the
 * displacement first, the opcode over the int3 last. false: not written,
 * the int3 and the program's bytes put back.
 */
static bool write_jmp(struct attempt_state *a, const uint8_t *jmp)
{
	struct proc *p = a->p;
	struct site *s = a->s;
	uint64_t addr = a->addr;
	bool ok;

	lifeline_note_tail(p, addr, s->elf->data[s->off], s->elf->data + s->off + 1,
			   ARCH_JMP_LEN - 1);
	if (a->b->slot)
		detour_threads_unslot(a->t, p, addr, a->b->slot);
	ok = mem_write(p, addr + 1, jmp + 1, ARCH_JMP_LEN - 1) == 0;
	if (ok)
		log_die_point("detour-jump");
	ok = ok && mem_write(p, addr, jmp, 1) == 0;
	if (!ok) {
		static const uint8_t int3 = INT3;

		mem_write(p, addr, &int3, 1);
		mem_write(p, addr + 1, s->elf->data + s->off + 1, ARCH_JMP_LEN - 1);
	}
	return ok;
}

/* The jmp is written: b is optimized. */
static void made(struct attempt_state *a, uint64_t slot)
{
	struct proc *p = a->p;
	struct site *s = a->s;
	struct bp *b = a->b;

	b->dstate = DETOUR_ON;
	b->dtries = 0; /* taken down later, it starts afresh */
	p->had_detour = true;
	a->t->kwatch = true; /* a kernel uprobe registered later would write into it */
	pr_debug("pid %d: jump detour for 0x%llx (%s+0x%llx), %u bytes, at 0x%llx%s", p->pid,
		 (unsigned long long)a->addr, s->elf->path, (unsigned long long)s->off, a->c.len,
		 (unsigned long long)slot,
		 detour_slot_is(p, slot, xol_is_count) ? ", count-only" :
		 detour_slot_is(p, slot, xol_is_nsret) ? ", no-stop return" : "");
}

/*
 * The threads held: b, its slot and the range checked again (the hold
 * handled stops), the threads checked and moved, the jmp written; then
 * the threads let go, and k sent into the detour. The return is attempt()'s.
 */
static bool commit(struct attempt_state *a)
{
	struct uprobe_tracer *t = a->t;
	struct proc *p = a->p;
	struct task *k = a->k;
	uint64_t addr = a->addr, slot = bp_detour(a->b);
	uint8_t jmp[ARCH_JMP_LEN];
	bool ok, busy_now;
	int err;

	if (!arch_jump(addr, slot, jmp)) {
		a->b->dstate = DETOUR_NEVER;
		return false;
	}
	task_mark_running(t, p);
	err = task_stop_all(t, p);
	if (!rejoin(a))
		return true;
	ok = !err && same_bp(a) && a->b->dstate == DETOUR_UNTRIED && bp_detour(a->b) == slot &&
	     !t->no_detour && !range_has_bp(p, addr, a->c.len);
	busy_now = ok && (!detour_threads_clear(t, p, k, addr, addr + a->c.len, a->b->slot) ||
			  !detour_threads_move(t, p, k, a->b->slot, detour_int3_of(p, slot) + 1));
	ok = ok && !busy_now;
	ok = ok && write_jmp(a, jmp);
	if (ok)
		made(a, slot);
	else if (a->b)
		later(a->b, true, busy_now);
	task_release(t, p);
	if (ok)
		detour_hit_enter(k, detour_int3_of(p, slot));
	return ok;
}

/*
 * Tries to put a jump detour on b, hit by k (handlers run, k->regs ready
 * with rip = b->vaddr). true: done, and k was sent into the detour (or is
 * gone).
 */
static bool attempt(struct uprobe_tracer *t, struct task *k, struct bp *b)
{
	struct attempt_state a = {
		.t = t, .k = k, .tid = k->tid, .p = k->proc, .s = b->site, .b = b, .addr = b->vaddr,
	};
	enum attempt_step step;

	if (!site_checks(&a))
		return false;
	a.regs = k->regs;
	step = ring_step(&a);
	if (step == STEP_ON)
		step = slot_step(&a);
	if (step != STEP_ON)
		return step == STEP_GONE;
	return commit(&a);
}

/* At an int3 hit of b, before k goes to its slot: into a detour instead, where one can be. */
bool detour_try(struct uprobe_tracer *t, struct task *k, struct bp *b)
{
	if (b->site->npost) {
		/* post handlers need the post slot's exit int3s, which a detour has not */
		detour_unoptimize(proc_mm(k->proc), b);
		return false;
	}
	if (b->dstate == DETOUR_ON) {
		/* trapped on the int3 before the jmp replaced it: the detour serves as its slot */
		detour_hit_enter(k, detour_int3_of(proc_mm(k->proc), bp_detour(b)));
		return true;
	}
	if (b->dstate != DETOUR_UNTRIED || t->no_detour || b->internal)
		return false;
	/* a no-stop probe is worth its detour at once: every later hit then costs no stop */
	if (b->dwait && !(wants_rec(k->proc, b->site) && !b->dtries)) {
		b->dwait--;
		return false;
	}
	return attempt(t, k, b);
}

void detour_site_changed(struct proc *p, struct bp *b)
{
	if (b->dstate != DETOUR_ON || b->retired)
		return;
	if (slot_fits(p, b->site, bp_detour(b)))
		return;
	/* back to an int3; the next hit makes the detour of the other kind */
	detour_unoptimize(p, b);
}
