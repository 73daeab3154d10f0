// SPDX-License-Identifier: LGPL-2.1-or-later
/* Installs a seccomp filter that forbids mmap (or allows all), then calls a function in a hot loop on a signal: probes must work without harming it. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC 1
#endif

#define MAX_THREADS 16

__attribute__((noinline, used)) long sec_work(long x)
{
	__asm__ volatile("");
	return x * 3;
}

static long iters;
static long calls[MAX_THREADS], sums[MAX_THREADS];
static pthread_barrier_t go;

static void *worker(void *arg)
{
	long idx = (long)arg, sum = 0;

	pthread_barrier_wait(&go);
	for (long i = 0; i < iters; i++) {
		sum += sec_work(i);
		calls[idx]++;
	}
	sums[idx] = sum;
	return NULL;
}

/*
 * usage: api_seccomp MODE ITERS [THREADS]
 *   MODE errno: mmap fails with EPERM; kill: mmap kills the process;
 *        allow: a filter that allows everything.
 * Threads are created first, the filter installed on all of them (TSYNC);
 * "ready pid=N" is printed; each thread calls sec_work() ITERS times once
 * the main thread gets SIGUSR1; then "calls=C sum=S" and exit 0. After the
 * filter the program never maps memory (unbuffered stdout, no malloc).
 */
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "errno";
	int nt = argc > 3 ? atoi(argv[3]) : 1, sig;
	uint32_t action;
	pthread_t th[MAX_THREADS];
	long total = 0, sum = 0;
	sigset_t set;

	if (!strcmp(mode, "errno"))
		action = SECCOMP_RET_ERRNO | EPERM;
	else if (!strcmp(mode, "kill"))
		action = SECCOMP_RET_KILL_PROCESS;
	else if (!strcmp(mode, "allow"))
		action = SECCOMP_RET_ALLOW;
	else
		return 2;
	iters = argc > 2 ? atol(argv[2]) : 1000;
	if (nt < 1 || nt > MAX_THREADS)
		return 2;
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	setvbuf(stdout, NULL, _IONBF, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_barrier_init(&go, NULL, nt);
	for (long i = 1; i < nt; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 2;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog)) {
		printf("seccomp unavailable\n");
		return 77;
	}
	if (action == (SECCOMP_RET_ERRNO | EPERM))
		printf("mmap_denied=%d\n", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
						-1, 0) == MAP_FAILED && errno == EPERM);
	printf("ready pid=%d\n", (int)getpid());
	while (sigwait(&set, &sig))
		;
	worker((void *)0);
	for (int i = 1; i < nt; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < nt; i++) {
		total += calls[i];
		sum += sums[i];
	}
	printf("calls=%ld sum=%ld\n", total, sum);
	return 0;
}
