// SPDX-License-Identifier: LGPL-2.1-or-later
/* Jump-optimized probes: the probed instructions become a jmp to a detour that traps in a slot. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>

#include "core.h"
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

/* Full-ring hits of one thread sent to record again in a row, at most (detour_trap()). */
#define RING_RETRIES 10000

/*
 * The detour slot of p's scratch areas that addr lies in, or NULL; *int3 is
 * where its int3 is (after the record prefix of a no-stop detour).
 */
static const struct slot_info *detour_slot(struct proc *p, uint64_t addr, uint64_t *slot,
					   uint64_t *int3)
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

/* Identifies a register set; 0 is never returned. */
static uint64_t regs_sig(const struct user_regs_struct *r)
{
	const unsigned long long *w = (const unsigned long long *)r;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < sizeof(*r) / sizeof(*w); i++)
		h = (h ^ w[i]) * 0x100000001b3ull;
	return h | 1;
}

/* Lets k run on from its current registers, remembering them (see detour_trap()). */
static void let_go(struct task *k)
{
	int r;

	k->detour_sig = regs_sig(&k->regs);
	task_sync_regs(k);
	r = task_restart(k, task_cont_req(k), 0, TASK_RUNNING);
	if (r < 0 && r != -ESRCH)
		pr_warn("pid %d: resume failed: %s", k->tid, strerror(-r));
}

/* k goes on right after the detour's int3 at int3: its handlers have run. */
void detour_hit_enter(struct task *k, uint64_t int3)
{
	k->regs.rip = int3 + 1;
	if (task_setregs(k) == 0)
		let_go(k);
}

/*
 * A SIGTRAP with the thread right after a detour's int3. It is our trap
 * unless the thread never ran since it was let go from that very point:
 * then it is a SIGTRAP someone sent, pending when it was resumed. Only then
 * is the siginfo worth a request.
 */
uint64_t detour_trap(struct uprobe_tracer *t, struct task *k, uint64_t *addr, struct bp **bp)
{
	struct proc *mm = proc_mm(k->proc);
	const struct slot_info *si;
	uint64_t slot, int3, sig = k->detour_sig;
	struct bp *b;

	si = detour_slot(k->proc, *addr, &slot, &int3);
	if (!si || int3 != *addr) {
		if (!ring_nsret_trap(t, k, *addr))
			return 0;
		/* the return gadget's: it goes on where that says */
		if (still_there(t, k, k->tid) && task_setregs(k) == 0)
			let_go(k);
		return DETOUR_RETRIED;
	}
	k->detour_sig = 0;
	if (sig == regs_sig(&k->regs)) {
		siginfo_t info;

		if (ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &info) < 0 || info.si_code != SI_KERNEL)
			return 0;
	}
	if (int3 != slot) {
		/*
		 * The ring was full: what is in it happened before this hit,
		 * k's own earlier hits at least (behind a ticket whose thread
		 * has not committed yet, they are delivered ahead of it).
		 */
		ring_drain_thread(t, proc_mm(k->proc), k);
		if (!still_there(t, k, k->tid))
			return 0;
		/*
		 * Not all of it: the drain stops at a ticket whose thread has
		 * not committed yet, and other threads' earlier hits may wait
		 * behind it. Delivered now, this hit would come before them: k
		 * goes back to the detour's start to record it again, after
		 * them, now that the ring has room (a bounded number of times:
		 * a thread held up for good is not waited for).
		 */
		/*
		 * An entry gadget that found no table entry free for its slot
		 * returns here too: that hit stops, its return through the
		 * trampoline, whatever the ring holds.
		 */
		if (!ring_settled(proc_mm(k->proc)) && k->ring_retries < RING_RETRIES &&
		    !(detour_slot_is(k->proc, slot, xol_is_nsret) &&
		      ring_nsret_full(proc_mm(k->proc), k->regs.rsp))) {
			k->ring_retries++;
			k->regs.rip = slot;
			if (task_setregs(k) == 0)
				let_go(k);
			return DETOUR_RETRIED;
		}
		k->ring_retries = 0;
	}
	b = bp_lookup(&mm->bps, si->insn_addr);
	*addr = si->insn_addr;
	/* none: the probe went since; the thread is rewound onto the program's own bytes */
	*bp = b && !b->retired && b->site == si->site ? b : NULL;
	return int3;
}

/*
 * After the handlers of a detour hit: the thread goes on at detour + 1 (the int3's),
 * where it stopped, with a register write only if a handler changed one.
 */
void detour_resume(struct uprobe_tracer *t, struct task *k, const struct user_regs_struct *saved,
		   uint64_t detour)
{
	k->regs.rip = detour + 1;
	if (memcmp(&k->regs, saved, sizeof(*saved)) && task_setregs(k) < 0)
		return;
	let_go(k);
}

/*
 * Where a thread inside a detour is equivalent to a program address: only at
 * its very start (before the int3), the probed address. Past the int3 its
 * handlers have run, and the copies' addresses lie inside the range: it is
 * stepped out instead.
 */
bool detour_pc_to_insn(const struct slot_info *si, uint64_t slot, bool rec,
		       struct user_regs_struct *regs)
{
	if (rec) {
		/*
		 * No-stop detour: before the lea, after it (before the call),
		 * or on the int3 the gadget returns to when the ring was full
		 * (everything restored, nothing recorded): all before the hit.
		 */
		if (regs->rip == slot + ARCH_DETOUR_REC_LEA)
			regs->rsp += RED_ZONE;
		else if (regs->rip != slot && regs->rip != slot + ARCH_DETOUR_REC_INT3)
			return false;
		regs->rip = si->insn_addr;
		return true;
	}
	if (regs->rip != slot)
		return false;
	regs->rip = si->insn_addr;
	return true;
}

/*
 * A covered instruction faulted in its copy: the fault is reported at its
 * original address, as untraced. A handler that returns resumes there, or
 * anywhere after it: the detour is taken down first, for good, so that the
 * range holds the program's own instructions again, and the instruction
 * runs again behind an int3 probe. false when
 * the pc is no copy's start (a relocated branch's later steps): the signal
 * is then delivered where the thread is, as for slots.
 */
bool detour_fault(struct uprobe_tracer *t, struct task *k)
{
	struct proc *mm = proc_mm(k->proc);
	const struct slot_info *si;
	struct bp *b;
	uint64_t slot, int3, off = 0;
	struct detour_covered c;
	unsigned i;

	if (!k->regs_valid && task_getregs(k) < 0)
		return false;
	si = detour_slot(k->proc, k->regs.rip, &slot, &int3);
	if (!si || detour_covered_plans(si->site, &c))
		return false;
	for (i = 0; i < c.n && k->regs.rip != int3 + 1 + off; i++)
		off += c.plans[i].len;
	if (i == c.n)
		return false;
	k->regs.rip = si->insn_addr + off;
	if (task_setregs(k) < 0)
		return false;
	b = bp_lookup(&mm->bps, si->insn_addr);
	if (b && b->dstate == DETOUR_ON && bp_detour(b) == slot) {
		/*
		 * The program's handler may resume anywhere after the faulting
		 * instruction (a JVM's implicit null check skips it): the
		 * program's own bytes go back before it runs, for good, as the
		 * kernel never optimizes a probe whose instruction can fault
		 * into such a handler.
		 */
		detour_unoptimize(mm, b);
		b->dstate = DETOUR_NEVER;
	}
	return true;
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
	die_point("detour-back");
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
