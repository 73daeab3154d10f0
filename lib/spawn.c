// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A program spawned under the tracer: forked, seized before its exec, and
 * run through its dynamic linker and constructors to its entry point,
 * where its probes are planted.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "tracer_internal.h"

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

/*
 * The child forked with its two pipes: go, the parent's word that it may
 * exec (once seized, so that the exec is traced), and ep, where a failed
 * exec writes its errno. 0 and *pidout: seized and told to go; or an
 * error, any child killed and reaped.
 */
static int spawn_fork(struct uprobe_tracer *t, char *const argv[], int go[2], int ep[2],
		      const sigset_t *mask, const sigset_t *ign, pid_t *pidout)
{
	sigset_t all, old;
	int err, st;
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0)
		return tracer_err(t, -errno, "spawn: pipe: %s", strerror(errno));
	/* no handler of ours may run in the child: every signal blocked across the fork */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		spawn_child(argv, go, ep[1], mask ? mask : &old, ign);
	err = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return tracer_err(t, err, "spawn: fork: %s", strerror(-err));
	close(go[0]);
	close(ep[1]);
	go[0] = ep[1] = -1;
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)(SEIZE_OPTS | PTRACE_O_EXITKILL)) < 0) {
		err = tracer_err(t, -errno, "spawn: %s: cannot trace it: %s", argv[0],
				 strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return err;
	}
	if (write(go[1], "g", 1) != 1) {
		err = tracer_err(t, -EIO, "spawn: cannot start %s", argv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
		return err;
	}
	*pidout = pid;
	return 0;
}

/*
 * Until the exec it is our own code (the pipe read), which cannot
 * block for long: a stop asked meanwhile kills it, the program never
 * having run. 0: pid is in its exec's event stop; or an error (an exec
 * that failed, a program that ended before its exec completed, a stop).
 */
static int spawn_to_exec(struct uprobe_tracer *t, const char *prog, pid_t pid, int ep,
			 pid_t *pidp)
{
	int st, child_errno = 0;

	for (;;) {
		if (t->stop_req) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
				;
			return tracer_err(t, -EINTR, "spawn: %s: stopped before its exec", prog);
		}
		if (waitpid(pid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return tracer_err(t, -errno, "spawn: wait: %s", strerror(errno));
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (read(ep, &child_errno, sizeof(child_errno)) == sizeof(child_errno))
				return tracer_err(t, -child_errno, "spawn: %s: %s", prog,
						  strerror(child_errno));
			/*
			 * Killed by a signal before or during its exec (the
			 * kernel kills a program it fails to load past the
			 * point of no return)
			 */
			wait_record_exit(t, pid, st);
			if (pidp)
				*pidp = pid;
			return spawn_ended(t, prog, st, "before its exec completed");
		}
		if ((st >> 16) == PTRACE_EVENT_EXEC)
			return 0;
		/* a signal for the child goes on (its dispositions are already the program's) */
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)((st >> 16) ? 0 : WSTOPSIG(st)));
	}
}

/* A traced program that must not go on: killed, and its events taken until it is gone. */
static void spawn_kill(struct uprobe_tracer *t, pid_t pid)
{
	kill(pid, SIGKILL);
	while (proc_find(t, pid) && task_wait_one(t, pid, true) >= 0)
		;
}

/* The program ended after its exec, before its entry point: its pid is still told. */
static int spawn_gone(struct uprobe_tracer *t, const char *prog, pid_t pid, pid_t *pidp)
{
	if (pidp)
		*pidp = pid;
	return spawn_ended(t, prog, uprobe_tracer_exit_status(t, pid), "before its entry point");
}

/*
 * A stop asked before the entry point: as run() after a stop, the
 * program goes on untraced (-EINTR, its pid told), unless it ended
 * meanwhile or cannot be held.
 */
static int spawn_stopped(struct uprobe_tracer *t, const char *prog, struct proc *p, pid_t pid,
			 pid_t *pidp)
{
	int r, err;

	r = task_stop_all(t, p);
	if (!proc_find(t, pid))
		return spawn_gone(t, prog, pid, pidp);
	if (r < 0) {
		err = tracer_err(t, r, "spawn: %s: cannot stop it: %s", prog, strerror(-r));
		spawn_kill(t, pid);
		return err;
	}
	detach_proc(t, p);
	if (pidp)
		*pidp = pid;
	return tracer_err(t, -EINTR, "spawn: %s: stopped before its entry point, "
			  "let go untraced", prog);
}

/*
 * pid, in its exec's event stop, made a traced process and run to its
 * entry point, where its probes are planted. 0 and *pidp; or an error,
 * the program killed, ended (*pidp told) or let go untraced (*pidp told).
 */
static int spawn_to_entry(struct uprobe_tracer *t, const char *prog, pid_t pid, pid_t *pidp)
{
	struct proc *p;
	struct task *k;
	int err, st;

	p = proc_new(t, pid);
	if (!p) {
		err = tracer_err(t, -errno, "spawn: %s: cannot open its memory: %s", prog,
				 strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
		return err;
	}
	p->spawned = true;
	p->events = true;
	sigtrap_learn(t, p, NULL, true);
	k = task_new(t, p, pid, TASK_STOPPED);
	if (!k || lifecycle_entry_bp(t, p) < 0) {
		err = tracer_err(t, -ENOEXEC, "spawn: %s: cannot find its entry point", prog);
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

		if (t->stop_req)
			return spawn_stopped(t, prog, p, pid, pidp);
		r = task_wait_one(t, -1, true);
		if (!proc_find(t, pid))
			return spawn_gone(t, prog, pid, pidp);
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
	return 0;
out_kill:
	spawn_kill(t, pid);
	return err;
}

UPROBE_API int uprobe_tracer_spawn_opts(struct uprobe_tracer *t, char *const argv[], pid_t *pidp,
					const struct uprobe_spawn_opts *opts)
{
	int go[2] = { -1, -1 }, ep[2] = { -1, -1 };
	const sigset_t *mask, *ign;
	pid_t pid = 0;
	int err;

	if (!t || !argv || !argv[0])
		return tracer_err(t ? t : &(struct uprobe_tracer){ 0 }, -EINVAL, "spawn: no program");
	if (!OPTS_VALID(opts, uprobe_spawn_opts))
		return tracer_err(t, -EINVAL, "spawn: %s: unknown fields in uprobe_spawn_opts",
				  argv[0]);
	mask = OPTS_GET(opts, sigmask, NULL);
	ign = OPTS_GET(opts, sigignore, NULL);
	tracer_note_owner(t);
	err = spawn_fork(t, argv, go, ep, mask, ign, &pid);
	if (!err)
		err = spawn_to_exec(t, argv[0], pid, ep[0], pidp);
	if (!err)
		err = spawn_to_entry(t, argv[0], pid, pidp);
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
