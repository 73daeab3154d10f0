// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Soak: one tracee (soak_target.c) through threads made and joined, forks
 * followed and not, a vfork+exec, timers whose handlers call probed
 * functions, longjmp out of a return-probed function and an exec of itself,
 * while the test adds and removes probes at its checkpoints (a stopping probe
 * on a no-stop probe's instruction among them), detaches and attaches again.
 * Every probe's hit count is exact: the tracee counts its calls per segment
 * (the stretch after a checkpoint), and the test knows which probes were
 * placed through each segment.
 *
 * Checked: the tracee exits 0 with the output of an untraced run; every
 * probe's hits (main process and fork children apart) and the sum of their
 * first arguments equal the calls made while it was placed and the process
 * (or a followed child) attached; uprobe_hits() agrees; the return probe's
 * returns and uprobe_missed() equal the calls that returned and the frames
 * longjmp left; other probes miss nothing; no hit after its probe's removal;
 * every hit with its thread's tid (never 0 on a CPU with FSGSBASE) and rip
 * at the probe; no async hit of a stopping probe; return values and call
 * data right; the checkpoints hit in the order called; after each detach,
 * no scratch area, no ring and the original bytes; no libuprobe warning.
 */
#include <inttypes.h>

#include "tracee_test.h"

static const char *g_prog;

/* As in soak_target.c. */
enum fn { FN_NS_A, FN_NS_B, FN_ST_C, FN_RP_D, FN_RP_SKIP, FN_SLOW_E, FN_SIG_F, NFN, FN_CP = -1 };
static const char *const fn_names[NFN] = { "ns_a", "ns_b", "st_c", "rp_d",
					   "rp_skip", "slow_e", "sig_f" };
#define NROUNDS 5
#define MAX_SEG (100 * (NROUNDS + 1))
#define DETACH_CP 51 /* the checkpoint (of every round) at which the test detaches */
#define ITERS 24576  /* calls per worker in a detach phase (g_iters of a full round) */

/*
 * The probes. Checkpoints are numbered round * 100 + n; in every round:
 *  n = 11: P_NS_A_STOP and P_ST_C_NS placed, P_NS_B removed
 *  n = 12: P_NS_A_STOP and P_ST_C_NS removed, P_NS_B and P_NS_A2 placed
 *  n = 20: forks followed in even rounds; n = 30: in odd ones
 *  n = 30: P_NS_A2 removed
 *  n = 40: P_SIG_F removed in odd rounds (the timers' phase)
 *  n = 51: stop and detach; attached again before 52
 *  n = 60: P_ST_C removed
 *  n = 90: P_ST_C and P_SIG_F placed again; then the tracee execs
 */
enum {
	P_CP, P_NS_A, P_NS_B, P_ST_C, P_RP_D, P_SLOW_E, P_SIG_F,
	P_NS_A_STOP, /* a stopping probe on ns_a's instruction, beside its no-stop one */
	P_ST_C_NS,   /* a no-stop probe on st_c's, beside its stopping one */
	P_NS_A2,     /* a second no-stop probe on ns_a */
	NPROBES
};

struct prec {
	const char *sym;
	int fn;
	bool nostop, ret, slow;
	struct uprobe *p;
	bool act[MAX_SEG];        /* placed, and the tracee attached, through segment s */
	uint64_t hits[2], sum[2]; /* entries and the sum of argument 0: [0] main process, [1] children */
	uint64_t rets[2];         /* returns (P_RP_D) */
	/*
	 * Entries of ns_a and ns_b by the segment their argument tells: the
	 * hot loops' x is seg * 1000000 + less, seg the one the loop began in.
	 */
	uint32_t by_xseg[2][MAX_SEG][2]; /* [kind][xseg][async] */
	uint64_t zero_tid, bad_tid, bad_rip, async, bad_async, bad_ret, bad_data, removed_hits;
	uint64_t lib_hits, lib_missed; /* sums of uprobe_hits() and uprobe_missed() at each removal */
	int placed;                    /* how many times */
};

static struct prec g_p[NPROBES] = {
	[P_CP] = { .sym = "cp", .fn = FN_CP },
	[P_NS_A] = { .sym = "ns_a", .fn = FN_NS_A, .nostop = true },
	[P_NS_B] = { .sym = "ns_b", .fn = FN_NS_B, .nostop = true },
	[P_ST_C] = { .sym = "st_c", .fn = FN_ST_C },
	[P_RP_D] = { .sym = "rp_d", .fn = FN_RP_D, .ret = true },
	[P_SLOW_E] = { .sym = "slow_e", .fn = FN_SLOW_E, .slow = true },
	[P_SIG_F] = { .sym = "sig_f", .fn = FN_SIG_F, .nostop = true },
	[P_NS_A_STOP] = { .sym = "ns_a", .fn = FN_NS_A },
	[P_ST_C_NS] = { .sym = "st_c", .fn = FN_ST_C, .nostop = true },
	[P_NS_A2] = { .sym = "ns_a", .fn = FN_NS_A, .nostop = true },
};

/* What the handlers see of the run. */
static struct {
	struct ctx *c;
	pid_t pid;
	bool follow, follow_at[MAX_SEG];
	bool want_detach;
	int detach_id;
	char cps[2048]; /* checkpoint ids in the order hit */
	int errors;    /* failures inside handlers; the first described in err */
	char err[256];
	int warnings;  /* libuprobe's warnings; the first ones in warn */
	char warn[1024];
} g;

static void handler_error(const char *fmt, ...)
{
	va_list ap;

	if (!g.errors++) {
		va_start(ap, fmt);
		vsnprintf(g.err, sizeof(g.err), fmt, ap);
		va_end(ap);
	}
}

static int soak_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	va_list ap2;
	size_t len = strlen(g.warn);

	va_copy(ap2, ap);
	if (level == UPROBE_WARN && g.warnings++ < 4 && len < sizeof(g.warn))
		vsnprintf(g.warn + len, sizeof(g.warn) - len, fmt, ap2);
	va_end(ap2);
	return capture_print(level, fmt, ap);
}

/* ---- handlers ---- */

static bool has_tid_arg(int fn)
{
	return fn == FN_NS_A || fn == FN_NS_B || fn == FN_ST_C || fn == FN_SLOW_E || fn == FN_SIG_F;
}

/* 0 for the main process (both images), 1 for a fork child. */
static int kind_of(const struct uprobe_hit *h)
{
	return uprobe_hit_pid(h) == g.pid ? 0 : 1;
}

/*
 * ns_a's hits in the main process in each detach phase (checkpoint n = 50),
 * by x: worker k calls ns_a(round * 100000000 + 50000000 + k * 100000 + i).
 */
#define DX_SPAN 400000
static uint8_t g_dx[NROUNDS][DX_SPAN];
static uint8_t g_dx_async[NROUNDS][DX_SPAN];
static int g_epoch; /* 1 inside uprobe_tracer_detach(), 2 detached, 3 attach returned, 0 else */
static uint8_t g_dx_epoch[NROUNDS][DX_SPAN];

/* The checks every entry hit passes; counts it. */
static int entry_hit(struct prec *r, struct uprobe_hit *h)
{
	int k = kind_of(h);
	pid_t tid = uprobe_hit_tid(h);

	if (!r->p)
		r->removed_hits++;
	if (!tid)
		r->zero_tid++;
	else if (has_tid_arg(r->fn) && tid != (pid_t)uprobe_hit_arg(h, 1))
		r->bad_tid++;
	if (uprobe_hit_regs(h)->rip != uprobe_hit_addr(h))
		r->bad_rip++;
	if (uprobe_hit_is_async(h)) {
		r->async++;
		if (!r->nostop)
			r->bad_async++;
	}
	r->hits[k]++;
	r->sum[k] += uprobe_hit_arg(h, 0);
	if ((r->fn == FN_NS_A || r->fn == FN_NS_B) && uprobe_hit_arg(h, 0) / 1000000 < MAX_SEG)
		r->by_xseg[k][uprobe_hit_arg(h, 0) / 1000000][uprobe_hit_is_async(h)]++;
	if (r == &g_p[P_NS_A] && !k) {
		uint64_t x = uprobe_hit_arg(h, 0), xs = x / 1000000, off = x % 1000000;

		if (xs % 100 == 50 && xs / 100 < NROUNDS && off < DX_SPAN) {
			g_dx[xs / 100][off]++;
			g_dx_async[xs / 100][off] += uprobe_hit_is_async(h);
			g_dx_epoch[xs / 100][off] = (uint8_t)g_epoch;
		}
	}
	return k;
}

static int on_entry(struct uprobe_hit *h, void *data)
{
	struct prec *r = data;

	entry_hit(r, h);
	if (r->slow) {
		double t0 = now_s();

		/* a slow handler: the other threads run on meanwhile */
		while (now_s() - t0 < 100e-6)
			;
	}
	return 0;
}

/* rp_d(x, depth, jb) returns x * 2 + depth; its call data holds x and the call id. */
static int on_rp_entry(struct uprobe_hit *h, void *data)
{
	uint64_t *d = uprobe_hit_call_data(h);

	entry_hit(data, h);
	if (d) {
		d[0] = uprobe_hit_arg(h, 0);
		d[1] = uprobe_hit_call_id(h);
	}
	return 0;
}

static int on_rp_return(struct uprobe_hit *h, void *data)
{
	struct prec *r = data;
	uint64_t *d = uprobe_hit_call_data(h);
	uint64_t x = uprobe_hit_entry_arg(h, 0);

	if (!r->p)
		r->removed_hits++;
	if (!uprobe_hit_tid(h))
		r->zero_tid++;
	r->rets[kind_of(h)]++;
	if (uprobe_hit_retval(h) != x * 2 + uprobe_hit_entry_arg(h, 1))
		r->bad_ret++;
	if (!d || d[0] != x || d[1] != uprobe_hit_call_id(h) || !d[1])
		r->bad_data++;
	return 0;
}

static int on_cp(struct uprobe_hit *h, void *data);

static void place(struct uprobe_tracer *t, int i)
{
	struct prec *r = &g_p[i];
	UPROBE_OPTS(uprobe_opts, o, .data = r, .nostop = r->nostop);

	if (r->ret) {
		o.handler = on_rp_entry;
		o.ret_handler = on_rp_return;
		o.data_size = 2 * sizeof(uint64_t);
	} else {
		o.handler = r->fn == FN_CP ? on_cp : on_entry;
	}
	if (r->p) {
		handler_error("%s #%d placed twice", r->sym, i);
		return;
	}
	r->p = uprobe_add(t, g_prog, r->sym, 0, &o);
	r->placed++;
	if (!r->p)
		handler_error("uprobe_add(%s) #%d: %s", r->sym, i, uprobe_tracer_errmsg(t));
}

static void unplace(struct uprobe_tracer *t, int i)
{
	struct prec *r = &g_p[i];
	int err;

	if (!r->p)
		return;
	r->lib_hits += uprobe_hits(r->p);
	r->lib_missed += uprobe_missed(r->p);
	err = uprobe_remove(r->p);
	if (err)
		handler_error("uprobe_remove(%s) #%d: %d %s", r->sym, i, err, uprobe_tracer_errmsg(t));
	r->p = NULL;
}

static void follow(struct uprobe_tracer *t, bool on)
{
	if (uprobe_tracer_follow_forks(t, on))
		handler_error("follow_forks(%d) failed", on);
	g.follow = on;
}

/* cp(id): the schedule. The probes placed after it hold for segment id. */
static int on_cp(struct uprobe_hit *h, void *data)
{
	struct uprobe_tracer *t = g.c->t;
	long id = (long)uprobe_hit_arg(h, 0);
	size_t len = strlen(g.cps);
	bool odd = (id / 100) % 2;

	entry_hit(data, h);
	snprintf(g.cps + len, sizeof(g.cps) - len, " %ld", id);
	if (kind_of(h) || id < 0 || id >= MAX_SEG) {
		handler_error("cp(%ld) hit in pid %d", id, (int)uprobe_hit_pid(h));
		return 0;
	}
	switch (id % 100) {
	case 11:
		place(t, P_NS_A_STOP);
		place(t, P_ST_C_NS);
		unplace(t, P_NS_B);
		break;
	case 12:
		unplace(t, P_NS_A_STOP);
		unplace(t, P_ST_C_NS);
		place(t, P_NS_B);
		place(t, P_NS_A2);
		break;
	case 20:
		follow(t, !odd);
		break;
	case 30:
		follow(t, odd);
		unplace(t, P_NS_A2);
		break;
	case 40:
		if (odd)
			unplace(t, P_SIG_F);
		break;
	case DETACH_CP:
		/*
		 * run() returns; the test detaches. This thread runs on meanwhile
		 * (it waits for the test's word before it lets the others go).
		 */
		g.want_detach = true;
		g.detach_id = id;
		uprobe_tracer_stop(t);
		break;
	case 60:
		unplace(t, P_ST_C);
		break;
	case 90:
		if (!g_p[P_ST_C].p)
			place(t, P_ST_C);
		if (!g_p[P_SIG_F].p)
			place(t, P_SIG_F);
		break;
	}
	for (int i = 0; i < NPROBES; i++)
		g_p[i].act[id] = g_p[i].p && id % 100 != DETACH_CP;
	g.follow_at[id] = g.follow;
	return 0;
}

/* ---- the tracee's counts ---- */

struct counts {
	long n[2][MAX_SEG][NFN], s[2][MAX_SEG][NFN]; /* [0] "seg" lines, [1] "cseg" (children) */
	char cps[2048];
	int ncps;
};

static int fn_of(const char *name)
{
	for (int f = 0; f < NFN; f++)
		if (!strcmp(fn_names[f], name))
			return f;
	return -1;
}

static void parse_counts(const char *out, struct counts *k)
{
	memset(k, 0, sizeof(*k));
	for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char name[16], kind[8];
		long n, s;
		int seg, f, off = 0;

		if (sscanf(p, "%7s %d %15s n=%ld s=%ld", kind, &seg, name, &n, &s) == 5 &&
		    (f = fn_of(name)) >= 0 && seg >= 0 && seg < MAX_SEG) {
			int c = !strcmp(kind, "cseg");

			k->n[c][seg][f] += n;
			k->s[c][seg][f] += s;
			continue;
		}
		if (!strncmp(p, "cps ", 4)) {
			p += 3;
			while (sscanf(p, " %d%n", &seg, &off) == 1 && p[0] == ' ') {
				size_t len = strlen(k->cps);

				snprintf(k->cps + len, sizeof(k->cps) - len, " %d", seg);
				k->ncps++;
				p += off;
			}
		}
	}
}

/* ---- the detached stretch ---- */

static int ring_maps(pid_t pid)
{
	struct maps m;
	int n = 0;

	if (!maps_read(pid, &m))
		return -1;
	for (int i = 0; i < m.n; i++)
		n += strstr(m.e[i].path, "libuprobe-ring") != NULL;
	maps_free(&m);
	return n;
}

/* Detached: no scratch area, no ring, every probed function's first bytes as in the file. */
static void check_detached(pid_t pid)
{
	static const char *const syms[] = { "cp", "ns_a", "ns_b", "st_c", "rp_d", "slow_e", "sig_f" };
	struct elf_view v;

	assert_int_equal(anon_exec_maps_v(pid, true), 0);
	assert_int_equal(ring_maps(pid), 0);
	assert_true(elf_view_open(g_prog, &v));
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		uint64_t vaddr = 0, off = 0;
		uint8_t mem[16], file[16];

		assert_true(elf_sym_vaddr(&v, syms[i], &vaddr, NULL));
		assert_true(elf_vaddr_off(&v, vaddr, &off));
		assert_true(elf_file_bytes(g_prog, off, file, sizeof(file)));
		assert_true(tracee_read_exe(pid, g_prog, vaddr, mem, sizeof(mem)));
		if (memcmp(mem, file, sizeof(mem))) {
			print_error("after detach, %s's first bytes differ from the file's\n", syms[i]);
			fail();
		}
	}
	elf_view_close(&v);
}

/* Waits (bounded) for a file the tracee creates. */
static void wait_file(const char *path, pid_t pid)
{
	double t0 = now_s();

	while (access(path, F_OK)) {
		if (now_s() - t0 > 60 || g_wd_fired || kill(pid, 0)) {
			print_error("no %s from pid %d\n", path, (int)pid);
			fail();
		}
		sleep_ms(2);
	}
}

/* ---- the test ---- */

static void expect_eq(const char *probe, const char *what, uint64_t got, uint64_t want, int *bad)
{
	if (got == want)
		return;
	print_error("%s: %s %" PRIu64 ", want %" PRIu64 "\n", probe, what, got, want);
	(*bad)++;
}

/* The segment whose hot loops' x a call in segment s has: barrier and detach loops span three. */
static int xseg_of(int s)
{
	int n = s % 100;

	return n >= 10 && n < 20 ? s - n + 10 : n >= 50 && n < 60 ? s - n + 50 : s;
}

/* Where the hits of ns_a or ns_b differ from the calls: by segment, main process or children. */
static void explain_xseg(const struct prec *r, const struct counts *k)
{
	for (int c = 0; c < 2; c++) {
		for (int x = 0; x < MAX_SEG; x++) {
			uint64_t want = 0, got = r->by_xseg[c][x][0] + r->by_xseg[c][x][1];
			char segs[128] = "";

			for (int s = 0; s < MAX_SEG; s++) {
				size_t len = strlen(segs);

				if (xseg_of(s) != x || !k->n[c][s][r->fn])
					continue;
				snprintf(segs + len, sizeof(segs) - len, " %d:%s%s", s,
					 r->act[s] ? "placed" : "-",
					 c && !g.follow_at[s] ? ",not followed" : "");
				if (r->act[s] && (!c || g.follow_at[s]))
					want += k->n[c][s][r->fn];
			}
			if (got != want)
				print_error("  %s, x of segment %d:%s: %" PRIu64 " hits (%u async), want "
					    "%" PRIu64 "\n", c ? "children" : "main process", x, segs,
					    got, r->by_xseg[c][x][1], want);
		}
	}
}

/* ns_a's hits in the detach phases that differ from the calls made while attached. */
static void explain_detach_phases(long iters)
{
	int shown = 0;

	for (int r = 0; r < NROUNDS; r++) {
		for (int w = 0; w < 4; w++) {
			for (long i = 0; i < iters; i++) {
				unsigned want = i < iters / 3 || i >= 2 * iters / 3;
				long off = 100000L * w + i;

				if (g_dx[r][off] == want || shown++ > 20)
					continue;
				print_error("  round %d worker %d: ns_a(x = ...%ld), i = %ld (part %c): "
					    "%u hits (%u async, the last in epoch %u), want %u\n", r, w,
					    off, i, i < iters / 3 ? 'A' : i < 2 * iters / 3 ? 'B' : 'C',
					    g_dx[r][off], g_dx_async[r][off], g_dx_epoch[r][off], want);
			}
		}
	}
}

static void check_probe(int i, const struct counts *k, int *bad)
{
	int bad0 = *bad;

	struct prec *r = &g_p[i];
	uint64_t want[2] = { 0, 0 }, wsum[2] = { 0, 0 }, wret[2] = { 0, 0 }, wmissed = 0;
	char name[32];

	snprintf(name, sizeof(name), "%s#%d", r->sym, i);
	if (r->fn == FN_CP) {
		want[0] = k->ncps;
	} else {
		for (int s = 0; s < MAX_SEG; s++) {
			for (int c = 0; c < 2; c++) {
				/* children: placed in the segment they were forked in, and followed */
				if (!r->act[s] || (c && !g.follow_at[s]))
					continue;
				want[c] += k->n[c][s][r->fn];
				wsum[c] += k->s[c][s][r->fn];
				wret[c] += k->n[c][s][r->fn] - k->s[c][s][FN_RP_SKIP];
				wmissed += k->s[c][s][FN_RP_SKIP];
			}
		}
	}
	expect_eq(name, "hits in the main process", r->hits[0], want[0], bad);
	expect_eq(name, "hits in children", r->hits[1], want[1], bad);
	if (r->fn != FN_CP) {
		expect_eq(name, "argument sum in the main process", r->sum[0], wsum[0], bad);
		expect_eq(name, "argument sum in children", r->sum[1], wsum[1], bad);
	}
	if (r->ret) {
		expect_eq(name, "returns in the main process", r->rets[0], wret[0], bad);
		expect_eq(name, "returns in children", r->rets[1], wret[1], bad);
		expect_eq(name, "uprobe_hits", r->lib_hits, r->rets[0] + r->rets[1], bad);
		expect_eq(name, "uprobe_missed (frames left by longjmp)", r->lib_missed, wmissed, bad);
	} else {
		expect_eq(name, "uprobe_hits", r->lib_hits, r->hits[0] + r->hits[1], bad);
		expect_eq(name, "uprobe_missed", r->lib_missed, 0, bad);
	}
	if (*bad != bad0 && (r->fn == FN_NS_A || r->fn == FN_NS_B))
		explain_xseg(r, k);
	if (*bad != bad0 && r == &g_p[P_NS_A])
		explain_detach_phases(ITERS);
	expect_eq(name, "hits after removal", r->removed_hits, 0, bad);
	expect_eq(name, "hits with tid 0", r->zero_tid, 0, bad);
	expect_eq(name, "hits with another thread's tid", r->bad_tid, 0, bad);
	expect_eq(name, "hits with rip not the probe's address", r->bad_rip, 0, bad);
	expect_eq(name, "async hits of a stopping probe", r->bad_async, 0, bad);
	expect_eq(name, "wrong return values", r->bad_ret, 0, bad);
	expect_eq(name, "wrong call data", r->bad_data, 0, bad);
	if (getenv("SOAK_VERBOSE"))
		print_message("%-10s hits %" PRIu64 "+%" PRIu64 " (async %" PRIu64 ") rets %" PRIu64
			      "+%" PRIu64 " missed %" PRIu64 "\n", name, r->hits[0], r->hits[1],
			      r->async, r->rets[0], r->rets[1], r->lib_missed);
}

/* The detached stretch: checks, waits until the tracee is done with it, attaches again. */
static void detach_and_attach(struct ctx *c, pid_t pid)
{
	char ready[PATH_MAX + 32], go[PATH_MAX + 32], detached[PATH_MAX + 32];
	int r, fd;

	g_epoch = 1;
	r = uprobe_tracer_detach(c->t);
	g_epoch = 2;
	if (r) {
		print_error("detach at cp(%d): %d %s\n", g.detach_id, r, uprobe_tracer_errmsg(c->t));
		fail();
	}
	check_detached(pid);
	/* the thread that hit cp(detach_id) lets the others go on now */
	snprintf(detached, sizeof(detached), "%s.detached.%d", c->out, g.detach_id);
	fd = open(detached, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(ready, sizeof(ready), "%s.ready.%d", c->out, g.detach_id);
	snprintf(go, sizeof(go), "%s.go.%d", c->out, g.detach_id);
	wait_file(ready, pid);
	unlink(ready);
	r = uprobe_tracer_attach(c->t, pid);
	g_epoch = 3;
	if (r) {
		print_error("attach after cp(%d): %d %s\n", g.detach_id, r,
			    uprobe_tracer_errmsg(c->t));
		fail();
	}
	/* the tracee goes on to cp(detach_id + 1) once this exists */
	fd = open(go, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void remove_go_files(struct ctx *c)
{
	char path[PATH_MAX + 32];

	for (int i = 0; i < NROUNDS; i++) {
		snprintf(path, sizeof(path), "%s.go.%d", c->out, 100 * i + DETACH_CP);
		unlink(path);
		snprintf(path, sizeof(path), "%s.detached.%d", c->out, 100 * i + DETACH_CP);
		unlink(path);
	}
}

static void test_soak(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_prog, NULL };
	struct counts *k = calloc(1, sizeof(*k));
	char *want;
	double t0;
	pid_t pid;
	int bad = 0, detaches = 0;

	assert_non_null(k);
	g.c = c;
	uprobe_set_print(soak_print);

	t0 = now_s();
	want = run_untraced(c, argv);
	assert_non_null(want);
	print_message("untraced: %.2f s\n", now_s() - t0);

	for (int i = P_CP; i <= P_SIG_F; i++)
		place(c->t, i);
	assert_int_equal(g.errors, 0);
	t0 = now_s();
	setenv("SOAK_SYNC", c->out, 1);
	pid = spawn_or_fail(c, argv);
	unsetenv("SOAK_SYNC");
	g.pid = pid;

	for (;;) {
		run_ok(c);
		if (!g.want_detach)
			break;
		g.want_detach = false;
		assert_true(++detaches <= NROUNDS);
		detach_and_attach(c, pid);
	}
	remove_go_files(c);
	read_out(c);
	print_message("traced: %.2f s, %d detaches\n", now_s() - t0, detaches);
	assert_exited_ok(c, pid);
	if (g.errors) {
		print_error("in a handler: %s (%d errors)\n", g.err, g.errors);
		fail();
	}
	assert_same_output(want, c->outbuf);
	assert_int_equal(detaches, NROUNDS);

	parse_counts(c->outbuf, k);
	if (strcmp(k->cps, g.cps)) {
		print_error("checkpoints hit:%s\n  called:%s\n", g.cps, k->cps);
		fail();
	}
	for (int i = 0; i < NPROBES; i++) {
		if (g_p[i].p) {
			g_p[i].lib_hits += uprobe_hits(g_p[i].p);
			g_p[i].lib_missed += uprobe_missed(g_p[i].p);
		}
		check_probe(i, k, &bad);
	}
	if (g.warnings)
		print_error("%d libuprobe warnings:\n%s", g.warnings, g.warn);
	assert_int_equal(bad, 0);
	assert_int_equal(g.warnings, 0);
	free(want);
	free(k);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_soak, ctx_setup, ctx_teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s SOAK_TARGET\n", argv[0]);
		return 2;
	}
	g_prog = argv[1];
	tracee_test_init("soak", 240, argc > 2 ? argv[2] : "");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
