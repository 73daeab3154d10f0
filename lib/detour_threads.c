// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The threads of a process held while a detour's jmp is written: whether
 * any could run into the middle of the jmp, and those moved out of its way.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>

#include "mech.h"
#include "detour_internal.h"

#define STACK_SCAN (64 * 1024)

static bool inside(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v > lo && v < hi;
}

/* Could a thread in slot si come back to the program strictly inside (lo, hi)? */
static bool slot_enters(const struct slot_info *si, bool detour, uint64_t lo, uint64_t hi)
{
	const struct arch_plan *pl = &si->site->plan;
	uint64_t at = si->insn_addr, next = at + pl->len;
	struct detour_covered c;

	if (detour) {
		if (detour_covered_plans(si->site, &c))
			return true;
		pl = &c.plans[c.n - 1];
		next = at + c.len;
		at = next - pl->len;
	}
	return inside(next, lo, hi) || (pl->has_branch && inside(at + (uint64_t)pl->branch_off, lo, hi));
}

/*
 * An 8-byte value inside (lo, hi) on the stack around rsp (a return address
 * or a signal frame, maybe): 1 and its address in *where; 0 none; -1 the
 * stack cannot be read (rsp in no mapping, or in a PROT_NONE one).
 */
static int stack_points_into(struct proc *p, uint64_t rsp, uint64_t lo, uint64_t hi, uint8_t *buf,
			     uint64_t *where)
{
	const struct map_entry *m = NULL;
	uint64_t from = rsp - RED_ZONE, to = rsp + STACK_SCAN;

	for (int i = 0; i < p->nmaps && !m; i++)
		if (rsp - 1 >= p->maps[i].start && rsp - 1 < p->maps[i].end)
			m = &p->maps[i];
	if (!m)
		return -1;
	if (from < m->start || from > rsp)
		from = m->start;
	if (to > m->end || to < rsp)
		to = m->end;
	if (mem_read(p, from, buf, to - from))
		return -1;
	for (uint64_t i = 0; i + 8 <= to - from; i++) {
		uint64_t v;

		memcpy(&v, buf + i, sizeof(v));
		if (inside(v, lo, hi)) {
			*where = from + i;
			return 1;
		}
	}
	return 0;
}

/*
 * Held threads the lifeline moved onto the slot of addr's instruction
 * (wait.c: the kernel holds the slot, the tracer sees the hit) go back
 * onto the int3 in the kernel's view: were the tracer to die from now on,
 * the slot would jump back into the bytes after addr, which the jump is
 * about to overwrite; the int3's handler puts them back first.
 */
void detour_threads_unslot(struct uprobe_tracer *t, struct proc *p, uint64_t addr, uint64_t slot)
{
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *o = t->tasks[i]; o; o = o->hnext) {
			long rip;

			if (o->proc != p || !o->lrip || o->state != TASK_STOPPED)
				continue;
			errno = 0;
			rip = ptrace(PTRACE_PEEKUSER, o->tid,
				     (void *)offsetof(struct user_regs_struct, rip), NULL);
			if (errno || (uint64_t)rip != slot)
				continue;
			if (ptrace(PTRACE_POKEUSER, o->tid,
				   (void *)offsetof(struct user_regs_struct, rip), (void *)addr) == 0 &&
			    o->kregs_valid)
				o->kregs.rip = addr;
		}
	}
}

/*
 * Is held thread o at the very start of slot, the probe's own out-of-line
 * slot, having run nothing of it? It was sent there after its hit, and a
 * resumed thread waits for a CPU before it runs (under load, long enough
 * for the next hit's attempt to find it there, at nearly every attempt).
 * It is then where k is: its handlers have run, the probed instruction is
 * next. It goes on from the detour's copies too (detour_threads_move()), not
 * back into the range. Only a plain stop: a signal or system call it is
 * held in is for the code that took that stop to finish where it is.
 */
static bool waits_at_slot(const struct task *o, uint64_t slot)
{
	/* (nor one being single-stepped through the slot: step_done() maps rip from it) */
	return slot && o->regs_valid && o->regs.rip == slot && !o->lrip && !o->npending &&
	       !o->stop_sig && !o->held_event && !o->post_sys && !o->at_sys_entry &&
	       !o->sig_entry && !o->step_bp.site;
}

/*
 * With p's threads held: can the range (lo, hi) become a jmp? k is at lo,
 * about to enter it; so are the threads waiting at the start of own_slot,
 * lo's own slot (waits_at_slot()).
 */
bool detour_threads_clear(struct uprobe_tracer *t, struct proc *p, struct task *k, uint64_t lo,
			  uint64_t hi, uint64_t own_slot)
{
	uint8_t *buf = malloc(RED_ZONE + STACK_SCAN);
	const char *why = NULL;
	uint64_t where = 0, at = 0;
	pid_t tid = 0;

	if (!buf || proc_refresh_maps(p) < 0)
		why = "cannot read its memory map";
	for (struct proc *q = t->procs; q && !why; q = q->next)
		if (q->mm_owner == p)
			why = "a vfork child runs on its memory";
	for (unsigned i = 0; i < TASK_HASH && !why; i++) {
		for (struct task *o = t->tasks[i]; o && !why; o = o->hnext) {
			const struct slot_info *si = NULL;
			bool detour = false;
			struct xol_area *a;
			uint64_t rip;

			if (o->proc != p)
				continue;
			tid = o->tid;
			if (o->state != TASK_STOPPED || (o != k && task_getregs(o) < 0)) {
				why = "a thread is not held";
				break;
			}
			rip = o == k ? lo : o->regs.rip;
			at = rip;
			a = xol_area_of(p, rip);
			if (a) {
				unsigned idx = (unsigned)((rip - a->start) / ARCH_SLOT_SIZE);

				if (idx && idx < a->used) {
					si = &a->info[idx];
					detour = xol_is_detour(a, idx);
				}
			}
			if (inside(rip, lo, hi))
				why = "a thread is inside the range";
			else if (si && slot_enters(si, detour, lo, hi) && !waits_at_slot(o, own_slot))
				why = "a thread is in a slot that returns inside the range";
			for (struct ret_instance *ri = o->rets; ri && !why; ri = ri->next)
				if (inside(ri->real_ret, lo, hi))
					why = "a return-probed call returns inside the range";
			if (!why) {
				int r = stack_points_into(p, o->regs.rsp, lo, hi, buf, &where);

				if (r > 0)
					why = "a thread's stack holds an address inside the range";
				else if (r < 0)
					why = "a thread's stack cannot be read";
			}
		}
	}
	free(buf);
	if (why)
		pr_debug("pid %d: jump detour for 0x%llx postponed: tid %d: %s (rip 0x%llx, stack "
			 "0x%llx)", p->pid, (unsigned long long)lo, tid, why, (unsigned long long)at,
			 (unsigned long long)where);
	return !why;
}

/*
 * The held threads of p that wait at the start of own_slot (waits_at_slot())
 * go to to, the detour's first copy, as k does: before the jmp is written,
 * so that a tracer dying at any point after leaves none about to jump back
 * into the range (the detour is whole already, and never changes). false:
 * one could not be moved, and the jmp must not be written.
 */
bool detour_threads_move(struct uprobe_tracer *t, struct proc *p, struct task *k,
			 uint64_t own_slot, uint64_t to)
{
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *o = t->tasks[i]; o; o = o->hnext) {
			int err;

			if (o->proc != p || o == k || o->state != TASK_STOPPED ||
			    !waits_at_slot(o, own_slot))
				continue;
			o->regs.rip = to;
			err = task_setregs(o);
			if (err) {
				pr_debug("pid %d: tid %d: cannot leave its slot for the detour: %s",
					 p->pid, o->tid, strerror(-err));
				return false;
			}
			pr_debug("pid %d: tid %d: from its slot at 0x%llx into the detour", p->pid,
				 o->tid, (unsigned long long)own_slot);
		}
	}
	return true;
}
