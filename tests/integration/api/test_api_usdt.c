// SPDX-License-Identifier: LGPL-2.1-or-later
/* USDT probes on api_usdt (PIE and not) and its library: every site, every argument, semaphores. */
#include "tracee_test.h"

static const char *g_usdt, *g_usdt_nopie, *g_lib, *g_lib_dl;

#define ROUNDS 40

/* What the handler saw; every argument is checked against what api_usdt passed. */
struct seen {
	struct uprobe_tracer *t;
	struct uprobe_usdt *inl;
	long hits, bad;
	long by_name[8]; /* regs mem consts stack inl work guarded other */
	long inl_where[2]; /* per site of tst:inl: a bit per `where` value seen */
	long guarded_last;    /* tst:guarded's count */
	long lib_guarded_last; /* tlib:guarded's */
	int lib_starts;        /* times tlib:guarded's count started at 1 (a load of the library) */
	long stop_after;   /* uprobe_tracer_stop() at this many guarded hits (0 never) */
	struct uprobe_usdt *remove_after; /* removed at stop_after guarded hits instead */
	bool async_seen;
	char first_bad[256];
};

static const char *const g_names[] = { "regs", "mem", "consts", "stack", "inl", "work",
				       "guarded" };

static void bad(struct seen *s, const char *name, int n, int64_t got, int64_t want, int size,
		int want_size)
{
	if (!s->bad++)
		snprintf(s->first_bad, sizeof(s->first_bad),
			 "%s arg %d: %lld (size %d), want %lld (size %d)", name, n, (long long)got,
			 size, (long long)want, want_size);
}

static int on_usdt(struct uprobe_hit *h, void *data)
{
	static const long arr[8] = { 11, -22, 33, -44, 55, -66, 77, -88 };
	struct seen *s = data;
	const char *prov, *name;
	int64_t v[12], want[12];
	int size[12], want_size[12], nargs, kind = 7;

	nargs = uprobe_hit_usdt(h, &prov, &name);
	s->hits++;
	s->async_seen |= uprobe_hit_is_async(h);
	if (nargs < 1 || nargs > 12) {
		bad(s, "nargs", 0, nargs, 0, 0, 0);
		return 0;
	}
	for (int i = 0; i < nargs; i++) {
		if (uprobe_hit_usdt_arg(h, (unsigned)i, &v[i], &size[i])) {
			bad(s, name, i, -1, 0, 0, 0);
			return 0;
		}
		want_size[i] = size[i];
	}
	for (int k = 0; k < 7; k++)
		if (!strcmp(name, g_names[k]))
			kind = k;
	s->by_name[kind]++;
	long i = v[0];

	switch (kind) {
	case 0: { /* regs: every width, signed and not */
		const int64_t w[9] = { i, -(i % 100), 200 + i % 50, -1000 - i, 60000 + i,
				       -100000 - i, 4000000000ll + i, -5000000000ll - i,
				       (int64_t)(0xfedcba9876543210ull + (uint64_t)i) };
		const int ws[9] = { -8, -1, 1, -2, 2, -4, 4, -8, 8 };

		if (nargs != 9)
			bad(s, name, -1, nargs, 9, 0, 0);
		memcpy(want, w, sizeof(w));
		memcpy(want_size, ws, sizeof(ws));
		break;
	}
	case 1: /* mem: globals, an indexed array, the caller's stack */
		want[0] = i;
		want[1] = arr[i & 7];
		want[2] = -123456;
		want[3] = -321;
		want[4] = i * 10 + (i & 3) - 20;
		want[5] = i * 10 + 1 - 20;
		break;
	case 2: /* consts */
		want[0] = i;
		want[1] = 5;
		want[2] = -7;
		want[3] = 0x1234567890;
		break;
	case 3: /* stack: off the frame pointer */
		want[0] = i;
		want[1] = i * 3 - 7;
		want[2] = i * 4 - 7;
		break;
	case 4: { /* inl: which site, and `where` must be that site's own */
		int site = uprobe_hit_probe(h) == uprobe_usdt_site(s->inl, 0) ? 0 : 1;

		want[0] = i;
		want[1] = v[1] == 1 || v[1] == 2 ? v[1] : 1;
		s->inl_where[site] |= 1 << v[1];
		break;
	}
	case 5: /* tlib:work in the library: x, x * 3, -x */
		want[0] = i;
		want[1] = i * 3;
		want[2] = -i;
		break;
	case 6: /* guarded: its count, and the semaphore as the program saw it */
		want[1] = 1;
		if (!strcmp(prov, "tlib")) {
			/* each load of the library counts from 1 */
			s->lib_starts += v[0] == 1;
			want[0] = v[0] == 1 ? 1 : s->lib_guarded_last + 1;
			s->lib_guarded_last = v[0];
			break;
		}
		want[0] = s->guarded_last + 1;
		s->guarded_last = v[0];
		break;
	default:
		bad(s, name, -1, 0, 0, 0, 0);
		return 0;
	}
	for (int n = 0; n < nargs; n++)
		if (v[n] != want[n] || size[n] != want_size[n])
			bad(s, name, n, v[n], want[n], size[n], want_size[n]);
	if (kind == 6 && s->stop_after && s->guarded_last == s->stop_after && !strcmp(prov, "tst")) {
		if (s->remove_after) {
			assert_int_equal(uprobe_usdt_remove(s->remove_after), 0);
			s->remove_after = NULL;
		} else {
			uprobe_tracer_stop(s->t);
		}
	}
	return 0;
}

static struct uprobe_usdt *usdt_or_fail(struct ctx *c, const char *bin, const char *prov,
					const char *name, const struct uprobe_opts *o)
{
	struct uprobe_usdt *u = uprobe_add_usdt(c->t, bin, prov, name, o);

	if (!u) {
		print_error("uprobe_add_usdt(%s, %s, %s): %s (errno %d)\n", bin, prov, name,
			    uprobe_tracer_errmsg(c->t), errno);
		fail();
	}
	return u;
}

/* Every point of the program and its library, every round: each argument as passed. */
static void check_args(struct ctx *c, const char *prog)
{
	char rounds[16];
	char *argv[] = { (char *)prog, "args", rounds, NULL };
	struct seen s = { 0 };
	struct uprobe_usdt *u[7];
	pid_t pid;

	snprintf(rounds, sizeof(rounds), "%d", ROUNDS);
	pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_usdt, .data = &s);
	for (int k = 0; k < 7; k++) {
		if (k == 5) /* by the library's name, as mapped, or by its path */
			u[k] = usdt_or_fail(c, prog == g_usdt ? "libapi_usdt" : g_lib, "tlib",
					    "work", &o);
		else
			u[k] = usdt_or_fail(c, prog, "tst", g_names[k], &o);
	}
	s.inl = u[4];
	assert_int_equal(uprobe_usdt_nsites(u[4]), 2);
	for (int k = 0; k < 7; k++) {
		assert_int_equal(uprobe_usdt_semaphores(u[k]), k == 6);
		if (k != 4)
			assert_int_equal(uprobe_usdt_nsites(u[k]), 1);
	}
	assert_non_null(strstr(uprobe_binary_path(uprobe_usdt_site(u[5], 0)), "libapi_usdt.so"));
	run_to_exit(c, pid);
	if (s.bad)
		print_error("%ld bad: first %s\n", s.bad, s.first_bad);
	assert_int_equal(s.bad, 0);
	for (int k = 0; k < 7; k++)
		assert_int_equal(s.by_name[k], k == 4 ? 2 * ROUNDS : ROUNDS);
	assert_int_equal(s.by_name[7], 0);
	for (int site = 0; site < 2; site++)
		assert_int_equal(uprobe_hits(uprobe_usdt_site(u[4], (unsigned)site)), ROUNDS);
	/* each inlined copy passes its own constant */
	assert_true(s.inl_where[0] == 2 || s.inl_where[0] == 4);
	assert_int_equal(s.inl_where[0] ^ s.inl_where[1], 6);
	assert_int_equal(uprobe_usdt_hits(u[6]), ROUNDS);
	/* the semaphore was set from the first round to the last */
	assert_int_equal(kv(c->outbuf, "guarded"), ROUNDS);
	assert_int_equal(kv(c->outbuf, "sem"), 1);
	assert_int_equal(kv(c->outbuf, "lib"), 3 * (ROUNDS * (ROUNDS - 1) / 2 - 3 * ROUNDS));
	/* the library's semaphore was not asked for */
	assert_int_equal(kv(c->outbuf, "lib_guarded"), 0);
	assert_int_equal(kv(c->outbuf, "lib_sem"), 0);
}

static void test_args_pie(void **state)
{
	check_args(*state, g_usdt);
}

static void test_args_nopie(void **state)
{
	check_args(*state, g_usdt_nopie);
}

/*
 * A semaphore in a shared library, wherever it was loaded; the program's
 * own guarded point, not asked for, stays off. PIE and not: exec'd from
 * api_usdt_nopie (the address of its semaphore is the same in the new
 * image, which must be counted anew) and from api_usdt.
 */
static void check_lib_semaphore(struct ctx *c, const char *prog, bool exec)
{
	char rounds[16];
	char *argv[] = { (char *)prog, exec ? "exec" : "args", rounds, NULL };
	struct seen s = { 0 };
	struct uprobe_usdt *u, *own;
	pid_t pid;

	snprintf(rounds, sizeof(rounds), "%d", ROUNDS);
	pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_usdt, .data = &s);
	u = usdt_or_fail(c, "libapi_usdt", "tlib", "guarded", &o);
	assert_int_equal(uprobe_usdt_semaphores(u), 1);
	if (exec)
		own = usdt_or_fail(c, prog, "tst", "guarded", &o);
	run_to_exit(c, pid);
	if (s.bad)
		print_error("%ld bad: first %s\n", s.bad, s.first_bad);
	assert_int_equal(s.bad, 0);
	assert_int_equal(kv(c->outbuf, "lib_guarded"), ROUNDS);
	assert_int_equal(kv(c->outbuf, "lib_sem"), 1);
	assert_int_equal(uprobe_usdt_hits(u), ROUNDS);
	assert_int_equal(s.lib_starts, 1);
	if (exec) {
		assert_int_equal(kv(c->outbuf, "guarded"), ROUNDS);
		assert_int_equal(kv(c->outbuf, "sem"), 1);
		assert_int_equal(uprobe_usdt_hits(own), ROUNDS);
	} else {
		assert_int_equal(kv(c->outbuf, "guarded"), 0);
		assert_int_equal(kv(c->outbuf, "sem"), 0);
	}
}

static void test_semaphore_library(void **state)
{
	check_lib_semaphore(*state, g_usdt, false);
}

static void test_semaphore_exec_pie(void **state)
{
	check_lib_semaphore(*state, g_usdt, true);
}

static void test_semaphore_exec_nopie(void **state)
{
	check_lib_semaphore(*state, g_usdt_nopie, true);
}

/*
 * A library dlopen'ed, dlclose'd and dlopen'ed again: its semaphore is set
 * at each load (the probe was added by path before the first).
 */
static void test_semaphore_dlopen(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_usdt, "dlopen", (char *)g_lib_dl, "30", NULL };
	struct seen s = { 0 };
	pid_t pid = spawn_or_fail(c, argv);

	UPROBE_OPTS(uprobe_opts, o, .handler = on_usdt, .data = &s);
	struct uprobe_usdt *u = usdt_or_fail(c, g_lib_dl, "tlib", "guarded", &o);

	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "load0"), 30);
	assert_int_equal(kv(c->outbuf, "sem0"), 1);
	assert_int_equal(kv(c->outbuf, "load1"), 30);
	assert_int_equal(kv(c->outbuf, "sem1"), 1);
	assert_int_equal(uprobe_usdt_hits(u), 60);
	assert_int_equal(s.lib_starts, 2);
	assert_int_equal(s.bad, 0);
}

/*
 * Fork: a child that is not followed gets its copy of the semaphore back
 * to 0 before it runs; a followed one keeps it, and is counted for it.
 * The parent is traced throughout. (The child runs first; the parent waits.)
 */
static void check_fork(struct ctx *c, bool follow)
{
	char *argv[] = { (char *)g_usdt, "fork", "25", NULL };
	uint64_t hits = 0;
	struct uprobe_usdt *u;
	pid_t pid;

	assert_int_equal(uprobe_tracer_follow_forks(c->t, follow), 0);
	pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &hits);
	u = usdt_or_fail(c, "api_usdt", "tst", "guarded", &o);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "child_guarded"), follow ? 25 : 0);
	assert_int_equal(kv(c->outbuf, "child_sem"), follow ? 1 : 0);
	assert_int_equal(kv(c->outbuf, "parent_guarded"), 25);
	assert_int_equal(kv(c->outbuf, "parent_sem"), 1);
	assert_int_equal(uprobe_usdt_hits(u), follow ? 50 : 25);
	assert_int_equal(hits, follow ? 50 : 25);
}

static void test_semaphore_fork(void **state)
{
	check_fork(*state, false);
}

static void test_semaphore_fork_follow(void **state)
{
	check_fork(*state, true);
}

/* Text the program wrote contains line, within about 20 s. */
static bool wait_line(struct ctx *c, const char *line)
{
	for (int i = 0; i < 2000 && !g_wd_fired; i++) {
		char *buf = slurp(c->out);
		bool found = buf && strstr(buf, line);

		free(buf);
		if (found)
			return true;
		sleep_ms(10);
	}
	return false;
}

/*
 * The guarded point fires only while a tracer is attached: its _ENABLED()
 * check is never true before the attach, true at every hit while attached,
 * and never after the detach, which puts the semaphore back to 0.
 */
static void check_attach(struct ctx *c, bool free_tracer)
{
	char *argv[] = { (char *)g_usdt, "sem", NULL };
	struct seen s = { .t = c->t, .stop_after = 20 };
	struct uprobe_usdt *u;
	pid_t pid;
	int st;

	pid = start_untraced(c, argv);
	assert_true(pid > 0);
	assert_true(wait_line(c, "phase=0"));
	sleep_ms(30);
	kill(pid, SIGUSR1);
	assert_true(wait_line(c, "phase=1"));
	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_usdt, .data = &s);
	u = usdt_or_fail(c, "api_usdt", "tst", "guarded", &o);
	assert_int_equal(uprobe_usdt_semaphores(u), 1);
	/* the handler stops run() at the 20th hit, with the program held at it */
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_int_equal(s.guarded_last, 20);
	if (free_tracer) {
		/* freeing an attached tracer detaches: the semaphores go back down too */
		g_wd_tracer = NULL;
		uprobe_tracer_free(c->t);
		c->t = NULL;
	} else {
		assert_int_equal(uprobe_tracer_detach(c->t), 0);
	}
	kill(pid, SIGUSR1);
	assert_true(wait_line(c, "phase=2"));
	sleep_ms(30);
	kill(pid, SIGUSR2);
	st = wait_child(c, pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	c->outbuf = slurp(c->out);
	assert_non_null(c->outbuf);
	assert_int_equal(kv(c->outbuf, "done"), 1);
	assert_int_equal(kv(c->outbuf, "enabled0"), 0);
	assert_true(kv(c->outbuf, "iters0") > 0);
	assert_int_equal(kv(c->outbuf, "enabled1"), 20);
	assert_int_equal(s.hits, 20);
	assert_int_equal(s.bad, 0);
	assert_int_equal(kv(c->outbuf, "enabled2"), 0);
	assert_true(kv(c->outbuf, "iters2") > 0);
	assert_int_equal(kv(c->outbuf, "sem"), 0);
}

static void test_semaphore_attach_detach(void **state)
{
	check_attach(*state, false);
}

static void test_semaphore_attach_free(void **state)
{
	check_attach(*state, true);
}

/*
 * Added before the spawn; uprobe_usdt_remove() from the probe's own handler:
 * the semaphore goes back down at once.
 */
static void test_semaphore_remove(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_usdt, "args", "60", NULL };
	struct seen s = { .stop_after = 25 };
	pid_t pid;

	/* added before the spawn, by path: the semaphore is set when the program is there */
	UPROBE_OPTS(uprobe_opts, o, .handler = on_usdt, .data = &s);
	s.remove_after = usdt_or_fail(c, g_usdt, "tst", "guarded", &o);
	pid = spawn_or_fail(c, argv);
	run_to_exit(c, pid);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.hits, 25);
	assert_null(s.remove_after);
	assert_int_equal(kv(c->outbuf, "guarded"), 25);
	assert_int_equal(kv(c->outbuf, "sem"), 0);
}

/* No-stop: register and constant arguments are recorded exactly; memory ones are refused. */
static void test_nostop(void **state)
{
	struct ctx *c = *state;
	char rounds[16];
	char *argv[] = { (char *)g_usdt, "args", rounds, NULL };
	struct seen s = { 0 };
	pid_t pid;

	snprintf(rounds, sizeof(rounds), "%d", ROUNDS * 5);
	pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_usdt, .data = &s, .nostop = true);
	errno = 0;
	assert_null(uprobe_add_usdt(c->t, g_usdt, "tst", "mem", &o));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "in memory"));
	usdt_or_fail(c, g_usdt, "tst", "regs", &o);
	usdt_or_fail(c, g_usdt, "tst", "consts", &o);
	run_to_exit(c, pid);
	if (s.bad)
		print_error("%ld bad: first %s\n", s.bad, s.first_bad);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.by_name[0], ROUNDS * 5);
	assert_int_equal(s.by_name[2], ROUNDS * 5);
	/* in place (no scratch area, so no ring) every hit stops: the same values */
	const char *in = getenv("UPROBE_TEST_INLINE");

	if (!(in && *in && strcmp(in, "0")))
		assert_true(s.async_seen);
}

/* Refusals name what was wrong and change nothing: the run is as untraced. */
static void test_errors(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_usdt, "args", "5", NULL };
	char *want = run_untraced(c, argv);
	struct uprobe_usdt *u;
	pid_t pid = spawn_or_fail(c, argv);

	UPROBE_OPTS(uprobe_opts, o, .handler = on_usdt);
	errno = 0;
	assert_null(uprobe_add_usdt(c->t, g_usdt, "tst", "nosuch", &o));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "tst:nosuch"));
	assert_null(strchr(uprobe_tracer_errmsg(c->t), '\n'));
	errno = 0;
	assert_null(uprobe_add_usdt(c->t, g_usdt, "nosuchprov", "regs", &o));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "nosuchprov:regs"));
	/* a file without notes */
	errno = 0;
	assert_null(uprobe_add_usdt(c->t, "/proc/self/exe", "tst", "regs", &o));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), ".note.stapsdt"));
	o.ret_handler = on_usdt;
	errno = 0;
	assert_null(uprobe_add_usdt(c->t, g_usdt, "tst", "regs", &o));
	assert_int_equal(errno, EINVAL);
	o.ret_handler = NULL;
	/* no arguments-only records: a USDT argument may be in any register */
	o.nostop = true;
	o.record = UPROBE_RECORD_ARGS_ONLY;
	errno = 0;
	assert_null(uprobe_add_usdt(c->t, g_usdt, "tst", "regs", &o));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "ARGS_ONLY"));
	o.nostop = false;
	o.record = 0;
	/* sites go with their USDT probe, not one by one; a wildcard takes every point */
	u = usdt_or_fail(c, g_usdt, "t?t", "[rc]*", &o);
	assert_int_equal(uprobe_usdt_nsites(u), 2);
	errno = 0;
	assert_int_equal(uprobe_remove(uprobe_usdt_site(u, 0)), -EBUSY);
	assert_null(uprobe_usdt_site(u, 2));
	assert_int_equal(uprobe_usdt_remove(u), 0);
	run_to_exit(c, pid);
	assert_same_output(want, c->outbuf);
	free(want);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_args_pie),
		T(test_args_nopie),
		T(test_semaphore_attach_detach),
		T(test_semaphore_attach_free),
		T(test_semaphore_remove),
		T(test_nostop),
		T(test_semaphore_library),
		T(test_semaphore_exec_pie),
		T(test_semaphore_exec_nopie),
		T(test_semaphore_dlopen),
		T(test_semaphore_fork),
		T(test_semaphore_fork_follow),
		T(test_errors),
	};

	if (argc < 5) {
		fprintf(stderr, "usage: %s API_USDT API_USDT_NOPIE LIBAPI_USDT LIBAPI_USDT_DL\n",
			argv[0]);
		return 2;
	}
	g_usdt = argv[1];
	g_usdt_nopie = argv[2];
	g_lib = argv[3];
	g_lib_dl = argv[4];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_usdt", tests, NULL, NULL);
}
