/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hit ring: memory shared by a tracee and the tracer, into which
 * no-stop probes (uprobe_opts.nostop) write a register snapshot per hit
 * instead of stopping. Layout shared with the x86 record gadget
 * (arch/x86/gadget.c): keep the offsets below in step with it.
 *
 * A bounded multi-producer queue: a producer takes ticket `head` with a
 * compare-and-swap when head - tail < nrec (tail: the first ticket the
 * tracer has not copied out, which it publishes), writes record
 * ticket % nrec and commits it with seq = ticket + 1. The tracer reads
 * records in ticket order up to the first not committed. A full ring is
 * seen before any byte is written: the producer then traps instead
 * (lossless back-pressure). Producers never read a record and the tracer
 * never writes one (but a record delivered ahead of its turn,
 * ring_drain.c): a record's lines cross from the writer's CPU to the
 * tracer's once, and come back on the next lap as copies the tracer only
 * read.
 */
#ifndef UPROBE_RING_H
#define UPROBE_RING_H

#include <stdint.h>

#define RING_HEAD 0     /* uint64_t: next ticket (producers) */
#define RING_TAIL 64    /* uint64_t: first ticket not consumed (the tracer): free space */
#define RING_MASK 128   /* uint64_t: nrec - 1 */
#define RING_RECS 4096  /* first record */
#define RING_NREC 16384u /* records per ring: a power of two (3 MiB, touched as used) */
#define RING_REC_SIZE 192
/*
 * Counters of count-only detours (arch/x86/gadget.c's count gadget), after
 * the records: a block of RING_COUNT_SLOTS uint64_t per scratch area, for
 * the first RING_COUNT_AREAS areas a process gets (xol_area.ord); slot i
 * of an area counts in its block's word i. Pages never touched cost nothing.
 */
#define RING_COUNTS (RING_RECS + RING_NREC * RING_REC_SIZE)
#define RING_COUNT_SLOTS 16384u /* XOL_AREA_SIZE / ARCH_SLOT_SIZE */
#define RING_COUNT_AREAS 16u
/*
 * No-stop return probes (arch/x86/gadget.c's entry and return gadgets):
 * after the counters, a table of RING_NSRET_N entries of 32 bytes, one per
 * hijacked return address: (stack slot, real return address). Entries are
 * found by the slot (a multiplicative hash, then RING_NSRET_PROBE entries
 * in a row); a slot is unique among live calls of every thread, so an
 * entry whose slot a new call hijacks again is a stale one (a longjmp went
 * past it) and is taken over. Key 0 is free; producers claim with lock
 * cmpxchg; the return gadget frees its entry.
 */
#define RING_NSRET (RING_COUNTS + RING_COUNT_AREAS * RING_COUNT_SLOTS * 8)
#define RING_NSRET_N 4096u /* a power of two */
#define RING_NSRET_MASK 4095
#define RING_NSRET_SHIFT 52 /* 64 - log2(RING_NSRET_N) */
#define RING_NSRET_MUL 0x9e3779b97f4a7c15ull
#define RING_NSRET_PROBE 16
#define RING_NSRET_ENT 32
#define RING_SIZE (RING_NSRET + RING_NSRET_N * RING_NSRET_ENT)

struct ring_nsret_ent {
	uint64_t slot; /* the stack slot holding the return gadget's address; 0: free */
	uint64_t real; /* the call's real return address */
	uint64_t fs;   /* its thread's fs_base (as records name threads), written before the hijack */
	uint64_t pad;
};

_Static_assert(sizeof(struct ring_nsret_ent) == RING_NSRET_ENT, "table entry layout");

static inline unsigned ring_nsret_hash(uint64_t slot)
{
	return (unsigned)((slot * RING_NSRET_MUL) >> RING_NSRET_SHIFT);
}

/*
 * One hit: the registers as they were at the probed instruction. The
 * tracer reads a record's first cache line always and the others only
 * when a handler asks for what they hold (ring_deliver.c): the line that
 * names the hit (seq, ret, fs_base, tsc) also holds the first four
 * arguments, so a handler that counts, times, or reads up to four
 * arguments pulls one line across from the writer's CPU, not three.
 */
struct ring_rec {
	uint64_t seq;
	uint64_t ret;     /* the gadget's return address: detour slot + DETOUR_REC_CALL_END */
	uint64_t fs_base; /* identifies the thread (see RING_FS_*); 0 when it cannot be read */
	uint64_t tsc;     /* the time-stamp counter at the hit (rdtsc); 0: none taken */
	uint64_t rdi, rsi, rdx, rcx;
	/*
	 * The second line completes what an arguments-only record writes
	 * (UPROBE_RECORD_ARGS_ONLY: rbx, r10 and r11 are left as they were).
	 */
	uint64_t r8, r9, rax, rsp, flags, rbx, r10, r11;
	uint64_t r12, r13, r14, r15, rbp;
	/*
	 * No-stop return probes: the stack slot of the return address and the
	 * real return address (a return record: xmm0's low 8 bytes, a double
	 * return value, instead); kind (RING_KIND_*) says what the record is.
	 * Plain records leave them as the last lap wrote them.
	 */
	uint64_t ns_slot, ns_real, kind;
};

#define RING_KIND_ENTRY 1 /* an entry gadget's record (with ret: its detour) */
#define RING_KIND_RET 2   /* a return gadget's record (ret is 0) */

_Static_assert(sizeof(struct ring_rec) == RING_REC_SIZE, "ring record layout");
/* What an arguments-only record holds: its first two cache lines (up to r11) */
#define RING_ARGS_SIZE 128
_Static_assert(__builtin_offsetof(struct ring_rec, r12) == RING_ARGS_SIZE, "");
/* What the tracer always reads: the first line, with the first RING_LINE0_ARGS arguments */
#define RING_LINE0_SIZE 64
#define RING_LINE0_ARGS 4
_Static_assert(__builtin_offsetof(struct ring_rec, r8) == RING_LINE0_SIZE, "");

/* The record gadget, position independent, copied into scratch areas (arch/x86/gadget.c). */
extern const uint8_t uprobe__rec_gadget[];
extern const uint8_t uprobe__rec_gadget_end[];
extern const uint8_t uprobe__rec_gadget_ring[]; /* uint64_t: the ring's address in the tracee */
extern const uint8_t uprobe__rec_gadget_fsgs[]; /* uint8_t: RING_FS_*, how fs_base is read */
/* uint8_t: 1 where the gadgets may put the flags back with sahf (UPROBE_CAP_LAHF), else popfq */
extern const uint8_t uprobe__rec_gadget_sahf[];
/* The record gadget's entry that writes tsc 0 (no time stamp) */
extern const uint8_t uprobe__rec_gadget_notime[];
/* The arguments-only record gadget's entries (UPROBE_RECORD_ARGS_ONLY), with and without time */
extern const uint8_t uprobe__rec_gadget_args[];
extern const uint8_t uprobe__rec_gadget_args_notime[];
/* The count gadget, in the same copy; its two words: the area's counter block and start. */
extern const uint8_t uprobe__count_gadget[];
extern const uint8_t uprobe__count_gadget_base[];
extern const uint8_t uprobe__count_gadget_area[];
/*
 * The no-stop return probes' gadgets, in the same copy: the entry gadget
 * (a record gadget that also hijacks the return address), the return
 * gadget, its int3 where the ring is full (the tracer drains and sends the
 * thread back to its retry point; a nop after the tracer's death, which
 * returns unrecorded) and its int3 where no table entry has the slot.
 */
extern const uint8_t uprobe__nsent_gadget[];
extern const uint8_t uprobe__nsret_gadget[];
extern const uint8_t uprobe__nsret_gadget_full[];
extern const uint8_t uprobe__nsret_gadget_retry[];
extern const uint8_t uprobe__nsret_gadget_lost[];
extern const uint8_t uprobe__nsret_gadget_out[];
extern const uint8_t uprobe__nsret_gadget_fs_load[];
extern const uint8_t uprobe__nsent_gadget_fs_load[];
extern const uint8_t uprobe__nsret_gadget_retg[]; /* uint64_t: the process's return gadget */
/* The gadget's `mov %fs:0, %rsi` (RING_FS_SELF): it faults where a thread has no TLS yet. */
extern const uint8_t uprobe__rec_gadget_fs_load[];
/* The gadgets' prefetches of the next record, and their ends (arch/x86/gadget.c) */
extern const uint8_t uprobe__rec_gadget_pf1[], uprobe__rec_gadget_pf1_end[];
extern const uint8_t uprobe__rec_gadget_pf2[], uprobe__rec_gadget_pf2_end[];
/* Turns them into jumps over themselves, in code (a copy of the gadgets), where no prefetchw */
void arch_gadget_no_prefetch(uint8_t *code);
#define RING_FS_LOAD_LEN 9

/* How the gadget reads a record's fs_base, which names the thread. */
#define RING_FS_NONE 0     /* not at all: 0 */
#define RING_FS_RDFSBASE 1 /* rdfsbase (FSGSBASE) */
#define RING_FS_SELF 2     /* the word at %fs:0, the thread pointer itself under the x86-64 TLS ABI */

#endif
