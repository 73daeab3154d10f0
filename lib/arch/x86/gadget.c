// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The record gadget of no-stop probes: x86-64 code that libuprobe copies
 * into a tracee's scratch area (it never runs in the tracer, hence
 * .rodata). A no-stop detour (detour.c) is
 *
 *   lea -128(%rsp), %rsp   ; past the red zone
 *   call gadget            ; returns to one of:
 *   int3                   ;   the ring was full: the tracer handles this hit
 *   copies...; jmp back    ;   recorded (the gadget adds 1 to its return address)
 *
 * The gadget reads the time-stamp counter, takes a ticket in the ring
 * (ring.h), writes every general register, the flags and rsp as they were at the probed
 * instruction (it reads no memory of the program), commits the record, restores everything (flags included),
 * and returns with `ret $128`, undoing the red-zone skip. No system call,
 * no lock held across instructions: a thread stopped anywhere in it blocks
 * no other thread (the tracer steps it out before delivering a signal).
 */
#include "../../ring.h"

#define S_(x) #x
#define S(x) S_(x)

/* offsets of struct ring_rec */
#define R_RET 8
#define R_FS 16
#define R_FLAGS 24
#define R_RAX 32
#define R_RBX 40
#define R_RCX 48
#define R_RDX 56
#define R_RSI 64
#define R_RDI 72
#define R_RBP 80
#define R_RSP 88
#define R_R8 96
#define R_TSC 160

_Static_assert(__builtin_offsetof(struct ring_rec, ret) == R_RET, "");
_Static_assert(__builtin_offsetof(struct ring_rec, fs_base) == R_FS, "");
_Static_assert(__builtin_offsetof(struct ring_rec, flags) == R_FLAGS, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rax) == R_RAX, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rsp) == R_RSP, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r8) == R_R8, "");
_Static_assert(__builtin_offsetof(struct ring_rec, tsc) == R_TSC, "");
_Static_assert(RING_REC_SIZE == 3 * 64, "the gadget multiplies by 3, then by 64");

__asm__(
	"	.pushsection .rodata.uprobe_gadget, \"a\"\n"
	"	.balign 64\n"
	"	.globl uprobe__rec_gadget\n"
	"	.hidden uprobe__rec_gadget\n"
	"uprobe__rec_gadget:\n"
	/* [rsp] = return address; the program's rsp is rsp + 8 + 128 */
	"	pushfq\n"
	"	push %rax\n"
	"	push %rcx\n"
	"	push %rdx\n"
	"	push %rsi\n"
	"	rdtsc\n"
	"	shl $32, %rdx\n"
	"	or %rdx, %rax\n"
	"	push %rax\n"
	/* now: 0 tsc, 8 rsi, 16 rdx, 24 rcx, 32 rax, 40 flags, 48 return address; program rsp = rsp + 184 */
	"	mov .Lring(%rip), %rdx\n"
	"	mov " S(RING_HEAD) "(%rdx), %rax\n"
	"1:	mov %rax, %rcx\n"
	"	and " S(RING_MASK) "(%rdx), %rcx\n"
	"	lea (%rcx,%rcx,2), %rcx\n"
	"	shl $6, %rcx\n"
	"	lea " S(RING_RECS) "(%rdx,%rcx), %rcx\n"
	"	mov (%rcx), %rsi\n"
	"	sub %rax, %rsi\n"
	"	js .Lfull\n"   /* the record still holds the previous lap: full */
	"	jnz .Lagain\n" /* another thread took this ticket */
	"	lea 1(%rax), %rsi\n"
	"	lock cmpxchg %rsi, " S(RING_HEAD) "(%rdx)\n"
	"	jne 1b\n"      /* rax = the new head */
	/* ticket rax, record rcx */
	"	mov %rbx, " S(R_RBX) "(%rcx)\n"
	"	mov %rdi, " S(R_RDI) "(%rcx)\n"
	"	mov %rbp, " S(R_RBP) "(%rcx)\n"
	"	mov %r8, " S(R_R8) "+0(%rcx)\n"
	"	mov %r9, " S(R_R8) "+8(%rcx)\n"
	"	mov %r10, " S(R_R8) "+16(%rcx)\n"
	"	mov %r11, " S(R_R8) "+24(%rcx)\n"
	"	mov %r12, " S(R_R8) "+32(%rcx)\n"
	"	mov %r13, " S(R_R8) "+40(%rcx)\n"
	"	mov %r14, " S(R_R8) "+48(%rcx)\n"
	"	mov %r15, " S(R_R8) "+56(%rcx)\n"
	"	mov 0(%rsp), %rsi\n"
	"	mov %rsi, " S(R_TSC) "(%rcx)\n"
	"	mov 8(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RSI) "(%rcx)\n"
	"	mov 16(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RDX) "(%rcx)\n"
	"	mov 24(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RCX) "(%rcx)\n"
	"	mov 32(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RAX) "(%rcx)\n"
	"	mov 40(%rsp), %rsi\n"
	"	mov %rsi, " S(R_FLAGS) "(%rcx)\n"
	"	mov 48(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RET) "(%rcx)\n"
	"	lea 184(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RSP) "(%rcx)\n"
	"	xor %esi, %esi\n"
	"	cmpb $" S(RING_FS_RDFSBASE) ", .Lfsgs(%rip)\n"
	"	jb 2f\n"                /* RING_FS_NONE */
	"	ja 3f\n"                /* RING_FS_SELF */
	"	rdfsbase %rsi\n"
	"	jmp 2f\n"
	/* the thread pointer's first word is the thread pointer (x86-64 TLS ABI) */
	"	.globl uprobe__rec_gadget_fs_load\n"
	"	.hidden uprobe__rec_gadget_fs_load\n"
	"uprobe__rec_gadget_fs_load:\n"
	"3:	mov %fs:0, %rsi\n"
	"2:	mov %rsi, " S(R_FS) "(%rcx)\n"
	"	inc %rax\n"
	"	mov %rax, (%rcx)\n"     /* commit: stores are not reordered with older stores */
	"	addq $1, 48(%rsp)\n"    /* return past the int3 */
	".Lout:\n"
	"	lea 8(%rsp), %rsp\n"
	"	pop %rsi\n"
	"	pop %rdx\n"
	"	pop %rcx\n"
	"	pop %rax\n"
	"	popfq\n"
	"	ret $128\n"
	".Lagain:\n"
	"	mov " S(RING_HEAD) "(%rdx), %rax\n"
	"	jmp 1b\n"
	".Lfull:\n"
	"	jmp .Lout\n"
	/*
	 * The count gadget of count-only detours (no handler at all): the
	 * detour's lea and call are the same, the gadget adds 1 to its slot's
	 * 64-bit counter in the ring's counter block with one `lock incq`
	 * and returns past the int3. No record, no rdtsc, no pushf/popf: the
	 * flags the increment changes are kept in rax (lahf + seto) and put
	 * back (add $0x7f, %al sets OF from seto's 0/1; sahf the others).
	 * Its slot's counter: counters[(return address - area start) / 64].
	 */
	"	.globl uprobe__count_gadget\n"
	"	.hidden uprobe__count_gadget\n"
	"uprobe__count_gadget:\n"
	/* [rsp] = return address (the detour's int3) */
	"	push %rax\n"
	"	push %rcx\n"
	"	push %rdx\n"
	"	lahf\n"
	"	seto %al\n"
	"	mov 24(%rsp), %rcx\n"
	"	lea 1(%rcx), %rdx\n"
	"	mov %rdx, 24(%rsp)\n"  /* return past the int3 */
	"	sub .Lcarea(%rip), %rcx\n"
	"	shr $6, %rcx\n"
	"	mov .Lcbase(%rip), %rdx\n"
	"	lock incq (%rdx,%rcx,8)\n"
	"	add $0x7f, %al\n"
	"	sahf\n"
	"	pop %rdx\n"
	"	pop %rcx\n"
	"	pop %rax\n"
	"	ret $128\n"
	"	.balign 8\n"
	"	.globl uprobe__count_gadget_base\n"
	"	.hidden uprobe__count_gadget_base\n"
	"uprobe__count_gadget_base:\n"
	".Lcbase:	.quad 0\n"            /* the area's counter block in the tracee */
	"	.globl uprobe__count_gadget_area\n"
	"	.hidden uprobe__count_gadget_area\n"
	"uprobe__count_gadget_area:\n"
	".Lcarea:	.quad 0\n"            /* the area's start */
	"	.balign 8\n"
	"	.globl uprobe__rec_gadget_ring\n"
	"	.hidden uprobe__rec_gadget_ring\n"
	"uprobe__rec_gadget_ring:\n"
	".Lring:	.quad 0\n"
	"	.globl uprobe__rec_gadget_fsgs\n"
	"	.hidden uprobe__rec_gadget_fsgs\n"
	"uprobe__rec_gadget_fsgs:\n"
	".Lfsgs:	.byte 0\n"
	"	.globl uprobe__rec_gadget_end\n"
	"	.hidden uprobe__rec_gadget_end\n"
	"uprobe__rec_gadget_end:\n"
	"	.popsection\n");
