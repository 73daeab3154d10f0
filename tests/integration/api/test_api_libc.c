// SPDX-License-Identifier: LGPL-2.1-or-later
/* Probes in libc: puts/write/IFUNC strlen counted exactly, and a real program (ls) under probes. */
#include <sys/stat.h>

#include "tracee_test.h"

static const char *g_libc, *g_libc_nopie, *g_target;

struct libc_rec {
	bool in_window;
	uint64_t begin, end;
	uint64_t strlen_in, strlen_all, strlen_bad_arg;
	uint64_t write_in, write_all, write_bad_arg;
	uint64_t puts_n, puts_bad_arg;
};

static const char *const words[] = { "a", "bb", "ccc", "dddd", "eeeee" };

static int on_begin(struct uprobe_hit *h, void *data)
{
	struct libc_rec *r = data;

	r->in_window = true;
	r->begin++;
	return 0;
}

static int on_end(struct uprobe_hit *h, void *data)
{
	struct libc_rec *r = data;

	r->in_window = false;
	r->end++;
	return 0;
}

static bool arg_is_string(struct uprobe_hit *h, unsigned n, const char *want)
{
	char buf[16] = { 0 };

	return uprobe_hit_read(h, uprobe_hit_arg(h, n), buf, strlen(want) + 1) ==
		       (ssize_t)strlen(want) + 1 &&
	       !strcmp(buf, want);
}

static int on_strlen(struct uprobe_hit *h, void *data)
{
	struct libc_rec *r = data;

	r->strlen_all++;
	if (!r->in_window)
		return 0;
	/* The program calls strlen(words[i % 5]) in order. */
	if (!arg_is_string(h, 0, words[r->strlen_in % 5]))
		r->strlen_bad_arg++;
	r->strlen_in++;
	return 0;
}

static int on_write(struct uprobe_hit *h, void *data)
{
	struct libc_rec *r = data;

	r->write_all++;
	if (!r->in_window)
		return 0;
	if (uprobe_hit_arg(h, 2) != 3 || !arg_is_string(h, 1, "xyz"))
		r->write_bad_arg++;
	r->write_in++;
	return 0;
}

static int on_puts(struct uprobe_hit *h, void *data)
{
	struct libc_rec *r = data;

	if (!arg_is_string(h, 0, words[r->puts_n % 5]))
		r->puts_bad_arg++;
	r->puts_n++;
	return 0;
}

static void test_libc_counts(void **state)
{
	struct ctx *c = *state;
	struct libc_rec r = { 0 };
	char *argv[] = { (char *)g_target, "7", "11", "13", NULL };
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	add_probe(c, g_target, "marker_begin", 0, on_begin, &r);
	add_probe(c, g_target, "marker_end", 0, on_end, &r);
	struct uprobe *pp = add_probe(c, "libc", "puts", 0, on_puts, &r);
	struct uprobe *pw = add_probe(c, "libc.so.6", "write", 0, on_write, &r);
	struct uprobe *ps = add_probe(c, "libc.so", "strlen", 0, on_strlen, &r);

	/* strlen is an IFUNC: the probe is on the implementation, not on the resolver. */
	const char *libc_path = uprobe_binary_path(ps);
	uint64_t resolver_off, size;

	assert_non_null(strstr(libc_path, "libc.so.6"));
	assert_string_equal(uprobe_binary_path(pp), libc_path);
	assert_true(elf_sym_off(libc_path, "strlen", &resolver_off, &size));
	assert_int_not_equal(uprobe_file_offset(ps), resolver_off);

	run_ok(c);
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	long np = kv(out, "puts_calls"), ns = kv(out, "strlen_calls"), nw = kv(out, "write_calls");

	assert_int_equal(np, 7);
	assert_int_equal(kv(out, "len_sum"), 1 + 2 + 3 + 4 + 5 + 1 + 2 + 3 + 4 + 5 + 1);
	assert_int_equal(kv(out, "written"), 3 * nw);
	assert_int_equal(count_lines_with(out, "ccc\n"), 1);
	assert_int_equal(r.begin, 1);
	assert_int_equal(r.end, 1);
	assert_int_equal(r.puts_n, np);
	assert_int_equal(uprobe_hits(pp), np);
	assert_int_equal(r.puts_bad_arg, 0);
	if (r.strlen_in != (uint64_t)ns || r.strlen_bad_arg) {
		print_error("strlen (IFUNC) hits between markers %llu (bad args %llu), program "
			    "called it %ld times; all hits %llu\n",
			    (unsigned long long)r.strlen_in, (unsigned long long)r.strlen_bad_arg, ns,
			    (unsigned long long)r.strlen_all);
		fail();
	}
	assert_int_equal(uprobe_hits(ps), r.strlen_all);
	assert_int_equal(r.write_in, nw);
	assert_int_equal(r.write_bad_arg, 0);
	assert_true(r.write_all >= r.write_in + 1); /* stdout reached the file through write too */
	assert_int_equal(uprobe_hits(pw), r.write_all);
}

static int on_hit_count(struct uprobe_hit *h, void *data)
{
	(*(uint64_t *)data)++;
	return 0;
}

/*
 * SYMBOL+OFFSET in IFUNCs: the offset is from the implementation the
 * resolver picks, which in Debian's libc has no symbol of its own (its
 * code just follows other code). Each offset must still be checked to be
 * an instruction boundary, decoded from the implementation's start: an
 * int3 in the middle of __strlen_evex's 6-byte vpxorq killed the program
 * with SIGILL. Whatever is accepted, the program runs as untraced.
 */
static void test_ifunc_offsets(void **state)
{
	struct ctx *c = *state;
	const char *const fns[] = { "strlen", "strchr", "strrchr", "memcpy", "memset" };
	char *argv[] = { (char *)g_target, "7", "11", "13", NULL };
	uint64_t hits = 0;
	int added = 0, refused = 0;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		for (uint64_t off = 1; off < 12; off++) {
			UPROBE_OPTS(uprobe_opts, o, .handler = on_hit_count, .data = &hits);

			errno = 0;
			if (uprobe_add(c->t, "libc", fns[i], off, &o)) {
				added++;
				continue;
			}
			if (errno != EINVAL)
				print_error("%s+%llu: errno %d: %s\n", fns[i],
					    (unsigned long long)off, errno,
					    uprobe_tracer_errmsg(c->t));
			assert_int_equal(errno, EINVAL);
			refused++;
		}
	}
	assert_true(added > 0 && refused > 0);
	run_ok(c);
	const char *out = read_out(c);

	assert_exited_ok(c, pid);
	assert_int_equal(kv(out, "puts_calls"), 7);
	assert_int_equal(kv(out, "len_sum"), 1 + 2 + 3 + 4 + 5 + 1 + 2 + 3 + 4 + 5 + 1);
	assert_true(hits > 0);
}

/* ---- a real program: ls -la on a directory with known entries ---- */

static const char *find_in_path(const char *name, char *buf, size_t len)
{
	const char *dirs[] = { "/usr/bin", "/bin", "/usr/local/bin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, len, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static void test_ls(void **state)
{
	struct ctx *c = *state;
	char top[PATH_MAX], dir[PATH_MAX + 8], lspath[PATH_MAX];
	static const char *const names[] = { "alpha", "beta", "gamma", "delta", "epsilon" };
	const char *tmp = getenv("TMPDIR");
	uint64_t nopen = 0, nread = 0, nclose = 0, nmalloc = 0;

	if (!find_in_path("ls", lspath, sizeof(lspath)))
		skip(); /* no ls on this system */
	/* dir inside a private parent: the ".." line of ls -la cannot change between the runs */
	snprintf(top, sizeof(top), "%s/uprobe-ls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(top));
	snprintf(dir, sizeof(dir), "%s/d", top);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (int i = 0; i < 5; i++) {
		char p[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, names[i], i), i);
		close(fd);
	}

	/* Untraced reference run. */
	char *argv_ref[] = { lspath, "-la", dir, NULL };
	pid_t ref = start_untraced(c, argv_ref);
	int st = wait_child(c, ref);

	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *want = slurp(c->out);

	assert_non_null(want);
	assert_non_null(strstr(want, "epsilon"));

	/* Traced run, found through PATH. */
	char *argv[] = { "ls", "-la", dir, NULL };
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	struct uprobe *po = add_probe(c, "libc", "opendir", 0, on_count, &nopen);
	struct uprobe *pr = add_probe(c, "libc", "readdir", 0, on_count, &nread);
	struct uprobe *pc = add_probe(c, "libc", "closedir", 0, on_count, &nclose);
	struct uprobe *pm = add_probe(c, "libc", "malloc", 0, on_count, &nmalloc);
	int rc = uprobe_tracer_run(c->t);
	const char *got = read_out(c);

	for (int i = 0; i < 5; i++) {
		char p[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
	rmdir(top);
	if (rc) {
		print_error("run: %d %s\n", rc, uprobe_tracer_errmsg(c->t));
		free(want);
		fail();
	}
	assert_exited_ok(c, pid);
	if (strcmp(want, got)) {
		print_error("ls output differs.\nuntraced:\n%s\ntraced:\n%s\n", want, got);
		free(want);
		fail();
	}
	free(want);
	assert_int_equal(nopen, 1);
	assert_int_equal(nclose, 1);
	/* 5 files, "." and "..", and the final NULL. */
	assert_int_equal(nread, 5 + 2 + 1);
	assert_true(nmalloc >= 10);
	assert_int_equal(uprobe_hits(po), nopen);
	assert_int_equal(uprobe_hits(pr), nread);
	assert_int_equal(uprobe_hits(pc), nclose);
	assert_int_equal(uprobe_hits(pm), nmalloc);
}

static int group_pie(void **state)
{
	g_target = g_libc;
	return 0;
}

static int group_nopie(void **state)
{
	g_target = g_libc_nopie;
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest counts[] = { T(test_libc_counts), T(test_ifunc_offsets) };
	const struct CMUnitTest real[] = { T(test_ls) };
	int fails = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s API_LIBC API_LIBC_NOPIE\n", argv[0]);
		return 2;
	}
	g_libc = argv[1];
	g_libc_nopie = argv[2];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	fails += cmocka_run_group_tests_name("api_libc_pie", counts, group_pie, NULL);
	fails += cmocka_run_group_tests_name("api_libc_nopie", counts, group_nopie, NULL);
	fails += cmocka_run_group_tests_name("api_libc_real_program", real, NULL, NULL);
	return fails ? 1 : 0;
}
