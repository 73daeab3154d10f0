// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee linked with a library whose constructor acts before the entry point (API_EARLY). */
#include <stdio.h>

#define PROBED __attribute__((noipa, used))

int early_usr1_seen(void);
int early_ctor_calls(void);
#ifdef EARLY_RELOC
int early_reloc(int x); /* its library's IFUNC resolver acts while the program is relocated */
#endif

PROBED int early_work(int x)
{
	return x * 3;
}

int main(void)
{
	int sum = 0;

	for (int i = 0; i < 5; i++)
		sum += early_work(i);
#ifdef EARLY_RELOC
	sum += early_reloc(0) - 1;
#endif
	printf("usr1=%d sum=%d ctor_calls=%d\n", early_usr1_seen(), sum, early_ctor_calls());
	return 3;
}
