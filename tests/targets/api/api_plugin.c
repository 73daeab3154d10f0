// SPDX-License-Identifier: LGPL-2.1-or-later
/* A plugin that api_dlopen loads, calls and unloads: probes on it must arm at every load. */
#include <execinfo.h>

__attribute__((noinline, used)) int plugin_work(int x)
{
	__asm__ volatile("");
	return x * 7 + 1;
}

/*
 * IFUNCs, for probes that wait for the plugin by name: their resolvers run
 * in the program when the plugin comes. plugin_twice's needs nothing of
 * the dynamic linker; plugin_thrice's reads an exported variable through
 * its GOT, which faults until the plugin is relocated.
 */
int plugin_sel = 1;

static int twice_impl(int x)
{
	__asm__ volatile("");
	return 2 * x;
}

static int thrice_impl(int x)
{
	__asm__ volatile("");
	return 3 * x;
}

static int (*resolve_twice(void))(int)
{
	return twice_impl;
}

static int (*resolve_thrice(void))(int)
{
	return plugin_sel ? thrice_impl : twice_impl;
}

int plugin_twice(int x) __attribute__((ifunc("resolve_twice")));
int plugin_thrice(int x) __attribute__((ifunc("resolve_thrice")));

/*
 * Walks its own stack, as a logger or a crash handler does: with a return
 * probe on it, the unwinder must see its real return address, never the
 * trampoline (where the walk would stop, with fewer frames).
 */
__attribute__((noinline, used)) int plugin_frames(void)
{
	void *pcs[64];
	int n = backtrace(pcs, 64);

	__asm__ volatile("");
	return n;
}
