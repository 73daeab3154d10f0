/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Differential-execution harness for test_x86.c: loads a whole register file
 * (GPRs, rsp, flags) from a struct cpu, jumps to a piece of code, and
 * captures the register file when that code reaches a landing pad.
 *
 * struct cpu: gpr[16] in hardware order (rax rcx rdx rbx rsp rbp rsi rdi
 * r8..r15) at 8*n, rflags at 128, rip (the landing pad reached) at 136.
 *
 * A landing pad (written by the test at each address the code may continue
 * at) is: movabs %rax, harness_scratch_rax; movabs $pad, %rax;
 * jmp *harness_capture -- none of which touches flags or the guest's stack.
 * The harness itself only uses a private stack, so every byte of the guest's
 * stack and data is the guest's own doing.
 */
	.text
	.globl harness_run
	.type harness_run, @function
/* void harness_run(const struct cpu *in, struct cpu *out, uint64_t entry) */
harness_run:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, host_rsp(%rip)
	mov %rsi, out_ptr(%rip)
	mov %rdx, entry(%rip)
	mov %rdi, %r15
	lea priv_top(%rip), %rsp
	pushq 128(%r15)
	popfq
	mov 0(%r15), %rax
	mov 8(%r15), %rcx
	mov 16(%r15), %rdx
	mov 24(%r15), %rbx
	mov 40(%r15), %rbp
	mov 48(%r15), %rsi
	mov 56(%r15), %rdi
	mov 64(%r15), %r8
	mov 72(%r15), %r9
	mov 80(%r15), %r10
	mov 88(%r15), %r11
	mov 96(%r15), %r12
	mov 104(%r15), %r13
	mov 112(%r15), %r14
	mov 32(%r15), %rsp
	mov 120(%r15), %r15
	jmp *entry(%rip)
	.size harness_run, .-harness_run

	.globl harness_capture
	.type harness_capture, @function
/* entered from a landing pad: rax = the pad's address, guest rax in harness_scratch_rax */
harness_capture:
	mov %rsp, guest_rsp(%rip)
	lea priv_top(%rip), %rsp
	pushfq
	push %rax
	mov out_ptr(%rip), %rax
	mov %rcx, 8(%rax)
	mov %rdx, 16(%rax)
	mov %rbx, 24(%rax)
	mov %rbp, 40(%rax)
	mov %rsi, 48(%rax)
	mov %rdi, 56(%rax)
	mov %r8, 64(%rax)
	mov %r9, 72(%rax)
	mov %r10, 80(%rax)
	mov %r11, 88(%rax)
	mov %r12, 96(%rax)
	mov %r13, 104(%rax)
	mov %r14, 112(%rax)
	mov %r15, 120(%rax)
	pop %rcx
	mov %rcx, 136(%rax)
	pop %rcx
	mov %rcx, 128(%rax)
	mov harness_scratch_rax(%rip), %rcx
	mov %rcx, 0(%rax)
	mov guest_rsp(%rip), %rcx
	mov %rcx, 32(%rax)
	mov host_rsp(%rip), %rsp
	cld
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
	.size harness_capture, .-harness_capture

	.data
	.balign 8
	.globl harness_scratch_rax
harness_scratch_rax:	.quad 0
host_rsp:	.quad 0
guest_rsp:	.quad 0
out_ptr:	.quad 0
entry:	.quad 0

	.bss
	.balign 16
priv_stack:	.skip 1024
priv_top:

	.section .note.GNU-stack, "", @progbits
