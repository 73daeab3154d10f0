// SPDX-License-Identifier: LGPL-2.1-or-later
/* Entry probes on PIE and non-PIE programs: hits, arguments, registers, offsets, several probes. */
#include <libgen.h>

#include "tracee_test.h"

static const char *g_target; /* set per group: api_basic or api_basic_nopie */
static const char *g_targets[2];

#define N_CALLS 25

static pid_t spawn_target(struct ctx *c, const char *n)
{
	char *argv[] = { (char *)g_target, (char *)n, NULL };

	return spawn_or_fail(c, argv);
}

/* ---- entry probe: hits, arguments, address, pid/tid, memory reads ---- */

struct f_rec {
	uint64_t calls;
	int64_t arg0[64];
	uint64_t addr;
	int addr_changes;
	pid_t pid, tid;
	int id_mismatch;
	uint64_t rip_mismatch;
};

static int on_f(struct uprobe_hit *h, void *data)
{
	struct f_rec *r = data;
	uint64_t a = uprobe_hit_addr(h);

	if (r->calls < 64)
		r->arg0[r->calls] = (int32_t)uprobe_hit_arg(h, 0);
	if (r->calls == 0) {
		r->addr = a;
		r->pid = uprobe_hit_pid(h);
		r->tid = uprobe_hit_tid(h);
	} else {
		if (a != r->addr)
			r->addr_changes++;
		if (r->pid != uprobe_hit_pid(h) || r->tid != uprobe_hit_tid(h))
			r->id_mismatch++;
	}
	if (uprobe_hit_regs(h)->rip != a)
		r->rip_mismatch++;
	r->calls++;
	return 0;
}

struct args_rec {
	int n;
	int64_t arg[8][8];
	int64_t stack[8][2]; /* [rsp+8], [rsp+16] read independently */
	uint64_t ret[8];     /* [rsp]: the return address */
};

static int on_args8(struct uprobe_hit *h, void *data)
{
	struct args_rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);

	if (r->n >= 8)
		return 0;
	for (unsigned k = 0; k < 8; k++)
		r->arg[r->n][k] = (int64_t)uprobe_hit_arg(h, k);
	if (uprobe_hit_read(h, regs->rsp + 8, r->stack[r->n], 16) != 16)
		r->stack[r->n][0] = r->stack[r->n][1] = 0x7777;
	if (uprobe_hit_read(h, regs->rsp, &r->ret[r->n], 8) != 8)
		r->ret[r->n] = 0;
	r->n++;
	return 0;
}

struct str_rec {
	int n;
	char s[4][64];
	ssize_t rc[4];
};

static int on_take_str(struct uprobe_hit *h, void *data)
{
	struct str_rec *r = data;

	if (r->n >= 4)
		return 0;
	memset(r->s[r->n], 0, sizeof(r->s[0]));
	r->rc[r->n] = uprobe_hit_read(h, uprobe_hit_arg(h, 0), r->s[r->n], sizeof(r->s[0]) - 1);
	r->n++;
	return 0;
}

static void test_entry_probe(void **state)
{
	struct ctx *c = *state;
	struct f_rec fr = { 0 };
	struct args_rec ar = { 0 };
	struct str_rec sr = { 0 };
	uint64_t start_hits = 0;
	pid_t pid = spawn_target(c, "25");

	struct uprobe *pf = add_probe(c, g_target, "f", 0, on_f, &fr);
	struct uprobe *pa = add_probe(c, g_target, "args8", 0, on_args8, &ar);
	struct uprobe *ps = add_probe(c, g_target, "take_str", 0, on_take_str, &sr);
	/* Spawn stops before the program's first instruction: _start is hit exactly once. */
	struct uprobe *p0 = add_probe(c, g_target, "_start", 0, on_count, &start_hits);

	run_to_exit(c, pid);
	const char *out = c->outbuf;

	assert_int_equal(kv(out, "pid"), pid);
	assert_int_equal(uprobe_hits(pf), kv(out, "f_calls"));
	assert_int_equal(fr.calls, kv(out, "f_calls"));
	for (int i = 0; i < N_CALLS; i++)
		assert_int_equal(fr.arg0[i], i);
	assert_int_equal(fr.addr, (uint64_t)kv(out, "addr_f"));
	assert_int_equal(fr.addr_changes, 0);
	assert_int_equal(fr.rip_mismatch, 0);
	assert_int_equal(fr.pid, pid);
	assert_int_equal(fr.tid, pid);
	assert_int_equal(fr.id_mismatch, 0);
	assert_int_equal(start_hits, 1);
	assert_int_equal(uprobe_hits(p0), 1);

	/* args8: 6 register and 2 stack arguments, compared with what the program passed. */
	assert_int_equal(uprobe_hits(pa), 4);
	assert_int_equal(ar.n, 4);
	for (const char *p = out; (p = strstr(p, "args8 i=")); p++) {
		int i;
		long a[8], res;

		assert_int_equal(sscanf(p, "args8 i=%d a0=%ld a1=%ld a2=%ld a3=%ld a4=%ld a5=%ld "
					"a6=%ld a7=%ld r=%ld",
					&i, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &a[7],
					&res),
				 10);
		assert_in_range(i, 0, 3);
		for (int k = 0; k < 8; k++) {
			if (ar.arg[i][k] != a[k]) {
				print_error("args8 call %d: uprobe_hit_arg(%d) = %ld, program passed %ld\n",
					    i, k, (long)ar.arg[i][k], a[k]);
				fail();
			}
		}
		assert_int_equal(ar.stack[i][0], a[6]);
		assert_int_equal(ar.stack[i][1], a[7]);
		assert_int_not_equal(ar.ret[i], 0);
	}

	/* take_str: the string argument read from the tracee. */
	assert_int_equal(uprobe_hits(ps), 3);
	assert_int_equal(sr.n, 3);
	for (int i = 0; i < 3; i++) {
		char want[80];

		snprintf(want, sizeof(want), "str=%s len=", sr.s[i]);
		assert_true(sr.rc[i] > 0);
		assert_non_null(strstr(out, want));
		snprintf(want, sizeof(want), "str-%d-%d-uprobe", (int)pid, i);
		assert_string_equal(sr.s[i], want);
	}
	assert_int_equal(kv(out, "done"), 1);
}

/* ---- strings and writes ---- */

struct str2_rec {
	int n;
	ssize_t rc[3];
	char s[3][512];
	ssize_t small_rc; /* the long string into 8 bytes */
	char small[8];
};

static int on_take_str2(struct uprobe_hit *h, void *data)
{
	struct str2_rec *r = data;

	if (r->n >= 3)
		return 0;
	r->rc[r->n] = uprobe_hit_read_str(h, uprobe_hit_arg(h, 0), r->s[r->n], sizeof(r->s[0]));
	if (r->n == 0)
		r->small_rc = uprobe_hit_read_str(h, uprobe_hit_arg(h, 0), r->small, sizeof(r->small));
	r->n++;
	return 0;
}

struct poke_rec {
	ssize_t rc, ro_rc, bad_rc;
};

static int on_poke(struct uprobe_hit *h, void *data)
{
	struct poke_rec *r = data;
	long v = 42;

	r->rc = uprobe_hit_write(h, uprobe_hit_arg(h, 0), &v, sizeof(v));
	r->ro_rc = uprobe_hit_write(h, uprobe_hit_arg(h, 1), "XX", 2);
	r->bad_rc = uprobe_hit_write(h, 8, &v, sizeof(v));
	return 0;
}

/*
 * uprobe_hit_read_str(): a 300-byte string whole, a truncated copy, a string
 * ending right before an unmapped page, one that the unmapped page cuts;
 * uprobe_hit_write(): a variable the program then prints, read-only memory
 * and an unmapped address refused.
 */
static void test_strings_and_writes(void **state)
{
	struct ctx *c = *state;
	struct str2_rec sr = { 0 };
	struct poke_rec pr = { 0 };
	char want[301];
	pid_t pid = spawn_target(c, "3");

	add_probe(c, g_target, "take_str2", 0, on_take_str2, &sr);
	add_probe(c, g_target, "poke_point", 0, on_poke, &pr);
	run_to_exit(c, pid);
	for (int i = 0; i < 300; i++)
		want[i] = (char)('a' + i % 26);
	want[300] = 0;
	assert_int_equal(kv(c->outbuf, "str2_long_len"), 300);
	assert_int_equal(sr.n, 3);
	assert_int_equal(sr.rc[0], 301);
	assert_string_equal(sr.s[0], want);
	assert_int_equal(sr.small_rc, 8);
	assert_string_equal(sr.small, "abcdefg");
	assert_int_equal(sr.rc[1], 5);
	assert_string_equal(sr.s[1], "edge");
	assert_int_equal(sr.rc[2], 17);
	assert_string_equal(sr.s[2], "zzzzzzzzzzzzzzzz");
	assert_int_equal(pr.rc, 8);
	assert_int_equal(kv(c->outbuf, "poked"), 42);
	assert_int_equal(pr.ro_rc, -EFAULT);
	assert_non_null(strstr(c->outbuf, "ro=read-only"));
	assert_int_equal(pr.bad_rc, -EFAULT);
}

/* ---- handlers changing registers ---- */

static int on_compute_double(struct uprobe_hit *h, void *data)
{
	struct user_regs_struct *regs = uprobe_hit_regs(h);

	(*(uint64_t *)data)++;
	regs->rdi = (uint32_t)(regs->rdi * 2);
	return 0;
}

static void test_modify_rdi(void **state)
{
	struct ctx *c = *state;
	uint64_t n = 0;
	pid_t pid = spawn_target(c, "3");
	struct uprobe *p = add_probe(c, g_target, "compute", 0, on_compute_double, &n);

	run_to_exit(c, pid);
	assert_int_equal(uprobe_hits(p), 5);
	assert_int_equal(count_lines_with(c->outbuf, "compute x="), 5);
	for (const char *q = c->outbuf; (q = strstr(q, "compute x=")); q++) {
		int x, r;

		assert_int_equal(sscanf(q, "compute x=%d r=%d", &x, &r), 2);
		/* compute(x) = 3x + 1, called with 2x instead of x. */
		if (r != 3 * (2 * x) + 1) {
			print_error("compute(%d) returned %d, want %d after rdi*=2\n", x, r,
				    3 * (2 * x) + 1);
			fail();
		}
	}
}

struct skip_rec {
	uint64_t n;
	int read_fail;
};

/* Returns from the function without running it: rip = [rsp], rsp += 8, rax = 42. */
static int on_skip(struct uprobe_hit *h, void *data)
{
	struct skip_rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	uint64_t ret;

	r->n++;
	if (uprobe_hit_read(h, regs->rsp, &ret, 8) != 8) {
		r->read_fail++;
		return 0;
	}
	regs->rip = ret;
	regs->rsp += 8;
	regs->rax = 42;
	return 0;
}

static void test_skip_function(void **state)
{
	struct ctx *c = *state;
	struct skip_rec r = { 0 };
	char base[PATH_MAX];
	pid_t pid = spawn_target(c, "3");

	/* By basename this time: matched against the executable the tracee maps. */
	snprintf(base, sizeof(base), "%s", g_target);
	struct uprobe *p = add_probe(c, basename(base), "skip_me", 0, on_skip, &r);

	run_to_exit(c, pid);
	assert_int_equal(r.read_fail, 0);
	assert_int_equal(uprobe_hits(p), 3);
	assert_int_equal(count_lines_with(c->outbuf, "skip_me=42"), 3);
	assert_int_equal(count_lines_with(c->outbuf, "skip_me="), 3);
	assert_int_equal(kv(c->outbuf, "skip_side"), 0);
}

/* ---- SYMBOL+OFFSET and file offsets ---- */

struct asm_rec {
	unsigned off;
	uint64_t n;
	uint64_t addr;
	int bad_addr, bad_regs, bad_rip;
	int64_t next_rdi;
	int bad_rdi;
};

static int on_asm(struct uprobe_hit *h, void *data)
{
	struct asm_rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	uint64_t a = uprobe_hit_addr(h), top;

	if (r->n == 0)
		r->addr = a;
	else if (a != r->addr)
		r->bad_addr++;
	if (regs->rip != a)
		r->bad_rip++;
	/* The argument sequence 0, 1, ..., n-1 is seen at every instruction. */
	if ((int64_t)regs->rdi != r->next_rdi)
		r->bad_rdi++;
	r->next_rdi++;
	switch (r->off) {
	case 0: /* function entry: rsp is 8 mod 16 */
		if ((regs->rsp & 15) != 8)
			r->bad_regs++;
		break;
	case 4: /* after push %rbp; mov %rsp,%rbp */
	case 11:
		if (regs->rbp != regs->rsp || (regs->rsp & 15) != 0)
			r->bad_regs++;
		break;
	case 15: /* after lea 1(%rdi),%rax */
		if (regs->rax != regs->rdi + 1)
			r->bad_regs++;
		break;
	case 16: /* at ret: [rsp] is the return address, rbp restored */
		if (uprobe_hit_read(h, regs->rsp, &top, 8) != 8 || top == 0 || regs->rbp == regs->rsp)
			r->bad_regs++;
		break;
	}
	r->n++;
	return 0;
}

static void test_symbol_offset(void **state)
{
	struct ctx *c = *state;
	static const uint8_t want[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0xff, 0x05 };
	static const unsigned offs[] = { 0, 1, 4, 11, 15, 16 };
	static const unsigned mids[] = { 2, 3, 5, 8, 12 };
	struct asm_rec recs[6];
	struct uprobe *probes[6];
	uint8_t bytes[sizeof(want)];
	uint64_t off, size;

	/* Precondition (not the engine): the assembler produced the encodings the offsets assume. */
	assert_true(elf_sym_off(g_target, "asm_func", &off, &size));
	assert_int_equal(size, 17);
	assert_true(elf_file_bytes(g_target, off, bytes, sizeof(bytes)));
	assert_memory_equal(bytes, want, sizeof(want));

	pid_t pid = spawn_target(c, "30");

	for (unsigned i = 0; i < 6; i++) {
		memset(&recs[i], 0, sizeof(recs[i]));
		recs[i].off = offs[i];
		probes[i] = add_probe(c, g_target, "asm_func", offs[i], on_asm, &recs[i]);
		assert_int_equal(uprobe_file_offset(probes[i]), off + offs[i]);
	}
	for (unsigned i = 0; i < 5; i++) {
		UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .data = NULL);
		errno = 0;
		struct uprobe *p = uprobe_add(c->t, g_target, "asm_func", mids[i], &o);

		if (p || errno != EINVAL) {
			print_error("asm_func+%u (mid-instruction): got %p errno %d, want NULL/EINVAL\n",
				    mids[i], (void *)p, errno);
			fail();
		}
		const char *msg = uprobe_tracer_errmsg(c->t);
		if (!strstr(msg, "not an instruction boundary")) {
			print_error("asm_func+%u: errmsg '%s'\n", mids[i], msg);
			fail();
		}
	}

	run_to_exit(c, pid);
	const char *out = c->outbuf;
	long n = kv(out, "asm_calls");

	assert_int_equal(n, 30);
	assert_int_equal(kv(out, "asm_sum"), n * (n + 1) / 2);
	assert_int_equal(kv(out, "asm_counter"), n); /* the rip-relative incq ran each time */
	for (unsigned i = 0; i < 6; i++) {
		struct asm_rec *r = &recs[i];

		if (uprobe_hits(probes[i]) != (uint64_t)n || r->n != (uint64_t)n || r->bad_addr ||
		    r->bad_regs || r->bad_rip || r->bad_rdi ||
		    r->addr != (uint64_t)kv(out, "addr_asm_func") + offs[i]) {
			print_error("asm_func+%u: hits %llu handler %llu (want %ld) addr %#llx (want "
				    "%#lx) bad_addr %d bad_regs %d bad_rip %d bad_rdi %d\n",
				    offs[i], (unsigned long long)uprobe_hits(probes[i]),
				    (unsigned long long)r->n, n, (unsigned long long)r->addr,
				    kv(out, "addr_asm_func") + offs[i], r->bad_addr, r->bad_regs,
				    r->bad_rip, r->bad_rdi);
			fail();
		}
	}
}

struct order_rec {
	char log[4096];
	size_t len;
};

/* Handler data: the shared log and the probe's letter. */
struct order_tag {
	struct order_rec *rec;
	char id;
};

static int on_order(struct uprobe_hit *h, void *data)
{
	struct order_tag *tag = data;
	struct order_rec *r = tag->rec;

	if (r->len < sizeof(r->log) - 1)
		r->log[r->len++] = tag->id;
	return 0;
}

static void test_file_offset(void **state)
{
	struct ctx *c = *state;
	uint64_t off, size;
	char real[PATH_MAX];
	struct f_rec fr = { 0 };
	struct order_rec log = { 0 };
	struct order_tag ta = { &log, 'S' }, tb = { &log, 'F' };

	assert_true(elf_sym_off(g_target, "f", &off, &size));
	assert_non_null(realpath(g_target, real));

	pid_t pid = spawn_target(c, "40");
	/* The same instruction named by symbol, then by file offset. */
	struct uprobe *ps = add_probe(c, g_target, "f", 0, on_order, &ta);
	struct uprobe *pf = add_probe(c, g_target, NULL, off, on_f, &fr);
	struct uprobe *pl = add_probe(c, g_target, NULL, off, on_order, &tb);

	assert_int_equal(uprobe_file_offset(ps), off);
	assert_int_equal(uprobe_file_offset(pf), off);
	assert_string_equal(uprobe_binary_path(pf), real);
	run_to_exit(c, pid);
	long n = kv(c->outbuf, "f_calls");

	assert_int_equal(n, 40);
	assert_int_equal(kv(c->outbuf, "f_sum"), n * (n + 1) / 2);
	assert_int_equal(uprobe_hits(pf), n);
	assert_int_equal(uprobe_hits(ps), n);
	assert_int_equal(uprobe_hits(pl), n);
	assert_int_equal(fr.addr, (uint64_t)kv(c->outbuf, "addr_f"));
	assert_int_equal(fr.rip_mismatch, 0);
	assert_int_equal(log.len, 2 * n);
	for (long i = 0; i < n; i++) {
		if (log.log[2 * i] != 'S' || log.log[2 * i + 1] != 'F') {
			print_error("handler order at hit %ld: %.2s\n", i, log.log + 2 * i);
			fail();
		}
	}
}

/* ---- several probes on one address ---- */

static void test_multi_order(void **state)
{
	struct ctx *c = *state;
	struct order_rec log = { 0 };
	struct order_tag tags[3] = { { &log, 'A' }, { &log, 'B' }, { &log, 'C' } };
	struct uprobe *p[3];
	pid_t pid = spawn_target(c, "50");

	for (int i = 0; i < 3; i++)
		p[i] = add_probe(c, g_target, "f", 0, on_order, &tags[i]);
	run_to_exit(c, pid);
	long n = kv(c->outbuf, "f_calls");

	assert_int_equal(n, 50);
	for (int i = 0; i < 3; i++)
		assert_int_equal(uprobe_hits(p[i]), n);
	assert_int_equal(log.len, 3 * n);
	for (long i = 0; i < n; i++) {
		if (memcmp(log.log + 3 * i, "ABC", 3)) {
			print_error("handler order at hit %ld: %.3s, want ABC\n", i, log.log + 3 * i);
			fail();
		}
	}
}

static void test_remove_before_run(void **state)
{
	struct ctx *c = *state;
	uint64_t na = 0, nb = 0, nc = 0;
	pid_t pid = spawn_target(c, "20");
	struct uprobe *pa = add_probe(c, g_target, "f", 0, on_count, &na);
	struct uprobe *pb = add_probe(c, g_target, "f", 0, on_count, &nb);
	struct uprobe *pc = add_probe(c, g_target, "compute", 0, on_count, &nc);

	assert_int_equal(uprobe_remove(pb), 0);
	assert_int_equal(uprobe_remove(pc), 0); /* the last probe there: its breakpoint goes */
	run_to_exit(c, pid);
	assert_int_equal(na, kv(c->outbuf, "f_calls"));
	assert_int_equal(uprobe_hits(pa), na);
	assert_int_equal(nb, 0);
	assert_int_equal(nc, 0);
	/* compute ran unprobed and correctly */
	assert_non_null(strstr(c->outbuf, "compute x=5 r=16\n"));
}

struct stop_rec {
	struct uprobe_tracer *t;
	uint64_t n, stop_at;
};

static int on_count_stop(struct uprobe_hit *h, void *data)
{
	struct stop_rec *r = data;

	if (++r->n == r->stop_at)
		uprobe_tracer_stop(r->t);
	return 0;
}

static void test_remove_between_runs(void **state)
{
	struct ctx *c = *state;
	uint64_t na = 0;
	struct stop_rec rb = { c->t, 0, 7 };
	pid_t pid = spawn_target(c, "200");
	struct uprobe *pa = add_probe(c, g_target, "f", 0, on_count, &na);
	struct uprobe *pb = add_probe(c, g_target, "f", 0, on_count_stop, &rb);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_true(rb.n >= 7);
	assert_true(rb.n < 200);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH); /* still running */
	uint64_t b_at_remove = rb.n;

	assert_int_equal(uprobe_remove(pb), 0);
	run_to_exit(c, pid);
	long n = kv(c->outbuf, "f_calls");

	assert_int_equal(rb.n, b_at_remove);
	assert_int_equal(na, n);
	assert_int_equal(uprobe_hits(pa), n);
	assert_int_equal(kv(c->outbuf, "f_sum"), n * (n + 1) / 2);
}

/* The only probe on an address is removed while its thread is stopped right after a hit. */
static void test_remove_last_while_stopped(void **state)
{
	struct ctx *c = *state;
	struct stop_rec r = { c->t, 0, 5 };
	pid_t pid = spawn_target(c, "200");
	struct uprobe *p = add_probe(c, g_target, "f", 0, on_count_stop, &r);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH);
	uint64_t at_remove = r.n;

	assert_true(at_remove >= 5);
	assert_int_equal(uprobe_remove(p), 0);
	run_to_exit(c, pid);
	long n = kv(c->outbuf, "f_calls");

	assert_int_equal(r.n, at_remove);
	assert_int_equal(kv(c->outbuf, "f_sum"), n * (n + 1) / 2);
	assert_int_equal(kv(c->outbuf, "asm_counter"), n);
}

static int group_pie(void **state)
{
	g_target = g_targets[0];
	return 0;
}

static int group_nopie(void **state)
{
	g_target = g_targets[1];
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_entry_probe),	   T(test_modify_rdi),
		T(test_skip_function),	   T(test_symbol_offset),
		T(test_file_offset),	   T(test_multi_order),
		T(test_remove_before_run), T(test_remove_between_runs),
		T(test_remove_last_while_stopped), T(test_strings_and_writes),
	};
	int fails = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s API_BASIC API_BASIC_NOPIE\n", argv[0]);
		return 2;
	}
	g_targets[0] = argv[1];
	g_targets[1] = argv[2];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	fails += cmocka_run_group_tests_name("api_basic_pie", tests, group_pie, NULL);
	fails += cmocka_run_group_tests_name("api_basic_nopie", tests, group_nopie, NULL);
	return fails ? 1 : 0;
}
