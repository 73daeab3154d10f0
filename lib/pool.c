// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fixed-size object pools: per-probe objects without a malloc header each, reused once freed. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

/*
 * Tens of thousands of probes and sites are small objects of one size
 * each: malloc would add a header and round every one up to 16 bytes, a
 * fifth of a probe's memory. Blocks are kept until the tracer is freed, so
 * memory is bounded by the largest number alive at once.
 */
#define POOL_BLOCK 16384

struct pool_block {
	struct pool_block *next;
	/* objects follow, 16-byte aligned */
};

#define POOL_HDR ((sizeof(struct pool_block) + 15) & ~(size_t)15)

void pool_init(struct pool *pl, size_t size)
{
	memset(pl, 0, sizeof(*pl));
	pl->size = (size + 7) & ~(size_t)7;
}

void *pool_alloc(struct pool *pl)
{
	void *obj = pl->free;

	if (obj) {
		memcpy(&pl->free, obj, sizeof(void *));
	} else {
		if (!pl->blocks || pl->used + pl->size > POOL_BLOCK) {
			struct pool_block *b = malloc(POOL_BLOCK);

			if (!b)
				return NULL;
			b->next = pl->blocks;
			pl->blocks = b;
			pl->used = POOL_HDR;
		}
		obj = (char *)pl->blocks + pl->used;
		pl->used += pl->size;
	}
	memset(obj, 0, pl->size);
	return obj;
}

void pool_free(struct pool *pl, void *obj)
{
	if (!obj)
		return;
	memcpy(obj, &pl->free, sizeof(void *));
	pl->free = obj;
}

void pool_destroy(struct pool *pl)
{
	while (pl->blocks) {
		struct pool_block *b = pl->blocks;

		pl->blocks = b->next;
		free(b);
	}
	pl->free = NULL;
	pl->used = 0;
}

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
