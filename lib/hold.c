// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Holding: every thread of a process (or every tracee) stopped in a
 * ptrace-stop, and the threads that ran let go again afterwards. What they
 * report on the way is handled through task_wait_one() (wait.c), so that
 * nothing is lost. For an in-place step (inline.c), the threads that share
 * one memory are held the same way, except that a SIGTRAP of their own is
 * kept in its stop and handled only after they are let go.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "os.h"

static bool task_held(struct task *k)
{
	return k->state == TASK_STOPPED;
}

static bool sigtrap_pending(struct task *k)
{
	char line[128];
	const char *v = procfs_task_status_field(k, "SigPnd:", line, sizeof(line));

	return v && (strtoull(v, NULL, 16) & (1ull << (SIGTRAP - 1)));
}

/*
 * An interrupt can stop a thread between its int3 (ours, or the trampoline)
 * and the delivery of the SIGTRAP it raised: the thread sits past the int3
 * with the SIGTRAP still queued. Held like that it would get the SIGTRAP
 * after a detach, or lose its hit to an injected call. Such threads are let
 * go to report the trap, which is then handled as held threads' traps are.
 */
static bool release_pending_traps(struct uprobe_tracer *t, struct proc *p)
{
	bool any = false;

	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *k = t->tasks[i]; k; k = k->hnext) {
			if ((p && k->proc != p) || k->state != TASK_STOPPED || k->stop_sig)
				continue;
			if (task_getregs(k) < 0)
				continue;
			if (!t->hooks->owns_trap(k, k->regs.rip - ARCH_INT3_LEN))
				continue;
			if (!sigtrap_pending(k))
				continue;
			k->want_stop = true;
			/* no interrupt now: it would report before the SIGTRAP, again and again */
			k->interrupted = true;
			if (task_restart(k, PTRACE_CONT, 0, TASK_RUNNING) == 0)
				any = true;
		}
	}
	return any;
}

/*
 * Is k a vfork parent, running (not held in the vfork's event stop), whose
 * child still runs on its memory under us? The kernel keeps it in the
 * vfork until the child execs or exits, in a sleep no interrupt ends: it
 * runs no code of its own meanwhile, and while a hold keeps that child it
 * never could report a stop.
 */
static bool in_vfork(const struct uprobe_tracer *t, const struct task *k)
{
	if (k->state == TASK_STOPPED)
		return false;
	for (const struct proc *q = t->procs; q; q = q->next)
		if (q->mm_owner == k->proc && q->vforker == k->tid)
			return true;
	return false;
}

/*
 * Holds every thread of p (every tracee if p is NULL) in a ptrace-stop.
 * Running threads are interrupted; whatever they report first is handled
 * so that nothing is lost (a breakpoint hit is rewound and will hit again,
 * a signal is kept for delivery at resume). A vfork parent waiting for a
 * child of ours is left in its vfork (in_vfork()).
 */
int task_stop_all(struct uprobe_tracer *t, struct proc *p)
{
	int rounds = 0;
	unsigned waiting;

	for (;;) {
		waiting = 0;
		for (unsigned i = 0; i < TASK_HASH; i++) {
			for (struct task *k = t->tasks[i]; k; k = k->hnext) {
				if (p && k->proc != p)
					continue;
				/* a vfork parent waiting for its child is as good as held */
				if (task_held(k) || in_vfork(t, k))
					continue;
				k->want_stop = true;
				waiting++;
				if ((k->state == TASK_RUNNING || k->state == TASK_LISTEN) &&
				    !k->interrupted) {
					if (ptrace(PTRACE_INTERRUPT, k->tid, NULL, NULL) == 0)
						k->interrupted = true;
				}
			}
		}
		if (!waiting) {
			if (rounds++ < 4 && release_pending_traps(t, p))
				continue;
			return 0;
		}
		int r = task_wait_one(t, -1, true);

		if (r < 0)
			return r == -ECHILD ? 0 : r;
	}
}

/* Notes which threads of p run now, so that task_release() lets exactly those go again. */
void task_mark_running(struct uprobe_tracer *t, struct proc *p)
{
	for (unsigned i = 0; i < TASK_HASH; i++)
		for (struct task *k = t->tasks[i]; k; k = k->hnext)
			if (k->proc == p)
				k->release = k->state != TASK_STOPPED;
}

void task_release(struct uprobe_tracer *t, struct proc *p)
{
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *k = t->tasks[i], *n; k; k = n) {
			n = k->hnext;
			if (k->proc != p)
				continue;
			if (k->release && k->state == TASK_STOPPED)
				task_resume(k);
			k->release = false;
		}
	}
}

/* Nesting of deferred traps' handling: only the outermost step defers, so it stays bounded. */
static __thread unsigned defer_depth;

/* ---- holding the threads that share the memory ---- */

static struct held_task *held_find(struct held *h, pid_t tid)
{
	for (unsigned i = 0; i < h->n; i++)
		if (h->v[i].tid == tid)
			return &h->v[i];
	return NULL;
}

static struct held_task *held_add(struct held *h, pid_t tid, bool release)
{
	if (h->n == h->cap) {
		unsigned cap = h->cap * 2;
		struct held_task *v = h->v == h->stack ? malloc(cap * sizeof(*v))
						       : realloc(h->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		if (h->v == h->stack)
			memcpy(v, h->stack, sizeof(h->stack));
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n].tid = tid;
	h->v[h->n].release = release;
	h->v[h->n].skip = false;
	h->v[h->n].deferred = false;
	return &h->v[h->n++];
}

/*
 * The parent thread of a vfork child that still borrows its memory sleeps
 * in the kernel until the child execs or exits; no interrupt reaches it
 * there, and it runs no code of the program meanwhile.
 */
static bool vfork_blocked(struct uprobe_tracer *t, struct task *o)
{
	for (struct proc *q = t->procs; q; q = q->next)
		if (q->vforker == o->tid && q->mm_owner == o->proc)
			return true;
	return false;
}

/*
 * A process's first thread that called pthread_exit() while others go on
 * is a zombie that reports nothing until the last of them exits.
 */
static bool is_zombie(struct task *o)
{
	char line[128];
	const char *v = procfs_task_status_field(o, "State:", line, sizeof(line));

	if (!v)
		return true;
	while (*v == ' ' || *v == '\t')
		v++;
	return *v == 'Z' || *v == 'X';
}

/*
 * Waits for o's next stop or exit and handles it (o is held on a stop, as
 * want_stop says). Its own tid only: a wait for any tracee could report
 * the exit of k itself (another thread's exit_group or exec ends it) and
 * free it under us. A SIGTRAP (most often a hit of a probe) is kept as it
 * is, the thread sitting in its stop, and handled after the release:
 * rewound, the thread would trap once more for it.
 */
static int wait_for(struct uprobe_tracer *t, struct task *o, bool block, struct held *h)
{
	struct held_task *e;
	int st;
	pid_t r;

	/* taken already, while another wait took every tracee's (task_wait_own()) */
	r = t->ndeferred ? task_deferred_take(t, o->tid, &st) : 0;
	if (!r) {
		do
			r = waitpid(o->tid, &st, __WALL | (block ? 0 : WNOHANG));
		while (r < 0 && errno == EINTR);
	}
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	task_stopped(o);
	if (h->defer && WIFSTOPPED(st) && !(st >> 16) && WSTOPSIG(st) == SIGTRAP &&
	    o->state != TASK_STEPPING && (e = held_find(h, o->tid))) {
		e->deferred = true;
		e->status = st;
		o->state = TASK_STOPPED;
		o->regs_valid = false;
		return 1;
	}
	t->hooks->stop(t, o, st);
	return 1;
}

/* How many threads run on memory mm, in every process that shares it. */
static unsigned sharers(struct uprobe_tracer *t, struct proc *mm)
{
	unsigned n = 0;

	for (struct proc *q = t->procs; q; q = q->next)
		if (proc_mm(q) == mm)
			n += q->ntasks;
	return n;
}

/*
 * Busy threads often have a stop of their own waiting to be reported
 * (a breakpoint): take those first. An interrupt sent to such a thread
 * would cost it one more stop after its release. 0, or -ESRCH if k went
 * away meanwhile.
 */
static int take_waiting_stops(struct uprobe_tracer *t, struct task *k, struct held *h)
{
	pid_t ktid = k->tid;

	for (unsigned i = 0; i < h->n; i++) {
		struct task *o = task_find(t, h->v[i].tid);

		if (!o || o->state == TASK_STOPPED || o->state == TASK_LISTEN || vfork_blocked(t, o))
			continue;
		o->want_stop = true;
		wait_for(t, o, false, h);
		if (task_find(t, ktid) != k)
			return -ESRCH;
	}
	return 0;
}

/*
 * One round over the threads on mm other than k: each one not stopped yet
 * (nor skipped, nor in a vfork) is asked to stop, interrupted if it runs.
 * *wait_on: the first of them that is no leader of a process with other
 * threads; *leader: such a leader (the last one seen). NULL for none.
 */
static void ask_to_stop(struct uprobe_tracer *t, struct task *k, struct proc *mm, struct held *h,
			struct task **wait_on, struct task **leader)
{
	struct held_task *e;

	*wait_on = *leader = NULL;
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *o = t->tasks[i]; o; o = o->hnext) {
			if (o == k || proc_mm(o->proc) != mm)
				continue;
			e = held_find(h, o->tid);
			if (!e)
				e = held_add(h, o->tid, true); /* created meanwhile */
			if (!e || e->skip || o->state == TASK_STOPPED || vfork_blocked(t, o))
				continue;
			o->want_stop = true;
			if ((o->state == TASK_RUNNING || o->state == TASK_LISTEN) &&
			    !o->interrupted && ptrace(PTRACE_INTERRUPT, o->tid, NULL, NULL) == 0)
				o->interrupted = true;
			if (o->tid == o->proc->pid && o->proc->ntasks > 1)
				*leader = o;
			else if (!*wait_on)
				*wait_on = o;
		}
	}
}

/*
 * Last, and never waited for blocking: a leader whose process is being
 * killed becomes a zombie that reports nothing while its other threads'
 * exits wait to be reaped (seen: SIGKILL of a 200-thread program
 * mid-hold). It is asked again until it stops or is seen a zombie.
 * wait_for()'s result.
 */
static int wait_for_leader(struct uprobe_tracer *t, struct task *leader, struct held *h)
{
	struct timespec nap = { 0, 20000 };
	int r = wait_for(t, leader, false, h);

	while (r == 0 && !is_zombie(leader)) {
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 1000000)
			nap.tv_nsec *= 2;
		r = wait_for(t, leader, false, h);
	}
	return r;
}

/*
 * Holds every thread other than k that runs on k's memory and is not held
 * already; h records which ones to let go after. Returns 0, or -ESRCH if k
 * itself went away meanwhile (k is then freed: do not touch it).
 */
int hold_others(struct uprobe_tracer *t, struct task *k, struct held *h)
{
	struct proc *mm = proc_mm(k->proc);
	pid_t ktid = k->tid;

	h->v = h->stack;
	h->cap = ARRAY_SIZE(h->stack);
	h->defer = !defer_depth;
	if (sharers(t, mm) <= 1)
		return 0; /* k alone: the common case, nothing to hold */
	for (unsigned i = 0; i < TASK_HASH; i++)
		for (struct task *o = t->tasks[i]; o; o = o->hnext)
			if (o != k && proc_mm(o->proc) == mm)
				held_add(h, o->tid, o->state != TASK_STOPPED);
	if (take_waiting_stops(t, k, h) < 0)
		return -ESRCH;
	for (;;) {
		struct task *wait_on, *leader;
		struct held_task *e;
		pid_t wtid;
		int r;

		ask_to_stop(t, k, mm, h, &wait_on, &leader);
		if (!wait_on && !leader)
			return 0;
		/* the tid first: the wait may free the task */
		if (!wait_on) {
			wtid = leader->tid;
			r = wait_for_leader(t, leader, h);
		} else {
			wtid = wait_on->tid;
			r = wait_for(t, wait_on, true, h);
		}
		if (task_find(t, ktid) != k)
			return -ESRCH;
		/* one that cannot be waited for (a zombie, or gone) runs nothing */
		if (r <= 0 && (e = held_find(h, wtid)))
			e->skip = true;
	}
}

/* Lets go the threads hold_others() stopped (not those held before it, nor deferred ones). */
void hold_release_others(struct uprobe_tracer *t, struct held *h)
{
	for (unsigned i = 0; i < h->n; i++) {
		struct task *o = task_find(t, h->v[i].tid);

		if (o && o->state == TASK_STOPPED && h->v[i].release && !h->v[i].deferred)
			task_resume(o);
	}
}

/* The traps other threads reported while held, as if they came now. */
void hold_handle_deferred(struct uprobe_tracer *t, struct held *h)
{
	defer_depth++;
	for (unsigned i = 0; i < h->n; i++) {
		struct task *o;

		if (!h->v[i].deferred || !(o = task_find(t, h->v[i].tid)))
			continue;
		o->want_stop = false;
		t->hooks->stop(t, o, h->v[i].status);
	}
	defer_depth--;
}
