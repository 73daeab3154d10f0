// SPDX-License-Identifier: LGPL-2.1-or-later
/* Whether a jump detour can be made at an address, from the ELF file alone. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/*
 * The static half of detour.c's rules, asked once per site: covering more
 * than one instruction is only safe where no thread can be, or ever come
 * back to, an address strictly inside (addr, addr + covered). From the file,
 * the function must be known from its symbol and decode fully, no direct
 * branch of it (or of its .cold/.part pieces) may target the range, it may
 * hold no indirect jump (jump tables), and only the last covered instruction
 * may branch (a call in the middle would leave return addresses inside).
 * Several instructions in the middle of a function also need no direct
 * branch of any function of the file into the range (blocks re-entered from
 * pieces not named after it), and no exception landing pad inside it (the
 * unwinder jumps to those: read from .eh_frame and the LSDAs, or assumed
 * anywhere in a file with .gcc_except_table when they cannot be read). The
 * dynamic half (threads, stacks: detour_threads.c; other breakpoints:
 * detour_make.c) is asked at each attempt.
 */

int detour_rules_covered(const struct elf_file *f, uint64_t start, struct detour_covered *c)
{
	c->n = c->len = 0;
	while (c->len < ARCH_JMP_LEN) {
		struct arch_plan *pl = &c->plans[c->n];
		uint64_t off = start + c->len;

		if (c->n == DETOUR_MAX_COVERED || off >= f->size ||
		    arch_analyse(f->data + off, f->size - off, pl, NULL, 0))
			return -ENOEXEC;
		c->len += pl->len;
		c->n++;
		if (!arch_detour_ok(pl, c->len >= ARCH_JMP_LEN))
			return -EOPNOTSUPP;
	}
	return 0;
}

/* 0 when no instruction of [start, start + size) jumps strictly inside (lo, hi); file offsets. */
static int scan_function(const struct elf_file *f, uint64_t start, uint64_t size, uint64_t lo,
			 uint64_t hi)
{
	if (start > f->size || size > f->size - start)
		return -ENOEXEC;
	for (uint64_t cur = 0; cur < size;) {
		bool ind_jmp, has_target;
		int64_t target_off = 0;
		int len = arch_insn_flow(f->data + start + cur, size - cur, &ind_jmp, &has_target,
					 &target_off);
		uint64_t target = start + cur + (uint64_t)target_off;

		if (len < 0)
			return -ENOEXEC;
		if (ind_jmp || (has_target && target > lo && target < hi))
			return -EXDEV;
		cur += (uint64_t)len;
	}
	return 0;
}

struct sibling_scan {
	const struct elf_file *f;
	uint64_t self, lo, hi;
};

static int scan_sibling(const struct elf_sym *sym, void *ctx)
{
	struct sibling_scan *c = ctx;

	if (sym->off == c->self || !sym->size)
		return 0;
	return scan_function(c->f, sym->off, sym->size, c->lo, c->hi) ? -EXDEV : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Every direct branch target of every function symbol of one file, as file
 * offsets, sorted: made on first need (mid-function detours), then kept as
 * long as the process, as the parsed file itself is. The parsed file is
 * shared and never changed after elf_open(), so the targets live here, found
 * by the file's serial: never by its address, which a file freed by
 * elf_cache_clear() may leave to the next one parsed.
 */
struct file_targets {
	uint64_t serial; /* elf_file.serial */
	uint64_t *v;
	size_t n;
	int err; /* -errno: some function does not decode, every range counts as jumped into */
	struct file_targets *next;
};

/* elf_files are shared by tracers in other threads: one makes the targets, the others wait */
static pthread_mutex_t targets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct file_targets *targets_cache;

/*
 * Every direct branch target of every function of f (file offsets, sorted)
 * into *vp and *np: 0, or -errno when some function does not decode (its
 * jumps are then unknown, and so is any range of the file).
 */
static int make_targets(const struct elf_file *f, uint64_t **vp, size_t *np)
{
	size_t cap = 0, n = 0;
	uint64_t *v = NULL, last = UINT64_MAX;

	for (size_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *sym = &f->syms[i];

		if (!sym->size || sym->off == last)
			continue;
		last = sym->off;
		if (sym->off > f->size || sym->size > f->size - sym->off)
			goto bad;
		for (uint64_t cur = 0; cur < sym->size;) {
			bool ind_jmp, has_target;
			int64_t target_off = 0;
			int len = arch_insn_flow(f->data + sym->off + cur, sym->size - cur, &ind_jmp,
						 &has_target, &target_off);

			if (len < 0)
				goto bad;
			if (has_target) {
				if (n == cap) {
					uint64_t *nv = reallocarray(v, cap ? cap * 2 : 4096, sizeof(*v));

					if (!nv)
						goto bad;
					v = nv;
					cap = cap ? cap * 2 : 4096;
				}
				v[n++] = sym->off + cur + (uint64_t)target_off;
			}
			cur += (uint64_t)len;
		}
	}
	if (n) /* qsort's array may not be NULL, even empty */
		qsort(v, n, sizeof(*v), cmp_u64);
	*vp = v;
	*np = n;
	return 0;
bad:
	free(v);
	return -ENOEXEC;
}

/* Does the sorted v[0..n) hold a value strictly inside (lo, hi)? */
static bool sorted_inside(const uint64_t *v, size_t n, uint64_t lo, uint64_t hi)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (v[m] <= lo)
			a = m + 1;
		else
			b = m;
	}
	return a < n && v[a] < hi;
}

/*
 * Does some direct branch of f land strictly inside (lo, hi)? Unknown counts
 * as yes: a file that does not decode, or no memory for its cache entry (not
 * kept: the next call tries again).
 */
static bool file_jumps_into(const struct elf_file *f, uint64_t lo, uint64_t hi)
{
	struct file_targets *e;
	bool yes;

	pthread_mutex_lock(&targets_lock);
	for (e = targets_cache; e && e->serial != f->serial; e = e->next)
		;
	if (!e && (e = calloc(1, sizeof(*e)))) {
		e->serial = f->serial;
		e->err = make_targets(f, &e->v, &e->n);
		e->next = targets_cache;
		targets_cache = e;
	}
	yes = !e || e->err || sorted_inside(e->v, e->n, lo, hi);
	pthread_mutex_unlock(&targets_lock);
	return yes;
}

void detour_rules_cache_clear(void)
{
	struct file_targets *e, *next;

	pthread_mutex_lock(&targets_lock);
	for (e = targets_cache; e; e = next) {
		next = e->next;
		free(e->v);
		free(e);
	}
	targets_cache = NULL;
	pthread_mutex_unlock(&targets_lock);
}

/*
 * Does the unwinder enter (lo, hi) at an exception landing pad of f? When
 * the file's exception data cannot be read, any file with LSDAs counts as
 * yes; one without has no landing pads to miss.
 */
static bool pad_inside(struct elf_file *f, uint64_t lo, uint64_t hi)
{
	if (elf_landing_pads(f))
		return f->has_lsda;
	return sorted_inside(f->pads, f->npads, lo, hi);
}

int detour_rules_analyse(struct elf_file *f, uint64_t off, const char **whyp)
{
	struct sibling_scan sc = { .f = f, .lo = off };
	const struct elf_sym *sym = NULL;
	const char *why = NULL;
	struct detour_covered c;
	uint64_t vaddr;
	char pat[512];
	bool mid_multi;

	if (elf_off_to_vaddr(f, off, &vaddr) == 0)
		sym = elf_sym_containing(f, vaddr);
	if (!sym || !sym->size)
		why = "no function symbol contains it";
	else if (detour_rules_covered(f, off, &c))
		why = "an instruction it would cover cannot be copied into one";
	else if (off + c.len > sym->off + sym->size)
		why = "the function ends inside the jump";
	if (!why) {
		mid_multi = vaddr != sym->vaddr && c.n > 1;
		if (mid_multi && pad_inside(f, off, off + c.len))
			why = "it would cover several instructions in the middle of the function, and an "
			      "exception landing pad lies among them (or the file's are unknown)";
		else if (mid_multi && file_jumps_into(f, off, off + c.len))
			why = "it would cover several instructions in the middle of the function, and a "
			      "jump of the file lands among them (or the file does not decode)";
		else if (scan_function(f, sym->off, sym->size, off, off + c.len))
			why = "the function has an indirect jump, a jump into the range, or does not "
			      "decode";
		else if (strpbrk(sym->name, "*?[\\") ||
			 snprintf(pat, sizeof(pat), "%s.*", sym->name) >= (int)sizeof(pat))
			why = "its pieces (.cold, .part) cannot be looked up";
	}
	if (!why) {
		sc.self = sym->off;
		sc.hi = off + c.len;
		if (elf_for_each_match(f, pat, scan_sibling, &sc) < 0)
			why = "a piece of the function (.cold, .part) jumps into the range";
	}
	if (whyp)
		*whyp = why;
	return why ? -EOPNOTSUPP : (int)c.len;
}
