// SPDX-License-Identifier: LGPL-2.1-or-later
/* The benchmark target: calls one assembly function N times and reports the loop's own time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_push(uint64_t x);
uint64_t bench_endbr(uint64_t x);
uint64_t bench_riprel(uint64_t x);
uint64_t bench_call(uint64_t x);
uint64_t bench_mid(uint64_t x);
uint64_t bench_big(uint64_t x);
uint64_t bench_nop5(uint64_t x);

static const struct {
	const char *name;
	uint64_t (*fn)(uint64_t);
} funcs[] = {
	{ "push", bench_push },
	{ "endbr", bench_endbr },
	{ "riprel", bench_riprel },
	{ "call", bench_call },
	{ "mid", bench_mid },
	{ "big", bench_big },
	{ "nop5", bench_nop5 },
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	/* volatile: the call stays an indirect call through memory, never folded away */
	uint64_t (*volatile fn)(uint64_t) = NULL;
	uint64_t n, t0, tf, t1, sum = 0;
	unsigned first;
	int fd = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: %s push|endbr|riprel|call|mid|big|nop5|none N [FD]\n"
				"  calls the function N times; prints N, the loop's ns, a checksum,\n"
				"  the first call's ns and the function's first byte as it is after\n"
				"  the loop to FD (default 1)\n",
			argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (!strcmp(argv[1], funcs[i].name))
			fn = funcs[i].fn;
	if (!fn && strcmp(argv[1], "none")) {
		fprintf(stderr, "%s: unknown function '%s'\n", argv[0], argv[1]);
		return 2;
	}
	n = strtoull(argv[2], NULL, 0);
	if (argc > 3)
		fd = atoi(argv[3]);
	if (!fn)
		n = 0;
	/* the first call apart too: a no-stop probe's first hit stops and makes its detour */
	t0 = now_ns();
	tf = t0;
	if (n) {
		sum += fn(0);
		tf = now_ns();
	}
	for (uint64_t i = 1; i < n; i++)
		sum += fn(i);
	t1 = now_ns();
	/*
	 * The first byte as the program sees it now: a kernel uprobe shows
	 * its int3 (cc), an optimized one (6.18, on a nop5) its call (e8).
	 */
	first = fn ? *(volatile const uint8_t *)(uintptr_t)fn : 0;
	dprintf(fd, "%llu %llu %llu %llu %u\n", (unsigned long long)n, (unsigned long long)(t1 - t0),
		(unsigned long long)sum, (unsigned long long)(tf - t0), first);
	return 0;
}
