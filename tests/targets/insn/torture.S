/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Instruction-family torture functions: every family the engine must run out of line. */

/*
 * Every tort_* symbol is a function (type and size set) taking (i, aux) in
 * rdi/rsi and returning a 64-bit value that the C driver folds into a
 * checksum. The integration test decodes each function from its symbol and
 * plants a probe on every instruction, so:
 *   - no data and no padding inside a function (padding between them is
 *     outside every st_size);
 *   - no int3 (a program's own int3 is refused by design) and no ud2;
 *   - never-executed instructions (after an unconditional jump) add a
 *     distinctive constant, so a wrong branch target shows in the checksum.
 * Determinism under 4 threads: stores to globals write constants only
 * (idempotent), loads of those globals follow the store in the same call,
 * and nothing branches on data another thread writes. The lock-prefixed
 * counters are only read by main after the threads have joined.
 */

	.macro FUNC name
	.text
	.globl \name
	.type \name, @function
	.p2align 4
\name:
	.endm

	.macro ENDF name
	.size \name, . - \name
	.endm

/* ------------------------------------------------------------------ data */

	.section .rodata
	.p2align 6
ro_v64:	.long 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
ro_v64b:
	.long 0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800
	.long 0x900, 0xa00, 0xb00, 0xc00, 0xd00, 0xe00, 0xf00, 0x1000
	.set ro_v32, ro_v64
	.set ro_v32b, ro_v64b
	.set ro_v16, ro_v64
	.set ro_v16b, ro_v64b
ro_q0:	.quad 0x0123456789abcdef
ro_q1:	.quad 0xfedcba9876543210
ro_q2:	.quad 0x0f0f0f0f0f0f0f0f
ro_d:	.long 0x11223344
ro_w:	.word 0x8765
ro_b:	.byte 0xa5
	.p2align 3
ro_dbl:	.double 3.25
ro_dbl2:
	.double 1.5
ro_ld:	.quad 0xa000000000000000	/* 2.5 as an x87 80-bit extended */
	.word 0x4000
	.p2align 3
/* (a, b) pairs for the jcc table: equal, below, above, signed overflow both ways, parity odd/even */
jcc_pairs:
	.long 5, 5
	.long 3, 5
	.long 5, 3
	.long 0x7fffffff, 0xffffffff
	.long 0x80000000, 1
	.long 0, 0x80000000
	.long 7, 4
	.long 6, 4
ro_str:	.ascii "The quick brown fox jumps over the lazy dog 0123456789abcdefghijklmnop"
ro_str2:
	.ascii "The quick brXwn fox jumps over the lazy dog 0123456789abcdefghijklmnop"

	.p2align 3
fault_ptr:
	.quad 0x10		/* a code pointer to an unmapped page */

	.section .data.rel.local, "aw"
	.p2align 3
fnptr_add:
	.quad tort_h_add
fntab:	.quad tort_h_add, tort_h_sub
jptr:	.quad .Ljmp_via_ptr
jtab:	.quad .Ljmp_tab0, .Ljmp_tab1

	.data
	.p2align 6
w_v64:	.zero 64
w_v32:	.zero 32
w_v16:	.zero 16
	.p2align 4
w_c16:	.quad 0x1111111111111111, 0x2222222222222222	/* cmpxchg16b target: never changes */
w_b:	.byte 0
w_set:	.byte 0
w_flags:
	.byte 0
w_lflags:
	.byte 0
	.p2align 1
w_w:	.word 0
	.p2align 2
w_d:	.long 0
w_d2:	.long 0
w_d3:	.long 0x12345678
w_d4:	.long 0
w_flags2:
	.long 0
w_xchg:	.long 0
w_cw:	.word 0
	.p2align 3
w_q:	.quad 0
w_q2:	.quad 0
w_q3:	.quad 0
w_q4:	.quad 0
w_dbl:	.double 0
w_dbl2:	.double 0

	/* lock-prefixed counters: main prints them after all threads are done */
	.globl tort_cnt_a, tort_cnt_b, tort_cnt_c, tort_cnt_d, tort_cnt_e, tort_cnt_w
	.p2align 3
tort_cnt_c:
	.quad 0
tort_cnt_a:
	.long 0
tort_cnt_b:
	.long 0
tort_cnt_d:
	.long 0
tort_cnt_e:
	.long 0
tort_cnt_w:
	.word 0

	/* tort_guard is made PROT_NONE by main; tort_pad is writable scratch right below it */
	.bss
	.globl tort_guard
	.p2align 12
tort_pad:
	.zero 4096
tort_guard:
	.zero 4096

/* ------------------------------------------------------------- helpers */

/* (a, b) -> 3a + b + 1. Placed first so calls to it are backward rel32. */
FUNC tort_h_add
	endbr64
	lea (%rdi,%rdi,2), %rax
	lea 1(%rax,%rsi), %rax
	ret
ENDF tort_h_add

/* 1 when our return address equals rdx, else 0; returns with "bnd ret" (f2 c3). */
FUNC tort_h_retaddr
	xor %eax, %eax
	cmp %rdx, (%rsp)
	sete %al
	bnd ret
ENDF tort_h_retaddr

/* (stack arg a at 8(%rsp), b at 16(%rsp)) -> a - b, pops them with ret $16. */
FUNC tort_h_ret16
	endbr64
	mov 8(%rsp), %rax
	sub 16(%rsp), %rax
	ret $16
ENDF tort_h_ret16

/* ------------------------------------------------------- rip-relative */

/* Loads with every operand shape: reg, imm8/imm16/imm32 after the disp32, implicit regs. */
FUNC tort_rip_load
	endbr64
	mov ro_q0(%rip), %rax			/* 48 8b 05 */
	add ro_q1(%rip), %rax			/* 48 03 05 */
	movzbl ro_b(%rip), %ecx
	add %rcx, %rax
	movswq ro_w(%rip), %rdx
	add %rdx, %rax
	mov ro_d(%rip), %r9d			/* REX.R */
	add %r9, %rax
	mov ro_q1(%rip), %r11
	xor %r11, %rax
	test $1, %dil
	jz 1f
	add ro_q2(%rip), %rax			/* only on odd i */
1:	cmp ro_d(%rip), %edi
	adc $0, %rax
	cmp $20, %edi
	cmovae ro_q2(%rip), %rdx		/* conditional load */
	add %rdx, %rax
	imul $0x1234567, ro_d(%rip), %ecx	/* 69 0d disp32 imm32 */
	add %rcx, %rax
	imul $7, ro_d(%rip), %r8d		/* 44 6b 05 disp32 imm8 */
	add %r8, %rax
	btl $3, ro_d(%rip)			/* 0f ba 25 disp32 imm8 */
	adc $0, %rax
	testl $0x80000000, ro_d(%rip)		/* f7 05 disp32 imm32 */
	setz %cl
	add %rcx, %rax
	testb $1, ro_b(%rip)			/* f6 05 disp32 imm8 */
	setnz %cl
	add %rcx, %rax
	cmpw $0x8765, ro_w(%rip)		/* 66 81 3d disp32 imm16 */
	sete %cl
	add %rcx, %rax
	mov %rax, %r10
	mov %rdi, %rax
	mulq ro_q0(%rip)			/* implicit rdx:rax */
	add %rdx, %r10
	add %r10, %rax
	movsbl ro_b(%rip), %ecx
	add %rcx, %rax
	prefetcht0 ro_q0(%rip)			/* rip-relative, no access */
	ret
ENDF tort_rip_load

/* Stores of constants (idempotent, so 4 threads agree), with imm8/16/32 after the disp32. */
FUNC tort_rip_store
	endbr64
	movb $1, w_b(%rip)			/* c6 05 disp32 imm8 */
	movw $0x5678, w_w(%rip)			/* 66 c7 05 disp32 imm16 */
	movl $0x12345678, w_d(%rip)		/* c7 05 disp32 imm32 */
	movq $-2, w_q(%rip)			/* 48 c7 05 disp32 imm32 */
	xor %eax, %eax
	cmpl $0x12345678, w_d(%rip)		/* 81 3d disp32 imm32 */
	sete %al
	xor %ecx, %ecx
	cmpb $1, w_b(%rip)			/* 80 3d disp32 imm8 */
	sete %cl
	lea (%rax,%rcx,2), %rax
	cmpw $0x5678, w_w(%rip)			/* 66 81 3d disp32 imm16 */
	sete %cl
	lea (%rax,%rcx,4), %rax
	mov $0xabcdef, %ecx
	mov %ecx, w_d2(%rip)			/* 89 0d */
	movabs $0x1122334455667788, %r10
	mov %r10, w_q2(%rip)			/* 4c 89 15 */
	mov %r10b, w_flags(%rip)		/* 44 88 15 */
	sete w_set(%rip)			/* 0f 94 05 (ZF from the last cmpw: always 1) */
	andl $0xffff, w_d3(%rip)		/* 81 25 disp32 imm32 */
	orl $0x10000000, w_d4(%rip)		/* one op per variable: no racy intermediate */
	movq %r10, %xmm0
	movq %xmm0, w_q3(%rip)			/* 66 0f d6 05 */
	test $2, %dil
	jnz 1f
	movw $0x5678, w_w(%rip)			/* again, only on some i */
1:	add w_d2(%rip), %eax
	add w_q2(%rip), %rax
	movzbl w_flags(%rip), %ecx
	add %rcx, %rax
	movzbl w_set(%rip), %ecx
	add %rcx, %rax
	mov w_d3(%rip), %ecx
	add %rcx, %rax
	mov w_d4(%rip), %ecx
	add %rcx, %rax
	add w_q3(%rip), %rax
	add w_q(%rip), %rax
	movzwl w_w(%rip), %ecx
	add %rcx, %rax
	add %rdi, %rax
	ret
ENDF tort_rip_store

/* lea of rip-relative addresses: results are link-time distances, the same every run. */
FUNC tort_rip_lea
	endbr64
	lea ro_q0(%rip), %rax
	lea tort_rip_lea(%rip), %rcx
	sub %rcx, %rax
	lea 1f(%rip), %rdx
1:	lea 0(%rip), %r8			/* address of the next instruction */
2:	lea 2b(%rip), %r9
	sub %r9, %r8				/* 0 when right */
	add %r8, %rax
	lea 1b(%rip), %r11			/* REX.R */
	sub %r11, %rdx				/* 0 */
	add %rdx, %rax
	lea -0x10+ro_q1(%rip), %r10
	lea ro_q1(%rip), %rcx
	sub %r10, %rcx				/* 16 */
	add %rcx, %rax
	leal ro_q0(%rip), %r8d			/* 32-bit lea: truncated, compare differences */
	leal tort_rip_lea(%rip), %r9d
	sub %r9d, %r8d
	add %r8, %rax
	leaw ro_q0(%rip), %cx			/* 66 8d 0d: 16-bit lea */
	leaw tort_rip_lea(%rip), %dx
	sub %dx, %cx
	movzwl %cx, %ecx
	add %rcx, %rax
	imul %rdi, %rax
	ret
ENDF tort_rip_lea

/* SSE with rip-relative operands (plus imm8 after the disp32); requires SSE4.1 for roundsd. */
FUNC tort_rip_sse
	endbr64
	movsd ro_dbl(%rip), %xmm0		/* f2 0f 10 05 */
	addsd ro_dbl2(%rip), %xmm0		/* f2 0f 58 05 */
	cvtsi2sd %edi, %xmm4
	mulsd %xmm4, %xmm0
	movaps ro_v16(%rip), %xmm1		/* 0f 28 0d */
	paddd ro_v16b(%rip), %xmm1		/* 66 0f fe 0d */
	pshufd $0x1b, ro_v16(%rip), %xmm2	/* 66 0f 70 15 disp32 imm8 */
	paddd %xmm2, %xmm1
	movaps %xmm1, w_v16(%rip)		/* store (constant data: idempotent) */
	movdqa w_v16(%rip), %xmm3
	movaps ro_v16b(%rip), %xmm9		/* REX.R */
	pxor %xmm9, %xmm3
	roundsd $1, ro_dbl(%rip), %xmm10	/* 66 44 0f 3a 0b 15 disp32 imm8 */
	addsd %xmm10, %xmm0
	movapd ro_v16(%rip), %xmm5
	cmpeqps ro_v16(%rip), %xmm5		/* 0f c2 2d disp32 imm8 */
	movmskps %xmm5, %ecx
	movsd ro_dbl2(%rip), %xmm6
	movsd %xmm6, w_dbl(%rip)		/* f2 0f 11 35: a constant */
	ucomisd w_dbl(%rip), %xmm0
	seta %dl
	movzbl %dl, %edx
	cvttsd2si %xmm0, %rax
	movq %xmm3, %r8
	add %r8, %rax
	pextrd $3, %xmm1, %r8d
	add %r8, %rax
	lea (%rax,%rcx,8), %rax
	add %rdx, %rax
	ret
ENDF tort_rip_sse

/* VEX (AVX2, BMI1/2): 2- and 3-byte VEX, imm8 after the disp32, high registers in vvvv. */
FUNC tort_rip_vex
	endbr64
	vmovdqu ro_v32(%rip), %ymm0		/* c5 fe 6f 05 */
	vpaddd ro_v32b(%rip), %ymm0, %ymm1	/* c5 fd fe 0d */
	vmovdqu ro_v32b(%rip), %ymm14
	vpaddd ro_v32(%rip), %ymm14, %ymm15	/* c4 62 0d fe 3d */
	vpaddd %ymm15, %ymm1, %ymm1
	vmovdqu %ymm1, w_v32(%rip)		/* store (constant data) */
	vpshufd $0x1b, ro_v32(%rip), %ymm3	/* imm8 after disp32 */
	vpblendd $0xaa, ro_v32b(%rip), %ymm3, %ymm4	/* c4 e3 65 02 25 disp32 imm8 */
	vpbroadcastd ro_d(%rip), %ymm5
	vpermq $0x4e, ro_v32(%rip), %ymm6	/* VEX.W1 */
	vpaddd w_v32(%rip), %ymm4, %ymm4
	vpaddd %ymm5, %ymm4, %ymm4
	vpaddd %ymm6, %ymm4, %ymm4
	vextracti128 $1, %ymm4, %xmm7
	vpaddd %xmm7, %xmm4, %xmm4
	vmovq %xmm4, %rax
	vpextrq $1, %xmm4, %rcx
	add %rcx, %rax
	rorx $5, ro_q1(%rip), %rcx		/* c4 e3 fb f0 0d disp32 imm8 */
	add %rcx, %rax
	andn ro_q0(%rip), %rdi, %rdx		/* c4 e2 c0 f2 15 */
	add %rdx, %rax
	shlx %rdi, ro_q2(%rip), %r8		/* c4 62 c1 f7 05 */
	add %r8, %rax
	vzeroupper
	ret
ENDF tort_rip_vex

/* EVEX (AVX-512F): disp32 (never compressed for rip), broadcast, masks, xmm16-31, imm8 after. */
FUNC tort_rip_evex
	endbr64
	sub $72, %rsp
	vmovdqu32 ro_v64(%rip), %zmm0		/* 62 f1 7e 48 6f 05 */
	vpaddd ro_v64b(%rip), %zmm0, %zmm1
	vpaddd ro_d(%rip){1to16}, %zmm1, %zmm2	/* embedded broadcast */
	vmovdqu32 ro_v64(%rip), %zmm17		/* EVEX.R' */
	vpaddd ro_v64b(%rip), %zmm17, %zmm30	/* EVEX.V' */
	vpaddd %zmm30, %zmm2, %zmm2
	mov %edi, %eax
	or $0x5555, %eax
	kmovw %eax, %k1
	vmovdqu32 ro_v64b(%rip), %zmm3{%k1}{z}	/* masked, zeroing */
	vpternlogd $0x96, ro_v64(%rip), %zmm2, %zmm3	/* imm8 after disp32 */
	vmovdqu32 %zmm1, w_v64(%rip)		/* store (constant data) */
	vpaddd w_v64(%rip), %zmm3, %zmm3
	vmovdqu32 ro_v16(%rip), %xmm20
	vpaddd ro_v16b(%rip), %xmm20, %xmm21
	vpcmpeqd ro_v64(%rip), %zmm0, %k2
	kmovw %k2, %ecx
	vmovdqu64 %zmm3, (%rsp)
	vmovq %xmm21, %rax
	add %rcx, %rax
	add (%rsp), %rax
	add 8(%rsp), %rax
	add 16(%rsp), %rax
	add 24(%rsp), %rax
	add 32(%rsp), %rax
	add 40(%rsp), %rax
	add 48(%rsp), %rax
	add 56(%rsp), %rax
	vzeroupper
	add $72, %rsp
	ret
ENDF tort_rip_evex

/* lock-prefixed read-modify-write on rip-relative memory. */
FUNC tort_rip_lock
	endbr64
	push %rbx
	lock addl $1, tort_cnt_a(%rip)		/* f0 83 05 disp32 imm8 */
	lock addl $0x12345678, tort_cnt_b(%rip)	/* f0 81 05 disp32 imm32 */
	lock incq tort_cnt_c(%rip)		/* f0 48 ff 05 */
	mov $3, %eax
	lock xaddl %eax, tort_cnt_d(%rip)	/* f0 0f c1 05: result ignored (racy) */
	lock orb $0x10, w_lflags(%rip)		/* idempotent */
	lock btsl $5, w_flags2(%rip)		/* f0 0f ba 2d disp32 imm8 */
	lock subw $1, tort_cnt_w(%rip)		/* f0 66 83 2d disp32 imm8 */
	mov $1, %ecx
	xchg %ecx, w_xchg(%rip)			/* implicitly locked */
	test $2, %dil
	jz 1f
	lock addl $1, tort_cnt_e(%rip)
1:	/* always succeeds (writes the same value back): rax, rbx, rcx, rdx all implicit */
	mov w_c16(%rip), %rax
	mov w_c16+8(%rip), %rdx
	mov %rax, %rbx
	mov %rdx, %rcx
	lock cmpxchg16b w_c16(%rip)
	setz %r8b
	/* always fails: loads the value into rdx:rax */
	mov $1, %eax
	mov $2, %edx
	lock cmpxchg16b w_c16(%rip)
	setnz %r9b
	add %rdx, %rax
	movzbl %r8b, %r8d
	movzbl %r9b, %r9d
	lea (%rax,%r8,2), %rax
	lea (%rax,%r9,4), %rax
	mov w_xchg(%rip), %ecx
	add %rcx, %rax
	add %rdi, %rax
	pop %rbx
	ret
ENDF tort_rip_lock

/* x87 with rip-relative operands. */
FUNC tort_rip_x87
	endbr64
	sub $24, %rsp
	fldl ro_dbl(%rip)			/* dd 05 */
	faddl ro_dbl2(%rip)			/* dc 05 */
	fildl ro_d(%rip)			/* db 05 */
	fmulp
	fldt ro_ld(%rip)			/* db 2d */
	faddp
	mov %rdi, (%rsp)
	fildll (%rsp)
	faddp
	fnstcw w_cw(%rip)			/* d9 3d: same value in every thread */
	fldcw w_cw(%rip)
	fcoml ro_dbl(%rip)			/* dc 15 */
	fnstsw %ax
	movzwl %ax, %ecx
	and $0x4500, %ecx
	fistpll 8(%rsp)
	fldl ro_dbl2(%rip)
	fstpl w_dbl2(%rip)			/* dd 1d: constant */
	mov 8(%rsp), %rax
	add w_dbl2(%rip), %rax
	add %rcx, %rax
	add $24, %rsp
	ret
ENDF tort_rip_x87

#ifdef TORTURE_NOPIE
/* addr32 + rip-relative = eip-relative: only meaningful when linked below 4 GiB. */
FUNC tort_rip_eip
	endbr64
	mov ro_d(%eip), %eax			/* 67 8b 05 */
	addl $1, %eax
	cmpl $0x11223344, ro_d(%eip)		/* 67 81 3d disp32 imm32 */
	sete %cl
	movzbl %cl, %ecx
	add %rcx, %rax
	lea ro_q0(%eip), %edx			/* 67 8d 15 */
	lea ro_q0(%rip), %r8
	sub %r8d, %edx
	add %rdx, %rax
	mov %rax, %r9
	movabs ro_q1, %rax			/* 48 a1 moffs64: absolute, not rip-relative */
	add %r9, %rax
	add %rdi, %rax
	ret
ENDF tort_rip_eip
#endif

/* fs-prefixed (TLS) operands: the copy must keep the segment prefix. Returns 3 + i. */
FUNC tort_seg
	endbr64
	mov %fs:0x28, %rax			/* 64 48 8b 04 25 28 00 00 00: stack canary */
	mov %fs:0, %rcx				/* TCB self pointer */
	mov 0x28(%rcx), %rdx
	xor %r8d, %r8d
	cmp %rdx, %rax
	sete %r8b
	cmp %fs:0x28, %rdx			/* 64 48 3b 14 25 28 00 00 00 */
	sete %cl
	movzbl %cl, %ecx
	add %rcx, %r8
	pushq %fs:0x28				/* 64 ff 34 25 28 00 00 00 */
	pop %rcx
	cmp %rcx, %rax
	sete %cl
	movzbl %cl, %ecx
	lea (%r8,%rcx), %rax
	add %rdi, %rax
	ret
ENDF tort_seg

/* --------------------------------------------------------------- calls */

/* call rel32 backward (tort_h_add) and forward (tort_h_sub), checking the pushed address. */
FUNC tort_call_rel
	endbr64
	push %rbx
	push %r12
	mov %rdi, %rbx
	mov $5, %esi
	call tort_h_add				/* e8, backward */
	mov %rax, %r12
	mov %rbx, %rdi
	mov $3, %esi
	call tort_h_sub				/* e8, forward */
	add %rax, %r12
	lea 1f(%rip), %rdx
	call tort_h_retaddr
1:	lea (%r12,%rax,8), %r12
	lea 2f(%rip), %rdx
	bnd call tort_h_retaddr			/* f2 e8 */
2:	lea (%r12,%rax,8), %r12
	test $1, %bl
	jz 3f
	mov %rbx, %rdi
	mov %rbx, %rsi
	call tort_h_add				/* only on odd i */
	add %rax, %r12
3:	mov %r12, %rax
	pop %r12
	pop %rbx
	ret
ENDF tort_call_rel

/* call to the next instruction, then pop: get-pc. Returns 0 when right. */
FUNC tort_getpc
	endbr64
	call 1f
1:	pop %rax
	lea 1b(%rip), %rcx
	sub %rcx, %rax
	call 2f
2:	mov (%rsp), %rdx
	add $8, %rsp
	lea 2b(%rip), %rcx
	sub %rcx, %rdx
	or %rdx, %rax
	.byte 0xe8, 0, 0, 0, 0			/* call +0, hand-encoded */
3:	pop %rdx
	lea 3b(%rip), %rcx
	sub %rcx, %rdx
	or %rdx, %rax
	ret
ENDF tort_getpc

/* Indirect calls through registers, memory, rsp-based memory, rip-relative pointers. */
FUNC tort_call_ind
	endbr64
	push %rbx
	push %r12
	push %r13
	mov %rdi, %rbx
	xor %r12d, %r12d
	lea tort_h_add(%rip), %rax
	mov %rbx, %rdi
	mov $1, %esi
	call *%rax				/* ff d0 */
	add %rax, %r12
	lea tort_h_add(%rip), %r11
	mov $2, %esi
	call *%r11				/* 41 ff d3 */
	add %rax, %r12
	lea fnptr_add(%rip), %rax
	mov $3, %esi
	call *(%rax)				/* ff 10 */
	add %rax, %r12
	sub $24, %rsp
	lea tort_h_add(%rip), %rcx
	mov %rcx, 8(%rsp)
	mov $4, %esi
	call *8(%rsp)				/* ff 54 24 08: target read before the push */
	add %rax, %r12
	mov $4, %esi
	call *(%rsp,%rsi,2)			/* ff 14 74: SIB, rsp base, index: 8(%rsp) again */
	add %rax, %r12
	add $24, %rsp
	mov $6, %esi
	call *fnptr_add(%rip)			/* ff 15 disp32 */
	add %rax, %r12
	lea tort_h_add(%rip), %rcx
	mov %rcx, -8(%rsp)
	mov $7, %esi
	call *-8(%rsp)				/* reads the slot the call then overwrites */
	add %rax, %r12
	lea fntab(%rip), %r13
	mov %ebx, %ecx
	and $1, %ecx
	mov $8, %esi
	call *(%r13,%rcx,8)			/* 41 ff 54 cd 00 */
	add %rax, %r12
	lea tort_h_add(%rip), %rax
	mov $9, %esi
	notrack call *%rax			/* 3e ff d0 */
	add %rax, %r12
	lea tort_h_retaddr(%rip), %rax
	lea 1f(%rip), %rdx
	call *%rax
1:	shl $3, %r12
	add %rax, %r12
	mov %r12, %rax
	pop %r13
	pop %r12
	pop %rbx
	ret
ENDF tort_call_ind

/* (a, b) -> a - b; returns with "rep ret" (f3 c3). Placed after its callers: forward calls. */
FUNC tort_h_sub
	mov %rdi, %rax
	sub %rsi, %rax
	rep ret
ENDF tort_h_sub

/* ret $16 through a caller that pushes stack arguments, and ret $0. */
FUNC tort_ret_caller
	endbr64
	mov %rsp, %r8
	push %rdi
	push $1000
	call tort_h_ret16			/* 1000 - i */
	xor %ecx, %ecx
	cmp %rsp, %r8
	sete %cl
	lea (%rcx,%rax,2), %rax
	mov %rax, %r9
	call tort_h_ret0
	add %r9, %rax
	ret
ENDF tort_ret_caller

/* returns 7 with "ret $0" (c2 00 00) */
FUNC tort_h_ret0
	mov $7, %eax
	.byte 0xc2, 0x00, 0x00
ENDF tort_h_ret0

/* -------------------------------------------------------------- jumps */

/* jmp/jcc rel8 and rel32 in both directions, taken and not taken; indirect jumps. */
FUNC tort_jmp
	endbr64
	xor %eax, %eax
	mov %edi, %ecx
	test $1, %cl
	jz 1f					/* rel8 forward, conditional */
	add $1, %eax
1:	test $2, %cl
	{disp32} jnz 2f				/* rel32 forward, conditional */
	add $2, %eax
2:	jmp 4f					/* rel8 forward */
	add $0x100000, %eax			/* never */
3:	add $4, %eax
	{disp32} jmp 5f				/* rel32 forward */
	add $0x200000, %eax			/* never */
4:	test $4, %cl
	jnz 3b					/* rel8 backward, conditional */
	add $8, %eax
5:	mov %ecx, %edx
	and $3, %edx
6:	add $16, %eax
	dec %edx
	{disp32} jns 6b				/* rel32 backward, conditional */
	mov %ecx, %edx
	and $3, %edx
	inc %edx
7:	add $32, %eax
	dec %edx
	jnz 7b					/* rel8 backward */
	test $8, %cl
	jz 81f					/* falls through the nops */
	jmp 8f					/* naturally rel32: far */
81:	.fill 140, 1, 0x90
	add $64, %eax
8:	mov $2, %edx
10:	.fill 130, 1, 0x90
	add $1, %eax
	dec %edx
	jnz 10b					/* naturally rel32 backward */
	test $16, %cl
	jz 14f
	jmp 12f
11:	add $128, %eax
	jmp 14f
12:	{disp32} jmp 11b			/* rel32 backward, unconditional */
	add $0x400000, %eax			/* never */
14:	lea 20f(%rip), %rdx
	jmp *%rdx				/* ff e2 */
	add $0x800000, %eax			/* never */
20:	lea 21f(%rip), %r11
	jmp *%r11				/* 41 ff e3 */
	add $0x1000000, %eax			/* never */
21:	jmp *jptr(%rip)				/* ff 25 disp32 */
	add $0x2000000, %eax			/* never */
.Ljmp_via_ptr:
	lea 22f(%rip), %rdx
	push %rdx
	jmp *(%rsp)				/* ff 24 24 */
	add $0x4000000, %eax			/* never */
22:	pop %rdx
	lea 23f(%rip), %rdx
	mov %rdx, -8(%rsp)
	jmp *-8(%rsp)				/* ff 64 24 f8 */
	add $0x8000000, %eax			/* never */
23:	lea jtab(%rip), %rdx
	mov %ecx, %r8d
	and $1, %r8d
	jmp *(%rdx,%r8,8)			/* ff 24 c2 */
.Ljmp_tab0:
	add $0x100, %eax
	jmp 24f
.Ljmp_tab1:
	add $0x200, %eax
24:	lea 25f(%rip), %rdx
	notrack jmp *%rdx			/* 3e ff e2 */
	add $0x10000000, %eax			/* never */
25:	bnd jmp 26f				/* f2 eb */
	add $0x20000000, %eax			/* never */
26:	ret
ENDF tort_jmp

/* Every condition code, rel8 and rel32, over flag patterns from a table. */
FUNC tort_jcc
	endbr64
	lea jcc_pairs(%rip), %r10
	mov %edi, %ecx
	and $7, %ecx
	mov (%r10,%rcx,8), %r8d
	mov 4(%r10,%rcx,8), %r9d
	xor %eax, %eax
	/* lea keeps the flags: the rel32 jcc tests the same flags as the rel8 one */
	.irp cc, o, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g
	cmp %r9d, %r8d
	j\cc 1f
	lea 1(%rax), %rax
1:	{disp32} j\cc 2f
	lea 2(%rax), %rax
2:	shl $2, %rax
	.endr
	ret
ENDF tort_jcc

/* loop, loope, loopne, jrcxz, and their addr32 (ecx) forms, including a loop to itself. */
FUNC tort_loop
	endbr64
	xor %eax, %eax
	mov %edi, %ecx
	and $7, %ecx
	inc %ecx
1:	add $1, %eax
	loop 1b					/* e2 */
	mov $3, %ecx
2:	loop 2b					/* loop to itself */
	/* loopne: stop when eax reaches a limit or the count runs out */
	mov %edi, %r8d
	and $3, %r8d
	add %eax, %r8d
	inc %r8d
	mov $4, %ecx
3:	inc %eax
	cmp %r8d, %eax
	loopne 3b				/* e0 */
	mov %rcx, %r9
	/* loope: walk the bits of i while they are clear */
	mov $6, %ecx
	mov %edi, %edx
	or $0x40, %edx
4:	add $2, %eax
	shr $1, %edx
	test $1, %dl
	loope 4b				/* e1 */
	add %rcx, %r9
	/* jrcxz both ways */
	mov %rdi, %rcx
	and $1, %ecx
	jrcxz 5f				/* e3 */
	add $16, %eax
5:	/* ecx zero but rcx not: jecxz taken, jrcxz not */
	movabs $0x100000000, %rcx
	jecxz 6f				/* 67 e3 */
	add $0x1000, %eax			/* never */
6:	jrcxz 7f
	add $32, %eax
7:	/* addr32 loop counts in ecx only */
	movabs $0x100000002, %rcx
8:	inc %eax
	addr32 loop 8b				/* 67 e2 */
	add %rcx, %r9
	movabs $0x300000003, %rcx
	mov %edi, %r8d
	and $1, %r8d
	add %eax, %r8d
	inc %r8d
9:	inc %eax
	cmp %r8d, %eax
	addr32 loopne 9b			/* 67 e0 */
	add %rcx, %r9
	/* jrcxz backward, taken */
	xor %ecx, %ecx
	jmp 11f
10:	add $64, %eax
	jmp 12f
11:	jrcxz 10b
	add $0x2000, %eax			/* never */
12:	shl $8, %r9
	add %r9, %rax
	ret
ENDF tort_loop

/* ------------------------------------------------- stack and flags */

/* pushf/popf: the pushed flags must never show TF (0x100). High half: TF sightings. */
FUNC tort_pushf
	endbr64
	xor %r8d, %r8d
	pushfq
	pop %rax
	bt $8, %rax
	adc $0, %r8
	mov %edi, %ecx
	and $7, %ecx
	cmp $3, %ecx				/* flags depend on i */
	pushfq
	mov (%rsp), %rdx
	bt $8, %rdx
	adc $0, %r8
	and $0x8d5, %edx			/* CF PF AF ZF SF OF */
	popfq
	pushq $0x8d7				/* all arithmetic flags set */
	popfq
	pushfq
	pop %rcx
	and $0x8d5, %ecx
	shl $12, %rcx
	or %rcx, %rdx
	pushq $0x202				/* all clear */
	popfq
	pushfq
	pop %rcx
	bt $8, %rcx
	adc $0, %r8
	and $0x8d5, %ecx
	shl $24, %rcx
	or %rcx, %rdx
	pushfw					/* 66 9c: 16-bit flags, TF is bit 8 */
	popw %cx
	bt $8, %cx
	adc $0, %r8
	mov %r8, %rax
	shl $32, %rax
	or %rdx, %rax
	ret
ENDF tort_pushf

/* push/pop with rsp-relative (and rip-relative) memory operands. */
FUNC tort_pushpop
	endbr64
	sub $40, %rsp
	movq $0x77, (%rsp)
	mov %rdi, 8(%rsp)
	movq $0x55, 16(%rsp)
	movq $0, 24(%rsp)
	pushq 8(%rsp)				/* ff 74 24 08: pushes i */
	pop %rax
	pushq 16(%rsp)				/* pushes 0x55 */
	popq 8(%rsp)				/* 8f 44 24 08: address computed after the pop */
	mov 8(%rsp), %rcx			/* 0x55 */
	lea (%rax,%rcx,2), %rax
	pushq (%rsp)				/* ff 34 24: 0x77 */
	popq 24(%rsp)				/* into 24(%rsp) of the original frame */
	add 24(%rsp), %rax
	mov %rsp, %r9
	push %rsp
	pop %rdx
	sub %r9, %rdx				/* 0 */
	add %rdx, %rax
	push %rsp
	pop %rsp				/* rsp unchanged */
	sub %rsp, %r9
	add %r9, %rax
	pushq ro_q0(%rip)			/* ff 35 disp32 */
	popq w_q4(%rip)				/* 8f 05 disp32 (constant: idempotent) */
	add w_q4(%rip), %rax
	pushq $0x12345678
	popq %r10
	add %r10, %rax
	pushq $5
	popq -8(%rsp)				/* stores back into the slot it popped */
	mov -8(%rsp), %r10
	add %r10, %rax
	pushw $0x1234				/* 66 6a/68 */
	popw %dx
	movzwl %dx, %edx
	add %rdx, %rax
	add $40, %rsp
	ret
ENDF tort_pushpop

/* enter/leave frames. */
FUNC tort_frame
	endbr64
	enter $32, $0
	mov %rdi, -8(%rbp)
	mov -8(%rbp), %rax
	lea 0(%rbp), %rcx
	sub %rsp, %rcx				/* 32 */
	add %rcx, %rax
	leave
	push %rbp
	mov %rsp, %rbp
	sub $16, %rsp
	movq $3, -16(%rbp)
	add -16(%rbp), %rax
	leave
	ret
ENDF tort_frame

/* ------------------------------------------------ string instructions */

FUNC tort_rep
	endbr64
	sub $264, %rsp
	mov %rdi, %r8
	/* clear the buffer: rep stosq, 33 qwords */
	xor %eax, %eax
	mov %rsp, %rdi
	mov $33, %ecx
	rep stosq				/* f3 48 ab */
	/* rep stosq: 3..6 qwords of a pattern */
	movabs $0x0101010101010101, %rax
	imul %r8, %rax
	mov %rsp, %rdi
	mov %r8d, %ecx
	and $3, %ecx
	add $3, %ecx
	rep stosq
	/* rep movsb: 5..15 bytes */
	lea ro_str(%rip), %rsi
	lea 64(%rsp), %rdi
	mov %r8d, %ecx
	and $7, %ecx
	lea 5(%rcx,%rcx), %ecx
	rep movsb				/* f3 a4 */
	/* rep movsq backwards (DF=1) */
	lea ro_str+24(%rip), %rsi
	lea 152(%rsp), %rdi
	mov $3, %ecx
	std
	rep movsq
	cld
	/* repe cmpsb: strings differ at offset 12; count 4..19 */
	lea ro_str(%rip), %rsi
	lea ro_str2(%rip), %rdi
	mov %r8d, %ecx
	and $15, %ecx
	add $4, %ecx
	repe cmpsb				/* f3 a6 */
	setz %dl
	movzbl %dl, %edx
	shl $8, %rcx
	add %rcx, %rdx
	/* repne scasb: find 'o' (offset 12) within 6..21 bytes */
	lea ro_str(%rip), %rdi
	mov $'o', %eax
	mov %r8d, %ecx
	and $15, %ecx
	add $6, %ecx
	repne scasb				/* f2 ae */
	shl $16, %rcx
	add %rcx, %rdx
	/* rep stosb with a zero count on some i: executes once, does nothing */
	lea 200(%rsp), %rdi
	mov $0xee, %eax
	mov %r8d, %ecx
	and $1, %ecx
	rep stosb
	/* a long one: 150..157 iterations, more than a tracer may single-step */
	lea 8(%rsp), %rdi
	mov %r8d, %eax
	mov %r8d, %ecx
	and $7, %ecx
	add $150, %ecx
	rep stosb
	/* fold the buffer */
	xor %eax, %eax
	mov $32, %ecx
1:	rol $7, %rax
	xor -8(%rsp,%rcx,8), %rax
	dec %ecx
	jnz 1b
	add %rdx, %rax
	add $264, %rsp
	ret
ENDF tort_rep

/* ------------------------------------------------------ system-ish */

/* getpid through syscall; rcx must be the address after the syscall, r11 must not show TF.
 * aux is the pid. Bit 0: rcx right, bit 1: pid right, bit 2: TF seen in r11. */
FUNC tort_syscall
	endbr64
	mov %rsi, %r8
	mov $39, %eax				/* getpid */
	lea 1f(%rip), %rdx
	syscall
1:	xor %r9d, %r9d
	cmp %rdx, %rcx
	sete %r9b
	cmp %r8, %rax
	sete %cl
	movzbl %cl, %ecx
	lea (%r9,%rcx,2), %r9
	bt $8, %r11
	setc %cl
	lea (%r9,%rcx,4), %r9
	test $1, %dil
	jz 2f
	mov $39, %eax				/* again on odd i */
	lea 3f(%rip), %rdx
	syscall
3:	cmp %rdx, %rcx
	je 2f
	and $~1, %r9				/* rcx wrong: clear bit 0 */
2:	mov %r9, %rax
	ret
ENDF tort_syscall

FUNC tort_cpuid
	endbr64
	push %rbx
	xor %eax, %eax
	xor %ecx, %ecx
	cpuid					/* leaf 0: the same on every CPU */
	mov %eax, %r8d
	xor %ebx, %r8d
	xor %ecx, %r8d
	xor %edx, %r8d
	mov $0x80000000, %eax
	xor %ecx, %ecx
	cpuid
	shl $32, %rax
	or %r8, %rax
	add %rdi, %rax
	pop %rbx
	ret
ENDF tort_cpuid

/* Every nop encoding compilers and assemblers emit, plus endbr64 and pause. */
FUNC tort_nops
	endbr64
	mov %rdi, %rax
	.byte 0x90					/* nop */
	.byte 0x66, 0x90				/* xchg %ax,%ax */
	.byte 0x0f, 0x1f, 0x00				/* nopl (%rax) */
	.byte 0x0f, 0x1f, 0x40, 0x00			/* nopl 0(%rax) */
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00		/* nopl 0(%rax,%rax,1) */
	.byte 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00	/* nopw 0(%rax,%rax,1) */
	.byte 0x0f, 0x1f, 0x80, 0, 0, 0, 0		/* nopl 0L(%rax) */
	.byte 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0	/* nopl 0L(%rax,%rax,1) */
	.byte 0x66, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0	/* nopw 0L(%rax,%rax,1) */
	.byte 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0	/* cs nopw */
	.byte 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0	/* data16 cs nopw */
	test $1, %dil
	jnz 1f
	.byte 0x0f, 0x1f, 0x05, 0x10, 0x00, 0x00, 0x00	/* nopl 0x10(%rip): rip-relative, no access */
	.byte 0x41, 0x0f, 0x1f, 0x00			/* nopl (%r8) */
	.byte 0x0f, 0x1f, 0x04, 0x24			/* nopl (%rsp) */
	.byte 0x0f, 0x18, 0x20				/* nopl (%rax) in the 0f 18 hint space */
1:	.byte 0xf3, 0x90				/* pause */
	endbr64
	.byte 0xf3, 0x0f, 0x1e, 0xfa			/* endbr64, hand-encoded */
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	add $1, %rax
	ret
ENDF tort_nops

/*
 * Faults that the program recovers from in its own SIGSEGV/SIGBUS/SIGFPE handler
 * (on_fault() in torture_main.c, on an alternate stack). Protocol, in callee-saved
 * registers that the faulting instructions leave alone: at the fault the handler
 * expects rip == r13, rsp == r12, [rsp] == r15 (unless r15 is 0) and
 * si_addr == rbx (unless rbx is -1); it then continues at r14 with rsp = rbp.
 * A probed instruction that faults must fault at its own address, with the
 * program's registers, never at a scratch-slot address.
 * r10 counts recoveries; a never-executed add shows a missed fault.
 */
	.macro FAULT_SETUP fault_at, recover, exp_rsp_off=0, exp_tos=0, exp_addr=-1
	lea \fault_at, %r13
	lea \exp_rsp_off(%rsp), %r12
	.ifnc \exp_tos,0
	lea \exp_tos(%rip), %r15
	.else
	xor %r15d, %r15d
	.endif
	mov $\exp_addr, %rbx
	lea \recover(%rip), %r14
	.endm

FUNC tort_fault
	endbr64
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi				/* i, at (%rbp): rdi is used below */
	mov %rsp, %rbp
	xor %r10d, %r10d
	/* 1: load through NULL */
	FAULT_SETUP .Lf1(%rip), .Lr1, exp_addr=0
	xor %eax, %eax
.Lf1:	mov (%rax), %rcx
	add $0x100000, %r10			/* never */
.Lr1:	add $1, %r10
	/* 2: rip-relative load from the guard page */
	FAULT_SETUP .Lf2(%rip), .Lr2
	lea tort_guard+8(%rip), %rbx
.Lf2:	mov tort_guard+8(%rip), %eax		/* 8b 05 */
	add $0x100000, %r10			/* never */
.Lr2:	add $1, %r10
	/* 3: rip-relative store with an imm32 after the disp32, into .rodata */
	FAULT_SETUP .Lf3(%rip), .Lr3
	lea ro_d(%rip), %rbx
.Lf3:	movl $0x12345678, ro_d(%rip)		/* c7 05 disp32 imm32 */
	add $0x100000, %r10			/* never */
.Lr3:	add $1, %r10
	/* 4: locked rip-relative store into .rodata */
	FAULT_SETUP .Lf4(%rip), .Lr4
	lea ro_d(%rip), %rbx
.Lf4:	lock addl $1, ro_d(%rip)
	add $0x100000, %r10			/* never */
.Lr4:	add $1, %r10
	/* 5: call *%rax to an unmapped address: faults at the target, return address pushed */
	FAULT_SETUP 0x10, .Lr5, exp_rsp_off=-8, exp_tos=.La5, exp_addr=0x10
	mov $0x10, %eax
	call *%rax
.La5:	add $0x100000, %r10			/* never */
.Lr5:	add $1, %r10
	/* 6: call *(%rax) through NULL+0x18: faults at the call, nothing pushed */
	FAULT_SETUP .Lf6(%rip), .Lr6, exp_addr=0x18
	mov $0x18, %eax
.Lf6:	call *(%rax)
	add $0x100000, %r10			/* never */
.Lr6:	add $1, %r10
	/* 7: call *ptr(%rip) with ptr = 0x10 */
	FAULT_SETUP 0x10, .Lr7, exp_rsp_off=-8, exp_tos=.La7, exp_addr=0x10
	call *fault_ptr(%rip)
.La7:	add $0x100000, %r10			/* never */
.Lr7:	add $1, %r10
	/* 8: jmp *%rax to an unmapped address */
	FAULT_SETUP 0x10, .Lr8, exp_addr=0x10
	mov $0x10, %eax
	jmp *%rax
	add $0x100000, %r10			/* never */
.Lr8:	add $1, %r10
	/* 9: ret to an unmapped address */
	FAULT_SETUP 0x10, .Lr9, exp_addr=0x10
	pushq $0x10
	ret
	add $0x100000, %r10			/* never */
.Lr9:	add $1, %r10
	/* 10: pushq (%rax) through 0x20 */
	FAULT_SETUP .Lf10(%rip), .Lr10, exp_addr=0x20
	mov $0x20, %eax
.Lf10:	pushq (%rax)
	add $0x100000, %r10			/* never */
.Lr10:	add $1, %r10
	/* 11: divide by zero (SIGFPE) */
	FAULT_SETUP .Lf11(%rip), .Lr11
	xor %ecx, %ecx
	mov $5, %eax
	xor %edx, %edx
.Lf11:	div %ecx
	add $0x100000, %r10			/* never */
.Lr11:	add $1, %r10
	/* 12: rep movsb running into the guard page: 8 bytes copied, 12 left */
	FAULT_SETUP .Lf12(%rip), .Lr12
	lea tort_guard(%rip), %rbx
	lea ro_str(%rip), %rsi
	lea tort_guard-8(%rip), %rdi
	mov $20, %ecx
.Lf12:	rep movsb
	add $0x100000, %r10			/* never */
.Lr12:	xor %eax, %eax
	cmp $12, %rcx
	sete %al
	lea tort_guard(%rip), %rdx
	cmp %rdx, %rdi
	sete %dl
	and %edx, %eax
	add %rax, %r10
	/* 13: jmp *ptr(%rip) with ptr = 0x10 */
	FAULT_SETUP 0x10, .Lr13, exp_addr=0x10
	jmp *fault_ptr(%rip)
	add $0x100000, %r10			/* never */
.Lr13:	add $1, %r10
	/* 14: rip-relative push from the guard page */
	FAULT_SETUP .Lf14(%rip), .Lr14
	lea tort_guard(%rip), %rbx
.Lf14:	pushq tort_guard(%rip)
	add $0x100000, %r10			/* never */
.Lr14:	add $1, %r10
	/* 15, 16: call rel32 and pushf with the stack pointer just above the guard page */
	testb $1, (%rbp)
	jz 1f
	lea tort_guard+8(%rip), %rsp
	FAULT_SETUP .Lf15(%rip), .Lr15
	lea tort_guard(%rip), %rbx
.Lf15:	call tort_h_add
	add $0x100000, %r10			/* never */
.Lr15:	add $1, %r10
	lea tort_guard+8(%rip), %rsp
	FAULT_SETUP .Lf16(%rip), .Lr16
	lea tort_guard(%rip), %rbx
.Lf16:	pushfq
	add $0x100000, %r10			/* never */
.Lr16:	add $1, %r10
1:	lea 8(%rbp), %rsp
	mov %r10, %rax
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
ENDF tort_fault

/* Leaf function keeping all 128 bytes of the red zone live across every kind of probed
 * instruction. Returns the number of corrupted slots in the low byte. */
FUNC tort_redzone
	endbr64
	mov $16, %ecx
1:	lea 0x1111(%rdi,%rcx), %rdx
	imul %rcx, %rdx
	mov %rdx, -136(%rsp,%rcx,8)		/* -128(%rsp) .. -8(%rsp) */
	loop 1b
	mov ro_q0(%rip), %r8			/* rip-relative load */
	cmpl $0x11223344, ro_d(%rip)
	je 2f
	add $1, %r8
2:	lock addl $0, tort_cnt_e(%rip)
	test $1, %dil
	{disp32} jz 3f
	add $2, %r8
3:	lea 4f(%rip), %rdx
	jmp *%rdx
	add $0x1000, %r8			/* never */
4:	jmp *jptr_redzone(%rip)
	add $0x2000, %r8			/* never */
.Lredzone_ptr:
	movsd ro_dbl(%rip), %xmm0
	movaps ro_v16(%rip), %xmm1
	mov $3, %ecx
5:	loop 5b
	jrcxz 6f
	add $0x4000, %r8			/* never */
6:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	lea ro_q1(%rip), %r9
	mov $39, %eax
	syscall					/* clobbers rcx and r11 only */
	/* check */
	xor %eax, %eax
	mov $16, %ecx
7:	lea 0x1111(%rdi,%rcx), %rdx
	imul %rcx, %rdx
	cmp %rdx, -136(%rsp,%rcx,8)
	setne %dl
	movzbl %dl, %edx
	add %rdx, %rax
	dec %ecx
	jnz 7b
	shl $8, %r8
	add %r8, %rax
	ret
ENDF tort_redzone

	.section .data.rel.local, "aw"
jptr_redzone:
	.quad .Lredzone_ptr

	.section .note.GNU-stack, "", @progbits
