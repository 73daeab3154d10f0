// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Frame-pointer backtraces (uprobe_hit_backtrace_opts) against libunwind's and the
 * target's own symbols, on api_stack's known call chain.
 */
#include "tracee_test.h"

static const char *g_target;

#define MAXF 32
#define MAX_HITS 8
/* st_leaf's callers, outermost last; main returns into libc */
static const char *const chain[] = { "st_f", "st_e", "st_d", "st_c", "st_b", "st_a", "main" };
#define NCHAIN ((int)(sizeof(chain) / sizeof(chain[0])))

struct hit_bt {
	uint64_t addr; /* uprobe_hit_addr() */
	uint64_t fp[MAXF], cfi[MAXF];
	int nfp, ncfi;
	char names[MAXF][32]; /* the FP frames' functions, from the ELF file (frames 1+: pc - 1) */
};

struct seen {
	struct uprobe_tracer *t;
	int nhits;
	struct hit_bt hits[MAX_HITS];
	int errs;
};

/* Names every FP frame from /proc/PID/maps and the target's ELF symbols, without libuprobe. */
static void name_frames(pid_t pid, struct hit_bt *b)
{
	struct elf_view v;
	struct maps m;
	char exe[PATH_MAX];

	if (!realpath(g_target, exe) || !elf_view_open(exe, &v))
		return;
	if (maps_read(pid, &m)) {
		for (int i = 0; i < b->nfp; i++)
			snprintf(b->names[i], sizeof(b->names[i]), "%s",
				 sym_of(&m, &v, i ? b->fp[i] - 1 : b->fp[i]));
		maps_free(&m);
	}
	elf_view_close(&v);
}

static int on_hit(struct uprobe_hit *h, void *data)
{
	struct seen *s = data;
	UPROBE_OPTS(uprobe_backtrace_opts, fp, .unwinder = UPROBE_UNWIND_FP);
	struct hit_bt *b;

	if (s->nhits >= MAX_HITS)
		return 0;
	b = &s->hits[s->nhits++];
	b->addr = uprobe_hit_addr(h);
	b->nfp = uprobe_hit_backtrace_opts(h, b->fp, MAXF, &fp);
	b->ncfi = uprobe_hit_backtrace(h, b->cfi, MAXF);
	if (b->nfp < 1 || b->ncfi < 1)
		s->errs++;
	name_frames(uprobe_hit_pid(h), b);
	return 0;
}

static void spawn_chain(struct ctx *c, const char *n, pid_t *pid)
{
	char *argv[] = { (char *)g_target, "chain", (char *)n, NULL };

	assert_int_equal(spawn_out(c, argv, pid), 0);
}

/*
 * FP frames equal libunwind's from the hit up to main's return into libc
 * (beyond it libc keeps no frame pointer), and name st_leaf's callers in order.
 * first: the name frame 0 must have, and frames 1.. are chain[skip..].
 */
static void assert_chain(const struct hit_bt *b, const char *first, int skip)
{
	int want = NCHAIN - skip + 2; /* frame 0, the callers, main's return into libc */

	if (b->nfp < want || b->ncfi < want) {
		print_error("frames: fp %d, cfi %d, want at least %d\n", b->nfp, b->ncfi, want);
		fail();
	}
	for (int i = 0; i < want; i++) {
		if (b->fp[i] != b->cfi[i]) {
			print_error("frame %d: fp 0x%llx, cfi 0x%llx (%s)\n", i,
				    (unsigned long long)b->fp[i], (unsigned long long)b->cfi[i],
				    b->names[i]);
			fail();
		}
	}
	assert_string_equal(b->names[0], first);
	for (int i = 1; i < want - 1; i++)
		assert_string_equal(b->names[i], chain[skip + i - 1]);
	/* and main's caller is outside the program: libc */
	assert_string_equal(b->names[want - 1], "?");
}

/* An entry probe at st_leaf's first instruction: its caller is at [rsp], the rest a chain. */
static void test_fp_entry(void **state)
{
	struct ctx *c = *state;
	struct seen s = { .t = c->t };
	pid_t pid;

	spawn_chain(c, "3", &pid);
	add_probe(c, g_target, "st_leaf", 0, on_hit, &s);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 3);
	assert_int_equal(s.errs, 0);
	for (int i = 0; i < s.nhits; i++) {
		assert_int_equal(s.hits[i].fp[0], s.hits[i].addr);
		assert_chain(&s.hits[i], "st_leaf", 0);
	}
}

/* A USDT point in the middle of st_f, its frame made: the chain from rbp alone. */
static void test_fp_mid(void **state)
{
	struct ctx *c = *state;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_hit);
	struct seen s = { .t = c->t };
	struct uprobe_usdt *u;
	pid_t pid;

	o.data = &s;
	spawn_chain(c, "2", &pid);
	u = uprobe_add_usdt(c->t, g_target, "api_stack", "mid", &o);
	assert_non_null(u);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 2);
	assert_int_equal(s.errs, 0);
	for (int i = 0; i < s.nhits; i++)
		assert_chain(&s.hits[i], "st_f", 1);
}

/*
 * Through return-probed frames (st_c and st_e hijacked: the trampoline in their
 * return slots) both unwinders show the real callers; and in the return
 * handler of st_leaf, at the return address in st_f, the chain is st_f's.
 */
static void test_fp_retprobes(void **state)
{
	struct ctx *c = *state;
	struct seen s = { .t = c->t }, r = { .t = c->t };
	UPROBE_OPTS(uprobe_opts, ro, .ret_handler = on_hit, .data = &r);
	UPROBE_OPTS(uprobe_opts, hijack, .ret_handler = on_count, .data = &(uint64_t){ 0 });
	pid_t pid;

	spawn_chain(c, "2", &pid);
	add_or_fail(c, g_target, "st_c", 0, &hijack);
	add_or_fail(c, g_target, "st_e", 0, &hijack);
	add_probe(c, g_target, "st_leaf", 0, on_hit, &s);
	add_or_fail(c, g_target, "st_leaf", 0, &ro);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 2);
	assert_int_equal(r.nhits, 2);
	assert_int_equal(s.errs + r.errs, 0);
	for (int i = 0; i < 2; i++) {
		assert_chain(&s.hits[i], "st_leaf", 0);
		assert_chain(&r.hits[i], "st_f", 1);
	}
}

/* A post handler after st_f's `push %rbp`: the return address is at [rsp + 8]. */
static void test_fp_post_push(void **state)
{
	struct ctx *c = *state;
	struct seen s = { .t = c->t };
	UPROBE_OPTS(uprobe_opts, o, .post_handler = on_hit, .data = &s);
	uint8_t first;
	uint64_t off;
	pid_t pid;

	assert_true(elf_sym_off(g_target, "st_f", &off, NULL));
	assert_true(elf_file_bytes(g_target, off, &first, 1));
	if (first != 0x55) {
		print_message("st_f does not start with push %%rbp (0x%02x): nothing to check\n",
			      first);
		skip();
	}
	spawn_chain(c, "2", &pid);
	add_or_fail(c, g_target, "st_f", 0, &o);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 2);
	for (int i = 0; i < s.nhits; i++)
		assert_chain(&s.hits[i], "st_f", 1);
}

/*
 * Bad frame pointers end the walk cleanly: 0, unaligned, below the stack
 * pointer, unreadable (past the top of user space), and a frame whose saved
 * rbp is itself. st_leaf is hit at its entry: frame 1 ([rsp]) is st_bad's.
 */
static void test_fp_stops(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_target, "bad", NULL };
	struct seen s = { .t = c->t };
	uint64_t st_a, st_leaf;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	add_probe(c, g_target, "st_leaf", 0, on_hit, &s);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 5);
	for (int i = 0; i < s.nhits; i++) {
		assert_string_equal(s.hits[i].names[0], "st_leaf");
		assert_string_equal(s.hits[i].names[1], "st_bad");
		assert_int_equal(s.hits[i].nfp, i == 4 ? 3 : 2);
	}
	/* the self-pointing frame: its return address (st_a) is shown once, then the walk ends */
	assert_true(elf_sym_off(g_target, "st_a", &st_a, NULL));
	assert_true(elf_sym_off(g_target, "st_leaf", &st_leaf, NULL));
	assert_int_equal(s.hits[4].fp[2], s.hits[4].fp[0] - st_leaf + st_a);
}

/* max frames: the first max of the whole walk. */
static int on_hit_max(struct uprobe_hit *h, void *data)
{
	struct seen *s = data;
	UPROBE_OPTS(uprobe_backtrace_opts, fp, .unwinder = UPROBE_UNWIND_FP);
	struct hit_bt *b = &s->hits[s->nhits++ % MAX_HITS];

	b->nfp = uprobe_hit_backtrace_opts(h, b->fp, MAXF, &fp);
	b->ncfi = uprobe_hit_backtrace_opts(h, b->cfi, 3, &fp);
	s->errs += uprobe_hit_backtrace_opts(h, b->cfi + 3, 1, &fp) != 1 || b->cfi[3] != b->fp[0];
	return 0;
}

static void test_fp_max(void **state)
{
	struct ctx *c = *state;
	struct seen s = { .t = c->t };
	pid_t pid;

	spawn_chain(c, "1", &pid);
	add_probe(c, g_target, "st_leaf", 0, on_hit_max, &s);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 1);
	assert_int_equal(s.errs, 0);
	assert_int_equal(s.hits[0].ncfi, 3);
	assert_true(s.hits[0].nfp > 3);
	assert_memory_equal(s.hits[0].cfi, s.hits[0].fp, 3 * sizeof(uint64_t));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_fp_entry),
		T(test_fp_mid),
		T(test_fp_retprobes),
		T(test_fp_post_push),
		T(test_fp_stops),
		T(test_fp_max),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_STACK\n", argv[0]);
		return 2;
	}
	g_target = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_stack", tests, NULL, NULL);
}
