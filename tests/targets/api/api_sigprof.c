// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee calling a probed function in a loop and from a high-rate ITIMER_PROF handler. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define PROBED __attribute__((noipa, used))

static volatile sig_atomic_t prof_signals, sig_calls, sig_bad;

PROBED long prof_work(long i)
{
	volatile long acc = 0;

	for (int k = 0; k < 20000; k++)
		acc += k;
	return i * 3 + acc;
}

static void on_prof(int sig)
{
	prof_signals++;
	/* The probed function from inside a handler too, interrupting the loop's own call. */
	if (prof_work(-1) != -3 + 199990000)
		sig_bad++;
	sig_calls++;
}

/* usage: api_sigprof CALLS */
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000, bad = 0;
	struct itimerval it = { { 0, 100 }, { 0, 100 } };
	struct sigaction sa;
	struct timespec t0, t1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prof;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGPROF, &sa, NULL);
	setitimer(ITIMER_PROF, &it, NULL);

	for (long i = 0; i < n; i++)
		if (prof_work(i) != i * 3 + 199990000)
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
	printf("loop_calls=%ld sig_calls=%d prof_signals=%d bad=%ld sig_bad=%d\n", n, (int)sig_calls,
	       (int)prof_signals, bad, (int)sig_bad);
	return bad || sig_bad ? 1 : 0;
}
