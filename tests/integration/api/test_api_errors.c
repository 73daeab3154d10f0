// SPDX-License-Identifier: LGPL-2.1-or-later
/* Probes refused before the tracee changes: each refusal, then the program runs untouched. */
#include "tracee_test.h"

static const char *g_basic, *g_signals, *g_gomarked;

struct refusal {
	const char *target;   /* program to spawn */
	char *const *argv;    /* its arguments after argv[0] */
	const char *binary;   /* NULL: the target itself */
	const char *symbol;
	uint64_t offset;
	int want_errno;
	const char *want_msg; /* substring of the error message, or NULL */
	const char *watch;    /* function whose bytes must not change */
};

/*
 * Spawns the target, tries the probe, checks the refusal, checks that the
 * watched function's bytes in the tracee did not change, then adds a valid
 * probe on a counted function and runs the program to completion.
 */
static void check_refusal(struct ctx *c, const struct refusal *r)
{
	char *argv[8] = { (char *)r->target };
	uint8_t before[32], after[32];
	uint64_t wvaddr = 0, wsize = 0, hits = 0;
	struct elf_view v;
	pid_t pid;
	int n = 1;

	for (char *const *a = r->argv; a && *a && n < 7; a++)
		argv[n++] = *a;
	assert_int_equal(spawn_out(c, argv, &pid), 0);

	assert_true(elf_view_open(r->target, &v));
	assert_true(elf_sym_vaddr(&v, r->watch, &wvaddr, &wsize));
	elf_view_close(&v);
	assert_true(tracee_read_exe(pid, r->target, wvaddr, before, sizeof(before)));

	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &hits);
	g_last_print[0] = 0;
	errno = 0;
	struct uprobe *p = uprobe_add(c->t, r->binary ? r->binary : r->target, r->symbol, r->offset,
				      &o);
	int e = errno;
	const char *msg = uprobe_tracer_errmsg(c->t);

	if (p || e != r->want_errno) {
		print_error("uprobe_add(%s, %s, %#llx): got %p errno %d (%s), want NULL errno %d\n",
			    r->binary ? r->binary : r->target, r->symbol ? r->symbol : "NULL",
			    (unsigned long long)r->offset, (void *)p, e, msg, r->want_errno);
		fail();
	}
	if (r->want_msg && !strstr(msg, r->want_msg)) {
		print_error("errmsg '%s' does not contain '%s'\n", msg, r->want_msg);
		fail();
	}
	if (r->want_msg && !strstr(g_last_print, r->want_msg)) {
		print_error("print callback got '%s', want it to contain '%s'\n", g_last_print,
			    r->want_msg);
		fail();
	}
	assert_true(tracee_read_exe(pid, r->target, wvaddr, after, sizeof(after)));
	assert_memory_equal(before, after, sizeof(before));

	/* The tracer still works, and the program runs to completion with correct output. */
	const char *counted = r->target == g_basic ? "f" : "work";
	struct uprobe *ok = uprobe_add(c->t, r->target, counted, 0, &o);

	if (!ok) {
		print_error("valid probe after refusal: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	if (r->target == g_basic) {
		long calls = kv(out, "f_calls");

		assert_int_equal(hits, calls);
		assert_int_equal(kv(out, "f_sum"), calls * (calls + 1) / 2);
		assert_int_equal(kv(out, "asm_counter"), calls);
		assert_int_equal(count_lines_with(out, "skip_me=7"), 3);
		assert_int_equal(kv(out, "done"), 1);
	} else {
		assert_int_equal(hits, kv(out, "work_calls"));
		assert_int_equal(kv(out, "traps"), kv(out, "traps_expected"));
		assert_true(kv(out, "traps") > 0);
		assert_int_equal(kv(out, "bad"), 0);
	}
}

static char *const basic_args[] = { "20", NULL };
static char *const signals_args[] = { "500", "5", NULL };

static void test_missing_binary(void **state)
{
	struct refusal r = { g_basic, basic_args, "/nonexistent/dir/libnothere.so.1", "f", 0,
			     ENOENT, "/nonexistent/dir/libnothere.so.1", "f" };

	check_refusal(*state, &r);
}

static void test_missing_binary_name(void **state)
{
	/* A name no tracee maps is tried as a path. */
	struct refusal r = { g_basic, basic_args, "libnothere-xyz", "f", 0, ENOENT,
			     "libnothere-xyz", "f" };

	check_refusal(*state, &r);
}

static void test_missing_symbol(void **state)
{
	struct refusal r = { g_basic, basic_args, NULL, "nosuch", 0, ENOENT, "no symbol 'nosuch'",
			     "f" };

	check_refusal(*state, &r);
}

static void test_missing_symbol_libc(void **state)
{
	/* The message names the library it looked in. */
	struct refusal r = { g_basic, basic_args, "libc", "mallocc", 0, ENOENT,
			     "libc.so.6: no symbol 'mallocc'", "f" };

	check_refusal(*state, &r);
}

static void test_nonexec_offset(void **state)
{
	uint64_t off = 0;

	assert_true(elf_nonexec_off(g_basic, &off));
	struct refusal r = { g_basic, basic_args, NULL, NULL, off, EINVAL, NULL, "f" };

	check_refusal(*state, &r);
}

static void test_offset_beyond_file(void **state)
{
	struct stat sb;

	assert_int_equal(stat(g_basic, &sb), 0);
	struct refusal r = { g_basic, basic_args, NULL, NULL, sb.st_size + 0x10000, EINVAL, NULL,
			     "f" };

	check_refusal(*state, &r);
}

static void test_symbol_offset_outside(void **state)
{
	/* f + 1 MiB is far outside f and outside the executable segment. */
	struct refusal r = { g_basic, basic_args, NULL, "f", 0x100000, EINVAL, NULL, "f" };

	check_refusal(*state, &r);
}

static void test_mid_instruction(void **state)
{
	/* asm_func: 55 | 48 89 e5 | 48 ff 05 rel32 | ...: +2 is inside the mov. */
	struct refusal r = { g_basic, basic_args, NULL, "asm_func", 2, EINVAL,
			     "not an instruction boundary", "asm_func" };

	check_refusal(*state, &r);
}

static void test_mid_instruction_riprel(void **state)
{
	/* +7 is inside incq asm_counter(%rip)'s displacement. */
	struct refusal r = { g_basic, basic_args, NULL, "asm_func", 7, EINVAL,
			     "not an instruction boundary", "asm_func" };

	check_refusal(*state, &r);
}

static void test_own_int3(void **state)
{
	struct refusal r = { g_signals, signals_args, NULL, "own_trap", 0, EEXIST, NULL,
			     "own_trap" };

	check_refusal(*state, &r);
}

static void test_bad_opts(void **state)
{
	struct ctx *c = *state;
	struct {
		struct uprobe_opts o;
		uint64_t future;
	} big;
	uint64_t hits = 0;

	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.o.handler = on_count;
	big.o.data = &hits;
	big.future = 1; /* a field this library does not know, non-zero */
	errno = 0;
	assert_null(uprobe_add(c->t, g_basic, "f", 0, &big.o));
	assert_int_equal(errno, EINVAL);

	/* The same with the unknown field zero is accepted (before any tracee: a path). */
	big.future = 0;
	struct uprobe *p = uprobe_add(c->t, g_basic, "f", 0, &big.o);

	if (!p) {
		print_error("zero-tail opts refused: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_int_equal(uprobe_remove(p), 0);
}

static void test_before_spawn(void **state)
{
	struct ctx *c = *state;
	uint64_t hits = 0, off, size;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &hits);

	/* Refusals with no tracee at all. */
	errno = 0;
	assert_null(uprobe_add(c->t, g_basic, "nosuch", 0, &o));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "no symbol 'nosuch'"));
	errno = 0;
	assert_null(uprobe_add(c->t, "/nonexistent/prog", "main", 0, &o));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "/nonexistent/prog"));

	/* A probe added before spawn is live from the first instruction. */
	assert_true(elf_sym_off(g_basic, "f", &off, &size));
	struct uprobe *p = uprobe_add(c->t, g_basic, "f", 0, &o);

	assert_non_null(p);
	assert_int_equal(uprobe_file_offset(p), off);
	char *argv[] = { (char *)g_basic, "33", NULL };
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	assert_int_equal(kv(out, "f_calls"), 33);
	assert_int_equal(hits, 33);
	assert_int_equal(uprobe_hits(p), 33);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

static int on_ret_noop(struct uprobe_hit *h, void *data)
{
	(*(uint64_t *)data)++;
	return 0;
}

/*
 * Go moves goroutine stacks, hijacked return addresses included: return
 * probes in a Go program are refused unless forced. The program here only
 * carries Go's build-info section, which is what libuprobe looks for.
 */
static void test_retprobe_go_refused(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_gomarked, NULL };
	uint64_t n = 0;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_ret_noop, .data = &n);
	errno = 0;
	assert_null(uprobe_add(c->t, g_gomarked, "fx_add", 0, &o));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "Go"));
	o.force = true;
	assert_non_null(uprobe_add(c->t, g_gomarked, "fx_add", 0, &o));
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_exited_ok(c, pid);
	assert_true(n > 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_missing_binary),	      T(test_missing_binary_name),
		T(test_missing_symbol),	      T(test_missing_symbol_libc),
		T(test_nonexec_offset),	      T(test_offset_beyond_file),
		T(test_symbol_offset_outside), T(test_mid_instruction),
		T(test_mid_instruction_riprel), T(test_own_int3),
		T(test_bad_opts),
		T(test_before_spawn),
		T(test_retprobe_go_refused),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: %s API_BASIC API_SIGNALS GO_MARKED_PROGRAM\n", argv[0]);
		return 2;
	}
	g_basic = argv[1];
	g_signals = argv[2];
	g_gomarked = argv[3];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_errors", tests, NULL, NULL);
}
