// SPDX-License-Identifier: LGPL-2.1-or-later
/* Busy multi-threaded tracees: exact counts, probes added and removed from another thread while run() runs, stop from another thread. */
#include <pthread.h>

#include "tracee_test.h"

static const char *g_threads;

/* 8 threads x 100,000 calls: every one counted, none twice. */
static void test_eight_threads_100k(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_threads, "8", "100000", NULL };
	uint64_t n = 0;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &n);
	struct uprobe *p = add_or_fail(c, g_threads, "thread_work", 0, &o);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_exited_ok(c, pid);
	assert_int_equal(kv(read_out(c), "total_calls"), 800000);
	assert_int_equal(kv(read_out(c), "bad"), 0);
	assert_int_equal(n, 800000);
	assert_int_equal(uprobe_hits(p), 800000);
}

/* ---- probes added and removed from another thread ---- */

struct churn {
	struct ctx *c;
	uint64_t off;      /* a second instruction of thread_work */
	struct uprobe *b;
	bool live;         /* written and read only in the run thread */
	uint64_t b_hits, b_handler, b_spurious;
	int rounds, errors;
};

static int on_b(struct uprobe_hit *h, void *data)
{
	struct churn *ch = data;

	ch->b_handler++;
	if (!ch->live)
		ch->b_spurious++;
	return 0;
}

static int add_b(struct uprobe_tracer *t, void *arg)
{
	struct churn *ch = arg;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_b, .data = ch);

	ch->b = uprobe_add(t, g_threads, "thread_work", ch->off, &o);
	if (!ch->b)
		return -errno;
	ch->live = true;
	return 0;
}

static int remove_b(struct uprobe_tracer *t, void *arg)
{
	struct churn *ch = arg;

	ch->b_hits += uprobe_hits(ch->b);
	ch->live = false;
	return uprobe_remove(ch->b);
}

static void *churner(void *arg)
{
	struct churn *ch = arg;

	for (int r = 0; r < 100; r++) {
		int err = uprobe_tracer_call(ch->c->t, add_b, ch);

		/* -EBUSY until the test's thread is inside run(): wait for it, boundedly */
		for (int w = 0; r == 0 && err == -EBUSY && w < 5000; w++) {
			sleep_ms(1);
			err = uprobe_tracer_call(ch->c->t, add_b, ch);
		}
		if (err) {
			ch->errors++;
			break;
		}
		sleep_ms(2);
		if (uprobe_tracer_call(ch->c->t, remove_b, ch)) {
			ch->errors++;
			break;
		}
		ch->rounds++;
		sleep_ms(1);
	}
	return NULL;
}

/* The second instruction boundary of thread_work: the library refuses the others. */
static uint64_t second_insn(struct ctx *c)
{
	for (uint64_t off = 1; off < 16; off++) {
		struct uprobe *p = uprobe_add(c->t, g_threads, "thread_work", off, NULL);

		if (p) {
			uprobe_remove(p);
			return off;
		}
		assert_int_equal(errno, EINVAL);
	}
	fail_msg("no second instruction in thread_work");
	return 0;
}

static void test_add_remove_while_running(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_threads, "8", "60000", NULL };
	struct churn ch = { .c = c };
	uint64_t n = 0;
	pthread_t th;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	ch.off = second_insn(c);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &n);
	struct uprobe *a = add_or_fail(c, g_threads, "thread_work", 0, &o);

	assert_int_equal(pthread_create(&th, NULL, churner, &ch), 0);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_exited_ok(c, pid);
	assert_int_equal(kv(read_out(c), "bad"), 0);
	/* the steady probe lost nothing and gained nothing while the other came and went */
	assert_int_equal(n, 480000);
	assert_int_equal(uprobe_hits(a), 480000);
	print_message("%d add/remove rounds, %llu hits of the churned probe\n", ch.rounds,
		      (unsigned long long)ch.b_hits);
	assert_int_equal(ch.errors, 0);
	assert_int_equal(ch.rounds, 100);
	assert_int_equal(ch.b_spurious, 0);
	assert_int_equal(ch.b_handler, ch.b_hits);
	assert_true(ch.b_hits > 0);
}

/* Two processes in one tracer: each gets the probe, each has its own scratch area. */
static void test_two_tracees(void **state)
{
	struct ctx *c = *state;
	char *a1[] = { (char *)g_threads, "2", "20000", NULL };
	char *a2[] = { (char *)g_threads, "3", "10000", NULL };
	uint64_t n = 0;
	pid_t p1, p2;

	assert_int_equal(spawn_out(c, a1, &p1), 0);
	assert_int_equal(spawn_out(c, a2, &p2), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &n);
	struct uprobe *p = add_or_fail(c, g_threads, "thread_work", 0, &o);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_exited_ok(c, p1);
	assert_exited_ok(c, p2);
	assert_int_equal(n, 2 * 20000 + 3 * 10000);
	assert_int_equal(uprobe_hits(p), n);
}

/* ---- probes added and removed from handlers ---- */

struct selfmod {
	struct ctx *c;
	struct uprobe *a, *b;
	uint64_t na, nb;
	int errors;
};

static int on_sm_b(struct uprobe_hit *h, void *data)
{
	struct selfmod *m = data;

	if (++m->nb == 300 && uprobe_remove(m->b))
		m->errors++;
	return 0;
}

static int on_sm_a(struct uprobe_hit *h, void *data)
{
	struct selfmod *m = data;

	m->na++;
	if (m->na == 100) {
		/* a second probe on the instruction being hit: its handler runs from this hit on */
		UPROBE_OPTS(uprobe_opts, o, .handler = on_sm_b, .data = m);

		m->b = uprobe_add(m->c->t, g_threads, "thread_work", 0, &o);
		if (!m->b)
			m->errors++;
	}
	if (m->na == 500 && uprobe_remove(m->a))
		m->errors++;
	return 0;
}

static void test_add_remove_from_handler(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_threads, "1", "1000", NULL };
	struct selfmod m = { .c = c };
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_sm_a, .data = &m);
	m.a = add_or_fail(c, g_threads, "thread_work", 0, &o);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_exited_ok(c, pid);
	assert_int_equal(kv(read_out(c), "bad"), 0);
	assert_int_equal(m.errors, 0);
	assert_int_equal(m.na, 500);
	assert_int_equal(m.nb, 300);
}

/* ---- stop from another thread while the tracee sleeps ---- */

static void *stopper(void *arg)
{
	struct ctx *c = arg;

	sleep_ms(200);
	uprobe_tracer_stop(c->t);
	return NULL;
}

static void test_stop_from_other_thread(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { "sleep", "30", NULL };
	pthread_t th;
	double t0;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	t0 = now_s();
	assert_int_equal(pthread_create(&th, NULL, stopper, c), 0);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* it returned because of the stop, not because sleep ended */
	assert_true(now_s() - t0 < 5);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_eight_threads_100k),
		T(test_add_remove_while_running),
		T(test_stop_from_other_thread),
		T(test_two_tracees),
		T(test_add_remove_from_handler),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_THREADS\n", argv[0]);
		return 2;
	}
	g_threads = argv[1];
	tracee_test_init("api", 110, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_live", tests, NULL, NULL);
}
