// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The record gadget of no-stop probes: x86-64 code that libuprobe copies
 * into a tracee's scratch area (it never runs in the tracer, hence
 * .rodata). A no-stop detour (detour.c) is
 *
 *   lea -128(%rsp), %rsp   ; past the red zone
 *   call gadget            ; returns to one of:
 *   jmp +1                 ;   recorded: its own return address, over the int3
 *   int3                   ;   the ring was full (return address + 2): the tracer handles this hit
 *   copies...; jmp back
 *
 * The gadget reads the time-stamp counter, takes a ticket in the ring
 * (ring.h), writes every general register, the flags and rsp as they were
 * at the probed instruction (it reads no memory of the program), commits
 * the record, restores everything (the flags with sahf, not popfq), and
 * returns with `ret $128`, undoing the red-zone skip. No system call,
 * no lock held across instructions: a thread stopped anywhere in it blocks
 * no other thread (the tracer steps it out before delivering a signal).
 */
#include "../../internal.h"
#include "../../ring.h"

#define S_(x) #x
#define S(x) S_(x)

/* From the gadget's return address (the detour's jmp over its int3) to the int3 */
#define TO_INT3 2
_Static_assert(TO_INT3 == ARCH_DETOUR_REC_INT3 - ARCH_DETOUR_REC_RET, "the detour's layout");

/* offsets of struct ring_rec */
#define R_RET 8
#define R_FS 16
#define R_TSC 24
#define R_RDI 32
#define R_RSI 40
#define R_RDX 48
#define R_RCX 56
#define R_R8 64
#define R_R9 72
#define R_RAX 80
#define R_RSP 88
#define R_FLAGS 96
#define R_RBX 104
#define R_R10 112
#define R_R11 120
#define R_R12 128
#define R_R13 136
#define R_R14 144
#define R_R15 152
#define R_RBP 160
#define R_NS_SLOT 168
#define R_NS_REAL 176
#define R_KIND 184

_Static_assert(__builtin_offsetof(struct ring_rec, ret) == R_RET, "");
_Static_assert(__builtin_offsetof(struct ring_rec, fs_base) == R_FS, "");
_Static_assert(__builtin_offsetof(struct ring_rec, tsc) == R_TSC, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rdi) == R_RDI, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rsi) == R_RSI, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rdx) == R_RDX, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rcx) == R_RCX, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r8) == R_R8, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r9) == R_R9, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rax) == R_RAX, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rsp) == R_RSP, "");
_Static_assert(__builtin_offsetof(struct ring_rec, flags) == R_FLAGS, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rbx) == R_RBX, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r10) == R_R10, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r11) == R_R11, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r12) == R_R12, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r13) == R_R13, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r14) == R_R14, "");
_Static_assert(__builtin_offsetof(struct ring_rec, r15) == R_R15, "");
_Static_assert(__builtin_offsetof(struct ring_rec, rbp) == R_RBP, "");
_Static_assert(__builtin_offsetof(struct ring_rec, ns_slot) == R_NS_SLOT, "");
_Static_assert(__builtin_offsetof(struct ring_rec, ns_real) == R_NS_REAL, "");
_Static_assert(__builtin_offsetof(struct ring_rec, kind) == R_KIND, "");
_Static_assert(RING_REC_SIZE == 3 * 64, "the gadget multiplies by 3, then by 64");

/*
 * The program's arithmetic flags back from the pushfq image at off(%rsp),
 * without popfq (6.4 ns against 1 on an AMD EPYC VM): the gadgets change
 * no other flag. Where the CPU has no lahf/sahf in 64-bit mode (the byte
 * at .Lsahf is 0: UPROBE_CAP_LAHF), popfq instead. OF from bit 11 (add
 * $0x7f to 0 or 1 sets it as the bit was), then SF ZF AF PF CF from the
 * image's low byte (sahf). rax is scratch: it is popped after this.
 */
#define FLAGS_BACK(off) \
	"	movzbl " S(off) "+1(%rsp), %eax\n" \
	"	shr $3, %eax\n" \
	"	and $1, %eax\n" \
	"	add $0x7f, %al\n" \
	"	mov " S(off) "(%rsp), %ah\n" \
	"	sahf\n"

/*
 * Into record rcx, an arguments-only record (UPROBE_RECORD_ARGS_ONLY): the
 * argument registers, rax, rsp, the flags, the time stamp and the return
 * address, all in the record's first two cache lines (rbx, rbp and
 * r10-r15 not written: the tracer shows 0). Those the gadgets pushed are
 * read back from their frame (the time stamp, rsi, rdx, rcx, rax, the
 * flags, the return address); rsp as it was at the probed instruction.
 */
#define REC_ARGS \
	"	mov %rdi, " S(R_RDI) "(%rcx)\n" \
	"	mov %r8, " S(R_R8) "(%rcx)\n" \
	"	mov %r9, " S(R_R9) "(%rcx)\n" \
	"	mov 0(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_TSC) "(%rcx)\n" \
	"	mov 8(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_RSI) "(%rcx)\n" \
	"	mov 16(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_RDX) "(%rcx)\n" \
	"	mov 24(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_RCX) "(%rcx)\n" \
	"	mov 32(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_RAX) "(%rcx)\n" \
	"	mov 40(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_FLAGS) "(%rcx)\n" \
	"	mov 48(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_RET) "(%rcx)\n" \
	"	lea 184(%rsp), %rsi\n" \
	"	mov %rsi, " S(R_RSP) "(%rcx)\n"

/* A whole record: the arguments' part and every other register. */
#define REC_REGS \
	REC_ARGS \
	"	mov %rbx, " S(R_RBX) "(%rcx)\n" \
	"	mov %rbp, " S(R_RBP) "(%rcx)\n" \
	"	mov %r10, " S(R_R10) "(%rcx)\n" \
	"	mov %r11, " S(R_R11) "(%rcx)\n" \
	"	mov %r12, " S(R_R12) "(%rcx)\n" \
	"	mov %r13, " S(R_R13) "(%rcx)\n" \
	"	mov %r14, " S(R_R14) "(%rcx)\n" \
	"	mov %r15, " S(R_R15) "(%rcx)\n"
/*
 * The record gadgets' frame: the flags and the registers they use pushed,
 * then the time stamp (STAMP_TSC) or 0 (STAMP_NONE, UPROBE_RECORD_NO_TIME).
 * Then: 0 tsc, 8 rsi, 16 rdx, 24 rcx, 32 rax, 40 flags, 48 return address;
 * the program's rsp = rsp + 184.
 */
#define REC_SAVE \
	"	pushfq\n" \
	"	push %rax\n" \
	"	push %rcx\n" \
	"	push %rdx\n" \
	"	push %rsi\n"
#define STAMP_TSC \
	"	rdtsc\n" \
	"	shl $32, %rdx\n" \
	"	or %rdx, %rax\n"
#define STAMP_NONE "	xor %eax, %eax\n"

/*
 * A ticket in the ring (ring.h): rax = the head read, rdx = the ring; a
 * ring whose tracer has not consumed the record a lap before the ticket
 * goes to `full`, a head another thread moved meanwhile back to `loop`
 * (the compare-and-swap read it). No line of a record is read: the
 * records are written blind, their lines leave this CPU through the store
 * buffer. After it: ticket rax, record rcx.
 */
#define TICKET(loop, full) \
	"	mov .Lring(%rip), %rdx\n" \
	"	mov " S(RING_HEAD) "(%rdx), %rax\n" \
	loop ":\n" \
	"	mov %rax, %rsi\n" \
	"	sub " S(RING_TAIL) "(%rdx), %rsi\n" \
	"	cmp " S(RING_MASK) "(%rdx), %rsi\n" \
	"	jg " full "\n" \
	"	mov %rax, %rcx\n" \
	"	and " S(RING_MASK) "(%rdx), %rcx\n" \
	"	lea (%rcx,%rcx,2), %rcx\n" \
	"	shl $6, %rcx\n" \
	"	lea " S(RING_RECS) "(%rdx,%rcx), %rcx\n" \
	"	lea 1(%rax), %rsi\n" \
	"	lock cmpxchg %rsi, " S(RING_HEAD) "(%rdx)\n" \
	"	jne " loop "\n"

/*
 * The next record's three lines, asked for with write intent while this
 * record is being committed (rcx = this record): by the next hit they are
 * this CPU's, and its stores (which the next ticket's lock waits for) need
 * not fetch them from the tracer's CPU, where a handler that reads them
 * took them. Only a hint: a ticket another thread takes, the end of the
 * ring (its counters follow), change nothing. Where the CPU has no
 * prefetchw (UPROBE_CAP_PREFETCHW), ring.c makes each of these a jump over
 * itself (arch_gadget_no_prefetch()).
 */
#define PREFETCH_NEXT(n) \
	"	.globl uprobe__rec_gadget_pf" #n "\n" \
	"	.hidden uprobe__rec_gadget_pf" #n "\n" \
	"uprobe__rec_gadget_pf" #n ":\n" \
	"	prefetchw " S(RING_REC_SIZE) "(%rcx)\n" \
	"	prefetchw " S(RING_REC_SIZE) "+64(%rcx)\n" \
	"	prefetchw " S(RING_REC_SIZE) "+128(%rcx)\n" \
	"	.globl uprobe__rec_gadget_pf" #n "_end\n" \
	"	.hidden uprobe__rec_gadget_pf" #n "_end\n" \
	"uprobe__rec_gadget_pf" #n "_end:\n"

__asm__(
	"	.pushsection .rodata.uprobe_gadget, \"a\"\n"
	"	.balign 64\n"
	"	.globl uprobe__rec_gadget\n"
	"	.hidden uprobe__rec_gadget\n"
	"uprobe__rec_gadget:\n"
	/* [rsp] = return address; the program's rsp is rsp + 8 + 128 */
	REC_SAVE
	STAMP_TSC
	".Lstamped:\n"
	"	push %rax\n"
	TICKET(".Lticket", ".Lfull")
	REC_REGS
	".Lfscommit:\n"
	PREFETCH_NEXT(1)
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
	".Lout:\n"
	"	cmpb $0, .Lsahf(%rip)\n"
	"	je .Loutpopf\n"
	FLAGS_BACK(40)
	"	lea 8(%rsp), %rsp\n"
	"	pop %rsi\n"
	"	pop %rdx\n"
	"	pop %rcx\n"
	"	pop %rax\n"
	"	lea 8(%rsp), %rsp\n"   /* the flags image */
	"	ret $128\n"
	/* no lahf/sahf in 64-bit mode (UPROBE_CAP_LAHF): popfq */
	".Loutpopf:\n"
	"	lea 8(%rsp), %rsp\n"
	"	pop %rsi\n"
	"	pop %rdx\n"
	"	pop %rcx\n"
	"	pop %rax\n"
	"	popfq\n"
	"	ret $128\n"
	".Lfull:\n"
	"	addq $" S(TO_INT3) ", 48(%rsp)\n" /* back onto the int3: the tracer takes this hit */
	"	jmp .Lout\n"
	/*
	 * The record gadget without a time stamp (UPROBE_RECORD_NO_TIME): the
	 * same record with tsc 0, which the tracer reads as "no time" (no TSC
	 * reading is ever 0 past boot). rdtsc is the costliest instruction of
	 * the record after the ticket's lock.
	 */
	"	.globl uprobe__rec_gadget_notime\n"
	"	.hidden uprobe__rec_gadget_notime\n"
	"uprobe__rec_gadget_notime:\n"
	REC_SAVE
	STAMP_NONE
	"	jmp .Lstamped\n"
	/*
	 * The arguments-only record gadget (UPROBE_RECORD_ARGS_ONLY), with and
	 * without a time stamp: the same ticket, REC_ARGS instead of REC_REGS
	 * (two cache lines of the record instead of three), the same commit.
	 */
	"	.globl uprobe__rec_gadget_args\n"
	"	.hidden uprobe__rec_gadget_args\n"
	"uprobe__rec_gadget_args:\n"
	REC_SAVE
	STAMP_TSC
	".Lastamped:\n"
	"	push %rax\n"
	TICKET(".Laticket", ".Lfull")
	REC_ARGS
	"	jmp .Lfscommit\n"
	"	.globl uprobe__rec_gadget_args_notime\n"
	"	.hidden uprobe__rec_gadget_args_notime\n"
	"uprobe__rec_gadget_args_notime:\n"
	REC_SAVE
	STAMP_NONE
	"	jmp .Lastamped\n"
	/*
	 * The count gadget of count-only detours (no handler at all): the
	 * detour's lea and call are the same, the gadget adds 1 to its slot's
	 * 64-bit counter in the ring's counter block with one `lock incq`
	 * and returns (to the jmp over the int3). No record, no rdtsc, no
	 * pushf/popf: the flags the increment changes are kept in rax (lahf +
	 * seto) and put back (add $0x7f, %al sets OF from seto's 0/1; sahf
	 * the others).
	 * Its slot's counter: counters[(return address - area start) / 64].
	 */
	"	.globl uprobe__count_gadget\n"
	"	.hidden uprobe__count_gadget\n"
	"uprobe__count_gadget:\n"
	/* [rsp] = return address (the detour's jmp over its int3) */
	"	push %rax\n"
	"	push %rcx\n"
	"	push %rdx\n"
	"	lahf\n"
	"	seto %al\n"
	"	mov 24(%rsp), %rcx\n"
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
	/*
	 * The entry gadget of no-stop return probes: the record gadget's
	 * work, then the return address at the program's rsp is replaced by
	 * the return gadget's, the real one kept in the table (ring.h) under
	 * its stack slot. A return address that already is the return
	 * gadget's is a tail call from a return-probed function: the slot and
	 * its entry stay the older call's. No entry free: the record says
	 * nothing (ret 0) and the gadget returns onto the int3, where the
	 * tracer makes it a stopping hit. rdi and r8-r11 serve as scratch
	 * once written into the record, and are read back from it.
	 */
	"	.globl uprobe__nsent_gadget\n"
	"	.hidden uprobe__nsent_gadget\n"
	"uprobe__nsent_gadget:\n"
	"	pushfq\n"
	"	push %rax\n"
	"	push %rcx\n"
	"	push %rdx\n"
	"	push %rsi\n"
	"	rdtsc\n"
	"	shl $32, %rdx\n"
	"	or %rdx, %rax\n"
	"	push %rax\n"
	TICKET(".Lneticket", ".Lfull") /* full: back onto the int3 */
	REC_REGS
	/* rsi = the slot, rdi = the real return address */
	"	mov (%rsi), %rdi\n"
	"	mov %rsi, " S(R_NS_SLOT) "(%rcx)\n"
	"	mov %rdi, " S(R_NS_REAL) "(%rcx)\n"
	"	movq $" S(RING_KIND_ENTRY) ", " S(R_KIND) "(%rcx)\n"
	"	cmp .Lretg(%rip), %rdi\n"
	"	je 7f\n"       /* a tail call: the older call's slot */
	"	mov %rsi, %r9\n"
	"	movabs $" S(RING_NSRET_MUL) ", %r8\n"
	"	imul %r8, %r9\n"
	"	shr $" S(RING_NSRET_SHIFT) ", %r9\n"
	"	mov $" S(RING_NSRET_PROBE) ", %r10d\n"
	"4:	mov %r9, %r11\n"
	"	and $" S(RING_NSRET_MASK) ", %r11\n"
	"	shl $5, %r11\n"
	"	lea " S(RING_NSRET) "(%rdx,%r11), %r11\n"
	"	mov (%r11), %r8\n"
	"	cmp %rsi, %r8\n"
	"	je 6f\n"       /* a stale entry of this very slot: ours */
	"	test %r8, %r8\n"
	"	jnz 5f\n"
	"	mov %rax, %r8\n"
	"	xor %eax, %eax\n"
	"	lock cmpxchg %rsi, (%r11)\n"
	"	mov %r8, %rax\n" /* the ticket back; flags kept */
	"	je 6f\n"
	"5:	inc %r9\n"
	"	dec %r10d\n"
	"	jnz 4b\n"
	/* no entry free: an empty record, and back onto the int3 */
	"	movq $0, " S(R_RET) "(%rcx)\n"
	"	movq $0, " S(R_KIND) "(%rcx)\n"
	"	addq $" S(TO_INT3) ", 48(%rsp)\n"
	"	jmp 7f\n"
	/* the entry: real return, thread (fs_base, as records name it), then the hijack */
	"6:	mov %rdi, 8(%r11)\n"
	"	mov .Lretg(%rip), %r8\n"
	"	mov %rsi, %rdi\n"
	"	xor %esi, %esi\n"
	"	cmpb $" S(RING_FS_RDFSBASE) ", .Lfsgs(%rip)\n"
	"	jb 8f\n"
	"	ja 9f\n"
	"	rdfsbase %rsi\n"
	"	jmp 8f\n"
	"	.globl uprobe__nsent_gadget_fs_load\n"
	"	.hidden uprobe__nsent_gadget_fs_load\n"
	"uprobe__nsent_gadget_fs_load:\n"
	"9:	mov %fs:0, %rsi\n"
	"8:	mov %rsi, 16(%r11)\n"
	"	mov %r8, (%rdi)\n"
	"7:	mov " S(R_RDI) "(%rcx), %rdi\n"
	"	mov " S(R_R8) "(%rcx), %r8\n"
	"	mov " S(R_R9) "(%rcx), %r9\n"
	"	mov " S(R_R10) "(%rcx), %r10\n"
	"	mov " S(R_R11) "(%rcx), %r11\n"
	"	jmp .Lfscommit\n"
	/*
	 * The return gadget: a hijacked return lands here with rsp = slot + 8.
	 * Nothing is written at or above the slot but the real return address,
	 * put back into it for the final ret; the table entry is freed, the
	 * return recorded (every register, rax/rdx the value), everything
	 * restored, flags included. Ring full: the int3 at
	 * uprobe__nsret_gadget_full (the tracer drains the ring and sends the
	 * thread back to the retry point; after the tracer's death a nop).
	 */
	"	.globl uprobe__nsret_gadget\n"
	"	.hidden uprobe__nsret_gadget\n"
	"uprobe__nsret_gadget:\n"
	"	lea -8(%rsp), %rsp\n"
	"	pushfq\n"
	"	push %rax\n"
	"	push %rcx\n"
	"	push %rdx\n"
	"	push %rsi\n"
	"	push %rdi\n"
	/* 0 rdi, 8 rsi, 16 rdx, 24 rcx, 32 rax, 40 flags; the slot at 48 */
	"	lea 48(%rsp), %rsi\n"
	"	mov .Lring(%rip), %rdx\n"
	"	mov %rsi, %rdi\n"
	"	movabs $" S(RING_NSRET_MUL) ", %rax\n"
	"	imul %rax, %rdi\n"
	"	shr $" S(RING_NSRET_SHIFT) ", %rdi\n"
	"	mov $" S(RING_NSRET_PROBE) ", %ecx\n"
	"1:	mov %rdi, %rax\n"
	"	and $" S(RING_NSRET_MASK) ", %rax\n"
	"	shl $5, %rax\n"
	"	lea " S(RING_NSRET) "(%rdx,%rax), %rax\n"
	"	cmp %rsi, (%rax)\n"
	"	je 2f\n"
	"	inc %rdi\n"
	"	dec %ecx\n"
	"	jnz 1b\n"
	"	.globl uprobe__nsret_gadget_lost\n"
	"	.hidden uprobe__nsret_gadget_lost\n"
	"uprobe__nsret_gadget_lost:\n"
	"	int3\n"        /* no entry: the tracer puts the real return address in the slot */
	"	jmp 8f\n"
	"2:	mov 8(%rax), %rcx\n"
	"	mov %rcx, (%rsi)\n"
	"	movq $0, (%rax)\n"
	"	rdtsc\n"
	"	shl $32, %rdx\n"
	"	or %rdx, %rax\n"
	"	mov %rax, %rdi\n"
	"	.globl uprobe__nsret_gadget_retry\n"
	"	.hidden uprobe__nsret_gadget_retry\n"
	"uprobe__nsret_gadget_retry:\n"
	TICKET(".Lnrticket", "5f")
	"	jmp 6f\n"
	"	.globl uprobe__nsret_gadget_full\n"
	"	.hidden uprobe__nsret_gadget_full\n"
	"uprobe__nsret_gadget_full:\n"
	"5:	int3\n"
	"	jmp 8f\n"
	"6:\n"
	PREFETCH_NEXT(2)
	"	movq $0, " S(R_RET) "(%rcx)\n"
	"	movq $" S(RING_KIND_RET) ", " S(R_KIND) "(%rcx)\n"
	"	mov %rdi, " S(R_TSC) "(%rcx)\n"
	"	lea 48(%rsp), %rsi\n"
	"	mov %rsi, " S(R_NS_SLOT) "(%rcx)\n"
	"	movq %xmm0, %rsi\n"    /* a double's return value (the tracer knows the real return) */
	"	mov %rsi, " S(R_NS_REAL) "(%rcx)\n"
	"	lea 56(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RSP) "(%rcx)\n"
	"	mov %rbx, " S(R_RBX) "(%rcx)\n"
	"	mov %rbp, " S(R_RBP) "(%rcx)\n"
	"	mov %r8, " S(R_R8) "(%rcx)\n"
	"	mov %r9, " S(R_R9) "(%rcx)\n"
	"	mov %r10, " S(R_R10) "(%rcx)\n"
	"	mov %r11, " S(R_R11) "(%rcx)\n"
	"	mov %r12, " S(R_R12) "(%rcx)\n"
	"	mov %r13, " S(R_R13) "(%rcx)\n"
	"	mov %r14, " S(R_R14) "(%rcx)\n"
	"	mov %r15, " S(R_R15) "(%rcx)\n"
	"	mov 0(%rsp), %rsi\n"
	"	mov %rsi, " S(R_RDI) "(%rcx)\n"
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
	"	xor %esi, %esi\n"
	"	cmpb $" S(RING_FS_RDFSBASE) ", .Lfsgs(%rip)\n"
	"	jb 7f\n"
	"	ja 9f\n"
	"	rdfsbase %rsi\n"
	"	jmp 7f\n"
	"	.globl uprobe__nsret_gadget_fs_load\n"
	"	.hidden uprobe__nsret_gadget_fs_load\n"
	"uprobe__nsret_gadget_fs_load:\n"
	"9:	mov %fs:0, %rsi\n"
	"7:	mov %rsi, " S(R_FS) "(%rcx)\n"
	"	inc %rax\n"
	"	mov %rax, (%rcx)\n"     /* commit */
	"	.globl uprobe__nsret_gadget_out\n"
	"	.hidden uprobe__nsret_gadget_out\n"
	"uprobe__nsret_gadget_out:\n"
	"8:	cmpb $0, .Lsahf(%rip)\n"
	"	je .Lnsretpopf\n"
	FLAGS_BACK(40)
	"	pop %rdi\n"
	"	pop %rsi\n"
	"	pop %rdx\n"
	"	pop %rcx\n"
	"	pop %rax\n"
	"	lea 8(%rsp), %rsp\n"   /* the flags image */
	"	ret\n"
	".Lnsretpopf:\n"
	"	pop %rdi\n"
	"	pop %rsi\n"
	"	pop %rdx\n"
	"	pop %rcx\n"
	"	pop %rax\n"
	"	popfq\n"
	"	ret\n"                  /* to the real return address, rsp = slot + 8 */
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
	"	.globl uprobe__rec_gadget_sahf\n"
	"	.hidden uprobe__rec_gadget_sahf\n"
	"uprobe__rec_gadget_sahf:\n"
	".Lsahf:	.byte 0\n"
	"	.balign 8\n"
	"	.globl uprobe__nsret_gadget_retg\n"
	"	.hidden uprobe__nsret_gadget_retg\n"
	"uprobe__nsret_gadget_retg:\n"
	".Lretg:	.quad 0\n"
	"	.globl uprobe__rec_gadget_end\n"
	"	.hidden uprobe__rec_gadget_end\n"
	"uprobe__rec_gadget_end:\n"
	"	.popsection\n");

/*
 * Without prefetchw (UPROBE_CAP_PREFETCHW): each PREFETCH_NEXT in code, a
 * copy of the gadgets from uprobe__rec_gadget on, becomes a two-byte jump
 * over the rest of itself.
 */
void arch_gadget_no_prefetch(uint8_t *code)
{
	const uint8_t *const pf[][2] = {
		{ uprobe__rec_gadget_pf1, uprobe__rec_gadget_pf1_end },
		{ uprobe__rec_gadget_pf2, uprobe__rec_gadget_pf2_end },
	};

	for (size_t i = 0; i < sizeof(pf) / sizeof(pf[0]); i++) {
		uint8_t *at = code + (pf[i][0] - uprobe__rec_gadget);
		size_t len = (size_t)(pf[i][1] - pf[i][0]);

		at[0] = 0xeb; /* jmp rel8 */
		at[1] = (uint8_t)(len - 2);
		memset(at + 2, 0x90, len - 2);
	}
}
