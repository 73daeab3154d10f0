// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * USDT points built with the real <sys/sdt.h> at -O2: arguments in registers
 * of every width, in memory and constant, negative ones, a point inlined at
 * two sites, one in a shared library, and one guarded by a semaphore.
 *   api_usdt args N   N rounds of every point; prints how many each fired
 *   api_usdt sem      loops until SIGUSR2, counting its _ENABLED() checks that
 *                     were true per phase (SIGUSR1 starts the next phase)
 *   api_usdt dlopen LIB N  loads LIB (a copy of libapi_usdt) twice, N of its guarded
 *                     checks each time; prints how many were true and its semaphore
 *   api_usdt exec N   execs itself as `api_usdt args N`
 *   api_usdt fork N   forks; the child, then the parent, make N guarded checks and
 *                     print how many were true and the semaphore
 * The expected values of every argument derive from the round i, the first
 * argument of each point, so that a tracer can check them.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

long usdt_lib_work(int x);
int usdt_lib_guarded(long *count);
unsigned usdt_lib_semaphore(void);
/* api_usdt_guard.c */
int guarded_step(long *count);
unsigned guarded_semaphore(void);

long g_arr[8] = { 11, -22, 33, -44, 55, -66, 77, -88 };
int g_int = -123456;
static short g_short = -321;
/* stored after a point: the bytes a jump detour covers, so that no-stop hits need no stop */
volatile long g_sink;

/* Each cast puts the value in a register of its own width (%al, %r9w, %esi...). */
__attribute__((noinline)) void point_regs(long i)
{
	signed char c = (signed char)-(i % 100);
	unsigned char uc = (unsigned char)(200 + i % 50);
	short s = (short)(-1000 - i);
	unsigned short us = (unsigned short)(60000 + i);
	int n = (int)(-100000 - i);
	unsigned un = 4000000000u + (unsigned)i;
	long l = -5000000000L - i;
	uint64_t ul = 0xfedcba9876543210ull + (uint64_t)i;

	STAP_PROBE9(tst, regs, i, c, uc, s, us, n, un, l, ul);
	g_sink = i;
}

/* Memory operands: globals (rip-relative or absolute), an indexed array, the stack. */
__attribute__((noinline)) void point_mem(long i, volatile long *stack)
{
	STAP_PROBE6(tst, mem, i, g_arr[i & 7], g_int, g_short, stack[i & 3], stack[1]);
}

__attribute__((noinline)) void point_consts(long i)
{
	STAP_PROBE4(tst, consts, i, 5, -7, 0x1234567890);
	g_sink = i;
}

/* A local array whose address escapes: its element is read off the frame. */
__attribute__((noinline)) void point_stack(long i)
{
	long loc[4];

	for (int k = 0; k < 4; k++)
		loc[k] = i * (k + 1) - 7;
	__asm__ volatile("" : : "r"(loc) : "memory");
	STAP_PROBE3(tst, stack, i, loc[2], loc[3]);
	__asm__ volatile("" : : "r"(loc) : "memory");
}

/* Inlined at two call sites: two copies of the point, each must fire. */
static inline __attribute__((always_inline)) void point_inl(long i, int where)
{
	STAP_PROBE2(tst, inl, i, where);
}

static volatile sig_atomic_t g_phase, g_done;

static void on_usr1(int sig)
{
	(void)sig;
	g_phase++;
}

static void on_usr2(int sig)
{
	(void)sig;
	g_done = 1;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int run_args(long n)
{
	volatile long stack[4];
	long guarded = 0, lib = 0, lib_guarded = 0;

	for (long i = 0; i < n; i++) {
		for (int k = 0; k < 4; k++)
			stack[k] = i * 10 + k - 20;
		point_regs(i);
		point_mem(i, stack);
		point_consts(i);
		point_inl(i, 1);
		point_stack(i);
		point_inl(i, 2);
		lib += usdt_lib_work((int)i - 3);
		guarded_step(&guarded);
		usdt_lib_guarded(&lib_guarded);
	}
	printf("rounds=%ld\nguarded=%ld\nlib=%ld\nsem=%u\nlib_guarded=%ld\nlib_sem=%u\n", n,
	       guarded, lib, guarded_semaphore(), lib_guarded, usdt_lib_semaphore());
	return 0;
}

/* Phases: 0 before the tracer attaches, 1 while attached, 2 after its detach. */
static int run_sem(void)
{
	long enabled[3] = { 0 }, iters[3] = { 0 };
	int shown = -1;

	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, on_usr2);
	/* bounded: 60 s at most whatever the test does */
	for (long k = 0; k < 60000 && !g_done; k++) {
		int ph = g_phase > 2 ? 2 : g_phase;

		if (ph != shown) {
			printf("phase=%d\n", ph);
			fflush(stdout);
			shown = ph;
		}
		iters[ph]++;
		guarded_step(&enabled[ph]);
		pause_ms(1);
	}
	printf("enabled0=%ld\nenabled1=%ld\nenabled2=%ld\niters0=%ld\niters1=%ld\niters2=%ld\n"
	       "sem=%u\ndone=%d\n", enabled[0], enabled[1], enabled[2], iters[0], iters[1], iters[2],
	       guarded_semaphore(), (int)g_done);
	return 0;
}

static int run_dlopen(const char *lib, long n)
{
	for (int r = 0; r < 2; r++) {
		void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		int (*step)(long *);
		unsigned (*sem)(void);
		long count = 0;

		if (!h) {
			printf("dlopen: %s\n", dlerror());
			return 1;
		}
		step = (int (*)(long *))dlsym(h, "usdt_lib_guarded");
		sem = (unsigned (*)(void))dlsym(h, "usdt_lib_semaphore");
		if (!step || !sem)
			return 1;
		for (long i = 0; i < n; i++)
			step(&count);
		printf("load%d=%ld\nsem%d=%u\n", r, count, r, sem());
		if (dlclose(h))
			return 1;
	}
	return 0;
}

static int run_fork(long n)
{
	long count = 0;
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	for (long i = 0; i < n; i++)
		guarded_step(&count);
	if (pid == 0) {
		printf("child_guarded=%ld\nchild_sem=%u\n", count, guarded_semaphore());
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	printf("parent_guarded=%ld\nparent_sem=%u\n", count, guarded_semaphore());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "args"))
		return run_args(atol(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "sem"))
		return run_sem();
	if (argc >= 4 && !strcmp(argv[1], "dlopen"))
		return run_dlopen(argv[2], atol(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "fork"))
		return run_fork(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "exec")) {
		char *args[] = { argv[0], "args", argv[2], NULL };

		execv("/proc/self/exe", args);
		return 127;
	}
	fprintf(stderr, "usage: api_usdt args N | sem | dlopen LIB N | exec N | fork N\n");
	return 2;
}
