// SPDX-License-Identifier: LGPL-2.1-or-later
/* x86-64 Linux register and ABI facts: injected calls and system calls, TF, debug registers. */
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include "internal.h"

bool arch_step_hide_tf(const struct arch_plan *plan, struct user_regs_struct *regs,
		       uint64_t rsp_before, const struct arch_mem *mem)
{
	uint64_t flags;

	/* only what the pushf stored: a step that ran nothing leaves rsp where it was */
	if (arch_plan_pushes_flags(plan) && regs->rsp < rsp_before &&
	    mem->read(mem->ctx, regs->rsp, &flags, sizeof(flags)) == 0 &&
	    (flags & ARCH_FLAGS_TF)) {
		flags &= ~ARCH_FLAGS_TF;
		mem->write(mem->ctx, regs->rsp, &flags, sizeof(flags));
	} else if (arch_plan_is_syscall(plan) && (regs->r11 & ARCH_FLAGS_TF)) {
		regs->r11 &= ~ARCH_FLAGS_TF;
		return true;
	}
	return false;
}

/*
 * A thread held inside a system call that is to be
 * restarted (the kernel restarts it when a tracer resumes it without a
 * signal; rt_sigreturn leaves no system call to restart) gets the restart
 * made here: back onto the syscall instruction with its number, as
 * arch_do_signal_or_restart() would, or a futex wait returns -ERESTARTSYS.
 */
void arch_regs_restarted(const struct user_regs_struct *r, uint64_t *rax, uint64_t *rip)
{
	*rax = r->rax;
	*rip = r->rip;
	if ((int64_t)r->orig_rax < 0)
		return;
	switch ((int64_t)r->rax) {
	case -512: /* ERESTARTSYS */
	case -513: /* ERESTARTNOINTR */
	case -514: /* ERESTARTNOHAND */
		*rax = r->orig_rax;
		*rip -= 2;
		break;
	case -516: /* ERESTART_RESTARTBLOCK */
		*rax = SYS_restart_syscall;
		*rip -= 2;
		break;
	}
}

/* The system call ABI: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9. */
static void set_syscall_args(struct user_regs_struct *r, const uint64_t *args, unsigned nargs)
{
	unsigned long long *argr[6] = { &r->rdi, &r->rsi, &r->rdx, &r->r10, &r->r8, &r->r9 };

	for (unsigned i = 0; i < nargs && i < 6; i++)
		*argr[i] = args[i];
}

void arch_regs_set_syscall(struct user_regs_struct *r, long nr, const uint64_t *args,
			   unsigned nargs)
{
	r->rax = (uint64_t)nr;
	r->orig_rax = (uint64_t)-1;
	set_syscall_args(r, args, nargs);
}

/* At the entry stop the kernel runs the call orig_rax names, with the argument registers. */
void arch_regs_change_syscall(struct user_regs_struct *r, long nr, const uint64_t *args,
			      unsigned nargs)
{
	r->orig_rax = (uint64_t)nr;
	set_syscall_args(r, args, nargs);
}

/* Below the red zone, 16-byte aligned at the call as the ABI wants. */
uint64_t arch_call_sp(uint64_t rsp)
{
	return ((rsp - 1024) & ~0xfull) - 8;
}

/* The function call ABI: arguments in rdi, rsi, rdx, rcx, r8, r9; rax 0 (no vector args). */
void arch_regs_set_call(struct user_regs_struct *r, uint64_t fn, uint64_t sp,
			const uint64_t args[6])
{
	r->rsp = sp;
	r->rip = fn;
	r->orig_rax = (uint64_t)-1;
	r->rax = 0;
	r->rdi = args[0];
	r->rsi = args[1];
	r->rdx = args[2];
	r->rcx = args[3];
	r->r8 = args[4];
	r->r9 = args[5];
}

/* movabs $v, %reg: REX.W (+B), b8+reg, imm64 */
static uint8_t *put_movabs(uint8_t *c, uint8_t rex, uint8_t op, uint64_t v)
{
	*c++ = rex;
	*c++ = op;
	memcpy(c, &v, sizeof(v));
	return c + sizeof(v);
}

void arch_syscall_stub(uint8_t code[ARCH_STUB_LEN], long nr, const uint64_t args[6],
		       const struct user_regs_struct *back, uint64_t rax, uint64_t rip)
{
	uint8_t *c = code;

	c = put_movabs(c, 0x48, 0xb8, (uint64_t)nr);   /* rax */
	c = put_movabs(c, 0x48, 0xbf, args[0]);        /* rdi */
	c = put_movabs(c, 0x48, 0xbe, args[1]);        /* rsi */
	c = put_movabs(c, 0x48, 0xba, args[2]);        /* rdx */
	c = put_movabs(c, 0x49, 0xba, args[3]);        /* r10 */
	c = put_movabs(c, 0x49, 0xb8, args[4]);        /* r8 */
	c = put_movabs(c, 0x49, 0xb9, args[5]);        /* r9 */
	*c++ = 0x0f;                                   /* syscall */
	*c++ = 0x05;
	c = put_movabs(c, 0x48, 0xb8, rax);
	c = put_movabs(c, 0x48, 0xbf, back->rdi);
	c = put_movabs(c, 0x48, 0xbe, back->rsi);
	c = put_movabs(c, 0x48, 0xba, back->rdx);
	c = put_movabs(c, 0x49, 0xba, back->r10);
	c = put_movabs(c, 0x49, 0xb8, back->r8);
	c = put_movabs(c, 0x49, 0xb9, back->r9);
	c = put_movabs(c, 0x48, 0xb9, back->rcx);
	c = put_movabs(c, 0x49, 0xbb, back->r11);
	memcpy(c, (const uint8_t[]){ 0xff, 0x25, 0, 0, 0, 0 }, 6); /* jmp *0(%rip) */
	memcpy(c + 6, &rip, sizeof(rip));
}

bool arch_rdtsc_skip(struct user_regs_struct *regs, const uint8_t insn[ARCH_RDTSC_LEN])
{
	if (insn[0] != 0x0f || insn[1] != 0x31)
		return false;
	regs->rax = regs->rdx = 0;
	regs->rip += ARCH_RDTSC_LEN;
	return true;
}

/* DR0 holds the address; DR7 bit 0 enables it locally, for execution (R/W0 = 00, LEN0 = 00). */
int arch_hw_break_set(pid_t tid, uint64_t addr)
{
	size_t dr0 = offsetof(struct user, u_debugreg[0]);
	size_t dr7 = offsetof(struct user, u_debugreg[7]);

	if (ptrace(PTRACE_POKEUSER, tid, (void *)dr0, (void *)(uintptr_t)addr) < 0 ||
	    ptrace(PTRACE_POKEUSER, tid, (void *)dr7, (void *)1l) < 0)
		return -errno;
	return 0;
}

/*
 * System calls that return -EINTR itself, not a -ERESTART* code the
 * kernel turns into a restart, when anything wakes the thread: a
 * PTRACE_INTERRUPT of ours too (signal(7): "never restarted"). connect()
 * is not here: the connection goes on, and a second call is EALREADY.
 */
bool arch_syscall_never_restarted(long nr)
{
	switch (nr) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_rt_sigtimedwait:
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_msgrcv:
	case SYS_msgsnd:
	case SYS_io_getevents:
		return true;
	}
	return false;
}
