/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The probed functions of the benchmark target, in assembly so each first instruction is fixed. */

	.text

/* The first instruction is push %rbp (one byte: 55). */
	.globl	bench_push
	.type	bench_push, @function
bench_push:
	push	%rbp
	mov	%rsp, %rbp
	mov	%rdi, %rax
	pop	%rbp
	ret
	.size	bench_push, . - bench_push

/* The first instruction is endbr64 (f3 0f 1e fa; a nop without CET). */
	.globl	bench_endbr
	.type	bench_endbr, @function
bench_endbr:
	endbr64
	mov	%rdi, %rax
	ret
	.size	bench_endbr, . - bench_endbr

/*
 * The first instruction is a 5-byte nop (0f 1f 44 00 00, nopl 0(%rax,%rax,1)), as
 * -fpatchable-function-entry and USDT-style sites leave: a kernel since 6.18 optimizes a
 * uprobe there into a call to its trampoline (no int3). Bytes, not the mnemonic, so the
 * assembler cannot pick another encoding.
 */
	.globl	bench_nop5
	.type	bench_nop5, @function
bench_nop5:
	.byte	0x0f, 0x1f, 0x44, 0x00, 0x00
	mov	%rdi, %rax
	ret
	.size	bench_nop5, . - bench_nop5

/* The first instruction is a rip-relative load, which a slot must re-target. */
	.globl	bench_riprel
	.type	bench_riprel, @function
bench_riprel:
	mov	bench_counter(%rip), %rax
	add	$1, %rax
	mov	%rax, bench_counter(%rip)
	ret
	.size	bench_riprel, . - bench_riprel

/* The first instruction is a call (e8 rel32): the slot must push the original return address. */
	.globl	bench_call
	.type	bench_call, @function
bench_call:
	call	bench_leaf
	ret
	.size	bench_call, . - bench_call

	.globl	bench_leaf
	.type	bench_leaf, @function
bench_leaf:
	mov	%rdi, %rax
	ret
	.size	bench_leaf, . - bench_leaf

/* The probe goes on `add`, BENCH_MID_OFFSET (4) bytes in: push (1) + mov %rsp,%rbp (3). */
	.globl	bench_mid
	.type	bench_mid, @function
bench_mid:
	push	%rbp
	mov	%rsp, %rbp
.Lmid_insn:
	add	%rdi, %rax
	pop	%rbp
	ret
	.size	bench_mid, . - bench_mid
	.if	.Lmid_insn - bench_mid - 4
	.error	"bench_mid: the probed instruction must be at offset 4"
	.endif

/*
 * A large generated function for the registration rows: BENCH_BIG_GROUPS
 * repetitions of four instructions whose encodings the assembler has no
 * choice about, 14 bytes per group, so every instruction boundary is known
 * without a decoder:
 *   48 83 c0 01      add $1,%rax
 *   48 89 c2         mov %rax,%rdx
 *   48 8d 4c 24 08   lea 8(%rsp),%rcx
 *   31 c9            xor %ecx,%ecx
 * bench.c checks the bytes in the file before using them.
 */
	.globl	bench_big
	.type	bench_big, @function
bench_big:
	.rept	2600
	add	$1, %rax
	mov	%rax, %rdx
	lea	8(%rsp), %rcx
	xor	%ecx, %ecx
	.endr
	ret
	.size	bench_big, . - bench_big

	.data
	.p2align 3
	.globl	bench_counter
bench_counter:
	.quad	0

	.section .note.GNU-stack, "", @progbits
