// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe_tracer_spawn: PATH search, exec failures, and the exit status of traced processes. */
#include <dirent.h>
#include <pthread.h>
#include <sys/prctl.h>

#include "tracee_test.h"

static const char *g_exit;

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
 * behind: its tracee dies with it (PTRACE_O_EXITKILL) and so does the
 * waker child that run() starts.
 */
static void test_tracer_exit_leaves_nothing(void **state)
{
	pid_t tracer;
	int st, left = -1;

	(void)state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	tracer = fork();
	if (tracer == 0) {
		struct uprobe_tracer *t = uprobe_tracer_new();
		char *quick[] = { "true", NULL }, *slow[] = { "sleep", "30", NULL };

		/* run() to the end of one tracee (its waker stays), then one left stopped */
		if (!t || uprobe_tracer_spawn(t, quick, NULL) < 0 || uprobe_tracer_run(t) < 0 ||
		    uprobe_tracer_spawn(t, slow, NULL) < 0)
			_exit(3);
		_exit(0);
	}
	assert_true(tracer > 0);
	assert_int_equal(waitpid(tracer, &st, 0), tracer);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* orphans come to us: wait a bounded time for them to end on their own */
	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(-1, NULL, WNOHANG | __WALL);

		if (r < 0 && errno == ECHILD) {
			left = 0;
			break;
		}
		if (r == 0)
			sleep_ms(10);
	}
	if (left)
		left = reap_orphans();
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	if (left) {
		print_error("%d process(es) of the exited tracer still alive after 5 s\n", left);
		fail();
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_path_true),	 T(test_path_false),	    T(test_missing_program),
		T(test_not_executable), T(test_exit_code),	    T(test_killed_by_segv),
		T(test_killed_by_abort), T(test_exit_status_unknown), T(test_foreign_child_kept),
		T(test_tracer_exit_leaves_nothing),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_EXIT\n", argv[0]);
		return 2;
	}
	g_exit = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_spawn", tests, NULL, NULL);
}
