// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee with its own int3 (caught by a SIGTRAP handler) and SIGUSR1/SIGTERM/SIGCONT handlers. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

static volatile sig_atomic_t traps, usr1, term, cont;

/* The program's own breakpoint: +0 int3 (cc), +1 ret (c3). */
void own_trap(void);
__asm__(".text\n"
	".globl own_trap\n"
	".type own_trap, @function\n"
	"own_trap:\n"
	"	int3\n"
	"	ret\n"
	".size own_trap, .-own_trap\n");

PROBED int work(int i)
{
	return i * 7 + 3;
}

static void on_trap(int sig)
{
	traps++;
}

static void on_usr1(int sig)
{
	usr1++;
}

static void on_term(int sig)
{
	term++;
}

static void on_cont(int sig)
{
	cont++;
}

/* usage: api_signals N_WORK N_TRAPS [WAIT_TERM_MS] */
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	int m = argc > 2 ? atoi(argv[2]) : 10;
	int wait_term_ms = argc > 3 ? atoi(argv[3]) : 0;
	int traps_expected = 0, usr1_expected = 0, bad = 0;
	long sum = 0;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_trap;
	sigaction(SIGTRAP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_cont;
	sigaction(SIGCONT, &sa, NULL);

	printf("pid=%d\n", (int)getpid());
	for (int i = 0; i < n; i++) {
		int r = work(i);

		if (r != i * 7 + 3)
			bad++;
		sum += r;
		if (traps_expected < m && i % (n / m > 0 ? n / m : 1) == 0) {
			own_trap();
			traps_expected++;
			if (traps != traps_expected)
				bad++;
		}
		if (i % 50 == 0) {
			raise(SIGUSR1);
			usr1_expected++;
			if (usr1 != usr1_expected)
				bad++;
		}
	}
	/* Give a SIGTERM sent by the test while tracing time to arrive. */
	for (int w = 0; w < wait_term_ms && !term; w++)
		usleep(1000);
	printf("work_calls=%d sum=%ld\n", n, sum);
	printf("traps=%d traps_expected=%d\n", (int)traps, traps_expected);
	printf("usr1=%d usr1_expected=%d\n", (int)usr1, usr1_expected);
	printf("term=%d\n", (int)term);
	printf("cont=%d\n", (int)cont);
	printf("bad=%d\n", bad);
	return bad ? 1 : 0;
}
