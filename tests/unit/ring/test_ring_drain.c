// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of the hit ring's drain (lib/ring_drain.c) and delivery
 * (ring_deliver.c) without a tracee: the ring is a buffer of the test laid
 * out as lib/ring.h says, the test is its producer (tickets, records,
 * commits in any order), and the scratch area the records name is a
 * struct of the test's, with sites whose handlers note what they see.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mech.h"
#include "ring.h"
#include "ring_internal.h"

#define AREA_START 0x7d0000000000ull
#define NSLOTS 64
#define NSITES 4        /* slots 1..4 are record slots with a site each */
#define ARGS_SLOT 3     /* of those, an arguments-only one */
#define PLAIN_SLOT 6    /* a slot in use that is not a record slot */
#define FS1 0x7f0000101000ull
#define FS2 0x7f0000202000ull
#define TID1 1000001
#define TID2 1000002

/* One delivery as a handler saw it. */
struct seen_hit {
	unsigned slot;
	uint64_t rdi, rbx, r12, r10, rip, addr, time_ns, tail;
	uint64_t arg1, arg3, arg4, arg5; /* read after before_regs(), before the registers */
	pid_t tid;
	bool async;
};

static struct {
	struct seen_hit v[1024];
	unsigned n;
} seen;

struct fixture {
	struct uprobe_tracer *t;
	struct proc *p;
	struct ring *r;
	struct xol_area a;
	struct slot_info info[NSLOTS];
	uint64_t rec_map[1], args_map[1];
	struct elf_file elf;
	struct site *s[NSITES + 1];
	struct uprobe *u[NSITES + 1];
	unsigned slot_no[NSITES + 1];
	struct task *k1, *k2;
};

static struct fixture *cur;

/* What a handler does once it has read its first argument, before it asks for the registers */
static void (*before_regs)(struct uprobe_hit *h);

static int on_hit(struct uprobe_hit *h, void *data)
{
	struct seen_hit *e;

	assert_true(seen.n < 1024);
	e = &seen.v[seen.n++];
	e->slot = *(unsigned *)data;
	e->rdi = uprobe_hit_arg(h, 0);
	if (before_regs)
		before_regs(h);
	e->arg1 = uprobe_hit_arg(h, 1);
	e->arg3 = uprobe_hit_arg(h, 3);
	e->arg4 = uprobe_hit_arg(h, 4);
	e->arg5 = uprobe_hit_arg(h, 5);
	e->rbx = uprobe_hit_regs(h)->rbx;
	e->r10 = uprobe_hit_regs(h)->r10;
	e->r12 = uprobe_hit_regs(h)->r12;
	e->rip = uprobe_hit_regs(h)->rip;
	e->addr = h->addr;
	e->time_ns = h->time_ns;
	e->tid = h->tid;
	e->async = h->is_async;
	e->tail = __atomic_load_n((uint64_t *)(cur->r->base + RING_TAIL), __ATOMIC_ACQUIRE);
	return 0;
}

/* The thread layer's calls up into the engine: none matters here. */
static void no_task_gone(struct uprobe_tracer *t, struct task *k)
{
	(void)t;
	(void)k;
}

static const struct tracer_hooks test_hooks = { .task_gone = no_task_gone };

static uint64_t insn_addr(unsigned slot)
{
	return 0x401000 + (uint64_t)slot * 0x10;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct uprobe_tracer *t;
	struct proc *p;

	assert_non_null(fx);
	fx->t = t = uprobe_tracer_new();
	assert_non_null(t);
	t->hooks = &test_hooks;
	registry_pools_init(t);

	/* a process the tracer knows, by a pid no one reads */
	fx->p = p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->pid = getpid();
	p->memfd = -1;
	p->t = t;
	p->next = t->procs;
	t->procs = p;

	fx->r = calloc(1, sizeof(*fx->r));
	assert_non_null(fx->r);
	fx->r->base = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(fx->r->base != MAP_FAILED);
	fx->r->addr = 0x7e0000000000ull;
	fx->r->fs_mode = RING_FS_SELF;
	p->ring = fx->r;
	t->nrings = 1;

	fx->a.start = AREA_START;
	fx->a.size = NSLOTS * ARCH_SLOT_SIZE;
	fx->a.nslots = NSLOTS;
	fx->a.used = PLAIN_SLOT + 1;
	fx->a.info = fx->info;
	fx->a.rec_map = fx->rec_map;
	fx->a.args_map = fx->args_map;
	fx->a.info_cap = NSLOTS;
	p->areas = &fx->a;

	fx->elf.path = "/fx/ring";
	fx->elf.dev = 1;
	fx->elf.ino = 2;
	for (unsigned i = 1; i <= NSITES + 2; i++)
		fx->info[i].insn_addr = insn_addr(i);
	for (unsigned i = 1; i <= NSITES; i++) {
		struct site *s = pool_alloc(&t->site_pool);
		struct uprobe *u = pool_alloc(&t->probe_pool);

		assert_non_null(s);
		assert_non_null(u);
		s->elf = &fx->elf;
		s->off = insn_addr(i) - 0x400000;
		s->probes = &s->one;
		s->refs = 1;
		assert_int_equal(site_register(t, s), 0);
		fx->slot_no[i] = i;
		u->t = t;
		u->site = s;
		u->nostop = true;
		u->handler = on_hit;
		u->data = &fx->slot_no[i];
		s->probes[s->nprobes++] = u;
		fx->s[i] = s;
		fx->u[i] = u;
		fx->info[i].site = s;
		fx->rec_map[0] |= 1ull << i;
	}
	fx->info[PLAIN_SLOT].site = fx->s[1];
	fx->args_map[0] = 1ull << ARGS_SLOT;

	fx->k1 = task_new(t, p, TID1, TASK_STOPPED);
	fx->k2 = task_new(t, p, TID2, TASK_STOPPED);
	assert_non_null(fx->k1);
	assert_non_null(fx->k2);
	fx->k1->regs.fs_base = FS1;
	fx->k2->regs.fs_base = FS2;
	fx->k1->regs_valid = fx->k2->regs_valid = true;

	memset(&seen, 0, sizeof(seen));
	before_regs = NULL;
	cur = fx;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct uprobe_tracer *t = fx->t;

	while (fx->p->threads)
		task_free(t, fx->p->threads);
	if (fx->p->ring) {
		munmap(fx->p->ring->base, RING_SIZE);
		free(fx->p->ring);
	}
	t->procs = fx->p->next;
	free(fx->p);
	/* the test's probes, not planted: only freed */
	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s))
		s->nprobes = 0;
	t->nrings = 0;
	t->hooks = &tracer_hooks;
	uprobe_tracer_free(t);
	free(fx);
	return 0;
}

/* ---- the producer's side, as ring.h describes it ---- */

static uint64_t *word(struct fixture *fx, unsigned off)
{
	return (uint64_t *)(fx->r->base + off);
}

static struct ring_rec *rec_at(struct fixture *fx, uint64_t ticket)
{
	return (struct ring_rec *)(fx->r->base + RING_RECS) + (ticket % RING_NREC);
}

/* Takes a ticket (head - tail < nrec, as a producer checks) and writes its record, uncommitted. */
static uint64_t take(struct fixture *fx, unsigned slot, uint64_t fs, uint64_t rdi)
{
	uint64_t ticket = *word(fx, RING_HEAD);
	struct ring_rec *rec = rec_at(fx, ticket);

	assert_true(ticket - *word(fx, RING_TAIL) < RING_NREC);
	*word(fx, RING_HEAD) = ticket + 1;
	rec->ret = AREA_START + (uint64_t)slot * ARCH_SLOT_SIZE + ARCH_DETOUR_REC_RET;
	rec->fs_base = fs;
	rec->rdi = rdi;
	rec->rbx = 0xb0b0 + rdi;
	rec->r10 = 0x1010 + rdi;
	rec->r12 = 0x1212 + rdi;
	rec->kind = 0;
	rec->tsc = 0;
	return ticket;
}

static void commit(struct fixture *fx, uint64_t ticket)
{
	__atomic_store_n(&rec_at(fx, ticket)->seq, ticket + 1, __ATOMIC_RELEASE);
}

/* Starts the ring at ticket `at`, as if that many records were drained before. */
static void start_at(struct fixture *fx, uint64_t at)
{
	*word(fx, RING_HEAD) = at;
	*word(fx, RING_TAIL) = at;
	fx->r->tail = at;
}

/* ---- tests ---- */

/* Committed in order: every record delivered in ticket order, to its site, as its thread's. */
static void test_in_order(void **state)
{
	struct fixture *fx = *state;

	for (unsigned i = 0; i < 8; i++)
		commit(fx, take(fx, 1 + i % 2, i % 2 ? FS2 : FS1, 100 + i));
	assert_false(ring_settled(fx->p));
	assert_int_equal(ring_drain(fx->t, fx->p), 8);
	assert_int_equal(seen.n, 8);
	for (unsigned i = 0; i < 8; i++) {
		struct seen_hit *e = &seen.v[i];

		assert_int_equal(e->rdi, 100 + i);
		assert_int_equal(e->slot, 1 + i % 2);
		assert_int_equal(e->addr, insn_addr(1 + i % 2));
		assert_int_equal(e->rip, insn_addr(1 + i % 2));
		assert_int_equal(e->tid, i % 2 ? TID2 : TID1);
		assert_int_equal(e->rbx, 0xb0b0 + 100 + i);
		assert_int_equal(e->r12, 0x1212 + 100 + i);
		assert_true(e->async);
	}
	assert_int_equal(fx->u[1]->hits, 4);
	assert_int_equal(fx->u[2]->hits, 4);
	assert_int_equal(*word(fx, RING_TAIL), 8);
	assert_true(ring_settled(fx->p));
	/* nothing new: nothing delivered, the tail stays */
	assert_int_equal(ring_drain(fx->t, fx->p), 0);
	assert_int_equal(*word(fx, RING_TAIL), 8);
}

/*
 * Committed out of order: the drain stops at the first ticket not
 * committed, publishes the tail there, and goes on in ticket order once
 * that one is.
 */
static void test_out_of_order(void **state)
{
	struct fixture *fx = *state;
	uint64_t t[5];

	for (unsigned i = 0; i < 5; i++)
		t[i] = take(fx, 1, FS1, i);
	commit(fx, t[4]);
	commit(fx, t[1]);
	commit(fx, t[0]);
	commit(fx, t[3]);
	assert_int_equal(ring_drain(fx->t, fx->p), 2);
	assert_int_equal(*word(fx, RING_TAIL), 2);
	assert_false(ring_settled(fx->p));
	assert_int_equal(ring_drain(fx->t, fx->p), 0); /* still held up */
	commit(fx, t[2]);
	assert_int_equal(ring_drain(fx->t, fx->p), 3);
	assert_int_equal(*word(fx, RING_TAIL), 5);
	assert_int_equal(seen.n, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(seen.v[i].rdi, i);
}

/* The first record not committed: nothing delivered, nothing published. */
static void test_first_uncommitted(void **state)
{
	struct fixture *fx = *state;
	uint64_t a, b;

	start_at(fx, 40);
	a = take(fx, 1, FS1, 1);
	b = take(fx, 1, FS1, 2);
	commit(fx, b);
	assert_int_equal(ring_drain(fx->t, fx->p), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(*word(fx, RING_TAIL), 40);
	commit(fx, a);
	assert_int_equal(ring_drain(fx->t, fx->p), 2);
	assert_int_equal(*word(fx, RING_TAIL), 42);
}

/*
 * Across the end of the records (ticket % nrec wraps): in ticket order;
 * a slot still holding the last lap's committed record is not taken for
 * this lap's.
 */
static void test_lap(void **state)
{
	struct fixture *fx = *state;
	uint64_t first = 2ull * RING_NREC - 3, last_lap = first + 5 - RING_NREC;

	start_at(fx, first);
	/* what ticket first + 5 - nrec left in the slot that ticket first + 5 takes */
	rec_at(fx, last_lap)->seq = last_lap + 1;
	for (unsigned i = 0; i < 6; i++)
		take(fx, 1, FS1, i);
	for (unsigned i = 0; i < 5; i++)
		commit(fx, first + i);
	assert_int_equal(ring_drain(fx->t, fx->p), 5);
	assert_int_equal(*word(fx, RING_TAIL), first + 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(seen.v[i].rdi, i);
	commit(fx, first + 5);
	assert_int_equal(ring_drain(fx->t, fx->p), 1);
	assert_int_equal(seen.v[5].rdi, 5);
	assert_int_equal(*word(fx, RING_TAIL), first + 6);
}

/*
 * An arguments-only slot's record: its third cache line (r12 on) is not
 * read, and rbx, r10, r11, which its gadget does not write, are zero.
 */
static void test_args_only(void **state)
{
	struct fixture *fx = *state;

	commit(fx, take(fx, ARGS_SLOT, FS1, 7));
	commit(fx, take(fx, 1, FS1, 8));
	assert_int_equal(ring_drain(fx->t, fx->p), 2);
	assert_int_equal(seen.v[0].slot, ARGS_SLOT);
	assert_int_equal(seen.v[0].rdi, 7);
	assert_int_equal(seen.v[0].r12, 0);
	assert_int_equal(seen.v[0].rbx, 0);
	assert_int_equal(seen.v[0].r10, 0);
	assert_int_equal(seen.v[1].r12, 0x1212 + 8);
	assert_int_equal(seen.v[1].r10, 0x1010 + 8);
}

/*
 * A handler reads its first argument from the record's first line, and
 * the registers of the other lines only when it asks: then from the ring,
 * where the record stays until its delivery ends.
 */
static void test_rest_on_demand(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = take(fx, 1, FS1, 5);

	rec_at(fx, a)->r8 = 0x88;
	rec_at(fx, a)->r9 = 0x99;
	rec_at(fx, a)->rsi = 0x51;
	rec_at(fx, a)->rcx = 0xc1;
	commit(fx, a);
	assert_int_equal(ring_drain(fx->t, fx->p), 1);
	assert_int_equal(seen.v[0].rdi, 5);
	assert_int_equal(seen.v[0].arg1, 0x51);
	assert_int_equal(seen.v[0].arg3, 0xc1);
	assert_int_equal(seen.v[0].arg4, 0x88);
	assert_int_equal(seen.v[0].arg5, 0x99);
	assert_int_equal(seen.v[0].rbx, 0xb0b0 + 5);
	assert_int_equal(seen.v[0].r12, 0x1212 + 5);
	assert_null(fx->t->ring_pending);
}

/* The first hit's handler drains the ring again (nested), then the slot is written anew. */
static void drain_and_overwrite(struct uprobe_hit *h)
{
	struct ring_rec *first = rec_at(cur, 0);

	if (seen.n != 1)
		return;
	assert_non_null(h);
	assert_int_equal(ring_drain(cur->t, cur->p), 1);
	/* the nested drain published the first record free: a producer's next lap writes it */
	assert_true(__atomic_load_n(word(cur, RING_TAIL), __ATOMIC_ACQUIRE) >= 1);
	first->rbx = first->r10 = first->r12 = first->rsi = first->r8 = 0xdead;
}

/*
 * A drain inside a handler frees the record of the hit being delivered:
 * its registers are read before, and the handler still sees its own.
 */
static void test_nested_drain_settles(void **state)
{
	struct fixture *fx = *state;

	uint64_t a = take(fx, 1, FS1, 1);

	rec_at(fx, a)->rsi = 0x51;
	rec_at(fx, a)->r8 = 0x88;
	commit(fx, a);
	commit(fx, take(fx, 2, FS2, 2));
	before_regs = drain_and_overwrite;
	assert_int_equal(ring_drain(fx->t, fx->p), 1);
	assert_int_equal(seen.n, 2);
	/* the nested delivery came first: seen.v[1] is the first record's */
	assert_int_equal(seen.v[1].rdi, 2);
	assert_int_equal(seen.v[0].rdi, 1);
	assert_int_equal(seen.v[0].arg1, 0x51);
	assert_int_equal(seen.v[0].arg4, 0x88);
	assert_int_equal(seen.v[0].rbx, 0xb0b0 + 1);
	assert_int_equal(seen.v[0].r10, 0x1010 + 1);
	assert_int_equal(seen.v[0].r12, 0x1212 + 1);
	assert_int_equal(seen.v[1].r12, 0x1212 + 2);
	assert_null(fx->t->ring_pending);
}

/* Records naming no record slot are consumed without a delivery; the next ones still come. */
static void test_not_a_record_slot(void **state)
{
	struct fixture *fx = *state;
	uint64_t outside;

	commit(fx, take(fx, PLAIN_SLOT, FS1, 1)); /* in use, not a record slot */
	commit(fx, take(fx, 0, FS1, 2));          /* the area's gadget slot */
	commit(fx, take(fx, NSITES + 2, FS1, 3)); /* past the slots in use */
	outside = take(fx, 1, FS1, 4);
	rec_at(fx, outside)->ret = 0x1000 + ARCH_DETOUR_REC_RET; /* no area there */
	commit(fx, outside);
	commit(fx, take(fx, 2, FS2, 5));
	assert_int_equal(ring_drain(fx->t, fx->p), 5);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.v[0].rdi, 5);
	assert_int_equal(*word(fx, RING_TAIL), 5);
}

/*
 * A stopped thread's own records behind another's uncommitted ticket
 * are delivered ahead of their turn, in their order; the in-order drain
 * later passes over them: each record is delivered once.
 */
static void test_thread_ahead(void **state)
{
	struct fixture *fx = *state;
	uint64_t held = take(fx, 1, FS2, 0);

	commit(fx, take(fx, 1, FS1, 1));
	commit(fx, take(fx, 2, FS2, 2));
	commit(fx, take(fx, 2, FS1, 3));
	assert_true(ring_drain_thread(fx->t, fx->p, fx->k1));
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.v[0].rdi, 1);
	assert_int_equal(seen.v[1].rdi, 3);
	assert_int_equal(seen.v[0].tid, TID1);
	assert_int_equal(*word(fx, RING_TAIL), 0); /* nothing freed: ticket 0 is still taken */
	assert_false(ring_settled(fx->p));

	commit(fx, held);
	assert_int_equal(ring_drain(fx->t, fx->p), 2);
	assert_int_equal(seen.n, 4);
	assert_int_equal(seen.v[2].rdi, 0);
	assert_int_equal(seen.v[3].rdi, 2);
	assert_int_equal(seen.v[3].tid, TID2);
	assert_int_equal(*word(fx, RING_TAIL), 4);
	assert_true(ring_settled(fx->p));
	assert_int_equal(fx->u[1]->hits + fx->u[2]->hits, 4);
}

/* Records that do not name their thread (RING_FS_NONE) cannot be picked out: none ahead. */
static void test_thread_ahead_unnamed(void **state)
{
	struct fixture *fx = *state;

	fx->r->fs_mode = RING_FS_NONE;
	take(fx, 1, FS2, 0);
	commit(fx, take(fx, 1, FS1, 1));
	assert_false(ring_drain_thread(fx->t, fx->p, fx->k1));
	assert_int_equal(seen.n, 0);
}

/*
 * The last drain (ring_forget()): every committed record, past the
 * tickets of threads that died holding them; then the ring is gone.
 */
static void test_forget(void **state)
{
	struct fixture *fx = *state;

	take(fx, 1, FS1, 0); /* its thread died before the commit */
	commit(fx, take(fx, 1, FS1, 1));
	take(fx, 2, FS2, 2);
	commit(fx, take(fx, 2, FS2, 3));
	ring_forget(fx->t, fx->p);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.v[0].rdi, 1);
	assert_int_equal(seen.v[1].rdi, 3);
	assert_null(fx->p->ring);
	assert_int_equal(fx->t->nrings, 0);
	assert_true(ring_settled(fx->p));
}

/* A return record (no detour) through a stack slot is pending until drained. */
static void test_ret_pending(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = take(fx, 1, FS1, 0), b;

	rec_at(fx, a)->ret = 0;
	rec_at(fx, a)->kind = RING_KIND_RET;
	rec_at(fx, a)->ns_slot = 0x7ffc0000f008ull;
	assert_false(ring_ret_pending(fx->p, 0x7ffc0000f008ull)); /* not committed yet */
	commit(fx, a);
	b = take(fx, 1, FS1, 1);
	commit(fx, b);
	assert_true(ring_ret_pending(fx->p, 0x7ffc0000f008ull));
	assert_false(ring_ret_pending(fx->p, 0x7ffc0000f010ull));
	assert_false(ring_ret_pending(fx->p, 0));
	assert_int_equal(ring_drain(fx->t, fx->p), 2);
	/* no call of the thread is known at that slot: nothing to run but the entry after */
	assert_int_equal(seen.n, 1);
	assert_false(ring_ret_pending(fx->p, 0x7ffc0000f008ull));
}

/*
 * A long drain publishes its tail as it goes (every few hundred records),
 * never past a record not yet copied out.
 */
static void test_publish(void **state)
{
	struct fixture *fx = *state;
	enum { N = 1000 };

	for (unsigned i = 0; i < N; i++)
		commit(fx, take(fx, 1, FS1, i));
	assert_int_equal(ring_drain(fx->t, fx->p), N);
	assert_int_equal(seen.n, N);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(seen.v[i].rdi, i);
		assert_true(seen.v[i].tail <= i + 1);
		if (i)
			assert_true(seen.v[i].tail >= seen.v[i - 1].tail);
	}
	assert_true(seen.v[N - 1].tail >= N / 2); /* published before the end */
	assert_int_equal(*word(fx, RING_TAIL), N);
}

static bool tsc_constant(void)
{
	char line[4096];
	bool yes = false;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (!f)
		return false;
	while (!yes && fgets(line, sizeof(line), f))
		yes = !strncmp(line, "flags", 5) && strstr(line, " constant_tsc") &&
		      strstr(line, " nonstop_tsc");
	fclose(f);
	return yes;
}

/*
 * A record's time: from its time-stamp counter when the ring may convert
 * it (tsc_ok), the time it was taken, not drained; else the drain's.
 */
static void test_time(void **state)
{
	struct fixture *fx = *state;
	struct timespec pause = { 0, 30 * 1000 * 1000 };
	uint64_t before, after, drained, a;

	if (!tsc_constant())
		skip();
	fx->r->tsc_ok = true;
	ring_tsc_sample(&fx->r->tsc0, &fx->r->ns0);
	nanosleep(&pause, NULL);
	a = take(fx, 1, FS1, 0);
	before = mono_ns();
	rec_at(fx, a)->tsc = __builtin_ia32_rdtsc();
	after = mono_ns();
	commit(fx, a);
	nanosleep(&pause, NULL);
	assert_int_equal(ring_drain(fx->t, fx->p), 1);
	/* within a millisecond of when it was taken; the drain came 30 ms later */
	assert_true(seen.v[0].time_ns + 1000000 >= before);
	assert_true(seen.v[0].time_ns <= after + 1000000);

	fx->r->tsc_ok = false;
	a = take(fx, 1, FS1, 1);
	rec_at(fx, a)->tsc = __builtin_ia32_rdtsc();
	commit(fx, a);
	drained = mono_ns();
	assert_int_equal(ring_drain(fx->t, fx->p), 1);
	assert_true(seen.v[1].time_ns >= drained);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_uncommitted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_args_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rest_on_demand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_drain_settles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_record_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_ahead_unnamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ret_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
