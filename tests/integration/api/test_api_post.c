// SPDX-License-Identifier: LGPL-2.1-or-later
/* Post handlers and fault handlers on real instructions, and a JVM-style implicit null check. */
#include "tracee_test.h"

#define ROUNDS 50
#define ROUNDS_S "50"

static const char *g_post;

enum kind { K_ADD, K_LEA, K_CALLRAX, K_RET, K_JCC, K_SYSCALL, K_JMPREG, K_JMPMEM, K_LOAD, K_N };

struct rec {
	const char *sym;
	uint64_t off;
	uint64_t entries, posts, bad;
	char why[160];
	struct user_regs_struct at_entry;
	uint64_t entry_tos; /* [rsp] at entry */
	pid_t pid;
};

static struct rec g_recs[K_N] = {
	[K_ADD] = { "post_add", 0 },	   [K_LEA] = { "post_lea", 0 },
	[K_CALLRAX] = { "post_callrax", 4 }, [K_RET] = { "post_ret", 5 },
	[K_JCC] = { "post_jcc", 3 },	   [K_SYSCALL] = { "post_syscall", 5 },
	[K_JMPREG] = { "post_jmpreg", 7 },   [K_JMPMEM] = { "post_jmpmem", 0 },
	[K_LOAD] = { "jvm_load", 0 },
};

static void bad(struct rec *r, const char *what, uint64_t got, uint64_t want)
{
	if (!r->bad++)
		snprintf(r->why, sizeof(r->why), "%s: got %#llx, want %#llx", what,
			 (unsigned long long)got, (unsigned long long)want);
}

#define CHECK(r, what, got, want)                                                          \
	do {                                                                               \
		if ((uint64_t)(got) != (uint64_t)(want))                                   \
			bad(r, what, got, want);                                           \
	} while (0)

static int on_entry(struct uprobe_hit *h, void *data)
{
	struct rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);

	r->entries++;
	CHECK(r, "is_post at entry", uprobe_hit_is_post(h), false);
	r->at_entry = *regs;
	if (uprobe_hit_read(h, regs->rsp, &r->entry_tos, 8) != 8)
		bad(r, "read [rsp]", 0, 1);
	return 0;
}

static int on_post(struct uprobe_hit *h, void *data)
{
	struct rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	const struct user_regs_struct *e = &r->at_entry;
	uint64_t addr = uprobe_hit_addr(h), fn = addr - r->off, tos = 0;

	r->posts++;
	CHECK(r, "is_post", uprobe_hit_is_post(h), true);
	CHECK(r, "hit addr", addr, e->rip);
	uprobe_hit_read(h, regs->rsp, &tos, 8);
	switch (r - g_recs) {
	case K_ADD:
		CHECK(r, "add: rip", regs->rip, addr + 3);
		CHECK(r, "add: rdi", regs->rdi, e->rdi + e->rsi);
		CHECK(r, "add: rsp", regs->rsp, e->rsp);
		break;
	case K_LEA:
		CHECK(r, "lea: rip", regs->rip, addr + 5);
		CHECK(r, "lea: rax", regs->rax, e->rdi + 4 * e->rsi + 16);
		break;
	case K_CALLRAX:
		CHECK(r, "call *%rax: rip", regs->rip, e->rax);
		CHECK(r, "call *%rax: rsp", regs->rsp, e->rsp - 8);
		CHECK(r, "call *%rax: pushed", tos, addr + 2);
		break;
	case K_RET:
		CHECK(r, "ret: rip", regs->rip, r->entry_tos);
		CHECK(r, "ret: rsp", regs->rsp, e->rsp + 8);
		CHECK(r, "ret: rax", regs->rax, 7);
		break;
	case K_JCC:
		CHECK(r, "jl: rip", regs->rip, (int64_t)e->rdi < (int64_t)e->rsi ? fn + 11 : fn + 5);
		break;
	case K_SYSCALL:
		CHECK(r, "syscall: rax", regs->rax, r->pid);
		CHECK(r, "syscall: rip", regs->rip, addr + 2);
		CHECK(r, "syscall: rcx", regs->rcx, addr + 2);
		break;
	case K_JMPREG:
		CHECK(r, "jmp *%rax: rip", regs->rip, e->rax);
		CHECK(r, "jmp *%rax: target", regs->rip, fn + 9);
		break;
	case K_JMPMEM:
		CHECK(r, "jmp *mem: rip", regs->rip, fn + 6);
		CHECK(r, "jmp *mem: rsp", regs->rsp, e->rsp);
		break;
	case K_LOAD:
		CHECK(r, "load: rip", regs->rip, addr + 3);
		CHECK(r, "load: rax", regs->rax, 5);
		break;
	}
	return 0;
}

static pid_t spawn_post(struct ctx *c)
{
	char *argv[] = { (char *)g_post, ROUNDS_S, NULL };

	return spawn_or_fail(c, argv);
}

static void check_output(const char *out, long npe_seen, long npe_handled, long swallowed)
{
	assert_int_equal(kv(out, "rounds"), ROUNDS);
	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "bad_pc"), 0);
	assert_int_equal(kv(out, "loads"), ROUNDS / 2);
	assert_int_equal(kv(out, "npe_seen"), npe_seen);
	assert_int_equal(kv(out, "npe_handled"), npe_handled);
	assert_int_equal(kv(out, "swallowed"), swallowed);
}

/* Each instruction family's post handler sees the registers after the instruction. */
static void test_post_sees_result(void **state)
{
	struct ctx *c = *state;
	pid_t pid = spawn_post(c);

	for (int i = 0; i < K_N; i++) {
		struct rec *r = &g_recs[i];
		UPROBE_OPTS(uprobe_opts, o, .handler = on_entry, .post_handler = on_post, .data = r);

		memset(&r->entries, 0, sizeof(*r) - offsetof(struct rec, entries));
		r->pid = pid;
		add_or_fail(c, g_post, r->sym, r->off, &o);
	}
	run_to_exit(c, pid);
	check_output(c->outbuf, ROUNDS / 2, ROUNDS / 2, 0);
	for (int i = 0; i < K_N; i++) {
		struct rec *r = &g_recs[i];
		/* the faulting null loads run no post handler */
		uint64_t want_posts = i == K_LOAD ? ROUNDS / 2 : ROUNDS;

		if (r->bad || r->entries != ROUNDS || r->posts != want_posts) {
			print_error("%s+%llu: %llu entries, %llu posts (want %d, %llu), %llu bad: %s\n",
				    r->sym, (unsigned long long)r->off,
				    (unsigned long long)r->entries, (unsigned long long)r->posts,
				    ROUNDS, (unsigned long long)want_posts,
				    (unsigned long long)r->bad, r->why);
			fail();
		}
	}
}

/* Registers changed by the entry handler and then by the post handler both take effect. */
static int zero_rsi(struct uprobe_hit *h, void *data)
{
	(void)data;
	uprobe_hit_regs(h)->rsi = 0;
	return 0;
}

static int add_100(struct uprobe_hit *h, void *data)
{
	(*(uint64_t *)data)++;
	uprobe_hit_regs(h)->rdi += 100; /* what the zeroed rsi took away */
	return 0;
}

static void test_post_changes_registers(void **state)
{
	struct ctx *c = *state;
	uint64_t n = 0;
	pid_t pid = spawn_post(c);
	UPROBE_OPTS(uprobe_opts, o, .handler = zero_rsi, .post_handler = add_100, .data = &n);

	add_or_fail(c, g_post, "post_add", 0, &o);
	run_to_exit(c, pid);
	check_output(c->outbuf, ROUNDS / 2, ROUNDS / 2, 0);
	assert_int_equal(n, ROUNDS);
}

/* A post handler added to, then removed from, an instruction that already has a probe. */
static void test_post_added_later(void **state)
{
	struct ctx *c = *state;
	uint64_t n = 0, m = 0;
	pid_t pid = spawn_post(c);
	UPROBE_OPTS(uprobe_opts, o, .post_handler = on_count, .data = &m);

	add_probe(c, g_post, "post_lea", 0, on_count, &n);
	struct uprobe *p = add_or_fail(c, g_post, "post_lea", 0, &o);

	assert_int_equal(uprobe_remove(p), 0);
	p = add_or_fail(c, g_post, "post_lea", 0, &o);
	run_to_exit(c, pid);
	check_output(c->outbuf, ROUNDS / 2, ROUNDS / 2, 0);
	assert_int_equal(n, ROUNDS);
	assert_int_equal(m, ROUNDS);
	assert_int_equal(uprobe_hits(p), ROUNDS);
}

/* The program's SIGSEGV handler finds the probed load at its own pc and skips it. */
static void test_jvm_null_check(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_post, ROUNDS_S, NULL };
	char *plain = run_untraced(c, argv);
	uint64_t n = 0;
	pid_t pid = spawn_post(c);

	add_probe(c, g_post, "jvm_load", 0, on_count, &n);
	run_to_exit(c, pid);
	assert_same_output(plain, c->outbuf);
	check_output(c->outbuf, ROUNDS / 2, ROUNDS / 2, 0);
	assert_int_equal(n, ROUNDS);
	free(plain);
}

/*
 * The same with 1,000 calls of a 5-byte function, so that the probe is
 * jump-optimized (after 32 hits the detour covers the load and the ret): a fault in the detour's
 * copy must show the handler the original pc, and the pc it resumes at
 * (the ret, inside the covered bytes) must hold the program's own code.
 */
static void test_jvm_null_check_optimized(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_post, "1000", "8", NULL };
	char *plain = run_untraced(c, argv);
	uint64_t n = 0;
	pid_t pid = spawn_or_fail(c, argv);

	add_probe(c, g_post, "jvm_load8", 0, on_count, &n);
	run_to_exit(c, pid);
	assert_same_output(plain, c->outbuf);
	assert_int_equal(kv(c->outbuf, "rounds"), 1000);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "bad_pc"), 0);
	assert_int_equal(kv(c->outbuf, "npe_handled"), 500);
	assert_int_equal(n, 1000);
	free(plain);
}

struct fault_rec {
	uint64_t n, bad;
	bool swallow;
	uint64_t fn;
};

static int on_fault(struct uprobe_hit *h, const siginfo_t *si, void *data)
{
	struct fault_rec *f = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);

	f->n++;
	if (si->si_signo != SIGSEGV || si->si_addr != NULL || regs->rip != uprobe_hit_addr(h) ||
	    regs->rdi != 0 || uprobe_hit_is_post(h))
		f->bad++;
	if (!f->swallow)
		return UPROBE_FAULT_DELIVER;
	regs->rax = (uint64_t)-2;
	regs->rip += 3; /* mov (%rdi),%rax */
	return UPROBE_FAULT_HANDLED;
}

static void fault_case(struct ctx *c, bool swallow)
{
	struct fault_rec f = { .swallow = swallow };
	uint64_t n = 0;
	pid_t pid = spawn_post(c);
	UPROBE_OPTS(uprobe_opts, o, .fault_handler = on_fault, .data = &f);
	UPROBE_OPTS(uprobe_opts, o2, .handler = on_count, .data = &n);

	add_or_fail(c, g_post, "jvm_load", 0, &o);
	/* faults of other instructions: none */
	add_or_fail(c, g_post, "post_add", 0, &o2);
	run_to_exit(c, pid);
	if (swallow)
		check_output(c->outbuf, 0, 0, ROUNDS / 2);
	else
		check_output(c->outbuf, ROUNDS / 2, ROUNDS / 2, 0);
	assert_int_equal(f.n, ROUNDS / 2);
	assert_int_equal(f.bad, 0);
	assert_int_equal(n, ROUNDS);
}

static void test_fault_handler_delivers(void **state)
{
	fault_case(*state, false);
}

static void test_fault_handler_swallows(void **state)
{
	fault_case(*state, true);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_post_sees_result),	 T(test_post_changes_registers),
		T(test_post_added_later),	 T(test_jvm_null_check), T(test_jvm_null_check_optimized),
		T(test_fault_handler_delivers), T(test_fault_handler_swallows),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_POST\n", argv[0]);
		return 2;
	}
	g_post = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_post", tests, NULL, NULL);
}
