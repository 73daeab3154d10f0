// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee of the CLI's --str, --hist and --duration tests: known strings, known durations. */
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: clitarget str | lat | noreturn
 *
 * str: take_str() and take_str2() get the strings the test expects, one call
 *   each, in this order; mutate() changes its string during the call.
 * lat: lat_fast() 30 times (140 us each), lat_slow() 20 times (2.2 ms each),
 *   lat_mixed() with both durations interleaved (30 + 20 calls), rec(5)
 *   4 times (24 calls of rec), jumper() 15 times of which 10 leave by
 *   longjmp. The durations are spun, never slept: a call lasts at least that
 *   long. Each sits low in its power-of-two bucket (131072-262143 ns,
 *   2097152-4194303 ns): a traced call also counts one round trip between
 *   thread and tracer (30 to 130 us on a 2-CPU VM), which then moves it up
 *   one bucket at most. (A 50 us call would land two buckets up.)
 * noreturn: leave() calls exit(0) and never returns.
 * fail: 1000 calls of malloc(4321) in a row, then 50 of open_config(i),
 *   which returns 3 + i % 5; prints the loop index of each NULL malloc
 *   ("null_at I"), each open_config that returned something else
 *   ("open_config failed i=I ret=R"), and the counts, with the sum of what
 *   the other open_config calls returned (uprobe-trace --fail).
 * filter: pick(i * 1000, i % 3 ? i : -i) for i 0 to 19, each returning
 *   i - 10; prints "clitarget: pick A B RET" for each (uprobe-trace --filter).
 * procs: pick(1, 0) in the main thread, pick(2, 0) in a thread named
 *   "fworker", pick(3, 0) in a forked child; each prints "clitarget: pick
 *   N pid P tid T" first; the fork comes after the thread ended. With
 *   "procs wait", reads a byte of stdin first (a test attaches meanwhile).
 * tick: pick(i * 1000, i) for i 0 to 39, 100 ms apart (4 s at least: the
 *   live line of uprobe-trace is drawn each second).
 * The functions are global and never inlined so that u:clitarget:NAME names them.
 */

#define FAST_NS 140000ull
#define SLOW_NS 2200000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void spin(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

/* what the functions computed, printed at the end, so that no call is optimised away */
volatile unsigned long sink;

/* They never read the string: one of them is at an unmapped address. */
__attribute__((noinline)) int take_str(const char *s)
{
	sink += (uintptr_t)s & 1;
	return 0;
}

__attribute__((noinline)) int take_str2(int n, const char *s)
{
	sink += (unsigned long)n + ((uintptr_t)s & 1);
	return n;
}

/* The string as it was at entry differs from the string at return. */
__attribute__((noinline)) int mutate(char *s)
{
	memcpy(s, "after", 6);
	return 0;
}

__attribute__((noinline)) void lat_fast(void)
{
	spin(FAST_NS);
}

__attribute__((noinline)) void lat_slow(void)
{
	spin(SLOW_NS);
}

__attribute__((noinline)) void lat_mixed(uint64_t ns)
{
	spin(ns);
}

__attribute__((noinline)) int rec(int depth)
{
	int r = depth ? rec(depth - 1) + 1 : 0;

	spin(FAST_NS);
	return r;
}

static jmp_buf env;

__attribute__((noinline)) int jumper(int i)
{
	spin(FAST_NS);
	if (i % 3)
		longjmp(env, 1);
	return i;
}

__attribute__((noinline)) void leave(void)
{
	fflush(stdout);
	exit(0);
}

__attribute__((noinline)) int open_config(int i)
{
	sink += (unsigned long)i;
	return 3 + i % 5;
}

__attribute__((noinline)) long pick(long a, long b)
{
	sink += (unsigned long)(a + b);
	return a / 1000 - 10;
}

static int run_filter(void)
{
	for (long i = 0; i < 20; i++) {
		long a = i * 1000, b = i % 3 ? i : -i;

		printf("clitarget: pick %ld %ld %ld\n", a, b, pick(a, b));
	}
	return 0;
}

static int run_tick(void)
{
	const struct timespec gap = { 0, 100000000 };

	for (long i = 0; i < 40; i++) {
		pick(i * 1000, i);
		nanosleep(&gap, NULL);
	}
	return 0;
}

static void say_pick(long n)
{
	printf("clitarget: pick %ld pid %d tid %d\n", n, (int)getpid(), (int)gettid());
	fflush(stdout);
	pick(n, 0);
}

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), "fworker");
	say_pick(2);
	return arg;
}

static int run_procs(bool wait)
{
	pthread_t t;
	pid_t child;
	char c;
	int st;

	if (wait && read(STDIN_FILENO, &c, 1) != 1)
		return 1;
	say_pick(1);
	if (pthread_create(&t, NULL, worker, NULL))
		return 1;
	pthread_join(t, NULL);
	child = fork();
	if (child < 0)
		return 1;
	if (!child) {
		say_pick(3);
		_exit(0);
	}
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st))
		return 1;
	return 0;
}

/* Through a volatile pointer: the calls are made, never folded. */
static void *(*volatile do_malloc)(size_t) = malloc;

static int run_fail(void)
{
	static void *ptrs[1000];
	int nulls = 0, failed = 0;
	long sum = 0;

	/* nothing else allocates in between: the Nth malloc of the loop is its Nth in a row */
	for (int i = 0; i < 1000; i++)
		ptrs[i] = do_malloc(4321);
	for (int i = 0; i < 1000; i++) {
		if (!ptrs[i]) {
			printf("clitarget: null_at %d\n", i);
			nulls++;
		}
		free(ptrs[i]);
	}
	for (int i = 0; i < 50; i++) {
		int r = open_config(i);

		if (r != 3 + i % 5) {
			printf("clitarget: open_config failed i=%d ret=%d\n", i, r);
			failed++;
		} else {
			sum += r;
		}
	}
	printf("clitarget: mallocs 1000 null %d\n", nulls);
	printf("clitarget: open_config 50 failed %d sum %ld\n", failed, sum);
	return 0;
}

static int run_str(void)
{
	char tab[] = "tab\there\nnew \"quoted\" back\\slash";
	char bytes[] = "\x01\x7f\xff\xc3\xa9\x1b[2J";
	char mut[] = "before";
	char *big = malloc(4201), *exact = malloc(4097);
	void *page;

	if (!big || !exact)
		return 1;
	memset(big, 'a', 4200);
	big[4200] = '\0';
	memset(exact, 'b', 4096); /* PATH_MAX: shown whole */
	exact[4096] = '\0';
	/* an address certainly unmapped: a page we map and unmap again */
	page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 1;
	munmap(page, 4096);

	take_str("hello");
	take_str(tab);
	take_str(bytes);
	take_str("");
	take_str(big);
	take_str(exact);
	take_str(NULL);
	take_str(page);
	take_str2(7, "second");
	mutate(mut);
	printf("clitarget: bad %p\n", page);
	free(big);
	free(exact);
	return 0;
}

static int run_lat(void)
{
	volatile int i;

	for (i = 0; i < 50; i++) {
		if (i < 30)
			lat_fast();
		if (i < 20)
			lat_slow();
		lat_mixed(i % 5 < 2 ? SLOW_NS : FAST_NS);
	}
	for (i = 0; i < 4; i++)
		sink += (unsigned long)rec(5);
	for (i = 0; i < 15; i++)
		if (!setjmp(env))
			sink += (unsigned long)jumper(i);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int ret = 2;

	if (!strcmp(mode, "str")) {
		ret = run_str();
	} else if (!strcmp(mode, "lat")) {
		ret = run_lat();
	} else if (!strcmp(mode, "noreturn")) {
		leave();
	} else if (!strcmp(mode, "fail")) {
		ret = run_fail();
	} else if (!strcmp(mode, "filter")) {
		ret = run_filter();
	} else if (!strcmp(mode, "tick")) {
		ret = run_tick();
	} else if (!strcmp(mode, "procs")) {
		ret = run_procs(argc > 2 && !strcmp(argv[2], "wait"));
	} else {
		fprintf(stderr, "usage: clitarget str|lat|noreturn|fail|filter|procs|tick\n");
	}
	printf("clitarget: done %lu\n", sink);
	return ret;
}
