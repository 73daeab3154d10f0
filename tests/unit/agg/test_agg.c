// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of agg.c and agg_counts.c: histogram buckets, statistics,
 * percentiles, printing; keyed counters.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <uprobe.h>

/* The precision the header promises: within 1/32 of the exact nearest-rank value. */
static void assert_close(uint64_t got, uint64_t exact)
{
	uint64_t d = got > exact ? got - exact : exact - got;

	if (d > exact / 32) {
		print_error("percentile %" PRIu64 ", exact %" PRIu64 "\n", got, exact);
		fail();
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The nearest rank ceil(p/100 * n) in integers: p in units of 1e-6 percent,
 * so a decimal p such as 99.9 is not taken as the double just above it.
 */
static size_t exact_rank(size_t n, double p)
{
	unsigned __int128 q = (unsigned __int128)(uint64_t)(p * 1e6 + 0.5) * n;

	return (size_t)((q + 100000000 - 1) / 100000000);
}

/* The exact nearest-rank percentile of sorted v[0..n). */
static uint64_t exact_pct(const uint64_t *v, size_t n, double p)
{
	size_t rank = exact_rank(n, p);

	return v[rank ? rank - 1 : 0];
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* What fn printed into memory. */
static char *printed(int (*fn)(const void *, FILE *, int), const void *obj, int arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(fn(obj, fp, arg), 0);
	fclose(fp);
	return buf;
}

static int hist_print(const void *h, FILE *fp, int style)
{
	return uprobe_hist_print(h, fp, (enum uprobe_hist_style)style);
}

static int counts_print(const void *c, FILE *fp, int order)
{
	return uprobe_counts_print(c, fp, (enum uprobe_counts_order)order, 0);
}

static void test_buckets(void **state)
{
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_NONE);
	uint64_t lo, hi;

	assert_non_null(h);
	/* each bucket's two edges, and UINT64_MAX in the last */
	assert_int_equal(uprobe_hist_add(h, 0), 0);
	for (unsigned k = 1; k <= 64; k++) {
		uprobe_hist_bucket_range(k, &lo, &hi);
		assert_int_equal(lo, 1ull << (k - 1));
		assert_int_equal(hi, k == 64 ? UINT64_MAX : (1ull << k) - 1);
		assert_int_equal(uprobe_hist_add(h, lo), 0);
		if (hi != lo)
			assert_int_equal(uprobe_hist_add(h, hi), 0);
	}
	uprobe_hist_bucket_range(0, &lo, &hi);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 0);
	assert_int_equal(uprobe_hist_bucket(h, 0), 1);
	assert_int_equal(uprobe_hist_bucket(h, 1), 1);
	for (unsigned k = 2; k <= 64; k++)
		assert_int_equal(uprobe_hist_bucket(h, k), 2);
	assert_int_equal(uprobe_hist_bucket(h, 65), 0);
	assert_int_equal(uprobe_hist_count(h), 2 + 2 * 63);
	assert_int_equal(uprobe_hist_min(h), 0);
	assert_int_equal(uprobe_hist_max(h), UINT64_MAX);
	/* the sum no longer fits; the mean is still exact: sum of 2^k - 1 + 2^(k-1) ... */
	assert_int_equal(uprobe_hist_sum(h), UINT64_MAX);
	{
		unsigned __int128 s = 1;

		for (unsigned k = 2; k <= 64; k++)
			s += (unsigned __int128)(1ull << (k - 1)) +
			     (k == 64 ? UINT64_MAX : (1ull << k) - 1);
		assert_int_equal(uprobe_hist_mean(h), (uint64_t)(s / uprobe_hist_count(h)));
	}
	uprobe_hist_free(h);
}

static void test_stats(void **state)
{
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_NS);

	assert_non_null(h);
	assert_int_equal(uprobe_hist_unit(h), UPROBE_UNIT_NS);
	/* empty: every statistic 0 */
	assert_int_equal(uprobe_hist_count(h), 0);
	assert_int_equal(uprobe_hist_min(h), 0);
	assert_int_equal(uprobe_hist_max(h), 0);
	assert_int_equal(uprobe_hist_mean(h), 0);
	assert_int_equal(uprobe_hist_percentile(h, 50), 0);
	for (uint64_t v = 10; v <= 1000; v += 10)
		uprobe_hist_add(h, v);
	assert_int_equal(uprobe_hist_count(h), 100);
	assert_int_equal(uprobe_hist_sum(h), 50500);
	assert_int_equal(uprobe_hist_mean(h), 505);
	assert_int_equal(uprobe_hist_min(h), 10);
	assert_int_equal(uprobe_hist_max(h), 1000);
	assert_int_equal(uprobe_hist_percentile(h, 0), 10);
	assert_int_equal(uprobe_hist_percentile(h, 100), 1000);
	assert_int_equal(uprobe_hist_percentile(h, 1), 10);
	/* out of range */
	assert_int_equal(uprobe_hist_percentile(h, -1), 0);
	assert_int_equal(uprobe_hist_percentile(h, 100.5), 0);
	/* UINT64_MAX twice: the sum saturates, the mean is exact */
	uprobe_hist_reset(h);
	assert_int_equal(uprobe_hist_count(h), 0);
	assert_int_equal(uprobe_hist_bucket(h, 4), 0);
	uprobe_hist_add(h, UINT64_MAX);
	uprobe_hist_add(h, UINT64_MAX);
	assert_int_equal(uprobe_hist_sum(h), UINT64_MAX);
	assert_int_equal(uprobe_hist_mean(h), UINT64_MAX);
	assert_int_equal(uprobe_hist_percentile(h, 50), UINT64_MAX);
	assert_int_equal(uprobe_hist_bucket(h, 64), 2);
	uprobe_hist_free(h);
}

/* Below 32 every value has its own fine bucket: percentiles are exact. */
static void test_percentile_exact_small(void **state)
{
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_NONE);
	uint64_t v[32];

	for (unsigned i = 0; i < 32; i++) {
		v[i] = 31 - i;
		uprobe_hist_add(h, v[i]);
	}
	qsort(v, 32, sizeof(v[0]), cmp_u64);
	for (double p = 0; p <= 100; p += 0.5)
		assert_int_equal(uprobe_hist_percentile(h, p), exact_pct(v, 32, p));
	assert_int_equal(uprobe_hist_percentile(h, 50), 15);
	assert_int_equal(uprobe_hist_percentile(h, 99), 31);
	uprobe_hist_free(h);
}

/*
 * Decimal percentiles whose double is just above the decimal: p=99.9 of 1000
 * values is rank 999, not 1000; p=1.1 is rank 11, not 12. The values either
 * side of the rank are far apart, so a rank off by one shows.
 */
static void test_percentile_decimal_rank(void **state)
{
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_NONE);

	assert_int_equal(exact_rank(1000, 99.9), 999);
	assert_int_equal(exact_rank(1000, 1.1), 11);
	assert_int_equal(exact_rank(1000, 0.1), 1);
	assert_int_equal(exact_rank(1000, 100), 1000);
	assert_int_equal(exact_rank(3, 50), 2);
	/* 999 values of 10 and one of 1000000: rank 999 is 10 */
	for (unsigned i = 0; i < 999; i++)
		uprobe_hist_add(h, 10);
	uprobe_hist_add(h, 1000000);
	assert_int_equal(uprobe_hist_percentile(h, 99.9), 10);
	assert_int_equal(uprobe_hist_percentile(h, 100), 1000000);
	uprobe_hist_reset(h);
	/* 11 values of 10 and 989 of 1000000: rank 11 is 10 */
	for (unsigned i = 0; i < 1000; i++)
		uprobe_hist_add(h, i < 11 ? 10 : 1000000);
	assert_int_equal(uprobe_hist_percentile(h, 1.1), 10);
	assert_close(uprobe_hist_percentile(h, 1.2), 1000000);
	uprobe_hist_free(h);
}

/*
 * The worst case of a fine bucket: one value v between 0 and UINT64_MAX is
 * the median; every v near each power of two and at random must come back
 * within 1/32.
 */
static void test_percentile_precision(void **state)
{
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_NONE);

	for (unsigned i = 0; i < 20000; i++) {
		unsigned k = i % 64;
		uint64_t v = i < 64 * 5 ? (1ull << k) + (uint64_t)(i / 64) - 2 : rng() >> (i % 64);

		uprobe_hist_reset(h);
		uprobe_hist_add(h, 0);
		uprobe_hist_add(h, v);
		uprobe_hist_add(h, UINT64_MAX);
		assert_close(uprobe_hist_percentile(h, 50), v);
	}
	uprobe_hist_free(h);
}

static void check_distribution(uint64_t *v, size_t n)
{
	static const double ps[] = { 1, 10, 25, 50, 75, 90, 95, 99, 99.9 };
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_NS);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(uprobe_hist_add(h, v[i]), 0);
	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		assert_close(uprobe_hist_percentile(h, ps[i]), exact_pct(v, n, ps[i]));
	assert_int_equal(uprobe_hist_percentile(h, 0), v[0]);
	assert_int_equal(uprobe_hist_percentile(h, 100), v[n - 1]);
	uprobe_hist_free(h);
}

static void test_percentile_distributions(void **state)
{
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v));

	assert_non_null(v);
	/* uniform 1..n */
	for (size_t i = 0; i < n; i++)
		v[i] = i + 1;
	check_distribution(v, n);
	/* 70% at 140 us, 30% at 2.2 ms: p50 is the fast group, p99 the slow */
	for (size_t i = 0; i < n; i++)
		v[i] = i % 10 < 7 ? 140000 + i % 97 : 2200000 + i % 1013;
	check_distribution(v, n);
	/* heavy tail: log-uniform over 1 ns to 1 s */
	for (size_t i = 0; i < n; i++)
		v[i] = (rng() % 1000000000) >> (rng() % 30);
	check_distribution(v, n);
	free(v);
}

/* A time unit decides the buckets in that unit; statistics stay in ns. */
static void test_units(void **state)
{
	struct uprobe_hist *us = uprobe_hist_new(UPROBE_UNIT_US);
	struct uprobe_hist *ms = uprobe_hist_new(UPROBE_UNIT_MS);
	struct uprobe_hist *ns = uprobe_hist_new(UPROBE_UNIT_NS);

	assert_non_null(us);
	assert_non_null(ms);
	uprobe_hist_add(us, 2200000); /* 2200 us: [2048, 4096) */
	uprobe_hist_add(us, 999);     /* 0 us */
	uprobe_hist_add(ms, 2200000); /* 2 ms: [2, 4) */
	uprobe_hist_add(ms, 1999999); /* 1 ms: [1] */
	uprobe_hist_add(ms, 999999);  /* 0 ms */
	assert_int_equal(uprobe_hist_bucket(us, 12), 1);
	assert_int_equal(uprobe_hist_bucket(us, 0), 1);
	assert_int_equal(uprobe_hist_bucket(ms, 2), 1);
	assert_int_equal(uprobe_hist_bucket(ms, 1), 1);
	assert_int_equal(uprobe_hist_bucket(ms, 0), 1);
	assert_int_equal(uprobe_hist_max(ms), 2200000);
	assert_int_equal(uprobe_hist_mean(ms), (2200000 + 1999999 + 999999) / 3);
	/* merging needs one unit */
	assert_int_equal(uprobe_hist_merge(us, ms), -EINVAL);
	uprobe_hist_add(ns, 5);
	assert_int_equal(uprobe_hist_merge(ns, ns), 0);
	assert_int_equal(uprobe_hist_count(ns), 2);
	{
		struct uprobe_hist *m = uprobe_hist_new(UPROBE_UNIT_MS);

		assert_int_equal(uprobe_hist_merge(m, ms), 0);
		assert_int_equal(uprobe_hist_count(m), 3);
		assert_int_equal(uprobe_hist_min(m), 999999);
		assert_int_equal(uprobe_hist_bucket(m, 2), 1);
		assert_int_equal(uprobe_hist_percentile(m, 100), 2200000);
		uprobe_hist_free(m);
	}
	errno = 0;
	assert_null(uprobe_hist_new((enum uprobe_unit)7));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(uprobe_hist_add(NULL, 1), -EINVAL);
	assert_int_equal(uprobe_hist_print(ns, NULL, UPROBE_HIST_BCC), -EINVAL);
	assert_int_equal(uprobe_hist_print(ns, stdout, (enum uprobe_hist_style)9), -EINVAL);
	uprobe_hist_free(us);
	uprobe_hist_free(ms);
	uprobe_hist_free(ns);
	uprobe_hist_free(NULL);
}

static void test_print_bpftrace(void **state)
{
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_NS);
	char *out;

	out = printed(hist_print, h, UPROBE_HIST_BPFTRACE);
	assert_string_equal(out, "");
	free(out);
	for (int i = 0; i < 28; i++)
		uprobe_hist_add(h, 131072 + (uint64_t)i);
	uprobe_hist_add(h, 300000);
	uprobe_hist_add(h, 300001);
	for (int i = 0; i < 20; i++)
		uprobe_hist_add(h, 2200000);
	out = printed(hist_print, h, UPROBE_HIST_BPFTRACE);
	assert_string_equal(out,
		"[128K, 256K)               28 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
		"[256K, 512K)                2 |@@@                                                 |\n"
		"[512K, 1M)                  0 |                                                    |\n"
		"[1M, 2M)                    0 |                                                    |\n"
		"[2M, 4M)                   20 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@               |\n");
	free(out);
	/* 0, 1 and the last bucket */
	uprobe_hist_reset(h);
	uprobe_hist_add(h, 0);
	uprobe_hist_add(h, 1);
	uprobe_hist_add(h, 2);
	uprobe_hist_add(h, UINT64_MAX);
	out = printed(hist_print, h, UPROBE_HIST_BPFTRACE);
	assert_non_null(strstr(out, "[0]                         1 |@@@@"));
	assert_non_null(strstr(out, "\n[1]                         1 |"));
	assert_non_null(strstr(out, "\n[2, 4)                      1 |"));
	assert_non_null(strstr(out, "\n[8E, 16E)                   1 |@@@"));
	assert_int_equal(strlen(out), 65 * 85); /* every bucket, 85 columns each */
	free(out);
	uprobe_hist_free(h);
}

static void test_print_bcc(void **state)
{
	struct uprobe_hist *h = uprobe_hist_new(UPROBE_UNIT_MS);
	char *out;

	/* 2.2 ms ten times, 0.5 ms and 1.5 ms once: 0 and 1 ms share the first row */
	for (int i = 0; i < 10; i++)
		uprobe_hist_add(h, 2200000);
	uprobe_hist_add(h, 500000);
	uprobe_hist_add(h, 1500000);
	uprobe_hist_add(h, 9000000);
	out = printed(hist_print, h, UPROBE_HIST_BCC);
	assert_string_equal(out,
		"     msecs               : count     distribution\n"
		"         0 -> 1          : 2        |********                                |\n"
		"         2 -> 3          : 10       |****************************************|\n"
		"         4 -> 7          : 0        |                                        |\n"
		"         8 -> 15         : 1        |****                                    |\n");
	free(out);
	uprobe_hist_free(h);

	/* only values below 1 ms: the one row 0 -> 1 */
	h = uprobe_hist_new(UPROBE_UNIT_MS);
	uprobe_hist_add(h, 0);
	uprobe_hist_add(h, 999999);
	uprobe_hist_add(h, 5);
	out = printed(hist_print, h, UPROBE_HIST_BCC);
	assert_string_equal(out,
		"     msecs               : count     distribution\n"
		"         0 -> 1          : 3        |****************************************|\n");
	free(out);
	uprobe_hist_free(h);

	/* past 2^32 the columns widen and the bar halves */
	h = uprobe_hist_new(UPROBE_UNIT_NONE);
	uprobe_hist_add(h, 1ull << 40);
	out = printed(hist_print, h, UPROBE_HIST_BCC);
	assert_string_equal(out,
		"               value                         : count     distribution\n"
		"       1099511627776 -> 2199023255551        : 1        |********************|\n");
	free(out);
	uprobe_hist_free(h);
}

/* ---- Keyed counters ---- */

struct walk {
	size_t n;
	uint64_t last_count;
	char last_key[32];
	bool ordered;
};

static int walk_by_count(const struct uprobe_count *e, void *ctx)
{
	struct walk *w = ctx;
	char key[32];

	assert_true(e->key_len < sizeof(key));
	memcpy(key, e->key, e->key_len);
	key[e->key_len] = '\0';
	if (w->n && (e->count > w->last_count ||
		     (e->count == w->last_count && strcmp(key, w->last_key) <= 0)))
		w->ordered = false;
	w->last_count = e->count;
	strcpy(w->last_key, key);
	w->n++;
	return 0;
}

static int stop_at_third(const struct uprobe_count *e, void *ctx)
{
	return ++*(int *)ctx == 3 ? 42 : 0;
}

static void test_counts_many(void **state)
{
	struct uprobe_counts *c = uprobe_counts_new();
	size_t n = 50000;
	struct walk w = { .ordered = true };
	int calls = 0;

	assert_non_null(c);
	/* key "k<i>" added i % 7 + 1 times, each with value i */
	for (size_t i = 0; i < n; i++) {
		char key[32];

		snprintf(key, sizeof(key), "k%zu", i);
		for (size_t j = 0; j <= i % 7; j++)
			assert_int_equal(uprobe_counts_add_str(c, key, i), 0);
	}
	assert_int_equal(uprobe_counts_len(c), n);
	for (size_t i = 0; i < n; i++) {
		char key[32];
		uint64_t count, sum;

		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(uprobe_counts_get(c, key, strlen(key), &count, &sum), 0);
		assert_int_equal(count, i % 7 + 1);
		assert_int_equal(sum, (i % 7 + 1) * i);
	}
	assert_int_equal(uprobe_counts_get(c, "k50000", 6, NULL, NULL), -ENOENT);
	/* "k1" as bytes with its NUL is another key than the string */
	assert_int_equal(uprobe_counts_get(c, "k1", 3, NULL, NULL), -ENOENT);
	assert_int_equal(uprobe_counts_sorted(c, UPROBE_COUNTS_BY_COUNT, walk_by_count, &w), 0);
	assert_int_equal(w.n, n);
	assert_true(w.ordered);
	assert_int_equal(w.last_count, 1);
	assert_int_equal(uprobe_counts_sorted(c, UPROBE_COUNTS_BY_SUM, stop_at_third, &calls), 42);
	assert_int_equal(calls, 3);
	uprobe_counts_reset(c);
	assert_int_equal(uprobe_counts_len(c), 0);
	assert_int_equal(uprobe_counts_get(c, "k1", 2, NULL, NULL), -ENOENT);
	assert_int_equal(uprobe_counts_add_str(c, "k1", 5), 0);
	assert_int_equal(uprobe_counts_len(c), 1);
	uprobe_counts_free(c);
}

static void test_counts_keys(void **state)
{
	struct uprobe_counts *c = uprobe_counts_new();
	static const unsigned char bin[] = { 0x00, 0x01, 0xff };
	uint64_t count, sum;
	char *out;

	/* the empty key, bytes with a NUL in them, a key shared as bytes and as string */
	assert_int_equal(uprobe_counts_add(c, NULL, 0, 1), 0);
	assert_int_equal(uprobe_counts_add(c, "", 0, 1), 0);
	assert_int_equal(uprobe_counts_add(c, NULL, 0, 1), 0); /* NULL key met twice */
	assert_int_equal(uprobe_counts_get(c, NULL, 0, &count, NULL), 0);
	assert_int_equal(count, 3);
	assert_int_equal(uprobe_counts_add(c, bin, sizeof(bin), 7), 0);
	assert_int_equal(uprobe_counts_add(c, bin, 2, 0), 0);
	assert_int_equal(uprobe_counts_add(c, "read", 4, 10), 0);
	assert_int_equal(uprobe_counts_add_str(c, "read", 20), 0);
	assert_int_equal(uprobe_counts_add_str(c, "a\\b", 0), 0);
	assert_int_equal(uprobe_counts_add(c, "open", 5, 1), 0); /* with its NUL */
	assert_int_equal(uprobe_counts_add(c, "wrap", 4, UINT64_MAX), 0);
	assert_int_equal(uprobe_counts_add(c, "wrap", 4, 2), 0);
	assert_int_equal(uprobe_counts_len(c), 7);
	assert_int_equal(uprobe_counts_get(c, "", 0, &count, &sum), 0);
	assert_int_equal(count, 3);
	assert_int_equal(sum, 3);
	assert_int_equal(uprobe_counts_get(c, "read", 4, &count, &sum), 0);
	assert_int_equal(count, 2);
	assert_int_equal(sum, 30);
	assert_int_equal(uprobe_counts_get(c, "wrap", 4, NULL, &sum), 0);
	assert_int_equal(sum, 1);
	assert_int_equal(uprobe_counts_add(c, NULL, 1, 0), -EINVAL);
	assert_int_equal(uprobe_counts_add_str(c, NULL, 0), -EINVAL);
	assert_int_equal(uprobe_counts_sorted(c, (enum uprobe_counts_order)5, stop_at_third, NULL),
			 -EINVAL);

	out = printed(counts_print, c, UPROBE_COUNTS_BY_COUNT);
	assert_string_equal(out,
		"0x        3  3\n"
		"read      2  30\n"
		"wrap      2  1\n"
		"0x0001    1  0\n"
		"0x0001ff  1  7\n"
		"a\\\\b      1  0\n"
		"open      1  1\n");
	free(out);
	out = printed(counts_print, c, UPROBE_COUNTS_BY_KEY);
	assert_string_equal(out,
		"0x        3  3\n"
		"0x0001    1  0\n"
		"0x0001ff  1  7\n"
		"a\\\\b      1  0\n"
		"open      1  1\n"
		"read      2  30\n"
		"wrap      2  1\n");
	free(out);
	out = printed(counts_print, c, UPROBE_COUNTS_BY_SUM);
	assert_string_equal(out,
		"read      2  30\n"
		"0x0001ff  1  7\n"
		"0x        3  3\n"
		"open      1  1\n"
		"wrap      2  1\n"
		"0x0001    1  0\n"
		"a\\\\b      1  0\n");
	free(out);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&buf, &len);

		/* the top 2 by count; no sums column when every one shown is 0 */
		uprobe_counts_reset(c);
		uprobe_counts_add_str(c, "x", 0);
		uprobe_counts_add_str(c, "x", 0);
		uprobe_counts_add_str(c, "yy", 0);
		uprobe_counts_add_str(c, "z", 0);
		assert_int_equal(uprobe_counts_print(c, fp, UPROBE_COUNTS_BY_COUNT, 2), 0);
		fclose(fp);
		assert_string_equal(buf, "x   2\nyy  1\n");
		free(buf);
	}
	uprobe_counts_free(c);
	uprobe_counts_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_percentile_exact_small),
		cmocka_unit_test(test_percentile_decimal_rank),
		cmocka_unit_test(test_percentile_precision),
		cmocka_unit_test(test_percentile_distributions),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_print_bpftrace),
		cmocka_unit_test(test_print_bcc),
		cmocka_unit_test(test_counts_many),
		cmocka_unit_test(test_counts_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
