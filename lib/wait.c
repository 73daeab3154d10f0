// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Waiting: events taken from the kernel (seen first, consumed after, made
 * safe for the tracer's death in between), kept for later when they are
 * not the awaited one (early stops of children not known yet, deferred
 * events, exit records), a thread's own run to its next trap, and the
 * dispatch of one event.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "os.h"

void wait_record_exit(struct uprobe_tracer *t, pid_t pid, int status)
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

void wait_early_stop(struct uprobe_tracer *t, pid_t tid, int status)
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
 * Restarts held k with req (no signal) and waits for its own next stop
 * (task_wait_own()): the one way a thread the tracer holds runs, for a
 * step, an injected call or a system call's stop, whose caller judges
 * each stop it gets. What was read of its registers is stale from then on.
 */
int task_run_own(struct task *k, long req, int *status)
{
	if (ptrace(req, k->tid, NULL, NULL) < 0)
		return -errno;
	k->regs_valid = false;
	return task_wait_own(k, status);
}

/*
 * Restarts k with `req` (a single-step, a system call's stop, or a run to
 * a breakpoint or hardware breakpoint) and waits for the kernel's trap
 * that ends it (through task_run_own()): the run-until-trap of a thread
 * the tracer holds while others are held too (stepping out of a slot,
 * the in-place fallback).
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
		err = task_run_own(k, req, &st);
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
			wait_early_stop(t, tid, status);
		return 1;
	}
	place_follow(t, k);
	if (t->run_wait && !t->hooks->before_stop(t, k))
		return 1;
	t->hooks->stop(t, k, status);
	return 1;
}
