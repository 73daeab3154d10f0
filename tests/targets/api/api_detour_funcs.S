/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Functions for the jump-detour tests, in assembly so that their first instructions are fixed. */

	.text

/* dt_push(x) = x + 1: push %rbp (1) + mov %rsp,%rbp (3) + mov %rdi,%rax (3): a 7-byte detour. */
	.globl	dt_push
	.type	dt_push, @function
dt_push:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	mov	%rdi, %rax
	add	$1, %rax
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	dt_push, . - dt_push

/* dt_endbr(x) = x + 2: endbr64 (4) + push %rbx (1). */
	.globl	dt_endbr
	.type	dt_endbr, @function
dt_endbr:
	.cfi_startproc
	endbr64
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	mov	%rdi, %rbx
	lea	2(%rbx), %rax
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	dt_endbr, . - dt_endbr

/* dt_riprel(x) = x + 1000: one 7-byte rip-relative load. */
	.globl	dt_riprel
	.type	dt_riprel, @function
dt_riprel:
	.cfi_startproc
	mov	dt_base(%rip), %rax
	add	%rdi, %rax
	ret
	.cfi_endproc
	.size	dt_riprel, . - dt_riprel

/* dt_call(x) = x + 3: its first instruction is a call (e8 rel32), the detour's last. */
	.globl	dt_call
	.type	dt_call, @function
dt_call:
	.cfi_startproc
	call	dt_leaf
	ret
	.cfi_endproc
	.size	dt_call, . - dt_call

	.globl	dt_leaf
	.type	dt_leaf, @function
dt_leaf:
	.cfi_startproc
	lea	3(%rdi), %rax
	ret
	.cfi_endproc
	.size	dt_leaf, . - dt_leaf

/*
 * dt_loop(n): n >= 1 iterations of a loop whose head is dt_loop + 1, inside
 * the first 5 bytes: it must keep its int3 probe. Each iteration counts in
 * dt_iters; returns the count so far.
 */
	.globl	dt_loop
	.type	dt_loop, @function
dt_loop:
	.cfi_startproc
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
.Lloop_head:
	addq	$1, dt_iters(%rip)
	sub	$1, %rdi
	jg	.Lloop_head
	mov	dt_iters(%rip), %rax
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	dt_loop, . - dt_loop
	.if	.Lloop_head - dt_loop - 1
	.error	"dt_loop: the loop head must be at dt_loop + 1"
	.endif

/* dt_switch(x) = 10 * (x & 3) + 7, through a jump table (an indirect jmp): no detour. */
	.globl	dt_switch
	.type	dt_switch, @function
dt_switch:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	and	$3, %edi
	lea	.Ltable(%rip), %rdx
	movslq	(%rdx,%rdi,4), %rax
	add	%rdx, %rax
	jmp	*%rax
.Lcase0:
	mov	$7, %eax
	jmp	.Lswitch_out
.Lcase1:
	mov	$17, %eax
	jmp	.Lswitch_out
.Lcase2:
	mov	$27, %eax
	jmp	.Lswitch_out
.Lcase3:
	mov	$37, %eax
.Lswitch_out:
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	dt_switch, . - dt_switch

	.section .rodata
	.p2align 2
.Ltable:
	.long	.Lcase0 - .Ltable
	.long	.Lcase1 - .Ltable
	.long	.Lcase2 - .Ltable
	.long	.Lcase3 - .Ltable
	.text

/* dt_add(a, b) = a + b, with a frame: push %rbp (1) + mov %rsp,%rbp (3) + lea (4). */
	.globl	dt_add
	.type	dt_add, @function
dt_add:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	lea	(%rdi,%rsi), %rax
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	dt_add, . - dt_add

/*
 * dt_fault(p) = *p: push %rbp (1) + mov (%rdi),%rax (3) + pop %rbp (1) are the
 * detour; the load at dt_fault + 1 faults for a bad p.
 */
	.globl	dt_fault
	.type	dt_fault, @function
dt_fault:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
.Lfault_load:
	mov	(%rdi), %rax
	pop	%rbp
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	dt_fault, . - dt_fault
	.if	.Lfault_load - dt_fault - 1
	.error	"dt_fault: the load must be at dt_fault + 1"
	.endif

	.data
	.p2align 3
	.globl	dt_base
dt_base:
	.quad	1000
	.globl	dt_iters
dt_iters:
	.quad	0

	.section .note.GNU-stack, "", @progbits
