// SPDX-License-Identifier: LGPL-2.1-or-later
/* Linked with a C++ library whose static initializer runs before main (api_cxx_init.cc). */
#include <stdio.h>

int cxx_init_calls(void);

int main(void)
{
	printf("cxx_init_calls=%d\n", cxx_init_calls());
	return 0;
}
