// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee for the API tests: plain functions whose calls, arguments and results it prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* noipa: every call is a real call with the real arguments, and no clone replaces the symbol. */
#define PROBED __attribute__((noipa, used))

PROBED int f(int x)
{
	return x + 1;
}

PROBED long args8(long a0, long a1, long a2, long a3, long a4, long a5, long a6, long a7)
{
	return a0 + 2 * a1 + 3 * a2 + 4 * a3 + 5 * a4 + 6 * a5 + 7 * a6 + 8 * a7;
}

PROBED size_t take_str(const char *s)
{
	return strlen(s);
}

/* Strings the tests read with uprobe_hit_read_str(): long, and at the edge of a mapping. */
PROBED size_t take_str2(const char *s, size_t max)
{
	return strnlen(s, max);
}

/* A handler writes 42 into *p with uprobe_hit_write(); ro is read-only memory it must fail on. */
PROBED void poke_point(volatile long *p, const char *ro)
{
	(void)p;
	(void)ro;
}

static volatile long poked;
static const char ro_text[] = "read-only";

PROBED int compute(int x)
{
	return 3 * x + 1;
}

int skip_side;

PROBED int skip_me(void)
{
	skip_side++;
	return 7;
}

__attribute__((used)) long asm_counter;
long asm_func(long x);

/*
 * Hand-written so its instruction boundaries are known by construction:
 *   +0 push %rbp (55)  +1 mov %rsp,%rbp (48 89 e5)  +4 incq asm_counter(%rip) (48 ff 05 rel32)
 *   +11 lea 1(%rdi),%rax (48 8d 47 01)  +15 pop %rbp (5d)  +16 ret (c3)
 * It returns x + 1 and counts its calls through a rip-relative operand.
 */
__asm__(".text\n"
	".globl asm_func\n"
	".type asm_func, @function\n"
	"asm_func:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	incq asm_counter(%rip)\n"
	"	lea 1(%rdi), %rax\n"
	"	pop %rbp\n"
	"	ret\n"
	".size asm_func, .-asm_func\n");

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	long fsum = 0, asum = 0;
	pid_t pid = getpid();

	printf("pid=%d\n", (int)pid);
	printf("addr_f=%p addr_args8=%p addr_take_str=%p addr_asm_func=%p\n", (void *)f,
	       (void *)args8, (void *)take_str, (void *)asm_func);

	for (int i = 0; i < n; i++)
		fsum += f(i);
	printf("f_calls=%d f_sum=%ld\n", n, fsum);

	for (int i = 0; i < 4; i++) {
		long a[8];

		/* Values derived from the pid, with negative and wide ones among them. */
		for (int k = 0; k < 8; k++)
			a[k] = (long)pid * 100 + i * 10 + k;
		a[3] = -a[3];
		a[5] = a[5] << 24;
		a[7] = -(a[7] << 20);
		long r = args8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
		printf("args8 i=%d a0=%ld a1=%ld a2=%ld a3=%ld a4=%ld a5=%ld a6=%ld a7=%ld r=%ld\n", i,
		       a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], r);
	}

	for (int i = 0; i < 3; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "str-%d-%d-uprobe", (int)pid, i);
		size_t len = take_str(buf);
		printf("str=%s len=%zu\n", buf, len);
	}

	{
		char longs[301];
		long pg = sysconf(_SC_PAGESIZE);
		char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);

		for (int i = 0; i < 300; i++)
			longs[i] = (char)('a' + i % 26);
		longs[300] = 0;
		printf("str2_long_len=%zu\n", take_str2(longs, sizeof(longs)));
		if (two != MAP_FAILED && munmap(two + pg, pg) == 0) {
			/* "edge" ends right before the unmapped page; then 16 bytes the page cuts */
			memcpy(two + pg - 5, "edge", 5);
			printf("str2_edge_len=%zu\n", take_str2(two + pg - 5, 5));
			memset(two + pg - 16, 'z', 16);
			take_str2(two + pg - 16, 16);
		}
		poke_point(&poked, ro_text);
		printf("poked=%ld ro=%s\n", poked, ro_text);
	}

	for (int x = 1; x <= 5; x++)
		printf("compute x=%d r=%d\n", x, compute(x));

	for (int i = 0; i < 3; i++)
		printf("skip_me=%d\n", skip_me());
	printf("skip_side=%d\n", skip_side);

	for (int i = 0; i < n; i++)
		asum += asm_func(i);
	printf("asm_calls=%d asm_sum=%ld asm_counter=%ld\n", n, asum, asm_counter);
	printf("done=1\n");
	return 0;
}
