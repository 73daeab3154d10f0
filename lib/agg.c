// SPDX-License-Identifier: LGPL-2.1-or-later
/* Aggregations: log2 histograms with percentiles, and keyed counters; no tracer involved. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/*
 * Fine buckets, as HdrHistogram lays them out: values below 2 * SUB each
 * have their own; above, the power of two [2^k, 2^(k+1)) is cut into SUB
 * buckets of width 2^(k - SUB_BITS). A bucket's width is then at most
 * 1/SUB of any value in it, so its middle is within 1/(2 * SUB) of each.
 * Index of v >= 2 * SUB: (k - SUB_BITS + 1) * SUB + the SUB_BITS bits below
 * the top one; it continues the exact ones (index 32 is value 32).
 */
#define SUB_BITS 4
#define SUB (1u << SUB_BITS)
#define NFINE ((64 - SUB_BITS + 1) * SUB)

/* bar widths of bpftrace's hist() and of bcc's print_log2_hist() */
#define BAR_BPFTRACE 52
#define BAR_BCC 40

struct uprobe_hist {
	enum uprobe_unit unit;
	uint64_t div; /* the display unit in values: 1, 1000, 1000000 */
	uint64_t count, min, max;
	unsigned __int128 sum;
	uint64_t log2[UPROBE_HIST_BUCKETS];
	uint64_t *fine; /* NFINE counts, allocated with the first value */
};

static unsigned log2_bucket(uint64_t v)
{
	return v ? 64 - (unsigned)__builtin_clzll(v) : 0;
}

static unsigned fine_index(uint64_t v)
{
	unsigned k;

	if (v < 2 * SUB)
		return (unsigned)v;
	k = 63 - (unsigned)__builtin_clzll(v);
	return (k - SUB_BITS + 1) * SUB + (unsigned)((v >> (k - SUB_BITS)) & (SUB - 1));
}

/* The first value of fine bucket i, and its width. */
static uint64_t fine_lo(unsigned i, uint64_t *width)
{
	unsigned k;

	if (i < 2 * SUB) {
		*width = 1;
		return i;
	}
	k = i / SUB + SUB_BITS - 1;
	*width = 1ull << (k - SUB_BITS);
	return (uint64_t)(SUB + i % SUB) << (k - SUB_BITS);
}

static uint64_t unit_div(enum uprobe_unit unit)
{
	switch (unit) {
	case UPROBE_UNIT_NONE:
	case UPROBE_UNIT_NS:
		return 1;
	case UPROBE_UNIT_US:
		return 1000;
	case UPROBE_UNIT_MS:
		return 1000000;
	}
	return 0;
}

UPROBE_API struct uprobe_hist *uprobe_hist_new(enum uprobe_unit unit)
{
	struct uprobe_hist *h;
	uint64_t div = unit_div(unit);

	if (!div) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->unit = unit;
	h->div = div;
	return h;
}

UPROBE_API void uprobe_hist_free(struct uprobe_hist *h)
{
	if (!h)
		return;
	free(h->fine);
	free(h);
}

static int hist_alloc_fine(struct uprobe_hist *h)
{
	if (h->fine)
		return 0;
	h->fine = calloc(NFINE, sizeof(*h->fine));
	if (!h->fine) {
		errno = ENOMEM;
		return -ENOMEM;
	}
	return 0;
}

UPROBE_API int uprobe_hist_add(struct uprobe_hist *h, uint64_t value)
{
	if (!h) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (__builtin_expect(!h->fine, 0) && hist_alloc_fine(h))
		return -ENOMEM;
	h->fine[fine_index(value)]++;
	h->log2[log2_bucket(h->div == 1 ? value : value / h->div)]++;
	if (!h->count || value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
	h->sum += value;
	h->count++;
	return 0;
}

UPROBE_API void uprobe_hist_reset(struct uprobe_hist *h)
{
	if (!h)
		return;
	if (h->fine)
		memset(h->fine, 0, NFINE * sizeof(*h->fine));
	memset(h->log2, 0, sizeof(h->log2));
	h->count = h->min = h->max = 0;
	h->sum = 0;
}

UPROBE_API int uprobe_hist_merge(struct uprobe_hist *dst, const struct uprobe_hist *src)
{
	if (!dst || !src || dst->unit != src->unit) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (!src->count)
		return 0;
	if (hist_alloc_fine(dst))
		return -ENOMEM;
	for (unsigned i = 0; i < NFINE; i++)
		dst->fine[i] += src->fine[i];
	for (unsigned k = 0; k < UPROBE_HIST_BUCKETS; k++)
		dst->log2[k] += src->log2[k];
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->sum += src->sum;
	dst->count += src->count;
	return 0;
}

UPROBE_API enum uprobe_unit uprobe_hist_unit(const struct uprobe_hist *h)
{
	return h ? h->unit : UPROBE_UNIT_NONE;
}

UPROBE_API uint64_t uprobe_hist_count(const struct uprobe_hist *h)
{
	return h ? h->count : 0;
}

UPROBE_API uint64_t uprobe_hist_sum(const struct uprobe_hist *h)
{
	if (!h)
		return 0;
	return h->sum > UINT64_MAX ? UINT64_MAX : (uint64_t)h->sum;
}

UPROBE_API uint64_t uprobe_hist_min(const struct uprobe_hist *h)
{
	return h ? h->min : 0;
}

UPROBE_API uint64_t uprobe_hist_max(const struct uprobe_hist *h)
{
	return h ? h->max : 0;
}

UPROBE_API uint64_t uprobe_hist_mean(const struct uprobe_hist *h)
{
	return h && h->count ? (uint64_t)(h->sum / h->count) : 0;
}

/*
 * Nearest rank ceil(p/100 * n), computed exactly: p is rounded to units of
 * 1e-6 percent (so 99.9 is exactly 99900000, not the double just above it)
 * and the product with n is done in 128 bits.
 */
static uint64_t pct_rank(double p, uint64_t n)
{
	unsigned __int128 q = (unsigned __int128)(uint64_t)(p * 1e6 + 0.5) * n;
	const uint64_t scale = 100000000; /* 100 percent in units of 1e-6 percent */

	return (uint64_t)((q + scale - 1) / scale);
}

UPROBE_API uint64_t uprobe_hist_percentile(const struct uprobe_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h || !h->count || !(p >= 0 && p <= 100))
		return 0;
	rank = pct_rank(p, h->count);
	if (rank <= 1)
		return h->min;
	if (rank >= h->count)
		return h->max;
	for (unsigned i = 0; i < NFINE; i++) {
		uint64_t lo, width, mid;

		seen += h->fine[i];
		if (seen < rank)
			continue;
		lo = fine_lo(i, &width);
		mid = lo + width / 2;
		return mid < h->min ? h->min : mid > h->max ? h->max : mid;
	}
	return h->max; /* not reached: the fine counts add up to count */
}

UPROBE_API uint64_t uprobe_hist_bucket(const struct uprobe_hist *h, unsigned k)
{
	return h && k < UPROBE_HIST_BUCKETS ? h->log2[k] : 0;
}

UPROBE_API void uprobe_hist_bucket_range(unsigned k, uint64_t *lo, uint64_t *hi)
{
	uint64_t l = 0, u = 0;

	if (k >= 1 && k < UPROBE_HIST_BUCKETS) {
		l = 1ull << (k - 1);
		u = k < 64 ? (1ull << k) - 1 : UINT64_MAX;
	}
	if (lo)
		*lo = l;
	if (hi)
		*hi = u;
}

/* A bucket bound as bpftrace's hist() writes it: 2^N with K, M, G... for 2^10, 2^20, 2^30... */
static void bpftrace_bound(char *buf, size_t len, unsigned log2)
{
	static const char suffix[] = " KMGTPE";

	snprintf(buf, len, "%llu%.*s", 1ull << (log2 % 10), log2 >= 10, &suffix[log2 / 10]);
}

/* bpftrace's bar: count * width / top columns, rounded down. */
static void bar_bpftrace(FILE *fp, uint64_t n, uint64_t top)
{
	unsigned bar = (unsigned)((unsigned __int128)n * BAR_BPFTRACE / top);

	fputc('|', fp);
	for (unsigned i = 0; i < BAR_BPFTRACE; i++)
		fputc(i < bar ? '@' : ' ', fp);
	fputs("|\n", fp);
}

static void print_bpftrace(const struct uprobe_hist *h, FILE *fp, unsigned first, unsigned last,
			   uint64_t top)
{
	for (unsigned k = first; k <= last; k++) {
		char range[48], lo[16], hi[16];

		if (k <= 1) {
			snprintf(range, sizeof(range), "[%u]", k);
		} else {
			bpftrace_bound(lo, sizeof(lo), k - 1);
			bpftrace_bound(hi, sizeof(hi), k);
			snprintf(range, sizeof(range), "[%s, %s)", lo, hi);
		}
		fprintf(fp, "%-20s %8" PRIu64 " ", range, h->log2[k]);
		bar_bpftrace(fp, h->log2[k], top);
	}
}

/* bcc's _stars(): width * n / top stars, as many as fit; n never exceeds top here. */
static void bar_bcc(FILE *fp, uint64_t n, uint64_t top, unsigned width)
{
	unsigned stars = (unsigned)((unsigned __int128)n * width / top);

	fputc('|', fp);
	for (unsigned i = 0; i < width; i++)
		fputc(i < stars ? '*' : ' ', fp);
	fputs("|\n", fp);
}

static const char *unit_word(enum uprobe_unit unit)
{
	switch (unit) {
	case UPROBE_UNIT_NS:
		return "nsecs";
	case UPROBE_UNIT_US:
		return "usecs";
	case UPROBE_UNIT_MS:
		return "msecs";
	default:
		return "value";
	}
}

/*
 * bcc's print_log2_hist(): its bucket i is ours (value 0 and 1 share its
 * first, "0 -> 1"); past bucket 32 the columns widen and the bar halves.
 */
static void print_bcc(const struct uprobe_hist *h, FILE *fp, unsigned first, unsigned last,
		      uint64_t top)
{
	bool wide = last > 32;
	unsigned width = wide ? BAR_BCC / 2 : BAR_BCC;
	int col = wide ? 20 : 10;

	if (wide)
		fprintf(fp, "               %-29s : count     distribution\n", unit_word(h->unit));
	else
		fprintf(fp, "     %-19s : count     distribution\n", unit_word(h->unit));
	for (unsigned k = first ? first : 1; k <= last; k++) {
		uint64_t lo, hi, n = h->log2[k] + (k == 1 ? h->log2[0] : 0);

		uprobe_hist_bucket_range(k, &lo, &hi);
		if (k == 1)
			lo = 0;
		fprintf(fp, "%*" PRIu64 " -> %-*" PRIu64 " : %-8" PRIu64 " ", col, lo, col, hi, n);
		bar_bcc(fp, n, top, width);
	}
}

UPROBE_API int uprobe_hist_print(const struct uprobe_hist *h, FILE *fp,
				 enum uprobe_hist_style style)
{
	unsigned first = UPROBE_HIST_BUCKETS, last = 0;
	uint64_t top = 0;

	if (!h || !fp || (style != UPROBE_HIST_BPFTRACE && style != UPROBE_HIST_BCC)) {
		errno = EINVAL;
		return -EINVAL;
	}
	for (unsigned k = 0; k < UPROBE_HIST_BUCKETS; k++) {
		/* bcc shows 0 and 1 as one bucket: its bar is scaled to their sum */
		uint64_t n = h->log2[k] + (style == UPROBE_HIST_BCC && k == 1 ? h->log2[0] : 0);

		if (!h->log2[k])
			continue;
		if (first == UPROBE_HIST_BUCKETS)
			first = k;
		last = k;
		if (n > top)
			top = n;
	}
	if (!top)
		return 0;
	if (style == UPROBE_HIST_BCC)
		print_bcc(h, fp, first, last ? last : 1, top);
	else
		print_bpftrace(h, fp, first, last, top);
	if (ferror(fp)) {
		errno = EIO;
		return -EIO;
	}
	return 0;
}

/* ---- Keyed counters ---- */

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
