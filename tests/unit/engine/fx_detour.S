/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Functions laid out by hand for test_detour_rules: each offset in the
 * comments is what the test expects, and each function breaks (or keeps)
 * one rule of detour_rules.c. No alignment between functions: fx_tiny
 * runs straight into fx_after.
 */
	.text

/* A plain prologue: push; mov; sub cover 8 bytes, nothing jumps among them. */
	.globl fx_plain
	.type fx_plain, @function
fx_plain:
	push %rbp			/* +0 */
	mov %rsp, %rbp			/* +1 */
	sub $0x10, %rsp			/* +4 */
	mov %edi, %eax			/* +8 */
	leave				/* +10 */
	ret				/* +11 */
	.size fx_plain, .-fx_plain

/* A loop back to +3: the entry's 6 bytes (0, 6) hold its target. */
	.globl fx_jump_in
	.type fx_jump_in, @function
fx_jump_in:
	push %rbx			/* +0 */
	mov %edi, %ebx			/* +1 */
.Lloop:
	add $1, %eax			/* +3: the target */
	mov $0x12345678, %ecx		/* +6 */
	dec %ebx			/* +11 */
	jnz .Lloop			/* +13 */
	pop %rbx			/* +15 */
	ret				/* +16 */
	.size fx_jump_in, .-fx_jump_in

/* An indirect jump anywhere in the function: a jump table could land anywhere. */
	.globl fx_indirect
	.type fx_indirect, @function
fx_indirect:
	push %rbp			/* +0 */
	mov %rsp, %rbp			/* +1 */
	sub $0x10, %rsp			/* +4 */
	mov %rdi, %rax			/* +8 */
	leave				/* +11 */
	jmp *%rax			/* +12 */
	.size fx_indirect, .-fx_indirect

/* A conditional branch that would not be the last covered instruction. */
	.globl fx_branch_mid
	.type fx_branch_mid, @function
fx_branch_mid:
	test %edi, %edi			/* +0 */
	jz .Lzero			/* +2 */
	mov $1, %eax			/* +4 */
	ret				/* +9 */
.Lzero:
	xor %eax, %eax			/* +10 */
	ret				/* +12 */
	.size fx_branch_mid, .-fx_branch_mid

/* 3 bytes of function: a detour would run into fx_after. */
	.globl fx_tiny
	.type fx_tiny, @function
fx_tiny:
	xor %eax, %eax			/* +0 */
	nop				/* +2 */
	.size fx_tiny, .-fx_tiny
	.globl fx_after
	.type fx_after, @function
fx_after:
	mov %edi, %eax			/* +0 (fx_tiny+3) */
	ret
	.size fx_after, .-fx_after

/* Its .cold piece (a symbol of its own) jumps back to +3, inside the entry's (0, 6). */
	.globl fx_sib
	.type fx_sib, @function
fx_sib:
	push %rbx			/* +0 */
	mov %edi, %ebx			/* +1 */
.Lsib3:
	add $2, %ebx			/* +3: where the piece comes back */
	mov %ebx, %eax			/* +6 */
	pop %rbx			/* +8 */
	ret				/* +9 */
	.size fx_sib, .-fx_sib

/* Another function jumps to +3, in the middle of (1, 6) but of no range from +6. */
	.globl fx_mid
	.type fx_mid, @function
fx_mid:
	push %rbx			/* +0 */
	mov %edi, %ebx			/* +1 */
.Lmid3:
	add $3, %ebx			/* +3: fx_other's target */
	mov %ebx, %eax			/* +6 */
	add $4, %eax			/* +8 */
	pop %rbx			/* +11 */
	ret				/* +12 */
	.size fx_mid, .-fx_mid

	.globl fx_other
	.type fx_other, @function
fx_other:
	push %rbx
	jmp .Lmid3
	.size fx_other, .-fx_other

	.type fx_sib.cold, @function
fx_sib.cold:
	push %rbx
	jmp .Lsib3
	.size fx_sib.cold, .-fx_sib.cold

/* Code no symbol names: right after fx_sib.cold. */
	push %rbp
	mov %rsp, %rbp
	sub $0x10, %rsp
	leave
	ret

	.section .note.GNU-stack, "", @progbits
