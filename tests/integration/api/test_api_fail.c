// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fault injection: uprobe_hit_override_return() makes exactly the chosen
 * calls of a real program return the chosen value, their bodies skipped,
 * through an int3 or a jump detour, beside other probes and a return probe
 * on the same function, in threads; and it is refused, the program
 * untouched, wherever it could not be exact.
 */
#include "tracee_test.h"

static const char *g_fail;
static struct uprobe_tracer *g_t; /* the test's tracer, for its messages in handlers */

#define CALLS 300
#define CALLS_S "300"
#define MALLOC_SIZE 12345 /* api_fail's FAIL_MALLOC_SIZE */

/* ---- the output api_fail must print ---- */

/* Whether call i (0-based) of thread t, with argument x, fails; *ret its value then. */
typedef bool (*fate_fn)(long t, long i, long x, long *ret);

/* every Nth call fails (the Nth, 2Nth, ...); 0: none */
static long g_calc_every, g_leaf_every, g_malloc_every;

/* calc and leaf: a failed call returns -(x + 5), each its own value */
static bool fate_calc(long t, long i, long x, long *ret)
{
	*ret = -(x + 5);
	return g_calc_every && (i + 1) % g_calc_every == 0;
}

static bool fate_leaf(long t, long i, long x, long *ret)
{
	*ret = -(x + 5);
	return g_leaf_every && (i + 1) % g_leaf_every == 0;
}

static bool fate_malloc(long t, long i, long x, long *ret)
{
	*ret = 0;
	return g_malloc_every && (i + 1) % g_malloc_every == 0;
}

/* The output with the failures g_*_every say, in threads threads. */
static char *expected_fates(long threads);

/*
 * The output api_fail CALLS THREADS prints when the calls calc, leaf and
 * mall say fail (NULL: none) and all others compute what they would untraced.
 */
static char *expected(long calls, long threads, fate_fn calc, fate_fn leaf, fate_fn mall)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	long body = 0, ret;

	assert_non_null(f);
	for (long t = 0; t < threads; t++) {
		long calc_sum = 0, leaf_sum = 0, calc_ok = 0;

		for (long i = 0; i < calls; i++) {
			long x = t * 100000 + i;

			if (calc && calc(t, i, x, &ret) && ret != 3 * x + 1) {
				fprintf(f, "calc_fail t=%ld i=%ld ret=%ld\n", t, i, ret);
			} else {
				calc_sum += 3 * x + 1;
				calc_ok++;
				body++;
			}
		}
		for (long i = 0; i < calls; i++) {
			long x = t * 100000 + i;

			if (leaf && leaf(t, i, x, &ret) && ret != x + 1)
				fprintf(f, "leaf_fail t=%ld i=%ld ret=%ld\n", t, i, ret);
			else
				leaf_sum += x + 1;
		}
		for (long i = 0; i < calls; i++)
			if (mall && mall(t, i, 0, &ret))
				fprintf(f, "malloc_null t=%ld i=%ld\n", t, i);
		fprintf(f, "thread t=%ld calc_sum=%ld leaf_sum=%ld calc_ok=%ld\n", t, calc_sum,
			leaf_sum, calc_ok);
	}
	fprintf(f, "calc_body=%ld\ndone=1\n", body);
	fclose(f);
	return buf;
}

static char *expected_fates(long threads)
{
	return expected(CALLS, threads, fate_calc, fate_leaf, fate_malloc);
}

static pid_t spawn_fail(struct ctx *c, const char *threads)
{
	char *argv[] = { (char *)g_fail, CALLS_S, (char *)threads, NULL };

	return spawn_or_fail(c, argv);
}

static bool inline_mode(void)
{
	const char *in = getenv("UPROBE_TEST_INLINE");

	return in && *in && strcmp(in, "0");
}

/* ---- the injecting handler ---- */

struct inj {
	long every;
	bool neg;           /* value -(x + 5), else 0 */
	uint64_t size;      /* only calls with this first argument (malloc's size) count */
	uint64_t hits, matched, overrides, in_detour, in_int3, errs;
	char why[256];
};

static int on_inject(struct uprobe_hit *h, void *data)
{
	struct inj *f = data;
	uint64_t x = uprobe_hit_arg(h, 0), n;
	uint8_t b0 = 0;
	int err;

	f->hits++;
	if (f->size && x != f->size)
		return 0;
	/* calc and leaf: the call's index is in its argument; malloc: counted (one thread) */
	n = f->size ? ++f->matched : x % 100000 + 1;
	if (n % f->every)
		return 0;
	err = uprobe_hit_override_return(h, f->neg ? (uint64_t)-(int64_t)(x + 5) : 0);
	if (err) {
		if (!f->errs++)
			snprintf(f->why, sizeof(f->why), "%d %s", err, uprobe_tracer_errmsg(g_t));
		return 0;
	}
	f->overrides++;
	/* a jump detour starts with jmp rel32 where the probe is */
	if (uprobe_hit_read(h, uprobe_hit_addr(h), &b0, 1) == 1 && b0 == 0xe9)
		f->in_detour++;
	else
		f->in_int3++;
	return 0;
}

static void check_inj(const struct inj *f, uint64_t want_overrides)
{
	if (f->errs) {
		print_error("override refused %llu times: %s\n", (unsigned long long)f->errs, f->why);
		fail();
	}
	assert_int_equal(f->overrides, want_overrides);
}

/* Runs pid to its exit and compares its whole output with what it must print. */
static void run_expect(struct ctx *c, pid_t pid, char *want)
{
	run_to_exit(c, pid);
	assert_same_output(want, c->outbuf);
	free(want);
}

/* The expected output of a run with no failure is what api_fail prints untraced. */
static void test_expected_untraced(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_fail, CALLS_S, "3", NULL };
	char *plain = run_untraced(c, argv), *want = expected(CALLS, 3, NULL, NULL, NULL);

	assert_same_output(want, plain);
	free(plain);
	free(want);
}

/*
 * Every Nth call of a C function and of an assembly one fails with its own
 * value; optimize decides whether the probes become jump detours, and
 * hits through a detour must inject as exactly as hits through an int3.
 */
static void every_nth(struct ctx *c, bool optimize)
{
	struct inj calc = { .every = 7, .neg = true }, leaf = { .every = 10, .neg = true };
	pid_t pid;

	assert_int_equal(uprobe_tracer_set_optimize(c->t, optimize), 0);
	pid = spawn_fail(c, "1");
	add_probe(c, g_fail, "fail_calc", 0, on_inject, &calc);
	add_probe(c, g_fail, "fail_leaf", 0, on_inject, &leaf);
	g_calc_every = 7;
	g_leaf_every = 10;
	run_expect(c, pid, expected_fates(1));
	check_inj(&calc, CALLS / 7);
	check_inj(&leaf, CALLS / 10);
	assert_int_equal(calc.hits, CALLS);
	assert_int_equal(leaf.hits, CALLS);
	if (optimize && !inline_mode()) {
		/* hot probes become detours after 32 hits: most overrides went through one */
		if (calc.in_detour < CALLS / 7 / 2 || leaf.in_detour < CALLS / 10 / 2)
			fail_msg("overrides through a detour: calc %llu of %llu, leaf %llu of %llu",
				 (unsigned long long)calc.in_detour, (unsigned long long)calc.overrides,
				 (unsigned long long)leaf.in_detour, (unsigned long long)leaf.overrides);
	} else {
		assert_int_equal(calc.in_detour + leaf.in_detour, 0);
	}
}

static void test_every_nth_int3(void **state)
{
	every_nth(*state, false);
}

static void test_every_nth_detour(void **state)
{
	every_nth(*state, true);
}

/* libc's malloc: the 25th, 50th, ... call with the target's size returns NULL */
static void test_libc_malloc(void **state)
{
	struct ctx *c = *state;
	struct inj m = { .every = 25, .size = MALLOC_SIZE };
	pid_t pid = spawn_fail(c, "1");

	add_probe(c, "libc", "malloc", 0, on_inject, &m);
	g_malloc_every = 25;
	run_expect(c, pid, expected_fates(1));
	check_inj(&m, CALLS / 25);
	assert_int_equal(m.matched, CALLS);
}

/* Four threads at once: each thread's Nth calls fail, with their own values. */
static void test_threads(void **state)
{
	struct ctx *c = *state;
	struct inj calc = { .every = 9, .neg = true }, leaf = { .every = 4, .neg = true };
	pid_t pid = spawn_fail(c, "4");

	add_probe(c, g_fail, "fail_calc", 0, on_inject, &calc);
	add_probe(c, g_fail, "fail_leaf", 0, on_inject, &leaf);
	g_calc_every = 9;
	g_leaf_every = 4;
	run_expect(c, pid, expected_fates(4));
	check_inj(&calc, 4 * (CALLS / 9));
	check_inj(&leaf, 4 * (CALLS / 4));
}

/* ---- a return probe on the function ---- */

struct at_entry {
	uint64_t rsp, ra; /* at the call's entry: rsp and the return address at [rsp] */
};

struct retrec {
	long every;
	/* a tail-called function returns to where its caller (outer) was to return */
	const struct retrec *outer;
	uint64_t last_ra; /* [rsp] at the latest entry (one thread) */
	uint64_t entries, rets, bad;
	char why[160];
};

static void ret_bad(struct retrec *r, const char *what, uint64_t got, uint64_t want)
{
	if (!r->bad++)
		snprintf(r->why, sizeof(r->why), "%s: got %#llx, want %#llx", what,
			 (unsigned long long)got, (unsigned long long)want);
}

static int on_ret_entry(struct uprobe_hit *h, void *data)
{
	struct retrec *r = data;
	struct at_entry *e = uprobe_hit_call_data(h);

	r->entries++;
	if (!e)
		return 0;
	e->rsp = uprobe_hit_regs(h)->rsp;
	if (uprobe_hit_read(h, e->rsp, &e->ra, 8) != 8)
		ret_bad(r, "read [rsp]", 0, 1);
	r->last_ra = e->ra;
	return 0;
}

/* The return of every call: the overridden ones with their value, as after a real ret. */
static int on_ret(struct uprobe_hit *h, void *data)
{
	struct retrec *r = data;
	struct at_entry *e = uprobe_hit_call_data(h);
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	long x = (long)uprobe_hit_entry_arg(h, 0), want = 3 * x + 1;

	r->rets++;
	if ((x % 100000 + 1) % r->every == 0)
		want = -(x + 5);
	if ((long)uprobe_hit_retval(h) != want)
		ret_bad(r, "retval", uprobe_hit_retval(h), want);
	if (!e) {
		ret_bad(r, "call data", 0, 1);
		return 0;
	}
	if (regs->rsp != e->rsp + 8)
		ret_bad(r, "rsp", regs->rsp, e->rsp + 8);
	if (regs->rip != (r->outer ? r->outer->last_ra : e->ra))
		ret_bad(r, "rip", regs->rip, r->outer ? r->outer->last_ra : e->ra);
	return 0;
}

/*
 * A return probe on the overridden function sees every call return, the
 * overridden ones with their value, rsp and rip as after a real ret, and
 * no call stays pending; whichever probe was added first.
 */
static void with_retprobe(struct ctx *c, bool ret_first, const char *threads, long nthreads)
{
	struct inj calc = { .every = 6, .neg = true };
	struct retrec r = { .every = 6 };
	UPROBE_OPTS(uprobe_opts, o, .handler = on_ret_entry, .ret_handler = on_ret, .data = &r,
		    .data_size = sizeof(struct at_entry));
	struct uprobe *rp;
	pid_t pid = spawn_fail(c, threads);

	if (ret_first)
		rp = add_or_fail(c, g_fail, "fail_calc", 0, &o);
	add_probe(c, g_fail, "fail_calc", 0, on_inject, &calc);
	if (!ret_first)
		rp = add_or_fail(c, g_fail, "fail_calc", 0, &o);
	g_calc_every = 6;
	run_expect(c, pid, expected_fates(nthreads));
	check_inj(&calc, nthreads * (CALLS / 6));
	if (r.bad) {
		print_error("return handler: %llu bad, first: %s\n", (unsigned long long)r.bad, r.why);
		fail();
	}
	assert_int_equal(r.entries, nthreads * CALLS);
	assert_int_equal(r.rets, nthreads * CALLS);
	assert_int_equal(uprobe_hits(rp), nthreads * CALLS);
	assert_int_equal(uprobe_missed(rp), 0);
}

static void test_retprobe_after(void **state)
{
	with_retprobe(*state, false, "1", 1);
}

static void test_retprobe_before_threads(void **state)
{
	with_retprobe(*state, true, "3", 3);
}

/*
 * fail_outer tail-calls fail_calc, both return-probed: fail_calc's call
 * shares fail_outer's return address, and an overridden fail_calc
 * returns for both, each return handler seeing the value.
 */
static void test_retprobe_tail_call(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_fail, CALLS_S, "1", "outer", NULL };
	struct inj calc = { .every = 6, .neg = true };
	struct retrec ro = { .every = 6 }, rc = { .every = 6, .outer = &ro };
	UPROBE_OPTS(uprobe_opts, oo, .handler = on_ret_entry, .ret_handler = on_ret, .data = &ro,
		    .data_size = sizeof(struct at_entry));
	UPROBE_OPTS(uprobe_opts, oc, .handler = on_ret_entry, .ret_handler = on_ret, .data = &rc,
		    .data_size = sizeof(struct at_entry));
	struct uprobe *po, *pc;
	pid_t pid = spawn_or_fail(c, argv);

	po = add_or_fail(c, g_fail, "fail_outer", 0, &oo);
	pc = add_or_fail(c, g_fail, "fail_calc", 0, &oc);
	add_probe(c, g_fail, "fail_calc", 0, on_inject, &calc);
	g_calc_every = 6;
	run_expect(c, pid, expected_fates(1));
	check_inj(&calc, CALLS / 6);
	for (struct retrec *r = &ro; r; r = r == &ro ? &rc : NULL) {
		if (r->bad) {
			print_error("%s: %llu bad, first: %s\n", r == &ro ? "outer" : "calc",
				    (unsigned long long)r->bad, r->why);
			fail();
		}
		assert_int_equal(r->entries, CALLS);
		assert_int_equal(r->rets, CALLS);
	}
	assert_int_equal(uprobe_missed(po), 0);
	assert_int_equal(uprobe_missed(pc), 0);
}

/* ---- several probes on the instruction ---- */

struct later {
	uint64_t hits, bad, overrides;
};

/* Added after the injecting probe: runs on every hit, sees the entry registers, may override too. */
static int on_later(struct uprobe_hit *h, void *data)
{
	struct later *l = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	long x = (long)regs->rdi;

	l->hits++;
	if (regs->rip != uprobe_hit_addr(h))
		l->bad++;
	if ((x % 100000 + 1) % 5 == 0) {
		if (uprobe_hit_override_return(h, 0x1234))
			l->bad++;
		else
			l->overrides++;
	}
	return 0;
}

/* calc: every 3rd call -(x + 5), every 5th 0x1234 (the later handler's value wins) */
static bool fate_two(long t, long i, long x, long *ret)
{
	if ((i + 1) % 5 == 0) {
		*ret = 0x1234;
		return true;
	}
	*ret = -(x + 5);
	return (i + 1) % 3 == 0;
}

static void test_later_handlers_run(void **state)
{
	struct ctx *c = *state;
	struct inj calc = { .every = 3, .neg = true };
	struct later l = { 0 };
	pid_t pid = spawn_fail(c, "2");

	add_probe(c, g_fail, "fail_calc", 0, on_inject, &calc);
	add_probe(c, g_fail, "fail_calc", 0, on_later, &l);
	run_expect(c, pid, expected(CALLS, 2, fate_two, NULL, NULL));
	check_inj(&calc, 2 * (CALLS / 3));
	assert_int_equal(l.hits, 2 * CALLS);
	assert_int_equal(l.overrides, 2 * (CALLS / 5));
	assert_int_equal(l.bad, 0);
}

/* A probe added by the file offset of a function's start may override too. */
static void test_file_offset_entry(void **state)
{
	struct ctx *c = *state;
	struct inj calc = { .every = 11, .neg = true };
	uint64_t off, size;
	pid_t pid = spawn_fail(c, "1");

	assert_true(elf_sym_off(g_fail, "fail_calc", &off, &size));
	add_probe(c, g_fail, NULL, off, on_inject, &calc);
	g_calc_every = 11;
	run_expect(c, pid, expected_fates(1));
	check_inj(&calc, CALLS / 11);
}

/* ---- refusals: -EINVAL, a message, and the program as if untraced ---- */

struct refusal {
	uint64_t tries, einval, other;
	char msg[256];
};

static void note_refusal(struct refusal *r, int err)
{
	r->tries++;
	if (err == -EINVAL && errno == EINVAL) {
		if (!r->einval++)
			snprintf(r->msg, sizeof(r->msg), "%s", uprobe_tracer_errmsg(g_t));
	} else {
		r->other++;
	}
}

static int on_refused(struct uprobe_hit *h, void *data)
{
	note_refusal(data, uprobe_hit_override_return(h, 99));
	return 0;
}

static void check_refused(struct ctx *c, pid_t pid, struct refusal *r, uint64_t tries,
			  const char *why)
{
	run_expect(c, pid, expected(CALLS, 1, NULL, NULL, NULL));
	assert_int_equal(r->other, 0);
	assert_int_equal(r->tries, tries);
	assert_int_equal(r->einval, tries);
	if (!strstr(r->msg, "cannot override") || !strstr(r->msg, why) || strchr(r->msg, '\n')) {
		print_error("message: '%s', want one line with '%s'\n", r->msg, why);
		fail();
	}
}

static void test_refuse_mid_function(void **state)
{
	struct ctx *c = *state;
	struct refusal r = { 0 }, r2 = { 0 };
	uint64_t off, size;
	pid_t pid = spawn_fail(c, "1");

	/* mov %rsp,%rbp: after push %rbp, [rsp] is no return address */
	add_probe(c, g_fail, "fail_leaf", 1, on_refused, &r);
	/* and by file offset: lea 1(%rdi),%rax */
	assert_true(elf_sym_off(g_fail, "fail_leaf", &off, &size));
	add_probe(c, g_fail, NULL, off + 4, on_refused, &r2);
	check_refused(c, pid, &r, CALLS, "first instruction");
	assert_int_equal(r2.einval, CALLS);
	assert_int_equal(r2.other, 0);
}

static void test_refuse_return_handler(void **state)
{
	struct ctx *c = *state;
	struct refusal r = { 0 };
	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_refused, .data = &r);
	pid_t pid = spawn_fail(c, "1");

	add_or_fail(c, g_fail, "fail_calc", 0, &o);
	check_refused(c, pid, &r, CALLS, "return handler");
}

static void test_refuse_post_handler(void **state)
{
	struct ctx *c = *state;
	struct refusal r = { 0 };
	UPROBE_OPTS(uprobe_opts, o, .post_handler = on_refused, .data = &r);
	pid_t pid = spawn_fail(c, "1");

	add_or_fail(c, g_fail, "fail_leaf", 0, &o);
	check_refused(c, pid, &r, CALLS, "post handler");
}

static void test_refuse_nostop(void **state)
{
	struct ctx *c = *state;
	struct refusal r = { 0 };
	UPROBE_OPTS(uprobe_opts, o, .handler = on_refused, .data = &r, .nostop = true);
	pid_t pid = spawn_fail(c, "1");

	add_or_fail(c, g_fail, "fail_calc", 0, &o);
	check_refused(c, pid, &r, CALLS, "no-stop");
}

/*
 * ld.so's lazy-binding trampolines are jumped to with no return address at
 * [rsp]: refused by name (ld.so has no symbol table here, so a function of
 * api_fail's under that name stands in; were it overridden, api_fail would
 * print "resolve_fail ret=99").
 */
static void test_refuse_dl_runtime_resolve(void **state)
{
	struct ctx *c = *state;
	struct refusal r = { 0 };
	pid_t pid = spawn_fail(c, "1");

	add_probe(c, g_fail, "_dl_runtime_resolve_fake", 0, on_refused, &r);
	check_refused(c, pid, &r, 1, "first instruction");
}

static int fail_setup(void **state)
{
	g_calc_every = g_leaf_every = g_malloc_every = 0;
	if (ctx_setup(state))
		return -1;
	g_t = ((struct ctx *)*state)->t;
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fail_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_expected_untraced),	T(test_every_nth_int3),
		T(test_every_nth_detour),	T(test_libc_malloc),
		T(test_threads),		T(test_retprobe_after),
		T(test_retprobe_before_threads), T(test_retprobe_tail_call),
		T(test_later_handlers_run),
		T(test_file_offset_entry),	T(test_refuse_mid_function),
		T(test_refuse_return_handler),	T(test_refuse_post_handler),
		T(test_refuse_nostop),		T(test_refuse_dl_runtime_resolve),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_FAIL\n", argv[0]);
		return 2;
	}
	g_fail = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_fail", tests, NULL, NULL);
}
