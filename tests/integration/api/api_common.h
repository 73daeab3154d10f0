/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared helpers for the API integration tests: fixtures, watchdog, output capture, ELF lookups. */
#ifndef API_COMMON_H
#define API_COMMON_H

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
#define API_FN static __attribute__((unused))

#define MAX_PIDS 16

/* Per-test state: the tracer, the processes the test must kill, the file a tracee writes to. */
struct ctx {
	struct uprobe_tracer *t;
	pid_t pids[MAX_PIDS];
	bool own_child[MAX_PIDS]; /* started untraced by the test: reaped by the test */
	int npids;
	char out[PATH_MAX];
	char *outbuf;
};

/* ---- watchdog: alarm(); the first expiry stops the tracer, the second exits ---- */

static struct uprobe_tracer *volatile g_wd_tracer;
static volatile sig_atomic_t g_wd_fired;

API_FN void wd_handler(int sig)
{
	static const char msg[] = "api test: watchdog expired twice, exiting\n";

	(void)sig;
	if (!g_wd_fired) {
		g_wd_fired = 1;
		if (g_wd_tracer)
			uprobe_tracer_stop(g_wd_tracer);
		alarm(10);
		return;
	}
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(98);
	_exit(99);
}

API_FN void wd_arm(unsigned secs)
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

API_FN int capture_print(enum uprobe_print_level level, const char *fmt, va_list ap)
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

/* Common start-up: capture libuprobe's messages; API_TEST_FILTER=pattern runs only some tests. */
API_FN void api_init(void)
{
	const char *filter = getenv("API_TEST_FILTER");

	uprobe_set_print(capture_print);
	if (filter && *filter)
		cmocka_set_test_filter(filter);
}

/* ---- fixture ---- */

API_FN int ctx_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	const char *tmp = getenv("TMPDIR");
	int fd;

	if (!c)
		return -1;
	c->t = uprobe_tracer_new();
	if (!c->t) {
		free(c);
		return -1;
	}
	snprintf(c->out, sizeof(c->out), "%s/uprobe-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(c->out);
	if (fd < 0) {
		uprobe_tracer_free(c->t);
		free(c);
		return -1;
	}
	close(fd);
	g_wd_tracer = c->t;
	wd_arm(60);
	*state = c;
	return 0;
}

API_FN bool tracer_saw_exit(struct ctx *c, pid_t pid)
{
	return c->t && uprobe_tracer_exit_status(c->t, pid) >= 0;
}

API_FN int ctx_teardown(void **state)
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

API_FN void ctx_track(struct ctx *c, pid_t pid, bool own)
{
	if (c->npids < MAX_PIDS) {
		c->own_child[c->npids] = own;
		c->pids[c->npids++] = pid;
	}
}

API_FN void ctx_untrack(struct ctx *c, pid_t pid)
{
	for (int i = 0; i < c->npids; i++)
		if (c->pids[i] == pid)
			c->pids[i] = 0;
}

/* Runs fn with fd 1 sent to c->out (truncated); returns what fn returns, errno kept. */
API_FN int spawn_out(struct ctx *c, char *const argv[], pid_t *pid)
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
	if (r == 0) {
		ctx_track(c, p, false);
		if (pid)
			*pid = p;
	}
	errno = e;
	return r;
}

/* fork+exec argv untraced, stdout to c->out. The child dies with the test. */
API_FN pid_t start_untraced(struct ctx *c, char *const argv[])
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
	ctx_track(c, pid, true);
	return pid;
}

/* waitpid bounded by the watchdog; returns the status or -1. */
API_FN int wait_child(struct ctx *c, pid_t pid)
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

API_FN double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

API_FN void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- output of the tracee ---- */

API_FN char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!fp)
		return NULL;
	FILE *mem = open_memstream(&buf, &len);
	char tmp[4096];
	size_t n;

	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		fwrite(tmp, 1, n, mem);
	fclose(mem);
	fclose(fp);
	return buf;
}

API_FN const char *read_out(struct ctx *c)
{
	free(c->outbuf);
	c->outbuf = slurp(c->out);
	assert_non_null(c->outbuf);
	return c->outbuf;
}

/* Finds "key=" at a word start in buf and parses the number after it. */
API_FN bool kv_find(const char *buf, const char *key, long *val)
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

API_FN long kv(const char *buf, const char *key)
{
	long v = 0;

	if (!kv_find(buf, key, &v)) {
		print_error("key '%s' missing from tracee output:\n%s\n", key, buf);
		fail();
	}
	return v;
}

API_FN int count_lines_with(const char *buf, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, pl))
			n++;
	return n;
}

/* Expects a normal exit with status 0 recorded by the tracer. */
API_FN void assert_exited_ok(struct ctx *c, pid_t pid)
{
	int st = uprobe_tracer_exit_status(c->t, pid);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("pid %d: exit status %#x (%d), output:\n%s\n", (int)pid, st, st,
			    c->outbuf ? c->outbuf : "(not read)");
		fail();
	}
}

/* ---- ELF lookups, independent of libuprobe ---- */

struct elf_view {
	uint8_t *data;
	size_t size;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

API_FN bool elf_view_open(const char *path, struct elf_view *v)
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
	if (v->data == MAP_FAILED)
		return false;
	v->size = sb.st_size;
	v->eh = (Elf64_Ehdr *)v->data;
	v->ph = (Elf64_Phdr *)(v->data + v->eh->e_phoff);
	return true;
}

API_FN void elf_view_close(struct elf_view *v)
{
	if (v->data)
		munmap(v->data, v->size);
}

/* The symbol's st_value (link-time vaddr), from .symtab or else .dynsym. */
API_FN bool elf_sym_vaddr(struct elf_view *v, const char *name, uint64_t *vaddr, uint64_t *size)
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

API_FN bool elf_vaddr_off(struct elf_view *v, uint64_t vaddr, uint64_t *off)
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
API_FN bool elf_sym_off(const char *path, const char *name, uint64_t *off, uint64_t *size)
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
API_FN bool elf_nonexec_off(const char *path, uint64_t *off)
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
API_FN bool elf_file_bytes(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, buf, len, off) == (ssize_t)len;
	close(fd);
	return ok;
}

/*
 * Reads len bytes of the running tracee at a link-time vaddr of its executable
 * exe (found in /proc/PID/maps by its first mapping), without libuprobe.
 */
API_FN bool tracee_read_exe(pid_t pid, const char *exe, uint64_t vaddr, void *buf, size_t len)
{
	char mpath[64], line[4096 + 128], real[PATH_MAX];
	uint64_t base = 0, first_vaddr = UINT64_MAX;
	struct elf_view v;
	bool found = false;
	FILE *fp;

	if (!realpath(exe, real) || !elf_view_open(exe, &v))
		return false;
	for (int i = 0; i < v.eh->e_phnum; i++)
		if (v.ph[i].p_type == PT_LOAD && v.ph[i].p_vaddr < first_vaddr)
			first_vaddr = v.ph[i].p_vaddr & ~0xfffULL;
	elf_view_close(&v);
	snprintf(mpath, sizeof(mpath), "/proc/%d/maps", (int)pid);
	fp = fopen(mpath, "r");
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long start, end, off;
		int pos = 0;

		if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end, &off, &pos) < 3 || !pos)
			continue;
		char *path = line + pos;

		path[strcspn(path, "\n")] = 0;
		if (off == 0 && !strcmp(path, real)) {
			base = start;
			found = true;
			break;
		}
	}
	fclose(fp);
	if (!found)
		return false;
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)(base - first_vaddr + vaddr), len };

	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

#endif /* API_COMMON_H */
