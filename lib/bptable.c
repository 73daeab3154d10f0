// SPDX-License-Identifier: LGPL-2.1-or-later
/* The breakpoints of one address space: an open-addressing hash keyed by vaddr, O(1) on the hit path. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/*
 * Fibonacci hashing: code addresses differ mostly in low bits, spread them;
 * the multiply-high maps the hash onto any capacity, not only powers of two.
 */
static size_t bp_hash(uint64_t vaddr, size_t cap)
{
	return (size_t)(((unsigned __int128)(vaddr * 0x9E3779B97F4A7C15ull) * cap) >> 64);
}

static size_t bp_next(size_t i, size_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
}

struct bp *bp_lookup(struct bp_table *bt, uint64_t vaddr)
{
	size_t i;

	if (!bt->cap)
		return NULL;
	for (i = bp_hash(vaddr, bt->cap);; i = bp_next(i, bt->cap)) {
		struct bp *b = &bt->slots[i];

		if (b->vaddr == vaddr && b->site != BP_TOMB)
			return b;
		if (!b->vaddr && !b->site)
			return NULL;
	}
}

/*
 * Up to 85% full, grown by half: a breakpoint costs 38 to 56 bytes of
 * table (doubling at half load would cost 64 to 128), and linear probing
 * still finds a present address in about four steps. At most 65% full
 * after a rebuild, so a rebuild is paid for by a fifth of the table's
 * inserts; a table crowded with deleted markers is rebuilt at its size.
 */
static int bp_grow(struct bp_table *bt)
{
	size_t cap = bt->cap ? bt->cap : 64;
	struct bp *old = bt->slots;
	size_t oldcap = bt->cap;

	while ((bt->used + 1) * 20 > cap * 13)
		cap += cap / 2;
	bt->slots = calloc(cap, sizeof(*bt->slots));
	if (!bt->slots) {
		bt->slots = old;
		return -ENOMEM;
	}
	bt->cap = cap;
	bt->tomb = 0;
	for (size_t i = 0; i < oldcap; i++) {
		struct bp *b = &old[i];

		if (b->vaddr && b->site != BP_TOMB) {
			size_t j = bp_hash(b->vaddr, cap);

			while (bt->slots[j].vaddr)
				j = bp_next(j, cap);
			bt->slots[j] = *b;
		}
	}
	free(old);
	return 0;
}

/* A new zeroed entry for vaddr (which must not be present). NULL on ENOMEM. */
struct bp *bp_insert(struct bp_table *bt, uint64_t vaddr)
{
	size_t i;

	if ((bt->used + bt->tomb + 1) * 20 > bt->cap * 17 && bp_grow(bt) < 0)
		return NULL;
	for (i = bp_hash(vaddr, bt->cap);; i = bp_next(i, bt->cap)) {
		struct bp *b = &bt->slots[i];

		if (!b->vaddr || b->site == BP_TOMB) {
			if (b->site == BP_TOMB)
				bt->tomb--;
			memset(b, 0, sizeof(*b));
			b->vaddr = vaddr;
			bt->used++;
			return b;
		}
	}
}

void bp_delete(struct bp_table *bt, struct bp *b)
{
	b->site = BP_TOMB;
	b->internal = false;
	bt->used--;
	bt->tomb++;
}

int bp_table_copy(struct bp_table *to, const struct bp_table *from)
{
	*to = *from;
	if (!from->cap)
		return 0;
	to->slots = malloc(from->cap * sizeof(*to->slots));
	if (!to->slots) {
		memset(to, 0, sizeof(*to));
		return -ENOMEM;
	}
	memcpy(to->slots, from->slots, from->cap * sizeof(*to->slots));
	return 0;
}

void bp_table_free(struct bp_table *bt)
{
	free(bt->slots);
	memset(bt, 0, sizeof(*bt));
}
