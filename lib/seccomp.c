// SPDX-License-Identifier: LGPL-2.1-or-later
/* Would a tracee's seccomp filters let an injected system call through? Its classic-BPF filters, read back and run here. */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"

/*
 * The kernel keeps at most 256 KiB of instructions per filter chain, with 4
 * instructions of penalty per filter: no chain holds more filters than this.
 */
#define MAX_FILTERS ((1 << 18) / sizeof(struct sock_filter) / 5)

/*
 * What the kernel accepts from a seccomp filter: bpf_check_classic() (known
 * opcode, no division by a constant 0, no constant shift of 32 or more,
 * scratch index below BPF_MEMWORDS, jumps inside the program), then
 * seccomp_check_filter() (its narrower opcode list: no packet loads but
 * aligned 32-bit loads inside struct seccomp_data, no MOD).
 */
static bool insn_valid(const struct sock_filter *f, unsigned pc, unsigned len)
{
	unsigned after = len - pc - 1; /* instructions after this one */

	switch (f->code) {
	case BPF_LD | BPF_W | BPF_ABS:
		return f->k < sizeof(struct seccomp_data) && !(f->k & 3);
	case BPF_LD | BPF_W | BPF_LEN:
	case BPF_LDX | BPF_W | BPF_LEN:
	case BPF_LD | BPF_IMM:
	case BPF_LDX | BPF_IMM:
	case BPF_MISC | BPF_TAX:
	case BPF_MISC | BPF_TXA:
	case BPF_RET | BPF_K:
	case BPF_RET | BPF_A:
	case BPF_ALU | BPF_ADD | BPF_K:
	case BPF_ALU | BPF_ADD | BPF_X:
	case BPF_ALU | BPF_SUB | BPF_K:
	case BPF_ALU | BPF_SUB | BPF_X:
	case BPF_ALU | BPF_MUL | BPF_K:
	case BPF_ALU | BPF_MUL | BPF_X:
	case BPF_ALU | BPF_DIV | BPF_X:
	case BPF_ALU | BPF_AND | BPF_K:
	case BPF_ALU | BPF_AND | BPF_X:
	case BPF_ALU | BPF_OR | BPF_K:
	case BPF_ALU | BPF_OR | BPF_X:
	case BPF_ALU | BPF_XOR | BPF_K:
	case BPF_ALU | BPF_XOR | BPF_X:
	case BPF_ALU | BPF_LSH | BPF_X:
	case BPF_ALU | BPF_RSH | BPF_X:
	case BPF_ALU | BPF_NEG:
		return true;
	case BPF_ALU | BPF_DIV | BPF_K:
		return f->k != 0;
	case BPF_ALU | BPF_LSH | BPF_K:
	case BPF_ALU | BPF_RSH | BPF_K:
		return f->k < 32;
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_MEM:
	case BPF_ST:
	case BPF_STX:
		return f->k < BPF_MEMWORDS;
	case BPF_JMP | BPF_JA:
		return f->k < after;
	case BPF_JMP | BPF_JEQ | BPF_K:
	case BPF_JMP | BPF_JEQ | BPF_X:
	case BPF_JMP | BPF_JGT | BPF_K:
	case BPF_JMP | BPF_JGT | BPF_X:
	case BPF_JMP | BPF_JGE | BPF_K:
	case BPF_JMP | BPF_JGE | BPF_X:
	case BPF_JMP | BPF_JSET | BPF_K:
	case BPF_JMP | BPF_JSET | BPF_X:
		return f->jt < after && f->jf < after;
	default:
		return false;
	}
}

/*
 * The last check of bpf_check_classic(), check_load_and_stores(): a scratch
 * word may be loaded only where every path to the load stored it. It is
 * static, so the kernel refuses a program whose load would never run too:
 * checking only the path taken would give a verdict for a filter the kernel
 * can never hold.
 */
static bool loads_after_stores(const struct sock_filter *f, unsigned len)
{
	uint16_t masks[BPF_MAXINSNS], memvalid = 0; /* one bit per scratch word */

	memset(masks, 0xff, len * sizeof(*masks));
	for (unsigned pc = 0; pc < len; pc++) {
		memvalid &= masks[pc];
		switch (f[pc].code) {
		case BPF_ST:
		case BPF_STX:
			memvalid |= 1u << f[pc].k;
			break;
		case BPF_LD | BPF_MEM:
		case BPF_LDX | BPF_MEM:
			if (!(memvalid & (1u << f[pc].k)))
				return false;
			break;
		default:
			if (BPF_CLASS(f[pc].code) != BPF_JMP)
				break;
			/* insn_valid() keeps every target inside the program */
			if (BPF_OP(f[pc].code) == BPF_JA) {
				masks[pc + 1 + f[pc].k] &= memvalid;
			} else {
				masks[pc + 1 + f[pc].jt] &= memvalid;
				masks[pc + 1 + f[pc].jf] &= memvalid;
			}
			memvalid = 0xffff;
			break;
		}
	}
	return true;
}

static uint32_t alu(uint16_t op, uint32_t a, uint32_t v)
{
	switch (op) {
	case BPF_ADD:
		return a + v;
	case BPF_SUB:
		return a - v;
	case BPF_MUL:
		return a * v;
	case BPF_DIV:
		return a / v; /* v != 0: checked by the caller */
	case BPF_AND:
		return a & v;
	case BPF_OR:
		return a | v;
	case BPF_XOR:
		return a ^ v;
	/* the kernel's interpreter masks shift counts, as x86 shifts do in its JIT */
	case BPF_LSH:
		return a << (v & 31);
	case BPF_RSH:
		return a >> (v & 31);
	default: /* BPF_NEG */
		return -a;
	}
}

static bool jump_taken(uint16_t op, uint32_t a, uint32_t v)
{
	switch (op) {
	case BPF_JEQ:
		return a == v;
	case BPF_JGT:
		return a > v;
	case BPF_JGE:
		return a >= v;
	default: /* BPF_JSET */
		return a & v;
	}
}

int seccomp_eval(const struct sock_fprog *prog, const struct seccomp_data *sd, uint32_t *ret)
{
	uint32_t data[sizeof(*sd) / 4], a = 0, x = 0, mem[BPF_MEMWORDS];
	unsigned len = prog ? prog->len : 0;

	if (!len || len > BPF_MAXINSNS || !prog->filter)
		return -EINVAL;
	for (unsigned pc = 0; pc < len; pc++)
		if (!insn_valid(&prog->filter[pc], pc, len))
			return -EINVAL;
	if (BPF_CLASS(prog->filter[len - 1].code) != BPF_RET ||
	    !loads_after_stores(prog->filter, len))
		return -EINVAL;
	/* the kernel loads native-endian 32-bit words of struct seccomp_data */
	memcpy(data, sd, sizeof(data));

	/* every jump goes forward: at most len instructions run */
	for (unsigned pc = 0; pc < len; pc++) {
		const struct sock_filter *f = &prog->filter[pc];

		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			if (BPF_MODE(f->code) == BPF_ABS)
				a = data[f->k / 4];
			else if (BPF_MODE(f->code) == BPF_LEN)
				a = sizeof(*sd);
			else if (BPF_MODE(f->code) == BPF_IMM)
				a = f->k;
			else
				a = mem[f->k]; /* stored before: loads_after_stores() */
			break;
		case BPF_LDX:
			if (BPF_MODE(f->code) == BPF_LEN)
				x = sizeof(*sd);
			else if (BPF_MODE(f->code) == BPF_IMM)
				x = f->k;
			else
				x = mem[f->k];
			break;
		case BPF_ST:
		case BPF_STX:
			mem[f->k] = BPF_CLASS(f->code) == BPF_ST ? a : x;
			break;
		case BPF_ALU: {
			uint32_t v = BPF_SRC(f->code) == BPF_X ? x : f->k;

			if (BPF_OP(f->code) == BPF_DIV && v == 0) {
				/* only DIV X gets here: the kernel's program then returns 0 */
				*ret = SECCOMP_RET_KILL_THREAD;
				return 0;
			}
			a = alu(BPF_OP(f->code), a, v);
			break;
		}
		case BPF_JMP: {
			uint32_t v = BPF_SRC(f->code) == BPF_X ? x : f->k;

			if (BPF_OP(f->code) == BPF_JA)
				pc += f->k;
			else
				pc += jump_taken(BPF_OP(f->code), a, v) ? f->jt : f->jf;
			break;
		}
		case BPF_RET:
			*ret = BPF_RVAL(f->code) == BPF_A ? a : f->k;
			return 0;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		}
	}
	return -EINVAL; /* not reached: the last instruction returns */
}

/* An action's place in the kernel's precedence: the lowest wins, KILL_PROCESS being negative. */
static int32_t action_rank(uint32_t ret)
{
	return (int32_t)(ret & SECCOMP_RET_ACTION_FULL);
}

static bool action_allows(uint32_t ret)
{
	uint32_t action = ret & SECCOMP_RET_ACTION_FULL;

	/*
	 * TRACE without PTRACE_O_TRACESECCOMP (libuprobe never sets it) fails
	 * the call with ENOSYS; USER_NOTIF waits on another process's answer.
	 */
	return action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG;
}

int seccomp_run_filters(const struct sock_fprog *progs, unsigned n, const struct seccomp_data *sd,
			uint32_t *ret)
{
	uint32_t best = SECCOMP_RET_ALLOW;
	int err = 0;

	/* newest first, as the kernel runs them: of equal actions, the newest one's data is kept */
	for (unsigned i = n; i-- > 0;) {
		uint32_t cur;
		int r = seccomp_eval(&progs[i], sd, &cur);

		if (r < 0)
			err = r;
		else if (action_rank(cur) < action_rank(best))
			best = cur;
	}
	*ret = best;
	/* a filter that surely denies decides, whatever a malformed one would say */
	if (err && action_allows(best))
		return err;
	return 0;
}

const char *seccomp_action_name(uint32_t ret)
{
	switch (ret & SECCOMP_RET_ACTION_FULL) {
	case SECCOMP_RET_KILL_PROCESS:
		return "kill_process";
	case SECCOMP_RET_KILL_THREAD:
		return "kill_thread";
	case SECCOMP_RET_TRAP:
		return "trap";
	case SECCOMP_RET_ERRNO:
		return "errno";
	case SECCOMP_RET_USER_NOTIF:
		return "user_notif";
	case SECCOMP_RET_TRACE:
		return "trace";
	case SECCOMP_RET_LOG:
		return "log";
	case SECCOMP_RET_ALLOW:
		return "allow";
	default:
		return "unknown action, a kill";
	}
}

int seccomp_decide(const struct seccomp_state *st, long nr, const uint64_t args[6], uint64_t ip,
		   uint32_t *action)
{
	struct seccomp_data sd = {
		.nr = (int)nr,
		.arch = AUDIT_ARCH_X86_64, /* the 64-bit syscall instruction */
		.instruction_pointer = ip,
	};
	uint32_t ret = SECCOMP_RET_ALLOW;
	int err;

	if (st->err)
		return st->err;
	switch (st->mode) {
	case SECCOMP_MODE_DISABLED:
		break;
	case SECCOMP_MODE_STRICT:
		/* its fixed list; anything else kills the thread */
		if (nr != SYS_read && nr != SYS_write && nr != SYS_exit && nr != SYS_rt_sigreturn)
			ret = SECCOMP_RET_KILL_THREAD;
		break;
	case SECCOMP_MODE_FILTER:
		memcpy(sd.args, args, sizeof(sd.args));
		err = seccomp_run_filters(st->progs, st->nprogs, &sd, &ret);
		if (err)
			return err;
		break;
	default:
		return -EINVAL;
	}
	if (action)
		*action = ret;
	return action_allows(ret);
}

void seccomp_state_free(struct seccomp_state *st)
{
	for (unsigned i = 0; i < st->nprogs; i++)
		free(st->progs[i].filter);
	free(st->progs);
	st->progs = NULL;
	st->nprogs = 0;
}

/*
 * Filter idx of tid into *prog; -ENOENT past the last. ptrace(2) calls 0 the
 * newest, but the kernel's get_nth_filter() counts from the oldest (checked
 * on 6.18). Only the data bits of tied actions depend on it, never a verdict.
 */
static int read_filter(pid_t tid, unsigned long idx, struct sock_fprog *prog)
{
	long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, NULL), m;

	if (n < 0)
		return -errno;
	if (n == 0 || n > BPF_MAXINSNS)
		return -EINVAL;
	prog->filter = calloc(n, sizeof(*prog->filter));
	if (!prog->filter)
		return -ENOMEM;
	prog->len = (unsigned short)n;
	m = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, prog->filter);
	if (m != n)
		return m < 0 ? -errno : -EAGAIN;
	return 0;
}

int seccomp_read(pid_t tid, struct seccomp_state *st)
{
	char path[64], line[128];
	const char *v;
	int err = 0;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	v = procfs_status_field(path, "Seccomp:", line, sizeof(line));
	if (!v) {
		/* a kernel without seccomp has no such line */
		if (access(path, R_OK) < 0) {
			st->err = -ESRCH;
			return st->err;
		}
		return 0;
	}
	st->mode = atoi(v);
	if (st->mode != SECCOMP_MODE_FILTER)
		return 0;
	/*
	 * Needs CAP_SYS_ADMIN, a tracer outside seccomp and tid in a
	 * ptrace-stop; else EACCES or ESRCH. A filter kept without its
	 * classic program gives EMEDIUMTYPE.
	 */
	for (unsigned long idx = 0;; idx++) {
		struct sock_fprog *progs;

		if (idx == MAX_FILTERS) {
			err = -E2BIG;
			break;
		}
		progs = reallocarray(st->progs, idx + 1, sizeof(*progs));
		if (!progs) {
			err = -ENOMEM;
			break;
		}
		st->progs = progs;
		memset(&progs[idx], 0, sizeof(progs[idx]));
		st->nprogs = idx + 1;
		err = read_filter(tid, idx, &progs[idx]);
		if (err == -ENOENT && idx > 0) {
			free(progs[idx].filter);
			st->nprogs = idx;
			err = 0;
			break;
		}
		if (err)
			break;
	}
	if (err) {
		seccomp_state_free(st);
		st->err = err;
	}
	return err;
}

int seccomp_syscall_allowed(pid_t tid, long nr, const uint64_t args[6], uint64_t ip)
{
	struct seccomp_state st;
	int r;

	seccomp_read(tid, &st);
	r = seccomp_decide(&st, nr, args, ip, NULL);
	seccomp_state_free(&st);
	return r;
}
