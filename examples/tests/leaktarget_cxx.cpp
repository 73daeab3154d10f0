// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee of uprobe-memleak's C++ test: known leaks through operator new in its forms. */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

/*
 * Leaks, each from its own function (operator new's direct caller):
 *   leak_new           2 x new Obj (64 bytes)              128 bytes
 *   leak_new_array     1 x new char[300]                   300 bytes
 *   leak_new_nothrow   1 x new (std::nothrow) char[40]      40 bytes
 *   leak_new_aligned   1 x new Aligned (256, align 128)    256 bytes
 *   leak_after_catch   1 x new char[32]                     32 bytes
 *   leak_new_zero      1 x new char[0]                       0 bytes
 *                      (operator new gives malloc 1 byte for it: a
 *                      nested call that must not be counted)
 * Everything else is freed by the matching delete: plain, array, sized,
 * aligned, nothrow. One operator new throws bad_alloc, caught: the calls
 * after it count as before. stdout is unbuffered (no block of stdio's on
 * behalf of this code). Prints "leaktarget_cxx: done" at the end.
 * usage: leaktarget_cxx [nothrow]: nothrow leaves out too_big() and its
 * leak_after_catch(), for valgrind, which cannot throw bad_alloc.
 */

struct Obj {
	char bytes[64];
};

struct alignas(128) Aligned {
	char bytes[256];
};

void *volatile sink;

#define NOINLINE __attribute__((noinline))

NOINLINE void leak_new()
{
	sink = new Obj();
}

NOINLINE void leak_new_array()
{
	sink = new char[300];
}

NOINLINE void leak_new_nothrow()
{
	sink = new (std::nothrow) char[40];
}

NOINLINE void leak_new_aligned()
{
	sink = new Aligned();
}

NOINLINE void freed_again()
{
	Obj *o = new Obj();
	char *a = new char[1000];
	Aligned *al = new Aligned();
	Aligned *aa = new Aligned[3];
	char *n = new (std::nothrow) char[50];
	int *i = new (std::nothrow) int;

	sink = o;
	sink = a;
	delete o; /* sized delete with -fsized-deallocation, C++14's default */
	delete[] a;
	delete al;
	delete[] aa;
	operator delete[](n, std::nothrow);
	operator delete(i, std::nothrow);
	sink = nullptr;
}

volatile size_t zero;

NOINLINE void leak_new_zero()
{
	sink = new char[zero];
}

volatile size_t huge = (size_t)-1 / 4;

/* called deeper than the new that threw: nested in it, were its unwound call remembered */
NOINLINE void leak_after_catch()
{
	sink = new char[32];
}

/* operator new[] throws; the catch is here, and the calls after it are counted as before */
NOINLINE void too_big()
{
	try {
		sink = new char[huge];
	} catch (const std::bad_alloc &) {
		sink = nullptr;
	}
	leak_after_catch();
}

int main(int argc, char **argv)
{
	/* unbuffered: stdio allocates nothing on behalf of this code */
	std::setvbuf(stdout, nullptr, _IONBF, 0);
	if (argc < 2 || std::strcmp(argv[1], "nothrow"))
		too_big();
	for (int i = 0; i < 2; i++)
		leak_new();
	leak_new_array();
	leak_new_nothrow();
	leak_new_aligned();
	leak_new_zero();
	for (int i = 0; i < 2; i++)
		freed_again();
	std::puts("leaktarget_cxx: done");
	return 0;
}
