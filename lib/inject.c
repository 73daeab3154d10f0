// SPDX-License-Identifier: LGPL-2.1-or-later
/* Running code in a held tracee thread: system calls (mmap/munmap of scratch areas) and function calls (IFUNC resolvers). */
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "core.h"

/*
 * Lets k run from the prepared registers until it traps at `trap_pc`, keeping
 * any signal that arrives meanwhile for later delivery.
 */
static int run_until_trap(struct task *k, uint64_t trap_pc)
{
	mem_flush(k->proc);
	for (int rounds = 0; rounds < 1000; rounds++) {
		int st;

		if (ptrace(PTRACE_CONT, k->tid, NULL, NULL) < 0)
			return -errno;
		while (waitpid(k->tid, &st, __WALL) < 0) {
			if (errno != EINTR)
				return -errno;
		}
		task_stopped(k);
		if (!WIFSTOPPED(st))
			return -ESRCH;
		if ((st >> 16) == 0 && WSTOPSIG(st) == SIGTRAP) {
			if (task_getregs(k) < 0)
				return -ESRCH;
			if (k->regs.rip == trap_pc)
				return 0;
			return -EFAULT;
		}
		if ((st >> 16) == 0)
			task_hold_signal(k, WSTOPSIG(st));
		else if ((st >> 16) == PTRACE_EVENT_STOP)
			k->interrupted = false;
	}
	return -EBUSY;
}

/*
 * The registers are saved and restored around the call, orig_rax included:
 * a thread held inside an interrupted system call still restarts it
 * correctly afterwards, and -1 in orig_rax meanwhile keeps the kernel from
 * treating the injected registers as a restartable call.
 */
int inject_syscall(struct uprobe_tracer *t, struct task *k, long nr, const uint64_t args[6],
		   int64_t *ret)
{
	static const uint8_t code[] = { 0x0f, 0x05, 0xcc }; /* syscall; int3 */
	struct proc *p = k->proc;
	struct user_regs_struct saved;
	uint8_t orig[sizeof(code)];
	bool temp = !p->gadget;
	uint64_t at;
	int err;

	if (task_getregs(k) < 0)
		return -ESRCH;
	saved = k->regs;
	if (temp) {
		/* no scratch area yet: every thread is held, borrow the bytes at pc */
		at = saved.rip;
		err = mem_read(p, at, orig, sizeof(orig));
		if (!err)
			err = mem_write(p, at, code, sizeof(code));
		if (err)
			return err;
	} else {
		at = p->gadget + XOL_GADGET_SYSCALL;
	}
	k->regs.rax = nr;
	k->regs.orig_rax = (uint64_t)-1;
	k->regs.rdi = args[0];
	k->regs.rsi = args[1];
	k->regs.rdx = args[2];
	k->regs.r10 = args[3];
	k->regs.r8 = args[4];
	k->regs.r9 = args[5];
	k->regs.rip = at;
	err = task_setregs(k);
	if (!err)
		err = run_until_trap(k, at + 3);
	if (!err)
		*ret = (int64_t)k->regs.rax;
	if (temp)
		mem_write(p, at, orig, sizeof(orig));
	k->regs = saved;
	task_setregs(k);
	k->regs_valid = true;
	k->stop_sig = SIGTRAP; /* k now sits in the int3's signal-delivery-stop */
	return err;
}

/*
 * The instruction pointer seccomp filters see for the system call
 * inject_syscall(k, ...) would make now: the kernel reports the address
 * after the 2-byte syscall instruction (in the gadget, or at k's pc).
 */
int inject_syscall_ip(struct task *k, uint64_t *ip)
{
	struct proc *p = k->proc;

	if (!p->gadget && task_getregs(k) < 0)
		return -ESRCH;
	*ip = (p->gadget ? p->gadget + XOL_GADGET_SYSCALL : k->regs.rip) + 2;
	return 0;
}

int inject_call(struct uprobe_tracer *t, struct task *k, uint64_t fn, const uint64_t args[6],
		uint64_t *ret)
{
	struct proc *p = k->proc;
	struct user_regs_struct saved;
	uint64_t ra, sp;
	int err;

	/* it returns to an int3 of ours: the trap gadget, or the inline trampoline */
	ra = p->gadget ? p->gadget + XOL_GADGET_TRAP : proc_mm(p)->trap;
	if (!ra)
		return -EOPNOTSUPP;
	if (task_getregs(k) < 0)
		return -ESRCH;
	saved = k->regs;
	/* below the red zone, 16-byte aligned at the call as the ABI wants */
	sp = ((saved.rsp - 1024) & ~0xfull) - 8;
	err = mem_write(p, sp, &ra, sizeof(ra));
	if (err)
		return err;
	k->regs.rsp = sp;
	k->regs.rip = fn;
	k->regs.orig_rax = (uint64_t)-1;
	k->regs.rax = 0;
	k->regs.rdi = args[0];
	k->regs.rsi = args[1];
	k->regs.rdx = args[2];
	k->regs.rcx = args[3];
	k->regs.r8 = args[4];
	k->regs.r9 = args[5];
	err = task_setregs(k);
	if (!err)
		err = run_until_trap(k, ra + 1);
	if (!err)
		*ret = k->regs.rax;
	k->regs = saved;
	task_setregs(k);
	k->regs_valid = true;
	k->stop_sig = SIGTRAP;
	return err;
}
