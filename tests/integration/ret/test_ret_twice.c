// SPDX-License-Identifier: LGPL-2.1-or-later
/* Return probes on functions that return twice (setjmp, getcontext, vfork), on fork, on _start; unfollowed vfork and posix_spawn children leave before their exec. */
#include "tracee_test.h"

#include <grp.h>

static const char *g_twice;

#define MAX_RET 1024

struct ret_rec {
	int n;
	uint64_t ret[MAX_RET];
	pid_t tid[MAX_RET];
	/* only returns into [lo, hi) are the program's: glibc's start-up calls _setjmp too */
	uint64_t lo, hi;
	int others;
};

static int on_ret(struct uprobe_hit *h, void *data)
{
	struct ret_rec *r = data;
	uint64_t rip = uprobe_hit_regs(h)->rip;

	if (r->hi && (rip < r->lo || rip >= r->hi)) {
		r->others++;
		return 0;
	}
	if (r->n < MAX_RET) {
		r->ret[r->n] = uprobe_hit_retval(h);
		r->tid[r->n] = uprobe_hit_tid(h);
	}
	r->n++;
	return 0;
}

/* Counts in r only the returns into the text of pid's executable. */
static void only_program(pid_t pid, struct ret_rec *r)
{
	char exe[PATH_MAX];
	struct maps m;

	assert_non_null(realpath(g_twice, exe));
	assert_true(maps_read(pid, &m));
	for (int i = 0; i < m.n; i++) {
		if (strcmp(m.e[i].path, exe) || m.e[i].perms[2] != 'x')
			continue;
		if (!r->hi || m.e[i].start < r->lo)
			r->lo = m.e[i].start;
		if (m.e[i].end > r->hi)
			r->hi = m.e[i].end;
	}
	maps_free(&m);
	assert_true(r->hi != 0);
}

static struct uprobe *add_ret(struct ctx *c, const char *bin, const char *sym, struct ret_rec *r)
{
	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_ret, .data = r);

	return add_or_fail(c, bin, sym, 0, &o);
}

/* The program's output untraced, then spawned traced and held at its entry. */
static pid_t spawn_after_untraced(struct ctx *c, char *const argv[], char **want)
{
	*want = run_untraced(c, argv);
	assert_non_null(*want);
	return spawn_or_fail(c, argv);
}

/* Runs the traced program to its end: the untraced output, exit 0. */
static void run_same(struct ctx *c, pid_t pid, char *want)
{
	run_to_exit(c, pid);
	assert_same_output(want, c->outbuf);
	assert_exited_ok(c, pid);
	free(want);
}

static void check_returns(const char *what, const struct ret_rec *r, struct uprobe *p, int want_n)
{
	if (r->n != want_n || uprobe_hits(p) != (uint64_t)(want_n + r->others) || uprobe_missed(p)) {
		print_error("%s: %d returns (hits %llu, missed %llu), want %d\n", what, r->n,
			    (unsigned long long)uprobe_hits(p), (unsigned long long)uprobe_missed(p),
			    want_n);
		fail();
	}
}

/* Each setjmp of the program returns 0, then 1, 2, 3 from longjmp. */
static void test_setjmp(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_twice, "jmp", "3", NULL };
	struct ret_rec r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	char *want;
	pid_t pid = spawn_after_untraced(c, argv, &want);
	struct uprobe *p1, *p2, *p3;

	only_program(pid, &r1);
	only_program(pid, &r2);
	only_program(pid, &r3);
	p1 = add_ret(c, "libc", "_setjmp", &r1);
	p2 = add_ret(c, "libc", "setjmp", &r2);
	p3 = add_ret(c, "libc", "__sigsetjmp", &r3);

	run_same(c, pid, want);
	check_returns("_setjmp", &r1, p1, 4);
	check_returns("setjmp", &r2, p2, 4);
	/* glibc's _setjmp and setjmp jump to __sigsetjmp, which sigsetjmp names too */
	check_returns("__sigsetjmp", &r3, p3, 12);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r1.ret[i], i);
		assert_int_equal(r2.ret[i], i);
		for (int k = 0; k < 3; k++)
			assert_int_equal(r3.ret[k * 4 + i], i);
	}
}

/* getcontext returns 0 once, then once per setcontext. */
static void test_getcontext(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_twice, "ctx", "5", NULL };
	struct ret_rec r = { 0 };
	char *want;
	pid_t pid = spawn_after_untraced(c, argv, &want);
	struct uprobe *p = add_ret(c, "libc", "getcontext", &r);

	run_same(c, pid, want);
	check_returns("getcontext", &r, p, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(r.ret[i], 0);
}

/*
 * A setjmp in each of 400 calls: every call returns twice, and the calls
 * whose frames are gone do not pile up against maxactive (128).
 */
static void test_setjmp_calls(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_twice, "loop", "400", NULL };
	struct ret_rec r = { 0 };
	char *want;
	pid_t pid = spawn_after_untraced(c, argv, &want);
	struct uprobe *p;

	only_program(pid, &r);
	p = add_ret(c, "libc", "_setjmp", &r);

	run_same(c, pid, want);
	check_returns("_setjmp", &r, p, 800);
	for (int i = 0; i < 400 && 2 * i + 1 < MAX_RET; i++) {
		assert_int_equal(r.ret[2 * i], 0);
		assert_int_equal(r.ret[2 * i + 1], i + 1);
	}
}

/* vfork returns 0 in the child, on the parent's stack, then the child's pid in the parent. */
static void test_vfork(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_twice, "vfork", NULL };
	struct ret_rec r = { 0 };
	char *want;
	pid_t pid = spawn_after_untraced(c, argv, &want);
	struct uprobe *p = add_ret(c, "libc", "vfork", &r);

	run_same(c, pid, want);
	check_returns("vfork", &r, p, 2);
	assert_int_equal(r.ret[0], 0);
	assert_int_not_equal(r.tid[0], pid);
	assert_int_equal(r.ret[1], r.tid[0]);
	assert_int_equal(r.tid[1], pid);
}

/* fork returns once in each process: in the child only when it is followed. */
static void run_fork(struct ctx *c, bool follow)
{
	char *argv[] = { (char *)g_twice, "fork", NULL };
	struct ret_rec r = { 0 };
	char *want;
	pid_t pid = spawn_after_untraced(c, argv, &want);
	struct uprobe *p;

	uprobe_tracer_follow_forks(c->t, follow);
	p = add_ret(c, "libc", "fork", &r);
	run_same(c, pid, want);
	check_returns("fork", &r, p, follow ? 2 : 1);
	for (int i = 0; i < r.n; i++) {
		if (r.tid[i] == pid)
			assert_int_not_equal(r.ret[i], 0);
		else
			assert_int_equal(r.ret[i], 0);
	}
}

static void test_fork(void **state)
{
	run_fork(*state, false);
}

static void test_fork_follow(void **state)
{
	run_fork(*state, true);
}

/* The file offset of path's entry point (e_entry). */
static bool entry_off(const char *path, uint64_t *off)
{
	struct elf_view v;
	Elf64_Ehdr eh;
	FILE *fp = fopen(path, "rb");
	bool ok;

	ok = fp && fread(&eh, sizeof(eh), 1, fp) == 1;
	if (fp)
		fclose(fp);
	if (!ok || !elf_view_open(path, &v))
		return false;
	ok = elf_vaddr_off(&v, eh.e_entry, off);
	elf_view_close(&v);
	return ok;
}

/* _start is jumped to with argc at [rsp]: its return probe is refused, by name and by offset. */
static void test_start(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_twice, "args", "a", "b", NULL };
	struct ret_rec r = { 0 };
	char *want;
	pid_t pid = spawn_after_untraced(c, argv, &want);
	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_ret, .data = &r, .force = true);
	uint64_t off;

	errno = 0;
	assert_null(uprobe_add(c->t, g_twice, "_start", 0, &o));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "_start is the entry point"));
	assert_true(entry_off(g_twice, &off));
	errno = 0;
	assert_null(uprobe_add(c->t, g_twice, NULL, off, &o));
	assert_int_equal(errno, EOPNOTSUPP);
	run_same(c, pid, want);
	assert_same_output("argc=4\n", c->outbuf);
}

/*
 * Children made with posix_spawn, posix_spawnp (whose first execve fails:
 * PATH starts with a missing directory) and vfork + execv, each running
 * this program again to print whether it is traced: not without
 * follow_forks, though they hit probes on the way (execve); with it, yes.
 */
static void run_spawn(struct ctx *c, bool follow)
{
	char *argv[] = { (char *)g_twice, "spawn", NULL };
	char path[PATH_MAX + 64], dir[PATH_MAX];
	const char *old = getenv("PATH");
	uint64_t execs = 0;
	pid_t pid;
	char *want;

	snprintf(dir, sizeof(dir), "%s", g_twice);
	*strrchr(dir, '/') = '\0';
	snprintf(path, sizeof(path), "/nonexistent-uprobe-test:%s:%s", dir, old ? old : "/usr/bin");
	setenv("PATH", path, 1);
	pid = spawn_after_untraced(c, argv, &want);
	uprobe_tracer_follow_forks(c->t, follow);
	add_probe(c, "libc", "execve", 0, on_count, &execs);
	run_to_exit(c, pid);
	assert_exited_ok(c, pid);
	if (follow) {
		assert_int_equal(count_lines_with(c->outbuf, "spawn child: traced=1"), 1);
		assert_int_equal(count_lines_with(c->outbuf, "spawnp child: traced=1"), 1);
		assert_int_equal(count_lines_with(c->outbuf, "vfork child: traced=1"), 1);
		assert_int_equal(count_lines_with(want, "spawn child: traced=0"), 1);
	} else {
		assert_same_output(want, c->outbuf);
	}
	assert_int_equal(count_lines_with(c->outbuf, "spawn: exit 0"), 1);
	assert_int_equal(count_lines_with(c->outbuf, "spawnp: exit 0"), 1);
	assert_int_equal(count_lines_with(c->outbuf, "vfork: exit 0"), 1);
	/* spawn, spawnp's two tries, vfork: the children hit execve while still on our memory */
	if (execs < 4) {
		print_error("execve hit %llu times, want at least 4\n", (unsigned long long)execs);
		fail();
	}
	free(want);
	if (old)
		setenv("PATH", old, 1);
}

static void test_spawn(void **state)
{
	run_spawn(*state, false);
}

static void test_spawn_follow(void **state)
{
	run_spawn(*state, true);
}

/* Copies file from to to (mode 0755); false on any error. */
static bool copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1;
	ssize_t n = 0;
	bool ok = false;

	if (in >= 0)
		out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	ok = out >= 0 && n == 0;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out))
		ok = false;
	return ok;
}

/*
 * The tracer runs as nobody (no CAP_SYS_PTRACE), and the program it traces
 * spawns a setuid-root copy of itself three ways: the copy keeps its
 * privileges only if its exec was not traced. Unfollowed children leave
 * before their exec, so they keep them; followed ones are traced through
 * it, and lose them as the kernel says.
 */
static void run_setuid(struct ctx *c, bool follow)
{
	char dir[] = "/tmp/uprobe-suid-XXXXXX", copy[64], path[PATH_MAX];
	const char *old = getenv("PATH");
	int st;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(copy, sizeof(copy), "%s/ret_twice", dir);
	if (chmod(dir, 0755) || !copy_file(g_twice, copy) || chown(copy, 0, 0) ||
	    chmod(copy, 04755) || chmod(c->out, 0666)) {
		print_error("cannot make the setuid copy %s: %s\n", copy, strerror(errno));
		unlink(copy);
		rmdir(dir);
		fail();
	}
	snprintf(path, sizeof(path), "/nonexistent-uprobe-test:%s:%s", dir, old ? old : "/usr/bin");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)g_twice, "spawn", copy, NULL };
		struct uprobe_tracer *t;
		uint64_t execs = 0;
		pid_t tp;
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("PATH", path, 1);
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(3);
		/* changing ids made us undumpable: our own children could not be traced */
		prctl(PR_SET_DUMPABLE, 1);
		fd = open(c->out, O_WRONLY | O_TRUNC);
		t = test_tracer_new();
		if (fd < 0 || !t || dup2(fd, 1) < 0)
			_exit(4);
		uprobe_tracer_follow_forks(t, follow);
		if (uprobe_tracer_spawn(t, argv, &tp) ||
		    !uprobe_add(t, "libc", "execve", 0,
				&(struct uprobe_opts){ .sz = sizeof(struct uprobe_opts),
						       .handler = on_count, .data = &execs })) {
			fprintf(stderr, "as nobody: %s\n", uprobe_tracer_errmsg(t));
			_exit(5);
		}
		if (uprobe_tracer_run(t) < 0)
			_exit(6);
		st = uprobe_tracer_exit_status(t, tp);
		_exit(st >= 0 && WIFEXITED(st) && !WEXITSTATUS(st) && execs >= 4 ? 0 : 7);
	}
	assert_true(pid > 0);
	ctx_track(c, pid);
	st = wait_child(c, pid);
	read_out(c);
	unlink(copy);
	rmdir(dir);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		print_error("tracer as nobody: status %#x, output:\n%s\n", st, c->outbuf);
		fail();
	}
	for (int i = 0; i < 3; i++) {
		static const char *const hows[] = { "spawn", "spawnp", "vfork" };
		char exited[64], child[96];

		snprintf(exited, sizeof(exited), "%s: exit 0", hows[i]);
		snprintf(child, sizeof(child), "%s child: traced=%d privileged=%d", hows[i], follow,
			 !follow);
		if (count_lines_with(c->outbuf, exited) != 1 ||
		    count_lines_with(c->outbuf, child) != 1) {
			print_error("want '%s' and '%s'; output:\n%s\n", child, exited, c->outbuf);
			fail();
		}
	}
}

static void test_setuid(void **state)
{
	run_setuid(*state, false);
}

static void test_setuid_follow(void **state)
{
	run_setuid(*state, true);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_setjmp), T(test_getcontext), T(test_setjmp_calls), T(test_vfork),
		T(test_fork), T(test_fork_follow), T(test_start), T(test_spawn),
		T(test_spawn_follow), T(test_setuid), T(test_setuid_follow),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s RET_TWICE [TEST]\n", argv[0]);
		return 2;
	}
	g_twice = argv[1];
	tracee_test_init("ret", 120, argc > 2 ? argv[2] : NULL);
	return cmocka_run_group_tests_name("ret_twice", tests, NULL, NULL);
}
