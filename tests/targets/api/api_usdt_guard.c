// SPDX-License-Identifier: LGPL-2.1-or-later
/* api_usdt's point guarded by a semaphore (sdt.h takes them per translation unit). */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* sdt.h records its address in the note; a tracer increments it while it probes the point */
__extension__ unsigned short tst_guarded_semaphore __attribute__((unused))
__attribute__((section(".probes")));

/* The _ENABLED() check: when true, counts and fires the point with the count and the semaphore. */
__attribute__((noinline)) int guarded_step(long *count)
{
	if (__builtin_expect(tst_guarded_semaphore, 0)) {
		++*count;
		STAP_PROBE2(tst, guarded, *count, tst_guarded_semaphore);
		return 1;
	}
	return 0;
}

unsigned guarded_semaphore(void)
{
	return tst_guarded_semaphore;
}
