// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A program whose tracer dies (test_api_lifeline.c): four threads call
 * ll_work() and ll_outer() N times each and check every result, so that
 * one instruction run wrong (resumed in the middle of an instruction, a
 * return to a wrong address) shows as "total bad" or a crash.
 *
 * usage: api_lifeline N [int3|block|blockcheck|blockrestore|nap|trap]
 *   int3: then executes an int3 of its own, which (SIGTRAP left at its
 *   default) kills it, traced or not.
 *   block: the four threads block every signal first, as server workers
 *   do (our traps then find SIGTRAP blocked).
 *   blockcheck: as block, and each thread checks at its end that SIGTRAP
 *   is still blocked (exit 4 if not): for a tracer that detached before.
 *   blockrestore: the threads block SIGCHLD only, and every signal just
 *   around each call (a mask saved and put back); each checks at its end
 *   that it blocks SIGCHLD and not SIGTRAP (exit 4 if not).
 *   nap: a fifth thread sleeps 3 ms at a time in ll_nap_sys's system call
 *   until the four are done, and checks that each returned 0 (exit 5 if
 *   not): a post probe there has that thread in its slot most of the time.
 *   trap: a SIGTRAP handler of its own, installed by main (so once traced,
 *   spawned or attached), and each thread raise()s SIGTRAP every 256th
 *   call: the handler's count must be exact at the end (exit 6 if not), no
 *   trap of ours reaching it, after the tracer's death included.
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NTHREADS 4

static long n_calls;
static unsigned long sums[NTHREADS];
static bool block, check_mask, block_around;
static volatile int mask_lost;
static volatile int workers_done, nap_bad;
static bool own_trap;
static volatile long own_traps;

static void on_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code == SI_TKILL)
		__atomic_add_fetch(&own_traps, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&own_traps, 1000000, __ATOMIC_RELAXED); /* not a raise() */
}

/* nanosleep(req, rem), its system call at ll_nap_sys + 5 */
long ll_nap_sys(const struct timespec *req, struct timespec *rem);
__asm__(".text\n"
	".globl ll_nap_sys\n"
	".type ll_nap_sys, @function\n"
	"ll_nap_sys:\n"
	"	mov $35, %eax\n"
	"	syscall\n"
	"	ret\n"
	".size ll_nap_sys, . - ll_nap_sys\n");

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

/* blockrestore: a thread is done with its calls (its own mask back) */
__attribute__((noinline)) void ll_done(void)
{
	__asm__ volatile("" ::: "memory");
}

static void *napper(void *arg)
{
	struct timespec ts = { 0, 3000000 };

	(void)arg;
	while (!workers_done)
		if (ll_nap_sys(&ts, NULL) != 0)
			nap_bad = 1;
	return NULL;
}

static void *worker(void *arg)
{
	long i = (long)arg;
	unsigned long s = 0;
	sigset_t all, cur;

	sigfillset(&all);
	if (block)
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (block_around) {
		sigemptyset(&cur);
		sigaddset(&cur, SIGCHLD);
		pthread_sigmask(SIG_BLOCK, &cur, NULL);
	}
	for (long j = 0; j < n_calls; j++) {
		sigset_t old;

		if (block_around)
			pthread_sigmask(SIG_BLOCK, &all, &old);
		s += ll_outer((unsigned long)j);
		if (own_trap && (j & 255) == 7)
			raise(SIGTRAP);
		if (block_around)
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		if ((j & 255) == 0)
			usleep(20);
	}
	if (block_around) {
		ll_done();
		usleep(300000); /* a tracer told by ll_done() detaches meanwhile */
	}
	sums[i] = s;
	if (check_mask && (pthread_sigmask(SIG_BLOCK, NULL, &cur) || !sigismember(&cur, SIGTRAP)))
		mask_lost = 1;
	if (block_around && (pthread_sigmask(SIG_BLOCK, NULL, &cur) || sigismember(&cur, SIGTRAP) ||
			     !sigismember(&cur, SIGCHLD))) {
		mask_lost = 1;
		if (getenv("LL_DEBUG"))
			fprintf(stderr, "mask: trap %d chld %d int %d\n", sigismember(&cur, SIGTRAP),
				sigismember(&cur, SIGCHLD), sigismember(&cur, SIGINT));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS], nap;
	unsigned long want = 0, got = 0;
	bool naps = argc > 2 && !strcmp(argv[2], "nap");

	n_calls = argc > 1 ? atol(argv[1]) : 1000;
	check_mask = argc > 2 && !strcmp(argv[2], "blockcheck");
	block = check_mask || (argc > 2 && !strcmp(argv[2], "block"));
	block_around = argc > 2 && !strcmp(argv[2], "blockrestore");
	own_trap = argc > 2 && !strcmp(argv[2], "trap");
	if (own_trap) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_trap;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigaction(SIGTRAP, &sa, NULL);
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (naps)
		pthread_create(&nap, NULL, napper, NULL);
	for (long i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		got += sums[i];
	}
	workers_done = 1;
	if (naps) {
		pthread_join(nap, NULL);
		printf("naps %s\n", nap_bad ? "bad" : "ok");
	}
	for (long j = 0; j < n_calls; j++)
		want += ((unsigned long)j * 3 + 1) ^ 0x5a;
	want *= NTHREADS;
	printf("total %s\n", got == want ? "ok" : "bad");
	if (own_trap) {
		long raised = 0;

		for (long j = 0; j < n_calls; j++)
			raised += (j & 255) == 7;
		raised *= NTHREADS;
		printf("own traps %s\n", own_traps == raised ? "ok" : "bad");
		if (own_traps != raised) {
			fprintf(stderr, "own traps %ld, raised %ld\n", own_traps, raised);
			return 6;
		}
	}
	if (check_mask || block_around)
		printf("signal mask %s\n", mask_lost ? "changed" : "as set");
	fflush(stdout);
	if (argc > 2 && !strcmp(argv[2], "int3"))
		__asm__ volatile("int3");
	return got != want ? 3 : mask_lost ? 4 : nap_bad ? 5 : 0;
}
