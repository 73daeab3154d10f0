// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee for the scale tests: runs big(), every fn_i or leaf() and prints what it did. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFNS 10000

uint64_t big(uint64_t x);
uint64_t leaf(uint64_t x);
extern uint64_t (*const scale_fns[NFNS])(uint64_t);

/* Marks the points between phases, where the tests probe (noipa: a real call each time). */
__attribute__((noipa, used)) void checkpoint(int n)
{
	__asm__ volatile("" ::"r"(n) : "memory");
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 0) : 1, sum = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s big|fns|leaf [N]\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "big")) {
		/* checkpoint(i) before each call, checkpoint(n) after the last */
		for (uint64_t i = 0; i < n; i++) {
			checkpoint((int)i);
			sum += big(i);
		}
		checkpoint((int)n);
		printf("big_calls=%llu sum=%llu\n", (unsigned long long)n, (unsigned long long)sum);
	} else if (!strcmp(argv[1], "fns")) {
		for (int i = 0; i < NFNS; i++)
			sum += scale_fns[i](i);
		checkpoint(0);
		printf("fn_calls=%d sum=%llu\n", NFNS, (unsigned long long)sum);
	} else if (!strcmp(argv[1], "leaf")) {
		for (uint64_t i = 0; i < n; i++)
			sum += leaf(i);
		printf("leaf_calls=%llu sum=%llu\n", (unsigned long long)n, (unsigned long long)sum);
	} else {
		fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], argv[1]);
		return 2;
	}
	return 0;
}
