/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for the integration tests: fixture, watchdog, tracee output, maps and ELF lookups. */
#ifndef TRACEE_TEST_H
#define TRACEE_TEST_H

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "uprobe.h"

/* Helpers are static; each test program uses only some of them. */
#define TT_FN static __attribute__((unused))

#define MAX_PIDS 16

/* Per-test state: the tracer, the processes the test must kill, the file a tracee writes to. */
struct ctx {
	struct uprobe_tracer *t;
	pid_t pids[MAX_PIDS];
	int npids;
	char out[PATH_MAX];
	char *outbuf;
};

/* Set once by tracee_test_init(): names the temporary files and the watchdog's last words. */
static const char *g_suite = "tracee";
static unsigned g_wd_secs = 60;

/* ---- watchdog: alarm(); the first expiry stops the tracer, the second exits ---- */

static struct uprobe_tracer *volatile g_wd_tracer;
static volatile sig_atomic_t g_wd_fired;
static char g_wd_msg[96] = "test: watchdog expired twice, exiting\n";

TT_FN void wd_handler(int sig)
{
	(void)sig;
	if (!g_wd_fired) {
		g_wd_fired = 1;
		if (g_wd_tracer)
			uprobe_tracer_stop(g_wd_tracer);
		alarm(10);
		return;
	}
	if (write(2, g_wd_msg, strlen(g_wd_msg)) < 0)
		_exit(98);
	_exit(99);
}

TT_FN void wd_arm(unsigned secs)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wd_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a blocked wait returns */
	sigaction(SIGALRM, &sa, NULL);
	g_wd_fired = 0;
	alarm(secs);
}

/* ---- messages from the print callback ---- */

static char g_last_print[1024];
static int g_nprints;

TT_FN int capture_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	va_list ap2;

	va_copy(ap2, ap);
	vsnprintf(g_last_print, sizeof(g_last_print), fmt, ap);
	if (level == UPROBE_WARN || getenv("LIBUPROBE_DEBUG"))
		vfprintf(stderr, fmt, ap2);
	va_end(ap2);
	g_nprints++;
	return 0;
}

/*
 * Common start-up, before cmocka runs: the suite's name, its watchdog period
 * (each test's budget before the tracer is stopped), libuprobe's messages
 * captured, and a cmocka name filter when filter is non-empty.
 */
TT_FN void tracee_test_init(const char *suite, unsigned watchdog_secs, const char *filter)
{
	g_suite = suite;
	g_wd_secs = watchdog_secs;
	snprintf(g_wd_msg, sizeof(g_wd_msg), "%s test: watchdog expired twice, exiting\n", suite);
	uprobe_set_print(capture_print);
	if (filter && *filter)
		cmocka_set_test_filter(filter);
}

/* ---- fixture: every test kills what it started ---- */

/*
 * A new tracer; with UPROBE_TEST_INLINE=1 in the environment it runs every
 * probe in place (uprobe_tracer_force_inline), so a whole suite checks the
 * fallback for processes without a scratch area.
 */
TT_FN struct uprobe_tracer *test_tracer_new(void)
{
	struct uprobe_tracer *t = uprobe_tracer_new();
	const char *in = getenv("UPROBE_TEST_INLINE");

	if (t && in && *in && strcmp(in, "0") && uprobe_tracer_force_inline(t, true)) {
		uprobe_tracer_free(t);
		return NULL;
	}
	return t;
}

TT_FN int ctx_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	const char *tmp = getenv("TMPDIR");
	int fd;

	if (!c)
		return -1;
	c->t = test_tracer_new();
	if (!c->t)
		goto fail;
	snprintf(c->out, sizeof(c->out), "%s/uprobe-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
		 g_suite);
	fd = mkstemp(c->out);
	if (fd < 0)
		goto fail;
	close(fd);
	g_wd_tracer = c->t;
	wd_arm(g_wd_secs);
	*state = c;
	return 0;
fail:
	uprobe_tracer_free(c->t);
	free(c);
	return -1;
}

TT_FN bool tracer_saw_exit(struct ctx *c, pid_t pid)
{
	return c->t && uprobe_tracer_exit_status(c->t, pid) >= 0;
}

TT_FN int ctx_teardown(void **state)
{
	struct ctx *c = *state;

	/* Kill first: a failed assertion must not leave a stopped or running process behind. */
	for (int i = 0; i < c->npids; i++)
		if (c->pids[i] > 0 && !tracer_saw_exit(c, c->pids[i]))
			kill(c->pids[i], SIGKILL);
	g_wd_tracer = NULL;
	uprobe_tracer_free(c->t);
	c->t = NULL;
	for (int i = 0; i < c->npids; i++) {
		/* Reap; ECHILD when the tracer already did. Bounded by the watchdog. */
		while (c->pids[i] > 0 && waitpid(c->pids[i], NULL, __WALL) < 0 && errno == EINTR &&
		       !g_wd_fired)
			;
	}
	alarm(0);
	unlink(c->out);
	free(c->outbuf);
	free(c);
	return 0;
}

/* A process for teardown to kill and reap: traced ones and the test's own children alike. */
TT_FN void ctx_track(struct ctx *c, pid_t pid)
{
	if (c->npids < MAX_PIDS)
		c->pids[c->npids++] = pid;
}

TT_FN void ctx_untrack(struct ctx *c, pid_t pid)
{
	for (int i = 0; i < c->npids; i++)
		if (c->pids[i] == pid)
			c->pids[i] = 0;
}

/* ---- starting and waiting for tracees ---- */

/* uprobe_tracer_spawn, the tracee's fd 1 on c->out (truncated); returns its result, keeps errno. */
TT_FN int spawn_out(struct ctx *c, char *const argv[], pid_t *pid)
{
	int fd, saved, r, e;
	pid_t p = 0;

	fflush(stdout);
	fflush(stderr);
	fd = open(c->out, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	saved = fcntl(1, F_DUPFD_CLOEXEC, 10);
	dup2(fd, 1);
	close(fd);
	r = uprobe_tracer_spawn(c->t, argv, &p);
	e = errno;
	dup2(saved, 1);
	close(saved);
	/* a process that ended or was let go during the spawn has a pid too (-ECHILD, -EINTR) */
	if (p > 0) {
		ctx_track(c, p);
		if (pid)
			*pid = p;
	}
	errno = e;
	return r;
}

/* spawn_out() that fails the test on error; returns the tracee's pid. */
TT_FN pid_t spawn_or_fail(struct ctx *c, char *const argv[])
{
	pid_t pid = 0;
	int r = spawn_out(c, argv, &pid);

	if (r) {
		print_error("spawn %s: %d %s\n", argv[0], r, uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_true(pid > 0);
	return pid;
}

/* fork+exec argv untraced, stdout to c->out. The child dies with the test. */
TT_FN pid_t start_untraced(struct ctx *c, char *const argv[])
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(c->out, O_WRONLY | O_TRUNC);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	ctx_track(c, pid);
	return pid;
}

/* waitpid bounded by the watchdog; returns the status or -1. */
TT_FN int wait_child(struct ctx *c, pid_t pid)
{
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, 0);

		if (r == pid) {
			ctx_untrack(c, pid);
			return st;
		}
		if (r < 0 && errno == EINTR && !g_wd_fired)
			continue;
		return -1;
	}
}

TT_FN double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

TT_FN void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- output of the tracee ---- */

TT_FN char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL, tmp[4096];
	size_t len = 0, n;
	FILE *mem;

	if (!fp)
		return NULL;
	mem = open_memstream(&buf, &len);
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		fwrite(tmp, 1, n, mem);
	fclose(mem);
	fclose(fp);
	return buf;
}

TT_FN const char *read_out(struct ctx *c)
{
	free(c->outbuf);
	c->outbuf = slurp(c->out);
	assert_non_null(c->outbuf);
	return c->outbuf;
}

/* Runs argv untraced to completion with stdout captured; returns the output (caller frees). */
TT_FN char *run_untraced(struct ctx *c, char *const argv[])
{
	pid_t pid = start_untraced(c, argv);
	int st;

	assert_true(pid > 0);
	st = wait_child(c, pid);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("untraced %s: status %#x\n", argv[0], st);
		fail();
	}
	return slurp(c->out);
}

/* Finds "key=" at a word start in buf and parses the number after it. */
TT_FN bool kv_find(const char *buf, const char *key, long *val)
{
	size_t kl = strlen(key);

	for (const char *p = buf; (p = strstr(p, key)); p++) {
		if ((p == buf || p[-1] == ' ' || p[-1] == '\n') && p[kl] == '=') {
			*val = strtol(p + kl + 1, NULL, 0);
			return true;
		}
	}
	return false;
}

TT_FN long kv(const char *buf, const char *key)
{
	long v = 0;

	if (!kv_find(buf, key, &v)) {
		print_error("key '%s' missing from tracee output:\n%s\n", key, buf);
		fail();
	}
	return v;
}

TT_FN int count_lines_with(const char *buf, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, pl))
			n++;
	return n;
}

/* Fails with the first differing line when the probed output differs from the unprobed one. */
TT_FN void assert_same_output(const char *want, const char *got)
{
	int line = 1;
	const char *w = want, *g = got;

	if (!strcmp(want, got))
		return;
	while (*w && *w == *g) {
		if (*w == '\n')
			line++;
		w++, g++;
	}
	while (w > want && w[-1] != '\n')
		w--, g--;
	print_error("output differs at line %d:\n  unprobed: %.*s\n  probed:   %.*s\n", line,
		    (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
	fail();
}

/* Expects a normal exit with status 0 recorded by the tracer. */
TT_FN void assert_exited_ok(struct ctx *c, pid_t pid)
{
	int st = uprobe_tracer_exit_status(c->t, pid);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("pid %d: exit status %#x (%s %d), output:\n%s\n", (int)pid, st,
			    st >= 0 && WIFSIGNALED(st) ? "signal" : "exit",
			    st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			    c->outbuf ? c->outbuf : "(not read)");
		fail();
	}
}

/* uprobe_tracer_run() until every tracee is gone; pid must have exited with 0. Reads c->out. */
/* uprobe_tracer_run() until every tracee is gone: no error, no watchdog. */
TT_FN void run_ok(struct ctx *c)
{
	int r = uprobe_tracer_run(c->t);

	if (r) {
		print_error("run: %d %s\n", r, uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_false(g_wd_fired);
}

TT_FN void run_to_exit(struct ctx *c, pid_t pid)
{
	run_ok(c);
	read_out(c);
	assert_exited_ok(c, pid);
}

/* ---- probes ---- */

/*
 * With UPROBE_TEST_NOSTOP=1 in the environment every probe a test adds
 * through add_or_fail() is a no-stop one (uprobe_opts.nostop), so a whole
 * suite checks no-stop return probes against the same expectations.
 */
TT_FN bool test_nostop_mode(void)
{
	const char *ns = getenv("UPROBE_TEST_NOSTOP");

	return ns && *ns && strcmp(ns, "0");
}

TT_FN struct uprobe *add_or_fail(struct ctx *c, const char *bin, const char *sym, uint64_t off,
				 const struct uprobe_opts *o)
{
	struct uprobe_opts ns;
	struct uprobe *p;

	if (o && test_nostop_mode() && o->sz >= sizeof(ns)) {
		ns = *o;
		ns.nostop = true;
		o = &ns;
	}
	p = uprobe_add(c->t, bin, sym, off, o);

	if (!p) {
		print_error("uprobe_add(%s, %s, %#llx): %s (errno %d)\n", bin, sym ? sym : "NULL",
			    (unsigned long long)off, uprobe_tracer_errmsg(c->t), errno);
		fail();
	}
	return p;
}

/* An entry probe with handler fn and its data. */
TT_FN struct uprobe *add_probe(struct ctx *c, const char *bin, const char *sym, uint64_t off,
			       uprobe_handler_fn fn, void *data)
{
	UPROBE_OPTS(uprobe_opts, o, .handler = fn, .data = data);

	return add_or_fail(c, bin, sym, off, &o);
}

/* Handler counting its hits in the uint64_t at data. */
TT_FN int on_count(struct uprobe_hit *h, void *data)
{
	(void)h;
	(*(uint64_t *)data)++;
	return 0;
}

/* ---- /proc/PID/maps, independent of libuprobe ---- */

struct map_ent {
	uint64_t start, end, off;
	char perms[8];
	char *path; /* "" when anonymous */
};

struct maps {
	struct map_ent *e;
	int n;
};

TT_FN void maps_free(struct maps *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->e[i].path);
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

TT_FN bool maps_read(pid_t pid, struct maps *m)
{
	char mpath[64], line[PATH_MAX + 128];
	FILE *fp;

	memset(m, 0, sizeof(*m));
	snprintf(mpath, sizeof(mpath), "/proc/%d/maps", (int)pid);
	fp = fopen(mpath, "r");
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long s, e, off;
		char perms[8], *path;
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &s, &e, perms, &off, &pos) < 4)
			continue;
		line[strcspn(line, "\n")] = 0;
		path = strdup(pos ? line + pos : "");
		struct map_ent *ne = path ? realloc(m->e, (m->n + 1) * sizeof(*ne)) : NULL;

		if (!ne) {
			free(path);
			break;
		}
		m->e = ne;
		ne = &m->e[m->n++];
		ne->start = s, ne->end = e, ne->off = off;
		snprintf(ne->perms, sizeof(ne->perms), "%s", perms);
		ne->path = path;
	}
	fclose(fp);
	return true;
}

TT_FN const struct map_ent *maps_find(const struct maps *m, uint64_t addr)
{
	for (int i = 0; i < m->n; i++)
		if (addr >= m->e[i].start && addr < m->e[i].end)
			return &m->e[i];
	return NULL;
}

/* True when addr lies in an executable mapping of a file (never an anonymous or scratch page). */
/*
 * Anonymous executable mappings of pid (scratch areas are such), each
 * printed if verbose; -1 if they cannot be read.
 */
TT_FN int anon_exec_maps_v(pid_t pid, bool verbose)
{
	struct maps m;
	int n = 0;

	if (!maps_read(pid, &m))
		return -1;
	for (int i = 0; i < m.n; i++) {
		if (m.e[i].perms[2] != 'x' || m.e[i].path[0])
			continue;
		n++;
		if (verbose)
			print_error("  left mapped: %llx-%llx %s\n", (unsigned long long)m.e[i].start,
				    (unsigned long long)m.e[i].end, m.e[i].perms);
	}
	maps_free(&m);
	return n;
}

TT_FN int anon_exec_maps(pid_t pid)
{
	return anon_exec_maps_v(pid, false);
}

TT_FN bool in_file_text(const struct maps *m, uint64_t addr)
{
	const struct map_ent *e = maps_find(m, addr);

	return e && e->path[0] == '/' && e->perms[2] == 'x';
}

/* ---- ELF files, independent of libuprobe ---- */

struct elf_view {
	uint8_t *data;
	size_t size;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
	char path[PATH_MAX]; /* resolved, as /proc/PID/maps names the file */
};

TT_FN bool elf_view_open(const char *path, struct elf_view *v)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;

	memset(v, 0, sizeof(*v));
	if (fd < 0)
		return false;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return false;
	}
	v->data = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (v->data == MAP_FAILED) {
		v->data = NULL;
		return false;
	}
	v->size = sb.st_size;
	v->eh = (Elf64_Ehdr *)v->data;
	v->ph = (Elf64_Phdr *)(v->data + v->eh->e_phoff);
	if (!realpath(path, v->path))
		snprintf(v->path, sizeof(v->path), "%s", path);
	return true;
}

TT_FN void elf_view_close(struct elf_view *v)
{
	if (v->data)
		munmap(v->data, v->size);
	v->data = NULL;
}

/* The symbol's st_value (link-time vaddr), from .symtab or else .dynsym. */
TT_FN bool elf_sym_vaddr(struct elf_view *v, const char *name, uint64_t *vaddr, uint64_t *size)
{
	Elf64_Shdr *sh = (Elf64_Shdr *)(v->data + v->eh->e_shoff);
	uint32_t types[2] = { SHT_SYMTAB, SHT_DYNSYM };

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < v->eh->e_shnum; i++) {
			if (sh[i].sh_type != types[pass])
				continue;
			Elf64_Sym *sym = (Elf64_Sym *)(v->data + sh[i].sh_offset);
			const char *str = (const char *)(v->data + sh[sh[i].sh_link].sh_offset);
			size_t n = sh[i].sh_size / sizeof(Elf64_Sym);

			for (size_t k = 0; k < n; k++) {
				if (sym[k].st_shndx != SHN_UNDEF && !strcmp(str + sym[k].st_name, name)) {
					*vaddr = sym[k].st_value;
					if (size)
						*size = sym[k].st_size;
					return true;
				}
			}
		}
	}
	return false;
}

TT_FN bool elf_vaddr_off(struct elf_view *v, uint64_t vaddr, uint64_t *off)
{
	for (int i = 0; i < v->eh->e_phnum; i++) {
		Elf64_Phdr *p = &v->ph[i];

		if (p->p_type == PT_LOAD && vaddr >= p->p_vaddr && vaddr < p->p_vaddr + p->p_filesz) {
			*off = vaddr - p->p_vaddr + p->p_offset;
			return true;
		}
	}
	return false;
}

/* File offset of a symbol, and its size. */
TT_FN bool elf_sym_off(const char *path, const char *name, uint64_t *off, uint64_t *size)
{
	struct elf_view v;
	uint64_t vaddr;
	bool ok;

	if (!elf_view_open(path, &v))
		return false;
	ok = elf_sym_vaddr(&v, name, &vaddr, size) && elf_vaddr_off(&v, vaddr, off);
	elf_view_close(&v);
	return ok;
}

/* A file offset inside a non-executable PT_LOAD that no executable PT_LOAD covers. */
TT_FN bool elf_nonexec_off(const char *path, uint64_t *off)
{
	struct elf_view v;
	bool found = false;

	if (!elf_view_open(path, &v))
		return false;
	for (int i = 0; i < v.eh->e_phnum && !found; i++) {
		Elf64_Phdr *p = &v.ph[i];

		if (p->p_type != PT_LOAD || (p->p_flags & PF_X))
			continue;
		for (uint64_t o = p->p_offset + 64; o < p->p_offset + p->p_filesz && !found; o += 16) {
			bool in_x = false;

			for (int k = 0; k < v.eh->e_phnum; k++) {
				Elf64_Phdr *q = &v.ph[k];

				if (q->p_type == PT_LOAD && (q->p_flags & PF_X) && o >= q->p_offset &&
				    o < q->p_offset + q->p_filesz)
					in_x = true;
			}
			if (!in_x) {
				*off = o;
				found = true;
			}
		}
	}
	elf_view_close(&v);
	return found;
}

/* Bytes of the file at a symbol's file offset. */
TT_FN bool elf_file_bytes(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, buf, len, off) == (ssize_t)len;
	close(fd);
	return ok;
}

/* The FUNC symbol of the ELF file containing file offset off ("?" if none). */
TT_FN const char *elf_sym_at_off(const struct elf_view *v, uint64_t off)
{
	Elf64_Shdr *sh = (Elf64_Shdr *)(v->data + v->eh->e_shoff);
	uint64_t vaddr = 0;
	bool found = false;

	for (int i = 0; i < v->eh->e_phnum; i++) {
		Elf64_Phdr *p = &v->ph[i];

		if (p->p_type == PT_LOAD && off >= p->p_offset && off < p->p_offset + p->p_filesz) {
			vaddr = off - p->p_offset + p->p_vaddr;
			found = true;
			break;
		}
	}
	if (!found)
		return "?";
	for (int i = 0; i < v->eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM)
			continue;
		Elf64_Sym *sym = (Elf64_Sym *)(v->data + sh[i].sh_offset);
		const char *str = (const char *)(v->data + sh[sh[i].sh_link].sh_offset);
		size_t n = sh[i].sh_size / sizeof(Elf64_Sym);

		for (size_t k = 0; k < n; k++)
			if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_shndx != SHN_UNDEF &&
			    vaddr >= sym[k].st_value && vaddr < sym[k].st_value + sym[k].st_size)
				return str + sym[k].st_name;
	}
	return "?";
}

/* ---- the tracee's memory and symbols, from maps and ELF ---- */

/* Symbol of a pc in the tracee when it is in the file v is open on; "?" otherwise. */
TT_FN const char *sym_of(const struct maps *m, const struct elf_view *v, uint64_t pc)
{
	const struct map_ent *e = maps_find(m, pc);

	if (!e || strcmp(e->path, v->path))
		return "?";
	return elf_sym_at_off(v, pc - e->start + e->off);
}

/*
 * Reads len bytes of the running tracee at a link-time vaddr of its executable
 * exe (found in /proc/PID/maps by its first mapping), without libuprobe.
 */
TT_FN bool tracee_read_exe(pid_t pid, const char *exe, uint64_t vaddr, void *buf, size_t len)
{
	uint64_t first_vaddr = UINT64_MAX;
	const struct map_ent *first = NULL;
	struct elf_view v;
	struct maps m;
	bool ok = false;

	if (!elf_view_open(exe, &v))
		return false;
	for (int i = 0; i < v.eh->e_phnum; i++)
		if (v.ph[i].p_type == PT_LOAD && v.ph[i].p_vaddr < first_vaddr)
			first_vaddr = v.ph[i].p_vaddr & ~0xfffULL;
	if (maps_read(pid, &m)) {
		for (int i = 0; i < m.n && !first; i++)
			if (m.e[i].off == 0 && !strcmp(m.e[i].path, v.path))
				first = &m.e[i];
		if (first) {
			struct iovec local = { buf, len };
			struct iovec remote = {
				(void *)(uintptr_t)(first->start - first_vaddr + vaddr), len
			};

			ok = process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
		}
		maps_free(&m);
	}
	elf_view_close(&v);
	return ok;
}

#endif /* TRACEE_TEST_H */
