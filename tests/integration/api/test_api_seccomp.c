// SPDX-License-Identifier: LGPL-2.1-or-later
/* Processes under seccomp filters that allow what libuprobe injects: traced as any other, never killed. */
#include <linux/capability.h>
#include <sys/syscall.h>

#include "tracee_test.h"

static const char *g_filtered;

#define CALLS 20000

/* 'S' in /proc/PID/stat: blocked in its system call, not running its own code. */
static bool sleeping(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	bool s = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return false;
	if (fgets(buf, sizeof(buf), fp) && (p = strrchr(buf, ')')))
		s = p[1] == ' ' && p[2] == 'S';
	fclose(fp);
	return s;
}

/*
 * Starts api_filtered MODE untraced and waits until its filter is in place
 * and checked ("filter=ok ready") and it sleeps waiting for SIGUSR1.
 */
static pid_t start_filtered(struct ctx *c, const char *mode, bool wait_end)
{
	char calls[16];
	char *argv[] = { (char *)g_filtered, (char *)mode, calls, wait_end ? "wait" : NULL, NULL };
	pid_t pid;

	snprintf(calls, sizeof(calls), "%d", CALLS);
	pid = start_untraced(c, argv);
	assert_true(pid > 0);
	for (int i = 0; i < 5000 && !g_wd_fired; i++) {
		char *out = slurp(c->out);
		bool ready = out && strstr(out, "ready pid=");

		if (out && strstr(out, "seccomp unavailable")) {
			free(out);
			skip();
		}
		if (out && strstr(out, "filter wrong")) {
			print_error("api_filtered %s: %s", mode, out);
			free(out);
			fail();
		}
		free(out);
		if (ready && sleeping(pid))
			return pid;
		sleep_ms(1);
	}
	fail_msg("api_filtered %s never got ready", mode);
	return -1;
}

static void check_output(const char *out)
{
	long want = 0;

	assert_non_null(strstr(out, "filter=ok"));
	assert_int_equal(kv(out, "calls"), CALLS);
	for (long i = 0; i < CALLS; i++)
		want += i * 3 + 1;
	assert_int_equal(kv(out, "sum"), want);
}

/*
 * Attached after its filter is in place, probed, told to start, run to its
 * end: every call is a hit, and it exits normally.
 */
static void trace_to_exit(struct ctx *c, const char *mode)
{
	uint64_t hits = 0;
	pid_t pid = start_filtered(c, mode, false);
	struct uprobe *p;

	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	p = add_probe(c, g_filtered, "hot", 0, on_count, &hits);
	assert_true(anon_exec_maps(pid) > 0); /* its scratch area is mapped */
	assert_int_equal(kill(pid, SIGUSR1), 0);
	run_to_exit(c, pid);
	check_output(c->outbuf);
	assert_int_equal(hits, CALLS);
	assert_int_equal(uprobe_hits(p), CALLS);
}

/* Its filter refuses ptrace and mknod with an errno and allows the rest: traced normally. */
static void test_filter_allows_mmap(void **state)
{
	trace_to_exit(*state, "plain");
}

/*
 * Its filter refuses mmap of files, mmap asking for write+exec, and mmap
 * made from below 4 GiB or from the program's own image. The scratch-area
 * mmap (anonymous, read+exec, injected where the thread waits in libc or
 * from a scratch area) is none of these: it is let through only when its
 * flags, protection and instruction pointer are all read right.
 */
static void test_filter_checks_args_and_ip(void **state)
{
	trace_to_exit(*state, "ipargs");
}

static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	return (int)syscall(SYS_capset, &hdr, data);
}

/*
 * A tracer without CAP_SYS_ADMIN cannot read the filter (EACCES), so cannot
 * know what it allows: no mmap is injected, the probe is placed in the
 * inline fallback (no scratch area appears) and the program runs on
 * untouched after detach. The tracer is a child of the test, so that the
 * test keeps its privileges.
 */
static void test_filter_unreadable(void **state)
{
	struct ctx *c = *state;
	pid_t pid, helper;
	int st;

	if (geteuid() != 0)
		skip(); /* the tracer must hold CAP_SYS_PTRACE without CAP_SYS_ADMIN */
	pid = start_filtered(c, "plain", false);
	helper = fork();
	assert_true(helper >= 0);
	if (helper == 0) {
		struct uprobe_tracer *t;
		struct uprobe *u;
		int bad = 0;

		if (drop_sys_admin())
			_exit(10);
		t = uprobe_tracer_new();
		if (!t || uprobe_tracer_attach(t, pid))
			_exit(11);
		errno = 0;
		u = uprobe_add(t, g_filtered, "hot", 0, NULL);
		if (!u)
			bad = 12;
		else if (anon_exec_maps(pid))
			bad = 13;
		if (bad)
			fprintf(stderr, "uprobe_add: errno %d, %s\n", errno, uprobe_tracer_errmsg(t));
		if (uprobe_tracer_detach(t))
			bad = 14;
		_exit(bad);
	}
	assert_int_equal(waitpid(helper, &st, 0), helper);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		print_error("tracer without CAP_SYS_ADMIN: status %#x\n", st);
		fail();
	}
	assert_int_equal(anon_exec_maps(pid), 0);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	st = wait_child(c, pid);
	read_out(c);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	check_output(c->outbuf);
}

struct stop_rec {
	struct uprobe_tracer *t;
	uint64_t n, stop_at;
};

static int on_hot_stop(struct uprobe_hit *h, void *data)
{
	struct stop_rec *r = data;

	if (++r->n == r->stop_at)
		uprobe_tracer_stop(r->t);
	return 0;
}

/*
 * Probed, run for some hits, detached while it still calls hot(), then
 * told to end: alive after the detach, and exits normally with every call
 * made. Returns how many anonymous executable mappings the detach left.
 */
static int detach_midway(struct ctx *c, const char *mode, int *before)
{
	struct stop_rec r = { .t = c->t, .stop_at = 100 };
	pid_t pid = start_filtered(c, mode, true);
	int left, st;

	*before = anon_exec_maps(pid);
	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	add_probe(c, g_filtered, "hot", 0, on_hot_stop, &r);
	assert_true(anon_exec_maps(pid) > *before);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	run_ok(c);
	assert_true(r.n >= r.stop_at);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	left = anon_exec_maps(pid);
	assert_int_equal(kill(pid, SIGUSR2), 0);
	st = wait_child(c, pid);
	read_out(c);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("api_filtered %s after detach: status %#x, output:\n%s\n", mode, st,
			    c->outbuf);
		fail();
	}
	check_output(c->outbuf);
	assert_true(r.n <= CALLS);
	return left;
}

/* A filter that allows munmap: the detach unmaps the scratch areas as usual. */
static void test_detach_unmaps(void **state)
{
	int before, left = detach_midway(*state, "plain", &before);

	assert_int_equal(left, before);
}

/*
 * A filter that kills on munmap: the detach leaves the scratch areas
 * mapped instead of injecting the munmap, and the process lives on.
 */
static void test_detach_keeps_area_munmap_kills(void **state)
{
	int before, left = detach_midway(*state, "keep", &before);

	assert_true(left > before);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_filter_allows_mmap),
		T(test_filter_checks_args_and_ip),
		T(test_filter_unreadable),
		T(test_detach_unmaps),
		T(test_detach_keeps_area_munmap_kills),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_FILTERED\n", argv[0]);
		return 2;
	}
	g_filtered = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_seccomp", tests, NULL, NULL);
}
