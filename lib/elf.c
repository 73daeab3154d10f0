// SPDX-License-Identifier: LGPL-2.1-or-later
/* ELF files: segments, function symbols with versions and IFUNCs, vaddr <-> file offset. */
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "elf_internal.h"

#ifndef NT_GO_BUILD_ID
#define NT_GO_BUILD_ID 4
#endif

/* versym: bit 15 marks a non-default ("@") version; indices 0 and 1 mean unversioned. */
#define VERSYM_HIDDEN 0x8000
#define VERSYM_INDEX 0x7fff

/* A symbol while tables are merged, before it gets its place in syms. */
struct raw_sym {
	struct elf_sym s;
	uint8_t rank;
};

struct sym_vec {
	struct raw_sym *v;
	size_t n, cap;
};

/*
 * Several tracers may live in different threads (ptrace binds a tracee to
 * one thread), and they share this cache. lazy_lock guards what is made
 * on first need (the landing pads).
 */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;
static struct elf_file *cache;
static uint64_t serials; /* elf_file.serial: the last one handed out */

static void set_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

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
static int read_verdefs(struct elf_file *f, Elf *elf, Elf_Scn *scn, const char ***out, size_t *nout)
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
static int read_symtab(struct elf_priv *p, Elf *elf, Elf_Scn *scn, Elf_Data *versym,
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
static int build_index(struct elf_priv *p, struct sym_vec *vec)
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

static bool has_go_note(Elf_Scn *scn)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t off = 0, name_off, desc_off, next;
	GElf_Nhdr nh;

	if (!data)
		return false;
	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GO_BUILD_ID && nh.n_namesz == 3 &&
		    !memcmp((const char *)data->d_buf + name_off, "Go", 3))
			return true;
		off = next;
	}
	return false;
}

/* The GNU build id, kept to find and check a separate debug file (gdb's way). */
static void read_build_id(struct elf_priv *p, Elf_Scn *scn)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t off = 0, name_off, desc_off, next;
	GElf_Nhdr nh;

	if (!data || !data->d_buf)
		return;
	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp((const char *)data->d_buf + name_off, "GNU", 4) && nh.n_descsz &&
		    nh.n_descsz <= sizeof(p->build_id)) {
			memcpy(p->build_id, (const char *)data->d_buf + desc_off, nh.n_descsz);
			p->build_id_len = nh.n_descsz;
			return;
		}
		off = next;
	}
}

/* .gnu_debuglink: a file name, NUL, padding to 4 bytes, then the file's CRC-32. */
/*
 * DT_SONAME from the dynamic section scn: the name a library's users link
 * it by, which its file name need not be ("libfoo.so.1" for libfoo-impl.so).
 * 0, or -ENOMEM.
 */
static int read_soname(struct elf_file *f, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n = d && d->d_buf && sh->sh_entsize ? d->d_size / sh->sh_entsize : 0;

	for (size_t i = 0; i < n && !f->soname; i++) {
		GElf_Dyn dyn;
		const char *name;

		if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != DT_SONAME)
			continue;
		name = elf_strptr(elf, sh->sh_link, dyn.d_un.d_val);
		if (name && *name && !(f->soname = strdup(name)))
			return -ENOMEM;
	}
	return 0;
}

static int read_debuglink(struct elf_priv *p, Elf_Scn *scn)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	const char *name;
	size_t len, crc_off;

	if (!data || !data->d_buf)
		return 0;
	name = data->d_buf;
	len = strnlen(name, data->d_size);
	crc_off = (len + 4) & ~(size_t)3;
	/* a name with a '/' would leave the directories gdb searches */
	if (!len || len == data->d_size || crc_off + 4 > data->d_size || strchr(name, '/'))
		return 0;
	free(p->debuglink);
	p->debuglink = strndup(name, len);
	if (!p->debuglink)
		return -ENOMEM;
	memcpy(&p->debuglink_crc, (const char *)data->d_buf + crc_off, 4);
	return 0;
}

/*
 * segs_from: a separate debug file's, whose own program headers describe
 * a file that no longer holds the bytes: its symbols get the file offsets
 * of the file it describes.
 */
static int parse(struct elf_priv *p, int fd, const struct elf_file *segs_from, char *why,
		 size_t whylen)
{
	struct elf_file *f = &p->f;
	struct sym_vec vec = {};
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	Elf_Data *versym = NULL;
	const char **verdefs = NULL;
	size_t nverdefs = 0, phnum, shstrndx, nscn = 0;
	GElf_Ehdr ehdr;
	Elf *elf;
	int err = -ENOEXEC;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64 ||
	    !gelf_getehdr(elf, &ehdr) || ehdr.e_machine != EM_X86_64 ||
	    ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
		set_why(why, whylen, "'%s': not an x86-64 ELF file", f->path);
		goto out;
	}
	if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
		set_why(why, whylen, "'%s': not an executable or shared object", f->path);
		goto out;
	}
	f->pie = ehdr.e_type == ET_DYN;
	f->entry = ehdr.e_entry;

	if (elf_getphdrnum(elf, &phnum)) {
		set_why(why, whylen, "'%s': bad program headers", f->path);
		goto out;
	}
	if (segs_from)
		phnum = segs_from->nsegs;
	f->segs = calloc(phnum ? phnum : 1, sizeof(*f->segs));
	if (!f->segs) {
		err = -ENOMEM;
		goto out;
	}
	if (segs_from) {
		memcpy(f->segs, segs_from->segs, phnum * sizeof(*f->segs));
		f->nsegs = phnum;
		phnum = 0;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		/*
		 * Only the part the file holds (a corrupt or cut file's segment
		 * may reach past its end): every offset made from segments, a
		 * symbol's or a landing pad's, then lies inside f->data.
		 */
		if (ph.p_offset > f->size)
			ph.p_filesz = 0;
		else if (ph.p_filesz > f->size - ph.p_offset)
			ph.p_filesz = f->size - ph.p_offset;
		f->segs[f->nsegs++] = (struct elf_seg){
			.vaddr = ph.p_vaddr, .memsz = ph.p_memsz,
			.off = ph.p_offset, .filesz = ph.p_filesz, .flags = ph.p_flags,
		};
	}

	/* A file without section headers (sstrip) still has segments: no symbols then. */
	if (elf_getshdrstrndx(elf, &shstrndx))
		shstrndx = SHN_UNDEF;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = shstrndx != SHN_UNDEF ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (name && (!strcmp(name, ".go.buildinfo") || !strcmp(name, ".gopclntab")))
			f->is_go = true;
		if (name && !strcmp(name, ".gcc_except_table")) {
			f->has_lsda = true;
			if (sh.sh_type == SHT_PROGBITS)
				p->except = (struct span){ sh.sh_offset, sh.sh_addr, sh.sh_size };
		}
		if (name && !strcmp(name, ".eh_frame") &&
		    (sh.sh_type == SHT_PROGBITS || sh.sh_type == SHT_X86_64_UNWIND))
			p->eh_frame = (struct span){ sh.sh_offset, sh.sh_addr, sh.sh_size };
		if (name && !strcmp(name, ".gnu_debugdata") && sh.sh_type == SHT_PROGBITS)
			p->debugdata = (struct span){ sh.sh_offset, sh.sh_addr, sh.sh_size };
		if (name && !strcmp(name, ".gnu_debuglink") && sh.sh_type == SHT_PROGBITS) {
			err = read_debuglink(p, scn);
			if (err)
				goto out;
		}
		nscn++;
		switch (sh.sh_type) {
		case SHT_SYMTAB:
			symtab = scn;
			f->has_symtab = true;
			break;
		case SHT_DYNSYM:
			dynsym = scn;
			break;
		case SHT_DYNAMIC:
			err = f->soname ? 0 : read_soname(f, elf, scn, &sh);
			if (err)
				goto out;
			break;
		case SHT_GNU_versym:
			versym = elf_getdata(scn, NULL);
			break;
		case SHT_GNU_verdef:
			err = read_verdefs(f, elf, scn, &verdefs, &nverdefs);
			if (err)
				goto out;
			break;
		case SHT_NOTE:
			if (!f->is_go && has_go_note(scn))
				f->is_go = true;
			if (!p->build_id_len)
				read_build_id(p, scn);
			break;
		}
	}
	/* no symbols either, so no detours: only say that landing pads are unknown */
	if (!nscn) {
		p->no_shdrs = true;
		f->has_lsda = true;
	}
	if (symtab) {
		err = read_symtab(p, elf, symtab, NULL, NULL, 0, &vec);
		if (err)
			goto out;
	}
	if (dynsym) {
		err = read_symtab(p, elf, dynsym, versym, verdefs, nverdefs, &vec);
		if (err)
			goto out;
	}
	err = build_index(p, &vec);
out:
	free(vec.v);
	free(verdefs);
	if (elf)
		elf_end(elf);
	if (err == -ENOMEM)
		set_why(why, whylen, "'%s': out of memory", f->path);
	return err;
}

void elf_free(struct elf_file *f)
{
	struct elf_priv *p;

	if (!f)
		return;
	p = container_of(f, struct elf_priv, f);
	if (f->data)
		munmap((void *)f->data, f->size);
	for (size_t i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	free(p->owned);
	free(p->debuglink);
	free(f->soname);
	elf_free(p->debug);
	free(p->rank);
	free(p->max_end);
	free(p->by_name);
	free(f->syms);
	free(f->pads);
	free(f->segs);
	free(f->path);
	free(p);
}

/*
 * Maps and parses the regular file open on fd (path names it in messages)
 * into *out. 0 or -errno with why set.
 */
int load(const char *path, int fd, const struct stat *st, const struct elf_file *segs_from,
	 struct elf_priv **out, char *why, size_t whylen)
{
	struct elf_priv *p;
	struct elf_file *f;
	void *data;
	int err;

	if (st->st_size < (off_t)sizeof(Elf64_Ehdr)) {
		set_why(why, whylen, "'%s': not an x86-64 ELF file", path);
		return -ENOEXEC;
	}
	/* the canonical path: the same file named twice is one cache entry, one name */
	p = calloc(1, sizeof(*p));
	if (p)
		p->f.path = realpath(path, NULL);
	/*
	 * Unless that names another file: realpath() reads /proc/PID/root
	 * and /proc/PID/exe as text, and for a process in another mount
	 * namespace that text is a path of its namespace, not ours.
	 */
	if (p && p->f.path) {
		struct stat rst;

		if (stat(p->f.path, &rst) < 0 || rst.st_dev != st->st_dev ||
		    rst.st_ino != st->st_ino) {
			free(p->f.path);
			p->f.path = NULL;
		}
	}
	if (p && !p->f.path)
		p->f.path = strdup(path);
	if (!p || !p->f.path) {
		err = -ENOMEM;
		set_why(why, whylen, "'%s': out of memory", path);
		goto out;
	}
	f = &p->f;
	f->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	/*
	 * The core decodes instructions from the file, never from the tracee:
	 * keep it all, and as the file holds it. A kernel uprobe writes its
	 * int3 into every private mapping of the file that may be executable
	 * (VM_MAYEXEC, which any mapping of a file on an exec mount has,
	 * PROT_READ or not): a MAP_PRIVATE view of ours would show it, or the
	 * 6.18 call over a nop5. A shared mapping is never written
	 * (uprobes skip VM_MAYSHARE, and patch copy-on-write mappings only),
	 * and costs what a private one did: page cache, read-only, nothing
	 * copied into the tracer.
	 */
	data = mmap(NULL, st->st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (data == MAP_FAILED) {
		err = -errno;
		set_why(why, whylen, "'%s': mmap: %s", path, strerror(-err));
		goto out;
	}
	f->data = data;
	f->size = st->st_size;
	err = parse(p, fd, segs_from, why, whylen);
out:
	if (err) {
		if (p)
			elf_free(&p->f);
		p = NULL;
	}
	*out = p;
	return err;
}

int elf_open(const char *path, struct elf_file **out, char *why, size_t whylen)
{
	struct elf_priv *p = NULL;
	struct elf_file *f;
	struct stat st;
	int fd = -1, err;

	pthread_mutex_lock(&cache_lock);
	/* a file already parsed costs one stat: adding many probes opens nothing */
	if (stat(path, &st) == 0) {
		for (f = cache; f; f = f->next) {
			if (f->dev == st.st_dev && f->ino == st.st_ino) {
				*out = f;
				err = 0;
				goto out;
			}
		}
		/* a FIFO would block the open until a writer came, a device may act on it */
		if (!S_ISREG(st.st_mode))
			goto not_regular;
	}
	/* O_NONBLOCK: should it have become a FIFO meanwhile, the open still returns */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		set_why(why, whylen, "'%s': %s", path, strerror(-err));
		goto out;
	}
	for (f = cache; f; f = f->next) {
		if (f->dev == st.st_dev && f->ino == st.st_ino) {
			*out = f;
			err = 0;
			goto out;
		}
	}
	if (!S_ISREG(st.st_mode)) {
not_regular:
		err = -ENOEXEC;
		set_why(why, whylen, "'%s': not a regular file", path);
		goto out;
	}
	err = load(path, fd, &st, NULL, &p, why, whylen);
	if (err)
		goto out;
	f = &p->f;
	f->next = cache;
	cache = f;
	*out = f;
out:
	pthread_mutex_unlock(&cache_lock);
	if (fd >= 0)
		close(fd);
	return err;
}

int elf_open_mem(const char *name, const void *buf, size_t len, struct elf_file **out)
{
	struct elf_priv *p = NULL;
	struct stat st;
	int fd, err;

	/* libelf and the mapping want a file: an anonymous one holds the copy */
	fd = memfd_create("libuprobe-image", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len || fstat(fd, &st)) {
		err = errno ? -errno : -EIO;
		goto out;
	}
	err = load(name, fd, &st, NULL, &p, NULL, 0);
	if (!err)
		*out = &p->f;
out:
	close(fd);
	return err;
}

void elf_close(struct elf_file *f)
{
	elf_free(f);
}

struct elf_file *elf_cached(dev_t dev, ino_t ino)
{
	struct elf_file *f;

	pthread_mutex_lock(&cache_lock);
	for (f = cache; f; f = f->next)
		if (f->dev == dev && f->ino == ino)
			break;
	pthread_mutex_unlock(&cache_lock);
	return f;
}

void elf_cache_clear(void)
{
	struct elf_file *f, *next;

	pthread_mutex_lock(&cache_lock);
	for (f = cache; f; f = next) {
		next = f->next;
		elf_free(f);
	}
	cache = NULL;
	pthread_mutex_unlock(&cache_lock);
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
