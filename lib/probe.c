// SPDX-License-Identifier: LGPL-2.1-or-later
/* Probes added and removed: names resolved by resolve.c, put on registry.c's sites, int3s planted by plant.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "orch.h"

/* ---- uprobe_add / uprobe_remove ---- */

/*
 * binary's ELF file: the one a tracee maps, else opened from its path.
 * *no_binary: no tracee maps it and no path names it.
 */
static int open_binary(struct uprobe_tracer *t, const char *binary, struct elf_file **f,
		       bool *no_binary)
{
	char path[4096], why[256];
	int err;

	err = resolve_binary(t, binary, path, sizeof(path));
	if (err) {
		*no_binary = true;
		return err;
	}
	*f = resolve_mapped_elf(t, path);
	if (!*f) {
		err = elf_open(path, f, why, sizeof(why));
		if (err)
			return tracer_err(t, err, "%s", why);
	}
	return 0;
}

/*
 * The file offset symbol + offset names (*off), and where its function
 * starts (*start_off); for an IFUNC, in its implementation, whose file *f
 * becomes. Without a symbol, offset is the file offset itself.
 */
static int target_offset(struct uprobe_tracer *t, struct elf_file **f, const char *symbol,
			 uint64_t offset, uint64_t *off, uint64_t *start_off)
{
	const struct elf_sym *sym;
	int err;

	if (!symbol) {
		*off = offset;
		return 0;
	}
	sym = elf_find_sym(*f, symbol);
	if (!sym)
		return tracer_err(t, -ENOENT, "%s: no symbol '%s'", resolve_base_name((*f)->path), symbol);
	if (sym->size && offset >= sym->size)
		return tracer_err(t, -EINVAL, "%s: offset 0x%llx is beyond the end of '%s' "
				  "(size 0x%llx)", resolve_base_name((*f)->path),
				  (unsigned long long)offset, symbol,
				  (unsigned long long)sym->size);
	*off = sym->off + offset;
	*start_off = sym->off;
	if (sym->ifunc) {
		struct elf_file *impl;
		uint64_t impl_off = 0;

		err = resolve_ifunc(t, *f, sym, &impl, &impl_off);
		if (err)
			return err;
		*f = impl;
		*off = impl_off + offset;
		*start_off = impl_off;
	}
	return 0;
}

/* The refusals of an offset before any byte changes: not code, not an instruction's start. */
static int check_target(struct uprobe_tracer *t, const struct uprobe *u, struct elf_file *f,
			uint64_t off, const char *symbol, uint64_t start_off, bool force)
{
	int err;

	if (!elf_exec_seg_at_off(f, off))
		return tracer_err(t, -EINVAL, "%s: file offset 0x%llx is not in an executable segment",
				  resolve_base_name(f->path), (unsigned long long)off);
	err = resolve_check_boundary(t, f, off, symbol, start_off);
	if (err)
		return err;
	if (u->ret_handler)
		return resolve_check_retprobe(t, f, off, force);
	return 0;
}

/*
 * The site of the instruction at off: an existing one, a retired one
 * (*need_plant), or a new one with its plan (*new_site, *need_plant),
 * refused if arch_analyse() cannot probe the instruction.
 */
static int find_site(struct uprobe_tracer *t, struct elf_file *f, uint64_t off,
		     const char *symbol, uint64_t offset, struct site **out, bool *new_site,
		     bool *need_plant)
{
	struct site *s = site_find(t, f->dev, f->ino, off);
	char why[256];
	int err;

	if (s && !s->nprobes) {
		/* retired: its plan and slots are still good; plant it again */
		*need_plant = true;
	} else if (!s) {
		s = pool_alloc(&t->site_pool);
		if (!s)
			return tracer_err(t, -ENOMEM, "out of memory");
		s->off = off;
		s->elf = f;
		/* most instructions have one probe: no array of their own */
		s->probes = &s->one;
		err = arch_analyse(f->data + off, f->size - off, &s->plan, why, sizeof(why));
		if (err) {
			tracer_err(t, err, "%s: cannot probe offset 0x%llx%s%s: %s", resolve_base_name(f->path),
				   (unsigned long long)off, symbol ? " in " : "",
				   symbol ? symbol : "", why);
			site_free(t, s);
			return err;
		}
		s->twice = resolve_returns_twice(f, off);
		s->func_entry = resolve_is_func_entry(f, off, symbol, symbol && !offset);
		*new_site = true;
		*need_plant = true;
	} else if (!s->func_entry && symbol && !offset) {
		/* first probed by a file offset no symbol starts at: an IFUNC's implementation */
		s->func_entry = resolve_is_func_entry(f, off, symbol, true);
	}
	*out = s;
	return 0;
}

/* u joins s's probes (a new site is registered first); a new site is freed on failure. */
static int join_site(struct uprobe_tracer *t, struct uprobe *u, struct site *s, bool new_site,
		     const struct elf_file *f, uint64_t off)
{
	int err;

	if (s->nprobes == UINT16_MAX)
		return tracer_err(t, -ENOSPC, "%s: offset 0x%llx already has %u probes",
				  resolve_base_name(f->path), (unsigned long long)off, s->nprobes);
	err = site_make_room(s);
	if (err) {
		if (new_site)
			site_free(t, s);
		return tracer_err(t, err, "out of memory");
	}
	if (new_site) {
		err = site_register(t, s);
		if (err) {
			site_free(t, s);
			return tracer_err(t, err, "out of memory");
		}
	}
	u->site = s;
	s->refs++;
	s->probes[s->nprobes++] = u;
	if (uprobe_post_fn(u))
		s->npost++;
	if (u->nostop)
		s->nasync++;
	return 0;
}

/*
 * What u's joining changes in the tracees: s planted (new or retired), or
 * its post slots made for its first post handler, or its kind changed.
 * On failure u leaves s again.
 */
static int plant_probe(struct uprobe_tracer *t, struct uprobe *u, struct site *s, bool need_plant)
{
	int err;

	if (need_plant) {
		err = plant_site(t, s);
		if (err) {
			s->nprobes = 0;
			s->npost = 0;
			s->nasync = 0;
			u->site = NULL;
			site_put(t, s);
			return err;
		}
	} else if (uprobe_post_fn(u) && s->npost == 1) {
		err = plant_post_slots(t, s);
		if (err) {
			/* the scratch area is full or gone: refuse, the probes there stay as they were */
			s->nprobes--;
			s->npost--;
			s->nasync -= u->nostop;
			u->site = NULL;
			site_put(t, s);
			return err;
		}
	}
	if (!need_plant)
		plant_kind_changed(t, s);
	return 0;
}

/*
 * Resolves binary/symbol/offset to an instruction, refuses it before any
 * byte changes if it cannot be probed, and puts u on its site (planting the
 * site in every tracee that maps it). *no_binary tells a binary that no
 * tracee maps and no path names apart from other errors.
 */
static int place(struct uprobe_tracer *t, struct uprobe *u, const char *binary,
		 const char *symbol, uint64_t offset, bool force, bool *no_binary)
{
	struct elf_file *f;
	struct site *s = NULL;
	uint64_t off = 0, start_off = UINT64_MAX;
	bool new_site = false, need_plant = false;
	int err;

	*no_binary = false;
	err = open_binary(t, binary, &f, no_binary);
	if (err)
		return err;
	err = target_offset(t, &f, symbol, offset, &off, &start_off);
	if (err)
		return err;
	err = check_target(t, u, f, off, symbol, start_off, force);
	if (err)
		return err;
	err = find_site(t, f, off, symbol, offset, &s, &new_site, &need_plant);
	if (err)
		return err;
	err = join_site(t, u, s, new_site, f, off);
	if (err)
		return err;
	err = plant_probe(t, u, s, need_plant);
	if (err)
		return err;
	if (u->ret_handler) {
		/*
		 * The first return probe has the unwinders and longjmp watched
		 * from now on (watch_procs()), by uprobe_add() and
		 * lifecycle_plant_all(), not here: watch.c places its own
		 * probes through here.
		 */
		s->nret++;
		t->nretprobes++;
	}
	return 0;
}

/*
 * A probe waiting for its library (opts.pending): what to place once a
 * tracee maps it. Kept apart so that placed probes do not carry it.
 */
struct pending_probe {
	struct uprobe *u;
	char *binary, *symbol;
	uint64_t offset;
	struct pending_probe *next;
};

static int add_pending(struct uprobe_tracer *t, struct uprobe *u, const char *binary,
		       const char *symbol, uint64_t offset)
{
	struct pending_probe *pp = calloc(1, sizeof(*pp));

	if (!pp)
		return -ENOMEM;
	pp->u = u;
	pp->binary = strdup(binary);
	pp->symbol = symbol ? strdup(symbol) : NULL;
	pp->offset = offset;
	if (!pp->binary || (symbol && !pp->symbol)) {
		free(pp->binary);
		free(pp->symbol);
		free(pp);
		return -ENOMEM;
	}
	if (t->pending_tail)
		t->pending_tail->next = pp;
	else
		t->pending = pp;
	t->pending_tail = pp;
	return 0;
}

/* Forgets u's pending record, if it has one. */
static void drop_pending(struct uprobe_tracer *t, struct uprobe *u)
{
	struct pending_probe *prev = NULL;

	for (struct pending_probe *pp = t->pending; pp; prev = pp, pp = pp->next) {
		if (pp->u != u)
			continue;
		if (prev)
			prev->next = pp->next;
		else
			t->pending = pp->next;
		if (t->pending_tail == pp)
			t->pending_tail = prev;
		free(pp->binary);
		free(pp->symbol);
		free(pp);
		return;
	}
}

/*
 * Does a traced process map site s? A probe whose file none maps may be
 * waiting for a dlopen, but just as often names a file the process does
 * not use (another copy, a path of another mount namespace): say so.
 */
static bool site_mapped(struct uprobe_tracer *t, const struct site *s)
{
	bool any = false;

	for (struct proc *p = t->procs; p; p = p->next) {
		if (!proc_plantable(p))
			continue;
		any = true;
		for (int i = 0; i < p->nmaps; i++) {
			const struct map_entry *m = &p->maps[i];

			if (m->x && s->off >= m->off && s->off < m->off + (m->end - m->start) &&
			    resolve_map_is_file(m, s->elf))
				return true;
		}
	}
	return !any;
}

/* The option combinations refused before anything changes (data_size: after the drain). */
static int check_opts(struct uprobe_tracer *t, const struct uprobe_opts *opts)
{
	if (!OPTS_VALID(opts, uprobe_opts))
		return tracer_err(t, -EINVAL, "uprobe_opts: unknown fields set");
	if (OPTS_GET(opts, nostop, false) && OPTS_GET(opts, post_handler, NULL))
		return tracer_err(t, -EINVAL, "uprobe_opts: a no-stop probe cannot have a post handler "
				  "(it needs the thread stopped)");
	if (OPTS_GET(opts, record, 0) & ~UPROBE_RECORD_ALL_FLAGS)
		return tracer_err(t, -EINVAL, "uprobe_opts: record 0x%x has unknown flags (known: 0x%x)",
				  OPTS_GET(opts, record, 0), UPROBE_RECORD_ALL_FLAGS);
	if (OPTS_GET(opts, record, 0) && !OPTS_GET(opts, nostop, false))
		return tracer_err(t, -EINVAL, "uprobe_opts: record is for no-stop probes (nostop)");
	return 0;
}

/* u's fields from opts; the post and fault handlers in u->more, only when set. */
static int fill_probe(struct uprobe_tracer *t, struct uprobe *u, const struct uprobe_opts *opts)
{
	u->t = t;
	u->handler = OPTS_GET(opts, handler, NULL);
	u->ret_handler = OPTS_GET(opts, ret_handler, NULL);
	if (OPTS_GET(opts, post_handler, NULL) || OPTS_GET(opts, fault_handler, NULL)) {
		u->more = malloc(sizeof(*u->more));
		if (!u->more)
			return tracer_err(t, -ENOMEM, "out of memory");
		u->more->post_handler = OPTS_GET(opts, post_handler, NULL);
		u->more->fault_handler = OPTS_GET(opts, fault_handler, NULL);
	}
	u->data = OPTS_GET(opts, data, NULL);
	u->data_size = (uint16_t)OPTS_GET(opts, data_size, 0);
	u->maxactive = OPTS_GET(opts, maxactive, 0);
	if (!u->maxactive)
		u->maxactive = 128;
	u->force = OPTS_GET(opts, force, false);
	u->nostop = OPTS_GET(opts, nostop, false);
	u->no_time = OPTS_GET(opts, record, 0) & UPROBE_RECORD_NO_TIME;
	u->args_only = OPTS_GET(opts, record, 0) & UPROBE_RECORD_ARGS_ONLY;
	return 0;
}

/*
 * uprobe_add() but for the watch a first return probe starts (probe_api.c):
 * what usdt.c and probe_add_internal() add through, neither with a return
 * probe.
 */
struct uprobe *probe_add(struct uprobe_tracer *t, const char *binary, const char *symbol,
			 uint64_t offset, const struct uprobe_opts *opts)
{
	struct uprobe *u = NULL;
	bool no_binary;
	int err;

	if (!t || !binary) {
		errno = EINVAL;
		return NULL;
	}
	registry_pools_init(t);
	err = check_opts(t, opts);
	if (err)
		goto fail;
	/* hits recorded so far belong to the probes as they were */
	ring_drain_all(t);
	if (OPTS_GET(opts, data_size, 0) > UINT16_MAX) {
		err = tracer_err(t, -EINVAL, "uprobe_opts: data_size %zu is over 65535",
				 OPTS_GET(opts, data_size, 0));
		goto fail;
	}
	u = pool_alloc(&t->probe_pool);
	if (!u) {
		err = tracer_err(t, -ENOMEM, "out of memory");
		goto fail;
	}
	err = fill_probe(t, u, opts);
	if (err)
		goto fail;
	err = place(t, u, binary, symbol, offset, u->force, &no_binary);
	if (err && no_binary && OPTS_GET(opts, pending, false) && !strchr(binary, '/')) {
		/* a library to be loaded later: placed when the dynamic linker maps it */
		err = add_pending(t, u, binary, symbol, offset);
		if (err) {
			tracer_err(t, err, "out of memory");
			goto fail;
		}
	}
	if (err)
		goto fail;
	if (u->site && !site_mapped(t, u->site))
		pr_warn("%s: no traced process maps it: the probe waits for one that does",
			u->site->elf->path);
	return u;
fail:
	if (u)
		free(u->more);
	pool_free(&t->probe_pool, u);
	errno = -err;
	return NULL;
}

/*
 * Pending probes whose library a tracee now maps (after spawn's entry, an
 * attach, an exec, a dlopen) are placed; one that then fails for another
 * reason (no such symbol there) is reported once and stays unplaced.
 */
void probe_place_pending(struct uprobe_tracer *t)
{
	char saved[sizeof(t->errmsg)];
	struct pending_probe *pp, *next;

	memcpy(saved, t->errmsg, sizeof(saved));
	for (pp = t->pending; pp; pp = next) {
		struct uprobe *u = pp->u;
		bool no_binary;
		int err;

		next = pp->next;
		err = place(t, u, pp->binary, pp->symbol, pp->offset, u->force, &no_binary);
		if (err && no_binary)
			continue;
		if (err)
			pr_warn("pending probe %s:%s: %s", pp->binary, pp->symbol ? pp->symbol : "",
				t->errmsg);
		drop_pending(t, u);
	}
	memcpy(t->errmsg, saved, sizeof(saved));
}

static void remove_probe(struct uprobe_tracer *t, struct uprobe *u)
{
	struct site *s = u->site;
	unsigned i;

	if (!s) {
		/* still pending (or refused when its library came): nothing planted */
		drop_pending(t, u);
		free(u->more);
		pool_free(&t->probe_pool, u);
		return;
	}

	if (u->ret_handler) {
		/* pending calls still return through the trampoline, unreported */
		ret_forget_probe(t, u);
		s->nret--;
		t->nretprobes--;
	}
	if (uprobe_post_fn(u))
		s->npost--;
	s->nasync -= u->nostop;
	for (i = 0; i < s->nprobes; i++)
		if (s->probes[i] == u)
			break;
	if (i < s->nprobes) {
		memmove(&s->probes[i], &s->probes[i + 1], (s->nprobes - i - 1) * sizeof(u));
		s->nprobes--;
	}
	if (!s->nprobes) {
		/* last probe on the instruction: the int3 goes */
		plant_remove_site(t, s);
	} else {
		plant_kind_changed(t, s);
	}
	site_put(t, s);
	free(u->more);
	pool_free(&t->probe_pool, u);
}

UPROBE_API int uprobe_remove(struct uprobe *u)
{
	if (!u) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (u->usdt)
		return tracer_err(u->t, -EBUSY, "uprobe_remove: a site of a USDT probe goes with "
				  "uprobe_usdt_remove()");
	/* its hits recorded so far are delivered first */
	ring_drain_all(u->t);
	remove_probe(u->t, u);
	return 0;
}

void probe_remove_all(struct uprobe_tracer *t)
{
	struct site *s, *next;

	while (t->pending)
		remove_probe(t, t->pending->u);
	for (s = site_iter(t, NULL); s; s = next) {
		/* a site goes with its last probe unless slots still name it */
		s->refs++;
		while (s->nprobes)
			remove_probe(t, s->probes[s->nprobes - 1]);
		next = site_iter(t, s);
		site_put(t, s);
	}
}

UPROBE_API uint64_t uprobe_hits(const struct uprobe *u)
{
	if (!u)
		return 0;
	/*
	 * Count-only detours count in the tracees: what they counted so far
	 * (read from the tracer's thread only, which owns the tables; from
	 * another, what was last read).
	 */
	if (u->site && uprobe_counts_only(u) &&
	    (!u->t->owner_tid || u->t->owner_tid == (pid_t)syscall(SYS_gettid)))
		ring_count_all(u->t);
	return u->hits;
}

UPROBE_API uint64_t uprobe_missed(const struct uprobe *u)
{
	return u ? u->missed : 0;
}

/* libuprobe's own probe; not in the user's view, not counted as a return probe. */
struct uprobe *probe_add_internal(struct uprobe_tracer *t, const char *path, const char *symbol,
				  uint64_t offset, uprobe_handler_fn fn)
{
	UPROBE_OPTS(uprobe_opts, o, .handler = fn, .data = t);
	struct uprobe *u = probe_add(t, path, symbol, offset, &o);

	if (u)
		u->internal = true;
	return u;
}

UPROBE_API const char *uprobe_binary_path(const struct uprobe *u)
{
	return u && u->site ? u->site->elf->path : NULL;
}

UPROBE_API uint64_t uprobe_file_offset(const struct uprobe *u)
{
	return u && u->site ? u->site->off : 0;
}
