// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee of uprobe-funclatency's tests: known numbers of calls, known durations. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: lattarget run STATUS | wait FILE [FILE2] STATUS | dlopen STATUS
 *
 * run: work_fast() 100 times (returns at once), work_sleep() 10 times
 *   (sleeps 2 ms), work_mid() 5 times, worker() 7 times and other() 3
 *   times; then exits with STATUS. worker() matches work* but not work_*;
 *   work_never() is never called.
 * wait: first waits (at most 60 s) until FILE exists, so that a tracer can
 *   attach to a process that runs; then as run. With FILE2, it then waits
 *   for FILE2 and makes the calls of run a second time.
 * dlopen: loads libm.so.6 (which it does not link) and calls its cbrt() 12
 *   times and hypot() 4 times.
 * The functions are global and never inlined so that lattarget:NAME names them.
 */

volatile unsigned long sink;

static void sleep_ns(long ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

__attribute__((noinline)) int work_fast(int i)
{
	sink += (unsigned long)i;
	return i;
}

__attribute__((noinline)) void work_sleep(void)
{
	sleep_ns(2000000);
}

__attribute__((noinline)) void work_mid(void)
{
	sleep_ns(100000);
}

/* matches work_* but is never called: a wildcard's output leaves it out */
__attribute__((noinline)) void work_never(void)
{
	sink = 0;
}

__attribute__((noinline)) void worker(void)
{
	sink++;
}

__attribute__((noinline)) void other(void)
{
	sink--;
}

static void run(void)
{
	for (int i = 0; i < 100; i++)
		work_fast(i);
	for (int i = 0; i < 10; i++)
		work_sleep();
	for (int i = 0; i < 5; i++)
		work_mid();
	for (int i = 0; i < 7; i++)
		worker();
	for (int i = 0; i < 3; i++)
		other();
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "run")) {
		run();
		return atoi(argv[2]);
	}
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "wait")) {
		for (int f = 2; f < argc - 1; f++) {
			for (int i = 0; i < 6000 && access(argv[f], F_OK); i++)
				sleep_ns(10000000);
			run();
		}
		return atoi(argv[argc - 1]);
	}
	if (argc == 3 && !strcmp(argv[1], "dlopen")) {
		void *m = dlopen("libm.so.6", RTLD_NOW);
		double (*cbrt_fn)(double), (*hypot_fn)(double, double);

		if (!m || !(cbrt_fn = (double (*)(double))dlsym(m, "cbrt")) ||
		    !(hypot_fn = (double (*)(double, double))dlsym(m, "hypot"))) {
			fprintf(stderr, "lattarget: %s\n", dlerror());
			return 2;
		}
		for (int i = 0; i < 12; i++)
			sink += (unsigned long)cbrt_fn(i * 27.0);
		for (int i = 0; i < 4; i++)
			sink += (unsigned long)hypot_fn(3.0, 4.0 * i);
		return atoi(argv[2]);
	}
	if (argc == 99)
		work_never();
	fprintf(stderr, "usage: lattarget run STATUS | wait FILE [FILE2] STATUS | dlopen STATUS\n");
	return 2;
}
