// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A thread's run through a jump detour: its int3 hit, the thread resumed
 * out of it, and a fault or signal in one of its copies.
 */
#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>

#include "mech.h"
#include "detour_internal.h"

/* Full-ring hits of one thread sent to record again in a row, at most (detour_trap()). */
#define RING_RETRIES 10000

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
