// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A program whose tracer dies (test_api_lifeline.c): four threads call
 * ll_work() and ll_outer() N times each and check every result, so that
 * one instruction run wrong (resumed in the middle of an instruction, a
 * return to a wrong address) shows as "total bad" or a crash.
 *
 * usage: api_lifeline N [int3|block|blockcheck]
 *   int3: then executes an int3 of its own, which (SIGTRAP left at its
 *   default) kills it, traced or not.
 *   block: the four threads block every signal first, as server workers
 *   do (our traps then find SIGTRAP blocked).
 *   blockcheck: as block, and each thread checks at its end that SIGTRAP
 *   is still blocked (exit 4 if not): for a tracer that detached before.
 */
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NTHREADS 4

static long n_calls;
static unsigned long sums[NTHREADS];
static bool block, check_mask;
static volatile int mask_lost;

__attribute__((noinline)) unsigned long ll_work(unsigned long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

/* Calls ll_work through one more frame: a return probe's call in a caller. */
__attribute__((noinline)) unsigned long ll_outer(unsigned long x)
{
	unsigned long r = ll_work(x) ^ 0x5a;

	__asm__ volatile("" ::: "memory");
	return r;
}

static void *worker(void *arg)
{
	long i = (long)arg;
	unsigned long s = 0;
	sigset_t all, cur;

	if (block) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
	for (long j = 0; j < n_calls; j++) {
		s += ll_outer((unsigned long)j);
		if ((j & 255) == 0)
			usleep(20);
	}
	sums[i] = s;
	if (check_mask && (pthread_sigmask(SIG_BLOCK, NULL, &cur) || !sigismember(&cur, SIGTRAP)))
		mask_lost = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];
	unsigned long want = 0, got = 0;

	n_calls = argc > 1 ? atol(argv[1]) : 1000;
	check_mask = argc > 2 && !strcmp(argv[2], "blockcheck");
	block = check_mask || (argc > 2 && !strcmp(argv[2], "block"));
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (long i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		got += sums[i];
	}
	for (long j = 0; j < n_calls; j++)
		want += ((unsigned long)j * 3 + 1) ^ 0x5a;
	want *= NTHREADS;
	printf("total %s\n", got == want ? "ok" : "bad");
	if (check_mask)
		printf("SIGTRAP %s\n", mask_lost ? "unblocked" : "still blocked");
	fflush(stdout);
	if (argc > 2 && !strcmp(argv[2], "int3"))
		__asm__ volatile("int3");
	return got != want ? 3 : mask_lost ? 4 : 0;
}
