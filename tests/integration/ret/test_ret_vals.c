// SPDX-License-Identifier: LGPL-2.1-or-later
/* Return probes: values, entry args, call data and ids, durations, backtraces, detach, remove. */
#include "tracee_test.h"

static const char *g_vals;

/* ---- return values and entry arguments ---- */

#define MAX_REC 16

struct val_rec {
	int n;
	uint64_t ret[MAX_REC];
	double dret[MAX_REC];
	uint64_t arg[MAX_REC][6];
	uint64_t entry_rsp[MAX_REC], entry_ra[MAX_REC]; /* from a plain entry probe */
	uint64_t ret_rsp[MAX_REC], ret_rip[MAX_REC];
	uint64_t entry_id[MAX_REC], ret_id[MAX_REC];
	int nentry;
	int bad_entry_ret, bad_entry_data; /* plain entry probe: is_return, call data */
	int bad_ret_ret, bad_ret_id, bad_ret_data, bad_rax;  /* return handler */
};

static int on_val_entry(struct uprobe_hit *h, void *data)
{
	struct val_rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);

	if (r->nentry < MAX_REC) {
		r->entry_rsp[r->nentry] = regs->rsp;
		r->entry_id[r->nentry] = uprobe_hit_call_id(h);
		if (uprobe_hit_read(h, regs->rsp, &r->entry_ra[r->nentry], 8) != 8)
			r->entry_ra[r->nentry] = 0;
		r->nentry++;
	}
	/*
	 * A plain entry probe has no call data. On a return-probed instruction it
	 * may see the call's id (then it must be the one the return reports) or 0.
	 */
	r->bad_entry_ret += uprobe_hit_is_return(h);
	r->bad_entry_data += uprobe_hit_call_data(h) != NULL;
	return 0;
}

static int on_val_ret(struct uprobe_hit *h, void *data)
{
	struct val_rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);

	if (r->n >= MAX_REC)
		return 0;
	r->ret[r->n] = uprobe_hit_retval(h);
	r->dret[r->n] = uprobe_hit_retval_double(h);
	for (unsigned k = 0; k < 6; k++)
		r->arg[r->n][k] = uprobe_hit_entry_arg(h, k);
	r->ret_rsp[r->n] = regs->rsp;
	r->ret_rip[r->n] = regs->rip;
	r->ret_id[r->n] = uprobe_hit_call_id(h);
	r->bad_ret_ret += !uprobe_hit_is_return(h);
	r->bad_ret_id += uprobe_hit_call_id(h) == 0;
	r->bad_ret_data += uprobe_hit_call_data(h) != NULL; /* data_size 0 */
	r->bad_rax += regs->rax != r->ret[r->n];
	r->n++;
	return 0;
}

/* A plain entry probe on a function without a return probe, called inside a return-probed call. */
static int on_plain_entry(struct uprobe_hit *h, void *data)
{
	int *bad = data;

	if (uprobe_hit_is_return(h) || uprobe_hit_call_id(h) != 0 || uprobe_hit_call_data(h) ||
	    uprobe_hit_duration_ns(h) != 0)
		(*bad)++;
	return 0;
}

static void add_val_probes(struct ctx *c, const char *sym, struct val_rec *r)
{
	/* The plain entry probe first: it sees [rsp] before or after the hijack; either is checked. */
	UPROBE_OPTS(uprobe_opts, eo, .handler = on_val_entry, .data = r);
	UPROBE_OPTS(uprobe_opts, ro, .ret_handler = on_val_ret, .data = r);

	add_or_fail(c, g_vals, sym, 0, &eo);
	add_or_fail(c, g_vals, sym, 0, &ro);
}

/* A return handler sees the caller's registers: rsp = entry rsp + 8, rip = the real return address. */
static void check_frame(const struct val_rec *r, const struct maps *m, const char *what)
{
	assert_int_equal(r->nentry, r->n);
	for (int i = 0; i < r->n; i++) {
		if (r->ret_rsp[i] != r->entry_rsp[i] + 8 || !in_file_text(m, r->ret_rip[i]) ||
		    /* a no-stop entry reads [rsp] long after the call: not what it was */
		    (!test_nostop_mode() && in_file_text(m, r->entry_ra[i]) &&
		     r->ret_rip[i] != r->entry_ra[i])) {
			print_error("%s call %d: entry rsp %#llx [rsp] %#llx; return rsp %#llx rip %#llx\n",
				    what, i, (unsigned long long)r->entry_rsp[i],
				    (unsigned long long)r->entry_ra[i], (unsigned long long)r->ret_rsp[i],
				    (unsigned long long)r->ret_rip[i]);
			fail();
		}
	}
	for (int i = 0; i < r->n; i++) {
		if (r->entry_id[i] && r->entry_id[i] != r->ret_id[i]) {
			print_error("%s call %d: call id %llu in the entry probe, %llu at return\n",
				    what, i, (unsigned long long)r->entry_id[i],
				    (unsigned long long)r->ret_id[i]);
			fail();
		}
	}
	if (r->bad_entry_ret || r->bad_entry_data || r->bad_ret_ret ||
	    r->bad_ret_id || r->bad_ret_data || r->bad_rax) {
		print_error("%s: plain entry probe: is_return %d, call_data != NULL %d; return "
			    "handler: !is_return %d, call_id 0 %d, call_data != NULL %d, rax != retval "
			    "%d\n",
			    what, r->bad_entry_ret, r->bad_entry_data, r->bad_ret_ret,
			    r->bad_ret_id, r->bad_ret_data, r->bad_rax);
		fail();
	}
}

static void test_retvals(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "vals", NULL };
	struct val_rec neg = { 0 }, u64 = { 0 }, dbl = { 0 }, a3 = { 0 }, a6 = { 0 };
	struct maps m;
	pid_t pid = spawn_or_fail(c, argv);

	add_val_probes(c, "rv_neg", &neg);
	add_val_probes(c, "rv_u64", &u64);
	add_val_probes(c, "rv_double", &dbl);
	add_val_probes(c, "rv_args3", &a3);
	add_val_probes(c, "rv_args6", &a6);
	int plain_bad = 0;
	UPROBE_OPTS(uprobe_opts, po, .handler = on_plain_entry, .data = &plain_bad);
	struct uprobe *pp = add_or_fail(c, g_vals, "rv_clobber", 0, &po);

	/* maps of the program's own text do not change after the start */
	assert_true(maps_read(pid, &m));
	run_to_exit(c, pid);

	assert_int_equal(neg.n, 1);
	assert_int_equal((int32_t)neg.ret[0], -5);
	assert_int_equal(u64.n, 1);
	assert_int_equal(u64.ret[0], 0x123456789abcdef0ULL);

	assert_int_equal(dbl.n, 2);
	if (dbl.dret[0] != 3.25 || dbl.dret[1] != -5.75) {
		print_error("rv_double: uprobe_hit_retval_double %g %g, want 3.25 -5.75\n",
			    dbl.dret[0], dbl.dret[1]);
		fail();
	}

	assert_int_equal(a3.n, 2);
	assert_int_equal((int64_t)a3.ret[0], 10203);
	assert_int_equal((int64_t)a3.ret[1], -7 * 10000 + 40 * 100 + 99);
	const int64_t want3[2][3] = { { 1, 2, 3 }, { -7, 40, 99 } };

	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 3; k++)
			if ((int64_t)a3.arg[i][k] != want3[i][k]) {
				print_error("rv_args3 call %d: uprobe_hit_entry_arg(%d) = %lld, want %lld\n",
					    i, k, (long long)a3.arg[i][k], (long long)want3[i][k]);
				fail();
			}
	assert_int_equal(a6.n, 1);
	assert_int_equal(a6.ret[0], 91);
	for (int k = 0; k < 6; k++)
		if (a6.arg[0][k] != (uint64_t)k + 1) {
			print_error("rv_args6: uprobe_hit_entry_arg(%d) = %lld, want %d\n", k,
				    (long long)a6.arg[0][k], k + 1);
			fail();
		}

	assert_int_equal(uprobe_hits(pp), 3);
	if (plain_bad) {
		print_error("rv_clobber (entry probe only, inside rv_args3/6 calls): %d hits with "
			    "is_return, a call id, call data or a duration\n", plain_bad);
		fail();
	}
	check_frame(&neg, &m, "rv_neg");
	check_frame(&u64, &m, "rv_u64");
	check_frame(&dbl, &m, "rv_double");
	check_frame(&a3, &m, "rv_args3");
	check_frame(&a6, &m, "rv_args6");
	maps_free(&m);
}

/* ---- per-call data and call ids through recursion ---- */

#define MAX_CALLS 64

struct cd_rec {
	int nentry, nret;
	long entry_n[MAX_CALLS], ret_n[MAX_CALLS];
	uint64_t ids[MAX_CALLS];
	int bad_zero, bad_null, bad_data, bad_arg, bad_ret, bad_id;
};

struct cd_data {
	uint64_t n;
	uint64_t id;
	uint64_t magic;
	uint8_t pad[40];
};

#define CD_MAGIC 0x5eed5eed5eed5eedULL

static int on_cd_entry(struct uprobe_hit *h, void *data)
{
	struct cd_rec *r = data;
	struct cd_data *d = uprobe_hit_call_data(h);
	static const uint8_t zero[sizeof(struct cd_data)];

	if (!d) {
		r->bad_null++;
		return 0;
	}
	if (memcmp(d, zero, sizeof(*d)))
		r->bad_zero++;
	d->n = uprobe_hit_arg(h, 0);
	d->id = uprobe_hit_call_id(h);
	d->magic = CD_MAGIC;
	memset(d->pad, 0xa5, sizeof(d->pad));
	if (d->id == 0)
		r->bad_id++;
	if (r->nentry < MAX_CALLS) {
		r->entry_n[r->nentry] = (long)d->n;
		r->ids[r->nentry] = d->id;
	}
	r->nentry++;
	return 0;
}

static int on_cd_ret(struct uprobe_hit *h, void *data)
{
	struct cd_rec *r = data;
	struct cd_data *d = uprobe_hit_call_data(h);
	long n;

	if (!d) {
		r->bad_null++;
		return 0;
	}
	n = (long)d->n;
	if (d->magic != CD_MAGIC || d->pad[0] != 0xa5 || d->pad[39] != 0xa5)
		r->bad_data++;
	if (uprobe_hit_entry_arg(h, 0) != d->n)
		r->bad_arg++;
	if ((long)uprobe_hit_retval(h) != n * (n + 1) / 2)
		r->bad_ret++;
	if (uprobe_hit_call_id(h) != d->id)
		r->bad_id++;
	if (r->nret < MAX_CALLS)
		r->ret_n[r->nret] = n;
	r->nret++;
	return 0;
}

static void test_call_data(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "vals", NULL };
	struct cd_rec r = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_cd_entry, .ret_handler = on_cd_ret, .data = &r,
		    .data_size = sizeof(struct cd_data));
	struct uprobe *p = add_or_fail(c, g_vals, "rv_rec", 0, &o);

	run_to_exit(c, pid);
	/* rv_rec(10), (11), (12): n + 1 calls each */
	assert_int_equal(r.nentry, 11 + 12 + 13);
	assert_int_equal(r.nret, 11 + 12 + 13);
	assert_int_equal(uprobe_hits(p), 36);
	assert_int_equal(uprobe_missed(p), 0);
	if (r.bad_null || r.bad_zero || r.bad_data || r.bad_arg || r.bad_ret || r.bad_id) {
		print_error("call data: NULL %d, not zeroed at entry %d, changed %d, entry_arg %d, "
			    "retval %d, call_id %d\n",
			    r.bad_null, r.bad_zero, r.bad_data, r.bad_arg, r.bad_ret, r.bad_id);
		fail();
	}
	/* Entries go down n..0, returns come back up 0..n within each outer call. */
	int k = 0;

	for (long top = 10; top <= 12; top++) {
		for (long n = top; n >= 0; n--, k++)
			assert_int_equal(r.entry_n[k], n);
	}
	k = 0;
	for (long top = 10; top <= 12; top++) {
		for (long n = 0; n <= top; n++, k++)
			assert_int_equal(r.ret_n[k], n);
	}
	for (int i = 0; i < 36; i++)
		for (int j = i + 1; j < 36; j++)
			if (r.ids[i] == r.ids[j]) {
				print_error("call ids %d and %d equal (%llu)\n", i, j,
					    (unsigned long long)r.ids[i]);
				fail();
			}
}

static const char *deep_want(long n)
{
	static char buf[256];
	long v = n * (n + 1) / 2;

	snprintf(buf, sizeof(buf), "deep=%ld\ndeep=%ld\ndeep=%ld\ndeep=%ld\ndeep=%ld\ndone\n", v, v,
		 v, v, v);
	return buf;
}

/* ---- two return probes on one function: separate data, removal of one mid-call ---- */

struct two_rec {
	struct uprobe_tracer *t;
	uint64_t tag;   /* written into this probe's call data at entry */
	size_t size;
	uint64_t entries, rets, bad;
	uint64_t stop_at;
};

static int on_two_entry(struct uprobe_hit *h, void *data)
{
	struct two_rec *r = data;
	uint64_t *d = uprobe_hit_call_data(h);

	if (!d) {
		r->bad++;
	} else {
		for (size_t i = 0; i < r->size / 8; i++)
			d[i] = r->tag + i;
	}
	if (++r->entries == r->stop_at)
		uprobe_tracer_stop(r->t);
	return 0;
}

static int on_two_ret(struct uprobe_hit *h, void *data)
{
	struct two_rec *r = data;
	uint64_t *d = uprobe_hit_call_data(h);

	r->rets++;
	if (!d) {
		r->bad++;
		return 0;
	}
	for (size_t i = 0; i < r->size / 8; i++)
		if (d[i] != r->tag + i)
			r->bad++;
	return 0;
}

static void test_two_retprobes(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "deep", "100", NULL };
	struct two_rec a = { .t = c->t, .tag = 0xaaaa0000, .size = 8, .stop_at = 150 };
	struct two_rec b = { .t = c->t, .tag = 0xbbbb0000, .size = 40 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, oa, .handler = on_two_entry, .ret_handler = on_two_ret, .data = &a,
		    .data_size = 8);
	UPROBE_OPTS(uprobe_opts, ob, .handler = on_two_entry, .ret_handler = on_two_ret, .data = &b,
		    .data_size = 40);
	struct uprobe *pa = add_or_fail(c, g_vals, "rv_deep", 0, &oa);
	struct uprobe *pb = add_or_fail(c, g_vals, "rv_deep", 0, &ob);

	/* stopped 50 calls deep into the second rv_deep(100): remove a, keep b */
	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH);
	uint64_t a_rets = a.rets;

	assert_int_equal(uprobe_remove(pa), 0);
	run_to_exit(c, pid);
	assert_same_output(deep_want(100), c->outbuf);
	assert_int_equal(a.rets, a_rets);
	if (a.bad || b.bad || b.entries != 500 || b.rets != 500 || uprobe_hits(pb) != 500 ||
	    uprobe_missed(pb) != 0) {
		print_error("two probes: a bad %llu; b bad %llu entries %llu returns %llu hits %llu "
			    "missed %llu (want 500 and 0)\n",
			    (unsigned long long)a.bad, (unsigned long long)b.bad,
			    (unsigned long long)b.entries, (unsigned long long)b.rets,
			    (unsigned long long)uprobe_hits(pb), (unsigned long long)uprobe_missed(pb));
		fail();
	}
}

/* ---- durations ---- */

struct dur_rec {
	int n;
	uint64_t ns;
};

static int on_dur(struct uprobe_hit *h, void *data)
{
	struct dur_rec *r = data;

	r->n++;
	r->ns = uprobe_hit_duration_ns(h);
	return 0;
}

static void test_duration(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "vals", NULL };
	struct dur_rec slow = { 0 }, fast = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, so, .ret_handler = on_dur, .data = &slow);
	UPROBE_OPTS(uprobe_opts, fo, .ret_handler = on_dur, .data = &fast);

	add_or_fail(c, g_vals, "rv_sleep10", 0, &so);
	add_or_fail(c, g_vals, "rv_fast", 0, &fo);
	run_to_exit(c, pid);
	assert_int_equal(slow.n, 1);
	assert_int_equal(fast.n, 1);
	if (slow.ns < 10 * 1000 * 1000 || fast.ns == 0 || fast.ns >= slow.ns) {
		print_error("duration: rv_sleep10 %llu ns (want >= 10 ms), rv_fast %llu ns (want > 0, "
			    "< sleeper)\n",
			    (unsigned long long)slow.ns, (unsigned long long)fast.ns);
		fail();
	}
}

/* Handlers that take 150 ms each, around a call that returns at once. */
static int on_slow_entry(struct uprobe_hit *h, void *data)
{
	(void)h;
	(void)data;
	usleep(150 * 1000);
	return 0;
}

static int on_slow_dur(struct uprobe_hit *h, void *data)
{
	usleep(150 * 1000);
	return on_dur(h, data);
}

/*
 * A call's duration is the call's, not its handlers' nor the tracer's:
 * 300 ms of handlers around rv_fast do not show in it (a loaded machine's
 * resume and trap may, hence the 100 ms bound), while rv_sleep10 still
 * shows its 10 ms.
 */
static void test_duration_not_handlers(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "vals", NULL };
	struct dur_rec slow = { 0 }, fast = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, so, .handler = on_slow_entry, .ret_handler = on_slow_dur,
		    .data = &slow);
	UPROBE_OPTS(uprobe_opts, fo, .handler = on_slow_entry, .ret_handler = on_slow_dur,
		    .data = &fast);

	add_or_fail(c, g_vals, "rv_sleep10", 0, &so);
	add_or_fail(c, g_vals, "rv_fast", 0, &fo);
	run_to_exit(c, pid);
	assert_int_equal(slow.n, 1);
	assert_int_equal(fast.n, 1);
	if (slow.ns < 10 * 1000 * 1000 || fast.ns >= 100 * 1000 * 1000) {
		print_error("duration: rv_sleep10 %llu ns (want >= 10 ms), rv_fast %llu ns (want "
			    "< 100 ms: its handlers' 300 ms are not its own)\n",
			    (unsigned long long)slow.ns, (unsigned long long)fast.ns);
		fail();
	}
}

/* ---- an entry handler that makes the function return at once (modify ip) ---- */

struct redirect_rec {
	int entries, rets;
	uint64_t retval;
};

static int on_redirect_entry(struct uprobe_hit *h, void *data)
{
	struct redirect_rec *r = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	uint64_t ra;

	r->entries++;
	if (uprobe_hit_read(h, regs->rsp, &ra, 8) != 8)
		return 0;
	regs->rax = 77; /* emulate "return 77" */
	regs->rip = ra;
	regs->rsp += 8;
	return 0;
}

static int on_redirect_ret(struct uprobe_hit *h, void *data)
{
	struct redirect_rec *r = data;

	r->rets++;
	r->retval = uprobe_hit_retval(h);
	return 0;
}

/*
 * The return probe's own entry handler skips the function: the program sees
 * 77; the call is either reported (with 77) or counted missed, never lost.
 */
static void test_entry_redirect(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "vals", NULL };
	struct redirect_rec r = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_redirect_entry, .ret_handler = on_redirect_ret,
		    .data = &r);
	struct uprobe *p = add_or_fail(c, g_vals, "rv_neg", 0, &o);

	run_to_exit(c, pid);
	assert_non_null(strstr(c->outbuf, "rv_neg=77\n"));
	assert_int_equal(r.entries, 1);
	if (uprobe_hits(p) + uprobe_missed(p) != 1 || (r.rets && r.retval != 77)) {
		print_error("redirected call: %d return handler calls (retval %llu), hits %llu "
			    "missed %llu; want it reported once or counted missed\n",
			    r.rets, (unsigned long long)r.retval, (unsigned long long)uprobe_hits(p),
			    (unsigned long long)uprobe_missed(p));
		fail();
	}
}

/* ---- refused options ---- */

static void test_ret_errors(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "vals", NULL };
	struct dur_rec r = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, big, .ret_handler = on_dur, .data = &r, .data_size = 65536);
	UPROBE_OPTS(uprobe_opts, ok, .ret_handler = on_dur, .data = &r, .data_size = 65535);
	struct uprobe *p;

	errno = 0;
	p = uprobe_add(c->t, g_vals, "rv_fast", 0, &big);
	assert_null(p);
	assert_int_equal(errno, EINVAL);
	/* rv_fast starts with push %rbp (1 byte): offset 1 is a boundary, not the first insn. */
	errno = 0;
	p = uprobe_add(c->t, g_vals, "rv_fast", 1, &ok);
	if (p) {
		print_error("return probe at offset 1 accepted\n");
		fail();
	}
	assert_int_equal(errno, EINVAL);
	p = uprobe_add(c->t, g_vals, "rv_fast", 0, &ok);
	assert_non_null(p);
	run_to_exit(c, pid);
	assert_int_equal(r.n, 1);
	assert_int_equal(uprobe_hits(p), 1);
}

/* ---- backtraces through return-probed frames ---- */

struct bt_rec {
	const char *target;
	pid_t pid;
	struct elf_view elf;
	int nhits;
	char err[512]; /* first failure */
};

struct bt_probe {
	struct bt_rec *r;
	const char *want[6]; /* expected symbols of pcs[0..], ending with main */
};

static int on_bt(struct uprobe_hit *h, void *data)
{
	struct bt_probe *bp = data;
	struct bt_rec *r = bp->r;
	uint64_t pcs[64];
	struct maps m;
	int n = uprobe_hit_backtrace(h, pcs, 64), nw = 0;

	r->nhits++;
	if (r->err[0])
		return 0;
	if (n <= 0) {
		snprintf(r->err, sizeof(r->err), "%s hit: uprobe_hit_backtrace returned %d",
			 bp->want[0], n);
		return 0;
	}
	if (!maps_read(uprobe_hit_pid(h), &m)) {
		snprintf(r->err, sizeof(r->err), "cannot read maps");
		return 0;
	}
	while (bp->want[nw])
		nw++;
	if (pcs[0] != uprobe_hit_regs(h)->rip)
		snprintf(r->err, sizeof(r->err), "%s %s: pcs[0] %#llx != rip %#llx", bp->want[0],
			 uprobe_hit_is_return(h) ? "return" : "entry", (unsigned long long)pcs[0],
			 (unsigned long long)uprobe_hit_regs(h)->rip);
	for (int i = 0; i < n && !r->err[0]; i++) {
		/* Return addresses: the call instruction is just before. */
		uint64_t pc = i ? pcs[i] - 1 : pcs[i];
		const char *s = sym_of(&m, &r->elf, pc);

		if (!in_file_text(&m, pcs[i]))
			snprintf(r->err, sizeof(r->err),
				 "%s %s: pcs[%d] = %#llx is not in an executable file mapping (%s)",
				 bp->want[0], uprobe_hit_is_return(h) ? "return" : "entry", i,
				 (unsigned long long)pcs[i],
				 maps_find(&m, pcs[i]) ? maps_find(&m, pcs[i])->path : "unmapped");
		else if (i < nw && strcmp(s, bp->want[i]))
			snprintf(r->err, sizeof(r->err), "%s %s: pcs[%d] = %#llx in %s, want %s",
				 bp->want[0], uprobe_hit_is_return(h) ? "return" : "entry", i,
				 (unsigned long long)pcs[i], s, bp->want[i]);
	}
	if (!r->err[0] && n < nw)
		snprintf(r->err, sizeof(r->err), "%s %s: %d pcs, want at least %d", bp->want[0],
			 uprobe_hit_is_return(h) ? "return" : "entry", n, nw);
	maps_free(&m);
	return 0;
}

static void test_backtrace(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "bt", NULL };
	struct bt_rec r = { .target = g_vals };
	/* entry of bt_inner (a plain entry probe sharing the return probe's instruction) */
	struct bt_probe e_inner = { &r, { "bt_inner", "bt_mid", "bt_outer", "main" } };
	/* returns: rip is in the caller */
	struct bt_probe r_inner = { &r, { "bt_mid", "bt_outer", "main" } };
	struct bt_probe r_mid = { &r, { "bt_outer", "main" } };
	struct bt_probe r_outer = { &r, { "main" } };
	pid_t pid;

	assert_true(elf_view_open(g_vals, &r.elf));
	pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, oo, .ret_handler = on_bt, .data = &r_outer);
	UPROBE_OPTS(uprobe_opts, om, .ret_handler = on_bt, .data = &r_mid);
	UPROBE_OPTS(uprobe_opts, oi, .ret_handler = on_bt, .data = &r_inner);
	UPROBE_OPTS(uprobe_opts, oe, .handler = on_bt, .data = &e_inner);

	add_or_fail(c, g_vals, "bt_outer", 0, &oo);
	add_or_fail(c, g_vals, "bt_mid", 0, &om);
	add_or_fail(c, g_vals, "bt_inner", 0, &oi);
	add_or_fail(c, g_vals, "bt_inner", 0, &oe);
	run_to_exit(c, pid);
	elf_view_close(&r.elf);
	if (r.err[0]) {
		print_error("%s\n", r.err);
		fail();
	}
	/* 3 calls x (outer, mid and inner returns, inner entry) */
	assert_int_equal(r.nhits, 12);
}

/*
 * The bt_mid return probe shares one data pointer for its entry and return
 * handler; tell them apart by is_return.
 */
static int on_bt_mid(struct uprobe_hit *h, void *data)
{
	struct bt_probe *bp = data;

	return on_bt(h, uprobe_hit_is_return(h) ? &bp[1] : &bp[0]);
}

static void test_backtrace_entry_ret(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "bt", NULL };
	struct bt_rec r = { .target = g_vals };
	struct bt_probe mid[2] = {
		{ &r, { "bt_mid", "bt_outer", "main" } },
		{ &r, { "bt_outer", "main" } },
	};
	struct bt_probe r_outer = { &r, { "main" } };
	struct bt_probe r_inner = { &r, { "bt_mid", "bt_outer", "main" } };
	struct bt_probe e_inner = { &r, { "bt_inner", "bt_mid", "bt_outer", "main" } };
	pid_t pid;

	assert_true(elf_view_open(g_vals, &r.elf));
	pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, oo, .ret_handler = on_bt, .data = &r_outer);
	UPROBE_OPTS(uprobe_opts, om, .handler = on_bt_mid, .ret_handler = on_bt_mid, .data = mid);
	UPROBE_OPTS(uprobe_opts, oi, .handler = on_bt, .ret_handler = NULL, .data = &e_inner);
	UPROBE_OPTS(uprobe_opts, ori, .ret_handler = on_bt, .data = &r_inner);

	add_or_fail(c, g_vals, "bt_outer", 0, &oo);
	add_or_fail(c, g_vals, "bt_mid", 0, &om);
	add_or_fail(c, g_vals, "bt_inner", 0, &oi);
	add_or_fail(c, g_vals, "bt_inner", 0, &ori);
	run_to_exit(c, pid);
	elf_view_close(&r.elf);
	if (r.err[0]) {
		print_error("%s\n", r.err);
		fail();
	}
	assert_int_equal(r.nhits, 15);
}

/* ---- detach and remove while calls are pending ---- */

struct stop_rec {
	struct uprobe_tracer *t;
	uint64_t entries, rets, stop_at;
	uint64_t rets_after; /* return handler calls after the test removed the probe */
	bool removed;
};

static int on_stop_entry(struct uprobe_hit *h, void *data)
{
	struct stop_rec *r = data;

	if (++r->entries == r->stop_at)
		uprobe_tracer_stop(r->t);
	return 0;
}

static int on_stop_ret(struct uprobe_hit *h, void *data)
{
	struct stop_rec *r = data;

	r->rets++;
	if (r->removed)
		r->rets_after++;
	return 0;
}

static void test_detach_deep(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "deep", "100", NULL };
	struct stop_rec r = { .t = c->t, .stop_at = 150 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_stop_entry, .ret_handler = on_stop_ret, .data = &r);
	struct uprobe *p = add_or_fail(c, g_vals, "rv_deep", 0, &o);
	int rc, st;

	rc = uprobe_tracer_run(c->t);
	assert_int_equal(rc, 0);
	assert_false(g_wd_fired);
	/* Stopped at the 150th entry: rv_deep(100) done, 50 calls of the second one pending. */
	assert_true(r.entries >= 150);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH);
	uint64_t entries = r.entries, rets = r.rets;

	assert_int_equal(uprobe_hits(p), rets);
	assert_int_equal(uprobe_tracer_detach(c->t), 0);
	st = wait_child(c, pid);
	read_out(c);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("after detach in the recursion: status %#x (%s %d), output:\n%s\n", st,
			    st >= 0 && WIFSIGNALED(st) ? "signal" : "exit",
			    st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), c->outbuf);
		fail();
	}
	assert_same_output(deep_want(100), c->outbuf);
	/* no handler ran after detach, and the calls pending at detach count as missed */
	assert_int_equal(r.entries, entries);
	assert_int_equal(r.rets, rets);
	if (uprobe_missed(p) != entries - rets) {
		print_error("detach: missed %llu, want %llu pending (entries %llu, returns %llu)\n",
			    (unsigned long long)uprobe_missed(p),
			    (unsigned long long)(entries - rets), (unsigned long long)entries,
			    (unsigned long long)rets);
		fail();
	}
}

static void test_remove_pending(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "deep", "100", NULL };
	struct stop_rec r = { .t = c->t, .stop_at = 10 };
	struct dur_rec fast = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_stop_entry, .ret_handler = on_stop_ret, .data = &r);
	UPROBE_OPTS(uprobe_opts, fo, .ret_handler = on_dur, .data = &fast);
	struct uprobe *p = add_or_fail(c, g_vals, "rv_deep", 0, &o);
	struct uprobe *pf = add_or_fail(c, g_vals, "rv_fast", 0, &fo);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_int_equal(uprobe_tracer_exit_status(c->t, pid), -ESRCH);
	assert_true(r.entries >= 10);
	assert_int_equal(r.rets, 0); /* still descending into rv_deep(100) */
	r.removed = true;
	assert_int_equal(uprobe_remove(p), 0);
	run_to_exit(c, pid);
	assert_same_output(deep_want(100), c->outbuf);
	assert_int_equal(r.rets_after, 0);
	assert_int_equal(fast.n, 1);
	assert_int_equal(uprobe_hits(pf), 1);
}

/* Remove while pending, then add the return probe again: old calls must not report to it. */
static void test_remove_readd(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "deep", "100", NULL };
	struct stop_rec r = { .t = c->t, .stop_at = 10 };
	struct stop_rec r2 = { .t = c->t };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_stop_entry, .ret_handler = on_stop_ret, .data = &r);
	UPROBE_OPTS(uprobe_opts, o2, .handler = on_stop_entry, .ret_handler = on_stop_ret,
		    .data = &r2);
	struct uprobe *p = add_or_fail(c, g_vals, "rv_deep", 0, &o);

	assert_int_equal(uprobe_tracer_run(c->t), 0);
	assert_false(g_wd_fired);
	assert_int_equal(r.rets, 0);
	uint64_t pending = r.entries;

	r.removed = true;
	assert_int_equal(uprobe_remove(p), 0);
	p = add_or_fail(c, g_vals, "rv_deep", 0, &o2);
	run_to_exit(c, pid);
	assert_same_output(deep_want(100), c->outbuf);
	assert_int_equal(r.rets_after, 0);
	/* The new probe sees the rest of the entries of the first call and all later calls. */
	if (r2.entries != 500 - pending || r2.rets != r2.entries || uprobe_hits(p) != r2.rets) {
		print_error("re-added probe: entries %llu rets %llu hits %llu missed %llu; want "
			    "%llu entries and as many returns (%llu were pending at removal)\n",
			    (unsigned long long)r2.entries, (unsigned long long)r2.rets,
			    (unsigned long long)uprobe_hits(p), (unsigned long long)uprobe_missed(p),
			    (unsigned long long)(500 - pending), (unsigned long long)pending);
		fail();
	}
}

/* ---- fork and vfork while a call is pending ---- */

struct fork_rec {
	int n;
	pid_t pids[4];
	uint64_t ret[4];
};

static int on_fork_ret(struct uprobe_hit *h, void *data)
{
	struct fork_rec *r = data;

	if (r->n < 4) {
		r->pids[r->n] = uprobe_hit_pid(h);
		r->ret[r->n] = uprobe_hit_retval(h);
	}
	r->n++;
	return 0;
}

/* Fork children are not followed (README): the child gets its real return address back. */
static void test_fork_pending(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "fork", NULL };
	struct fork_rec r = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_fork_ret, .data = &r);
	struct uprobe *p = add_or_fail(c, g_vals, "rv_forker", 0, &o);

	run_to_exit(c, pid);
	assert_same_output("child_ret=1001\nchild_status=0\nparent_ret=2001\n", c->outbuf);
	if (r.n != 1 || uprobe_hits(p) != 1 || uprobe_missed(p) != 0) {
		print_error("fork: %d return hits (uprobe_hits %llu, missed %llu), want the parent's\n",
			    r.n, (unsigned long long)uprobe_hits(p),
			    (unsigned long long)uprobe_missed(p));
		fail();
	}
	assert_int_equal(r.ret[0], 2001);
	assert_int_equal(r.pids[0], pid);
}

/* vfork: the child runs on the parent's stack, where the parent's call is pending. */
static void test_vfork_pending(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "vfork", NULL };
	struct fork_rec r = { 0 };
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_fork_ret, .data = &r);
	struct uprobe *p = add_or_fail(c, g_vals, "rv_vforker", 0, &o);

	run_to_exit(c, pid);
	assert_same_output("rv_vforker=8\n", c->outbuf);
	if (r.n != 1 || uprobe_hits(p) != 1 || uprobe_missed(p) != 0) {
		print_error("vfork: %d return hits (uprobe_hits %llu, missed %llu), want 1\n", r.n,
			    (unsigned long long)uprobe_hits(p), (unsigned long long)uprobe_missed(p));
		fail();
	}
	assert_int_equal(r.ret[0], 8);
	assert_int_equal(r.pids[0], pid);
}

static int on_count_ret(struct uprobe_hit *h, void *data)
{
	(*(int *)data)++;
	return 0;
}

/* exec while rv_execer is pending: that call is missed, the new image's calls are reported. */
static void test_exec_pending(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "exec", NULL };
	int n_exec = 0, n_neg = 0;
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, oe, .ret_handler = on_count_ret, .data = &n_exec);
	UPROBE_OPTS(uprobe_opts, on, .ret_handler = on_count_ret, .data = &n_neg);
	struct uprobe *pe = add_or_fail(c, g_vals, "rv_execer", 0, &oe);
	struct uprobe *pn = add_or_fail(c, g_vals, "rv_neg", 0, &on);

	run_to_exit(c, pid);
	assert_non_null(strstr(c->outbuf, "exec\nrv_neg=-5\n"));
	assert_non_null(strstr(c->outbuf, "done\n"));
	assert_int_equal(n_exec, 0);
	assert_int_equal(uprobe_missed(pe), 1);
	assert_int_equal(n_neg, 1);
	assert_int_equal(uprobe_hits(pn), 1);
}

/* ---- a frame left by setcontext(), then a call at the same stack slot ---- */

/*
 * rv_escape() leaves through setcontext() (nothing libuprobe watches), then
 * ctx_escape() calls rv_after() with the same rsp: its return must not also
 * "return" the dead rv_escape call (the kernel drops instances at or below
 * the sp of a new call).
 */
static void test_setcontext_skip(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_vals, "ctx", NULL };
	int n_escape = 0, n_after = 0;
	pid_t pid = spawn_or_fail(c, argv);
	UPROBE_OPTS(uprobe_opts, oe, .ret_handler = on_count_ret, .data = &n_escape);
	UPROBE_OPTS(uprobe_opts, oa, .ret_handler = on_count_ret, .data = &n_after);
	struct uprobe *pe = add_or_fail(c, g_vals, "rv_escape", 0, &oe);
	struct uprobe *pa = add_or_fail(c, g_vals, "rv_after", 0, &oa);

	run_to_exit(c, pid);
	assert_same_output("rv_after=42 calls=1\n", c->outbuf);
	if (n_escape != 0 || uprobe_missed(pe) != 1 || n_after != 1 || uprobe_hits(pa) != 1) {
		print_error("setcontext: rv_escape %d returns (missed %llu), want 0 (missed 1); "
			    "rv_after %d returns, want 1\n",
			    n_escape, (unsigned long long)uprobe_missed(pe), n_after);
		fail();
	}
}

/* ---- a C program: glibc dlopens libgcc_s for backtrace() and pthread_exit ---- */

static const char *g_cunwind;

struct cu_probe {
	const char *name;
	long hits, missed;
	int n;
	struct uprobe *p;
};

static void run_cunwind(struct ctx *c, const char *mode, struct cu_probe *ps, int np)
{
	char *argv[] = { (char *)g_cunwind, (char *)mode, NULL };
	char *want = run_untraced(c, argv);
	pid_t pid = spawn_or_fail(c, argv);
	int errors = 0;

	for (int i = 0; i < np; i++) {
		UPROBE_OPTS(uprobe_opts, o, .ret_handler = on_count_ret, .data = &ps[i].n);

		ps[i].p = add_or_fail(c, g_cunwind, ps[i].name, 0, &o);
	}
	run_to_exit(c, pid);
	assert_same_output(want, c->outbuf);
	free(want);
	for (int i = 0; i < np; i++) {
		if (ps[i].n != ps[i].hits || uprobe_hits(ps[i].p) != (uint64_t)ps[i].hits ||
		    uprobe_missed(ps[i].p) != (uint64_t)ps[i].missed) {
			print_error("%s: %d returns (hits %llu) missed %llu, want %ld missed %ld\n",
				    ps[i].name, ps[i].n, (unsigned long long)uprobe_hits(ps[i].p),
				    (unsigned long long)uprobe_missed(ps[i].p), ps[i].hits,
				    ps[i].missed);
			errors++;
		}
	}
	assert_int_equal(errors, 0);
}

/* backtrace() names the real callers, and their returns are still reported afterwards. */
static void test_c_backtrace(void **state)
{
	struct cu_probe ps[] = {
		{ "cu_a", 2, 0 }, { "cu_b", 2, 0 }, { "cu_c", 2, 0 }, { "main", 1, 0 },
	};

	run_cunwind(*state, "bt", ps, 4);
}

/* pthread_exit's forced unwind runs cu_mid's cleanup; the three frames are missed. */
static void test_c_thread_exit(void **state)
{
	struct cu_probe ps[] = {
		{ "cu_th", 0, 3 }, { "cu_mid", 0, 3 }, { "cu_leaf", 0, 3 },
	};

	run_cunwind(*state, "thexit", ps, 3);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_retvals),
		T(test_call_data),
		T(test_two_retprobes),
		T(test_duration),
		T(test_duration_not_handlers),
		T(test_ret_errors),
		T(test_entry_redirect),
		T(test_backtrace),
		T(test_backtrace_entry_ret),
		T(test_detach_deep),
		T(test_remove_pending),
		T(test_remove_readd),
		T(test_fork_pending),
		T(test_vfork_pending),
		T(test_exec_pending),
		T(test_setcontext_skip),
		T(test_c_backtrace),
		T(test_c_thread_exit),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s RET_VALS RET_CUNWIND [TEST]\n", argv[0]);
		return 2;
	}
	g_vals = argv[1];
	g_cunwind = argv[2];
	/* one test per meson test, each under its own timeout */
	tracee_test_init("ret", 150, argc > 3 ? argv[3] : NULL);
	return cmocka_run_group_tests_name("ret_vals", tests, NULL, NULL);
}
