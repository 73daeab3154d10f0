// SPDX-License-Identifier: LGPL-2.1-or-later
/* The symbols API: listing a file's functions, and naming an address of a traced process. */
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "api.h"

#define MAPS_FRESH_NS 1000000ull

/*
 * Whether syms[j] is the one copy of its name that [lo, hi) (the symbols at
 * one address) reports: the index keeps one entry per (name, version), so a
 * name under several versions at one address shows once, default first.
 */
static bool first_of_name(const struct elf_file *f, size_t lo, size_t hi, size_t j)
{
	const struct elf_sym *s = &f->syms[j];

	for (size_t k = lo; k < hi; k++) {
		const struct elf_sym *o = &f->syms[k];

		if (k == j || strcmp(o->name, s->name))
			continue;
		if (o->default_version != s->default_version) {
			if (o->default_version)
				return false;
		} else if (k < j) {
			return false;
		}
	}
	return true;
}

UPROBE_API int uprobe_symbols(const char *path, const char *pattern, uprobe_sym_fn cb, void *ctx)
{
	struct elf_file *f;
	char why[512];
	int err;

	if (!path || !cb) {
		errno = EINVAL;
		return -EINVAL;
	}
	err = elf_open(path, &f, why, sizeof(why));
	if (err) {
		pr_warn("%s", why);
		errno = -err;
		return err;
	}
	/* syms is in address order: each address's names are together */
	for (size_t i = 0; i < f->nsyms;) {
		size_t hi = i;

		while (hi < f->nsyms && f->syms[hi].vaddr == f->syms[i].vaddr)
			hi++;
		for (size_t j = i; j < hi; j++) {
			const struct elf_sym *s = &f->syms[j];
			struct uprobe_sym us;
			int ret;

			if ((pattern && fnmatch(pattern, s->name, 0)) || !first_of_name(f, i, hi, j))
				continue;
			us = (struct uprobe_sym){
				.name = s->name,
				.version = s->version,
				.default_version = s->default_version,
				.ifunc = s->ifunc,
				.offset = s->off,
				.size = s->size,
				.vaddr = s->vaddr,
			};
			ret = cb(&us, ctx);
			if (ret)
				return ret;
		}
		i = hi;
	}
	return 0;
}

/* The mapping of p holding addr (maps are in address order), or NULL. */
static const struct map_entry *map_of(const struct proc *p, uint64_t addr)
{
	int lo = 0, hi = p->nmaps;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		const struct map_entry *m = &p->maps[mid];

		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

/*
 * Whether m, from the maps last read, still holds: they are read again at
 * exec, dlopen and dlclose, but an mmap or munmap of the program's own
 * changes them unseen (ld.so's look at ld.so.cache, unmapped before the
 * program's first anonymous mmap lands in its place). A file's mapping
 * still there has a map_files entry of its exact range, which a stat
 * without following the link finds for a PTRACE_MODE_READ tracer (the link
 * itself needs CAP_SYS_ADMIN); anything else calls for a new read. What was
 * read or checked within the last millisecond is taken as it is: a stack
 * symbolized frame by frame costs a stat per file, not per frame.
 */
static bool map_current(struct proc *p, const struct map_entry *m)
{
	size_t i = m - p->maps;
	uint64_t now = mono_ns();
	char path[96];
	struct stat st;

	if (now - p->maps_ns < MAPS_FRESH_NS)
		return true;
	if (p->maps_checked_gen != p->maps_gen) {
		free(p->maps_checked);
		p->maps_checked = calloc(p->nmaps, sizeof(*p->maps_checked));
		p->maps_checked_gen = p->maps_checked ? p->maps_gen : 0;
	}
	if (p->maps_checked && now - p->maps_checked[i] < MAPS_FRESH_NS)
		return true;
	if (m->path[0] != '/' || !m->ino)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)p->pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	if (lstat(path, &st))
		return false;
	if (p->maps_checked)
		p->maps_checked[i] = now;
	return true;
}

/*
 * The vDSO's image, copied once out of p's memory: the kernel maps the
 * same one into every process of this ABI, and it is in no file.
 */
static struct elf_file *vdso_of(struct uprobe_tracer *t, struct proc *p, const struct map_entry *m)
{
	uint64_t len = m->end - m->start;
	void *buf;

	if (t->vdso || t->vdso_failed)
		return t->vdso;
	/* a few pages: anything larger is not the vDSO we know */
	buf = len <= (1u << 20) ? malloc(len) : NULL;
	if (!buf || mem_read(p, m->start, buf, len) < 0 ||
	    elf_open_mem("[vdso]", buf, len, &t->vdso) < 0) {
		pr_debug("pid %d: cannot read its vDSO", p->pid);
		t->vdso = NULL;
		t->vdso_failed = true;
	}
	free(buf);
	return t->vdso;
}

UPROBE_API int uprobe_tracer_symbolize(struct uprobe_tracer *t, pid_t pid, uint64_t addr,
				       struct uprobe_sym_info *out)
{
	const struct map_entry *m;
	const struct elf_sym *s = NULL;
	struct elf_file *f = NULL;
	struct proc *p, *mm;
	uint64_t vaddr;

	if (!t || !out) {
		errno = EINVAL;
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	p = proc_find(t, pid);
	if (!p)
		return tracer_err(t, -ESRCH, "symbolize: pid %d is not traced", (int)pid);
	mm = proc_mm(p);
	m = mm->maps_gen ? map_of(mm, addr) : NULL;
	if (!m || !map_current(mm, m)) {
		int err = proc_refresh_maps(mm);

		if (err < 0)
			return tracer_err(t, err, "symbolize: pid %d: cannot read its maps: %s",
					  (int)pid, strerror(-err));
		m = map_of(mm, addr);
	}
	if (!m)
		return tracer_err(t, -EFAULT, "symbolize: pid %d: 0x%llx is not mapped", (int)pid,
				  (unsigned long long)addr);
	out->mapping = m->path;
	out->file_offset = m->off + (addr - m->start);
	if (!strcmp(m->path, "[vdso]")) {
		f = vdso_of(t, mm, m);
	} else if (m->path[0] == '/' && m->ino) {
		if (proc_elf_open(mm, m, &f) == 0)
			out->path = f->path;
		else
			f = NULL;
	}
	if (!f || elf_off_to_vaddr(f, out->file_offset, &vaddr))
		return 0;
	/* .symtab names every function; without it a debug file may, before .dynsym */
	if (!f->has_symtab) {
		const struct elf_file *d = elf_debug_file(f);

		s = d ? elf_sym_containing(d, vaddr) : NULL;
		out->from_debug_file = s != NULL;
	}
	if (!s)
		s = elf_sym_containing(f, vaddr);
	if (!s)
		return 0;
	out->name = s->name;
	out->version = s->version;
	out->sym_addr = addr - (vaddr - s->vaddr);
	out->sym_offset = vaddr - s->vaddr;
	out->sym_size = s->size;
	return 0;
}

/* ---- Symbolized stacks ---- */

/* snprintf() appending at *len into buf (size bytes): *len grows by what the text needs. */
__attribute__((format(printf, 4, 5))) static void put(char *buf, size_t size, size_t *len,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

/* One frame's text (uprobe_tracer_frame_str()) appended at *len. 0 or -errno. */
static int frame_put(struct uprobe_tracer *t, pid_t pid, uint64_t pc, unsigned flags, char *buf,
		     size_t size, size_t *len)
{
	bool addr = flags & UPROBE_FRAME_ADDR;
	struct uprobe_sym_info si;
	const char *where;
	int err;

	/* a return address may be one past its function's end: the call is before it */
	err = uprobe_tracer_symbolize(t, pid, flags & UPROBE_FRAME_CALLER ? pc - 1 : pc, &si);
	if (err == -ESRCH || err == -EINVAL)
		return err;
	where = err ? "" : si.path ? si.path : si.mapping;
	if (addr || err || !si.name)
		put(buf, size, len, "0x%" PRIx64, pc);
	if (!err && si.name)
		put(buf, size, len, "%s%s+0x%" PRIx64 " (%s)", addr ? " " : "", si.name,
		    pc - si.sym_addr, *where ? where : "anonymous");
	else if (*where)
		put(buf, size, len, " (%s)", where);
	return 0;
}

/* What is left of buf after len bytes of text: terminated, as snprintf() leaves it. */
static int put_end(char *buf, size_t size, size_t len)
{
	if (size)
		buf[len < size ? len : size - 1] = '\0';
	if (len > INT_MAX) {
		errno = EOVERFLOW;
		return -EOVERFLOW;
	}
	return (int)len;
}

UPROBE_API int uprobe_tracer_frame_str(struct uprobe_tracer *t, pid_t pid, uint64_t pc,
				       unsigned flags, char *buf, size_t size)
{
	size_t len = 0;
	int err;

	if (!t || (!buf && size)) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (flags & ~(UPROBE_FRAME_CALLER | UPROBE_FRAME_ADDR))
		return tracer_err(t, -EINVAL, "frame_str: unknown flags 0x%x", flags);
	err = frame_put(t, pid, pc, flags, buf, size, &len);
	if (err) {
		if (size)
			buf[0] = '\0';
		return err;
	}
	return put_end(buf, size, len);
}

#define STACK_ON_STACK 64

UPROBE_API int uprobe_hit_stack_str(struct uprobe_hit *h, char *buf, size_t size, int max,
				    const struct uprobe_backtrace_opts *opts)
{
	uint64_t local[STACK_ON_STACK], *pcs = local;
	size_t len = 0;
	int n, err = 0;

	if (!h || (!buf && size)) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (size)
		buf[0] = '\0';
	if (max > STACK_ON_STACK) {
		pcs = malloc((size_t)max * sizeof(*pcs));
		if (!pcs)
			return tracer_err(h->t, -ENOMEM, "stack_str: no memory for %d frames", max);
	}
	n = uprobe_hit_backtrace_opts(h, pcs, max, opts);
	if (n < 0)
		err = n;
	for (int i = 0; i < n && !err; i++) {
		put(buf, size, &len, "#%d ", i);
		err = frame_put(h->t, uprobe_hit_pid(h), pcs[i],
				UPROBE_FRAME_ADDR | (i ? UPROBE_FRAME_CALLER : 0), buf, size, &len);
		put(buf, size, &len, "\n");
	}
	if (pcs != local)
		free(pcs);
	if (err) {
		if (size)
			buf[0] = '\0';
		errno = -err;
		return err;
	}
	return put_end(buf, size, len);
}

void sym_free(struct uprobe_tracer *t)
{
	if (t->vdso)
		elf_close(t->vdso);
	t->vdso = NULL;
}
