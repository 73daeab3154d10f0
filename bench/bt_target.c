// SPDX-License-Identifier: LGPL-2.1-or-later
/* Target of uprobe-bench-backtrace: bt_leaf is called N times under DEPTH frames of bt_rec. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline, noipa)) int bt_leaf(int x)
{
	return x * 2;
}

__attribute__((noinline, noipa)) int bt_rec(int d, int x)
{
	return d ? bt_rec(d - 1, x) + 1 : bt_leaf(x);
}

/* usage: uprobe-bench-backtrace-target CALLS DEPTH */
int main(int argc, char **argv)
{
	long sum = 0;
	int n = argc > 1 ? atoi(argv[1]) : 1000, depth = argc > 2 ? atoi(argv[2]) : 14;

	for (int i = 0; i < n; i++)
		sum += bt_rec(depth, i);
	printf("sum=%ld\n", sum);
	return 0;
}
