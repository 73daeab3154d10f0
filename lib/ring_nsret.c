// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * No-stop return probes: the table of hijacked return addresses in the hit
 * ring (ring.h), as the tracer reads and mends it. The entry gadget claims
 * an entry and hijacks the return address, the return gadget frees it. The
 * tracer finds the real return address behind the return gadget's
 * (backtraces), tells a full table (detour_hit.c), frees the entries of frames
 * known gone, puts slots back for unwinders, fork children and detach
 * (retprobe.c), and makes the pending call of an entry record
 * (ring_nsret_entry(), which the delivery of records calls). The return
 * gadget's int3s (ring_nsret_trap()) drain the ring: they are handled
 * with the drain, above this file.
 */
#include "mech.h"
#include "ring.h"
#include "ring_internal.h"

/* The return gadget hijacked slots of p hold; 0 when p has none. */
uint64_t ring_retg(const struct proc *p)
{
	return p->ring ? p->ring->retg : 0;
}

/*
 * A no-stop return probe's entry record (ring_deliver()): the call, whose entry
 * gadget hijacked slot (real: what it held; the return gadget itself for a
 * tail call from a no-stop return-probed function, which shares the older
 * call's slot and real return). NULL when no probe takes it (maxactive):
 * its return record then finds no call.
 */
struct ret_instance *ring_nsret_entry(struct uprobe_tracer *t, struct task *k, struct site *s,
				  uint64_t addr, const struct user_regs_struct *regs,
				  uint64_t slot, uint64_t real, uint64_t time_ns)
{
	struct ret_instance *ri, *below = NULL;
	size_t size, data = 0;
	unsigned n = 0;
	bool chained;

	data = ret_takers(k, s, &n);
	if (!n)
		return NULL;
	chained = real == ring_retg(proc_mm(k->proc));
	if (chained) {
		below = ret_ns_at(t, k, slot);
		if (below)
			real = below->real_ret;
	}
	size = sizeof(*ri) + n * sizeof(struct ret_ref) + 15 + data;
	ri = ri_alloc(t, size);
	if (!ri) {
		for (unsigned i = 0; i < s->nprobes; i++)
			if (ret_takes(k, s->probes[i]))
				s->probes[i]->missed++;
		return NULL;
	}
	ri_fill(k, s, ri, n);
	ri->slot = slot;
	ri->real_ret = real;
	ri->call_id = ++t->next_call_id;
	ri->entry_ns = time_ns;
	ri->args[0] = regs->rdi;
	ri->args[1] = regs->rsi;
	ri->args[2] = regs->rdx;
	ri->args[3] = regs->rcx;
	ri->args[4] = regs->r8;
	ri->args[5] = regs->r9;
	ri->chained = chained;
	ri->func = addr;
	ri->nostop = true;
	ri->armed = true;
	return ri;
}

static struct ring_nsret_ent *nsret_ent(const struct ring *r, unsigned i)
{
	return (struct ring_nsret_ent *)(r->base + RING_NSRET) + (i & RING_NSRET_MASK);
}

/* Would the entry gadget find no entry for slot (the same search as its own)? */
bool ring_nsret_full(const struct proc *p, uint64_t slot)
{
	const struct ring *r = p->ring;
	unsigned h = ring_nsret_hash(slot);

	if (!r)
		return false;
	for (unsigned i = 0; i < RING_NSRET_PROBE; i++) {
		uint64_t key = __atomic_load_n(&nsret_ent(r, h + i)->slot, __ATOMIC_ACQUIRE);

		if (!key || key == slot)
			return false;
	}
	return true;
}

/*
 * The entry of slot goes, where the slot no longer holds the return gadget
 * (or force: its frame is known gone, whatever the stale stack says). Only
 * its own thread, stopped, or a return through the slot, frees an entry.
 */
void ring_nsret_release(struct proc *p, uint64_t slot, bool force)
{
	const struct ring *r = p->ring;
	unsigned h = ring_nsret_hash(slot);
	uint64_t val;

	if (!r)
		return;
	if (!force && (mem_read(p, slot, &val, sizeof(val)) || val == r->retg))
		return;
	for (unsigned i = 0; i < RING_NSRET_PROBE; i++) {
		struct ring_nsret_ent *e = nsret_ent(r, h + i);
		uint64_t key = slot;

		if (__atomic_compare_exchange_n(&e->slot, &key, 0, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
}

/* val, read from stack slot slot: the real return address where it is the return gadget's. */
uint64_t ring_nsret_real(const struct proc *p, uint64_t slot, uint64_t val)
{
	const struct ring *r = p->ring;
	unsigned h;

	if (!r || !r->retg || val != r->retg)
		return val;
	h = ring_nsret_hash(slot);
	for (unsigned i = 0; i < RING_NSRET_PROBE; i++) {
		const struct ring_nsret_ent *e = nsret_ent(r, h + i);

		if (__atomic_load_n(&e->slot, __ATOMIC_ACQUIRE) == slot)
			return e->real;
	}
	return val;
}

/*
 * Every slot of target (p itself, or a fork child's copy of its memory)
 * that holds p's return gadget gets its real return address back from the
 * table; p's own entries go too. With every thread of p out of the gadgets.
 */
void ring_nsret_restore(struct proc *p, struct proc *target)
{
	const struct ring *r = p->ring;

	if (!r || !r->retg)
		return;
	for (unsigned i = 0; i < RING_NSRET_N; i++) {
		struct ring_nsret_ent *e = nsret_ent(r, i);
		uint64_t slot = e->slot, val;

		if (!slot)
			continue;
		if (mem_read(target, slot, &val, sizeof(val)) == 0 && val == r->retg)
			mem_write(target, slot, &e->real, sizeof(e->real));
		if (target == p)
			e->slot = 0;
	}
}

/*
 * An unwinder starts in thread k (stopped): every slot of k that holds the
 * return gadget gets its real return address back, and its entry goes,
 * even for calls whose entry record is not delivered yet (the table is the
 * truth; their calls, delivered later, are dropped as missed). The slot is
 * read before the entry's thread: the gadget writes the thread before the
 * hijack.
 */
void ring_nsret_unwind(struct proc *p, const struct task *k)
{
	const struct ring *r = p->ring;

	if (!r || !r->retg)
		return;
	for (unsigned i = 0; i < RING_NSRET_N; i++) {
		struct ring_nsret_ent *e = nsret_ent(r, i);
		uint64_t slot = __atomic_load_n(&e->slot, __ATOMIC_ACQUIRE), val;

		if (!slot || mem_read(p, slot, &val, sizeof(val)) || val != r->retg)
			continue;
		if (__atomic_load_n(&e->fs, __ATOMIC_ACQUIRE) != k->regs.fs_base ||
		    __atomic_load_n(&e->slot, __ATOMIC_ACQUIRE) != slot)
			continue;
		mem_write(p, slot, &e->real, sizeof(e->real));
		__atomic_compare_exchange_n(&e->slot, &slot, 0, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
}
