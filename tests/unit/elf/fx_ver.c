// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fixture shared library for test_elf: versioned symbols (foo@VER_1, foo@@VER_2) and an IFUNC. */

/* Distinct bodies so that bytes at the computed file offsets identify each function. */
__attribute__((noinline, used)) int foo_v1(int a)
{
	return a + 101;
}

__attribute__((noinline, used)) int foo_v2(int a)
{
	return a * 202;
}

/* The old ABI stays reachable as foo@VER_1; new links bind to foo@@VER_2. */
__asm__(".symver foo_v1, foo@VER_1");
__asm__(".symver foo_v2, foo@@VER_2");

/* Compat-only symbols: old has one hidden version, qux two at different addresses. */
__attribute__((noinline, used)) int old_v1(int a)
{
	return a + 505;
}

__attribute__((noinline, used)) int qux_v1(int a)
{
	return a * 606;
}

__attribute__((noinline, used)) int qux_v2(int a)
{
	return a ^ 707;
}

__asm__(".symver old_v1, old@VER_1");
__asm__(".symver qux_v1, qux@VER_1");
__asm__(".symver qux_v2, qux@VER_2");

/* One function under two versions at one address: listed once, by its default. */
__attribute__((noinline, used)) int same_impl(int a)
{
	return a + 808;
}

__asm__(".symver same_impl, same@VER_1");
__asm__(".symver same_impl, same@@VER_2");

__attribute__((noinline, used)) int bar(int a)
{
	return a ^ 303;
}

__attribute__((noinline, used)) int baz_impl(int a)
{
	return a - 404;
}

static int (*baz_resolver(void))(int)
{
	return baz_impl;
}

int baz(int a) __attribute__((ifunc("baz_resolver")));
