// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee whose parent and forked children call a probed function; children check results. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

PROBED long fwork(long i)
{
	return i * 11 + 5;
}

static long run_calls(long n, long *bad)
{
	long sum = 0;

	for (long i = 0; i < n; i++) {
		long r = fwork(i);

		if (r != i * 11 + 5)
			(*bad)++;
		sum += r;
	}
	return sum;
}

/* usage: api_fork CHILDREN PARENT_CALLS_PER_ROUND CHILD_CALLS */
int main(int argc, char **argv)
{
	int nchild = argc > 1 ? atoi(argv[1]) : 3;
	long n = argc > 2 ? atol(argv[2]) : 100, m = argc > 3 ? atol(argv[3]) : 100;
	long parent_calls = 0, bad = 0;
	pid_t kids[32];

	if (nchild < 0 || nchild > 32)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("parent pid=%d\n", (int)getpid());
	for (int c = 0; c < nchild; c++) {
		run_calls(n, &bad);
		parent_calls += n;
		kids[c] = fork();
		if (kids[c] < 0)
			return 2;
		if (kids[c] == 0) {
			long cbad = 0, sum = run_calls(m, &cbad);

			printf("child=%d pid=%d calls=%ld sum=%ld bad=%ld\n", c, (int)getpid(), m, sum,
			       cbad);
			_exit(cbad ? 1 : 0);
		}
	}
	run_calls(n, &bad);
	parent_calls += n;
	int children_ok = 0;
	for (int c = 0; c < nchild; c++) {
		int st;

		if (waitpid(kids[c], &st, 0) != kids[c])
			return 2;
		printf("child=%d status=%#x\n", c, st);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			children_ok++;
	}
	printf("parent_calls=%ld bad=%ld children=%d children_ok=%d\n", parent_calls, bad, nchild,
	       children_ok);
	return bad ? 1 : 0;
}
