/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for the return-probe tests: fixture, watchdog, output capture, maps and symbols. */
#ifndef RET_COMMON_H
#define RET_COMMON_H

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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "uprobe.h"

#define RET_FN static __attribute__((unused))
#define MAX_PIDS 8
#define WATCHDOG_SECS 150

struct ctx {
	struct uprobe_tracer *t;
	pid_t pids[MAX_PIDS];
	int npids;
	char out[PATH_MAX];
	char *outbuf;
};

/* ---- watchdog: alarm(); the first expiry stops the tracer, the second exits ---- */

static struct uprobe_tracer *volatile g_wd_tracer;
static volatile sig_atomic_t g_wd_fired;

RET_FN void wd_handler(int sig)
{
	static const char msg[] = "ret test: watchdog expired twice, exiting\n";

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

RET_FN void wd_arm(unsigned secs)
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

RET_FN int quiet_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	if (level == UPROBE_WARN || getenv("LIBUPROBE_DEBUG"))
		vfprintf(stderr, fmt, ap);
	return 0;
}

/* ---- fixture: every test kills what it started ---- */

RET_FN int ctx_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	const char *tmp = getenv("TMPDIR");
	int fd;

	if (!c)
		return -1;
	c->t = uprobe_tracer_new();
	if (!c->t)
		goto fail;
	snprintf(c->out, sizeof(c->out), "%s/uprobe-ret-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(c->out);
	if (fd < 0)
		goto fail;
	close(fd);
	g_wd_tracer = c->t;
	wd_arm(WATCHDOG_SECS);
	*state = c;
	return 0;
fail:
	uprobe_tracer_free(c->t);
	free(c);
	return -1;
}

RET_FN int ctx_teardown(void **state)
{
	struct ctx *c = *state;

	/* Kill first: a failed assertion must not leave a stopped or running process behind. */
	for (int i = 0; i < c->npids; i++)
		if (c->pids[i] > 0 && uprobe_tracer_exit_status(c->t, c->pids[i]) < 0)
			kill(c->pids[i], SIGKILL);
	g_wd_tracer = NULL;
	uprobe_tracer_free(c->t);
	c->t = NULL;
	for (int i = 0; i < c->npids; i++) /* reap; ECHILD when the tracer already did */
		while (c->pids[i] > 0 && waitpid(c->pids[i], NULL, __WALL) < 0 && errno == EINTR &&
		       !g_wd_fired)
			;
	alarm(0);
	unlink(c->out);
	free(c->outbuf);
	free(c);
	return 0;
}

RET_FN void ctx_track(struct ctx *c, pid_t pid)
{
	if (c->npids < MAX_PIDS)
		c->pids[c->npids++] = pid;
}

RET_FN void ctx_untrack(struct ctx *c, pid_t pid)
{
	for (int i = 0; i < c->npids; i++)
		if (c->pids[i] == pid)
			c->pids[i] = 0;
}

/* uprobe_tracer_spawn with the tracee's fd 1 on c->out (truncated). Fails the test on error. */
RET_FN pid_t spawn_out(struct ctx *c, char *const argv[])
{
	int fd, saved, r;
	pid_t p = 0;

	fflush(stdout);
	fflush(stderr);
	fd = open(c->out, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	saved = fcntl(1, F_DUPFD_CLOEXEC, 10);
	dup2(fd, 1);
	close(fd);
	r = uprobe_tracer_spawn(c->t, argv, &p);
	dup2(saved, 1);
	close(saved);
	if (r) {
		print_error("spawn %s: %d %s\n", argv[0], r, uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_true(p > 0);
	ctx_track(c, p);
	return p;
}

/* waitpid bounded by the watchdog; returns the status or -1. */
RET_FN int wait_child(struct ctx *c, pid_t pid)
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

RET_FN char *slurp(const char *path)
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

RET_FN const char *read_out(struct ctx *c)
{
	free(c->outbuf);
	c->outbuf = slurp(c->out);
	assert_non_null(c->outbuf);
	return c->outbuf;
}

/* Runs argv untraced to completion with stdout captured; returns the output (caller frees). */
RET_FN char *run_untraced(struct ctx *c, char *const argv[])
{
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(c->out, O_WRONLY | O_TRUNC);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	ctx_track(c, pid);
	st = wait_child(c, pid);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("untraced %s: status %#x\n", argv[0], st);
		fail();
	}
	return slurp(c->out);
}

RET_FN void run_to_exit(struct ctx *c, pid_t pid)
{
	int r = uprobe_tracer_run(c->t), st;

	if (r) {
		print_error("run: %d %s\n", r, uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_false(g_wd_fired);
	read_out(c);
	st = uprobe_tracer_exit_status(c->t, pid);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("pid %d: exit status %#x (%s %d), output:\n%s\n", (int)pid, st,
			    st >= 0 && WIFSIGNALED(st) ? "signal" : "exit",
			    st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), c->outbuf);
		fail();
	}
}

/* Fails with the first differing line when the probed output differs from the unprobed one. */
RET_FN void assert_same_output(const char *want, const char *got)
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

RET_FN bool kv_find(const char *buf, const char *key, long *val)
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

RET_FN struct uprobe *add_or_fail(struct ctx *c, const char *bin, const char *sym,
				  const struct uprobe_opts *o)
{
	struct uprobe *p = uprobe_add(c->t, bin, sym, 0, o);

	if (!p) {
		print_error("uprobe_add(%s, %s): %s (errno %d)\n", bin, sym,
			    uprobe_tracer_errmsg(c->t), errno);
		fail();
	}
	return p;
}

/* ---- /proc/PID/maps and ELF symbols, independent of libuprobe ---- */

struct map_ent {
	uint64_t start, end, off;
	char perms[8];
	char path[256];
};

struct maps {
	struct map_ent *e;
	int n;
};

RET_FN bool maps_read(pid_t pid, struct maps *m)
{
	char mpath[64], line[512];
	FILE *fp;

	memset(m, 0, sizeof(*m));
	snprintf(mpath, sizeof(mpath), "/proc/%d/maps", (int)pid);
	fp = fopen(mpath, "r");
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long s, e, off;
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &s, &e, perms, &off, &pos) < 4)
			continue;
		struct map_ent *ne = realloc(m->e, (m->n + 1) * sizeof(*ne));

		if (!ne)
			break;
		m->e = ne;
		ne = &m->e[m->n++];
		ne->start = s, ne->end = e, ne->off = off;
		snprintf(ne->perms, sizeof(ne->perms), "%s", perms);
		line[strcspn(line, "\n")] = 0;
		snprintf(ne->path, sizeof(ne->path), "%s", pos ? line + pos : "");
	}
	fclose(fp);
	return true;
}

RET_FN void maps_free(struct maps *m)
{
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

RET_FN const struct map_ent *maps_find(const struct maps *m, uint64_t addr)
{
	for (int i = 0; i < m->n; i++)
		if (addr >= m->e[i].start && addr < m->e[i].end)
			return &m->e[i];
	return NULL;
}

/* True when addr lies in an executable mapping of a file (never an anonymous or scratch page). */
RET_FN bool in_file_text(const struct maps *m, uint64_t addr)
{
	const struct map_ent *e = maps_find(m, addr);

	return e && e->path[0] == '/' && e->perms[2] == 'x';
}

struct elf_syms {
	uint8_t *data;
	size_t size;
	char path[PATH_MAX];
};

RET_FN bool elf_open(const char *path, struct elf_syms *v)
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
	if (!realpath(path, v->path))
		snprintf(v->path, sizeof(v->path), "%s", path);
	return true;
}

RET_FN void elf_close(struct elf_syms *v)
{
	if (v->data)
		munmap(v->data, v->size);
	v->data = NULL;
}

/* The FUNC symbol of the ELF file containing file offset off ("?" if none). */
RET_FN const char *elf_sym_at_off(const struct elf_syms *v, uint64_t off)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)v->data;
	Elf64_Phdr *ph = (Elf64_Phdr *)(v->data + eh->e_phoff);
	Elf64_Shdr *sh = (Elf64_Shdr *)(v->data + eh->e_shoff);
	uint64_t vaddr = 0;
	bool found = false;

	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && off >= ph[i].p_offset &&
		    off < ph[i].p_offset + ph[i].p_filesz) {
			vaddr = off - ph[i].p_offset + ph[i].p_vaddr;
			found = true;
			break;
		}
	}
	if (!found)
		return "?";
	for (int i = 0; i < eh->e_shnum; i++) {
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

/* Symbol of a pc in the tracee when it is in the file v is open on; "?" otherwise. */
RET_FN const char *sym_of(const struct maps *m, const struct elf_syms *v, uint64_t pc)
{
	const struct map_ent *e = maps_find(m, pc);

	if (!e || strcmp(e->path, v->path))
		return "?";
	return elf_sym_at_off(v, pc - e->start + e->off);
}

#endif /* RET_COMMON_H */
