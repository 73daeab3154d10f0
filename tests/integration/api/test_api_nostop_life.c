// SPDX-License-Identifier: LGPL-2.1-or-later
/* No-stop probes through a process's life: signals, detach, exec, fork, seccomp, new threads. */
#include <inttypes.h>

#include "tracee_test.h"

static const char *g_prog;

#define RING_MAP "libuprobe-ring"
#define EXEC_BASE 1000000 /* as in api_nostop_life.c */
#define MAX_TAGS 16

/* ---- the detours libuprobe reports (debug lines through the print callback) ---- */

#define MAX_DETOURS 16

struct detour_line {
	int pid;
	uint64_t addr;
	unsigned len;
};

static struct detour_line g_dt[MAX_DETOURS];
static int g_ndt;

static int detour_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	const char *p;
	unsigned long long a;
	unsigned n;
	int pid = 0;
	va_list ap2;

	va_copy(ap2, ap);
	capture_print(level, fmt, ap2);
	va_end(ap2);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	p = strstr(buf, "jump detour for 0x");
	if (p && !strstr(p, "taken down") && g_ndt < MAX_DETOURS &&
	    sscanf(p, "jump detour for 0x%llx (%*[^)]), %u bytes", &a, &n) == 2) {
		if (strstr(buf, "pid "))
			pid = atoi(strstr(buf, "pid ") + 4);
		g_dt[g_ndt].pid = pid;
		g_dt[g_ndt].addr = a;
		g_dt[g_ndt++].len = n;
	}
	return 0;
}

/* Detours made in pid. */
static int detours_of(pid_t pid)
{
	int n = 0;

	for (int i = 0; i < g_ndt; i++)
		n += g_dt[i].pid == pid;
	return n;
}

static int setup(void **state)
{
	g_ndt = 0;
	return ctx_setup(state);
}

static pid_t spawn_prog(struct ctx *c, const char *a1, const char *a2, const char *a3,
			const char *a4)
{
	char *argv[] = { (char *)g_prog, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL };

	return spawn_or_fail(c, argv);
}

static struct uprobe *add_nostop(struct ctx *c, const char *sym, uprobe_handler_fn fn, void *data)
{
	UPROBE_OPTS(uprobe_opts, o, .handler = fn, .data = data, .nostop = true);

	return add_or_fail(c, g_prog, sym, 0, &o);
}

/* Mappings of pid whose name contains RING_MAP; -1 if the maps cannot be read. */
static int ring_maps(pid_t pid)
{
	struct maps m;
	int n = 0;

	if (!maps_read(pid, &m))
		return -1;
	for (int i = 0; i < m.n; i++)
		n += strstr(m.e[i].path, RING_MAP) != NULL;
	maps_free(&m);
	return n;
}

/*
 * Per-probe record of nl_f(x, tag) hits: how they came (from the ring or by
 * a stop), by which process, with which registers.
 */
struct hits {
	uint64_t n, async, sync;
	uint64_t addr, bad_addr, bad_rip;
	uint64_t argsum;
	pid_t pid;                /* the process expected to hit */
	uint64_t other_pid;       /* hits of any other process */
	pid_t other;              /* the last of those */
	uint64_t other_async;     /* ... delivered from a ring */
	long next;                /* exec: the next x expected, in order */
	uint64_t out_of_order;
	struct uprobe_tracer *t;  /* detach: stopped this long after the first hit */
	double first_s, stop_after_s;
	bool stopped;
};

static int on_f(struct uprobe_hit *h, void *data)
{
	struct hits *r = data;
	long x = (long)uprobe_hit_arg(h, 0);

	r->n++;
	if (!r->addr)
		r->addr = uprobe_hit_addr(h);
	if (uprobe_hit_addr(h) != r->addr)
		r->bad_addr++;
	if (uprobe_hit_regs(h)->rip != uprobe_hit_addr(h))
		r->bad_rip++;
	if (r->pid && uprobe_hit_pid(h) != r->pid) {
		r->other_pid++;
		r->other = uprobe_hit_pid(h);
		r->other_async += uprobe_hit_is_async(h);
		return 0;
	}
	if (uprobe_hit_is_async(h))
		r->async++;
	else
		r->sync++;
	r->argsum += (uint64_t)x;
	if (x != r->next)
		r->out_of_order++;
	r->next = x + 1;
	if (r->stop_after_s > 0) {
		if (!r->first_s)
			r->first_s = now_s();
		else if (!r->stopped && now_s() - r->first_s >= r->stop_after_s) {
			r->stopped = true;
			uprobe_tracer_stop(r->t);
		}
	}
	return 0;
}

static void assert_hits(const char *what, const struct hits *r, uint64_t want)
{
	if (r->n != want || r->bad_addr || r->bad_rip) {
		print_error("%s: %llu hits (want %llu), %llu with another address, %llu with "
			    "another rip\n", what, (unsigned long long)r->n,
			    (unsigned long long)want, (unsigned long long)r->bad_addr,
			    (unsigned long long)r->bad_rip);
		fail();
	}
}

/* ---- 1. SIGPROF on two threads hitting a no-stop probe ---- */

struct prof_rec {
	pid_t pid;
	int reports;
	unsigned npcs, foreign, in_jump, in_scratch;
	uint64_t first_bad;
	int ring_at_report;
};

/* nl_report(pcs, n), a probe that stops: every interrupted pc in the program's text. */
static int on_report(struct uprobe_hit *h, void *data)
{
	struct prof_rec *p = data;
	unsigned n = (unsigned)uprobe_hit_arg(h, 1);
	uint64_t *pcs = calloc(n ? n : 1, sizeof(*pcs));
	struct maps m;

	p->reports++;
	p->ring_at_report = ring_maps(p->pid);
	if (!pcs || !maps_read(p->pid, &m)) {
		free(pcs);
		return 0;
	}
	if (uprobe_hit_read(h, uprobe_hit_arg(h, 0), pcs, n * sizeof(*pcs)) ==
	    (ssize_t)(n * sizeof(*pcs))) {
		p->npcs = n;
		for (unsigned i = 0; i < n; i++) {
			const struct map_ent *e = maps_find(&m, pcs[i]);
			bool bad = false;

			/* file text or the vdso: never an anonymous page (the scratch area) */
			if (!e || !(in_file_text(&m, pcs[i]) || !strcmp(e->path, "[vdso]"))) {
				p->foreign++;
				bad = true;
			}
			if (e && !e->path[0] && e->perms[2] == 'x')
				p->in_scratch++;
			/* nor under the jmp, between the probed instruction and the jump's end */
			for (int d = 0; d < g_ndt; d++) {
				if (pcs[i] > g_dt[d].addr && pcs[i] < g_dt[d].addr + g_dt[d].len) {
					p->in_jump++;
					bad = true;
				}
			}
			if (bad && !p->first_bad)
				p->first_bad = pcs[i];
		}
	}
	maps_free(&m);
	free(pcs);
	return 0;
}

static void test_sigprof(void **state)
{
	struct ctx *c = *state;
	struct hits f = { 0 };
	struct prof_rec p = { 0 };
	const long nthreads = 2, calls = 500000;
	pid_t pid = spawn_prog(c, "prof", "2", "500000", NULL);

	p.pid = pid;
	add_nostop(c, "nl_f", on_f, &f);
	add_probe(c, g_prog, "nl_report", 0, on_report, &p);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "total_calls"), nthreads * calls);
	assert_int_equal(kv(c->outbuf, "argsum"), nthreads * (calls * (calls - 1) / 2));
	/* every call once, with the registers it had: the sum of the first arguments */
	assert_hits("nl_f", &f, nthreads * calls);
	assert_int_equal(f.argsum, nthreads * (calls * (calls - 1) / 2));
	/* no-stop really: nearly every hit came from the ring */
	if (g_ndt != 1 || detours_of(pid) != 1 || f.async < f.n / 2) {
		print_error("%d detours, %llu of %llu hits from the ring\n", g_ndt,
			    (unsigned long long)f.async, (unsigned long long)f.n);
		fail();
	}
	assert_int_equal(g_dt[0].addr, f.addr);
	assert_int_equal(p.reports, 1);
	assert_int_equal(p.ring_at_report, 1);
	assert_true(kv(c->outbuf, "prof_signals") > 0);
	assert_true(p.npcs > 0);
	if (p.foreign || p.in_jump) {
		print_error("of %u interrupted pcs, %u outside the program's text (%u in an "
			    "anonymous executable page), %u under the jmp; first 0x%llx\n", p.npcs,
			    p.foreign, p.in_scratch, p.in_jump, (unsigned long long)p.first_bad);
		fail();
	}
}

/* ---- 2. detach while threads run through the detour ---- */

static bool same_map(const struct map_ent *a, const struct map_ent *b)
{
	return a->start == b->start && a->end == b->end && !strcmp(a->perms, b->perms);
}

/* Anonymous executable mappings in now that were not in before; each printed. */
static int new_anon_exec(const struct maps *before, const struct maps *now, bool verbose)
{
	int n = 0;

	for (int i = 0; i < now->n; i++) {
		const struct map_ent *e = &now->e[i];
		bool old = false;

		if (e->perms[2] != 'x' || e->path[0])
			continue;
		for (int j = 0; j < before->n && !old; j++)
			old = same_map(e, &before->e[j]);
		if (!old && verbose)
			print_error("  new anonymous executable mapping %llx-%llx %s\n",
				    (unsigned long long)e->start, (unsigned long long)e->end,
				    e->perms);
		n += !old;
	}
	return n;
}

static bool maps_have(const struct maps *m, const char *path)
{
	char real[PATH_MAX];

	if (!realpath(path, real))
		return false;
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].path, real))
			return true;
	return false;
}

static void test_detach_while_running(void **state)
{
	struct ctx *c = *state;
	struct hits f = { .t = c->t, .stop_after_s = 0.2 };
	struct maps before, during, after;
	struct uprobe *p;
	int st, ring_during, ring_after, new_during, new_after;
	const char *out;
	/* 2 threads calling nl_f for 1.5 s from their start: long past the detach */
	pid_t pid = spawn_prog(c, "spin", "2", "1500", NULL);

	assert_true(maps_read(pid, &before));
	p = add_nostop(c, "nl_f", on_f, &f);
	run_ok(c);
	assert_true(f.stopped);
	/* the ring and a scratch area are there while attached, or this tests nothing */
	assert_true(maps_read(pid, &during));
	ring_during = ring_maps(pid);
	new_during = new_anon_exec(&before, &during, false);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	assert_true(maps_read(pid, &after));
	ring_after = ring_maps(pid);
	/* read while the program runs: a zombie has no mappings at all */
	assert_true(maps_have(&after, g_prog));
	new_after = new_anon_exec(&before, &after, true);
	maps_free(&before);
	maps_free(&during);
	maps_free(&after);
	assert_int_equal(ring_during, 1);
	assert_true(new_during >= 1);
	assert_int_equal(ring_after, 0);
	assert_int_equal(new_after, 0);

	st = wait_child(c, pid);
	out = read_out(c);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		print_error("after detach: status %#x, output:\n%s\n", st, out);
		fail();
	}
	assert_int_equal(kv(out, "bad"), 0);
	/* every hit counted went through the handler, and no more than were made */
	assert_true(f.n > 0);
	assert_int_equal(uprobe_hits(p), f.n);
	assert_true(f.async > 0);
	assert_true((long)f.n <= kv(out, "total_calls"));
	assert_int_equal(f.bad_addr + f.bad_rip, 0);
}

/* ---- 3. exec: the first image's hits come before the second image's ---- */

static void test_exec(void **state)
{
	struct ctx *c = *state;
	const long k = 3000, m = 2000;
	struct hits f = { 0 };
	pid_t pid = spawn_prog(c, "exec", "3000", "2000", NULL);

	f.pid = pid;
	add_nostop(c, "nl_f", on_f, &f);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "first calls"), k);
	assert_int_equal(kv(c->outbuf, "second calls"), m);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(f.other_pid, 0);
	/*
	 * x runs 0..K-1 in the first image, EXEC_BASE.. in the second: in
	 * order, so one jump between them, where the second image starts
	 */
	if (f.n != (uint64_t)(k + m) || f.out_of_order != 1 || f.next != EXEC_BASE + m) {
		print_error("%llu hits (want %ld), %llu out of order (want 1: at the exec), "
			    "next %ld\n", (unsigned long long)f.n, k + m,
			    (unsigned long long)f.out_of_order, f.next);
		fail();
	}
	assert_int_equal(f.argsum, k * (k - 1) / 2 + m * EXEC_BASE + m * (m - 1) / 2);
	/* both images had a detour (and a ring: most hits came from one) */
	assert_int_equal(g_ndt, 2);
	assert_true(f.async > (uint64_t)(k + m) / 2);
}

/* ---- 4 and 5. fork, not followed and followed ---- */

/* "key=0x..." as a full 64-bit value (kv() would stop at LONG_MAX). */
static uint64_t kv_u64(const char *buf, const char *key)
{
	char pat[64];
	const char *p;
	uint64_t v = 0;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(buf, pat);
	if (!p || sscanf(p + strlen(pat), "%" SCNx64, &v) != 1) {
		print_error("key '%s' missing from tracee output:\n%s\n", key, buf);
		fail();
	}
	return v;
}

static void fork_case(struct ctx *c, bool follow)
{
	const long a = 3000, b = 2000, cc = 1000;
	struct hits f = { 0 };
	uint64_t off, size, file[2], text[2];
	pid_t pid, child;

	assert_int_equal(uprobe_tracer_follow_forks(c->t, follow), 0);
	pid = spawn_prog(c, "fork", "3000", "2000", "1000");
	f.pid = pid;
	add_nostop(c, "nl_f", on_f, &f);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "child_bad"), 0);
	assert_int_equal(kv(c->outbuf, "child_status"), 0);
	assert_int_equal(kv(c->outbuf, "parent calls"), a + cc);
	assert_int_equal(kv(c->outbuf, "child calls"), b);
	child = (pid_t)kv(c->outbuf, "child_pid");
	assert_true(elf_sym_off(g_prog, "nl_f", &off, &size));
	assert_true(elf_file_bytes(g_prog, off, file, sizeof(file)));
	text[0] = kv_u64(c->outbuf, "child_text0");
	text[1] = kv_u64(c->outbuf, "child_text1");
	assert_true(child > 0 && child != pid);
	/* the parent: A + C hits, its own, with x 0..A-1 and 0..C-1 (tags are not in x) */
	assert_int_equal(f.n - f.other_pid, a + cc);
	assert_int_equal(f.argsum, a * (a - 1) / 2 + cc * (cc - 1) / 2);
	assert_true(f.async > 0);
	/* a followed child makes a detour of its own (into the same slot, with its own ring) */
	assert_int_equal(detours_of(pid), 1);
	if (!follow) {
		assert_int_equal(g_ndt, 1);
		/* the child ran on the file's bytes, without the ring, unseen */
		assert_int_equal(f.other_pid, 0);
		assert_memory_equal(text, file, sizeof(file));
		assert_int_equal(kv(c->outbuf, "child_ring"), 0);
	} else {
		/*
		 * The child's hits: all of them, its own; after its first hit
		 * they come from a ring of its own, which replaced the copy of
		 * its parent's it inherited (one ring mapped, not two).
		 */
		if (f.other_pid != (uint64_t)b || f.other != child || !f.other_async) {
			print_error("child %d: %llu hits (want %ld), last by %d, %llu from a ring\n",
				    (int)child, (unsigned long long)f.other_pid, b, (int)f.other,
				    (unsigned long long)f.other_async);
			fail();
		}
		assert_int_equal(kv(c->outbuf, "child_ring"), 1);
		assert_true(tracer_saw_exit(c, child));
		assert_int_equal(uprobe_tracer_exit_status(c->t, child), 0);
	}
}

static void test_fork_not_followed(void **state)
{
	fork_case(*state, false);
}

static void test_fork_followed(void **state)
{
	fork_case(*state, true);
}

/* ---- 6. a seccomp filter forbidding memfd_create: no ring, every hit stops ---- */

static void test_seccomp_no_ring(void **state)
{
	struct ctx *c = *state;
	const long n = 3000;
	struct hits f = { 0 };
	pid_t pid = spawn_prog(c, "seccomp", "3000", NULL, NULL);

	f.pid = pid;
	add_nostop(c, "nl_f", on_f, &f);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "calls"), n);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "ring"), 0);
	assert_hits("nl_f", &f, n);
	assert_int_equal(f.sync, n);
	assert_int_equal(f.async, 0);
	assert_int_equal(f.out_of_order, 0);
	assert_int_equal(f.argsum, n * (n - 1) / 2);
}

/* ---- 6b. a program that makes rdtsc fault: no-stop hits still recorded, the program unharmed ---- */

static void test_rdtsc_faults(void **state)
{
	struct ctx *c = *state;
	const long n = 3000;
	struct hits f = { 0 };
	pid_t pid = spawn_prog(c, "notsc", "3000", NULL, NULL);

	f.pid = pid;
	add_nostop(c, "nl_f", on_f, &f);
	run_to_exit(c, pid);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), 0);
	assert_int_equal(kv(c->outbuf, "calls"), n);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_hits("nl_f", &f, n);
	/* through the ring, the gadget's rdtsc faulting at every one of them */
	assert_true(f.async > n / 2);
	assert_int_equal(f.out_of_order, 0);
	assert_int_equal(f.argsum, n * (n - 1) / 2);
}

/* ---- 7. threads made after the ring exists: each hit names its thread ---- */

struct tag_rec {
	uint64_t n, async, untagged;
	uint64_t per_tag[MAX_TAGS];
	pid_t first_tid[MAX_TAGS];
	uint64_t mixed[MAX_TAGS]; /* hits of the tag with another tid than its first */
	uint64_t tid0[MAX_TAGS];
};

static int on_tag(struct uprobe_hit *h, void *data)
{
	struct tag_rec *r = data;
	long tag = (long)uprobe_hit_arg(h, 1);
	pid_t tid = uprobe_hit_tid(h);

	r->n++;
	r->async += uprobe_hit_is_async(h);
	if (tag < 0 || tag >= MAX_TAGS) {
		r->untagged++;
		return 0;
	}
	r->per_tag[tag]++;
	if (!tid)
		r->tid0[tag]++;
	if (!r->first_tid[tag])
		r->first_tid[tag] = tid;
	else if (r->first_tid[tag] != tid)
		r->mixed[tag]++;
	return 0;
}

static void test_new_threads(void **state)
{
	struct ctx *c = *state;
	const int nthreads = 8;
	const long calls = 1000;
	struct tag_rec r = { 0 };
	pid_t pid = spawn_prog(c, "tags", "8", "1000", NULL);
	bool ok = true;

	add_nostop(c, "nl_f", on_tag, &r);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "threads"), nthreads);
	/* nl_f(5, 100) by the main thread first, then the tagged calls */
	assert_int_equal(r.untagged, 1);
	assert_int_equal(r.n, 1 + nthreads * calls);
	assert_true(r.async > 0);
	for (int i = 0; i < nthreads; i++) {
		char key[16];
		long tid;

		snprintf(key, sizeof(key), "tid%d", i);
		tid = kv(c->outbuf, key);
		if (r.per_tag[i] != (uint64_t)calls || r.first_tid[i] != tid || r.mixed[i]) {
			print_error("thread %d (tid %ld): %llu hits (want %ld), first named tid %d, "
				    "%llu named another, %llu named 0\n", i, tid,
				    (unsigned long long)r.per_tag[i], calls, (int)r.first_tid[i],
				    (unsigned long long)r.mixed[i], (unsigned long long)r.tid0[i]);
			ok = false;
		}
	}
	assert_true(ok);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_sigprof),
		T(test_detach_while_running),
		T(test_exec),
		T(test_fork_not_followed),
		T(test_fork_followed),
		T(test_seccomp_no_ring),
		T(test_rdtsc_faults),
		T(test_new_threads),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_NOSTOP_LIFE\n", argv[0]);
		return 2;
	}
	g_prog = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	uprobe_set_print(detour_print);
	return cmocka_run_group_tests_name("api_nostop_life", tests, NULL, NULL);
}
