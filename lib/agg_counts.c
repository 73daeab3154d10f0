// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Keyed counters: a count and a sum per byte-string key, in a hash table
 * that iterates in insertion order and sorts on demand, printed as a
 * table; no tracer involved. The histograms are agg.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/*
 * Open addressing with linear probing over an index of slots, each the
 * position + 1 of an entry in a dense array (0: empty): iteration and
 * sorting walk the dense array, and growing rehashes only the index. The
 * index is kept at most half full.
 */
struct count_ent {
	uint64_t hash;
	uint64_t count, sum;
	size_t key_len;
	unsigned char *key;
};

struct uprobe_counts {
	struct count_ent *ents;
	size_t n, cap;
	uint32_t *slots;
	size_t nslots; /* a power of two, or 0 */
};

/* FNV-1a over the bytes, then a 64-bit finalizer (splitmix64) to spread short keys. */
static uint64_t key_hash(const unsigned char *k, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 0x100000001b3ull;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

UPROBE_API struct uprobe_counts *uprobe_counts_new(void)
{
	return calloc(1, sizeof(struct uprobe_counts));
}

UPROBE_API void uprobe_counts_reset(struct uprobe_counts *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->ents[i].key);
	c->n = 0;
	if (c->slots)
		memset(c->slots, 0, c->nslots * sizeof(*c->slots));
}

UPROBE_API void uprobe_counts_free(struct uprobe_counts *c)
{
	if (!c)
		return;
	uprobe_counts_reset(c);
	free(c->ents);
	free(c->slots);
	free(c);
}

static struct count_ent *counts_find(const struct uprobe_counts *c, const void *key, size_t len,
				     uint64_t hash, size_t *slot)
{
	size_t mask = c->nslots - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		uint32_t s = c->slots[i];
		struct count_ent *e;

		if (!s) {
			*slot = i;
			return NULL;
		}
		e = &c->ents[s - 1];
		/* key may be NULL when len is 0: memcmp must not see it */
		if (e->hash == hash && e->key_len == len && (!len || !memcmp(e->key, key, len)))
			return e;
	}
}

static int counts_grow(struct uprobe_counts *c)
{
	size_t nslots = c->nslots ? c->nslots * 2 : 64;
	uint32_t *slots;

	/* slots hold 32-bit positions: 2^31 keys are far beyond any tracer's memory */
	if (nslots > (1ull << 32))
		return -ENOMEM;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++) {
		size_t j = c->ents[i].hash & (nslots - 1);

		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = (uint32_t)(i + 1);
	}
	free(c->slots);
	c->slots = slots;
	c->nslots = nslots;
	return 0;
}

static int counts_insert(struct uprobe_counts *c, const void *key, size_t len, uint64_t hash,
			 struct count_ent **out)
{
	struct count_ent *e;
	size_t slot;

	if ((c->n + 1) * 2 > c->nslots && counts_grow(c))
		return -ENOMEM;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct count_ent *ents = realloc(c->ents, cap * sizeof(*ents));

		if (!ents)
			return -ENOMEM;
		c->ents = ents;
		c->cap = cap;
	}
	counts_find(c, key, len, hash, &slot);
	e = &c->ents[c->n];
	memset(e, 0, sizeof(*e));
	/* a 0-byte key still gets its own (1-byte) copy, so that key is never NULL */
	e->key = malloc(len ? len : 1);
	if (!e->key)
		return -ENOMEM;
	if (len)
		memcpy(e->key, key, len);
	e->key_len = len;
	e->hash = hash;
	c->slots[slot] = (uint32_t)(++c->n);
	*out = e;
	return 0;
}

UPROBE_API int uprobe_counts_add(struct uprobe_counts *c, const void *key, size_t key_len,
				 uint64_t value)
{
	struct count_ent *e = NULL;
	uint64_t hash;
	size_t slot;
	int err;

	if (!c || (!key && key_len)) {
		errno = EINVAL;
		return -EINVAL;
	}
	hash = key_hash(key, key_len);
	if (c->nslots)
		e = counts_find(c, key, key_len, hash, &slot);
	if (!e) {
		err = counts_insert(c, key, key_len, hash, &e);
		if (err) {
			errno = -err;
			return err;
		}
	}
	e->count++;
	e->sum += value;
	return 0;
}

UPROBE_API int uprobe_counts_add_str(struct uprobe_counts *c, const char *key, uint64_t value)
{
	if (!key) {
		errno = EINVAL;
		return -EINVAL;
	}
	return uprobe_counts_add(c, key, strlen(key), value);
}

UPROBE_API int uprobe_counts_get(const struct uprobe_counts *c, const void *key, size_t key_len,
				 uint64_t *count, uint64_t *sum)
{
	const struct count_ent *e = NULL;
	size_t slot;

	if (!c || (!key && key_len)) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (c->nslots)
		e = counts_find(c, key, key_len, key_hash(key, key_len), &slot);
	if (!e) {
		errno = ENOENT;
		return -ENOENT;
	}
	if (count)
		*count = e->count;
	if (sum)
		*sum = e->sum;
	return 0;
}

UPROBE_API size_t uprobe_counts_len(const struct uprobe_counts *c)
{
	return c ? c->n : 0;
}

static int cmp_key(const struct count_ent *a, const struct count_ent *b)
{
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int r = n ? memcmp(a->key, b->key, n) : 0;

	if (r)
		return r;
	return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int cmp_desc(uint64_t a, uint64_t b)
{
	return (a < b) - (a > b);
}

static int cmp_by_count(const void *pa, const void *pb)
{
	const struct count_ent *a = *(const struct count_ent *const *)pa;
	const struct count_ent *b = *(const struct count_ent *const *)pb;

	return cmp_desc(a->count, b->count) ?: cmp_key(a, b);
}

static int cmp_by_sum(const void *pa, const void *pb)
{
	const struct count_ent *a = *(const struct count_ent *const *)pa;
	const struct count_ent *b = *(const struct count_ent *const *)pb;

	return cmp_desc(a->sum, b->sum) ?: cmp_key(a, b);
}

static int cmp_by_key(const void *pa, const void *pb)
{
	return cmp_key(*(const struct count_ent *const *)pa, *(const struct count_ent *const *)pb);
}

/* The entries in order, as a new array of pointers; NULL with errno set. */
static struct count_ent **counts_order(const struct uprobe_counts *c,
				       enum uprobe_counts_order order)
{
	int (*cmp)(const void *, const void *);
	struct count_ent **v;

	switch (order) {
	case UPROBE_COUNTS_BY_COUNT:
		cmp = cmp_by_count;
		break;
	case UPROBE_COUNTS_BY_SUM:
		cmp = cmp_by_sum;
		break;
	case UPROBE_COUNTS_BY_KEY:
		cmp = cmp_by_key;
		break;
	default:
		errno = EINVAL;
		return NULL;
	}
	v = malloc((c->n ? c->n : 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		v[i] = &c->ents[i];
	qsort(v, c->n, sizeof(*v), cmp);
	return v;
}

UPROBE_API int uprobe_counts_sorted(const struct uprobe_counts *c, enum uprobe_counts_order order,
				    uprobe_count_fn cb, void *ctx)
{
	struct count_ent **v;
	int ret = 0;

	if (!c || !cb) {
		errno = EINVAL;
		return -EINVAL;
	}
	v = counts_order(c, order);
	if (!v)
		return -errno;
	for (size_t i = 0; i < c->n && !ret; i++) {
		struct uprobe_count e = { v[i]->key, v[i]->key_len, v[i]->count, v[i]->sum };

		ret = cb(&e, ctx);
	}
	free(v);
	return ret;
}

/* A key's length as text, or 0 when it is not printable ASCII (then it is written in hex). */
static size_t key_text_len(const struct count_ent *e)
{
	size_t len = e->key_len;

	if (len && !e->key[len - 1])
		len--;
	if (!len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (e->key[i] < 0x20 || e->key[i] >= 0x7f)
			return 0;
	return len;
}

/* Writes a key; returns the columns it took. */
static int key_print(FILE *fp, const struct count_ent *e)
{
	size_t len = key_text_len(e);
	int cols = 0;

	if (!len) {
		cols += fp ? fprintf(fp, "0x") : 2;
		for (size_t i = 0; i < e->key_len; i++)
			cols += fp ? fprintf(fp, "%02x", e->key[i]) : 2;
		return cols;
	}
	for (size_t i = 0; i < len; i++) {
		if (e->key[i] == '\\') {
			if (fp)
				fputc('\\', fp);
			cols++;
		}
		if (fp)
			fputc(e->key[i], fp);
		cols++;
	}
	return cols;
}

UPROBE_API int uprobe_counts_print(const struct uprobe_counts *c, FILE *fp,
				   enum uprobe_counts_order order, size_t max)
{
	struct count_ent **v;
	size_t n;
	bool sums = false;
	int width = 0;

	if (!c || !fp) {
		errno = EINVAL;
		return -EINVAL;
	}
	v = counts_order(c, order);
	if (!v)
		return -errno;
	n = max && max < c->n ? max : c->n;
	for (size_t i = 0; i < n; i++) {
		int cols = key_print(NULL, v[i]);

		if (cols > width)
			width = cols;
		sums |= v[i]->sum != 0;
	}
	for (size_t i = 0; i < n; i++) {
		int cols = key_print(fp, v[i]);

		fprintf(fp, "%*s  %" PRIu64, width - cols, "", v[i]->count);
		if (sums)
			fprintf(fp, "  %" PRIu64, v[i]->sum);
		fputc('\n', fp);
	}
	free(v);
	if (ferror(fp)) {
		errno = EIO;
		return -EIO;
	}
	return 0;
}
