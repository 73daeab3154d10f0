// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests of seccomp.c: hand-assembled filters, precedence, malformed programs, filters read back from stopped children. */
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

#define LEN(a) ((unsigned short)(sizeof(a) / sizeof((a)[0])))
#define PROG(a) { .len = LEN(a), .filter = (a) }

#define OFF_NR offsetof(struct seccomp_data, nr)
#define OFF_ARCH offsetof(struct seccomp_data, arch)
#define OFF_IP_LO offsetof(struct seccomp_data, instruction_pointer)
#define OFF_IP_HI (OFF_IP_LO + 4)
#define OFF_ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define OFF_ARG_HI(i) (OFF_ARG_LO(i) + 4)

#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define LDW(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))

static const uint64_t no_args[6];

/* The mmap libuprobe injects for a scratch area, at some address. */
static const uint64_t mmap_rx[6] = { 0x7f0000000000, 1 << 20, PROT_READ | PROT_EXEC,
				     MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };
static const uint64_t mmap_r[6] = { 0x7f0000000000, 1 << 20, PROT_READ,
				    MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };

/* seccomp_decide() over the filters progs[0..n), oldest first. */
static int decide_n(struct sock_fprog *progs, unsigned n, long nr, const uint64_t args[6],
		    uint64_t ip, uint32_t *action)
{
	struct seccomp_state st = { .mode = SECCOMP_MODE_FILTER, .progs = progs, .nprogs = n };

	*action = 0xdeadbeef;
	return seccomp_decide(&st, nr, args, ip, action);
}

static int decide1(struct sock_filter *f, unsigned short len, long nr, const uint64_t args[6],
		   uint64_t ip, uint32_t *action)
{
	struct sock_fprog prog = { .len = len, .filter = f };

	return decide_n(&prog, 1, nr, args, ip, action);
}

/* Runs one program on sd; fails the test unless it is accepted. */
static uint32_t run1(struct sock_filter *f, unsigned short len, const struct seccomp_data *sd)
{
	struct sock_fprog prog = { .len = len, .filter = f };
	uint32_t ret = 0xdeadbeef;

	assert_int_equal(seccomp_eval(&prog, sd, &ret), 0);
	return ret;
}

static const struct seccomp_data some_sd = {
	.nr = SYS_mmap,
	.arch = AUDIT_ARCH_X86_64,
	.instruction_pointer = 0x1122334455667788ull,
	.args = { 0xa0a1a2a3a4a5a6a7ull, 0xb0b1b2b3b4b5b6b7ull, 0xc0c1c2c3c4c5c6c7ull,
		  0xd0d1d2d3d4d5d6d7ull, 0xe0e1e2e3e4e5e6e7ull, 0xf0f1f2f3f4f5f6f7ull },
};

/* ---- realistic filters ---- */

static void test_allow_all(void **state)
{
	struct sock_filter f[] = { RET(SECCOMP_RET_ALLOW) };
	uint32_t action;

	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_rx, 0x401000, &action), 1);
	assert_int_equal(action, SECCOMP_RET_ALLOW);
	assert_int_equal(decide1(f, LEN(f), SYS_munmap, no_args, 0x401000, &action), 1);
}

static void test_mmap_errno(void **state)
{
	struct sock_filter f[] = {
		LDW(OFF_NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
		RET(SECCOMP_RET_ERRNO | EPERM),
		RET(SECCOMP_RET_ALLOW),
	};
	uint32_t action;

	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_rx, 0x401000, &action), 0);
	assert_int_equal(action, SECCOMP_RET_ERRNO | EPERM);
	assert_string_equal(seccomp_action_name(action), "errno");
	assert_int_equal(decide1(f, LEN(f), SYS_munmap, mmap_rx, 0x401000, &action), 1);
	assert_int_equal(action, SECCOMP_RET_ALLOW);
}

static void test_mmap_kill_process(void **state)
{
	struct sock_filter f[] = {
		LDW(OFF_NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		RET(SECCOMP_RET_KILL_PROCESS),
	};
	uint32_t action;

	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x401000, &action), 0);
	assert_int_equal(action, SECCOMP_RET_KILL_PROCESS);
	assert_string_equal(seccomp_action_name(action), "kill_process");
	assert_int_equal(decide1(f, LEN(f), SYS_getpid, no_args, 0x401000, &action), 1);
}

/* W^X: mmap with PROT_EXEC in its third argument is refused, any other mmap allowed. */
static void test_argument_dependent(void **state)
{
	struct sock_filter f[] = {
		LDW(OFF_NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 3),
		LDW(OFF_ARG_LO(2)),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
		RET(SECCOMP_RET_ERRNO | EACCES),
		RET(SECCOMP_RET_ALLOW),
	};
	uint64_t hi_only[6] = { 0, 4096, (uint64_t)PROT_EXEC << 32 | PROT_READ, 0, 0, 0 };
	uint64_t other_arg[6] = { 0, 4096, PROT_READ, PROT_EXEC, PROT_EXEC, PROT_EXEC };
	uint32_t action;

	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_rx, 0x401000, &action), 0);
	assert_int_equal(action, SECCOMP_RET_ERRNO | EACCES);
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x401000, &action), 1);
	/* only the low word of args[2] is tested, and only args[2] */
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, hi_only, 0x401000, &action), 1);
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, other_arg, 0x401000, &action), 1);
	assert_int_equal(decide1(f, LEN(f), SYS_mprotect, mmap_rx, 0x401000, &action), 1);
}

static void test_arch_check(void **state)
{
	struct sock_filter f[] = {
		LDW(OFF_ARCH),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		RET(SECCOMP_RET_KILL_PROCESS),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_filter only_i386[] = {
		LDW(OFF_ARCH),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 1, 0),
		RET(SECCOMP_RET_KILL_THREAD),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = PROG(f);
	struct seccomp_data sd = some_sd;
	uint32_t action;

	/* injected calls are 64-bit syscalls */
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_rx, 0x401000, &action), 1);
	assert_int_equal(decide1(only_i386, LEN(only_i386), SYS_mmap, mmap_rx, 0x401000, &action),
			 0);
	assert_int_equal(action, SECCOMP_RET_KILL_THREAD);
	sd.arch = AUDIT_ARCH_I386;
	assert_int_equal(seccomp_run_filters(&prog, 1, &sd, &action), 0);
	assert_int_equal(action, SECCOMP_RET_KILL_PROCESS);
}

/* mmap from [0x7f0000001000, 0x7f0000002000) gets EXDEV: a 64-bit range test on two words. */
static void test_instruction_pointer(void **state)
{
	struct sock_filter f[] = {
		LDW(OFF_NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 6),
		LDW(OFF_IP_HI),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x7f00, 0, 4),
		LDW(OFF_IP_LO),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x1000, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x2000, 1, 0),
		RET(SECCOMP_RET_ERRNO | EXDEV),
		RET(SECCOMP_RET_ALLOW),
	};
	uint32_t action;

	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x7f0000001000, &action), 0);
	assert_int_equal(action, SECCOMP_RET_ERRNO | EXDEV);
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x7f0000001fff, &action), 0);
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x7f0000002000, &action), 1);
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x7f0000000fff, &action), 1);
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x7e0000001800, &action), 1);
	assert_int_equal(decide1(f, LEN(f), SYS_mmap, mmap_r, 0x1800, &action), 1);
	assert_int_equal(decide1(f, LEN(f), SYS_getpid, mmap_r, 0x7f0000001800, &action), 1);
}

/* ---- every instruction class ---- */

struct alu_case {
	uint16_t op;
	uint32_t a, v, want;
};

static void test_alu(void **state)
{
	static const struct alu_case cases[] = {
		{ BPF_ADD, 5, 7, 12 },
		{ BPF_ADD, 0xffffffff, 2, 1 },
		{ BPF_SUB, 5, 7, 0xfffffffe },
		{ BPF_MUL, 0x10000, 0x10001, 0x10000 },
		{ BPF_MUL, 6, 7, 42 },
		{ BPF_DIV, 100, 7, 14 },
		{ BPF_DIV, 0xffffffff, 2, 0x7fffffff }, /* unsigned */
		{ BPF_AND, 0xf0f0, 0xff00, 0xf000 },
		{ BPF_OR, 0xf0f0, 0x0f00, 0xfff0 },
		{ BPF_XOR, 0xf0f0, 0xff00, 0x0ff0 },
		{ BPF_LSH, 1, 31, 0x80000000 },
		{ BPF_LSH, 0x80000001, 1, 2 },
		{ BPF_RSH, 0x80000000, 31, 1 }, /* logical */
		{ BPF_RSH, 0xff, 4, 0xf },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct alu_case *c = &cases[i];
		struct sock_filter k[] = {
			BPF_STMT(BPF_LD | BPF_IMM, c->a),
			BPF_STMT(BPF_ALU | c->op | BPF_K, c->v),
			BPF_STMT(BPF_RET | BPF_A, 0),
		};
		struct sock_filter x[] = {
			BPF_STMT(BPF_LD | BPF_IMM, c->a),
			BPF_STMT(BPF_LDX | BPF_IMM, c->v),
			BPF_STMT(BPF_ALU | c->op | BPF_X, 0),
			BPF_STMT(BPF_RET | BPF_A, 0),
		};

		if (run1(k, LEN(k), &some_sd) != c->want || run1(x, LEN(x), &some_sd) != c->want)
			fail_msg("case %zu: op %#x %#x, %#x: want %#x, got %#x (K) %#x (X)", i, c->op,
				 c->a, c->v, c->want, run1(k, LEN(k), &some_sd),
				 run1(x, LEN(x), &some_sd));
	}

	struct sock_filter neg[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 5),
		BPF_STMT(BPF_ALU | BPF_NEG, 0),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	assert_int_equal(run1(neg, LEN(neg), &some_sd), (uint32_t)-5);

	/* shift counts in X are masked to 5 bits, as in the kernel */
	struct sock_filter shx[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 3),
		BPF_STMT(BPF_LDX | BPF_IMM, 33),
		BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 0),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	assert_int_equal(run1(shx, LEN(shx), &some_sd), 6);

	/* division by X = 0: the kernel's program returns 0, which is KILL_THREAD */
	struct sock_filter div0[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 10),
		BPF_STMT(BPF_LDX | BPF_IMM, 0),
		BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
		RET(SECCOMP_RET_ALLOW),
	};
	uint32_t action;

	assert_int_equal(run1(div0, LEN(div0), &some_sd), 0);
	assert_int_equal(decide1(div0, LEN(div0), SYS_mmap, mmap_r, 0, &action), 0);
	assert_int_equal(action, SECCOMP_RET_KILL_THREAD);
}

struct jmp_case {
	uint16_t op;
	uint32_t a, v;
	bool taken;
};

static void test_jmp(void **state)
{
	static const struct jmp_case cases[] = {
		{ BPF_JEQ, 7, 7, true },
		{ BPF_JEQ, 7, 8, false },
		{ BPF_JGT, 8, 7, true },
		{ BPF_JGT, 7, 7, false },
		{ BPF_JGT, 0x80000000, 1, true }, /* unsigned */
		{ BPF_JGE, 7, 7, true },
		{ BPF_JGE, 6, 7, false },
		{ BPF_JGE, 1, 0xffffffff, false },
		{ BPF_JSET, 0x10, 0x30, true },
		{ BPF_JSET, 0x10, 0x20, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct jmp_case *c = &cases[i];
		/* taken: skip two instructions to 111; not taken: fall through to 222 */
		struct sock_filter k[] = {
			BPF_STMT(BPF_LD | BPF_IMM, c->a),
			BPF_JUMP(BPF_JMP | c->op | BPF_K, c->v, 2, 0),
			RET(222),
			RET(333),
			RET(111),
		};
		struct sock_filter x[] = {
			BPF_STMT(BPF_LDX | BPF_IMM, c->v),
			BPF_STMT(BPF_LD | BPF_IMM, c->a),
			BPF_JUMP(BPF_JMP | c->op | BPF_X, 0, 2, 0),
			RET(222),
			RET(333),
			RET(111),
		};
		uint32_t want = c->taken ? 111 : 222;

		if (run1(k, LEN(k), &some_sd) != want || run1(x, LEN(x), &some_sd) != want)
			fail_msg("case %zu: op %#x %#x, %#x: want %u, got %u (K) %u (X)", i, c->op,
				 c->a, c->v, want, run1(k, LEN(k), &some_sd),
				 run1(x, LEN(x), &some_sd));
	}

	/* jf used too, and an unconditional jump */
	struct sock_filter jf[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 1),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1),
		RET(222),
		BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
		RET(333),
		RET(111),
	};
	assert_int_equal(run1(jf, LEN(jf), &some_sd), 111);
}

static void test_loads_and_stores(void **state)
{
	uint32_t words[sizeof(struct seccomp_data) / 4];

	memcpy(words, &some_sd, sizeof(words));
	/* every word of seccomp_data, native-endian: nr, arch, ip lo/hi, args lo/hi */
	for (uint32_t off = 0; off < sizeof(struct seccomp_data); off += 4) {
		struct sock_filter f[] = { LDW(off), BPF_STMT(BPF_RET | BPF_A, 0) };

		assert_int_equal(run1(f, LEN(f), &some_sd), words[off / 4]);
	}
	assert_int_equal(words[OFF_ARG_HI(2) / 4], 0xc0c1c2c3);

	struct sock_filter len[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0),
		BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	assert_int_equal(run1(len, LEN(len), &some_sd), 2 * sizeof(struct seccomp_data));

	/* all 16 scratch words, stored from A (ST) and X (STX), loaded into X and A */
	struct sock_filter m[2 * BPF_MEMWORDS + 2 * BPF_MEMWORDS + 5];
	unsigned n = 0;
	uint32_t sum = 0;

	for (unsigned i = 0; i < BPF_MEMWORDS; i++) {
		uint32_t v = 1000 + i * 37;

		if (i % 2) {
			m[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_IMM, v);
			m[n++] = (struct sock_filter)BPF_STMT(BPF_STX, i);
		} else {
			m[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, v);
			m[n++] = (struct sock_filter)BPF_STMT(BPF_ST, i);
		}
		sum += v;
	}
	m[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, 0);
	for (unsigned i = 0; i < BPF_MEMWORDS; i++) {
		m[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_MEM, i);
		m[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0);
	}
	/* A = sum; then sum + M[5], through TAX, LD MEM and TXA */
	m[n++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
	m[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_MEM, 5);
	m[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0);
	m[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	assert_true(n <= ARRAY_SIZE(m));
	assert_int_equal(run1(m, (unsigned short)n, &some_sd), sum + 1000 + 5 * 37);

	struct sock_filter txa[] = {
		BPF_STMT(BPF_LDX | BPF_IMM, 0x1234),
		BPF_STMT(BPF_LD | BPF_IMM, 1),
		BPF_STMT(BPF_MISC | BPF_TXA, 0),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	assert_int_equal(run1(txa, LEN(txa), &some_sd), 0x1234);
}

/* ---- several filters ---- */

struct stack_case {
	uint32_t rets[3];
	unsigned n;
	uint32_t want;
	int allowed;
};

static void test_stacked_precedence(void **state)
{
	static const struct stack_case cases[] = {
		{ { SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | 1, SECCOMP_RET_LOG }, 3,
		  SECCOMP_RET_ERRNO | 1, 0 },
		{ { SECCOMP_RET_LOG, SECCOMP_RET_ALLOW }, 2, SECCOMP_RET_LOG, 1 },
		{ { SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW }, 3, SECCOMP_RET_ALLOW,
		  1 },
		/* TRACE: libuprobe never asks for seccomp stops, the call gets ENOSYS */
		{ { SECCOMP_RET_LOG, SECCOMP_RET_TRACE }, 2, SECCOMP_RET_TRACE, 0 },
		{ { SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF }, 2, SECCOMP_RET_USER_NOTIF, 0 },
		{ { SECCOMP_RET_USER_NOTIF, SECCOMP_RET_ERRNO | 9 }, 2, SECCOMP_RET_ERRNO | 9, 0 },
		{ { SECCOMP_RET_ERRNO | 9, SECCOMP_RET_TRAP | 3 }, 2, SECCOMP_RET_TRAP | 3, 0 },
		{ { SECCOMP_RET_TRAP, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_ALLOW }, 3,
		  SECCOMP_RET_KILL_THREAD, 0 },
		/* KILL_PROCESS is negative as a signed value: it beats KILL_THREAD (0) */
		{ { SECCOMP_RET_KILL_THREAD, SECCOMP_RET_KILL_PROCESS }, 2, SECCOMP_RET_KILL_PROCESS,
		  0 },
		{ { SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRAP }, 3,
		  SECCOMP_RET_KILL_PROCESS, 0 },
		/* the data bits do not rank: the newest (last) of equal actions is kept */
		{ { SECCOMP_RET_ERRNO | 5, SECCOMP_RET_ERRNO | 1 }, 2, SECCOMP_RET_ERRNO | 1, 0 },
		{ { SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ERRNO | 5 }, 2, SECCOMP_RET_ERRNO | 5, 0 },
		/* an action the kernel does not know kills */
		{ { SECCOMP_RET_ALLOW, 0x00010000 }, 2, 0x00010000, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct stack_case *c = &cases[i];
		struct sock_filter f[3][1];
		struct sock_fprog progs[3];
		uint32_t action;
		int r;

		for (unsigned j = 0; j < c->n; j++) {
			f[j][0] = (struct sock_filter)RET(c->rets[j]);
			progs[j] = (struct sock_fprog){ .len = 1, .filter = f[j] };
		}
		r = decide_n(progs, c->n, SYS_mmap, mmap_rx, 0x401000, &action);
		if (r != c->allowed || action != c->want)
			fail_msg("case %zu: want %d %#x, got %d %#x", i, c->allowed, c->want, r, action);
	}
}

/* A real stack: arch check, a syscall list, and a W^X argument filter. */
static void test_stacked_realistic(void **state)
{
	struct sock_filter arch[] = {
		LDW(OFF_ARCH),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		RET(SECCOMP_RET_KILL_PROCESS),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_filter deny_ptrace[] = {
		LDW(OFF_NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 0, 1),
		RET(SECCOMP_RET_ERRNO | EPERM),
		RET(SECCOMP_RET_LOG),
	};
	struct sock_filter wx[] = {
		LDW(OFF_NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 4),
		LDW(OFF_ARG_LO(2)),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 0, 1),
		RET(SECCOMP_RET_TRAP),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog progs[] = { PROG(wx), PROG(deny_ptrace), PROG(arch) };
	uint64_t rwx[6] = { 0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE, -1, 0 };
	uint32_t action;

	assert_int_equal(decide_n(progs, 3, SYS_mmap, mmap_rx, 0x401000, &action), 1);
	assert_int_equal(action, SECCOMP_RET_LOG);
	assert_int_equal(decide_n(progs, 3, SYS_mmap, rwx, 0x401000, &action), 0);
	assert_int_equal(action, SECCOMP_RET_TRAP);
	assert_int_equal(decide_n(progs, 3, SYS_ptrace, no_args, 0x401000, &action), 0);
	assert_int_equal(action, SECCOMP_RET_ERRNO | EPERM);
	assert_int_equal(decide_n(progs, 3, SYS_munmap, mmap_rx, 0x401000, &action), 1);
}

/* ---- malformed programs: the kernel would not have accepted them ---- */

static void test_malformed(void **state)
{
	struct sock_filter ja_out[] = { BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0), RET(0) };
	struct sock_filter jt_out[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), RET(0) };
	struct sock_filter jf_out[] = { BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 5), RET(0) };
	struct sock_filter ja_huge[] = { BPF_JUMP(BPF_JMP | BPF_JA, 0xffffffff, 0, 0), RET(0) };
	struct sock_filter no_ret[] = { LDW(OFF_NR), BPF_STMT(BPF_LD | BPF_IMM, 1) };
	struct sock_filter st_bad[] = { BPF_STMT(BPF_ST, 16), RET(SECCOMP_RET_ALLOW) };
	struct sock_filter stx_bad[] = { BPF_STMT(BPF_STX, 0xffffffff), RET(SECCOMP_RET_ALLOW) };
	struct sock_filter ld_bad[] = { BPF_STMT(BPF_LD | BPF_MEM, 16), RET(SECCOMP_RET_ALLOW) };
	struct sock_filter ldx_bad[] = { BPF_STMT(BPF_LDX | BPF_MEM, 99),
					 RET(SECCOMP_RET_ALLOW) };
	/* a word never stored on the path taken: the kernel's load/store check refuses it */
	struct sock_filter ld_unset[] = { BPF_STMT(BPF_LD | BPF_MEM, 3),
					  BPF_STMT(BPF_RET | BPF_A, 0) };
	struct sock_filter abs_unaligned[] = { LDW(2), RET(SECCOMP_RET_ALLOW) };
	struct sock_filter abs_out[] = { LDW(sizeof(struct seccomp_data)),
					 RET(SECCOMP_RET_ALLOW) };
	struct sock_filter ld_half[] = { BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0),
					 RET(SECCOMP_RET_ALLOW) };
	struct sock_filter ld_ind[] = { BPF_STMT(BPF_LD | BPF_W | BPF_IND, 0),
					RET(SECCOMP_RET_ALLOW) };
	struct sock_filter mod[] = { BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3),
				     RET(SECCOMP_RET_ALLOW) };
	struct sock_filter div_k0[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0),
					RET(SECCOMP_RET_ALLOW) };
	struct sock_filter lsh_k32[] = { BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32),
					 RET(SECCOMP_RET_ALLOW) };
	struct sock_filter rsh_k40[] = { BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 40),
					 RET(SECCOMP_RET_ALLOW) };
	struct sock_filter bad_code[] = { { 0xffff, 0, 0, 0 }, RET(SECCOMP_RET_ALLOW) };
	struct sock_filter ret_x[] = { BPF_STMT(BPF_RET | BPF_X, 0) };
	struct sock_fprog bad[] = {
		PROG(ja_out), PROG(jt_out), PROG(jf_out), PROG(ja_huge), PROG(no_ret),
		PROG(st_bad), PROG(stx_bad), PROG(ld_bad), PROG(ldx_bad), PROG(ld_unset),
		PROG(abs_unaligned), PROG(abs_out), PROG(ld_half), PROG(ld_ind), PROG(mod),
		PROG(div_k0), PROG(lsh_k32), PROG(rsh_k40), PROG(bad_code), PROG(ret_x),
		{ .len = 0, .filter = ja_out },
		{ .len = 1, .filter = NULL },
	};
	uint32_t action;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint32_t ret = 0x5555;
		int r = seccomp_eval(&bad[i], &some_sd, &ret);

		if (r != -EINVAL || ret != 0x5555)
			fail_msg("program %zu: seccomp_eval -> %d, ret %#x", i, r, ret);
		r = decide_n(&bad[i], 1, SYS_mmap, mmap_rx, 0x401000, &action);
		if (r != -EINVAL)
			fail_msg("program %zu: decide -> %d", i, r);
	}

	/* longer than BPF_MAXINSNS */
	struct sock_filter *big = calloc(BPF_MAXINSNS + 1, sizeof(*big));

	assert_non_null(big);
	for (unsigned i = 0; i <= BPF_MAXINSNS; i++)
		big[i] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
	struct sock_fprog bigp = { .len = BPF_MAXINSNS + 1, .filter = big };
	struct sock_fprog maxp = { .len = BPF_MAXINSNS, .filter = big };

	assert_int_equal(decide_n(&bigp, 1, SYS_mmap, mmap_rx, 0, &action), -EINVAL);
	assert_int_equal(decide_n(&maxp, 1, SYS_mmap, mmap_rx, 0, &action), 1);
	free(big);

	/* a filter that surely denies decides; one that allows leaves the malformed one unknown */
	struct sock_filter deny[] = { RET(SECCOMP_RET_ERRNO | 1) };
	struct sock_filter allow[] = { RET(SECCOMP_RET_ALLOW) };
	struct sock_fprog deny_bad[] = { PROG(deny), PROG(ja_out) };
	struct sock_fprog bad_deny[] = { PROG(no_ret), PROG(deny) };
	struct sock_fprog allow_bad[] = { PROG(allow), PROG(st_bad) };

	assert_int_equal(decide_n(deny_bad, 2, SYS_mmap, mmap_rx, 0, &action), 0);
	assert_int_equal(action, SECCOMP_RET_ERRNO | 1);
	assert_int_equal(decide_n(bad_deny, 2, SYS_mmap, mmap_rx, 0, &action), 0);
	assert_int_equal(decide_n(allow_bad, 2, SYS_mmap, mmap_rx, 0, &action), -EINVAL);
}

/* ---- modes, and filters that could not be read ---- */

static void test_state(void **state)
{
	struct seccomp_state none = { .mode = SECCOMP_MODE_DISABLED };
	struct seccomp_state strict = { .mode = SECCOMP_MODE_STRICT };
	struct seccomp_state eacces = { .mode = SECCOMP_MODE_FILTER, .err = -EACCES };
	struct seccomp_state ebpf = { .mode = SECCOMP_MODE_FILTER, .err = -EMEDIUMTYPE };
	struct seccomp_state gone = { .err = -ESRCH };
	struct seccomp_state odd = { .mode = 7 };
	uint32_t action = 0;

	assert_int_equal(seccomp_decide(&none, SYS_mmap, mmap_rx, 0, &action), 1);
	assert_int_equal(action, SECCOMP_RET_ALLOW);
	assert_int_equal(seccomp_decide(&strict, SYS_mmap, mmap_rx, 0, &action), 0);
	assert_int_equal(action, SECCOMP_RET_KILL_THREAD);
	assert_int_equal(seccomp_decide(&strict, SYS_munmap, mmap_rx, 0, &action), 0);
	assert_int_equal(seccomp_decide(&strict, SYS_write, no_args, 0, &action), 1);
	assert_int_equal(seccomp_decide(&strict, SYS_rt_sigreturn, no_args, 0, &action), 1);
	assert_int_equal(seccomp_decide(&eacces, SYS_mmap, mmap_rx, 0, &action), -EACCES);
	assert_int_equal(seccomp_decide(&ebpf, SYS_mmap, mmap_rx, 0, &action), -EMEDIUMTYPE);
	assert_int_equal(seccomp_decide(&gone, SYS_mmap, mmap_rx, 0, &action), -ESRCH);
	assert_int_equal(seccomp_decide(&odd, SYS_mmap, mmap_rx, 0, &action), -EINVAL);
	/* no filter at all: allowed */
	assert_int_equal(decide_n(NULL, 0, SYS_mmap, mmap_rx, 0, &action), 1);
}

/* ---- filters read back from real, ptrace-stopped children ---- */

/*
 * do_getpid() makes getpid through a syscall instruction at sc_at; the
 * kernel shows filters sc_after = sc_at + 2 as its instruction pointer.
 */
extern char sc_at[], sc_after[];
long do_getpid(void);
__asm__(".text\n"
	".globl do_getpid\n"
	".type do_getpid, @function\n"
	"do_getpid:\n"
	"	mov $39, %eax\n"
	".globl sc_at\n"
	"sc_at:\n"
	"	syscall\n"
	".globl sc_after\n"
	"sc_after:\n"
	"	ret\n"
	".size do_getpid, .-do_getpid\n");

static int install(struct sock_filter *f, unsigned short len)
{
	struct sock_fprog prog = { .len = len, .filter = f };

	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* mmap with PROT_EXEC gets EACCES: installed first */
static struct sock_filter child_wx[] = {
	LDW(OFF_NR),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 3),
	LDW(OFF_ARG_LO(2)),
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
	RET(SECCOMP_RET_ERRNO | EACCES),
	RET(SECCOMP_RET_ALLOW),
};

/* getpid from sc_at gets 77: its ip words are patched in before install */
static struct sock_filter child_ip[] = {
	LDW(OFF_NR),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 5),
	LDW(OFF_IP_LO),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0 /* ip lo */, 0, 3),
	LDW(OFF_IP_HI),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0 /* ip hi */, 0, 1),
	RET(SECCOMP_RET_ERRNO | 77),
	RET(SECCOMP_RET_ALLOW),
};

static void set_child_ip(void)
{
	child_ip[3].k = (uint32_t)(uintptr_t)sc_after;
	child_ip[5].k = (uint32_t)((uint64_t)(uintptr_t)sc_after >> 32);
}

/*
 * A traced child stopped by its own SIGSTOP, after installing the filters
 * when `filters`; once resumed it exits with 0 when its getpid from sc_at
 * got the filter's 77 (or any getpid when there are no filters).
 */
static pid_t stopped_child(bool filters)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		long r;

		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(10);
		if (filters && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
				install(child_wx, LEN(child_wx)) || install(child_ip, LEN(child_ip))))
			_exit(11);
		raise(SIGSTOP);
		r = do_getpid();
		_exit(filters ? (r == -77 ? 0 : 12) : (r == getpid() ? 0 : 13));
	}
	if (waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		return -1;
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, __WALL);
}

static bool can_read_filters(void)
{
	return geteuid() == 0;
}

static void test_read_real(void **state)
{
	struct seccomp_state st;
	uint32_t action;
	pid_t pid;
	int s;

	if (!can_read_filters())
		skip(); /* PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN */
	set_child_ip();
	pid = stopped_child(true);
	assert_true(pid > 0);
	if (seccomp_read(pid, &st) == -EIO) { /* a kernel without CONFIG_CHECKPOINT_RESTORE */
		reap(pid);
		skip();
	}
	assert_int_equal(st.err, 0);
	assert_int_equal(st.mode, SECCOMP_MODE_FILTER);
	assert_int_equal(st.nprogs, 2);
	/* the programs as installed; the kernel gives the oldest at index 0 */
	assert_int_equal(st.progs[0].len, LEN(child_wx));
	assert_memory_equal(st.progs[0].filter, child_wx, sizeof(child_wx));
	assert_int_equal(st.progs[1].len, LEN(child_ip));
	assert_memory_equal(st.progs[1].filter, child_ip, sizeof(child_ip));

	assert_int_equal(seccomp_decide(&st, SYS_mmap, mmap_rx, 0x401000, &action), 0);
	assert_int_equal(action, SECCOMP_RET_ERRNO | EACCES);
	assert_int_equal(seccomp_decide(&st, SYS_mmap, mmap_r, 0x401000, &action), 1);
	assert_int_equal(seccomp_decide(&st, SYS_getpid, no_args, (uintptr_t)sc_at + 2, &action),
			 0);
	assert_int_equal(action, SECCOMP_RET_ERRNO | 77);
	assert_int_equal(seccomp_decide(&st, SYS_getpid, no_args, (uintptr_t)sc_at, &action), 1);
	seccomp_state_free(&st);
	assert_int_equal(seccomp_syscall_allowed(pid, SYS_mmap, mmap_r, 0x401000), 1);
	assert_int_equal(seccomp_syscall_allowed(pid, SYS_mmap, mmap_rx, 0x401000), 0);

	/* the kernel agrees: the same getpid from sc_at, now really made, gets 77 */
	assert_int_equal(ptrace(PTRACE_CONT, pid, NULL, NULL), 0);
	assert_int_equal(waitpid(pid, &s, __WALL), pid);
	assert_true(WIFEXITED(s));
	assert_int_equal(WEXITSTATUS(s), 0);
}

static void test_read_unfiltered(void **state)
{
	struct seccomp_state st;
	pid_t pid = stopped_child(false);

	assert_true(pid > 0);
	assert_int_equal(seccomp_read(pid, &st), 0);
	assert_int_equal(st.mode, SECCOMP_MODE_DISABLED);
	assert_int_equal(st.nprogs, 0);
	assert_int_equal(seccomp_syscall_allowed(pid, SYS_mmap, mmap_rx, 0x401000), 1);
	reap(pid);
	/* a thread that is gone */
	assert_int_equal(seccomp_read(pid, &st), -ESRCH);
	assert_int_equal(seccomp_syscall_allowed(pid, SYS_mmap, mmap_rx, 0x401000), -ESRCH);
}

static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	return (int)syscall(SYS_capset, &hdr, data);
}

/*
 * In a child of the test (so the test keeps its privileges): a tracer that
 * may not read filters, because it lost CAP_SYS_ADMIN or runs under seccomp
 * itself. A filtered tracee is then unknown (EACCES), an unfiltered one
 * still certainly allowed.
 */
static void read_denied(bool by_seccomp)
{
	pid_t helper = fork();
	int st;

	assert_true(helper >= 0);
	if (helper == 0) {
		struct sock_filter allow[] = { RET(SECCOMP_RET_ALLOW) };
		struct seccomp_state s;
		pid_t filtered = stopped_child(true), plain = stopped_child(false);
		int bad = 0;

		if (filtered < 0 || plain < 0)
			_exit(100);
		if (by_seccomp ? prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || install(allow, 1)
			       : drop_sys_admin())
			_exit(101);
		if (seccomp_read(filtered, &s) != -EACCES || s.err != -EACCES ||
		    s.mode != SECCOMP_MODE_FILTER || s.nprogs)
			bad |= 1;
		if (seccomp_decide(&s, SYS_mmap, mmap_r, 0x401000, NULL) != -EACCES)
			bad |= 2;
		if (seccomp_syscall_allowed(filtered, SYS_mmap, mmap_r, 0x401000) != -EACCES)
			bad |= 4;
		if (seccomp_syscall_allowed(plain, SYS_mmap, mmap_rx, 0x401000) != 1)
			bad |= 8;
		kill(filtered, SIGKILL);
		kill(plain, SIGKILL);
		_exit(bad);
	}
	assert_int_equal(waitpid(helper, &st, 0), helper);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st))
		fail_msg("%s: helper failed with %d", by_seccomp ? "seccomp" : "no CAP_SYS_ADMIN",
			 WEXITSTATUS(st));
}

static void test_read_eacces(void **state)
{
	if (!can_read_filters())
		skip();
	read_denied(false);
	read_denied(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_all),
		cmocka_unit_test(test_mmap_errno),
		cmocka_unit_test(test_mmap_kill_process),
		cmocka_unit_test(test_argument_dependent),
		cmocka_unit_test(test_arch_check),
		cmocka_unit_test(test_instruction_pointer),
		cmocka_unit_test(test_alu),
		cmocka_unit_test(test_jmp),
		cmocka_unit_test(test_loads_and_stores),
		cmocka_unit_test(test_stacked_precedence),
		cmocka_unit_test(test_stacked_realistic),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_read_real),
		cmocka_unit_test(test_read_unfiltered),
		cmocka_unit_test(test_read_eacces),
	};

	alarm(60); /* every wait below is on a child that exits or stops at once */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
