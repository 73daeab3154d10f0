/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What unit tests that need a process of their own share: a child that dies with the test. */
#ifndef UPROBE_TEST_UNIT_CHILD_H
#define UPROBE_TEST_UNIT_CHILD_H

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

/*
 * Forks a child that is killed when the test dies (and leaves at once if
 * the test is already gone), then runs body (which may not return), or
 * waits for signals for ever when body is NULL. The parent gets its pid
 * (-1: the fork failed).
 */
static inline pid_t unit_child(void (*body)(void))
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (body)
		body();
	for (;;)
		pause();
}

#endif
