// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A library whose constructor, before the program's main, does what the
 * environment variable EARLY_ENV (API_EARLY; CRASH_EARLY for the CLI tests'
 * crash program, examples/tests) says.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef EARLY_ENV
#define EARLY_ENV "API_EARLY"
#endif

static volatile sig_atomic_t usr1_seen;
static int ctor_calls;
void *volatile early_sink;

/* Called 4 times by the constructor, each time with a malloc: what start-up tracing must see. */
__attribute__((noipa, used)) void early_ctor_fn(int i)
{
	early_sink = malloc(64 + (size_t)i);
	free(early_sink);
	ctor_calls++;
}

int early_ctor_calls(void)
{
	return ctor_calls;
}

static void on_usr1(int sig)
{
	usr1_seen++;
}

/* How many SIGUSR1 the constructor's handler took (the program prints it). */
int early_usr1_seen(void)
{
	return usr1_seen;
}

/*
 * EARLY_ENV: usr1 raises a handled SIGUSR1; segv makes a real invalid
 * access; exit ends with _exit(9); sleep waits 2 s first (a moment to
 * stop the tracer in); unset or anything else: nothing.
 */
__attribute__((constructor)) static void early(void)
{
	const char *m = getenv(EARLY_ENV);

	for (int i = 0; i < 4; i++)
		early_ctor_fn(i);
	if (!m)
		return;
	if (!strcmp(m, "usr1")) {
		signal(SIGUSR1, on_usr1);
		raise(SIGUSR1);
	} else if (!strcmp(m, "segv")) {
		int *volatile bad = (int *)8;

		*bad = 1;
	} else if (!strcmp(m, "exit")) {
		_exit(9);
	} else if (!strcmp(m, "sleep")) {
		struct timespec ts = { 2, 0 };

		while (nanosleep(&ts, &ts) < 0)
			;
	}
}
