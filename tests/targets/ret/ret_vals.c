// SPDX-License-Identifier: LGPL-2.1-or-later
/* Return-probe target: known return values and arguments, durations, call chains, fork, exec. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/*
 * Usage: ret_vals MODE [N]
 *   vals   known integer/double return values, 3- and 6-argument calls,
 *          rv_rec recursion, a 10 ms sleeper and an empty function
 *   bt     bt_outer -> bt_mid -> bt_inner, three times
 *   deep N rv_deep(N) five times (for detach/remove in the middle)
 *   fork   rv_forker() forks while pending: parent and child both return from it
 *   vfork  rv_vforker() vforks while pending; the child _exits at once
 *   exec   rv_execer() execs this program in "vals" mode while pending
 *   ctx    rv_escape() leaves by setcontext() (no longjmp, no unwinder), then
 *          rv_after() is called from another call site at the same stack depth
 */
#define PROBED __attribute__((noipa, used))

static volatile long sink;

PROBED int32_t rv_neg(void)
{
	return -5;
}

PROBED uint64_t rv_u64(void)
{
	return 0x123456789abcdef0ULL;
}

PROBED double rv_double(double x)
{
	return x * 1.5 + 0.25;
}

/* Overwrites the argument registers so a return handler cannot read them from there. */
PROBED long rv_clobber(long a, long b, long c, long d, long e, long f)
{
	sink = a ^ b ^ c ^ d ^ e ^ f;
	return sink;
}

PROBED long rv_args3(long a, long b, long c)
{
	rv_clobber(~a, ~b, ~c, 0, 0, 0);
	return a * 10000 + b * 100 + c;
}

PROBED long rv_args6(long a, long b, long c, long d, long e, long f)
{
	rv_clobber(f, e, d, c, b, a);
	return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f;
}

/* n + (n-1) + ... + 1: n + 1 calls. */
PROBED long rv_rec(long n)
{
	long r;

	if (n <= 0)
		return 0;
	r = rv_rec(n - 1);
	sink = r;
	return r + n;
}

PROBED void rv_sleep10(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	while (nanosleep(&ts, &ts))
		;
}

PROBED void rv_fast(void)
{
	sink = 1;
}

PROBED int bt_inner(int v)
{
	sink = v;
	return v + 1;
}

PROBED int bt_mid(int v)
{
	int r = bt_inner(v + 1);

	sink = r;
	return r + 1;
}

PROBED int bt_outer(int v)
{
	int r = bt_mid(v + 1);

	sink = r;
	return r + 1;
}

PROBED long rv_deep(long n)
{
	long r;

	if (n <= 1)
		return 1;
	r = rv_deep(n - 1);
	sink = r;
	return r + n;
}

PROBED int rv_forker(int v)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		return v + 1000; /* the child returns from rv_forker too */
	int st = 0;

	waitpid(pid, &st, 0);
	printf("child_status=%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return v + 2000;
}

PROBED int rv_vforker(int v)
{
	pid_t pid = vfork();
	int st = 0;

	if (pid == 0)
		_exit(7);
	if (pid < 0)
		return -1;
	waitpid(pid, &st, 0);
	return v + (WIFEXITED(st) ? WEXITSTATUS(st) : 100);
}

PROBED int rv_execer(const char *self)
{
	fflush(stdout);
	execl(self, self, "vals", (char *)NULL);
	return -1;
}

static ucontext_t esc_ctx;
static volatile int esc_phase, after_calls;

PROBED int rv_escape(int v)
{
	sink = v;
	setcontext(&esc_ctx); /* back into main, skipping this frame */
	return -1;
}

PROBED int rv_after(int v)
{
	after_calls++;
	return v * 2;
}

/* Kept out of main so nothing else is on its frame: both calls use one rsp. */
__attribute__((noipa)) static int ctx_escape(void)
{
	int r;

	esc_phase = 0;
	getcontext(&esc_ctx);
	if (esc_phase == 0) {
		esc_phase = 1;
		rv_escape(1);
	}
	r = rv_after(21);
	return r;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "vals";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "vals")) {
		printf("rv_neg=%d\n", rv_neg());
		printf("rv_u64=%#llx\n", (unsigned long long)rv_u64());
		printf("rv_double=%.4f\n", rv_double(2.0));
		printf("rv_double=%.4f\n", rv_double(-4.0));
		printf("rv_args3=%ld\n", rv_args3(1, 2, 3));
		printf("rv_args3=%ld\n", rv_args3(-7, 40, 99));
		printf("rv_args6=%ld\n", rv_args6(1, 2, 3, 4, 5, 6));
		for (long n = 10; n <= 12; n++)
			printf("rv_rec=%ld\n", rv_rec(n));
		rv_sleep10();
		rv_fast();
		printf("done\n");
	} else if (!strcmp(mode, "bt")) {
		int s = 0;

		for (int i = 0; i < 3; i++)
			s += bt_outer(i);
		printf("bt_sum=%d\n", s);
	} else if (!strcmp(mode, "deep")) {
		long n = argc > 2 ? atol(argv[2]) : 100;

		for (int i = 0; i < 5; i++)
			printf("deep=%ld\n", rv_deep(n));
		rv_fast();
		printf("done\n");
	} else if (!strcmp(mode, "fork")) {
		int r = rv_forker(1);

		if (r == 1001) {
			printf("child_ret=%d\n", r);
			fflush(stdout);
			_exit(0);
		}
		printf("parent_ret=%d\n", r);
	} else if (!strcmp(mode, "vfork")) {
		printf("rv_vforker=%d\n", rv_vforker(1));
	} else if (!strcmp(mode, "exec")) {
		printf("exec\n");
		return rv_execer("/proc/self/exe") == -1 ? 3 : 4;
	} else if (!strcmp(mode, "ctx")) {
		int r = ctx_escape();

		printf("rv_after=%d calls=%d\n", r, after_calls);
	} else {
		return 2;
	}
	return 0;
}
