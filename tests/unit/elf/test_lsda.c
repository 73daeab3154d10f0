// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of the exception landing pads ehframe.c reads from .eh_frame and
 * the LSDAs, and of the jump-detour rule built on them (detour.c): a range
 * in the middle of a function may cover several instructions unless a
 * landing pad lies strictly inside it.
 */
#include <fcntl.h>
#include <gelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"

/* Fixture paths, in the order meson passes them; fx_eh is "" without a C++ compiler. */
static const char *fx_lsda, *fx_pie, *fx_eh;

static struct elf_file *open_ok(const char *path)
{
	struct elf_file *f;
	char why[256] = "";

	if (elf_open(path, &f, why, sizeof(why)))
		fail_msg("%s: %s", path, why);
	return f;
}

static uint64_t sym_off(const struct elf_file *f, const char *name)
{
	const struct elf_sym *s = elf_find_sym(f, name);

	if (!s)
		fail_msg("%s: no symbol %s", f->path, name);
	return s->off;
}

static bool has_pad(const struct elf_file *f, uint64_t off)
{
	for (size_t i = 0; i < f->npads; i++)
		if (f->pads[i] == off)
			return true;
	return false;
}

static void check_sorted(const struct elf_file *f)
{
	for (size_t i = 1; i < f->npads; i++)
		assert_true(f->pads[i - 1] < f->pads[i]);
}

/* Refused, and for the landing-pad rule rather than another. */
static void refused_for_pad(struct elf_file *f, uint64_t off)
{
	const char *why = NULL;

	assert_int_equal(detour_rules_analyse(f, off, &why), -EOPNOTSUPP);
	assert_non_null(why);
	if (!strstr(why, "landing pad"))
		fail_msg("%s+0x%llx: refused, but: %s", f->path, (unsigned long long)off, why);
}

static void accepted(struct elf_file *f, uint64_t off, int len)
{
	const char *why = NULL;
	int got = detour_rules_analyse(f, off, &why);

	if (got != len)
		fail_msg("%s+0x%llx: %d, want %d (%s)", f->path, (unsigned long long)off, got, len,
			 why ? why : "");
}

/* fx_lsda.S: pads placed by hand, one per function, behind instructions that fall through. */
static void test_hand_made(void **state)
{
	struct elf_file *f = open_ok(fx_lsda);
	uint64_t a = sym_off(f, "fx_lsda_a"), b = sym_off(f, "fx_lsda_b");

	assert_int_equal(elf_landing_pads(f), 0);
	check_sorted(f);
	/* only ours: crt files bring none; the second call site of a has no pad */
	assert_int_equal(f->npads, 2);
	assert_int_equal(f->pads[0], a + 8);  /* LPStart omitted: the FDE's start */
	assert_int_equal(f->pads[1], b + 11); /* LPStart given, pc-relative, at +8 */

	/* mov; add: (a+3, a+8) ends at the pad, which may start a range too */
	accepted(f, a + 1, 7);
	accepted(f, a + 3, 5);
	accepted(f, a + 8, 5);
	accepted(f, a + 11, 7);
	/* add; add: the pad at a+8 lies inside (a+5, a+11) */
	refused_for_pad(f, a + 5);
	accepted(f, b + 2, 6);
	accepted(f, b + 5, 6);
	refused_for_pad(f, b + 8);
	/* at a function's entry no branch or pad can be inside (nothing jumps there but calls) */
	accepted(f, b, 5);
}

/* A copy of path with byte at off of its section sec set to val; returns the old byte. */
static uint8_t corrupt_copy(const char *path, const char *sec, uint64_t off, uint8_t val,
			    char *out, size_t outlen)
{
	int in = open(path, O_RDONLY), fd;
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	Elf *elf;
	uint64_t at = UINT64_MAX;
	uint8_t old, buf[65536];
	ssize_t n;

	assert_true(in >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(in, ELF_C_READ, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (!strcmp(elf_strptr(elf, shstrndx, sh.sh_name), sec))
			at = sh.sh_offset + off;
	}
	elf_end(elf);
	assert_true(at != UINT64_MAX);

	snprintf(out, outlen, "/tmp/test_lsda.XXXXXX");
	fd = mkstemp(out);
	assert_true(fd >= 0);
	lseek(in, 0, SEEK_SET);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(fd, buf, n), n);
	assert_int_equal(pread(fd, &old, 1, at), 1);
	assert_int_equal(pwrite(fd, &val, 1, at), 1);
	close(fd);
	close(in);
	return old;
}

/*
 * Exception data that cannot be read exactly gives no pads and an error,
 * and the file is then treated as it was before pads were read: every
 * several-instruction range in the middle of a function is refused.
 */
static void test_unreadable(void **state)
{
	struct { const char *sec; uint64_t off; uint8_t want, val; } cases[] = {
		/* LPStart "aligned": padding we cannot place */
		{ ".gcc_except_table", 0, 0xff, 0x50 },
		/* call sites pc-relative: offsets read with a base */
		{ ".gcc_except_table", 3, 0x01, 0x11 },
	};
	char path[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct elf_file *f;
		uint8_t old = corrupt_copy(fx_lsda, cases[i].sec, cases[i].off, cases[i].val, path,
					   sizeof(path));
		uint64_t a;

		f = open_ok(path);
		unlink(path);
		assert_int_equal(old, cases[i].want);
		a = sym_off(f, "fx_lsda_a");
		assert_int_equal(elf_landing_pads(f), -ENOEXEC);
		assert_int_equal(f->npads, 0);
		assert_true(f->has_lsda);
		refused_for_pad(f, a + 3);
		refused_for_pad(f, a + 11);
		/* the entry needs no pad rule */
		accepted(f, a, 5);
	}
}

/* A C program: no .gcc_except_table, no pads, and mid-function ranges are judged on jumps alone. */
static void test_plain_c(void **state)
{
	struct elf_file *f = open_ok(fx_pie);

	assert_false(f->has_lsda);
	assert_int_equal(elf_landing_pads(f), 0);
	assert_int_equal(f->npads, 0);
}

/* The FDE ranges readelf prints, as vaddrs [lo, hi). */
static int readelf_fdes(const char *path, uint64_t (*r)[2], int max)
{
	char cmd[4200], line[512];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "readelf --debug-dump=frames '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char *pc = strstr(line, " FDE ");
		unsigned long lo, hi;

		if (pc && (pc = strstr(pc, "pc=")) && sscanf(pc, "pc=%lx..%lx", &lo, &hi) == 2 &&
		    n < max) {
			r[n][0] = lo;
			r[n][1] = hi;
			n++;
		}
	}
	pclose(p);
	return n;
}

/* Is off the start of an instruction of the function sym, decoding it from its start? */
static bool insn_boundary(const struct elf_file *f, const struct elf_sym *sym, uint64_t off)
{
	for (uint64_t cur = sym->off; cur < sym->off + sym->size;) {
		int len = arch_insn_len(f->data + cur, sym->off + sym->size - cur);

		if (cur == off)
			return true;
		if (len <= 0)
			return false;
		cur += (uint64_t)len;
	}
	return false;
}

/*
 * Checks every pad of f: inside one of readelf's FDEs and a function symbol,
 * at an instruction boundary, and every range in the middle of that
 * function that covers it is refused. Returns how many pads lie in
 * functions whose name starts with prefix.
 */
static int check_pads(struct elf_file *f, bool all, const char *prefix)
{
	static uint64_t fdes[100000][2];
	int nfde = all ? readelf_fdes(f->path, fdes, 100000) : 0, in_prefix = 0;

	assert_true(!all || nfde > 0);
	for (size_t i = 0; i < f->npads; i++) {
		uint64_t off = f->pads[i], vaddr;
		const struct elf_sym *sym;
		bool in_fde = false;

		assert_non_null(elf_exec_seg_at_off(f, off));
		assert_int_equal(elf_off_to_vaddr(f, off, &vaddr), 0);
		for (int j = 0; j < nfde && !in_fde; j++)
			in_fde = vaddr >= fdes[j][0] && vaddr < fdes[j][1];
		if (all && !in_fde)
			fail_msg("%s: pad 0x%llx in no FDE", f->path, (unsigned long long)vaddr);
		sym = elf_sym_containing(f, vaddr);
		if (!sym) {
			/* glibc's .dynsym lists exported functions only */
			if (all)
				fail_msg("%s: pad 0x%llx in no function", f->path,
					 (unsigned long long)vaddr);
			continue;
		}
		if (!insn_boundary(f, sym, off))
			fail_msg("%s: pad 0x%llx not at an instruction of %s", f->path,
				 (unsigned long long)vaddr, sym->name);
		in_prefix += prefix && !strncmp(sym->name, prefix, strlen(prefix));
		/* every instruction whose detour would cover it */
		for (uint64_t cur = sym->off; cur < off;) {
			int len = arch_insn_len(f->data + cur, sym->off + sym->size - cur), got;

			assert_true(len > 0);
			got = detour_rules_analyse(f, cur, NULL);
			if (cur != sym->off && got > 0 && cur + (uint64_t)got > off)
				fail_msg("%s: detour at 0x%llx covers pad 0x%llx", f->path,
					 (unsigned long long)cur, (unsigned long long)off);
			cur += (uint64_t)len;
		}
	}
	return in_prefix;
}

/* Some range in the middle of a function of f, off the pads, may now cover several instructions. */
static bool some_mid_detour(struct elf_file *f, const char *prefix, int max_tries)
{
	int tries = 0;

	for (size_t i = 0; i < f->nsyms && tries < max_tries; i++) {
		const struct elf_sym *sym = &f->syms[i];
		uint64_t cur;
		int len;

		if (!sym->size || (prefix && strncmp(sym->name, prefix, strlen(prefix))))
			continue;
		for (cur = sym->off; cur < sym->off + sym->size && tries < max_tries;
		     cur += (uint64_t)len) {
			len = arch_insn_len(f->data + cur, sym->off + sym->size - cur);
			if (len <= 0)
				break;
			if (cur == sym->off || len >= ARCH_JMP_LEN)
				continue;
			tries++;
			if (detour_rules_analyse(f, cur, NULL) > len)
				return true;
		}
	}
	return false;
}

/* The C++ fixture: the pads the unwinder really entered are among those read from the file. */
static void test_cxx(void **state)
{
	struct elf_file *f;
	char cmd[4200], word[32];
	unsigned long vaddr;
	int ran = 0, done = 0, r;
	FILE *p;

	if (!*fx_eh)
		skip(); /* no C++ compiler where this was built */
	f = open_ok(fx_eh);
	assert_true(f->has_lsda);
	assert_int_equal(elf_landing_pads(f), 0);
	check_sorted(f);

	snprintf(cmd, sizeof(cmd), "'%s'", fx_eh);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fscanf(p, "%31s", word) == 1) {
		if (!strcmp(word, "pad") && fscanf(p, "%lx", &vaddr) == 1) {
			uint64_t off;

			assert_int_equal(elf_vaddr_to_off(f, vaddr, &off), 0);
			if (!has_pad(f, off))
				fail_msg("the unwinder entered 0x%lx, not a pad read", vaddr);
			ran++;
		} else if (!strcmp(word, "done") && fscanf(p, "%d", &r) == 1) {
			done = 1;
			assert_int_equal(r, -8);
		}
	}
	assert_int_equal(pclose(p), 0);
	assert_true(done);
	/* fx_catch's catch, fx_cleanup's cleanup (one pad per frame), main's catch */
	assert_int_equal(ran, 3);

	/* at least the ones written: fx_throw's (freeing the exception) is never entered */
	assert_true(f->npads >= 4);
	assert_true(check_pads(f, true, "fx_catch") >= 1);
	assert_true(check_pads(f, true, "fx_cleanup") >= 1);
	assert_true(some_mid_detour(f, "fx_catch", 1000));
}

/* glibc's cancellation cleanups come with LSDAs: read, and no longer blocking every detour. */
static void test_libc(void **state)
{
	struct elf_file *f = open_ok(LIBC);

	assert_true(f->has_lsda);
	assert_int_equal(elf_landing_pads(f), 0);
	assert_true(f->npads > 0);
	check_sorted(f);
	check_pads(f, false, NULL);
	assert_true(some_mid_detour(f, NULL, 20000));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_made),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_plain_c),
		cmocka_unit_test(test_cxx),
		cmocka_unit_test(test_libc),
	};
	int ret;

	if (argc != 4) {
		fprintf(stderr, "usage: %s fx_lsda fx_pie fx_eh|''\n", argv[0]);
		return 2;
	}
	fx_lsda = argv[1];
	fx_pie = argv[2];
	fx_eh = argv[3];
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	elf_cache_clear();
	detour_rules_cache_clear();
	return ret;
}
