// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A library whose IFUNC resolver acts while the dynamic linker relocates
 * the program (linked -z now), before the start-up link map is complete:
 * the program ends, or waits, before uprobe_tracer_spawn() can return.
 * EARLY_RELOC_MODE: 1 crashes (SIGSEGV), 2 exits with status 9, 3 sleeps 2 s.
 * Raw system calls only: libc is relocated, not yet initialised.
 */
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int early_reloc_impl(int x)
{
	return x + 1;
}

typedef int early_fn(int);

static early_fn *early_reloc_resolve(void)
{
	if (EARLY_RELOC_MODE == 1) {
		int *volatile bad = (int *)8;

		*bad = 1;
	} else if (EARLY_RELOC_MODE == 2) {
		syscall(SYS_exit_group, 9);
	} else {
		struct timespec ts = { 2, 0 };

		while (syscall(SYS_nanosleep, &ts, &ts) < 0)
			;
	}
	return early_reloc_impl;
}

int early_reloc(int x) __attribute__((ifunc("early_reloc_resolve")));
