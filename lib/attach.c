// SPDX-License-Identifier: LGPL-2.1-or-later
/* A running process attached: every one of its threads seized and held, then its probes planted. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>

#include "api.h"
#include "tracer_internal.h"

static int seize_thread(struct uprobe_tracer *t, struct proc *p, pid_t tid)
{
	struct task *k;

	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)SEIZE_OPTS) < 0)
		return -errno;
	k = task_new(t, p, tid, TASK_RUNNING);
	if (!k)
		return -ENOMEM;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) == 0)
		k->interrupted = true;
	k->want_stop = true;
	return 0;
}

/* Seizes every thread listed in /proc/PID/task until a pass finds no new one. */
static int seize_all_threads(struct uprobe_tracer *t, struct proc *p)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
	for (int pass = 0; pass < 100; pass++) {
		DIR *d = opendir(path);
		struct dirent *de;
		bool found = false;

		if (!d)
			return -errno;
		while ((de = readdir(d))) {
			pid_t tid = atoi(de->d_name);
			int err;

			if (tid <= 0 || task_find(t, tid))
				continue;
			err = seize_thread(t, p, tid);
			if (err == -ESRCH)
				continue; /* it exited meanwhile */
			if (err) {
				closedir(d);
				return err;
			}
			found = true;
		}
		closedir(d);
		if (!found)
			return 0;
	}
	return -EAGAIN;
}

/*
 * The kernel refuses to seize a thread that has exited (EPERM, as for a
 * tracer without the right): when pid's main thread is a zombie, say so
 * rather than blame permissions. True and *err set then.
 */
static bool attach_gone(struct uprobe_tracer *t, pid_t pid, int *err)
{
	char path[64], line[128];
	const char *state, *threads;
	long n;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	state = procfs_status_field(path, "State:", line, sizeof(line));
	if (!state || !(strchr(state, 'Z') || strchr(state, 'X')))
		return false;
	threads = procfs_status_field(path, "Threads:", line, sizeof(line));
	n = threads ? strtol(threads, NULL, 10) : 0;
	if (n > 1)
		*err = tracer_err(t, -EPERM, "attach: pid %d: its main thread has exited (a zombie "
				  "until its %ld other threads end, or it is exiting)", pid, n - 1);
	else
		*err = tracer_err(t, -ESRCH, "attach: pid %d is a zombie: it has exited and waits "
				  "for its parent to reap it", pid);
	return true;
}

UPROBE_API int uprobe_tracer_attach(struct uprobe_tracer *t, pid_t pid)
{
	struct proc *p;
	int err;

	if (!t || pid <= 0)
		return tracer_err(t ? t : &(struct uprobe_tracer){ 0 }, -EINVAL,
				  "attach: invalid pid %d", pid);
	if (proc_find(t, pid))
		return tracer_err(t, -EEXIST, "attach: pid %d is already traced by this tracer", pid);
	tracer_note_owner(t);
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)SEIZE_OPTS) < 0) {
		err = -errno;
		if (err == -ESRCH)
			return tracer_err(t, err, "attach: no process %d", pid);
		if (err == -EPERM && attach_gone(t, pid, &err))
			return err;
		return tracer_err(t, err == -EPERM || err == -EACCES ? -EPERM : err,
				  "attach: pid %d: %s (already traced, or ptrace not permitted)", pid,
				  strerror(-err));
	}
	p = proc_new(t, pid);
	if (!p) {
		err = -errno;
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return tracer_err(t, err, "attach: pid %d: cannot open its memory: %s", pid,
				  strerror(-err));
	}
	p->events = true;
	if (!task_new(t, p, pid, TASK_RUNNING)) {
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		proc_free(t, p);
		return tracer_err(t, -ENOMEM, "out of memory");
	}
	{
		struct task *k = task_find(t, pid);

		if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) == 0)
			k->interrupted = true;
		k->want_stop = true;
	}
	err = seize_all_threads(t, p);
	if (err) {
		tracer_err(t, err, "attach: pid %d: cannot trace all its threads: %s", pid,
			   strerror(-err));
		goto fail;
	}
	err = task_stop_all(t, p);
	if (err || !proc_find(t, pid)) {
		err = tracer_err(t, err ? err : -ESRCH, "attach: pid %d: it went away", pid);
		if (proc_find(t, pid))
			goto fail;
		return err;
	}
	procfs_read_auxv(p, &(uint64_t){ 0 });
	p->at_entry = true;
	sigtrap_learn(t, p, task_find(t, pid), false);
	err = lifecycle_plant_all(t, p);
	if (err)
		goto fail;
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *k = t->tasks[i], *n; k; k = n) {
			n = k->hnext;
			if (k->proc == p && k->state == TASK_STOPPED)
				task_resume(k);
		}
	}
	return 0;
fail:
	detach_proc(t, p);
	errno = -err;
	return err;
}
