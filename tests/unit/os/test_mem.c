// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of lib/mem.c against a forked, ptrace-stopped child: reads,
 * writes (forced into read-only text), failures on unmapped memory, and
 * the batch of writes deferred while every thread is held. What the
 * child's memory holds is checked with process_vm_readv(), apart from
 * /proc/PID/mem, against the test's own copy of the pages (the child got
 * them at fork; the test's are not changed).
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
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/child.h"

#include "os.h"

#define PG 4096u
#define DATA_PAGES 4

/*
 * Mapped before each fork: data (DATA_PAGES read-write pages, then an
 * unmapped one), text (one r-x page), each filled with a pattern of its
 * address.
 */
static uint8_t *data, *text;
static uint64_t hole; /* the page after data: unmapped */

struct fixture {
	pid_t pid;
	struct uprobe_tracer *t;
	struct proc *p;
	struct task *k;
	uint8_t want_data[DATA_PAGES * PG]; /* what the child's data should hold */
	uint8_t want_text[PG];
};

static uint8_t pattern(uint64_t addr)
{
	return (uint8_t)(addr * 131 + (addr >> 8));
}

static void fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern((uint64_t)(uintptr_t)(p + i));
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	int status;

	assert_non_null(fx);
	text = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(text != MAP_FAILED);
	fill(text, PG);
	assert_int_equal(mprotect(text, PG, PROT_READ | PROT_EXEC), 0);
	data = mmap(NULL, (DATA_PAGES + 1) * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	assert_true(data != MAP_FAILED);
	fill(data, DATA_PAGES * PG);
	memcpy(fx->want_data, data, sizeof(fx->want_data));
	memcpy(fx->want_text, text, sizeof(fx->want_text));
	/* last before the fork: no mapping of the test may take the hole's place in the child */
	hole = (uint64_t)(uintptr_t)data + DATA_PAGES * PG;
	assert_int_equal(munmap((void *)(uintptr_t)hole, PG), 0);

	fx->pid = unit_child(NULL);
	assert_true(fx->pid >= 0);
	assert_int_equal(ptrace(PTRACE_SEIZE, fx->pid, NULL, NULL), 0);
	assert_int_equal(ptrace(PTRACE_INTERRUPT, fx->pid, NULL, NULL), 0);
	assert_int_equal(waitpid(fx->pid, &status, __WALL), fx->pid);
	assert_true(WIFSTOPPED(status));
	fx->t = uprobe_tracer_new();
	assert_non_null(fx->t);
	fx->p = proc_new(fx->t, fx->pid);
	assert_non_null(fx->p);
	fx->k = task_new(fx->t, fx->p, fx->pid, TASK_STOPPED);
	assert_non_null(fx->k);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kill(fx->pid, SIGKILL);
	while (waitpid(fx->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	/* queued writes to a dead process: mem.c's to drop, not ours to check */
	while (fx->t->procs)
		proc_free(fx->t, fx->t->procs);
	uprobe_tracer_free(fx->t);
	munmap(data, DATA_PAGES * PG);
	munmap(text, PG);
	free(fx);
	return 0;
}

static uint64_t A(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* The child's bytes at addr, read apart from mem.c (process_vm_readv). */
static void child_read(struct fixture *fx, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };

	assert_int_equal(process_vm_readv(fx->pid, &local, 1, &remote, 1, 0), (ssize_t)len);
}

/* The child's data and text are what the test expects, every byte. */
static void check_child(struct fixture *fx)
{
	static uint8_t got[DATA_PAGES * PG];

	child_read(fx, A(data), got, sizeof(fx->want_data));
	for (size_t i = 0; i < sizeof(fx->want_data); i++)
		if (got[i] != fx->want_data[i])
			fail_msg("data+%zu: 0x%02x, want 0x%02x", i, got[i], fx->want_data[i]);
	child_read(fx, A(text), got, PG);
	for (size_t i = 0; i < PG; i++)
		if (got[i] != fx->want_text[i])
			fail_msg("text+%zu: 0x%02x, want 0x%02x", i, got[i], fx->want_text[i]);
}

/* ---- reads and writes ---- */

static void test_read(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[DATA_PAGES * PG];

	assert_int_equal(mem_read(fx->p, A(data) + PG - 5, buf, 11), 0); /* across a page */
	assert_memory_equal(buf, data + PG - 5, 11);
	assert_int_equal(mem_read(fx->p, A(data), buf, sizeof(buf)), 0);
	assert_memory_equal(buf, data, sizeof(buf));
	assert_int_equal(mem_read(fx->p, A(text) + 100, buf, 16), 0);
	assert_memory_equal(buf, text + 100, 16);
}

/* A write across a page boundary lands whole, the bytes around it untouched. */
static void test_write(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t w[] = "across-a-page";
	uint64_t at = A(data) + 2 * PG - 6;

	assert_int_equal(mem_write(fx->p, at, w, sizeof(w)), 0);
	memcpy(fx->want_data + 2 * PG - 6, w, sizeof(w));
	check_child(fx);
}

/*
 * Text (r-x) is written through /proc/PID/mem as the tracer; not as the
 * program could (proc_write_data() says EFAULT and changes nothing), which
 * can write its data.
 */
static void test_write_text(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t int3 = 0xcc, w[4] = { 1, 2, 3, 4 };

	assert_int_equal(proc_write_data(fx->p, A(text) + 8, w, sizeof(w)), -EFAULT);
	check_child(fx);
	assert_int_equal(mem_write(fx->p, A(text) + 8, &int3, 1), 0);
	fx->want_text[8] = 0xcc;
	assert_int_equal(proc_write_data(fx->p, A(data) + 8, w, sizeof(w)), 0);
	memcpy(fx->want_data + 8, w, sizeof(w));
	check_child(fx);
}

/* Unmapped memory, whole or in part: an error, and the mapped part unchanged. */
static void test_unmapped(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16] = { 0 }, w[16];

	memset(w, 0xee, sizeof(w));
	assert_true(mem_read(fx->p, hole, buf, sizeof(buf)) < 0);
	assert_true(mem_read(fx->p, hole - 8, buf, sizeof(buf)) < 0);
	assert_true(mem_write(fx->p, hole + 64, w, sizeof(w)) < 0);
	assert_true(mem_read(fx->p, 0, buf, 8) < 0);
	assert_true(proc_write_data(fx->p, hole - 8, w, sizeof(w)) < 0);
	/* the first 8 bytes may have been written: the program could write those too */
	child_read(fx, hole - 8, buf, 8);
	memcpy(fx->want_data + DATA_PAGES * PG - 8, buf, 8);
	check_child(fx);
}

/* ---- the deferred batch ---- */

/*
 * With every thread held, deferred writes stay queued (the child unchanged)
 * while reads see them; mem_flush() writes them all.
 */
static void test_deferred(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t slot[64] = "slot bytes", int3 = 0xcc;
	uint8_t buf[64];

	assert_int_equal(mem_write_deferred(fx->p, A(data) + PG, slot, sizeof(slot), MEM_SLOT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(text) + 40, &int3, 1, MEM_TEXT), 0);
	check_child(fx); /* nothing written yet */
	assert_int_equal(mem_read(fx->p, A(data) + PG - 8, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, data + PG - 8, 8);
	assert_memory_equal(buf + 8, slot, sizeof(buf) - 8);
	assert_int_equal(mem_read_cached(fx->p, A(text) + 39, buf, 3), 0);
	assert_int_equal(buf[0], text[39]);
	assert_int_equal(buf[1], 0xcc);
	assert_int_equal(buf[2], text[41]);

	mem_flush(fx->p);
	memcpy(fx->want_data + PG, slot, sizeof(slot));
	fx->want_text[40] = 0xcc;
	check_child(fx);
}

/* Overlapping queued writes: the later one wins, bytes of the earlier one not covered stay. */
static void test_deferred_overlap(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(mem_write_deferred(fx->p, A(text) + 200, "AAAA", 4, MEM_TEXT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(text) + 201, "BB", 2, MEM_TEXT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(data) + 300, "xyz", 3, MEM_SLOT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(data) + 300, "Q", 1, MEM_SLOT), 0);
	/* a later write below an earlier one: still the later wins */
	assert_int_equal(mem_write_deferred(fx->p, A(text) + 301, "cc", 2, MEM_TEXT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(text) + 300, "DDDD", 4, MEM_TEXT), 0);
	mem_flush(fx->p);
	memcpy(fx->want_text + 200, "ABBA", 4);
	memcpy(fx->want_data + 300, "Qyz", 3);
	memcpy(fx->want_text + 300, "DDDD", 4);
	check_child(fx);
}

/*
 * Slots are written before text: where a slot write and a text write
 * overlap (the engine never does that; it is the only way to see the
 * order in a stopped child), the text's bytes are the last written.
 */
static void test_deferred_order(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(mem_write_deferred(fx->p, A(data) + 500, "TT", 2, MEM_TEXT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(data) + 500, "SS", 2, MEM_SLOT), 0);
	mem_flush(fx->p);
	memcpy(fx->want_data + 500, "TT", 2);
	check_child(fx);
}

/*
 * Text writes in one page, far apart, are merged into one write of the
 * span: the bytes between keep their values, whether the page was read
 * into the batch's cache or not; a write across two pages lands whole.
 */
static void test_deferred_span(void **state)
{
	struct fixture *fx = *state;
	uint8_t b;

	assert_int_equal(mem_write_deferred(fx->p, A(text) + 10, "\xcc", 1, MEM_TEXT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(text) + 3000, "\xcc", 1, MEM_TEXT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(data) + 3 * PG - 2, "span", 4, MEM_TEXT), 0);
	mem_flush(fx->p);
	fx->want_text[10] = fx->want_text[3000] = 0xcc;
	memcpy(fx->want_data + 3 * PG - 2, "span", 4);
	check_child(fx);

	/* the same from the cache: the page read first, the queue applied to it */
	assert_int_equal(mem_read_cached(fx->p, A(text) + 11, &b, 1), 0);
	assert_int_equal(b, text[11]);
	assert_int_equal(mem_write_deferred(fx->p, A(text) + 20, "\x90", 1, MEM_TEXT), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(text) + 2000, "\x90", 1, MEM_TEXT), 0);
	assert_int_equal(mem_read_cached(fx->p, A(text) + 2000, &b, 1), 0);
	assert_int_equal(b, 0x90);
	mem_flush(fx->p);
	fx->want_text[20] = fx->want_text[2000] = 0x90;
	check_child(fx);
}

/*
 * A direct write while writes are queued: the queued ones first, then it
 * (it goes through at once), and the cached page follows it.
 */
static void test_direct_after_queue(void **state)
{
	struct fixture *fx = *state;
	uint8_t b[2];

	assert_int_equal(mem_read_cached(fx->p, A(data) + 700, b, 2), 0);
	assert_int_equal(mem_write_deferred(fx->p, A(data) + 700, "AA", 2, MEM_SLOT), 0);
	assert_int_equal(mem_write(fx->p, A(data) + 700, "B", 1), 0);
	memcpy(fx->want_data + 700, "BA", 2);
	check_child(fx); /* written at once, the queue before it */
	assert_int_equal(mem_read_cached(fx->p, A(data) + 700, b, 2), 0);
	assert_memory_equal(b, "BA", 2);
	mem_flush(fx->p);
	check_child(fx);
}

/* A thread of the process running: no batch, deferred writes go straight through. */
static void test_not_all_held(void **state)
{
	struct fixture *fx = *state;

	fx->k->state = TASK_RUNNING; /* as the tracer would know it; the child itself stays stopped */
	assert_int_equal(mem_write_deferred(fx->p, A(data) + 900, "now", 3, MEM_SLOT), 0);
	memcpy(fx->want_data + 900, "now", 3);
	check_child(fx);
	fx->k->state = TASK_STOPPED;
}

/*
 * More writes than a batch holds, each overlapping the one before: written
 * on the way, and after the flush the bytes are those of the queue applied
 * in order.
 */
static void test_deferred_many(void **state)
{
	struct fixture *fx = *state;
	enum { N = 3000 };

	for (unsigned i = 0; i < N; i++) {
		uint8_t w[4] = { (uint8_t)i, (uint8_t)(i >> 8), 0x5a, (uint8_t)~i };
		uint64_t off = (uint64_t)i * 3 % (DATA_PAGES * PG - 4);

		assert_int_equal(mem_write_deferred(fx->p, A(data) + off, w, sizeof(w), MEM_TEXT), 0);
		memcpy(fx->want_data + off, w, sizeof(w));
	}
	mem_flush(fx->p);
	check_child(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_span, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_after_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_all_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
