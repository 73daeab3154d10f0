// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee calling libc functions a known number of times; strlen/write only between markers. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

PROBED void marker_begin(void)
{
	__asm__ volatile("" ::: "memory");
}

PROBED void marker_end(void)
{
	__asm__ volatile("" ::: "memory");
}

/* A volatile pointer: the compiler cannot fold or inline the strlen calls. */
static size_t (*volatile strlen_p)(const char *) = strlen;

/* usage: api_libc N_PUTS N_STRLEN N_WRITE */
int main(int argc, char **argv)
{
	int np = argc > 1 ? atoi(argv[1]) : 10;
	int ns = argc > 2 ? atoi(argv[2]) : 10;
	int nw = argc > 3 ? atoi(argv[3]) : 10;
	static const char *const words[] = { "a", "bb", "ccc", "dddd", "eeeee" };
	size_t len_sum = 0;
	long written = 0;
	int devnull = open("/dev/null", O_WRONLY);

	if (devnull < 0)
		return 2;
	for (int i = 0; i < np; i++)
		puts(words[i % 5]);
	marker_begin();
	for (int i = 0; i < ns; i++)
		len_sum += strlen_p(words[i % 5]);
	for (int i = 0; i < nw; i++)
		written += write(devnull, "xyz", 3);
	marker_end();
	printf("puts_calls=%d strlen_calls=%d len_sum=%zu write_calls=%d written=%ld\n", np, ns,
	       len_sum, nw, written);
	return 0;
}
