// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Planting a site's int3 in every process that maps its instruction, in
 * two phases (nothing written unless every address can take it), its
 * post slots, taking it out again, and the breakpoints a dlclose or a
 * detach leaves behind.
 */
#include <string.h>

#include "mech.h"
#include "lifeline.h"

uint64_t plant_post_slot(struct proc *mm, uint64_t vaddr)
{
	struct bp *pb = bp_lookup(&mm->post_bps, vaddr);

	return pb ? pb->slot : 0;
}

/* Calls cb for every address at which p maps the instruction of site s. */
static int for_each_vaddr(struct proc *p, const struct site *s,
			  int (*cb)(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx),
			  void *ctx)
{
	for (int i = 0; i < p->nmaps; i++) {
		const struct map_entry *m = &p->maps[i];
		int err;

		if (!m->x || s->off < m->off || s->off >= m->off + (m->end - m->start))
			continue;
		if (!resolve_map_is_file(m, s->elf))
			continue;
		err = cb(p, s, m->start + (s->off - m->off), ctx);
		if (err)
			return err;
	}
	return 0;
}

/* Phase one: nothing may be written unless every address can take the probe. */
static int check_cb(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx)
{
	struct uprobe_tracer *t = ctx;
	struct bp *b = bp_lookup(&p->bps, vaddr);
	uint8_t byte;
	int err;

	if (b && !b->retired)
		return 0;
	err = mem_read_cached(p, vaddr, &byte, 1);
	if (err)
		return tracer_err(t, err, "pid %d: cannot read 0x%llx: %s", p->pid,
				  (unsigned long long)vaddr, strerror(-err));
	detour_orig_byte(p, vaddr, &byte);
	/*
	 * The file's byte is no int3 (arch_analyse() refused those), and no
	 * other ptracer can be here: an int3 is a kernel uprobe's (or a dead
	 * tracer's leftover), and a call over a 5-byte nop a kernel uprobe
	 * optimized by 6.18. Ours shares the place: the kernel takes the hits
	 * while its probe is there (kernel.c).
	 */
	if (byte == ARCH_INT3 || (byte == ARCH_CALL_OPCODE && arch_plan_is_nop(&s->plan) &&
			     s->plan.len == ARCH_JMP_LEN)) {
		if (!s->kernel)
			pr_warn("%s: offset 0x%llx: a kernel uprobe is on this very instruction: "
				"while it is there the kernel takes its hits, and ours miss them",
				s->elf->path, (unsigned long long)s->off);
		kernel_site_seen(t, (struct site *)s);
		return 0;
	}
	if (byte != s->plan.bytes[0])
		return tracer_err(t, -EEXIST,
				  "pid %d: the code at 0x%llx differs from %s at offset 0x%llx",
				  p->pid, (unsigned long long)vaddr, s->elf->path,
				  (unsigned long long)s->off);
	return 0;
}

/* A post handler joined a planted instruction: give its breakpoints post slots. */
static int post_slot_cb(struct proc *p, const struct site *cs, uint64_t vaddr, void *ctx)
{
	struct site *s = (struct site *)cs;
	struct bp *b = bp_lookup(&p->bps, vaddr), *pb;
	uint64_t slot;
	int err;

	if (!b || b->site != s || !b->slot)
		return 0;
	detour_unoptimize(p, b); /* its exits need post int3s, which a detour has not */
	if (plant_post_slot(p, vaddr) || arch_post_steps(&s->plan))
		return 0;
	err = area_slot_make(ctx, p, s, vaddr, true, &slot);
	if (err)
		return err;
	pb = bp_insert(&p->post_bps, vaddr);
	if (!pb)
		return tracer_err(ctx, -ENOMEM, "out of memory");
	pb->site = s;
	pb->slot = slot;
	return 0;
}

static int plant_cb(struct proc *p, const struct site *cs, uint64_t vaddr, void *ctx)
{
	struct uprobe_tracer *t = ctx;
	struct site *s = (struct site *)cs;
	uint8_t int3 = ARCH_INT3, byte;
	uint64_t slot;
	struct bp *b = bp_lookup(&p->bps, vaddr);
	int err;

	if (b && !b->retired)
		return 0;
	if (b && b->site == s) {
		/* the same instruction probed again: its slot is still there */
		b->retired = false;
	} else {
		if (b)
			bp_delete(&p->bps, b);
		/* the slot first: a thread may trap the moment the int3 lands */
		err = area_slot_for(t, p, s, vaddr, &slot);
		if (err)
			return err;
		b = bp_insert(&p->bps, vaddr);
		if (!b)
			return tracer_err(t, -ENOMEM, "out of memory");
		b->site = s;
		b->slot = slot;
		b->orig = s->plan.bytes[0];
		b->dwait = DETOUR_FIRST_WAIT;
	}
	if (s->npost && b->slot) {
		err = post_slot_cb(p, s, vaddr, t);
		if (err) {
			b->retired = true;
			return err;
		}
	}
	/* inside another probe's jump detour: that one goes back to an int3 first */
	detour_clear_range(p, vaddr);
	/*
	 * Over a kernel's optimized call, nothing: its own removal puts back
	 * the nop through an int3, and kernel_watch() plants ours then.
	 */
	if (s->kernel && mem_read_cached(p, vaddr, &byte, 1) == 0 && byte == ARCH_CALL_OPCODE)
		return 0;
	lifeline_note(p, vaddr, b->orig,
		      site_handler_is(s, LL_UNWIND) ? LL_UNWIND : sigmask_ll_kind(s) ?: LL_CODE);
	err = mem_write_deferred(p, vaddr, &int3, 1, MEM_TEXT);
	if (err) {
		b->retired = true;
		return tracer_err(t, err, "pid %d: cannot write 0x%llx: %s", p->pid,
				  (unsigned long long)vaddr, strerror(-err));
	}
	return 0;
}

static int unplant_cb(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx)
{
	struct bp *b = bp_lookup(&p->bps, vaddr);

	if (!b || b->site != s || b->retired)
		return 0;
	detour_unoptimize(p, b);
	/*
	 * Its lifeline entry stays: the byte lands only when the batch is
	 * flushed, and an entry that names the file's byte is harmless.
	 */
	mem_write_deferred(p, vaddr, &b->orig, 1, MEM_TEXT);
	b->retired = true;
	return 0;
}

static int kind_cb(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx)
{
	struct bp *b = bp_lookup(&p->bps, vaddr);

	if (b && b->site == s)
		detour_site_changed(p, b);
	return 0;
}

/* s's probes changed: its jump detours record or trap as its probes now want. */
void plant_kind_changed(struct uprobe_tracer *t, struct site *s)
{
	for (struct proc *p = t->procs; p; p = p->next)
		if (proc_plantable(p) && p->had_detour)
			for_each_vaddr(p, s, kind_cb, NULL);
}

int plant_site(struct uprobe_tracer *t, struct site *s)
{
	int err;

	for (struct proc *p = t->procs; p; p = p->next) {
		if (!proc_plantable(p))
			continue;
		err = for_each_vaddr(p, s, check_cb, t);
		if (err)
			return err;
	}
	for (struct proc *p = t->procs; p; p = p->next) {
		if (!proc_plantable(p))
			continue;
		err = for_each_vaddr(p, s, plant_cb, t);
		if (err)
			goto undo;
	}
	return 0;
undo:
	for (struct proc *p = t->procs; p; p = p->next)
		if (proc_plantable(p))
			for_each_vaddr(p, s, unplant_cb, NULL);
	return err;
}

/* Plants s into p, once every address of it there can take the probe. 0 or -errno (message set). */
int plant_in(struct uprobe_tracer *t, struct proc *p, struct site *s)
{
	int err = for_each_vaddr(p, s, check_cb, t);

	return err ? err : for_each_vaddr(p, s, plant_cb, t);
}

/* A post handler joined planted site s: post slots for it in every process. 0 or -errno. */
int plant_post_slots(struct uprobe_tracer *t, struct site *s)
{
	int err = 0;

	for (struct proc *p = t->procs; p && !err; p = p->next)
		if (proc_plantable(p))
			err = for_each_vaddr(p, s, post_slot_cb, t);
	return err;
}

/*
 * The last probe left s: its int3 goes from every process. A thread that
 * already trapped on it is rewound when its stop is handled.
 */
void plant_remove_site(struct uprobe_tracer *t, struct site *s)
{
	for (struct proc *p = t->procs; p; p = p->next)
		if (!p->mm_owner)
			for_each_vaddr(p, s, unplant_cb, NULL);
}

/* Forgets p's breakpoints whose code is no longer mapped (dlclose): that memory is gone. */
void plant_forget_unmapped(struct proc *p)
{
	struct bp_table *bt = &p->bps;

	for (size_t i = 0; i < bt->cap; i++) {
		struct bp *b = &bt->slots[i];
		bool mapped = false;

		if (!b->vaddr || b->site == BP_TOMB || b->internal)
			continue;
		for (int j = 0; j < p->nmaps && !mapped; j++) {
			const struct map_entry *m = &p->maps[j];

			mapped = m->x && b->vaddr >= m->start && b->vaddr < m->end &&
				 resolve_map_is_file(m, b->site->elf) &&
				 m->off + (b->vaddr - m->start) == b->site->off;
		}
		if (!mapped) {
			lifeline_forget(p, b->vaddr);
			bp_delete(bt, b);
		}
	}
}

/*
 * Writes back the original byte of every breakpoint of p into target's
 * memory: p itself (detach), or a fork child holding a copy of p's memory.
 *
 * Those on libc's mask changes (LL_MASK, LL_SIGRET: sigmask.c) go last,
 * once no other int3 of ours is left. A tracer killed midway (SIGKILL, the
 * OOM killer; the die point "detour-back") lets the threads go with the
 * int3s not yet put back: had a mask change lost its int3 by then, a
 * thread would make it for real, block SIGTRAP (pthread_create() blocks
 * every signal around its clone) and then trap on one still there: a
 * forced SIGTRAP, which resets the lifeline to the default and kills.
 * While every mask change keeps its int3 the lifeline makes those calls,
 * SIGTRAP left unblocked (the guardian leaves them too, guardian.c). Only
 * a death between two of these last writes is not covered.
 */
int plant_unplant_all(struct uprobe_tracer *t, struct proc *p, struct proc *target)
{
	struct bp_table *bt = &p->bps;

	for (int masks = 0; masks < 2; masks++) {
		for (size_t i = 0; i < bt->cap; i++) {
			struct bp *b = &bt->slots[i];

			if (!b->vaddr || b->site == BP_TOMB || b->retired)
				continue;
			/* (no site: the spawn's own, at the entry point or the dynamic linker's) */
			if ((b->site && sigmask_ll_kind(b->site)) != (masks == 1))
				continue;
			detour_write_back(target, b);
			mem_write(target, b->vaddr, &b->orig, 1);
		}
		if (!masks)
			inline_restore_entry_trap(p, target);
	}
	if (target == p)
		bp_table_free(bt);
	return 0;
}
