// SPDX-License-Identifier: LGPL-2.1-or-later
/* Calls the hand-made functions of fx_lsda.S, so they are linked and can be run. */
#include <stdio.h>

int fx_lsda_a(int v);
int fx_lsda_b(int v);

int main(void)
{
	printf("%d %d\n", fx_lsda_a(1), fx_lsda_b(1));
	return 0;
}
