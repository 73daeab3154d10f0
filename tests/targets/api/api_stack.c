// SPDX-License-Identifier: LGPL-2.1-or-later
/* Known call chains for backtraces (frame pointers and CFI) and symbolized stacks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

/* Calls fn(x) with rbp set to fake: a frame chain that ends in a bad frame pointer (.S). */
int st_bad(uint64_t fake, int (*fn)(int), int x);

/* The innermost function: probed at its first instruction and on return. */
__attribute__((noinline, used)) int st_leaf(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 2;
}

/*
 * Each level calls the next and uses its result after the call, so no call
 * is a tail call: every frame stays on the stack. st_f has a USDT point in
 * its middle, its frame made.
 */
__attribute__((noinline, used)) int st_f(int x)
{
	int r = st_leaf(x + 1);

	DTRACE_PROBE1(api_stack, mid, r);
	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

#define LEVEL(name, next)                                                                    \
	__attribute__((noinline, used)) int name(int x)                                      \
	{                                                                                    \
		int r = next(x + 1);                                                         \
		__asm__ volatile("" : "+r"(r));                                              \
		return r + 1;                                                                \
	}

LEVEL(st_e, st_f)
LEVEL(st_d, st_e)
LEVEL(st_c, st_d)
LEVEL(st_b, st_c)
LEVEL(st_a, st_b)

/* Never returns: a call of it can be its caller's last instruction. */
__attribute__((noinline, noreturn, used)) void st_end(int x)
{
	printf("sum=%d\n", x);
	exit(0);
}

/* Ends in a call: the return address is past its last byte. */
__attribute__((noinline, used)) void st_last(int x)
{
	st_end(x + 1);
}

/*
 * usage: api_stack chain N   main -> st_a -> ... -> st_f -> st_leaf, N times
 *        api_stack bad       st_leaf called with rbp 0, unaligned, below the
 *                            stack pointer, unreadable, and a frame that
 *                            points at itself
 *        api_stack noreturn  main -> st_last -> st_end, which exits
 */
int main(int argc, char **argv)
{
	int sum = 0;

	if (argc > 2 && !strcmp(argv[1], "chain")) {
		int n = atoi(argv[2]);

		for (int i = 0; i < n; i++)
			sum += st_a(i);
	} else if (argc > 1 && !strcmp(argv[1], "bad")) {
		/* a frame whose saved rbp is its own address, its return address st_a's */
		volatile uint64_t self[2];

		self[0] = (uint64_t)(uintptr_t)&self[0];
		self[1] = (uint64_t)(uintptr_t)st_a;
		sum += st_bad(0, st_leaf, 1);
		/* unaligned, above the stack pointer, into a frame that would look good */
		sum += st_bad((uint64_t)(uintptr_t)&self[0] + 4, st_leaf, 2);
		sum += st_bad(8, st_leaf, 3);
		/* above the stack and unmapped: past the top of the user address space */
		sum += st_bad(0x7ffffffff000ull - 64, st_leaf, 4);
		sum += st_bad((uint64_t)(uintptr_t)&self[0], st_leaf, 5);
	} else if (argc > 1 && !strcmp(argv[1], "noreturn")) {
		st_last(argc);
	} else {
		fprintf(stderr, "usage: api_stack chain N | bad | noreturn\n");
		return 2;
	}
	printf("sum=%d\n", sum);
	return 0;
}
