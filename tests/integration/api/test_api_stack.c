// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Frame-pointer backtraces (uprobe_hit_backtrace_opts) against libunwind's and the
 * target's own symbols, and symbolized stacks (uprobe_hit_stack_str,
 * uprobe_tracer_frame_str), on api_stack's known call chain.
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
	char stack[4096];    /* uprobe_hit_stack_str() at the first hit */
	int stack_len;
	char cut[16];        /* the same into 16 bytes */
	int cut_len;
	char fp_stack[4096]; /* with the FP unwinder */
	/* errors of bad arguments, at the first hit */
	int err_unwinder, err_tail, err_max, err_flags;
	char unmapped[64], unmapped_addr[64];
	int unmapped_len;
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

static int on_hit_str(struct uprobe_hit *h, void *data)
{
	struct seen *s = data;
	UPROBE_OPTS(uprobe_backtrace_opts, fp, .unwinder = UPROBE_UNWIND_FP);
	struct uprobe_backtrace_opts bad = { .sz = sizeof(bad), .unwinder = 7 };
	struct {
		struct uprobe_backtrace_opts o;
		uint64_t more;
	} tail = { { .sz = sizeof(tail) }, 1 };
	uint64_t pcs[4];

	if (s->nhits == 0) {
		s->stack_len = uprobe_hit_stack_str(h, s->stack, sizeof(s->stack), 16, NULL);
		s->cut_len = uprobe_hit_stack_str(h, s->cut, sizeof(s->cut), 16, NULL);
		if (uprobe_hit_stack_str(h, s->fp_stack, sizeof(s->fp_stack), 16, &fp) < 0)
			s->errs++;
		s->err_unwinder = uprobe_hit_backtrace_opts(h, pcs, 4, &bad);
		s->err_tail = uprobe_hit_backtrace_opts(h, pcs, 4, &tail.o);
		s->err_max = uprobe_hit_backtrace_opts(h, pcs, 0, NULL);
		s->err_flags = uprobe_tracer_frame_str(s->t, uprobe_hit_pid(h), 0, 4, (char *)pcs, 8);
		s->unmapped_len = uprobe_tracer_frame_str(s->t, uprobe_hit_pid(h), 0x10,
							  UPROBE_FRAME_CALLER, s->unmapped,
							  sizeof(s->unmapped));
		uprobe_tracer_frame_str(s->t, uprobe_hit_pid(h), 0x10, UPROBE_FRAME_ADDR,
					s->unmapped_addr, sizeof(s->unmapped_addr));
	}
	return on_hit(h, data);
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
	uint64_t returns = 0;
	UPROBE_OPTS(uprobe_opts, ro, .ret_handler = on_hit, .data = &r);
	UPROBE_OPTS(uprobe_opts, hijack, .ret_handler = on_count, .data = &returns);
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
	/* st_c's and st_e's returns, twice each: the hijacked slots were real */
	assert_int_equal(returns, 4);
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

/* Parses "#N 0xADDR NAME+0xOFF (PATH)"; false when line is not one. */
static bool parse_line(const char *line, int *n, uint64_t *addr, char *name, uint64_t *off,
		       char *path)
{
	unsigned long long a, o;
	int used = 0;

	if (sscanf(line, "#%d 0x%llx %63[^+ ]+0x%llx (%1023[^)])%n", n, &a, name, &o, path,
		   &used) != 5 || line[used] != '\n')
		return false;
	*addr = a;
	*off = o;
	return true;
}

/*
 * uprobe_hit_stack_str(): a line per frame, "#N 0xADDR func+0xOFF (path)",
 * OFF from the function's start to the address (the return address for
 * callers), snprintf's rules for a short buffer; the FP unwinder gives the
 * same lines down to main's.
 */
static void test_stack_str(void **state)
{
	struct ctx *c = *state;
	struct seen s = { .t = c->t };
	char exe[PATH_MAX], name[64], path[1024];
	const char *line;
	uint64_t addr, off = 0, sym_off, size;
	int n, frames = 0;
	pid_t pid;

	assert_non_null(realpath(g_target, exe));
	spawn_chain(c, "1", &pid);
	add_probe(c, g_target, "st_leaf", 0, on_hit_str, &s);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 1);
	assert_int_equal(s.errs, 0);
	assert_int_equal(s.stack_len, (int)strlen(s.stack));
	/* cut: the same length, 15 bytes of it */
	assert_int_equal(s.cut_len, s.stack_len);
	assert_int_equal(strlen(s.cut), 15);
	assert_memory_equal(s.cut, s.stack, 15);
	for (line = s.stack; *line && frames <= NCHAIN + 1; line = strchr(line, '\n') + 1, frames++) {
		if (!parse_line(line, &n, &addr, name, &off, path)) {
			print_error("line %d: %.*s\n", frames, (int)strcspn(line, "\n"), line);
			fail();
		}
		assert_int_equal(n, frames);
		assert_int_equal(addr, s.hits[0].cfi[frames]);
		if (frames == NCHAIN + 1) {
			/* main's return into libc */
			assert_non_null(strstr(path, "libc"));
			break;
		}
		assert_string_equal(path, exe);
		assert_string_equal(name, frames ? chain[frames - 1] : "st_leaf");
		/* the offset: from the function's start in the file to the address */
		assert_true(elf_sym_off(g_target, name, &sym_off, &size));
		if (frames == 0)
			assert_int_equal(off, 0);
		else
			assert_true(off > 0 && off <= size);
	}
	assert_int_equal(frames, NCHAIN + 1);
	/* FP: the same text down to main's return into libc */
	line = strstr(s.stack, "\n#9 ");
	assert_non_null(line);
	assert_memory_equal(s.fp_stack, s.stack, line - s.stack);
	/* bad arguments */
	assert_int_equal(s.err_unwinder, -EINVAL);
	assert_int_equal(s.err_tail, -EINVAL);
	assert_int_equal(s.err_max, -EINVAL);
	assert_int_equal(s.err_flags, -EINVAL);
	/* an address in no mapping is shown as one, with or without the address flag */
	assert_string_equal(s.unmapped, "0x10");
	assert_int_equal(s.unmapped_len, 4);
	assert_string_equal(s.unmapped_addr, "0x10");
}

static int on_end(struct uprobe_hit *h, void *data)
{
	struct seen *s = data;

	s->stack_len = uprobe_hit_stack_str(h, s->stack, sizeof(s->stack), 3, NULL);
	s->nhits++;
	return 0;
}

/*
 * A call that ends its function (st_last calls st_end, which never returns):
 * the return address is past st_last's last byte, where the next function
 * starts. Frame 1 is named at the address minus 1: st_last, its offset the
 * return address's (st_last's size).
 */
static void test_stack_str_noreturn(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_target, "noreturn", NULL };
	struct seen s = { .t = c->t };
	char name[64], path[1024];
	uint64_t addr, off, last_off, size;
	const char *line;
	int n;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	add_probe(c, g_target, "st_end", 0, on_end, &s);
	run_to_exit(c, pid);
	assert_int_equal(s.nhits, 1);
	assert_true(s.stack_len > 0);
	line = strchr(s.stack, '\n') + 1;
	if (!parse_line(line, &n, &addr, name, &off, path)) {
		print_error("%s", s.stack);
		fail();
	}
	assert_int_equal(n, 1);
	assert_string_equal(name, "st_last");
	assert_true(elf_sym_off(g_target, "st_last", &last_off, &size));
	assert_int_equal(off, size);
	line = strchr(line, '\n') + 1;
	assert_true(parse_line(line, &n, &addr, name, &off, path));
	assert_string_equal(name, "main");
	assert_int_equal(strlen(line), strcspn(line, "\n") + 1);
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
		T(test_stack_str),
		T(test_stack_str_noreturn),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_STACK\n", argv[0]);
		return 2;
	}
	g_target = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_stack", tests, NULL, NULL);
}
