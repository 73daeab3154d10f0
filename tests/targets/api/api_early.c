// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee linked with a library whose constructor acts before the entry point (API_EARLY). */
#include <stdio.h>

#define PROBED __attribute__((noipa, used))

int early_usr1_seen(void);

PROBED int early_work(int x)
{
	return x * 3;
}

int main(void)
{
	int sum = 0;

	for (int i = 0; i < 5; i++)
		sum += early_work(i);
	printf("usr1=%d sum=%d\n", early_usr1_seen(), sum);
	return 3;
}
