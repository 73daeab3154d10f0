// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of lib/detour_rules.c: the instructions a jump detour would
 * cover, decoded from canned bytes, and the static rules that refuse one
 * or let it be made, on fx_detour.S's functions laid out by hand (their
 * offsets are in its comments).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

static const char *fx_path;

/* ---- detour_rules_covered() on canned bytes ---- */

/* The covered instructions of bytes from start: the call's answer; c filled. */
static int covered(const uint8_t *bytes, size_t len, uint64_t start, struct detour_covered *c)
{
	struct elf_file f = { .path = "canned", .data = bytes, .size = len };

	return detour_rules_covered(&f, start, c);
}

/* push %rbp; mov %rsp,%rbp; sub $0x10,%rsp; ret: three instructions, 8 bytes. */
static void test_covered_prologue(void **state)
{
	static const uint8_t b[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10, 0xc3 };
	struct detour_covered c;

	(void)state;
	assert_int_equal(covered(b, sizeof(b), 0, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.len, 8);
	assert_int_equal(c.plans[0].len, 1);
	assert_int_equal(c.plans[1].len, 3);
	assert_int_equal(c.plans[2].len, 4);
	/* from the mov: mov; sub, 7 bytes */
	assert_int_equal(covered(b, sizeof(b), 1, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.len, 7);
}

/* A single instruction of 5 bytes or more is covered alone, whatever follows. */
static void test_covered_one(void **state)
{
	static const uint8_t mov[] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05 };
	struct detour_covered c;

	(void)state;
	assert_int_equal(covered(mov, sizeof(mov), 0, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.len, 5);
}

/* Only the last covered instruction may branch. */
static void test_covered_branch(void **state)
{
	/* nop; nop; call rel32: the call comes last */
	static const uint8_t call_last[] = { 0x90, 0x90, 0xe8, 0x10, 0x00, 0x00, 0x00 };
	/* jz +2 first, then nops */
	static const uint8_t jcc_first[] = { 0x74, 0x02, 0x90, 0x90, 0x90, 0x90, 0x90 };
	/* nop; call *%rax (2 bytes); nop; nop */
	static const uint8_t icall_mid[] = { 0x90, 0xff, 0xd0, 0x90, 0x90, 0x90 };
	struct detour_covered c;

	(void)state;
	assert_int_equal(covered(call_last, sizeof(call_last), 0, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.len, 7);
	assert_int_equal(covered(jcc_first, sizeof(jcc_first), 0, &c), -EOPNOTSUPP);
	assert_int_equal(covered(icall_mid, sizeof(icall_mid), 0, &c), -EOPNOTSUPP);
}

/* What a thread stepped out of a detour could not run: syscall, pushf, string instructions. */
static void test_covered_unsteppable(void **state)
{
	static const uint8_t sys[] = { 0x90, 0x0f, 0x05, 0x90, 0x90, 0x90 };
	static const uint8_t pushf[] = { 0x9c, 0x90, 0x90, 0x90, 0x90 };
	static const uint8_t movs[] = { 0xf3, 0xa4, 0x90, 0x90, 0x90 };
	struct detour_covered c;

	(void)state;
	assert_int_equal(covered(sys, sizeof(sys), 0, &c), -EOPNOTSUPP);
	assert_int_equal(covered(pushf, sizeof(pushf), 0, &c), -EOPNOTSUPP);
	assert_int_equal(covered(movs, sizeof(movs), 0, &c), -EOPNOTSUPP);
}

/* Bytes that do not decode, or end before 5 are covered. */
static void test_covered_undecodable(void **state)
{
	static const uint8_t bad[] = { 0x90, 0x06, 0x90, 0x90, 0x90, 0x90 }; /* push %es: not in 64-bit */
	static const uint8_t cut[] = { 0x90, 0xb8, 0x01, 0x00 };             /* mov $imm32 cut short */
	static const uint8_t short_run[] = { 0x90, 0x90, 0x90 };
	struct detour_covered c;

	(void)state;
	assert_int_equal(covered(bad, sizeof(bad), 0, &c), -ENOEXEC);
	assert_int_equal(covered(cut, sizeof(cut), 0, &c), -ENOEXEC);
	assert_int_equal(covered(short_run, sizeof(short_run), 0, &c), -ENOEXEC);
	assert_int_equal(covered(short_run, sizeof(short_run), 3, &c), -ENOEXEC);
}

/* ---- detour_rules_analyse() on fx_detour.S ---- */

static struct elf_file *fx;

static uint64_t sym_off(const char *name)
{
	const struct elf_sym *s = elf_find_sym(fx, name);

	if (!s)
		fail_msg("%s: no symbol %s", fx->path, name);
	return s->off;
}

static void accepted(uint64_t off, int len)
{
	const char *why = NULL;
	int got = detour_rules_analyse(fx, off, &why);

	if (got != len)
		fail_msg("+0x%llx: %d, want %d (%s)", (unsigned long long)off, got, len,
			 why ? why : "");
	assert_null(why);
}

/* Refused, and for the rule the fixture breaks (a word of its reason). */
static void refused(uint64_t off, const char *because)
{
	const char *why = NULL;
	int got = detour_rules_analyse(fx, off, &why);

	if (got != -EOPNOTSUPP || !why || !strstr(why, because))
		fail_msg("+0x%llx: %d (%s), want a refusal for \"%s\"", (unsigned long long)off, got,
			 why ? why : "no reason", because);
}

static int open_fx(void **state)
{
	char why[256] = "";

	(void)state;
	if (elf_open(fx_path, &fx, why, sizeof(why)))
		fail_msg("%s: %s", fx_path, why);
	return 0;
}

/* A plain prologue: accepted, over its 8 bytes; and the same from +1 (mov; sub). */
static void test_plain(void **state)
{
	uint64_t f = sym_off("fx_plain");

	(void)state;
	accepted(f, 8);
	accepted(f + 1, 7);
	/* the why pointer may be NULL */
	assert_int_equal(detour_rules_analyse(fx, f, NULL), 8);
}

/*
 * The loop's target +3 lies strictly inside the entry's (0, 6): refused.
 * A range that starts at the target or past it is not jumped into.
 */
static void test_jump_in(void **state)
{
	uint64_t f = sym_off("fx_jump_in");

	(void)state;
	refused(f, "jump into the range");
	accepted(f + 3, 8); /* add; mov: the target is the range's start */
	accepted(f + 6, 5);
}

static void test_indirect(void **state)
{
	(void)state;
	refused(sym_off("fx_indirect"), "indirect jump");
}

static void test_branch_mid(void **state)
{
	uint64_t f = sym_off("fx_branch_mid");

	(void)state;
	refused(f, "cannot be copied");
	accepted(f + 4, 5); /* the mov alone */
}

/* 3 bytes of function, then fx_after's: the jump would end past the function. */
static void test_ends_inside(void **state)
{
	(void)state;
	assert_int_equal(sym_off("fx_after"), sym_off("fx_tiny") + 3);
	refused(sym_off("fx_tiny"), "ends inside");
}

/* fx_sib.cold comes back to fx_sib+3: fx_sib's entry range (0, 6) is refused for it. */
static void test_sibling(void **state)
{
	uint64_t f = sym_off("fx_sib");

	(void)state;
	refused(f, ".cold");
	accepted(f + 3, 5); /* add; mov: from the target on */
}

/*
 * fx_other jumps to fx_mid+3. Several instructions in the middle, (1, 6),
 * are refused for it; (6, 11) is not; the entry needs only its own
 * function's and pieces' jumps to stay out.
 */
static void test_mid_function(void **state)
{
	uint64_t f = sym_off("fx_mid");

	(void)state;
	refused(f + 1, "jump of the file");
	accepted(f + 6, 5);
	accepted(f, 6);
}

static void test_no_symbol(void **state)
{
	const struct elf_sym *cold = elf_find_sym(fx, "fx_sib.cold");

	(void)state;
	assert_non_null(cold);
	refused(cold->off + cold->size, "no function symbol");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covered_prologue),
		cmocka_unit_test(test_covered_one),
		cmocka_unit_test(test_covered_branch),
		cmocka_unit_test(test_covered_unsteppable),
		cmocka_unit_test(test_covered_undecodable),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_jump_in),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_branch_mid),
		cmocka_unit_test(test_ends_inside),
		cmocka_unit_test(test_sibling),
		cmocka_unit_test(test_mid_function),
		cmocka_unit_test(test_no_symbol),
	};
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: %s fx_detour.so\n", argv[0]);
		return 2;
	}
	fx_path = argv[1];
	ret = cmocka_run_group_tests(tests, open_fx, NULL);
	elf_cache_clear();
	detour_rules_cache_clear();
	return ret;
}
