// SPDX-License-Identifier: LGPL-2.1-or-later
/* Per-thread and per-process state: lookup, registers, resuming, waiting; holding every thread is hold.c's. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"

static unsigned task_hash(pid_t tid)
{
	return (unsigned)tid % TASK_HASH;
}

struct task *task_find(struct uprobe_tracer *t, pid_t tid)
{
	struct task *k;

	for (k = t->tasks[task_hash(tid)]; k; k = k->hnext)
		if (k->tid == tid)
			return k;
	return NULL;
}

struct task *task_new(struct uprobe_tracer *t, struct proc *p, pid_t tid, enum task_state st)
{
	struct task *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->tid = tid;
	k->proc = p;
	k->born = ++t->task_seq;
	k->state = st;
	k->hnext = t->tasks[task_hash(tid)];
	t->tasks[task_hash(tid)] = k;
	k->pnext = p->threads;
	p->threads = k;
	p->ntasks++;
	if (!t->wake_tid)
		t->wake_tid = tid;
	return k;
}

void task_free(struct uprobe_tracer *t, struct task *k)
{
	struct task **pp;

	for (pp = &t->tasks[task_hash(k->tid)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == k) {
			*pp = k->hnext;
			break;
		}
	}
	t->hooks->task_gone(t, k);
	task_close_comm(t, k);
	if (k->proc) {
		for (pp = &k->proc->threads; *pp; pp = &(*pp)->pnext) {
			if (*pp == k) {
				*pp = k->pnext;
				break;
			}
		}
		k->proc->ntasks--;
	}
	if (t->wake_tid == k->tid) {
		t->wake_tid = 0;
		for (unsigned i = 0; i < TASK_HASH && !t->wake_tid; i++)
			if (t->tasks[i])
				t->wake_tid = t->tasks[i]->tid;
	}
	free(k);
}

void task_close_comm(struct uprobe_tracer *t, struct task *k)
{
	if (!k->comm_fd1)
		return;
	close(k->comm_fd1 - 1);
	k->comm_fd1 = 0;
	t->ncomm_fds--;
}

int proc_reopen_mem(struct proc *p)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	mem_batch_free(p); /* an exec: what was queued was for the old image */
	if (p->memfd >= 0)
		close(p->memfd);
	p->memfd = fd;
	return 0;
}

struct proc *proc_new(struct uprobe_tracer *t, pid_t pid)
{
	struct proc *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return NULL;
	p->memfd = -1;
	p->pid = pid;
	err = proc_reopen_mem(p);
	if (err) {
		free(p);
		errno = -err;
		return NULL;
	}
	p->t = t;
	p->inline_mode = t->force_inline;
	p->next = t->procs;
	t->procs = p;
	return p;
}

/*
 * Not cached: a tracee may unshare its mount namespace at any time (as
 * `unshare -m` does before it execs), and only probes being added and
 * files not parsed yet ask.
 */
static bool proc_other_mntns(struct proc *p)
{
	char path[64], theirs[64], ours[64];
	ssize_t n, m;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", p->pid);
	n = readlink(path, theirs, sizeof(theirs));
	m = readlink("/proc/self/ns/mnt", ours, sizeof(ours));
	return n > 0 && m > 0 && (n != m || memcmp(theirs, ours, (size_t)n));
}

const char *proc_path(struct proc *p, const char *path, char *out, size_t outsz)
{
	if (path[0] == '/' && proc_other_mntns(p))
		snprintf(out, outsz, "/proc/%d/root%s", p->pid, path);
	else
		snprintf(out, outsz, "%s", path);
	return out;
}

int proc_elf_open(struct proc *p, const struct map_entry *m, struct elf_file **f)
{
	char path[sizeof(m->path) + 32];

	*f = elf_cached(makedev(m->dev_major, m->dev_minor), m->ino);
	if (*f)
		return 0;
	return elf_open(proc_path(p, m->path, path, sizeof(path)), f, NULL, 0);
}

/* p's code can get our probes now: a process of its own (not a vfork child, nor a fork child being let go), past its entry. */
bool proc_plantable(const struct proc *p)
{
	return !p->mm_owner && !p->fork_child && p->at_entry;
}

struct proc *proc_find(struct uprobe_tracer *t, pid_t pid)
{
	struct proc *p;

	for (p = t->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

void proc_free(struct uprobe_tracer *t, struct proc *p)
{
	struct proc **pp;

	t->hooks->proc_going(t, p);
	for (pp = &t->procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	for (struct proc *q = t->procs; q; q = q->next)
		if (q->mm_owner == p)
			q->mm_owner = NULL;
	for (unsigned i = 0; i < TASK_HASH; i++) {
		struct task *k = t->tasks[i], *n;

		for (; k; k = n) {
			n = k->hnext;
			if (k->proc == p)
				task_free(t, k);
		}
	}
	mem_batch_free(p);
	t->hooks->proc_gone(t, p);
	free(p->maps);
	free(p->maps_checked);
	if (p->memfd >= 0)
		close(p->memfd);
	if (p->trap_fd1)
		close(p->trap_fd1 - 1);
	free(p);
}

int proc_refresh_maps(struct proc *p)
{
	struct map_entry *m = NULL;
	int n = maps_read_pid(p->pid, &m);

	if (n < 0)
		return n;
	free(p->maps);
	p->maps = m;
	p->nmaps = n;
	p->maps_gen = ++p->t->maps_seq;
	p->maps_ns = mono_ns();
	return 0;
}

void tracer_record_exit(struct uprobe_tracer *t, pid_t pid, int status)
{
	for (unsigned i = 0; i < t->nexits; i++) {
		if (t->exits[i].pid == pid) {
			t->exits[i].status = status;
			return;
		}
	}
	if (t->nexits == t->exits_cap) {
		unsigned cap = t->exits_cap ? t->exits_cap * 2 : 8;
		struct exit_rec *e = realloc(t->exits, cap * sizeof(*e));

		if (!e)
			return;
		t->exits = e;
		t->exits_cap = cap;
	}
	t->exits[t->nexits].pid = pid;
	t->exits[t->nexits].status = status;
	t->nexits++;
}

int task_getregs(struct task *k)
{
	if (ptrace(PTRACE_GETREGS, k->tid, NULL, &k->regs) < 0) {
		k->kregs_valid = false;
		return -errno;
	}
	k->regs_valid = true;
	k->kregs = k->regs;
	k->kregs_valid = true;
	/* moved for the lifeline: the tracer sees where the trap left it */
	if (k->lrip)
		k->regs.rip = k->lrip;
	return 0;
}

/* Words of a register write done one by one (PTRACE_POKEUSER) rather than in one PTRACE_SETREGS. */
#define POKE_MAX 3

/*
 * Writes k->regs back. PTRACE_SETREGS costs about three PTRACE_POKEUSERs
 * (it sets every segment and base register too), and most writes change
 * one word (rip: into a slot, back from the return trampoline) or none:
 * against the registers the kernel holds in this stop, only what differs
 * is written, each field through the same kernel path as SETREGS.
 */
int task_setregs(struct task *k)
{
	const unsigned long long *want = (const unsigned long long *)&k->regs;
	const unsigned long long *have = (const unsigned long long *)&k->kregs;
	unsigned diff[POKE_MAX], n = 0;

	if (k->kregs_valid) {
		for (unsigned i = 0; i < sizeof(k->regs) / sizeof(*want); i++) {
			if (want[i] == have[i])
				continue;
			if (n == POKE_MAX)
				goto all;
			diff[n++] = i;
		}
		for (unsigned i = 0; i < n; i++) {
			if (ptrace(PTRACE_POKEUSER, k->tid, (void *)(diff[i] * sizeof(*want)),
				   (void *)want[diff[i]]) < 0) {
				k->kregs_valid = false;
				return -errno;
			}
		}
		k->kregs = k->regs;
		k->lrip = 0;
		return 0;
	}
all:
	if (ptrace(PTRACE_SETREGS, k->tid, NULL, &k->regs) < 0) {
		k->kregs_valid = false;
		return -errno;
	}
	k->kregs = k->regs;
	k->kregs_valid = true;
	k->lrip = 0;
	return 0;
}

int task_restore_regs(struct task *k, const struct user_regs_struct *regs, uint64_t krip)
{
	int err;

	k->regs = *regs;
	if (krip)
		k->regs.rip = krip;
	err = task_setregs(k);
	k->regs = *regs;
	k->regs_valid = true;
	if (krip && !err)
		k->lrip = regs->rip;
	return err;
}

/* Queues a held signal again from outside; its siginfo survives where the kernel allows. */
static void requeue_signal(struct task *k, siginfo_t *si)
{
	if (syscall(SYS_rt_tgsigqueueinfo, k->proc->pid, k->tid, si->si_signo, si) < 0)
		syscall(SYS_tgkill, k->proc->pid, k->tid, si->si_signo);
}

/*
 * Lets a held or just-handled thread go. The oldest held signal is
 * delivered by the restart itself (its exact siginfo restored first when the
 * current stop is another signal's); later ones are queued again.
 */
/*
 * Restarts stopped k with req (PTRACE_CONT, PTRACE_SYSCALL or
 * PTRACE_SINGLESTEP), delivering sig; st is its state from then on
 * (TASK_RUNNING, or TASK_STEPPING for a step the dispatcher ends). The
 * one place a thread the run loop dispatches is let go; threads held for
 * a step run through task_run_and_wait(), injected calls through
 * inject.c's session. What was read of its registers is stale from now
 * on. 0, or -errno (-ESRCH: gone meanwhile, its exit still to report).
 */
int task_restart(struct task *k, long req, int sig, enum task_state st)
{
	mem_flush(k->proc);
	k->state = st;
	k->regs_valid = false;
	if (ptrace(req, k->tid, NULL, (void *)(long)sig) < 0)
		return -errno;
	return 0;
}

int task_resume(struct task *k)
{
	int r;

	int sig = 0;
	long req = k->post_sys ? PTRACE_SYSCALL : task_cont_req(k);

	task_sync_regs(k);
	mem_flush(k->proc);
	k->want_stop = false;
	k->regs_valid = false;
	k->kregs_valid = false;
	/*
	 * An interrupt still outstanding only costs a spurious stop later;
	 * believing in one that was consumed would leave a wait with no end.
	 */
	k->interrupted = false;
	if (k->group_stop && !k->npending) {
		if (ptrace(PTRACE_LISTEN, k->tid, NULL, NULL) < 0)
			return errno == ESRCH ? 0 : -errno;
		k->state = TASK_LISTEN;
		return 0;
	}
	k->group_stop = false;
	if (k->npending) {
		siginfo_t *si = &k->pending[0];

		/*
		 * Its own siginfo, even for the same signal number: a held
		 * SIGTRAP that rides on a step's SIGTRAP stop must not arrive
		 * as the step trap.
		 */
		if (k->stop_sig)
			ptrace(PTRACE_SETSIGINFO, k->tid, NULL, si);
		if (k->stop_sig)
			sig = si->si_signo;
		else
			requeue_signal(k, si);
		for (unsigned i = 1; i < k->npending; i++)
			requeue_signal(k, &k->pending[i]);
		k->npending = 0;
	}
	k->stop_sig = 0;
	/* the hook is asked as k is resumed (test_task_hooks pins it) */
	k->state = TASK_RUNNING;
	if (sig && req == PTRACE_CONT && k->proc->t->hooks->deliver_step(k, sig))
		req = PTRACE_SINGLESTEP;
	r = task_restart(k, req, sig, TASK_RUNNING);
	return r == -ESRCH ? 0 : r;
}

void task_hold(struct task *k)
{
	k->state = TASK_STOPPED;
}

/* Resumes a thread after an event, or holds it if the tracer asked for that. */
void task_resume_or_hold(struct uprobe_tracer *t, struct task *k)
{
	if (k->want_stop) {
		task_hold(k);
		return;
	}
	task_resume(k);
}

bool task_sigtrap_sent(struct task *k)
{
	siginfo_t si;

	return ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 && si.si_signo == SIGTRAP &&
	       si.si_code <= 0;
}

/* Records the signal of the current signal-delivery-stop to deliver later. */
void task_hold_signal(struct task *k, int sig)
{
	siginfo_t si;

	if (ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) < 0) {
		memset(&si, 0, sizeof(si));
		si.si_signo = sig;
		si.si_code = SI_USER;
	}
	if (k->npending < ARRAY_SIZE(k->pending))
		k->pending[k->npending++] = si;
}

bool siginfo_is_fault(const siginfo_t *si)
{
	return si->si_code > 0 && (si->si_signo == SIGSEGV || si->si_signo == SIGBUS ||
				   si->si_signo == SIGFPE || si->si_signo == SIGILL);
}

bool task_hold_fault_first(struct task *k, int sig)
{
	siginfo_t fault;

	task_hold_signal(k, sig);
	if (!k->npending || !siginfo_is_fault(&k->pending[k->npending - 1]))
		return false;
	/* delivered first, from this very stop, with its own siginfo */
	fault = k->pending[k->npending - 1];
	memmove(&k->pending[1], &k->pending[0], (k->npending - 1) * sizeof(fault));
	k->pending[0] = fault;
	k->stop_sig = fault.si_signo;
	return true;
}

void task_drop_signal(struct task *k, unsigned i)
{
	if (i >= k->npending)
		return;
	memmove(&k->pending[i], &k->pending[i + 1], (k->npending - i - 1) * sizeof(k->pending[0]));
	k->npending--;
}

static int early_take(struct uprobe_tracer *t, pid_t tid, int *status)
{
	for (unsigned i = 0; i < t->nearly; i++) {
		if (t->early[i] == tid) {
			*status = t->early_status[i];
			t->early[i] = t->early[t->nearly - 1];
			t->early_status[i] = t->early_status[t->nearly - 1];
			t->nearly--;
			return 1;
		}
	}
	return 0;
}

void tracer_early_stop(struct uprobe_tracer *t, pid_t tid, int status)
{
	if (t->nearly == t->early_cap) {
		unsigned cap = t->early_cap ? t->early_cap * 2 : 8;
		pid_t *e = realloc(t->early, cap * sizeof(*e));
		int *s;

		if (!e)
			return;
		t->early = e;
		s = realloc(t->early_status, cap * sizeof(*s));
		if (!s)
			return;
		t->early_status = s;
		t->early_cap = cap;
	}
	t->early[t->nearly] = tid;
	t->early_status[t->nearly] = status;
	t->nearly++;
}

/*
 * Waits for the first stop of a thread the kernel attached for us (a clone,
 * fork or vfork child): either it was already reported before its parent's
 * event, or it comes now.
 */
int task_wait_new(struct uprobe_tracer *t, pid_t tid, int *status)
{
	if (early_take(t, tid, status) || (t->ndeferred && task_deferred_take(t, tid, status)))
		return 0;
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL);

		if (r == tid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Like waitpid(which, status, __WALL | __WNOTHREAD | [WNOHANG]), but the
 * event stays reported (WNOWAIT): the caller consumes it with consume().
 */
static pid_t peek_event(pid_t which, int *status, bool block)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(which == -1 ? P_ALL : P_PID, which == -1 ? 0 : (id_t)which, &si,
		   WEXITED | WSTOPPED | WNOWAIT | __WALL | __WNOTHREAD | (block ? 0 : WNOHANG)) < 0)
		return -1;
	if (!si.si_pid)
		return 0;
	switch (si.si_code) {
	case CLD_EXITED:
		*status = (si.si_status & 0xff) << 8;
		break;
	case CLD_KILLED:
		*status = si.si_status & 0x7f;
		break;
	case CLD_DUMPED:
		*status = (si.si_status & 0x7f) | 0x80;
		break;
	default: /* CLD_TRAPPED, CLD_STOPPED: the ptrace event is in si_status's bits 8-15 */
		*status = (si.si_status << 8) | 0x7f;
		break;
	}
	return si.si_pid;
}

/*
 * Takes tid's event that peek_event() saw. What it takes is what counts:
 * a thread killed in between has its exit taken instead of the stop,
 * and that exit must not be lost. Nothing taken (a thread still on its
 * way out): the stop seen stands, and its exit comes later.
 */
static void consume(pid_t tid, int *status)
{
	int st;
	pid_t r;

	while ((r = waitpid(tid, &st, __WALL | __WNOTHREAD | WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == tid)
		*status = st;
}

/*
 * k stopped on an int3 of ours (a probe's in the program's code, or the
 * trampoline), the stop not yet taken: what the kernel holds for k is
 * made safe to run without us before it is. Were the tracer to die before
 * resuming k, the kernel would let k go without the SIGTRAP of a taken
 * stop, past the int3, in the middle of an instruction. k goes back onto
 * the int3 (it traps again, into the lifeline, lifeline.c), or, for a
 * plain relocated instruction, straight onto its slot, where the hit's
 * own register write would put it anyway (so it costs no write more).
 * k->lrip keeps what the tracer sees (task_getregs()) until its registers
 * are written. A detour's int3 needs none: past it are its copies.
 */
static void move_for_lifeline(struct uprobe_tracer *t, struct task *k)
{
	uint64_t to;
	long rip;

	if (!t->hooks->has_lifeline(k))
		return;
	/* one word: the registers are read whole once, by whoever handles the stop */
	errno = 0;
	rip = ptrace(PTRACE_PEEKUSER, k->tid, (void *)ARCH_REGS_PC_OFF, NULL);
	if (errno)
		return;
	k->regs_valid = false;
	to = t->hooks->lifeline_pc(k, (uint64_t)rip - ARCH_INT3_LEN);
	if (!to)
		return;
	if (ptrace(PTRACE_POKEUSER, k->tid, (void *)ARCH_REGS_PC_OFF,
		   (void *)to) == 0)
		k->lrip = (uint64_t)rip;
}

/*
 * Takes one event (of `which`, or any tracee when -1): seen first, consumed
 * after, a SIGTRAP stop on an int3 of ours made safe for the tracer's death
 * in between. Returns the tid, 0 when none (non-blocking), -1 with errno.
 */
static pid_t take_event(struct uprobe_tracer *t, pid_t which, int *status, bool block)
{
	struct task *k;
	pid_t tid;

	/*
	 * __WNOTHREAD: children that other threads of the tracer's program
	 * forked are theirs to reap; only this thread's tracees are ours.
	 */
	tid = peek_event(which, status, block);
	if (tid <= 0)
		return tid;
	k = tid == t->waker ? NULL : task_find(t, tid);
	if (k) {
		/* a return's duration ends here, not when its handler asks (hit.c) */
		k->stop_ns = mono_ns();
		task_stopped(k);
		if (WIFSTOPPED(*status) && WSTOPSIG(*status) == SIGTRAP && !(*status >> 16) &&
		    k->state != TASK_STEPPING)
			move_for_lifeline(t, k);
	}
	consume(tid, status);
	return tid;
}

static void defer_event(struct uprobe_tracer *t, pid_t tid, int status)
{
	if (t->ndeferred == t->deferred_cap) {
		unsigned cap = t->deferred_cap ? t->deferred_cap * 2 : 8;
		struct tid_status *d = realloc(t->deferred, cap * sizeof(*d));

		if (!d) {
			/* the event is lost: say so, a wait for it may never end */
			pr_warn("tid %d: out of memory keeping its event %#x", tid, status);
			return;
		}
		t->deferred = d;
		t->deferred_cap = cap;
	}
	t->deferred[t->ndeferred++] = (struct tid_status){ tid, status };
}

/* The oldest deferred event of `which` (any when -1), removed; 0 when none. */
pid_t task_deferred_take(struct uprobe_tracer *t, pid_t which, int *status)
{
	for (unsigned i = 0; i < t->ndeferred; i++) {
		pid_t tid = t->deferred[i].tid;

		if (which != -1 && tid != which)
			continue;
		*status = t->deferred[i].status;
		memmove(&t->deferred[i], &t->deferred[i + 1],
			(t->ndeferred - i - 1) * sizeof(t->deferred[0]));
		t->ndeferred--;
		return tid;
	}
	return 0;
}

/*
 * Waits for k's own next event, for a run-and-wait of k's (a step, an
 * injected call) that handles what it gets itself. An exit is handed to
 * task_wait_one() (deferred) and -ESRCH returned: reaped here and lost,
 * it would leave k's process waiting forever for a thread that is gone.
 * A killed leader is reaped only after its other threads: waiting for it
 * alone would wait forever, so while it has others every tracee's events
 * are taken, theirs deferred. 0: *status is a stop of k; -errno.
 */
int task_wait_own(struct task *k, int *status)
{
	struct uprobe_tracer *t = k->proc->t;
	pid_t tid;

	if (k->tid == k->proc->pid && k->proc->ntasks > 1) {
		for (;;) {
			tid = peek_event(-1, status, true);
			if (tid < 0 && errno != EINTR)
				return -errno;
			if (tid == k->tid) {
				consume(k->tid, status);
				break;
			}
			if (tid > 0 && take_event(t, tid, status, false) == tid)
				defer_event(t, tid, *status);
		}
	} else {
		while (waitpid(k->tid, status, __WALL) < 0)
			if (errno != EINTR)
				return -errno;
	}
	task_stopped(k);
	if (WIFSTOPPED(*status))
		return 0;
	defer_event(t, k->tid, *status);
	return -ESRCH;
}

/*
 * Restarts k with `req` (a single-step, a system call's stop, or a run to
 * a breakpoint or hardware breakpoint) and waits for the kernel's trap
 * that ends it: the one run-until-stop of a thread the tracer holds while
 * others are held too (stepping out of a slot, the in-place fallback).
 * Asynchronous signals arriving meanwhile are held, as is a SIGTRAP
 * someone sent. 0: trapped; 1: the instruction faulted instead, and that
 * fault is now the first signal to deliver, reported at insn_addr when it
 * came from slot (0: none); -ESRCH: k died (when out is given, out->died
 * and out->status, its wait status still to handle, else that status is
 * deferred for the run loop); other -errno. out (may be NULL) also tells
 * whether an interrupt someone sent (uprobe_tracer_stop()) came first.
 */
int task_run_and_wait(struct task *k, long req, uint64_t slot, uint64_t insn_addr,
		      struct task_run_out *out)
{
	for (int rounds = 0; rounds < 1000; rounds++) {
		int st, sig, err;

		mem_flush(k->proc);
		if (ptrace(req, k->tid, NULL, NULL) < 0)
			return -errno;
		k->regs_valid = false;
		err = task_wait_own(k, &st);
		if (err == -ESRCH && out && task_deferred_take(k->proc->t, k->tid, &st) == k->tid) {
			/* its exit: handled by the caller, after its release */
			out->status = st;
			out->died = true;
		}
		if (err)
			return err;
		sig = WSTOPSIG(st);
		if (st >> 16) {
			/*
			 * An interrupt or a group-stop reported first: nothing ran
			 * yet. Taken as the step's end, it once made a pushf's fixup
			 * clear bit 8 of whatever the stack held (a return address).
			 */
			if ((st >> 16) == PTRACE_EVENT_STOP) {
				k->interrupted = false;
				if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
					k->group_stop = true;
				else if (out)
					out->interrupted = true;
			}
			continue;
		}
		if (sig == SIGTRAP && !task_sigtrap_sent(k)) {
			k->stop_sig = SIGTRAP;
			return 0;
		}
		if (!task_hold_fault_first(k, sig))
			continue;
		if (slot && task_getregs(k) == 0 && k->regs.rip == slot) {
			k->regs.rip = insn_addr;
			task_setregs(k);
		}
		return 1;
	}
	return -EBUSY;
}

/*
 * Waits for one event (of `which`, or any tracee when -1) and dispatches it.
 * 1: an event was handled; 0: none (non-blocking) or interrupted; -ECHILD:
 * nothing left to wait for.
 */
int task_wait_one(struct uprobe_tracer *t, pid_t which, bool block)
{
	int status;
	pid_t tid;
	struct task *k;

	/* a resume path that forgot mem_flush() only delays its writes to here */
	if (block)
		mem_flush_all(t);
	tid = t->ndeferred ? task_deferred_take(t, which, &status) : 0;
	if (!tid)
		tid = take_event(t, which, &status, block);
	if (tid == 0)
		return 0;
	if (tid < 0)
		return errno == EINTR ? 0 : -errno;
	if (tid == t->waker) {
		if (WIFSTOPPED(status)) {
			/* a tick (or its seize): run() drains the rings next */
			t->tick_due = true;
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			return 1;
		}
		/* another thread woke run(): it looks at its requests next */
		t->waker = 0;
		return 1;
	}
	k = task_find(t, tid);
	if (!k) {
		/*
		 * Not ours yet: a child whose parent's clone/fork event has not
		 * been seen, or a child of the tracer's own program that is no
		 * tracee (its exit is simply consumed).
		 */
		if (WIFSTOPPED(status))
			tracer_early_stop(t, tid, status);
		return 1;
	}
	place_follow(t, k);
	if (t->run_wait && !t->hooks->before_stop(t, k))
		return 1;
	t->hooks->stop(t, k, status);
	return 1;
}
