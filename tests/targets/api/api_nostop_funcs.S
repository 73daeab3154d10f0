/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Functions for the no-stop probe tests, in assembly so that their instructions are fixed. */

	.text

/*
 * ns_f(a, b) = a + b: push %rbp (1) + mov %rsp,%rbp (3) + lea (%rdi,%rsi),%rax (4):
 * an entry a jump detour can replace, so a no-stop probe on it records into the ring.
 */
	.globl	ns_f
	.type	ns_f, @function
ns_f:
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
	.size	ns_f, . - ns_f

/* ns_g(a, b) = a + b, the same code as ns_f: the callee of ns_allregs. */
	.globl	ns_g
	.type	ns_g, @function
ns_g:
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
	.size	ns_g, . - ns_g

/*
 * ns_mid(x) = x + 5. Its lea at ns_mid + 4 is 4 bytes long, in the middle of
 * the function, and a jump of the function lands right after it: no detour
 * can replace it, a no-stop probe there stops.
 */
	.globl	ns_mid
	.type	ns_mid, @function
ns_mid:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	lea	5(%rdi), %rax
1:	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	/* never run: a jump into the bytes a detour of the lea would cover */
	jmp	1b
	.cfi_endproc
	.size	ns_mid, . - ns_mid

/*
 * ns_allregs(i) = ns_g(i, 7 * i + 3) = 8 * i + 3, calling ns_g with every
 * general register a known function of i: register number n (rax 0, rcx 1,
 * rdx 2, rbx 3, rbp 5, r8 8 ... r15 15; not rsp, rsi, rdi) holds
 * i + n * 0x100, and the carry flag is bit 0 of i.
 */
	.globl	ns_allregs
	.type	ns_allregs, @function
ns_allregs:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	push	%rbx
	.cfi_def_cfa_offset 24
	.cfi_offset %rbx, -24
	push	%r12
	.cfi_def_cfa_offset 32
	.cfi_offset %r12, -32
	push	%r13
	.cfi_def_cfa_offset 40
	.cfi_offset %r13, -40
	push	%r14
	.cfi_def_cfa_offset 48
	.cfi_offset %r14, -48
	push	%r15
	.cfi_def_cfa_offset 56
	.cfi_offset %r15, -56
	sub	$8, %rsp
	.cfi_def_cfa_offset 64
	lea	0x000(%rdi), %rax
	lea	0x100(%rdi), %rcx
	lea	0x200(%rdi), %rdx
	lea	0x300(%rdi), %rbx
	lea	0x500(%rdi), %rbp
	lea	0x800(%rdi), %r8
	lea	0x900(%rdi), %r9
	lea	0xa00(%rdi), %r10
	lea	0xb00(%rdi), %r11
	lea	0xc00(%rdi), %r12
	lea	0xd00(%rdi), %r13
	lea	0xe00(%rdi), %r14
	lea	0xf00(%rdi), %r15
	lea	(%rdi,%rdi,2), %rsi
	lea	3(%rsi,%rdi,4), %rsi
	bt	$0, %rdi
	call	ns_g
	add	$8, %rsp
	.cfi_def_cfa_offset 56
	pop	%r15
	.cfi_def_cfa_offset 48
	pop	%r14
	.cfi_def_cfa_offset 40
	pop	%r13
	.cfi_def_cfa_offset 32
	pop	%r12
	.cfi_def_cfa_offset 24
	pop	%rbx
	.cfi_def_cfa_offset 16
	pop	%rbp
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	ns_allregs, . - ns_allregs

/*
 * ns_flags(a, b) and ns_flags_ref(a, b): the flags of `cmp b, a` as the
 * callee sees them at its entry (pushfq; masked to CF PF AF ZF SF OF), or
 * -1 when rcx or rdx (set before the call) changed across it. ns_flags
 * calls ns_flags_in, which a count-only probe's detour replaces at its
 * entry: its increment must leave every flag and register as it was.
 * ns_flags_ref calls the same code unprobed.
 */
	.macro	FLAGS_OUTER name, callee
	.globl	\name
	.type	\name, @function
\name:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	mov	%rdi, %rcx
	lea	1(%rsi), %rdx
	cmp	%rsi, %rdi
	call	\callee
	and	$0x8d5, %eax
	cmp	%rdi, %rcx
	jne	1f
	lea	1(%rsi), %r8
	cmp	%r8, %rdx
	je	2f
1:	mov	$-1, %rax
2:	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	\name, . - \name
	.endm

	.macro	FLAGS_INNER name
	.globl	\name
	.type	\name, @function
\name:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	nop			/* the detour covers 5 bytes, pushfq not among them */
	pushfq
	pop	%rax
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	\name, . - \name
	.endm

	FLAGS_INNER ns_flags_in
	FLAGS_INNER ns_flags_in_ref
	FLAGS_OUTER ns_flags, ns_flags_in
	FLAGS_OUTER ns_flags_ref, ns_flags_in_ref

	.section .note.GNU-stack, "", @progbits
