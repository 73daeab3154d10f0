// SPDX-License-Identifier: LGPL-2.1-or-later
/* Runs under a seccomp filter that lets the scratch-area mmap through, then calls hot() when told: probes must work. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

PROBED long hot(long i)
{
	return i * 3 + 1;
}

/* The program's own image: mmap made from there is refused in mode "ipargs". */
extern char __executable_start[], etext[];

#define NR offsetof(struct seccomp_data, nr)
#define ARCH offsetof(struct seccomp_data, arch)
#define IP_LO offsetof(struct seccomp_data, instruction_pointer)
#define IP_HI (IP_LO + 4)
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define LDW(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define JEQ(v, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v), (t), (f))
#define JGE(v, t, f) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (v), (t), (f))
#define JGT(v, t, f) BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (v), (t), (f))

/* "plain": ptrace and mknod, which the program never uses for real, fail; all else runs. */
static struct sock_filter plain[] = {
	LDW(ARCH),
	JEQ(AUDIT_ARCH_X86_64, 1, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	LDW(NR),
	JEQ(SYS_ptrace, 1, 0),
	JEQ(SYS_mknod, 0, 1),
	RET(SECCOMP_RET_ERRNO | ENOTRECOVERABLE),
	RET(SECCOMP_RET_ALLOW),
};

/*
 * "ipargs": mmap of a file gets ENODEV, mmap asking for write and execute
 * together EACCES, mmap from below 4 GiB (no code of a PIE program is
 * there: only a truncated or zero instruction pointer would be) EFAULT,
 * and mmap made from the program's own image EXDEV; every other call runs.
 * The image bounds (64-bit, compared on both halves) are set at run time.
 */
static struct sock_filter ipargs[] = {
	/* 0 */ LDW(NR),
	/* 1 */ JEQ(SYS_mmap, 0, 20),
	/* 2 */ LDW(ARG_LO(3)),
	/* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_ANONYMOUS, 1, 0),
	/* 4 */ RET(SECCOMP_RET_ERRNO | ENODEV),
	/* 5 */ LDW(ARG_LO(2)),
	/* 6 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
	/* 7 */ JEQ(PROT_WRITE | PROT_EXEC, 0, 1),
	/* 8 */ RET(SECCOMP_RET_ERRNO | EACCES),
	/* 9 */ LDW(IP_HI),
	/* 10 */ JEQ(0, 0, 1),
	/* 11 */ RET(SECCOMP_RET_ERRNO | EFAULT),
	/* ip >= start: hi > start.hi, or hi == start.hi and lo >= start.lo */
	/* 12 */ JGT(0 /* start hi */, 3, 0),
	/* 13 */ JEQ(0 /* start hi */, 0, 8),
	/* 14 */ LDW(IP_LO),
	/* 15 */ JGE(0 /* start lo */, 0, 6),
	/* ip < end: hi < end.hi, or hi == end.hi and lo < end.lo */
	/* 16 */ LDW(IP_HI),
	/* 17 */ JGE(0 /* end hi */, 0, 3),
	/* 18 */ JGT(0 /* end hi */, 3, 0),
	/* 19 */ LDW(IP_LO),
	/* 20 */ JGE(0 /* end lo */, 1, 0),
	/* 21 */ RET(SECCOMP_RET_ERRNO | EXDEV),
	/* 22 */ RET(SECCOMP_RET_ALLOW),
};

/* "keep": munmap kills the process; everything else runs. */
static struct sock_filter keep[] = {
	LDW(NR),
	JEQ(SYS_munmap, 0, 1),
	RET(SECCOMP_RET_KILL_PROCESS),
	RET(SECCOMP_RET_ALLOW),
};

/* mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) from this very function's code. */
static long mmap_from_image(void)
{
	register long r10 __asm__("r10") = MAP_PRIVATE | MAP_ANONYMOUS;
	register long r8 __asm__("r8") = -1;
	register long r9 __asm__("r9") = 0;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_mmap), "D"(0L), "S"(4096L), "d"((long)PROT_READ), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static int install(struct sock_filter *f, unsigned short len)
{
	struct sock_fprog prog = { .len = len, .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* The filter does what it says: the program checks it on itself. */
static const char *self_check(const char *mode)
{
	if (!strcmp(mode, "plain")) {
		if (syscall(SYS_mknod, "/nonexistent-dir/x", S_IFIFO | 0600, 0) == 0 ||
		    errno != ENOTRECOVERABLE)
			return "mknod was not refused";
		return NULL;
	}
	if (!strcmp(mode, "ipargs")) {
		int fd = open("/proc/self/exe", O_RDONLY);
		void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

		if (fd < 0 || p != MAP_FAILED || errno != ENODEV)
			return "a file mmap was not refused";
		close(fd);
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (p != MAP_FAILED || errno != EACCES)
			return "a write+exec mmap was not refused";
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || munmap(p, 4096))
			return "an exec mmap from libc was refused";
		if (mmap_from_image() != -EXDEV)
			return "an mmap from the program's image was not refused";
		return NULL;
	}
	return NULL; /* "keep": a munmap would kill it */
}

/* Waits for sig (blocked) up to 20 s, through interruptions. */
static int wait_signal(int sig)
{
	struct timespec end, now, left;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 20;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			return -1;
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000;
		}
		if (sigtimedwait(&set, NULL, &left) == sig)
			return 0;
	}
}

/*
 * usage: api_filtered MODE CALLS [wait]
 * Installs the filter MODE, prints "ready", waits for SIGUSR1, calls hot()
 * CALLS times and prints the count; with "wait", then waits for SIGUSR2
 * before exiting.
 */
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "plain", *bad;
	long calls = argc > 2 ? atol(argv[2]) : 1000, n = 0, sum = 0;
	uint64_t start = (uintptr_t)__executable_start, end = (uintptr_t)etext;
	struct sock_filter *f;
	unsigned short len;
	sigset_t set;

	setvbuf(stdout, NULL, _IONBF, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (!strcmp(mode, "plain")) {
		f = plain, len = sizeof(plain) / sizeof(plain[0]);
	} else if (!strcmp(mode, "ipargs")) {
		ipargs[12].k = ipargs[13].k = (uint32_t)(start >> 32);
		ipargs[15].k = (uint32_t)start;
		ipargs[17].k = ipargs[18].k = (uint32_t)(end >> 32);
		ipargs[20].k = (uint32_t)end;
		f = ipargs, len = sizeof(ipargs) / sizeof(ipargs[0]);
	} else if (!strcmp(mode, "keep")) {
		f = keep, len = sizeof(keep) / sizeof(keep[0]);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	if (install(f, len)) {
		printf("seccomp unavailable\n");
		return 77;
	}
	bad = self_check(mode);
	if (bad) {
		printf("filter wrong: %s\n", bad);
		return 3;
	}
	printf("filter=ok ready pid=%d\n", (int)getpid());
	if (wait_signal(SIGUSR1)) {
		printf("never told to start\n");
		return 4;
	}
	for (long i = 0; i < calls; i++, n++)
		sum += hot(i);
	printf("calls=%ld sum=%ld\n", n, sum);
	if (argc > 3 && !strcmp(argv[3], "wait") && wait_signal(SIGUSR2)) {
		printf("never told to end\n");
		return 5;
	}
	return 0;
}
