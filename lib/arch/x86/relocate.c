// SPDX-License-Identifier: LGPL-2.1-or-later
/* x86-64 out-of-line relocation: slot layouts, post slots, pc mapping, step fixup, detours. */
#include <string.h>
#include <sys/user.h>

#include "internal.h"

/*
 * Slot layouts written by arch_relocate(). "leave(X)" is `jmp rel32` to X
 * when X is within +-2 GiB of that jmp, else `jmp *0(%rip)` + the 8-byte
 * address (14 bytes, reads the slot page). Resume points (R) are where a
 * thread stopped inside the slot has finished the instruction's effect and
 * only a leave remains: arch_slot_pc_to_insn() maps them to the leave's
 * destination.
 *
 *   OTHER/PUSHF  copy (rip-relative disp re-targeted); R leave(next)
 *   NOP          leave(next)
 *   JMP          leave(target)
 *   JCC          0f 8x rel32 -> T; R leave(next); T: R leave(target)
 *   LOOP         [67] eX rel8 -> T; R leave(next); T: R leave(target)
 *   CALL         push %rax; movabs $next,%rax; xchg %rax,(%rsp); R leave(target)
 *   CALL_REG     push %rax; movabs $next,%rax; xchg %rax,(%rsp); R jmp *%reg
 *   CALL_MEM     push MEM; push %rax; movabs $next,%rax; xchg %rax,8(%rsp);
 *                xchg %rax,(%rsp); ret
 *   RET/JMP_IND  copy (re-targeted); never falls through
 *   SYSCALL      syscall; R movabs $next,%rcx; R leave(next)
 *   ARCH_STEP    copy (re-targeted), single-stepped by the core; leave(next)
 *
 * Post slots (arch_relocate_post()) stop at an int3 (R) where the leave
 * would be, for the post handlers; the tracer then moves the thread on.
 * After the int3 comes what the thread would have run there: the leave
 * (with the movabs for a syscall), `ret` where the destination is on the
 * stack, `jmp *%reg` for CALL_REG. While the tracer lives no thread runs
 * those bytes; should it die with a thread in the slot (one asleep in a
 * probed system call, say), the lifeline returns from the int3's SIGTRAP
 * onto them, and the thread goes where the instruction leads. Likewise the
 * leave after a single-stepped copy, for a thread whose step the tracer
 * did not live to finish, and for the return of a stepped `call *%rsp`.
 */

/* Keeps arch_slot_reachable() strictly inside what arch_relocate() accepts, even if the
 * caller checks a page address and then uses a slot elsewhere in a nearby area. */
#define RIPREL_SLACK (1 << 20)

#define MAX_RESUME 2

struct resume_point {
	uint8_t off;     /* offset in the slot */
	bool via_reg;    /* destination is the value of plan->reg (call *%reg) */
	bool set_rcx;    /* syscall: rcx must read as the program's next address */
	bool pop;        /* post slots: the destination is on the stack, popped with pop_extra more */
	uint16_t pop_extra;
	uint64_t dest;
};

struct layout {
	int nres;
	struct resume_point res[MAX_RESUME];
};

static bool fits_i32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* New disp32 for a rip-relative operand of an instruction ending at new_end. */
static int riprel_disp(const struct arch_plan *plan, uint64_t insn_addr, uint64_t new_end,
		       int64_t slack, int32_t *disp)
{
	uint64_t target = insn_addr + (uint64_t)plan->riprel_off;
	int64_t d;

	if (plan->addr32) {
		/* 0x67: eip-relative, the address wraps to 32 bits, so any slot reaches it */
		*disp = (int32_t)(uint32_t)(target - new_end);
		return 0;
	}
	d = (int64_t)(target - new_end);
	if (d < (int64_t)INT32_MIN + slack || d > (int64_t)INT32_MAX - slack)
		return -ERANGE;
	*disp = (int32_t)d;
	return 0;
}

/* Copies the instruction to out[pos], re-targeting its rip-relative disp. */
static int emit_copy(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		     uint8_t *out, size_t pos)
{
	int32_t disp;
	int err;

	memcpy(out + pos, plan->bytes, plan->len);
	if (plan->disp_pos) {
		err = riprel_disp(plan, insn_addr, slot_addr + pos + plan->len, 0, &disp);
		if (err)
			return err;
		put32(out + pos + plan->disp_pos, (uint32_t)disp);
	}
	return (int)(pos + plan->len);
}

static size_t emit_leave(uint8_t *out, size_t pos, uint64_t slot_addr, uint64_t dest)
{
	int64_t rel = (int64_t)(dest - (slot_addr + pos + 5));

	if (fits_i32(rel)) {
		out[pos] = 0xe9;
		put32(out + pos + 1, (uint32_t)rel);
		return pos + 5;
	}
	/* jmp *0(%rip); .quad dest */
	out[pos] = 0xff;
	out[pos + 1] = 0x25;
	put32(out + pos + 2, 0);
	put64(out + pos + 6, dest);
	return pos + 14;
}

static void add_resume(struct layout *lay, size_t off, uint64_t dest, bool via_reg, bool set_rcx)
{
	if (!lay || lay->nres >= MAX_RESUME)
		return;
	lay->res[lay->nres++] = (struct resume_point){
		.off = (uint8_t)off, .dest = dest, .via_reg = via_reg, .set_rcx = set_rcx,
	};
}

/* Post slots: an int3 whose stop finds the return-like destination on top of the stack. */
static size_t post_pop(uint8_t *out, size_t pos, struct layout *lay, uint16_t extra)
{
	if (lay && lay->nres < MAX_RESUME)
		lay->res[lay->nres++] = (struct resume_point){
			.off = (uint8_t)pos, .pop = true, .pop_extra = extra,
		};
	out[pos] = 0xcc;
	return pos + 1;
}

/* movabs $val, %rcx */
static size_t emit_set_rcx(uint8_t *out, size_t pos, uint64_t val)
{
	out[pos++] = 0x48;
	out[pos++] = 0xb9;
	put64(out + pos, val);
	return pos + 8;
}

/*
 * Where the relocated code has done the instruction's work and continues
 * at dest in the program: a jump there, or in a post slot an int3 whose
 * stop is the post-handler point (the tracer then moves rip to dest).
 */
static size_t exit_to(uint8_t *out, size_t pos, uint64_t slot_addr, uint64_t dest,
		      struct layout *lay, bool post, bool set_rcx)
{
	add_resume(lay, pos, dest, false, set_rcx);
	if (post) {
		/* the int3 of the post handlers; after it, for a tracer gone, what it stands for */
		out[pos++] = 0xcc;
		if (set_rcx)
			pos = emit_set_rcx(out, pos, dest);
	}
	return emit_leave(out, pos, slot_addr, dest);
}

/* push %rax; movabs $ret,%rax; xchg %rax,(%rsp): [rsp-8] = ret, rax and flags untouched */
static size_t emit_push_ret(uint8_t *out, size_t pos, uint64_t ret)
{
	out[pos++] = 0x50;
	out[pos++] = 0x48;
	out[pos++] = 0xb8;
	put64(out + pos, ret);
	pos += 8;
	memcpy(out + pos, "\x48\x87\x04\x24", 4);
	return pos + 4;
}

/* push MEM from call MEM (ff /2 -> ff /6), same addressing; returns the new pos or -errno */
static int emit_push_mem(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
			 uint8_t *out, size_t pos)
{
	size_t start = pos, dropped = 0;
	int32_t disp;
	int err;

	/*
	 * Keep segment overrides and 0x67 (they change the address), and a REX only if it
	 * directly precedes the opcode (otherwise the CPU ignores it, and dropping the
	 * bytes between would make it effective). f2/f3 (bnd/rep) mean nothing to push.
	 */
	for (size_t i = 0; i < plan->prefix_len; i++) {
		uint8_t b = plan->bytes[i];
		bool rex = (b & 0xf0) == 0x40;

		if (b == 0xf2 || b == 0xf3 || (rex && i != plan->prefix_len - 1u)) {
			dropped++;
			continue;
		}
		out[pos++] = b;
	}
	memcpy(out + pos, plan->bytes + plan->prefix_len, plan->len - plan->prefix_len);
	/* modrm.reg: /2 (call) -> /6 (push) */
	out[pos + 1] = (uint8_t)((out[pos + 1] & ~0x38) | (6 << 3));
	pos += plan->len - plan->prefix_len;
	if (plan->disp_pos) {
		err = riprel_disp(plan, insn_addr, slot_addr + pos, 0, &disp);
		if (err)
			return err;
		put32(out + start + plan->disp_pos - dropped, (uint32_t)disp);
	}
	return (int)pos;
}

/* The imm16 of `ret imm16` (c2 iw), 0 for a plain ret. */
static uint16_t ret_imm(const struct arch_plan *plan)
{
	const uint8_t *op = plan->bytes + plan->prefix_len;

	return op[0] == 0xc2 ? (uint16_t)(op[1] | op[2] << 8) : 0;
}

/* JCC: 0f 8x rel32 -> T; leave(next); T: leave(target) */
static size_t emit_jcc(const struct arch_plan *plan, uint64_t slot_addr, uint64_t next,
		       uint64_t target, uint8_t *out, struct layout *lay, bool post)
{
	size_t pos;

	/* 0f 8x rel32 to L_taken, patched once the not-taken exit's size is known */
	out[0] = 0x0f;
	out[1] = 0x80 | plan->cond;
	pos = exit_to(out, 6, slot_addr, next, lay, post, false);
	put32(out + 2, (uint32_t)(pos - 6));
	return exit_to(out, pos, slot_addr, target, lay, post, false);
}

/* LOOP: [67] eX rel8 -> T; leave(next); T: leave(target) */
static size_t emit_loop(const struct arch_plan *plan, uint64_t slot_addr, uint64_t next,
			uint64_t target, uint8_t *out, struct layout *lay, bool post)
{
	size_t pos = 0, at;

	if (plan->addr32)
		out[pos++] = 0x67;
	out[pos++] = plan->opcode;
	at = pos++;
	pos = exit_to(out, pos, slot_addr, next, lay, post, false);
	out[at] = (uint8_t)(pos - (at + 1)); /* 1, 5 or 14: fits rel8 */
	return exit_to(out, pos, slot_addr, target, lay, post, false);
}

/* CALL_REG: the return address pushed, then jmp *%reg */
static size_t emit_call_reg(const struct arch_plan *plan, uint64_t next, uint8_t *out,
			    struct layout *lay, bool post)
{
	size_t pos = emit_push_ret(out, 0, next);

	add_resume(lay, pos, 0, true, false);
	if (post)
		out[pos++] = 0xcc; /* then the jump, for a tracer gone (above) */
	/* jmp *%reg: [41] ff /4, mod=11 */
	if (plan->reg & 8)
		out[pos++] = 0x41;
	out[pos++] = 0xff;
	out[pos++] = (uint8_t)(0xe0 | (plan->reg & 7));
	return pos;
}

/* CALL_MEM: push MEM, the return address slipped under it, ret to the target */
static int emit_call_mem(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
			 uint64_t next, uint8_t *out, struct layout *lay, bool post)
{
	int ret = emit_push_mem(plan, insn_addr, slot_addr, out, 0);
	size_t pos;

	if (ret < 0)
		return ret;
	pos = (size_t)ret;
	out[pos++] = 0x50; /* push %rax */
	out[pos++] = 0x48; /* movabs $next, %rax */
	out[pos++] = 0xb8;
	put64(out + pos, next);
	pos += 8;
	memcpy(out + pos, "\x48\x87\x44\x24\x08", 5); /* xchg %rax, 8(%rsp) */
	pos += 5;
	memcpy(out + pos, "\x48\x87\x04\x24", 4); /* xchg %rax, (%rsp) */
	pos += 4;
	if (post)
		pos = post_pop(out, pos, lay, 0); /* the target is on top */
	out[pos++] = 0xc3; /* ret: to the target, rsp = old - 8 */
	return (int)pos;
}

/* SYSCALL: syscall; movabs $next,%rcx; leave(next), or the post slot's exit */
static size_t emit_syscall(uint64_t slot_addr, uint64_t next, uint8_t *out, struct layout *lay,
			   bool post)
{
	size_t pos = 2;

	out[0] = 0x0f;
	out[1] = 0x05;
	if (post)
		return exit_to(out, pos, slot_addr, next, lay, post, true);
	add_resume(lay, pos, next, false, true);
	pos = emit_set_rcx(out, pos, next);
	add_resume(lay, pos, next, false, false);
	return emit_leave(out, pos, slot_addr, next);
}

/*
 * The slot's code for plan, one layout per kind (the table at the top of
 * this file), each multi-part layout in its own emit_*(). Returns the
 * length written, or -errno.
 */
static int emit(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		uint8_t *out, struct layout *lay, bool post)
{
	uint64_t next = insn_addr + plan->len;
	uint64_t target = insn_addr + (uint64_t)plan->branch_off;
	size_t pos = 0;
	int ret;

	if (lay)
		memset(lay, 0, sizeof(*lay));
	if (plan->len == 0 || plan->len > ARCH_MAX_INSN)
		return -EINVAL;

	if (plan->kind == ARCH_STEP) {
		ret = emit_copy(plan, insn_addr, slot_addr, out, 0);
		return ret < 0 ? ret : (int)emit_leave(out, (size_t)ret, slot_addr, next);
	}

	switch (plan->type) {
	case ARCH_T_NOP:
		pos = exit_to(out, 0, slot_addr, next, lay, post, false);
		break;
	case ARCH_T_JMP:
		pos = exit_to(out, 0, slot_addr, target, lay, post, false);
		break;
	case ARCH_T_JCC:
		pos = emit_jcc(plan, slot_addr, next, target, out, lay, post);
		break;
	case ARCH_T_LOOP:
		pos = emit_loop(plan, slot_addr, next, target, out, lay, post);
		break;
	case ARCH_T_CALL:
		pos = emit_push_ret(out, 0, next);
		pos = exit_to(out, pos, slot_addr, target, lay, post, false);
		break;
	case ARCH_T_CALL_REG:
		pos = emit_call_reg(plan, next, out, lay, post);
		break;
	case ARCH_T_CALL_MEM:
		return emit_call_mem(plan, insn_addr, slot_addr, next, out, lay, post);
	case ARCH_T_RET:
		if (!post)
			return emit_copy(plan, insn_addr, slot_addr, out, 0);
		/* the tracer does the return at the int3: rip = [rsp], rsp += 8 + imm16 */
		pos = post_pop(out, 0, lay, ret_imm(plan));
		return emit_copy(plan, insn_addr, slot_addr, out, pos);
	case ARCH_T_JMP_IND:
		if (!post || !plan->ind_reg)
			return emit_copy(plan, insn_addr, slot_addr, out, 0);
		/* the int3 takes the target from the register; nothing touches the stack */
		add_resume(lay, 0, 0, true, false);
		out[0] = 0xcc;
		return emit_copy(plan, insn_addr, slot_addr, out, 1);
	case ARCH_T_SYSCALL:
		pos = emit_syscall(slot_addr, next, out, lay, post);
		break;
	case ARCH_T_OTHER:
	case ARCH_T_PUSHF:
	default:
		ret = emit_copy(plan, insn_addr, slot_addr, out, 0);
		if (ret < 0)
			return ret;
		pos = exit_to(out, (size_t)ret, slot_addr, next, lay, post, false);
		break;
	}
	return (int)pos;
}

static int relocate(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		    uint8_t *out, bool post)
{
	uint8_t buf[ARCH_SLOT_SIZE + 32];
	int len;

	/* build in a larger buffer so no layout can write past out[ARCH_SLOT_SIZE] */
	memset(buf, 0xcc, sizeof(buf));
	len = emit(plan, insn_addr, slot_addr, buf, NULL, post);
	if (len < 0)
		return len;
	if (len > ARCH_SLOT_SIZE)
		return -E2BIG;
	memcpy(out, buf, ARCH_SLOT_SIZE);
	return len;
}

int arch_relocate(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		  uint8_t *out)
{
	return relocate(plan, insn_addr, slot_addr, out, false);
}

int arch_relocate_post(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		       uint8_t *out)
{
	return relocate(plan, insn_addr, slot_addr, out, true);
}

bool arch_slot_reachable(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr)
{
	int32_t disp;

	if (!plan->disp_pos || plan->type == ARCH_T_NOP)
		return true;
	/* the re-targeted instruction sits at most a few bytes from slot_addr + len */
	return riprel_disp(plan, insn_addr, slot_addr + plan->len, RIPREL_SLACK, &disp) == 0;
}

static unsigned long long *reg_ptr(struct user_regs_struct *regs, unsigned int n)
{
	switch (n) {
	case 0: return &regs->rax;
	case 1: return &regs->rcx;
	case 2: return &regs->rdx;
	case 3: return &regs->rbx;
	case 4: return &regs->rsp;
	case 5: return &regs->rbp;
	case 6: return &regs->rsi;
	case 7: return &regs->rdi;
	case 8: return &regs->r8;
	case 9: return &regs->r9;
	case 10: return &regs->r10;
	case 11: return &regs->r11;
	case 12: return &regs->r12;
	case 13: return &regs->r13;
	case 14: return &regs->r14;
	default: return &regs->r15;
	}
}

int arch_step_fixup(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		    struct user_regs_struct *regs, const struct arch_mem *mem)
{
	uint64_t next = insn_addr + plan->len;
	uint64_t val;
	int err;

	/*
	 * Still on the copy: the step ended before it ran (a stop reported
	 * first). Nothing was pushed; what is at rsp is the program's own.
	 */
	if (regs->rip == slot_addr)
		return 0;
	if (regs->rip == slot_addr + plan->len)
		regs->rip = next;

	switch (plan->type) {
	case ARCH_T_CALL:
	case ARCH_T_CALL_REG:
	case ARCH_T_CALL_MEM:
		/* the copy pushed slot_addr + len */
		return mem->write(mem->ctx, regs->rsp, &next, sizeof(next));
	case ARCH_T_PUSHF:
		/* the trap flag of the single-step must not leak into the program's data */
		err = mem->read(mem->ctx, regs->rsp, &val, sizeof(val));
		if (err)
			return err;
		val &= ~(uint64_t)0x100;
		return mem->write(mem->ctx, regs->rsp, &val, sizeof(val));
	default:
		return 0;
	}
}

bool arch_slot_pc_to_insn(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
			  struct user_regs_struct *regs)
{
	uint8_t buf[ARCH_SLOT_SIZE + 32];
	struct layout lay;

	if (regs->rip == slot_addr) {
		regs->rip = insn_addr;
		return true;
	}
	if (emit(plan, insn_addr, slot_addr, buf, &lay, false) < 0)
		return false;
	for (int i = 0; i < lay.nres; i++) {
		const struct resume_point *r = &lay.res[i];

		if (regs->rip != slot_addr + r->off)
			continue;
		regs->rip = r->via_reg ? *reg_ptr(regs, plan->reg) : r->dest;
		if (r->set_rcx)
			regs->rcx = r->dest;
		return true;
	}
	return false;
}

int arch_slot_post(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		   uint64_t pc, struct user_regs_struct *regs, const struct arch_mem *mem)
{
	uint8_t buf[ARCH_SLOT_SIZE + 32];
	struct layout lay;

	if (plan->kind == ARCH_STEP || emit(plan, insn_addr, slot_addr, buf, &lay, true) < 0)
		return 0;
	for (int i = 0; i < lay.nres; i++) {
		const struct resume_point *r = &lay.res[i];
		uint64_t dest;
		int err;

		if (pc != slot_addr + r->off)
			continue;
		if (r->pop) {
			err = mem->read(mem->ctx, regs->rsp, &dest, sizeof(dest));
			if (err)
				return err;
			regs->rsp += 8 + r->pop_extra;
		} else {
			dest = r->via_reg ? *reg_ptr(regs, plan->reg) : r->dest;
		}
		regs->rip = dest;
		if (r->set_rcx)
			regs->rcx = dest;
		return 1;
	}
	return 0;
}

/* ---- jump detours (detour.c) ---- */

bool arch_jump(uint64_t from, uint64_t to, uint8_t out[ARCH_JMP_LEN])
{
	int64_t rel = (int64_t)(to - (from + ARCH_JMP_LEN));

	if (!fits_i32(rel))
		return false;
	out[0] = 0xe9;
	put32(out + 1, (uint32_t)rel);
	return true;
}

/*
 * Detour layout:
 *   [lea -128(%rsp),%rsp; call rec_gadget; jmp +1]  no-stop detours only (ARCH_DETOUR_REC_INT3 bytes)
 *   int3                      the probe: a thread traps here
 *   copy of insn 0 .. n-2     back to back, rip-relative operands re-targeted
 *   insn n-1 as emit() relocates it: copy + leave(next), or its branch/call form
 * next of the last instruction is insn_addr + covered, so a thread that falls
 * through leaves the detour right after the range.
 */
int arch_relocate_detour(const struct arch_plan *plans, unsigned n, uint64_t insn_addr,
			 uint64_t slot_addr, uint64_t rec_gadget, uint8_t *out)
{
	uint8_t buf[ARCH_SLOT_SIZE + 64];
	uint64_t off = 0;
	size_t pos = 1;
	int ret;

	if (!n)
		return -EINVAL;
	memset(buf, 0xcc, sizeof(buf));
	if (rec_gadget) {
		/* lea -128(%rsp), %rsp; call rec_gadget; jmp +1; then the int3 as above */
		int64_t rel = (int64_t)(rec_gadget - (slot_addr + ARCH_DETOUR_REC_RET));
		static const uint8_t lea[] = { 0x48, 0x8d, 0x64, 0x24, 0x80 };

		_Static_assert(ARCH_DETOUR_REC_RET == ARCH_DETOUR_REC_LEA + 5 &&
			       ARCH_DETOUR_REC_INT3 == ARCH_DETOUR_REC_RET + 2, "the layout below");
		if (!fits_i32(rel))
			return -ERANGE;
		memcpy(buf, lea, sizeof(lea));
		buf[ARCH_DETOUR_REC_LEA] = 0xe8;
		put32(buf + ARCH_DETOUR_REC_LEA + 1, (uint32_t)rel);
		buf[ARCH_DETOUR_REC_RET] = 0xeb; /* jmp rel8 */
		buf[ARCH_DETOUR_REC_RET + 1] = 1;
		pos = ARCH_DETOUR_REC_INT3 + 1;
	}
	for (unsigned i = 0; i + 1 < n; i++) {
		ret = emit_copy(&plans[i], insn_addr + off, slot_addr, buf, pos);
		if (ret < 0)
			return ret;
		pos = (size_t)ret;
		off += plans[i].len;
	}
	if (pos > ARCH_SLOT_SIZE)
		return -E2BIG;
	ret = emit(&plans[n - 1], insn_addr + off, slot_addr + pos, buf + pos, NULL, false);
	if (ret < 0)
		return ret;
	if (pos + (size_t)ret > ARCH_SLOT_SIZE)
		return -E2BIG;
	memcpy(out, buf, ARCH_SLOT_SIZE);
	return (int)(pos + (size_t)ret);
}
