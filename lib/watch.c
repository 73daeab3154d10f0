// SPDX-License-Identifier: LGPL-2.1-or-later
/* libuprobe's own probes on the program's runtime: the dynamic linker's r_debug hook, unwinders, longjmp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "core.h"

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
	{ "_dl_debug_state", probe_on_dl_state, false },
	{ "_Unwind_RaiseException", ret_on_unwind, true },
	{ "_Unwind_ForcedUnwind", ret_on_unwind, true },
	{ "_Unwind_Resume", ret_on_unwind, true },
	{ "_Unwind_Resume_or_Rethrow", ret_on_unwind, true },
	{ "_Unwind_Backtrace", ret_on_unwind_backtrace, true },
	{ "__cxa_begin_catch", ret_on_catch, true },
	{ "longjmp", ret_on_longjmp, true },
	{ "_longjmp", ret_on_longjmp, true },
	{ "siglongjmp", ret_on_longjmp, true },
	{ "__longjmp_chk", ret_on_longjmp, true },
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
} watch_calls[] = {
	{ "__libc_sigaction", SYS_rt_sigaction, lifeline_on_sigaction },
};

/* Our probe after each system call of watch_calls[j] in f; false if one could not be placed. */
static bool watch_call(struct uprobe_tracer *t, const struct watched_file *w, struct elf_file *f,
		       size_t j)
{
	const struct elf_sym *sym = elf_find_sym(f, watch_calls[j].name);
	char what[128];
	size_t offs[4];
	bool ok = true;
	int n;

	if (!sym || !sym->size || sym->off + sym->size > f->size)
		return true;
	n = arch_syscall_sites(f->data + sym->off, sym->size, watch_calls[j].nr, offs,
			       (int)ARRAY_SIZE(offs));
	for (int i = 0; i < n; i++) {
		if (watch_has(t, f->dev, f->ino, sym->off + offs[i], watch_calls[j].fn))
			continue;
		if (!probe_add_internal(t, f->path, NULL, sym->off + offs[i], watch_calls[j].fn)) {
			snprintf(what, sizeof(what), "%s's system call", watch_calls[j].name);
			watch_failed(t, w, what, f->path);
			ok = false;
		}
	}
	return ok;
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
		for (size_t j = 0; j < ARRAY_SIZE(watch_calls); j++)
			ok &= watch_call(t, w, f, j);
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
	memcpy(t->errmsg, saved, sizeof(saved));
	return 0;
}

void watch_free(struct uprobe_tracer *t)
{
	while (t->watched) {
		struct watched_file *w = t->watched;

		t->watched = w->next;
		free(w);
	}
}
