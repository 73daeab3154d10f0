// SPDX-License-Identifier: LGPL-2.1-or-later
/* x86-64 emulation of the simplest probed instructions, for the in-place fallback: no step, no thread held. */
#include <string.h>
#include <sys/user.h>

#include "internal.h"

/* EFLAGS bits the conditions read */
#define F_CF (1u << 0)
#define F_PF (1u << 2)
#define F_ZF (1u << 6)
#define F_SF (1u << 7)
#define F_OF (1u << 11)

static unsigned long long *gpr(struct user_regs_struct *r, unsigned n)
{
	unsigned long long *map[16] = {
		&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
		&r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
	};

	return map[n & 15];
}

/* The condition of jcc (low nibble of its opcode, as the SDM numbers them: o, no, b, ae, ...). */
static bool cond_holds(unsigned cond, uint64_t fl)
{
	bool cf = fl & F_CF, pf = fl & F_PF, zf = fl & F_ZF, sf = fl & F_SF, of = fl & F_OF;
	bool r;

	switch (cond >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	/* odd conditions are the negations of the even ones before them */
	return (cond & 1) ? !r : r;
}

static int push64(struct user_regs_struct *regs, const struct arch_mem *mem, uint64_t v)
{
	int err = mem->write(mem->ctx, regs->rsp - 8, &v, sizeof(v));

	if (!err)
		regs->rsp -= 8;
	return err;
}

/*
 * `push %reg`: 50+r, with at most a REX prefix (REX.B selects r8-r15; REX.W
 * changes nothing, 64 bits is the default). 66 (a 16-bit push) and any other
 * prefix are left to a real execution.
 */
static int push_reg(const struct arch_plan *plan)
{
	uint8_t op = plan->bytes[plan->prefix_len];
	unsigned reg;

	if (plan->len != plan->prefix_len + 1 || plan->prefix_len > 1 || op < 0x50 || op > 0x57)
		return -1;
	reg = op & 7;
	if (plan->prefix_len) {
		if ((plan->bytes[0] & 0xf0) != 0x40)
			return -1;
		reg |= (plan->bytes[0] & 1) << 3;
	}
	return (int)reg;
}

/* `ret` (c3) or `ret $imm16` (c2 iw), with no prefix other than f2/f3 (bnd/rep, no effect). */
static bool plain_ret(const struct arch_plan *plan, uint16_t *imm)
{
	uint8_t op = plan->bytes[plan->prefix_len];

	for (unsigned i = 0; i < plan->prefix_len; i++)
		if (plan->bytes[i] != 0xf2 && plan->bytes[i] != 0xf3)
			return false;
	if (op == 0xc3 && plan->len == plan->prefix_len + 1) {
		*imm = 0;
		return true;
	}
	if (op == 0xc2 && plan->len == plan->prefix_len + 3) {
		memcpy(imm, &plan->bytes[plan->prefix_len + 1], 2);
		return true;
	}
	return false;
}

int arch_emulate(const struct arch_plan *plan, uint64_t insn_addr, struct user_regs_struct *regs,
		 const struct arch_mem *mem)
{
	uint64_t next = insn_addr + plan->len, v;
	uint16_t imm;
	int reg, err;

	switch (plan->type) {
	case ARCH_T_NOP:
		regs->rip = next;
		return 0;
	case ARCH_T_JMP:
		regs->rip = insn_addr + plan->branch_off;
		return 0;
	case ARCH_T_JCC:
		regs->rip = cond_holds(plan->cond, regs->eflags) ? insn_addr + plan->branch_off : next;
		return 0;
	case ARCH_T_CALL:
		err = push64(regs, mem, next);
		if (err)
			return err;
		regs->rip = insn_addr + plan->branch_off;
		return 0;
	case ARCH_T_RET:
		if (!plain_ret(plan, &imm))
			return -EOPNOTSUPP;
		err = mem->read(mem->ctx, regs->rsp, &v, sizeof(v));
		if (err)
			return err;
		regs->rip = v;
		regs->rsp += 8 + imm;
		return 0;
	case ARCH_T_OTHER:
		reg = push_reg(plan);
		if (reg < 0)
			return -EOPNOTSUPP;
		/* push %rsp stores the value before the decrement */
		err = push64(regs, mem, *gpr(regs, (unsigned)reg));
		if (err)
			return err;
		regs->rip = next;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}
