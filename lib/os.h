/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layer 2, os: threads, their stops and holding, memory, injection, the
 * tracer's CPU, the guardian. No probes.
 *
 * A file of lib/ includes its own layer's header, which brings the ones
 * below: one that includes a higher layer's could call up a layer
 * (tests/layers/check_layers.py fails it).
 */
#ifndef UPROBE_OS_H
#define UPROBE_OS_H

#include "core.h"

/* task.c */
struct task *task_find(struct uprobe_tracer *t, pid_t tid);
/*
 * Our interrupt (or a signal k's process ignores) ended a system call k
 * was blocked in with -EINTR for no signal of the program's: it is made
 * again, as the kernel restarts the others.
 */
void task_restart_interrupted_call(struct task *k);
/* Does k's process ignore sig (SIG_IGN, or a default action that ignores it)? */
bool task_signal_ignored(struct task *k, int sig);
struct task *task_new(struct uprobe_tracer *t, struct proc *p, pid_t tid, enum task_state st);
void task_free(struct uprobe_tracer *t, struct task *k);
/* Closes k's comm file, if uprobe_hit_comm() left one open. */
void task_close_comm(struct uprobe_tracer *t, struct task *k);
struct proc *proc_new(struct uprobe_tracer *t, pid_t pid);
void proc_free(struct uprobe_tracer *t, struct proc *p);
int proc_reopen_mem(struct proc *p);
struct proc *proc_find(struct uprobe_tracer *t, pid_t pid);
bool proc_plantable(const struct proc *p);
int task_getregs(struct task *k);
/* k reported a new stop: what the kernel holds for it may have changed. */
static inline void task_stopped(struct task *k)
{
	k->kregs_valid = false;
	k->lrip = 0;
	k->held_event = 0;
}
int task_setregs(struct task *k);
/* Before k runs on: a rip moved for the lifeline (wait.c) goes back where the trap left it. */
static inline void task_sync_regs(struct task *k)
{
	if (k->lrip && (k->regs_valid || task_getregs(k) == 0))
		task_setregs(k);
}
/* How k runs on: to its next syscall stop too when it leaves at its exec (proc.leave_at_exec). */
static inline long task_cont_req(const struct task *k)
{
	return k->proc->leave_at_exec ? PTRACE_SYSCALL : PTRACE_CONT;
}
int task_restart(struct task *k, long req, int sig, enum task_state st);
int task_resume(struct task *k);
/* k stays stopped, as its event left it, until task_resume() (want_stop: the tracer holds it) */
void task_hold(struct task *k);
/* After an event of k's: task_resume(), or task_hold() when the tracer wants it held. */
void task_resume_or_hold(struct uprobe_tracer *t, struct task *k);
void task_hold_signal(struct task *k, int sig);
/* A fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL raised by an instruction), not a kill()? */
bool task_siginfo_is_fault(const siginfo_t *si);
/*
 * Holds sig of k's current signal stop; if it is a fault, it goes first
 * (pending[0]) and rides on this stop (stop_sig). True for a fault.
 */
bool task_hold_fault_first(struct task *k, int sig);
/*
 * Is k's current SIGTRAP stop a signal someone sent (kill, tgkill,
 * sigqueue: si_code <= 0) rather than a trap (int3, a step, a syscall stop)?
 */
bool task_sigtrap_sent(struct task *k);
/* Forgets held signal i (a fault a fault handler swallowed). */
void task_drop_signal(struct task *k, unsigned i);
int proc_refresh_maps(struct proc *p);
/*
 * path as p sees it, written to out: through /proc/PID/root when p is in
 * another mount namespace (a container), where the same path may name
 * another file or none.
 */
const char *proc_path(struct proc *p, const char *path, char *out, size_t outsz);
/* The parsed file of p's mapping m: by its (dev, ino) if parsed already, else opened as p sees it. */
int proc_elf_open(struct proc *p, const struct map_entry *m, struct elf_file **f);
/*
 * Writes `regs` back as k's; with krip, the kernel gets that rip instead
 * (for the lifeline, task.c), and k->regs keeps regs->rip as the tracer's view.
 */
int task_restore_regs(struct task *k, const struct user_regs_struct *regs, uint64_t krip);

/* wait.c */
void wait_early_stop(struct uprobe_tracer *t, pid_t tid, int status);
void wait_record_exit(struct uprobe_tracer *t, pid_t pid, int status);
int task_wait_new(struct uprobe_tracer *t, pid_t tid, int *status);
int task_wait_one(struct uprobe_tracer *t, pid_t which, bool block);
int task_wait_own(struct task *k, int *status);
/* Held k run with req to its own next stop: every run of a held thread (0 or -errno) */
int task_run_own(struct task *k, long req, int *status);
/* What task_run_and_wait() saw besides its trap (when asked) */
struct task_run_out {
	bool died;        /* k ended: status is its wait status, still to handle */
	int status;
	bool interrupted; /* an interrupt someone sent (uprobe_tracer_stop()) stopped it first */
};
/* Restarts k with req and waits for the trap that ends it. 0, 1 (a fault), -errno. */
int task_run_and_wait(struct task *k, long req, uint64_t slot, uint64_t insn_addr,
		      struct task_run_out *out);
pid_t task_deferred_take(struct uprobe_tracer *t, pid_t which, int *status);

/* hold.c: every thread of p (every tracee if p is NULL) held, and let go again */
int task_stop_all(struct uprobe_tracer *t, struct proc *p);
void task_mark_running(struct uprobe_tracer *t, struct proc *p);
void task_release(struct uprobe_tracer *t, struct proc *p);
/* Threads stopped for one in-place step, to let go after (tid: ours may have been freed). */
struct held_task {
	pid_t tid;
	bool release;  /* it was running: resume it after */
	bool skip;     /* not to wait for: it is a zombie */
	bool deferred; /* it stopped on a SIGTRAP of its own, handled after the release */
	int status;    /* of that stop */
};

struct held {
	struct held_task *v;
	unsigned n, cap;
	bool defer;   /* keep other threads' traps for after the release */
	struct held_task stack[16];
};
/* For inline.c's step: the threads sharing k's memory held; 0, or -ESRCH when k is gone (freed) */
int hold_others(struct uprobe_tracer *t, struct task *k, struct held *h);
void hold_release_others(struct uprobe_tracer *t, struct held *h);
void hold_handle_deferred(struct uprobe_tracer *t, struct held *h);

/* guardian.c */
void guardian_add(struct uprobe_tracer *t, pid_t pid, uint64_t data);
void guardian_remove(struct uprobe_tracer *t, pid_t pid);
void guardian_stop(struct uprobe_tracer *t);
pid_t guardian_pid(const struct uprobe_tracer *t);

/* mem.c */
/* pread or pwrite on mm's /proc/PID/mem until all of len is done, bypassing any batch */
int mem_rw_raw(struct proc *mm, uint64_t addr, void *buf, size_t len, bool write);
int mem_read(struct proc *p, uint64_t addr, void *buf, size_t len);
int mem_write(struct proc *p, uint64_t addr, const void *buf, size_t len);
/* Writes data into p's memory as the program could (uprobe_hit_write()). 0 or -errno */
int proc_write_data(struct proc *p, uint64_t addr, const void *buf, size_t len);
static inline struct proc *proc_mm(struct proc *p)
{
	return p->mm_owner ? p->mm_owner : p;
}

/*
 * mem.c: while every thread sharing p's memory is held, slot and text
 * writes are queued and done together by mem_flush(), which every path
 * that lets such a thread run calls first. Slots (MEM_SLOT) are written
 * before text (MEM_TEXT). Reads see queued writes.
 */
enum mem_order { MEM_SLOT, MEM_TEXT };
int mem_write_deferred(struct proc *p, uint64_t addr, const void *buf, size_t len,
		       enum mem_order order);
int mem_read_cached(struct proc *p, uint64_t addr, void *buf, size_t len);
void mem_flush(struct proc *p);
void mem_flush_all(struct uprobe_tracer *t);
void mem_batch_free(struct proc *p);
void mem_batch_overlay(struct proc *mm, uint64_t addr, void *buf, size_t len);
void mem_batch_before_write(struct proc *mm);
void mem_batch_after_write(struct proc *mm, uint64_t addr, const void *buf, size_t len);

/* place.c */
void place_run_begin(struct uprobe_tracer *t);
void place_run_end(struct uprobe_tracer *t);
void place_follow(struct uprobe_tracer *t, struct task *k);

/* inject.c */
/* A held thread of p to inject through: one outside a system call if there is one. */
struct task *inject_task(struct uprobe_tracer *t, struct proc *p);
int inject_syscall(struct uprobe_tracer *t, struct task *k, long nr, const uint64_t args[6],
		   int64_t *ret);
int inject_call(struct uprobe_tracer *t, struct task *k, uint64_t fn, const uint64_t args[6],
		uint64_t *ret);
int inject_syscall_ip(struct task *k, uint64_t *ip);
/* seccomp_decide() for inject_syscall(k, nr, args) made now: 1, 0 or -errno. */
int inject_seccomp_allowed(struct task *k, const struct seccomp_state *st, long nr,
			   const uint64_t args[6], uint32_t *action);
/* 0 when st certainly allows that injection; else -EPERM and a message naming `what`. */
int inject_seccomp_check(struct uprobe_tracer *t, struct task *k, const struct seccomp_state *st,
			 long nr, const uint64_t args[6], const char *what);
/* Does k's seccomp filter, read now, certainly let inject_syscall(k, nr, args) through? */
bool inject_possible(struct task *k, long nr, const uint64_t args[6]);
/* rt_sigaction(sig, act, old) injected through k, act and old on its stack; 0 or -errno. */
int inject_sigaction_sig(struct uprobe_tracer *t, struct task *k, int sig,
		      const struct k_sigaction *act, struct k_sigaction *old);
/* The same for SIGTRAP. */
int inject_sigaction(struct uprobe_tracer *t, struct task *k, const struct k_sigaction *act,
		  struct k_sigaction *old);

#endif /* UPROBE_OS_H */
