// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Aggregations: log2 histograms with percentiles; no tracer involved. The
 * keyed counters are agg_counts.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

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
