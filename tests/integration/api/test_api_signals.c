// SPDX-License-Identifier: LGPL-2.1-or-later
/* Signals with probes: the own int3, program handlers, SIGPROF storms, stop from SIGALRM. */
#include <pthread.h>

#include "tracee_test.h"

static const char *g_signals, *g_sigprof, *g_loop, *g_eintr;

static pid_t spawn3(struct ctx *c, const char *prog, const char *a1, const char *a2,
		    const char *a3)
{
	char *argv[] = { (char *)prog, (char *)a1, (char *)a2, (char *)a3, NULL };

	return spawn_or_fail(c, argv);
}

/*
 * The program's own int3 reaches its SIGTRAP handler while probes are active,
 * including one on the instruction right after that int3 (so the trap address
 * of the program's int3 is the probe's address + 0 and the probe's own hit is
 * at int3 + 1).
 */
static void test_own_int3_with_probes(void **state)
{
	struct ctx *c = *state;
	uint64_t nwork = 0, nret = 0;
	pid_t pid = spawn3(c, g_signals, "2000", "20", NULL);
	struct uprobe *pw = add_probe(c, g_signals, "work", 0, on_count, &nwork);
	struct uprobe *pr = add_probe(c, g_signals, "own_trap", 1, on_count, &nret);

	run_to_exit(c, pid);
	const char *out = c->outbuf;

	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "traps_expected"), 20);
	assert_int_equal(kv(out, "traps"), 20);
	assert_int_equal(kv(out, "usr1"), kv(out, "usr1_expected"));
	assert_int_equal(nwork, kv(out, "work_calls"));
	assert_int_equal(uprobe_hits(pw), kv(out, "work_calls"));
	assert_int_equal(nret, 20);
	assert_int_equal(uprobe_hits(pr), 20);
}

struct term_rec {
	uint64_t n;
	pid_t pid;
	int sent;
};

static int on_work_term(struct uprobe_hit *h, void *data)
{
	struct term_rec *r = data;

	/* SIGTERM sent while the thread is stopped at the probe: delivered to its handler later. */
	if (++r->n == 1000 && kill(r->pid, SIGTERM) == 0)
		r->sent++;
	return 0;
}

static void test_handlers_while_probing(void **state)
{
	struct ctx *c = *state;
	struct term_rec r = { 0 };
	pid_t pid = spawn3(c, g_signals, "3000", "5", "3000");

	r.pid = pid;
	struct uprobe *p = add_probe(c, g_signals, "work", 0, on_work_term, &r);

	run_to_exit(c, pid);
	const char *out = c->outbuf;

	assert_int_equal(r.sent, 1);
	assert_int_equal(kv(out, "term"), 1);
	assert_int_equal(kv(out, "bad"), 0);
	assert_true(kv(out, "usr1") > 0);
	assert_int_equal(kv(out, "usr1"), kv(out, "usr1_expected"));
	assert_int_equal(kv(out, "traps"), 5);
	assert_int_equal(uprobe_hits(p), kv(out, "work_calls"));
	assert_int_equal(r.n, 3000);
}

/* ---- group stop: SIGSTOP from a handler, SIGCONT from another thread later ---- */

struct stop_rec {
	uint64_t n;
	pid_t pid;
	int sent;
	pthread_t thr;
	bool thr_started;
};

static void *send_cont_later(void *arg)
{
	struct stop_rec *r = arg;

	sleep_ms(300);
	kill(r->pid, SIGCONT);
	return NULL;
}

static int on_work_sigstop(struct uprobe_hit *h, void *data)
{
	struct stop_rec *r = data;

	if (++r->n == 500 && kill(r->pid, SIGSTOP) == 0) {
		r->sent++;
		r->thr_started = pthread_create(&r->thr, NULL, send_cont_later, r) == 0;
	}
	return 0;
}

static void test_group_stop_continue(void **state)
{
	struct ctx *c = *state;
	struct stop_rec r = { 0 };
	pid_t pid = spawn3(c, g_signals, "2000", "5", NULL);

	r.pid = pid;
	struct uprobe *p = add_probe(c, g_signals, "work", 0, on_work_sigstop, &r);
	double t0 = now_s();

	run_to_exit(c, pid);
	double dt = now_s() - t0;

	if (r.thr_started)
		pthread_join(r.thr, NULL);
	const char *out = c->outbuf;

	assert_int_equal(r.sent, 1);
	assert_true(r.thr_started);
	/* It really stopped until the SIGCONT, and its SIGCONT handler ran once. */
	if (dt < 0.25) {
		print_error("run took %.3f s: the SIGSTOP did not stop the process\n", dt);
		fail();
	}
	assert_int_equal(kv(out, "cont"), 1);
	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "traps"), 5);
	assert_int_equal(kv(out, "usr1"), kv(out, "usr1_expected"));
	assert_int_equal(uprobe_hits(p), kv(out, "work_calls"));
	assert_int_equal(r.n, 2000);
}

/*
 * Runs api_sigprof to its end and checks what it says of itself: results
 * right, signals handled, no interrupted pc outside its own code. Returns
 * how many times prof_work was called (loop and handler).
 */
static long run_sigprof(struct ctx *c, pid_t pid)
{
	const char *out;

	run_to_exit(c, pid);
	out = c->outbuf;
	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "sig_bad"), 0);
	assert_true(kv(out, "prof_signals") > 0);
	assert_int_equal(kv(out, "sig_calls"), kv(out, "prof_signals"));
	assert_true(kv(out, "pc_samples") > 0);
	assert_int_equal(kv(out, "pc_bad"), 0);
	return kv(out, "loop_calls") + kv(out, "sig_calls");
}

/* SIGPROF at a high rate while the probed function runs, and the handler calls it too. */
static void test_sigprof_storm(void **state)
{
	struct ctx *c = *state;
	uint64_t n = 0;
	pid_t pid = spawn3(c, g_sigprof, "20000", NULL, NULL);
	struct uprobe *p = add_probe(c, g_sigprof, "prof_work", 0, on_count, &n);

	long calls = run_sigprof(c, pid);

	if (n != (uint64_t)calls || uprobe_hits(p) != n) {
		print_error("prof_work hits %llu (handler %llu), program called it %ld + %ld times\n",
			    (unsigned long long)uprobe_hits(p), (unsigned long long)n,
			    kv(c->outbuf, "loop_calls"), kv(c->outbuf, "sig_calls"));
		fail();
	}
}

/*
 * The same storm with every instruction of prof_work probed, half with post
 * handlers, so signals keep arriving while threads are inside relocated
 * copies and between an instruction and its post stop: the program's
 * handler must never see a pc outside its own code, and the probe on the
 * first instruction counts every call, the handler's nested ones included.
 */
static void test_sigprof_every_insn(void **state)
{
	struct ctx *c = *state;
	uint64_t n = 0, post = 0, other = 0;
	uint64_t off, size;
	unsigned placed = 0;
	pid_t pid = spawn3(c, g_sigprof, "300", "20", NULL);
	UPROBE_OPTS(uprobe_opts, o0, .handler = on_count, .data = &n);

	assert_true(elf_sym_off(g_sigprof, "prof_work", &off, &size));
	add_or_fail(c, g_sigprof, "prof_work", 0, &o0);
	for (uint64_t i = 1; i < size; i++) {
		UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &other,
			    .post_handler = i & 1 ? on_count : NULL);

		if (i & 1)
			o.data = &post; /* entries and posts counted together */
		if (uprobe_add(c->t, g_sigprof, "prof_work", i, &o))
			placed++;
		else
			assert_int_equal(errno, EINVAL); /* not an instruction boundary */
	}
	assert_true(placed >= 5);
	assert_int_equal(n, (uint64_t)run_sigprof(c, pid));
	assert_true(post > 0 && post % 2 == 0); /* every entry has its post */
}

/* ---- uprobe_tracer_stop from a SIGALRM handler ---- */

static struct uprobe_tracer *volatile g_alarm_tracer;
static volatile sig_atomic_t g_alarms;

static void on_alarm_stop(int sig)
{
	static const char msg[] = "api test: run() did not return after stop, exiting\n";

	if (g_alarms++ == 0) {
		uprobe_tracer_stop(g_alarm_tracer);
		alarm(10); /* escalation if run() ignores the stop */
		return;
	}
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(98);
	_exit(99);
}

static void stop_from_sigalrm(struct ctx *c, bool with_probe)
{
	struct sigaction sa;
	uint64_t n = 0;
	struct uprobe *p = NULL;
	/* 1 thread, at most 20 s, 1 ms between ticks */
	pid_t pid = spawn3(c, g_loop, "1", "20000", "1000");

	if (with_probe)
		p = add_probe(c, g_loop, "tick", 0, on_count, &n);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART, as the header asks */
	g_alarm_tracer = c->t;
	g_alarms = 0;
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);

	double t0 = now_s();
	int r = uprobe_tracer_run(c->t);
	double dt = now_s() - t0;

	alarm(0);
	wd_arm(60);
	assert_int_equal(r, 0);
	assert_int_equal(g_alarms, 1);
	if (dt < 0.5 || dt > 5) {
		print_error("run() returned after %.2f s, want about 1 s\n", dt);
		fail();
	}
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH); /* still running */
	if (with_probe) {
		assert_true(n > 10);
		assert_int_equal(uprobe_hits(p), n);
	}

	/* Let it go, tell it to finish, and reap it ourselves. */
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	uint64_t at_detach = n;

	assert_int_equal(kill(pid, SIGUSR1), 0);
	int st = wait_child(c, pid);
	const char *out = read_out(c);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("after detach: status %#x, output:\n%s\n", st, out);
		fail();
	}
	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "finished_by_signal"), 1);
	/* it ran on while traced; how many ticks a second depends on the machine's load */
	assert_true(kv(out, "total_ticks") > 0);
	assert_int_equal(n, at_detach);
	if (with_probe)
		assert_true((long)n <= kv(out, "total_ticks"));
}

static void test_stop_from_sigalrm_idle(void **state)
{
	stop_from_sigalrm(*state, false);
}

static void test_stop_from_sigalrm_busy(void **state)
{
	stop_from_sigalrm(*state, true);
}

/*
 * Threads blocked in epoll_wait, sigwaitinfo and semop, which the kernel
 * never restarts: the interrupt that stops every thread (here for the
 * detach) wakes them with -EINTR for no signal of the program's. Each
 * call is made again, and ends as untraced, when the program ends it.
 */
static const char eintr_want[] = "epoll=1 ok\nsigwait=12 ok\nsemop=0 ok\n";

struct eintr_stop {
	struct uprobe_tracer *t;
	uint64_t n;
};

static int on_stop_tracer(struct uprobe_hit *h, void *data)
{
	struct eintr_stop *r = data;

	r->n++;
	uprobe_tracer_stop(r->t);
	return 0;
}

static void test_eintr_detach(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_eintr, NULL };
	struct eintr_stop r = { .t = c->t };
	pid_t pid = spawn_or_fail(c, argv);
	struct uprobe *p = add_probe(c, g_eintr, "stop_here", 0, on_stop_tracer, &r);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(uprobe_hits(p), 1);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH); /* still running */
	assert_int_equal(uprobe_tracer_detach(c->t), 0);

	int st = wait_child(c, pid);
	const char *out = read_out(c);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("after detach: status %#x, output:\n%s\n", st, out);
		fail();
	}
	assert_same_output(eintr_want, out);
}

/*
 * The same with the tracer staying: a no-stop probe in libc (usleep, which
 * the main thread calls 5 times) becomes a jump after its first hit, with
 * every thread stopped for the change.
 */
static void test_eintr_nostop(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_eintr, NULL };
	uint64_t n = 0;
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &n, .nostop = true);
	struct uprobe *p = add_or_fail(c, "libc", "usleep", 0, &o);

	run_to_exit(c, pid);
	assert_same_output(eintr_want, c->outbuf);
	assert_int_equal(uprobe_hits(p), 5);
}

/*
 * The program sends each waiting thread a signal it ignores (SIGWINCH,
 * SIGCHLD, SIGURG): traced, the kernel queues it for the tracer, and the
 * wait ended with -EINTR. It is made again.
 */
static void test_eintr_ignored(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_eintr, NULL };
	uint64_t n = 0;
	pid_t pid = spawn_or_fail(c, argv);
	struct uprobe *p = add_probe(c, g_eintr, "stop_here", 0, on_count, &n);

	run_to_exit(c, pid);
	assert_same_output(eintr_want, c->outbuf);
	assert_int_equal(uprobe_hits(p), 3);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_own_int3_with_probes),	T(test_handlers_while_probing),
		T(test_group_stop_continue),	T(test_sigprof_storm),
		T(test_sigprof_every_insn),
		T(test_stop_from_sigalrm_idle),
		T(test_stop_from_sigalrm_busy),
		T(test_eintr_detach),
		T(test_eintr_nostop),
		T(test_eintr_ignored),
	};

	if (argc < 5) {
		fprintf(stderr, "usage: %s API_SIGNALS API_SIGPROF API_LOOP API_EINTR\n", argv[0]);
		return 2;
	}
	g_signals = argv[1];
	g_sigprof = argv[2];
	g_loop = argv[3];
	g_eintr = argv[4];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_signals", tests, NULL, NULL);
}
