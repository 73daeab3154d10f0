// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee with T threads that each call a probed function N times, released together. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

static pthread_barrier_t go;
static int n_calls;
static long total_calls, total_bad;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

PROBED long thread_work(long idx, long i)
{
	return idx * 1000003 + i;
}

static void *worker(void *arg)
{
	long idx = (long)arg, bad = 0;

	pthread_barrier_wait(&go);
	for (long i = 0; i < n_calls; i++)
		if (thread_work(idx, i) != idx * 1000003 + i)
			bad++;
	pthread_mutex_lock(&lock);
	total_calls += n_calls;
	total_bad += bad;
	printf("thread=%ld tid=%ld calls=%d bad=%ld\n", idx, (long)syscall(SYS_gettid), n_calls,
	       bad);
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* "exit" mode: workers call thread_work until the process ends; main exits meanwhile. */
static long spun[256]; /* calls made so far, per worker */

static void *spinner(void *arg)
{
	long idx = (long)arg;

	pthread_barrier_wait(&go);
	for (long i = 0;; i++) {
		thread_work(idx, i);
		__atomic_store_n(&spun[idx], i + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Until every worker has made `calls` calls (at most 60 s): the time main
 * then waits starts with every thread hitting, however slow the machine.
 */
static void wait_spun(int nt, long calls)
{
	for (int ms = 0; ms < 60000; ms++) {
		int i = 0;

		while (i < nt && __atomic_load_n(&spun[i], __ATOMIC_RELAXED) >= calls)
			i++;
		if (i == nt)
			return;
		usleep(1000);
	}
}

/*
 * usage: api_threads THREADS CALLS, or api_threads THREADS MS exit: the
 * process exits MS milliseconds after each thread made 50 calls, while
 * they are calling.
 */
int main(int argc, char **argv)
{
	int nt = argc > 1 ? atoi(argv[1]) : 4;
	pthread_t th[256];

	n_calls = argc > 2 ? atoi(argv[2]) : 1000;
	if (nt < 1 || nt > 256)
		return 2;
	if (argc > 3 && !strcmp(argv[3], "exit")) {
		pthread_barrier_init(&go, NULL, nt + 1);
		for (long i = 0; i < nt; i++)
			if (pthread_create(&th[i], NULL, spinner, (void *)i))
				return 2;
		pthread_barrier_wait(&go);
		wait_spun(nt, 50);
		usleep(n_calls * 1000);
		printf("exiting pid=%d threads=%d\n", (int)getpid(), nt);
		fflush(stdout);
		exit(7);
	}
	pthread_barrier_init(&go, NULL, nt);
	for (long i = 0; i < nt; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 2;
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	printf("pid=%d threads=%d total_calls=%ld bad=%ld\n", (int)getpid(), nt, total_calls,
	       total_bad);
	return total_bad ? 1 : 0;
}
