// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libuprobe's own probes on the program's runtime: the dynamic linker's
 * r_debug hook, unwinders, longjmp, the return addresses of functions that
 * return twice; and the handlers of those that keep return probes right
 * (through retprobe.c's primitives).
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "orch.h"
#include "lifeline.h"

struct watched_file {
	dev_t dev;
	ino_t ino;
	bool retprobes; /* searched for the return-probe symbols too */
	/*
	 * Passes with a probe of ours that could not be placed: the file is
	 * searched again at the next call, up to WATCH_TRIES passes (a
	 * process that execs while probes are placed has the old image's
	 * addresses unreadable, and its new image maps the same files).
	 */
	unsigned char failed;
	unsigned char sig_watch; /* SIGW_* of its code watched (sigmask.c) */
	struct watched_file *next;
};

#define WATCH_TRIES 3

/* One of our probes could not be placed: said once the file's last pass fails, else quietly. */
static void watch_failed(struct uprobe_tracer *t, const struct watched_file *w, const char *what,
			 const char *path)
{
	if (w->failed + 1 >= WATCH_TRIES)
		pr_warn("cannot watch %s in %s: %s", what, path, t->errmsg);
	else
		pr_debug("cannot watch %s in %s (tried again later): %s", what, path, t->errmsg);
}

static const struct {
	const char *name;
	uprobe_handler_fn fn;
	bool retprobes; /* needed only while return probes exist */
} watch_syms[] = {
	/* the dynamic linker calls it around every change of the link map (dlopen, dlclose) */
	{ "_dl_debug_state", lifecycle_on_dl_state, false },
	{ "_Unwind_RaiseException", watch_on_unwind, true },
	{ "_Unwind_ForcedUnwind", watch_on_unwind, true },
	{ "_Unwind_Resume", watch_on_unwind, true },
	{ "_Unwind_Resume_or_Rethrow", watch_on_unwind, true },
	{ "_Unwind_Backtrace", watch_on_unwind_backtrace, true },
	{ "__cxa_begin_catch", watch_on_catch, true },
	{ "longjmp", watch_on_longjmp, true },
	{ "_longjmp", watch_on_longjmp, true },
	{ "siglongjmp", watch_on_longjmp, true },
	{ "__longjmp_chk", watch_on_longjmp, true },
};

/*
 * Probes after a system call made in a function, rather than at its
 * entry: glibc's sigaction(), signal(), sigset() ... all make theirs in
 * __libc_sigaction; after it the registers still hold the call's
 * arguments and its result is in %rax.
 */
static const struct {
	const char *name;
	long nr;
	uprobe_handler_fn fn;
	/*
	 * at: on the system call instruction, before it runs (its handler
	 * does the call itself). all: every such call in the executable code
	 * of a file that defines name: glibc changes masks from many
	 * functions (pthread_sigmask, raise, pthread_create, the ucontext
	 * ones, posix_spawn ...), some of them static, with no symbol left.
	 */
	bool at, all;
	/*
	 * restorer: on the `mov $nr,%rax` just before it (libc's signal
	 * return, __restore_rt, with no symbol of its own). sig_watch: the
	 * SIGW_* it makes (sigmask.c).
	 */
	bool restorer;
	unsigned char sig_watch;
} watch_calls[] = {
	{ "__libc_sigaction", SYS_rt_sigaction, sigtrap_on_sigaction, false, false, false,
	  SIGW_ACTIONS },
	{ "pthread_sigmask", SYS_rt_sigprocmask, sigmask_on_sigprocmask, true, true, false,
	  SIGW_MASKS },
	{ "__libc_sigaction", SYS_rt_sigreturn, sigmask_on_sigreturn, false, true, true,
	  SIGW_RETURN },
};


/* At most this many calls of one kind in one file: more, and none is watched. */
#define WATCH_MAX_SITES 64

/* The file offset where the last function symbol of f at or before file offset x starts, or lo. */
static uint64_t func_start(const struct elf_file *f, uint64_t lo, uint64_t x)
{
	size_t a = 0, b = f->nsyms;
	uint64_t best = lo;

	/* syms are sorted by vaddr, and within one segment so are their file offsets */
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (f->syms[m].off <= x)
			a = m + 1;
		else
			b = m;
	}
	for (size_t i = a; i-- > 0;) {
		if (f->syms[i].off >= lo && f->syms[i].off <= x) {
			best = f->syms[i].off;
			break;
		}
		if (f->syms[i].off < lo)
			break;
	}
	return best;
}

/*
 * The system calls nr in [off, off + size) of f, as arch_syscall_sites()
 * finds them decoding from off (offsets from off, just after each), only
 * faster: a `0f 05` with a `mov $nr` in the bytes before it is decoded
 * from the nearest function symbol before it, not the whole segment
 * (libc's code is over a megabyte; its candidates a few dozen).
 */
static int syscall_sites(const struct elf_file *f, uint64_t off, uint64_t size, long nr,
			 size_t *offs, int max)
{
	const uint8_t *code = f->data + off;
	uint64_t next = 0; /* decoded up to here already */
	int n = 0;

	for (uint64_t x = 0; x + ARCH_SYSCALL_LEN <= size && n < max; x++) {
		size_t found[WATCH_MAX_SITES];
		uint64_t start;
		int k;

		if (!arch_syscall_candidate(code, x, nr))
			continue;
		start = func_start(f, off, off + x) - off;
		if (start < next && next <= x)
			start = next; /* (the same function as the last: decoded on from there) */
		k = arch_syscall_sites(code + start, x + ARCH_SYSCALL_LEN - start, nr, found,
				       (int)ARRAY_SIZE(found));
		if (k > 0 && found[k - 1] == x + ARCH_SYSCALL_LEN - start) {
			offs[n++] = x + ARCH_SYSCALL_LEN;
			next = x + ARCH_SYSCALL_LEN;
		}
	}
	return n;
}

/*
 * Our probe at or after each system call of watch_calls[j] in [off, off +
 * size) of f, decoded from off; how many, or -1 if one could not be placed
 * (or there may be more than WATCH_MAX_SITES).
 */
static int watch_sites(struct uprobe_tracer *t, const struct watched_file *w, struct elf_file *f,
		       uint64_t off, uint64_t size, size_t j)
{
	size_t offs[WATCH_MAX_SITES];
	char what[128];
	int n, watched = 0;

	n = syscall_sites(f, off, size, watch_calls[j].nr, offs, (int)ARRAY_SIZE(offs));
	if (n == (int)ARRAY_SIZE(offs))
		return -1;
	for (int i = 0; i < n; i++) {
		/* offs[i] is after the call: the instruction itself is 2 bytes before */
		uint64_t at = off + offs[i] - (watch_calls[j].at ? ARCH_SYSCALL_LEN : 0);

		if (watch_calls[j].restorer) {
			if (offs[i] < ARCH_SYSCALL_LEN + ARCH_RESTORER_MOV_LEN)
				continue;
			at = off + offs[i] - ARCH_SYSCALL_LEN - ARCH_RESTORER_MOV_LEN;
			if (!arch_is_mov_nr(f->data + at, ARCH_RESTORER_MOV_LEN, watch_calls[j].nr))
				continue;
		}
		watched++;
		if (watch_has(t, f->dev, f->ino, at, watch_calls[j].fn))
			continue;
		if (!probe_add_internal(t, f->path, NULL, at, watch_calls[j].fn)) {
			snprintf(what, sizeof(what), "%s's system call", watch_calls[j].name);
			watch_failed(t, w, what, f->path);
			return -1;
		}
	}
	return watched;
}

/*
 * Our probes at the system calls of watch_calls[j] in f: in its function,
 * or (all) in the whole of each executable segment, decoded from its start
 * as objdump does (compilers put no data there). 1: some watched, 0: f has
 * none, -1: one could not be placed.
 */
static int watch_call(struct uprobe_tracer *t, const struct watched_file *w, struct elf_file *f,
		      size_t j)
{
	const struct elf_sym *sym = elf_find_sym(f, watch_calls[j].name);
	uint64_t last = UINT64_MAX;
	int n, any = 0;

	if (!sym || !sym->size || sym->off + sym->size > f->size)
		return 0;
	if (!watch_calls[j].all)
		return watch_sites(t, w, f, sym->off, sym->size, j) < 0 ? -1 : 1;
	for (size_t i = 0; i < f->nsegs; i++) {
		const struct elf_seg *g = &f->segs[i];

		if (!(g->flags & PF_X) || g->off == last || g->off + g->filesz > f->size)
			continue;
		last = g->off;
		n = watch_sites(t, w, f, g->off, g->filesz, j);
		if (n < 0)
			return -1;
		pr_debug("%s: %d system calls %ld watched", f->path, n, watch_calls[j].nr);
		any |= n > 0;
	}
	return any;
}

bool watch_has(struct uprobe_tracer *t, dev_t dev, ino_t ino, uint64_t off,
			      uprobe_handler_fn fn)
{
	struct site *s = site_find(t, dev, ino, off);

	for (unsigned i = 0; s && i < s->nprobes; i++)
		if (s->probes[i]->internal && s->probes[i]->handler == fn)
			return true;
	return false;
}

/*
 * Puts libuprobe's own probes on the functions above in every file p maps
 * that defines them (ld.so, libgcc_s, libstdc++, libc, or a static
 * executable); the return-probe ones only while return probes exist.
 */
int watch_proc(struct uprobe_tracer *t, struct proc *p)
{
	char saved[sizeof(t->errmsg)];
	bool retprobes = t->nretprobes > 0, ok;
	pid_t pid = p->pid;

	memcpy(saved, t->errmsg, sizeof(saved));
	for (int i = 0; i < p->nmaps; i++) {
		const struct map_entry *m = &p->maps[i];
		struct watched_file *w;
		struct elf_file *f;

		if (!m->x || m->path[0] != '/')
			continue;
		if (proc_elf_open(p, m, &f) < 0)
			continue;
		for (w = t->watched; w; w = w->next)
			if (w->dev == f->dev && w->ino == f->ino)
				break;
		if (w && w->sig_watch)
			sigmask_watched(t, p, w->sig_watch);
		if (w && (w->retprobes || !retprobes) &&
		    (!w->failed || w->failed >= WATCH_TRIES))
			continue;
		if (!w) {
			w = calloc(1, sizeof(*w));
			if (!w)
				break;
			w->dev = f->dev;
			w->ino = f->ino;
			w->next = t->watched;
			t->watched = w;
		}
		ok = true;
		for (size_t j = 0; j < ARRAY_SIZE(watch_calls); j++) {
			int r = watch_call(t, w, f, j);

			ok &= r >= 0;
			if (r > 0 && watch_calls[j].sig_watch) {
				w->sig_watch |= watch_calls[j].sig_watch;
				sigmask_watched(t, p, w->sig_watch);
			}
		}
		w->retprobes = retprobes;
		for (size_t j = 0; j < ARRAY_SIZE(watch_syms); j++) {
			const struct elf_sym *sym;

			if (watch_syms[j].retprobes && !retprobes)
				continue;
			sym = elf_find_sym(f, watch_syms[j].name);
			if (!sym || watch_has(t, f->dev, f->ino, sym->off, watch_syms[j].fn))
				continue;
			if (!probe_add_internal(t, f->path, watch_syms[j].name, 0, watch_syms[j].fn)) {
				watch_failed(t, w, watch_syms[j].name, f->path);
				ok = false;
			}
		}
		w->failed = ok ? 0 : (unsigned char)(w->failed + 1);
	}
	/* its handlers' masks, once its rt_sigaction calls are watched (sigmask.c) */
	if (proc_find(t, pid) == p)
		sigmask_actions_watch(t, p);
	memcpy(t->errmsg, saved, sizeof(saved));
	return 0;
}

/*
 * watch_proc() in every process probes are planted in: once the first
 * return probe is placed, the unwinders and longjmp are watched too.
 */
void watch_procs(struct uprobe_tracer *t)
{
	for (struct proc *p = t->procs; p; p = p->next)
		if (proc_plantable(p))
			watch_proc(t, p);
}

void watch_free(struct uprobe_tracer *t)
{
	while (t->watched) {
		struct watched_file *w = t->watched;

		t->watched = w->next;
		free(w);
	}
}

/* ---- our probes for return probes: unwinders, longjmp, functions that return twice ---- */

/*
 * A probe of ours at address ra of p's code, calling fn, unless one is
 * there already: the return of _Unwind_Backtrace, the return address of a
 * setjmp. 0, or -errno when ra is in no file (it cannot be probed).
 */
int watch_code_at(struct uprobe_tracer *t, struct proc *p, uint64_t ra, uprobe_handler_fn fn)
{
	for (int i = 0; i < p->nmaps; i++) {
		const struct map_entry *m = &p->maps[i];
		struct elf_file *f;
		uint64_t off;

		if (ra < m->start || ra >= m->end || !m->x || m->path[0] != '/')
			continue;
		off = m->off + (ra - m->start);
		if (proc_elf_open(p, m, &f) < 0)
			return -ENOENT;
		if (watch_has(t, f->dev, f->ino, off, fn))
			return 0;
		if (!probe_add_internal(t, f->path, NULL, off, fn))
			return -errno;
		return 0;
	}
	return -ENOENT;
}

/*
 * Entry to an unwinder: it must read real return addresses, never the
 * trampoline (ret_unwind_start()).
 */
int watch_on_unwind(struct uprobe_hit *h, void *data)
{
	ret_unwind_start(h->t, h->task);
	return 0;
}

/*
 * The unwinders' entries are the lifeline's LL_UNWIND: after the tracer's
 * death the handler there gives the stack slots their real return
 * addresses back, as ret_unwind_start() does now (plant.c tells them by
 * their handlers, which the registry keeps for it). Said at
 * uprobe_tracer_new().
 */
void watch_handler_kinds(struct uprobe_tracer *t)
{
	registry_handler_kind(t, watch_on_unwind, LL_UNWIND);
	registry_handler_kind(t, watch_on_unwind_backtrace, LL_UNWIND);
}

/* Back from _Unwind_Backtrace: it walked the stack and returned; re-arm. */
int watch_on_unwind_done(struct uprobe_hit *h, void *data)
{
	ret_event(h->t, h->task);
	return 0;
}

/*
 * _Unwind_Backtrace returns normally, and the frames it walked are still
 * live: the calls disarmed for it must be re-armed right when it returns,
 * not at some later event when their functions may have returned unseen.
 * A probe of our own at its return address (backtrace() in libc, say)
 * does that; one per call site, added the first time it is seen.
 */
int watch_on_unwind_backtrace(struct uprobe_hit *h, void *data)
{
	struct uprobe_tracer *t = h->t;
	struct task *k = h->task;
	uint64_t ra;
	int err;

	watch_on_unwind(h, data);
	if (!k->unwind_sp || mem_read(k->proc, k->regs.rsp, &ra, sizeof(ra)) < 0)
		return 0;
	err = watch_code_at(t, k->proc, ra, watch_on_unwind_done);
	if (err < 0 && err != -ENOENT)
		pr_warn("cannot watch the return of _Unwind_Backtrace at 0x%llx: %s",
			(unsigned long long)ra, t->errmsg);
	return 0;
}

/* __cxa_begin_catch: the exception has landed in the frame that catches it. */
int watch_on_catch(struct uprobe_hit *h, void *data)
{
	ret_unwind_caught(h->t, h->task);
	return 0;
}

/* longjmp(env, val): the calls of the frames it abandons are over. */
int watch_on_longjmp(struct uprobe_hit *h, void *data)
{
	ret_longjmp(h->task);
	return 0;
}

/*
 * A call of a function that may return twice (setjmp, vfork): the code
 * at its return address is watched (watch_on_twice_return()) instead of
 * the return address hijacked. false: it cannot be, and the call went
 * (ret_discard()).
 */
bool watch_twice_call(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri)
{
	char saved[sizeof(t->errmsg)];
	int err;

	memcpy(saved, t->errmsg, sizeof(saved));
	err = watch_code_at(t, proc_mm(k->proc), ri->real_ret, watch_on_twice_return);
	if (err < 0) {
		pr_warn("tid %d: cannot watch the return address 0x%llx of a function that "
			"returns twice: %s", k->tid, (unsigned long long)ri->real_ret,
			err == -ENOENT ? "not in a file" : t->errmsg);
		memcpy(t->errmsg, saved, sizeof(saved));
		ret_discard(ri);
		return false;
	}
	memcpy(t->errmsg, saved, sizeof(saved));
	return true;
}

/*
 * The return address of a function that returns twice (setjmp, vfork),
 * probed by watch_twice_call() instead of being hijacked: a return of its
 * pending calls.
 */
int watch_on_twice_return(struct uprobe_hit *h, void *data)
{
	ret_returned_twice(h->t, h->task, h->addr);
	return 0;
}
