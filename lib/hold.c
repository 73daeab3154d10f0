// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Holding: every thread of a process (or every tracee) stopped in a
 * ptrace-stop, and the threads that ran let go again afterwards. What they
 * report on the way is handled through task_wait_one() (wait.c), so that
 * nothing is lost.
 */
#include <stdlib.h>
#include <sys/ptrace.h>

#include "core.h"

static bool task_held(struct task *k)
{
	return k->state == TASK_STOPPED;
}

static bool sigtrap_pending(struct task *k)
{
	char line[128];
	const char *v = task_status_field(k, "SigPnd:", line, sizeof(line));

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
