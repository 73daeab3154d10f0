/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tracer's core objects: probes, sites, processes, threads, breakpoints,
 * scratch areas; and what layers 0 and 1 declare over them (err.c, procfs.c,
 * seccomp.c). Every layer shares it: the functions of layers 2 to 6 are in
 * their own headers (os.h, engine.h, mech.h, orch.h, api.h), each over the
 * one below, and a file of lib/ includes its own layer's.
 */
#ifndef UPROBE_CORE_H
#define UPROBE_CORE_H

#include <pthread.h>
#include <sys/ptrace.h>
#include <signal.h>
#include <sys/user.h>

#include "internal.h"

/*
 * A site is one probed instruction of one file, identified as in the kernel
 * by (device, inode, file offset): one registry entry however many times and
 * in however many processes the file is mapped. Its plan is computed once
 * from the file's bytes. Probes on the same instruction share the site and
 * run in registration order. Sites are found through the tracer's hash
 * (site_find(), site_iter()); (device, inode) are those of elf.
 */
struct site {
	uint64_t off;
	struct elf_file *elf;
	struct arch_plan plan;
	struct uprobe **probes; /* registration order: &one, or an array doubled at powers of 2 */
	uint16_t nprobes;
	uint16_t nret;          /* how many of them are return probes */
	uint16_t npost;         /* how many have a post handler: hits then run the post slot */
	uint16_t nasync;        /* how many are no-stop (uprobe_opts.nostop) */
	unsigned refs;          /* probes + slots that still name it */
	uint8_t detour_len;     /* detour_make.c: bytes a jump detour covers; 0 not analysed yet */
	/*
	 * kernel.c: a kernel uprobe was seen on or near it (its int3 or
	 * optimized call in a tracee, its page patched, or listed in tracefs):
	 * never a jump detour, and its int3s are watched for the kernel's restores.
	 */
	bool kernel;
	bool twice;             /* the entry of a function that may return twice (setjmp, vfork) */
	/* a function's first instruction, where [rsp] is the return address (override_return) */
	bool func_entry;
	struct site *hnext;     /* hash chain, for lookup */
	struct uprobe *one;     /* the probes array of a site with a single probe */
};

#define SITE_HASH 16384

struct uprobe_more {
	uprobe_handler_fn post_handler;
	uprobe_fault_fn fault_handler;
};

struct uprobe {
	struct uprobe_tracer *t;
	struct site *site;  /* NULL while pending (see struct pending_probe) */
	uprobe_handler_fn handler;
	uprobe_handler_fn ret_handler;
	struct uprobe_more *more; /* post and fault handlers; NULL for most probes */
	void *data;
	unsigned maxactive;
	uint16_t data_size; /* per-call data of a return probe, at most 4096 */
	bool internal;      /* libuprobe's own (unwinder, longjmp), never shown to the user */
	bool force;
	bool nostop;        /* uprobe_opts.nostop */
	bool no_time;       /* uprobe_opts.record has UPROBE_RECORD_NO_TIME */
	bool args_only;     /* uprobe_opts.record has UPROBE_RECORD_ARGS_ONLY */
	const struct usdt_site *usdt; /* usdt.c: the USDT site it is, owned by its uprobe_usdt */
	uint64_t hits;
	uint64_t missed;
};

/* A no-stop probe with no handler at all: its hits are only counted (ring.c). */
static inline bool uprobe_counts_only(const struct uprobe *u)
{
	return u->nostop && !u->handler && !u->ret_handler;
}

static inline uprobe_handler_fn uprobe_post_fn(const struct uprobe *u)
{
	return u->more ? u->more->post_handler : NULL;
}

static inline uprobe_fault_fn uprobe_fault_fn_of(const struct uprobe *u)
{
	return u->more ? u->more->fault_handler : NULL;
}

/*
 * Fixed-size object pools (pool.c): probes and sites cost their size, not
 * a malloc chunk each.
 */
struct pool {
	size_t size;
	void *free;
	struct pool_block *blocks;
	size_t used; /* bytes handed out from the newest block */
};
void pool_init(struct pool *pl, size_t size);
void *pool_alloc(struct pool *pl);
void pool_free(struct pool *pl, void *obj);
void pool_destroy(struct pool *pl);

/* A planted breakpoint in one address space. */
struct bp {
	uint64_t vaddr; /* 0: empty hash slot */
	struct site *site;
	uint64_t slot;  /* out-of-line code for this instruction; 0: it runs in place (inline.c) */
	/*
	 * Jump optimization (detour.c): its detour slot once built, kept for
	 * reuse (slots never change), as an offset from vaddr (its jmp rel32
	 * reaches it); 0 none. Read and set with bp_detour()/bp_set_detour().
	 */
	int32_t detour_rel;
	uint16_t dwait;   /* hits to let pass before the next attempt */
	uint8_t orig;     /* the byte the int3 replaced */
	bool internal : 1; /* the spawn-time entry breakpoint, not a probe */
	/*
	 * Its probes were removed and the int3 is gone, but the slot stays
	 * valid (a thread may still be in it): adding a probe there again
	 * reuses it instead of taking a new one.
	 */
	bool retired : 1;
	uint8_t dstate : 2; /* enum detour_state */
	uint8_t dtries : 3; /* costly attempts that failed */
};

/*
 * Hits a new breakpoint takes before it is first tried for a jump detour:
 * trying holds the whole process, worth it for a hot probe only (probing
 * every instruction of a program must not hold it once per instruction).
 */
#define DETOUR_FIRST_WAIT 32

static inline uint64_t bp_detour(const struct bp *b)
{
	return b->detour_rel ? b->vaddr + (int64_t)b->detour_rel : 0;
}

static inline void bp_set_detour(struct bp *b, uint64_t slot)
{
	b->detour_rel = (int32_t)(int64_t)(slot - b->vaddr);
}

/* Open-addressing hash of breakpoints keyed by vaddr: O(1) on the hit path. */
struct bp_table {
	struct bp *slots;
	size_t cap;  /* power of two */
	size_t used; /* live entries */
	size_t tomb; /* deleted markers */
};

#define BP_TOMB ((struct site *)-1)

/* What a slot of a scratch area holds, so a thread found inside it can be moved out. */
struct slot_info {
	uint64_t insn_addr;
	struct site *site; /* holds a reference: the plan outlives probe removal */
};

/*
 * A scratch ("xol") area: anonymous r-x memory mapped into the tracee within
 * ±2 GiB of the code it serves. Its first slot holds fixed gadgets; the
 * others hold one probed instruction's relocated code each. Slots are never
 * rewritten while the area lives, so every thread may run any slot at any
 * time without coordination.
 */
struct xol_area {
	uint64_t start, size;
	unsigned nslots, used;
	struct slot_info *info; /* grows with used */
	uint64_t *post_map;     /* a bit per slot: a post slot (arch_relocate_post); NULL if none */
	uint64_t *detour_map;   /* a bit per slot: a jump detour (detour.c); NULL if none */
	uint64_t *rec_map;      /* a bit per slot: a no-stop detour (calls the record gadget) */
	uint64_t *count_map;    /* a bit per slot: of those, a count-only one (the count gadget) */
	uint64_t *notime_map;   /* a bit per slot: of those, one that records no time (UPROBE_RECORD_NO_TIME) */
	uint64_t *args_map;     /* a bit per slot: of those, one that records the arguments only */
	uint64_t *nsret_map;    /* a bit per slot: of those, one that calls the entry gadget (ring.h) */
	/*
	 * Per slot, a count-only detour's counter as last added to its probes
	 * (ring.c); made at the first count, apart from info: most areas have
	 * none, and info's size is every probe's memory.
	 */
	uint64_t *count_seen;
	unsigned ord;           /* the how-manieth area of its process: its counter block (ring.h) */
	bool has_rec;           /* the record gadget is written at the area's end (ring.c) */
	unsigned info_cap;
	struct xol_area *next;
};

static inline bool xol_is_post(const struct xol_area *a, unsigned idx)
{
	return a->post_map && (a->post_map[idx / 64] >> (idx % 64) & 1);
}

static inline bool xol_is_detour(const struct xol_area *a, unsigned idx)
{
	return a->detour_map && (a->detour_map[idx / 64] >> (idx % 64) & 1);
}

static inline bool xol_is_rec(const struct xol_area *a, unsigned idx)
{
	return a->rec_map && (a->rec_map[idx / 64] >> (idx % 64) & 1);
}

static inline bool xol_is_nsret(const struct xol_area *a, unsigned idx)
{
	return a->nsret_map && (a->nsret_map[idx / 64] >> (idx % 64) & 1);
}

static inline bool xol_is_count(const struct xol_area *a, unsigned idx)
{
	return a->count_map && (a->count_map[idx / 64] >> (idx % 64) & 1);
}

static inline bool xol_is_notime(const struct xol_area *a, unsigned idx)
{
	return a->notime_map && (a->notime_map[idx / 64] >> (idx % 64) & 1);
}

static inline bool xol_is_args(const struct xol_area *a, unsigned idx)
{
	return a->args_map && (a->args_map[idx / 64] >> (idx % 64) & 1);
}

/* Where a detour's int3 is: after the record prefix in a no-stop detour. */
static inline uint64_t xol_detour_int3(const struct xol_area *a, unsigned idx)
{
	return a->start + (uint64_t)idx * ARCH_SLOT_SIZE + (xol_is_rec(a, idx) ? ARCH_DETOUR_REC_INT3 : 0);
}

/* Offsets of the gadgets in the first slot of every area. */
#define XOL_GADGET_SYSCALL 0 /* syscall; int3: injected system calls */
#define XOL_GADGET_TRAP 3    /* int3: return address of injected calls */
#define XOL_GADGET_RET 4     /* int3: the return-probe trampoline */
#define XOL_GADGET_NAME 16   /* 16 bytes: the name of the hit ring's memfd (ring.c) */
#define XOL_GADGET_RUNOUT 32 /* 16 bytes: a rep string instruction finished out of its slot (xol.c) */
/* The end of an area, kept out of its slots, holds the record gadget of no-stop detours. */
#define XOL_REC_GADGET_SPACE 2048

/*
 * A pending call of a return-probed function: its return address was
 * replaced by the trampoline. Found again by the stack slot that held it,
 * never by order, so coroutines switching stacks keep every call.
 */
struct ret_ref {
	struct uprobe *u; /* NULL once the probe is removed */
	size_t data_off;  /* its per-call data, from ret_instance.data */
};

struct ret_instance {
	struct ret_instance *next; /* the thread's list, newest first */
	struct uprobe_tracer *t;   /* whose pool it goes back to (ri_free()) */
	uint64_t slot;             /* stack address of the return address */
	uint64_t real_ret;
	size_t size;               /* of this block, refs and data included */
	uint64_t func;             /* the probed function's address */
	uint64_t call_id;
	uint64_t entry_ns;
	uint64_t args[6];
	bool armed;                /* the slot holds the trampoline (not while an unwinder runs) */
	bool chained;              /* a tail call reusing the slot of the instance below */
	/*
	 * A call of a function that may return twice (setjmp, getcontext,
	 * vfork): its return address is left alone, since the function saves
	 * it to return through again; a probe of ours on the return address
	 * reports each return (watch_on_twice_return()). Never armed; it lives
	 * until its caller's frame is found gone.
	 */
	bool twice;
	bool returned;             /* a twice call returned at least once: not missed when dropped */
	/*
	 * A no-stop call (ring_nsret.c): its slot holds the return gadget, its real
	 * return address is in the ring's table too, and its return comes as
	 * a record. Unwinders and fork children turn it into a stopping one.
	 */
	bool nostop;
	unsigned nrefs;
	struct ret_ref *refs;      /* points into this block */
	uint8_t *data;             /* idem */
};
#define XOL_AREA_SIZE (1u << 20)

/*
 * Per-thread state. Transitions:
 *   NEW      -> STOPPED  its first stop arrived (auto-attached clone, seize)
 *   RUNNING  -> (stop reported) handled, then RUNNING again, or STOPPED when
 *               the tracer wants it held (want_stop), or STEPPING
 *   STEPPING -> RUNNING  the single-step over a slot copy finished and was fixed up
 *   STOPPED  -> RUNNING  task_resume()
 *   RUNNING  -> LISTEN   group-stop (job control): PTRACE_LISTEN, no resume
 *   any      -> gone     exit reported
 * Signals that arrive while STEPPING are kept in pending[] and delivered
 * once the step is done, so they never see the thread inside a slot copy.
 */
enum task_state {
	TASK_NEW,
	TASK_RUNNING,
	TASK_STOPPED,
	TASK_STEPPING,
	TASK_LISTEN,
};

struct proc;

struct task {
	pid_t tid;
	struct proc *proc;
	uint64_t born;     /* creation order: of threads sharing an fs_base, the newest is alive */
	enum task_state state;
	bool want_stop;    /* hold it at its next stop (interrupt requested) */
	bool interrupted;  /* PTRACE_INTERRUPT sent, its EVENT_STOP not yet seen */
	bool regs_valid;
	bool release;      /* held only for a moment: resume it when done */
	/*
	 * kregs are the registers the kernel holds for it, as last read or
	 * written in this stop (kregs_valid; cleared whenever a stop is
	 * reported): task_setregs() then writes only the words that differ.
	 */
	bool kregs_valid;
	/*
	 * The rip this stop left k at (the tracer's view), when the kernel
	 * holds another for the lifeline (wait.c: back on the int3, or on
	 * the instruction's slot); 0 otherwise. task_getregs() reports it,
	 * and the next register write or resume puts it back.
	 */
	uint64_t lrip;
	struct user_regs_struct regs;
	struct user_regs_struct kregs;
	struct bp step_bp; /* copy of the breakpoint being stepped over */
	bool group_stop;   /* held while in a group-stop: resume with PTRACE_LISTEN */
	int stop_sig;      /* signal of the current signal-delivery-stop, 0 for other stops */
	/*
	 * The ptrace event of the stop k is held in when it is a clone's or a
	 * fork's (lifecycle.c), inside the system call; 0 otherwise (any new stop
	 * clears it).
	 */
	unsigned char held_event;
	siginfo_t pending[4]; /* signals to deliver when resumed, oldest first */
	unsigned npending;
	struct ret_instance *rets; /* pending return-probed calls, newest first */
	unsigned nrets;
	uint64_t unwind_sp;        /* rsp at entry to an unwinder; 0 when none runs */
	/*
	 * A probed syscall run in place (inline.c) whose post handlers wait
	 * for its syscall-exit stop: resumed with PTRACE_SYSCALL meanwhile.
	 */
	struct site *post_sys;
	uint64_t post_sys_addr;
	bool at_sys_entry;         /* held at a syscall-entry stop by stepout_signal() */
	uint64_t detour_sig;       /* detour_hit.c: the registers it left a detour's int3 with */
	unsigned ring_retries;     /* detour_hit.c: full-ring hits sent to record again in a row */
	uint64_t stop_ns;          /* when its latest stop was seen (CLOCK_MONOTONIC) */
	/* sigtrap.c: its signal mask at its last trap of ours (ll_mask_valid), and
	 * whether our traps unblocked a SIGTRAP it blocks (blocked again at detach) */
	uint64_t ll_mask;
	bool ll_mask_valid;
	bool trap_reblock;
	unsigned ll_resets; /* p->trap_resets at its last trap */
	/*
	 * sigmask.c: its signal mask as the program set it (mask_known),
	 * followed through libc's rt_sigprocmask calls, which sigtrap.c makes
	 * itself: the kernel's keeps SIGTRAP unblocked, so that no trap of
	 * ours resets anything, unless trap_hold (the program blocks SIGTRAP
	 * and one of its own is pending in k, which needs it blocked).
	 */
	uint64_t prog_mask;
	bool mask_known;
	bool trap_hold;
	bool sig_entry; /* resumed stepping into a signal's handler (sigmask.c) */
	bool sig_entry_tf; /* ... with TF set by the program itself */
	int sig_entry_sig; /* ... delivering this signal */
	int comm_fd1;              /* uprobe_hit_comm(): its /proc comm file, open, plus 1; 0 none */
	struct task *hnext;
	struct task *pnext;        /* its process's threads (proc.threads) */
};

/* The kernel's struct sigaction for rt_sigaction on x86-64. */
struct k_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct exit_rec {
	pid_t pid;
	int status;
};

struct proc {
	pid_t pid;
	int memfd;
	struct uprobe_tracer *t;
	struct proc *next;
	struct proc *mm_owner; /* vfork child: the process whose memory it shares */
	struct bp_table bps;
	/*
	 * Post slots (their .slot) by vaddr, for instructions with post
	 * handlers: rare, so kept out of bps, whose entries stay small.
	 */
	struct bp_table post_bps;
	bool had_detour;       /* a jump detour was ever made here (until exec): covering() looks */
	struct xol_area *areas;
	uint64_t gadget;       /* address of the syscall gadget, 0 before the first area */
	bool inline_mode;      /* no scratch area, ever: probed instructions run in place (inline.c) */
	uint64_t trap;         /* inline mode: our int3 on the entry point (trampoline), 0 if none */
	uint8_t trap_orig;
	struct site **inline_sites; /* sites of breakpoints without a slot: one reference each */
	unsigned ninline_sites, inline_sites_cap;
	pid_t vforker;         /* vfork child: its parent's thread, blocked until it execs or exits */
	/*
	 * A child on its parent's memory that is not followed: resumed with
	 * PTRACE_SYSCALL, and let go at its execve's syscall-entry stop,
	 * before the kernel computes the new image's credentials (a traced
	 * exec of a setuid program loses them).
	 */
	bool leave_at_exec;
	struct map_entry *maps;
	int nmaps;
	uint64_t maps_gen;     /* changes with every read of maps (tracer-wide unique) */
	uint64_t maps_ns;      /* when they were read (mono_ns) */
	uint64_t *maps_checked; /* sym.c: per entry, when it was last seen still there */
	uint64_t maps_checked_gen; /* the maps_gen maps_checked describes */
	unsigned ntasks;
	struct task *threads;  /* its ntasks threads, newest first (task.pnext) */
	bool spawned;
	bool at_entry;         /* reached the spawn-time entry breakpoint */
	/*
	 * Spawning: the entry breakpoint holds the thread for
	 * uprobe_tracer_spawn() to return, instead of planting the probes and
	 * going on. Every other stop before it is handled as in run().
	 */
	bool spawn_hold;
	bool fork_child;       /* fork child being cleaned before detach */
	uint64_t entry;        /* AT_ENTRY */
	/* the start-up breakpoint is on ld.so's _dl_debug_state(): where _r_debug.r_state is */
	uint64_t dl_state_addr;
	/* the same address, kept after start-up: dlopen's states (0: unknown) */
	uint64_t r_state_addr;
	uint64_t hwcap;        /* AT_HWCAP, for IFUNC resolvers */
	bool xol_denied;       /* no scratch area may be mapped: its seccomp filter forbids or hides it */
	struct mem_batch *batch; /* writes deferred while every thread is held (mem.c) */
	unsigned areas_made;   /* scratch areas mapped so far (xol_area.ord) */
	struct ring *ring;     /* the hit ring of no-stop probes (ring.c), NULL before the first */
	bool ring_failed;      /* no ring can be made: no-stop probes stop */
	/*
	 * A followed fork child: the address of the ring mapping it inherited
	 * (shared with its parent), which its own ring replaces; 0 none.
	 */
	uint64_t stale_ring;
	struct lifeline *lifeline; /* lifeline.c: what the program needs to outlive us; NULL none */
	/*
	 * sigtrap.c: SIGTRAP's disposition as the program set it, which a
	 * trap of ours resets to the default where SIGTRAP is blocked or
	 * ignored (the kernel's forced signal): what is put back then. Known
	 * once trap_learned (its handler; flags, mask and restorer too once
	 * trap_want_full). trap_check: a reset was seen, every trap is checked.
	 */
	struct k_sigaction trap_want;
	bool trap_learned, trap_want_full, trap_check;
	unsigned trap_resets;    /* resets seen so far */
	uint64_t trap_reset_mask; /* the mask of the thread whose trap showed the last */
	int trap_fd1; /* its /proc/PID/status kept open for those checks, plus 1; 0 none */
	/*
	 * sigmask.c: SIGW_* of what its libc does to signal masks is watched:
	 * every rt_sigprocmask call, the return from a signal handler.
	 */
	unsigned char sig_watch;
	/*
	 * sigmask.c: the signals whose handler's sa_mask holds SIGTRAP as the
	 * program set it, and not in the kernel's (a handler entered after our
	 * death must not run with SIGTRAP blocked); sa_strip: followed so,
	 * since p's lifeline and libc's rt_sigaction watch both stand.
	 */
	uint64_t sa_trap;
	bool sa_strip;
	/*
	 * Its fork, exec and exit are the tool's events (events.c): a spawned
	 * or attached process, or a followed child; not a child being let go.
	 */
	bool events;
	bool exited;           /* its leader's exit was seen: exit_status is the process's */
	int exit_status;
};

/*
 * The thread layer's (task.c, wait.c, hold.c) only way up into the
 * engine, as the kernel's uprobe_free_utask() and mm hooks are for
 * its uprobes: one table, installed by uprobe_tracer_new() (hooks.c).
 * Every entry is set; each is called at one moment, written beside it.
 */
struct tracer_hooks {
	/* k reported status (waitpid()'s): handle the stop or exit. k may be freed after. */
	void (*stop)(struct uprobe_tracer *t, struct task *k, int status);
	/*
	 * At run()'s own wait, before stop() gets k's stop: what k's process
	 * recorded meanwhile comes first. False: k went away in between.
	 */
	bool (*before_stop)(struct uprobe_tracer *t, struct task *k);
	/* k is gone, unlinked but its proc still counting it: drop what is kept for it. */
	void (*task_gone)(struct uprobe_tracer *t, struct task *k);
	/* p goes, its threads still known: what it recorded is delivered. */
	void (*proc_going)(struct uprobe_tracer *t, struct proc *p);
	/* p goes, its threads freed: forget its scratch areas and breakpoints. */
	void (*proc_gone)(struct uprobe_tracer *t, struct proc *p);
	/* Is the int3 at addr in k's memory one of ours (a probe's, the trampoline, a detour's)? */
	bool (*owns_trap)(struct task *k, uint64_t addr);
	/*
	 * k is on a SIGTRAP stop not yet taken (wait.c, move_for_lifeline()):
	 * has its memory a lifeline, and where must k be put, stopped after
	 * the int3 at addr, should the tracer die before resuming it (its
	 * slot, addr itself; 0: not one of ours, leave it)?
	 */
	bool (*has_lifeline)(struct task *k);
	uint64_t (*lifeline_pc)(struct task *k, uint64_t addr);
	/*
	 * k is resumed delivering signal sig: true to step it into sig's
	 * handler (it stops at the handler's first instruction, before it
	 * runs), to see the mask the handler runs with.
	 */
	bool (*deliver_step)(struct task *k, int sig);
	/*
	 * Code the tracer injects is about to run in k (inject.c), p its
	 * memory's owner: were the tracer to die meanwhile, k must resume
	 * with back (the lifeline sees to it); then the injection is over.
	 */
	void (*inject_begin)(struct proc *p, struct task *k, const struct user_regs_struct *back);
	void (*inject_end)(struct proc *p);
};

/* hooks.c: the table uprobe_tracer_new() installs */
extern const struct tracer_hooks tracer_hooks;

#define TASK_HASH 256

/* The ptrace options of every tracee (spawned ones add PTRACE_O_EXITKILL). */
#define SEIZE_OPTS                                                                            \
	(PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC)

/* uprobe_tracer_set_cpu() (place.c) */
struct tracer_place {
	bool set;            /* want was given */
	bool saved_valid;    /* saved holds the run thread's own affinity */
	int want;            /* a CPU, UPROBE_CPU_ANY or UPROBE_CPU_FOLLOW */
	int cur;             /* the CPU we pinned the run thread to, -2 for cur_mask, -1 none */
	uint64_t next_check; /* following: when to look at the tracee's affinity again */
	cpu_set_t saved;
	cpu_set_t cur_mask;
};

struct uprobe_tracer {
	const struct tracer_hooks *hooks; /* the thread layer's way up (hooks.c) */
	/* libuprobe's own handlers that a lower layer must tell apart (registry_handler_kind()) */
	struct {
		uprobe_handler_fn fn;
		int kind;
	} hkinds[4];
	unsigned nhkinds;
	struct proc *procs;
	struct task *tasks[TASK_HASH];
	uint64_t task_seq;       /* tasks made so far: task.born */
	struct site **site_hash; /* SITE_HASH buckets by (dev, ino, off) */
	struct pending_probe *pending, *pending_tail; /* probes waiting for their library */
	struct pool probe_pool, site_pool;
	/*
	 * Freed return-probe instances by size class (64-byte steps), so that
	 * an entry and its return allocate nothing once warmed up.
	 */
	struct ret_instance *ri_free[16];
	size_t ri_cached; /* bytes held in ri_free */
	struct exit_rec *exits;
	unsigned nexits, exits_cap;
	pid_t *early;      /* stops of tids not known yet (child reported before its parent's event) */
	int *early_status;
	unsigned nearly, early_cap;
	/*
	 * Events taken outside task_wait_one() and not handled where they were
	 * taken (an exit reaped by a private run-and-wait, siblings' events
	 * taken while waiting for a leader): handled by it before it waits.
	 */
	struct tid_status {
		pid_t tid;
		int status;
	} *deferred;
	unsigned ndeferred, deferred_cap;
	struct guardian *guard; /* guardian.c; NULL until the first lifeline */
	volatile sig_atomic_t stop_req;
	volatile pid_t run_tid;  /* thread inside run(), for stop() from a signal handler */
	volatile pid_t wake_tid; /* a tracee thread to interrupt to wake a blocked wait */
	char errmsg[512];
	uint64_t next_call_id;
	bool force_inline;     /* processes spawned or attached from now on get no scratch area */
	bool follow_forks;     /* fork children stay traced, with every probe */
	bool no_detour;        /* uprobe_tracer_set_optimize(t, false) */
	bool kwatch;           /* kernel.c: something to watch for kernel uprobes' writes */
	uint64_t kwatch_last;  /* when kernel_watch() last looked (mono_ns) */
	/*
	 * Waking run() from other threads: a child of the run thread blocked
	 * reading wake_pipe exits when a byte arrives, and its exit ends the
	 * run thread's wait (ptrace itself can only be used by that thread).
	 */
	int wake_pipe[2];
	pid_t waker;
	pid_t owner_tid;       /* the thread that spawned or attached: the tracer thread */
	pthread_mutex_t qlock;
	pthread_cond_t qdone;
	struct call_req *calls; /* uprobe_tracer_call() requests for the run thread */
	unsigned nretprobes;   /* user return probes: the unwinder watch is needed while > 0 */
	struct watched_file *watched; /* files already searched for the symbols watch.c probes */
	void *unw_as;          /* libunwind address space, made on first backtrace */
	/*
	 * What unw_as (its per-IP cache of unwind rules) and unw_upt (the
	 * ELF image libunwind-ptrace has open) describe: the maps generation
	 * of one process (proc.maps_gen); 0 none.
	 */
	void *unw_upt;
	uint64_t unw_gen;
	uint64_t maps_seq;     /* maps generations handed out */
	struct bound_cache {   /* instruction starts of recently probed functions */
		const struct elf_file *f;
		uint64_t sym_off, size;
		uint64_t decoded;  /* bytes decodable from the start */
		uint8_t *starts;   /* one bit per byte: an instruction starts there */
	} bcache[4];
	unsigned bcache_next;
	struct tracer_place place;
	/* sym.c: the vDSO image (the same in every process of this kernel), for symbolization */
	struct elf_file *vdso;
	bool vdso_failed;
	unsigned nrings;       /* processes with a hit ring: the waker ticks while > 0 */
	/* shared with the waker: how often it wakes run() to drain rings (ms; 0 never) */
	volatile int *waker_tick;
	bool tick_due;         /* the waker ticked */
	/* ring_drain.c: records delivered so far, and until when run() polls the rings (ring_poll()) */
	uint64_t ring_delivered, ring_seen;
	/* ring_deliver.c: hits being delivered whose records' rest is still in the ring */
	struct uprobe_hit *ring_pending;
	uint64_t ring_poll_until;
	bool ring_poll_spare;  /* the run thread may use more than one CPU: polling drains beside the threads */
	bool run_wait;         /* run() itself waits: a stop may drain its process's ring first */
	/* events.c: the tool's process events, queued as seen and delivered by run() */
	uprobe_event_fn event_fn;
	void *event_data;
	struct event_rec *events, *events_tail;
	bool in_events;        /* events_deliver() runs: a callback cannot nest another */
	unsigned ncomm_fds;    /* tasks with comm_fd1 open (hit.c) */
	struct uprobe_usdt *usdts; /* usdt.c: USDT probes, for their semaphores */
};

struct uprobe_hit {
	struct uprobe_tracer *t;
	struct task *task;         /* NULL in a hit from the ring (is_async) */
	struct uprobe *probe;
	uint64_t addr;
	struct ret_instance *inst; /* the call, for return probes */
	bool is_return;
	bool is_post;
	bool is_async;             /* from the hit ring: proc, tid and regs say whose */
	bool is_fault;             /* in a fault handler */
	bool override;             /* uprobe_hit_override_return() was called: return at once */
	uint64_t override_value;
	uint64_t time_ns;          /* when it happened (CLOCK_MONOTONIC); 0: now */
	struct proc *proc;
	pid_t tid;
	struct user_regs_struct *regs;
	/*
	 * A no-stop hit whose registers are still in its record in the ring
	 * (ring_deliver.c): regs points to where ring_hit_rest() puts them
	 * on first use. NULL: regs is whole.
	 */
	const struct ring_rec *rest;
	uint64_t rest_gs;          /* the thread's gs_base, which records do not hold */
	bool rest_args;            /* an arguments-only record: rbx, rbp, r10-r15 are 0 */
	struct uprobe_hit *rest_next; /* the tracer's other hits with rest pending (nested) */
	int8_t comm_state;         /* uprobe_hit_comm(): 0 not read yet, 1 in comm, -1 unreadable */
	char comm[16];
};

struct call_req {
	int (*fn)(struct uprobe_tracer *t, void *arg);
	void *arg;
	int ret;
	bool done;
	struct call_req *next;
};

/* err.c: set the message, log it at debug level, set errno; returns -err */
__attribute__((format(printf, 3, 4))) int tracer_err(struct uprobe_tracer *t, int err,
						      const char *fmt, ...);

/* procfs.c: signal sets as /proc/PID/status shows them (SigCgt, SigIgn, SigPnd: a bit a signal) */
#define SIG_BIT(sig) (1ull << ((sig) - 1))
#define SIGTRAP_BIT SIG_BIT(SIGTRAP)
bool procfs_hex_field(const char *text, const char *key, uint64_t *v);
int procfs_status_masks(struct proc *p, uint64_t *cgt, uint64_t *ign);
/* SIGTRAP's disposition, as procfs_sigtrap_status() reads it */
enum { TRAP_DFL, TRAP_IGN, TRAP_CAUGHT };
int procfs_sigtrap_status(struct proc *p, int *state);
bool procfs_sigtrap_pending_in(const struct task *k);
/* procfs.c: field `key` ("State:") of thread k's own /proc/PID/task/TID/status, or NULL */
const char *procfs_task_status_field(struct task *k, const char *key, char *buf, size_t len);
/* procfs.c: p->entry and p->hwcap from /proc/PID/auxv, *base its AT_BASE (0 none); 0 or -errno */
int procfs_read_auxv(struct proc *p, uint64_t *base);

/* seccomp.c */
struct sock_fprog;
struct seccomp_data;

/* A thread's seccomp mode and filters, as read while it is ptrace-stopped. */
struct seccomp_state {
	int mode;                 /* SECCOMP_MODE_DISABLED, _STRICT or _FILTER */
	int err;                  /* 0, or why they are unknown: every decision is then err */
	struct sock_fprog *progs; /* oldest first (PTRACE_SECCOMP_GET_FILTER's order) */
	unsigned nprogs;
};

/* Runs one filter: 0 and its return value, or -EINVAL if the kernel would not have accepted it. */
int seccomp_eval(const struct sock_fprog *prog, const struct seccomp_data *sd, uint32_t *ret);
/*
 * Runs every filter (progs oldest first) and keeps the action that takes
 * precedence, as the kernel does. 0 and *ret; -EINVAL if a filter is
 * malformed and none of the others surely denies.
 */
int seccomp_run_filters(const struct sock_fprog *progs, unsigned n, const struct seccomp_data *sd,
			uint32_t *ret);
const char *seccomp_action_name(uint32_t ret);
/*
 * Would st let the x86-64 system call nr(args) made from the instruction
 * before ip run? 1 yes, 0 no (*action says why), -errno unknown.
 */
int seccomp_decide(const struct seccomp_state *st, long nr, const uint64_t args[6], uint64_t ip,
		   uint32_t *action);
/* Reads the state of ptrace-stopped thread tid: 0, or -errno (kept in st->err too). */
int seccomp_read(pid_t tid, struct seccomp_state *st);
void seccomp_state_free(struct seccomp_state *st);
/* seccomp_read() and seccomp_decide() in one: 1 certainly allowed, 0 not, -errno unknown. */
int seccomp_syscall_allowed(pid_t tid, long nr, const uint64_t args[6], uint64_t ip);

#endif /* UPROBE_CORE_H */
