// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Count-only probes (no-stop, no handler at all) on real processes: their
 * detours bump a counter in the tracee instead of recording each hit, and
 * uprobe_hits() stays exact: threads, forks, mixing with other probes,
 * removal while threads hit, detach and attach again.
 */
#include <pthread.h>
#include <signal.h>

#include "tracee_test.h"

static const char *g_nostop, *g_fork;

/* libuprobe's debug lines: how many count-only detours, and other no-stop ones, were made */
static int g_count_detours, g_detours;

/*
 * How many count-only detours to expect where n are wanted: none without
 * lahf/sahf in 64-bit mode (UPROBE_CAP_LAHF, off in the capsoff runs),
 * where count-only probes record like the others, counting as exactly.
 */
static int count_detours(int n)
{
	return uprobe_caps() & UPROBE_CAP_LAHF ? n : 0;
}

static int detour_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	va_list ap2;

	va_copy(ap2, ap);
	capture_print(level, fmt, ap2);
	va_end(ap2);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strstr(buf, ": jump detour for 0x") && strstr(buf, " bytes, at 0x")) {
		g_detours++;
		g_count_detours += strstr(buf, ", count-only") != NULL;
	}
	return 0;
}

static int setup(void **state)
{
	g_count_detours = g_detours = 0;
	return ctx_setup(state);
}

static struct uprobe *add_count(struct ctx *c, const char *bin, const char *sym)
{
	UPROBE_OPTS(uprobe_opts, o, .nostop = true);

	return add_or_fail(c, bin, sym, 0, &o);
}

/* ---- 1. threads: every hit counted, read live at a stop ---- */

#define THR_T 4
#define THR_N 50000
#define THR_N_S "50000"

struct at_checkpoint {
	struct uprobe *p;
	uint64_t hits[4];
	int n;
};

static int on_checkpoint(struct uprobe_hit *h, void *data)
{
	struct at_checkpoint *cp = data;

	(void)h;
	if (cp->n < 4)
		cp->hits[cp->n++] = uprobe_hits(cp->p);
	return 0;
}

static void test_threads_exact(void **state)
{
	struct ctx *c = *state;
	struct at_checkpoint cp = { 0 };
	char *argv[] = { (char *)g_nostop, "threads", "4", THR_N_S, NULL };
	pid_t pid = spawn_or_fail(c, argv);

	cp.p = add_count(c, g_nostop, "ns_f");
	add_probe(c, g_nostop, "ns_checkpoint", 0, on_checkpoint, &cp);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "total_calls"), THR_T * THR_N);
	/* every thread has made its calls and waits: the counters hold them all */
	assert_int_equal(cp.n, 1);
	assert_int_equal(cp.hits[0], THR_T * THR_N);
	assert_int_equal(uprobe_hits(cp.p), THR_T * THR_N);
	/* counted by a count-only detour, not by records or stops */
	assert_int_equal(g_count_detours, count_detours(1));
}

/* ---- 1b. the increment leaves flags and registers as they were ---- */

#define FL_N 100000
#define FL_N_S "100000"

static void test_flags_kept(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_nostop, "flags", FL_N_S, NULL };
	pid_t pid = spawn_or_fail(c, argv);
	struct uprobe *p = add_count(c, g_nostop, "ns_flags_in");

	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "calls"), FL_N);
	/* CF PF AF ZF SF OF each seen set and clear at the probe */
	assert_int_equal(kv(c->outbuf, "flags_set"), 0x8d5);
	assert_int_equal(kv(c->outbuf, "flags_clear"), 0x8d5);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(uprobe_hits(p), FL_N);
	assert_int_equal(g_count_detours, count_detours(1));
}

/* ---- 2. a probe with a handler joins the instruction, then leaves ---- */

#define PH_N 20000
#define PH_N_S "20000"

struct phases {
	struct ctx *c;
	struct uprobe *count, *with;
	uint64_t at[4];
	uint64_t handled;
	int checkpoints;
};

static int on_handled(struct uprobe_hit *h, void *data)
{
	(void)h;
	++*(uint64_t *)data;
	return 0;
}

static int on_phase(struct uprobe_hit *h, void *data)
{
	struct phases *ph = data;
	long phase = (long)uprobe_hit_regs(h)->rdi;

	ph->checkpoints++;
	/* (read after the change: the hits before it must go to the probes of their time) */
	if (phase == 1) {
		/* a handler there: the instruction is no longer count-only */
		UPROBE_OPTS(uprobe_opts, o, .handler = on_handled, .data = &ph->handled,
			    .nostop = true);

		ph->with = uprobe_add(ph->c->t, g_nostop, "ns_f", 0, &o);
	} else if (phase == 2 && ph->with) {
		ph->at[0] = uprobe_hits(ph->with);
		uprobe_remove(ph->with);
		ph->with = NULL;
	}
	if (phase >= 1 && phase <= 3)
		ph->at[phase] = uprobe_hits(ph->count);
	return 0;
}

static void test_handler_joins_and_leaves(void **state)
{
	struct ctx *c = *state;
	struct phases ph = { .c = c };
	char *argv[] = { (char *)g_nostop, "phases", PH_N_S, NULL };
	pid_t pid = spawn_or_fail(c, argv);

	ph.count = add_count(c, g_nostop, "ns_f");
	add_probe(c, g_nostop, "ns_checkpoint", 0, on_phase, &ph);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "calls"), 3 * PH_N);
	assert_int_equal(ph.checkpoints, 3);
	assert_int_equal(ph.at[1], PH_N);
	assert_int_equal(ph.at[2], 2 * PH_N);
	assert_int_equal(ph.at[3], 3 * PH_N);
	/* the other probe saw phase 2 only, each hit once */
	assert_int_equal(ph.at[0], PH_N);
	assert_int_equal(ph.handled, PH_N);
	assert_int_equal(uprobe_hits(ph.count), 3 * PH_N);
	/*
	 * count-only in phase 1, records in phase 2, count-only again in phase
	 * 3; without lahf/sahf one recording detour serves all three
	 */
	assert_int_equal(g_count_detours, count_detours(2));
	assert_int_equal(g_detours, count_detours(2) ? 3 : 1);
}

/* ---- 3. fork children count on their own; uprobe_hits() sums every process ---- */

static void test_fork_children(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_fork, "3", "20000", "30000", NULL };
	struct uprobe *p;
	pid_t pid;

	assert_int_equal(uprobe_tracer_follow_forks(c->t, true), 0);
	pid = spawn_or_fail(c, argv);
	p = add_count(c, g_fork, "fwork");
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "children_ok"), 3);
	assert_int_equal(kv(c->outbuf, "parent_calls"), 4 * 20000);
	assert_int_equal(uprobe_hits(p), 4 * 20000 + 3 * 30000);
	/* the parent's detour, and each child's own after its ring */
	assert_true(g_count_detours >= count_detours(2));
}

/* ---- 4. probes removed while threads hit them ---- */

#define RM_N 20000000
#define RM_N_S "20000000"

struct removal {
	struct uprobe *b;
	uint64_t b_hits;
	int err;
};

static int read_b(struct uprobe_tracer *t, void *arg)
{
	struct removal *r = arg;

	(void)t;
	r->b_hits = uprobe_hits(r->b);
	return 0;
}

static int remove_b(struct uprobe_tracer *t, void *arg)
{
	struct removal *r = arg;

	(void)t;
	r->b_hits = uprobe_hits(r->b);
	r->err = uprobe_remove(r->b);
	return 0;
}

struct remover {
	struct ctx *c;
	struct removal r;
	int call_err;
};

static void *remover_main(void *arg)
{
	struct remover *rm = arg;

	/* once the detour counts (read in the tracer's thread): the threads are in their calls */
	for (int i = 0; i < 2000 && rm->r.b_hits < 100000; i++) {
		sleep_ms(5);
		if (uprobe_tracer_call(rm->c->t, read_b, &rm->r))
			break;
	}
	rm->call_err = uprobe_tracer_call(rm->c->t, remove_b, &rm->r);
	return NULL;
}

static void test_removed_while_hit(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_nostop, "threads", "4", RM_N_S, NULL };
	struct remover rm = { .c = c };
	struct at_checkpoint cp = { 0 };
	pthread_t th;
	pid_t pid = spawn_or_fail(c, argv);

	cp.p = add_count(c, g_nostop, "ns_f");
	rm.r.b = add_count(c, g_nostop, "ns_f");
	add_probe(c, g_nostop, "ns_checkpoint", 0, on_checkpoint, &cp);
	assert_int_equal(pthread_create(&th, NULL, remover_main, &rm), 0);
	run_to_exit(c, pid);
	pthread_join(th, NULL);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "total_calls"), THR_T * RM_N);
	assert_int_equal(rm.call_err, 0);
	assert_int_equal(rm.r.err, 0);
	/* the one that stayed: every hit; the removed one: those before its removal */
	assert_int_equal(cp.hits[0], THR_T * RM_N);
	assert_int_equal(uprobe_hits(cp.p), THR_T * RM_N);
	/* removed while they hit it */
	assert_true(rm.r.b_hits >= 100000);
	assert_true(rm.r.b_hits < (uint64_t)THR_T * RM_N);
	print_message("removed after %llu of %d hits\n", (unsigned long long)rm.r.b_hits,
		      THR_T * RM_N);
}

/* The last probe of the instruction removed while threads hit it: the program stays exact. */
static void test_last_removed_while_hit(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_nostop, "threads", "4", RM_N_S, NULL };
	struct remover rm = { .c = c };
	pthread_t th;
	pid_t pid = spawn_or_fail(c, argv);

	rm.r.b = add_count(c, g_nostop, "ns_f");
	assert_int_equal(pthread_create(&th, NULL, remover_main, &rm), 0);
	run_to_exit(c, pid);
	pthread_join(th, NULL);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "total_calls"), THR_T * RM_N);
	assert_int_equal(rm.call_err, 0);
	assert_int_equal(rm.r.err, 0);
	assert_true(rm.r.b_hits >= 100000);
	assert_true(rm.r.b_hits < (uint64_t)THR_T * RM_N);
}

/* ---- 5. detach (the counts are read before the scratch area goes), attach again ---- */

#define RA_N 30000
#define RA_N_S "30000"

struct reattach {
	struct uprobe_tracer *t;
	struct uprobe *p;
	uint64_t at[3];
};

static int on_reattach_checkpoint(struct uprobe_hit *h, void *data)
{
	struct reattach *ra = data;
	long phase = (long)uprobe_hit_regs(h)->rdi;

	/* not read before the detach: it must read the counts itself */
	if (phase == 2)
		ra->at[phase] = uprobe_hits(ra->p);
	if (phase == 1)
		uprobe_tracer_stop(ra->t);
	return 0;
}

static void test_detach_and_attach_again(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_nostop, "reattach", RA_N_S, NULL };
	struct reattach ra = { .t = c->t };
	pid_t pid = spawn_or_fail(c, argv);
	uint64_t after_detach;

	ra.p = add_count(c, g_nostop, "ns_f");
	add_probe(c, g_nostop, "ns_checkpoint", 0, on_reattach_checkpoint, &ra);
	run_ok(c);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	after_detach = uprobe_hits(ra.p);
	/* the program waits for SIGUSR1: nothing more is counted meanwhile */
	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "calls"), 2 * RA_N);
	assert_int_equal(after_detach, RA_N);
	assert_int_equal(ra.at[2], 2 * RA_N);
	assert_int_equal(uprobe_hits(ra.p), 2 * RA_N);
	/* one count-only detour per attachment */
	assert_int_equal(g_count_detours, count_detours(2));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_threads_exact),
		T(test_flags_kept),
		T(test_handler_joins_and_leaves),
		T(test_fork_children),
		T(test_removed_while_hit),
		T(test_last_removed_while_hit),
		T(test_detach_and_attach_again),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s API_NOSTOP API_FORK\n", argv[0]);
		return 2;
	}
	g_nostop = argv[1];
	g_fork = argv[2];
	tracee_test_init("api", 120, getenv("API_TEST_FILTER"));
	uprobe_set_print(detour_print);
	return cmocka_run_group_tests_name("api_countonly", tests, NULL, NULL);
}
