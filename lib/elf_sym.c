// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Addresses in an ELF file: its PT_LOAD segments (vaddr <-> file offset),
 * and its function symbols, .symtab and .dynsym with versions and IFUNCs
 * merged into one index, looked up by name, by address, by pattern.
 */
#include <fnmatch.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "elf_internal.h"

/* versym: bit 15 marks a non-default ("@") version; indices 0 and 1 mean unversioned. */
#define VERSYM_HIDDEN 0x8000
#define VERSYM_INDEX 0x7fff

/* A symbol while tables are merged, before it gets its place in syms. */
struct raw_sym {
	struct elf_sym s;
	uint8_t rank;
};

static int nullable_strcmp(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/*
 * A string from a string table section, pointing into the mapped file so it
 * lives as long as the elf_file. NULL unless it is NUL-terminated inside the
 * section (a corrupt file must not send us reading past the table).
 */
static const char *str_at(const struct elf_file *f, const GElf_Shdr *strtab, uint64_t idx)
{
	const char *base;

	if (strtab->sh_type != SHT_STRTAB || strtab->sh_offset > f->size ||
	    strtab->sh_size > f->size - strtab->sh_offset || idx >= strtab->sh_size)
		return NULL;
	base = (const char *)f->data + strtab->sh_offset;
	if (!memchr(base + idx, '\0', strtab->sh_size - idx))
		return NULL;
	return base + idx;
}

static const struct elf_seg *seg_of_vaddr(const struct elf_file *f, uint64_t vaddr)
{
	for (size_t i = 0; i < f->nsegs; i++) {
		const struct elf_seg *s = &f->segs[i];

		if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz)
			return s;
	}
	return NULL;
}

int elf_vaddr_to_off(const struct elf_file *f, uint64_t vaddr, uint64_t *off)
{
	const struct elf_seg *s = seg_of_vaddr(f, vaddr);

	if (!s)
		return -EINVAL;
	*off = vaddr - s->vaddr + s->off;
	return 0;
}

int elf_off_to_vaddr(const struct elf_file *f, uint64_t off, uint64_t *vaddr)
{
	for (size_t i = 0; i < f->nsegs; i++) {
		const struct elf_seg *s = &f->segs[i];

		if (off >= s->off && off - s->off < s->filesz) {
			*vaddr = off - s->off + s->vaddr;
			return 0;
		}
	}
	return -EINVAL;
}

const struct elf_seg *elf_exec_seg_at_off(const struct elf_file *f, uint64_t off)
{
	for (size_t i = 0; i < f->nsegs; i++) {
		const struct elf_seg *s = &f->segs[i];

		if ((s->flags & PF_X) && off >= s->off && off - s->off < s->filesz)
			return s;
	}
	return NULL;
}

static int push_sym(struct sym_vec *vec, const struct raw_sym *r)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 256;
		struct raw_sym *v = realloc(vec->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		vec->v = v;
		vec->cap = cap;
	}
	vec->v[vec->n++] = *r;
	return 0;
}

static int own_name(struct elf_priv *p, char *name)
{
	char **v = realloc(p->owned, (p->nowned + 1) * sizeof(*v));

	if (!v) {
		free(name);
		return -ENOMEM;
	}
	p->owned = v;
	p->owned[p->nowned++] = name;
	return 0;
}

static uint8_t bind_rank(unsigned char bind)
{
	switch (bind) {
	case STB_GLOBAL:
	case STB_GNU_UNIQUE:
		return 0;
	case STB_WEAK:
		return 1;
	default:
		return 2;
	}
}

/*
 * Version names of a .gnu.version_d section, indexed by vd_ndx. Only
 * definitions matter: undefined symbols (whose versions are in
 * .gnu.version_r) are never probe targets.
 */
int elf_read_verdefs(struct elf_file *f, Elf *elf, Elf_Scn *scn, const char ***out, size_t *nout)
{
	GElf_Shdr shdr, strshdr;
	Elf_Data *data = elf_getdata(scn, NULL);
	Elf_Scn *strscn;
	const char **names = NULL;
	size_t n = 0, off = 0;

	if (!data || !gelf_getshdr(scn, &shdr))
		return 0;
	strscn = elf_getscn(elf, shdr.sh_link);
	if (!strscn || !gelf_getshdr(strscn, &strshdr))
		return 0;
	/* sh_info is the number of entries; it also bounds a corrupt vd_next chain. */
	for (size_t i = 0; i < shdr.sh_info; i++) {
		GElf_Verdef vd;
		GElf_Verdaux va;
		const char *name;

		if (!gelf_getverdef(data, off, &vd) || !vd.vd_cnt ||
		    !gelf_getverdaux(data, off + vd.vd_aux, &va))
			break;
		name = str_at(f, &strshdr, va.vda_name);
		if (name && vd.vd_ndx < VERSYM_INDEX) {
			if (vd.vd_ndx >= n) {
				const char **v = realloc(names, (vd.vd_ndx + 1) * sizeof(*v));

				if (!v) {
					free(names);
					return -ENOMEM;
				}
				memset(v + n, 0, (vd.vd_ndx + 1 - n) * sizeof(*v));
				names = v;
				n = vd.vd_ndx + 1;
			}
			names[vd.vd_ndx] = name;
		}
		if (!vd.vd_next)
			break;
		off += vd.vd_next;
	}
	*out = names;
	*nout = n;
	return 0;
}

/*
 * Adds the function symbols of one symbol table. For .dynsym the version
 * comes from .gnu.version; in .symtab GNU ld may have written it into the
 * name ("foo@VER_1", "foo@@VER_2"), which we split so both tables agree.
 */
int elf_read_symtab(struct elf_priv *p, Elf *elf, Elf_Scn *scn, Elf_Data *versym,
		const char **verdefs, size_t nverdefs, struct sym_vec *vec)
{
	struct elf_file *f = &p->f;
	GElf_Shdr shdr, strshdr;
	Elf_Data *data = elf_getdata(scn, NULL);
	Elf_Scn *strscn;
	bool dynamic;
	size_t n;
	int err;

	if (!data || !data->d_buf || !gelf_getshdr(scn, &shdr) || !shdr.sh_entsize)
		return 0;
	dynamic = shdr.sh_type == SHT_DYNSYM;
	strscn = elf_getscn(elf, shdr.sh_link);
	if (!strscn || !gelf_getshdr(strscn, &strshdr))
		return 0;
	n = shdr.sh_size / shdr.sh_entsize;
	for (size_t i = 1; i < n; i++) {
		struct raw_sym r = {};
		GElf_Sym sym;
		unsigned char type;
		const char *name, *at;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
		    !sym.st_value)
			continue;
		name = str_at(f, &strshdr, sym.st_name);
		if (!name || !*name)
			continue;
		/* Only bytes in the file can be decoded or probed. */
		if (elf_vaddr_to_off(f, sym.st_value, &r.s.off))
			continue;
		r.s.name = name;
		r.s.default_version = true;
		r.s.ifunc = type == STT_GNU_IFUNC;
		r.s.vaddr = sym.st_value;
		r.s.size = sym.st_size;
		r.rank = bind_rank(GELF_ST_BIND(sym.st_info));

		at = strchr(name, '@');
		if (at) {
			char *plain = strndup(name, at - name);

			if (!plain)
				return -ENOMEM;
			err = own_name(p, plain);
			if (err)
				return err;
			r.s.name = plain;
			r.s.default_version = at[1] == '@';
			r.s.version = at + (r.s.default_version ? 2 : 1);
			if (!*r.s.version)
				r.s.version = NULL;
		} else if (dynamic && versym) {
			GElf_Versym vs;

			if (gelf_getversym(versym, (int)i, &vs)) {
				unsigned idx = vs & VERSYM_INDEX;

				/* 0 local, 1 global: both unversioned, hence default. */
				/* an empty name is no version, as "foo@" is none in .symtab */
				if (idx > 1 && idx < nverdefs && verdefs[idx] && *verdefs[idx]) {
					r.s.version = verdefs[idx];
					r.s.default_version = !(vs & VERSYM_HIDDEN);
				}
			}
		}
		err = push_sym(vec, &r);
		if (err)
			return err;
	}
	return 0;
}

/* Groups the copies of one symbol from both tables: name, then address, then version. */
static int cmp_merge(const void *pa, const void *pb)
{
	const struct raw_sym *a = pa, *b = pb;
	int c = strcmp(a->s.name, b->s.name);

	if (c)
		return c;
	if (a->s.vaddr != b->s.vaddr)
		return a->s.vaddr < b->s.vaddr ? -1 : 1;
	c = nullable_strcmp(a->s.version, b->s.version);
	if (c)
		return c;
	if (a->s.default_version != b->s.default_version)
		return a->s.default_version ? -1 : 1;
	return (int)a->rank - (int)b->rank;
}

/*
 * Address order; among symbols at one address the smallest first, and the
 * name a user would pick (default version, global) before its aliases, so
 * elf_sym_containing() and elf_for_each_match() can take the first fit.
 */
static int cmp_addr(const void *pa, const void *pb)
{
	const struct raw_sym *a = pa, *b = pb;

	if (a->s.vaddr != b->s.vaddr)
		return a->s.vaddr < b->s.vaddr ? -1 : 1;
	if (a->s.size != b->s.size)
		return a->s.size < b->s.size ? -1 : 1;
	if (a->s.default_version != b->s.default_version)
		return a->s.default_version ? -1 : 1;
	if (a->rank != b->rank)
		return (int)a->rank - (int)b->rank;
	return strcmp(a->s.name, b->s.name);
}

/* Name order; within a name, the entry an unversioned lookup should return first. */
static int cmp_name(const void *pa, const void *pb, void *ctx)
{
	const struct elf_priv *p = ctx;
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	const struct elf_sym *a = &p->f.syms[ia], *b = &p->f.syms[ib];
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	if (a->default_version != b->default_version)
		return a->default_version ? -1 : 1;
	if (p->rank[ia] != p->rank[ib])
		return (int)p->rank[ia] - (int)p->rank[ib];
	if (a->vaddr != b->vaddr)
		return a->vaddr < b->vaddr ? -1 : 1;
	return nullable_strcmp(a->version, b->version);
}

/*
 * Merges both tables' symbols: exact copies (same name, version, address)
 * collapse into one, and an unversioned copy gives way to a versioned one
 * at the same address (.symtab says "bar", .dynsym says "bar@@VER_1").
 */
int elf_build_index(struct elf_priv *p, struct sym_vec *vec)
{
	struct elf_file *f = &p->f;
	size_t n = 0;

	if (!vec->n)
		return 0;
	qsort(vec->v, vec->n, sizeof(*vec->v), cmp_merge);
	for (size_t i = 0; i < vec->n;) {
		size_t j = i, end;
		bool versioned = false;

		while (j < vec->n && !strcmp(vec->v[j].s.name, vec->v[i].s.name) &&
		       vec->v[j].s.vaddr == vec->v[i].s.vaddr) {
			versioned |= vec->v[j].s.version != NULL;
			j++;
		}
		end = j;
		for (j = i; j < end; j++) {
			struct raw_sym *r = &vec->v[j];
			struct raw_sym *prev = n ? &vec->v[n - 1] : NULL;

			if (versioned && !r->s.version)
				continue;
			/* Sorted so the default-version, best-bound copy came first. */
			if (j > i && prev && !strcmp(prev->s.name, r->s.name) &&
			    prev->s.vaddr == r->s.vaddr &&
			    !nullable_strcmp(prev->s.version, r->s.version)) {
				if (!prev->s.size)
					prev->s.size = r->s.size;
				continue;
			}
			vec->v[n++] = *r;
		}
		i = end;
	}
	qsort(vec->v, n, sizeof(*vec->v), cmp_addr);

	f->syms = calloc(n, sizeof(*f->syms));
	p->rank = calloc(n, sizeof(*p->rank));
	p->max_end = calloc(n, sizeof(*p->max_end));
	p->by_name = calloc(n, sizeof(*p->by_name));
	if (!f->syms || !p->rank || !p->max_end || !p->by_name)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t end = vec->v[i].s.vaddr + vec->v[i].s.size;

		/* a corrupt st_size must not wrap: the walk back would stop short of it */
		if (end < vec->v[i].s.vaddr)
			end = UINT64_MAX;

		f->syms[i] = vec->v[i].s;
		p->rank[i] = vec->v[i].rank;
		p->max_end[i] = i && p->max_end[i - 1] > end ? p->max_end[i - 1] : end;
		p->by_name[i] = (uint32_t)i;
	}
	f->nsyms = n;
	qsort_r(p->by_name, n, sizeof(*p->by_name), cmp_name, p);
	return 0;
}

/* strcmp of a symbol name against the first len bytes of a lookup key. */
static int cmp_plain(const char *sym, const char *key, size_t len)
{
	int c = strncmp(sym, key, len);

	if (c)
		return c;
	return sym[len] ? 1 : 0;
}

/* First index in by_name whose name equals key[0..len), or nsyms. */
static size_t name_lower_bound(const struct elf_priv *p, const char *key, size_t len)
{
	size_t lo = 0, hi = p->f.nsyms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_plain(p->f.syms[p->by_name[mid]].name, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The link-time address of a defined dynamic symbol of any type (a data
 * object such as ld.so's _r_debug, which the function index leaves out),
 * read straight from .dynsym with every offset checked against the file.
 */
int elf_dynsym_vaddr(const struct elf_file *f, const char *name, uint64_t *vaddr)
{
	const Elf64_Ehdr *eh = (const void *)f->data;
	size_t want = strlen(name);

	if (f->size < sizeof(*eh) || eh->e_shentsize != sizeof(Elf64_Shdr) || !eh->e_shoff ||
	    eh->e_shoff > f->size || eh->e_shnum > (f->size - eh->e_shoff) / sizeof(Elf64_Shdr))
		return -ENOENT;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		Elf64_Shdr sh, str;

		memcpy(&sh, f->data + eh->e_shoff + (uint64_t)i * sizeof(sh), sizeof(sh));
		if (sh.sh_type != SHT_DYNSYM || sh.sh_entsize != sizeof(Elf64_Sym) ||
		    sh.sh_link >= eh->e_shnum || sh.sh_offset > f->size ||
		    sh.sh_size > f->size - sh.sh_offset)
			continue;
		memcpy(&str, f->data + eh->e_shoff + (uint64_t)sh.sh_link * sizeof(str), sizeof(str));
		if (str.sh_offset > f->size || str.sh_size > f->size - str.sh_offset)
			continue;
		for (uint64_t j = 1; j < sh.sh_size / sizeof(Elf64_Sym); j++) {
			Elf64_Sym sym;

			memcpy(&sym, f->data + sh.sh_offset + j * sizeof(sym), sizeof(sym));
			if (sym.st_shndx == SHN_UNDEF || sym.st_name >= str.sh_size ||
			    str.sh_size - sym.st_name <= want)
				continue;
			if (!memcmp(f->data + str.sh_offset + sym.st_name, name, want + 1)) {
				*vaddr = sym.st_value;
				return 0;
			}
		}
	}
	return -ENOENT;
}

const struct elf_sym *elf_find_sym(const struct elf_file *f, const char *name)
{
	const struct elf_priv *p = container_of(f, struct elf_priv, f);
	const char *at = strchr(name, '@');
	const char *ver = NULL;
	bool want_default = false;
	size_t len = at ? (size_t)(at - name) : strlen(name);
	const struct elf_sym *first;
	size_t i;

	if (at) {
		want_default = at[1] == '@';
		ver = at + (want_default ? 2 : 1);
		if (!*ver)
			return NULL;
	}
	i = name_lower_bound(p, name, len);
	if (i >= f->nsyms || cmp_plain(f->syms[p->by_name[i]].name, name, len))
		return NULL;
	first = &f->syms[p->by_name[i]];

	if (ver) {
		for (; i < f->nsyms; i++) {
			const struct elf_sym *s = &f->syms[p->by_name[i]];

			if (cmp_plain(s->name, name, len))
				break;
			if (s->version && !strcmp(s->version, ver) &&
			    (!want_default || s->default_version))
				return s;
		}
		return NULL;
	}

	/* by_name puts the default version, then the best binding, first. */
	if (first->default_version)
		return first;
	/*
	 * Only non-default versions (a compat symbol with no current one): take
	 * it when there is no choice to make, refuse to guess between addresses.
	 */
	for (i++; i < f->nsyms; i++) {
		const struct elf_sym *s = &f->syms[p->by_name[i]];

		if (cmp_plain(s->name, name, len))
			break;
		if (s->vaddr != first->vaddr)
			return NULL;
	}
	return first;
}

const struct elf_sym *elf_sym_containing(const struct elf_file *f, uint64_t vaddr)
{
	const struct elf_priv *p = container_of(f, struct elf_priv, f);
	const struct elf_sym *best = NULL;
	size_t lo = 0, hi = f->nsyms;

	/* hi = number of symbols starting at or below vaddr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].vaddr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/*
	 * Walk back while some earlier symbol could still reach vaddr: max_end
	 * is a prefix maximum, so the walk stops at the first gap in coverage
	 * instead of at the start of the table.
	 */
	for (size_t i = hi; i-- > 0 && p->max_end[i] > vaddr;) {
		const struct elf_sym *s = &f->syms[i];

		if (vaddr - s->vaddr < s->size && (!best || s->size <= best->size))
			best = s;
	}
	return best;
}

int elf_for_each_match(const struct elf_file *f, const char *pattern,
		       int (*cb)(const struct elf_sym *sym, void *ctx), void *ctx)
{
	int count = 0;

	/* syms is in address order with the preferred name first at each address. */
	for (size_t i = 0; i < f->nsyms;) {
		const struct elf_sym *pick = NULL;
		size_t j;

		for (j = i; j < f->nsyms && f->syms[j].vaddr == f->syms[i].vaddr; j++) {
			const struct elf_sym *s = &f->syms[j];

			if (fnmatch(pattern, s->name, 0))
				continue;
			if (!pick || (s->default_version && !pick->default_version))
				pick = s;
		}
		i = j;
		if (!pick)
			continue;
		if (cb) {
			int ret = cb(pick, ctx);

			if (ret < 0)
				return ret;
		}
		count++;
	}
	return count;
}
