/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Many small functions for the registration rows: a large binary's worth of function entries. */

	.text

/*
 * BENCH_MANY functions bench_fn_0 ... bench_fn_<BENCH_MANY-1>, each a
 * frame-pointer prologue like a compiler's: the registration rows probe
 * every function of libc, then these by name until there are 10,000.
 */
	.altmacro
	.macro	bench_fn n
	.globl	bench_fn_\n
	.type	bench_fn_\n, @function
bench_fn_\n:
	push	%rbp
	mov	%rsp, %rbp
	mov	%rdi, %rax
	pop	%rbp
	ret
	.size	bench_fn_\n, . - bench_fn_\n
	.endm

	.set	i, 0
	.rept	10000
	bench_fn %i
	.set	i, i + 1
	.endr
	.noaltmacro

	.section .note.GNU-stack, "", @progbits
