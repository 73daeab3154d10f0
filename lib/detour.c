// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Jump-optimized probes: the probed instructions become a jmp to a detour
 * that traps in a slot. What a detour is and when it is safe (below), its
 * slot and kind looked up, and taking one down again. Making one is
 * detour_make.c's, with detour_threads.c; a thread's run through one is
 * detour_hit.c's.
 */
#include <errno.h>
#include <stddef.h>

#include "mech.h"
#include "detour_internal.h"
#include "lifeline.h"

/*
 * The kernel's optimized kprobes, in user space. An int3 probe costs a
 * register write per hit to send the thread to its slot. Once a probe has
 * been hit, its instruction and the following ones until ARCH_JMP_LEN bytes
 * are covered are replaced by `jmp rel32` to a detour:
 *
 *   int3; copies of the covered instructions; jmp addr + covered
 *
 * A hit traps at detour + 1, which is exactly where the thread must go on:
 * the handlers see rip = addr, and unless they change a register the thread
 * is resumed with PTRACE_CONT alone.
 *
 * Covering more than one instruction is only safe where no thread can be,
 * or ever come back to, an address strictly inside (addr, addr + covered):
 * such an address would now execute the middle of the jmp. Statically
 * (detour_rules.c: once per site, from the file) the function must be known from its
 * symbol and decode fully, no direct branch of it (or of its .cold/.part
 * pieces) may target the range, it may hold no indirect jump (jump tables),
 * and only the last covered instruction may branch (a call in the middle
 * would leave return addresses inside). Several instructions in the middle
 * of a function also need no direct branch of any function of the file
 * into the range (blocks re-entered from pieces not named after it), and
 * no exception landing pad inside it (the unwinder jumps to those: read
 * from .eh_frame and the LSDAs, or assumed anywhere in a file with
 * .gcc_except_table when they cannot be read). Dynamically, with every
 * thread of the process held: no other breakpoint in the range, no thread
 * inside it or in a slot whose exit lands inside it, no pending return into
 * it, and no 8-byte value inside it on any thread's stack near its rsp (a
 * stand-in for signal frames and return addresses). A thread at the very
 * start of the probe's own slot, sent there after its hit, is where the
 * hitting thread is: it goes on from the detour's copies too.
 *
 * The attempt is made at a hit, never when probes are added: thousands of
 * probes added at once cost no stop of the process, and a probe whose
 * neighbours are probed too is only looked at when it fires. A costly
 * attempt that fails is retried after more and more hits: given up after a
 * few failures for a lasting reason, never for a thread in the way at that
 * moment (later()).
 *
 * Going back to an int3 probe never needs the threads held: the int3 goes
 * over the jmp's opcode first, so a thread arriving meanwhile traps there,
 * then the jmp's other bytes get their original values. Detours, like every
 * slot, never change, so a thread still inside one finishes through it.
 */

/* The instructions a detour of s covers, decoded from its file (detour_rules.c). */
int detour_covered_plans(const struct site *s, struct detour_covered *c)
{
	return detour_rules_covered(s->elf, s->off, c);
}

/*
 * The detour slot of p's scratch areas that addr lies in, or NULL; *int3 is
 * where its int3 is (after the record prefix of a no-stop detour).
 */
const struct slot_info *detour_slot(struct proc *p, uint64_t addr, uint64_t *slot, uint64_t *int3)
{
	struct xol_area *a = xol_area_of(p, addr);
	unsigned idx;

	if (!a)
		return NULL;
	idx = (unsigned)((addr - a->start) / ARCH_SLOT_SIZE);
	if (!idx || idx >= a->used || !xol_is_detour(a, idx))
		return NULL;
	*slot = a->start + (uint64_t)idx * ARCH_SLOT_SIZE;
	*int3 = xol_detour_int3(a, idx);
	return &a->info[idx];
}

/* The int3 of the detour at slot (p's). */
uint64_t detour_int3_of(struct proc *p, uint64_t slot)
{
	uint64_t s, int3;

	return detour_slot(p, slot, &s, &int3) ? int3 : slot;
}

bool detour_slot_is_rec(struct proc *p, uint64_t slot)
{
	return detour_int3_of(p, slot) != slot;
}

/*
 * Is the detour at slot of a kind (is: xol_is_nsret, a no-stop return
 * probe's, calling the entry gadget; xol_is_count, a count-only one;
 * xol_is_notime, xol_is_args: built for records without time, with the
 * arguments only)?
 */
bool detour_slot_is(struct proc *p, uint64_t slot, bool (*is)(const struct xol_area *, unsigned))
{
	struct xol_area *a = xol_area_of(p, slot);

	return a && is(a, (unsigned)((slot - a->start) / ARCH_SLOT_SIZE));
}

/* Is addr a detour's int3? */
bool detour_at(struct proc *p, uint64_t addr)
{
	uint64_t slot, int3;

	return detour_slot(p, addr, &slot, &int3) && int3 == addr;
}

/* Puts b's int3 probe back into target's memory (b's own process, or a fork child's copy). */
void detour_write_back(struct proc *target, const struct bp *b)
{
	static const uint8_t int3 = INT3;
	const struct site *s = b->site;

	if (b->dstate != DETOUR_ON)
		return;
	/* the int3 first: a thread arriving meanwhile traps there instead of running half a jmp */
	lifeline_note_tail(target, b->vaddr, s->elf->data[s->off], s->elf->data + s->off + 1,
			   ARCH_JMP_LEN - 1);
	mem_write(target, b->vaddr, &int3, 1);
	log_die_point("detour-back");
	mem_write(target, b->vaddr + 1, s->elf->data + s->off + 1, s->detour_len - 1u);
}

bool detour_on(const struct bp *b)
{
	return b->dstate == DETOUR_ON;
}

void detour_forget(struct proc *p, struct bp *b)
{
	b->dstate = DETOUR_NEVER;
	pr_debug("pid %d: 0x%llx: no jump detour any more (a kernel uprobe)", p->pid,
		 (unsigned long long)b->vaddr);
}

void detour_unoptimize(struct proc *p, struct bp *b)
{
	if (b->dstate != DETOUR_ON)
		return;
	detour_write_back(p, b);
	b->dstate = DETOUR_UNTRIED;
	b->dwait = 0;
	pr_debug("pid %d: jump detour for 0x%llx taken down", p->pid, (unsigned long long)b->vaddr);
}

/* The optimized breakpoint of p whose jmp covers vaddr (strictly after its start), or NULL. */
struct bp *detour_covering(struct proc *p, uint64_t vaddr)
{
	if (!p->bps.cap || !p->had_detour)
		return NULL;
	for (unsigned d = 1; d < ARCH_JMP_LEN - 1 + ARCH_MAX_INSN; d++) {
		struct bp *b = bp_lookup(&p->bps, vaddr - d);

		if (b && b->dstate == DETOUR_ON && d < b->site->detour_len)
			return b;
	}
	return NULL;
}

/* A breakpoint is about to be planted at vaddr: no jmp may cover it. */
void detour_clear_range(struct proc *p, uint64_t vaddr)
{
	struct bp *b;

	while ((b = detour_covering(p, vaddr)))
		detour_unoptimize(p, b);
}

/* byte was read from vaddr: what the program has there, not a jmp's. */
void detour_orig_byte(struct proc *p, uint64_t vaddr, uint8_t *byte)
{
	struct bp *b = detour_covering(p, vaddr);

	if (b)
		*byte = b->site->elf->data[b->site->off + (vaddr - b->vaddr)];
}

UPROBE_API int uprobe_tracer_set_optimize(struct uprobe_tracer *t, bool on)
{
	if (!t) {
		errno = EINVAL;
		return -EINVAL;
	}
	t->no_detour = !on;
	if (on)
		return 0;
	for (struct proc *p = t->procs; p; p = p->next) {
		if (p->mm_owner)
			continue;
		for (size_t i = 0; i < p->bps.cap; i++) {
			struct bp *b = &p->bps.slots[i];

			if (b->vaddr && b->site != BP_TOMB && !b->internal)
				detour_unoptimize(p, b);
		}
	}
	return 0;
}

/*
 * A followed fork child got copies of its parent's no-stop detours, whose
 * ring mapping it shares: they would record its hits as the parent's. Its
 * copies go back to int3 probes until it has a ring of its own (ring.c
 * points its gadgets there).
 */
void detour_fork_child(struct proc *child, uint64_t stale_ring)
{
	child->stale_ring = stale_ring;
	for (size_t i = 0; i < child->bps.cap; i++) {
		struct bp *b = &child->bps.slots[i];

		if (b->vaddr && b->site != BP_TOMB && b->dstate == DETOUR_ON &&
		    detour_slot_is_rec(child, bp_detour(b)))
			detour_unoptimize(child, b);
	}
}
