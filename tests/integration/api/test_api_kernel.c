// SPDX-License-Identifier: LGPL-2.1-or-later
/* Kernel uprobes (tracefs uprobe_events) on the code we probe: accepted, no crash, no hit twice. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "tracee_test.h"

/*
 * Root and tracefs only (mounted here if missing); skipped otherwise. Each
 * event is in a group of this process's own (libuprobe_test_PID), enabled
 * through events/GROUP/enable, and only that event is ever removed.
 */
#define TRACEFS "/sys/kernel/tracing"

static const char *g_threads;
static char g_group[64];
static uint64_t g_off; /* thread_work's file offset */

static bool write_file(const char *path, const char *s, bool append)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC));
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s);
}

static bool tracefs_ready(void)
{
	if (geteuid() != 0)
		return false;
	if (access(TRACEFS "/uprobe_events", W_OK) != 0)
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	return access(TRACEFS "/uprobe_events", W_OK) == 0;
}

/* Adds and enables the kernel uprobe GROUP/EV at off of thread_work's file. */
static bool kprobe_add(const char *ev, uint64_t off)
{
	char line[PATH_MAX + 128], path[PATH_MAX + 64], real[PATH_MAX];

	if (!realpath(g_threads, real))
		return false;
	snprintf(line, sizeof(line), "p:%s/%s %s:0x%llx\n", g_group, ev, real,
		 (unsigned long long)off);
	if (!write_file(TRACEFS "/uprobe_events", line, true))
		return false;
	snprintf(path, sizeof(path), TRACEFS "/events/%s/%s/enable", g_group, ev);
	return write_file(path, "1", false);
}

/* Disables GROUP/EV and returns its hits (uprobe_profile), then removes it; -1 on failure. */
static long kprobe_remove(const char *ev)
{
	char line[256], path[PATH_MAX], want[160], real[PATH_MAX], *prof, *q;
	long hits = -1;

	snprintf(path, sizeof(path), TRACEFS "/events/%s/%s/enable", g_group, ev);
	write_file(path, "0", false);
	/*
	 * "  PATH  EVENT  HITS" (and misses since 6.x), without the group: the
	 * same event name may be another run's (this test run side by side),
	 * so the line must name our own copy of the program too.
	 */
	prof = realpath(g_threads, real) ? slurp(TRACEFS "/uprobe_profile") : NULL;
	snprintf(want, sizeof(want), " %s ", ev);
	for (char *l = prof, *nl; l && *l; l = nl ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		if (strstr(l, real) && (q = strstr(l, want)))
			hits = strtol(q + strlen(want), NULL, 10);
	}
	free(prof);
	snprintf(line, sizeof(line), "-:%s/%s\n", g_group, ev);
	write_file(TRACEFS "/uprobe_events", line, true);
	return hits;
}

/* Our events only (the group goes with its last event); nothing else is touched. */
static void kprobe_cleanup(void)
{
	kprobe_remove("ev_entry");
	kprobe_remove("ev_next");
}

struct hits {
	uint64_t n;
};

static int on_hit(struct uprobe_hit *h, void *data)
{
	struct hits *r = data;

	(void)h;
	__atomic_fetch_add(&r->n, 1, __ATOMIC_RELAXED);
	return 0;
}

static void check_program(struct ctx *c, pid_t pid, long threads, long calls)
{
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	assert_int_equal(kv(out, "threads"), threads);
	assert_int_equal(kv(out, "total_calls"), threads * calls);
	assert_int_equal(kv(out, "bad"), 0);
}

/*
 * A kernel uprobe already on the hot function: ours is accepted (it used to
 * be refused: our decoder read the kernel's int3 through our own mapping
 * of the file). On the same instruction the kernel takes each hit, so ours
 * and the kernel's add up to every call, none seen twice; on the next
 * instruction ours counts every call.
 */
static void before_case(struct ctx *c, bool same, bool nostop)
{
	char *argv[] = { (char *)g_threads, "4", "20000", NULL };
	struct hits r = { 0 };
	struct uprobe *p;
	long kernel;
	pid_t pid;

	if (!tracefs_ready())
		skip();
	/* thread_work: imul $k,%rdi,%rdi (7 bytes); lea; ret */
	assert_true(kprobe_add(same ? "ev_entry" : "ev_next", g_off + (same ? 0 : 7)));
	assert_int_equal(spawn_out(c, argv, &pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_hit, .data = &r, .nostop = nostop);
	p = uprobe_add(c->t, g_threads, "thread_work", 0, &o);
	if (!p) {
		print_error("uprobe_add: %s\n", uprobe_tracer_errmsg(c->t));
		kprobe_cleanup();
		fail();
	}
	run_ok(c);
	kernel = kprobe_remove(same ? "ev_entry" : "ev_next");
	check_program(c, pid, 4, 20000);
	assert_int_equal(uprobe_hits(p), r.n);
	if (same) {
		assert_int_equal((long)r.n + kernel, 4 * 20000);
	} else {
		assert_int_equal(r.n, 4 * 20000);
		assert_int_equal(kernel, 4 * 20000);
	}
}

static void test_before_same_insn(void **state)
{
	before_case(*state, true, false);
}

static void test_before_same_insn_nostop(void **state)
{
	before_case(*state, true, true);
}

static void test_before_next_insn(void **state)
{
	before_case(*state, false, false);
}

static void test_before_next_insn_nostop(void **state)
{
	before_case(*state, false, true);
}

struct toggler {
	long add_ms, hold_ms;
	long kernel_hits;
	bool ok;
	const uint64_t *ours; /* our probe's hits: the kernel's comes only once it fired */
};

/*
 * Adds the kernel probe on our probed instruction a moment after ours first
 * fired (on a loaded machine the program may start late: a kernel probe
 * there first would take every hit), removes it later.
 */
static void *toggle(void *arg)
{
	struct toggler *tg = arg;

	for (int i = 0; i < 20000 && !__atomic_load_n(tg->ours, __ATOMIC_RELAXED); i++)
		sleep_ms(1);
	sleep_ms(tg->add_ms);
	tg->ok = kprobe_add("ev_entry", g_off);
	sleep_ms(tg->hold_ms);
	tg->kernel_hits = kprobe_remove("ev_entry");
	return NULL;
}

/*
 * A kernel uprobe added and removed on the very instruction our probe is
 * on, while it fires in 4 threads: by then ours is jump-optimized (thread_work's
 * first instruction is 7 bytes: the kernel's int3 over our jmp leaves a
 * thread running its copy and going on after it), and the kernel's removal
 * used to write the file's byte over our jmp's opcode: SIGSEGV. Now the
 * program runs as untraced, and no call is seen twice. Ours loses the hits
 * the kernel took, and those made between the kernel's restore and our
 * next look (kernel.c): the count is bounded, not exact.
 */
static void toggle_case(struct ctx *c, bool nostop)
{
	/* a no-stop probe's calls are fast until the kernel comes, then stop: fewer, sooner */
	const char *calls = nostop ? "100000" : "40000";
	char *argv[] = { (char *)g_threads, "4", (char *)calls, NULL };
	struct toggler tg;
	struct hits r = { 0 };
	struct uprobe *p;
	pthread_t th;
	pid_t pid;

	if (!tracefs_ready())
		skip();
	for (int round = 0; round < 6; round++) {
		memset(&r, 0, sizeof(r));
		/*
		 * The kernel's probe stays a second: our watch (every 20 ms, later
		 * on a loaded machine) must see it before its removal writes the
		 * file's byte into our jump (a known limit: README).
		 */
		tg = (struct toggler){ .add_ms = nostop ? 10 : 150, .hold_ms = 1000, .ours = &r.n };
		assert_int_equal(spawn_out(c, argv, &pid), 0);
		UPROBE_OPTS(uprobe_opts, o, .handler = on_hit, .data = &r, .nostop = nostop);
		p = add_or_fail(c, g_threads, "thread_work", 0, &o);
		assert_int_equal(pthread_create(&th, NULL, toggle, &tg), 0);
		run_ok(c);
		pthread_join(th, NULL);
		if (!tg.ok)
			kprobe_cleanup();
		assert_true(tg.ok);
		check_program(c, pid, 4, atol(calls));
		assert_int_equal(uprobe_hits(p), r.n);
		assert_true(r.n > 0);
		assert_true((long)r.n + (tg.kernel_hits > 0 ? tg.kernel_hits : 0) <= 4 * atol(calls));
		assert_int_equal(uprobe_remove(p), 0);
		ctx_untrack(c, pid);
	}
}

static void test_toggle_stopping(void **state)
{
	toggle_case(*state, false);
}

static void test_toggle_nostop(void **state)
{
	toggle_case(*state, true);
}

static int teardown(void **state)
{
	if (geteuid() == 0)
		kprobe_cleanup();
	return ctx_teardown(state);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_before_same_insn),
		T(test_before_same_insn_nostop),
		T(test_before_next_insn),
		T(test_before_next_insn_nostop),
		T(test_toggle_stopping),
		T(test_toggle_nostop),
	};
	uint64_t size;

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_THREADS\n", argv[0]);
		return 2;
	}
	g_threads = argv[1];
	if (!elf_sym_off(g_threads, "thread_work", &g_off, &size)) {
		fprintf(stderr, "%s: no thread_work\n", g_threads);
		return 2;
	}
	if (!tracefs_ready()) {
		fprintf(stderr, "api_kernel: needs root and tracefs (uprobe_events): skipped\n");
		return 77;
	}
	snprintf(g_group, sizeof(g_group), "libuprobe_test_%d", (int)getpid());
	/*
	 * A kernel uprobe is on a file, for every process that runs it: the
	 * other tests tracing api_threads at the same time would feed its
	 * count, and lose their own hits to it. This test probes a copy.
	 */
	{
		static char dir[] = "/tmp/uprobe-api-kernel.XXXXXX";
		static char copy[sizeof(dir) + 16];
		int in, out, r;
		char buf[65536];
		ssize_t n;

		if (!mkdtemp(dir))
			return 2;
		snprintf(copy, sizeof(copy), "%s/api_threads", dir);
		in = open(g_threads, O_RDONLY | O_CLOEXEC);
		out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
		while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				break;
		if (in >= 0)
			close(in);
		if (out < 0 || close(out) < 0) {
			fprintf(stderr, "api_kernel: cannot copy %s to %s\n", g_threads, copy);
			return 2;
		}
		g_threads = copy;
		tracee_test_init("api", 150, getenv("API_TEST_FILTER"));
		r = cmocka_run_group_tests_name("api_kernel", tests, NULL, NULL);
		unlink(copy);
		rmdir(dir);
		return r;
	}
}
