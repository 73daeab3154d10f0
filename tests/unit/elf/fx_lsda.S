/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Landing pads placed by hand for test_lsda, where no compiler puts them:
 * right after an instruction that falls through, so that a detour range
 * can cover one with nothing else refusing it. Offsets from each function's
 * start are what the test expects; no personality routine (CIE "zLR"), the
 * LSDAs are only read, never run.
 */
	.text

/* pad at +8; LPStart omitted (the function's start), a TType, uleb128 call sites */
	.globl fx_lsda_a
	.type fx_lsda_a, @function
fx_lsda_a:
	.cfi_startproc
	.cfi_lsda 0x1b, .Llsda_a	/* pcrel | sdata4 */
	push %rbx			/* +0 */
	.cfi_adjust_cfa_offset 8
	mov %edi, %eax			/* +1 */
	mov %eax, %ebx			/* +3 */
	add $1, %eax			/* +5 */
.Lpad_a:
	add $2, %eax			/* +8: the pad */
	mov %ebx, %ecx			/* +11 */
	xor %ecx, %ecx			/* +13 */
	add $3, %eax			/* +15 */
	pop %rbx			/* +18 */
	.cfi_adjust_cfa_offset -8
	ret				/* +19 */
	.cfi_endproc
	.size fx_lsda_a, .-fx_lsda_a

/* pad at +11; LPStart given (pcrel, at +8), udata4 call sites */
	.globl fx_lsda_b
	.type fx_lsda_b, @function
fx_lsda_b:
	.cfi_startproc
	.cfi_lsda 0x1b, .Llsda_b
	mov %edi, %eax			/* +0 */
	add $1, %eax			/* +2 */
	add $2, %eax			/* +5 */
.Lbase_b:
	add $3, %eax			/* +8 */
.Lpad_b:
	add $4, %eax			/* +11: the pad */
	ret				/* +14 */
	.cfi_endproc
	.size fx_lsda_b, .-fx_lsda_b

	.section .gcc_except_table, "a", @progbits
.Llsda_a:
	.byte 0xff			/* LPStart: omitted */
	.byte 0x9b			/* TType: indirect | pcrel | sdata4 */
	.uleb128 .Ltt_a - .Ltt_ref_a
.Ltt_ref_a:
	.byte 0x01			/* call sites: uleb128 */
	.uleb128 .Lcs_end_a - .Lcs_a
.Lcs_a:
	.uleb128 0			/* start */
	.uleb128 5			/* length */
	.uleb128 .Lpad_a - fx_lsda_a	/* landing pad */
	.uleb128 0			/* action: cleanup */
	.uleb128 5
	.uleb128 15
	.uleb128 0			/* no landing pad */
	.uleb128 0
.Lcs_end_a:
	.p2align 2
.Ltt_a:

.Llsda_b:
	.byte 0x1b			/* LPStart: pcrel | sdata4 */
	.long .Lbase_b - .
	.byte 0xff			/* TType: omitted */
	.byte 0x03			/* call sites: udata4 */
	.uleb128 .Lcs_end_b - .Lcs_b
.Lcs_b:
	.long 0
	.long 14
	.long .Lpad_b - .Lbase_b
	.uleb128 0
.Lcs_end_b:

	.section .note.GNU-stack, "", @progbits
