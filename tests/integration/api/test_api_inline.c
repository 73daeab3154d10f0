// SPDX-License-Identifier: LGPL-2.1-or-later
/* Probes run in place (no scratch area): seccomp-filtered programs, forced inline mode, threads, return probes, detach. */
#include "tracee_test.h"

static const char *g_loop, *g_seccomp;

/*
 * How many bytes of pid's executable file mappings differ from their files
 * (program, libraries, the dynamic linker), -1 if they cannot be read. The
 * vdso and anonymous memory have no file to compare with.
 */
static long text_diffs(pid_t pid)
{
	struct maps m;
	long diffs = 0;

	if (!maps_read(pid, &m))
		return -1;
	for (int i = 0; i < m.n && diffs >= 0; i++) {
		const struct map_ent *e = &m.e[i];
		size_t len = e->end - e->start;
		uint8_t *mem, *file;
		struct stat sb;
		int fd;

		if (e->perms[2] != 'x' || e->path[0] != '/')
			continue;
		fd = open(e->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0) {
			diffs = -1;
			if (fd >= 0)
				close(fd);
			break;
		}
		if ((uint64_t)sb.st_size < e->off + len)
			len = sb.st_size > (off_t)e->off ? sb.st_size - e->off : 0;
		mem = malloc(len + 1);
		file = malloc(len + 1);
		struct iovec local = { mem, len }, remote = { (void *)(uintptr_t)e->start, len };

		if (!mem || !file || pread(fd, file, len, e->off) != (ssize_t)len ||
		    process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)len) {
			diffs = -1;
		} else {
			for (size_t k = 0; k < len; k++)
				diffs += mem[k] != file[k];
		}
		free(mem);
		free(file);
		close(fd);
	}
	maps_free(&m);
	return diffs;
}

/* Starts prog untraced with argv and waits for its "ready" line; skips if seccomp is missing. */
static pid_t start_ready(struct ctx *c, char *argv[])
{
	pid_t pid = start_untraced(c, argv);

	assert_true(pid > 0);
	for (int i = 0; i < 5000 && !g_wd_fired; i++) {
		char *out = slurp(c->out);
		bool ready = out && strstr(out, "ready pid=");
		bool none = out && strstr(out, "seccomp unavailable");

		free(out);
		if (none) {
			kill(pid, SIGKILL);
			wait_child(c, pid);
			skip();
		}
		if (ready)
			return pid;
		sleep_ms(1);
	}
	fail_msg("%s never printed ready", argv[0]);
	return -1;
}

/* Counts of the probes on every instruction of one function, and of its return probe. */
struct fn_probes {
	uint64_t off[64];       /* offsets from the symbol that are instruction starts */
	uint64_t hits[64];
	struct uprobe *p[64];
	int n;
	uint64_t rets, bad_rets;
	struct uprobe *ret;
	struct uprobe_tracer *t;
	uint64_t stop_at;       /* stop run() at this many returns (0: never) */
};

static int on_ret(struct uprobe_hit *h, void *data)
{
	struct fn_probes *f = data;

	f->rets++;
	f->bad_rets += !uprobe_hit_is_return(h);
	if (f->rets == f->stop_at)
		uprobe_tracer_stop(f->t);
	return 0;
}

/*
 * A probe on every instruction of sym (found as the offsets libuprobe takes:
 * inside an instruction it refuses with EINVAL, touching nothing) and a
 * return probe on it.
 */
static void probe_every_insn(struct ctx *c, const char *bin, const char *sym, struct fn_probes *f)
{
	uint64_t off = 0, size = 0;

	memset(f, 0, sizeof(*f));
	f->t = c->t;
	assert_true(elf_sym_off(bin, sym, &off, &size));
	assert_true(size > 0 && size < sizeof(f->off) / sizeof(f->off[0]));
	for (uint64_t o = 0; o < size; o++) {
		UPROBE_OPTS(uprobe_opts, po, .handler = on_count, .data = &f->hits[f->n]);
		struct uprobe *p = uprobe_add(c->t, bin, sym, o, &po);

		if (!p) {
			if (errno != EINVAL) {
				print_error("uprobe_add(%s+%#llx): %s\n", sym, (unsigned long long)o,
					    uprobe_tracer_errmsg(c->t));
				fail();
			}
			continue;
		}
		f->off[f->n] = o;
		f->p[f->n++] = p;
	}
	assert_true(f->n >= 2);
	UPROBE_OPTS(uprobe_opts, ro, .ret_handler = on_ret, .data = f);
	f->ret = add_or_fail(c, bin, sym, 0, &ro);
}

/* Every instruction ran exactly calls times, under every probe; every call returned through us. */
static void assert_counts(struct fn_probes *f, uint64_t calls)
{
	for (int i = 0; i < f->n; i++) {
		if (f->hits[i] != calls || uprobe_hits(f->p[i]) != calls) {
			print_error("+%#llx: %llu hits (uprobe_hits %llu), %llu calls\n",
				    (unsigned long long)f->off[i], (unsigned long long)f->hits[i],
				    (unsigned long long)uprobe_hits(f->p[i]),
				    (unsigned long long)calls);
			fail();
		}
	}
	if (f->rets != calls || f->bad_rets || uprobe_hits(f->ret) != calls ||
	    uprobe_missed(f->ret)) {
		print_error("returns %llu (bad %llu, missed %llu), calls %llu\n",
			    (unsigned long long)f->rets, (unsigned long long)f->bad_rets,
			    (unsigned long long)uprobe_missed(f->ret), (unsigned long long)calls);
		fail();
	}
}

/*
 * A program under a seccomp filter that forbids mmap, attached once the
 * filter is in place: no scratch area can be mapped, and probes (an entry
 * probe on each instruction, a return probe) work in place with exact
 * counts. With kill, an injected mmap would have killed it.
 */
static void seccomp_case(struct ctx *c, const char *mode, const char *threads)
{
	char *argv[] = { (char *)g_seccomp, (char *)mode, "1500", (char *)threads, NULL };
	pid_t pid = start_ready(c, argv);
	long nt = atol(threads), want = 0;
	struct fn_probes f;
	int anon;

	anon = anon_exec_maps(pid);
	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	probe_every_insn(c, g_seccomp, "sec_work", &f);
	assert_int_equal(anon_exec_maps(pid), anon);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	run_to_exit(c, pid);
	ctx_untrack(c, pid);
	if (!strcmp(mode, "errno"))
		assert_int_equal(kv(c->outbuf, "mmap_denied"), 1);
	assert_int_equal(kv(c->outbuf, "calls"), 1500 * nt);
	for (long i = 0; i < 1500; i++)
		want += i * 3;
	assert_int_equal(kv(c->outbuf, "sum"), want * nt);
	assert_counts(&f, 1500 * nt);
}

static void test_seccomp_kill(void **state)
{
	seccomp_case(*state, "kill", "1");
}

static void test_seccomp_kill_threads(void **state)
{
	seccomp_case(*state, "kill", "3");
}

static void test_seccomp_errno_threads(void **state)
{
	seccomp_case(*state, "errno", "3");
}

/*
 * Forced inline mode, 4 threads calling tick() as fast as they can: while one
 * thread steps an instruction with its int3 lifted, none of the others may
 * run through it unseen. Every instruction and every return is counted
 * exactly, and the program never gets a mapping of ours.
 */
static void test_forced_threads(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_loop, "4", "400", "0", NULL };
	struct fn_probes f;
	int anon = -1;
	pid_t pid;

	assert_int_equal(uprobe_tracer_force_inline(c->t, true), 0);
	pid = spawn_or_fail(c, argv);
	probe_every_insn(c, g_loop, "tick", &f);
	anon = anon_exec_maps(pid);
	run_to_exit(c, pid);
	assert_int_equal(anon, 0);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_true(kv(c->outbuf, "total_ticks") > 0);
	assert_counts(&f, kv(c->outbuf, "total_ticks"));
}

/*
 * Forced inline mode, attach and detach while 4 threads hit the probes: the
 * breakpoints and the return trampoline are there while attached, and after
 * each detach every executable file mapping equals its file again.
 */
static void test_forced_detach_text(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_loop, "4", "30000", "0", NULL };
	pid_t pid = start_ready(c, argv);
	struct fn_probes f;
	long diffs;

	assert_int_equal(uprobe_tracer_force_inline(c->t, true), 0);
	assert_int_equal(text_diffs(pid), 0);
	for (int cycle = 0; cycle < 5; cycle++) {
		assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
		if (!cycle)
			probe_every_insn(c, g_loop, "tick", &f);
		f.stop_at = f.rets + 300;
		assert_int_equal(uprobe_tracer_run(c->t), 0);
		assert_false(g_wd_fired);
		diffs = text_diffs(pid);
		assert_true(diffs >= f.n + 1); /* an int3 on each instruction, the trampoline */
		assert_int_equal(anon_exec_maps(pid), 0);
		assert_int_equal(uprobe_tracer_detach(c->t), 0);
		assert_int_equal(text_diffs(pid), 0);
		assert_int_equal(anon_exec_maps(pid), 0);
	}
	assert_true(f.rets > 0);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	int st = wait_child(c, pid);

	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(kv(read_out(c), "bad"), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_seccomp_kill), T(test_seccomp_kill_threads), T(test_seccomp_errno_threads),
		T(test_forced_threads), T(test_forced_detach_text),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s API_LOOP API_SECCOMP\n", argv[0]);
		return 2;
	}
	g_loop = argv[1];
	g_seccomp = argv[2];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_inline", tests, NULL, NULL);
}
