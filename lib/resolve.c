// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What a probe names, resolved to a file and an offset before any byte
 * changes: a binary's name or path (as the tracees map it, in their mount
 * namespace), an IFUNC's implementation (asked of its resolver in a
 * tracee); and library names to paths for uprobe_lib_path(). Whether a
 * probe may go at the place found is resolve_check.c's.
 */
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mech.h"

/* path without a leading /proc/PID/root, which names a file in a tracee's mount namespace */
static const char *ns_path(const char *path)
{
	const char *s = path;

	if (strncmp(s, "/proc/", 6))
		return path;
	s += 6;
	if (*s < '0' || *s > '9')
		return path;
	while (*s >= '0' && *s <= '9')
		s++;
	return strncmp(s, "/root/", 6) ? path : s + 5;
}

bool resolve_map_is_file(const struct map_entry *m, const struct elf_file *f)
{
	if (m->ino != (uint64_t)f->ino)
		return false;
	if (makedev(m->dev_major, m->dev_minor) == f->dev)
		return true;
	/* overlay file systems show another device in maps: fall back to the path */
	return !strcmp(m->path, ns_path(f->path));
}

/* ---- resolving BINARY ---- */

const char *resolve_base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* A name that spells a shared object's version: "libc.so", "libstdc++.so.6". */
static bool names_so_version(const char *want)
{
	size_t n = strlen(want);

	return strstr(want, ".so.") || (n > 3 && !strcmp(want + n - 3, ".so"));
}

/*
 * How well the file at path answers the library name want, best highest:
 * its very name; a version of it, as the dynamic linker's names go
 * ("libc" or "libc.so" -> libc.so.6, "libstdc++.so.6" -> libstdc++.so.6.0.30,
 * the file behind the soname link); or, as bcc's bcc_procutils_which_so()
 * does, a name going on after a '-' ("ld" -> ld-linux-x86-64.so.2,
 * "libc" -> libc-2.31.so). NAME_NONE: not at all.
 */
enum name_rank { NAME_NONE, NAME_DASH, NAME_SO, NAME_EXACT };

static enum name_rank name_rank(const char *want, const char *path)
{
	const char *b = resolve_base_name(path);
	size_t n = strlen(want);
	const char *rest = b + n;

	if (!strcmp(b, want))
		return NAME_EXACT;
	if (!*want || strncmp(b, want, n))
		return NAME_NONE;
	if (names_so_version(want))
		return rest[0] == '.' && isdigit((unsigned char)rest[1]) ? NAME_SO : NAME_NONE;
	/* a version, not any suffix: "ld" is no name of /etc/ld.so.cache */
	if (!strncmp(rest, ".so", 3) &&
	    (!rest[3] || (rest[3] == '.' && isdigit((unsigned char)rest[4]))))
		return NAME_SO;
	if (rest[0] == '-' && strstr(rest, ".so"))
		return NAME_DASH;
	return NAME_NONE;
}

static bool same_file(const struct map_entry *a, const struct map_entry *b)
{
	return a->ino == b->ino && a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

/* The better of name_rank() by path's base name and by the file's DT_SONAME (may be NULL). */
static enum name_rank lib_rank(const char *want, const char *path, const char *soname)
{
	enum name_rank r = name_rank(want, path);
	enum name_rank s = soname ? name_rank(want, soname) : NAME_NONE;

	return s > r ? s : r;
}

/*
 * The DT_SONAME of the file of mapping m, from its parsed file (the cache
 * uprobe_add() uses: parsed once); NULL when it has none or is no ELF
 * file. Only files mapped executable are asked, code being what is probed:
 * a library has such a mapping, data files (locale-archive, fonts) do not,
 * and are never opened for this.
 */
static const char *map_soname(struct proc *mm, const struct map_entry *m)
{
	struct elf_file *f;

	return m->x && proc_elf_open(mm, m, &f) == 0 ? f->soname : NULL;
}

/* One look at mm's files for want (by soname too with sonames): the best rank, *best, *other. */
static enum name_rank scan_libs(struct proc *mm, const char *want, bool sonames,
				const struct map_entry **best, const struct map_entry **other)
{
	enum name_rank rank = NAME_NONE;

	*best = *other = NULL;
	for (int i = 0; i < mm->nmaps; i++) {
		const struct map_entry *m = &mm->maps[i];
		size_t len = strlen(m->path);
		enum name_rank r;

		if (m->path[0] != '/' || !m->ino ||
		    (len > 10 && !strcmp(m->path + len - 10, " (deleted)")))
			continue;
		r = lib_rank(want, m->path, sonames ? map_soname(mm, m) : NULL);
		if (r == NAME_NONE || r < rank)
			continue;
		if (r > rank) {
			*best = m;
			rank = r;
			*other = NULL;
		} else if (!*other && !same_file(m, *best)) {
			*other = m;
		}
	}
	return rank;
}

/*
 * The file process p maps under the library name want, in *out. Of several
 * matches the best ranked wins; two different files at that rank are
 * refused (-EINVAL), naming both: the caller cannot have meant both, and
 * picking one by the order of maps would probe a library it did not mean.
 * A file is named by its base name and by its DT_SONAME (libfoo.so.1 for
 * libfoo-impl.so), as the dynamic linker knows it; sonames are read only
 * when no file's base name is want itself (they could at best tie), so a
 * name spelled exactly opens no file. -ENOENT: none (no message; the
 * caller words it).
 */
static int proc_find_lib(struct uprobe_tracer *t, struct proc *p, const char *want,
			 const struct map_entry **out)
{
	const struct map_entry *best, *other;
	struct proc *mm = proc_mm(p);

	if (scan_libs(mm, want, false, &best, &other) < NAME_EXACT)
		scan_libs(mm, want, true, &best, &other);
	if (!best)
		return -ENOENT;
	if (other)
		return tracer_err(t, -EINVAL, "'%s' is ambiguous in process %d: %s and %s both match",
				  want, p->pid, best->path, other->path);
	*out = best;
	return 0;
}

/*
 * A file a tracee maps whose name is want, written to out as the tracer can
 * open it: 0, -ENOENT when none does, or -EINVAL for an ambiguous name.
 */
static int find_mapped(struct uprobe_tracer *t, const char *want, char *out, size_t outsz)
{
	for (struct proc *p = t->procs; p; p = p->next) {
		const struct map_entry *m;
		int err = proc_find_lib(t, p, want, &m);

		if (err == -ENOENT)
			continue;
		if (!err)
			proc_path(p, m->path, out, outsz);
		return err;
	}
	return -ENOENT;
}

/*
 * A path as a tracee in another mount namespace sees it (a container's
 * /usr/lib/libc.so.6 is not the host's): the file it maps under that name,
 * else one that exists there and not here. False: the tracer's own.
 */
static bool find_in_ns(struct uprobe_tracer *t, const char *path, char *out, size_t outsz)
{
	bool here = access(path, F_OK) == 0;

	if (!strncmp(path, "/proc/", 6))
		return false; /* a tracee's file named through /proc already */
	for (int pass = 0; pass < 2; pass++) {
		for (struct proc *p = t->procs; p; p = p->next) {
			struct stat st;

			if (!proc_plantable(p) || !strcmp(proc_path(p, path, out, outsz), path))
				continue;
			if (stat(out, &st) < 0)
				continue;
			if (pass == 1 && !here)
				return true;
			for (int i = 0; pass == 0 && i < p->nmaps; i++)
				if (p->maps[i].ino == (uint64_t)st.st_ino &&
				    (makedev(p->maps[i].dev_major, p->maps[i].dev_minor) == st.st_dev ||
				     !strcmp(p->maps[i].path, path)))
					return true;
		}
	}
	return false;
}

int resolve_binary(struct uprobe_tracer *t, const char *binary, char *out, size_t outsz)
{
	int err;

	if (strchr(binary, '/')) {
		if (binary[0] != '/' || !find_in_ns(t, binary, out, outsz))
			snprintf(out, outsz, "%s", binary);
		return 0;
	}
	err = find_mapped(t, binary, out, outsz);
	if (err == -ENOENT) {
		for (struct proc *p = t->procs; p; p = p->next)
			proc_refresh_maps(p);
		err = find_mapped(t, binary, out, outsz);
	}
	if (err != -ENOENT)
		return err;
	if (access(binary, F_OK) == 0) {
		snprintf(out, outsz, "%s", binary);
		return 0;
	}
	return tracer_err(t, -ENOENT, "'%s': no such file, and no traced process maps it", binary);
}

/*
 * The parsed file a tracee maps under exactly this name, found without a
 * system call: maps gives its (dev, ino), and a name there is the file's
 * current one (a file replaced since shows as "... (deleted)"). Adding
 * thousands of probes then costs no path lookup each. NULL: ask elf_open()
 * (not mapped, another spelling of the path, or an overlay file system
 * whose maps show another device).
 */
struct elf_file *resolve_mapped_elf(struct uprobe_tracer *t, const char *path)
{
	for (struct proc *p = t->procs; p; p = p->next) {
		for (int i = 0; i < p->nmaps; i++) {
			const struct map_entry *m = &p->maps[i];

			if (m->ino && m->path[0] == '/' && !strcmp(m->path, path))
				return elf_cached(makedev(m->dev_major, m->dev_minor), m->ino);
		}
	}
	return NULL;
}

/* ---- IFUNC ---- */

/*
 * An IFUNC symbol's value is its resolver. Ask the resolver itself, inside a
 * tracee that maps the file (the answer depends on that process's CPU
 * features and tunables), which implementation it selects, then name that
 * implementation by file and offset.
 */
int resolve_ifunc(struct uprobe_tracer *t, struct elf_file *f, const struct elf_sym *sym,
			 struct elf_file **impl_file, uint64_t *impl_off)
{
	for (struct proc *p = t->procs; p; p = p->next) {
		uint64_t resolver = 0, impl = 0;
		uint64_t args[6] = { 0 };
		struct task *k = NULL;
		int err;

		if (!proc_plantable(p))
			continue;
		for (int i = 0; i < p->nmaps && !resolver; i++) {
			const struct map_entry *m = &p->maps[i];

			if (resolve_map_is_file(m, f) && sym->off >= m->off &&
			    sym->off < m->off + (m->end - m->start))
				resolver = m->start + (sym->off - m->off);
		}
		if (!resolver)
			continue;
		/* the call returns to the trap in a scratch area: the process needs one */
		err = area_ensure(t, p, resolver);
		if (err)
			return err;
		task_mark_running(t, p);
		err = task_stop_all(t, p);
		if (err) {
			task_release(t, p);
			return tracer_err(t, err, "pid %d: cannot stop the process", p->pid);
		}
		for (unsigned i = 0; i < TASK_HASH && !k; i++)
			for (struct task *c = t->tasks[i]; c && !k; c = c->hnext)
				if (c->proc == p && c->state == TASK_STOPPED)
					k = c;
		if (!k) {
			task_release(t, p);
			continue;
		}
		args[0] = p->hwcap;
		err = inject_call(t, k, resolver, args, &impl);
		task_release(t, p);
		if (err == -EFAULT)
			return tracer_err(t, err, "%s: the resolver of IFUNC '%s' faulted (the "
					  "dynamic linker has not relocated the library yet: "
					  "probe an implementation by name, or add the probe "
					  "once the library is loaded)", resolve_base_name(f->path),
					  sym->name);
		if (err)
			return tracer_err(t, err, "%s: cannot run the resolver of IFUNC '%s': %s",
					  resolve_base_name(f->path), sym->name, strerror(-err));
		for (int i = 0; i < p->nmaps; i++) {
			const struct map_entry *m = &p->maps[i];

			if (impl < m->start || impl >= m->end || m->path[0] != '/')
				continue;
			err = proc_elf_open(p, m, impl_file);
			if (err)
				return tracer_err(t, err, "%s: cannot open: %s", m->path, strerror(-err));
			*impl_off = m->off + (impl - m->start);
			pr_debug("IFUNC %s resolves to %s+0x%llx", sym->name, m->path,
				 (unsigned long long)*impl_off);
			return 0;
		}
		return tracer_err(t, -ENOENT, "%s: IFUNC '%s' resolves to 0x%llx, outside any file",
				  resolve_base_name(f->path), sym->name, (unsigned long long)impl);
	}
	return tracer_err(t, -EOPNOTSUPP,
			  "%s: '%s' is an IFUNC; its implementation is chosen in a running "
			  "process: spawn or attach first, or probe an implementation by name",
			  resolve_base_name(f->path), sym->name);
}

/* ---- library name -> path ---- */

/* The process uprobe_lib_path() asks: pid, or with 0 the first traced that is still traced. */
static struct proc *lib_proc(struct uprobe_tracer *t, pid_t pid)
{
	struct proc *first = NULL;

	if (pid)
		return proc_find(t, pid);
	for (struct proc *p = t->procs; p; p = p->next)
		if (!p->fork_child)
			first = p; /* procs is newest first */
	return first;
}

/* A path name: the entry of p's maps that is that file, by name or by (dev, ino). */
static const struct map_entry *proc_maps_path(struct proc *p, const char *path)
{
	struct proc *mm = proc_mm(p);
	char ours[4096];
	struct stat st;
	bool have_st = path[0] == '/' &&
		       stat(proc_path(p, path, ours, sizeof(ours)), &st) == 0;

	for (int i = 0; i < mm->nmaps; i++) {
		const struct map_entry *m = &mm->maps[i];

		if (m->path[0] != '/' || !m->ino)
			continue;
		if (!strcmp(m->path, path) ||
		    (have_st && m->ino == (uint64_t)st.st_ino &&
		     makedev(m->dev_major, m->dev_minor) == st.st_dev))
			return m;
	}
	return NULL;
}

static int lib_lookup(struct uprobe_tracer *t, struct proc *p, const char *name,
		      const struct map_entry **m)
{
	if (strchr(name, '/')) {
		*m = proc_maps_path(p, name);
		return *m ? 0 : -ENOENT;
	}
	return proc_find_lib(t, p, name, m);
}

UPROBE_API int uprobe_lib_path(struct uprobe_tracer *t, pid_t pid, const char *name, char *buf,
			       size_t size)
{
	const struct map_entry *m = NULL;
	char path[4096];
	struct proc *p;
	int err;

	if (!t || !name || !*name || !buf || !size) {
		errno = EINVAL;
		return -EINVAL;
	}
	p = lib_proc(t, pid);
	if (!p && pid)
		return tracer_err(t, -ESRCH, "process %d is not traced", (int)pid);
	if (!p)
		return tracer_err(t, -ESRCH, "no traced process");
	/* maps as last read first: a name resolved again and again costs nothing */
	err = lib_lookup(t, p, name, &m);
	if (err == -ENOENT) {
		proc_refresh_maps(proc_mm(p));
		err = lib_lookup(t, p, name, &m);
	}
	if (err == -ENOENT)
		return tracer_err(t, -ENOENT, "'%s': process %d maps no such file", name, p->pid);
	if (err)
		return err;
	proc_path(p, m->path, path, sizeof(path));
	if (strlen(path) >= size)
		return tracer_err(t, -ERANGE, "'%s': path %s does not fit in %zu bytes", name, path,
				  size);
	memcpy(buf, path, strlen(path) + 1);
	return 0;
}

UPROBE_API int uprobe_lib_name_match(const char *name, const char *path)
{
	struct elf_file *f;
	char why[64];

	if (!name || !path || strchr(name, '/'))
		return 0;
	/* a path names a file, whose soname is a name of it too; a bare name is only a name */
	if (strchr(path, '/') && name_rank(name, path) < NAME_EXACT &&
	    elf_open(path, &f, why, sizeof(why)) == 0)
		return (int)lib_rank(name, path, f->soname);
	return (int)name_rank(name, path);
}

/* ---- for usdt.c ---- */

int resolve_open_binary(struct uprobe_tracer *t, const char *binary, struct elf_file **f)
{
	char path[4096], why[256];
	int err;

	err = resolve_binary(t, binary, path, sizeof(path));
	if (err)
		return err;
	*f = resolve_mapped_elf(t, path);
	if (*f)
		return 0;
	err = elf_open(path, f, why, sizeof(why));
	return err ? tracer_err(t, err, "%s", why) : 0;
}
