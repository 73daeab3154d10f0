// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzzing of the x86 analyser (lib/arch/x86/decode.c, relocate.c): random byte strings
 * through arch_analyse(), arch_insn_flow() and every relocation, checking
 * that what is accepted is described consistently and that no relocation
 * writes past ARCH_SLOT_SIZE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/user.h>

#include <cmocka.h>

#include "internal.h"
#include "fuzz.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GUARD 0x5a
#define OUT_SIZE (ARCH_SLOT_SIZE + 64)

#define INSN 0x555555561234ull

/* Prefixes and opcodes the analyser treats specially: the random bytes around them vary. */
static const uint8_t prefixes[] = { 0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65,
				    0xf0 };
static const uint8_t *const opcodes[] = {
	(const uint8_t *)"\x01\xe8", (const uint8_t *)"\x01\xe9", (const uint8_t *)"\x01\xeb",
	(const uint8_t *)"\x01\x74", (const uint8_t *)"\x02\x0f\x85", (const uint8_t *)"\x01\xe0",
	(const uint8_t *)"\x01\xe2", (const uint8_t *)"\x01\xe3", (const uint8_t *)"\x01\xff",
	(const uint8_t *)"\x01\xc2", (const uint8_t *)"\x01\xc3", (const uint8_t *)"\x02\x0f\x05",
	(const uint8_t *)"\x01\x9c", (const uint8_t *)"\x01\xcc", (const uint8_t *)"\x01\xcd",
	(const uint8_t *)"\x02\xc7\xf8", (const uint8_t *)"\x01\x8b", (const uint8_t *)"\x01\x8d",
	(const uint8_t *)"\x04\xf3\x0f\x1e\xfa", (const uint8_t *)"\x02\x0f\x1f",
	(const uint8_t *)"\x01\xa4", (const uint8_t *)"\x01\xcf", (const uint8_t *)"\x01\x9a",
	(const uint8_t *)"\x01\xea", (const uint8_t *)"\x01\xca", (const uint8_t *)"\x01\xf4",
	(const uint8_t *)"\x02\x0f\x01", (const uint8_t *)"\x02\x0f\x34",
	(const uint8_t *)"\x01\xc4", /* VEX */
	(const uint8_t *)"\x01\x62", /* EVEX */
};

/*
 * One instruction-like byte string of 1..15 bytes (fewer if max is less):
 * a third plain random, the rest prefixes + a listed opcode + a ModRM
 * (often rip-relative) + random bytes.
 */
static size_t gen_insn(struct rng *r, uint8_t *b, size_t max)
{
	size_t n = 0, want;

	if (rng_chance(r, 3)) {
		want = 1 + rng_below(r, max);
		for (size_t i = 0; i < want; i++)
			b[i] = (uint8_t)rng_next(r);
		return want;
	}
	for (unsigned k = rng_below(r, 4); k && n < max; k--)
		b[n++] = prefixes[rng_below(r, ARRAY_SIZE(prefixes))];
	if (rng_chance(r, 2) && n < max)
		b[n++] = (uint8_t)(0x40 | rng_below(r, 16));
	{
		const uint8_t *op = opcodes[rng_below(r, ARRAY_SIZE(opcodes))];

		for (unsigned i = 0; i < op[0] && n < max; i++)
			b[n++] = op[1 + i];
	}
	if (n < max) {
		uint8_t modrm = (uint8_t)rng_next(r);

		/* mod 00, r/m 101: rip-relative */
		if (rng_chance(r, 2))
			modrm = (modrm & 0x38) | 0x05;
		b[n++] = modrm;
	}
	want = n + rng_below(r, max - n + 1);
	while (n < want)
		b[n++] = (uint8_t)rng_next(r);
	return n;
}

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	memset(buf, 0x11, len);
	return 0;
}

/* The (insn, slot) pairs every accepted plan is relocated for: near, far, wrapping. */
static const uint64_t pairs[][2] = {
	{ INSN, INSN + 0x10000000ull },
	{ INSN, INSN - 0x40000000ull },
	{ INSN, INSN + 0x300000000ull },
	{ 0x1000, 0xfffffffffffff000ull },
	{ 0xfffffffffffffff0ull, 0x7fffffff0000ull },
	{ 0x7fffffff, 0x80000000ull },
};

static void check_guard(const uint8_t *out, const char *what)
{
	for (size_t i = ARCH_SLOT_SIZE; i < OUT_SIZE; i++)
		if (out[i] != GUARD)
			fail_msg("case %s: %s wrote out[%zu] past ARCH_SLOT_SIZE", fuzz_case, what, i);
}

static void check_relocations(const struct arch_plan *plan, uint64_t insn, uint64_t slot)
{
	uint8_t out[OUT_SIZE];
	struct user_regs_struct regs;
	struct arch_mem mem = { .read = mem_read };
	bool reach = arch_slot_reachable(plan, insn, slot);

	for (int post = 0; post < 2; post++) {
		int n;

		memset(out, GUARD, sizeof(out));
		n = post ? arch_relocate_post(plan, insn, slot, out) :
			   arch_relocate(plan, insn, slot, out);
		check_guard(out, post ? "arch_relocate_post" : "arch_relocate");
		if (n == -ERANGE) {
			/* only a rip-relative operand can be out of reach, and never a reachable one */
			if (!plan->disp_pos || reach)
				fail_msg("case %s: -ERANGE (disp_pos %u, reachable %d)", fuzz_case,
					 plan->disp_pos, reach);
			continue;
		}
		if (n <= 0 || n > ARCH_SLOT_SIZE)
			fail_msg("case %s: relocation returned %d", fuzz_case, n);
		/* a plain copy keeps every byte but the re-targeted disp32 */
		if (plan->kind == ARCH_STEP ||
		    (!post && (plan->type == ARCH_T_OTHER || plan->type == ARCH_T_PUSHF))) {
			assert_true(n >= plan->len);
			for (unsigned i = 0; i < plan->len; i++)
				if ((!plan->disp_pos || i < plan->disp_pos || i >= plan->disp_pos + 4u) &&
				    out[i] != plan->bytes[i])
					fail_msg("case %s: copy differs at byte %u", fuzz_case, i);
			if (plan->disp_pos && !plan->addr32) {
				int32_t disp;

				memcpy(&disp, out + plan->disp_pos, 4);
				assert_true(slot + plan->len + (uint64_t)(int64_t)disp ==
					    insn + (uint64_t)plan->riprel_off);
			}
		}
		/* every point of the slot: mapped back or not, never a crash */
		for (int pc = 0; pc <= n; pc++) {
			memset(&regs, 0, sizeof(regs));
			regs.rip = slot + (uint64_t)pc;
			regs.rsp = 0x7ffe0000;
			if (post) {
				int r = arch_slot_post(plan, insn, slot, slot + (uint64_t)pc, &regs,
						       &mem);

				assert_true(r == 0 || r == 1);
			} else if (arch_slot_pc_to_insn(plan, insn, slot, &regs) && !pc) {
				assert_true(regs.rip == insn);
			}
		}
	}
}

static void check_plan(const uint8_t *b, size_t avail, const struct arch_plan *plan)
{
	bool ind_jmp, has_target;
	int64_t target_off = 0;
	int len;

	if (plan->len < 1 || plan->len > avail || plan->len > ARCH_MAX_INSN)
		fail_msg("case %s: plan length %u of %zu", fuzz_case, plan->len, avail);
	assert_memory_equal(plan->bytes, b, plan->len);
	assert_true(plan->kind == ARCH_RELOCATE || plan->kind == ARCH_STEP);
	assert_true(plan->type <= ARCH_T_PUSHF);
	assert_true(plan->prefix_len < plan->len);
	assert_true(plan->reg < 16);
	if (plan->disp_pos)
		assert_true(plan->disp_pos + 4u <= plan->len);
	assert_int_equal(arch_insn_len(b, avail), plan->len);

	len = arch_insn_flow(b, avail, &ind_jmp, &has_target, &target_off);
	assert_int_equal(len, plan->len);
	if (has_target != plan->has_branch || (has_target && target_off != plan->branch_off))
		fail_msg("case %s: flow target %d/%lld, plan %d/%lld", fuzz_case, has_target,
			 (long long)target_off, plan->has_branch, (long long)plan->branch_off);
	if (ind_jmp != (plan->type == ARCH_T_JMP_IND))
		fail_msg("case %s: ind_jmp %d, plan type %u", fuzz_case, ind_jmp, plan->type);
	arch_detour_ok(plan, false);
	arch_detour_ok(plan, true);
}

#define X86_ITERS 400000

static void test_analyse(void **state)
{
	struct rng r = { fuzz_seed(0x8664) };
	unsigned accepted = 0, branches = 0, riprel = 0, refused = 0, undecodable = 0;
	unsigned iters = fuzz_iters(X86_ITERS);

	for (unsigned it = 0; it < iters; it++) {
		uint8_t b[ARCH_MAX_INSN];
		struct arch_plan plan;
		char why[128] = "";
		size_t n = gen_insn(&r, b, sizeof(b)), avail = n;
		int err;

		/* sometimes the instruction runs past what is readable */
		if (rng_chance(&r, 8))
			avail = 1 + rng_below(&r, n);
		fuzz_set_case("x86 seed 0x%llx iteration %u",
			      (unsigned long long)fuzz_seed(0x8664), it);
		err = arch_analyse(b, avail, &plan, why, sizeof(why));
		if (err) {
			if (err != -ENOEXEC && err != -EOPNOTSUPP && err != -EEXIST)
				fail_msg("case %s: arch_analyse returned %d", fuzz_case, err);
			assert_true(why[0] != '\0');
			if (err == -ENOEXEC)
				undecodable++;
			else
				refused++;
			/* a refused instruction still has a length for the function scans */
			if (err != -ENOEXEC)
				assert_true(arch_insn_len(b, avail) > 0);
			continue;
		}
		accepted++;
		branches += plan.has_branch;
		riprel += plan.disp_pos != 0;
		check_plan(b, avail, &plan);
		for (size_t i = 0; i < ARRAY_SIZE(pairs); i++)
			check_relocations(&plan, pairs[i][0], pairs[i][1]);
		check_relocations(&plan, rng_next(&r), rng_next(&r));
	}
	print_message("x86: %u accepted (%u branches, %u rip-relative), %u refused, %u undecodable\n",
		      accepted, branches, riprel, refused, undecodable);
	/* the generator must keep reaching every kind of answer */
	assert_true(accepted > iters / 4 && branches > iters / 50 && riprel > iters / 50 &&
		    refused > iters / 100 && undecodable > iters / 100);
}

#define DETOUR_ITERS 150000

/* Runs of instructions as detour_rules_covered() picks them, through arch_relocate_detour(). */
static void test_detour(void **state)
{
	struct rng r = { fuzz_seed(0xde70) };
	unsigned built = 0, iters = fuzz_iters(DETOUR_ITERS);

	for (unsigned it = 0; it < iters; it++) {
		uint8_t code[ARCH_JMP_LEN * ARCH_MAX_INSN], out[OUT_SIZE];
		struct arch_plan plans[ARCH_JMP_LEN];
		size_t fill = 0, len = 0;
		unsigned n = 0;
		uint64_t insn = it & 1 ? INSN : rng_next(&r), slot, gadget;
		bool ok = true;
		int ret;

		while (fill < sizeof(code) - ARCH_MAX_INSN)
			fill += gen_insn(&r, code + fill, ARCH_MAX_INSN);
		fuzz_set_case("detour seed 0x%llx iteration %u",
			      (unsigned long long)fuzz_seed(0xde70), it);
		while (len < ARCH_JMP_LEN && ok) {
			ok = n < ARCH_JMP_LEN &&
			     !arch_analyse(code + len, fill - len, &plans[n], NULL, 0);
			if (ok) {
				len += plans[n].len;
				ok = arch_detour_ok(&plans[n], len >= ARCH_JMP_LEN);
				n++;
			}
		}
		if (!ok)
			continue;
		slot = rng_chance(&r, 4) ? rng_next(&r) : insn + 0x10000000ull;
		gadget = rng_chance(&r, 2) ? 0 : rng_chance(&r, 4) ? rng_next(&r) : slot + 0x1000;
		memset(out, GUARD, sizeof(out));
		ret = arch_relocate_detour(plans, n, insn, slot, gadget, out);
		check_guard(out, "arch_relocate_detour");
		if (ret == -ERANGE || ret == -E2BIG)
			continue;
		if (ret <= 0 || ret > ARCH_SLOT_SIZE)
			fail_msg("case %s: arch_relocate_detour returned %d", fuzz_case, ret);
		built++;
		/* the int3, then the copies back to back */
		{
			size_t pos = gadget ? ARCH_DETOUR_REC_INT3 : 0;

			assert_int_equal(out[pos], 0xcc);
			pos++;
			for (unsigned i = 0; i + 1 < n; pos += plans[i].len, i++)
				if (!plans[i].disp_pos)
					assert_memory_equal(out + pos, plans[i].bytes, plans[i].len);
		}
	}
	print_message("detour: %u of %u built\n", built, iters);
	assert_true(built > iters / 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_analyse),
		cmocka_unit_test(test_detour),
	};

	fuzz_init();
	fuzz_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
