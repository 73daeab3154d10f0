// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe_tracer_spawn: PATH search, exec failures, and the exit status of traced processes. */
#include <dirent.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <time.h>

#include "tracee_test.h"

static const char *g_exit, *g_early, *g_early_reloc[3], *g_cxx;

/* No zombie or stray child is left behind by the library. */
static void assert_no_children(void)
{
	int st;
	pid_t r = waitpid(-1, &st, WNOHANG | __WALL);

	if (r != -1 || errno != ECHILD) {
		print_error("unexpected child left: waitpid -> %d (status %#x)\n", (int)r, st);
		fail();
	}
}

static int spawn_and_run(struct ctx *c, char *const argv[], pid_t *pid)
{
	int r;

	*pid = spawn_or_fail(c, argv);
	r = uprobe_tracer_run(c->t);
	if (r) {
		print_error("run: %d %s\n", r, uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_false(g_wd_fired);
	return uprobe_tracer_exit_status(c->t, *pid);
}

static void test_path_true(void **state)
{
	char *argv[] = { "true", NULL };
	pid_t pid = 0;
	int st = spawn_and_run(*state, argv, &pid);

	assert_true(pid > 0);
	assert_true(st >= 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_path_false(void **state)
{
	char *argv[] = { "false", NULL };
	pid_t pid = 0;
	int st = spawn_and_run(*state, argv, &pid);

	assert_true(st >= 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
}

static void test_missing_program(void **state)
{
	struct ctx *c = *state;
	char *argv1[] = { "no-such-program-uprobe-xyz", NULL };
	char *argv2[] = { "/nonexistent/dir/prog", NULL };
	pid_t pid = 12345;

	errno = 0;
	assert_int_equal(spawn_out(c, argv1, &pid), -ENOENT);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(spawn_out(c, argv2, &pid), -ENOENT);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "/nonexistent/dir/prog"));
	assert_no_children();
}

static void test_not_executable(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { c->out, NULL }; /* a 0600 regular file */

	errno = 0;
	assert_int_equal(spawn_out(c, argv, NULL), -EACCES);
	assert_int_equal(errno, EACCES);
	assert_no_children();
}

static int end_with(struct ctx *c, char *const argv[], uint64_t *hits)
{
	pid_t pid;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = hits);

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	struct uprobe *p = uprobe_add(c->t, g_exit, "before_end", 0, &o);

	if (!p) {
		print_error("uprobe_add: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_int_equal(uprobe_hits(p), *hits);
	read_out(c);
	return uprobe_tracer_exit_status(c->t, pid);
}

static void test_exit_code(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_exit, "exit", "7", NULL };
	uint64_t hits = 0;
	int st = end_with(c, argv, &hits);

	assert_int_equal(hits, 1);
	assert_int_equal(kv(c->outbuf, "before_end"), 6); /* before_end(argc = 3) */
	assert_true(st >= 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
}

static void test_killed_by_segv(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_exit, "segv", NULL };
	uint64_t hits = 0;
	int st = end_with(c, argv, &hits);

	assert_int_equal(hits, 1);
	assert_int_equal(kv(c->outbuf, "before_end"), 4);
	if (st < 0 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV) {
		print_error("status %#x, want killed by SIGSEGV\n", st);
		fail();
	}
}

static void test_killed_by_abort(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_exit, "abort", NULL };
	uint64_t hits = 0;
	int st = end_with(c, argv, &hits);

	assert_int_equal(hits, 1);
	if (st < 0 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
		print_error("status %#x, want killed by SIGABRT\n", st);
		fail();
	}
}

static void test_exit_status_unknown(void **state)
{
	struct ctx *c = *state;

	errno = 0;
	assert_int_equal(uprobe_tracer_exit_status(c->t, 1), -ESRCH);
	assert_int_equal(uprobe_tracer_exit_status(c->t, getpid()), -ESRCH);
}

/*
 * A child of the tracer's own program that is not a tracee: run() must not
 * reap it, or the program loses its exit status.
 */
struct forker {
	pid_t pid;
	int go[2]; /* the forking thread stays alive until told: a dead thread's children pass to the leader */
};

static void *fork_child(void *arg)
{
	struct forker *f = arg;
	char ch;

	f->pid = fork();
	if (f->pid == 0)
		_exit(42);
	while (read(f->go[0], &ch, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * A child that another thread of the tracer's program forked is the
 * program's to reap: run() waits only for the calling thread's children.
 */
static void test_foreign_child_kept(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { "true", NULL };
	struct forker f = { .pid = -1 };
	pid_t pid, own;
	pthread_t th;
	int st = -1;

	assert_int_equal(pipe(f.go), 0);
	assert_int_equal(pthread_create(&th, NULL, fork_child, &f), 0);
	for (int i = 0; i < 1000 && f.pid < 0; i++)
		sleep_ms(5);
	own = f.pid;
	assert_true(own > 0);
	ctx_track(c, own);
	/* Let it become a zombie before run() waits. */
	sleep_ms(50);
	assert_int_equal(spawn_out(c, argv, &pid), 0);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_int_equal(write(f.go[1], "x", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(f.go[0]);
	close(f.go[1]);
	st = wait_child(c, own);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 42) {
		print_error("the program's own child %d: waitpid -> %d (errno %d): its exit was "
			    "consumed by uprobe_tracer_spawn()/run()\n",
			    (int)own, st, errno);
		fail();
	}
}

static pid_t ppid_of(pid_t pid)
{
	char path[64], buf[512];
	const char *p;
	int ppid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	/* pid (comm) state ppid: the comm may hold anything but ends at the last ')' */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

/* Kills (by pid) and reaps every child of ours still there; returns how many were alive. */
static int reap_orphans(void)
{
	int alive = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		pid_t pid = atoi(e->d_name);

		if (pid > 0 && ppid_of(pid) == getpid() && kill(pid, SIGKILL) == 0)
			alive++;
	}
	if (d)
		closedir(d);
	while (waitpid(-1, NULL, __WALL) > 0)
		;
	return alive;
}

/*
 * A tracer process that exits without uprobe_tracer_free() leaves nothing
 * of its own behind: the waker child that run() starts ends with it. Its
 * tracee, left stopped at spawn, runs on untraced to its own end (the
 * lifeline, lib/lifeline.c): `sleep 1` exits 0 within the bound.
 */
static void test_tracer_exit_leaves_nothing(void **state)
{
	pid_t tracer, slow_pid = 0;
	int st, left = -1, pfd[2];
	bool slow_ok = false;

	(void)state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(pfd), 0);
	tracer = fork();
	if (tracer == 0) {
		struct uprobe_tracer *t = uprobe_tracer_new();
		char *quick[] = { "true", NULL }, *slow[] = { "sleep", "1", NULL };
		pid_t pid;

		/* run() to the end of one tracee (its waker stays), then one left stopped */
		if (!t || uprobe_tracer_spawn(t, quick, NULL) < 0 || uprobe_tracer_run(t) < 0 ||
		    uprobe_tracer_spawn(t, slow, &pid) < 0 ||
		    write(pfd[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(3);
		_exit(0);
	}
	assert_true(tracer > 0);
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &slow_pid, sizeof(slow_pid)), sizeof(slow_pid));
	close(pfd[0]);
	assert_int_equal(waitpid(tracer, &st, 0), tracer);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* orphans come to us: wait a bounded time for them to end on their own */
	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(-1, &st, WNOHANG | __WALL);

		if (r == slow_pid)
			slow_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (r < 0 && errno == ECHILD) {
			left = 0;
			break;
		}
		if (r == 0)
			sleep_ms(10);
	}
	if (!slow_ok)
		print_error("the stopped tracee did not run on to exit 0 on its own\n");
	if (left)
		left = reap_orphans();
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	if (left) {
		print_error("%d process(es) of the exited tracer still alive after 5 s\n", left);
		fail();
	}
	assert_true(slow_ok);
}


/* ---- stops before the entry point (API_EARLY: what api_early's library constructor does) ---- */

/*
 * Spawns api_early with API_EARLY=mode (its library constructor acts, after
 * spawn returns), or for "reloc-MODE" api_early_MODE (an IFUNC resolver acts
 * while the program is relocated, before spawn can return): the spawn's
 * result, *pid set whenever there was a process.
 */
static int spawn_early(struct ctx *c, const char *mode, pid_t *pid)
{
	char *argv[] = { (char *)g_early, NULL };
	int r;

	if (!strncmp(mode, "reloc-", 6)) {
		for (int i = 0; i < 3; i++)
			if (strstr(g_early_reloc[i], mode + 6))
				argv[0] = (char *)g_early_reloc[i];
		mode = "";
	}

	*pid = 0;
	setenv("API_EARLY", mode, 1);
	r = spawn_out(c, argv, pid);
	unsetenv("API_EARLY");
	return r;
}

static uint64_t g_early_hits;

/* The program is traced from its entry point on: its probe counts every call. */
static void add_early_probe(struct ctx *c, struct uprobe **p)
{
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &g_early_hits);

	g_early_hits = 0;
	*p = uprobe_add(c->t, g_early, "early_work", 0, &o);
	if (!*p) {
		print_error("uprobe_add: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
}

/* A counting probe on symbol of binary (a path or a mapped library's name), or the test fails. */
static struct uprobe *count_probe(struct ctx *c, const char *binary, const char *symbol,
				  uint64_t *n)
{
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = n);
	struct uprobe *p = uprobe_add(c->t, binary, symbol, 0, &o);

	if (!p) {
		print_error("uprobe_add %s:%s: %s\n", binary, symbol, uprobe_tracer_errmsg(c->t));
		fail();
	}
	return p;
}

/*
 * Spawn returns before any library constructor runs: probes added then see
 * every call a constructor makes (4 here, each with a malloc).
 */
static void test_constructors_seen(void **state)
{
	struct ctx *c = *state;
	uint64_t ctor = 0, mallocs = 0;
	pid_t pid;
	int st;

	assert_int_equal(spawn_early(c, "none", &pid), 0);
	count_probe(c, "libapi_early_ctor", "early_ctor_fn", &ctor);
	count_probe(c, "libc", "malloc", &mallocs);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	read_out(c);
	assert_int_equal(kv(c->outbuf, "ctor_calls"), 4);
	assert_int_equal(ctor, 4);
	assert_true(mallocs >= 4);
	st = uprobe_tracer_exit_status(c->t, pid);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3);
}

/* A C++ library's static initializer (3 calls before main) is traced too. */
static void test_cxx_static_initializer(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_cxx, NULL };
	uint64_t n = 0;
	pid_t pid;
	int st;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	count_probe(c, "libapi_cxx_init", "cxx_init_fn", &n);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	read_out(c);
	assert_int_equal(kv(c->outbuf, "cxx_init_calls"), 3);
	assert_int_equal(n, 3);
	st = uprobe_tracer_exit_status(c->t, pid);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * A library constructor raises a SIGUSR1 it handles (after spawn returned,
 * in run()): the signal reaches its handler, with the probe in place.
 */
static void test_signal_before_entry(void **state)
{
	struct ctx *c = *state;
	struct uprobe *p;
	pid_t pid;
	int st;

	assert_int_equal(spawn_early(c, "usr1", &pid), 0);
	assert_false(g_wd_fired);
	add_early_probe(c, &p);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	read_out(c);
	assert_int_equal(kv(c->outbuf, "usr1"), 1);
	assert_int_equal(kv(c->outbuf, "sum"), 30);
	assert_int_equal(uprobe_hits(p), 5);
	st = uprobe_tracer_exit_status(c->t, pid);
	assert_true(st >= 0 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
}

/* It ends before its entry point: -ECHILD, its pid, its status, a message that says how. */
static void early_end(struct ctx *c, const char *mode, const char *msg, int want_sig, int want_exit)
{
	pid_t pid;
	int st;

	errno = 0;
	assert_int_equal(spawn_early(c, mode, &pid), -ECHILD);
	assert_int_equal(errno, ECHILD);
	assert_false(g_wd_fired);
	assert_true(pid > 0);
	st = uprobe_tracer_exit_status(c->t, pid);
	if (st < 0 || (want_sig && (!WIFSIGNALED(st) || WTERMSIG(st) != want_sig)) ||
	    (!want_sig && (!WIFEXITED(st) || WEXITSTATUS(st) != want_exit))) {
		print_error("%s: status %#x, want signal %d / exit %d\n", mode, st, want_sig,
			    want_exit);
		fail();
	}
	if (!strstr(uprobe_tracer_errmsg(c->t), msg) || strchr(uprobe_tracer_errmsg(c->t), '\n')) {
		print_error("%s: message '%s' does not say '%s'\n", mode, uprobe_tracer_errmsg(c->t),
			    msg);
		fail();
	}
	/* reaped by the library, nothing left */
	errno = 0;
	assert_int_equal(waitpid(pid, &st, WNOHANG | __WALL), -1);
	assert_int_equal(errno, ECHILD);
	/* the tracer is still usable */
	{
		char *argv[] = { "true", NULL };
		pid_t p2;

		assert_int_equal(spawn_out(c, argv, &p2), 0);
		assert_int_equal(uprobe_tracer_run(c->t), 0);
		st = uprobe_tracer_exit_status(c->t, p2);
		assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

/* A crash inside the dynamic linker's start-up (an IFUNC resolver, while it relocates). */
static void test_crash_before_entry(void **state)
{
	early_end(*state, "reloc-segv", "killed by SIGSEGV before its entry point", SIGSEGV, 0);
}

static void test_exit_before_entry(void **state)
{
	early_end(*state, "reloc-exit", "exited with status 9 before its entry point", 0, 9);
}

/* A constructor that crashes or exits runs after spawn: run() reports it, nothing hangs. */
static void test_constructor_dies(void **state)
{
	static const struct {
		const char *mode;
		int sig, code;
	} cases[] = { { "segv", SIGSEGV, 0 }, { "exit", 0, 9 } };
	struct ctx *c = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ctor = 0;
		pid_t pid;
		struct uprobe *p;
		int st;

		assert_int_equal(spawn_early(c, cases[i].mode, &pid), 0);
		p = count_probe(c, "libapi_early_ctor", "early_ctor_fn", &ctor);
		assert_int_equal(uprobe_tracer_run(c->t), 0);
		assert_false(g_wd_fired);
		assert_int_equal(ctor, 4);
		uprobe_remove(p);
		st = uprobe_tracer_exit_status(c->t, pid);
		if (cases[i].sig)
			assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == cases[i].sig);
		else
			assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == cases[i].code);
	}
}

static struct uprobe_tracer *g_stop_tracer;

static void on_stop_timer(int sig)
{
	uprobe_tracer_stop(g_stop_tracer);
}

/*
 * uprobe_tracer_stop() from a signal handler while the program is still in
 * a constructor (sleeping 2 s): the spawn returns at once with -EINTR
 * and the program's pid, the program is let go untraced and ends as
 * untraced.
 */
static void test_stop_during_spawn(void **state)
{
	struct ctx *c = *state;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 };
	struct itimerspec its = { .it_value = { 0, 100 * 1000000 } };
	struct sigaction sa = { .sa_handler = on_stop_timer };
	char path[64], line[256], *v;
	timer_t timer;
	double t0;
	pid_t pid;
	int st, r;

	g_stop_tracer = c->t;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
	assert_int_equal(timer_create(CLOCK_MONOTONIC, &sev, &timer), 0);
	assert_int_equal(timer_settime(timer, 0, &its, NULL), 0);
	t0 = now_s();
	r = spawn_early(c, "reloc-sleep", &pid);
	timer_delete(timer);
	signal(SIGUSR2, SIG_DFL);
	if (r != -EINTR) {
		print_error("spawn: %d (%s), want -EINTR\n", r, uprobe_tracer_errmsg(c->t));
		fail();
	}
	/* well before the constructor's 2 s were over */
	if (now_s() - t0 > 1.5) {
		print_error("spawn returned after %.2f s, the stop came after 0.1 s\n", now_s() - t0);
		fail();
	}
	assert_true(pid > 0);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	{
		FILE *f = fopen(path, "r");

		v = NULL;
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "TracerPid:", 10))
				v = line + 10;
		if (f)
			fclose(f);
	}
	assert_non_null(v);
	assert_int_equal(atoi(v), 0);
	st = wait_child(c, pid);
	assert_true(st >= 0 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	read_out(c);
	assert_int_equal(kv(c->outbuf, "sum"), 30);
	assert_int_equal(kv(c->outbuf, "usr1"), 0);
}

/* ---- the program's signal dispositions and mask ---- */

/* The SigIgn: and SigBlk: masks that `grep` reports of itself, run by spawn with opts. */
static void spawned_sigs(struct ctx *c, const struct uprobe_spawn_opts *o, uint64_t *ign,
			 uint64_t *blk)
{
	char *argv[] = { "grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status", NULL };
	pid_t pid;
	int st;

	/* fd 1 is c->out: this run's lines only */
	assert_int_equal(ftruncate(1, 0), 0);
	assert_int_equal(lseek(1, 0, SEEK_SET), 0);
	if (uprobe_tracer_spawn_opts(c->t, argv, &pid, o)) {
		print_error("spawn: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	ctx_track(c, pid);
	fflush(stdout);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	st = uprobe_tracer_exit_status(c->t, pid);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	read_out(c);
	assert_non_null(strstr(c->outbuf, "SigIgn:"));
	*ign = strtoull(strstr(c->outbuf, "SigIgn:") + 7, NULL, 16);
	*blk = strtoull(strstr(c->outbuf, "SigBlk:") + 7, NULL, 16);
}

#define BIT(sig) (1ull << ((sig) - 1))

/*
 * A tracer that catches SIGINT and SIGHUP for itself, ignores SIGQUIT and
 * blocks SIGTERM. By default the program gets what fork and exec make of
 * that (SIGQUIT ignored, SIGTERM blocked, the caught ones default); with
 * .sigignore and .sigmask, exactly those.
 */
static void test_spawn_signal_state(void **state)
{
	struct ctx *c = *state;
	struct sigaction sa = { .sa_handler = on_stop_timer }, old_int, old_hup, old_quit;
	sigset_t block, old_mask, ign, mask;
	uint64_t got_ign, got_blk;
	int fd;

	/* stdout of grep into c->out, as spawn_out() does */
	fd = open(c->out, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	int saved = fcntl(1, F_DUPFD_CLOEXEC, 10);

	dup2(fd, 1);
	close(fd);
	g_stop_tracer = NULL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGHUP, &sa, &old_hup);
	signal(SIGQUIT, SIG_IGN);
	sigaction(SIGQUIT, NULL, &old_quit);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old_mask);

	spawned_sigs(c, NULL, &got_ign, &got_blk);
	if (got_ign != BIT(SIGQUIT) || got_blk != BIT(SIGTERM)) {
		print_error("defaults: SigIgn %#llx SigBlk %#llx, want %#llx %#llx\n",
			    (unsigned long long)got_ign, (unsigned long long)got_blk,
			    BIT(SIGQUIT), BIT(SIGTERM));
		fail();
	}

	sigemptyset(&ign);
	sigaddset(&ign, SIGHUP);
	sigaddset(&ign, SIGUSR2);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGWINCH);
	UPROBE_OPTS(uprobe_spawn_opts, o, .sigignore = &ign, .sigmask = &mask);
	spawned_sigs(c, &o, &got_ign, &got_blk);
	if (got_ign != (BIT(SIGHUP) | BIT(SIGUSR2)) || got_blk != (BIT(SIGUSR1) | BIT(SIGWINCH))) {
		print_error("opts: SigIgn %#llx SigBlk %#llx\n", (unsigned long long)got_ign,
			    (unsigned long long)got_blk);
		fail();
	}

	/* unknown bytes past the known fields are refused */
	struct {
		struct uprobe_spawn_opts o;
		long extra;
	} big = { .o = { .sz = sizeof(big) }, .extra = 1 };
	char *argv[] = { "true", NULL };

	assert_int_equal(uprobe_tracer_spawn_opts(c->t, argv, NULL, &big.o), -EINVAL);

	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	signal(SIGQUIT, SIG_DFL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	dup2(saved, 1);
	close(saved);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_path_true),	 T(test_path_false),	    T(test_missing_program),
		T(test_not_executable), T(test_exit_code),	    T(test_killed_by_segv),
		T(test_killed_by_abort), T(test_exit_status_unknown), T(test_foreign_child_kept),
		T(test_tracer_exit_leaves_nothing), T(test_signal_before_entry),
		T(test_crash_before_entry), T(test_exit_before_entry), T(test_stop_during_spawn),
		T(test_constructors_seen), T(test_constructor_dies), T(test_cxx_static_initializer),
		T(test_spawn_signal_state),
	};

	if (argc < 7) {
		fprintf(stderr, "usage: %s API_EXIT API_EARLY API_EARLY_SEGV API_EARLY_EXIT "
			"API_EARLY_SLEEP API_CXX\n", argv[0]);
		return 2;
	}
	g_cxx = argv[6];
	g_exit = argv[1];
	g_early = argv[2];
	for (int i = 0; i < 3; i++)
		g_early_reloc[i] = argv[3 + i];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_spawn", tests, NULL, NULL);
}
