// SPDX-License-Identifier: LGPL-2.1-or-later
/* A C++ plugin that leaktarget dlopens: libstdc++ comes with it, after the tracing began. */
#include <new>

void *volatile plugin_sink;

/* Leaks 48 bytes through operator new[], frees 16 through new and delete. */
extern "C" __attribute__((noinline)) void plugin_leak(void)
{
	int *p = new int[4];

	plugin_sink = p;
	delete[] p;
	plugin_sink = new char[48];
}
