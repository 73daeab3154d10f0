// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzzing of what libuprobe reads from ELF files (lib/elf.c, elf_sym.c and
 * ehframe.c: headers, segments, symbol tables and versions, .eh_frame and
 * the LSDAs; and detour.c's decoding of every function): mutants of real
 * files, each opened afresh, must be refused with -ENOEXEC or give answers
 * that agree with each other and with a brute-force reading of the parsed
 * tables.
 */
#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "fuzz.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define MAX_REGIONS 16
#define CASE_SECONDS 30 /* one mutant, ASan and a loaded machine included */

static const char *fx_pie, *fx_lsda, *fx_ver, *fx_eh, *fx_nopie, *fx_stripped;
static char tmpdir[64];

/* Byte ranges of a file worth aiming at: tables and the exception data. */
struct region {
	const char *what;
	uint64_t off, size;
};

struct base {
	const char *name;
	uint8_t *data;
	size_t size;
	struct region reg[MAX_REGIONS];
	unsigned nreg;
};

static void add_region(struct base *b, const char *what, uint64_t off, uint64_t size)
{
	if (!size || off >= b->size || b->nreg == MAX_REGIONS)
		return;
	if (size > b->size - off)
		size = b->size - off;
	b->reg[b->nreg++] = (struct region){ what, off, size };
}

static const struct region *find_region(const struct base *b, const char *what)
{
	for (unsigned i = 0; i < b->nreg; i++)
		if (!strcmp(b->reg[i].what, what))
			return &b->reg[i];
	return NULL;
}

/* The file in memory, and where libelf says its tables are. */
static void load_base(struct base *b, const char *path)
{
	static const char *const secs[] = {
		".symtab", ".dynsym", ".strtab", ".dynstr", ".gnu.version", ".gnu.version_d",
		".eh_frame", ".gcc_except_table", ".text",
	};
	struct stat st;
	GElf_Ehdr eh;
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd = open(path, O_RDONLY);

	memset(b, 0, sizeof(*b));
	b->name = path;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b->size = (size_t)st.st_size;
	b->data = malloc(b->size);
	assert_non_null(b->data);
	assert_int_equal(pread(fd, b->data, b->size, 0), (ssize_t)b->size);
	close(fd);

	elf_version(EV_CURRENT);
	elf = elf_memory((char *)b->data, b->size);
	assert_non_null(elf);
	assert_non_null(gelf_getehdr(elf, &eh));
	add_region(b, "ehdr", 0, sizeof(Elf64_Ehdr));
	add_region(b, "phdrs", eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize);
	add_region(b, "shdrs", eh.e_shoff, (uint64_t)eh.e_shnum * eh.e_shentsize);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		assert_non_null(gelf_getshdr(scn, &sh));
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		for (size_t i = 0; name && i < ARRAY_SIZE(secs); i++)
			if (!strcmp(name, secs[i]) && sh.sh_type != SHT_NOBITS)
				add_region(b, secs[i], sh.sh_offset, sh.sh_size);
	}
	elf_end(elf);
}

/* Values that tend to sit on a boundary: zero, all ones, sign bits, the file's size. */
static uint64_t interesting(struct rng *r, const struct base *b)
{
	switch (rng_below(r, 10)) {
	case 0: return 0;
	case 1: return ~0ull;
	case 2: return 0x7fffffffffffffffull >> (8 * rng_below(r, 8));
	case 3: return 0x80ull << (8 * rng_below(r, 8));
	case 4: return b->size + rng_below(r, 3) - 1;
	case 5: return rng_below(r, 16);
	case 6: return 0xffffffffull - rng_below(r, 2);
	default: return rng_next(r);
	}
}

static void put_le(uint8_t *p, uint64_t v, unsigned w)
{
	for (unsigned i = 0; i < w; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One mutant of b into buf (b->size bytes); returns its length and names the mutation. */
static size_t mutate(struct rng *r, const struct base *b, uint8_t *buf, char *what, size_t wlen)
{
	size_t len = b->size;
	unsigned rounds = 1 + rng_chance(r, 4);

	memcpy(buf, b->data, b->size);
	what[0] = '\0';
	while (rounds--) {
		unsigned kind = (unsigned)rng_below(r, 8);
		size_t at = strlen(what);

		if (kind == 0) {
			unsigned n = 1 + rng_below(r, 16);

			for (unsigned i = 0; i < n; i++) {
				size_t o = rng_below(r, len);

				buf[o] ^= (uint8_t)(1u << rng_below(r, 8));
			}
			snprintf(what + at, wlen - at, "%u bit flips; ", n);
		} else if (kind == 1) {
			unsigned n = 1 + rng_below(r, 16);

			for (unsigned i = 0; i < n; i++)
				buf[rng_below(r, len)] = (uint8_t)interesting(r, b);
			snprintf(what + at, wlen - at, "%u bytes overwritten; ", n);
		} else if (kind == 2) {
			/* mostly past the headers: a file cut short in its tables */
			len = rng_chance(r, 4) ? rng_below(r, len) : len - rng_below(r, len / 2 + 1);
			snprintf(what + at, wlen - at, "truncated at %zu; ", len);
		} else {
			const struct region *g = &b->reg[rng_below(r, b->nreg)];
			unsigned n = 1 + rng_below(r, 4);

			for (unsigned i = 0; i < n; i++) {
				unsigned w = 1u << rng_below(r, 4);
				uint64_t o = g->off + rng_below(r, g->size);

				uint64_t v = 0;

				if (o + w > len)
					continue;
				/* a nudge keeps a length or offset almost right: the parse goes deeper */
				for (unsigned j = 0; j < w; j++)
					v |= (uint64_t)buf[o + j] << (8 * j);
				v = rng_chance(r, 2) ? v + rng_below(r, 17) - 8 : interesting(r, b);
				put_le(buf + o, v, w);
			}
			snprintf(what + at, wlen - at, "%u values in %s; ", n, g->what);
		}
	}
	return len;
}

/* ---- the checks: what a parsed file must satisfy, whatever its bytes ---- */

/* How far the mutants got: a test whose mutants all stop early tests nothing. */
struct stats {
	unsigned opened, with_pads, pads_refused, detours, mid_detours;
};

struct match_ctx {
	const struct elf_file *f;
	int calls;
};

static int match_cb(const struct elf_sym *s, void *ctx)
{
	struct match_ctx *m = ctx;

	assert_true(s >= m->f->syms && s < m->f->syms + m->f->nsyms);
	m->calls++;
	return 0;
}

/* The smallest symbol containing vaddr, by reading every one. */
static const struct elf_sym *brute_containing(const struct elf_file *f, uint64_t vaddr)
{
	const struct elf_sym *best = NULL;

	for (size_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *s = &f->syms[i];

		/* [vaddr, vaddr + size) ends at the top of the address space, it does not wrap */
		if (vaddr >= s->vaddr && vaddr - s->vaddr < s->size &&
		    (!best || s->size < best->size))
			best = s;
	}
	return best;
}

static void check_containing(const struct elf_file *f, uint64_t q)
{
	const struct elf_sym *got = elf_sym_containing(f, q), *want = brute_containing(f, q);

	if (!want != !got ||
	    (got && (q < got->vaddr || q - got->vaddr >= got->size || got->size != want->size)))
		fail_msg("case %s: elf_sym_containing(0x%llx): %s size %llu, want %s size %llu",
			 fuzz_case, (unsigned long long)q, got ? got->name : "none",
			 got ? (unsigned long long)got->size : 0ull, want ? want->name : "none",
			 want ? (unsigned long long)want->size : 0ull);
}

static void check_syms(struct rng *r, const struct elf_file *f)
{
	struct match_ctx m = { .f = f };
	int n;

	for (size_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *s = &f->syms[i], *got;
		uint64_t off;
		char key[1024];

		assert_non_null(s->name);
		if (i)
			assert_true(f->syms[i - 1].vaddr <= s->vaddr);
		/* every symbol's bytes are named by a segment, and off is where */
		assert_int_equal(elf_vaddr_to_off(f, s->vaddr, &off), 0);
		assert_true(off == s->off);
		/* elf_read_symtab(): "only bytes in the file can be decoded or probed" */
		if (s->off >= f->size)
			fail_msg("case %s: %s at offset 0x%llx, past the file's %zu bytes", fuzz_case,
				 s->name, (unsigned long long)s->off, f->size);
		if (s->version && !*s->version)
			fail_msg("case %s: %s has an empty version", fuzz_case, s->name);

		got = elf_find_sym(f, s->name);
		if (got && strcmp(got->name, s->name))
			fail_msg("case %s: elf_find_sym(%s) gave %s", fuzz_case, s->name, got->name);
		if (s->default_version && (!got || !got->default_version))
			fail_msg("case %s: elf_find_sym(%s): no default version", fuzz_case, s->name);
		if (s->version && snprintf(key, sizeof(key), "%s@%s%s", s->name,
					   s->default_version ? "@" : "", s->version) <
					  (int)sizeof(key)) {
			got = elf_find_sym(f, key);
			if (!got || strcmp(got->name, s->name) || !got->version ||
			    strcmp(got->version, s->version) ||
			    (s->default_version && !got->default_version))
				fail_msg("case %s: elf_find_sym(%s) missed it", fuzz_case, key);
		}
	}
	/* inside symbols (their first, last and some byte), and anywhere */
	for (int k = 0; k < 200 && f->nsyms; k++) {
		const struct elf_sym *s = &f->syms[rng_below(r, f->nsyms)];

		check_containing(f, s->vaddr);
		if (s->size) {
			check_containing(f, s->vaddr + s->size - 1);
			check_containing(f, s->vaddr + rng_below(r, s->size));
		}
		check_containing(f, s->vaddr + s->size);
	}
	for (int k = 0; k < 20; k++)
		check_containing(f, rng_next(r));

	n = elf_for_each_match(f, "*", match_cb, &m);
	assert_int_equal(n, m.calls);
	assert_true((size_t)n <= f->nsyms);
	if (f->nsyms)
		assert_true(n > 0);
	elf_find_sym(f, "@");
	elf_find_sym(f, "@@");
	elf_find_sym(f, "x@@");
}

static void check_pads(const struct elf_file *f, int err)
{
	if (err) {
		if (err != -ENOEXEC)
			fail_msg("case %s: elf_landing_pads: %d", fuzz_case, err);
		assert_int_equal(f->npads, 0);
		return;
	}
	for (size_t i = 0; i < f->npads; i++) {
		if (i)
			assert_true(f->pads[i - 1] < f->pads[i]);
		if (f->pads[i] >= f->size || !elf_exec_seg_at_off(f, f->pads[i]))
			fail_msg("case %s: landing pad at 0x%llx, outside the file's %zu bytes of code",
				 fuzz_case, (unsigned long long)f->pads[i], f->size);
	}
}

/* Offsets to try a jump detour at: function entries, their insides, anywhere. */
static uint64_t pick_off(struct rng *r, const struct elf_file *f)
{
	const struct elf_sym *s;

	if (!f->nsyms || rng_chance(r, 6))
		return rng_below(r, f->size + 16);
	s = &f->syms[rng_below(r, f->nsyms)];
	if (rng_chance(r, 3) || !s->size)
		return s->off;
	return s->off + rng_below(r, s->size);
}

static void check_detour(struct rng *r, struct elf_file *f, int pads_err, struct stats *st)
{
	for (int k = 0; k < 6; k++) {
		uint64_t off = pick_off(r, f), vaddr;
		const char *why = (const char *)1;
		const struct elf_sym *s;
		int len = detour_rules_analyse(f, off, &why), first;

		if (len < 0) {
			if (len != -EOPNOTSUPP || !why)
				fail_msg("case %s: detour_rules_analyse(0x%llx): %d, why %p", fuzz_case,
					 (unsigned long long)off, len, (const void *)why);
			continue;
		}
		if (why || len < ARCH_JMP_LEN || len > ARCH_JMP_LEN - 1 + ARCH_MAX_INSN)
			fail_msg("case %s: detour_rules_analyse(0x%llx): %d", fuzz_case,
				 (unsigned long long)off, len);
		/* accepted: inside a function it does not overrun, and no pad among the copies */
		assert_int_equal(elf_off_to_vaddr(f, off, &vaddr), 0);
		s = elf_sym_containing(f, vaddr);
		assert_non_null(s);
		assert_true(off + (uint64_t)len <= s->off + s->size);
		st->detours++;
		first = arch_insn_len(f->data + off, f->size - off);
		if (vaddr == s->vaddr || first == len)
			continue;
		st->mid_detours++;
		if (pads_err)
			assert_false(f->has_lsda);
		for (size_t i = 0; !pads_err && i < f->npads; i++)
			if (f->pads[i] > off && f->pads[i] < off + (uint64_t)len)
				fail_msg("case %s: detour over the landing pad 0x%llx", fuzz_case,
					 (unsigned long long)f->pads[i]);
	}
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Writes, opens and checks n mutants of b. */
static void fuzz_file(const struct base *b, uint64_t seed, unsigned n, struct stats *st)
{
	struct rng r = { fuzz_seed(seed) };
	uint8_t *buf = malloc(b->size);
	char path[128], what[200];

	assert_non_null(buf);
	for (unsigned it = 0; it < n; it++) {
		size_t len = mutate(&r, b, buf, what, sizeof(what));
		struct elf_file *f;
		char why[512] = "";
		int err;

		fuzz_set_case("%s seed 0x%llx iteration %u: %s", b->name,
			      (unsigned long long)fuzz_seed(seed), it, what);
		alarm(CASE_SECONDS);
		snprintf(path, sizeof(path), "%s/m%u", tmpdir, it);
		write_file(path, buf, len);

		err = elf_open(path, &f, why, sizeof(why));
		if (err) {
			if (err != -ENOEXEC || !why[0])
				fail_msg("case %s: elf_open: %d (%s)", fuzz_case, err, why);
		} else {
			int pads_err;

			st->opened++;
			assert_true(f->size == len);
			assert_true(f->nsegs <= len);
			check_syms(&r, f);
			pads_err = elf_landing_pads(f);
			check_pads(f, pads_err);
			assert_int_equal(elf_landing_pads(f), pads_err);
			st->pads_refused += pads_err != 0;
			st->with_pads += f->npads > 0;
			check_detour(&r, f, pads_err, st);
		}
		/* a fresh inode next time could take this one's number: forget it */
		elf_cache_clear();
		detour_rules_cache_clear();
		unlink(path);
	}
	alarm(0);
	free(buf);
}

/* The unchanged file must parse, with the tables the mutations aim at. */
static void base_ok(const struct base *b, bool want_lsda)
{
	struct elf_file *f;
	char why[512] = "";

	if (elf_open(b->name, &f, why, sizeof(why)))
		fail_msg("%s: %s", b->name, why);
	assert_true(f->nsyms > 0);
	assert_int_equal(elf_landing_pads(f), 0);
	if (want_lsda) {
		assert_true(f->npads > 0);
		assert_non_null(find_region(b, ".gcc_except_table"));
	}
	assert_non_null(find_region(b, ".eh_frame"));
	assert_non_null(find_region(b, ".dynsym"));
	assert_non_null(find_region(b, "shdrs"));
	elf_cache_clear();
}

#define FIXTURE_ITERS 3000

static void run_one(const char *path, uint64_t seed, unsigned n, bool want_lsda)
{
	struct base b;
	struct stats st = {};

	n = fuzz_iters(n);
	load_base(&b, path);
	base_ok(&b, want_lsda);
	fuzz_file(&b, seed, n, &st);
	print_message("%s: %u mutants, %u opened, %u with landing pads, %u refused them, "
		      "%u detours (%u mid-function)\n", path, n, st.opened, st.with_pads,
		      st.pads_refused, st.detours, st.mid_detours);
	/* most mutants must get past elf_open, or the parsers behind it go untested */
	assert_true(st.opened > n / 2 && st.detours > n / 2 && st.mid_detours > n / 20);
	if (want_lsda)
		assert_true(st.with_pads > n / 4 && st.pads_refused > n / 50);
	free(b.data);
}

static void test_pie(void **state)
{
	run_one(fx_pie, 0xe1f0, FIXTURE_ITERS, false);
}

static void test_lsda(void **state)
{
	run_one(fx_lsda, 0xe1f1, FIXTURE_ITERS, true);
}

static void test_ver(void **state)
{
	run_one(fx_ver, 0xe1f2, FIXTURE_ITERS, false);
}

/* ET_EXEC: absolute addresses are exact there, and read as such */
static void test_nopie(void **state)
{
	run_one(fx_nopie, 0xe1f5, FIXTURE_ITERS, false);
}

/* .dynsym alone */
static void test_stripped(void **state)
{
	run_one(fx_stripped, 0xe1f6, FIXTURE_ITERS, false);
}

static void test_cxx(void **state)
{
	if (!*fx_eh)
		skip();
	run_one(fx_eh, 0xe1f3, FIXTURE_ITERS, true);
}

#define LIBC_ITERS 150

static void test_libc(void **state)
{
	char copy[128];
	int in, out;
	ssize_t n;
	uint8_t chunk[65536];

	/* a copy: a mutant is never written where the system's libc is */
	snprintf(copy, sizeof(copy), "%s/libc.so.6", tmpdir);
	in = open(LIBC, O_RDONLY);
	if (in < 0)
		skip();
	out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, chunk, sizeof(chunk))) > 0)
		assert_int_equal(write(out, chunk, n), n);
	close(in);
	close(out);
	run_one(copy, 0xe1f4, LIBC_ITERS, false);
	unlink(copy);
}

/* ---- the bugs the fuzzing found, as canned mutants ---- */

/* b's bytes with edit() applied, written and opened (fresh: the cache is cleared first). */
static struct elf_file *open_edited(struct base *b, const char *name,
				    void (*edit)(struct base *b, Elf *elf, uint8_t *buf))
{
	uint8_t *buf = malloc(b->size);
	struct elf_file *f;
	char path[128], why[512] = "";
	Elf *elf;

	assert_non_null(buf);
	memcpy(buf, b->data, b->size);
	elf = elf_memory((char *)b->data, b->size);
	assert_non_null(elf);
	edit(b, elf, buf);
	elf_end(elf);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_file(path, buf, b->size);
	free(buf);
	elf_cache_clear();
	if (elf_open(path, &f, why, sizeof(why)))
		fail_msg("%s: %s", path, why);
	unlink(path);
	return f;
}

#define HUGE_SIZE 0xfffffffffffffff0ull

/* st_size of fx_inner, in both symbol tables, so big that vaddr + size wraps. */
static void edit_huge_size(struct base *b, Elf *elf, uint8_t *buf)
{
	Elf_Scn *scn = NULL;
	int n = 0;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d = elf_getdata(scn, NULL);
		GElf_Shdr sh;
		GElf_Sym sym;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			assert_non_null(gelf_getsym(d, (int)i, &sym));
			if (strcmp(elf_strptr(elf, sh.sh_link, sym.st_name), "fx_inner"))
				continue;
			put_le(buf + sh.sh_offset + i * sh.sh_entsize + offsetof(Elf64_Sym, st_size),
			       HUGE_SIZE, 8);
			n++;
		}
	}
	assert_true(n > 0);
}

/*
 * elf_sym_containing() walked back over a prefix maximum of vaddr + size
 * that had wrapped around: it missed the symbol and answered NULL.
 */
static void test_huge_size(void **state)
{
	struct base b;
	struct elf_file *f;
	const struct elf_sym *s;

	load_base(&b, fx_pie);
	f = open_edited(&b, "huge", edit_huge_size);
	s = elf_find_sym(f, "fx_inner");
	assert_non_null(s);
	assert_true(s->size == HUGE_SIZE);
	/* past every other function: only fx_inner holds it */
	assert_ptr_equal(elf_sym_containing(f, s->vaddr + (1ull << 40)), s);
	assert_ptr_equal(brute_containing(f, s->vaddr + (1ull << 40)), s);
	elf_cache_clear();
	free(b.data);
}

/* The executable PT_LOAD's p_offset far past the end of the file. */
static void edit_far_segment(struct base *b, Elf *elf, uint8_t *buf)
{
	GElf_Ehdr eh;
	size_t n;
	bool done = false;

	assert_non_null(gelf_getehdr(elf, &eh));
	assert_int_equal(elf_getphdrnum(elf, &n), 0);
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		assert_non_null(gelf_getphdr(elf, (int)i, &ph));
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		put_le(buf + eh.e_phoff + i * eh.e_phentsize + offsetof(Elf64_Phdr, p_offset),
		       ph.p_offset + 0x7f0000000000ull, 8);
		done = true;
	}
	assert_true(done);
}

/*
 * A segment whose file image lies past the end of the file gave symbols
 * and landing pads file offsets past the end of f->data.
 */
static void test_far_segment(void **state)
{
	struct base b;
	struct elf_file *f;
	int err;

	load_base(&b, fx_lsda);
	f = open_edited(&b, "far", edit_far_segment);
	for (size_t i = 0; i < f->nsyms; i++)
		if (f->syms[i].off >= f->size)
			fail_msg("%s at offset 0x%llx, past the file's %zu bytes", f->syms[i].name,
				 (unsigned long long)f->syms[i].off, f->size);
	/* its code is not in the file: no symbol there, no pad there */
	assert_null(elf_find_sym(f, "fx_lsda_a"));
	err = elf_landing_pads(f);
	assert_int_equal(err, -ENOEXEC);
	assert_int_equal(f->npads, 0);
	elf_cache_clear();
	free(b.data);
}

/* VER_1's name in .dynstr made empty. */
static void edit_empty_version(struct base *b, Elf *elf, uint8_t *buf)
{
	Elf_Scn *scn = NULL;
	bool done = false;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d = elf_getdata(scn, NULL);
		GElf_Shdr sh, str;
		GElf_Verdef vd;
		GElf_Verdaux va;
		size_t off = 0;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (sh.sh_type != SHT_GNU_verdef)
			continue;
		assert_non_null(gelf_getshdr(elf_getscn(elf, sh.sh_link), &str));
		for (size_t i = 0; i < sh.sh_info; i++, off += vd.vd_next) {
			assert_non_null(gelf_getverdef(d, off, &vd));
			assert_non_null(gelf_getverdaux(d, off + vd.vd_aux, &va));
			if (!strcmp(elf_strptr(elf, sh.sh_link, va.vda_name), "VER_1")) {
				buf[str.sh_offset + va.vda_name] = '\0';
				done = true;
			}
		}
	}
	assert_true(done);
}

/*
 * .dynsym's bar got the version "" (.symtab's "foo@" gets none), which no
 * "bar@@..." lookup can name.
 */
static void test_empty_version(void **state)
{
	struct base b;
	struct elf_file *f;
	const struct elf_sym *s;

	load_base(&b, fx_ver);
	f = open_edited(&b, "ver", edit_empty_version);
	s = elf_find_sym(f, "bar");
	assert_non_null(s);
	assert_null(s->version);
	for (size_t i = 0; i < f->nsyms; i++)
		assert_true(!f->syms[i].version || *f->syms[i].version);
	/* VER_2 is untouched */
	s = elf_find_sym(f, "foo@@VER_2");
	assert_non_null(s);
	elf_cache_clear();
	free(b.data);
}

/* A failed test leaves its mutant behind: the directory goes with whatever is in it. */
static void remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pie),
		cmocka_unit_test(test_lsda),
		cmocka_unit_test(test_ver),
		cmocka_unit_test(test_nopie),
		cmocka_unit_test(test_stripped),
		cmocka_unit_test(test_cxx),
		cmocka_unit_test(test_libc),
		cmocka_unit_test(test_huge_size),
		cmocka_unit_test(test_far_segment),
		cmocka_unit_test(test_empty_version),
	};
	int ret;

	if (argc != 7) {
		fprintf(stderr, "usage: %s fx_pie fx_lsda libfxver.so fx_nopie fx_stripped fx_eh|''\n",
			argv[0]);
		return 2;
	}
	fx_pie = argv[1];
	fx_lsda = argv[2];
	fx_ver = argv[3];
	fx_nopie = argv[4];
	fx_stripped = argv[5];
	fx_eh = argv[6];
	fuzz_init();
	signal(SIGALRM, fuzz_alarm);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fuzz_elf.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	elf_cache_clear();
	remove_tmpdir();
	return ret;
}
