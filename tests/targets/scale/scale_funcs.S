/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Code for the scale tests, in assembly so that every instruction boundary is known by construction. */

	.text

/*
 * big: SCALE_GROUPS (2500) groups of four instructions, 14 bytes each, so
 * its first 10,000 instructions start at 14 * (i / 4) + {0, 4, 7, 12}[i % 4];
 * then ret. It returns x + 2500.
 *   48 83 c0 01      add $1,%rax
 *   48 89 c2         mov %rax,%rdx
 *   48 8d 4c 24 08   lea 8(%rsp),%rcx
 *   31 c9            xor %ecx,%ecx
 */
	.globl	big
	.type	big, @function
big:
	mov	%rdi, %rax
	.rept	2500
	add	$1, %rax
	mov	%rax, %rdx
	lea	8(%rsp), %rcx
	xor	%ecx, %ecx
	.endr
	ret
	.size	big, . - big

/* leaf(x) = x + 1, with a frame like a compiler's: for return probes. */
	.globl	leaf
	.type	leaf, @function
leaf:
	push	%rbp
	mov	%rsp, %rbp
	lea	1(%rdi), %rax
	pop	%rbp
	ret
	.size	leaf, . - leaf

/* fn_0 ... fn_9999: fn_i(x) = x + 1; scale_fns[i] = &fn_i. */
	.altmacro
	.macro	scale_fn n
	.globl	fn_\n
	.type	fn_\n, @function
fn_\n:
	push	%rbp
	mov	%rsp, %rbp
	lea	1(%rdi), %rax
	pop	%rbp
	ret
	.size	fn_\n, . - fn_\n
	.endm
	.macro	scale_fn_ptr n
	.quad	fn_\n
	.endm

	.set	i, 0
	.rept	10000
	scale_fn %i
	.set	i, i + 1
	.endr

	.section .data.rel.ro, "aw"
	.p2align 3
	.globl	scale_fns
scale_fns:
	.set	i, 0
	.rept	10000
	scale_fn_ptr %i
	.set	i, i + 1
	.endr
	.noaltmacro

	.section .note.GNU-stack, "", @progbits
