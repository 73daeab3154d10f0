// SPDX-License-Identifier: LGPL-2.1-or-later
/* A plugin that api_dlopen loads, calls and unloads: probes on it must arm at every load. */
__attribute__((noinline, used)) int plugin_work(int x)
{
	__asm__ volatile("");
	return x * 7 + 1;
}
