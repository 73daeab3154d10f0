// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A no-stop record delivered: the thread it names by fs_base (ring.h's
 * RING_FS_*; a cache of fs_base -> tid that new and gone threads keep
 * right), the registers and the hit its handlers see, the entry handlers
 * of its detour's probes (with the pending call of a no-stop return
 * probe: ring_nsret.c), or for a return gadget's record the return
 * handlers of the calls it ends. The drain copies each record out of the
 * ring and hands it to ring_deliver().
 */
#include "mech.h"
#include "ring.h"
#include "ring_internal.h"

static unsigned fs_hash(uint64_t fs)
{
	return (unsigned)((fs >> 12) ^ (fs >> 21)) & (FS_CACHE - 1);
}

/*
 * A new thread of p: records with its fs_base are its own from now on. A
 * dead thread's TLS block (so its fs_base) is reused by a later thread,
 * maybe before the dead one's exit is reported; the dead one's records
 * were drained at this clone event's stop.
 */
void ring_thread_new(struct proc *p, const struct task *k)
{
	unsigned h = fs_hash(k->regs.fs_base);

	if (!p->ring || !k->regs.fs_base)
		return;
	p->ring->fs_cache[h].fs = k->regs.fs_base;
	p->ring->fs_cache[h].tid = k->tid;
}

/*
 * Thread k of p is gone (its exit reported): records of its still in the
 * ring (a drain stops at another thread's record not yet committed) name
 * it by its tid all the same, unless a newer thread took its TLS block.
 */
void ring_thread_gone(struct proc *p, const struct task *k)
{
	if (p->ring && k->regs.fs_base)
		ring_thread_new(p, k);
}

/* The tid of the thread that last had fs_base fs, alive or gone; 0 when not known. */
static pid_t cached_tid(const struct ring *r, uint64_t fs)
{
	unsigned h = fs_hash(fs);

	return fs && r->fs_cache[h].fs == fs ? r->fs_cache[h].tid : 0;
}

/*
 * The thread a record names by fs_base (the newest that has it, see
 * ring_thread_new()); NULL when none is known to have it.
 */
static struct task *record_task(struct uprobe_tracer *t, struct proc *p, struct ring *r,
				uint64_t fs)
{
	unsigned h = fs_hash(fs);
	struct task *only = NULL, *best = NULL, *k;
	unsigned n = 0;

	if (fs && r->fs_cache[h].fs == fs) {
		k = task_find(t, r->fs_cache[h].tid);
		if (k && k->proc == p && k->regs.fs_base == fs)
			return k;
	}
	for (k = p->threads; k; k = k->pnext) {
		n++;
		only = k;
		if (fs && k->regs.fs_base == fs && (!best || k->born > best->born))
			best = k;
	}
	if (best) {
		r->fs_cache[h].fs = fs;
		r->fs_cache[h].tid = best->tid;
		return best;
	}
	/* one gone since (ring_thread_gone()): named by ring_deliver() */
	if (n == 1 && cached_tid(r, fs) && cached_tid(r, fs) != only->tid)
		return NULL;
	/* a single thread is the one, whatever its fs_base became (arch_prctl) */
	return n == 1 ? only : NULL;
}

/*
 * A vfork child runs on its parent's memory, detours and ring included, with
 * the TLS of the parent's thread that vforked, which is blocked meanwhile:
 * a record naming that thread is the child's.
 */
static struct task *vfork_child_of(struct uprobe_tracer *t, struct task *k)
{
	if (!k || !t->procs || !t->procs->next)
		return k;
	for (struct proc *q = t->procs; q; q = q->next) {
		if (q->mm_owner == k->proc && q->vforker == k->tid && q->threads)
			return q->threads;
	}
	return k;
}

/*
 * The registers of a record as a handler sees them; gs_base is the
 * thread's (records do not hold it). An arguments-only record's gadget
 * wrote neither rbx, rbp nor r10-r15: 0 then. Every field is set by hand:
 * an initializer that zeroes the struct first costs a `rep stos`, ~20 ns
 * a record on the VMs measured, as much as the gadget's whole hit.
 */
static void rec_regs(struct user_regs_struct *regs, const struct ring_rec *rec, uint64_t rip,
		     uint64_t gs_base, bool args_only)
{
	_Static_assert(sizeof(*regs) == 27 * sizeof(uint64_t), "every field set below");
	regs->r15 = args_only ? 0 : rec->r15;
	regs->r14 = args_only ? 0 : rec->r14;
	regs->r13 = args_only ? 0 : rec->r13;
	regs->r12 = args_only ? 0 : rec->r12;
	regs->rbp = args_only ? 0 : rec->rbp;
	regs->rbx = args_only ? 0 : rec->rbx;
	regs->r11 = args_only ? 0 : rec->r11;
	regs->r10 = args_only ? 0 : rec->r10;
	regs->r9 = rec->r9;
	regs->r8 = rec->r8;
	regs->rax = rec->rax;
	regs->rcx = rec->rcx;
	regs->rdx = rec->rdx;
	regs->rsi = rec->rsi;
	regs->rdi = rec->rdi;
	regs->orig_rax = (uint64_t)-1;
	regs->rip = rip;
	regs->cs = 0x33;
	regs->eflags = rec->flags & ~0x100ull; /* a trap flag seen while the tracer stepped it */
	regs->rsp = rec->rsp;
	regs->ss = 0x2b;
	regs->fs_base = rec->fs_base;
	regs->gs_base = gs_base;
	regs->ds = 0;
	regs->es = 0;
	regs->fs = 0;
	regs->gs = 0;
}

/* h off the tracer's list of hits with their records' rest pending */
static void hit_unpend(struct uprobe_hit *h)
{
	for (struct uprobe_hit **pp = &h->t->ring_pending; *pp; pp = &(*pp)->rest_next) {
		if (*pp == h) {
			*pp = h->rest_next;
			break;
		}
	}
	h->rest = NULL;
}

/*
 * h's registers, from its record in the ring, on first use: the lines
 * past the first are read only now, so a handler that counts, times or
 * reads the first arguments never pulls them across from the writer's
 * CPU, and one that asks for nothing costs no copy at all. The record
 * stays in the ring until its delivery ends (no drain publishes it free
 * meanwhile: ring_hits_settle()).
 */
void ring_hit_rest(struct uprobe_hit *h)
{
	if (!h->rest)
		return;
	rec_regs(h->regs, h->rest, h->addr, h->rest_gs, h->rest_args);
	hit_unpend(h);
}

/* Argument n (< RING_LINE0_ARGS) of a hit whose registers are still in its record's first line */
uint64_t ring_hit_arg(const struct uprobe_hit *h, unsigned n)
{
	const uint64_t args[RING_LINE0_ARGS] = { h->rest->rdi, h->rest->rsi, h->rest->rdx,
						 h->rest->rcx };

	return args[n];
}

/* Reads the rest of every hit being delivered: their records are about to be freed. */
void ring_hits_settle(struct uprobe_tracer *t)
{
	while (t->ring_pending)
		ring_hit_rest(t->ring_pending);
}

/*
 * A hit from the ring, every field set by hand as in rec_regs(): a field
 * added to struct uprobe_hit must be set here too (the assertion says so).
 */
static void rec_hit(struct uprobe_hit *h, struct uprobe_tracer *t, struct proc *p,
		    const struct task *k, struct user_regs_struct *regs, uint64_t addr,
		    uint64_t time_ns)
{
	_Static_assert(sizeof(*h) == 144, "a new field of struct uprobe_hit: set it here");
	h->t = t;
	h->task = NULL;
	h->probe = NULL;
	h->addr = addr;
	h->inst = NULL;
	h->is_return = false;
	h->is_post = false;
	h->is_async = true;
	h->is_fault = false;
	h->override = false;
	h->override_value = 0;
	h->time_ns = time_ns;
	h->proc = k ? k->proc : p;
	h->tid = k ? k->tid : 0;
	h->regs = regs;
	h->rest = NULL;
	h->rest_gs = 0;
	h->rest_args = false;
	h->rest_next = NULL;
	h->comm_state = 0;
}

/*
 * The return of a no-stop return-probed call (a return gadget's record):
 * every call of the thread whose return address sat in that slot returns,
 * newest first (a tail-called function before the one that jumped to it),
 * its return handlers run with the value and the time stamps' duration.
 */
/*
 * Where the calls of a record's thread are kept: the thread, or, when it
 * is gone since (its exit handled before a drain reached its last
 * records), any thread of the process, as ret_task_gone() hands a dying
 * thread's calls to a sibling; returns find them there by their slot.
 */
static struct task *calls_owner(struct proc *p, struct task *k)
{
	return k ? k : p->threads;
}

static void deliver_return(struct uprobe_tracer *t, struct proc *p, struct ring *r,
			   const struct ring_rec *rec, uint64_t time_ns)
{
	struct task *k = vfork_child_of(t, record_task(t, p, r, rec->fs_base));
	struct task *owner = calls_owner(p, k);
	struct user_regs_struct regs;
	struct ret_instance *ri;
	struct uprobe_hit h;
	pid_t pid = p->pid, otid;

	if (!owner)
		return;
	otid = owner->tid;
	while ((ri = ret_ns_take(t, owner, rec->ns_slot))) {
		rec_regs(&regs, rec, ri->real_ret, k ? k->regs.gs_base : 0, false);
		rec_hit(&h, t, p, k, &regs, ri->func, time_ns);
		if (!k)
			h.tid = cached_tid(r, rec->fs_base); /* a thread gone since */
		h.is_return = true;
		h.inst = ri;
		/* unused by async hits: uprobe_hit_retval_double() reads xmm0 there */
		h.override_value = rec->ns_real;
		ret_run_handlers(&h, ri);
		ri_free(ri);
		/* a handler may have let the process go */
		if (proc_find(t, pid) != p || task_find(t, otid) != owner)
			return;
	}
}

/* The record's lines past the first (consume() copied the first), from its slot in the ring */
static void rec_read_rest(struct ring_rec *rec, const struct ring_rec *slot)
{
	memcpy((char *)rec + RING_LINE0_SIZE, (const char *)slot + RING_LINE0_SIZE,
	       sizeof(*rec) - RING_LINE0_SIZE);
}

/*
 * Runs the handlers of the probes of the record's detour. rec holds the
 * record's first line; its other lines are read from slot, the record in
 * the ring, only where they are needed: a return's record, an entry that
 * starts a no-stop return probe's call, or a handler asking for a
 * register they hold (ring_hit_rest()).
 */
void ring_deliver(struct uprobe_tracer *t, struct proc *p, struct ring *r,
		  struct ring_rec *rec, const struct ring_rec *slot, uint64_t time_ns)
{
	uint64_t at = rec->ret - ARCH_DETOUR_REC_RET;
	struct ret_instance *ri = NULL;
	struct task *owner = NULL;
	pid_t pid = p->pid, otid = 0;
	struct xol_area *a;
	struct user_regs_struct regs;
	const struct slot_info *si;
	struct uprobe_hit h;
	struct task *k;
	struct site *s;
	unsigned idx;

	if (!rec->ret) {
		/* an entry gadget's record with no table entry free is empty (it stopped) */
		rec_read_rest(rec, slot);
		if (rec->kind == RING_KIND_RET)
			deliver_return(t, p, r, rec, time_ns);
		return;
	}
	a = xol_area_of(p, at);
	if (!a)
		return;
	idx = (unsigned)((at - a->start) / ARCH_SLOT_SIZE);
	if (!idx || idx >= a->used || at != a->start + (uint64_t)idx * ARCH_SLOT_SIZE ||
	    !xol_is_rec(a, idx))
		return;
	si = &a->info[idx];
	s = si->site;
	k = vfork_child_of(t, record_task(t, p, r, rec->fs_base));
	rec_hit(&h, t, p, k, &regs, si->insn_addr, time_ns);
	if (!k)
		h.tid = cached_tid(r, rec->fs_base); /* a thread gone since */
	s->refs++; /* a handler removing the last probe must not free the site under us */
	if (xol_is_nsret(a, idx)) {
		rec_read_rest(rec, slot);
		rec_regs(&regs, rec, si->insn_addr, k ? k->regs.gs_base : 0, xol_is_args(a, idx));
		if (rec->kind == RING_KIND_ENTRY && (owner = calls_owner(p, k))) {
			otid = owner->tid;
			ri = ring_nsret_entry(t, owner, s, si->insn_addr, &regs, rec->ns_slot,
					      rec->ns_real, time_ns);
		}
	} else {
		h.rest = slot;
		h.rest_gs = k ? k->regs.gs_base : 0;
		h.rest_args = xol_is_args(a, idx);
		h.rest_next = t->ring_pending;
		t->ring_pending = &h;
	}
	h.inst = ri;
	site_run_entry_hit(s, &h);
	if (h.rest)
		hit_unpend(&h); /* no handler asked: the rest is never read */
	if (ri) {
		if (proc_find(t, pid) == p && task_find(t, otid) == owner)
			ret_ns_commit(owner, ri);
		else
			ri_free(ri);
	}
	site_put(t, s);
}
