// SPDX-License-Identifier: LGPL-2.1-or-later
/* The tracer object: made and freed, its run loop and the waker that ends its waits, stop, calls from other threads. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "tracer_internal.h"

UPROBE_API struct uprobe_tracer *uprobe_tracer_new(void)
{
	struct uprobe_tracer *t;

	/* measured before any run() of this process could wait for the measuring child */
	uprobe_caps();
	t = calloc(1, sizeof(*t));
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->hooks = &tracer_hooks;
	watch_handler_kinds(t);
	t->wake_pipe[0] = t->wake_pipe[1] = -1;
	pthread_mutex_init(&t->qlock, NULL);
	pthread_cond_init(&t->qdone, NULL);
	return t;
}

void tracer_note_owner(struct uprobe_tracer *t)
{
	if (!t->owner_tid)
		t->owner_tid = (pid_t)syscall(SYS_gettid);
}

/*
 * A child of the run thread that exits when a byte 'w' arrives on
 * wake_pipe: its exit is an event the run thread's wait sees, which other
 * threads could not cause otherwise (ptrace requests belong to the run
 * thread). While hit rings exist (ring.c) it also ticks: every
 * *waker_tick ms it raises SIGURG, which, the run thread tracing it, is a
 * stop that wakes run() to drain the rings (untraced, SIGURG is ignored).
 * A byte 't' makes it look at *waker_tick again.
 */
static void waker_main(struct uprobe_tracer *t, pid_t parent)
{
	/*
	 * Gone with the tracer, even one that exits without freeing it:
	 * the pipe's last write end closes, or its death signal comes.
	 */
	close(t->wake_pipe[1]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	for (;;) {
		struct pollfd pfd = { .fd = t->wake_pipe[0], .events = POLLIN };
		int ms = t->waker_tick ? *t->waker_tick : 0;
		int r = poll(&pfd, 1, ms > 0 ? ms : -1);
		char c;

		if (r == 0) {
			raise(SIGURG);
			continue;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			_exit(0);
		}
		if (read(t->wake_pipe[0], &c, 1) == 1 && c == 't')
			continue;
		_exit(0);
	}
}

static void ensure_waker(struct uprobe_tracer *t)
{
	pid_t pid, parent;

	if (t->waker)
		return;
	if (t->wake_pipe[0] < 0 && pipe2(t->wake_pipe, O_CLOEXEC) < 0)
		return;
	if (!t->waker_tick) {
		void *m = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);

		if (m != MAP_FAILED)
			t->waker_tick = m;
	}
	parent = getpid();
	pid = fork();
	if (pid == 0)
		waker_main(t, parent);
	if (pid > 0) {
		t->waker = pid;
		/* its ticks are stops only for its tracer; if this fails, rings drain at other stops */
		ptrace(PTRACE_SEIZE, pid, NULL, NULL);
	}
}

/*
 * How often the waker wakes run() to drain rings: every 1 ms while hits
 * come, up to every 50 ms while none does; never without a ring.
 */
static void tune_tick(struct uprobe_tracer *t, bool busy)
{
	int old, now;

	if (!t->waker_tick)
		return;
	old = *t->waker_tick;
	if (!t->nrings)
		now = t->kwatch ? 20 : 0; /* kernel_watch()'s pace */
	else if (busy || !old)
		now = 1;
	else
		now = old * 2 > 50 ? 50 : old * 2;
	if (now == old)
		return;
	*t->waker_tick = now;
	if (!old && t->wake_pipe[1] >= 0 && write(t->wake_pipe[1], "t", 1) < 0) {
		/* a full pipe already wakes it */
	}
}

static void wake_run(struct uprobe_tracer *t)
{
	int fd = t->wake_pipe[1];

	if (fd >= 0 && write(fd, "w", 1) < 0) {
		/* a full pipe already holds a wake-up */
	}
}

static void end_waker(struct uprobe_tracer *t)
{
	int st;

	if (t->waker) {
		kill(t->waker, SIGKILL);
		waitpid(t->waker, &st, __WALL);
		t->waker = 0;
	}
	for (int i = 0; i < 2; i++) {
		if (t->wake_pipe[i] >= 0)
			close(t->wake_pipe[i]);
		t->wake_pipe[i] = -1;
	}
}

/* Runs the requests other threads queued with uprobe_tracer_call(). */
static void run_calls(struct uprobe_tracer *t)
{
	pthread_mutex_lock(&t->qlock);
	while (t->calls) {
		struct call_req *c = t->calls;

		t->calls = c->next;
		pthread_mutex_unlock(&t->qlock);
		c->ret = c->fn(t, c->arg);
		pthread_mutex_lock(&t->qlock);
		c->done = true;
		pthread_cond_broadcast(&t->qdone);
	}
	pthread_mutex_unlock(&t->qlock);
}

UPROBE_API int uprobe_tracer_call(struct uprobe_tracer *t,
				  int (*fn)(struct uprobe_tracer *t, void *arg), void *arg)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	struct call_req req = { .fn = fn, .arg = arg };

	if (!t || !fn) {
		errno = EINVAL;
		return -EINVAL;
	}
	pthread_mutex_lock(&t->qlock);
	if (!t->run_tid || t->run_tid == self) {
		pthread_mutex_unlock(&t->qlock);
		if (t->owner_tid && t->owner_tid != self && !t->run_tid)
			return tracer_err(t, -EBUSY, "uprobe_tracer_call: run() is not running and "
					  "this is not the tracer's thread");
		return fn(t, arg);
	}
	req.next = t->calls;
	t->calls = &req;
	wake_run(t);
	while (!req.done)
		pthread_cond_wait(&t->qdone, &t->qlock);
	pthread_mutex_unlock(&t->qlock);
	return req.ret;
}

UPROBE_API const char *uprobe_tracer_errmsg(const struct uprobe_tracer *t)
{
	return t ? t->errmsg : "";
}

UPROBE_API int uprobe_tracer_run(struct uprobe_tracer *t)
{
	int err = 0;

	if (!t)
		return -EINVAL;
	t->stop_req = 0;
	tracer_note_owner(t);
	pthread_mutex_lock(&t->qlock);
	t->run_tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_unlock(&t->qlock);
	place_run_begin(t);
	ensure_waker(t);
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *k = t->tasks[i], *n; k; k = n) {
			n = k->hnext;
			if (k->state == TASK_STOPPED && !k->want_stop)
				task_resume(k);
			else if (k->state == TASK_STOPPED) {
				k->want_stop = false;
				task_resume(k);
			}
		}
	}
	while (!t->stop_req && t->procs) {
		int r;

		/* before any ring is drained: a fork comes before its child's hits */
		events_deliver(t);
		if (t->stop_req)
			break;
		run_calls(t);
		ensure_waker(t);
		kernel_watch(t);
		if (t->nrings || (t->waker_tick && *t->waker_tick) || t->kwatch) {
			unsigned n = ring_drain_all(t);

			if (t->tick_due || n || !*t->waker_tick)
				tune_tick(t, n > 0);
			t->tick_due = false;
			if (t->stop_req || !t->procs)
				break;
		}
		t->run_wait = true;
		if (ring_poll(t)) {
			/* what a blocking wait flushes first */
			mem_flush_all(t);
			r = task_wait_one(t, -1, false);
			if (!r)
				ring_poll_pause();
		} else {
			r = task_wait_one(t, -1, true);
		}
		t->run_wait = false;
		if (r == -ECHILD)
			break;
		if (r < 0) {
			err = tracer_err(t, r, "wait: %s", strerror(-r));
			break;
		}
	}
	/* what the rings hold is delivered before run() returns, and then the events after it */
	ring_drain_all(t);
	events_deliver(t);
	place_run_end(t);
	/* no request may be left waiting once run() is no longer there to take it */
	pthread_mutex_lock(&t->qlock);
	t->run_tid = 0;
	pthread_mutex_unlock(&t->qlock);
	run_calls(t);
	/* the stop that ended this run() is used up: a later spawn must not take it as its own */
	t->stop_req = 0;
	return err;
}

UPROBE_API void uprobe_tracer_stop(struct uprobe_tracer *t)
{
	pid_t wake;

	if (!t)
		return;
	t->stop_req = 1;
	/*
	 * From a signal handler in the tracer thread (in run(), or in spawn's
	 * wait for the entry point): make sure the wait returns, even if the
	 * signal came just before it began.
	 */
	wake = t->wake_tid;
	if (wake && (t->run_tid ? t->run_tid : t->owner_tid) == (pid_t)syscall(SYS_gettid))
		syscall(SYS_ptrace, PTRACE_INTERRUPT, wake, 0, 0);
	/* from another thread: the waker's exit ends the wait (write is async-signal-safe) */
	else
		wake_run(t);
}

UPROBE_API int uprobe_tracer_follow_forks(struct uprobe_tracer *t, bool follow)
{
	if (!t) {
		errno = EINVAL;
		return -EINVAL;
	}
	t->follow_forks = follow;
	return 0;
}

UPROBE_API int uprobe_tracer_exit_status(struct uprobe_tracer *t, pid_t pid)
{
	if (!t)
		return -EINVAL;
	for (unsigned i = 0; i < t->nexits; i++)
		if (t->exits[i].pid == pid)
			return t->exits[i].status;
	errno = ESRCH;
	return -ESRCH;
}

UPROBE_API void uprobe_tracer_free(struct uprobe_tracer *t)
{
	if (!t)
		return;
	if (t->procs)
		uprobe_tracer_detach(t);
	guardian_stop(t);
	usdt_free_all(t);
	end_waker(t);
	if (t->waker_tick)
		munmap((void *)t->waker_tick, sizeof(int));
	probe_remove_all(t);
	registry_free_all(t);
	ri_pool_destroy(t);
	watch_free(t);
	unwind_free(t);
	sym_free(t);
	resolve_bcache_free(t);
	events_free(t);
	pthread_mutex_destroy(&t->qlock);
	pthread_cond_destroy(&t->qdone);
	free(t->exits);
	free(t->early);
	free(t->early_status);
	free(t->deferred);
	free(t);
}
