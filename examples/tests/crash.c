// SPDX-License-Identifier: LGPL-2.1-or-later
/* Test helper: ends as its argument says, so tests see uprobe-trace pass the status on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int early_usr1_seen(void); /* its library's constructor (CRASH_EARLY) */

/*
 * usage: crash segv|abort|ill|early|N
 * (CRASH_EARLY in the environment makes its library end or signal itself
 * before the entry point: tests/targets/api/api_early_ctor.c.)
 * segv: a real invalid memory access (SIGSEGV); abort: SIGABRT; ill: ud2
 * (SIGILL); early: prints how many SIGUSR1 its library constructor's handler took; N: exit(N). Faults come from the program's own instructions, not
 * from kill(), so the tracer has to pass on a genuine fault signal.
 */
__attribute__((noinline)) static void segv(void)
{
	*(volatile int *)8 = 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: crash segv|abort|ill|N\n");
		return 2;
	}
	if (!strcmp(argv[1], "segv"))
		segv();
	else if (!strcmp(argv[1], "abort"))
		abort();
	else if (!strcmp(argv[1], "ill"))
		__asm__ volatile("ud2");
	else if (!strcmp(argv[1], "early"))
		printf("usr1=%d\n", early_usr1_seen());
	return atoi(argv[1]);
}
