// SPDX-License-Identifier: LGPL-2.1-or-later
/* Jump-optimized probes on real processes: which get detours, counts, removal, signals, faults. */
#include <sched.h>
#include <sys/syscall.h>

#include "tracee_test.h"

static const char *g_prog;

/* ---- the detours libuprobe reports (debug lines through the print callback) ---- */

#define MAX_DETOURS 64

struct detour_line {
	uint64_t addr;
	unsigned len;
};

static struct detour_line g_dt[MAX_DETOURS];
static int g_ndt, g_ndown;
static int g_nstack; /* attempts postponed for a value on a thread's stack */

static int detour_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	const char *p;
	unsigned long long a;
	unsigned n;
	va_list ap2;

	va_copy(ap2, ap);
	capture_print(level, fmt, ap2);
	va_end(ap2);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strstr(buf, "postponed") && strstr(buf, "a thread's stack holds an address"))
		g_nstack++;
	p = strstr(buf, "jump detour for 0x");
	if (!p)
		return 0;
	if (strstr(p, "taken down")) {
		g_ndown++;
	} else if (sscanf(p, "jump detour for 0x%llx (%*[^)]), %u bytes", &a, &n) == 2 &&
		   g_ndt < MAX_DETOURS) {
		g_dt[g_ndt].addr = a;
		g_dt[g_ndt++].len = n;
	}
	return 0;
}

/* How many bytes the detour made for addr covers; 0 when none was made. */
static unsigned detour_len(uint64_t addr)
{
	for (int i = 0; i < g_ndt; i++)
		if (g_dt[i].addr == addr)
			return g_dt[i].len;
	return 0;
}

static int setup(void **state)
{
	g_ndt = g_ndown = g_nstack = 0;
	return ctx_setup(state);
}

/* ---- the target's symbols ---- */

struct sym {
	uint64_t vaddr, off, size;
};

static struct sym sym_of_prog(const char *name)
{
	struct elf_view v;
	struct sym s = { 0 };

	assert_true(elf_view_open(g_prog, &v));
	assert_true(elf_sym_vaddr(&v, name, &s.vaddr, &s.size));
	assert_true(elf_vaddr_off(&v, s.vaddr, &s.off));
	elf_view_close(&v);
	return s;
}

static pid_t spawn_prog(struct ctx *c, const char *a1, const char *a2, const char *a3)
{
	char *argv[] = { (char *)g_prog, (char *)a1, (char *)a2, (char *)a3, NULL };

	return spawn_or_fail(c, argv);
}

/*
 * Per-probe record: hits, the probed address as the handler saw it, and how
 * many hits found the jmp (e9) at that address, i.e. came through a detour.
 */
struct rec {
	uint64_t n;
	uint64_t addr;
	uint64_t via_jmp;
	uint64_t bad_addr, bad_rip;
};

static void note_hit(struct uprobe_hit *h, struct rec *r)
{
	uint8_t byte = 0;

	r->n++;
	if (!r->addr)
		r->addr = uprobe_hit_addr(h);
	if (uprobe_hit_addr(h) != r->addr)
		r->bad_addr++;
	if (uprobe_hit_regs(h)->rip != r->addr)
		r->bad_rip++;
	if (uprobe_hit_read(h, r->addr, &byte, 1) == 1 && byte == 0xe9)
		r->via_jmp++;
}

static int on_rec(struct uprobe_hit *h, void *data)
{
	note_hit(h, data);
	return 0;
}

static void assert_rec(const char *what, const struct rec *r, uint64_t want)
{
	if (r->n != want || r->bad_addr || r->bad_rip) {
		print_error("%s: %llu hits (want %llu), %llu with another address, %llu with "
			    "another rip\n", what, (unsigned long long)r->n,
			    (unsigned long long)want, (unsigned long long)r->bad_addr,
			    (unsigned long long)r->bad_rip);
		fail();
	}
}

/* A probe with detour wanted or refused, and its hits compared with the program's count. */
static void assert_detour(const char *what, const struct rec *r, unsigned want_len)
{
	unsigned len = detour_len(r->addr);

	if (len != want_len || (want_len && !r->via_jmp) || (!want_len && r->via_jmp)) {
		print_error("%s at 0x%llx: detour of %u bytes (want %u), %llu hits through the "
			    "jmp\n", what, (unsigned long long)r->addr, len, want_len,
			    (unsigned long long)r->via_jmp);
		fail();
	}
}

/* ---- which functions get a detour; backtraces through one ---- */

struct bt_rec {
	struct rec r;
	uint64_t checked, bad;
};

/* At dt_push's entry [rsp] is the return address: the backtrace's second pc must be it. */
static int on_push_bt(struct uprobe_hit *h, void *data)
{
	struct bt_rec *b = data;
	uint64_t pcs[8], ra = 0;
	int n;

	note_hit(h, &b->r);
	if (b->r.via_jmp == 0 || b->checked >= 200)
		return 0;
	b->checked++;
	n = uprobe_hit_backtrace(h, pcs, 8);
	if (uprobe_hit_read(h, uprobe_hit_regs(h)->rsp, &ra, sizeof(ra)) != sizeof(ra) || n < 2 ||
	    pcs[0] != uprobe_hit_addr(h) || pcs[1] != ra)
		b->bad++;
	return 0;
}

static void test_which_get_detours(void **state)
{
	struct ctx *c = *state;
	struct bt_rec push = { 0 };
	struct rec endbr = { 0 }, riprel = { 0 }, call = { 0 }, loop = { 0 }, sw = { 0 };
	pid_t pid = spawn_prog(c, "calls", "2000", NULL);

	add_probe(c, g_prog, "dt_push", 0, on_push_bt, &push);
	add_probe(c, g_prog, "dt_endbr", 0, on_rec, &endbr);
	add_probe(c, g_prog, "dt_riprel", 0, on_rec, &riprel);
	add_probe(c, g_prog, "dt_call", 0, on_rec, &call);
	add_probe(c, g_prog, "dt_loop", 0, on_rec, &loop);
	add_probe(c, g_prog, "dt_switch", 0, on_rec, &sw);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "calls"), 2000);
	/* dt_push is called by the round and by dt_caller */
	assert_rec("dt_push", &push.r, 4000);
	assert_rec("dt_endbr", &endbr, 2000);
	assert_rec("dt_riprel", &riprel, 2000);
	assert_rec("dt_call", &call, 2000);
	assert_rec("dt_loop", &loop, 2000);
	assert_rec("dt_switch", &sw, 2000);
	assert_detour("dt_push: push %rbp; mov %rsp,%rbp; mov %rdi,%rax", &push.r, 7);
	assert_detour("dt_endbr: endbr64; push %rbx", &endbr, 5);
	assert_detour("dt_riprel: mov x(%rip),%rax", &riprel, 7);
	assert_detour("dt_call: call rel32", &call, 5);
	assert_detour("dt_loop: its loop jumps to +1", &loop, 0);
	assert_detour("dt_switch: a jump table", &sw, 0);
	assert_true(push.checked > 0);
	if (push.bad) {
		print_error("%llu of %llu backtraces through the detour did not show the caller\n",
			    (unsigned long long)push.bad, (unsigned long long)push.checked);
		fail();
	}
}

/* The switch off: no detour at all, the same counts. */
static void test_optimize_off(void **state)
{
	struct ctx *c = *state;
	struct rec push = { 0 }, call = { 0 };
	pid_t pid = spawn_prog(c, "calls", "500", NULL);

	assert_int_equal(uprobe_tracer_set_optimize(c->t, false), 0);
	add_probe(c, g_prog, "dt_push", 0, on_rec, &push);
	add_probe(c, g_prog, "dt_call", 0, on_rec, &call);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_rec("dt_push", &push, 1000);
	assert_rec("dt_call", &call, 500);
	assert_int_equal(g_ndt, 0);
	assert_int_equal(push.via_jmp + call.via_jmp, 0);
	assert_int_equal(uprobe_tracer_set_optimize(NULL, true), -EINVAL);
}

/* ---- handlers changing registers ---- */

struct add_rec {
	struct rec r;
	long want_sum, want42;
};

/*
 * dt_add(i + 1000, 1): on even i the second argument becomes 2; when i % 3 == 0
 * the call is skipped and returns 42; other hits leave every register alone.
 */
static int on_add(struct uprobe_hit *h, void *data)
{
	struct add_rec *a = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	long i = (long)regs->rdi - 1000;
	uint64_t ra;

	note_hit(h, &a->r);
	if (i % 3 == 0 && uprobe_hit_read(h, regs->rsp, &ra, sizeof(ra)) == sizeof(ra)) {
		regs->rax = 42;
		regs->rip = ra;
		regs->rsp += 8;
		a->want_sum += 42;
		a->want42++;
		return 0;
	}
	if (i % 2 == 0)
		regs->rsi = 2;
	a->want_sum += i + 1000 + (long)regs->rsi;
	return 0;
}

static void test_handler_changes_registers(void **state)
{
	struct ctx *c = *state;
	struct add_rec a = { 0 };
	pid_t pid = spawn_prog(c, "add", "3000", NULL);

	add_probe(c, g_prog, "dt_add", 0, on_add, &a);
	run_to_exit(c, pid);
	assert_rec("dt_add", &a.r, 3000);
	assert_detour("dt_add", &a.r, 8);
	assert_int_equal(kv(c->outbuf, "add_calls"), 3000);
	assert_int_equal(kv(c->outbuf, "add42"), a.want42);
	assert_int_equal(kv(c->outbuf, "add_sum"), a.want_sum);
}

/* ---- return probes and a second probe on an optimized instruction ---- */

struct ret_rec {
	uint64_t entries, returns, bad;
};

static int on_push_entry(struct uprobe_hit *h, void *data)
{
	((struct ret_rec *)data)->entries++;
	return 0;
}

static int on_push_return(struct uprobe_hit *h, void *data)
{
	struct ret_rec *r = data;

	r->returns++;
	if (uprobe_hit_retval(h) != uprobe_hit_entry_arg(h, 0) + 1)
		r->bad++;
	return 0;
}

static void test_return_probe_on_detour(void **state)
{
	struct ctx *c = *state;
	struct ret_rec rr = { 0 };
	struct rec plain = { 0 };
	pid_t pid = spawn_prog(c, "calls", "1500", NULL);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_push_entry, .ret_handler = on_push_return,
		    .data = &rr);
	struct uprobe *p = add_or_fail(c, g_prog, "dt_push", 0, &o);

	add_probe(c, g_prog, "dt_push", 0, on_rec, &plain);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_rec("dt_push (second probe)", &plain, 3000);
	assert_detour("dt_push", &plain, 7);
	assert_int_equal(rr.entries, 3000);
	assert_int_equal(rr.returns, 3000);
	assert_int_equal(rr.bad, 0);
	assert_int_equal(uprobe_hits(p), 3000);
	assert_int_equal(uprobe_missed(p), 0);
}

/* ---- threads ---- */

struct thr_rec {
	struct rec r;
	pid_t pid;
	bool signal;
};

static int on_thr(struct uprobe_hit *h, void *data)
{
	struct thr_rec *t = data;

	note_hit(h, &t->r);
	/* pending when the thread resumes: it arrives while the thread is in the detour */
	if (t->signal)
		syscall(SYS_tgkill, t->pid, uprobe_hit_tid(h), SIGUSR1);
	return 0;
}

static void threads_case(struct ctx *c, bool signal)
{
	static const char *const fns[] = { "dt_push", "dt_endbr", "dt_riprel", "dt_call" };
	static const unsigned lens[] = { 7, 5, 7, 5 };
	struct thr_rec r[4] = { 0 };
	pid_t pid = spawn_prog(c, "threads", "4", "3000");

	for (int i = 0; i < 4; i++) {
		r[i].pid = pid;
		r[i].signal = signal;
		add_probe(c, g_prog, fns[i], 0, on_thr, &r[i]);
	}
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "total_calls"), 4 * 3000);
	for (int i = 0; i < 4; i++) {
		assert_rec(fns[i], &r[i].r, 4 * 3000);
		assert_detour(fns[i], &r[i].r, lens[i]);
	}
	if (signal)
		assert_int_equal(kv(c->outbuf, "usr1"), 4 * 4 * 3000);
}

static void test_threads(void **state)
{
	threads_case(*state, false);
}

static void test_threads_signal_every_hit(void **state)
{
	threads_case(*state, true);
}

/*
 * A thread holds an address inside dt_push's range on its stack through
 * the first 9,000 calls: every attempt until then finds the wrong moment
 * (8 of them, the 8th at about the 8,200th hit), more often in a row than
 * a limit on such failures would allow (once 7). The thread ends; the
 * detour must still come, at one of the later attempts (at most 4,096
 * hits apart).
 */
static void test_wrong_moment_many_times(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_prog, "park", "4", "6000", "9000", NULL };
	struct rec r = { 0 };
	pid_t pid = spawn_or_fail(c, argv);

	add_probe(c, g_prog, "dt_push", 0, on_rec, &r);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "total_calls"), 4 * 6000);
	assert_rec("dt_push", &r, 4 * 6000);
	if (g_nstack < 8) {
		print_error("%d attempts postponed for the parked thread's stack (want 8 or more)\n",
			    g_nstack);
		fail();
	}
	assert_detour("dt_push", &r, 7);
}

struct slow_rec {
	struct rec r;
	pid_t slow; /* the thread made slow */
	int err;
};

/* The first thread seen goes onto the target's spinner's CPU, under SCHED_IDLE. */
static int on_slow(struct uprobe_hit *h, void *data)
{
	struct slow_rec *s = data;
	struct sched_param sp = { 0 };
	cpu_set_t all, first;
	int c = 0;

	note_hit(h, &s->r);
	if (s->slow)
		return 0;
	s->slow = uprobe_hit_tid(h);
	if (sched_getaffinity(0, sizeof(all), &all)) {
		s->err = errno;
		return 0;
	}
	while (c < CPU_SETSIZE && !CPU_ISSET(c, &all))
		c++;
	CPU_ZERO(&first);
	CPU_SET(c, &first);
	if (sched_setaffinity(s->slow, sizeof(first), &first) ||
	    sched_setscheduler(s->slow, SCHED_IDLE, &sp))
		s->err = errno;
	return 0;
}

/*
 * A thread the tracer resumed into dt_push's slot waits there for a CPU
 * (on a busy one, under SCHED_IDLE) while the others' hits make the
 * attempts at the detour: it is where the hitting thread is, not in the
 * way, and goes on through the detour's copies. On a loaded machine this
 * was the wrong moment at nearly every attempt, 7 times in a row now and
 * then, and the probe stayed an int3 for good.
 */
static void test_thread_waiting_in_slot(void **state)
{
	struct ctx *c = *state;
	struct slow_rec s = { 0 };
	pid_t pid = spawn_prog(c, "crowd", "4", "3000");
	long calls;

	add_probe(c, g_prog, "dt_push", 0, on_slow, &s);
	run_to_exit(c, pid);
	assert_int_equal(s.err, 0);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	/* the slow thread's calls end with the spinner's: the others' 9,000 and a few */
	calls = kv(c->outbuf, "total_calls");
	assert_true(calls > 3 * 3000 && calls <= 4 * 3000);
	assert_rec("dt_push", &s.r, (uint64_t)calls);
	assert_detour("dt_push", &s.r, 7);
}

/* ---- removal while threads run, detach ---- */

/* The tracee's bytes of dt_push against the file's, at dt_checkpoint (threads joined). */
struct text_rec {
	struct sym s;
	uint64_t bias; /* runtime - link-time address */
	int checks, differ;
	uint8_t got[16], want[16];
};

static int on_checkpoint(struct uprobe_hit *h, void *data)
{
	struct text_rec *t = data;

	t->checks++;
	if (uprobe_hit_read(h, t->s.vaddr + t->bias, t->got, sizeof(t->got)) != sizeof(t->got) ||
	    memcmp(t->got, t->want, sizeof(t->want)))
		t->differ++;
	return 0;
}

struct rm_rec {
	struct rec r;
	struct uprobe *p;
	uint64_t remove_at;
	struct text_rec *text;
};

static int on_push_remove(struct uprobe_hit *h, void *data)
{
	struct rm_rec *m = data;

	note_hit(h, &m->r);
	m->text->bias = uprobe_hit_addr(h) - m->text->s.vaddr;
	if (m->r.n == m->remove_at) {
		uprobe_remove(m->p);
		m->p = NULL;
	}
	return 0;
}

static void test_remove_while_threads_run(void **state)
{
	struct ctx *c = *state;
	struct text_rec text = { .s = sym_of_prog("dt_push") };
	struct rm_rec m = { .remove_at = 1000, .text = &text };
	/* 3 s of calls: hits enough to remove the probe well before the end, even on a busy machine */
	pid_t pid = spawn_prog(c, "spin", "4", "3000");

	assert_true(elf_file_bytes(g_prog, text.s.off, text.want, sizeof(text.want)));
	m.p = add_probe(c, g_prog, "dt_push", 0, on_push_remove, &m);
	add_probe(c, g_prog, "dt_checkpoint", 0, on_checkpoint, &text);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_null(m.p);
	/* no hit is reported once the probe is gone, from the detour or the int3 */
	assert_rec("dt_push", &m.r, 1000);
	assert_detour("dt_push", &m.r, 7);
	assert_true(kv(c->outbuf, "total_calls") > 1000);
	assert_int_equal(text.checks, 1);
	assert_int_equal(text.differ, 0);
}

struct stop_rec {
	struct rec r;
	struct uprobe_tracer *t;
};

static int on_push_stop(struct uprobe_hit *h, void *data)
{
	struct stop_rec *s = data;

	note_hit(h, &s->r);
	if (s->r.n == 3000)
		uprobe_tracer_stop(s->t);
	return 0;
}

static void test_detach_restores_bytes(void **state)
{
	struct ctx *c = *state;
	struct sym s = sym_of_prog("dt_push");
	struct stop_rec st = { .t = c->t };
	uint8_t want[16], got[16];
	struct maps m;
	pid_t pid = spawn_prog(c, "spin", "2", "20000");

	assert_true(elf_file_bytes(g_prog, s.off, want, sizeof(want)));
	add_probe(c, g_prog, "dt_push", 0, on_push_stop, &st);
	run_ok(c);
	assert_true(st.r.n >= 3000);
	assert_detour("dt_push", &st.r, 7);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	assert_true(tracee_read_exe(pid, g_prog, s.vaddr, got, sizeof(got)));
	assert_memory_equal(got, want, sizeof(want));
	/* the scratch areas went with the tracer: no anonymous executable mapping is left */
	assert_true(maps_read(pid, &m));
	for (int i = 0; i < m.n; i++)
		if (m.e[i].perms[2] == 'x' && !m.e[i].path[0]) {
			print_error("anonymous executable mapping left at 0x%llx\n",
				    (unsigned long long)m.e[i].start);
			maps_free(&m);
			fail();
		}
	maps_free(&m);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	int status = wait_child(c, pid);
	const char *out = read_out(c);

	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		print_error("after detach: status %#x, output:\n%s\n", status, out);
		fail();
	}
	assert_int_equal(kv(out, "bad"), 0);
	assert_int_equal(kv(out, "finished_by_signal"), 1);
}

/* ---- fork ---- */

struct fork_rec {
	struct rec r; /* hits of every process */
	pid_t parent;
	uint64_t parent_hits;
	struct sym s;
	uint8_t want[16], child_text[16];
	bool child_read;
};

static int on_fork_push(struct uprobe_hit *h, void *data)
{
	struct fork_rec *f = data;

	f->r.n++;
	if (uprobe_hit_pid(h) == f->parent) {
		f->parent_hits++;
		if (!f->r.addr)
			f->r.addr = uprobe_hit_addr(h);
	}
	return 0;
}

/* dt_after_fork(child): the child exists and waits; read its text. */
static int on_after_fork(struct uprobe_hit *h, void *data)
{
	struct fork_rec *f = data;

	f->child_read = tracee_read_exe((pid_t)uprobe_hit_arg(h, 0), g_prog, f->s.vaddr,
					f->child_text, sizeof(f->child_text));
	return 0;
}

static void fork_case(struct ctx *c, bool follow)
{
	struct fork_rec f = { .s = sym_of_prog("dt_push") };
	pid_t pid;

	assert_int_equal(uprobe_tracer_follow_forks(c->t, follow), 0);
	pid = spawn_prog(c, "fork", "500", NULL);
	f.parent = pid;
	assert_true(elf_file_bytes(g_prog, f.s.off, f.want, sizeof(f.want)));
	add_probe(c, g_prog, "dt_push", 0, on_fork_push, &f);
	add_probe(c, g_prog, "dt_after_fork", 0, on_after_fork, &f);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_int_equal(kv(c->outbuf, "child_status"), 0);
	assert_int_equal(kv(c->outbuf, "parent calls"), 1000);
	assert_int_equal(kv(c->outbuf, "child calls"), 500);
	assert_int_equal(f.parent_hits, 1000);
	assert_true(detour_len(f.r.addr) == 7);
	assert_true(f.child_read);
	if (follow) {
		/* the child has a copy of the parent's memory, detour included */
		assert_int_equal(f.child_text[0], 0xe9);
		assert_int_equal(f.r.n, 1000 + 500);
	} else {
		assert_memory_equal(f.child_text, f.want, sizeof(f.want));
		assert_int_equal(f.r.n, 1000);
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

/* ---- SIGPROF while threads are inside detours ---- */

struct prof_rec {
	struct rec r[4];
	pid_t pid;
	int reports;
	unsigned npcs, foreign, in_range;
	uint64_t first_bad;
};

static int on_report(struct uprobe_hit *h, void *data)
{
	struct prof_rec *p = data;
	unsigned n = (unsigned)uprobe_hit_arg(h, 1);
	uint64_t *pcs = calloc(n ? n : 1, sizeof(*pcs));
	struct maps m;

	p->reports++;
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

			/* file text or the vdso: never the anonymous scratch area */
			if (!e || !(e->path[0] == '/' || !strcmp(e->path, "[vdso]"))) {
				p->foreign++;
				bad = true;
			}
			for (int d = 0; d < g_ndt; d++) {
				if (pcs[i] > g_dt[d].addr && pcs[i] < g_dt[d].addr + g_dt[d].len) {
					p->in_range++;
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

static void test_sigprof_in_detours(void **state)
{
	static const char *const fns[] = { "dt_push", "dt_endbr", "dt_riprel", "dt_call" };
	struct ctx *c = *state;
	struct prof_rec p = { 0 };
	pid_t pid = spawn_prog(c, "prof", "4", "8000");

	p.pid = pid;
	for (int i = 0; i < 4; i++)
		add_probe(c, g_prog, fns[i], 0, on_rec, &p.r[i]);
	add_probe(c, g_prog, "dt_report", 0, on_report, &p);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	for (int i = 0; i < 4; i++) {
		assert_rec(fns[i], &p.r[i], 4 * 8000);
		assert_true(detour_len(p.r[i].addr) > 0);
	}
	assert_int_equal(p.reports, 1);
	assert_true(kv(c->outbuf, "prof_signals") > 0);
	assert_true(p.npcs > 0);
	if (p.foreign || p.in_range) {
		print_error("of %u interrupted pcs, %u outside the program's text, %u inside a "
			    "jump; first 0x%llx\n", p.npcs, p.foreign, p.in_range,
			    (unsigned long long)p.first_bad);
		fail();
	}
}

/* ---- a probe added inside a detour's range; SIGTRAPs sent by someone else ---- */

struct inside_rec {
	struct rec r, inner;
	struct ctx *c;
	bool added;
};

static int on_push_add_inside(struct uprobe_hit *h, void *data)
{
	struct inside_rec *in = data;

	note_hit(h, &in->r);
	if (in->r.n == 500) {
		/* mov %rsp,%rbp at dt_push + 1, under the jmp */
		add_probe(in->c, g_prog, "dt_push", 1, on_rec, &in->inner);
		in->added = true;
	}
	return 0;
}

static void test_probe_added_inside(void **state)
{
	struct ctx *c = *state;
	struct inside_rec in = { .c = c };
	pid_t pid = spawn_prog(c, "calls", "2000", NULL);

	add_probe(c, g_prog, "dt_push", 0, on_push_add_inside, &in);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_true(in.added);
	assert_rec("dt_push", &in.r, 4000);
	assert_detour("dt_push", &in.r, 7);
	/* the 500th call was already past dt_push + 1 in the detour */
	assert_rec("dt_push+1", &in.inner, 4000 - 500);
	assert_int_equal(in.inner.addr, in.r.addr + 1);
	assert_true(g_ndown >= 1);
}

struct trap_rec {
	struct rec r;
	pid_t pid;
	int sent;
};

/* A SIGTRAP pending when the thread resumes right after the detour's int3 looks like a hit. */
static int on_push_sigtrap(struct uprobe_hit *h, void *data)
{
	struct trap_rec *t = data;

	note_hit(h, &t->r);
	if (t->r.n % 10 == 0 && syscall(SYS_tgkill, t->pid, uprobe_hit_tid(h), SIGTRAP) == 0)
		t->sent++;
	return 0;
}

static void test_foreign_sigtrap(void **state)
{
	struct ctx *c = *state;
	struct trap_rec t = { 0 };
	pid_t pid = spawn_prog(c, "trap", "2000", NULL);

	t.pid = pid;
	add_probe(c, g_prog, "dt_push", 0, on_push_sigtrap, &t);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	assert_rec("dt_push", &t.r, 2000);
	assert_detour("dt_push", &t.r, 7);
	assert_int_equal(t.sent, 200);
	assert_int_equal(kv(c->outbuf, "traps"), 200);
}

/* ---- a fault inside a detour ---- */

static void test_fault_in_detour(void **state)
{
	struct ctx *c = *state;
	struct rec r = { 0 };
	pid_t pid = spawn_prog(c, "fault", "300", NULL);

	add_probe(c, g_prog, "dt_fault", 0, on_rec, &r);
	run_to_exit(c, pid);
	assert_int_equal(kv(c->outbuf, "bad"), 0);
	/* reported where the program would see it untraced: the load at dt_fault + 1 */
	assert_int_equal(kv(c->outbuf, "fault_offset"), 1);
	assert_int_equal(kv(c->outbuf, "fault_result"), 77);
	/* the faulting call was one entry; its handler returned into dt_fault, past the probe */
	assert_rec("dt_fault", &r, 601);
	assert_detour("dt_fault", &r, 5);
	assert_true(g_ndown >= 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_which_get_detours),
		T(test_optimize_off),
		T(test_handler_changes_registers),
		T(test_return_probe_on_detour),
		T(test_threads),
		T(test_threads_signal_every_hit),
		T(test_wrong_moment_many_times),
		T(test_thread_waiting_in_slot),
		T(test_remove_while_threads_run),
		T(test_detach_restores_bytes),
		T(test_fork_not_followed),
		T(test_fork_followed),
		T(test_sigprof_in_detours),
		T(test_fault_in_detour),
		T(test_probe_added_inside),
		T(test_foreign_sigtrap),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_DETOUR\n", argv[0]);
		return 2;
	}
	g_prog = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	uprobe_set_print(detour_print);
	return cmocka_run_group_tests_name("api_detour", tests, NULL, NULL);
}
