// SPDX-License-Identifier: LGPL-2.1-or-later
/* USDT points for uprobe-trace's usdt: probes: cli:step (int, its negation, string), cli:done. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

static const char *const words[] = { "alpha", "beta", "gamma" };
/* volatile: cli:done reads its second argument from memory, g_steps(%rip) */
volatile int g_steps;

/* usage: cliusdt N: N steps, then done; says how many steps it took */
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;

	for (int i = 0; i < n; i++) {
		const char *w = words[i % 3];

		DTRACE_PROBE3(cli, step, i, -i, w);
		g_steps++;
	}
	DTRACE_PROBE2(cli, done, n, g_steps);
	printf("cliusdt: %d steps\n", n);
	return 0;
}
