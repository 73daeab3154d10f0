// SPDX-License-Identifier: LGPL-2.1-or-later
/* The demo program that uprobe-trace's README command traces: known calls, known counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * usage: demo [ITERATIONS [DELAY_MS]]
 *
 * Calls compute() ITERATIONS times (default 1000), rot13() once every 10
 * iterations and puts() once every 100, sleeping DELAY_MS between iterations
 * (default 0; the attach test uses it to run long enough to be attached to).
 * The last lines report how many times each function was called and a
 * checksum, so a test compares hit counts with numbers the program measured
 * and can tell that tracing did not change what the program computed.
 *
 * compute() and rot13() are global and never inlined so that `u:demo:compute`
 * names one real function. The report lines use printf with arguments, which
 * the compiler cannot turn into puts(), so puts() is only called where counted.
 */

unsigned long compute_calls, rot13_calls, puts_calls;

__attribute__((noinline)) int compute(int x)
{
	compute_calls++;
	/* Something the optimiser cannot fold away: a small integer hash. */
	unsigned int h = (unsigned int)x * 2654435761u;

	h ^= h >> 13;
	return (int)(h % 1000u);
}

__attribute__((noinline)) char *rot13(char *s)
{
	rot13_calls++;
	for (char *p = s; *p; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)('a' + (*p - 'a' + 13) % 26);
		else if (*p >= 'A' && *p <= 'Z')
			*p = (char)('A' + (*p - 'A' + 13) % 26);
	}
	return s;
}

static void say(const char *line)
{
	puts_calls++;
	puts(line);
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long delay_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	struct timespec delay = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
	char word[] = "Hello, uprobes";
	unsigned long sum = 0;
	char line[64];

	if (iterations < 0 || delay_ms < 0) {
		fprintf(stderr, "usage: demo [ITERATIONS [DELAY_MS]]\n");
		return 2;
	}
	for (long i = 0; i < iterations; i++) {
		sum += (unsigned long)compute((int)i);
		if (i % 10 == 0)
			sum += (unsigned char)rot13(word)[0];
		if (i % 100 == 0) {
			snprintf(line, sizeof(line), "demo: step %ld, sum %lu", i, sum);
			say(line);
		}
		if (delay_ms)
			nanosleep(&delay, NULL);
	}
	printf("demo: compute called %lu times\n", compute_calls);
	printf("demo: rot13 called %lu times, word \"%s\"\n", rot13_calls, word);
	printf("demo: puts called %lu times\n", puts_calls);
	printf("demo: checksum %lu\n", sum);
	return 0;
}
