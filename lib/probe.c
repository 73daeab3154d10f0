// SPDX-License-Identifier: LGPL-2.1-or-later
/* The probe registry keyed by (dev, ino, offset): resolve, refuse before touching, plant, remove. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core.h"
#include "lifeline.h"

uint64_t probe_post_slot(struct proc *mm, uint64_t vaddr)
{
	struct bp *pb = bp_lookup(&mm->post_bps, vaddr);

	return pb ? pb->slot : 0;
}

/* ---- sites ---- */

static size_t site_hash(dev_t dev, ino_t ino, uint64_t off)
{
	uint64_t h = (uint64_t)dev * 0x9E3779B97F4A7C15ull ^ (uint64_t)ino * 0xC2B2AE3D27D4EB4Full ^ off;

	return (size_t)((h * 0x9E3779B97F4A7C15ull) >> 40) % SITE_HASH;
}

static size_t site_bucket(const struct site *s)
{
	return site_hash(s->elf->dev, s->elf->ino, s->off);
}

static void site_free(struct uprobe_tracer *t, struct site *s)
{
	if (s->probes != &s->one)
		free(s->probes);
	pool_free(&t->site_pool, s);
}

void site_put(struct uprobe_tracer *t, struct site *s)
{
	struct site **pp;

	if (--s->refs)
		return;
	if (t->site_hash) {
		for (pp = &t->site_hash[site_bucket(s)]; *pp; pp = &(*pp)->hnext) {
			if (*pp == s) {
				*pp = s->hnext;
				break;
			}
		}
	}
	site_free(t, s);
}

/* The site of (dev, ino, off), with or without probes now. */
struct site *site_find(struct uprobe_tracer *t, dev_t dev, ino_t ino, uint64_t off)
{
	if (!t->site_hash)
		return NULL;
	for (struct site *s = t->site_hash[site_hash(dev, ino, off)]; s; s = s->hnext)
		if (s->elf->dev == dev && s->elf->ino == ino && s->off == off)
			return s;
	return NULL;
}

/*
 * The site after s (the first one for NULL), in no particular order. The
 * hash is the registry: a list through the sites would cost each of them
 * two more pointers.
 */
struct site *site_iter(struct uprobe_tracer *t, struct site *s)
{
	size_t h = 0;

	if (!t->site_hash)
		return NULL;
	if (s) {
		if (s->hnext)
			return s->hnext;
		h = site_bucket(s) + 1;
	}
	for (; h < SITE_HASH; h++)
		if (t->site_hash[h])
			return t->site_hash[h];
	return NULL;
}

/*
 * Room for one more probe: s->one holds the first; an array, once there
 * are more, is doubled whenever the count reaches a power of two, so its
 * size need not be stored (it is never below the next power of two).
 */
static int site_make_room(struct site *s)
{
	unsigned n = s->nprobes;
	bool full = s->probes == &s->one ? n >= 1 : n >= 2 && !(n & (n - 1));
	struct uprobe **pr;

	if (!full)
		return 0;
	pr = reallocarray(s->probes == &s->one ? NULL : s->probes, n * 2, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	if (s->probes == &s->one)
		pr[0] = s->one;
	s->probes = pr;
	return 0;
}

static int site_register(struct uprobe_tracer *t, struct site *s)
{
	size_t h;

	if (!t->site_hash) {
		t->site_hash = calloc(SITE_HASH, sizeof(*t->site_hash));
		if (!t->site_hash)
			return -ENOMEM;
	}
	h = site_bucket(s);
	s->hnext = t->site_hash[h];
	t->site_hash[h] = s;
	return 0;
}

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

static bool map_is_file(const struct map_entry *m, const struct elf_file *f)
{
	if (m->ino != (uint64_t)f->ino)
		return false;
	if (makedev(m->dev_major, m->dev_minor) == f->dev)
		return true;
	/* overlay file systems show another device in maps: fall back to the path */
	return !strcmp(m->path, ns_path(f->path));
}

/* Calls cb for every address at which p maps the instruction of site s. */
static int for_each_vaddr(struct proc *p, const struct site *s,
			  int (*cb)(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx),
			  void *ctx)
{
	for (int i = 0; i < p->nmaps; i++) {
		const struct map_entry *m = &p->maps[i];
		int err;

		if (!m->x || s->off < m->off || s->off >= m->off + (m->end - m->start))
			continue;
		if (!map_is_file(m, s->elf))
			continue;
		err = cb(p, s, m->start + (s->off - m->off), ctx);
		if (err)
			return err;
	}
	return 0;
}

/* Phase one: nothing may be written unless every address can take the probe. */
static int check_cb(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx)
{
	struct uprobe_tracer *t = ctx;
	struct bp *b = bp_lookup(&p->bps, vaddr);
	uint8_t byte;
	int err;

	if (b && !b->retired)
		return 0;
	err = mem_read_cached(p, vaddr, &byte, 1);
	if (err)
		return tracer_err(t, err, "pid %d: cannot read 0x%llx: %s", p->pid,
				  (unsigned long long)vaddr, strerror(-err));
	detour_orig_byte(p, vaddr, &byte);
	/*
	 * The file's byte is no int3 (arch_analyse() refused those), and no
	 * other ptracer can be here: an int3 is a kernel uprobe's (or a dead
	 * tracer's leftover), and a call over a 5-byte nop a kernel uprobe
	 * optimized by 6.18. Ours shares the place: the kernel takes the hits
	 * while its probe is there (kernel.c).
	 */
	if (byte == ARCH_INT3 || (byte == ARCH_CALL_OPCODE && arch_plan_is_nop(&s->plan) &&
			     s->plan.len == ARCH_JMP_LEN)) {
		if (!s->kernel)
			pr_warn("%s: offset 0x%llx: a kernel uprobe is on this very instruction: "
				"while it is there the kernel takes its hits, and ours miss them",
				s->elf->path, (unsigned long long)s->off);
		kernel_site_seen(t, (struct site *)s);
		return 0;
	}
	if (byte != s->plan.bytes[0])
		return tracer_err(t, -EEXIST,
				  "pid %d: the code at 0x%llx differs from %s at offset 0x%llx",
				  p->pid, (unsigned long long)vaddr, s->elf->path,
				  (unsigned long long)s->off);
	return 0;
}

/* A post handler joined a planted instruction: give its breakpoints post slots. */
static int post_slot_cb(struct proc *p, const struct site *cs, uint64_t vaddr, void *ctx)
{
	struct site *s = (struct site *)cs;
	struct bp *b = bp_lookup(&p->bps, vaddr), *pb;
	uint64_t slot;
	int err;

	if (!b || b->site != s || !b->slot)
		return 0;
	detour_unoptimize(p, b); /* its exits need post int3s, which a detour has not */
	if (probe_post_slot(p, vaddr) || arch_post_steps(&s->plan))
		return 0;
	err = xol_slot_make(ctx, p, s, vaddr, true, &slot);
	if (err)
		return err;
	pb = bp_insert(&p->post_bps, vaddr);
	if (!pb)
		return tracer_err(ctx, -ENOMEM, "out of memory");
	pb->site = s;
	pb->slot = slot;
	return 0;
}

static int plant_cb(struct proc *p, const struct site *cs, uint64_t vaddr, void *ctx)
{
	struct uprobe_tracer *t = ctx;
	struct site *s = (struct site *)cs;
	uint8_t int3 = ARCH_INT3, byte;
	uint64_t slot;
	struct bp *b = bp_lookup(&p->bps, vaddr);
	int err;

	if (b && !b->retired)
		return 0;
	if (b && b->site == s) {
		/* the same instruction probed again: its slot is still there */
		b->retired = false;
	} else {
		if (b)
			bp_delete(&p->bps, b);
		/* the slot first: a thread may trap the moment the int3 lands */
		err = xol_slot_for(t, p, s, vaddr, &slot);
		if (err)
			return err;
		b = bp_insert(&p->bps, vaddr);
		if (!b)
			return tracer_err(t, -ENOMEM, "out of memory");
		b->site = s;
		b->slot = slot;
		b->orig = s->plan.bytes[0];
		b->dwait = DETOUR_FIRST_WAIT;
	}
	if (s->npost && b->slot) {
		err = post_slot_cb(p, s, vaddr, t);
		if (err) {
			b->retired = true;
			return err;
		}
	}
	/* inside another probe's jump detour: that one goes back to an int3 first */
	detour_clear_range(p, vaddr);
	/*
	 * Over a kernel's optimized call, nothing: its own removal puts back
	 * the nop through an int3, and kernel_watch() plants ours then.
	 */
	if (s->kernel && mem_read_cached(p, vaddr, &byte, 1) == 0 && byte == ARCH_CALL_OPCODE)
		return 0;
	lifeline_note(p, vaddr, b->orig,
		      ret_site_unwinds(s) ? LL_UNWIND : sigmask_ll_kind(s) ?: LL_CODE);
	err = mem_write_deferred(p, vaddr, &int3, 1, MEM_TEXT);
	if (err) {
		b->retired = true;
		return tracer_err(t, err, "pid %d: cannot write 0x%llx: %s", p->pid,
				  (unsigned long long)vaddr, strerror(-err));
	}
	return 0;
}

static int unplant_cb(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx)
{
	struct bp *b = bp_lookup(&p->bps, vaddr);

	if (!b || b->site != s || b->retired)
		return 0;
	detour_unoptimize(p, b);
	/*
	 * Its lifeline entry stays: the byte lands only when the batch is
	 * flushed, and an entry that names the file's byte is harmless.
	 */
	mem_write_deferred(p, vaddr, &b->orig, 1, MEM_TEXT);
	b->retired = true;
	return 0;
}

static bool proc_plantable(struct proc *p)
{
	return !p->mm_owner && !p->fork_child && p->at_entry;
}

static int kind_cb(struct proc *p, const struct site *s, uint64_t vaddr, void *ctx)
{
	struct bp *b = bp_lookup(&p->bps, vaddr);

	if (b && b->site == s)
		detour_site_changed(p, b);
	return 0;
}

/* s's probes changed: its jump detours record or trap as its probes now want. */
static void site_kind_changed(struct uprobe_tracer *t, struct site *s)
{
	for (struct proc *p = t->procs; p; p = p->next)
		if (proc_plantable(p) && p->had_detour)
			for_each_vaddr(p, s, kind_cb, NULL);
}

static int plant_site(struct uprobe_tracer *t, struct site *s)
{
	int err;

	for (struct proc *p = t->procs; p; p = p->next) {
		if (!proc_plantable(p))
			continue;
		err = for_each_vaddr(p, s, check_cb, t);
		if (err)
			return err;
	}
	for (struct proc *p = t->procs; p; p = p->next) {
		if (!proc_plantable(p))
			continue;
		err = for_each_vaddr(p, s, plant_cb, t);
		if (err)
			goto undo;
	}
	return 0;
undo:
	for (struct proc *p = t->procs; p; p = p->next)
		if (proc_plantable(p))
			for_each_vaddr(p, s, unplant_cb, NULL);
	return err;
}

static void place_pending(struct uprobe_tracer *t);

/* Plants every registered probe into p (after spawn reached the entry, attach, exec). */
/*
 * p's first scratch area, made before any trap of ours can happen in it
 * (at the entry point of a spawned program, at attach): the lifeline made
 * with it is what shows every reset of SIGTRAP our traps cause
 * (sigtrap.c); one made at a first hit comes after that hit's.
 */
static void early_area(struct uprobe_tracer *t, struct proc *p)
{
	if (p->gadget || p->xol_denied || p->inline_mode || p->mm_owner)
		return;
	/* only where a probe will be: near the first file of one it maps */
	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s)) {
		if (!s->nprobes)
			continue;
		for (int i = 0; i < p->nmaps; i++)
			if (p->maps[i].x && map_is_file(&p->maps[i], s->elf)) {
				xol_ensure_area(t, p, p->maps[i].start);
				return;
			}
	}
}

/*
 * Is p's dynamic linker between RT_ADD (or RT_DELETE) and RT_CONSISTENT?
 * A library it maps then is not relocated yet.
 */
static bool link_map_changing(struct proc *p)
{
	int32_t state;

	return p->r_state_addr && mem_read(p, p->r_state_addr, &state, sizeof(state)) == 0 &&
	       state != 0 /* RT_CONSISTENT */;
}

int probe_plant_all(struct uprobe_tracer *t, struct proc *p)
{
	int err, ret = 0;

	proc_refresh_maps(p);
	early_area(t, p);
	watch_proc(t, p);
	/*
	 * A pending probe's library is the one being mapped: wait for
	 * RT_CONSISTENT, which comes before any of its code runs but after its
	 * relocation, which an IFUNC's resolver needs (run before, it read an
	 * unrelocated GOT and faulted).
	 */
	if (!link_map_changing(p))
		place_pending(t);
	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s)) {
		if (!s->nprobes)
			continue;
		err = for_each_vaddr(p, s, check_cb, t);
		if (!err)
			err = for_each_vaddr(p, s, plant_cb, t);
		if (err) {
			pr_warn("%s", t->errmsg);
			ret = err;
		}
	}
	usdt_proc_sync(t, p);
	return ret;
}

/* Forgets p's breakpoints whose code is no longer mapped (dlclose): that memory is gone. */
static void forget_unmapped(struct proc *p)
{
	struct bp_table *bt = &p->bps;

	for (size_t i = 0; i < bt->cap; i++) {
		struct bp *b = &bt->slots[i];
		bool mapped = false;

		if (!b->vaddr || b->site == BP_TOMB || b->internal)
			continue;
		for (int j = 0; j < p->nmaps && !mapped; j++) {
			const struct map_entry *m = &p->maps[j];

			mapped = m->x && b->vaddr >= m->start && b->vaddr < m->end &&
				 map_is_file(m, b->site->elf) &&
				 m->off + (b->vaddr - m->start) == b->site->off;
		}
		if (!mapped) {
			lifeline_forget(p, b->vaddr);
			bp_delete(bt, b);
		}
	}
}

/*
 * The dynamic linker's hook (_dl_debug_state), called around every change
 * of the link map: a library mapped by dlopen gets the probes registered
 * for its file (added by path before it was loaded, or already planted in
 * another process); one unmapped by dlclose loses its breakpoints.
 */
int probe_on_dl_state(struct uprobe_hit *h, void *data)
{
	struct proc *p = h->task->proc;

	if (p->mm_owner || !p->at_entry)
		return 0;
	if (proc_refresh_maps(p) < 0)
		return 0;
	forget_unmapped(p);
	probe_plant_all(h->t, p);
	return 0;
}

/*
 * Writes back the original byte of every breakpoint of p into target's
 * memory: p itself (detach), or a fork child holding a copy of p's memory.
 */
int probe_unplant_all(struct uprobe_tracer *t, struct proc *p, struct proc *target)
{
	struct bp_table *bt = &p->bps;

	for (size_t i = 0; i < bt->cap; i++) {
		struct bp *b = &bt->slots[i];

		if (!b->vaddr || b->site == BP_TOMB || b->retired)
			continue;
		detour_write_back(target, b);
		mem_write(target, b->vaddr, &b->orig, 1);
	}
	inline_restore_trap(p, target);
	if (target == p)
		bp_table_free(bt);
	return 0;
}

/* ---- resolving BINARY ---- */

static const char *base_name(const char *path)
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
	const char *b = base_name(path);
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

static int resolve_binary(struct uprobe_tracer *t, const char *binary, char *out, size_t outsz)
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
static struct elf_file *mapped_elf(struct uprobe_tracer *t, const char *path)
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
static int resolve_ifunc(struct uprobe_tracer *t, struct elf_file *f, const struct elf_sym *sym,
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

			if (map_is_file(m, f) && sym->off >= m->off &&
			    sym->off < m->off + (m->end - m->start))
				resolver = m->start + (sym->off - m->off);
		}
		if (!resolver)
			continue;
		/* the call returns to the trap in a scratch area: the process needs one */
		err = xol_ensure_area(t, p, resolver);
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
					  "once the library is loaded)", base_name(f->path),
					  sym->name);
		if (err)
			return tracer_err(t, err, "%s: cannot run the resolver of IFUNC '%s': %s",
					  base_name(f->path), sym->name, strerror(-err));
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
				  base_name(f->path), sym->name, (unsigned long long)impl);
	}
	return tracer_err(t, -EOPNOTSUPP,
			  "%s: '%s' is an IFUNC; its implementation is chosen in a running "
			  "process: spawn or attach first, or probe an implementation by name",
			  base_name(f->path), sym->name);
}

/* ---- uprobe_add / uprobe_remove ---- */

static bool proc_is_go(struct proc *p)
{
	char exe[64], why[64];
	struct elf_file *f;

	/* the executable maps its entry point: no system call per return probe added */
	for (int i = 0; i < p->nmaps && p->entry; i++) {
		const struct map_entry *m = &p->maps[i];

		if (p->entry >= m->start && p->entry < m->end && m->ino &&
		    (f = elf_cached(makedev(m->dev_major, m->dev_minor), m->ino)))
			return f->is_go;
	}
	snprintf(exe, sizeof(exe), "/proc/%d/exe", p->pid);
	return elf_open(exe, &f, why, sizeof(why)) == 0 && f->is_go;
}

/*
 * A compiler's cold part of a function (GCC's "f.cold", older GCC's and
 * clang's "f.cold.1"): its own FUNC symbol, but reached by a jump from
 * f's body, never called; [rsp] there is whatever f's frame holds.
 */
static bool is_cold_part(const char *name)
{
	const char *c = strstr(name, ".cold");

	while (c && c[5] && c[5] != '.')
		c = strstr(c + 1, ".cold");
	if (!c)
		return false;
	c += 5;
	if (!*c)
		return true;
	if (!c[1])
		return false;
	for (c++; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

/*
 * Code that is jumped to, not called, so [rsp] holds no return address at
 * its first instruction: ld.so's lazy-binding trampolines (the PLT pushes
 * a relocation index after the caller's return address), the signal
 * return trampoline (rt_sigreturn's frame), and ld.so's and the program's
 * startup, and a compiler's cold parts of functions (is_cold_part()).
 * Name prefixes: _dl_runtime_resolve_xsavec, _dl_start_user, ...
 */
static const char *const not_called_prefixes[] = {
	"_dl_runtime_resolve", "_dl_runtime_profile", "__restore_rt", "_dl_start",
};

static bool not_called(const char *name)
{
	if (!name)
		return false;
	if (!strcmp(name, "_start") || is_cold_part(name))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(not_called_prefixes); i++)
		if (!strncmp(name, not_called_prefixes[i], strlen(not_called_prefixes[i])))
			return true;
	return false;
}

/*
 * A return probe hijacks the return address at [rsp], which holds it only
 * at a function's first instruction; and Go copies goroutine stacks, return
 * addresses included, which no return could then be matched to.
 */
static int check_retprobe(struct uprobe_tracer *t, struct elf_file *f, uint64_t off, bool force)
{
	const struct elf_sym *sym;
	uint64_t vaddr;

	if (elf_off_to_vaddr(f, off, &vaddr) == 0) {
		sym = elf_sym_containing(f, vaddr);
		if (sym && sym->vaddr != vaddr)
			return tracer_err(t, -EINVAL,
					  "%s: return probes go on a function's first instruction, "
					  "not %s+0x%llx", base_name(f->path), sym->name,
					  (unsigned long long)(vaddr - sym->vaddr));
		/*
		 * The entry point is jumped to by the kernel, not called: [rsp]
		 * holds argc, which a hijack would overwrite, and it never
		 * returns. Even opts.force does not make that a return address.
		 */
		if ((f->entry && vaddr == f->entry) || (sym && !strcmp(sym->name, "_start")))
			return tracer_err(t, -EOPNOTSUPP,
					  "%s: %s is the entry point: it is not called and never "
					  "returns ([rsp] holds argc, not a return address), so it "
					  "cannot have a return probe", base_name(f->path),
					  sym ? sym->name : "this");
		/* not even with opts.force: the hijack would overwrite the caller's data */
		if (sym && is_cold_part(sym->name))
			return tracer_err(t, -EOPNOTSUPP,
					  "%s: %s is the cold part of a function, jumped to from "
					  "its body, not called: [rsp] holds the function's data, "
					  "not a return address, so it cannot have a return probe "
					  "(probe the function itself)", base_name(f->path),
					  sym->name);
		if (sym && not_called(sym->name))
			return tracer_err(t, -EOPNOTSUPP,
					  "%s: %s is jumped to, not called: [rsp] holds no return "
					  "address there, so it cannot have a return probe",
					  base_name(f->path), sym->name);
	}
	if (force)
		return 0;
	if (f->is_go)
		return tracer_err(t, -EOPNOTSUPP,
				  "%s is a Go program: Go moves its stacks, so return probes would "
				  "break it (set opts.force to insist)", base_name(f->path));
	for (struct proc *p = t->procs; p; p = p->next)
		if (proc_plantable(p) && proc_is_go(p))
			return tracer_err(t, -EOPNOTSUPP,
					  "pid %d runs a Go program: Go moves its stacks, so return "
					  "probes would break it (set opts.force to insist)", p->pid);
	return 0;
}

/*
 * Functions that return more than once per call: each saves its return
 * address to come back through it later (setjmp, getcontext), or returns
 * in two processes on one stack (vfork). Their return probes do not
 * hijack that address (retprobe.c). glibc's names and aliases, and
 * musl's; fork returns once in each process, with its own copy of the
 * stack, and needs nothing of this.
 */
static const char *const twice_names[] = {
	"setjmp", "_setjmp", "__setjmp", "sigsetjmp", "__sigsetjmp", "savectx",
	"getcontext", "__getcontext", "vfork", "__vfork", "__libc_vfork",
};

static bool returns_twice(const struct elf_file *f, uint64_t off)
{
	const struct elf_sym *sym;
	uint64_t vaddr;

	if (elf_off_to_vaddr(f, off, &vaddr) < 0)
		return false;
	sym = elf_sym_containing(f, vaddr);
	if (!sym || sym->vaddr != vaddr)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(twice_names); i++)
		if (!strcmp(sym->name, twice_names[i]))
			return true;
	return false;
}

/*
 * Is off a function's first instruction, where [rsp] holds the return
 * address that uprobe_hit_override_return() returns to? A symbol's start
 * (or the symbol the probe was added with, at offset 0: an IFUNC's
 * implementation may have no symbol of its own), never the entry point,
 * which is jumped to with argc at [rsp], nor code only jumped to
 * (not_called(), by the symbol there or the one the probe was added with).
 */
static bool is_func_entry(const struct elf_file *f, uint64_t off, const char *symbol,
			  bool sym_start)
{
	const struct elf_sym *sym;
	uint64_t vaddr;

	if (elf_off_to_vaddr(f, off, &vaddr) < 0 || (f->entry && vaddr == f->entry))
		return false;
	sym = elf_sym_containing(f, vaddr);
	if ((sym && not_called(sym->name)) || not_called(symbol))
		return false;
	return sym_start || (sym && sym->vaddr == vaddr);
}

/*
 * The instruction starts of a function, decoded once from its symbol's
 * start: adding a probe at every instruction of a large function must not
 * decode it again for each one.
 */
static struct bound_cache *boundaries(struct uprobe_tracer *t, const struct elf_file *f,
				      const struct elf_sym *sym)
{
	struct bound_cache *c;
	uint64_t cur, size = sym->size;

	for (unsigned i = 0; i < ARRAY_SIZE(t->bcache); i++) {
		c = &t->bcache[i];
		if (c->f == f && c->sym_off == sym->off && c->size == size)
			return c;
	}
	c = &t->bcache[t->bcache_next++ % ARRAY_SIZE(t->bcache)];
	free(c->starts);
	memset(c, 0, sizeof(*c));
	if (sym->off >= f->size)
		return NULL;
	if (size > f->size - sym->off)
		size = f->size - sym->off;
	c->starts = calloc(size / 8 + 1, 1);
	if (!c->starts)
		return NULL;
	c->f = f;
	c->sym_off = sym->off;
	c->size = sym->size;
	for (cur = 0; cur < size;) {
		int len = arch_insn_len(f->data + sym->off + cur, f->size - sym->off - cur);

		if (len < 0)
			break;
		c->starts[cur / 8] |= 1 << (cur % 8);
		cur += len;
	}
	c->decoded = cur;
	return c;
}

void probe_bcache_free(struct uprobe_tracer *t)
{
	for (unsigned i = 0; i < ARRAY_SIZE(t->bcache); i++) {
		free(t->bcache[i].starts);
		memset(&t->bcache[i], 0, sizeof(t->bcache[i]));
	}
}

/*
 * Is file offset off of f an instruction's start? Decoded from the start
 * of the function symbol that contains it or, when none does, from
 * start_off (UINT64_MAX: none), the start of the function the probe was
 * named by, called name: an IFUNC's implementation with no symbol of its
 * own (glibc's __strrchr_evex is just code after the resolver's), a
 * symbol of size 0. An int3 in the middle of an instruction would be
 * SIGILL or worse for the program.
 */
static int check_boundary(struct uprobe_tracer *t, struct elf_file *f, uint64_t off,
			  const char *name, uint64_t start_off)
{
	const struct elf_sym *sym;
	struct elf_sym from;
	struct bound_cache *c;
	uint64_t vaddr, rel;

	if (elf_off_to_vaddr(f, off, &vaddr) < 0)
		return tracer_err(t, -EINVAL, "%s: file offset 0x%llx is not mapped by any segment",
				  base_name(f->path), (unsigned long long)off);
	sym = elf_sym_containing(f, vaddr);
	if (!sym && start_off <= off && elf_off_to_vaddr(f, start_off, &from.vaddr) == 0) {
		from.name = name;
		from.off = start_off;
		from.size = off - start_off + 1;
		sym = &from;
	}
	if (!sym) {
		pr_debug("%s: no symbol contains 0x%llx; cannot verify the instruction boundary",
			 base_name(f->path), (unsigned long long)vaddr);
		return 0;
	}
	/* a function's entry: nothing to decode (arch_analyse() still decodes it) */
	if (sym->vaddr == vaddr)
		return 0;
	c = boundaries(t, f, sym);
	if (!c)
		return tracer_err(t, -ENOMEM, "out of memory");
	rel = off - sym->off;
	if (rel >= c->decoded)
		return tracer_err(t, -ENOEXEC,
				  "%s: cannot decode %s at offset 0x%llx, before 0x%llx",
				  base_name(f->path), sym->name,
				  (unsigned long long)(sym->off + c->decoded), (unsigned long long)off);
	if (!(c->starts[rel / 8] & (1 << (rel % 8))) && sym == &from)
		return tracer_err(t, -EINVAL,
				  "offset 0x%llx is not an instruction boundary in %s (its code, "
				  "with no symbol, starts at 0x%llx)",
				  (unsigned long long)vaddr, sym->name, (unsigned long long)sym->vaddr);
	if (!(c->starts[rel / 8] & (1 << (rel % 8))))
		return tracer_err(t, -EINVAL,
				  "offset 0x%llx is not an instruction boundary in %s (0x%llx-0x%llx)",
				  (unsigned long long)vaddr, sym->name, (unsigned long long)sym->vaddr,
				  (unsigned long long)(sym->vaddr + sym->size));
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
	char path[4096], why[256];
	struct elf_file *f;
	const struct elf_sym *sym = NULL;
	struct site *s = NULL;
	uint64_t off, start_off = UINT64_MAX;
	bool new_site = false, need_plant = false;
	int err;

	*no_binary = false;
	err = resolve_binary(t, binary, path, sizeof(path));
	if (err) {
		*no_binary = true;
		return err;
	}
	f = mapped_elf(t, path);
	if (!f) {
		err = elf_open(path, &f, why, sizeof(why));
		if (err)
			return tracer_err(t, err, "%s", why);
	}
	if (symbol) {
		sym = elf_find_sym(f, symbol);
		if (!sym)
			return tracer_err(t, -ENOENT, "%s: no symbol '%s'", base_name(f->path), symbol);
		if (sym->size && offset >= sym->size)
			return tracer_err(t, -EINVAL, "%s: offset 0x%llx is beyond the end of '%s' "
					  "(size 0x%llx)", base_name(f->path),
					  (unsigned long long)offset, symbol,
					  (unsigned long long)sym->size);
		off = sym->off + offset;
		start_off = sym->off;
		if (sym->ifunc) {
			struct elf_file *impl;
			uint64_t impl_off = 0;

			err = resolve_ifunc(t, f, sym, &impl, &impl_off);
			if (err)
				return err;
			f = impl;
			off = impl_off + offset;
			start_off = impl_off;
		}
	} else {
		off = offset;
	}
	if (!elf_exec_seg_at_off(f, off))
		return tracer_err(t, -EINVAL, "%s: file offset 0x%llx is not in an executable segment",
				  base_name(f->path), (unsigned long long)off);
	err = check_boundary(t, f, off, symbol, start_off);
	if (err)
		return err;
	if (u->ret_handler) {
		err = check_retprobe(t, f, off, force);
		if (err)
			return err;
	}

	s = site_find(t, f->dev, f->ino, off);
	if (s && !s->nprobes) {
		/* retired: its plan and slots are still good; plant it again */
		need_plant = true;
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
			tracer_err(t, err, "%s: cannot probe offset 0x%llx%s%s: %s", base_name(f->path),
				   (unsigned long long)off, symbol ? " in " : "",
				   symbol ? symbol : "", why);
			site_free(t, s);
			return err;
		}
		s->twice = returns_twice(f, off);
		s->func_entry = is_func_entry(f, off, symbol, symbol && !offset);
		new_site = true;
		need_plant = true;
	} else if (!s->func_entry && symbol && !offset) {
		/* first probed by a file offset no symbol starts at: an IFUNC's implementation */
		s->func_entry = is_func_entry(f, off, symbol, true);
	}
	if (s->nprobes == UINT16_MAX)
		return tracer_err(t, -ENOSPC, "%s: offset 0x%llx already has %u probes",
				  base_name(f->path), (unsigned long long)off, s->nprobes);
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
		err = 0;
		for (struct proc *p = t->procs; p && !err; p = p->next)
			if (proc_plantable(p))
				err = for_each_vaddr(p, s, post_slot_cb, t);
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
		site_kind_changed(t, s);
	if (u->ret_handler) {
		s->nret++;
		if (t->nretprobes++ == 0) {
			/* the first return probe: watch unwinders and longjmp from now on */
			for (struct proc *p = t->procs; p; p = p->next)
				if (proc_plantable(p))
					watch_proc(t, p);
		}
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

static void pools_init(struct uprobe_tracer *t)
{
	if (!t->probe_pool.size) {
		pool_init(&t->probe_pool, sizeof(struct uprobe));
		pool_init(&t->site_pool, sizeof(struct site));
	}
}

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
			    map_is_file(m, s->elf))
				return true;
		}
	}
	return !any;
}

UPROBE_API struct uprobe *uprobe_add(struct uprobe_tracer *t, const char *binary,
				     const char *symbol, uint64_t offset,
				     const struct uprobe_opts *opts)
{
	struct uprobe *u = NULL;
	bool no_binary;
	int err;

	if (!t || !binary) {
		errno = EINVAL;
		return NULL;
	}
	pools_init(t);
	if (!OPTS_VALID(opts, uprobe_opts)) {
		err = tracer_err(t, -EINVAL, "uprobe_opts: unknown fields set");
		goto fail;
	}
	if (OPTS_GET(opts, nostop, false) &&
	    (OPTS_GET(opts, ret_handler, NULL) || OPTS_GET(opts, post_handler, NULL))) {
		err = tracer_err(t, -EINVAL, "uprobe_opts: a no-stop probe cannot have a %s handler "
				 "(it needs the thread stopped)",
				 OPTS_GET(opts, ret_handler, NULL) ? "return" : "post");
		goto fail;
	}
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
	u->t = t;
	u->handler = OPTS_GET(opts, handler, NULL);
	u->ret_handler = OPTS_GET(opts, ret_handler, NULL);
	if (OPTS_GET(opts, post_handler, NULL) || OPTS_GET(opts, fault_handler, NULL)) {
		u->more = malloc(sizeof(*u->more));
		if (!u->more) {
			err = tracer_err(t, -ENOMEM, "out of memory");
			goto fail;
		}
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
static void place_pending(struct uprobe_tracer *t)
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
		/*
		 * Last probe on the instruction: the int3 goes. A thread that
		 * already trapped on it is rewound when its stop is handled.
		 */
		for (struct proc *p = t->procs; p; p = p->next)
			if (!p->mm_owner)
				for_each_vaddr(p, s, unplant_cb, NULL);
	} else {
		site_kind_changed(t, s);
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

/* Frees the sites that slots of gone processes left, and everything probes came from. */
void probe_free_all(struct uprobe_tracer *t)
{
	if (t->site_hash) {
		for (size_t h = 0; h < SITE_HASH; h++) {
			while (t->site_hash[h]) {
				struct site *s = t->site_hash[h];

				t->site_hash[h] = s->hnext;
				site_free(t, s);
			}
		}
	}
	free(t->site_hash);
	t->site_hash = NULL;
	pool_destroy(&t->probe_pool);
	pool_destroy(&t->site_pool);
	ri_pool_destroy(t);
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
	struct uprobe *u = uprobe_add(t, path, symbol, offset, &o);

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

int probe_open_binary(struct uprobe_tracer *t, const char *binary, struct elf_file **f)
{
	char path[4096], why[256];
	int err;

	err = resolve_binary(t, binary, path, sizeof(path));
	if (err)
		return err;
	*f = mapped_elf(t, path);
	if (*f)
		return 0;
	err = elf_open(path, f, why, sizeof(why));
	return err ? tracer_err(t, err, "%s", why) : 0;
}

bool probe_map_is_file(const struct map_entry *m, const struct elf_file *f)
{
	return map_is_file(m, f);
}

bool probe_proc_plantable(struct proc *p)
{
	return proc_plantable(p);
}
