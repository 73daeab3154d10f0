// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pending calls of each thread (struct ret_instance, k->rets): their
 * pool, finding, taking, handing over and dropping them, and running their
 * return handlers. Data only: what hijacks a return address and keeps it
 * right through unwinders, longjmp and forks (the trampoline, inline.c's
 * trap, the ring's return gadget) is retprobe.c's, above ring_nsret.c and
 * inline.c, which use this file too. A no-stop call is made from its entry
 * record by ring_nsret.c (ring_nsret_entry()): only the ring knows its return
 * gadget.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* ---- return-probe instances ---- */

/*
 * An instance lives from a return-probed function's entry to its return:
 * one malloc and one free per call on the hot path, unless freed blocks
 * are kept. They are, by size class, up to RI_CACHE_MAX bytes per tracer
 * (beyond that, and for blocks above the largest class, malloc as usual).
 */
#define RI_STEP 64
#define RI_CLASSES ARRAY_SIZE(((struct uprobe_tracer *)0)->ri_free)
#define RI_CACHE_MAX (256 * 1024)

static size_t ri_class(size_t size)
{
	return (size - 1) / RI_STEP;
}

struct ret_instance *ri_alloc(struct uprobe_tracer *t, size_t size)
{
	size_t c = ri_class(size);
	struct ret_instance *ri = NULL;

	if (c < RI_CLASSES && t->ri_free[c]) {
		ri = t->ri_free[c];
		t->ri_free[c] = ri->next;
		t->ri_cached -= (c + 1) * RI_STEP;
		memset(ri, 0, size);
	} else {
		ri = calloc(1, c < RI_CLASSES ? (c + 1) * RI_STEP : size);
		if (!ri)
			return NULL;
	}
	ri->size = size;
	ri->t = t;
	return ri;
}

void ri_free(struct ret_instance *ri)
{
	struct uprobe_tracer *t;
	size_t c;

	if (!ri)
		return;
	t = ri->t;
	c = ri_class(ri->size);
	if (c >= RI_CLASSES || t->ri_cached + (c + 1) * RI_STEP > RI_CACHE_MAX) {
		free(ri);
		return;
	}
	ri->next = t->ri_free[c];
	t->ri_free[c] = ri;
	t->ri_cached += (c + 1) * RI_STEP;
}

void ri_pool_destroy(struct uprobe_tracer *t)
{
	for (size_t c = 0; c < RI_CLASSES; c++) {
		while (t->ri_free[c]) {
			struct ret_instance *ri = t->ri_free[c];

			t->ri_free[c] = ri->next;
			free(ri);
		}
	}
	t->ri_cached = 0;
}

static bool steal_ns(struct uprobe_tracer *t, struct task *k, uint64_t slot);

void ri_missed(struct ret_instance *ri)
{
	/* a setjmp that returned once and is never jumped back to lost nothing */
	if (ri->returned)
		return;
	for (unsigned i = 0; i < ri->nrefs; i++)
		if (ri->refs[i].u)
			ri->refs[i].u->missed++;
}

/*
 * The call whose return address at slot is the trampoline. A setjmp's
 * call (twice) may share the slot, as any call of the same frame does,
 * but never returns through the trampoline.
 */
struct ret_instance *ret_find(struct task *k, uint64_t slot)
{
	for (struct ret_instance *ri = k->rets; ri; ri = ri->next)
		if (ri->slot == slot && !ri->twice && !ri->nostop)
			return ri;
	return NULL;
}

/* How many of k's pending calls u has a part in (its maxactive is per probe and thread). */
static unsigned pending_of(struct task *k, const struct uprobe *u)
{
	unsigned n = 0;

	for (struct ret_instance *ri = k->rets; ri; ri = ri->next)
		for (unsigned i = 0; i < ri->nrefs; i++)
			if (ri->refs[i].u == u)
				n++;
	return n;
}

bool ret_takes(struct task *k, const struct uprobe *u)
{
	return u->ret_handler && pending_of(k, u) < u->maxactive;
}

/*
 * The return probes of s that take k's call (maxactive aside): their
 * number in *n and the bytes of their per-call data; the others miss it.
 */
size_t ret_takers(struct task *k, const struct site *s, unsigned *n)
{
	size_t data = 0;

	for (unsigned i = 0; i < s->nprobes; i++) {
		struct uprobe *u = s->probes[i];

		if (!u->ret_handler)
			continue;
		if (!ret_takes(k, u)) {
			u->missed++;
			continue;
		}
		(*n)++;
		data += (u->data_size + 15) & ~(size_t)15;
	}
	return data;
}

/* ri's references (n of them, after it) and their data: one per return probe taking the call. */
void ri_fill(struct task *k, const struct site *s, struct ret_instance *ri, unsigned n)
{
	size_t data = 0;

	ri->refs = (struct ret_ref *)(ri + 1);
	ri->data = (uint8_t *)(((uintptr_t)(ri->refs + n) + 15) & ~(uintptr_t)15);
	for (unsigned i = 0; i < s->nprobes && ri->nrefs < n; i++) {
		struct uprobe *u = s->probes[i];

		if (!ret_takes(k, u))
			continue;
		ri->refs[ri->nrefs].u = u;
		ri->refs[ri->nrefs].data_off = data;
		ri->nrefs++;
		data += (u->data_size + 15) & ~(size_t)15;
	}
}

/*
 * A call at slot of another thread on k's memory (its process's, a vfork
 * child's or parent's): a no-stop one (nostop), or a stopping one that
 * returns once. Its link in that thread's list, the thread in *owner;
 * NULL: none.
 */
static struct ret_instance **other_call(struct uprobe_tracer *t, struct task *k, uint64_t slot,
					bool nostop, struct task **owner)
{
	struct proc *mm = proc_mm(k->proc);

	for (struct proc *q = t->procs; q; q = q->next) {
		if (proc_mm(q) != mm)
			continue;
		for (struct task *o = q->threads; o; o = o->pnext) {
			if (o == k)
				continue;
			for (struct ret_instance **pp = &o->rets; *pp; pp = &(*pp)->next) {
				const struct ret_instance *ri = *pp;

				if (ri->slot == slot && ri->nostop == nostop && (nostop || !ri->twice)) {
					*owner = o;
					return pp;
				}
			}
		}
	}
	return NULL;
}

/*
 * The newest no-stop call at slot: k's, or where k has none, another
 * thread's on its memory (a coroutine that moved between a call and the
 * tail call it makes). Left where it is.
 */
struct ret_instance *ret_ns_at(struct uprobe_tracer *t, struct task *k, uint64_t slot)
{
	struct ret_instance **pp;
	struct task *o;

	for (struct ret_instance *ri = k->rets; ri; ri = ri->next)
		if (ri->nostop && ri->slot == slot)
			return ri;
	pp = other_call(t, k, slot, true, &o);
	return pp ? *pp : NULL;
}

/* Is a no-stop call at slot known, k's or another thread's on its memory? */
bool ret_ns_known(struct uprobe_tracer *t, struct task *k, uint64_t slot)
{
	return ret_ns_at(t, k, slot) != NULL;
}

static bool same_slot_ns(struct task *k, struct ret_instance *ri, void *ctx)
{
	return ri->nostop && ri->slot == *(uint64_t *)ctx;
}

/*
 * After its entry handlers: a call that is no tail call owns its slot, so
 * an older no-stop call recorded there was abandoned (a longjmp we could
 * not follow, a coroutine stack reused).
 */
void ret_ns_commit(struct task *k, struct ret_instance *ri)
{
	if (!ri->chained) {
		struct ret_instance **pp = &k->rets;

		/* not drop_if(): the table entry is the new call's now */
		while (*pp) {
			struct ret_instance *o = *pp;

			if (same_slot_ns(k, o, &ri->slot)) {
				*pp = o->next;
				k->nrets--;
				ri_missed(o);
				ri_free(o);
			} else {
				pp = &o->next;
			}
		}
	}
	ri->next = k->rets;
	k->rets = ri;
	k->nrets++;
}

/* The newest no-stop call of k (or of another thread: a coroutine moved) at slot, unlinked. */
struct ret_instance *ret_ns_take(struct uprobe_tracer *t, struct task *k, uint64_t slot)
{
	struct ret_instance **pp;

	for (int pass = 0; pass < 2; pass++) {
		for (pp = &k->rets; *pp; pp = &(*pp)->next) {
			struct ret_instance *ri = *pp;

			if (!ri->nostop || ri->slot != slot)
				continue;
			*pp = ri->next;
			k->nrets--;
			return ri;
		}
		if (pass || !steal_ns(t, k, slot))
			break;
	}
	return NULL;
}

/* The entry handler skipped the function (it changed rip): the call never returns. */
void ret_discard(struct ret_instance *ri)
{
	if (!ri)
		return;
	ri_missed(ri);
	ri_free(ri);
}

/* The return handlers of ri's probes (those still there), with hit h. */
void ret_run_handlers(struct uprobe_hit *h, struct ret_instance *ri)
{
	for (unsigned i = 0; i < ri->nrefs; i++) {
		struct uprobe *u = ri->refs[i].u;

		if (!u)
			continue;
		u->hits++;
		h->probe = u;
		u->ret_handler(h, u->data);
	}
}

/*
 * A call at slot that started on another thread of k's memory and returns
 * on k (a coroutine that moved): its instance, a no-stop one's (nostop) or
 * a stopping one's that returns once, moved to k. NULL: none.
 */
static struct ret_instance *steal(struct uprobe_tracer *t, struct task *k, uint64_t slot,
				  bool nostop)
{
	struct ret_instance **pp, *ri;
	struct task *o;

	pp = other_call(t, k, slot, nostop, &o);
	if (!pp)
		return NULL;
	ri = *pp;
	*pp = ri->next;
	o->nrets--;
	ri->next = k->rets;
	k->rets = ri;
	k->nrets++;
	return ri;
}

struct ret_instance *ret_steal(struct uprobe_tracer *t, struct task *k, uint64_t slot)
{
	return steal(t, k, slot, false);
}

/* A no-stop call at slot started on another thread (a coroutine that moved): now k's. */
static bool steal_ns(struct uprobe_tracer *t, struct task *k, uint64_t slot)
{
	return steal(t, k, slot, true) != NULL;
}

/* ---- removal, exit ---- */

void ret_forget_probe(struct uprobe_tracer *t, struct uprobe *u)
{
	for (unsigned i = 0; i < TASK_HASH; i++)
		for (struct task *k = t->tasks[i]; k; k = k->hnext)
			for (struct ret_instance *ri = k->rets; ri; ri = ri->next)
				for (unsigned j = 0; j < ri->nrefs; j++)
					if (ri->refs[j].u == u)
						ri->refs[j].u = NULL;
}

/*
 * A thread exits: calls pending on its own stack are dead, but one made by
 * a coroutine it ran may resume on another thread of the process; hand
 * them all to a sibling (a dead one is dropped when its slot is found
 * overwritten or unmapped) rather than strand a live trampoline.
 */
void ret_task_gone(struct uprobe_tracer *t, struct task *k)
{
	struct task *heir = NULL;
	struct ret_instance **tail;

	if (!k->rets)
		return;
	for (unsigned i = 0; i < TASK_HASH && !heir; i++)
		for (struct task *o = t->tasks[i]; o && !heir; o = o->hnext)
			if (o != k && proc_mm(o->proc) == proc_mm(k->proc))
				heir = o;
	if (!heir)
		return;
	for (tail = &heir->rets; *tail; tail = &(*tail)->next)
		;
	*tail = k->rets;
	heir->nrets += k->nrets;
	k->rets = NULL;
	k->nrets = 0;
}

void ret_task_exit(struct uprobe_tracer *t, struct task *k)
{
	while (k->rets) {
		struct ret_instance *ri = k->rets;

		k->rets = ri->next;
		ri_missed(ri);
		ri_free(ri);
	}
	k->nrets = 0;
	k->unwind_sp = 0;
}
