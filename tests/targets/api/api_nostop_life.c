// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee for the no-stop probe life-cycle tests: signals, detach, exec, fork, seccomp, threads. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))
#define MAX_PCS (1 << 16)
#define MAX_THREADS 16
/* The arguments of the second image of "exec": told apart from the first one's. */
#define EXEC_BASE 1000000

/* The probed function: entry with a frame pointer, a jump detour fits. */
PROBED long nl_f(long x, long tag)
{
	return x * 3 + tag + 1;
}

static long want_f(long x, long tag)
{
	return x * 3 + tag + 1;
}

/* The test reads the tracee here through a probe of its own (which stops). */
PROBED void nl_report(const uint64_t *p, unsigned n)
{
	__asm__ volatile("" : : "r"(p), "r"(n) : "memory");
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long total_calls, total_bad, total_argsum;
static long ncalls, max_ms;

/* pcs interrupted by SIGPROF, handed to nl_report() */
static uint64_t pcs[MAX_PCS];
static unsigned npcs;
static volatile long prof_signals;

static void on_prof(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned i = __atomic_fetch_add(&npcs, 1, __ATOMIC_RELAXED);

	(void)sig, (void)si;
	prof_signals++;
	if (i < MAX_PCS)
		pcs[i] = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Calls nl_f(i, 0) ncalls times, or until max_ms have passed; counts wrong results. */
static void *worker(void *arg)
{
	long bad = 0, n = 0, sum = 0;
	struct timespec t0;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (max_ms) {
		while (elapsed_ms(&t0) < max_ms) {
			for (int j = 0; j < 64; j++, n++) {
				bad += nl_f(n, 0) != want_f(n, 0);
				sum += n;
			}
		}
	} else {
		for (; n < ncalls; n++) {
			bad += nl_f(n, 0) != want_f(n, 0);
			sum += n;
		}
	}
	pthread_mutex_lock(&lock);
	total_calls += n;
	total_bad += bad;
	total_argsum += sum;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int run_threads(int nthreads)
{
	pthread_t th[MAX_THREADS];

	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 2;
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* ---- "tags": threads made after the ring exists, each calling nl_f(i, tag) ---- */

static long tids[MAX_THREADS];
static long tag_bad[MAX_THREADS];

static void *tag_worker(void *arg)
{
	long tag = (long)arg, bad = 0;

	tids[tag] = syscall(SYS_gettid);
	for (long i = 0; i < ncalls; i++)
		bad += nl_f(i, tag) != want_f(i, tag);
	tag_bad[tag] = bad;
	return NULL;
}

/* ---- seccomp: memfd_create fails with EPERM, everything else runs ---- */

static int forbid_memfd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Whether this process maps the hit ring (it must not after a fork nobody follows). */
static int maps_ring(void)
{
	char line[512];
	FILE *fp = fopen("/proc/self/maps", "r");
	int n = 0;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, "libuprobe-ring") != NULL;
	fclose(fp);
	return n;
}

static long calls_of(long from, long n, long tag)
{
	long bad = 0;

	for (long i = from; i < from + n; i++)
		bad += nl_f(i, tag) != want_f(i, tag);
	return bad;
}

/*
 * usage: api_nostop_life
 *   prof T N     T threads call nl_f N times under a SIGPROF timer; nl_report(pcs)
 *   spin T MS    T threads call nl_f for MS milliseconds
 *   exec K M     nl_f(i) K times, then exec itself as "calls M"
 *   calls M      nl_f(EXEC_BASE + i) M times (the second image of exec)
 *   fork A B C   nl_f A times, fork: the child B times, the parent C more
 *   seccomp N    memfd_create forbidden, then nl_f N times
 *   tags T N     nl_f once, then T threads, two at a time, each nl_f(i, tag) N times
 * Prints key=value lines; exits 0 when every result was right.
 */
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "prof";
	long a = argc > 2 ? atol(argv[2]) : 2, b = argc > 3 ? atol(argv[3]) : 1000;
	long c = argc > 4 ? atol(argv[4]) : 1000;
	long bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "prof") || !strcmp(mode, "spin")) {
		struct itimerval it = { { 0, 200 }, { 0, 200 } };
		int nthreads = a < 1 ? 1 : a > MAX_THREADS ? MAX_THREADS : (int)a;
		struct sigaction sa;
		int r;

		if (!strcmp(mode, "spin")) {
			max_ms = b;
		} else {
			ncalls = b;
			memset(&sa, 0, sizeof(sa));
			sa.sa_sigaction = on_prof;
			sa.sa_flags = SA_RESTART | SA_SIGINFO;
			sigaction(SIGPROF, &sa, NULL);
			setitimer(ITIMER_PROF, &it, NULL);
		}
		r = run_threads(nthreads);
		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_PROF, &it, NULL);
		if (r)
			return r;
		nl_report(pcs, npcs < MAX_PCS ? npcs : MAX_PCS);
		printf("threads=%d total_calls=%ld argsum=%ld bad=%ld prof_signals=%ld\n", nthreads,
		       total_calls, total_argsum, total_bad, (long)prof_signals);
		bad = total_bad;
	} else if (!strcmp(mode, "exec")) {
		char arg[32];
		char *nargv[] = { argv[0], "calls", arg, NULL };

		bad = calls_of(0, a, 0);
		printf("first calls=%ld bad=%ld\n", a, bad);
		if (bad)
			return 1;
		snprintf(arg, sizeof(arg), "%ld", b);
		execv(argv[0], nargv);
		printf("exec failed: %s\n", strerror(errno));
		return 3;
	} else if (!strcmp(mode, "calls")) {
		bad = calls_of(EXEC_BASE, a, 0);
		printf("second calls=%ld bad=%ld\n", a, bad);
	} else if (!strcmp(mode, "fork")) {
		int st = 0;
		pid_t pid;

		bad = calls_of(0, a, 0);
		pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			uint64_t now[2];
			long cbad = calls_of(0, b, 1);

			/* nl_f's first bytes as the child sees them, for the test to compare */
			memcpy(now, (const void *)nl_f, sizeof(now));
			printf("child calls=%ld child_bad=%ld child_text0=%#llx child_text1=%#llx "
			       "child_ring=%d\n", b, cbad, (unsigned long long)now[0],
			       (unsigned long long)now[1], maps_ring());
			_exit(cbad ? 1 : 0);
		}
		bad += calls_of(0, c, 2);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		printf("parent calls=%ld child_pid=%d child_status=%d bad=%ld\n", a + c, (int)pid,
		       st, bad);
		bad += st != 0;
	} else if (!strcmp(mode, "seccomp")) {
		if (forbid_memfd()) {
			printf("seccomp failed: %s\n", strerror(errno));
			return 3;
		}
		bad = calls_of(0, a, 0);
		printf("calls=%ld bad=%ld ring=%d\n", a, bad, maps_ring());
	} else if (!strcmp(mode, "notsc")) {
		/*
		 * rdtsc faults for this process from now on; the record gadget
		 * reads the TSC at every hit: the program must never see that
		 * fault (a SIGSEGV would kill it, as it has no handler).
		 */
		if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0)) {
			printf("prctl failed: %s\n", strerror(errno));
			return 3;
		}
		bad = calls_of(0, a, 0);
		printf("calls=%ld bad=%ld\n", a, bad);
	} else if (!strcmp(mode, "tags")) {
		int nthreads = a < 1 ? 1 : a > MAX_THREADS ? MAX_THREADS : (int)a;
		pthread_t th[MAX_THREADS];

		ncalls = b;
		/* the ring is made at the first hit, before any thread below exists */
		bad += nl_f(5, 100) != want_f(5, 100);
		for (long i = 0; i < nthreads; i += 2) {
			long n = nthreads - i < 2 ? nthreads - i : 2;

			for (long j = 0; j < n; j++)
				if (pthread_create(&th[i + j], NULL, tag_worker, (void *)(i + j)))
					return 2;
			for (long j = 0; j < n; j++)
				pthread_join(th[i + j], NULL);
		}
		for (int i = 0; i < nthreads; i++) {
			bad += tag_bad[i];
			printf("tid%d=%ld\n", i, tids[i]);
		}
		printf("threads=%d calls=%ld bad=%ld\n", nthreads, ncalls, bad);
	} else {
		fprintf(stderr, "api_nostop_life: unknown mode '%s'\n", mode);
		return 2;
	}
	return bad ? 1 : 0;
}
