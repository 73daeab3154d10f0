// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzzing of the classic-BPF seccomp evaluator (lib/seccomp.c) against a
 * model of the kernel written here: random programs must get the model's
 * verdict when the kernel would load them, and a refusal (-EINVAL) when it
 * would not, never a guess.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "fuzz.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_LEN 64

/*
 * The kernel's checks, in its order: bpf_check_classic() (net/core/filter.c:
 * known opcode, constant divisor, shift and scratch index, jumps inside the
 * program, a return last, then check_load_and_stores(): every scratch load
 * preceded by a store on every path), and seccomp_check_filter()
 * (kernel/seccomp.c: its own opcode list, aligned loads inside struct
 * seccomp_data). Written from the kernel's source, not from seccomp.c.
 */
static bool kernel_opcode(uint16_t code)
{
	static const uint16_t ok[] = {
		BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN,
		BPF_RET | BPF_K, BPF_RET | BPF_A,
		BPF_ALU | BPF_ADD | BPF_K, BPF_ALU | BPF_ADD | BPF_X,
		BPF_ALU | BPF_SUB | BPF_K, BPF_ALU | BPF_SUB | BPF_X,
		BPF_ALU | BPF_MUL | BPF_K, BPF_ALU | BPF_MUL | BPF_X,
		BPF_ALU | BPF_DIV | BPF_K, BPF_ALU | BPF_DIV | BPF_X,
		BPF_ALU | BPF_AND | BPF_K, BPF_ALU | BPF_AND | BPF_X,
		BPF_ALU | BPF_OR | BPF_K, BPF_ALU | BPF_OR | BPF_X,
		BPF_ALU | BPF_XOR | BPF_K, BPF_ALU | BPF_XOR | BPF_X,
		BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_LSH | BPF_X,
		BPF_ALU | BPF_RSH | BPF_K, BPF_ALU | BPF_RSH | BPF_X,
		BPF_ALU | BPF_NEG, BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM,
		BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
		BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX,
		BPF_JMP | BPF_JA,
		BPF_JMP | BPF_JEQ | BPF_K, BPF_JMP | BPF_JEQ | BPF_X,
		BPF_JMP | BPF_JGE | BPF_K, BPF_JMP | BPF_JGE | BPF_X,
		BPF_JMP | BPF_JGT | BPF_K, BPF_JMP | BPF_JGT | BPF_X,
		BPF_JMP | BPF_JSET | BPF_K, BPF_JMP | BPF_JSET | BPF_X,
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (ok[i] == code)
			return true;
	return false;
}

static bool is_cond_jump(uint16_t code)
{
	return BPF_CLASS(code) == BPF_JMP && BPF_OP(code) != BPF_JA;
}

static bool kernel_accepts(const struct sock_filter *f, unsigned len)
{
	uint16_t masks[MAX_LEN], memvalid = 0;

	if (!len || len > BPF_MAXINSNS)
		return false;
	for (unsigned pc = 0; pc < len; pc++) {
		const struct sock_filter *t = &f[pc];

		if (!kernel_opcode(t->code))
			return false;
		switch (t->code) {
		case BPF_ALU | BPF_DIV | BPF_K:
			if (!t->k)
				return false;
			break;
		case BPF_ALU | BPF_LSH | BPF_K:
		case BPF_ALU | BPF_RSH | BPF_K:
			if (t->k >= 32)
				return false;
			break;
		case BPF_LD | BPF_MEM:
		case BPF_LDX | BPF_MEM:
		case BPF_ST:
		case BPF_STX:
			if (t->k >= BPF_MEMWORDS)
				return false;
			break;
		case BPF_JMP | BPF_JA:
			if (t->k >= len - pc - 1)
				return false;
			break;
		case BPF_LD | BPF_W | BPF_ABS:
			if (t->k >= sizeof(struct seccomp_data) || (t->k & 3))
				return false;
			break;
		default:
			if (is_cond_jump(t->code) &&
			    (pc + t->jt + 1 >= len || pc + t->jf + 1 >= len))
				return false;
		}
	}
	if (f[len - 1].code != (BPF_RET | BPF_K) && f[len - 1].code != (BPF_RET | BPF_A))
		return false;
	/* check_load_and_stores(): a static data flow, over paths never taken too */
	memset(masks, 0xff, sizeof(masks));
	for (unsigned pc = 0; pc < len; pc++) {
		const struct sock_filter *t = &f[pc];

		memvalid &= masks[pc];
		if (t->code == BPF_ST || t->code == BPF_STX) {
			memvalid |= 1u << t->k;
		} else if (t->code == (BPF_LD | BPF_MEM) || t->code == (BPF_LDX | BPF_MEM)) {
			if (!(memvalid & (1u << t->k)))
				return false;
		} else if (t->code == (BPF_JMP | BPF_JA)) {
			masks[pc + 1 + t->k] &= memvalid;
			memvalid = 0xffff;
		} else if (is_cond_jump(t->code)) {
			masks[pc + 1 + t->jt] &= memvalid;
			masks[pc + 1 + t->jf] &= memvalid;
			memvalid = 0xffff;
		}
	}
	return true;
}

/* The kernel's run of an accepted program (A and X start at 0; X == 0 as divisor returns 0). */
static uint32_t kernel_run(const struct sock_filter *f, unsigned len, const struct seccomp_data *sd)
{
	uint32_t a = 0, x = 0, m[BPF_MEMWORDS] = { 0 }, w[sizeof(*sd) / 4];

	memcpy(w, sd, sizeof(w));
	for (unsigned pc = 0; pc < len; pc++) {
		const struct sock_filter *t = &f[pc];
		uint32_t src = BPF_SRC(t->code) == BPF_X ? x : t->k;

		switch (t->code) {
		case BPF_LD | BPF_W | BPF_ABS: a = w[t->k / 4]; break;
		case BPF_LD | BPF_W | BPF_LEN: a = sizeof(*sd); break;
		case BPF_LDX | BPF_W | BPF_LEN: x = sizeof(*sd); break;
		case BPF_LD | BPF_IMM: a = t->k; break;
		case BPF_LDX | BPF_IMM: x = t->k; break;
		case BPF_LD | BPF_MEM: a = m[t->k]; break;
		case BPF_LDX | BPF_MEM: x = m[t->k]; break;
		case BPF_ST: m[t->k] = a; break;
		case BPF_STX: m[t->k] = x; break;
		case BPF_MISC | BPF_TAX: x = a; break;
		case BPF_MISC | BPF_TXA: a = x; break;
		case BPF_RET | BPF_K: return t->k;
		case BPF_RET | BPF_A: return a;
		case BPF_ALU | BPF_NEG: a = -a; break;
		case BPF_JMP | BPF_JA: pc += t->k; break;
		default:
			if (BPF_CLASS(t->code) == BPF_JMP) {
				bool taken;

				switch (BPF_OP(t->code)) {
				case BPF_JEQ: taken = a == src; break;
				case BPF_JGT: taken = a > src; break;
				case BPF_JGE: taken = a >= src; break;
				default: taken = (a & src) != 0; break;
				}
				pc += taken ? t->jt : t->jf;
				break;
			}
			switch (BPF_OP(t->code)) {
			case BPF_ADD: a += src; break;
			case BPF_SUB: a -= src; break;
			case BPF_MUL: a *= src; break;
			case BPF_DIV:
				if (!src)
					return 0;
				a /= src;
				break;
			case BPF_AND: a &= src; break;
			case BPF_OR: a |= src; break;
			case BPF_XOR: a ^= src; break;
			case BPF_LSH: a <<= src & 31; break;
			case BPF_RSH: a >>= src & 31; break;
			}
		}
	}
	fail_msg("case %s: the model ran off an accepted program", fuzz_case);
	return 0;
}

static const uint16_t some_codes[] = {
	BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_ABS,
	BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM,
	BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX, BPF_MISC | BPF_TAX,
	BPF_MISC | BPF_TXA, BPF_RET | BPF_K, BPF_RET | BPF_A, BPF_ALU | BPF_ADD | BPF_K,
	BPF_ALU | BPF_SUB | BPF_X, BPF_ALU | BPF_MUL | BPF_K, BPF_ALU | BPF_DIV | BPF_K,
	BPF_ALU | BPF_DIV | BPF_X, BPF_ALU | BPF_AND | BPF_K, BPF_ALU | BPF_OR | BPF_X,
	BPF_ALU | BPF_XOR | BPF_K, BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_RSH | BPF_X,
	BPF_ALU | BPF_LSH | BPF_X, BPF_ALU | BPF_RSH | BPF_K, BPF_ALU | BPF_NEG,
	BPF_JMP | BPF_JA, BPF_JMP | BPF_JEQ | BPF_K, BPF_JMP | BPF_JEQ | BPF_K,
	BPF_JMP | BPF_JEQ | BPF_X, BPF_JMP | BPF_JGT | BPF_K, BPF_JMP | BPF_JGE | BPF_X,
	BPF_JMP | BPF_JSET | BPF_K,
	/* what the kernel refuses in seccomp filters */
	BPF_ALU | BPF_MOD | BPF_K, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_IND,
	BPF_LDX | BPF_B | BPF_MSH, BPF_RET | BPF_X,
};

static const uint32_t actions[] = {
	SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP | 7,
	SECCOMP_RET_ERRNO | 1, SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE | 3, SECCOMP_RET_LOG,
	SECCOMP_RET_ALLOW, 0x12345678,
};

/*
 * Half the programs clean (opcodes the kernel takes, operands in range,
 * loads of scratch words stored before them in the text), half with a
 * wild instruction now and then.
 */
static unsigned gen_prog(struct rng *r, struct sock_filter *f, const uint32_t *words)
{
	unsigned len = 1 + rng_below(r, MAX_LEN), stored = 0;
	bool clean = rng_chance(r, 2);
	/* the last entries of some_codes are what seccomp refuses */
	size_t ncodes = ARRAY_SIZE(some_codes) - (clean ? 5 : 0);

	for (unsigned pc = 0; pc < len; pc++) {
		struct sock_filter *t = &f[pc];
		unsigned after = len - pc - 1;
		bool wild = !clean && rng_chance(r, 40);

		t->code = !clean && rng_chance(r, 50) ? (uint16_t)rng_next(r) :
							some_codes[rng_below(r, ncodes)];
		if (clean && BPF_MODE(t->code) == BPF_MEM && !stored)
			t->code = BPF_ST;
		t->jt = (uint8_t)(wild || !after ? rng_next(r) : rng_below(r, after));
		t->jf = (uint8_t)(wild || !after ? rng_next(r) : rng_below(r, after));
		if (wild) {
			t->k = (uint32_t)rng_next(r);
		} else if (t->code == (BPF_LD | BPF_W | BPF_ABS)) {
			t->k = 4 * (uint32_t)rng_below(r, sizeof(struct seccomp_data) / 4);
		} else if (t->code == BPF_ST || t->code == BPF_STX) {
			t->k = (uint32_t)rng_below(r, BPF_MEMWORDS);
			stored |= 1u << t->k;
		} else if (BPF_MODE(t->code) == BPF_MEM) {
			do
				t->k = (uint32_t)rng_below(r, BPF_MEMWORDS);
			while (clean && !(stored & (1u << t->k)));
		} else if (t->code == (BPF_JMP | BPF_JA)) {
			t->k = after ? (uint32_t)rng_below(r, after) : 0;
		} else if (BPF_CLASS(t->code) == BPF_ALU && BPF_OP(t->code) == BPF_DIV) {
			t->k = (uint32_t)rng_below(r, clean ? 3 : 4) + clean;
		} else if (BPF_CLASS(t->code) == BPF_ALU) {
			t->k = (uint32_t)rng_below(r, clean ? 32 : 40);
		} else if (BPF_CLASS(t->code) == BPF_RET) {
			t->k = actions[rng_below(r, ARRAY_SIZE(actions))];
		} else if (rng_chance(r, 2)) {
			t->k = words[rng_below(r, sizeof(struct seccomp_data) / 4)];
		} else {
			t->k = (uint32_t)rng_below(r, 400);
		}
	}
	if (clean || !rng_chance(r, 10)) {
		f[len - 1].code = BPF_RET | (rng_chance(r, 2) ? BPF_K : BPF_A);
		f[len - 1].k = actions[rng_below(r, ARRAY_SIZE(actions))];
	}
	return len;
}

static void gen_data(struct rng *r, struct seccomp_data *sd)
{
	sd->nr = (int)rng_below(r, 500);
	sd->arch = rng_chance(r, 8) ? (uint32_t)rng_next(r) : AUDIT_ARCH_X86_64;
	sd->instruction_pointer = rng_next(r);
	for (int i = 0; i < 6; i++)
		sd->args[i] = rng_chance(r, 2) ? rng_below(r, 16) : rng_next(r);
}

#define EVAL_ITERS 200000

static void test_eval(void **state)
{
	struct rng r = { fuzz_seed(0x5ecc) };
	unsigned valid = 0, invalid = 0, allowed = 0, iters = fuzz_iters(EVAL_ITERS);

	for (unsigned it = 0; it < iters; it++) {
		struct sock_filter f[MAX_LEN];
		struct seccomp_data sd;
		struct sock_fprog prog = { .filter = f };
		uint32_t ret = 0xdeadbeef;
		int err;

		gen_data(&r, &sd);
		prog.len = (unsigned short)gen_prog(&r, f, (const uint32_t *)&sd);
		fuzz_set_case("seccomp seed 0x%llx iteration %u",
			      (unsigned long long)fuzz_seed(0x5ecc), it);
		err = seccomp_eval(&prog, &sd, &ret);
		if (kernel_accepts(f, prog.len)) {
			uint32_t want = kernel_run(f, prog.len, &sd);

			valid++;
			allowed += (want & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW;
			if (err || ret != want)
				fail_msg("case %s: accepted by the kernel: %d, 0x%x, want 0x%x", fuzz_case,
					 err, ret, want);
		} else {
			invalid++;
			if (err != -EINVAL) {
				for (unsigned pc = 0; pc < prog.len; pc++)
					print_error("  { 0x%04x, %3u, %3u, 0x%08x },\n", f[pc].code,
						    f[pc].jt, f[pc].jf, f[pc].k);
				fail_msg("case %s: refused by the kernel, evaluated to %d, 0x%x",
					 fuzz_case, err, ret);
			}
		}
	}
	print_message("seccomp: %u valid (%u allow), %u invalid\n", valid, allowed, invalid);
	assert_true(valid > iters / 5 && invalid > iters / 5 && allowed > iters / 100);
}

/* The kernel's precedence over filters (kernel/seccomp.c: seccomp_run_filters()). */
static uint32_t kernel_chain(const struct sock_fprog *progs, unsigned n,
			     const struct seccomp_data *sd)
{
	uint32_t best = SECCOMP_RET_ALLOW;

	/* the newest is run first; a later one wins only with a strictly lower action */
	for (unsigned i = n; i-- > 0;) {
		uint32_t cur = kernel_run(progs[i].filter, progs[i].len, sd);

		if ((int32_t)(cur & SECCOMP_RET_ACTION_FULL) <
		    (int32_t)(best & SECCOMP_RET_ACTION_FULL))
			best = cur;
	}
	return best;
}

#define CHAIN_ITERS 50000

static void test_chain(void **state)
{
	struct rng r = { fuzz_seed(0xc4a1) };
	unsigned decided = 0, refused = 0, iters = fuzz_iters(CHAIN_ITERS);

	for (unsigned it = 0; it < iters; it++) {
		struct sock_filter f[4][MAX_LEN];
		struct sock_fprog progs[4];
		struct seccomp_data sd;
		unsigned n = 1 + rng_below(&r, 4), nvalid = 0;
		uint32_t ret = 0xdeadbeef, want;
		int err;

		gen_data(&r, &sd);
		for (unsigned i = 0; i < n; i++) {
			progs[i] = (struct sock_fprog){ .filter = f[i] };
			/* mostly valid ones: a chain is refused or decided by those */
			do
				progs[i].len = (unsigned short)gen_prog(&r, f[i], (const uint32_t *)&sd);
			while (!rng_chance(&r, 8) && !kernel_accepts(f[i], progs[i].len));
			nvalid += kernel_accepts(f[i], progs[i].len);
		}
		fuzz_set_case("chain seed 0x%llx iteration %u",
			      (unsigned long long)fuzz_seed(0xc4a1), it);
		err = seccomp_run_filters(progs, n, &sd, &ret);
		if (nvalid == n) {
			want = kernel_chain(progs, n, &sd);
			if (err || ret != want)
				fail_msg("case %s: %d, 0x%x, want 0x%x", fuzz_case, err, ret, want);
			decided++;
			continue;
		}
		/*
		 * A chain the kernel could never hold: the valid filters alone may
		 * still surely deny; an allow is never trusted.
		 */
		{
			struct sock_fprog v[4];
			unsigned m = 0;

			for (unsigned i = 0; i < n; i++)
				if (kernel_accepts(progs[i].filter, progs[i].len))
					v[m++] = progs[i];
			want = kernel_chain(v, m, &sd);
			if ((want & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW ||
			    (want & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_LOG) {
				assert_int_equal(err, -EINVAL);
				refused++;
			} else if (err || ret != want) {
				fail_msg("case %s: %d, 0x%x, want the valid filters' 0x%x", fuzz_case,
					 err, ret, want);
			}
		}
	}
	print_message("chains: %u decided, %u refused\n", decided, refused);
	assert_true(decided > iters / 4 && refused > iters / 100);
}

/*
 * What the fuzzing found: a load of a scratch word stored on no path to
 * it, on a branch not taken. The kernel refuses the whole program (its
 * check is static); seccomp_eval() used to check the path it ran only, and
 * answered ALLOW.
 */
static void test_unstored_load(void **state)
{
	struct sock_filter f[] = {
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), /* A is 0: to the ret */
		BPF_STMT(BPF_LD | BPF_MEM, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };
	struct seccomp_data sd = { .arch = AUDIT_ARCH_X86_64 };
	uint32_t ret = 0xdeadbeef;

	assert_false(kernel_accepts(f, prog.len));
	assert_int_equal(seccomp_eval(&prog, &sd, &ret), -EINVAL);
	/* stored first: accepted, by both */
	f[0] = (struct sock_filter)BPF_STMT(BPF_ST, 0);
	assert_true(kernel_accepts(f, prog.len));
	assert_int_equal(seccomp_eval(&prog, &sd, &ret), 0);
	assert_int_equal(ret, SECCOMP_RET_ALLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_unstored_load),
	};

	fuzz_init();
	fuzz_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
