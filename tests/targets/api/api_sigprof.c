// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tracee calling a probed function in a loop and from a high-rate ITIMER_PROF
 * handler, which also records the pc it interrupted: every such pc must lie
 * in a file-backed mapping (the program or a library), never in a tracer's
 * anonymous scratch code.
 */
#include <signal.h>
#include <stdint.h>
#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define PROBED __attribute__((noipa, used))

static volatile sig_atomic_t prof_signals, sig_calls, sig_bad;
static int iters = 20000; /* of prof_work's inner loop */
static long sum; /* what the loop adds up to */

PROBED long prof_work(long i)
{
	volatile long acc = 0;

	for (int k = 0; k < iters; k++)
		acc += k;
	return i * 3 + acc;
}

#define MAX_PCS 65536
static uint64_t pcs[MAX_PCS];
static volatile sig_atomic_t npcs;

static void on_prof(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	if (npcs < MAX_PCS)
		pcs[npcs++] = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	prof_signals++;
	/* The probed function from inside a handler too, interrupting the loop's own call. */
	if (prof_work(-1) != -3 + sum)
		sig_bad++;
	sig_calls++;
}

/* How many recorded pcs are not inside a file-backed executable mapping. */
static long pcs_outside_files(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	struct { uint64_t lo, hi; } ok[256];
	int n = 0;
	long bad = 0;

	if (!f)
		return -1;
	while (n < 256 && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off, ino;
		char perms[8], dev[16], path[256] = "";

		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255s", &lo, &hi, perms, &off, dev, &ino,
			   path) >= 6 && perms[2] == 'x' && (path[0] == '/' || !strcmp(path, "[vdso]")))
			ok[n].lo = lo, ok[n++].hi = hi;
	}
	fclose(f);
	for (long i = 0; i < npcs; i++) {
		int j;

		for (j = 0; j < n; j++)
			if (pcs[i] >= ok[j].lo && pcs[i] < ok[j].hi)
				break;
		bad += j == n;
	}
	return bad;
}

/* usage: api_sigprof CALLS [ITERS [PERIOD_US]] */
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000, bad = 0;
	struct itimerval it = { { 0, 100 }, { 0, 100 } };
	struct sigaction sa;
	struct timespec t0, t1;

	if (argc > 2)
		iters = atoi(argv[2]);
	if (argc > 3) /* the timer's period in microseconds of CPU time */
		it.it_interval.tv_usec = it.it_value.tv_usec = atoi(argv[3]);
	sum = (long)iters * (iters - 1) / 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_prof;
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sigaction(SIGPROF, &sa, NULL);
	setitimer(ITIMER_PROF, &it, NULL);

	for (long i = 0; i < n; i++)
		if (prof_work(i) != i * 3 + sum)
			bad++;
	/* Burn CPU (without calling prof_work) until at least one SIGPROF came, for at most 5 s. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!prof_signals) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 5)
			break;
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_PROF, &it, NULL);
	printf("loop_calls=%ld sig_calls=%d prof_signals=%d bad=%ld sig_bad=%d pc_samples=%d "
	       "pc_bad=%ld\n", n, (int)sig_calls, (int)prof_signals, bad, (int)sig_bad, (int)npcs,
	       pcs_outside_files());
	return bad || sig_bad ? 1 : 0;
}
