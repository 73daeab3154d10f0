// SPDX-License-Identifier: LGPL-2.1-or-later
/* Return probes on every function of the C++ target: exceptions, longjmp, coroutines, threads. */
#include "tracee_test.h"

static const char *g_cxx, *g_cxx_o2;

#define MAX_FNS 96
#define DEFAULT_MAXACTIVE 128

struct fn_rec {
	char name[48];
	long calls, ret;        /* the program's own counts (unprobed run) */
	uint64_t ehits, rhits;  /* handler invocations */
	uint64_t bad_entry;     /* entry handler saw is_return, or a return handler did not */
	uint64_t bad_ret;
	struct uprobe *pe, *pr;
};

struct run_spec {
	const char *target;
	const char *scenarios[8]; /* NULL-terminated; none = all */
	unsigned maxactive;       /* 0: default */
	bool entry_probes;        /* also a separate entry probe on each function */
	const char *extra[4];     /* "binary:symbol" return probes whose counts are not checked */
	bool extra_only;          /* no probe on the target's functions: extra ones alone */
	bool check_bt;            /* every return handler takes a backtrace and checks its pcs */
};

/*
 * Backtrace checks from return handlers: no pc may lie in an executable
 * anonymous mapping (libuprobe's scratch page). Garbage past the end of a
 * coroutine stack (after __start_context) may point at data; that is not
 * libuprobe's. Maps are cached and re-read when a pc is not found.
 */
static struct {
	bool on;
	struct maps m;
	uint64_t checked, bad;
	char first[200];
} g_bt;

static bool in_scratch(const struct map_ent *e)
{
	return e && e->perms[2] == 'x' && e->path[0] != '/' && e->path[0] != '[';
}

static void bt_check(struct uprobe_hit *h, const char *fn)
{
	uint64_t pcs[64];
	int n = uprobe_hit_backtrace(h, pcs, 64);

	g_bt.checked++;
	if (n < 2) {
		if (!g_bt.bad++)
			snprintf(g_bt.first, sizeof(g_bt.first), "%s: backtrace returned %d", fn, n);
		return;
	}
	for (int i = 0; i < n; i++) {
		const struct map_ent *e = maps_find(&g_bt.m, pcs[i]);

		if (!e) {
			maps_free(&g_bt.m);
			maps_read(uprobe_hit_pid(h), &g_bt.m);
			e = maps_find(&g_bt.m, pcs[i]);
		}
		if (in_scratch(e) || (i == 0 && !in_file_text(&g_bt.m, pcs[i]))) {
			if (!g_bt.bad++)
				snprintf(g_bt.first, sizeof(g_bt.first),
					 "%s return: pcs[%d] = %#llx in %s %.100s", fn, i,
					 (unsigned long long)pcs[i], e ? e->perms : "",
					 e ? (e->path[0] ? e->path : "anonymous") : "no mapping");
			return;
		}
	}
}

static int on_entry(struct uprobe_hit *h, void *data)
{
	struct fn_rec *f = data;

	f->ehits++;
	if (uprobe_hit_is_return(h))
		f->bad_entry++;
	return 0;
}

static int on_ret(struct uprobe_hit *h, void *data)
{
	struct fn_rec *f = data;

	f->rhits++;
	if (!uprobe_hit_is_return(h) || uprobe_hit_call_id(h) == 0)
		f->bad_ret++;
	if (g_bt.on)
		bt_check(h, f->name);
	return 0;
}

/* "fn NAME calls=C ret=R" lines of the unprobed run. */
static int parse_fns(const char *out, struct fn_rec *fns)
{
	int n = 0;

	for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		struct fn_rec *f = &fns[n];

		if (n < MAX_FNS && sscanf(p, "fn %47s calls=%ld ret=%ld", f->name, &f->calls,
					  &f->ret) == 3)
			n++;
	}
	return n;
}

/* Returns of rec() that maxactive refuses: the innermost depth - maxactive of each outer call. */
static long rec_over(const char *out, unsigned maxactive)
{
	long over = 0;

	for (const char *p = out; (p = strstr(p, "deep rec depth=")); p++) {
		long d = strtol(p + strlen("deep rec depth="), NULL, 10);

		if (d > (long)maxactive)
			over += d - maxactive;
	}
	return over;
}

static void run_cxx(struct ctx *c, const struct run_spec *s)
{
	char *argv[10] = { (char *)s->target };
	struct fn_rec *fns = calloc(MAX_FNS, sizeof(*fns));
	unsigned maxactive = s->maxactive ? s->maxactive : DEFAULT_MAXACTIVE;
	char *want;
	int nf, errors = 0;
	pid_t pid;

	assert_non_null(fns);
	for (int i = 0; i < 8 && s->scenarios[i]; i++)
		argv[i + 1] = (char *)s->scenarios[i];
	want = run_untraced(c, argv);
	assert_non_null(want);
	nf = parse_fns(want, fns);
	assert_true(nf > 10);

	pid = spawn_or_fail(c, argv);
	memset(&g_bt, 0, sizeof(g_bt));
	g_bt.on = s->check_bt;
	for (int i = 0; i < nf && !s->extra_only; i++) {
		struct fn_rec *f = &fns[i];
		UPROBE_OPTS(uprobe_opts, ro, .ret_handler = on_ret, .data = f,
			    .maxactive = s->maxactive);
		UPROBE_OPTS(uprobe_opts, eo, .handler = on_entry, .data = f);

		f->pr = add_or_fail(c, s->target, f->name, 0, &ro);
		if (s->entry_probes)
			f->pe = add_or_fail(c, s->target, f->name, 0, &eo);
	}
	for (int i = 0; i < 4 && s->extra[i]; i++) {
		char bin[64], *sym;
		UPROBE_OPTS(uprobe_opts, xo, .ret_handler = on_ret, .data = &fns[MAX_FNS - 1]);

		snprintf(bin, sizeof(bin), "%s", s->extra[i]);
		sym = strchr(bin, ':');
		*sym++ = 0;
		add_or_fail(c, bin, sym, 0, &xo);
	}
	run_to_exit(c, pid);
	assert_same_output(want, c->outbuf);

	long over = rec_over(want, maxactive);

	for (int i = 0; i < nf && !s->extra_only; i++) {
		struct fn_rec *f = &fns[i];
		long want_hits = f->ret - (!strcmp(f->name, "rec") ? over : 0);
		long want_missed = f->calls - want_hits;
		uint64_t hits = uprobe_hits(f->pr), missed = uprobe_missed(f->pr);

		/*
		 * mig_*: pending while the thread that called them exits; reporting the
		 * return on the thread that finishes the coroutine, or counting it missed
		 * at the exit, are both right.
		 */
		if (!strncmp(f->name, "mig_", 4) && hits == 0 && f->rhits == 0)
			want_hits = 0, want_missed = f->calls;

		if (s->entry_probes && (f->ehits != (uint64_t)f->calls ||
					uprobe_hits(f->pe) != (uint64_t)f->calls)) {
			print_error("%s: entry probe hits %llu (handler %llu), program calls %ld\n",
				    f->name, (unsigned long long)uprobe_hits(f->pe),
				    (unsigned long long)f->ehits, f->calls);
			errors++;
		}
		if (hits != (uint64_t)want_hits || f->rhits != (uint64_t)want_hits ||
		    missed != (uint64_t)want_missed) {
			print_error("%s: return hits %llu (handler %llu) missed %llu; want hits %ld "
				    "missed %ld (program: calls=%ld ret=%ld)\n",
				    f->name, (unsigned long long)hits, (unsigned long long)f->rhits,
				    (unsigned long long)missed, want_hits, want_missed, f->calls, f->ret);
			errors++;
		}
		if (f->bad_entry || f->bad_ret) {
			print_error("%s: %llu entry hits with is_return, %llu return hits without "
				    "is_return or call_id\n",
				    f->name, (unsigned long long)f->bad_entry,
				    (unsigned long long)f->bad_ret);
			errors++;
		}
	}
	if (g_bt.on) {
		maps_free(&g_bt.m);
		g_bt.on = false;
		if (g_bt.bad || !g_bt.checked) {
			print_error("backtraces from return handlers: %llu of %llu bad; first: %s\n",
				    (unsigned long long)g_bt.bad, (unsigned long long)g_bt.checked,
				    g_bt.first);
			errors++;
		}
	}
	free(want);
	free(fns);
	assert_int_equal(errors, 0);
}

/* Every scenario, entry and return probes on every function, -O1 and -O2 (tail jumps). */
static void test_all_o1(void **state)
{
	struct run_spec s = { .target = g_cxx, .entry_probes = true };

	run_cxx(*state, &s);
}

static void test_all_o2(void **state)
{
	struct run_spec s = { .target = g_cxx_o2, .entry_probes = true };

	run_cxx(*state, &s);
}

/* Return probes alone (no entry probe shares the instruction). */
static void test_ret_only_o2(void **state)
{
	struct run_spec s = { .target = g_cxx_o2, .scenarios = { "ex", "tail", "lj", "co", "bt" } };

	run_cxx(*state, &s);
}

/* One scenario at a time, so a failure names the feature. */
static void test_exceptions(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "ex" }, .entry_probes = true };

	run_cxx(*state, &s);
}

static void test_longjmp(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "lj" }, .entry_probes = true };

	run_cxx(*state, &s);
}

static void test_tail_o2(void **state)
{
	struct run_spec s = { .target = g_cxx_o2, .scenarios = { "tail" }, .entry_probes = true };

	run_cxx(*state, &s);
}

static void test_coroutines(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "co" }, .entry_probes = true };

	run_cxx(*state, &s);
}

static void test_threads(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "threads" }, .entry_probes = true };

	run_cxx(*state, &s);
}

static void test_thread_exit(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "thexit" }, .entry_probes = true };

	run_cxx(*state, &s);
}

static void test_backtrace_fn(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "bt" }, .entry_probes = true };

	run_cxx(*state, &s);
}

/* rec(50), rec(300), rec(50) with maxactive 128 (default) and 20. */
static void test_recursion_default(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "rec" }, .entry_probes = true };

	run_cxx(*state, &s);
}

/* A coroutine started on a thread that exits, finished on the main thread. */
static void test_coroutine_migrates(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "comig" }, .entry_probes = true };

	run_cxx(*state, &s);
}

/* An abandoned coroutine's stack reused by a new coroutine (stack pool). */
static void test_coroutine_stack_reuse(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "coreuse" }, .entry_probes = true };

	run_cxx(*state, &s);
}

/*
 * Return probes on the unwinder's own entry points and the C++ runtime:
 * the unwinder must still never meet the trampoline.
 */
static void test_unwinder_retprobes(void **state)
{
	struct run_spec s = {
		.target = g_cxx,
		.scenarios = { "ex" },
		.extra = { "libgcc_s:_Unwind_RaiseException", "libgcc_s:_Unwind_Resume",
			   "libstdc++:__cxa_throw", "libstdc++:__cxa_begin_catch" },
	};

	run_cxx(*state, &s);
}

/*
 * The same, with no other call pending when the exception is thrown: the
 * unwinder's own return probe is then the thread's only one, and must
 * still wait disarmed (a trampoline as _Unwind_RaiseException's return
 * address ends its search: std::terminate).
 */
static void test_unwinder_retprobes_alone(void **state)
{
	struct run_spec s = {
		.target = g_cxx,
		.scenarios = { "ex" },
		.extra = { "libgcc_s:_Unwind_RaiseException", "libgcc_s:_Unwind_Resume" },
		.extra_only = true,
	};

	run_cxx(*state, &s);
}

/* An entry probe on a cold part may not make the "call" return: there is none. */
static int on_cold_override(struct uprobe_hit *h, void *data)
{
	int *err = data;

	*err = uprobe_hit_override_return(h, 0);
	return 0;
}

/*
 * gcc's cold parts of functions (ex_throw.cold) are FUNC symbols reached
 * by a jump from their function's body: [rsp] there holds the function's
 * data, which a return probe would overwrite, and which an overridden
 * return would jump to. Both refused (the return probe even with force);
 * the program runs as it would untraced.
 */
static void test_cold_refused(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_cxx_o2, "ex", NULL };
	struct fn_rec f = { .name = "ex_catch" };
	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_ret, .data = &f, .force = true);
	const char *names[] = { "ex_throw.cold", "ex_catch.cold" };
	char *want = run_untraced(c, argv);
	pid_t pid;

	assert_non_null(want);
	pid = spawn_or_fail(c, argv);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		errno = 0;
		assert_null(uprobe_add(c->t, g_cxx_o2, names[i], 0, &o));
		assert_int_equal(errno, EOPNOTSUPP);
		assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "is the cold part of a function"));
	}
	/* the function itself is fine */
	add_or_fail(c, g_cxx_o2, "ex_catch", 0, &o);
	int over = 1;
	UPROBE_OPTS(uprobe_opts, eo, .handler = on_cold_override, .data = &over);
	struct uprobe *pc = add_or_fail(c, g_cxx_o2, "ex_catch.cold", 0, &eo);

	run_to_exit(c, pid);
	assert_same_output(want, c->outbuf);
	assert_true(f.rhits > 0);
	assert_true(uprobe_hits(pc) > 0); /* the cold path runs in "ex" */
	assert_int_equal(over, -EINVAL);
	free(want);
}

/* ---- detach while calls are pending in several threads and stacks ---- */

struct stop_after {
	struct uprobe_tracer *t;
	uint64_t n, at;
};

static int on_ret_stop(struct uprobe_hit *h, void *data)
{
	struct stop_after *sa = data;

	if (++sa->n == sa->at)
		uprobe_tracer_stop(sa->t);
	return 0;
}

static int on_entry_stop(struct uprobe_hit *h, void *data)
{
	return on_ret_stop(h, data);
}

/*
 * Stops after half of the returns the program makes (or, with stop_sym, at
 * the 5th entry of that libgcc_s function: in the middle of an unwind),
 * detaches, and lets it finish.
 */
static void run_detach(struct ctx *c, const char *target, const char *scenario,
		       const char *stop_sym, int rounds)
{
	char *argv[] = { (char *)target, (char *)scenario, NULL };
	struct fn_rec *fns = calloc(MAX_FNS, sizeof(*fns));
	uint64_t half = 0;
	char *want;
	int nf, st;
	pid_t pid;

	assert_non_null(fns);
	want = run_untraced(c, argv);
	nf = parse_fns(want, fns);
	for (int i = 0; i < nf; i++)
		half += fns[i].ret;
	half /= 2;
	/* Several rounds, a new tracer each: other threads racing to the trampoline vary. */
	for (int round = 0; round < rounds; round++) {
		struct stop_after sa = { .t = c->t, .at = stop_sym ? 0 : half };
		struct stop_after sa_unw = { .t = c->t, .at = 5 };

		if (round) {
			g_wd_tracer = NULL;
			uprobe_tracer_free(c->t);
			c->t = test_tracer_new();
			assert_non_null(c->t);
			g_wd_tracer = c->t;
			sa.t = sa_unw.t = c->t;
		}
		pid = spawn_or_fail(c, argv);
		if (stop_sym) {
			UPROBE_OPTS(uprobe_opts, so, .handler = on_entry_stop, .data = &sa_unw);

			add_or_fail(c, "libgcc_s", stop_sym, 0, &so);
		}
		for (int i = 0; i < nf; i++) {
			UPROBE_OPTS(uprobe_opts, ro, .ret_handler = on_ret_stop, .data = &sa);

			if (fns[i].calls)
				add_or_fail(c, target, fns[i].name, 0, &ro);
		}
		assert_int_equal(uprobe_tracer_run(c->t), 0);
		assert_false(g_wd_fired);
		if (uprobe_tracer_exit_status(c->t, pid) >= 0) {
			print_error("%s %s: exited before %llu returns (%llu)\n", target, scenario,
				    (unsigned long long)sa.at, (unsigned long long)sa.n);
			fail();
		}
		assert_int_equal(uprobe_tracer_detach(c->t), 0);
		st = wait_child(c, pid);
		read_out(c);
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			print_error("round %d, after detach at %llu returns: status %#x (%s %d), "
				    "output:\n%s\n",
				    round, (unsigned long long)sa.n, st,
				    st >= 0 && WIFSIGNALED(st) ? "signal" : "exit",
				    st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
				    c->outbuf);
			fail();
		}
		assert_same_output(want, c->outbuf);
	}
	free(want);
	free(fns);
}

/*
 * Eight threads: when the handler stops the tracer, other threads may have
 * just trapped on the trampoline; detach must still let all of them go on.
 */
static void test_detach_threads(void **state)
{
	run_detach(*state, g_cxx, "threads", NULL, 6);
}

static void test_detach_exceptions(void **state)
{
	run_detach(*state, g_cxx, "ex", NULL, 1);
}

static void test_detach_coroutines(void **state)
{
	run_detach(*state, g_cxx, "co", NULL, 1);
}

/* Detach while an exception is between _Unwind_Resume and its catch. */
static void test_detach_mid_unwind(void **state)
{
	run_detach(*state, g_cxx, "ex", "_Unwind_Resume", 1);
}

/* siglongjmp from a handler on a sigaltstack above the thread's stack. */
static void test_altstack_longjmp(void **state)
{
	struct run_spec s = { .target = g_cxx, .scenarios = { "altlj" }, .entry_probes = true };

	run_cxx(*state, &s);
}

/* Every return handler's backtrace lies in file mappings (never the scratch page). */
static void test_backtrace_all_returns(void **state)
{
	struct run_spec s = { .target = g_cxx_o2,
			      .scenarios = { "ex", "tail", "lj", "co" },
			      .check_bt = true };

	run_cxx(*state, &s);
}

static void test_recursion_maxactive20(void **state)
{
	struct run_spec s = { .target = g_cxx_o2, .scenarios = { "rec" }, .maxactive = 20 };

	run_cxx(*state, &s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_exceptions),
		T(test_longjmp),
		T(test_tail_o2),
		T(test_coroutines),
		T(test_recursion_default),
		T(test_recursion_maxactive20),
		T(test_threads),
		T(test_thread_exit),
		T(test_backtrace_fn),
		T(test_ret_only_o2),
		T(test_coroutine_migrates),
		T(test_altstack_longjmp),
		T(test_backtrace_all_returns),
		T(test_unwinder_retprobes),
		T(test_unwinder_retprobes_alone),
		T(test_cold_refused),
		T(test_detach_threads),
		T(test_detach_exceptions),
		T(test_detach_coroutines),
		T(test_detach_mid_unwind),
		T(test_coroutine_stack_reuse),
		T(test_all_o1),
		T(test_all_o2),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s RET_CXX RET_CXX_O2 [TEST]\n", argv[0]);
		return 2;
	}
	g_cxx = argv[1];
	g_cxx_o2 = argv[2];
	/* one test per meson test, each under its own timeout */
	tracee_test_init("ret", 150, argc > 3 ? argv[3] : NULL);
	return cmocka_run_group_tests_name("ret_cxx", tests, NULL, NULL);
}
