// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee that ends as asked (exit N, SIGSEGV, abort) after one call of a probed function. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBED __attribute__((noipa, used))

PROBED int before_end(int how)
{
	return how * 2;
}

/* usage: api_exit exit N | segv | abort */
int main(int argc, char **argv)
{
	volatile int *volatile nowhere = NULL;

	if (argc < 2)
		return 2;
	printf("before_end=%d\n", before_end(argc));
	fflush(stdout);
	if (!strcmp(argv[1], "exit") && argc > 2)
		exit(atoi(argv[2]));
	if (!strcmp(argv[1], "segv")) {
		/* Default disposition, so the fault kills the process. */
		signal(SIGSEGV, SIG_DFL);
		*nowhere = 1;
	}
	if (!strcmp(argv[1], "abort"))
		abort();
	return 3;
}
