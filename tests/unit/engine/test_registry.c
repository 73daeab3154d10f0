// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of lib/registry.c without a tracee: sites found by (dev, ino,
 * off) and by iteration, gone with their last reference, their probe
 * arrays, and the runners of their entry, post and fault handlers.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

#define NFILES 3
#define NOFF 2000

/* Files told apart by device and inode only; two share an inode on different devices. */
static struct elf_file files[NFILES] = {
	{ .path = "/fx/a", .dev = 0x801, .ino = 1234 },
	{ .path = "/fx/b", .dev = 0x802, .ino = 1234 },
	{ .path = "/fx/c", .dev = 0x801, .ino = 99 },
};

static uint64_t off_of(unsigned i)
{
	return 0x1000 + (uint64_t)i * 5;
}

static struct site *new_site(struct uprobe_tracer *t, struct elf_file *f, uint64_t off)
{
	struct site *s = pool_alloc(&t->site_pool);

	assert_non_null(s);
	s->elf = f;
	s->off = off;
	s->probes = &s->one;
	s->refs = 1;
	assert_int_equal(site_register(t, s), 0);
	return s;
}

static struct uprobe *new_probe(struct uprobe_tracer *t, struct site *s)
{
	struct uprobe *u = pool_alloc(&t->probe_pool);

	assert_non_null(u);
	u->t = t;
	u->site = s;
	assert_int_equal(site_make_room(s), 0);
	s->probes[s->nprobes++] = u;
	return u;
}

static int setup(void **state)
{
	struct uprobe_tracer *t = uprobe_tracer_new();

	assert_non_null(t);
	registry_pools_init(t);
	*state = t;
	return 0;
}

/*
 * The test's probes are not the engine's (no plan, nothing planted): the
 * sites are emptied so that uprobe_tracer_free() only frees them, the
 * probes going with their pool.
 */
static int teardown(void **state)
{
	struct uprobe_tracer *t = *state;

	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s))
		s->nprobes = 0;
	uprobe_tracer_free(t);
	return 0;
}

/* Every site is found by its own triple, and no triple that differs in one part finds one. */
static void test_find(void **state)
{
	struct uprobe_tracer *t = *state;
	static struct site *s[NFILES][NOFF];

	assert_null(site_find(t, 0x801, 1234, off_of(0))); /* no hash yet */
	assert_null(site_iter(t, NULL));
	for (unsigned f = 0; f < NFILES; f++)
		for (unsigned i = 0; i < NOFF; i++)
			s[f][i] = new_site(t, &files[f], off_of(i));
	for (unsigned f = 0; f < NFILES; f++) {
		for (unsigned i = 0; i < NOFF; i++) {
			struct site *got = site_find(t, files[f].dev, files[f].ino, off_of(i));

			assert_ptr_equal(got, s[f][i]);
			assert_null(site_find(t, files[f].dev, files[f].ino, off_of(i) + 1));
			assert_null(site_find(t, files[f].dev + 0x100, files[f].ino, off_of(i)));
			assert_null(site_find(t, files[f].dev, files[f].ino + 7, off_of(i)));
		}
	}
}

/* site_iter() visits each registered site once. */
static void test_iter(void **state)
{
	struct uprobe_tracer *t = *state;
	static uint8_t seen[NFILES][NOFF];
	unsigned n = 0;

	for (unsigned f = 0; f < NFILES; f++)
		for (unsigned i = 0; i < NOFF; i++)
			new_site(t, &files[f], off_of(i));
	memset(seen, 0, sizeof(seen));
	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s)) {
		unsigned f = (unsigned)(s->elf - files), i = (unsigned)((s->off - 0x1000) / 5);

		assert_true(f < NFILES && i < NOFF && s->off == off_of(i));
		assert_int_equal(seen[f][i], 0);
		seen[f][i] = 1;
		n++;
	}
	assert_int_equal(n, NFILES * NOFF);
}

/*
 * A site stays found while referenced and goes with its last site_put();
 * the sites that shared its hash chain stay.
 */
static void test_refs(void **state)
{
	struct uprobe_tracer *t = *state;
	static struct site *s[NOFF];
	unsigned n = 0;

	for (unsigned i = 0; i < NOFF; i++) {
		s[i] = new_site(t, &files[0], off_of(i));
		s[i]->refs = 2;
	}
	for (unsigned i = 0; i < NOFF; i += 2)
		site_put(t, s[i]);
	for (unsigned i = 0; i < NOFF; i++)
		assert_ptr_equal(site_find(t, 0x801, 1234, off_of(i)), s[i]);
	for (unsigned i = 0; i < NOFF; i += 2) {
		assert_int_equal(s[i]->refs, 1);
		site_put(t, s[i]); /* freed: not looked at again */
	}
	for (unsigned i = 0; i < NOFF; i++) {
		struct site *got = site_find(t, 0x801, 1234, off_of(i));

		if (i % 2)
			assert_ptr_equal(got, s[i]);
		else
			assert_null(got);
	}
	for (struct site *x = site_iter(t, NULL); x; x = site_iter(t, x))
		n++;
	assert_int_equal(n, NOFF / 2);
}

/* Probes keep their order through the growth of the array, from one to many. */
static void test_make_room(void **state)
{
	struct uprobe_tracer *t = *state;
	struct site *s = new_site(t, &files[0], 0x2000);
	struct uprobe *u[300];

	for (unsigned i = 0; i < 300; i++) {
		u[i] = new_probe(t, s);
		if (i == 0)
			assert_ptr_equal(s->probes, &s->one); /* a single probe needs no array */
		else
			assert_ptr_not_equal(s->probes, &s->one);
		for (unsigned j = 0; j <= i; j++)
			assert_ptr_equal(s->probes[j], u[j]);
	}
}

/* What the handlers saw, in order. */
static struct {
	char log[256];
	uint64_t addr[8];
	bool post[8], fault[8];
	const struct uprobe *probe[8];
	unsigned n;
} seen;

struct hdata {
	char name;
	int ret;              /* a fault handler's answer */
	bool override;        /* an entry handler asks for the return of value */
	uint64_t value;
};

static void note(const struct uprobe_hit *h, const struct hdata *d)
{
	size_t l = strlen(seen.log);

	assert_true(seen.n < 8);
	seen.log[l] = d->name;
	seen.addr[seen.n] = h->addr;
	seen.post[seen.n] = h->is_post;
	seen.fault[seen.n] = h->is_fault;
	seen.probe[seen.n] = h->probe;
	seen.n++;
}

static int on_entry(struct uprobe_hit *h, void *data)
{
	struct hdata *d = data;

	note(h, d);
	if (d->override) {
		/* what uprobe_hit_override_return() leaves in the hit once it agreed */
		h->override = true;
		h->override_value = d->value;
	}
	return 0;
}

static int on_post(struct uprobe_hit *h, void *data)
{
	note(h, data);
	return 0;
}

static int on_fault(struct uprobe_hit *h, const siginfo_t *si, void *data)
{
	struct hdata *d = data;

	assert_int_equal(si->si_signo, SIGSEGV);
	note(h, d);
	return d->ret;
}

/*
 * Entry handlers all run, in the order the probes were added, an override
 * or not; the last value asked is the answer; hits count every probe but
 * a return probe (its returns count).
 */
static void test_run_entry(void **state)
{
	struct uprobe_tracer *t = *state;
	struct site *s = new_site(t, &files[0], 0x3000);
	struct hdata d[4] = { { 'a' }, { 'b', 0, true, 5 }, { 'c' }, { 'd', 0, true, 7 } };
	struct uprobe *u[5];
	uint64_t value = 0;

	memset(&seen, 0, sizeof(seen));
	for (int i = 0; i < 4; i++) {
		u[i] = new_probe(t, s);
		u[i]->handler = on_entry;
		u[i]->data = &d[i];
	}
	u[2]->ret_handler = on_entry; /* a return probe */
	u[4] = new_probe(t, s);        /* counts only: no handler */
	assert_true(site_run_entry(t, NULL, s, 0x401234, NULL, &value));
	assert_int_equal(value, 7);
	assert_string_equal(seen.log, "abcd");
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(seen.probe[i], u[i]);
		assert_int_equal(seen.addr[i], 0x401234);
		assert_false(seen.post[i]);
	}
	assert_int_equal(u[0]->hits, 1);
	assert_int_equal(u[1]->hits, 1);
	assert_int_equal(u[2]->hits, 0);
	assert_int_equal(u[3]->hits, 1);
	assert_int_equal(u[4]->hits, 1);

	/* none asks: false */
	d[1].override = d[3].override = false;
	memset(&seen, 0, sizeof(seen));
	assert_false(site_run_entry(t, NULL, s, 0x401234, NULL, &value));
	assert_string_equal(seen.log, "abcd");
	assert_int_equal(u[0]->hits, 2);
	assert_int_equal(u[4]->hits, 2);
	assert_int_equal(u[2]->hits, 0);
}

/* Post handlers: only the probes that have one, in order, the hit marked post. */
static void test_run_post(void **state)
{
	struct uprobe_tracer *t = *state;
	struct site *s = new_site(t, &files[0], 0x4000);
	struct hdata d[3] = { { 'x' }, { 'y' }, { 'z' } };
	struct uprobe_more more[3] = { { .post_handler = on_post }, { 0 }, { .post_handler = on_post } };
	struct uprobe *u[3];

	memset(&seen, 0, sizeof(seen));
	for (int i = 0; i < 3; i++) {
		u[i] = new_probe(t, s);
		u[i]->handler = on_entry;
		u[i]->data = &d[i];
		u[i]->more = &more[i];
	}
	site_run_post(t, NULL, s, 0x405678);
	assert_string_equal(seen.log, "xz");
	assert_ptr_equal(seen.probe[0], u[0]);
	assert_ptr_equal(seen.probe[1], u[2]);
	assert_true(seen.post[0] && seen.post[1]);
	assert_int_equal(seen.addr[1], 0x405678);
	/* post handlers count no hit */
	assert_int_equal(u[0]->hits, 0);
	for (int i = 0; i < 3; i++)
		u[i]->more = NULL; /* the test's, not the pool's to free */
}

/*
 * Handlers of libuprobe's own probes told apart by the kind their owner
 * registered (registry_handler_kind()): a site is of a kind when one of
 * its probes' handlers was registered with it, whatever the others are.
 */
static void test_handler_kinds(void **state)
{
	struct uprobe_tracer *t = *state;
	struct site *a = new_site(t, &files[0], 0x5000), *b = new_site(t, &files[0], 0x5100);
	struct uprobe *u;

	assert_false(site_handler_is(a, 4)); /* no probe at all */
	new_probe(t, a)->handler = on_entry;
	u = new_probe(t, b);
	u->handler = on_post;
	assert_false(site_handler_is(a, 4)); /* nothing registered yet */
	assert_int_equal(registry_handler_kind(t, on_post, 4), 0);
	assert_int_equal(registry_handler_kind(t, on_entry, 5), 0);
	assert_false(site_handler_is(a, 4));
	assert_true(site_handler_is(a, 5));
	assert_true(site_handler_is(b, 4));
	assert_false(site_handler_is(b, 5));
	/* a second probe of another kind on a: both kinds */
	new_probe(t, a)->handler = on_post;
	assert_true(site_handler_is(a, 4) && site_handler_is(a, 5));
	/* the table is bounded: its overflow is refused, not written past */
	while (t->nhkinds < ARRAY_SIZE(t->hkinds))
		assert_int_equal(registry_handler_kind(t, on_entry, 7), 0);
	assert_int_equal(registry_handler_kind(t, on_post, 8), -ENOSPC);
	assert_false(site_handler_is(b, 8));
}

/* Fault handlers in order until one swallows the fault; none: false. */
static void test_run_fault(void **state)
{
	struct uprobe_tracer *t = *state;
	struct site *s = new_site(t, &files[0], 0x5000);
	struct hdata d[4] = { { 'p', UPROBE_FAULT_DELIVER }, { 'q' }, { 'r', UPROBE_FAULT_HANDLED },
			      { 's', UPROBE_FAULT_HANDLED } };
	struct uprobe_more more[4] = { { .fault_handler = on_fault }, { 0 },
				       { .fault_handler = on_fault }, { .fault_handler = on_fault } };
	siginfo_t si = { .si_signo = SIGSEGV };
	struct uprobe *u[4];

	memset(&seen, 0, sizeof(seen));
	for (int i = 0; i < 4; i++) {
		u[i] = new_probe(t, s);
		u[i]->data = &d[i];
		u[i]->more = &more[i];
	}
	assert_true(site_run_fault(t, NULL, s, 0x406000, &si));
	assert_string_equal(seen.log, "pr");
	assert_true(seen.fault[0] && seen.fault[1]);
	assert_int_equal(seen.addr[0], 0x406000);
	assert_ptr_equal(seen.probe[1], u[2]);

	d[2].ret = d[3].ret = UPROBE_FAULT_DELIVER;
	memset(&seen, 0, sizeof(seen));
	assert_false(site_run_fault(t, NULL, s, 0x406000, &si));
	assert_string_equal(seen.log, "prs");
	for (int i = 0; i < 4; i++)
		u[i]->more = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_make_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_kinds, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
