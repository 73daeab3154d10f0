// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SIGTRAP as the program set it, while we trace it. Our traps (an int3, a
 * single-step) are forced SIGTRAPs: where the trapping thread has SIGTRAP
 * blocked, or the program ignores it, the kernel resets its disposition to
 * the default for the whole process and unblocks it in that thread, before
 * we hear of it. Here: the program's disposition, learnt at attach and exec
 * and followed through libc's rt_sigaction (a probe of ours after the
 * system call, watch.c), its queries answered as untraced; resets found
 * (/proc/PID/status, where one may have happened) and put back (by
 * lifeline.c's lifeline_sigtrap_put_back()); SIGTRAP blocked again where the program
 * blocks it; its own SIGTRAPs delivered, left pending or dropped as
 * untraced; the disposition as it was at detach. Our own handler is
 * lifeline.c's, the table it works from lifeline_table.c's.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include "mech.h"
#include "lifeline.h"
#include "sigtrap.h"

/*
 * "Every signal blocked" as programs ask for it: sigfillset() less what no
 * mask can hold (SIGKILL, SIGSTOP) and what glibc's pthread_sigmask() never
 * blocks (its two internal signals, 32 and 33); SIGTRAP left out.
 */
static bool blocks_all_but_trap(uint64_t m)
{
	uint64_t rest = ~(SIGTRAP_BIT | SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP) | SIG_BIT(32) |
			  SIG_BIT(33));

	return (m & rest) == rest;
}

/*
 * The program blocks SIGTRAP in k, which a trap of ours unblocked: blocked
 * again, with si (a SIGTRAP of its own the trap took) pending again.
 */
static void reblock(struct task *k, uint64_t m, const siginfo_t *si)
{
	m |= SIGTRAP_BIT;
	if (ptrace(PTRACE_SETSIGMASK, k->tid, (void *)sizeof(m), &m) == 0)
		k->ll_mask = m;
	k->trap_reblock = false;
	/* delivered at k's resume, with SIGTRAP blocked: the kernel makes it pending again */
	if (si && k->npending < ARRAY_SIZE(k->pending))
		k->pending[k->npending++] = *si;
}

/*
 * k stopped at a trap of ours (a probe's int3, the trampoline's; step:
 * the end of a single-step). A trap is a forced SIGTRAP: where k had
 * SIGTRAP blocked, or the program ignores it, the kernel has just reset
 * SIGTRAP's disposition to the default for the whole process, and
 * unblocked it in k (force_sig_info_to_task()); where a SIGTRAP of the
 * program's was pending in k, ours was dropped and that one taken.
 *
 * The mask before the trap cannot be read after it, but the reset shows
 * it: with a handler as the disposition (ours or the program's), a reset
 * means a thread trapped with SIGTRAP blocked. Reading the disposition
 * (/proc/PID/status) costs a few microseconds, so it is read at each
 * thread's first trap, where its mask is new or blocks everything else,
 * and at every trap once a reset was seen in the process. A reset found:
 * the disposition goes back (ours, or exactly the program's), and
 * - where the program has its own disposition, SIGTRAP is blocked in k
 *   again at once (exact; its next trap resets it again, and costs an
 *   injection);
 * - where ours stands for the default (or SIG_IGN), SIGTRAP stays
 *   unblocked in k while we are attached, so that the lifeline works for
 *   k should we die (with SIGTRAP blocked no handler can save it), and is
 *   blocked again at detach where k's mask blocks every other signal
 *   (sigtrap_detach_task()) - unless a SIGTRAP of the program's is
 *   pending: then it is blocked again, the signal pending, as untraced
 *   (delivered, the default action would kill the program).
 * The thread whose stop shows the reset is taken as the one that had
 * SIGTRAP blocked: two threads trapping within microseconds, one with it
 * blocked and one without, may be taken the wrong way round.
 */
void sigtrap_trap_seen(struct uprobe_tracer *t, struct task *k, bool step)
{
	struct proc *p = k->proc;
	bool ours = lifeline_installed(p) && !lifeline_chained(p), first, same, surfaced, suspect, reset;
	struct k_sigaction act;
	siginfo_t si;
	uint64_t m;
	int state;

	if (p->mm_owner || !lifeline_sigtrap_real(p, &act))
		return;
	if (ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m))
		return;
	if (k->mask_known && sigmask_trap_seen(t, k, m))
		return;
	first = !k->ll_mask_valid;
	same = !first && m == k->ll_mask;
	k->ll_mask = m;
	k->ll_mask_valid = true;
	/*
	 * Everything else blocked: so was SIGTRAP, as a rule. Said here, not
	 * only from the disposition below: threads trapping together reset it
	 * together, and whichever is looked at first puts it back.
	 */
	if (ours && !same)
		k->trap_reblock = blocks_all_but_trap(m); /* the same mask: as it was */
	/*
	 * Another thread's trap showed a reset since k's last, and k traps
	 * with a new mask that is that thread's: taken as a thread that
	 * trapped with it, its reset hidden by the other's (both blocking
	 * SIGTRAP alike, as threads made by one another do).
	 */
	suspect = k->ll_resets != p->trap_resets && (first || !same) && m == p->trap_reset_mask;
	k->ll_resets = p->trap_resets;
	if (!suspect && !p->trap_check && !first &&
	    (!m || (same && (step || !blocks_all_but_trap(m)))))
		return;
	/*
	 * Read even for a suspect: its trap may have come after the other
	 * thread's reset was put back, and reset it again; left so until
	 * the next trap, a tracer dying meanwhile would leave the default.
	 */
	if (procfs_sigtrap_status(p, &state))
		return;
	reset = state == TRAP_DFL;
	if (!reset && !suspect)
		return; /* still there (or the program's own choice since) */
	p->trap_check = true;
	surfaced = ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 && si.si_code <= 0;
	if (reset) {
		k->ll_resets = ++p->trap_resets;
		p->trap_reset_mask = m;
		lifeline_sigtrap_put_back(t, k);
	}
	/*
	 * Where ours stands for the default, SIGTRAP stays unblocked: blocked
	 * again at detach only where k's mask said so (above), as the thread
	 * whose stop shows a reset may not be the one whose trap made it (a
	 * thread blocked again wrongly would keep it blocked after detach).
	 */
	if (!ours || surfaced)
		reblock(k, m, surfaced ? &si : NULL);
}

/*
 * A SIGTRAP of the program's own is about to be delivered to k: the
 * disposition it meets is the program's (put back if a trap of ours reset
 * it), and where the program blocks SIGTRAP in k (our traps unblocked it)
 * it stays pending instead, as untraced. True: it was made pending again,
 * deliver nothing.
 */
bool sigtrap_program_own(struct uprobe_tracer *t, struct task *k)
{
	struct proc *p = k->proc;
	bool ign, reset;
	struct k_sigaction act;
	siginfo_t si;
	uint64_t m;
	int state;

	if (p->mm_owner || ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) ||
	    ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m))
		return false;
	/*
	 * Sent to k (not a fault's), k's mask followed: where the program
	 * blocks SIGTRAP it stays pending in k, as untraced, SIGTRAP blocked
	 * there until the program unblocks it.
	 */
	if (si.si_code <= 0 && k->mask_known && m == sigmask_kernel(k, k->prog_mask) &&
	    (k->prog_mask & SIGTRAP_BIT)) {
		if (k->trap_hold)
			lifeline_sigtrap_put_back(t, k); /* a forced trap (a step's) took it in place of ours */
		k->trap_hold = true;
		reblock(k, m, &si);
		return true;
	}
	ign = p->trap_learned && p->trap_want.handler == (uint64_t)(uintptr_t)SIG_IGN;
	if (!lifeline_sigtrap_real(p, &act))
		return ign && si.si_code <= 0; /* ignored, with no handler of ours: dropped */
	reset = procfs_sigtrap_status(p, &state) == 0 && state == TRAP_DFL;
	/*
	 * Sent to k (not a fault's), with k's mask as its last trap of ours
	 * left it: where that trap unblocked a SIGTRAP the program blocks
	 * (known then, or shown now by a reset none of our checks saw), it
	 * stays pending, as untraced.
	 */
	if (si.si_code <= 0 && k->ll_mask_valid && m == k->ll_mask &&
	    (k->trap_reblock || (reset && !ign))) {
		if (reset) {
			p->trap_check = true;
			lifeline_sigtrap_put_back(t, k);
		}
		reblock(k, m, &si);
		return true;
	}
	/*
	 * Ignored, and sent: gone, as untraced. Not delivered even after
	 * SIG_IGN is put back, as any other thread's trap of ours resets it
	 * meanwhile.
	 */
	if (ign && si.si_code <= 0)
		return true;
	/* the program's own handler, reset by a trap of ours: back first */
	if (p->trap_want.handler && reset) {
		p->trap_check = true;
		lifeline_sigtrap_put_back(t, k);
	}
	/*
	 * Ours stands for the default, whose action (a core dump) it takes
	 * by putting SIG_DFL back and sending SIGTRAP again, a second signal
	 * that would look like a reset here: the default goes back now.
	 */
	if (lifeline_installed(p) && !lifeline_chained(p) && !reset &&
	    inject_sigaction(t, k, &p->trap_want, NULL) == 0)
		lifeline_now_installed(t, p, false);
	return false;
}

/*
 * k stopped with a SIGTRAP not from an int3 at the address after a
 * one-byte instruction we probe: the program's own signal there, or one
 * that was pending in k with SIGTRAP blocked, taken by the kernel in place
 * of our trap's (which then reset the disposition). True for the second.
 */
bool sigtrap_surfaced(struct task *k)
{
	struct proc *p = k->proc;
	struct k_sigaction act;
	int state;

	return !p->mm_owner && lifeline_sigtrap_real(p, &act) && procfs_sigtrap_status(p, &state) == 0 &&
	       state == TRAP_DFL;
}

/*
 * SIGTRAP's disposition when p is traced from now on: at an exec (what
 * the program starts with: the default or, inherited, ignored; no flags),
 * or an attach through held thread k (the program's handler read whole).
 */
void sigtrap_learn(struct uprobe_tracer *t, struct proc *p, struct task *k, bool exec)
{
	int state;

	p->trap_learned = p->trap_check = false;
	memset(&p->trap_want, 0, sizeof(p->trap_want));
	if (procfs_sigtrap_status(p, &state))
		return;
	p->trap_want.handler = state == TRAP_IGN ? (uint64_t)(uintptr_t)SIG_IGN : 0;
	p->trap_want_full = exec;
	if (state == TRAP_CAUGHT) {
		uint64_t args[6] = { SIGTRAP, 0, 0, 8 };

		if (exec || !k || !inject_possible(k, SYS_rt_sigaction, args) ||
		    inject_sigaction(t, k, NULL, &p->trap_want))
			return;
		p->trap_want_full = true;
	}
	p->trap_learned = true;
}

/*
 * libuprobe's probe after libc's rt_sigaction system call (watch.c): the
 * program set or asked SIGTRAP's disposition. What it set is its own from
 * now on (our handler goes where it sets the default, and away where it
 * sets its own); what it asked is told as it would be untraced (not our
 * handler, not a reset of ours).
 */
int sigtrap_on_sigaction(struct uprobe_hit *h, void *data)
{
	struct uprobe_tracer *t = h->t;
	struct task *k = h->task;
	struct proc *p = k->proc;
	struct user_regs_struct regs;
	struct k_sigaction act, old;
	uint64_t sa, osa;

	(void)data;
	if (p->mm_owner || !k->regs_valid || k->regs.rax != 0)
		return 0;
	regs = k->regs; /* what the hit made of them (rip on the instruction) outlives our injections */
	if (k->regs.rdi != SIGTRAP) {
		/* another signal's handler: its sa_mask as the program set it (sigmask.c) */
		sigmask_on_action(t, k, (int)k->regs.rdi, k->regs.rsi, k->regs.rdx);
		k->regs = regs;
		return 0;
	}
	sa = k->regs.rsi;
	osa = k->regs.rdx;
	if (osa && p->trap_learned && mem_read(p, osa, &old, sizeof(old)) == 0 &&
	    old.handler != p->trap_want.handler) {
		if (p->trap_want_full)
			old = p->trap_want;
		else
			old.handler = p->trap_want.handler;
		mem_write(p, osa, &old, sizeof(old));
	}
	if (!sa || mem_read(p, sa, &act, sizeof(act)))
		return 0;
	p->trap_want = act;
	p->trap_want_full = p->trap_learned = true;
	if (!p->lifeline)
		return 0;
	lifeline_now_installed(t, p, false);
	if (act.handler != (uint64_t)(uintptr_t)SIG_DFL && act.handler != (uint64_t)(uintptr_t)SIG_IGN) {
		/*
		 * Its own: ours in front of it, which passes it every SIGTRAP
		 * not ours (a trap of ours at this very call may have reset
		 * it: made the disposition again either way).
		 */
		lifeline_set_ign(p, false);
		if (lifeline_chain(t, p, k, &act))
			inject_sigaction(t, k, &act, NULL);
	} else {
		/* ours stands for either (SIG_IGN set by us would discard our traps in flight) */
		lifeline_set_ign(p, act.handler != (uint64_t)(uintptr_t)SIG_DFL);
		lifeline_chain(t, p, k, NULL);
	}
	k->regs = regs;
	return 0;
}

/*
 * k is about to be let go: the SIGTRAP our traps unblocked in it is
 * blocked again, if its mask is still the one they left (a mask the
 * program set since is its own).
 */
void sigtrap_detach_task(struct task *k)
{
	uint64_t m;

	if (k->mask_known) {
		/* followed: the mask the program set, where ours is still the kernel's */
		if (ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m) == 0 &&
		    m == sigmask_kernel(k, k->prog_mask) && m != k->prog_mask)
			sigmask_set(k->tid, k->prog_mask);
		k->mask_known = false;
		return;
	}
	if (!k->trap_reblock)
		return;
	k->trap_reblock = false;
	if (ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m) == 0 && m == k->ll_mask &&
	    !(m & SIGTRAP_BIT)) {
		m |= SIGTRAP_BIT;
		ptrace(PTRACE_SETSIGMASK, k->tid, (void *)sizeof(m), &m);
	}
}

/*
 * Detach (or a fork child let go): through held thread k, SIGTRAP's
 * default comes back if our handler (anywhere in [lo, hi), the areas about
 * to be unmapped) is still the disposition; a handler the program
 * installed since stays. The other handlers get SIGTRAP back in their
 * sa_mask where it was taken out (sigmask.c).
 */
void sigtrap_teardown(struct uprobe_tracer *t, struct proc *p, struct task *k,
		       const struct seccomp_state *sc, uint64_t handler)
{
	struct k_sigaction old, want = { 0 };
	uint64_t args[6] = { SIGTRAP, 0, 0, 8 };
	uint32_t action;
	int state;

	/* the other handlers' masks first (sigmask.c) */
	sigmask_actions_end(t, p, k, sc);
	if (p->mm_owner || inject_seccomp_allowed(k, sc, SYS_rt_sigaction, args, &action) != 1)
		return;
	if (p->trap_learned && p->trap_want_full)
		want = p->trap_want;
	else if (p->trap_learned)
		want.handler = p->trap_want.handler;
	if (!handler) {
		/* the program's own or SIG_IGN, reset by a trap of ours (SIG_IGN never put back meanwhile) */
		if (want.handler && procfs_sigtrap_status(p, &state) == 0 && state == TRAP_DFL &&
		    inject_sigaction(t, k, NULL, &old) == 0 && !old.handler) {
			if (!p->trap_want_full) {
				old.handler = want.handler;
				want = old;
			}
			inject_sigaction(t, k, &want, NULL);
		}
		return;
	}
	if (inject_sigaction(t, k, NULL, &old) || old.handler != handler)
		return;
	inject_sigaction(t, k, &want, NULL);
}

/*
 * Detach of p with no scratch area (the inline fallback: no lifeline, and
 * no area_unmap_list() to call sigtrap_teardown()), through held thread k: a
 * program that ignores SIGTRAP has had the default while traced (each trap
 * of ours reset it, sigtrap_program_own()), and gets SIG_IGN back here.
 */
void sigtrap_detach(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	struct seccomp_state sc;

	if (p->mm_owner || seccomp_read(k->tid, &sc) < 0)
		return;
	sigtrap_teardown(t, p, k, &sc, 0);
	seccomp_state_free(&sc);
}
