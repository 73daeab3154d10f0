// SPDX-License-Identifier: LGPL-2.1-or-later
/* ELF files: opened, mapped, parsed (segments, sections, notes) and cached. */
#include <fcntl.h>
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

/*
 * Several tracers may live in different threads (ptrace binds a tracee to
 * one thread), and they share this cache. elf_lazy_lock guards what is made
 * on first need (the landing pads, ehframe.c; the separate debug file,
 * elf_debug.c).
 */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t elf_lazy_lock = PTHREAD_MUTEX_INITIALIZER;
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

/* .gnu_debuglink: a file name, NUL, padding to 4 bytes, then the file's CRC-32. */
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

/* An x86-64 executable or shared object: whether it is a PIE, and its entry point. */
static int read_header(struct elf_file *f, Elf *elf, char *why, size_t whylen)
{
	GElf_Ehdr ehdr;

	if (!elf || elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64 ||
	    !gelf_getehdr(elf, &ehdr) || ehdr.e_machine != EM_X86_64 ||
	    ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
		set_why(why, whylen, "'%s': not an x86-64 ELF file", f->path);
		return -ENOEXEC;
	}
	if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
		set_why(why, whylen, "'%s': not an executable or shared object", f->path);
		return -ENOEXEC;
	}
	f->pie = ehdr.e_type == ET_DYN;
	f->entry = ehdr.e_entry;
	return 0;
}

/* The PT_LOAD segments, or segs_from's (see parse()). */
static int read_segments(struct elf_file *f, Elf *elf, const struct elf_file *segs_from,
			 char *why, size_t whylen)
{
	size_t phnum;

	if (elf_getphdrnum(elf, &phnum)) {
		set_why(why, whylen, "'%s': bad program headers", f->path);
		return -ENOEXEC;
	}
	if (segs_from)
		phnum = segs_from->nsegs;
	f->segs = calloc(phnum ? phnum : 1, sizeof(*f->segs));
	if (!f->segs)
		return -ENOMEM;
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
	return 0;
}

/* What the section headers give the symbol reading after them. */
struct sym_sections {
	Elf_Scn *symtab, *dynsym;
	Elf_Data *versym;
	const char **verdefs;
	size_t nverdefs;
};

/* A section known by its name: Go's, the landing pads', the unwind tables', the debug file's. */
static int section_by_name(struct elf_priv *p, Elf_Scn *scn, const GElf_Shdr *sh,
			   const char *name)
{
	struct elf_file *f = &p->f;

	if (!strcmp(name, ".go.buildinfo") || !strcmp(name, ".gopclntab"))
		f->is_go = true;
	if (!strcmp(name, ".gcc_except_table")) {
		f->has_lsda = true;
		if (sh->sh_type == SHT_PROGBITS)
			p->except = (struct span){ sh->sh_offset, sh->sh_addr, sh->sh_size };
	}
	if (!strcmp(name, ".eh_frame") &&
	    (sh->sh_type == SHT_PROGBITS || sh->sh_type == SHT_X86_64_UNWIND))
		p->eh_frame = (struct span){ sh->sh_offset, sh->sh_addr, sh->sh_size };
	if (!strcmp(name, ".gnu_debugdata") && sh->sh_type == SHT_PROGBITS)
		p->debugdata = (struct span){ sh->sh_offset, sh->sh_addr, sh->sh_size };
	if (!strcmp(name, ".gnu_debuglink") && sh->sh_type == SHT_PROGBITS)
		return read_debuglink(p, scn);
	return 0;
}

/* A section known by its type: symbols, versions, the soname, notes. */
static int section_by_type(struct elf_priv *p, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
			   struct sym_sections *ss)
{
	struct elf_file *f = &p->f;

	switch (sh->sh_type) {
	case SHT_SYMTAB:
		ss->symtab = scn;
		f->has_symtab = true;
		break;
	case SHT_DYNSYM:
		ss->dynsym = scn;
		break;
	case SHT_DYNAMIC:
		return f->soname ? 0 : read_soname(f, elf, scn, sh);
	case SHT_GNU_versym:
		ss->versym = elf_getdata(scn, NULL);
		break;
	case SHT_GNU_verdef:
		return elf_read_verdefs(f, elf, scn, &ss->verdefs, &ss->nverdefs);
	case SHT_NOTE:
		if (!f->is_go && has_go_note(scn))
			f->is_go = true;
		if (!p->build_id_len)
			read_build_id(p, scn);
		break;
	}
	return 0;
}

/* Every section header, by name and by type. */
static int read_sections(struct elf_priv *p, Elf *elf, struct sym_sections *ss)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx, nscn = 0;
	int err;

	/* A file without section headers (sstrip) still has segments: no symbols then. */
	if (elf_getshdrstrndx(elf, &shstrndx))
		shstrndx = SHN_UNDEF;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = shstrndx != SHN_UNDEF ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		err = name ? section_by_name(p, scn, &sh, name) : 0;
		if (err)
			return err;
		nscn++;
		err = section_by_type(p, elf, scn, &sh, ss);
		if (err)
			return err;
	}
	/* no symbols either, so no detours: only say that landing pads are unknown */
	if (!nscn) {
		p->no_shdrs = true;
		p->f.has_lsda = true;
	}
	return 0;
}

/* The function symbols of .symtab and .dynsym, and their index. */
static int read_symbols(struct elf_priv *p, Elf *elf, const struct sym_sections *ss,
			struct sym_vec *vec)
{
	int err;

	if (ss->symtab) {
		err = elf_read_symtab(p, elf, ss->symtab, NULL, NULL, 0, vec);
		if (err)
			return err;
	}
	if (ss->dynsym) {
		err = elf_read_symtab(p, elf, ss->dynsym, ss->versym, ss->verdefs, ss->nverdefs, vec);
		if (err)
			return err;
	}
	return elf_build_index(p, vec);
}

/*
 * In steps: the ELF header, the segments, the section headers, then the
 * symbols they name. segs_from: a separate debug file's, whose own program
 * headers describe a file that no longer holds the bytes: its symbols get
 * the file offsets of the file it describes.
 */
static int parse(struct elf_priv *p, int fd, const struct elf_file *segs_from, char *why,
		 size_t whylen)
{
	struct elf_file *f = &p->f;
	struct sym_vec vec = {};
	struct sym_sections ss = {};
	Elf *elf;
	int err;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	err = read_header(f, elf, why, whylen);
	if (!err)
		err = read_segments(f, elf, segs_from, why, whylen);
	if (!err)
		err = read_sections(p, elf, &ss);
	if (!err)
		err = read_symbols(p, elf, &ss, &vec);
	free(vec.v);
	free(ss.verdefs);
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
int elf_load(const char *path, int fd, const struct stat *st, const struct elf_file *segs_from,
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
	err = elf_load(path, fd, &st, NULL, &p, why, whylen);
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
	err = elf_load(name, fd, &st, NULL, &p, NULL, 0);
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
