// SPDX-License-Identifier: LGPL-2.1-or-later
/* libapi_usdt's point guarded by a semaphore: its address moves with the library's load base. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

__extension__ unsigned short tlib_guarded_semaphore __attribute__((unused))
__attribute__((section(".probes"), visibility("hidden")));

/* The _ENABLED() check: when true, counts and fires the point with the count and the semaphore. */
__attribute__((noinline, visibility("default"))) int usdt_lib_guarded(long *count)
{
	if (__builtin_expect(tlib_guarded_semaphore, 0)) {
		++*count;
		STAP_PROBE2(tlib, guarded, *count, tlib_guarded_semaphore);
		return 1;
	}
	return 0;
}

__attribute__((visibility("default"))) unsigned usdt_lib_semaphore(void)
{
	return tlib_guarded_semaphore;
}
