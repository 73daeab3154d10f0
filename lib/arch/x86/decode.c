// SPDX-License-Identifier: LGPL-2.1-or-later
/* x86-64 instruction decoding (Zydis, used nowhere else): analysis into a plan, lengths, flow. */
#include <limits.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "internal.h"

static void set_why(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

static bool is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0xf0: case 0xf2: case 0xf3:
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
	case 0x66: case 0x67:
		return true;
	default:
		return false;
	}
}

static int decoder_init(ZydisDecoder *dec)
{
	if (ZYAN_FAILED(ZydisDecoderInit(dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)))
		return -ENOEXEC;
	return 0;
}

int arch_insn_len(const uint8_t *code, size_t avail)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;

	if (!code || !avail || decoder_init(&dec))
		return -ENOEXEC;
	if (ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, NULL, code, avail, &insn)))
		return -ENOEXEC;
	return insn.length;
}

/* The number `mov $imm32, %eax` (or %rax) at code[0..n) loads, or -1 for another instruction. */
static long mov_eax_imm(const uint8_t *c, int n)
{
	if (n == 5 && c[0] == 0xb8)
		return (long)(c[1] | c[2] << 8 | c[3] << 16 | (uint32_t)c[4] << 24);
	if (n == 7 && c[0] == 0x48 && c[1] == 0xc7 && c[2] == 0xc0)
		return (long)(int32_t)(c[3] | c[4] << 8 | c[5] << 16 | (uint32_t)c[6] << 24);
	return -1;
}

/* How far before a `syscall` its `mov $nr` may start: three instructions, and the mov. */
#define SYSCALL_NEAR (3 * 15 + 7)

bool arch_syscall_candidate(const uint8_t *code, size_t x, long nr)
{
	const uint8_t mov32[] = { 0xb8, (uint8_t)nr, (uint8_t)(nr >> 8), 0, 0 };
	const uint8_t mov64[] = { 0x48, 0xc7, 0xc0, (uint8_t)nr, (uint8_t)(nr >> 8), 0, 0 };
	size_t from = x > SYSCALL_NEAR ? x - SYSCALL_NEAR : 0;

	if (code[x] != 0x0f || code[x + 1] != 0x05)
		return false;
	return memmem(code + from, x - from, mov32, sizeof(mov32)) ||
	       memmem(code + from, x - from, mov64, sizeof(mov64));
}

bool arch_is_mov_nr(const uint8_t *code, size_t len, long nr)
{
	return len <= INT_MAX && mov_eax_imm(code, (int)len) == nr;
}

int arch_syscall_sites(const uint8_t *code, size_t len, long nr, size_t *offs, int max)
{
	long num = -1;
	int n = 0, since = 0;

	for (size_t off = 0; off < len && n < max;) {
		int l = arch_insn_len(code + off, len - off);
		long v;

		if (l <= 0)
			break;
		v = mov_eax_imm(code + off, l);
		if (v >= 0) {
			num = v;
			since = 0;
		} else if (l == 2 && code[off] == 0x0f && code[off + 1] == 0x05) {
			if (num == nr && since <= 3)
				offs[n++] = off + 2;
			num = -1;
		} else {
			since++;
		}
		off += (size_t)l;
	}
	return n;
}

static int refuse(char *why, size_t whylen, int err, const char *msg)
{
	set_why(why, whylen, msg);
	return err;
}

/* The plan's fields every instruction has: its bytes, length, prefixes and address size. */
static void plan_bytes(struct arch_plan *plan, const uint8_t *code,
		       const ZydisDecodedInstruction *insn)
{
	plan->kind = ARCH_RELOCATE;
	plan->type = ARCH_T_OTHER;
	plan->len = insn->length;
	memcpy(plan->bytes, code, insn->length);
	plan->addr32 = insn->address_width == 32;
	while (plan->prefix_len < insn->length &&
	       (is_legacy_prefix(code[plan->prefix_len]) || (code[plan->prefix_len] & 0xf0) == 0x40))
		plan->prefix_len++;
}

/* Instructions no slot may run: 0, or the refusal. */
static int refuse_unsupported(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
			      char *why, size_t whylen)
{
	/* A breakpoint the program itself contains (a debugger's, or its own trap):
	 * stepping over it would change what the program does. */
	if (insn->mnemonic == ZYDIS_MNEMONIC_INT3)
		return refuse(why, whylen, -EEXIST, "int3");
	if (insn->mnemonic == ZYDIS_MNEMONIC_INT && ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
	    ops[0].imm.value.u == 3)
		return refuse(why, whylen, -EEXIST, "int $3");

	switch (insn->mnemonic) {
	case ZYDIS_MNEMONIC_IRET:
	case ZYDIS_MNEMONIC_IRETD:
	case ZYDIS_MNEMONIC_IRETQ:
		return refuse(why, whylen, -EOPNOTSUPP, "iret");
	case ZYDIS_MNEMONIC_XBEGIN:
	case ZYDIS_MNEMONIC_XABORT:
		/* the abort path of a transaction resumes at a rip-relative fallback */
		return refuse(why, whylen, -EOPNOTSUPP, "transactional memory (xbegin/xabort)");
	case ZYDIS_MNEMONIC_SYSENTER:
	case ZYDIS_MNEMONIC_SYSEXIT:
	case ZYDIS_MNEMONIC_SYSRET:
		return refuse(why, whylen, -EOPNOTSUPP, "sysenter/sysexit/sysret");
	case ZYDIS_MNEMONIC_INT1:
		return refuse(why, whylen, -EOPNOTSUPP, "int1");
	default:
		break;
	}
	if (insn->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		return refuse(why, whylen, -EOPNOTSUPP, "far call/jmp/ret");
	/* hlt, cli, lgdt, mov to cr, ...: they only fault in user space; a SIGSEGV raised in
	 * a slot is not worth supporting (the kernel's uprobes refuse them too). Zydis 4.0 does
	 * not flag lgdt. */
	if ((insn->attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) || insn->mnemonic == ZYDIS_MNEMONIC_LGDT)
		return refuse(why, whylen, -EOPNOTSUPP, "privileged instruction");
	return 0;
}

/*
 * The operands that name an address relative to the instruction: a
 * rip-relative memory operand (into the plan) and a relative immediate
 * (*has_rel_imm, *rel_imm: a near branch's). 0, or the refusal.
 */
static int scan_operands(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
			 struct arch_plan *plan, bool *has_rel_imm, int64_t *rel_imm, char *why,
			 size_t whylen)
{
	for (int i = 0; i < insn->operand_count; i++) {
		const ZydisDecodedOperand *op = &ops[i];

		if (op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (op->mem.base == ZYDIS_REGISTER_RIP || op->mem.base == ZYDIS_REGISTER_EIP)) {
			if (insn->raw.disp.size != 32 || !insn->raw.disp.offset)
				return refuse(why, whylen, -ENOEXEC, "odd rip-relative encoding");
			plan->disp_pos = insn->raw.disp.offset;
			/* relative to the end of the instruction, immediates included */
			plan->riprel_off = (int64_t)insn->length + insn->raw.disp.value;
		}
		if (op->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && op->imm.is_relative) {
			*has_rel_imm = true;
			*rel_imm = op->imm.value.s;
		}
	}
	return 0;
}

/* The kinds known by their mnemonic alone: true when insn is one (plan->type set). */
static bool plan_plain_kind(const ZydisDecodedInstruction *insn, struct arch_plan *plan)
{
	if (insn->mnemonic == ZYDIS_MNEMONIC_NOP || insn->mnemonic == ZYDIS_MNEMONIC_ENDBR64 ||
	    insn->mnemonic == ZYDIS_MNEMONIC_ENDBR32) {
		plan->type = ARCH_T_NOP;
		return true;
	}
	if (insn->mnemonic == ZYDIS_MNEMONIC_SYSCALL) {
		plan->type = ARCH_T_SYSCALL;
		return true;
	}
	if (insn->mnemonic == ZYDIS_MNEMONIC_PUSHF || insn->mnemonic == ZYDIS_MNEMONIC_PUSHFD ||
	    insn->mnemonic == ZYDIS_MNEMONIC_PUSHFQ) {
		plan->type = ARCH_T_PUSHF;
		return true;
	}
	if (insn->mnemonic == ZYDIS_MNEMONIC_RET) {
		/* copied as is (with bnd/rep/66 prefixes): it pops the real return address */
		plan->type = ARCH_T_RET;
		return true;
	}
	return false;
}

/* A near branch with a relative target (call, jmp, jcc, loop): its kind and target. */
static int plan_rel_branch(const ZydisDecodedInstruction *insn, int64_t rel_imm,
			   struct arch_plan *plan, char *why, size_t whylen)
{
	uint8_t op = insn->opcode;

	plan->has_branch = true;
	plan->branch_off = (int64_t)insn->length + rel_imm;
	if (insn->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && op == 0xe8) {
		plan->type = ARCH_T_CALL;
	} else if (insn->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && (op == 0xe9 || op == 0xeb)) {
		plan->type = ARCH_T_JMP;
	} else if ((insn->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && op >= 0x70 && op <= 0x7f) ||
		   (insn->opcode_map == ZYDIS_OPCODE_MAP_0F && op >= 0x80 && op <= 0x8f)) {
		plan->type = ARCH_T_JCC;
		plan->cond = op & 0xf;
	} else if (insn->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && op >= 0xe0 && op <= 0xe3) {
		plan->type = ARCH_T_LOOP;
		plan->opcode = op;
	} else {
		return refuse(why, whylen, -EOPNOTSUPP, "unknown relative branch");
	}
	return 0;
}

/* call *reg / *mem and jmp *reg / *mem: their kind, and the register. */
static int plan_indirect(const uint8_t *code, const ZydisDecodedInstruction *insn,
			 const ZydisDecodedOperand *ops, struct arch_plan *plan, char *why,
			 size_t whylen)
{
	if (insn->mnemonic == ZYDIS_MNEMONIC_CALL) {
		/* ff /2: the only near indirect call */
		if (code[plan->prefix_len] != 0xff || insn->raw.modrm.offset != plan->prefix_len + 1)
			return refuse(why, whylen, -EOPNOTSUPP, "unexpected call encoding");
		if (ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
			plan->type = ARCH_T_CALL_REG;
			plan->reg = insn->raw.modrm.rm | (insn->raw.rex.B << 3);
			/* the emulation pushes first, which would change the target */
			if (plan->reg == 4)
				plan->kind = ARCH_STEP;
		} else {
			plan->type = ARCH_T_CALL_MEM;
		}
		return 0;
	}
	if (insn->mnemonic == ZYDIS_MNEMONIC_JMP) {
		plan->type = ARCH_T_JMP_IND;
		if (ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
			plan->ind_reg = true;
			plan->reg = insn->raw.modrm.rm | (insn->raw.rex.B << 3);
		}
	}
	return 0;
}

/*
 * Decodes the instruction at code into a plan, in steps: its bytes, the
 * instructions refused outright, its relative operands, then its kind
 * (plain, relative branch, indirect call or jump, else a plain copy).
 */
int arch_analyse(const uint8_t *code, size_t avail, struct arch_plan *plan, char *why,
		 size_t whylen)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	bool has_rel_imm = false;
	int64_t rel_imm = 0;
	int err;

	memset(plan, 0, sizeof(*plan));
	if (!code || !avail || decoder_init(&dec))
		return refuse(why, whylen, -ENOEXEC, "undecodable instruction");
	if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, code, avail, &insn, ops)))
		return refuse(why, whylen, -ENOEXEC, "undecodable instruction");

	plan_bytes(plan, code, &insn);
	err = refuse_unsupported(&insn, ops, why, whylen);
	if (err)
		return err;
	err = scan_operands(&insn, ops, plan, &has_rel_imm, &rel_imm, why, whylen);
	if (err)
		return err;
	if (plan_plain_kind(&insn, plan))
		return 0;

	/*
	 * Branches we re-encode. Intel ignores 0x66 on near branches in 64-bit mode, AMD
	 * truncates the target to 16 bits (and 66 e8/e9 changes the length): refuse rather
	 * than guess the CPU. Other prefixes are dropped: 2e/3e are branch hints or notrack,
	 * f2 is bnd (MPX, gone), none change where the branch goes.
	 */
	bool is_branch = insn.mnemonic == ZYDIS_MNEMONIC_CALL || has_rel_imm;
	if (is_branch && (insn.attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE))
		return refuse(why, whylen, -EOPNOTSUPP, "operand-size prefix on a near branch");

	if (has_rel_imm)
		return plan_rel_branch(&insn, rel_imm, plan, why, whylen);
	return plan_indirect(code, &insn, ops, plan, why, whylen);
}

/* ---- jump detours (detour.c) ---- */

int arch_insn_flow(const uint8_t *code, size_t avail, bool *ind_jmp, bool *has_target,
		   int64_t *target_off)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

	*ind_jmp = *has_target = false;
	if (!code || !avail || decoder_init(&dec))
		return -ENOEXEC;
	if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, code, avail, &insn, ops)))
		return -ENOEXEC;
	for (int i = 0; i < insn.operand_count; i++) {
		if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ops[i].imm.is_relative) {
			*has_target = true;
			*target_off = (int64_t)insn.length + ops[i].imm.value.s;
		}
	}
	/* jmp *reg / *mem (far ones included): a jump table may land anywhere in the function */
	if (insn.mnemonic == ZYDIS_MNEMONIC_JMP && !*has_target)
		*ind_jmp = true;
	return insn.length;
}

bool arch_detour_ok(const struct arch_plan *plan, bool last)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;

	if (plan->kind != ARCH_RELOCATE)
		return false;
	/*
	 * A thread found inside a detour is single-stepped out of it: no
	 * instruction there may block (syscall), show the trap flag (pushf)
	 * or take a step per iteration (string instructions).
	 */
	if (plan->type == ARCH_T_SYSCALL || plan->type == ARCH_T_PUSHF)
		return false;
	if (decoder_init(&dec) ||
	    ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, NULL, plan->bytes, plan->len, &insn)) ||
	    insn.meta.category == ZYDIS_CATEGORY_STRINGOP)
		return false;
	/* the copies before the last run one after the other: none may leave the sequence */
	return last || plan->type == ARCH_T_OTHER || plan->type == ARCH_T_NOP;
}
