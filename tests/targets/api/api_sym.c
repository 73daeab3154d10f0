// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee for the symbols API: a known set of sym_* functions, a known call chain, odd addresses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

/* noipa: real calls, no clones or tail calls the names would not match */
#define PROBED __attribute__((noipa, used))

PROBED int sym_alpha(int x)
{
	return x + 1;
}

/* a second name at sym_alpha's address: listed too */
extern int sym_alias(int x) __attribute__((alias("sym_alpha")));

PROBED int sym_beta(int x)
{
	return x * 2;
}

/* static: only .symtab (or a debug file's) names it */
PROBED static int sym_gamma(int x)
{
	return x - 3;
}

/* The handler names these: an anonymous page, and the vDSO's base. */
PROBED void sym_take(void *anon, unsigned long vdso)
{
	__asm__ volatile("" : : "r"(anon), "r"(vdso) : "memory");
}

/* main -> chain_outer -> chain_middle -> chain_inner: none is a tail call */
PROBED int chain_inner(int x)
{
	return x + 7;
}

PROBED int chain_middle(int x)
{
	return chain_inner(x) * 3 + 1;
}

PROBED static int chain_outer(int x)
{
	return chain_middle(x) + 2;
}

static size_t (*volatile strlen_p)(const char *) = strlen;

/* usage: api_sym [N]: N times through the chain (default 1) */
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long sum = 0;

	if (anon == MAP_FAILED)
		return 2;
	for (int i = 0; i < n; i++)
		sum += chain_outer(i);
	sum += sym_alpha(1) + sym_alias(2) + sym_beta(3) + sym_gamma(4);
	sum += (long)strlen_p("four");
	sym_take((char *)anon + 16, getauxval(AT_SYSINFO_EHDR));
	printf("sum=%ld\n", sum);
	return 0;
}
