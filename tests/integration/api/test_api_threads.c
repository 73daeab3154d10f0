// SPDX-License-Identifier: LGPL-2.1-or-later
/* Probes in multi-threaded and forking programs: exact counts, children left unharmed. */
#include <pthread.h>

#include "tracee_test.h"

static const char *g_threads, *g_fork, *g_vfork, *g_repkill;

struct tid_rec {
	uint64_t n;
	pid_t pid;
	int wrong_pid, main_thread;
	pid_t tids[64];
	int ntids;
	int bad_args;
};

static int on_thread_work(struct uprobe_hit *h, void *data)
{
	struct tid_rec *r = data;
	pid_t tid = uprobe_hit_tid(h);
	int i;

	r->n++;
	if (uprobe_hit_pid(h) != r->pid)
		r->wrong_pid++;
	if (tid == r->pid)
		r->main_thread++;
	/* thread_work(idx, i): idx is the worker number, 0..63 */
	if (uprobe_hit_arg(h, 0) >= 64)
		r->bad_args++;
	for (i = 0; i < r->ntids; i++)
		if (r->tids[i] == tid)
			break;
	if (i == r->ntids && r->ntids < 64)
		r->tids[r->ntids++] = tid;
	return 0;
}

static void threads_case(struct ctx *c, const char *nthreads, const char *ncalls)
{
	struct tid_rec r = { 0 };
	char *argv[] = { (char *)g_threads, (char *)nthreads, (char *)ncalls, NULL };
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	r.pid = pid;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_thread_work, .data = &r);
	struct uprobe *p = uprobe_add(c->t, g_threads, "thread_work", 0, &o);

	if (!p) {
		print_error("uprobe_add: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	run_ok(c);
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	long nt = kv(out, "threads"), total = kv(out, "total_calls");

	assert_int_equal(nt, atoi(nthreads));
	assert_int_equal(total, nt * atol(ncalls));
	assert_int_equal(kv(out, "bad"), 0);
	if (uprobe_hits(p) != (uint64_t)total || r.n != (uint64_t)total) {
		print_error("hits %llu (handler %llu), program made %ld calls\n",
			    (unsigned long long)uprobe_hits(p), (unsigned long long)r.n, total);
		fail();
	}
	assert_int_equal(r.wrong_pid, 0);
	assert_int_equal(r.main_thread, 0);
	assert_int_equal(r.bad_args, 0);
	assert_int_equal(r.ntids, nt);
	/* Every tid the program printed is one the handler saw. */
	for (const char *q = out; (q = strstr(q, " tid=")); q++) {
		pid_t tid = (pid_t)strtol(q + 5, NULL, 10);
		bool seen = false;

		for (int i = 0; i < r.ntids; i++)
			seen |= r.tids[i] == tid;
		assert_true(seen);
	}
}

static void test_threads_4(void **state)
{
	threads_case(*state, "4", "5000");
}

static void test_threads_8(void **state)
{
	threads_case(*state, "8", "3000");
}

struct fork_rec {
	uint64_t n;
	pid_t pid;
	pid_t other_pids[8];
	int nother;
};

static int on_fwork(struct uprobe_hit *h, void *data)
{
	struct fork_rec *r = data;
	pid_t p = uprobe_hit_pid(h);

	r->n++;
	if (p == r->pid)
		return 0;
	for (int i = 0; i < r->nother; i++)
		if (r->other_pids[i] == p)
			return 0;
	if (r->nother < 8)
		r->other_pids[r->nother++] = p;
	return 0;
}

/*
 * A program forking 4 children that call the probed function: the children
 * are unharmed; without follow_forks only the parent's calls are counted,
 * with it every call is, and every child's exit is seen by the tracer.
 */
static void fork_case(struct ctx *c, bool follow)
{
	struct fork_rec r = { 0 };
	char *argv[] = { (char *)g_fork, "4", "200", "300", NULL };
	pid_t pid;

	assert_int_equal(uprobe_tracer_follow_forks(c->t, follow), 0);
	assert_int_equal(spawn_out(c, argv, &pid), 0);
	r.pid = pid;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_fwork, .data = &r);
	struct uprobe *p = uprobe_add(c->t, g_fork, "fwork", 0, &o);

	assert_non_null(p);
	run_ok(c);
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	long nchild = kv(out, "children"), pcalls = kv(out, "parent_calls");

	assert_int_equal(nchild, 4);
	assert_int_equal(pcalls, 5 * 200);
	assert_int_equal(kv(out, "bad"), 0);
	if (kv(out, "children_ok") != nchild) {
		print_error("children harmed by the probe; output:\n%s\n", out);
		fail();
	}
	/* Each child ran its 300 calls with correct results. */
	long want_sum = 0;

	for (long i = 0; i < 300; i++)
		want_sum += i * 11 + 5;
	for (int k = 0; k < nchild; k++) {
		char line[128];

		snprintf(line, sizeof(line), "child=%d pid=", k);
		const char *q = strstr(out, line);

		assert_non_null(q);
		long cpid, calls, sum, bad;

		assert_int_equal(sscanf(q, "child=%*d pid=%ld calls=%ld sum=%ld bad=%ld", &cpid,
					&calls, &sum, &bad),
				 4);
		assert_int_equal(calls, 300);
		assert_int_equal(sum, want_sum);
		assert_int_equal(bad, 0);
		snprintf(line, sizeof(line), "child=%d status=0\n", k); /* %#x of 0 is "0" */
		if (!strstr(out, line)) {
			print_error("child %d did not exit 0; output:\n%s\n", k, out);
			fail();
		}
	}
	if (follow) {
		if (r.n != (uint64_t)(pcalls + nchild * 300) || uprobe_hits(p) != r.n ||
		    r.nother != nchild) {
			print_error("fwork hits %llu, parent calls %ld, %ld children x 300, other "
				    "pids %d\n", (unsigned long long)r.n, pcalls, nchild, r.nother);
			fail();
		}
		for (int k = 0; k < r.nother; k++) {
			int st = uprobe_tracer_exit_status(c->t, r.other_pids[k]);

			assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		return;
	}
	/* Only the parent is traced: its hits are exact, the children's are not counted. */
	if (r.n != (uint64_t)pcalls || uprobe_hits(p) != r.n || r.nother) {
		print_error("fwork hits %llu (handler %llu), parent calls %ld, hits from other pids %d "
			    "(first %d)\n",
			    (unsigned long long)uprobe_hits(p), (unsigned long long)r.n, pcalls,
			    r.nother, r.nother ? (int)r.other_pids[0] : 0);
		fail();
	}
}

static void test_fork_children(void **state)
{
	fork_case(*state, false);
}

/* With follow_forks every child is traced from its first instruction. */
static void test_follow_fork_children(void **state)
{
	fork_case(*state, true);
}

/* The process exits (exit(7) from main) while 4 threads are hitting the probe. */
static void test_exit_while_hitting(void **state)
{
	struct ctx *c = *state;
	struct tid_rec r = { 0 };
	char *argv[] = { (char *)g_threads, "4", "200", "exit", NULL };
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	r.pid = pid;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_thread_work, .data = &r);
	struct uprobe *p = uprobe_add(c->t, g_threads, "thread_work", 0, &o);

	assert_non_null(p);
	run_ok(c);
	const char *out = read_out(c);

	int st = uprobe_tracer_exit_status(c->t, pid);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
		print_error("exit status %#x, want exit(7); output:\n%s\n", st, out);
		fail();
	}
	assert_int_equal(kv(out, "threads"), 4);
	assert_true(r.n > 100);
	assert_int_equal(uprobe_hits(p), r.n);
	assert_int_equal(r.ntids, 4);
	assert_int_equal(r.wrong_pid, 0);
}

struct vfork_rec {
	pid_t pid;
	uint64_t parent, other;
	uint64_t exec_parent, exec_other;
};

static int on_vwork(struct uprobe_hit *h, void *data)
{
	struct vfork_rec *r = data;

	if (uprobe_hit_pid(h) == r->pid)
		r->parent++;
	else
		r->other++;
	return 0;
}

static int on_execve(struct uprobe_hit *h, void *data)
{
	struct vfork_rec *r = data;

	if (uprobe_hit_pid(h) == r->pid)
		r->exec_parent++;
	else
		r->exec_other++;
	return 0;
}

/*
 * vfork children share the parent's memory, breakpoints included: they call
 * the probed function, and posix_spawn's child runs libc's execve.
 */
static void test_vfork_children(void **state)
{
	struct ctx *c = *state;
	struct vfork_rec r = { 0 };
	char *argv[] = { (char *)g_vfork, "6", "4", NULL };
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	r.pid = pid;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_vwork, .data = &r);
	UPROBE_OPTS(uprobe_opts, oe, .handler = on_execve, .data = &r);
	struct uprobe *p = uprobe_add(c->t, g_vfork, "vwork", 0, &o);
	struct uprobe *pe = uprobe_add(c->t, "libc", "execve", 0, &oe);

	assert_non_null(p);
	if (!pe) {
		print_error("uprobe_add(libc, execve): %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	run_ok(c);
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	assert_int_equal(kv(out, "vfork_ok"), 6);
	assert_int_equal(kv(out, "spawn_ok"), 4);
	assert_int_equal(kv(out, "bad"), 0);
	if (r.parent != (uint64_t)kv(out, "parent_calls") || r.exec_parent) {
		print_error("vwork hits in the parent %llu (program: %ld), execve in the parent "
			    "%llu\n",
			    (unsigned long long)r.parent, kv(out, "parent_calls"),
			    (unsigned long long)r.exec_parent);
		fail();
	}
	/* The children's hits are reported like the parent's (one vwork each, one execve each). */
	if (r.other != 6 || r.exec_other != 4) {
		print_error("hits in vfork children: vwork %llu (want 6), execve %llu (want 4)\n",
			    (unsigned long long)r.other, (unsigned long long)r.exec_other);
		fail();
	}
	assert_int_equal(uprobe_hits(p), r.parent + r.other);
	assert_int_equal(uprobe_hits(pe), r.exec_parent + r.exec_other);
}

struct killer {
	pid_t pid;
	unsigned ms;
};

/* A new tracer for a round of a test that frees the last one (the watchdog stops it) */
static void round_tracer(struct ctx *c)
{
	if (!c->t) {
		c->t = test_tracer_new();
		assert_non_null(c->t);
		g_wd_tracer = c->t;
	}
}

/* The round's tracer freed: pid untracked, and no child of ours left, running or unreaped. */
static void round_end(struct ctx *c, pid_t pid, const char *what)
{
	int st;

	uprobe_tracer_free(c->t);
	c->t = NULL;
	g_wd_tracer = NULL;
	ctx_untrack(c, pid);
	errno = 0;
	st = waitpid(-1, NULL, WNOHANG | __WALL);
	if (st != -1 || errno != ECHILD) {
		print_error("%s: a child is left: waitpid -> %d (errno %d)\n", what, st, errno);
		fail();
	}
}

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	sleep_ms(k->ms);
	kill(k->pid, SIGKILL);
	return NULL;
}

/*
 * A 200-thread program killed (SIGKILL) while traced, 20 times, at moments
 * from "threads still being created" to "every thread hitting the probe":
 * run() returns 0 within a bounded time with the kill as the exit status,
 * and once the tracer is freed no child of ours is left, running or
 * unreaped.
 */
static void test_kill_200_threads(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_threads, "200", "60000", "exit", NULL };

	for (unsigned i = 0; i < 20; i++) {
		struct killer k = { .ms = (i % 10) * 15 };
		char what[32];
		uint64_t hits = 0;
		pthread_t th;
		double t0;
		pid_t pid;
		int st;

		round_tracer(c);
		/* each round within its own bound: 20 of them on a busy machine may take long */
		wd_arm(30);
		assert_int_equal(spawn_out(c, argv, &pid), 0);
		UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &hits);
		struct uprobe *p = uprobe_add(c->t, g_threads, "thread_work", 0, &o);

		assert_non_null(p);
		k.pid = pid;
		t0 = now_s();
		assert_int_equal(pthread_create(&th, NULL, kill_later, &k), 0);
		st = uprobe_tracer_run(c->t);
		pthread_join(th, NULL);
		if (st || g_wd_fired) {
			print_error("round %u: run: %d %s%s\n", i, st, uprobe_tracer_errmsg(c->t),
				    g_wd_fired ? " (watchdog)" : "");
			fail();
		}
		if (now_s() - t0 > 25) {
			print_error("round %u: run() took %.1f s after the kill\n", i, now_s() - t0);
			fail();
		}
		st = uprobe_tracer_exit_status(c->t, pid);
		if (st < 0 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			print_error("round %u (kill after %u ms, %llu hits): status %#x, want SIGKILL\n",
				    i, k.ms, (unsigned long long)hits, st);
			fail();
		}
		assert_int_equal(uprobe_hits(p), hits);
		/* the tracee, its threads, the waker and the guardian are all reaped */
		snprintf(what, sizeof(what), "round %u", i);
		round_end(c, pid, what);
	}
}

struct rep_kill {
	pid_t pid;
	volatile int hit;
};

static int on_rep(struct uprobe_hit *h, void *data)
{
	(void)h;
	((struct rep_kill *)data)->hit = 1;
	return 0;
}

/*
 * SIGUSR1 5 ms after the first hit, while the thread copies in its slot,
 * and SIGKILL 20 ms later, while the tracer runs the copy to its end.
 */
static void *kill_in_copy(void *arg)
{
	struct rep_kill *r = arg;

	for (int i = 0; i < 20000 && !r->hit; i++)
		sleep_ms(1);
	sleep_ms(5);
	kill(r->pid, SIGUSR1);
	sleep_ms(20);
	kill(r->pid, SIGKILL);
	return NULL;
}

/*
 * The program is killed while the tracer waits for one of its threads
 * alone: a probed `rep movsb` of 512 MiB that a signal makes the tracer
 * run to its end (xol.c's run-out) for the only thread, for the leader
 * while another thread sleeps (a killed leader is reaped only after its
 * other threads: a wait for it alone never ends), and for a second thread. The exit the
 * private wait reaps must reach the dispatcher: run() returns 0 with the
 * kill as the exit status, and no child of ours is left.
 */
static void test_killed_in_private_wait(void **state)
{
	static const char *modes[] = { "leader", "sibling", "worker" };
	struct ctx *c = *state;

	for (unsigned i = 0; i < 6; i++) {
		char *argv[] = { (char *)g_repkill, (char *)modes[i % 3], NULL };
		struct rep_kill r = { 0 };
		pthread_t th;
		pid_t pid;
		int st;

		round_tracer(c);
		wd_arm(30);
		assert_int_equal(spawn_out(c, argv, &pid), 0);
		UPROBE_OPTS(uprobe_opts, o, .handler = on_rep, .data = &r);
		struct uprobe *p = uprobe_add(c->t, g_repkill, "rep_copy", 3, &o);

		if (!p) {
			print_error("uprobe_add(rep_copy+3): %s\n", uprobe_tracer_errmsg(c->t));
			fail();
		}
		r.pid = pid;
		assert_int_equal(pthread_create(&th, NULL, kill_in_copy, &r), 0);
		st = uprobe_tracer_run(c->t);
		pthread_join(th, NULL);
		if (st || g_wd_fired) {
			print_error("%s: run: %d %s%s\n", modes[i % 3], st,
				    uprobe_tracer_errmsg(c->t), g_wd_fired ? " (watchdog)" : "");
			fail();
		}
		st = uprobe_tracer_exit_status(c->t, pid);
		if (st < 0 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			print_error("%s: status %#x, want SIGKILL\n", modes[i % 3], st);
			fail();
		}
		assert_true(uprobe_hits(p) >= 1);
		round_end(c, pid, modes[i % 3]);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_threads_4),
		T(test_threads_8),
		T(test_fork_children),
		T(test_follow_fork_children),
		T(test_exit_while_hitting),
		T(test_vfork_children),
		T(test_kill_200_threads),
		T(test_killed_in_private_wait),
	};

	if (argc < 5) {
		fprintf(stderr, "usage: %s API_THREADS API_FORK API_VFORK API_REPKILL\n", argv[0]);
		return 2;
	}
	g_threads = argv[1];
	g_fork = argv[2];
	g_vfork = argv[3];
	g_repkill = argv[4];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_threads", tests, NULL, NULL);
}
