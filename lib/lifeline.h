/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lifeline (lifeline.c, arch/x86/lifeline.c): what a tracee needs to
 * outlive its tracer. Layout shared with the handler's code: keep the
 * offsets below in step with it.
 *
 * In the tracee's first scratch area, LL_SPACE bytes before the record
 * gadget's space: the handler's code and data (uprobe__lifeline ..
 * uprobe__lifeline_end, at most LL_CODE_SPACE bytes), then the table of
 * our int3s in the program's code, LL_ENT_SIZE bytes an entry.
 */
#ifndef UPROBE_LIFELINE_H
#define UPROBE_LIFELINE_H

#define LL_SPACE (128 * 1024)
#define LL_CODE_SPACE 2048
#define LL_ENT_SIZE 24
#define LL_ENT_VAL 8   /* uint64_t: LL_RET: the real return address; the key is at 0 */
#define LL_ENT_ORIG 16 /* uint8_t: the byte to write over the int3 */
#define LL_ENT_KIND 17 /* uint8_t: LL_* below */
/*
 * uint8_t: LL_CODE: how many bytes after the int3 (held in val) go back
 * first: a jump detour's head, whose displacement may be written while the
 * int3 still stands (made, or taken back), for a tracer dying in between.
 */
#define LL_ENT_TAIL 18
#define LL_CODE 1      /* key: our int3 in the program's code, over the file's byte */
#define LL_DETOUR 2    /* key: a jump detour's int3 in a scratch area: becomes a nop */
#define LL_RET 3       /* key: a stack slot holding the trampoline for val */
/*
 * key: our int3 at the entry of an unwinder (_Unwind_RaiseException ...),
 * over the file's byte orig; kept by the guardian for the handler, which
 * first gives every stack slot holding the trampoline its real return
 * address back, so that an exception thrown after the tracer's death
 * unwinds through return-probed frames.
 */
#define LL_UNWIND 4
/*
 * key: our int3 on an rt_sigprocmask system call of libc's (LL_MASK) or on
 * its signal return's first instruction (LL_SIGRET), over the file's byte
 * orig; the handler makes the call itself, on the mask the kernel puts
 * back at its return, SIGTRAP left unblocked (at a signal return: the
 * frame's mask loses SIGTRAP, then %rax gets the call's number), so that
 * no thread blocks SIGTRAP while another int3 of ours may meet it. The
 * guardian puts LL_MASK bytes back last, LL_SIGRET ones first (a handler
 * whose mask blocks SIGTRAP returns through it: no handler catches that).
 */
#define LL_MASK 5
#define LL_SIGRET 6
#define LL_CAP ((LL_SPACE - LL_CODE_SPACE) / LL_ENT_SIZE)
#define LL_MAX_AREAS 16
#define LL_NGREGS 18 /* r8 .. eflags of ucontext's gregs */

#ifndef __ASSEMBLER__
#include <stdint.h>

struct ll_ent {
	uint64_t addr;
	uint64_t val;
	uint8_t orig;
	uint8_t kind;
	uint8_t tail;
	uint8_t pad[5];
};

_Static_assert(sizeof(struct ll_ent) == LL_ENT_SIZE, "lifeline entry layout");
_Static_assert(__builtin_offsetof(struct ll_ent, val) == LL_ENT_VAL, "lifeline entry layout");
_Static_assert(__builtin_offsetof(struct ll_ent, orig) == LL_ENT_ORIG, "lifeline entry layout");
_Static_assert(__builtin_offsetof(struct ll_ent, kind) == LL_ENT_KIND, "lifeline entry layout");
_Static_assert(__builtin_offsetof(struct ll_ent, tail) == LL_ENT_TAIL, "lifeline entry layout");

/* uprobe__lifeline_data: the words the tracer writes */
struct ll_data {
	uint64_t tab;    /* address of the table */
	uint64_t count;  /* entries in use */
	uint64_t tramp;  /* the return-probe trampoline */
	/*
	 * A thread running code the tracer injected (a system call, an IFUNC
	 * resolver), which ends on the gadget's int3s: its tid, 0 for none,
	 * and the registers it goes back to (ucontext's gregs[0..17] order).
	 */
	uint64_t inj_tid;
	uint64_t inj_gregs[LL_NGREGS];
	uint64_t nareas; /* scratch areas listed below */
	uint64_t areas[LL_MAX_AREAS][2]; /* [start, end) */
	/*
	 * The program ignores SIGTRAP (ours stands for SIG_IGN, which the
	 * tracer never sets itself: setting it discards the SIGTRAPs pending
	 * in every thread, our traps' in flight included): a SIGTRAP sent to
	 * it is ignored; one a fault raised still gets the default action.
	 */
	uint64_t ign;
	/*
	 * The program's own SIGTRAP handler, where it has one (0: none): ours
	 * is the disposition all the same, with the program's flags and mask,
	 * and passes it every SIGTRAP not ours, with the same arguments and
	 * frame, so that a trap of ours after the tracer's death never reaches it.
	 */
	uint64_t prog;
};

extern const uint8_t uprobe__lifeline[], uprobe__lifeline_restorer[], uprobe__lifeline_data[],
	uprobe__lifeline_end[];
#endif

#endif /* UPROBE_LIFELINE_H */
