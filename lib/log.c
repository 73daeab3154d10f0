// SPDX-License-Identifier: LGPL-2.1-or-later
/* Diagnostics: the print callback and its default; the tests' die points. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int default_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	static int debug = -1;

	if (debug < 0)
		debug = getenv("LIBUPROBE_DEBUG") != NULL;
	if (level == UPROBE_DEBUG && !debug)
		return 0;
	if (level == UPROBE_INFO && !debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static uprobe_print_fn print_fn = default_print;

UPROBE_API uprobe_print_fn uprobe_set_print(uprobe_print_fn fn)
{
	uprobe_print_fn old = print_fn;

	print_fn = fn;
	return old;
}

void uprobe_log(enum uprobe_print_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!print_fn)
		return;
	va_start(ap, fmt);
	print_fn(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

bool log_opts_valid(const void *opts, size_t known_sz, size_t user_sz)
{
	const uint8_t *p = opts;

	for (size_t i = known_sz; i < user_sz; i++) {
		if (p[i]) {
			pr_warn("options struct has unknown non-zero bytes at offset %zu", i);
			return false;
		}
	}
	return true;
}

/*
 * Tests only (tests/integration/api/test_api_lifeline.c): with
 * UPROBE_TEST_DIE=NAME[:N] in the tracer's environment, the Nth time (the
 * first by default) the tracer passes the point so named it kills itself
 * with SIGKILL, as the OOM killer would: the moments between two writes
 * that a tracer's death must not turn into a damaged tracee.
 */
void log_die_point(const char *name)
{
	static char seen[64]; /* the value counted for: a new one counts anew (fork, setenv) */
	static long left;
	const char *want = secure_getenv("UPROBE_TEST_DIE"), *c;
	size_t n;

	if (!want)
		return;
	if (strncmp(want, seen, sizeof(seen))) {
		snprintf(seen, sizeof(seen), "%s", want);
		c = strchr(want, ':');
		left = c ? atol(c + 1) : 1;
	}
	n = strcspn(want, ":");
	if (strlen(name) != n || strncmp(want, name, n) || --left != 0)
		return;
	pr_debug("UPROBE_TEST_DIE: dying at %s", name);
	kill(getpid(), SIGKILL);
}
