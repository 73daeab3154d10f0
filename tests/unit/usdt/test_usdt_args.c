// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests of usdt_args.c: every operand form gcc and clang write; specs to refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/user.h>

#include <cmocka.h>

#include "internal.h"

#define R(r) ((uint8_t)(offsetof(struct user_regs_struct, r) / 8))
#define NO USDT_NO_REG

static int fake_syms(void *ctx, const char *name, uint64_t *vaddr)
{
	(void)ctx;
	if (!strcmp(name, "foo"))
		*vaddr = 0x4010;
	else if (!strcmp(name, "g_arr"))
		*vaddr = 0x404040;
	else if (!strcmp(name, "counter.1"))
		*vaddr = 0x5000;
	else
		return -ENOENT;
	return 0;
}

static struct usdt_arg parse1(const char *spec, bool pie)
{
	struct usdt_arg a[USDT_MAX_ARGS];
	char why[256] = "";
	int n = usdt_parse_args(spec, a, fake_syms, NULL, pie, why, sizeof(why));

	if (n != 1)
		print_error("'%s': %d %s\n", spec, n, why);
	assert_int_equal(n, 1);
	return a[0];
}

static void reg(const char *spec, int8_t size, uint8_t r, uint8_t width, uint8_t shift)
{
	struct usdt_arg a = parse1(spec, true);

	assert_int_equal(a.kind, USDT_ARG_REG);
	assert_int_equal(a.size, size);
	assert_int_equal(a.reg, r);
	assert_int_equal(a.reg_width, width);
	assert_int_equal(a.reg_shift, shift);
}

static void mem(const char *spec, bool pie, int8_t size, int64_t disp, uint8_t base, uint8_t index,
		uint8_t scale, bool biased)
{
	struct usdt_arg a = parse1(spec, pie);

	assert_int_equal(a.kind, USDT_ARG_MEM);
	assert_int_equal(a.size, size);
	assert_int_equal(a.disp, disp);
	assert_int_equal(a.base, base);
	assert_int_equal(a.index, index);
	assert_int_equal(a.scale, scale);
	assert_int_equal(a.biased, biased);
}

static void cst(const char *spec, int8_t size, int64_t v, bool biased)
{
	struct usdt_arg a = parse1(spec, true);

	assert_int_equal(a.kind, USDT_ARG_CONST);
	assert_int_equal(a.size, size);
	assert_int_equal(a.disp, v);
	assert_int_equal(a.biased, biased);
}

static void test_registers(void **state)
{
	(void)state;
	reg("-4@%eax", -4, R(rax), 4, 0);
	reg("8@%rax", 8, R(rax), 8, 0);
	reg("2@%ax", 2, R(rax), 2, 0);
	reg("1@%al", 1, R(rax), 1, 0);
	reg("-1@%ah", -1, R(rax), 1, 8);
	reg("-1@%bh", -1, R(rbx), 1, 8);
	reg("1@%ch", 1, R(rcx), 1, 8);
	reg("1@%dh", 1, R(rdx), 1, 8);
	reg("-1@%sil", -1, R(rsi), 1, 0);
	reg("1@%dil", 1, R(rdi), 1, 0);
	reg("1@%bpl", 1, R(rbp), 1, 0);
	reg("1@%spl", 1, R(rsp), 1, 0);
	reg("-2@%si", -2, R(rsi), 2, 0);
	reg("4@%esp", 4, R(rsp), 4, 0);
	reg("2@%r10w", 2, R(r10), 2, 0);
	reg("1@%r9b", 1, R(r9), 1, 0);
	reg("1@%r8l", 1, R(r8), 1, 0);
	reg("4@%r11d", 4, R(r11), 4, 0);
	reg("-8@%r15", -8, R(r15), 8, 0);
	reg("8@%r12", 8, R(r12), 8, 0);
	reg("-4@%r13d", -4, R(r13), 4, 0);
	reg("2@%r14w", 2, R(r14), 2, 0);
	/* no size: the register's own width (signed, see usdt_arg_extend) */
	reg("%edi", 0, R(rdi), 4, 0);
	reg("%rbx", 0, R(rbx), 8, 0);
}

static void test_memory(void **state)
{
	(void)state;
	mem("8@-16(%rbp)", true, 8, -16, R(rbp), NO, 1, false);
	mem("-8@8(%rsi)", true, -8, 8, R(rsi), NO, 1, false);
	mem("4@8(%rax,%rdx,4)", true, 4, 8, R(rax), R(rdx), 4, false);
	mem("-8@(%rsi,%rcx,8)", true, -8, 0, R(rsi), R(rcx), 8, false);
	mem("8@(%rax,%rdx)", true, 8, 0, R(rax), R(rdx), 1, false);
	mem("8@(%rsp)", true, 8, 0, R(rsp), NO, 1, false);
	mem("-4@0x10(%r12)", true, -4, 16, R(r12), NO, 1, false);
	mem("4@-0x10(%r12)", true, 4, -16, R(r12), NO, 1, false);
	mem("8@(,%rax,8)", true, 8, 0, NO, R(rax), 8, false);
	/* sym(%rip): the symbol's address, moved by the load bias in a PIE */
	mem("8@foo(%rip)", true, 8, 0x4010, NO, NO, 1, true);
	mem("8@foo(%rip)", false, 8, 0x4010, NO, NO, 1, false);
	mem("-4@foo+8(%rip)", true, -4, 0x4018, NO, NO, 1, true);
	mem("-4@foo-8(%rip)", true, -4, 0x4008, NO, NO, 1, true);
	mem("4@counter.1(%rip)", true, 4, 0x5000, NO, NO, 1, true);
	/* non-PIC code: absolute symbols, indexed or not */
	mem("-8@g_arr(,%rax,8)", false, -8, 0x404040, NO, R(rax), 8, false);
	mem("-8@g_arr+16(%rbx)", false, -8, 0x404050, R(rbx), NO, 1, false);
	mem("4@foo", false, 4, 0x4010, NO, NO, 1, false);
	mem("4@0x601040", false, 4, 0x601040, NO, NO, 1, false);
	mem("8@-16(%RBP)", true, 8, -16, R(rbp), NO, 1, false);
}

static void test_constants(void **state)
{
	(void)state;
	cst("8@$5", 8, 5, false);
	cst("-4@$-7", -4, -7, false);
	cst("-8@$78187493520", -8, 78187493520ll, false);
	cst("8@$0x10", 8, 16, false);
	cst("8@$-0x10", 8, -16, false);
	cst("8@$18446744073709551615", 8, -1, false);
	cst("$3", 0, 3, false);
	cst("8@$foo", 8, 0x4010, true);
	cst("8@$foo+4", 8, 0x4014, true);
}

static void test_lists(void **state)
{
	struct usdt_arg a[USDT_MAX_ARGS];
	char why[256];

	(void)state;
	assert_int_equal(usdt_parse_args("", a, NULL, NULL, true, why, sizeof(why)), 0);
	assert_int_equal(usdt_parse_args("   ", a, NULL, NULL, true, why, sizeof(why)), 0);
	assert_int_equal(usdt_parse_args("  -4@%edi \t 8@%rax  ", a, NULL, NULL, true, why,
					 sizeof(why)), 2);
	assert_int_equal(a[0].reg, R(rdi));
	assert_int_equal(a[1].reg, R(rax));
	assert_int_equal(usdt_parse_args("-8@%rcx -1@%al 1@%dl -2@%si 2@%r10w -4@%edi 4@%r11d "
					 "-8@%r8 8@%r9 8@$1 8@(%rsp) -4@-4(%rbp)", a, NULL, NULL,
					 true, why, sizeof(why)), 12);
	assert_int_equal(a[11].disp, -4);
	assert_int_equal(usdt_parse_args("8@$1 8@$1 8@$1 8@$1 8@$1 8@$1 8@$1 8@$1 8@$1 8@$1 "
					 "8@$1 8@$1 8@$1", a, NULL, NULL, true, why, sizeof(why)),
			 -E2BIG);
	/* without a symbol lookup, symbols are unknown */
	assert_int_equal(usdt_parse_args("8@foo(%rip)", a, NULL, NULL, true, why, sizeof(why)),
			 -ENOENT);
}

static void refused(const char *spec, int err)
{
	struct usdt_arg a[USDT_MAX_ARGS];
	char why[256] = "";
	int n = usdt_parse_args(spec, a, fake_syms, NULL, true, why, sizeof(why));

	if (n != err)
		print_error("'%s': %d, want %d (%s)\n", spec, n, err, why);
	assert_int_equal(n, err);
	/* the message names the argument that could not be parsed, on one line */
	assert_non_null(strstr(why, "cannot parse argument"));
	assert_null(strchr(why, '\n'));
}

static void test_invalid(void **state)
{
	(void)state;
	refused("3@%eax", -EINVAL);
	refused("16@%rax", -EINVAL);
	refused("-4@%foo", -EINVAL);
	refused("8@%xmm0", -EINVAL);
	refused("8@%rip", -EINVAL);
	refused("8@16(%rip)", -EINVAL);
	refused("8@(%rip,%rax,1)", -EINVAL);
	refused("8@(%eax)", -EINVAL);
	refused("8@(%rax,%rsp,2)", -EINVAL);
	refused("8@(%rax,%rbx,3)", -EINVAL);
	refused("8@(%rax,%ebx,2)", -EINVAL);
	refused("8@nosuch(%rip)", -ENOENT);
	refused("8@$nosuch", -ENOENT);
	refused("4@", -EINVAL);
	refused("8@$", -EINVAL);
	refused("8@-16(%rbp", -EINVAL);
	refused("8@(%rbp)x", -EINVAL);
	refused("8@()", -EINVAL);
	refused("8@(,)", -EINVAL);
	refused("@%eax", -EINVAL);
	refused("8@$5junk", -EINVAL);
	refused("8@%eax,", -EINVAL);
	refused("8@foo+(%rip)", -EINVAL);
	refused("-4@%edi 8@%rax 8@%bogus", -EINVAL);
}

static void test_extend(void **state)
{
	struct usdt_arg a = { .kind = USDT_ARG_REG, .reg_width = 8 };

	(void)state;
	a.size = -1;
	assert_int_equal(usdt_arg_extend(&a, 0xff), -1);
	assert_int_equal(usdt_arg_extend(&a, 0x17f), 127);
	a.size = 1;
	assert_int_equal(usdt_arg_extend(&a, 0x1ff), 255);
	a.size = -2;
	assert_int_equal(usdt_arg_extend(&a, 0xfc18), -1000);
	a.size = 2;
	assert_int_equal(usdt_arg_extend(&a, 0xffffffffffff0000ull | 60000), 60000);
	a.size = -4;
	assert_int_equal(usdt_arg_extend(&a, 0xdeadbeeffffffff9ull), -7);
	a.size = 4;
	assert_int_equal(usdt_arg_extend(&a, 0xffffffffee6b2800ull), 4000000000ll);
	a.size = 8;
	assert_int_equal((uint64_t)usdt_arg_extend(&a, 0xfedcba9876543210ull),
			 0xfedcba9876543210ull);
	/* no size: the register's width, signed */
	a.size = 0;
	a.reg_width = 2;
	assert_int_equal(usdt_arg_extend(&a, 0x8000), -32768);
	assert_int_equal(usdt_arg_bytes(&a), 2);
	a.kind = USDT_ARG_MEM;
	assert_int_equal(usdt_arg_bytes(&a), 8);
	a.size = -2;
	assert_int_equal(usdt_arg_bytes(&a), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_extend),
	};

	return cmocka_run_group_tests_name("usdt_args", tests, NULL, NULL);
}
