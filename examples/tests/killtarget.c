// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A hot 4-thread program for lifeline-test.sh (its tracer is killed with
 * SIGKILL while it runs): each thread calls kt_outer() -> kt_work() for
 * SECONDS seconds and checks every result, so an instruction run wrong
 * (resumed mid-instruction, a return to a wrong address) shows as a crash
 * or "total bad". At its end it also says whether the code of both
 * functions is the file's ("code ok"): once the tracer is gone, no int3
 * or jump of its may stay.  usage: killtarget SECONDS [signals]
 * signals: a SIGALRM handler whose sa_mask blocks every signal (SIGTRAP
 * with it, as sigfillset() does), every 2 ms, calls kt_outer() too: a
 * handler entered after the tracer's death must still survive our int3s.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 4

static double seconds;
static long calls[NTHREADS], bad[NTHREADS];

__attribute__((noinline)) unsigned long kt_work(unsigned long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

/* one frame more: a return probe's call inside a traced caller */
__attribute__((noinline)) unsigned long kt_outer(unsigned long x)
{
	unsigned long r = kt_work(x) ^ 0x5a;

	__asm__ volatile("" ::: "memory");
	return r;
}

static volatile sig_atomic_t sig_calls, sig_bad;

static void on_alarm(int sig)
{
	unsigned long j = 0x7000 + (unsigned long)sig_calls;

	(void)sig;
	if (kt_outer(j) != ((j * 3 + 1) ^ 0x5a))
		sig_bad = sig_bad + 1;
	sig_calls = sig_calls + 1;
}

static int start_signals(void)
{
	struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		return -1;
	return setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_signals(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_REAL, &off, NULL);
}

static unsigned char code0[2][16];

/* the file's bytes at `fn` (where /proc/self/maps says it comes from) */
static int file_bytes(const void *fn, unsigned char out[16])
{
	unsigned long lo, hi, off, at = (unsigned long)fn;
	char line[512];
	FILE *m = fopen("/proc/self/maps", "r");
	int fd, ok = -1;

	if (!m)
		return -1;
	while (fgets(line, sizeof(line), m)) {
		if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) != 3 || at < lo || at >= hi)
			continue;
		fd = open("/proc/self/exe", O_RDONLY);
		if (fd >= 0 && pread(fd, out, 16, (off_t)(at - lo + off)) == 16)
			ok = 0;
		if (fd >= 0)
			close(fd);
		break;
	}
	fclose(m);
	return ok;
}

static void code_now(unsigned char out[2][16])
{
	memcpy(out[0], (const void *)kt_work, 16);
	memcpy(out[1], (const void *)kt_outer, 16);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	long i = (long)arg;
	double end = now() + seconds;
	unsigned long j = (unsigned long)i << 40;

	while (now() < end) {
		for (int n = 0; n < 64; n++, j++) {
			if (kt_outer(j) != ((j * 3 + 1) ^ 0x5a))
				bad[i]++;
			calls[i]++;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];
	long total = 0, nbad = 0;

	unsigned char code[2][16];
	int same = 0, sigs = argc > 2 && !strcmp(argv[2], "signals");

	if (file_bytes((const void *)kt_work, code0[0]) || file_bytes((const void *)kt_outer, code0[1]))
		return 2;
	seconds = argc > 1 ? atof(argv[1]) : 2.0;
	if (sigs && start_signals())
		return 2;
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 2;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += calls[i];
		nbad += bad[i];
	}
	if (sigs) {
		stop_signals();
		if (!sig_calls || sig_bad)
			fprintf(stderr, "killtarget: %ld signals, %ld bad\n", (long)sig_calls,
				(long)sig_bad);
		nbad += sig_bad + !sig_calls;
	}
	printf("total %s\n", total > 0 && !nbad ? "ok" : "bad");
	/* a tracer that died just now: what puts the code back gets a moment */
	for (int i = 0; i < 300 && !same; i++) {
		code_now(code);
		same = !memcmp(code, code0, sizeof(code));
		if (!same)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	printf("code %s\n", same ? "ok" : "changed");
	for (int f = 0; !same && f < 2; f++)
		for (int b = 0; b < 16; b++)
			if (code[f][b] != code0[f][b])
				fprintf(stderr, "killtarget: %s+%d: %#x, file %#x\n",
					f ? "kt_outer" : "kt_work", b, code[f][b], code0[f][b]);
	fprintf(stderr, "killtarget: %ld calls, %ld bad\n", total, nbad);
	return nbad ? 1 : 0;
}
