// SPDX-License-Identifier: LGPL-2.1-or-later
/* Attach to and detach from running processes: they continue unharmed, repeatedly, mid-storm. */
#include <dirent.h>

#include "tracee_test.h"

static const char *g_loop, *g_seccomp;

#define SEEN_SLOTS (1 << 18) /* open-addressing set of calls seen; plenty for these tests */

/*
 * Each call tick(idx, i) is unique: thread idx calls it with i = 0, 1, 2, ...
 * Seeing the same (idx, i) twice means one call was reported as two hits.
 */
struct seen_slot {
	uint64_t key; /* (idx << 48 | i) + 1; 0 is empty */
	uint64_t n;
	int cycle;
};

struct cycle_rec {
	struct uprobe_tracer *t;
	uint64_t n, stop_at;
	pid_t pid;
	int wrong_pid;
	int cycle;
	struct seen_slot seen[SEEN_SLOTS];
	int dups;
	char dup_msg[256];
};

static int on_tick(struct uprobe_hit *h, void *data)
{
	struct cycle_rec *r = data;
	uint64_t idx = uprobe_hit_arg(h, 0), i = uprobe_hit_arg(h, 1) & 0xffffffffffffULL;
	uint64_t key = (idx << 48 | i) + 1;

	if (uprobe_hit_pid(h) != r->pid)
		r->wrong_pid++;
	r->n++;
	for (uint64_t k = (key * 0x9e3779b97f4a7c15ULL) >> 46;; k = (k + 1) % SEEN_SLOTS) {
		struct seen_slot *sl = &r->seen[k];

		if (sl->key == key) {
			if (!r->dups++)
				snprintf(r->dup_msg, sizeof(r->dup_msg),
					 "call (%llu, %llu) reported twice: hit %llu of cycle %d and "
					 "hit %llu of cycle %d (stop_at %llu)",
					 (unsigned long long)idx, (unsigned long long)i,
					 (unsigned long long)sl->n, sl->cycle, (unsigned long long)r->n,
					 r->cycle, (unsigned long long)r->stop_at);
			break;
		}
		if (!sl->key) {
			sl->key = key;
			sl->n = r->n;
			sl->cycle = r->cycle;
			break;
		}
	}
	if (r->n == r->stop_at)
		uprobe_tracer_stop(r->t);
	return 0;
}

static void assert_no_dups(struct cycle_rec *r)
{
	if (r->dups) {
		print_error("%d duplicate hits; first: %s\n", r->dups, r->dup_msg);
		fail();
	}
}

static struct cycle_rec g_cycle;

static struct cycle_rec *cycle_rec_new(struct ctx *c)
{
	memset(&g_cycle, 0, sizeof(g_cycle));
	g_cycle.t = c->t;
	return &g_cycle;
}

/*
 * Starts api_loop untraced (flag: its optional mode argument, "sys",
 * "trap-ign", ...) and waits until it prints "ready".
 */
static pid_t start_loop_flag(struct ctx *c, const char *threads, const char *pause_us,
			     const char *flag)
{
	char *argv[] = { (char *)g_loop, (char *)threads, "30000", (char *)pause_us,
			 (char *)flag, NULL };
	pid_t pid = start_untraced(c, argv);

	assert_true(pid > 0);
	for (int i = 0; i < 5000 && !g_wd_fired; i++) {
		char *out = slurp(c->out);
		bool ready = out && strstr(out, "ready pid=");

		free(out);
		if (ready)
			return pid;
		sleep_ms(1);
	}
	fail_msg("api_loop never printed ready");
	return -1;
}

static pid_t start_loop(struct ctx *c, const char *threads, const char *pause_us, bool sys)
{
	return start_loop_flag(c, threads, pause_us, sys ? "sys" : NULL);
}

/* How many threads of pid have a /proc/PID/task/TID/FILE for which match() says so. */
static int count_threads(pid_t pid, const char *file, bool (*match)(FILE *fp))
{
	char path[64];
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char sp[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%s/%s", (int)pid, de->d_name, file);
		FILE *fp = fopen(sp, "r");

		if (!fp)
			continue;
		n += match(fp);
		fclose(fp);
	}
	closedir(d);
	return n;
}

/* In a stop (ptrace or group stop): 't' or 'T' in stat. */
static bool is_stopped(FILE *fp)
{
	char buf[512], *p;

	if (!fgets(buf, sizeof(buf), fp))
		return false;
	p = strrchr(buf, ')');
	return p && (p[2] == 't' || p[2] == 'T');
}

/* Still has a tracer: TracerPid in status. */
static bool is_traced(FILE *fp)
{
	char line[256];

	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, "TracerPid:", 10))
			return atoi(line + 10) != 0;
	return false;
}

static int stopped_threads(pid_t pid)
{
	return count_threads(pid, "stat", is_stopped);
}

static int traced_threads(pid_t pid)
{
	return count_threads(pid, "status", is_traced);
}

/* No scratch area is left in the process after a detach. */
static void assert_no_scratch(pid_t pid, int before, int cycle)
{
	int n = anon_exec_maps(pid);

	if (n != before) {
		print_error("after detach %d: %d anonymous executable mappings, %d before attach:\n",
			    cycle, n, before);
		anon_exec_maps_v(pid, true);
		fail();
	}
}

/* The untraced process is still running after a detach; if not, say how it ended. */
static void assert_alive(struct ctx *c, pid_t pid, int cycle)
{
	int st = 0;
	pid_t r = waitpid(pid, &st, WNOHANG);

	if (r == 0)
		return;
	if (r == pid)
		ctx_untrack(c, pid);
	char *out = slurp(c->out);

	print_error("after detach %d: the process ended: waitpid -> %d, status %#x (%s %d); "
		    "output:\n%s\n",
		    cycle, (int)r, st, WIFSIGNALED(st) ? "signal" : "exit",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), out ? out : "");
	free(out);
	fail();
}

/* A function's first bytes in the process equal those in the file: no breakpoint left. */
static void assert_restored(pid_t pid, const char *sym)
{
	uint64_t vaddr = 0, size = 0, off = 0;
	uint8_t file[16], mem[16];
	struct elf_view v;

	assert_true(elf_view_open(g_loop, &v));
	assert_true(elf_sym_vaddr(&v, sym, &vaddr, &size));
	assert_true(elf_vaddr_off(&v, vaddr, &off));
	elf_view_close(&v);
	assert_true(elf_file_bytes(g_loop, off, file, sizeof(file)));
	assert_true(tracee_read_exe(pid, g_loop, vaddr, mem, sizeof(mem)));
	assert_memory_equal(file, mem, sizeof(file));
}

static void finish_loop(struct ctx *c, pid_t pid, uint64_t min_ticks)
{
	assert_int_equal(kill(pid, SIGUSR1), 0);
	int st = wait_child(c, pid);
	const char *out = read_out(c);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("api_loop: status %#x, output:\n%s\n", st, out);
		fail();
	}
	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "finished_by_signal"), 1);
	if ((uint64_t)kv(out, "total_ticks") < min_ticks) {
		print_error("total_ticks %ld < hits seen %llu\n", kv(out, "total_ticks"),
			    (unsigned long long)min_ticks);
		fail();
	}
}

/* One attach/run/detach cycle; returns the hits of that cycle. */
static uint64_t cycle(struct ctx *c, pid_t pid, struct cycle_rec *r, uint64_t k)
{
	int rc;

	r->n = 0;
	r->stop_at = k;
	r->cycle++;
	rc = uprobe_tracer_attach(c->t, pid);
	if (rc) {
		print_error("attach %d (cycle %d): %d %s\n", (int)pid, r->cycle, rc,
			    uprobe_tracer_errmsg(c->t));
		assert_alive(c, pid, r->cycle);
		fail();
	}
	rc = uprobe_tracer_run(c->t);
	if (rc) {
		print_error("run: %d %s\n", rc, uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_false(g_wd_fired);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH);
	rc = uprobe_tracer_detach(c->t);
	if (rc) {
		print_error("detach: %d %s\n", rc, uprobe_tracer_errmsg(c->t));
		fail();
	}
	return r->n;
}

static void test_attach_detach_once(void **state)
{
	struct ctx *c = *state;
	struct cycle_rec *r = cycle_rec_new(c);
	pid_t pid = start_loop(c, "1", "200", false);

	r->pid = pid;
	int anon_before = anon_exec_maps(pid);

	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	/* Added after attach: planted in the running process. */
	UPROBE_OPTS(uprobe_opts, o, .handler = on_tick, .data = r);
	struct uprobe *p = uprobe_add(c->t, g_loop, "tick", 0, &o);

	if (!p) {
		print_error("uprobe_add: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	r->stop_at = 50;
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_true(r->n >= 50);
	assert_int_equal(r->wrong_pid, 0);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	uint64_t at_detach = r->n;

	sleep_ms(20);
	assert_alive(c, pid, 0);
	assert_int_equal(traced_threads(pid), 0);
	assert_int_equal(stopped_threads(pid), 0);
	assert_restored(pid, "tick");
	assert_no_scratch(pid, anon_before, 0);
	finish_loop(c, pid, at_detach);
	assert_int_equal(r->n, at_detach);
	assert_int_equal(uprobe_hits(p), at_detach);
	assert_no_dups(r);
}

/* The probe: tick's entry, or the syscall instruction at sys_tick+5. */
static void repeat_cycles(struct ctx *c, const char *threads, const char *pause_us, bool sys,
			  int cycles, uint64_t k)
{
	struct cycle_rec *r = cycle_rec_new(c);
	uint64_t total = 0;
	pid_t pid = start_loop(c, threads, pause_us, sys);
	const char *sym = sys ? "sys_tick" : "tick";

	r->pid = pid;
	int anon_before = anon_exec_maps(pid);
	/* Added before attach, by path: applies to each attach. */
	UPROBE_OPTS(uprobe_opts, o, .handler = on_tick, .data = r);
	struct uprobe *p = uprobe_add(c->t, g_loop, sym, sys ? 5 : 0, &o);

	if (!p) {
		print_error("uprobe_add: %s\n", uprobe_tracer_errmsg(c->t));
		fail();
	}
	for (int i = 0; i < cycles; i++) {
		uint64_t n = cycle(c, pid, r, k);

		if (n < k) {
			print_error("cycle %d: %llu hits, want >= %llu\n", i, (unsigned long long)n,
				    (unsigned long long)k);
			fail();
		}
		total += n;
		assert_alive(c, pid, i);
		int traced = traced_threads(pid);

		if (traced) {
			print_error("cycle %d: %d threads still traced after detach\n", i, traced);
			fail();
		}
		int stopped = stopped_threads(pid);

		if (stopped) {
			/* A thread may be caught in a group-stop transition; look again. */
			sleep_ms(50);
			stopped = stopped_threads(pid);
		}
		if (stopped) {
			print_error("cycle %d: %d threads still stopped after detach\n", i, stopped);
			fail();
		}
		assert_restored(pid, sym);
		assert_no_scratch(pid, anon_before, i);
		assert_alive(c, pid, i);
	}
	assert_int_equal(r->wrong_pid, 0);
	assert_no_dups(r);
	assert_int_equal(uprobe_hits(p), total);
	finish_loop(c, pid, total);
}

static void test_attach_detach_repeat(void **state)
{
	repeat_cycles(*state, "1", "100", false, 20, 30);
}

/* 100 attach/detach cycles on a program with 4 threads calling the probed function. */
static void test_attach_detach_100_threads(void **state)
{
	repeat_cycles(*state, "4", "100", false, 100, 30);
}

/* Detach while 4 threads hit the probe in tight loops (threads inside scratch code). */
static void test_detach_heavy_threads(void **state)
{
	repeat_cycles(*state, "4", "0", false, 6, 3000);
}

/* The same with the probe on a syscall instruction. */
static void test_attach_detach_syscall(void **state)
{
	repeat_cycles(*state, "1", "100", true, 20, 30);
}

static void test_detach_heavy_syscall(void **state)
{
	repeat_cycles(*state, "4", "0", true, 6, 3000);
}

/*
 * An int3 trap is a forced SIGTRAP: were one of ours to trap while the
 * program ignores SIGTRAP or has it blocked, the kernel would reset it to
 * the default and unblock it, for good (the program later dies of its own
 * SIGTRAP). Attach and detach inject system calls (the scratch area's mmap
 * and munmap) and an IFUNC probe runs its resolver: none of that may change
 * the program's SIGTRAP state. 10 cycles, two threads, probes never hit.
 */
static void sigtrap_state_cycles(struct ctx *c, const char *mode)
{
	pid_t pid = start_loop_flag(c, "2", "300", mode);

	for (int cyc = 1; cyc <= 10; cyc++) {
		struct uprobe *p, *q;

		if (uprobe_tracer_attach(c->t, pid)) {
			print_error("attach (cycle %d): %s\n", cyc, uprobe_tracer_errmsg(c->t));
			fail();
		}
		/* never called: sys_tick without "sys"; wcsnlen, an IFUNC, by nobody here */
		p = uprobe_add(c->t, g_loop, "sys_tick", 0, NULL);
		q = uprobe_add(c->t, "libc", "wcsnlen", 0, NULL);
		if (!p || !q) {
			print_error("uprobe_add (cycle %d): %s\n", cyc, uprobe_tracer_errmsg(c->t));
			fail();
		}
		sleep_ms(5);
		assert_int_equal(uprobe_tracer_detach(c->t), 0);
	}
	assert_int_equal(kill(pid, SIGUSR1), 0);
	int st = wait_child(c, pid);
	const char *out = read_out(c);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("api_loop %s: status %#x, output:\n%s\n", mode, st, out);
		fail();
	}
	assert_int_equal(kv(out, "trap_state_bad"), 0);
	assert_int_equal(kv(out, "finished_by_signal"), 1);
}

static void test_sigtrap_ignored_kept(void **state)
{
	sigtrap_state_cycles(*state, "trap-ign");
}

static void test_sigtrap_blocked_kept(void **state)
{
	sigtrap_state_cycles(*state, "trap-blk");
}

static void test_attach_esrch(void **state)
{
	struct ctx *c = *state;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid); /* gone and reaped: no such process */
	errno = 0;
	assert_int_equal(uprobe_tracer_attach(c->t, pid), -ESRCH);
	assert_int_equal(errno, ESRCH);
}

static void test_attach_twice(void **state)
{
	struct ctx *c = *state;
	pid_t pid = start_loop(c, "1", "1000", false);

	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	errno = 0;
	assert_int_equal(uprobe_tracer_attach(c->t, pid), -EEXIST);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	finish_loop(c, pid, 0);
}

/* A process another tracer already traces: EPERM, with a message saying why; untouched. */
static void test_attach_already_traced(void **state)
{
	struct ctx *c = *state;
	pid_t pid = start_loop(c, "1", "1000", false);
	struct uprobe_tracer *other = uprobe_tracer_new();

	assert_non_null(other);
	assert_int_equal(uprobe_tracer_attach(other, pid), 0);
	errno = 0;
	assert_int_equal(uprobe_tracer_attach(c->t, pid), -EPERM);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "already traced"));
	assert_int_equal(uprobe_tracer_detach(other), 0);
	uprobe_tracer_free(other);
	finish_loop(c, pid, 0);
}

/*
 * A process whose seccomp filter makes mmap fail with EPERM: no scratch area
 * can be mapped into it, so its probes run in place. Every call after the
 * attach is counted, and the program runs on unharmed, its memory free of
 * any mapping of ours.
 */
static void test_seccomp_fallback(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_seccomp, "errno", "2000", NULL };
	pid_t pid = start_untraced(c, argv);
	uint64_t n = 0;
	long want = 0;
	bool ready = false;
	int anon_before;

	assert_true(pid > 0);
	for (int i = 0; i < 5000 && !ready && !g_wd_fired; i++) {
		char *out = slurp(c->out);

		ready = out && strstr(out, "ready pid=");
		if (out && strstr(out, "seccomp unavailable")) {
			free(out);
			kill(pid, SIGKILL);
			skip();
		}
		free(out);
		if (!ready)
			sleep_ms(1);
	}
	assert_true(ready);
	anon_before = anon_exec_maps(pid);
	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	struct uprobe *p = add_probe(c, g_seccomp, "sec_work", 0, on_count, &n);

	assert_int_equal(anon_exec_maps(pid), anon_before);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	run_to_exit(c, pid);
	ctx_untrack(c, pid);
	assert_int_equal(kv(c->outbuf, "mmap_denied"), 1);
	assert_int_equal(kv(c->outbuf, "calls"), 2000);
	assert_int_equal(n, 2000);
	assert_int_equal(uprobe_hits(p), 2000);
	for (long i = 0; i < 2000; i++)
		want += i * 3;
	assert_int_equal(kv(c->outbuf, "sum"), want);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_attach_detach_once), T(test_attach_detach_repeat), T(test_attach_detach_100_threads),
		T(test_detach_heavy_threads), T(test_attach_detach_syscall),
		T(test_detach_heavy_syscall), T(test_attach_esrch),
		T(test_attach_twice), T(test_attach_already_traced), T(test_seccomp_fallback),
		T(test_sigtrap_ignored_kept), T(test_sigtrap_blocked_kept),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s API_LOOP API_SECCOMP\n", argv[0]);
		return 2;
	}
	g_loop = argv[1];
	g_seccomp = argv[2];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_attach", tests, NULL, NULL);
}
