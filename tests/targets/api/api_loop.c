// SPDX-License-Identifier: LGPL-2.1-or-later
/* Long-running tracee for attach/detach: T threads call tick() until SIGUSR1 or MAX_MS. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

static volatile sig_atomic_t finish;
static long max_ms, pause_us;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long total_ticks, total_bad;

PROBED long tick(long idx, long i)
{
	return (i ^ 0x5a5a) + idx * 7;
}

/*
 * sys_tick(idx, i) = idx + i, through a getppid system call whose syscall
 * instruction is at +5 (the probe point: rdi and rsi survive the syscall):
 *   +0 mov $110,%eax (b8 6e 00 00 00)  +5 syscall (0f 05)
 *   +7 lea (%rsi,%rdi,1),%rax (48 8d 04 3e)  +11 ret (c3)
 */
long sys_tick(long idx, long i);
__asm__(".text\n"
	".globl sys_tick\n"
	".type sys_tick, @function\n"
	"sys_tick:\n"
	"	mov $110, %eax\n"
	"	syscall\n"
	"	lea (%rsi,%rdi,1), %rax\n"
	"	ret\n"
	".size sys_tick, .-sys_tick\n");

static int use_sys_tick;

static void on_usr1(int sig)
{
	finish = 1;
}

/* No SIGTRAP is expected: report where one came from (async-signal-safe) and exit 105. */
static void on_trap(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	char msg[] = "unexpected SIGTRAP code=0x................ rip=0x................ "
		     "eflags=0x................\n";
	unsigned long vals[3] = { (unsigned long)si->si_code,
				  (unsigned long)uc->uc_mcontext.gregs[REG_RIP],
				  (unsigned long)uc->uc_mcontext.gregs[REG_EFL] };
	char *p = msg;

	for (int v = 0; v < 3; v++) {
		p = strstr(p, "0x") + 2;
		for (int k = 15; k >= 0; k--)
			*p++ = "0123456789abcdef"[(vals[v] >> (4 * (15 - k))) & 15];
	}
	/* digits were written least significant first: reverse each field */
	p = msg;
	for (int v = 0; v < 3; v++) {
		char *f = strstr(p, "0x") + 2;

		for (int a = 0, b = 15; a < b; a++, b--) {
			char c = f[a];

			f[a] = f[b];
			f[b] = c;
		}
		p = f + 16;
	}
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(106);
	_exit(105);
}

/*
 * The program's own SIGTRAP state (trap-ign: ignored; trap-blk: blocked in
 * every thread), checked in each thread at its end: "trap_state_bad" counts
 * threads where a tracer left it changed.
 */
static int trap_mode; /* 0 handler, 1 ignored, 2 blocked */
static long trap_state_bad;

static void check_trap_state(void)
{
	struct sigaction cur;
	sigset_t mask;
	bool ok = true;

	if (sigaction(SIGTRAP, NULL, &cur) || pthread_sigmask(SIG_BLOCK, NULL, &mask))
		ok = false;
	else if (trap_mode == 1)
		ok = cur.sa_handler == SIG_IGN;
	else if (trap_mode == 2)
		ok = sigismember(&mask, SIGTRAP) == 1 && cur.sa_sigaction == on_trap;
	else
		ok = cur.sa_sigaction == on_trap && sigismember(&mask, SIGTRAP) == 0;
	if (!ok) {
		pthread_mutex_lock(&lock);
		trap_state_bad++;
		pthread_mutex_unlock(&lock);
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void *worker(void *arg)
{
	long idx = (long)arg, i = 0, bad = 0;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!finish && ((i & 255) || ms_since(&t0) < max_ms)) {
		if (tick(idx, i) != ((i ^ 0x5a5a) + idx * 7))
			bad++;
		if (use_sys_tick && sys_tick(idx, i) != idx + i)
			bad++;
		i++;
		if (pause_us)
			usleep(pause_us);
	}
	check_trap_state();
	pthread_mutex_lock(&lock);
	total_ticks += i;
	total_bad += bad;
	printf("thread=%ld ticks=%ld bad=%ld\n", idx, i, bad);
	pthread_mutex_unlock(&lock);
	return NULL;
}

/*
 * usage: api_loop THREADS MAX_MS PAUSE_US [sys] [trap-ign|trap-blk]; prints
 * "ready" once running. With "sys" each iteration also calls sys_tick().
 * With trap-ign or trap-blk the program raises SIGTRAP itself at its end: it
 * must be ignored, or stay pending.
 */
int main(int argc, char **argv)
{
	int nt = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t th[64];
	struct sigaction sa;

	max_ms = argc > 2 ? atol(argv[2]) : 5000;
	pause_us = argc > 3 ? atol(argv[3]) : 0;
	for (int a = 4; a < argc; a++) {
		if (!strcmp(argv[a], "sys"))
			use_sys_tick = 1;
		else if (!strcmp(argv[a], "trap-ign"))
			trap_mode = 1;
		else if (!strcmp(argv[a], "trap-blk"))
			trap_mode = 2;
		else
			return 2;
	}
	if (nt < 1 || nt > 64)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTRAP, &sa, NULL);
	if (trap_mode == 1) {
		signal(SIGTRAP, SIG_IGN);
	} else if (trap_mode == 2) {
		sigset_t trap;

		sigemptyset(&trap);
		sigaddset(&trap, SIGTRAP);
		pthread_sigmask(SIG_BLOCK, &trap, NULL); /* inherited by every thread */
	}
	for (long i = 1; i < nt; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 2;
	printf("ready pid=%d\n", (int)getpid());
	worker((void *)0);
	for (int i = 1; i < nt; i++)
		pthread_join(th[i], NULL);
	if (trap_mode)
		raise(SIGTRAP); /* ignored, or pending for good: the program goes on */
	printf("total_ticks=%ld bad=%ld finished_by_signal=%d trap_state_bad=%ld\n", total_ticks,
	       total_bad, (int)finish, trap_state_bad);
	return total_bad ? 1 : 0;
}
