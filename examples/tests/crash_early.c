// SPDX-License-Identifier: LGPL-2.1-or-later
/* Test helper library of crash: its constructor acts before the entry point, as CRASH_EARLY says. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	usr1_seen++;
}

int crash_early_usr1(void)
{
	return usr1_seen;
}

/*
 * CRASH_EARLY: usr1 raises a SIGUSR1 it handles; segv a real invalid
 * access; exit _exit(9); sleep waits 2 s (time to signal the tracer).
 */
__attribute__((constructor)) static void crash_early(void)
{
	const char *m = getenv("CRASH_EARLY");

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
