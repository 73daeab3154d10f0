// SPDX-License-Identifier: LGPL-2.1-or-later
/* The symbols API: uprobe_symbols() on a target and libc, uprobe_tracer_symbolize() from handlers. */
#include <sys/auxv.h>

#include "tracee_test.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *g_sym, *g_stripped, *g_mini;

/* ---- listing ---- */

struct listing {
	char names[64][64];
	uint64_t offs[64];
	bool ifunc[64];
	int n, calls, stop_after;
};

static int on_sym(const struct uprobe_sym *s, void *ctx)
{
	struct listing *l = ctx;

	l->calls++;
	if (l->n < 64) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", s->name);
		l->offs[l->n] = s->offset;
		l->ifunc[l->n] = s->ifunc;
		l->n++;
	}
	return l->stop_after && l->calls == l->stop_after ? 7 : 0;
}

static int find_name(const struct listing *l, const char *name)
{
	int at = -1;

	for (int i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name))
			continue;
		assert_int_equal(at, -1); /* once */
		at = i;
	}
	return at;
}

/* Exactly the target's sym_* functions, each at the offset uprobe_add() resolves. */
static void test_list_target(void **state)
{
	struct ctx *c = *state;
	static const char *const want[] = { "sym_alpha", "sym_alias", "sym_beta", "sym_gamma",
					     "sym_take" };
	struct listing l = { 0 };
	int a, b;

	assert_int_equal(uprobe_symbols(g_sym, "sym_*", on_sym, &l), 0);
	assert_int_equal(l.n, (int)ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		int at = find_name(&l, want[i]);
		struct uprobe *p;

		assert_true(at >= 0);
		assert_false(l.ifunc[at]);
		p = add_probe(c, g_sym, want[i], 0, on_count, &(uint64_t){ 0 });
		assert_int_equal(uprobe_file_offset(p), l.offs[at]);
	}
	/* an alias is its own entry at the same place */
	a = find_name(&l, "sym_alpha");
	b = find_name(&l, "sym_alias");
	assert_int_equal(l.offs[a], l.offs[b]);

	/* NULL matches everything: main and the chain too */
	memset(&l, 0, sizeof(l));
	assert_int_equal(uprobe_symbols(g_sym, NULL, on_sym, &l), 0);
	assert_true(l.calls > 8);
	/* cb's non-zero value stops the walk and is returned */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(uprobe_symbols(g_sym, NULL, on_sym, &l), 7);
	assert_int_equal(l.calls, 2);
	/* the stripped copy names none of them: only the debug file does */
	memset(&l, 0, sizeof(l));
	assert_int_equal(uprobe_symbols(g_stripped, "sym_*", on_sym, &l), 0);
	assert_int_equal(l.n, 0);
}

/* Our own libc (the tracees' too): its path from /proc/self/maps. */
static void libc_path(char *out, size_t len)
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[4096];

	assert_non_null(fp);
	out[0] = '\0';
	while (fgets(line, sizeof(line), fp) && !out[0]) {
		char *p = strchr(line, '/');

		if (p && strstr(p, "/libc.so.6")) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(out, len, "%s", p);
		}
	}
	fclose(fp);
	assert_true(out[0] != '\0');
}

struct libc_listing {
	int n, strlen_seen, strlen_ifunc, bad;
};

static int on_libc_sym(const struct uprobe_sym *s, void *ctx)
{
	struct libc_listing *l = ctx;

	l->n++;
	if (strncmp(s->name, "str", 3))
		l->bad++;
	if (!strcmp(s->name, "strlen")) {
		l->strlen_seen++;
		l->strlen_ifunc += s->ifunc;
	}
	return 0;
}

static void test_list_libc(void **state)
{
	struct libc_listing l = { 0 };
	char libc[PATH_MAX];

	libc_path(libc, sizeof(libc));
	assert_int_equal(uprobe_symbols(libc, "str*", on_libc_sym, &l), 0);
	assert_int_equal(l.bad, 0);
	assert_int_equal(l.strlen_seen, 1);
	assert_int_equal(l.strlen_ifunc, 1);
	assert_true(l.n > 10);
}

static void test_list_errors(void **state)
{
	struct ctx *c = *state;
	struct listing l = { 0 };
	FILE *fp;

	g_nprints = 0;
	errno = 0;
	assert_int_equal(uprobe_symbols("/nonexistent/libfoo.so", NULL, on_sym, &l), -ENOENT);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(g_nprints, 1);
	assert_non_null(strstr(g_last_print, "/nonexistent/libfoo.so"));
	/* one line */
	assert_ptr_equal(strchr(g_last_print, '\n'), g_last_print + strlen(g_last_print) - 1);

	fp = fopen(c->out, "w");
	assert_non_null(fp);
	fputs("not an ELF file, but long enough to hold an ELF header and more\n", fp);
	fclose(fp);
	assert_int_equal(uprobe_symbols(c->out, NULL, on_sym, &l), -ENOEXEC);
	assert_non_null(strstr(g_last_print, c->out));
	assert_int_equal(uprobe_symbols("/", NULL, on_sym, &l), -ENOEXEC);
	assert_int_equal(uprobe_symbols(NULL, NULL, on_sym, &l), -EINVAL);
	assert_int_equal(uprobe_symbols(g_sym, NULL, NULL, &l), -EINVAL);
	assert_int_equal(l.calls, 0);
}

/* ---- symbolization ---- */

struct seen {
	struct uprobe_tracer *t;
	int hits, errs, unnamed;
	/* the probed function's own address, and the backtrace's callers (looked up at pc - 1) */
	char self[64], self_path[PATH_MAX], callers[3][64];
	uint64_t self_off, self_file_off;
	bool self_debug, callers_debug;
	int ncallers;
	uint64_t middle_addr;     /* chain_middle's address, from a probe on it */
	uint64_t middle_sym_addr; /* what symbolizing the first caller said it is */
	bool offsets_ok;          /* every caller: sym_addr + sym_offset == pc - 1, inside its size */
	double repeat_s;
	/* sym_take: its anonymous page, the vDSO, an unmapped address */
	int anon_ret, vdso_ret, unmapped_ret;
	bool anon_nofile, anon_noname, vdso_nopath;
	char anon_mapping[16], vdso_mapping[16], vdso_name[64];
	uint64_t vdso_off; /* __vdso_clock_gettime's offset in the image */
	/* the strlen implementation libc's resolver picked */
	char impl[64];
	bool impl_debug;
};

static void copy_name(char *dst, size_t len, const char *name)
{
	snprintf(dst, len, "%s", name ? name : "(null)");
}

#define REPEAT 20000

static int on_inner(struct uprobe_hit *h, void *data)
{
	struct seen *s = data;
	pid_t pid = uprobe_hit_pid(h);
	struct uprobe_sym_info si;
	uint64_t pcs[8];
	double t0;
	int n;

	if (s->hits++)
		return 0;
	if (uprobe_tracer_symbolize(s->t, pid, uprobe_hit_addr(h), &si)) {
		s->errs++;
		return 0;
	}
	copy_name(s->self, sizeof(s->self), si.name);
	copy_name(s->self_path, sizeof(s->self_path), si.path);
	s->self_off = si.sym_offset;
	s->self_file_off = si.file_offset;
	s->self_debug = si.from_debug_file;
	n = uprobe_hit_backtrace(h, pcs, 8);
	if (n < 4) {
		s->errs++;
		return 0;
	}
	s->callers_debug = true;
	s->offsets_ok = true;
	for (int i = 1; i < n && s->ncallers < 3; i++) {
		if (uprobe_tracer_symbolize(s->t, pid, pcs[i] - 1, &si)) {
			s->errs++;
			break;
		}
		if (i == 1)
			s->middle_sym_addr = si.sym_addr;
		copy_name(s->callers[s->ncallers++], sizeof(s->callers[0]), si.name);
		s->callers_debug &= si.from_debug_file;
		s->offsets_ok &= si.sym_addr + si.sym_offset == pcs[i] - 1 && si.sym_offset > 0 &&
				 si.sym_offset < si.sym_size;
	}
	/* the program's frames over and over (libc's are named only with its debug file) */
	t0 = now_s();
	for (int i = 0; i < REPEAT; i++)
		if (uprobe_tracer_symbolize(s->t, pid, pcs[1 + i % 3] - 1, &si))
			s->errs++;
		else if (!si.name)
			s->unnamed++;
	s->repeat_s = now_s() - t0;
	return 0;
}

static int on_middle(struct uprobe_hit *h, void *data)
{
	((struct seen *)data)->middle_addr = uprobe_hit_addr(h);
	return 0;
}

static int on_take(struct uprobe_hit *h, void *data)
{
	struct seen *s = data;
	pid_t pid = uprobe_hit_pid(h);
	struct uprobe_sym_info si;

	s->anon_ret = uprobe_tracer_symbolize(s->t, pid, uprobe_hit_arg(h, 0), &si);
	s->anon_nofile = !si.path;
	s->anon_noname = !si.name;
	copy_name(s->anon_mapping, sizeof(s->anon_mapping), si.mapping);
	s->vdso_ret = uprobe_tracer_symbolize(s->t, pid, uprobe_hit_arg(h, 1) + s->vdso_off + 1, &si);
	s->vdso_nopath = !si.path;
	copy_name(s->vdso_mapping, sizeof(s->vdso_mapping), si.mapping);
	copy_name(s->vdso_name, sizeof(s->vdso_name), si.name);
	s->unmapped_ret = uprobe_tracer_symbolize(s->t, pid, 16, &si);
	return 0;
}

static int on_strlen(struct uprobe_hit *h, void *data)
{
	struct seen *s = data;
	struct uprobe_sym_info si;

	if (!s->impl[0] && !uprobe_tracer_symbolize(s->t, uprobe_hit_pid(h), uprobe_hit_addr(h), &si)) {
		copy_name(s->impl, sizeof(s->impl), si.name);
		s->impl_debug = si.from_debug_file;
	}
	return 0;
}

static int on_vdso_sym(const struct uprobe_sym *sym, void *ctx)
{
	*(uint64_t *)ctx = sym->offset;
	return 1;
}

/* Where __vdso_clock_gettime is in the vDSO image: the kernel maps the same one into us. */
static uint64_t vdso_clock_gettime_off(struct ctx *c)
{
	unsigned long start = 0, end = 0;
	char path[PATH_MAX + 8], line[512];
	uint64_t off = 0;
	FILE *fp;

	fp = fopen("/proc/self/maps", "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, "[vdso]"))
			sscanf(line, "%lx-%lx", &start, &end);
	fclose(fp);
	assert_true(start && end > start);
	assert_int_equal(start, getauxval(AT_SYSINFO_EHDR));
	snprintf(path, sizeof(path), "%s.vdso", c->out);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite((const void *)start, 1, end - start, fp), end - start);
	fclose(fp);
	assert_int_equal(uprobe_symbols(path, "__vdso_clock_gettime", on_vdso_sym, &off), 1);
	unlink(path);
	assert_true(off > 0);
	return off;
}

/* The file /usr/lib/debug/.build-id/xx/rest.debug of our libc, if there is one. */
static bool libc_debug_file(char *out, size_t len)
{
	char libc[PATH_MAX];
	const Elf64_Ehdr *eh;
	struct stat st;
	uint8_t *b;
	bool found = false;
	int fd;

	libc_path(libc, sizeof(libc));
	fd = open(libc, O_RDONLY);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	b = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(b != MAP_FAILED);
	eh = (const Elf64_Ehdr *)b;
	snprintf(out, len, "(libc has no build id)");
	for (int i = 0; i < eh->e_phnum && !found; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(b + eh->e_phoff) + i;
		uint64_t at = ph->p_offset;

		while (ph->p_type == PT_NOTE && at + sizeof(Elf64_Nhdr) <= ph->p_offset + ph->p_filesz) {
			const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(b + at);
			const uint8_t *desc = b + at + sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4) {
				int n = snprintf(out, len, "/usr/lib/debug/.build-id/%02x/", desc[0]);

				for (unsigned k = 1; k < nh->n_descsz; k++)
					n += snprintf(out + n, len - n, "%02x", desc[k]);
				snprintf(out + n, len - n, ".debug");
				found = true;
				break;
			}
			at += sizeof(*nh) + ((nh->n_namesz + 3) & ~3u) + ((nh->n_descsz + 3) & ~3u);
		}
	}
	munmap(b, st.st_size);
	return found && access(out, R_OK) == 0;
}

static void check_chain(const struct seen *s, bool debug)
{
	assert_int_equal(s->errs, 0);
	assert_int_equal(s->unnamed, 0);
	assert_int_equal(s->hits, 3);
	assert_string_equal(s->self, "chain_inner");
	assert_int_equal(s->self_off, 0);
	assert_int_equal(s->self_debug, debug);
	assert_true(s->ncallers == 3);
	assert_string_equal(s->callers[0], "chain_middle");
	assert_string_equal(s->callers[1], "chain_outer");
	assert_string_equal(s->callers[2], "main");
	assert_int_equal(s->callers_debug, debug);
	assert_true(s->offsets_ok);
	assert_true(s->middle_addr != 0);
	assert_int_equal(s->middle_sym_addr, s->middle_addr);
	/* well under the cost of reading /proc/PID/maps each time (tens of µs) */
	if (s->repeat_s > REPEAT * 5e-6)
		print_error("%d lookups took %.3f s\n", REPEAT, s->repeat_s);
	assert_true(s->repeat_s < REPEAT * 5e-6);
}

static void test_symbolize(void **state)
{
	struct ctx *c = *state;
	struct seen s = { .t = c->t };
	char *argv[] = { (char *)g_sym, "3", NULL };
	char real[PATH_MAX];
	struct uprobe *p;
	pid_t pid;

	s.vdso_off = vdso_clock_gettime_off(c);
	pid = spawn_or_fail(c, argv);
	p = add_probe(c, "api_sym", "chain_inner", 0, on_inner, &s);
	add_probe(c, "api_sym", "chain_middle", 0, on_middle, &s);
	add_probe(c, "api_sym", "sym_take", 0, on_take, &s);
	add_probe(c, "libc", "strlen", 0, on_strlen, &s);
	run_to_exit(c, pid);

	check_chain(&s, false);
	assert_non_null(realpath(g_sym, real));
	assert_string_equal(s.self_path, real);
	assert_int_equal(s.self_file_off, uprobe_file_offset(p));

	assert_int_equal(s.anon_ret, 0);
	assert_true(s.anon_nofile);
	assert_true(s.anon_noname);
	assert_string_equal(s.anon_mapping, "");
	assert_int_equal(s.vdso_ret, 0);
	assert_true(s.vdso_nopath);
	assert_string_equal(s.vdso_mapping, "[vdso]");
	/* clock_gettime is the same function under its weak name */
	assert_non_null(strstr(s.vdso_name, "clock_gettime"));
	assert_int_equal(s.unmapped_ret, -EFAULT);

	/* libc has no .symtab: its IFUNC's implementation is named by its build-id debug file */
	if (libc_debug_file(real, sizeof(real))) {
		assert_true(s.impl_debug);
		assert_non_null(strstr(s.impl, "strlen_"));
	} else {
		print_message("no %s (libc6-dbg): the build-id lookup is not checked\n", real);
		assert_string_equal(s.impl, "(null)");
	}
}

/*
 * A copy of api_sym without symbols of its own (path): probes by offset,
 * and every name of the chain must still come out, from its debug file.
 */
static void chain_by_offset(struct ctx *c, const char *path)
{
	struct seen s = { .t = c->t };
	char *argv[] = { (char *)path, "3", NULL };
	struct listing l = { 0 };
	pid_t pid;

	assert_int_equal(uprobe_symbols(g_sym, "chain_[im]*", on_sym, &l), 0);
	assert_int_equal(l.n, 2);
	pid = spawn_or_fail(c, argv);
	add_probe(c, path, NULL, l.offs[find_name(&l, "chain_inner")], on_inner, &s);
	add_probe(c, path, NULL, l.offs[find_name(&l, "chain_middle")], on_middle, &s);
	run_to_exit(c, pid);
	check_chain(&s, true);
}

/* The stripped copy: every name comes from the debug file its .gnu_debuglink names. */
static void test_debuglink(void **state)
{
	chain_by_offset(*state, g_stripped);
}

/*
 * The copy with MiniDebugInfo: stripped, its functions named only by the
 * xz-compressed ELF file in its .gnu_debugdata section.
 */
static void test_minidebuginfo(void **state)
{
	chain_by_offset(*state, g_mini);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	char buf[65536];
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/*
 * The stripped copy elsewhere: without its debug file, or with one whose
 * CRC is wrong, no names. Each case is a file of its own: debug files are
 * looked for once per file.
 */
static void test_debuglink_missing(void **state)
{
	struct ctx *c = *state;
	char dir[PATH_MAX], bin[PATH_MAX], dbg[PATH_MAX], orig_dbg[PATH_MAX];
	char *argv[] = { bin, "3", NULL };
	struct listing l = { 0 };
	const char *slash = strrchr(g_stripped, '/');

	assert_int_equal(uprobe_symbols(g_sym, "chain_inner", on_sym, &l), 0);
	assert_true(strlen(c->out) < PATH_MAX - 64);
	snprintf(orig_dbg, sizeof(orig_dbg), "%.*s/api_sym_stripped.debug",
		 slash ? (int)(slash - g_stripped) : 1, slash ? g_stripped : ".");
	for (int pass = 0; pass < 2; pass++) {
		struct seen s = { .t = c->t };
		pid_t pid;

		snprintf(dir, sizeof(dir), "%.*s.%d", PATH_MAX - 64, c->out, pass);
		snprintf(bin, sizeof(bin), "%.*s/api_sym_stripped", PATH_MAX - 64, dir);
		snprintf(dbg, sizeof(dbg), "%.*s/api_sym_stripped.debug", PATH_MAX - 64, dir);
		assert_int_equal(mkdir(dir, 0700), 0);
		copy_file(g_stripped, bin, 0700);
		if (pass) {
			/* the debug file of that name, one byte of it changed */
			int fd;

			copy_file(orig_dbg, dbg, 0600);
			fd = open(dbg, O_WRONLY);
			assert_int_equal(pwrite(fd, "x", 1, 100), 1);
			close(fd);
		}
		pid = spawn_or_fail(c, argv);
		add_probe(c, bin, NULL, l.offs[0], on_inner, &s);
		run_to_exit(c, pid);
		unlink(bin);
		unlink(dbg);
		rmdir(dir);
		assert_int_equal(s.errs, 0);
		assert_int_equal(s.hits, 3);
		assert_string_equal(s.self, "(null)");
		assert_false(s.self_debug);
		/* main is in no table of the stripped file either */
		assert_string_equal(s.callers[2], "(null)");
	}
}

static void test_symbolize_errors(void **state)
{
	struct ctx *c = *state;
	struct uprobe_sym_info si;

	errno = 0;
	assert_int_equal(uprobe_tracer_symbolize(c->t, getpid(), (uint64_t)(uintptr_t)&si, &si),
			 -ESRCH);
	assert_int_equal(errno, ESRCH);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "not traced"));
	assert_int_equal(uprobe_tracer_symbolize(c->t, getpid(), 0, NULL), -EINVAL);
	assert_int_equal(uprobe_tracer_symbolize(NULL, getpid(), 0, &si), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_list_target),	   T(test_list_libc), T(test_list_errors),
		T(test_symbolize),	   T(test_debuglink), T(test_debuglink_missing),
		T(test_minidebuginfo),
		T(test_symbolize_errors),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: %s API_SYM API_SYM_STRIPPED API_SYM_MINI\n", argv[0]);
		return 2;
	}
	g_sym = argv[1];
	g_stripped = argv[2];
	g_mini = argv[3];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_sym", tests, NULL, NULL) ? 1 : 0;
}
