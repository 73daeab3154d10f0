// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The lifeline: a SIGTRAP handler that libuprobe copies into a tracee's
 * first scratch area (lifeline.c) and installs where the program leaves
 * SIGTRAP at its default. While the tracer lives it never sees one of our
 * traps (they stop the thread for the tracer first). When the tracer dies
 * (SIGKILL, the OOM killer, a crash in a user's handler), the kernel lets
 * every thread go with our int3s still in the code: a thread that reaches
 * one, or that was stopped on one, gets a SIGTRAP, and this handler
 *
 *   - at one of our int3s in the program's code (the table: address and
 *     the file's byte), writes the byte back through /proc/self/mem and
 *     returns onto the instruction, which now runs as if never traced (a
 *     jump detour's head, its jump half written or half taken back, gets
 *     the file's bytes after the int3 back first);
 *   - at a jump detour's int3 (in the table too), makes it a nop the same
 *     way and returns past it, into the copies that follow it;
 *   - at the return-probe trampoline, returns to the real return address
 *     the table holds for the stack slot the thread's ret popped;
 *   - at an unwinder's entry (LL_UNWIND: an exception thrown, a forced
 *     unwind, a backtrace), first puts the real return address back into
 *     every stack slot the table lists that still holds the trampoline
 *     (read with process_vm_readv, swapped with lock cmpxchg: a thread
 *     returning through it meanwhile gets one or the other, both right),
 *     as an unwinder cannot step through the trampoline; then as above;
 *   - at the gadget's int3s ending code the tracer injected into this
 *     thread (a system call, an IFUNC resolver), puts back the registers
 *     the tracer saved for it;
 *   - with the thread put by the tracer, just before it died, in a scratch
 *     area (a slot) or back on a probed instruction, returns and lets the
 *     code there run;
 *   - after a single-step the tracer started, clears TF and goes on;
 *   - for any other SIGTRAP (the program's own int3, raise(), kill)
 *     does what the default action would: it puts SIG_DFL back and sends
 *     the signal again, which kills the program when the handler returns.
 * The trap flag is cleared in every frame it returns to. It uses system
 * calls only (open, pwrite64, close, getpid, gettid, tgkill,
 * process_vm_readv, rt_sigaction, rt_sigreturn), all checked against the
 * program's seccomp filter before it is installed.
 */
#include "../../lifeline.h"

#define S_(x) #x
#define S(x) S_(x)

/* ucontext_t: uc_mcontext.gregs[] starts at 40; REG_RSP 15, REG_RIP 16, REG_EFL 17 */
#define UC_RSP 160
#define UC_RIP 168
#define UC_EFL 176
/* gregs[] of the other registers the system call emulation uses; uc_sigmask */
#define UC_R10 56
#define UC_R11 64
#define UC_RDI 104
#define UC_RSI 112
#define UC_RDX 136
#define UC_RAX 144
#define UC_RCX 152
#define UC_SIGMASK 296
/* bits of a 64-bit sigset_t: SIGTRAP, SIGKILL, SIGSTOP */
#define BIT_TRAP 4
#define BIT_KILL 8
#define BIT_STOP 18

/*
 * The handler's frame, below its six pushes (so that rsp stays 16-byte
 * aligned): 0-31 a sigaction or two iovecs, 40 the si_code, 48 a byte
 * read; for LL_UNWIND, 56 and 72
 * the local and remote iovecs of a process_vm_readv, 88 its 8 bytes, 96
 * the pid; 104 the siginfo pointer, for the program's own handler.
 */
#define FRAME 120

__asm__(
	"	.pushsection .rodata.uprobe_lifeline, \"a\"\n"
	"	.balign 64\n"
	"	.globl uprobe__lifeline\n"
	"	.hidden uprobe__lifeline\n"
	"uprobe__lifeline:\n"
	/* rdi = signal, rsi = siginfo, rdx = ucontext */
	"	push %rbx\n"
	"	push %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	sub $" S(FRAME) ", %rsp\n"
	"	mov %rsi, 104(%rsp)\n"
	"	mov %rdx, %r12\n"
	"	mov " S(UC_RIP) "(%r12), %r13\n"
	"	movslq 8(%rsi), %rax\n"
	"	mov %rax, 40(%rsp)\n"          /* si_code, for .Lforeign */
	"	cmpl $0x80, 8(%rsi)\n"          /* si_code SI_KERNEL: an int3 */
	"	jne .Lnot_int3\n"
	"	lea -1(%r13), %rbx\n"           /* where the int3 was */
	"	mov %rbx, %rdi\n"
	"	call .Lfind\n"
	"	test %rax, %rax\n"
	"	jz .Lnot_ours\n"
	"	cmpb $" S(LL_RET) ", " S(LL_ENT_KIND) "(%rax)\n"
	"	je .Lnot_ours\n"
	"	mov %rax, %r14\n"
	"	cmpb $" S(LL_MASK) ", " S(LL_ENT_KIND) "(%r14)\n"
	"	je .Lmask\n"
	"	cmpb $" S(LL_SIGRET) ", " S(LL_ENT_KIND) "(%r14)\n"
	"	je .Lsigret\n"
	"	cmpb $" S(LL_UNWIND) ", " S(LL_ENT_KIND) "(%r14)\n"
	"	jne 6f\n"
	/* an unwinder's: every slot holding the trampoline gets its return address back */
	"	mov .Ltramp(%rip), %r13\n"
	"	test %r13, %r13\n"
	"	jz 6f\n"
	"	mov $39, %eax\n"               /* getpid */
	"	syscall\n"
	"	mov %rax, 96(%rsp)\n"
	"	mov .Ltab(%rip), %r15\n"
	"	mov .Lcount(%rip), %rbp\n"
	"4:	test %rbp, %rbp\n"
	"	jz 6f\n"
	"	cmpb $" S(LL_RET) ", " S(LL_ENT_KIND) "(%r15)\n"
	"	jne 5f\n"
	"	lea 88(%rsp), %rax\n"
	"	mov %rax, 56(%rsp)\n"
	"	movq $8, 64(%rsp)\n"
	"	mov (%r15), %rax\n"
	"	mov %rax, 72(%rsp)\n"
	"	movq $8, 80(%rsp)\n"
	"	mov 96(%rsp), %rdi\n"
	"	lea 56(%rsp), %rsi\n"
	"	mov $1, %edx\n"
	"	lea 72(%rsp), %r10\n"
	"	mov $1, %r8d\n"
	"	xor %r9d, %r9d\n"
	"	mov $310, %eax\n"              /* process_vm_readv: the slot may be gone */
	"	syscall\n"
	"	cmp $8, %rax\n"
	"	jne 5f\n"
	"	cmp %r13, 88(%rsp)\n"
	"	jne 5f\n"
	"	mov (%r15), %rcx\n"
	"	mov " S(LL_ENT_VAL) "(%r15), %rdx\n"
	"	mov %r13, %rax\n"
	"	lock cmpxchg %rdx, (%rcx)\n"
	"5:	add $" S(LL_ENT_SIZE) ", %r15\n"
	"	dec %rbp\n"
	"	jmp 4b\n"
	"6:\n"
	"	cmpb $0xcc, (%rbx)\n"           /* another thread may have put the byte back */
	"	jne .Lwritten\n"
	"	lea .Lpath(%rip), %rdi\n"
	"	mov $0x80002, %esi\n"           /* O_RDWR | O_CLOEXEC */
	"	xor %edx, %edx\n"
	"	mov $2, %eax\n"                 /* open */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	js .Lforeign\n"
	"	mov %rax, %r15\n"
	/* a jump detour's head: the file's bytes after the int3 first */
	"	movzbl " S(LL_ENT_TAIL) "(%r14), %edx\n"
	"	test %edx, %edx\n"
	"	jz 2f\n"
	"	mov %r15, %rdi\n"
	"	lea " S(LL_ENT_VAL) "(%r14), %rsi\n"
	"	lea 1(%rbx), %r10\n"
	"	mov $18, %eax\n"               /* pwrite64 */
	"	syscall\n"
	"2:\n"
	"	mov %r15, %rdi\n"
	"	lea " S(LL_ENT_ORIG) "(%r14), %rsi\n"
	"	mov $1, %edx\n"
	"	mov %rbx, %r10\n"
	"	mov $18, %eax\n"                /* pwrite64 */
	"	syscall\n"
	"	mov %rax, %rbp\n"
	"	mov %r15, %rdi\n"
	"	mov $3, %eax\n"                 /* close */
	"	syscall\n"
	"	cmp $1, %rbp\n"
	"	jne .Lforeign\n"
	".Lwritten:\n"
	"	cmpb $" S(LL_DETOUR) ", " S(LL_ENT_KIND) "(%r14)\n"
	"	je .Lout\n"                    /* a detour's: on into its copies */
	"	mov %rbx, " S(UC_RIP) "(%r12)\n" /* onto the instruction, whole again */
	"	jmp .Lout\n"
	/*
	 * rt_sigprocmask(rdi how, rsi set, rdx oset, r10 size), made here on
	 * the mask sigreturn puts back, as the kernel makes it (the set read
	 * first, then how, the new mask in force even where oset faults),
	 * SIGTRAP kept unblocked; the int3 stays.
	 */
	".Lmask:\n"
	"	mov " S(UC_SIGMASK) "(%r12), %rbp\n"  /* the old mask */
	"	mov $-22, %r15\n"                    /* EINVAL */
	"	cmpq $8, " S(UC_R10) "(%r12)\n"
	"	jne .Lmask_ret\n"
	"	mov " S(UC_RSI) "(%r12), %rsi\n"
	"	test %rsi, %rsi\n"
	"	jz .Lmask_old\n"
	"	mov $310, %eax\n"                    /* process_vm_readv: *set */
	"	call .Lvm\n"
	"	mov $-14, %r15\n"                    /* EFAULT */
	"	cmp $8, %rax\n"
	"	jne .Lmask_ret\n"
	"	mov 88(%rsp), %rax\n"
	"	btr $" S(BIT_KILL) ", %rax\n"
	"	btr $" S(BIT_STOP) ", %rax\n"
	"	mov $-22, %r15\n"
	"	mov " S(UC_RDI) "(%r12), %rcx\n"
	"	mov %rbp, %rdx\n"
	"	cmp $0, %ecx\n"                       /* SIG_BLOCK (how is an int) */
	"	jne 1f\n"
	"	or %rax, %rdx\n"
	"	jmp 3f\n"
	"1:	cmp $1, %ecx\n"                       /* SIG_UNBLOCK */
	"	jne 2f\n"
	"	not %rax\n"
	"	and %rax, %rdx\n"
	"	jmp 3f\n"
	"2:	cmp $2, %ecx\n"                       /* SIG_SETMASK */
	"	jne .Lmask_ret\n"
	"	mov %rax, %rdx\n"
	"3:	btr $" S(BIT_TRAP) ", %rdx\n"
	"	mov %rdx, " S(UC_SIGMASK) "(%r12)\n"
	".Lmask_old:\n"
	"	xor %r15d, %r15d\n"
	"	mov " S(UC_RDX) "(%r12), %rsi\n"
	"	test %rsi, %rsi\n"
	"	jz .Lmask_ret\n"
	"	mov %rbp, 88(%rsp)\n"
	"	mov $311, %eax\n"                    /* process_vm_writev: *oset */
	"	call .Lvm\n"
	"	cmp $8, %rax\n"
	"	je .Lmask_ret\n"
	"	mov $-14, %r15\n"
	".Lmask_ret:\n"
	"	mov %r15, " S(UC_RAX) "(%r12)\n"
	"	lea 2(%rbx), %rax\n"                 /* past the syscall, as it leaves rcx, r11 */
	"	mov %rax, " S(UC_RIP) "(%r12)\n"
	"	mov %rax, " S(UC_RCX) "(%r12)\n"
	"	mov " S(UC_EFL) "(%r12), %rax\n"
	"	mov %rax, " S(UC_R11) "(%r12)\n"
	"	jmp .Lout\n"
	/* the signal return: SIGTRAP out of its frame's mask, then its mov $15,%rax */
	".Lsigret:\n"
	"	mov " S(UC_RSP) "(%r12), %rax\n"
	"	btrq $" S(BIT_TRAP) ", " S(UC_SIGMASK) "(%rax)\n"
	"	movq $15, " S(UC_RAX) "(%r12)\n"
	"	lea 7(%rbx), %rax\n"
	"	mov %rax, " S(UC_RIP) "(%r12)\n"
	"	jmp .Lout\n"
	".Lnot_ours:\n"
	/*
	 * The end of an injection: the gadget's int3s before the trampoline.
	 * Asked first: a thread let go past the first (its stop taken by a
	 * tracer that died) traps on the second, with its pc on the trampoline.
	 */
	"	mov .Ltramp(%rip), %rax\n"
	"	lea -2(%rax), %rcx\n"
	"	cmp %rcx, %rbx\n"
	"	je .Linjected\n"
	"	lea -1(%rax), %rcx\n"
	"	cmp %rcx, %rbx\n"
	"	je .Linjected\n"
	".Lnot_injected:\n"
	/* a SIGTRAP that came with the thread on the trampoline: it traps there next */
	"	mov .Ltramp(%rip), %rax\n"
	"	cmp %rax, %r13\n"
	"	je .Lout\n"
	"	cmp .Ltramp(%rip), %rbx\n"
	"	jne 1f\n"
	/* a return through the trampoline: the slot its ret popped */
	"	mov " S(UC_RSP) "(%r12), %rdi\n"
	"	sub $8, %rdi\n"
	"	call .Lfind\n"
	"	test %rax, %rax\n"
	"	jz .Lforeign\n"
	"	cmpb $" S(LL_RET) ", " S(LL_ENT_KIND) "(%rax)\n"
	"	jne .Lforeign\n"
	"	mov " S(LL_ENT_VAL) "(%rax), %rax\n"
	"	mov %rax, " S(UC_RIP) "(%r12)\n"
	"	jmp .Lout\n"
	/* put in a scratch area by the tracer */
	"1:\n"
	"	mov %r13, %rdi\n"
	"	call .Linarea\n"
	"	test %eax, %eax\n"
	"	jnz .Lout\n"
	/* put back on a probed instruction by the tracer */
	"	mov %r13, %rdi\n"
	"	call .Lfind\n"
	"	test %rax, %rax\n"
	"	jnz .Lout\n"
	/* an int3 of the program's own at rbx? read it without faulting */
	"	mov $39, %eax\n"                /* getpid */
	"	syscall\n"
	"	mov %rax, %rdi\n"
	"	lea 48(%rsp), %rax\n"
	"	movb $0, (%rax)\n"
	"	mov %rax, 0(%rsp)\n"            /* local iovec */
	"	movq $1, 8(%rsp)\n"
	"	mov %rbx, 16(%rsp)\n"           /* remote iovec */
	"	movq $1, 24(%rsp)\n"
	"	mov %rsp, %rsi\n"
	"	mov $1, %edx\n"
	"	lea 16(%rsp), %r10\n"
	"	mov $1, %r8d\n"
	"	xor %r9d, %r9d\n"
	"	mov $310, %eax\n"               /* process_vm_readv */
	"	syscall\n"
	"	cmp $1, %rax\n"
	"	jne .Lout\n"                    /* no int3 ran there: a trap of ours, gone stale */
	"	cmpb $0xcc, 48(%rsp)\n"
	"	jne .Lout\n"
	"	jmp .Lforeign\n"
	".Linjected:\n"
	"	mov $186, %eax\n"               /* gettid */
	"	syscall\n"
	"	cmp .Linj_tid(%rip), %rax\n"
	"	jne .Lnot_injected\n"
	"	lea .Linj_gregs(%rip), %rsi\n"
	"	lea 40(%r12), %rdi\n"           /* uc_mcontext.gregs */
	"	mov $" S(LL_NGREGS) ", %ecx\n"
	"	cld\n"
	"	rep movsq\n"
	"	jmp .Lout\n"
	".Lnot_int3:\n"
	/*
	 * A single-step the tracer started (TRAP_TRACE; the kernel clears TF
	 * before the frame is written), a debug register of its (TRAP_HWBKPT):
	 * the program has no SIGTRAP handler of its own, so untraced it sets
	 * neither. The thread goes on where it is.
	 */
	"	testl $0x100, " S(UC_EFL) "(%r12)\n"
	"	jnz .Lout\n"
	"	cmpl $2, 8(%rsi)\n"             /* TRAP_TRACE */
	"	je .Lout\n"
	"	cmpl $4, 8(%rsi)\n"             /* TRAP_HWBKPT */
	"	je .Lout\n"
	".Lforeign:\n"
	/*
	 * the program's own SIGTRAP: to its own handler where it has one, as
	 * the kernel would have called it (the same arguments, registers and
	 * frame: it returns through the restorer to the interrupted code),
	 */
	"	mov .Lprog(%rip), %rax\n"
	"	test %rax, %rax\n"
	"	jz 7f\n"
	"	mov $5, %edi\n"
	"	mov 104(%rsp), %rsi\n"
	"	mov %r12, %rdx\n"
	"	add $" S(FRAME) ", %rsp\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	"	jmp *%rax\n"
	"7:\n"
	/* ignored where it ignores SIGTRAP and it was sent, */
	"	cmpq $0, .Lign(%rip)\n"
	"	je 1f\n"
	"	cmpq $0, 40(%rsp)\n"           /* si_code <= 0: sent, not a fault's */
	"	jle .Lout\n"
	"1:\n"
	/* else the default action, as untraced */
	"	xor %eax, %eax\n"
	"	mov %rax, 0(%rsp)\n"
	"	mov %rax, 8(%rsp)\n"
	"	mov %rax, 16(%rsp)\n"
	"	mov %rax, 24(%rsp)\n"
	"	mov $5, %edi\n"
	"	mov %rsp, %rsi\n"
	"	xor %edx, %edx\n"
	"	mov $8, %r10d\n"
	"	mov $13, %eax\n"                /* rt_sigaction(SIGTRAP, SIG_DFL) */
	"	syscall\n"
	"	mov $39, %eax\n"                /* getpid */
	"	syscall\n"
	"	mov %rax, %rbx\n"
	"	mov $186, %eax\n"               /* gettid */
	"	syscall\n"
	"	mov %rax, %rsi\n"
	"	mov %rbx, %rdi\n"
	"	mov $5, %edx\n"
	"	mov $234, %eax\n"               /* tgkill: delivered once the handler returns */
	"	syscall\n"
	".Lout:\n"
	"	andq $-257, " S(UC_EFL) "(%r12)\n" /* TF off */
	"	add $" S(FRAME) ", %rsp\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	/*
	 * The signal return made here, not through the restorer (what a ret
	 * would do): in front of the program's own handler that is libc's
	 * __restore_rt, whose first instruction holds an int3 of ours
	 * (LL_SIGRET); each return of ours would trap there again, a frame
	 * deeper each time, until the stack overflowed.
	 */
	"	add $8, %rsp\n"                 /* the restorer's address: rsp at the ucontext */
	"	mov $15, %eax\n"                /* rt_sigreturn */
	"	syscall\n"
	/*
	 * eax: process_vm_readv or _writev of the 8 bytes at 88(%rsp) and
	 * those at rsi in this process; rax: its result. The frame's 56 and
	 * 72 hold the iovecs (one deeper: the call's return address).
	 */
	".Lvm:\n"
	"	mov %rax, %r13\n"
	"	lea 96(%rsp), %rax\n"
	"	mov %rax, 64(%rsp)\n"
	"	movq $8, 72(%rsp)\n"
	"	mov %rsi, 80(%rsp)\n"
	"	movq $8, 88(%rsp)\n"
	"	mov $39, %eax\n"                     /* getpid */
	"	syscall\n"
	"	mov %rax, %rdi\n"
	"	lea 64(%rsp), %rsi\n"
	"	mov $1, %edx\n"
	"	lea 80(%rsp), %r10\n"
	"	mov $1, %r8d\n"
	"	xor %r9d, %r9d\n"
	"	mov %r13, %rax\n"
	"	syscall\n"
	"	ret\n"
	/* rdi: an address; rax: its table entry, or 0 */
	".Lfind:\n"
	"	mov .Ltab(%rip), %rax\n"
	"	mov .Lcount(%rip), %rcx\n"
	"	test %rcx, %rcx\n"
	"	jz 2f\n"
	"1:	cmp %rdi, (%rax)\n"
	"	je 3f\n"
	"	add $" S(LL_ENT_SIZE) ", %rax\n"
	"	dec %rcx\n"
	"	jnz 1b\n"
	"2:	xor %eax, %eax\n"
	"3:	ret\n"
	/* rdi: an address; eax: 1 when it lies in a scratch area past its gadget slot */
	".Linarea:\n"
	"	lea .Lareas(%rip), %rcx\n"
	"	mov .Lnareas(%rip), %rdx\n"
	"	test %rdx, %rdx\n"
	"	jz 2f\n"
	"1:	mov (%rcx), %rax\n"
	"	add $64, %rax\n"
	"	cmp %rax, %rdi\n"
	"	jb 3f\n"
	"	cmp 8(%rcx), %rdi\n"
	"	jb 4f\n"
	"3:	add $16, %rcx\n"
	"	dec %rdx\n"
	"	jnz 1b\n"
	"2:	xor %eax, %eax\n"
	"	ret\n"
	"4:	mov $1, %eax\n"
	"	ret\n"
	"	.globl uprobe__lifeline_restorer\n"
	"	.hidden uprobe__lifeline_restorer\n"
	"uprobe__lifeline_restorer:\n"
	"	mov $15, %eax\n"                /* rt_sigreturn */
	"	syscall\n"
	".Lpath:	.asciz \"/proc/self/mem\"\n"
	"	.balign 8\n"
	"	.globl uprobe__lifeline_data\n"
	"	.hidden uprobe__lifeline_data\n"
	"uprobe__lifeline_data:\n"
	".Ltab:	.quad 0\n"
	".Lcount:	.quad 0\n"
	".Ltramp:	.quad 0\n"
	".Linj_tid:	.quad 0\n"
	".Linj_gregs:	.fill " S(LL_NGREGS) " * 8, 1, 0\n"
	".Lnareas:	.quad 0\n"
	".Lareas:	.fill " S(LL_MAX_AREAS) " * 16, 1, 0\n"
	".Lign:	.quad 0\n"
	".Lprog:	.quad 0\n"
	"	.globl uprobe__lifeline_end\n"
	"	.hidden uprobe__lifeline_end\n"
	"uprobe__lifeline_end:\n"
	"	.popsection\n");
