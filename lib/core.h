/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tracer's core objects: probes, sites, processes, threads, breakpoints, scratch areas. */
#ifndef UPROBE_CORE_H
#define UPROBE_CORE_H

#include <pthread.h>
#include <signal.h>
#include <sys/user.h>

#include "internal.h"

/*
 * A site is one probed instruction of one file, identified as in the kernel
 * by (device, inode, file offset): one registry entry however many times and
 * in however many processes the file is mapped. Its plan is computed once
 * from the file's bytes. Probes on the same instruction share the site and
 * run in registration order.
 */
struct site {
	dev_t dev;
	ino_t ino;
	uint64_t off;
	struct elf_file *elf;
	struct arch_plan plan;
	struct uprobe **probes; /* registration order */
	unsigned nprobes, cap;
	unsigned nret;          /* how many of them are return probes */
	unsigned refs;          /* probes + slots that still name it */
	uint8_t detour_len;     /* detour.c: bytes a jump detour covers; 0 not analysed yet */
	struct site *next, *prev; /* the registry, for iteration */
	struct site *hnext;     /* hash chain, for lookup */
};

#define SITE_HASH 16384

struct uprobe {
	struct uprobe_tracer *t;
	struct site *site;
	uprobe_handler_fn handler;
	uprobe_handler_fn ret_handler;
	void *data;
	size_t data_size;   /* per-call data of a return probe */
	unsigned maxactive;
	bool internal;      /* libuprobe's own (unwinder, longjmp), never shown to the user */
	bool force;
	/* a pending probe (site NULL): what to place once a tracee maps the library */
	char *want_binary, *want_symbol;
	uint64_t want_offset;
	uint64_t hits;
	uint64_t missed;
	struct uprobe *next, *prev; /* tracer's list, registration order */
};

/* A planted breakpoint in one address space. */
struct bp {
	uint64_t vaddr; /* 0: empty hash slot */
	struct site *site;
	uint64_t slot;  /* out-of-line code for this instruction */
	uint8_t orig;   /* the byte the int3 replaced */
	bool internal;  /* the spawn-time entry breakpoint, not a probe */
	/*
	 * Its probes were removed and the int3 is gone, but the slot stays
	 * valid (a thread may still be in it): adding a probe there again
	 * reuses it instead of taking a new one.
	 */
	bool retired;
	/* jump optimization (detour.c) */
	uint64_t detour; /* its detour slot once built, kept for reuse (slots never change) */
	uint8_t dstate;  /* enum detour_state */
	uint8_t dtries;  /* costly attempts that failed */
	uint16_t dwait;  /* hits to let pass before the next attempt */
};

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
	bool detour;       /* a jump detour (detour.c), not one instruction's slot */
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
	unsigned info_cap;
	struct xol_area *next;
};

/* Offsets of the gadgets in the first slot of every area. */
#define XOL_GADGET_SYSCALL 0 /* syscall; int3: injected system calls */
#define XOL_GADGET_TRAP 3    /* int3: return address of injected calls */
#define XOL_GADGET_RET 4     /* int3: the return-probe trampoline */

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
	uint64_t slot;             /* stack address of the return address */
	uint64_t real_ret;
	size_t size;               /* of this block, refs and data included */
	uint64_t func;             /* the probed function's address */
	uint64_t call_id;
	uint64_t entry_ns;
	uint64_t args[6];
	bool armed;                /* the slot holds the trampoline (not while an unwinder runs) */
	bool chained;              /* a tail call reusing the slot of the instance below */
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
	enum task_state state;
	bool want_stop;    /* hold it at its next stop (interrupt requested) */
	bool interrupted;  /* PTRACE_INTERRUPT sent, its EVENT_STOP not yet seen */
	bool regs_valid;
	bool release;      /* held only for a moment: resume it when done */
	struct user_regs_struct regs;
	struct bp step_bp; /* copy of the breakpoint being stepped over */
	bool group_stop;   /* held while in a group-stop: resume with PTRACE_LISTEN */
	int stop_sig;      /* signal of the current signal-delivery-stop, 0 for other stops */
	siginfo_t pending[4]; /* signals to deliver when resumed, oldest first */
	unsigned npending;
	struct ret_instance *rets; /* pending return-probed calls, newest first */
	unsigned nrets;
	uint64_t unwind_sp;        /* rsp at entry to an unwinder; 0 when none runs */
	uint64_t detour_sig;       /* detour.c: the registers it left a detour's int3 with */
	struct task *hnext;
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
	struct xol_area *areas;
	uint64_t gadget;       /* address of the syscall gadget, 0 before the first area */
	struct map_entry *maps;
	int nmaps;
	unsigned ntasks;
	bool spawned;
	bool at_entry;         /* reached the spawn-time entry breakpoint */
	bool fork_child;       /* fork child being cleaned before detach */
	uint64_t entry;        /* AT_ENTRY */
	uint64_t hwcap;        /* AT_HWCAP, for IFUNC resolvers */
};

#define TASK_HASH 256

struct uprobe_tracer {
	struct proc *procs;
	struct task *tasks[TASK_HASH];
	struct site *sites;
	struct site **site_hash; /* SITE_HASH buckets by (dev, ino, off) */
	struct uprobe *probes, *probes_tail;
	struct exit_rec *exits;
	unsigned nexits, exits_cap;
	pid_t *early;      /* stops of tids not known yet (child reported before its parent's event) */
	int *early_status;
	unsigned nearly, early_cap;
	volatile sig_atomic_t stop_req;
	volatile pid_t run_tid;  /* thread inside run(), for stop() from a signal handler */
	volatile pid_t wake_tid; /* a tracee thread to interrupt to wake a blocked wait */
	char errmsg[512];
	uint64_t next_call_id;
	bool follow_forks;     /* fork children stay traced, with every probe */
	bool no_detour;        /* uprobe_tracer_set_optimize(t, false) */
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
	struct bound_cache {   /* instruction starts of recently probed functions */
		const struct elf_file *f;
		uint64_t sym_off, size;
		uint64_t decoded;  /* bytes decodable from the start */
		uint8_t *starts;   /* one bit per byte: an instruction starts there */
	} bcache[4];
	unsigned bcache_next;
};

struct uprobe_hit {
	struct uprobe_tracer *t;
	struct task *task;
	struct uprobe *probe;
	uint64_t addr;
	struct ret_instance *inst; /* the call, for return probes */
	bool is_return;
};

struct call_req {
	int (*fn)(struct uprobe_tracer *t, void *arg);
	void *arg;
	int ret;
	bool done;
	struct call_req *next;
};

/* errors: set the message, log it at debug level, set errno; returns -err */
__attribute__((format(printf, 3, 4))) int tracer_err(struct uprobe_tracer *t, int err,
						      const char *fmt, ...);

/* task.c */
struct task *task_find(struct uprobe_tracer *t, pid_t tid);
struct task *task_new(struct uprobe_tracer *t, struct proc *p, pid_t tid, enum task_state st);
void task_free(struct uprobe_tracer *t, struct task *k);
struct proc *proc_new(struct uprobe_tracer *t, pid_t pid);
void proc_free(struct uprobe_tracer *t, struct proc *p);
int proc_reopen_mem(struct proc *p);
struct proc *proc_find(struct uprobe_tracer *t, pid_t pid);
int task_getregs(struct task *k);
int task_setregs(struct task *k);
int task_resume(struct task *k);
int task_stop_all(struct uprobe_tracer *t, struct proc *p);
void task_mark_running(struct uprobe_tracer *t, struct proc *p);
void task_release(struct uprobe_tracer *t, struct proc *p);
void task_hold_signal(struct task *k, int sig);
const char *status_field(const char *path, const char *key, char *buf, size_t len);
const char *task_status_field(struct task *k, const char *key, char *buf, size_t len);
void tracer_early_stop(struct uprobe_tracer *t, pid_t tid, int status);
int task_wait_new(struct uprobe_tracer *t, pid_t tid, int *status);
int proc_set_entry_bp(struct uprobe_tracer *t, struct proc *p);
void probe_remove_all(struct uprobe_tracer *t);
int task_wait_one(struct uprobe_tracer *t, pid_t which, bool block);
int proc_refresh_maps(struct proc *p);
void tracer_record_exit(struct uprobe_tracer *t, pid_t pid, int status);

/* trap.c */
void trap_dispatch(struct uprobe_tracer *t, struct task *k, int status);

/* mem.c */
int mem_read(struct proc *p, uint64_t addr, void *buf, size_t len);
int mem_write(struct proc *p, uint64_t addr, const void *buf, size_t len);
static inline struct proc *proc_mm(struct proc *p)
{
	return p->mm_owner ? p->mm_owner : p;
}

/* bp table (probe.c) */
struct bp *bp_lookup(struct bp_table *bt, uint64_t vaddr);
struct bp *bp_insert(struct bp_table *bt, uint64_t vaddr);
void bp_delete(struct bp_table *bt, struct bp *b);
void bp_table_free(struct bp_table *bt);

/* probe.c */
int probe_plant_all(struct uprobe_tracer *t, struct proc *p);
int probe_unplant_all(struct uprobe_tracer *t, struct proc *p, struct proc *target);
void site_put(struct uprobe_tracer *t, struct site *s);
void probe_bcache_free(struct uprobe_tracer *t);

/* xol.c */
int xol_slot_for(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t vaddr,
		 uint64_t *slot);
struct xol_area *xol_area_of(struct proc *p, uint64_t addr);
int xol_area_near(struct uprobe_tracer *t, struct proc *p, uint64_t near);
int xol_ensure_area(struct uprobe_tracer *t, struct proc *p, uint64_t near);
int xol_move_out(struct uprobe_tracer *t, struct task *k);
int xol_unmap_all(struct uprobe_tracer *t, struct proc *p, struct task *k);
void xol_forget_all(struct uprobe_tracer *t, struct proc *p);
int xol_copy_areas(struct proc *from, struct proc *to);
int xol_release_copies(struct uprobe_tracer *t, struct proc *parent, struct proc *child,
		       struct task *k);

/* retprobe.c */
uint64_t proc_trampoline(struct proc *p);
struct ret_instance *ret_prepare(struct uprobe_tracer *t, struct task *k, struct site *s,
				 uint64_t addr);
void ret_commit(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri);
void ret_discard(struct ret_instance *ri);
int ret_copy_task(struct task *from, struct task *to);
void ret_trampoline_hit(struct uprobe_tracer *t, struct task *k);
void ret_task_exit(struct uprobe_tracer *t, struct task *k);
void ret_task_gone(struct uprobe_tracer *t, struct task *k);
void ret_restore_task(struct uprobe_tracer *t, struct task *k, struct proc *target);
void ret_forget_probe(struct uprobe_tracer *t, struct uprobe *u);
int ret_on_unwind(struct uprobe_hit *h, void *data);
int ret_on_unwind_backtrace(struct uprobe_hit *h, void *data);
int ret_on_unwind_done(struct uprobe_hit *h, void *data);
int ret_on_catch(struct uprobe_hit *h, void *data);
int ret_on_longjmp(struct uprobe_hit *h, void *data);

/* watch.c */
int watch_proc(struct uprobe_tracer *t, struct proc *p);
bool watch_has(struct uprobe_tracer *t, dev_t dev, ino_t ino, uint64_t off, uprobe_handler_fn fn);
void watch_free(struct uprobe_tracer *t);
int probe_on_dl_state(struct uprobe_hit *h, void *data);
struct ret_instance *ret_find(struct task *k, uint64_t slot);
void ret_event(struct uprobe_tracer *t, struct task *k);
struct uprobe *probe_add_internal(struct uprobe_tracer *t, const char *path, const char *symbol,
				  uint64_t offset, uprobe_handler_fn fn);

/* unwind.c */
void unwind_free(struct uprobe_tracer *t);

/* detour.c: jump-optimized probes */
uint64_t detour_trap(struct uprobe_tracer *t, struct task *k, uint64_t *addr, struct bp **b);
void detour_resume(struct uprobe_tracer *t, struct task *k, const struct user_regs_struct *saved,
		   uint64_t detour);
bool detour_try(struct uprobe_tracer *t, struct task *k, struct bp *b);
void detour_signal(struct uprobe_tracer *t, struct task *k, const siginfo_t *si);
bool detour_fault(struct uprobe_tracer *t, struct task *k);
bool detour_pc_to_insn(const struct slot_info *si, uint64_t slot, struct user_regs_struct *regs);
bool detour_at(struct proc *p, uint64_t addr);
void detour_unoptimize(struct proc *p, struct bp *b);
void detour_write_back(struct proc *target, const struct bp *b);
void detour_clear_range(struct proc *p, uint64_t vaddr);
void detour_orig_byte(struct proc *p, uint64_t vaddr, uint8_t *byte);

/* inject.c */
int inject_syscall(struct uprobe_tracer *t, struct task *k, long nr, const uint64_t args[6],
		   int64_t *ret);
int inject_call(struct uprobe_tracer *t, struct task *k, uint64_t fn, const uint64_t args[6],
		uint64_t *ret);

#endif /* UPROBE_CORE_H */
