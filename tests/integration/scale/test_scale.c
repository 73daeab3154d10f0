// SPDX-License-Identifier: LGPL-2.1-or-later
/* Scale: 10,000 probes added, hit and removed; memory per probe; return probes that allocate nothing; tracer placement. */
#include <malloc.h>
#include <sched.h>
#include <sys/syscall.h>

#include "tracee_test.h"

#define NPROBES 10000
/* 256 before the lifeline, whose table's mirror (lib/lifeline_table.c) adds about 9 bytes a probe */
#define MAX_BYTES_PER_PROBE 272

static const char *g_target; /* scale_target */

/*
 * The allocator's and the waits' call counts, by interposing them: the
 * executable's definitions come before libc's for libuprobe too. Not under
 * AddressSanitizer, whose own malloc must stay the one in use.
 */
#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0
#else
#define COUNTING 1
static uint64_t g_allocs, g_waits;
static pid_t g_waits_of; /* the tracee whose stops g_waits counts (not the tracer's waker's) */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
	g_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	g_allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	g_allocs++;
	return __libc_realloc(p, n);
}

pid_t waitpid(pid_t pid, int *st, int opts)
{
	pid_t r = (pid_t)syscall(SYS_wait4, pid, st, opts, NULL);

	if (r > 0 && r == g_waits_of)
		g_waits++;
	return r;
}
#endif

/* What the tracer's heap holds: arena in use plus the blocks malloc mmap'ed. */
static size_t heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

static pid_t spawn_target(struct ctx *c, const char *mode, const char *n)
{
	char *argv[] = { (char *)g_target, (char *)mode, (char *)n, NULL };

	return spawn_or_fail(c, argv);
}

/* The i-th instruction of big (see scale_funcs.S): after the 3-byte mov, groups of 14 bytes. */
static uint64_t big_off(unsigned i)
{
	static const uint8_t starts[4] = { 0, 4, 7, 12 };

	return 3 + 14 * (uint64_t)(i / 4) + starts[i % 4];
}

/* The file bytes the offsets above assume, checked before they are relied on. */
static void check_big_encoding(void)
{
	static const uint8_t group[14] = { 0x48, 0x83, 0xc0, 0x01, 0x48, 0x89, 0xc2,
					   0x48, 0x8d, 0x4c, 0x24, 0x08, 0x31, 0xc9 };
	uint64_t off, size;
	uint8_t buf[3 + 28];

	assert_true(elf_sym_off(g_target, "big", &off, &size));
	assert_int_equal(size, 3 + 14 * 2500 + 1);
	assert_true(elf_file_bytes(g_target, off, buf, sizeof(buf)));
	assert_memory_equal(buf + 3, group, 14);
	assert_memory_equal(buf + 17, group, 14);
}

static void report_bytes(const char *what, size_t before, size_t after, unsigned n)
{
	double per = (double)(after - before) / n;

	print_message("%s: %.1f bytes of tracer heap per probe (%u probes)\n", what, per, n);
#if defined(__SANITIZE_ADDRESS__)
	print_message("  (not checked: AddressSanitizer's allocator does not report to mallinfo2)\n");
#else
	assert_true(after >= before);
	if (per >= MAX_BYTES_PER_PROBE) {
		print_error("%.1f bytes per probe, the limit is %d\n", per, MAX_BYTES_PER_PROBE);
		fail();
	}
#endif
}

/* ---- 10,000 probes on the instructions of one function ---- */

static void test_insns(void **state)
{
	struct ctx *c = *state;
	struct uprobe **p = calloc(NPROBES, sizeof(*p));
	uint64_t warm = 0, total = 0;
	size_t before, after;
	pid_t pid;

	assert_non_null(p);
	check_big_encoding();
	pid = spawn_target(c, "big", "3");
	/* the file parsed and the tables started by a first probe: then count */
	add_probe(c, g_target, "leaf", 0, on_count, &warm);
	before = heap_bytes();
	for (unsigned i = 0; i < NPROBES; i++)
		p[i] = add_probe(c, g_target, "big", big_off(i), on_count, &total);
	after = heap_bytes();
	report_bytes("instructions of one function", before, after, NPROBES);

	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "big_calls"), 3);
	for (unsigned i = 0; i < NPROBES; i++) {
		if (uprobe_hits(p[i]) != 3) {
			print_error("probe %u (big+%#llx): %llu hits, want 3\n", i,
				    (unsigned long long)big_off(i), (unsigned long long)uprobe_hits(p[i]));
			fail();
		}
	}
	assert_int_equal(total, 3 * NPROBES);
	assert_int_equal(warm, 0);
	free(p);
}

/* ---- removing 10,000 probes from a handler; the text is the file's again ---- */

struct rm_ctx {
	struct ctx *c;
	struct uprobe **p;
	uint64_t *hits;     /* per probe */
	int removed, remove_errors;
	uint64_t big_vaddr, cp_vaddr; /* link-time addresses */
	uint8_t *file_bytes;
	size_t big_size;
	int text_checked, text_diffs;
};

static int on_big_insn(struct uprobe_hit *h, void *data)
{
	(*(uint64_t *)data)++;
	return 0;
}

static int on_checkpoint(struct uprobe_hit *h, void *data)
{
	struct rm_ctx *r = data;
	int n = (int)uprobe_hit_arg(h, 0);

	if (n == 1) {
		/* between the two calls of big: every probe goes */
		for (unsigned i = 0; i < NPROBES; i++) {
			if (uprobe_remove(r->p[i]) == 0)
				r->removed++;
			else
				r->remove_errors++;
		}
	} else if (n == 2) {
		/* after the last call: big's bytes in the tracee are the file's */
		uint64_t big = uprobe_hit_addr(h) - r->cp_vaddr + r->big_vaddr;
		uint8_t *buf = malloc(r->big_size);

		if (buf && uprobe_hit_read(h, big, buf, r->big_size) == (ssize_t)r->big_size) {
			r->text_checked = 1;
			for (size_t i = 0; i < r->big_size; i++)
				r->text_diffs += buf[i] != r->file_bytes[i];
		}
		free(buf);
	}
	return 0;
}

static void test_remove_in_handler(void **state)
{
	struct ctx *c = *state;
	struct rm_ctx r = { .c = c };
	struct elf_view v;
	uint64_t big_off0, cp_size;
	pid_t pid;

	check_big_encoding();
	assert_true(elf_view_open(g_target, &v));
	assert_true(elf_sym_vaddr(&v, "big", &r.big_vaddr, &r.big_size));
	assert_true(elf_sym_vaddr(&v, "checkpoint", &r.cp_vaddr, &cp_size));
	elf_view_close(&v);
	assert_true(elf_sym_off(g_target, "big", &big_off0, NULL));
	r.file_bytes = malloc(r.big_size);
	r.p = calloc(NPROBES, sizeof(*r.p));
	r.hits = calloc(NPROBES, sizeof(*r.hits));
	assert_non_null(r.file_bytes);
	assert_non_null(r.p);
	assert_non_null(r.hits);
	assert_true(elf_file_bytes(g_target, big_off0, r.file_bytes, r.big_size));

	pid = spawn_target(c, "big", "2");
	for (unsigned i = 0; i < NPROBES; i++)
		r.p[i] = add_probe(c, g_target, "big", big_off(i), on_big_insn, &r.hits[i]);
	struct uprobe *cp = add_probe(c, g_target, "checkpoint", 0, on_checkpoint, &r);

	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "big_calls"), 2);
	assert_int_equal(uprobe_hits(cp), 3);
	assert_int_equal(r.removed, NPROBES);
	assert_int_equal(r.remove_errors, 0);
	/* the first call hit every probe, the second none */
	for (unsigned i = 0; i < NPROBES; i++) {
		if (r.hits[i] != 1) {
			print_error("probe %u (big+%#llx): %llu hits, want 1\n", i,
				    (unsigned long long)big_off(i), (unsigned long long)r.hits[i]);
			fail();
		}
	}
	assert_int_equal(r.text_checked, 1);
	assert_int_equal(r.text_diffs, 0);
	free(r.file_bytes);
	free(r.p);
	free(r.hits);
}

/* ---- 10,000 function entries, by name ---- */

static void test_fn_entries(void **state)
{
	struct ctx *c = *state;
	struct uprobe **p = calloc(NPROBES, sizeof(*p));
	uint64_t warm = 0, total = 0;
	size_t before, after;
	char name[32];
	pid_t pid;

	assert_non_null(p);
	pid = spawn_target(c, "fns", "1");
	add_probe(c, g_target, "leaf", 0, on_count, &warm);
	before = heap_bytes();
	for (unsigned i = 0; i < NPROBES; i++) {
		snprintf(name, sizeof(name), "fn_%u", i);
		p[i] = add_probe(c, g_target, name, 0, on_count, &total);
	}
	after = heap_bytes();
	report_bytes("function entries", before, after, NPROBES);

	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "fn_calls"), NPROBES);
	for (unsigned i = 0; i < NPROBES; i++) {
		if (uprobe_hits(p[i]) != 1) {
			print_error("probe on fn_%u: %llu hits, want 1\n", i,
				    (unsigned long long)uprobe_hits(p[i]));
			fail();
		}
	}
	assert_int_equal(total, NPROBES);
	free(p);
}

/* ---- every function of libc ---- */

struct libc_fn {
	uint64_t vaddr;
	const char *name;
};

static int cmp_fn(const void *a, const void *b)
{
	const struct libc_fn *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/*
 * The default-version FUNC symbols of libc's .dynsym, one per address, in
 * address order (as a wildcard would add them). IFUNCs are left out:
 * adding one runs its resolver in the tracee, another test's subject.
 */
static int libc_functions(struct elf_view *v, struct libc_fn **out)
{
	Elf64_Shdr *sh = (Elf64_Shdr *)(v->data + v->eh->e_shoff);
	Elf64_Shdr *dynsym = NULL, *versym = NULL;
	struct libc_fn *fns;
	int n = 0, k = 0;

	for (int i = 0; i < v->eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_DYNSYM)
			dynsym = &sh[i];
		else if (sh[i].sh_type == SHT_GNU_versym)
			versym = &sh[i];
	}
	if (!dynsym)
		return 0;
	Elf64_Sym *sym = (Elf64_Sym *)(v->data + dynsym->sh_offset);
	const char *str = (const char *)(v->data + sh[dynsym->sh_link].sh_offset);
	const uint16_t *vs = versym ? (const uint16_t *)(v->data + versym->sh_offset) : NULL;
	size_t nsym = dynsym->sh_size / sizeof(Elf64_Sym);

	fns = calloc(nsym, sizeof(*fns));
	if (!fns)
		return 0;
	for (size_t i = 1; i < nsym; i++) {
		if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC || sym[i].st_shndx == SHN_UNDEF ||
		    !sym[i].st_value || (vs && (vs[i] & 0x8000)))
			continue;
		fns[n].vaddr = sym[i].st_value;
		fns[n].name = str + sym[i].st_name;
		n++;
	}
	qsort(fns, n, sizeof(*fns), cmp_fn);
	for (int i = 0; i < n; i++)
		if (!k || fns[i].vaddr != fns[k - 1].vaddr)
			fns[k++] = fns[i];
	*out = fns;
	return k;
}

static void test_libc_all(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_target, "big", "1", NULL };
	char *want = run_untraced(c, argv);
	struct uprobe *exit_probe = NULL;
	int added = 0, refused = 0, n;
	struct libc_fn *fns = NULL;
	const char *libc = NULL;
	struct elf_view v;
	struct maps m;
	pid_t pid;

	pid = spawn_target(c, "big", "1");
	assert_true(maps_read(pid, &m));
	for (int i = 0; i < m.n && !libc; i++)
		if (strstr(m.e[i].path, "/libc.so"))
			libc = m.e[i].path;
	assert_non_null(libc);
	assert_true(elf_view_open(libc, &v));
	n = libc_functions(&v, &fns);
	assert_true(n > 500);
	UPROBE_OPTS(uprobe_opts, o);
	for (int i = 0; i < n; i++) {
		struct uprobe *p = uprobe_add(c->t, libc, fns[i].name, 0, &o);

		if (p) {
			added++;
			if (!strcmp(fns[i].name, "exit"))
				exit_probe = p;
			continue;
		}
		/* what a first instruction may legitimately be refused for */
		if (errno != EOPNOTSUPP && errno != ENOEXEC && errno != EEXIST) {
			print_error("libc %s: %s (errno %d)\n", fns[i].name,
				    uprobe_tracer_errmsg(c->t), errno);
			fail();
		}
		refused++;
	}
	print_message("libc: %d functions probed, %d refused\n", added, refused);
	assert_true(added > n * 9 / 10);
	assert_non_null(exit_probe);

	run_to_exit(c, pid);
	assert_same_output(want, c->outbuf);
	/* main returned: libc called exit once */
	assert_int_equal(uprobe_hits(exit_probe), 1);
	free(want);
	free(fns);
	elf_view_close(&v);
	maps_free(&m);
}

/* ---- return probes: two stops per call, no allocation once warmed up ---- */

#define RET_CALLS 12000
#define RET_WARM 1000
#define RET_MEASURED 10000

struct ret_ctx {
	uint64_t entries, returns, wrong;
	uint64_t allocs[2], waits[2];
};

static int on_leaf_entry(struct uprobe_hit *h, void *data)
{
	((struct ret_ctx *)data)->entries++;
	return 0;
}

static int on_leaf_return(struct uprobe_hit *h, void *data)
{
	struct ret_ctx *r = data;

	if (uprobe_hit_retval(h) != uprobe_hit_entry_arg(h, 0) + 1)
		r->wrong++;
	r->returns++;
#if COUNTING
	if (r->returns == RET_WARM) {
		r->allocs[0] = g_allocs;
		r->waits[0] = g_waits;
	} else if (r->returns == RET_WARM + RET_MEASURED) {
		r->allocs[1] = g_allocs;
		r->waits[1] = g_waits;
	}
#endif
	return 0;
}

static void test_ret_no_alloc(void **state)
{
	struct ctx *c = *state;
	struct ret_ctx r = { 0 };
	char n[16];
	pid_t pid;

	snprintf(n, sizeof(n), "%d", RET_CALLS);
	pid = spawn_target(c, "leaf", n);
#if COUNTING
	g_waits_of = pid;
#endif
	UPROBE_OPTS(uprobe_opts, o, .handler = on_leaf_entry, .ret_handler = on_leaf_return,
		    .data = &r);
	struct uprobe *p = add_or_fail(c, g_target, "leaf", 0, &o);

	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "leaf_calls"), RET_CALLS);
	assert_int_equal(uprobe_hits(p), RET_CALLS);
	assert_int_equal(uprobe_missed(p), 0);
	assert_int_equal(r.entries, RET_CALLS);
	assert_int_equal(r.returns, RET_CALLS);
	assert_int_equal(r.wrong, 0);
#if COUNTING
	print_message("%d calls after warm-up: %llu allocations, %llu stops\n", RET_MEASURED,
		      (unsigned long long)(r.allocs[1] - r.allocs[0]),
		      (unsigned long long)(r.waits[1] - r.waits[0]));
	assert_int_equal(r.allocs[1] - r.allocs[0], 0);
	/* the entry's int3 and the trampoline's, nothing else */
	assert_int_equal(r.waits[1] - r.waits[0], 2 * RET_MEASURED);
#else
	print_message("allocation and stop counts not checked under AddressSanitizer\n");
#endif
}

/* ---- where the tracer runs ---- */

struct cpu_ctx {
	int calls;
	cpu_set_t seen; /* the run thread's affinity in the first handler */
};

static int on_leaf_cpu(struct uprobe_hit *h, void *data)
{
	struct cpu_ctx *r = data;

	if (!r->calls++ && sched_getaffinity(0, sizeof(r->seen), &r->seen) < 0)
		CPU_ZERO(&r->seen);
	return 0;
}

static bool only_cpu(const cpu_set_t *m, int cpu)
{
	return CPU_COUNT(m) == 1 && CPU_ISSET(cpu, m);
}

static void test_set_cpu_errors(void **state)
{
	struct ctx *c = *state;
	cpu_set_t all;
	int outside = -1;

	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	for (int cpu = CPU_SETSIZE - 1; cpu >= 0 && outside < 0; cpu--)
		if (!CPU_ISSET(cpu, &all))
			outside = cpu;

	errno = 0;
	assert_int_equal(uprobe_tracer_set_cpu(NULL, 0), -EINVAL);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(uprobe_tracer_set_cpu(c->t, -3), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "-3"));
	assert_int_equal(uprobe_tracer_set_cpu(c->t, CPU_SETSIZE), -EINVAL);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "is not a CPU number"));
	if (outside >= 0) {
		char want[32];

		assert_int_equal(uprobe_tracer_set_cpu(c->t, outside), -EINVAL);
		snprintf(want, sizeof(want), "CPU %d", outside);
		assert_non_null(strstr(uprobe_tracer_errmsg(c->t), want));
	}
	/* the good values */
	assert_int_equal(uprobe_tracer_set_cpu(c->t, UPROBE_CPU_FOLLOW), 0);
	assert_int_equal(uprobe_tracer_set_cpu(c->t, UPROBE_CPU_ANY), 0);
}

/* Two CPUs this test may use, or skip: on one CPU no placement can be told apart. */
static void two_cpus(cpu_set_t *all, int *first, int *last)
{
	*first = *last = -1;
	assert_int_equal(sched_getaffinity(0, sizeof(*all), all), 0);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, all))
			continue;
		if (*first < 0)
			*first = cpu;
		*last = cpu;
	}
	if (CPU_COUNT(all) < 2) {
		print_message("skipped: this process may run on one CPU only\n");
		skip();
	}
}

static void test_set_cpu_pinned(void **state)
{
	struct ctx *c = *state;
	struct cpu_ctx r = { 0 };
	cpu_set_t all, after;
	int first, last;
	pid_t pid;

	two_cpus(&all, &first, &last);
	pid = spawn_target(c, "leaf", "3");
	add_probe(c, g_target, "leaf", 0, on_leaf_cpu, &r);
	assert_int_equal(uprobe_tracer_set_cpu(c->t, last), 0);
	run_to_exit(c, pid);
	assert_int_equal(r.calls, 3);
	if (!only_cpu(&r.seen, last)) {
		print_error("in the handler the run thread may run on %d CPUs, want CPU %d alone\n",
			    CPU_COUNT(&r.seen), last);
		fail();
	}
	/* run() gave the thread its own affinity back */
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_true(CPU_EQUAL(&after, &all));
}

static void test_set_cpu_follow(void **state)
{
	struct ctx *c = *state;
	struct cpu_ctx r = { 0 };
	cpu_set_t all, after, one;
	int first, last;
	pid_t pid;

	two_cpus(&all, &first, &last);
	pid = spawn_target(c, "leaf", "3");
	/* the tracee pinned to the first CPU: following puts the tracer there too */
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	assert_int_equal(sched_setaffinity(pid, sizeof(one), &one), 0);
	add_probe(c, g_target, "leaf", 0, on_leaf_cpu, &r);
	assert_int_equal(uprobe_tracer_set_cpu(c->t, UPROBE_CPU_FOLLOW), 0);
	run_to_exit(c, pid);
	assert_int_equal(r.calls, 3);
	if (!only_cpu(&r.seen, first)) {
		print_error("in the handler the run thread may run on %d CPUs, want CPU %d alone\n",
			    CPU_COUNT(&r.seen), first);
		fail();
	}
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_true(CPU_EQUAL(&after, &all));

	/* a tracee free to run anywhere leaves the tracer free too */
	memset(&r, 0, sizeof(r));
	pid = spawn_target(c, "leaf", "3");
	run_to_exit(c, pid);
	assert_int_equal(r.calls, 3);
	if (!CPU_EQUAL(&r.seen, &all)) {
		print_error("following an unpinned tracee, the run thread may run on %d CPUs, "
			    "want all %d\n", CPU_COUNT(&r.seen), CPU_COUNT(&all));
		fail();
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_insns, ctx_setup, ctx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_in_handler, ctx_setup, ctx_teardown),
		cmocka_unit_test_setup_teardown(test_fn_entries, ctx_setup, ctx_teardown),
		cmocka_unit_test_setup_teardown(test_libc_all, ctx_setup, ctx_teardown),
		cmocka_unit_test_setup_teardown(test_ret_no_alloc, ctx_setup, ctx_teardown),
		cmocka_unit_test_setup_teardown(test_set_cpu_errors, ctx_setup, ctx_teardown),
		cmocka_unit_test_setup_teardown(test_set_cpu_pinned, ctx_setup, ctx_teardown),
		cmocka_unit_test_setup_teardown(test_set_cpu_follow, ctx_setup, ctx_teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s SCALE_TARGET [TEST]\n", argv[0]);
		return 2;
	}
	g_target = argv[1];
	tracee_test_init("scale", 150, argc > 2 ? argv[2] : NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
