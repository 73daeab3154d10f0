// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee for the no-stop probe tests: calls the functions of api_nostop_funcs.S, checking results. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))
#define MAX_THREADS 16

long ns_f(long a, long b);
long ns_mid(long x);
long ns_allregs(long i);
long ns_flags(long a, long b);
long ns_flags_ref(long a, long b);

/* The test acts at these points through stopping probes of its own. */
PROBED void ns_checkpoint(long n)
{
	__asm__ volatile("" : : "r"(n) : "memory");
}

static long ncalls;
static pthread_barrier_t calls_done, checked;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long total_bad;

/* Worker t calls ns_f(tag, k) with its own tag, reports its thread id, and waits for the checkpoint. */
static void *worker(void *arg)
{
	long t = (long)arg, tag = (t + 1) * 1000000, bad = 0;

	for (long k = 0; k < ncalls; k++)
		bad += ns_f(tag, k) != tag + k;
	pthread_mutex_lock(&lock);
	printf("thread=%ld tag=%ld tid=%ld calls=%ld bad=%ld\n", t, tag, (long)syscall(SYS_gettid),
	       ncalls, bad);
	total_bad += bad;
	pthread_mutex_unlock(&lock);
	/* alive until the main thread's checkpoint, so the test finds every thread in /proc */
	pthread_barrier_wait(&calls_done);
	pthread_barrier_wait(&checked);
	return NULL;
}

/* Worker t without the barriers: threads one after another, each on the stack its predecessor left. */
static void *seq_worker(void *arg)
{
	long t = (long)arg, tag = (t + 1) * 1000000, bad = 0;

	for (long k = 0; k < ncalls; k++)
		bad += ns_f(tag, k) != tag + k;
	printf("thread=%ld tag=%ld tid=%ld calls=%ld bad=%ld\n", t, tag, (long)syscall(SYS_gettid),
	       ncalls, bad);
	total_bad += bad;
	return NULL;
}

static long run_threads(int n)
{
	pthread_t th[MAX_THREADS];

	pthread_barrier_init(&calls_done, NULL, n + 1);
	pthread_barrier_init(&checked, NULL, n + 1);
	for (long i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return -1;
	pthread_barrier_wait(&calls_done);
	ns_checkpoint(1);
	pthread_barrier_wait(&checked);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return total_bad;
}

static long churn_started, churn_done, churn_bad;

/* One ns_f call; counts the threads that really started (a clone done twice starts two). */
static void *churn_worker(void *arg)
{
	__atomic_fetch_add(&churn_started, 1, __ATOMIC_RELAXED);
	if (ns_f((long)arg, 1) != (long)arg + 1)
		__atomic_fetch_add(&churn_bad, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&churn_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * usage: api_nostop single N | allregs N | threads T N | seq T N | phases N | mid N | churn N
 *   single:  ns_f(i, 7i + 3) for i < N, then ns_checkpoint(1)
 *   allregs: ns_allregs(i) for i < N
 *   threads: T threads, each ns_f(tag, k) for k < N, then ns_checkpoint(1) with all alive
 *   seq:     the same, T threads one after another, no checkpoint
 *   phases:  for phase 1..3: ns_f(i, phase) for i < N, then ns_checkpoint(phase)
 *   mid:     ns_mid(i) for i < N
 *   churn:   N threads one after another, as fast as they go, each calling ns_f once (the
 *            main thread spends its time in clone; the test detaches meanwhile)
 *   forks:   one thread: N times ns_f(i, 1) then a fork, or every other time a vfork (the
 *            child exits at once), waited for
 *   flags:   ns_flags(a, b) == ns_flags_ref(a, b) for N pairs setting every flag both ways
 *   reattach: ns_f(i, 1) for i < N, ns_checkpoint(1), waits for SIGUSR1 (the test detaches
 *            and attaches again meanwhile), ns_f(i, 2) for i < N, ns_checkpoint(2)
 */
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "single";
	long a = argc > 2 ? atol(argv[2]) : 1000, b = argc > 3 ? atol(argv[3]) : 1000;
	volatile long bad = 0; /* (kept across the vforks of "forks") */

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "single")) {
		for (long i = 0; i < a; i++)
			bad += ns_f(i, 7 * i + 3) != 8 * i + 3;
		ns_checkpoint(1);
		printf("pid=%ld calls=%ld bad=%ld\n", (long)getpid(), a, bad);
	} else if (!strcmp(mode, "allregs")) {
		for (long i = 0; i < a; i++)
			bad += ns_allregs(i) != 8 * i + 3;
		printf("calls=%ld bad=%ld\n", a, bad);
	} else if (!strcmp(mode, "threads")) {
		int n = a < 1 ? 1 : a > MAX_THREADS ? MAX_THREADS : (int)a;

		ncalls = b;
		bad = run_threads(n);
		if (bad < 0) {
			fprintf(stderr, "api_nostop: pthread_create failed\n");
			return 2;
		}
		printf("threads=%d total_calls=%ld bad=%ld\n", n, n * b, bad);
	} else if (!strcmp(mode, "seq")) {
		int n = a < 1 ? 1 : a > MAX_THREADS ? MAX_THREADS : (int)a;

		ncalls = b;
		for (long t = 0; t < n; t++) {
			pthread_t th;

			if (pthread_create(&th, NULL, seq_worker, (void *)t))
				return 2;
			pthread_join(th, NULL);
			/* the tracer has seen the thread's exit before the next one starts */
			usleep(20000);
		}
		printf("threads=%d total_calls=%ld bad=%ld\n", n, n * b, total_bad);
	} else if (!strcmp(mode, "phases")) {
		for (long phase = 1; phase <= 3; phase++) {
			for (long i = 0; i < a; i++)
				bad += ns_f(i, phase) != i + phase;
			ns_checkpoint(phase);
		}
		printf("calls=%ld bad=%ld\n", 3 * a, bad);
	} else if (!strcmp(mode, "flags")) {
		static const long edge[] = { 0, 1, -1, 2, 0x7fffffffffffffff, -0x7fffffffffffffff - 1,
					     0x80, 0x7f, 0x10, 0xf };
		uint64_t x = 88172645463325252ull, seen_or = 0, seen_and = ~0ull;

		for (long i = 0; i < a; i++) {
			long u, v, got, want;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			u = i % 3 ? (long)x : edge[i % 10];
			v = i % 5 ? (long)(x >> 3) : i % 2 ? u : edge[(i / 10) % 10];
			got = ns_flags(u, v);
			want = ns_flags_ref(u, v);
			bad += got != want || want < 0;
			seen_or |= (uint64_t)want;
			seen_and &= (uint64_t)want;
		}
		/* every flag seen set and clear */
		printf("calls=%ld bad=%ld flags_set=%#llx flags_clear=%#llx\n", a, bad,
		       (unsigned long long)seen_or, (unsigned long long)(~seen_and & 0x8d5));
	} else if (!strcmp(mode, "reattach")) {
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		for (long phase = 1; phase <= 2; phase++) {
			for (long i = 0; i < a; i++)
				bad += ns_f(i, phase) != i + phase;
			ns_checkpoint(phase);
			if (phase == 1 && sigwait(&set, &sig))
				return 2;
		}
		printf("calls=%ld bad=%ld\n", 2 * a, bad);
	} else if (!strcmp(mode, "churn")) {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		for (long t = 0; t < a; t++) {
			pthread_t th;
			int err;

			/* a few at a time: the next clone comes while the last threads start */
			while (t - __atomic_load_n(&churn_done, __ATOMIC_ACQUIRE) >= 4)
				sched_yield();
			err = pthread_create(&th, &attr, churn_worker, (void *)t);
			if (err) {
				fprintf(stderr, "api_nostop: pthread_create: %s\n", strerror(err));
				return 2;
			}
		}
		while (__atomic_load_n(&churn_done, __ATOMIC_ACQUIRE) < a)
			usleep(1000);
		/* a thread started twice (a clone made to fail and done again) may be late */
		usleep(20000);
		bad = churn_bad;
		printf("threads=%ld started=%ld bad=%ld\n", a, churn_started, bad);
	} else if (!strcmp(mode, "forks")) {
		long forks = 0;

		/* one thread: each ns_f call, then a fork or a vfork whose child exits at once */
		for (long i = 0; i < a; i++) {
			int st;
			pid_t child;

			bad += ns_f(i, 1) != i + 1;
			child = i % 2 ? vfork() : fork();
			if (child < 0) {
				fprintf(stderr, "api_nostop: fork %ld: %s\n", i, strerror(errno));
				bad++;
				continue;
			}
			if (child == 0)
				_exit(9);
			if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 9)
				bad++;
			else
				forks++;
		}
		printf("forks=%ld bad=%ld\n", forks, bad);
	} else if (!strcmp(mode, "mid")) {
		for (long i = 0; i < a; i++)
			bad += ns_mid(i) != i + 5;
		printf("calls=%ld bad=%ld\n", a, bad);
	} else {
		fprintf(stderr, "api_nostop: unknown mode '%s'\n", mode);
		return 2;
	}
	return bad ? 1 : 0;
}
