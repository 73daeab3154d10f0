// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The registry: sites (a probed instruction of a file, by its device,
 * inode and offset) and the probes on them, the pools both come from, and
 * the runners of a site's entry, post and fault handlers, in the order
 * the probes were added.
 */
#include <stdlib.h>

#include "engine.h"

/* ---- sites ---- */

static size_t site_hash(dev_t dev, ino_t ino, uint64_t off)
{
	uint64_t h = (uint64_t)dev * 0x9E3779B97F4A7C15ull ^ (uint64_t)ino * 0xC2B2AE3D27D4EB4Full ^ off;

	return (size_t)((h * 0x9E3779B97F4A7C15ull) >> 40) % SITE_HASH;
}

static size_t site_bucket(const struct site *s)
{
	return site_hash(s->elf->dev, s->elf->ino, s->off);
}

void site_free(struct uprobe_tracer *t, struct site *s)
{
	if (s->probes != &s->one)
		free(s->probes);
	pool_free(&t->site_pool, s);
}

void site_put(struct uprobe_tracer *t, struct site *s)
{
	struct site **pp;

	if (--s->refs)
		return;
	if (t->site_hash) {
		for (pp = &t->site_hash[site_bucket(s)]; *pp; pp = &(*pp)->hnext) {
			if (*pp == s) {
				*pp = s->hnext;
				break;
			}
		}
	}
	site_free(t, s);
}

/* The site of (dev, ino, off), with or without probes now. */
struct site *site_find(struct uprobe_tracer *t, dev_t dev, ino_t ino, uint64_t off)
{
	if (!t->site_hash)
		return NULL;
	for (struct site *s = t->site_hash[site_hash(dev, ino, off)]; s; s = s->hnext)
		if (s->elf->dev == dev && s->elf->ino == ino && s->off == off)
			return s;
	return NULL;
}

/*
 * The site after s (the first one for NULL), in no particular order. The
 * hash is the registry: a list through the sites would cost each of them
 * two more pointers.
 */
struct site *site_iter(struct uprobe_tracer *t, struct site *s)
{
	size_t h = 0;

	if (!t->site_hash)
		return NULL;
	if (s) {
		if (s->hnext)
			return s->hnext;
		h = site_bucket(s) + 1;
	}
	for (; h < SITE_HASH; h++)
		if (t->site_hash[h])
			return t->site_hash[h];
	return NULL;
}

/*
 * Room for one more probe: s->one holds the first; an array, once there
 * are more, is doubled whenever the count reaches a power of two, so its
 * size need not be stored (it is never below the next power of two).
 */
int site_make_room(struct site *s)
{
	unsigned n = s->nprobes;
	bool full = s->probes == &s->one ? n >= 1 : n >= 2 && !(n & (n - 1));
	struct uprobe **pr;

	if (!full)
		return 0;
	pr = reallocarray(s->probes == &s->one ? NULL : s->probes, n * 2, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	if (s->probes == &s->one)
		pr[0] = s->one;
	s->probes = pr;
	return 0;
}

int site_register(struct uprobe_tracer *t, struct site *s)
{
	size_t h;

	if (!t->site_hash) {
		t->site_hash = calloc(SITE_HASH, sizeof(*t->site_hash));
		if (!t->site_hash)
			return -ENOMEM;
	}
	h = site_bucket(s);
	s->hnext = t->site_hash[h];
	t->site_hash[h] = s;
	return 0;
}

void registry_pools_init(struct uprobe_tracer *t)
{
	if (!t->probe_pool.size) {
		pool_init(&t->probe_pool, sizeof(struct uprobe));
		pool_init(&t->site_pool, sizeof(struct site));
	}
}

/* Frees the sites that slots of gone processes left, and the pools of probes and sites. */
void registry_free_all(struct uprobe_tracer *t)
{
	if (t->site_hash) {
		for (size_t h = 0; h < SITE_HASH; h++) {
			while (t->site_hash[h]) {
				struct site *s = t->site_hash[h];

				t->site_hash[h] = s->hnext;
				site_free(t, s);
			}
		}
	}
	free(t->site_hash);
	t->site_hash = NULL;
	pool_destroy(&t->probe_pool);
	pool_destroy(&t->site_pool);
}

/* ---- handler runners ---- */

/*
 * Every entry handler of the hit runs, in the order the probes were added,
 * an override_return() or not: later handlers still see the call's entry
 * registers (its arguments), and the function returns only once they are
 * done. True when one of them asked for that; *value is the last value asked.
 */
bool site_run_entry(struct uprobe_tracer *t, struct task *k, struct site *s, uint64_t addr,
		    struct ret_instance *ri, uint64_t *value)
{
	struct uprobe_hit h = { .t = t, .task = k, .addr = addr, .inst = ri };

	site_run_entry_hit(s, &h);
	*value = h.override_value;
	return h.override;
}

int registry_handler_kind(struct uprobe_tracer *t, uprobe_handler_fn fn, int kind)
{
	if (t->nhkinds == ARRAY_SIZE(t->hkinds))
		return -ENOSPC;
	t->hkinds[t->nhkinds].fn = fn;
	t->hkinds[t->nhkinds].kind = kind;
	t->nhkinds++;
	return 0;
}

bool site_handler_is(const struct site *s, int kind)
{
	for (unsigned i = 0; i < s->nprobes; i++) {
		const struct uprobe *u = s->probes[i];

		for (unsigned j = 0; j < u->t->nhkinds; j++)
			if (u->handler == u->t->hkinds[j].fn && u->t->hkinds[j].kind == kind)
				return true;
	}
	return false;
}

/* The same with a hit made by the caller (a no-stop hit from the ring: ring_deliver.c). */
void site_run_entry_hit(struct site *s, struct uprobe_hit *h)
{
	for (unsigned i = 0; i < s->nprobes; i++) {
		struct uprobe *u = s->probes[i];

		/* a return probe counts its returns; its entry handler still runs here */
		if (!u->ret_handler)
			u->hits++;
		if (u->handler) {
			h->probe = u;
			u->handler(h, u->data);
		}
	}
}

void site_run_post(struct uprobe_tracer *t, struct task *k, struct site *s, uint64_t addr)
{
	struct uprobe_hit h = { .t = t, .task = k, .addr = addr, .is_post = true };

	for (unsigned i = 0; i < s->nprobes; i++) {
		struct uprobe *u = s->probes[i];

		if (uprobe_post_fn(u)) {
			h.probe = u;
			uprobe_post_fn(u)(&h, u->data);
		}
	}
}

bool site_run_fault(struct uprobe_tracer *t, struct task *k, struct site *s,
		    uint64_t insn_addr, const siginfo_t *si)
{
	struct uprobe_hit h = { .t = t, .task = k, .addr = insn_addr, .is_fault = true };

	for (unsigned i = 0; i < s->nprobes; i++) {
		struct uprobe *u = s->probes[i];

		if (uprobe_fault_fn_of(u)) {
			h.probe = u;
			if (uprobe_fault_fn_of(u)(&h, si, u->data) == UPROBE_FAULT_HANDLED)
				return true;
		}
	}
	return false;
}
