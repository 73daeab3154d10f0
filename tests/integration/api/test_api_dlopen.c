// SPDX-License-Identifier: LGPL-2.1-or-later
/* Probes on a library the program dlopens, dlcloses and dlopens again. */
#include "tracee_test.h"

static const char *g_dlopen, *g_plugin;

/* A probe added by path before the library is loaded waits for it, and re-arms at every load. */
static void test_probe_before_load(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_dlopen, (char *)g_plugin, "4", "25", NULL };
	uint64_t n = 0;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &n);
	struct uprobe *p = add_or_fail(c, g_plugin, "plugin_work", 0, &o);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_exited_ok(c, pid);

	const char *out = read_out(c);

	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "calls"), 4 * 25 + 0 + 1 + 2 + 3);
	assert_int_equal(n, (uint64_t)kv(out, "calls"));
	assert_int_equal(uprobe_hits(p), n);
}

/*
 * By library name, before the library is loaded: refused without .pending
 * (a typo must not pass silently), waiting for the dlopen with it.
 */
static void test_pending_by_name(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_dlopen, (char *)g_plugin, "3", "20", NULL };
	uint64_t n = 0;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &n);
	errno = 0;
	assert_null(uprobe_add(c->t, "libapi_plugin", "plugin_work", 0, &o));
	assert_int_equal(errno, ENOENT);
	o.pending = true;
	struct uprobe *p = add_or_fail(c, "libapi_plugin", "plugin_work", 0, &o);

	assert_null(uprobe_binary_path(p));
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_exited_ok(c, pid);
	assert_int_equal(kv(read_out(c), "calls"), 3 * 20 + 0 + 1 + 2);
	assert_int_equal(n, (uint64_t)kv(read_out(c), "calls"));
	assert_non_null(uprobe_binary_path(p));
	assert_non_null(strstr(uprobe_binary_path(p), "libapi_plugin.so"));
}

/* The same output as an untraced run: unloading never leaves an int3 or a stale slot behind. */
static void test_output_unchanged(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_dlopen, (char *)g_plugin, "6", "10", NULL };
	char *want = run_untraced(c, argv);
	uint64_t n = 0;
	pid_t pid;

	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = &n);

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	add_or_fail(c, g_plugin, "plugin_work", 0, &o);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_exited_ok(c, pid);
	assert_same_output(want, read_out(c));
	assert_int_equal(n, (uint64_t)kv(want, "calls"));
	free(want);
}

/*
 * Probes by name on the plugin's IFUNCs, waiting for the dlopen: their
 * resolvers run in the program once the dynamic linker has mapped it.
 * Run at its first notification (RT_ADD) the call left the program at a
 * wrong pc: SIGSEGV in _dl_debug_update. plugin_thrice's resolver
 * reads its GOT, which is still unrelocated at RT_CONSISTENT: its fault
 * must fail the probe, never reach the program.
 */
static void test_pending_ifunc(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_dlopen, (char *)g_plugin, "2", "5", NULL };
	char *want = run_untraced(c, argv);
	uint64_t n2 = 0, n3 = 0;
	pid_t pid;

	UPROBE_OPTS(uprobe_opts, o2, .handler = on_count, .data = &n2, .pending = true);
	UPROBE_OPTS(uprobe_opts, o3, .handler = on_count, .data = &n3, .pending = true);

	assert_non_null(want);
	assert_true(kv(want, "icalls") > 0);
	assert_int_equal(spawn_out(c, argv, &pid), 0);
	struct uprobe *p2 = add_or_fail(c, "libapi_plugin", "plugin_twice", 0, &o2);

	add_or_fail(c, "libapi_plugin", "plugin_thrice", 0, &o3);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_exited_ok(c, pid);
	assert_same_output(want, read_out(c));
	assert_int_equal(n2, (uint64_t)kv(want, "icalls"));
	assert_int_equal(uprobe_hits(p2), n2);
	assert_int_equal(n3, 0);
	free(want);
}

/*
 * The first return probe, waiting for the plugin by name: placed at the
 * dlopen, after that dlopen's watch of the program's files (libgcc_s,
 * loaded before, was searched while there was no return probe), it has
 * the unwinders watched at once. Else backtrace() in the probed function
 * walks into the trampoline until the next change of the link map, and
 * stops there.
 */
static void test_pending_retprobe_unwinder(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_dlopen, (char *)g_plugin, "2", "3", NULL };
	char *want = run_untraced(c, argv);
	uint64_t n = 0;
	pid_t pid;

	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_count, .data = &n, .pending = true);

	assert_non_null(want);
	assert_true(kv(want, "frames") > 2 * 3);
	assert_int_equal(spawn_out(c, argv, &pid), 0);
	add_or_fail(c, "libapi_plugin", "plugin_frames", 0, &o);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_exited_ok(c, pid);
	assert_same_output(want, read_out(c));
	assert_int_equal(n, 2); /* one call a round */
	free(want);
}

struct late_ret {
	struct uprobe_tracer *t;
	struct uprobe *u;
	uint64_t n;
};

/* At the first call of plugin_work: the first return probe, on plugin_frames. */
static int on_work_add_ret(struct uprobe_hit *h, void *data)
{
	struct late_ret *l = data;

	(void)h;
	if (!l->u) {
		UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_count, .data = &l->n);

		l->u = uprobe_add(l->t, g_plugin, "plugin_frames", 0, &o);
	}
	return 0;
}

/*
 * The same as a first return probe added while the program runs, from a
 * handler: uprobe_add() has the unwinders watched before it returns.
 */
static void test_late_retprobe_unwinder(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_dlopen, (char *)g_plugin, "2", "3", NULL };
	char *want = run_untraced(c, argv);
	struct late_ret l = { .t = c->t };
	pid_t pid;

	UPROBE_OPTS(uprobe_opts, o, .handler = on_work_add_ret, .data = &l);

	assert_non_null(want);
	assert_true(kv(want, "frames") > 2 * 3);
	assert_int_equal(spawn_out(c, argv, &pid), 0);
	add_or_fail(c, g_plugin, "plugin_work", 0, &o);
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_exited_ok(c, pid);
	assert_non_null(l.u);
	assert_same_output(want, read_out(c));
	assert_int_equal(l.n, 2); /* one call a round */
	free(want);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_probe_before_load),
		T(test_output_unchanged),
		T(test_pending_by_name),
		T(test_pending_ifunc),
		T(test_pending_retprobe_unwinder),
		T(test_late_retprobe_unwinder),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s API_DLOPEN PLUGIN\n", argv[0]);
		return 2;
	}
	g_dlopen = argv[1];
	g_plugin = argv[2];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_dlopen", tests, NULL, NULL);
}
