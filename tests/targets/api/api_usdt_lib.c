// SPDX-License-Identifier: LGPL-2.1-or-later
/* A shared library with a USDT point: its address moves with the library's load base. */
#include <sys/sdt.h>

__attribute__((noinline, visibility("default"))) long usdt_lib_work(int x)
{
	long r = (long)x * 3;

	STAP_PROBE3(tlib, work, x, r, -x);
	return r;
}
