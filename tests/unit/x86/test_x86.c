// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of lib/arch/x86/insn.c, emulate.c and gadget.c: analysis, relocated
 * bytes, differential execution, and the no-stop record gadget run in place.
 */
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <Zydis/Zydis.h>

#include "core.h"
#include "internal.h"
#include "ring.h"

/* Fixed addresses for byte-level tests: nothing runs there. */
#define INSN 0x555555561234ULL
#define SLOT_NEAR (INSN + 0x10000000ULL)  /* 256 MiB above */
#define SLOT_BELOW (INSN - 0x40000000ULL) /* 1 GiB below */
#define SLOT_FAR (INSN + 0x300000000ULL)  /* 12 GiB: beyond rel32 */

#define B(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

/* ------------------------------------------------------------------ helpers */

static void analyse_ok(const uint8_t *b, size_t n, struct arch_plan *plan)
{
	char why[128] = "";
	int err = arch_analyse(b, n, plan, why, sizeof(why));

	if (err)
		fail_msg("arch_analyse failed: %d (%s)", err, why);
	assert_int_equal(plan->len, n);
}

static int reloc(const uint8_t *b, size_t n, uint64_t insn, uint64_t slot, uint8_t *out,
		 struct arch_plan *plan)
{
	analyse_ok(b, n, plan);
	memset(out, 0xcc, ARCH_SLOT_SIZE);
	return arch_relocate(plan, insn, slot, out);
}

struct dec {
	ZydisDecodedInstruction i;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	uint64_t target; /* relative branch target or rip-relative address, 0 if none */
};

/* Decodes buf as if at addr; fails the test if it does not decode. */
static void decode(const uint8_t *buf, size_t n, uint64_t addr, struct dec *d)
{
	ZydisDecoder dec;

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, buf, n, &d->i, d->ops)))
		fail_msg("output does not decode");
	d->target = 0;
	for (int k = 0; k < d->i.operand_count_visible; k++) {
		const ZydisDecodedOperand *op = &d->ops[k];
		ZyanU64 a;

		if ((op->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && op->imm.is_relative) ||
		    (op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		     (op->mem.base == ZYDIS_REGISTER_RIP || op->mem.base == ZYDIS_REGISTER_EIP))) {
			assert_true(ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d->i, op, addr, &a)));
			d->target = a;
		}
	}
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Checks a "leave" at out[pos] jumping from slot to dest; returns its length. */
static size_t check_leave(const uint8_t *out, size_t pos, uint64_t slot, uint64_t dest)
{
	struct dec d;
	int64_t rel = (int64_t)(dest - (slot + pos + 5));

	if (rel >= INT32_MIN && rel <= INT32_MAX) {
		decode(out + pos, 5, slot + pos, &d);
		assert_int_equal(out[pos], 0xe9);
		assert_int_equal(d.target, dest);
		return 5;
	}
	assert_memory_equal(out + pos, "\xff\x25\x00\x00\x00\x00", 6);
	assert_int_equal(rd64(out + pos + 6), dest);
	return 14;
}

/* ------------------------------------------------- decoding and refusals */

static void test_insn_len(void **state)
{
	assert_int_equal(arch_insn_len(B(0x90)), 1);
	assert_int_equal(arch_insn_len(B(0x48, 0x8b, 0x05, 1, 2, 3, 4, 0xcc)), 7);
	assert_int_equal(arch_insn_len(B(0xf3, 0x0f, 0x1e, 0xfa)), 4);
	assert_int_equal(arch_insn_len(B(0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x1d, 0, 0, 0, 0)), 10);
	assert_int_equal(arch_insn_len(B(0x48, 0x8b)), -ENOEXEC); /* truncated */
	assert_int_equal(arch_insn_len(B(0x06)), -ENOEXEC);       /* push %es: invalid in 64-bit */
	assert_int_equal(arch_insn_len(NULL, 0), -ENOEXEC);
}

static void expect_err(const uint8_t *b, size_t n, int err, const char *why_sub)
{
	struct arch_plan plan;
	char why[128] = "";

	int got = arch_analyse(b, n, &plan, why, sizeof(why));

	if (got != err)
		fail_msg("bytes %02x %02x: got %d (%s), want %d", b[0], n > 1 ? b[1] : 0, got, why, err);
	if (why_sub && !strstr(why, why_sub))
		fail_msg("reason '%s' lacks '%s'", why, why_sub);
}

static void test_refused(void **state)
{
	expect_err(B(0xcc), -EEXIST, "int3");
	expect_err(B(0xcd, 0x03), -EEXIST, "int");
	expect_err(B(0xea, 0, 0, 0, 0, 0, 0), -ENOEXEC, NULL);            /* ljmp ptr: invalid in 64 */
	expect_err(B(0xff, 0x2c, 0x25, 0, 0, 0, 0), -EOPNOTSUPP, "far");   /* ljmp *mem */
	expect_err(B(0xff, 0x1d, 0, 0, 0, 0), -EOPNOTSUPP, "far");         /* lcall *(%rip) */
	expect_err(B(0xcb), -EOPNOTSUPP, "far");                            /* lret */
	expect_err(B(0xca, 8, 0), -EOPNOTSUPP, "far");                      /* lret $8 */
	expect_err(B(0xcf), -EOPNOTSUPP, "iret");
	expect_err(B(0x48, 0xcf), -EOPNOTSUPP, "iret");
	expect_err(B(0xc7, 0xf8, 0, 0, 0, 0), -EOPNOTSUPP, "xbegin");
	expect_err(B(0xc6, 0xf8, 0), -EOPNOTSUPP, "xabort");
	expect_err(B(0x0f, 0x34), -EOPNOTSUPP, "sysenter");
	expect_err(B(0x0f, 0x35), -EOPNOTSUPP, "sysexit");
	expect_err(B(0x0f, 0x07), -EOPNOTSUPP, NULL); /* sysret */
	expect_err(B(0xf1), -EOPNOTSUPP, "int1");
	expect_err(B(0xf4), -EOPNOTSUPP, "privileged"); /* hlt */
	expect_err(B(0x0f, 0x01, 0x15, 0, 0, 0, 0), -EOPNOTSUPP, "privileged"); /* lgdt */
	expect_err(B(0x0f, 0x01, 0x18), -EOPNOTSUPP, "privileged");             /* lidt */
	expect_err(B(0x0f, 0x22, 0xc0), -EOPNOTSUPP, "privileged");             /* mov %rax,%cr0 */
	expect_err(B(0x0f, 0x30), -EOPNOTSUPP, "privileged");                   /* wrmsr */
	expect_err(B(0x66, 0xe8, 0, 0, 0, 0), -EOPNOTSUPP, "operand-size");
	expect_err(B(0x66, 0xeb, 0x10), -EOPNOTSUPP, "operand-size");
	expect_err(B(0x66, 0xff, 0xd0), -EOPNOTSUPP, "operand-size");
	expect_err(B(0x06), -ENOEXEC, "undecodable");
	expect_err(B(0xd6), -ENOEXEC, NULL);
	expect_err(B(0x0f, 0xff), -ENOEXEC, NULL); /* ud0 without modrm */
	expect_err(B(0xf0, 0x90), -ENOEXEC, NULL); /* lock nop */
	expect_err(B(0x48, 0x8b, 0x05), -ENOEXEC, NULL);
}

/* ----------------------------------------------------- rip-relative operands */

struct riprel_case {
	const char *name;
	uint8_t b[15];
	uint8_t n;
};

static const struct riprel_case riprel_cases[] = {
	{ "mov disp(%rip),%rax", { 0x48, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00 }, 7 },
	{ "mov %rax,-disp(%rip)", { 0x48, 0x89, 0x05, 0x00, 0xff, 0xff, 0xff }, 7 },
	{ "mov %r9d,disp(%rip)", { 0x44, 0x89, 0x0d, 0x10, 0x20, 0x30, 0x00 }, 7 },
	{ "movl $imm32,disp(%rip)", { 0xc7, 0x05, 0x10, 0, 0, 0, 0x78, 0x56, 0x34, 0x12 }, 10 },
	{ "cmpl $imm32,disp(%rip)", { 0x81, 0x3d, 0x10, 0, 0, 0, 0x78, 0x56, 0x34, 0x12 }, 10 },
	{ "movb $imm8,disp(%rip)", { 0xc6, 0x05, 0x10, 0, 0, 0, 0x7f }, 7 },
	{ "cmpb $1,disp(%rip)", { 0x80, 0x3d, 0xf0, 0xff, 0xff, 0xff, 0x01 }, 7 },
	{ "movw $imm16,disp(%rip)", { 0x66, 0xc7, 0x05, 0x10, 0, 0, 0, 0x34, 0x12 }, 9 },
	{ "lea disp(%rip),%rdi", { 0x48, 0x8d, 0x3d, 0x20, 0x00, 0x00, 0x00 }, 7 },
	{ "movaps disp(%rip),%xmm1", { 0x0f, 0x28, 0x0d, 0x30, 0, 0, 0 }, 7 },
	{ "movsd disp(%rip),%xmm0", { 0xf2, 0x0f, 0x10, 0x05, 0x30, 0, 0, 0 }, 8 },
	{ "pshufd $imm,disp(%rip),%xmm0", { 0x66, 0x0f, 0x70, 0x05, 0x30, 0, 0, 0, 0x1b }, 9 },
	{ "vmovdqu disp(%rip),%ymm2", { 0xc5, 0xfe, 0x6f, 0x15, 0x40, 0, 0, 0 }, 8 },
	{ "vmovdqu64 disp(%rip),%zmm3", { 0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x1d, 0x40, 0, 0, 0 }, 10 },
	{ "lock addl $1,disp(%rip)", { 0xf0, 0x83, 0x05, 0x10, 0, 0, 0, 0x01 }, 8 },
	{ "fldl disp(%rip)", { 0xdd, 0x05, 0x10, 0, 0, 0 }, 6 },
	{ "mov %fs:disp(%rip),%rax", { 0x64, 0x48, 0x8b, 0x05, 0x10, 0, 0, 0 }, 8 },
	{ "push disp(%rip)", { 0xff, 0x35, 0x10, 0, 0, 0 }, 6 },
	{ "pop disp(%rip)", { 0x8f, 0x05, 0x10, 0, 0, 0 }, 6 },
	{ "jmp *disp(%rip)", { 0xff, 0x25, 0x10, 0, 0, 0 }, 6 },
	{ "notrack jmp *disp(%rip)", { 0x3e, 0xff, 0x25, 0x10, 0, 0, 0 }, 7 },
	{ "prefetcht0 disp(%rip)", { 0x0f, 0x18, 0x0d, 0x10, 0, 0, 0 }, 7 },
};

static void test_riprel(void **state)
{
	const uint64_t slots[] = { SLOT_NEAR, SLOT_BELOW, INSN + 0x40 };

	for (size_t c = 0; c < ARRAY_SIZE(riprel_cases); c++) {
		const struct riprel_case *rc = &riprel_cases[c];
		struct arch_plan plan;
		struct dec orig, got;
		uint8_t out[ARCH_SLOT_SIZE];

		print_message("  %s\n", rc->name);
		analyse_ok(rc->b, rc->n, &plan);
		assert_int_equal(plan.kind, ARCH_RELOCATE);
		assert_int_not_equal(plan.disp_pos, 0);
		decode(rc->b, rc->n, INSN, &orig);
		assert_int_equal(plan.riprel_off, (int64_t)(orig.target - INSN));
		for (size_t s = 0; s < ARRAY_SIZE(slots); s++) {
			int len;

			assert_true(arch_slot_reachable(&plan, INSN, slots[s]));
			memset(out, 0xcc, sizeof(out));
			len = arch_relocate(&plan, INSN, slots[s], out);
			assert_true(len >= rc->n);
			decode(out, len, slots[s], &got);
			assert_int_equal(got.i.length, rc->n);
			assert_int_equal(got.i.mnemonic, orig.i.mnemonic);
			assert_int_equal(got.target, orig.target);
			/* everything but the disp is the original's */
			assert_memory_equal(out, rc->b, plan.disp_pos);
			assert_memory_equal(out + plan.disp_pos + 4, rc->b + plan.disp_pos + 4,
					    rc->n - plan.disp_pos - 4);
			if (plan.type == ARCH_T_JMP_IND)
				assert_int_equal(len, rc->n);
			else
				assert_int_equal(len, rc->n + check_leave(out, rc->n, slots[s],
									INSN + rc->n));
		}
		assert_false(arch_slot_reachable(&plan, INSN, SLOT_FAR));
		assert_int_equal(arch_relocate(&plan, INSN, SLOT_FAR, out), -ERANGE);
		assert_false(arch_slot_reachable(&plan, INSN, INSN - 0x90000000ULL));
		assert_int_equal(arch_relocate(&plan, INSN, INSN - 0x90000000ULL, out), -ERANGE);
	}
}

/* Near the edge: exactly INT32_MAX works, one more does not. */
static void test_riprel_edge(void **state)
{
	/* mov 0(%rip),%rax: target = INSN + 7 */
	const uint8_t b[] = { 0x48, 0x8b, 0x05, 0, 0, 0, 0 };
	struct arch_plan plan;
	uint8_t out[ARCH_SLOT_SIZE];
	uint64_t slot = INSN + 7 - 7 - (uint64_t)INT32_MAX; /* new disp = INT32_MAX */

	analyse_ok(b, sizeof(b), &plan);
	assert_int_equal(arch_relocate(&plan, INSN, slot, out), 7 + 5);
	assert_int_equal(rd64(out + 3) & 0xffffffff, (uint32_t)INT32_MAX);
	assert_int_equal(arch_relocate(&plan, INSN, slot - 1, out), -ERANGE);
	assert_false(arch_slot_reachable(&plan, INSN, slot - 1));
	/* the slack keeps reachable() strictly inside relocate() */
	assert_false(arch_slot_reachable(&plan, INSN, slot));
	assert_true(arch_slot_reachable(&plan, INSN, slot + (2 << 20)));
}

/* 0x67 makes it eip-relative: the address wraps to 32 bits, so every slot reaches it. */
static void test_eiprel(void **state)
{
	const uint8_t b[] = { 0x67, 0x8b, 0x05, 0x10, 0, 0, 0 };
	struct arch_plan plan;
	struct dec orig, got;
	uint8_t out[ARCH_SLOT_SIZE];

	analyse_ok(b, sizeof(b), &plan);
	decode(b, sizeof(b), INSN, &orig);
	assert_true(arch_slot_reachable(&plan, INSN, SLOT_FAR));
	assert_true(arch_relocate(&plan, INSN, SLOT_FAR, out) > 0);
	decode(out, 7, SLOT_FAR, &got);
	assert_int_equal(got.target & 0xffffffff, orig.target & 0xffffffff);
}

/* ---------------------------------------------------------- other families */

static void test_nops(void **state)
{
	static const struct riprel_case nops[] = {
		{ "nop", { 0x90 }, 1 },
		{ "xchg %ax,%ax", { 0x66, 0x90 }, 2 },
		{ "nopl (%rax)", { 0x0f, 0x1f, 0x00 }, 3 },
		{ "nopl 0(%rax,%rax)", { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 5 },
		{ "nopw 0(%rax,%rax)", { 0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 }, 9 },
		{ "cs nopw", { 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 }, 10 },
		{ "nopl disp(%rip)", { 0x0f, 0x1f, 0x05, 0, 0, 0, 0x80 }, 7 },
		{ "endbr64", { 0xf3, 0x0f, 0x1e, 0xfa }, 4 },
		{ "endbr32", { 0xf3, 0x0f, 0x1e, 0xfb }, 4 },
	};

	for (size_t c = 0; c < ARRAY_SIZE(nops); c++) {
		struct arch_plan plan;
		uint8_t out[ARCH_SLOT_SIZE];
		int len;

		print_message("  %s\n", nops[c].name);
		len = reloc(nops[c].b, nops[c].n, INSN, SLOT_NEAR, out, &plan);
		assert_int_equal(plan.type, ARCH_T_NOP);
		assert_int_equal(len, 5);
		check_leave(out, 0, SLOT_NEAR, INSN + nops[c].n);
		/* a nop never touches memory: any slot will do */
		assert_true(arch_slot_reachable(&plan, INSN, SLOT_FAR));
		assert_int_equal(arch_relocate(&plan, INSN, SLOT_FAR, out), 14);
		check_leave(out, 0, SLOT_FAR, INSN + nops[c].n);
	}
}

static void test_copied(void **state)
{
	static const struct riprel_case cases[] = {
		{ "push 8(%rsp)", { 0xff, 0x74, 0x24, 0x08 }, 4 },
		{ "pop 8(%rsp)", { 0x8f, 0x44, 0x24, 0x08 }, 4 },
		{ "rep movsb", { 0xf3, 0xa4 }, 2 },
		{ "cpuid", { 0x0f, 0xa2 }, 2 },
		{ "pause", { 0xf3, 0x90 }, 2 },
		{ "ud2", { 0x0f, 0x0b }, 2 },
		{ "lock cmpxchg %rcx,(%rdi)", { 0xf0, 0x48, 0x0f, 0xb1, 0x0f }, 5 },
		{ "mov %fs:0x28,%rax", { 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0 }, 9 },
		{ "movabs $imm64,%rax", { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 }, 10 },
		{ "int $0x80", { 0xcd, 0x80 }, 2 },
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct arch_plan plan;
		uint8_t out[ARCH_SLOT_SIZE];
		int len;

		print_message("  %s\n", cases[c].name);
		len = reloc(cases[c].b, cases[c].n, INSN, SLOT_NEAR, out, &plan);
		assert_int_equal(plan.type, ARCH_T_OTHER);
		assert_int_equal(plan.disp_pos, 0);
		assert_memory_equal(out, cases[c].b, cases[c].n);
		assert_int_equal(len, cases[c].n + 5);
		check_leave(out, cases[c].n, SLOT_NEAR, INSN + cases[c].n);
		assert_int_equal(arch_relocate(&plan, INSN, SLOT_FAR, out), cases[c].n + 14);
		check_leave(out, cases[c].n, SLOT_FAR, INSN + cases[c].n);
	}
}

static void test_pushf_ret_syscall(void **state)
{
	struct arch_plan plan;
	uint8_t out[ARCH_SLOT_SIZE];

	assert_int_equal(reloc(B(0x9c), INSN, SLOT_NEAR, out, &plan), 6);
	assert_int_equal(plan.type, ARCH_T_PUSHF);
	assert_int_equal(out[0], 0x9c);
	check_leave(out, 1, SLOT_NEAR, INSN + 1);

	assert_int_equal(reloc(B(0xc3), INSN, SLOT_FAR, out, &plan), 1);
	assert_int_equal(plan.type, ARCH_T_RET);
	assert_int_equal(out[0], 0xc3);
	assert_int_equal(reloc(B(0xc2, 0x10, 0x00), INSN, SLOT_NEAR, out, &plan), 3);
	assert_int_equal(plan.type, ARCH_T_RET);
	assert_memory_equal(out, "\xc2\x10\x00", 3);
	assert_int_equal(reloc(B(0xf3, 0xc3), INSN, SLOT_NEAR, out, &plan), 2);
	assert_int_equal(plan.type, ARCH_T_RET);
	assert_int_equal(reloc(B(0xf2, 0xc3), INSN, SLOT_NEAR, out, &plan), 2);
	assert_int_equal(plan.type, ARCH_T_RET);

	assert_int_equal(reloc(B(0x0f, 0x05), INSN, SLOT_NEAR, out, &plan), 2 + 10 + 5);
	assert_int_equal(plan.type, ARCH_T_SYSCALL);
	assert_memory_equal(out, "\x0f\x05\x48\xb9", 4);
	assert_int_equal(rd64(out + 4), INSN + 2);
	check_leave(out, 12, SLOT_NEAR, INSN + 2);
	assert_int_equal(reloc(B(0x0f, 0x05), INSN, SLOT_FAR, out, &plan), 2 + 10 + 14);
	check_leave(out, 12, SLOT_FAR, INSN + 2);

	assert_int_equal(reloc(B(0xff, 0xe0), INSN, SLOT_FAR, out, &plan), 2); /* jmp *%rax */
	assert_int_equal(plan.type, ARCH_T_JMP_IND);
	assert_memory_equal(out, "\xff\xe0", 2);
	assert_int_equal(reloc(B(0x41, 0xff, 0x24, 0x24), INSN, SLOT_FAR, out, &plan), 4);
	assert_int_equal(plan.type, ARCH_T_JMP_IND);
}

/* jmp/jcc/loop: the target must survive relocation, near or far, forward or backward. */
struct branch_case {
	const char *name;
	uint8_t b[8];
	uint8_t n;
	uint8_t type;
	int64_t target; /* from INSN */
};

static const struct branch_case branch_cases[] = {
	{ "jmp rel8 fwd", { 0xeb, 0x10 }, 2, ARCH_T_JMP, 0x12 },
	{ "jmp rel8 back", { 0xeb, 0xf0 }, 2, ARCH_T_JMP, 2 - 16 },
	{ "jmp rel32 fwd", { 0xe9, 0x00, 0x10, 0, 0 }, 5, ARCH_T_JMP, 5 + 0x1000 },
	{ "jmp rel32 back", { 0xe9, 0x00, 0xf0, 0xff, 0xff }, 5, ARCH_T_JMP, 5 - 0x1000 },
	{ "bnd jmp rel32", { 0xf2, 0xe9, 0x00, 0x01, 0, 0 }, 6, ARCH_T_JMP, 6 + 0x100 },
	{ "je rel8 fwd", { 0x74, 0x10 }, 2, ARCH_T_JCC, 0x12 },
	{ "jne rel8 back", { 0x75, 0xe0 }, 2, ARCH_T_JCC, 2 - 32 },
	{ "ds jg rel8 (hint)", { 0x3e, 0x7f, 0x10 }, 3, ARCH_T_JCC, 0x13 },
	{ "jl rel32 fwd", { 0x0f, 0x8c, 0x00, 0x02, 0, 0 }, 6, ARCH_T_JCC, 6 + 0x200 },
	{ "jae rel32 back", { 0x0f, 0x83, 0x00, 0xfe, 0xff, 0xff }, 6, ARCH_T_JCC, 6 - 0x200 },
	{ "jo rel8", { 0x70, 0x00 }, 2, ARCH_T_JCC, 2 },
	{ "loopne", { 0xe0, 0xf0 }, 2, ARCH_T_LOOP, 2 - 16 },
	{ "loope", { 0xe1, 0x10 }, 2, ARCH_T_LOOP, 0x12 },
	{ "loop", { 0xe2, 0xfe }, 2, ARCH_T_LOOP, 0 },
	{ "jrcxz", { 0xe3, 0x20 }, 2, ARCH_T_LOOP, 0x22 },
	{ "jecxz", { 0x67, 0xe3, 0x20 }, 3, ARCH_T_LOOP, 0x23 },
	{ "loop addr32", { 0x67, 0xe2, 0x80 }, 3, ARCH_T_LOOP, 3 - 128 },
};

static void test_branches(void **state)
{
	const uint64_t slots[] = { SLOT_NEAR, SLOT_BELOW, SLOT_FAR };

	for (size_t c = 0; c < ARRAY_SIZE(branch_cases); c++) {
		const struct branch_case *bc = &branch_cases[c];
		uint64_t next = INSN + bc->n, target = INSN + bc->target;
		struct arch_plan plan;

		print_message("  %s\n", bc->name);
		analyse_ok(bc->b, bc->n, &plan);
		assert_int_equal(plan.type, bc->type);
		assert_true(plan.has_branch);
		assert_int_equal(plan.branch_off, bc->target);
		for (size_t s = 0; s < ARRAY_SIZE(slots); s++) {
			uint64_t slot = slots[s];
			uint8_t out[ARCH_SLOT_SIZE];
			struct dec d;
			size_t pos, l1, l2;
			int len;

			assert_true(arch_slot_reachable(&plan, INSN, slot));
			memset(out, 0xcc, sizeof(out));
			len = arch_relocate(&plan, INSN, slot, out);
			switch (bc->type) {
			case ARCH_T_JMP:
				assert_int_equal(len, check_leave(out, 0, slot, target));
				break;
			case ARCH_T_JCC:
				assert_int_equal(out[0], 0x0f);
				/* the condition is the low nibble of the last opcode byte */
				assert_int_equal(out[1], 0x80 | (bc->b[bc->b[0] == 0x0f || bc->b[0] == 0x3e] & 0xf));
				decode(bc->b, bc->n, INSN, &d);
				{
					struct dec o;

					decode(out, 6, slot, &o);
					assert_int_equal(o.i.mnemonic, d.i.mnemonic);
				}
				l1 = check_leave(out, 6, slot, next);
				decode(out, 6, slot, &d);
				assert_int_equal(d.target, slot + 6 + l1);
				l2 = check_leave(out, 6 + l1, slot, target);
				assert_int_equal(len, 6 + l1 + l2);
				break;
			case ARCH_T_LOOP:
				pos = bc->b[0] == 0x67 ? 3 : 2;
				assert_memory_equal(out, bc->b, pos - 1); /* [67] opcode */
				decode(out, pos, slot, &d);
				l1 = check_leave(out, pos, slot, next);
				assert_int_equal(d.target, slot + pos + l1);
				l2 = check_leave(out, pos + l1, slot, target);
				assert_int_equal(len, pos + l1 + l2);
				break;
			}
			/* the slot must be left for the program at every exit */
			assert_true(len <= ARCH_SLOT_SIZE);
		}
	}
}

static void test_call_rel(void **state)
{
	struct arch_plan plan;
	uint8_t out[ARCH_SLOT_SIZE];
	int len;

	/* call +0x10 */
	len = reloc(B(0xe8, 0x10, 0, 0, 0), INSN, SLOT_NEAR, out, &plan);
	assert_int_equal(plan.type, ARCH_T_CALL);
	assert_int_equal(plan.branch_off, 0x15);
	assert_memory_equal(out, "\x50\x48\xb8", 3);
	assert_int_equal(rd64(out + 3), INSN + 5);
	assert_memory_equal(out + 11, "\x48\x87\x04\x24", 4);
	assert_int_equal(len, 15 + check_leave(out, 15, SLOT_NEAR, INSN + 0x15));
	len = arch_relocate(&plan, INSN, SLOT_FAR, out);
	assert_int_equal(len, 15 + check_leave(out, 15, SLOT_FAR, INSN + 0x15));

	/* call to the next instruction (call 1f; 1: pop %rbx) */
	len = reloc(B(0xe8, 0, 0, 0, 0), INSN, SLOT_BELOW, out, &plan);
	assert_int_equal(plan.type, ARCH_T_CALL);
	assert_int_equal(rd64(out + 3), INSN + 5);
	assert_int_equal(len, 15 + check_leave(out, 15, SLOT_BELOW, INSN + 5));

	/* call backwards, with a bnd prefix */
	len = reloc(B(0xf2, 0xe8, 0x00, 0xf0, 0xff, 0xff), INSN, SLOT_NEAR, out, &plan);
	assert_int_equal(plan.type, ARCH_T_CALL);
	assert_int_equal(rd64(out + 3), INSN + 6);
	assert_int_equal(len, 15 + check_leave(out, 15, SLOT_NEAR, INSN + 6 - 0x1000));
}

static void test_call_reg(void **state)
{
	struct arch_plan plan;
	uint8_t out[ARCH_SLOT_SIZE];
	static const uint8_t regs[][3] = {
		{ 0xff, 0xd0 }, { 0xff, 0xd3 }, { 0xff, 0xd5 }, { 0x41, 0xff, 0xd3 },
		{ 0x41, 0xff, 0xd7 }, { 0x41, 0xff, 0xd4 },
	};
	static const uint8_t regno[] = { 0, 3, 5, 11, 15, 12 };

	for (size_t c = 0; c < ARRAY_SIZE(regs); c++) {
		size_t n = regs[c][0] == 0x41 ? 3 : 2;
		int len = reloc(regs[c], n, INSN, SLOT_FAR, out, &plan);

		assert_int_equal(plan.type, ARCH_T_CALL_REG);
		assert_int_equal(plan.kind, ARCH_RELOCATE);
		assert_int_equal(plan.reg, regno[c]);
		assert_memory_equal(out, "\x50\x48\xb8", 3);
		assert_int_equal(rd64(out + 3), INSN + n);
		assert_memory_equal(out + 11, "\x48\x87\x04\x24", 4);
		if (regno[c] >= 8) {
			assert_int_equal(len, 18);
			assert_int_equal(out[15], 0x41);
			assert_int_equal(out[16], 0xff);
			assert_int_equal(out[17], 0xe0 | (regno[c] & 7));
		} else {
			assert_int_equal(len, 17);
			assert_int_equal(out[15], 0xff);
			assert_int_equal(out[16], 0xe0 | regno[c]);
		}
	}
	/* bnd and notrack prefixes do not change where it goes */
	assert_int_equal(reloc(B(0xf2, 0xff, 0xd0), INSN, SLOT_NEAR, out, &plan), 17);
	assert_int_equal(rd64(out + 3), INSN + 3);
	assert_memory_equal(out + 15, "\xff\xe0", 2);
	assert_int_equal(reloc(B(0x3e, 0xff, 0xd1), INSN, SLOT_NEAR, out, &plan), 17);
	assert_memory_equal(out + 15, "\xff\xe1", 2);

	/*
	 * call *%rsp: the emulation's push would change the target: single-step
	 * it. The leave after it: for a step the tracer did not live to finish
	 * and for the return to the address the copy pushed.
	 */
	assert_int_equal(reloc(B(0xff, 0xd4), INSN, SLOT_NEAR, out, &plan), 7);
	assert_int_equal(plan.kind, ARCH_STEP);
	assert_int_equal(plan.type, ARCH_T_CALL_REG);
	assert_memory_equal(out, "\xff\xd4", 2);
	check_leave(out, 2, SLOT_NEAR, INSN + 2);
}

static int reloc_post(const uint8_t *b, size_t n, uint64_t slot, uint8_t *out,
		      struct arch_plan *plan)
{
	analyse_ok(b, n, plan);
	memset(out, 0xcc, ARCH_SLOT_SIZE);
	return arch_relocate_post(plan, INSN, slot, out);
}

/*
 * Post slots: an int3 where the thread has done the instruction's work,
 * and after it what the thread runs should the tracer die with it there
 * (the lifeline returns past the int3).
 */
static void test_post_layouts(void **state)
{
	static const uint64_t slots[] = { SLOT_NEAR, SLOT_FAR };
	struct arch_plan plan;
	uint8_t out[ARCH_SLOT_SIZE];
	size_t pos;
	int len;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(slots); i++) {
		uint64_t slot = slots[i];

		/* mov %rdi, %rax: the copy, the int3, leave(next) */
		len = reloc_post(B(0x48, 0x89, 0xf8), slot, out, &plan);
		assert_memory_equal(out, "\x48\x89\xf8\xcc", 4);
		assert_int_equal(len, 4 + check_leave(out, 4, slot, INSN + 3));

		/* syscall: rcx as the untraced call leaves it, then next */
		len = reloc_post(B(0x0f, 0x05), slot, out, &plan);
		assert_memory_equal(out, "\x0f\x05\xcc\x48\xb9", 5);
		assert_int_equal(rd64(out + 5), INSN + 2);
		assert_int_equal(len, 13 + check_leave(out, 13, slot, INSN + 2));

		/* jne: both exits stop, then go on */
		len = reloc_post(B(0x75, 0x10), slot, out, &plan);
		assert_memory_equal(out, "\x0f\x85", 2);
		assert_int_equal(out[6], 0xcc);
		pos = 7 + check_leave(out, 7, slot, INSN + 2);
		assert_int_equal(rd64(out + 2) & 0xffffffff, pos - 6);
		assert_int_equal(out[pos], 0xcc);
		assert_int_equal(len, pos + 1 + check_leave(out, pos + 1, slot, INSN + 2 + 0x10));

		/* call *%rax: the return address pushed, the int3, the jump */
		len = reloc_post(B(0xff, 0xd0), slot, out, &plan);
		assert_int_equal(rd64(out + 3), INSN + 2);
		assert_memory_equal(out + 15, "\xcc\xff\xe0", 3);
		assert_int_equal(len, 18);

		/* call *(%rax): the target on top of the stack at the int3, then ret */
		len = reloc_post(B(0xff, 0x10), slot, out, &plan);
		assert_memory_equal(out + len - 2, "\xcc\xc3", 2);

		/* ret: the int3, then the copy */
		len = reloc_post(B(0xc3), slot, out, &plan);
		assert_memory_equal(out, "\xcc\xc3", 2);
		assert_int_equal(len, 2);
	}
}

static void check_call_mem_tail(const uint8_t *out, size_t pos, uint64_t next, int len)
{
	assert_int_equal(out[pos], 0x50);
	assert_memory_equal(out + pos + 1, "\x48\xb8", 2);
	assert_int_equal(rd64(out + pos + 3), next);
	assert_memory_equal(out + pos + 11, "\x48\x87\x44\x24\x08\x48\x87\x04\x24\xc3", 10);
	assert_int_equal(len, pos + 21);
}

static void test_call_mem(void **state)
{
	struct arch_plan plan;
	uint8_t out[ARCH_SLOT_SIZE];
	struct dec orig, got;
	int len;

	len = reloc(B(0xff, 0x10), INSN, SLOT_FAR, out, &plan); /* call *(%rax) */
	assert_int_equal(plan.type, ARCH_T_CALL_MEM);
	assert_memory_equal(out, "\xff\x30", 2);
	check_call_mem_tail(out, 2, INSN + 2, len);

	len = reloc(B(0xff, 0x54, 0x24, 0x08), INSN, SLOT_FAR, out, &plan); /* call *8(%rsp) */
	assert_memory_equal(out, "\xff\x74\x24\x08", 4);
	check_call_mem_tail(out, 4, INSN + 4, len);

	len = reloc(B(0x41, 0xff, 0x54, 0xc5, 0x10), INSN, SLOT_FAR, out, &plan); /* *0x10(%r13,%rax,8) */
	assert_memory_equal(out, "\x41\xff\x74\xc5\x10", 5);
	check_call_mem_tail(out, 5, INSN + 5, len);

	len = reloc(B(0x64, 0xff, 0x14, 0x25, 0x10, 0, 0, 0), INSN, SLOT_FAR, out, &plan);
	assert_memory_equal(out, "\x64\xff\x34\x25\x10\x00\x00\x00", 8); /* push %fs:0x10 */
	check_call_mem_tail(out, 8, INSN + 8, len);

	/* call *0x1000(%rip): push gets a disp re-targeted to the same slot */
	len = reloc(B(0xff, 0x15, 0x00, 0x10, 0, 0), INSN, SLOT_NEAR, out, &plan);
	decode(B(0xff, 0x15, 0x00, 0x10, 0, 0), INSN, &orig);
	decode(out, 6, SLOT_NEAR, &got);
	assert_int_equal(got.i.mnemonic, ZYDIS_MNEMONIC_PUSH);
	assert_int_equal(got.target, orig.target);
	check_call_mem_tail(out, 6, INSN + 6, len);
	assert_int_equal(arch_relocate(&plan, INSN, SLOT_FAR, out), -ERANGE);
	assert_false(arch_slot_reachable(&plan, INSN, SLOT_FAR));

	/* bnd/notrack: f2 dropped (moving the disp), 3e kept (a null segment override) */
	len = reloc(B(0xf2, 0x3e, 0xff, 0x15, 0x00, 0x10, 0, 0), INSN, SLOT_BELOW, out, &plan);
	decode(B(0xf2, 0x3e, 0xff, 0x15, 0x00, 0x10, 0, 0), INSN, &orig);
	decode(out, 7, SLOT_BELOW, &got);
	assert_int_equal(got.i.length, 7);
	assert_int_equal(got.i.mnemonic, ZYDIS_MNEMONIC_PUSH);
	assert_int_equal(got.target, orig.target);
	assert_int_equal(out[0], 0x3e);
	check_call_mem_tail(out, 7, INSN + 8, len);

	/* an ignored REX (not last before the opcode) must stay ignored */
	len = reloc(B(0x41, 0xf2, 0xff, 0x10), INSN, SLOT_NEAR, out, &plan);
	assert_memory_equal(out, "\xff\x30", 2);
	check_call_mem_tail(out, 2, INSN + 4, len);
}

/* ------------------------------------------------- step fixup and pc mapping */

struct fake_mem {
	uint64_t addr;
	uint64_t val;
	int writes;
};

static int fm_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fake_mem *m = ctx;

	assert_int_equal(addr, m->addr);
	assert_int_equal(len, 8);
	memcpy(buf, &m->val, 8);
	return 0;
}

static int fm_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	struct fake_mem *m = ctx;

	assert_int_equal(addr, m->addr);
	assert_int_equal(len, 8);
	memcpy(&m->val, buf, 8);
	m->writes++;
	return 0;
}

static void test_step_fixup(void **state)
{
	struct arch_plan plan;
	struct user_regs_struct regs = { 0 };
	struct fake_mem fm = { .addr = 0x7ffff000, .val = SLOT_NEAR + 2 };
	struct arch_mem mem = { .ctx = &fm, .read = fm_read, .write = fm_write };

	/* call *%rsp stepped: rip = the old rsp, [rsp] = slot + 2 */
	analyse_ok(B(0xff, 0xd4), &plan);
	regs.rip = 0x7ffff008;
	regs.rsp = 0x7ffff000;
	assert_int_equal(arch_step_fixup(&plan, INSN, SLOT_NEAR, &regs, &mem), 0);
	assert_int_equal(regs.rip, 0x7ffff008);
	assert_int_equal(fm.val, INSN + 2);

	/* pushf stepped: TF cleared in the pushed copy, rip back in the program */
	analyse_ok(B(0x9c), &plan);
	fm.val = 0x346;
	regs.rip = SLOT_NEAR + 1;
	assert_int_equal(arch_step_fixup(&plan, INSN, SLOT_NEAR, &regs, &mem), 0);
	assert_int_equal(regs.rip, INSN + 1);
	assert_int_equal(fm.val, 0x246);

	/*
	 * pushf whose step ended before it ran (an interrupt reported first):
	 * what rsp points at is the program's (here a return address with bit
	 * 8 set), never touched
	 */
	fm.val = 0x401d3f;
	fm.writes = 0;
	regs.rip = SLOT_NEAR;
	assert_int_equal(arch_step_fixup(&plan, INSN, SLOT_NEAR, &regs, &mem), 0);
	assert_int_equal(regs.rip, SLOT_NEAR);
	assert_int_equal(fm.val, 0x401d3f);
	assert_int_equal(fm.writes, 0);

	/* plain instruction */
	analyse_ok(B(0x48, 0x8b, 0x05, 0, 1, 0, 0), &plan);
	fm.writes = 0;
	regs.rip = SLOT_NEAR + 7;
	assert_int_equal(arch_step_fixup(&plan, INSN, SLOT_NEAR, &regs, &mem), 0);
	assert_int_equal(regs.rip, INSN + 7);
	assert_int_equal(fm.writes, 0);
}

static bool map_pc(const uint8_t *b, size_t n, uint64_t slot, uint64_t rip,
		   struct user_regs_struct *regs)
{
	struct arch_plan plan;

	analyse_ok(b, n, &plan);
	regs->rip = rip;
	return arch_slot_pc_to_insn(&plan, INSN, slot, regs);
}

static void test_slot_pc(void **state)
{
	struct user_regs_struct r = { 0 };
	const uint64_t S = SLOT_NEAR, F = SLOT_FAR;

	/* the start of every slot is the instruction itself */
	assert_true(map_pc(B(0xff, 0x10), S, S, &r));
	assert_int_equal(r.rip, INSN);
	assert_true(map_pc(B(0x48, 0x8b, 0x05, 0, 1, 0, 0), S, S, &r));
	assert_int_equal(r.rip, INSN);

	/* after a copied instruction */
	assert_true(map_pc(B(0x48, 0x8b, 0x05, 0, 1, 0, 0), S, S + 7, &r));
	assert_int_equal(r.rip, INSN + 7);
	assert_false(map_pc(B(0x48, 0x8b, 0x05, 0, 1, 0, 0), S, S + 3, &r));

	/* jcc: after the jcc (not taken) and at L_taken, near and far */
	assert_true(map_pc(B(0x74, 0x10), S, S + 6, &r));
	assert_int_equal(r.rip, INSN + 2);
	assert_true(map_pc(B(0x74, 0x10), S, S + 11, &r));
	assert_int_equal(r.rip, INSN + 0x12);
	assert_true(map_pc(B(0x74, 0x10), F, F + 20, &r));
	assert_int_equal(r.rip, INSN + 0x12);
	assert_false(map_pc(B(0x74, 0x10), F, F + 11, &r));

	/* loop: after the loop and at L_taken */
	assert_true(map_pc(B(0x67, 0xe2, 0x10), S, S + 3, &r));
	assert_int_equal(r.rip, INSN + 3);
	assert_true(map_pc(B(0x67, 0xe2, 0x10), S, S + 8, &r));
	assert_int_equal(r.rip, INSN + 0x13);

	/* call rel32: only once the return address is in place */
	assert_false(map_pc(B(0xe8, 0x10, 0, 0, 0), S, S + 1, &r));
	assert_false(map_pc(B(0xe8, 0x10, 0, 0, 0), S, S + 11, &r));
	assert_true(map_pc(B(0xe8, 0x10, 0, 0, 0), S, S + 15, &r));
	assert_int_equal(r.rip, INSN + 0x15);

	/* call *%r11: the target is the register */
	r.r11 = 0x123456;
	assert_true(map_pc(B(0x41, 0xff, 0xd3), S, S + 15, &r));
	assert_int_equal(r.rip, 0x123456);

	/* call *mem: no point in the middle is equivalent */
	for (uint64_t off = 1; off < 23; off++)
		assert_false(map_pc(B(0xff, 0x10), S, S + off, &r));

	/* syscall: blocked in it, or after rcx is fixed */
	r.rcx = S + 2;
	assert_true(map_pc(B(0x0f, 0x05), S, S + 2, &r));
	assert_int_equal(r.rip, INSN + 2);
	assert_int_equal(r.rcx, INSN + 2);
	assert_true(map_pc(B(0x0f, 0x05), S, S + 12, &r));
	assert_int_equal(r.rip, INSN + 2);
	assert_false(map_pc(B(0x0f, 0x05), S, S + 5, &r));
}

/* ------------------------------------------------- differential execution */

/*
 * Each case runs twice, in forked children started from one snapshot: once
 * the original instruction at insn_addr, once the relocated code in a slot.
 * Both end at a landing pad (see harness.S); registers, flags, rsp, the pad
 * reached, the data area and the stack must match. Children die on a stray
 * jump (everything else is int3) and on an alarm, so a broken relocation fails
 * the test instead of hanging or crashing it.
 */
struct cpu {
	uint64_t gpr[16]; /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
	uint64_t rflags;
	uint64_t rip;     /* the landing pad reached */
};

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

void harness_run(const struct cpu *in, struct cpu *out, uint64_t entry);
extern char harness_capture[];
extern uint64_t harness_scratch_rax;

#define CODE_SIZE 0x10000
#define INSN_OFF 0x4000
#define DATA_OFF 0xc000
#define DATA_SIZE 0x1000
#define STACK_SIZE 0x4000
#define PAD_SIZE 34

static uint8_t g_stack[STACK_SIZE] __attribute__((aligned(64)));

struct result {
	int done;
	struct cpu cpu;
	uint8_t data[DATA_SIZE];
	uint8_t stack[STACK_SIZE];
};

static struct {
	uint8_t *code;      /* CODE_SIZE, RWX: the instruction, pads, data */
	uint8_t *slot_near; /* a page about 1 GiB away */
	uint8_t *slot_far;  /* a page more than 4 GiB away */
	struct result *res; /* two, shared with the children */
	uint64_t gs_base;   /* set in the child when non-zero */
} env;

#define INSN_ADDR ((uint64_t)(uintptr_t)(env.code + INSN_OFF))
#define DATA_ADDR ((uint64_t)(uintptr_t)(env.code + DATA_OFF))
#define STACK_TOP_INIT ((uint64_t)(uintptr_t)(g_stack + STACK_SIZE / 2))

static void *map_rwx_near(uint64_t base, int64_t dist)
{
	for (int i = 0; i < 64; i++) {
		for (int sign = 1; sign >= -1; sign -= 2) {
			uint64_t want = base + (uint64_t)(sign * (dist + (int64_t)i * 0x1000000));
			void *p;

			if (want < 0x10000000ULL || want > 0x7ffffff00000ULL)
				continue;
			p = mmap((void *)(uintptr_t)want, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (p == MAP_FAILED)
				continue;
			if ((uint64_t)(uintptr_t)p == want)
				return p;
			munmap(p, 4096);
		}
	}
	return NULL;
}

static int diff_setup(void **state)
{
	void *p = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	env.code = p;
	env.slot_near = map_rwx_near(INSN_ADDR, 0x40000000LL);
	env.slot_far = map_rwx_near(INSN_ADDR, 0x300000000LL);
	p = mmap(NULL, 2 * sizeof(struct result), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || !env.slot_near || !env.slot_far)
		return -1;
	env.res = p;
	return 0;
}

static int diff_teardown(void **state)
{
	munmap(env.code, CODE_SIZE);
	munmap(env.slot_near, 4096);
	munmap(env.slot_far, 4096);
	munmap(env.res, 2 * sizeof(struct result));
	return 0;
}

/* A fresh world: code all int3, data and stack filled with a pattern. */
static void world_reset(struct cpu *in)
{
	memset(env.code, 0xcc, CODE_SIZE);
	for (size_t i = 0; i < DATA_SIZE; i++)
		env.code[DATA_OFF + i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < STACK_SIZE; i++)
		g_stack[i] = (uint8_t)(i * 13 + 5);
	env.gs_base = 0;
	for (int r = 0; r < 16; r++)
		in->gpr[r] = 0x1111111111111111ULL * (uint64_t)(r + 1) ^ 0x0123456789abcdefULL;
	in->gpr[RSP] = STACK_TOP_INIT;
	in->rflags = 0x202;
	in->rip = 0;
}

/* Writes a landing pad at addr (an address the code under test may continue at). */
static void pad(uint64_t addr)
{
	uint8_t *p = (uint8_t *)(uintptr_t)addr;
	uint64_t scratch = (uint64_t)(uintptr_t)&harness_scratch_rax;
	uint64_t cap = (uint64_t)(uintptr_t)harness_capture;

	assert_true(addr >= (uint64_t)(uintptr_t)env.code &&
		    addr + PAD_SIZE <= (uint64_t)(uintptr_t)env.code + DATA_OFF);
	p[0] = 0x48; /* movabs %rax, scratch */
	p[1] = 0xa3;
	memcpy(p + 2, &scratch, 8);
	p[10] = 0x48; /* movabs $addr, %rax */
	p[11] = 0xb8;
	memcpy(p + 12, &addr, 8);
	memcpy(p + 20, "\xff\x25\x00\x00\x00\x00", 6); /* jmp *capture */
	memcpy(p + 26, &cap, 8);
}

static void stack_put(uint64_t addr, uint64_t val)
{
	assert_true(addr >= (uint64_t)(uintptr_t)g_stack &&
		    addr + 8 <= (uint64_t)(uintptr_t)g_stack + STACK_SIZE);
	memcpy((void *)(uintptr_t)addr, &val, 8);
}

static void data_put(uint64_t addr, uint64_t val)
{
	memcpy((void *)(uintptr_t)addr, &val, 8);
}

static void run_child(uint64_t entry, const struct cpu *in, struct result *res)
{
	pid_t pid;
	int status;

	memset(res, 0, sizeof(*res));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cpu out = { 0 };

		alarm(5);
		if (env.gs_base && syscall(SYS_arch_prctl, ARCH_SET_GS, env.gs_base))
			_exit(2);
		harness_run(in, &out, entry);
		res->cpu = out;
		memcpy(res->data, env.code + DATA_OFF, DATA_SIZE);
		memcpy(res->stack, g_stack, STACK_SIZE);
		res->done = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("code at %#llx died with signal %d (%s)", (unsigned long long)entry,
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0 && res->done);
}

static const char *const reg_names[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static void compare(const char *what, const struct result *a, const struct result *b,
		    bool scratch_below_rsp)
{
	bool bad = false;
	size_t lo = 0, hi = STACK_SIZE;

	for (int r = 0; r < 16; r++) {
		if (a->cpu.gpr[r] != b->cpu.gpr[r]) {
			print_error("%s: %s original %#llx relocated %#llx\n", what, reg_names[r],
				    (unsigned long long)a->cpu.gpr[r],
				    (unsigned long long)b->cpu.gpr[r]);
			bad = true;
		}
	}
	if (a->cpu.rflags != b->cpu.rflags) {
		print_error("%s: rflags %#llx vs %#llx\n", what, (unsigned long long)a->cpu.rflags,
			    (unsigned long long)b->cpu.rflags);
		bad = true;
	}
	if (a->cpu.rip != b->cpu.rip) {
		print_error("%s: continued at %#llx vs %#llx\n", what, (unsigned long long)a->cpu.rip,
			    (unsigned long long)b->cpu.rip);
		bad = true;
	}
	if (memcmp(a->data, b->data, DATA_SIZE)) {
		print_error("%s: data differs\n", what);
		bad = true;
	}
	if (scratch_below_rsp && !bad && a->cpu.gpr[RSP] >= (uint64_t)(uintptr_t)g_stack + 8 &&
	    a->cpu.gpr[RSP] <= (uint64_t)(uintptr_t)g_stack + STACK_SIZE) {
		/* call *mem may leave a scratch word just below the callee's rsp */
		hi = a->cpu.gpr[RSP] - (uint64_t)(uintptr_t)g_stack - 8;
		lo = hi + 8;
		if (memcmp(a->stack, b->stack, hi) ||
		    memcmp(a->stack + lo, b->stack + lo, STACK_SIZE - lo)) {
			print_error("%s: stack differs\n", what);
			bad = true;
		}
	} else if (memcmp(a->stack, b->stack, STACK_SIZE)) {
		print_error("%s: stack differs\n", what);
		bad = true;
	}
	if (bad)
		fail_msg("%s: relocated code differs from the original", what);
}

/*
 * Runs the instruction b at insn_addr and relocated in the near and far slots
 * from the same state, compares, and returns the continuation of the
 * original. The caller has set up the world and pads other than insn+len.
 */
static uint64_t diff_run(const char *name, const uint8_t *b, size_t n, const struct cpu *in)
{
	uint8_t *slots[2] = { env.slot_near, env.slot_far };
	uint64_t insn = INSN_ADDR;
	struct arch_plan plan;
	char what[160];
	int ran = 0;

	print_message("  %s\n", name);
	analyse_ok(b, n, &plan);
	assert_int_equal(plan.kind, ARCH_RELOCATE);
	memcpy(env.code + INSN_OFF, b, n);
	pad(insn + n);
	run_child(insn, in, &env.res[0]);

	for (int s = 0; s < 2; s++) {
		uint64_t slot = (uint64_t)(uintptr_t)slots[s] + 0x40;
		int len;

		memset(slots[s], 0xcc, 4096);
		len = arch_relocate(&plan, insn, slot, slots[s] + 0x40);
		if (len == -ERANGE) {
			/* only a rip-relative operand may be out of reach */
			assert_true(plan.disp_pos && s == 1);
			assert_false(arch_slot_reachable(&plan, insn, slot));
			continue;
		}
		assert_true(len > 0 && len <= ARCH_SLOT_SIZE);
		assert_true(arch_slot_reachable(&plan, insn, slot));
		snprintf(what, sizeof(what), "%s (%s slot)", name, s ? "far" : "near");
		run_child(slot, in, &env.res[1]);
		compare(what, &env.res[0], &env.res[1], plan.type == ARCH_T_CALL_MEM);
		ran++;
	}
	assert_true(ran > 0);
	return env.res[0].cpu.rip;
}

/* rel32 from the end of an instruction of length n at INSN_ADDR to target */
static uint32_t rel_to(size_t n, uint64_t target)
{
	return (uint32_t)(target - (INSN_ADDR + n));
}

#define BYTES(...) (uint8_t[]){ __VA_ARGS__ }
#define LE32(v) (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((v) >> 24)

static void test_diff_jcc(void **state)
{
	struct cpu in;
	uint64_t insn = INSN_ADDR;
	/* OF SF ZF AF PF CF in the low flags: 0x8d5 */
	static const uint64_t flag_sets[] = { 0x202, 0x246, 0xa83, 0x8d7, 0x602 };

	for (size_t f = 0; f < ARRAY_SIZE(flag_sets); f++) {
		for (int cc = 0; cc < 16; cc++) {
			char name[64];
			uint8_t b8[2] = { (uint8_t)(0x70 | cc), 0x40 };
			uint8_t b32[6] = { 0x0f, (uint8_t)(0x80 | cc), LE32(rel_to(6, insn - 0x200)) };

			world_reset(&in);
			in.rflags = flag_sets[f];
			pad(insn + 2 + 0x40);
			snprintf(name, sizeof(name), "j%x rel8 flags %#llx", cc,
				 (unsigned long long)flag_sets[f]);
			diff_run(name, b8, 2, &in);

			world_reset(&in);
			in.rflags = flag_sets[f];
			pad(insn - 0x200);
			snprintf(name, sizeof(name), "j%x rel32 back flags %#llx", cc,
				 (unsigned long long)flag_sets[f]);
			diff_run(name, b32, 6, &in);
		}
	}
	/* both outcomes were really exercised */
	world_reset(&in);
	in.rflags = 0x246;
	pad(insn + 0x42);
	assert_int_equal(diff_run("je taken", BYTES(0x74, 0x40), 2, &in), insn + 0x42);
	world_reset(&in);
	assert_int_equal(diff_run("je not taken", BYTES(0x74, 0x40), 2, &in), insn + 2);
}

static void test_diff_loop(void **state)
{
	static const struct {
		const char *name;
		uint8_t b[3];
		uint8_t n;
		uint64_t rcx;
		uint64_t flags;
	} cases[] = {
		{ "loop taken", { 0xe2, 0x40 }, 2, 5, 0x202 },
		{ "loop not taken", { 0xe2, 0x40 }, 2, 1, 0x202 },
		{ "loop rcx=0 (wraps)", { 0xe2, 0xc0 }, 2, 0, 0x202 },
		{ "loope taken", { 0xe1, 0x40 }, 2, 5, 0x246 },
		{ "loope zf=0", { 0xe1, 0x40 }, 2, 5, 0x202 },
		{ "loopne taken", { 0xe0, 0xc0 }, 2, 5, 0x202 },
		{ "loopne zf=1", { 0xe0, 0xc0 }, 2, 5, 0x246 },
		{ "jrcxz taken", { 0xe3, 0x40 }, 2, 0, 0x202 },
		{ "jrcxz not taken", { 0xe3, 0x40 }, 2, 0x100000000ULL, 0x202 },
		{ "jecxz taken (high half ignored)", { 0x67, 0xe3, 0x40 }, 3, 0x100000000ULL, 0x202 },
		{ "jecxz not taken", { 0x67, 0xe3, 0x40 }, 3, 7, 0x202 },
		{ "addr32 loop (ecx wraps)", { 0x67, 0xe2, 0x40 }, 3, 0x100000001ULL, 0x202 },
		{ "addr32 loop taken", { 0x67, 0xe2, 0xc0 }, 3, 0x1ffffffffULL, 0x202 },
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct cpu in;
		uint64_t target = INSN_ADDR + cases[c].n + (int8_t)cases[c].b[cases[c].n - 1];

		world_reset(&in);
		in.gpr[RCX] = cases[c].rcx;
		in.rflags = cases[c].flags;
		pad(target);
		diff_run(cases[c].name, cases[c].b, cases[c].n, &in);
	}
}

static void test_diff_jmp(void **state)
{
	struct cpu in;
	uint64_t insn = INSN_ADDR;

	world_reset(&in);
	pad(insn - 0x100);
	assert_int_equal(diff_run("jmp rel32 back", BYTES(0xe9, LE32(rel_to(5, insn - 0x100))), 5,
				  &in), insn - 0x100);
	world_reset(&in);
	pad(insn + 0x7f + 2);
	diff_run("jmp rel8", BYTES(0xeb, 0x7f), 2, &in);

	world_reset(&in);
	in.gpr[RAX] = insn + 0x300;
	pad(insn + 0x300);
	diff_run("jmp *%rax", BYTES(0xff, 0xe0), 2, &in);

	world_reset(&in);
	data_put(DATA_ADDR + 0x80, insn + 0x300);
	pad(insn + 0x300);
	diff_run("jmp *disp(%rip)", BYTES(0xff, 0x25, LE32(rel_to(6, DATA_ADDR + 0x80))), 6, &in);

	world_reset(&in);
	diff_run("nop", BYTES(0x90), 1, &in);
	diff_run("nopw cs:0(%rax,%rax)", BYTES(0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0), 10, &in);
	diff_run("endbr64", BYTES(0xf3, 0x0f, 0x1e, 0xfa), 4, &in);
}

static void test_diff_call(void **state)
{
	struct cpu in;
	uint64_t insn = INSN_ADDR, t = insn + 0x400;

	world_reset(&in);
	pad(t);
	assert_int_equal(diff_run("call rel32", BYTES(0xe8, LE32(rel_to(5, t))), 5, &in), t);
	world_reset(&in);
	pad(insn - 0x800);
	diff_run("call rel32 back", BYTES(0xe8, LE32(rel_to(5, insn - 0x800))), 5, &in);
	world_reset(&in);
	diff_run("call next (get pc)", BYTES(0xe8, 0, 0, 0, 0), 5, &in);
	world_reset(&in);
	in.rflags = 0xad7;
	pad(t);
	diff_run("call rel32 all flags", BYTES(0xe8, LE32(rel_to(5, t))), 5, &in);

	world_reset(&in);
	in.gpr[RAX] = t;
	pad(t);
	diff_run("call *%rax", BYTES(0xff, 0xd0), 2, &in);
	world_reset(&in);
	in.gpr[R11] = t;
	pad(t);
	diff_run("call *%r11", BYTES(0x41, 0xff, 0xd3), 3, &in);
	world_reset(&in);
	in.gpr[RBP] = t;
	pad(t);
	diff_run("notrack call *%rbp", BYTES(0x3e, 0xff, 0xd5), 3, &in);

	world_reset(&in);
	in.gpr[RAX] = DATA_ADDR + 0x40;
	data_put(DATA_ADDR + 0x40, t);
	pad(t);
	diff_run("call *(%rax)", BYTES(0xff, 0x10), 2, &in);

	world_reset(&in);
	stack_put(in.gpr[RSP] + 8, t);
	pad(t);
	diff_run("call *8(%rsp)", BYTES(0xff, 0x54, 0x24, 0x08), 4, &in);
	world_reset(&in);
	stack_put(in.gpr[RSP], t);
	pad(t);
	diff_run("call *(%rsp)", BYTES(0xff, 0x14, 0x24), 3, &in);
	world_reset(&in);
	stack_put(in.gpr[RSP] - 8, t);
	pad(t);
	diff_run("call *-8(%rsp)", BYTES(0xff, 0x54, 0x24, 0xf8), 4, &in);

	world_reset(&in);
	in.gpr[R13] = DATA_ADDR;
	in.gpr[RCX] = 3;
	data_put(DATA_ADDR + 0x10 + 3 * 8, t);
	pad(t);
	diff_run("call *0x10(%r13,%rcx,8)", BYTES(0x41, 0xff, 0x54, 0xcd, 0x10), 5, &in);

	world_reset(&in);
	data_put(DATA_ADDR + 0x100, t);
	pad(t);
	diff_run("call *disp(%rip)", BYTES(0xff, 0x15, LE32(rel_to(6, DATA_ADDR + 0x100))), 6, &in);
	world_reset(&in);
	data_put(DATA_ADDR + 0x100, t);
	pad(t);
	diff_run("bnd call *disp(%rip)",
		 BYTES(0xf2, 0xff, 0x15, LE32(rel_to(7, DATA_ADDR + 0x100))), 7, &in);

	world_reset(&in);
	env.gs_base = DATA_ADDR;
	data_put(DATA_ADDR + 0x10, t);
	pad(t);
	diff_run("call *%gs:0x10", BYTES(0x65, 0xff, 0x14, 0x25, 0x10, 0, 0, 0), 8, &in);
}

static void test_diff_ret(void **state)
{
	struct cpu in;
	uint64_t t = INSN_ADDR + 0x500;

	world_reset(&in);
	stack_put(in.gpr[RSP], t);
	pad(t);
	diff_run("ret", BYTES(0xc3), 1, &in);
	world_reset(&in);
	stack_put(in.gpr[RSP], t);
	pad(t);
	diff_run("ret $16", BYTES(0xc2, 0x10, 0x00), 3, &in);
	world_reset(&in);
	stack_put(in.gpr[RSP], t);
	pad(t);
	diff_run("rep ret", BYTES(0xf3, 0xc3), 2, &in);
}

static void test_diff_riprel(void **state)
{
	struct cpu in;
	uint64_t d = DATA_ADDR;

	world_reset(&in);
	diff_run("mov disp(%rip),%rax", BYTES(0x48, 0x8b, 0x05, LE32(rel_to(7, d + 0x18))), 7, &in);
	diff_run("mov %rbx,disp(%rip)", BYTES(0x48, 0x89, 0x1d, LE32(rel_to(7, d + 0x20))), 7, &in);
	diff_run("mov %r9d,disp(%rip)", BYTES(0x44, 0x89, 0x0d, LE32(rel_to(7, d + 0x24))), 7, &in);
	diff_run("movl $imm32,disp(%rip)",
		 BYTES(0xc7, 0x05, LE32(rel_to(10, d + 0x30)), 0x78, 0x56, 0x34, 0x12), 10, &in);
	diff_run("movb $imm8,disp(%rip)", BYTES(0xc6, 0x05, LE32(rel_to(7, d + 0x31)), 0x7f), 7,
		 &in);
	diff_run("movw $imm16,disp(%rip)",
		 BYTES(0x66, 0xc7, 0x05, LE32(rel_to(9, d + 0x33)), 0x34, 0x12), 9, &in);
	diff_run("lea disp(%rip),%rdi", BYTES(0x48, 0x8d, 0x3d, LE32(rel_to(7, d + 0x100))), 7, &in);
	diff_run("lock addl $1,disp(%rip)",
		 BYTES(0xf0, 0x83, 0x05, LE32(rel_to(8, d + 0x40)), 0x01), 8, &in);
	diff_run("push disp(%rip)", BYTES(0xff, 0x35, LE32(rel_to(6, d + 0x48))), 6, &in);
	diff_run("pop disp(%rip)", BYTES(0x8f, 0x05, LE32(rel_to(6, d + 0x48))), 6, &in);
	diff_run("movq disp(%rip),%xmm0; (load only)",
		 BYTES(0xf3, 0x0f, 0x7e, 0x05, LE32(rel_to(8, d + 0x50))), 8, &in);

	/* compares against an immediate that follows the disp: both outcomes */
	for (int v = 0; v < 3; v++) {
		uint32_t cmpv = 0x12345678u + (uint32_t)(v - 1);

		world_reset(&in);
		memcpy(env.code + DATA_OFF + 0x60, &cmpv, 4);
		diff_run("cmpl $imm32,disp(%rip)",
			 BYTES(0x81, 0x3d, LE32(rel_to(10, d + 0x60)), 0x78, 0x56, 0x34, 0x12), 10,
			 &in);
		env.code[DATA_OFF + 0x61] = (uint8_t)(v - 1);
		diff_run("cmpb $0,disp(%rip)", BYTES(0x80, 0x3d, LE32(rel_to(7, d + 0x61)), 0x00), 7,
			 &in);
	}
}

static void test_diff_misc(void **state)
{
	struct cpu in;

	world_reset(&in);
	in.rflags = 0x8d7 | 0x400; /* all arithmetic flags and DF */
	diff_run("pushf", BYTES(0x9c), 1, &in);
	world_reset(&in);
	diff_run("push 8(%rsp)", BYTES(0xff, 0x74, 0x24, 0x08), 4, &in);
	diff_run("pop 8(%rsp)", BYTES(0x8f, 0x44, 0x24, 0x08), 4, &in);
	diff_run("pop -8(%rsp)", BYTES(0x8f, 0x44, 0x24, 0xf8), 4, &in);
	diff_run("push %rsp", BYTES(0x54), 1, &in);

	world_reset(&in);
	in.gpr[RSI] = DATA_ADDR + 0x200;
	in.gpr[RDI] = DATA_ADDR + 0x400;
	in.gpr[RCX] = 37;
	diff_run("rep movsb", BYTES(0xf3, 0xa4), 2, &in);

	world_reset(&in);
	in.gpr[RAX] = 0;
	diff_run("cpuid", BYTES(0x0f, 0xa2), 2, &in);

	/* getppid: the same in both children; rcx and r11 as the kernel leaves them */
	world_reset(&in);
	in.gpr[RAX] = SYS_getppid;
	diff_run("syscall getppid", BYTES(0x0f, 0x05), 2, &in);
	assert_int_equal(env.res[1].cpu.gpr[RCX], INSN_ADDR + 2);
	assert_int_equal(env.res[1].cpu.gpr[RAX], (uint64_t)getpid());
}

/* ---- arch_emulate() (emulate.c) against the real instruction ---- */

static int emu_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	memcpy(buf, (void *)(uintptr_t)addr, len);
	return 0;
}

static int emu_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}

/*
 * Runs b at INSN_ADDR in a child, then emulates it here on the same world
 * (the child ran on a copy of it): registers, flags, where it continues and
 * the stack must be the same. Kinds emulate.c leaves alone must say so.
 */
static void emu_run(const char *name, const uint8_t *b, size_t n, const struct cpu *in, bool emul)
{
	struct arch_mem mem = { .read = emu_read, .write = emu_write };
	struct user_regs_struct r = { 0 };
	unsigned long long *g[16] = { &r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi,
				      &r.rdi, &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13,
				      &r.r14, &r.r15 };
	struct arch_plan plan;
	int err;

	print_message("  emulate %s\n", name);
	analyse_ok(b, n, &plan);
	memcpy(env.code + INSN_OFF, b, n);
	pad(INSN_ADDR + n);
	for (int i = 0; i < 16; i++)
		*g[i] = in->gpr[i];
	r.eflags = in->rflags;
	r.rip = INSN_ADDR;
	if (!emul) {
		assert_int_equal(arch_emulate(&plan, INSN_ADDR, &r, &mem), -EOPNOTSUPP);
		assert_int_equal(r.rip, INSN_ADDR);
		assert_int_equal(r.rsp, in->gpr[RSP]);
		return;
	}
	run_child(INSN_ADDR, in, &env.res[0]);
	err = arch_emulate(&plan, INSN_ADDR, &r, &mem);
	if (err)
		fail_msg("%s: arch_emulate: %d", name, err);
	for (int i = 0; i < 16; i++)
		if (*g[i] != env.res[0].cpu.gpr[i])
			fail_msg("%s: %s real %#llx emulated %#llx", name, reg_names[i],
				 (unsigned long long)env.res[0].cpu.gpr[i], *g[i]);
	assert_int_equal(r.rip, env.res[0].cpu.rip);
	/* IF and the always-one bit 1 read as set in user mode, whatever was loaded */
	assert_int_equal(r.eflags | 0x202, env.res[0].cpu.rflags);
	if (memcmp(g_stack, env.res[0].stack, STACK_SIZE))
		fail_msg("%s: the stack differs", name);
}

static void test_diff_emulate(void **state)
{
	static const uint64_t flag_sets[] = { 0x202, 0x246, 0xa83, 0x8d7, 0x602, 0x283, 0xac3 };
	uint64_t insn = INSN_ADDR, t = INSN_ADDR + 0x500;
	struct cpu in;
	char name[64];

	for (size_t f = 0; f < ARRAY_SIZE(flag_sets); f++) {
		for (int cc = 0; cc < 16; cc++) {
			uint8_t b8[2] = { (uint8_t)(0x70 | cc), 0x40 };
			uint8_t b32[6] = { 0x0f, (uint8_t)(0x80 | cc), LE32(rel_to(6, insn - 0x200)) };

			world_reset(&in);
			in.rflags = flag_sets[f];
			pad(insn + 2 + 0x40);
			snprintf(name, sizeof(name), "j%x rel8 flags %#llx", cc,
				 (unsigned long long)flag_sets[f]);
			emu_run(name, b8, 2, &in, true);
			world_reset(&in);
			in.rflags = flag_sets[f];
			pad(insn - 0x200);
			snprintf(name, sizeof(name), "j%x rel32 flags %#llx", cc,
				 (unsigned long long)flag_sets[f]);
			emu_run(name, b32, 6, &in, true);
		}
	}
	world_reset(&in);
	emu_run("nop", BYTES(0x90), 1, &in, true);
	emu_run("endbr64", BYTES(0xf3, 0x0f, 0x1e, 0xfa), 4, &in, true);
	emu_run("nopw 0(%rax,%rax)", BYTES(0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00), 6, &in, true);
	for (uint8_t op = 0x50; op <= 0x57; op++) {
		snprintf(name, sizeof(name), "push %s", reg_names[op - 0x50]);
		world_reset(&in);
		emu_run(name, BYTES(op), 1, &in, true);
		snprintf(name, sizeof(name), "push %s", reg_names[op - 0x50 + 8]);
		world_reset(&in);
		emu_run(name, BYTES(0x41, op), 2, &in, true);
	}
	world_reset(&in);
	emu_run("rex.wb push %r15", BYTES(0x49, 0x57), 2, &in, true);
	world_reset(&in);
	pad(insn + 2 + 0x40);
	emu_run("jmp rel8", BYTES(0xeb, 0x40), 2, &in, true);
	world_reset(&in);
	pad(insn - 0x300);
	emu_run("jmp rel32", BYTES(0xe9, LE32(rel_to(5, insn - 0x300))), 5, &in, true);
	world_reset(&in);
	pad(t);
	emu_run("call rel32", BYTES(0xe8, LE32(rel_to(5, t))), 5, &in, true);
	world_reset(&in);
	stack_put(in.gpr[RSP], t);
	pad(t);
	emu_run("ret", BYTES(0xc3), 1, &in, true);
	world_reset(&in);
	stack_put(in.gpr[RSP], t);
	pad(t);
	emu_run("ret $16", BYTES(0xc2, 0x10, 0x00), 3, &in, true);
	world_reset(&in);
	stack_put(in.gpr[RSP], t);
	pad(t);
	emu_run("bnd ret", BYTES(0xf2, 0xc3), 2, &in, true);
	/* left to a real execution */
	world_reset(&in);
	emu_run("pushw %bp", BYTES(0x66, 0x55), 2, &in, false);
	emu_run("push $1", BYTES(0x6a, 0x01), 2, &in, false);
	emu_run("mov %rdi,%rax", BYTES(0x48, 0x89, 0xf8), 3, &in, false);
	emu_run("retw", BYTES(0x66, 0xc3), 2, &in, false);
	emu_run("pushf", BYTES(0x9c), 1, &in, false);
	emu_run("call *%rax", BYTES(0xff, 0xd0), 2, &in, false);
}

/* ------------------------------------------------------------ jump detours */

static void plan_of(const uint8_t *b, size_t n, struct arch_plan *plan)
{
	analyse_ok(b, n, plan);
}

static void test_detour_ok(void **state)
{
	struct arch_plan p;

	plan_of(B(0x55), &p); /* push %rbp */
	assert_true(arch_detour_ok(&p, false));
	plan_of(B(0xf3, 0x0f, 0x1e, 0xfa), &p); /* endbr64 */
	assert_true(arch_detour_ok(&p, false));
	plan_of(B(0xe8, 0, 0, 0, 0), &p); /* call: only as the last one */
	assert_false(arch_detour_ok(&p, false));
	assert_true(arch_detour_ok(&p, true));
	plan_of(B(0x74, 0x10), &p); /* je */
	assert_false(arch_detour_ok(&p, false));
	assert_true(arch_detour_ok(&p, true));
	plan_of(B(0x0f, 0x05), &p); /* syscall: stepping out could block */
	assert_false(arch_detour_ok(&p, true));
	plan_of(B(0x9c), &p); /* pushf: stepping out would show TF */
	assert_false(arch_detour_ok(&p, true));
	plan_of(B(0xf3, 0xa4), &p); /* rep movsb: a step per iteration */
	assert_false(arch_detour_ok(&p, true));
	plan_of(B(0xff, 0xd4), &p); /* call *%rsp is single-stepped */
	assert_false(arch_detour_ok(&p, true));
}

static void test_detour_flow_and_jump(void **state)
{
	uint8_t j[ARCH_JMP_LEN];
	bool ind, has;
	int64_t off = 0;
	struct dec d;

	assert_int_equal(arch_insn_flow(B(0xff, 0xe0), &ind, &has, &off), 2); /* jmp *%rax */
	assert_true(ind);
	assert_false(has);
	assert_int_equal(arch_insn_flow(B(0x75, 0xfb), &ind, &has, &off), 2); /* jne .-3 */
	assert_false(ind);
	assert_true(has);
	assert_int_equal(off, -3);
	assert_int_equal(arch_insn_flow(B(0xe8, 0x10, 0, 0, 0), &ind, &has, &off), 5);
	assert_true(has);
	assert_int_equal(off, 0x15);
	assert_int_equal(arch_insn_flow(B(0x48, 0x89, 0xe5), &ind, &has, &off), 3);
	assert_false(ind || has);
	assert_true(arch_jump(INSN, SLOT_BELOW, j));
	decode(j, sizeof(j), INSN, &d);
	assert_int_equal(j[0], 0xe9);
	assert_int_equal(d.target, SLOT_BELOW);
	assert_false(arch_jump(INSN, SLOT_FAR, j));
}

/* push %rbp; mov %rsp,%rbp; mov 0x10(%rip),%rax -> int3 + copies + jmp back */
static void test_detour_relocate(void **state)
{
	static const uint8_t code[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x8b, 0x05, 0x10, 0, 0, 0 };
	struct arch_plan p[3];
	uint8_t out[ARCH_SLOT_SIZE];
	struct dec d;
	int n;

	plan_of(code, 1, &p[0]);
	plan_of(code + 1, 3, &p[1]);
	plan_of(code + 4, 7, &p[2]);
	memset(out, 0, sizeof(out));
	n = arch_relocate_detour(p, 3, INSN, SLOT_NEAR, 0, out);
	assert_int_equal(n, 1 + 11 + 5);
	assert_int_equal(out[0], 0xcc);
	/* the copy of the instruction at INSN + k sits at SLOT + 1 + k */
	assert_memory_equal(out + 1, code, 4);
	decode(out + 5, 7, SLOT_NEAR + 5, &d);
	assert_int_equal(d.target, INSN + 4 + 7 + 0x10);
	check_leave(out, 12, SLOT_NEAR, INSN + 11);
	assert_int_equal(out[17], 0xcc); /* the rest of the slot */

	/* endbr64; call rel32: the call is relocated, pushing INSN + 9 */
	plan_of(B(0xf3, 0x0f, 0x1e, 0xfa), &p[0]);
	plan_of(B(0xe8, 0x00, 0x01, 0x00, 0x00), &p[1]);
	n = arch_relocate_detour(p, 2, INSN, SLOT_BELOW, 0, out);
	assert_true(n > 1 + 4 + 14);
	assert_memory_equal(out + 1, "\xf3\x0f\x1e\xfa\x50\x48\xb8", 7);
	assert_int_equal(rd64(out + 8), INSN + 9);
	check_leave(out, 20, SLOT_BELOW, INSN + 4 + 5 + 0x100);

	/* a rip-relative operand out of reach of the slot */
	plan_of(code + 4, 7, &p[0]);
	assert_int_equal(arch_relocate_detour(p, 1, INSN, SLOT_FAR, 0, out), -ERANGE);
}

/*
 * No-stop detours: lea -128(%rsp),%rsp; call gadget; jmp +1; int3; the
 * copies as without the gadget, ARCH_DETOUR_REC_INT3 bytes further.
 */
static void test_detour_relocate_rec(void **state)
{
	static const uint8_t code[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x8b, 0x05, 0x10, 0, 0, 0 };
	const uint64_t gadget = SLOT_NEAR + 0x2000;
	const size_t c = ARCH_DETOUR_REC_INT3 + 1; /* the first copy */
	struct arch_plan p[3];
	uint8_t out[ARCH_SLOT_SIZE];
	struct dec d;
	int n;

	plan_of(code, 1, &p[0]);
	plan_of(code + 1, 3, &p[1]);
	plan_of(code + 4, 7, &p[2]);
	memset(out, 0, sizeof(out));
	n = arch_relocate_detour(p, 3, INSN, SLOT_NEAR, gadget, out);
	assert_int_equal(n, ARCH_DETOUR_REC_INT3 + 1 + 11 + 5);
	assert_memory_equal(out, "\x48\x8d\x64\x24\x80", ARCH_DETOUR_REC_LEA);
	decode(out, ARCH_DETOUR_REC_LEA, SLOT_NEAR, &d);
	assert_int_equal(d.i.mnemonic, ZYDIS_MNEMONIC_LEA);
	assert_int_equal(d.ops[1].mem.base, ZYDIS_REGISTER_RSP);
	assert_int_equal(d.ops[1].mem.disp.value, -128);
	assert_int_equal(out[ARCH_DETOUR_REC_LEA], 0xe8);
	decode(out + ARCH_DETOUR_REC_LEA, 5, SLOT_NEAR + ARCH_DETOUR_REC_LEA, &d);
	assert_int_equal(d.i.mnemonic, ZYDIS_MNEMONIC_CALL);
	assert_int_equal(d.target, gadget);
	/* the gadget returns to its return address, a jmp over the int3, or onto the int3 */
	assert_int_equal(out[ARCH_DETOUR_REC_RET], 0xeb);
	assert_int_equal(out[ARCH_DETOUR_REC_RET + 1], ARCH_DETOUR_REC_INT3 + 1 - (ARCH_DETOUR_REC_RET + 2));
	assert_int_equal(out[ARCH_DETOUR_REC_INT3], 0xcc);
	assert_memory_equal(out + c, code, 4);
	decode(out + c + 4, 7, SLOT_NEAR + c + 4, &d);
	assert_int_equal(d.target, INSN + 4 + 7 + 0x10);
	check_leave(out, c + 11, SLOT_NEAR, INSN + 11);
	assert_int_equal(out[c + 16], 0xcc);

	/* a gadget below the slot; the last instruction a relocated call */
	plan_of(B(0xf3, 0x0f, 0x1e, 0xfa), &p[0]);
	plan_of(B(0xe8, 0x00, 0x01, 0x00, 0x00), &p[1]);
	n = arch_relocate_detour(p, 2, INSN, SLOT_BELOW, SLOT_BELOW - 0x70000000ULL, out);
	assert_true(n > (int)c + 4 + 14);
	decode(out + ARCH_DETOUR_REC_LEA, 5, SLOT_BELOW + ARCH_DETOUR_REC_LEA, &d);
	assert_int_equal(d.target, SLOT_BELOW - 0x70000000ULL);
	assert_int_equal(out[ARCH_DETOUR_REC_INT3], 0xcc);
	assert_memory_equal(out + c, "\xf3\x0f\x1e\xfa\x50\x48\xb8", 7);
	assert_int_equal(rd64(out + c + 7), INSN + 9);
	check_leave(out, c + 19, SLOT_BELOW, INSN + 4 + 5 + 0x100);

	/* the call's reach, from the end of the call (slot + ARCH_DETOUR_REC_RET) */
	plan_of(code, 1, &p[0]);
	n = arch_relocate_detour(p, 1, INSN, SLOT_NEAR,
				 SLOT_NEAR + ARCH_DETOUR_REC_RET + INT32_MAX, out);
	assert_int_equal(n, ARCH_DETOUR_REC_INT3 + 1 + 1 + 5);
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(arch_relocate_detour(p, 1, INSN, SLOT_NEAR,
					      SLOT_NEAR + ARCH_DETOUR_REC_RET + INT32_MAX + 1ULL,
					      out),
			 -ERANGE);
	assert_int_equal(out[0], 0x5a); /* nothing written on failure */
	n = arch_relocate_detour(p, 1, INSN, SLOT_NEAR,
				 SLOT_NEAR + ARCH_DETOUR_REC_RET - 0x80000000ULL, out);
	assert_int_equal(n, ARCH_DETOUR_REC_INT3 + 1 + 1 + 5);
	assert_int_equal(arch_relocate_detour(p, 1, INSN, SLOT_NEAR,
					      SLOT_NEAR + ARCH_DETOUR_REC_RET - 0x80000001ULL,
					      out),
			 -ERANGE);
	assert_int_equal(arch_relocate_detour(p, 1, INSN, SLOT_NEAR, SLOT_FAR, out), -ERANGE);
	/* the copies' own reach is still checked */
	plan_of(code + 4, 7, &p[0]);
	assert_int_equal(arch_relocate_detour(p, 1, INSN, SLOT_FAR, SLOT_FAR + 0x1000, out),
			 -ERANGE);
}

/* ------------------------------------------- the record gadget, run for real */

/*
 * One page, RX once written: a tiny function (mov %rdi,%rax; add $1,%rax;
 * ret) whose first 7 bytes jump to a no-stop detour, the detour, and a copy
 * of the record gadget pointing to a ring of ours. The test calls the
 * function as a tracee's thread would reach the probe, and reads the ring
 * as the tracer would.
 */
#define REC_FN_OFF 0
#define REC_DETOUR_OFF 64
#define REC_GADGET_OFF 512

static struct {
	uint8_t *page;
	uint8_t *ring;
	volatile sig_atomic_t traps;
	volatile uint64_t trap_rip, trap_rsp, trap_rdi, trap_flags;
} rec;

static void rec_on_trap(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;

	/* rip is already past the int3: returning continues at the copies */
	rec.traps++;
	rec.trap_rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	rec.trap_rsp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
	rec.trap_rdi = (uint64_t)uc->uc_mcontext.gregs[REG_RDI];
	rec.trap_flags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
}

/* rec_on_trap() takes the gadget's int3s (a full ring); *old: the disposition before */
static void rec_trap_catch(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = rec_on_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGTRAP, &sa, old), 0);
}

static struct ring_rec *rec_at(unsigned i)
{
	return (struct ring_rec *)(rec.ring + RING_RECS + (size_t)i * RING_REC_SIZE);
}

static uint64_t ring_u64(unsigned off)
{
	uint64_t v;

	memcpy(&v, rec.ring + off, sizeof(v));
	return v;
}

static void ring_set_u64(unsigned off, uint64_t v)
{
	memcpy(rec.ring + off, &v, sizeof(v));
}

/* The probed function: mov %rdi,%rax; add $1,%rax; ret */
static const uint8_t rec_fn[] = { 0x48, 0x89, 0xf8, 0x48, 0x83, 0xc0, 0x01, 0xc3 };

/*
 * The function's detour at page + REC_DETOUR_OFF, calling the gadget entry
 * gadget_off bytes into the record gadget copied at REC_GADGET_OFF: it
 * covers the mov (3 bytes) and the add (4), its jmp back lands on the ret.
 */
static int rec_detour(uint64_t at, size_t gadget_off, uint8_t out[ARCH_SLOT_SIZE])
{
	struct arch_plan p[2];

	memset(out, 0xcc, ARCH_SLOT_SIZE);
	if (arch_analyse(rec_fn, 3, &p[0], NULL, 0) || arch_analyse(rec_fn + 3, 4, &p[1], NULL, 0) ||
	    arch_relocate_detour(p, 2, at + REC_FN_OFF, at + REC_DETOUR_OFF,
				 at + REC_GADGET_OFF + gadget_off, out) <= 0)
		return -1;
	return 0;
}

/* prefetchw on this CPU: CPUID 0x80000001 ECX bit 8 (as caps.c measures it) */
static bool cpu_prefetchw(void)
{
	unsigned a, b, c, d;

	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 8));
}

static int rec_setup(void **state)
{
	const size_t glen = (size_t)(uprobe__rec_gadget_end - uprobe__rec_gadget);
	uint8_t *page, out[ARCH_SLOT_SIZE];
	uint64_t at, ring;
	uint8_t fsgs = 0;

	if (glen > 4096 - REC_GADGET_OFF)
		return -1;
	rec.ring = aligned_alloc(4096, RING_SIZE);
	if (!rec.ring)
		return -1;
	memset(rec.ring, 0, RING_SIZE);
	ring_set_u64(RING_MASK, RING_NREC - 1);

	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return -1;
	rec.page = page;
	memset(page, 0xcc, 4096);
	at = (uint64_t)(uintptr_t)page;

	memcpy(page + REC_GADGET_OFF, uprobe__rec_gadget, glen);
	ring = (uint64_t)(uintptr_t)rec.ring;
	memcpy(page + REC_GADGET_OFF + (uprobe__rec_gadget_ring - uprobe__rec_gadget), &ring,
	       sizeof(ring));
	memcpy(page + REC_GADGET_OFF + (uprobe__rec_gadget_fsgs - uprobe__rec_gadget), &fsgs,
	       sizeof(fsgs));
	if (!cpu_prefetchw())
		arch_gadget_no_prefetch(page + REC_GADGET_OFF);

	memcpy(page + REC_FN_OFF, rec_fn, sizeof(rec_fn));
	if (rec_detour(at, 0, out))
		return -1;
	memcpy(page + REC_DETOUR_OFF, out, sizeof(out));
	if (!arch_jump(at + REC_FN_OFF, at + REC_DETOUR_OFF, page + REC_FN_OFF))
		return -1;
	page[REC_FN_OFF + 5] = 0xcc; /* never run: the jmp back lands after it */
	page[REC_FN_OFF + 6] = 0xcc;
	if (mprotect(page, 4096, PROT_READ | PROT_EXEC))
		return -1;
	return 0;
}

static int rec_teardown(void **state)
{
	if (rec.page)
		munmap(rec.page, 4096);
	free(rec.ring);
	rec.page = NULL;
	rec.ring = NULL;
	return 0;
}

struct rec_call {
	uint64_t ret;    /* the function's result */
	uint64_t sp;     /* rsp as the function saw it at its first instruction */
	uint64_t rbx;    /* callee-saved, as it was after the call */
	uint64_t r12;
};

#define REC_RAX 0x5a5a00005a5a0000ULL
#define REC_RSI 0x1111222233334444ULL
#define REC_RDX 0x0123456789abcdefULL
#define REC_RCX 0xfedcba9876543210ULL
#define REC_R8 0x8888000000000008ULL
#define REC_R9 0x9999000000000009ULL
#define REC_RBX 0xbbbbbbbb0000bbbbULL
#define REC_R12 0x1212121212121212ULL

/*
 * Calls the probed function with rdi = a, known values in the other
 * argument registers, rax, rbx and r12, and the arithmetic flags of fl
 * (OF SF ZF AF PF CF: 0x8d5); from asm, so that the rsp it sees is known.
 * The red zone is skipped first: the call pushes below the compiler's rsp.
 */
static void rec_call_fl(uint64_t a, struct rec_call *rc, uint64_t fl)
{
	register uint64_t r8 __asm__("r8") = REC_R8;
	register uint64_t r9 __asm__("r9") = REC_R9;
	register uint64_t r12 __asm__("r12") = REC_R12;
	uint64_t rax = REC_RAX, rdi = a, rsi = REC_RSI, rdx = REC_RDX, rcx = REC_RCX;
	uint64_t rbx = REC_RBX, sp;
	/* registers, not memory: an operand addressed from rsp would be off by the 128 */
	uint64_t fn = (uint64_t)(uintptr_t)(rec.page + REC_FN_OFF);
	register uint64_t flags __asm__("r10") = 0x202 | (fl & 0x8d5);

	__asm__ volatile("sub $128, %%rsp\n\t"
			 "lea -8(%%rsp), %[sp]\n\t"
			 "push %[fl]\n\t"
			 "popfq\n\t"
			 "call *%[fn]\n\t"
			 "add $128, %%rsp"
			 : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+c"(rcx), "+r"(r8),
			   "+r"(r9), "+b"(rbx), "+r"(r12), [sp] "=&r"(sp), [fl] "+r"(flags)
			 : [fn] "r"(fn)
			 : "r11", "memory", "cc");
	rc->ret = rax;
	rc->sp = sp;
	rc->rbx = rbx;
	rc->r12 = r12;
}

/* The carry flag set, the other arithmetic flags clear. */
static void rec_call(uint64_t a, struct rec_call *rc)
{
	rec_call_fl(a, rc, 0x1);
}

static void test_rec_gadget_runs(void **state)
{
	const uint64_t detour = (uint64_t)(uintptr_t)(rec.page + REC_DETOUR_OFF);
	struct sigaction old;
	struct ring_rec *r0 = rec_at(0), *r1 = rec_at(1);
	struct rec_call rc;

	rec_trap_catch(&old);
	rec.traps = 0;
	/* a gadget that spins on a ring it misreads kills the test rather than hanging it */
	alarm(20);

	rec_call(41, &rc);
	assert_int_equal(rc.ret, 42);
	assert_int_equal(rec.traps, 0); /* recorded: returned past the int3 */
	assert_int_equal(rc.rbx, REC_RBX);
	assert_int_equal(rc.r12, REC_R12);
	/* one ticket taken, record 0 committed as ticket 0 + 1, record 1 untouched */
	assert_int_equal(ring_u64(RING_HEAD), 1);
	assert_int_equal(r0->seq, 1);
	assert_int_equal(r1->seq, 0);
	assert_int_equal(r1->rdi, 0);
	/* the registers as they were at the probed instruction, before the mov */
	assert_int_equal(r0->rdi, 41);
	assert_int_equal(r0->rax, REC_RAX);
	assert_int_equal(r0->rsi, REC_RSI);
	assert_int_equal(r0->rdx, REC_RDX);
	assert_int_equal(r0->rcx, REC_RCX);
	assert_int_equal(r0->r8, REC_R8);
	assert_int_equal(r0->r9, REC_R9);
	assert_int_equal(r0->rbx, REC_RBX);
	assert_int_equal(r0->r12, REC_R12);
	assert_int_equal(r0->rsp, rc.sp);
	assert_int_equal(r0->flags & 0x2, 0x2); /* the reserved bit: these are rflags */
	assert_int_equal(r0->flags & 0x1, 0x1); /* the caller's stc */
	assert_int_equal(r0->ret, detour + ARCH_DETOUR_REC_RET);
	assert_int_equal(r0->fs_base, 0); /* fsgs byte 0: rdfsbase not used */

	/* a second hit takes the next record */
	rec_call(99, &rc);
	assert_int_equal(rc.ret, 100);
	assert_int_equal(rec.traps, 0);
	assert_int_equal(ring_u64(RING_HEAD), 2);
	assert_int_equal(r1->seq, 2);
	assert_int_equal(r1->rdi, 99);
	assert_int_equal(r1->rsp, rc.sp);
	assert_int_equal(rec_at(2)->seq, 0);

	/*
	 * Full: every record written in lap 0 and none consumed (the tail
	 * the tracer published is 0), head at the next lap. The gadget
	 * writes nothing and returns onto the int3, whatever the records'
	 * seq say (producers never read them: here what the queue's earlier
	 * design took for "free in lap 1").
	 */
	for (unsigned i = 0; i < RING_NREC; i++)
		rec_at(i)->seq = i + RING_NREC;
	ring_set_u64(RING_HEAD, RING_NREC);
	memset(r0, 0, sizeof(*r0));
	r0->seq = RING_NREC;
	rec_call(7, &rc);
	assert_int_equal(rc.ret, 8);
	assert_int_equal(rec.traps, 1);
	assert_int_equal(rec.trap_rip, detour + ARCH_DETOUR_REC_INT3 + 1);
	/* at the int3 the gadget has restored the thread: rsp and rdi as at the probe */
	assert_int_equal(rec.trap_rsp, rc.sp);
	assert_int_equal(rec.trap_rdi, 7);
	assert_int_equal(rc.rbx, REC_RBX);
	assert_int_equal(ring_u64(RING_HEAD), RING_NREC);
	assert_int_equal(r0->seq, RING_NREC);
	assert_int_equal(r0->rdi, 0);
	assert_int_equal(r0->ret, 0);
	/*
	 * The flags at the int3 are the caller's, though the gadget's own
	 * instructions changed them (its sahf restore, no popfq): every
	 * arithmetic flag set, then every one clear.
	 */
	assert_int_equal(rec.trap_flags & 0x8d5, 0x1);
	rec_call_fl(8, &rc, 0x8d5);
	assert_int_equal(rec.traps, 2);
	assert_int_equal(rec.trap_flags & 0x8d5, 0x8d5);
	rec_call_fl(9, &rc, 0);
	assert_int_equal(rec.traps, 3);
	assert_int_equal(rec.trap_flags & 0x8d5, 0);
	assert_int_equal(rec.trap_rdi, 9);
	rec_call_fl(10, &rc, 0x800); /* OF alone */
	assert_int_equal(rec.trap_flags & 0x8d5, 0x800);
	rec_call_fl(11, &rc, 0x0c4); /* SF ZF PF */
	assert_int_equal(rec.trap_flags & 0x8d5, 0x0c4);
	rec.traps = 1;

	/*
	 * The tracer consumes record 0 and publishes tail 1, writing nothing
	 * into the record (its seq still lap 0's commit): the next hit
	 * records again
	 */
	for (unsigned i = 0; i < RING_NREC; i++)
		rec_at(i)->seq = i + 1;
	ring_set_u64(RING_TAIL, 1);
	rec_call(1000, &rc);
	assert_int_equal(rc.ret, 1001);
	assert_int_equal(rec.traps, 1);
	assert_int_equal(ring_u64(RING_HEAD), RING_NREC + 1);
	assert_int_equal(r0->seq, RING_NREC + 1);
	assert_int_equal(r0->rdi, 1000);
	assert_int_equal(r0->ret, detour + ARCH_DETOUR_REC_RET);

	alarm(0);
	assert_int_equal(sigaction(SIGTRAP, &old, NULL), 0);
}

/* Sets how the gadget reads fs_base (RING_FS_*) and empties the ring. */
static void rec_reset(uint8_t fs_mode)
{
	size_t at = REC_GADGET_OFF + (size_t)(uprobe__rec_gadget_fsgs - uprobe__rec_gadget);

	assert_int_equal(mprotect(rec.page, 4096, PROT_READ | PROT_WRITE), 0);
	rec.page[at] = fs_mode;
	assert_int_equal(mprotect(rec.page, 4096, PROT_READ | PROT_EXEC), 0);
	memset(rec.ring, 0, RING_SIZE);
	ring_set_u64(RING_MASK, RING_NREC - 1);
}

/*
 * Every way the gadget names the thread: not at all, by the word at %fs:0
 * (the thread pointer itself: the fallback without FSGSBASE, which runs on
 * every machine), and by rdfsbase where this CPU and kernel allow it.
 */
static void test_rec_gadget_fs_modes(void **state)
{
	uint64_t tp = (uint64_t)(uintptr_t)__builtin_thread_pointer();
	struct rec_call rc;

	alarm(20);
	rec_reset(RING_FS_NONE);
	rec_call(1, &rc);
	assert_int_equal(rc.ret, 2);
	assert_int_equal(rec_at(0)->seq, 1);
	assert_int_equal(rec_at(0)->fs_base, 0);

	rec_reset(RING_FS_SELF);
	rec_call(2, &rc);
	assert_int_equal(rc.ret, 3);
	assert_int_equal(rec_at(0)->seq, 1);
	assert_int_equal(rec_at(0)->fs_base, tp);
	assert_int_equal(rc.rbx, REC_RBX);

	if (getauxval(AT_HWCAP2) & 2) { /* HWCAP2_FSGSBASE: the kernel lets user space use it */
		rec_reset(RING_FS_RDFSBASE);
		rec_call(3, &rc);
		assert_int_equal(rc.ret, 4);
		assert_int_equal(rec_at(0)->fs_base, tp);
	}
	alarm(0);
}

/*
 * Points the probed function's detour at the gadget entry at gadget_off
 * from the record gadget's start, and sets the gadget's sahf byte (1:
 * flags back with sahf, UPROBE_CAP_LAHF; 0: popfq); empties the ring.
 */
static void rec_rebuild(size_t gadget_off, uint8_t sahf)
{
	uint8_t out[ARCH_SLOT_SIZE];

	assert_int_equal(rec_detour((uint64_t)(uintptr_t)rec.page, gadget_off, out), 0);
	assert_int_equal(mprotect(rec.page, 4096, PROT_READ | PROT_WRITE), 0);
	memcpy(rec.page + REC_DETOUR_OFF, out, sizeof(out));
	rec.page[REC_GADGET_OFF + (size_t)(uprobe__rec_gadget_sahf - uprobe__rec_gadget)] = sahf;
	assert_int_equal(mprotect(rec.page, 4096, PROT_READ | PROT_EXEC), 0);
	rec_reset(RING_FS_NONE);
}

/* The gadgets fit the space an area keeps for them (else no no-stop detour is ever made). */
static void test_rec_gadget_fits(void **state)
{
	assert_true((size_t)(uprobe__rec_gadget_end - uprobe__rec_gadget) <= XOL_REC_GADGET_SPACE);
}

/*
 * Both ways of putting the flags back (sahf where the CPU has it in 64-bit
 * mode, popfq elsewhere: each runs here whatever this CPU has, sahf only
 * where it is there) and the four record entries (all registers or the
 * arguments only, with and without the time stamp): the record, the next
 * hit's ticket, the flags after a recorded hit, at a full ring's int3,
 * and once the tracer has published a tail.
 */
static void rec_flags_notime(void)
{
	unsigned a, b, c, d;
	bool lahf = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & 1);
	static const uint64_t pats[] = { 0x8d5, 0, 0x800, 0x0c4, 0x011 };
	const uint8_t *entries[] = { uprobe__rec_gadget, uprobe__rec_gadget_notime,
				     uprobe__rec_gadget_args, uprobe__rec_gadget_args_notime };
	struct sigaction old;
	struct rec_call rc;

	rec_trap_catch(&old);
	alarm(20);

	for (int sahf = 0; sahf <= (lahf ? 1 : 0); sahf++) {
		for (int e = 0; e < 4; e++) {
			size_t off = (size_t)(entries[e] - uprobe__rec_gadget);
			bool notime = e & 1, args = e & 2;

			for (unsigned i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
				struct ring_rec *r0 = rec_at(0);

				rec_rebuild(off, (uint8_t)sahf);
				rec.traps = 0;
				/* what an arguments-only record must not write */
				r0->rbx = r0->rbp = r0->r12 = r0->r10 = 0xdead;
				rec_call_fl(41 + i, &rc, pats[i]);
				assert_int_equal(rc.ret, 42 + i);
				assert_int_equal(rec.traps, 0);
				assert_int_equal(r0->seq, 1);
				assert_int_equal(r0->rdi, 41 + i);
				assert_int_equal(r0->rax, REC_RAX);
				assert_int_equal(r0->rsi, REC_RSI);
				assert_int_equal(r0->rdx, REC_RDX);
				assert_int_equal(r0->rcx, REC_RCX);
				assert_int_equal(r0->r8, REC_R8);
				assert_int_equal(r0->r9, REC_R9);
				assert_int_equal(r0->rbx, args ? 0xdead : REC_RBX);
				assert_int_equal(r0->r12, args ? 0xdead : REC_R12);
				assert_int_equal(r0->rbp, args ? 0xdead : r0->rbp);
				assert_int_equal(r0->ret, (uint64_t)(uintptr_t)(rec.page + REC_DETOUR_OFF) +
								  ARCH_DETOUR_REC_RET);
				assert_int_equal(r0->flags & 0x8d5, pats[i]);
				assert_int_equal(r0->rsp, rc.sp);
				if (notime)
					assert_int_equal(r0->tsc, 0);
				else
					assert_true(r0->tsc != 0);
				assert_int_equal(rc.rbx, REC_RBX);
				assert_int_equal(rc.r12, REC_R12);
				/* the next hit takes the next ticket */
				rec_call_fl(50 + i, &rc, pats[i]);
				assert_int_equal(rc.ret, 51 + i);
				assert_int_equal(ring_u64(RING_HEAD), 2);
				assert_int_equal(rec_at(1)->seq, 2);
				assert_int_equal(rec_at(1)->rdi, 50 + i);
				assert_int_equal(rec.traps, 0);

				/* full: back onto the int3 with the caller's flags */
				for (unsigned k = 0; k < RING_NREC; k++)
					rec_at(k)->seq = k + 1;
				ring_set_u64(RING_TAIL, 0);
				ring_set_u64(RING_HEAD, RING_NREC);
				rec_call_fl(7, &rc, pats[i]);
				assert_int_equal(rec.traps, 1);
				assert_int_equal(rec.trap_flags & 0x8d5, pats[i]);
				assert_int_equal(rec.trap_rdi, 7);
				assert_int_equal(rec.trap_rsp, rc.sp);
				assert_int_equal(rc.ret, 8);

				/* one consumed (tail 1 published): the next lap's first record */
				ring_set_u64(RING_TAIL, 1);
				rec_call_fl(9, &rc, pats[i]);
				assert_int_equal(rec.traps, 1);
				assert_int_equal(rc.ret, 10);
				assert_int_equal(ring_u64(RING_HEAD), RING_NREC + 1);
				assert_int_equal(r0->seq, RING_NREC + 1);
				assert_int_equal(r0->rdi, 9);
				assert_int_equal(r0->flags & 0x8d5, pats[i]);
			}
		}
	}
	rec_rebuild(0, 0);
	alarm(0);
	assert_int_equal(sigaction(SIGTRAP, &old, NULL), 0);
}

/* As the gadgets are copied for this CPU: with their prefetches where it has prefetchw */
static void test_rec_gadget_flags_notime(void **state)
{
	rec_flags_notime();
}

/*
 * Without prefetchw (UPROBE_CAP_PREFETCHW): each prefetch becomes a jump
 * over itself, and every record entry writes the same records. Last of
 * its group: the gadgets stay so.
 */
static void test_rec_gadget_no_prefetch(void **state)
{
	const uint8_t *pf[][2] = {
		{ uprobe__rec_gadget_pf1, uprobe__rec_gadget_pf1_end },
		{ uprobe__rec_gadget_pf2, uprobe__rec_gadget_pf2_end },
	};
	uint8_t *code = rec.page + REC_GADGET_OFF;

	assert_int_equal(mprotect(rec.page, 4096, PROT_READ | PROT_WRITE), 0);
	arch_gadget_no_prefetch(code);
	assert_int_equal(mprotect(rec.page, 4096, PROT_READ | PROT_EXEC), 0);
	for (unsigned i = 0; i < 2; i++) {
		size_t off = (size_t)(pf[i][0] - uprobe__rec_gadget);
		size_t len = (size_t)(pf[i][1] - pf[i][0]);

		assert_true(len > 2 && len < 130);
		/* three prefetchw in the original: 0f 0d /1 */
		assert_int_equal(pf[i][0][0], 0x0f);
		assert_int_equal(pf[i][0][1], 0x0d);
		assert_int_equal(code[off], 0xeb);
		assert_int_equal(code[off + 1], len - 2);
	}
	rec_flags_notime();
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_insn_len),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_riprel),
		cmocka_unit_test(test_riprel_edge),
		cmocka_unit_test(test_eiprel),
		cmocka_unit_test(test_nops),
		cmocka_unit_test(test_copied),
		cmocka_unit_test(test_pushf_ret_syscall),
		cmocka_unit_test(test_branches),
		cmocka_unit_test(test_call_rel),
		cmocka_unit_test(test_call_reg),
		cmocka_unit_test(test_post_layouts),
		cmocka_unit_test(test_call_mem),
		cmocka_unit_test(test_step_fixup),
		cmocka_unit_test(test_slot_pc),
		cmocka_unit_test(test_detour_ok),
		cmocka_unit_test(test_detour_flow_and_jump),
		cmocka_unit_test(test_detour_relocate),
		cmocka_unit_test(test_detour_relocate_rec),
	};
	const struct CMUnitTest gadget[] = {
		cmocka_unit_test(test_rec_gadget_runs),
		cmocka_unit_test(test_rec_gadget_fits),
		cmocka_unit_test(test_rec_gadget_flags_notime),
		cmocka_unit_test(test_rec_gadget_fs_modes),
		cmocka_unit_test(test_rec_gadget_no_prefetch), /* last: it changes the gadgets */
	};
	const struct CMUnitTest diff[] = {
		cmocka_unit_test(test_diff_jcc),
		cmocka_unit_test(test_diff_loop),
		cmocka_unit_test(test_diff_jmp),
		cmocka_unit_test(test_diff_call),
		cmocka_unit_test(test_diff_ret),
		cmocka_unit_test(test_diff_riprel),
		cmocka_unit_test(test_diff_misc),
		cmocka_unit_test(test_diff_emulate),
	};
	int failed;

	uprobe_set_print(NULL);
	failed = cmocka_run_group_tests_name("x86 analysis and relocation", unit, NULL, NULL);
	failed += cmocka_run_group_tests_name("x86 differential execution", diff, diff_setup,
					      diff_teardown);
	failed += cmocka_run_group_tests_name("x86 record gadget", gadget, rec_setup,
					      rec_teardown);
	return failed ? 1 : 0;
}
