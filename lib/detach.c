// SPDX-License-Identifier: LGPL-2.1-or-later
/* Processes let go: their memory cleaned of our code, every thread detached with its pending signals. */
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api.h"
#include "tracer_internal.h"

static void detach_task(struct uprobe_tracer *t, struct task *k)
{
	int sig = 0;

	task_sync_regs(k);
	mem_flush(k->proc);
	sigtrap_detach_task(k);
	if (k->npending) {
		siginfo_t *si = &k->pending[0];

		if (k->stop_sig && k->stop_sig != si->si_signo)
			ptrace(PTRACE_SETSIGINFO, k->tid, NULL, si);
		if (k->stop_sig) {
			sig = si->si_signo;
		}
	}
	ptrace(PTRACE_DETACH, k->tid, NULL, (void *)(long)sig);
	/* signals the detach itself could not carry are queued again */
	for (unsigned i = sig ? 1 : 0; i < k->npending; i++)
		syscall(SYS_tgkill, k->proc->pid, k->tid, k->pending[i].si_signo);
	task_free(t, k);
}

/* p's threads are all held: clean its memory and let every thread go. */
void detach_proc(struct uprobe_tracer *t, struct proc *p)
{
	struct task *any;

	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *k = t->tasks[i]; k; k = k->hnext) {
			if (k->proc != p || k->state != TASK_STOPPED)
				continue;
			k->regs_valid = false;
			if (!p->mm_owner) {
				stepout_move_out(t, k);
				if (!k->regs_valid)
					task_getregs(k);
				ret_restore_task(t, k, p);
			}
		}
	}
	if (!p->mm_owner) {
		/*
		 * The munmaps below are injected: not through a thread held in
		 * a clone's event stop, whose clone would then return -ENOSYS
		 * (glibc's pthread_create then clones again, a second thread
		 * on the same stack), when another thread will do.
		 */
		any = inject_task(t, p);
		usdt_proc_detach(t, p);
		plant_unplant_all(t, p, p);
		/* no detour records any more: the last hits, then the ring goes */
		ring_unmap(t, p, any);
		if (any && p->areas)
			area_unmap_all(t, p, any);
		else if (any)
			sigtrap_detach(t, p, any); /* (area_unmap_all() does it with the lifeline) */
	}
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *k = t->tasks[i], *n; k; k = n) {
			n = k->hnext;
			if (k->proc == p)
				detach_task(t, k);
		}
	}
	proc_free(t, p);
}

UPROBE_API int uprobe_tracer_detach(struct uprobe_tracer *t)
{
	int err;

	if (!t)
		return -EINVAL;
	err = task_stop_all(t, NULL);
	if (err)
		tracer_err(t, err, "detach: cannot stop every thread: %s", strerror(-err));
	/* vfork children first: they share their parent's memory, which the parent cleans */
	for (bool again = true; again;) {
		again = false;
		for (struct proc *p = t->procs; p; p = p->next) {
			if (p->mm_owner) {
				detach_proc(t, p);
				again = true;
				break;
			}
		}
	}
	/* their parents come out of their vforks now: held in turn */
	if (!err)
		err = task_stop_all(t, NULL);
	while (t->procs)
		detach_proc(t, t->procs);
	return err;
}
