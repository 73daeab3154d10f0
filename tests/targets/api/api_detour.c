// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee for the jump-detour tests: calls the functions of api_detour_funcs.S, counting. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))
#define MAX_PCS (1 << 16)

long dt_push(long x);
long dt_endbr(long x);
long dt_riprel(long x);
long dt_call(long x);
long dt_loop(long n);
long dt_switch(long x);
long dt_add(long a, long b);
long dt_fault(const long *p);

static volatile sig_atomic_t finish;
static int usr1; /* every thread's handler adds to it: atomically */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long total_calls, total_bad;
static int nthreads;
static long ncalls, max_ms;

/* pcs interrupted by SIGPROF, handed to dt_report() for the test to look at */
static uint64_t pcs[MAX_PCS];
static unsigned npcs;
static long prof_signals; /* every thread's handler adds to it: atomically */

/* The test reads the tracee at these points through probes of its own. */
PROBED void dt_checkpoint(void)
{
}

PROBED void dt_report(const uint64_t *p, unsigned n)
{
	__asm__ volatile("" : : "r"(p), "r"(n) : "memory");
}

PROBED void dt_after_fork(long child)
{
	__asm__ volatile("" : : "r"(child) : "memory");
}

/* A C caller, so a backtrace from dt_push shows a known frame above it. */
PROBED long dt_caller(long x)
{
	return dt_push(x) + 1;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One round over the optimizable functions; returns how many results were wrong. */
static long round_of_calls(long i)
{
	return (dt_push(i) != i + 1) + (dt_endbr(i) != i + 2) + (dt_riprel(i) != i + 1000) +
	       (dt_call(i) != i + 3);
}

static volatile sig_atomic_t traps;

static void on_trap(int sig)
{
	traps++;
}

static void on_usr1(int sig)
{
	__atomic_fetch_add(&usr1, 1, __ATOMIC_RELAXED);
	finish = 1;
}

/*
 * Set once a thread has made half its calls: by then every detour is in
 * place (they are made within the first few hundred hits). Before, a pc
 * inside a future detour's range is the program's own (the instruction
 * after a probed one, run in place), so only later pcs are recorded.
 */
static __thread int pcs_late;

static void on_prof(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned i;

	__atomic_fetch_add(&prof_signals, 1, __ATOMIC_RELAXED);
	if (!pcs_late)
		return;
	i = __atomic_fetch_add(&npcs, 1, __ATOMIC_RELAXED);
	if (i < MAX_PCS)
		pcs[i] = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
}

static void *worker(void *arg)
{
	long bad = 0, n = 0;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (max_ms) {
		/* spin mode: until SIGUSR1 or the time limit */
		while (!finish && elapsed_ms(&t0) < max_ms) {
			bad += dt_push(n) != n + 1;
			n++;
		}
	} else {
		for (; n < ncalls; n++) {
			if (n == ncalls / 2)
				pcs_late = 1;
			bad += round_of_calls(n);
		}
	}
	pthread_mutex_lock(&lock);
	total_calls += n;
	total_bad += bad;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int run_threads(void)
{
	pthread_t th[16];

	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 2;
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/*
 * park mode: a thread holds an address inside dt_push's detour range on its
 * stack (as a signal frame or a return address would) until the workers
 * have made park_until calls, then ends. Until then every attempt at the
 * detour finds the wrong moment.
 */
static long calls_made, park_until;
static int parked;

static void *parker(void *arg)
{
	volatile uintptr_t held = (uintptr_t)dt_push + 3;

	(void)arg;
	__atomic_store_n(&parked, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&calls_made, __ATOMIC_RELAXED) < park_until)
		usleep(500);
	__asm__ volatile("" : : "m"(held) : "memory");
	return NULL;
}

static void *park_worker(void *arg)
{
	long bad = 0;

	(void)arg;
	for (long n = 0; n < ncalls; n++) {
		bad += dt_push(n) != n + 1;
		__atomic_fetch_add(&calls_made, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&lock);
	total_calls += ncalls;
	total_bad += bad;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int run_parked(void)
{
	pthread_t th[16], p;

	if (pthread_create(&p, NULL, parker, NULL))
		return 2;
	while (!__atomic_load_n(&parked, __ATOMIC_ACQUIRE))
		usleep(100);
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, park_worker, (void *)i))
			return 2;
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_join(p, NULL);
	return 0;
}

/*
 * crowd mode: T threads call dt_push N times each while a spinner keeps
 * the first CPU busy until the others' calls are nearly done. The test
 * moves the first thread it sees onto that CPU under SCHED_IDLE: each time
 * the tracer resumes it into dt_push's slot after a hit, it waits there,
 * at the slot's first byte, for a CPU it hardly gets, as threads wait on a
 * loaded machine.
 */
static long crowd_calls;
static int spun;

static void *spinner(void *arg)
{
	cpu_set_t *first = arg;

	sched_setaffinity(0, sizeof(*first), first);
	while (__atomic_load_n(&crowd_calls, __ATOMIC_RELAXED) < (nthreads - 1) * ncalls)
		;
	__atomic_store_n(&spun, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *crowd_worker(void *arg)
{
	long bad = 0, n;

	(void)arg;
	for (n = 0; n < ncalls; n++) {
		bad += dt_push(n) != n + 1;
		__atomic_fetch_add(&crowd_calls, 1, __ATOMIC_RELAXED);
		/* the slow thread stops with the spinner: SCHED_IDLE, it would crawl on */
		if (__atomic_load_n(&spun, __ATOMIC_RELAXED) && sched_getscheduler(0) == SCHED_IDLE)
			break;
	}
	pthread_mutex_lock(&lock);
	total_calls += n + (n < ncalls);
	total_bad += bad;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int run_crowd(void)
{
	pthread_t th[16], spin;
	cpu_set_t all, first;
	int c = 0;

	/* the first allowed CPU: the test finds the same one (it is the same mask) */
	if (sched_getaffinity(0, sizeof(all), &all))
		return 2;
	while (c < CPU_SETSIZE && !CPU_ISSET(c, &all))
		c++;
	CPU_ZERO(&first);
	CPU_SET(c, &first);
	if (pthread_create(&spin, NULL, spinner, &first))
		return 2;
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, crowd_worker, (void *)i))
			return 2;
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_join(spin, NULL);
	return 0;
}

static long faulted_at;
static long fault_ok_value = 77;

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	faulted_at = (long)uc->uc_mcontext.gregs[REG_RIP];
	/* retry the load with a good pointer: the handler returns into the function */
	uc->uc_mcontext.gregs[REG_RDI] = (greg_t)&fault_ok_value;
}

/*
 * usage: api_detour calls N | add N | threads T N | spin T MS | prof T N | fork N | fault N |
 *        trap N | park T N H | crowd T N
 */
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "calls";
	long a = argc > 2 ? atol(argv[2]) : 1000, b = argc > 3 ? atol(argv[3]) : 1000;
	struct sigaction sa;
	long bad = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(mode, "calls")) {
		long want_iters = 0;

		for (long i = 0; i < a; i++) {
			bad += round_of_calls(i);
			bad += dt_caller(i) != i + 2;
			want_iters += i % 5 + 1;
			bad += dt_loop(i % 5 + 1) != want_iters;
			bad += dt_switch(i) != 10 * (i & 3) + 7;
		}
		printf("calls=%ld loop_iters=%ld bad=%ld\n", a, want_iters, bad);
	} else if (!strcmp(mode, "add")) {
		long sum = 0, n42 = 0;

		for (long i = 0; i < a; i++) {
			long r = dt_add(i + 1000, 1);

			sum += r;
			n42 += r == 42;
		}
		printf("add_calls=%ld add_sum=%ld add42=%ld\n", a, sum, n42);
	} else if (!strcmp(mode, "threads") || !strcmp(mode, "spin") || !strcmp(mode, "prof")) {
		struct itimerval it = { { 0, 100 }, { 0, 100 } };
		int r;

		nthreads = a < 1 ? 1 : a > 16 ? 16 : (int)a;
		if (!strcmp(mode, "spin"))
			max_ms = b;
		else
			ncalls = b;
		if (!strcmp(mode, "prof")) {
			sa.sa_sigaction = on_prof;
			sa.sa_flags = SA_RESTART | SA_SIGINFO;
			sigaction(SIGPROF, &sa, NULL);
			setitimer(ITIMER_PROF, &it, NULL);
		}
		r = run_threads();
		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_PROF, &it, NULL);
		if (r)
			return r;
		dt_checkpoint();
		dt_report(pcs, npcs < MAX_PCS ? npcs : MAX_PCS);
		printf("threads=%d total_calls=%ld bad=%ld usr1=%d finished_by_signal=%d "
		       "prof_signals=%ld\n", nthreads, total_calls, total_bad,
		       __atomic_load_n(&usr1, __ATOMIC_RELAXED), (int)finish,
		       __atomic_load_n(&prof_signals, __ATOMIC_RELAXED));
		bad = total_bad;
	} else if (!strcmp(mode, "park")) {
		nthreads = a < 1 ? 1 : a > 16 ? 16 : (int)a;
		ncalls = b;
		park_until = argc > 4 ? atol(argv[4]) : 0;
		if (run_parked())
			return 2;
		printf("threads=%d total_calls=%ld bad=%ld\n", nthreads, total_calls, total_bad);
		bad = total_bad;
	} else if (!strcmp(mode, "crowd")) {
		nthreads = a < 1 ? 1 : a > 16 ? 16 : (int)a;
		ncalls = b;
		if (run_crowd())
			return 2;
		printf("threads=%d total_calls=%ld bad=%ld\n", nthreads, total_calls, total_bad);
		bad = total_bad;
	} else if (!strcmp(mode, "fork")) {
		int go[2], st = 0;
		long sum = 0;
		pid_t pid;

		for (long i = 0; i < a; i++)
			sum += dt_push(i);
		if (pipe(go) < 0)
			return 2;
		pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(3);
			for (long i = 0; i < a; i++)
				sum += dt_push(i);
			printf("child calls=%ld sum=%ld\n", a, sum);
			_exit(0);
		}
		close(go[0]);
		dt_after_fork(pid);
		if (write(go[1], "g", 1) != 1)
			return 2;
		for (long i = 0; i < a; i++)
			sum += dt_push(i);
		while (waitpid(pid, &st, 0) < 0)
			;
		bad = st != 0;
		printf("parent calls=%ld sum=%ld child_status=%d bad=%ld\n", 2 * a, sum, st, bad);
	} else if (!strcmp(mode, "fault")) {
		long good = 5, r;

		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
		for (long i = 0; i < a; i++)
			bad += dt_fault(&good) != 5;
		r = dt_fault(NULL);
		for (long i = 0; i < a; i++)
			bad += dt_fault(&good) != 5;
		printf("fault_calls=%ld fault_result=%ld fault_offset=%ld bad=%ld\n", 2 * a + 1, r,
		       faulted_at - (long)dt_fault, bad);
		bad += r != 77;
	} else if (!strcmp(mode, "trap")) {
		/* the test sends SIGTRAP now and then: they must all arrive here */
		sa.sa_handler = on_trap;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGTRAP, &sa, NULL);
		for (long i = 0; i < a; i++)
			bad += dt_push(i) != i + 1;
		printf("trap_calls=%ld traps=%d bad=%ld\n", a, (int)traps, bad);
	} else {
		fprintf(stderr, "api_detour: unknown mode '%s'\n", mode);
		return 2;
	}
	return bad ? 1 : 0;
}
