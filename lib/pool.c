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
