// SPDX-License-Identifier: LGPL-2.1-or-later
/* Installs a seccomp filter that kills on mmap, then calls a function in a loop: probes must be refused, never kill it. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline, used)) long sec_work(long x)
{
	__asm__ volatile("");
	return x * 3;
}

/* usage: api_seccomp MS: runs about MS milliseconds after printing "ready" */
int main(int argc, char **argv)
{
	/* the program makes no mmap once this is installed: only an injected one would die */
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = filter };
	long ms = argc > 1 ? atol(argv[1]) : 1000, sum = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
		printf("seccomp unavailable\n");
		return 77;
	}
	printf("ready pid=%d\n", (int)getpid());
	for (long i = 0; i < ms; i++) {
		sum += sec_work(i);
		usleep(1000);
	}
	printf("sum=%ld\n", sum);
	return 0;
}
