// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Injected code run to its end in a held thread: SIGTRAP guarded while it
 * runs, the thread taken out of a clone's or fork's system call first, run
 * to a system-call stop or to its trap, or ended by a tgkill where the
 * program ignores SIGTRAP; signals that come meanwhile are held. What is
 * injected is inject.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "os.h"
#include "inject_internal.h"

static bool sigtrap_ignored(pid_t pid)
{
	char path[64], line[128];
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	v = procfs_status_field(path, "SigIgn:", line, sizeof(line));
	return v && (strtoull(v, NULL, 16) & SIGTRAP_BIT);
}

void inject_run_guard_begin(struct task *k, struct trap_guard *g)
{
	uint64_t m;

	memset(g, 0, sizeof(*g));
	if (ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(g->mask), &g->mask) == 0 &&
	    (g->mask & SIGTRAP_BIT)) {
		m = g->mask & ~SIGTRAP_BIT;
		g->unblocked = ptrace(PTRACE_SETSIGMASK, k->tid, (void *)sizeof(m), &m) == 0;
	}
	g->ignored = sigtrap_ignored(k->proc->pid);
}

void inject_run_guard_end(struct task *k, const struct trap_guard *g)
{
	if (g->unblocked)
		ptrace(PTRACE_SETSIGMASK, k->tid, (void *)sizeof(g->mask), &g->mask);
}

/*
 * A fault of the injected code itself (an IFUNC resolver that reads its
 * library's GOT before the dynamic linker has relocated it): the kernel
 * made it at the instruction k runs, so it is the call's, never the
 * program's. Holding it would deliver it to the program once its
 * registers are back: a SIGSEGV out of nowhere. The call fails instead.
 */
static bool own_fault(struct task *k)
{
	siginfo_t si;

	return ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 && task_siginfo_is_fault(&si);
}

/*
 * One run of held k with req to its own next stop: 0 a signal stop, in
 * *st; 1 an event stop (an interrupt, ours noted as seen, or a
 * group-stop), nothing ran: run again; -errno.
 */
static int run_once(struct task *k, long req, int *st)
{
	int err = task_run_own(k, req, st);

	if (err)
		return err;
	if (!(*st >> 16))
		return 0;
	if ((*st >> 16) == PTRACE_EVENT_STOP)
		k->interrupted = false;
	return 1;
}

/*
 * Runs k with PTRACE_SYSCALL to the entry (or exit) stop of the system call
 * made by the instruction at sys_pc; stops of other system calls (an IFUNC
 * resolver's own) are passed, signals meanwhile held. With no
 * PTRACE_O_TRACESYSGOOD a system-call stop is a SIGTRAP stop whose siginfo
 * has si_code SIGTRAP (PTRACE_GET_SYSCALL_INFO then says nothing); a
 * call's entry and exit stops come in that order, with the pc after it.
 */
int inject_run_to_syscall_stop(struct task *k, uint64_t sys_pc, bool want_exit)
{
	bool entered = false;

	mem_flush(k->proc);
	for (int rounds = 0; rounds < 10000; rounds++) {
		siginfo_t si;
		int st, sig, err;

		err = run_once(k, PTRACE_SYSCALL, &st);
		if (err < 0)
			return err;
		if (err)
			continue;
		sig = WSTOPSIG(st);
		if (sig == SIGTRAP && ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 &&
		    si.si_code == SIGTRAP) {
			if (task_getregs(k) < 0)
				return -ESRCH;
			if (k->regs.rip == sys_pc + ARCH_SYSCALL_LEN) {
				if (!want_exit || entered)
					return 0;
				entered = true;
			}
			continue;
		}
		if (own_fault(k))
			return -EFAULT;
		task_hold_signal(k, sig);
	}
	return -EBUSY;
}

/* Is a vfork child of k's (sharing its memory, its parent blocked until it execs or exits) traced? */
static bool vfork_child_traced(const struct task *k)
{
	for (const struct proc *q = k->proc->t->procs; q; q = q->next)
		if (q->mm_owner == k->proc && q->vforker == k->tid)
			return true;
	return false;
}

/*
 * k is held in a clone's, fork's or vfork's event stop, inside the system
 * call: its result is not in rax yet, and registers put back after an
 * injection would make the call return -ENOSYS (glibc's pthread_create then
 * clones a second thread onto the same stack; a fork or a posix_spawn says
 * it failed while its child runs). It is run to the call's exit stop
 * first, where the result is in rax. A vfork's parent only once its child
 * is no longer ours: it waits there until the child execs or exits, which
 * a child we hold would never do. 0, or -errno.
 */
int inject_run_leave_event_syscall(struct task *k)
{
	int err;

	if (k->held_event != PTRACE_EVENT_CLONE && k->held_event != PTRACE_EVENT_FORK &&
	    (k->held_event != PTRACE_EVENT_VFORK || vfork_child_traced(k)))
		return 0;
	k->held_event = 0;
	if (task_getregs(k) < 0)
		return -ESRCH;
	if (!arch_regs_inside_syscall(&k->regs))
		return 0;
	pr_debug("tid %d: out of its %s system call first", k->tid,
		 k->regs.orig_rax == SYS_clone3 ? "clone3" : "clone, fork or vfork");
	err = inject_run_to_syscall_stop(k, k->regs.rip - ARCH_SYSCALL_LEN, false);
	if (!err && task_getregs(k) < 0)
		err = -ESRCH;
	return err;
}

/*
 * From a stop of the system call made at sys_pc: k sends itself SIGTRAP
 * with it (at its entry stop the call becomes tgkill; after its exit the
 * instruction runs again as tgkill) and stops in its delivery, a
 * signal-delivery-stop as an int3's would be, with no forced signal.
 * Signals meanwhile are held.
 */
int inject_run_end_by_tgkill(struct task *k, uint64_t sys_pc, bool at_entry)
{
	uint64_t args[3] = { (uint64_t)k->proc->pid, (uint64_t)k->tid, SIGTRAP };

	if (task_getregs(k) < 0)
		return -ESRCH;
	if (at_entry) {
		arch_regs_change_syscall(&k->regs, SYS_tgkill, args, 3);
	} else {
		k->regs.rip = sys_pc;
		arch_regs_set_syscall(&k->regs, SYS_tgkill, args, 3);
	}
	if (task_setregs(k) < 0)
		return -ESRCH;
	for (int rounds = 0; rounds < 1000; rounds++) {
		siginfo_t si;
		int st, sig, err;

		err = run_once(k, PTRACE_CONT, &st);
		if (err < 0)
			return err;
		if (err)
			continue;
		sig = WSTOPSIG(st);
		if (sig == SIGTRAP && ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 &&
		    si.si_code == SI_TKILL && si.si_pid == k->proc->pid && task_getregs(k) == 0 &&
		    k->regs.rip == sys_pc + ARCH_SYSCALL_LEN)
			return 0;
		task_hold_signal(k, sig);
	}
	return -EBUSY;
}

/* Would k's seccomp filter let inject_run_end_by_tgkill() through at sys_pc? */
bool inject_run_tgkill_allowed(struct task *k, uint64_t sys_pc)
{
	uint64_t args[6] = { (uint64_t)k->proc->pid, (uint64_t)k->tid, SIGTRAP };

	return seccomp_syscall_allowed(k->tid, SYS_tgkill, args, sys_pc + ARCH_SYSCALL_LEN) == 1;
}

/*
 * Lets k run from the prepared registers until it traps at `trap_pc`, keeping
 * any signal that arrives meanwhile for later delivery.
 */
int inject_run_until_trap(struct task *k, uint64_t trap_pc)
{
	mem_flush(k->proc);
	for (int rounds = 0; rounds < 1000; rounds++) {
		int st, err;

		err = run_once(k, PTRACE_CONT, &st);
		if (err < 0)
			return err;
		if (err)
			continue;
		if (WSTOPSIG(st) == SIGTRAP) {
			siginfo_t si;

			if (task_getregs(k) < 0)
				return -ESRCH;
			if (k->regs.rip == trap_pc)
				return 0;
			/*
			 * A SIGTRAP sent to it (si_code <= 0), pending while it
			 * blocked SIGTRAP, which inject_run_guard_begin() unblocked: held,
			 * pending again once resumed with its mask back.
			 */
			if (ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 && si.si_code <= 0) {
				task_hold_signal(k, SIGTRAP);
				continue;
			}
			return -EFAULT;
		}
		if (own_fault(k))
			return -EFAULT;
		task_hold_signal(k, WSTOPSIG(st));
	}
	return -EBUSY;
}
