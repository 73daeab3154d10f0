// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The hit ring drained: its records copied out in ticket order and handed
 * to ring_deliver() (ring_deliver.c), the tail published for the producers'
 * next lap; a stopped thread's own records ahead of their turn; whether
 * the run loop polls the rings; what drains last (a ring forgotten, a
 * ring unmapped at detach); and the return gadget's int3s, where a full
 * ring is drained for the thread to take its ticket again. Everything
 * that drains is here, above the making of the ring (ring.c) and the
 * delivery, which never drain.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "mech.h"
#include "ring.h"
#include "ring_internal.h"

/*
 * A drain's clock: a (tsc, ns) pair read at its first record (and again
 * at a record written after it), and the rate between the ring's anchor
 * and that pair, worked out once per reading rather than per record.
 */
struct drain_clock {
	uint64_t tsc, ns;
	double rate;
};

static void clock_sample(const struct ring *r, struct drain_clock *c)
{
	ring_tsc_sample(&c->tsc, &c->ns);
	c->rate = c->tsc > r->tsc0 ? (double)(c->ns - r->ns0) / (double)(c->tsc - r->tsc0) : 0;
}

static uint64_t tsc_to_ns(const struct ring *r, uint64_t tsc, const struct drain_clock *c)
{
	if (!r->tsc_ok || c->tsc <= r->tsc0 || tsc >= c->tsc || tsc < r->tsc0)
		return c->ns;
	return c->ns - (uint64_t)((double)(c->tsc - tsc) * c->rate);
}

/* Ticket pos's record in r */
static struct ring_rec *rec_at(const struct ring *r, uint64_t pos)
{
	return (struct ring_rec *)(r->base + RING_RECS) + (pos & (RING_NREC - 1));
}

/*
 * A record delivered ahead of its turn (deliver_own()): its seq is its
 * committed value with this bit set, which the in-order drain passes
 * over. Producers never read seq (the published tail says what is free).
 */
#define RING_SEQ_DONE (1ull << 63)

/*
 * Copies the committed record's first line out of slot and delivers it
 * (ring_deliver() reads the rest where a handler wants it); done: the
 * record's seq from then on, before any handler runs (a record delivered
 * ahead of its turn), or 0. In order, nothing is written into the slot:
 * its lines go back to the writer's CPU on the next lap as shared copies,
 * not as lines this CPU modified.
 */
static void consume(struct uprobe_tracer *t, struct proc *p, struct ring *r,
		    struct ring_rec *slot, uint64_t done, struct drain_clock *c)
{
	struct ring_rec rec;

	memcpy(&rec, slot, RING_LINE0_SIZE);
	if (!c->tsc)
		clock_sample(r, c);
	if (done)
		__atomic_store_n(&slot->seq, done, __ATOMIC_RELEASE);
	if (rec.tsc > c->tsc)
		clock_sample(r, c); /* written after this drain began */
	ring_deliver(t, p, r, &rec, slot, tsc_to_ns(r, rec.tsc, c));
}

/*
 * The records before r->tail are copied out: free for the producers'
 * next lap (ring.h). Published every RING_PUBLISH records of a drain and
 * at its end, not at each: the producers read the tail's line at every
 * hit, and each store takes it away from their CPUs.
 */
#define RING_PUBLISH 256

static void publish_tail(struct ring *r)
{
	__atomic_store_n((uint64_t *)(r->base + RING_TAIL), r->tail, __ATOMIC_RELEASE);
}

/*
 * Delivers the records in order up to the first one not committed yet (its
 * thread is between its ticket and its commit), or, when final (no thread
 * of the process will ever write again: it exited, exec'd, or was let go
 * with every thread out of the gadget), every committed one, skipping the
 * tickets of threads that died holding them. Records delivered ahead of
 * their turn (deliver_own()) are passed over.
 */
static unsigned drain(struct uprobe_tracer *t, struct proc *p, bool final)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid;
	struct drain_clock c = { 0, 0, 0 };
	uint64_t head = r ? __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE) : 0;
	unsigned n = 0;

	/*
	 * A handler's drain (nested: the hit it runs for is still being
	 * delivered) frees records for the producers: the records of the
	 * hits being delivered are read whole first.
	 */
	ring_hits_settle(t);
	ring_count(p);
	while (r && n < RING_NREC * 4) {
		struct ring_rec *slot = rec_at(r, r->tail);
		uint64_t pos = r->tail, seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);

		if (seq == ((pos + 1) | RING_SEQ_DONE)) {
			r->tail = pos + 1;
			continue;
		}
		if (seq != pos + 1) {
			if (!final || pos >= head)
				break;
			r->tail = pos + 1;
			continue;
		}
		r->tail = pos + 1;
		n++;
		consume(t, p, r, slot, 0, &c);
		/* a handler may have let the process go (its exit handled meanwhile) */
		if (proc_find(t, pid) != p || p->ring != r) {
			r = NULL;
			break;
		}
		if (!(n % RING_PUBLISH))
			publish_tail(r);
	}
	if (r)
		publish_tail(r);
	t->ring_delivered += n;
	return n;
}

unsigned ring_drain(struct uprobe_tracer *t, struct proc *p)
{
	return drain(t, p, false);
}

/*
 * The committed records of k's thread (named by fs_base) behind another
 * thread's uncommitted ticket, delivered ahead of their turn, in their
 * own order: up to the first return record whose call is not known yet
 * (its entry may be another thread's, a coroutine that moved, still
 * behind the ticket). true when every one of k's is delivered.
 */
static bool deliver_own(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid, tid = k->tid;
	struct drain_clock c = { 0, 0, 0 };
	uint64_t head, fs;

	if (r->fs_mode == RING_FS_NONE || (!k->regs_valid && task_getregs(k) < 0))
		return false;
	fs = k->regs.fs_base;
	if (!fs)
		return false;
	head = __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
	for (uint64_t pos = r->tail; (int64_t)(head - pos) > 0; pos++) {
		struct ring_rec *slot = rec_at(r, pos);

		if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) != pos + 1 || slot->fs_base != fs)
			continue;
		if (!slot->ret && slot->kind == RING_KIND_RET &&
		    !ret_ns_known(t, k, slot->ns_slot))
			return false;
		consume(t, p, r, slot, (pos + 1) | RING_SEQ_DONE, &c);
		if (proc_find(t, pid) != p || p->ring != r || task_find(t, tid) != k)
			return true;
	}
	return true;
}

/*
 * Delivers what p's ring holds, and every record of k (stopped) at least,
 * before the tracer acts on k's stop: the drain stops at a ticket whose
 * thread has not committed its record yet, and k's own records behind
 * it are delivered ahead of their turn. Code that judges k's calls by
 * its stack (a slot that no longer holds the return gadget) must see
 * the returns k made, and k's hits come in k's order. true when every
 * record of k is delivered (or k or its process is gone).
 */
bool ring_drain_thread(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid, tid = k->tid;

	if (!r)
		return true;
	drain(t, p, false);
	if (proc_find(t, pid) != p || p->ring != r || task_find(t, tid) != k || ring_settled(p))
		return true;
	return deliver_own(t, p, k);
}

/*
 * Delivers every record taken in p's ring so far, those of k (stopped)
 * at least: the drain stops at a ticket whose thread has not committed
 * its record yet, which a running thread does within nanoseconds. A
 * thread that is held there, or stopped with its stop not yet taken (the
 * tracer is busy with k), is not waited for long (a hundred yields):
 * k's own records behind it are delivered ahead of their turn.
 */
void ring_drain_past(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid;
	uint64_t head;

	if (!r)
		return;
	head = __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < 100; i++) {
		drain(t, p, false);
		if (proc_find(t, pid) != p || p->ring != r || (int64_t)(r->tail - head) >= 0)
			return;
		sched_yield();
	}
	ring_drain_thread(t, p, k);
}

/*
 * Is a return through stack slot slot recorded in p's ring and not yet
 * delivered? Its call returned: the stack no longer tells (the slot
 * holds another call's return address by now), the record will.
 */
bool ring_ret_pending(const struct proc *p, uint64_t slot)
{
	const struct ring *r = p->ring;
	uint64_t head;

	if (!r)
		return false;
	head = __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
	for (uint64_t pos = r->tail; (int64_t)(head - pos) > 0; pos++) {
		const struct ring_rec *rec = rec_at(r, pos);

		if (__atomic_load_n(&rec->seq, __ATOMIC_ACQUIRE) == pos + 1 && !rec->ret &&
		    rec->kind == RING_KIND_RET && rec->ns_slot == slot)
			return true;
	}
	return false;
}

/* Has every ticket taken in p's ring so far been delivered? */
bool ring_settled(const struct proc *p)
{
	const struct ring *r = p->ring;

	return !r || r->tail == __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
}

unsigned ring_drain_all(struct uprobe_tracer *t)
{
	unsigned n = 0;

	if (!t->nrings)
		return 0;
	for (struct proc *p = t->procs, *next; p; p = next) {
		pid_t pid = p->pid;

		next = p->next;
		if (p->ring)
			n += ring_drain(t, p);
		/* the list may have changed under a handler: start over from a known proc */
		if (proc_find(t, pid) != p)
			break;
		next = p->next;
	}
	return n;
}

/*
 * Whether run() should poll the rings rather than sleep in wait: while
 * records come (any drain delivered some in the last RING_POLL_LINGER_NS),
 * a ring left to the waker's 1 ms tick fills in a fraction of it (16384
 * records at 30 ns a hit: 0.5 ms), and a full ring stops the thread that
 * finds it so, for a stop and a whole drain. Polled every RING_POLL_NS,
 * it is drained while the threads run on. Costs the tracer a few percent
 * of a CPU while hits flow, nothing once they stop; only where the run
 * thread may run on another CPU than theirs.
 */
#define RING_POLL_NS 50000
#define RING_POLL_LINGER_NS 5000000

bool ring_poll(struct uprobe_tracer *t)
{
	uint64_t now;

	if (!t->nrings)
		return false;
	now = mono_ns();
	if (t->ring_delivered != t->ring_seen) {
		cpu_set_t m;

		/*
		 * A run thread held to one CPU (pinned with its tracee, or
		 * following one) cannot drain beside the threads: polling
		 * would only take turns with them, many times slower than
		 * letting the ring fill (measured: 3.2 us a no-stop call
		 * against 0.9). Asked at the start of each busy spell.
		 */
		if (now >= t->ring_poll_until)
			t->ring_poll_spare = sched_getaffinity(0, sizeof(m), &m) == 0 &&
					     CPU_COUNT(&m) > 1;
		t->ring_seen = t->ring_delivered;
		t->ring_poll_until = now + RING_POLL_LINGER_NS;
	}
	return t->ring_poll_spare && now < t->ring_poll_until;
}

/* Between two polls: the threads fill the rings meanwhile. */
void ring_poll_pause(void)
{
	struct timespec ts = { 0, RING_POLL_NS };

	nanosleep(&ts, NULL);
}

/* Forgets p's ring on the tracer's side, after the records still in it are delivered. */
void ring_forget(struct uprobe_tracer *t, struct proc *p)
{
	struct ring *r = p->ring;

	if (!r)
		return;
	drain(t, p, true);
	if (p->ring != r)
		return;
	p->ring = NULL;
	t->nrings--;
	munmap(r->base, RING_SIZE);
	free(r);
}

/* Detach: the ring goes from p (its no-stop detours are gone already) through held thread k. */
void ring_unmap(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	uint64_t addr = ring_addr(p);

	if (!addr)
		return;
	/* every thread is out of the gadgets: each hijacked slot gets its real return back */
	ring_nsret_restore(p, p);
	ring_forget(t, p);
	if (k)
		ring_unmap_in(t, k, addr);
}

/*
 * A SIGTRAP of k at addr, one of the return gadget's int3s? The ring was
 * full: drained, k goes back to take its ticket again (bounded: a thread
 * held up for good is not waited for; then its return goes unrecorded and
 * its calls are dropped as missed). No entry for its slot: the tracer's
 * pending call there gives the real return address. true when handled:
 * k's rip is set where it goes on (still gone when a drain's handler let
 * its process go).
 */
bool ring_nsret_trap(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	struct proc *p = proc_mm(k->proc);
	struct xol_area *a = xol_area_of(p, addr);
	uint64_t at, slot;
	pid_t tid = k->tid;

	if (!a || !a->has_rec || !p->ring)
		return false;
	at = ring_gadget_start(a);
	slot = k->regs.rsp + 48;
	if (addr == at + (uint64_t)(uprobe__nsret_gadget_full - uprobe__rec_gadget)) {
		ring_drain(t, p);
		if (task_find(t, tid) != k)
			return true;
		if (k->ring_retries < 10000) {
			k->ring_retries++;
			k->regs.rip = at + (uint64_t)(uprobe__nsret_gadget_retry - uprobe__rec_gadget);
		} else {
			struct ret_instance *ri;

			k->ring_retries = 0;
			while ((ri = ret_ns_take(t, k, slot)))
				ret_discard(ri);
			k->regs.rip = at + (uint64_t)(uprobe__nsret_gadget_out - uprobe__rec_gadget);
		}
	} else if (addr == at + (uint64_t)(uprobe__nsret_gadget_lost - uprobe__rec_gadget)) {
		struct ret_instance *ri = ret_ns_take(t, k, slot);

		if (!ri) {
			pr_warn("tid %d returned through the return gadget from an unknown call "
				"(stack slot 0x%llx)", k->tid, (unsigned long long)slot);
			return false;
		}
		mem_write(p, slot, &ri->real_ret, sizeof(ri->real_ret));
		ret_discard(ri);
		while ((ri = ret_ns_take(t, k, slot)))
			ret_discard(ri);
		k->regs.rip = at + (uint64_t)(uprobe__nsret_gadget_out - uprobe__rec_gadget);
	} else {
		return false;
	}
	return true; /* the caller resumes k at its new rip */
}
