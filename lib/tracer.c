// SPDX-License-Identifier: LGPL-2.1-or-later
/* The tracer object: spawn, attach, the event loop, stop, detach. */
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include "core.h"

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
	t->wake_pipe[0] = t->wake_pipe[1] = -1;
	pthread_mutex_init(&t->qlock, NULL);
	pthread_cond_init(&t->qdone, NULL);
	return t;
}

static void note_owner(struct uprobe_tracer *t)
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

static void proc_detach(struct uprobe_tracer *t, struct proc *p);

/*
 * The child between fork and exec: async-signal-safe calls only. Handlers
 * of the tracer's program must never run here (exec would reset them to
 * the default anyway), so caught signals go back to SIG_DFL; with ign,
 * exactly those signals are ignored and every other is SIG_DFL. Then the
 * program's mask, and it waits until the parent has seized it, so that
 * the exec is traced.
 */
static void __attribute__((noreturn)) spawn_child(char *const argv[], const int go[2], int ep,
						  const sigset_t *mask, const sigset_t *ign)
{
	int child_errno;
	char c;

	/* our write end closed: should the parent die before it writes, the read ends */
	close(go[1]);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0)
			continue; /* glibc's own signals (32, 33) are refused: exec resets them */
		if (ign)
			sa.sa_handler = sigismember(ign, sig) == 1 ? SIG_IGN : SIG_DFL;
		else if (sa.sa_handler == SIG_IGN)
			continue;
		else
			sa.sa_handler = SIG_DFL;
		sa.sa_flags = 0;
		sigemptyset(&sa.sa_mask);
		sigaction(sig, &sa, NULL);
	}
	sigprocmask(SIG_SETMASK, mask, NULL);
	while (read(go[0], &c, 1) < 0 && errno == EINTR)
		;
	execvp(argv[0], argv);
	child_errno = errno;
	if (write(ep, &child_errno, sizeof(child_errno)) < 0)
		_exit(127);
	_exit(127);
}

/* The one-line error of a program that ended while being spawned; st < 0: unknown status. */
static int spawn_ended(struct uprobe_tracer *t, const char *prog, int st, const char *when)
{
	if (st >= 0 && WIFSIGNALED(st)) {
		const char *name = sigabbrev_np(WTERMSIG(st));

		if (name)
			return tracer_err(t, -ECHILD, "spawn: %s: killed by SIG%s %s", prog, name,
					  when);
		return tracer_err(t, -ECHILD, "spawn: %s: killed by signal %d %s", prog,
				  WTERMSIG(st), when);
	}
	if (st >= 0 && WIFEXITED(st))
		return tracer_err(t, -ECHILD, "spawn: %s: exited with status %d %s", prog,
				  WEXITSTATUS(st), when);
	return tracer_err(t, -ECHILD, "spawn: %s: ended %s", prog, when);
}

UPROBE_API int uprobe_tracer_spawn_opts(struct uprobe_tracer *t, char *const argv[], pid_t *pidp,
					const struct uprobe_spawn_opts *opts)
{
	int go[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int err = 0, st, child_errno = 0;
	const sigset_t *mask, *ign;
	sigset_t all, old;
	struct proc *p;
	struct task *k;
	pid_t pid;

	if (!t || !argv || !argv[0])
		return tracer_err(t ? t : &(struct uprobe_tracer){ 0 }, -EINVAL, "spawn: no program");
	if (!OPTS_VALID(opts, uprobe_spawn_opts))
		return tracer_err(t, -EINVAL, "spawn: %s: unknown fields in uprobe_spawn_opts",
				  argv[0]);
	mask = OPTS_GET(opts, sigmask, NULL);
	ign = OPTS_GET(opts, sigignore, NULL);
	note_owner(t);
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		err = tracer_err(t, -errno, "spawn: pipe: %s", strerror(errno));
		goto out_close;
	}
	/* no handler of ours may run in the child: every signal blocked across the fork */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		spawn_child(argv, go, ep[1], mask ? mask : &old, ign);
	err = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		err = tracer_err(t, err, "spawn: fork: %s", strerror(-err));
		goto out_close;
	}
	close(go[0]);
	close(ep[1]);
	go[0] = ep[1] = -1;
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)(SEIZE_OPTS | PTRACE_O_EXITKILL)) < 0) {
		err = tracer_err(t, -errno, "spawn: %s: cannot trace it: %s", argv[0],
				 strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		goto out_close;
	}
	if (write(go[1], "g", 1) != 1) {
		err = tracer_err(t, -EIO, "spawn: cannot start %s", argv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
		goto out_close;
	}
	/*
	 * Until the exec it is our own code (the pipe read), which cannot
	 * block for long: a stop asked meanwhile kills it, the program never
	 * having run.
	 */
	for (;;) {
		if (t->stop_req) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
				;
			err = tracer_err(t, -EINTR, "spawn: %s: stopped before its exec", argv[0]);
			goto out_close;
		}
		if (waitpid(pid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			err = tracer_err(t, -errno, "spawn: wait: %s", strerror(errno));
			goto out_close;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (read(ep[0], &child_errno, sizeof(child_errno)) == sizeof(child_errno)) {
				err = tracer_err(t, -child_errno, "spawn: %s: %s", argv[0],
						 strerror(child_errno));
				goto out_close;
			}
			/*
			 * Killed by a signal before or during its exec (the
			 * kernel kills a program it fails to load past the
			 * point of no return)
			 */
			tracer_record_exit(t, pid, st);
			if (pidp)
				*pidp = pid;
			err = spawn_ended(t, argv[0], st, "before its exec completed");
			goto out_close;
		}
		if ((st >> 16) == PTRACE_EVENT_EXEC)
			break;
		/* a signal for the child goes on (its dispositions are already the program's) */
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)((st >> 16) ? 0 : WSTOPSIG(st)));
	}
	p = proc_new(t, pid);
	if (!p) {
		err = tracer_err(t, -errno, "spawn: %s: cannot open its memory: %s", argv[0],
				 strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
		goto out_close;
	}
	p->spawned = true;
	p->events = true;
	lifeline_learn(t, p, NULL, true);
	k = task_new(t, p, pid, TASK_STOPPED);
	if (!k || proc_set_entry_bp(t, p) < 0) {
		err = tracer_err(t, -ENOEXEC, "spawn: %s: cannot find its entry point", argv[0]);
		goto out_kill;
	}
	/*
	 * Up to its entry point the dynamic linker and library constructors
	 * run: every stop is handled as in run() (signals delivered, threads
	 * and forks followed, exits recorded), only the entry breakpoint
	 * holds it (spawn_hold). Nothing else is held, so nothing waits
	 * forever for a thread we keep.
	 */
	p->spawn_hold = true;
	task_resume(k);
	while (!p->at_entry) {
		int r;

		if (t->stop_req) {
			/* as run() after a stop: let the program go on untraced */
			r = task_stop_all(t, p);
			if (!proc_find(t, pid))
				goto ended;
			if (r < 0) {
				err = tracer_err(t, r, "spawn: %s: cannot stop it: %s", argv[0],
						 strerror(-r));
				goto out_kill;
			}
			proc_detach(t, p);
			if (pidp)
				*pidp = pid;
			err = tracer_err(t, -EINTR, "spawn: %s: stopped before its entry point, "
					 "let go untraced", argv[0]);
			goto out_close;
		}
		r = task_wait_one(t, -1, true);
		if (!proc_find(t, pid))
			goto ended;
		if (r < 0) {
			err = tracer_err(t, r, "spawn: wait: %s", strerror(-r));
			goto out_kill;
		}
	}
	p->spawn_hold = false;
	err = lifecycle_plant_all(t, p);
	if (err)
		goto out_kill;
	if (pidp)
		*pidp = pid;
	goto out_close;
ended:
	if (pidp)
		*pidp = pid;
	err = spawn_ended(t, argv[0], uprobe_tracer_exit_status(t, pid), "before its entry point");
	goto out_close;
out_kill:
	kill(pid, SIGKILL);
	while (proc_find(t, pid) && task_wait_one(t, pid, true) >= 0)
		;
out_close:
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (err)
		errno = -err;
	return err;
}

UPROBE_API int uprobe_tracer_spawn(struct uprobe_tracer *t, char *const argv[], pid_t *pidp)
{
	return uprobe_tracer_spawn_opts(t, argv, pidp, NULL);
}

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
	state = status_field(path, "State:", line, sizeof(line));
	if (!state || !(strchr(state, 'Z') || strchr(state, 'X')))
		return false;
	threads = status_field(path, "Threads:", line, sizeof(line));
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
	note_owner(t);
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
	read_auxv(p, &(uint64_t){ 0 });
	p->at_entry = true;
	lifeline_learn(t, p, task_find(t, pid), false);
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
	proc_detach(t, p);
	errno = -err;
	return err;
}

UPROBE_API int uprobe_tracer_run(struct uprobe_tracer *t)
{
	int err = 0;

	if (!t)
		return -EINVAL;
	t->stop_req = 0;
	note_owner(t);
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

static void detach_task(struct uprobe_tracer *t, struct task *k)
{
	int sig = 0;

	task_sync_regs(k);
	mem_flush(k->proc);
	lifeline_detach_task(k);
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
static void proc_detach(struct uprobe_tracer *t, struct proc *p)
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
				proc_detach(t, p);
				again = true;
				break;
			}
		}
	}
	/* their parents come out of their vforks now: held in turn */
	if (!err)
		err = task_stop_all(t, NULL);
	while (t->procs)
		proc_detach(t, t->procs);
	return err;
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
