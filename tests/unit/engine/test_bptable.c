// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of lib/bptable.c, the breakpoints of one address space: what
 * goes in is found again with what was stored in it, what was deleted or
 * never inserted is not, through growth, deleted markers and copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

#define N 20000

/* Addresses like code's: close together, differing in low bits; and some far apart. */
static uint64_t addr_of(unsigned i)
{
	if (i % 4 == 3)
		return 0x7f0000000000ull + (uint64_t)i * 0x10001ull;
	return 0x400000ull + (uint64_t)i * 3;
}

/* What the test stores in entry i, to see the entry found is i's own. */
static uint64_t payload(unsigned i)
{
	return 0xabc0000000000000ull ^ ((uint64_t)i * 0x9e3779b1u);
}

/* Every slot of the table: the live ones are exactly the n entries not deleted. */
static size_t count_live(const struct bp_table *bt)
{
	size_t n = 0;

	for (size_t i = 0; i < bt->cap; i++)
		if (bt->slots[i].vaddr && bt->slots[i].site != BP_TOMB)
			n++;
	return n;
}

/* The bound bptable.c keeps: live entries and deleted markers at most 85% of the slots. */
static void check_load(const struct bp_table *bt)
{
	assert_true((bt->used + bt->tomb) * 20 <= bt->cap * 17);
}

static void test_empty(void **state)
{
	struct bp_table bt = { 0 };

	(void)state;
	assert_null(bp_lookup(&bt, 0x401000));
	bp_table_free(&bt);
	assert_null(bt.slots);
}

/* A new entry is zeroed but for its address, found again, and changes to it stay. */
static void test_insert_lookup(void **state)
{
	struct bp_table bt = { 0 };
	struct bp *b;

	(void)state;
	b = bp_insert(&bt, 0x401000);
	assert_non_null(b);
	assert_int_equal(b->vaddr, 0x401000);
	assert_null(b->site);
	assert_int_equal(b->slot, 0);
	assert_false(b->retired);
	assert_false(b->internal);
	b->slot = 0x7000;
	b->orig = 0x55;
	assert_ptr_equal(bp_lookup(&bt, 0x401000), b);
	assert_int_equal(bp_lookup(&bt, 0x401000)->orig, 0x55);
	assert_null(bp_lookup(&bt, 0x401001));
	assert_null(bp_lookup(&bt, 0x400fff));
	assert_int_equal(bt.used, 1);
	bp_table_free(&bt);
}

/* Many entries: the table grows, and every one is still found with its own payload. */
static void test_many(void **state)
{
	struct bp_table bt = { 0 };

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		struct bp *b = bp_insert(&bt, addr_of(i));

		assert_non_null(b);
		b->slot = payload(i);
		b->orig = (uint8_t)i;
		check_load(&bt);
	}
	assert_int_equal(bt.used, N);
	assert_int_equal(count_live(&bt), N);
	for (unsigned i = 0; i < N; i++) {
		struct bp *b = bp_lookup(&bt, addr_of(i));

		assert_non_null(b);
		assert_int_equal(b->vaddr, addr_of(i));
		assert_int_equal(b->slot, payload(i));
		assert_int_equal(b->orig, (uint8_t)i);
	}
	/* absent: between the close ones, and beside the far ones */
	for (unsigned i = 0; i < N; i++) {
		if (i % 4 != 3) {
			assert_null(bp_lookup(&bt, addr_of(i) + 1));
			assert_null(bp_lookup(&bt, addr_of(i) + 2));
		} else {
			assert_null(bp_lookup(&bt, addr_of(i) - 1));
		}
	}
	bp_table_free(&bt);
	assert_int_equal(bt.cap, 0);
	assert_int_equal(bt.used, 0);
}

/*
 * Deleted entries (BP_TOMB markers) are not found; the entries probed past
 * them are; an address inserted again gets a fresh, zeroed entry.
 */
static void test_delete(void **state)
{
	struct bp_table bt = { 0 };

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		struct bp *b = bp_insert(&bt, addr_of(i));

		b->slot = payload(i);
		b->internal = true;
		b->retired = i % 3 == 0;
	}
	for (unsigned i = 0; i < N; i += 2)
		bp_delete(&bt, bp_lookup(&bt, addr_of(i)));
	assert_int_equal(bt.used, N / 2);
	assert_int_equal(count_live(&bt), N / 2);
	for (unsigned i = 0; i < N; i++) {
		struct bp *b = bp_lookup(&bt, addr_of(i));

		if (i % 2 == 0) {
			assert_null(b);
			continue;
		}
		assert_non_null(b);
		assert_int_equal(b->slot, payload(i));
		/* retired is the engine's flag: the table keeps such an entry like any other */
		assert_int_equal(b->retired, i % 3 == 0);
	}
	for (unsigned i = 0; i < N; i += 2) {
		struct bp *b = bp_insert(&bt, addr_of(i));

		assert_non_null(b);
		assert_int_equal(b->slot, 0);
		assert_false(b->internal);
		assert_false(b->retired);
		b->slot = ~payload(i);
		check_load(&bt);
	}
	assert_int_equal(bt.used, N);
	assert_int_equal(count_live(&bt), N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(bp_lookup(&bt, addr_of(i))->slot, i % 2 ? payload(i) : ~payload(i));
	bp_table_free(&bt);
}

/*
 * Insert-delete churn with few live entries: the markers fill the table,
 * which is then rebuilt at its size rather than grown, and nothing live
 * is lost on the way.
 */
static void test_churn(void **state)
{
	struct bp_table bt = { 0 };
	enum { LIVE = 8, ROUNDS = 50000 };
	size_t cap0;

	(void)state;
	for (unsigned i = 0; i < LIVE; i++)
		bp_insert(&bt, addr_of(i))->slot = payload(i);
	cap0 = bt.cap;
	assert_true(cap0 > 0);
	for (unsigned r = 0; r < ROUNDS; r++) {
		uint64_t a = 0x500000ull + (uint64_t)r * 16;
		struct bp *b = bp_insert(&bt, a);

		assert_non_null(b);
		assert_ptr_equal(bp_lookup(&bt, a), b);
		bp_delete(&bt, b);
		assert_null(bp_lookup(&bt, a));
		check_load(&bt);
	}
	assert_int_equal(bt.cap, cap0);
	assert_int_equal(bt.used, LIVE);
	assert_true(bt.tomb < ROUNDS); /* the markers were cleared on the way */
	for (unsigned i = 0; i < LIVE; i++)
		assert_int_equal(bp_lookup(&bt, addr_of(i))->slot, payload(i));
	bp_table_free(&bt);
}

/* A copy holds the same entries, and the two change apart from then on. */
static void test_copy(void **state)
{
	struct bp_table a = { 0 }, b = { 0 }, e = { 0 }, ecopy;

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		bp_insert(&a, addr_of(i))->slot = payload(i);
	bp_delete(&a, bp_lookup(&a, addr_of(5)));
	assert_int_equal(bp_table_copy(&b, &a), 0);
	assert_ptr_not_equal(a.slots, b.slots);
	assert_int_equal(b.used, a.used);
	for (unsigned i = 0; i < 1000; i++) {
		struct bp *x = bp_lookup(&b, addr_of(i));

		if (i == 5) {
			assert_null(x);
			continue;
		}
		assert_non_null(x);
		assert_int_equal(x->slot, payload(i));
		x->slot = 1; /* the copy's only */
	}
	bp_delete(&b, bp_lookup(&b, addr_of(7)));
	bp_insert(&b, addr_of(5));
	assert_null(bp_lookup(&a, addr_of(5)));
	assert_non_null(bp_lookup(&a, addr_of(7)));
	for (unsigned i = 0; i < 1000; i++)
		if (i != 5)
			assert_int_equal(bp_lookup(&a, addr_of(i))->slot, payload(i));
	/* an empty table copies to an empty one, no memory of its own */
	assert_int_equal(bp_table_copy(&ecopy, &e), 0);
	assert_null(ecopy.slots);
	assert_null(bp_lookup(&ecopy, 0x401000));
	bp_table_free(&a);
	bp_table_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_insert_lookup),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
