// SPDX-License-Identifier: LGPL-2.1-or-later
/* USDT probes: .note.stapsdt sites as probes, their semaphores (their arguments at a hit: hit.c). */
#include <elf.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>

#include "orch.h"
#include "usdt.h"

/* A semaphore incremented in one process: to be decremented exactly once. */
struct usdt_ref {
	pid_t pid;
	uint64_t addr;
};

struct uprobe_usdt {
	struct uprobe_tracer *t;
	struct elf_file *f;
	struct usdt_site *sites;
	unsigned nsites;
	uint64_t *sems; /* distinct semaphore file offsets */
	unsigned nsems;
	struct usdt_ref *refs;
	unsigned nrefs, refs_cap;
	struct uprobe_usdt *next;
};

/* ---- the notes ---- */

static const Elf64_Shdr *section(const struct elf_file *f, const char *want)
{
	const Elf64_Ehdr *eh = (const void *)f->data;
	const Elf64_Shdr *sh, *strs;

	/* the tables are read in place: a file that misaligns them is refused, not misread */
	if (f->size < sizeof(*eh) || !eh->e_shoff || eh->e_shoff % 8 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff > f->size || (f->size - eh->e_shoff) / sizeof(*sh) < eh->e_shnum ||
	    eh->e_shstrndx >= eh->e_shnum)
		return NULL;
	sh = (const void *)(f->data + eh->e_shoff);
	strs = &sh[eh->e_shstrndx];
	if (strs->sh_offset > f->size || strs->sh_size > f->size - strs->sh_offset)
		return NULL;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		size_t room = strs->sh_size - sh[i].sh_name;
		const char *name;

		if (sh[i].sh_name >= strs->sh_size)
			continue;
		name = (const char *)f->data + strs->sh_offset + sh[i].sh_name;
		if (strnlen(name, room) < room && !strcmp(name, want))
			return &sh[i];
	}
	return NULL;
}

/* Any defined symbol (data objects too: sym(%rip) operands name globals), .symtab first. */
static int find_symbol(void *ctx, const char *name, uint64_t *vaddr)
{
	const struct elf_file *f = ctx;
	const char *tabs[] = { ".symtab", ".dynsym" };

	for (unsigned t = 0; t < 2; t++) {
		const Elf64_Ehdr *eh = (const void *)f->data;
		const Elf64_Shdr *sh = section(f, tabs[t]), *str;
		const Elf64_Sym *syms;

		if (!sh || sh->sh_link >= eh->e_shnum || sh->sh_offset % 8 ||
		    sh->sh_offset > f->size || sh->sh_size > f->size - sh->sh_offset)
			continue;
		str = (const Elf64_Shdr *)(f->data + eh->e_shoff) + sh->sh_link;
		if (str->sh_offset > f->size || str->sh_size > f->size - str->sh_offset)
			continue;
		syms = (const void *)(f->data + sh->sh_offset);
		for (size_t i = 0; i < sh->sh_size / sizeof(*syms); i++) {
			size_t room = str->sh_size - syms[i].st_name;
			const char *n;

			if (syms[i].st_shndx == SHN_UNDEF || syms[i].st_name >= str->sh_size ||
			    ELF64_ST_TYPE(syms[i].st_info) == STT_SECTION ||
			    ELF64_ST_TYPE(syms[i].st_info) == STT_FILE)
				continue;
			n = (const char *)f->data + str->sh_offset + syms[i].st_name;
			if (strnlen(n, room) < room && !strcmp(n, name)) {
				*vaddr = syms[i].st_value;
				return 0;
			}
		}
	}
	return -ENOENT;
}

struct note_iter {
	const struct elf_file *f;
	const uint8_t *p, *end;
	uint64_t base; /* .stapsdt.base's address: the notes' second word, before any prelink */
	bool has_base;
};

/*
 * The next stapsdt note: pc, semaphore (link-time, prelink-adjusted) and
 * strings. 1 found, 0 no more, -ENOEXEC a malformed one.
 */
static int note_next(struct note_iter *it, struct usdt_site *s, uint64_t *sem)
{
	while (it->end - it->p >= (ptrdiff_t)sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *nh = (const void *)it->p;
		const uint8_t *name = it->p + sizeof(*nh);
		/* in size_t: a size near 4 GiB must not wrap to a small one */
		size_t nsz = ((size_t)nh->n_namesz + 3) & ~(size_t)3;
		size_t dsz = ((size_t)nh->n_descsz + 3) & ~(size_t)3;
		const uint8_t *desc;
		const char *str, *dend;
		uint64_t addr[3];

		if ((size_t)(it->end - name) < nsz)
			return -ENOEXEC;
		desc = name + nsz;
		if ((size_t)(it->end - desc) < dsz)
			return -ENOEXEC;
		it->p = desc + dsz;
		if (nh->n_type != 3 || nh->n_namesz != 8 || memcmp(name, "stapsdt", 8))
			continue;
		if (nh->n_descsz < 3 * 8 + 3)
			return -ENOEXEC;
		memcpy(addr, desc, sizeof(addr));
		str = (const char *)desc + 24;
		dend = (const char *)desc + nh->n_descsz;
		s->provider = str;
		str += strnlen(str, (size_t)(dend - str)) + 1;
		if (str >= dend)
			return -ENOEXEC;
		s->name = str;
		str += strnlen(str, (size_t)(dend - str)) + 1;
		if (str >= dend)
			return -ENOEXEC;
		s->argstr = str;
		if (strnlen(str, (size_t)(dend - str)) == (size_t)(dend - str))
			return -ENOEXEC;
		/* prelink moved the file: .stapsdt.base says by how much (as libbpf and gdb do) */
		s->pc = addr[0];
		*sem = addr[2];
		if (it->has_base) {
			s->pc += it->base - addr[1];
			if (*sem)
				*sem += it->base - addr[1];
		}
		return 1;
	}
	return 0;
}

static int note_begin(struct uprobe_tracer *t, const struct elf_file *f, struct note_iter *it)
{
	const Elf64_Shdr *notes = section(f, ".note.stapsdt"), *base = section(f, ".stapsdt.base");

	memset(it, 0, sizeof(*it));
	it->f = f;
	if (!notes || notes->sh_type != SHT_NOTE)
		return tracer_err(t, -ENOENT, "%s: no USDT probes (no .note.stapsdt section)",
				  f->path);
	if (notes->sh_offset % 4 || notes->sh_offset > f->size ||
	    notes->sh_size > f->size - notes->sh_offset)
		return tracer_err(t, -ENOEXEC, "%s: .note.stapsdt is out of the file", f->path);
	it->p = f->data + notes->sh_offset;
	it->end = it->p + notes->sh_size;
	if (base) {
		it->has_base = true;
		it->base = base->sh_addr;
	}
	return 0;
}

/* ---- semaphores ---- */

/*
 * Reads, changes and writes back a semaphore (an unsigned short the
 * program reads through its _ENABLED() macro) as uprobe_hit_write() does:
 * process_vm_writev, honouring page protections, else /proc/PID/mem.
 */
static int sem_add(struct proc *p, uint64_t addr, int delta)
{
	uint16_t v;
	int err = mem_read(p, addr, &v, sizeof(v));

	if (err)
		return err;
	if (delta < 0 && !v)
		return 0; /* someone else cleared it: never wrap to 65535 */
	v = (uint16_t)(v + delta);
	return proc_write_data(p, addr, &v, sizeof(v));
}

static bool has_ref(const struct uprobe_usdt *d, pid_t pid, uint64_t addr)
{
	for (unsigned i = 0; i < d->nrefs; i++)
		if (d->refs[i].pid == pid && d->refs[i].addr == addr)
			return true;
	return false;
}

static int add_ref(struct uprobe_usdt *d, pid_t pid, uint64_t addr)
{
	if (d->nrefs == d->refs_cap) {
		unsigned cap = d->refs_cap ? d->refs_cap * 2 : 8;
		struct usdt_ref *n = realloc(d->refs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->refs = n;
		d->refs_cap = cap;
	}
	d->refs[d->nrefs++] = (struct usdt_ref){ pid, addr };
	return 0;
}

/*
 * The address of semaphore sem_off in p's mapping m, if m maps it: the
 * writable mapping of its data segment (the file's page holding it may be
 * mapped a second time read-only, by the segment before).
 */
static bool sem_addr(const struct map_entry *m, uint64_t sem_off, uint64_t *addr)
{
	if (!m->w || sem_off < m->off || sem_off + 2 > m->off + (m->end - m->start))
		return false;
	*addr = m->start + (sem_off - m->off);
	return true;
}

/* Is d's ref i still p's semaphore (the library not closed)? */
static bool ref_mapped(const struct uprobe_usdt *d, struct proc *p, uint64_t addr)
{
	for (int i = 0; i < p->nmaps; i++) {
		const struct map_entry *m = &p->maps[i];
		uint64_t a;

		if (!resolve_map_is_file(m, d->f))
			continue;
		for (unsigned j = 0; j < d->nsems; j++)
			if (sem_addr(m, d->sems[j], &a) && a == addr)
				return true;
	}
	return false;
}

/* d's semaphores in p: each mapped one counted once, those gone forgotten. */
static void sync_one(struct uprobe_usdt *d, struct proc *p)
{
	for (unsigned i = 0; i < d->nrefs;) {
		if (d->refs[i].pid == p->pid && !ref_mapped(d, p, d->refs[i].addr))
			d->refs[i] = d->refs[--d->nrefs];
		else
			i++;
	}
	for (int i = 0; i < p->nmaps; i++) {
		const struct map_entry *m = &p->maps[i];
		uint64_t a;

		if (!resolve_map_is_file(m, d->f))
			continue;
		for (unsigned j = 0; j < d->nsems; j++) {
			int err;

			if (!sem_addr(m, d->sems[j], &a) || has_ref(d, p->pid, a))
				continue;
			err = add_ref(d, p->pid, a);
			if (!err)
				err = sem_add(p, a, 1);
			if (err) {
				if (err != -ENOMEM)
					d->nrefs--;
				pr_warn("pid %d: %s: cannot increment a USDT semaphore at "
					"0x%llx: %s", p->pid, d->f->path, (unsigned long long)a,
					strerror(-err));
			}
		}
	}
}

void usdt_proc_sync(struct uprobe_tracer *t, struct proc *p)
{
	if (!proc_plantable(p))
		return;
	for (struct uprobe_usdt *d = t->usdts; d; d = d->next)
		if (d->nsems)
			sync_one(d, p);
}

/* Decrements d's semaphores in target (p itself, or a fork child with a copy of its memory). */
static void release_refs(struct uprobe_usdt *d, struct proc *p, struct proc *target, bool drop)
{
	for (unsigned i = 0; i < d->nrefs;) {
		if (d->refs[i].pid != p->pid) {
			i++;
			continue;
		}
		if (target)
			sem_add(target, d->refs[i].addr, -1);
		if (drop)
			d->refs[i] = d->refs[--d->nrefs];
		else
			i++;
	}
}

void usdt_proc_detach(struct uprobe_tracer *t, struct proc *p)
{
	for (struct uprobe_usdt *d = t->usdts; d; d = d->next)
		release_refs(d, p, p, true);
}

void usdt_proc_gone(struct uprobe_tracer *t, struct proc *p)
{
	for (struct uprobe_usdt *d = t->usdts; d; d = d->next)
		release_refs(d, p, NULL, true);
}

void usdt_fork_release(struct uprobe_tracer *t, struct proc *parent, struct proc *child)
{
	for (struct uprobe_usdt *d = t->usdts; d; d = d->next)
		release_refs(d, parent, child, false);
}

void usdt_fork_adopt(struct uprobe_tracer *t, struct proc *parent, struct proc *child)
{
	for (struct uprobe_usdt *d = t->usdts; d; d = d->next) {
		unsigned n = d->nrefs;

		for (unsigned i = 0; i < n; i++) {
			if (d->refs[i].pid != parent->pid)
				continue;
			if (add_ref(d, child->pid, d->refs[i].addr))
				pr_warn("pid %d: out of memory: a USDT semaphore stays set",
					child->pid);
		}
	}
}

/* ---- adding and removing ---- */

static void usdt_free(struct uprobe_usdt *d)
{
	free(d->sites);
	free(d->sems);
	free(d->refs);
	free(d);
}

static int add_sem(struct uprobe_usdt *d, uint64_t off)
{
	uint64_t *n;

	for (unsigned i = 0; i < d->nsems; i++)
		if (d->sems[i] == off)
			return 0;
	n = realloc(d->sems, (d->nsems + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->sems = n;
	d->sems[d->nsems++] = off;
	return 0;
}

/* Checks one note's site and adds it to d. 0, or -errno with the message set. */
static int take_site(struct uprobe_tracer *t, struct uprobe_usdt *d, struct usdt_site *s,
		     uint64_t sem, bool nostop)
{
	struct elf_file *f = d->f;
	char why[256];
	struct usdt_site *n;
	uint64_t back;

	if (elf_vaddr_to_off(f, s->pc, &s->off) < 0 || !elf_exec_seg_at_off(f, s->off))
		return tracer_err(t, -ENOEXEC, "%s: USDT %s:%s: its address 0x%llx is in no "
				  "executable segment", f->path, s->provider, s->name,
				  (unsigned long long)s->pc);
	/* sdt.h puts semaphores in .probes, file-backed data: found in the mapping of that data */
	if (sem && (elf_vaddr_to_off(f, sem, &s->sem_off) < 0 ||
		    elf_off_to_vaddr(f, s->sem_off, &back) < 0 || back != sem))
		return tracer_err(t, -ENOEXEC, "%s: USDT %s:%s: its semaphore 0x%llx is not in "
				  "the file's data", f->path, s->provider, s->name,
				  (unsigned long long)sem);
	s->nargs = usdt_parse_args(s->argstr, s->args, find_symbol, f, f->pie, why, sizeof(why));
	if (s->nargs < 0)
		return tracer_err(t, s->nargs, "%s: USDT %s:%s: %s", f->path, s->provider, s->name,
				  why);
	for (int i = 0; nostop && i < s->nargs; i++)
		if (s->args[i].kind == USDT_ARG_MEM)
			return tracer_err(t, -EOPNOTSUPP, "%s: USDT %s:%s: argument %d is in "
					  "memory ('%s'), which a no-stop hit would read too late",
					  f->path, s->provider, s->name, i + 1, s->argstr);
	if (s->sem_off && add_sem(d, s->sem_off))
		return tracer_err(t, -ENOMEM, "out of memory");
	n = realloc(d->sites, (d->nsites + 1) * sizeof(*n));
	if (!n)
		return tracer_err(t, -ENOMEM, "out of memory");
	d->sites = n;
	d->sites[d->nsites++] = *s;
	return 0;
}

/* Every site of the points matching provider:name, checked: nothing is planted yet. */
static int collect(struct uprobe_tracer *t, struct uprobe_usdt *d, const char *provider,
		   const char *name, bool nostop)
{
	struct note_iter it;
	struct usdt_site s;
	uint64_t sem;
	int err, r;

	err = note_begin(t, d->f, &it);
	if (err)
		return err;
	while ((r = note_next(&it, &s, &sem)) > 0) {
		memset(s.args, 0, sizeof(s.args));
		s.u = NULL;
		s.sem_off = 0;
		if (fnmatch(provider, s.provider, 0) || fnmatch(name, s.name, 0))
			continue;
		err = take_site(t, d, &s, sem, nostop);
		if (err)
			return err;
	}
	if (r < 0)
		return tracer_err(t, r, "%s: a malformed .note.stapsdt note", d->f->path);
	if (!d->nsites)
		return tracer_err(t, -ENOENT, "%s: no USDT probe %s:%s", d->f->path, provider,
				  name);
	return 0;
}

static void remove_sites(struct uprobe_usdt *d)
{
	for (unsigned i = 0; i < d->nsites; i++) {
		if (d->sites[i].u) {
			d->sites[i].u->usdt = NULL;
			uprobe_remove(d->sites[i].u);
			d->sites[i].u = NULL;
		}
	}
}

UPROBE_API struct uprobe_usdt *uprobe_add_usdt(struct uprobe_tracer *t, const char *binary,
					       const char *provider, const char *name,
					       const struct uprobe_opts *opts)
{
	struct uprobe_opts o = { .sz = sizeof(o) };
	struct uprobe_usdt *d = NULL;
	int err;

	if (!t || !binary || !provider || !name) {
		errno = EINVAL;
		return NULL;
	}
	if (!OPTS_VALID(opts, uprobe_opts)) {
		err = tracer_err(t, -EINVAL, "uprobe_opts: unknown fields set");
		goto fail;
	}
	if (OPTS_GET(opts, ret_handler, NULL) || OPTS_GET(opts, data_size, 0) ||
	    OPTS_GET(opts, maxactive, 0) || OPTS_GET(opts, pending, false)) {
		err = tracer_err(t, -EINVAL, "uprobe_opts: a USDT probe takes no return handler, "
				 "data_size, maxactive or pending");
		goto fail;
	}
	o.handler = OPTS_GET(opts, handler, NULL);
	o.data = OPTS_GET(opts, data, NULL);
	o.post_handler = OPTS_GET(opts, post_handler, NULL);
	o.fault_handler = OPTS_GET(opts, fault_handler, NULL);
	o.nostop = OPTS_GET(opts, nostop, false);
	o.record = OPTS_GET(opts, record, 0);
	if (o.record & UPROBE_RECORD_ARGS_ONLY) {
		/* the argument registers only: a USDT argument may live in any register */
		err = tracer_err(t, -EINVAL, "uprobe_opts: a USDT probe cannot record the "
				 "arguments only (UPROBE_RECORD_ARGS_ONLY): its arguments may be "
				 "in any register");
		goto fail;
	}
	o.force = OPTS_GET(opts, force, false);
	d = calloc(1, sizeof(*d));
	if (!d) {
		err = tracer_err(t, -ENOMEM, "out of memory");
		goto fail;
	}
	d->t = t;
	err = resolve_open_binary(t, binary, &d->f);
	if (err)
		goto fail;
	err = collect(t, d, provider, name, o.nostop);
	if (err)
		goto fail;
	for (unsigned i = 0; i < d->nsites; i++) {
		struct usdt_site *s = &d->sites[i];

		/* no return handler: nothing for uprobe_add() to watch after it */
		s->u = probe_add(t, d->f->path, NULL, s->off, &o);
		if (!s->u) {
			err = -errno;
			goto fail;
		}
		s->u->usdt = s;
	}
	d->next = t->usdts;
	t->usdts = d;
	for (struct proc *p = t->procs; p; p = p->next)
		usdt_proc_sync(t, p);
	return d;
fail:
	if (d) {
		remove_sites(d);
		usdt_free(d);
	}
	errno = -err;
	return NULL;
}

UPROBE_API int uprobe_usdt_remove(struct uprobe_usdt *d)
{
	struct uprobe_usdt **pp;

	if (!d) {
		errno = EINVAL;
		return -EINVAL;
	}
	for (pp = &d->t->usdts; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	/* its hits recorded so far come first, with the semaphores still set */
	ring_drain_all(d->t);
	for (unsigned i = 0; i < d->nrefs; i++) {
		struct proc *p = proc_find(d->t, d->refs[i].pid);

		if (p)
			sem_add(p, d->refs[i].addr, -1);
	}
	remove_sites(d);
	usdt_free(d);
	return 0;
}

void usdt_free_all(struct uprobe_tracer *t)
{
	while (t->usdts)
		uprobe_usdt_remove(t->usdts);
}

UPROBE_API unsigned uprobe_usdt_nsites(const struct uprobe_usdt *d)
{
	return d ? d->nsites : 0;
}

UPROBE_API struct uprobe *uprobe_usdt_site(const struct uprobe_usdt *d, unsigned i)
{
	if (!d || i >= d->nsites) {
		errno = EINVAL;
		return NULL;
	}
	return d->sites[i].u;
}

UPROBE_API uint64_t uprobe_usdt_hits(const struct uprobe_usdt *d)
{
	uint64_t n = 0;

	for (unsigned i = 0; d && i < d->nsites; i++)
		n += uprobe_hits(d->sites[i].u);
	return n;
}

UPROBE_API unsigned uprobe_usdt_semaphores(const struct uprobe_usdt *d)
{
	return d ? d->nsems : 0;
}
