// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee for process events: forks, execs, renames threads, ends with known statuses. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

/* The probed function: each call names its step, the test checks them in order. */
PROBED long ev_mark(long step)
{
	return step * 3 + 1;
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "ev-worker");
	ev_mark(40);
	return NULL;
}

static char self[PATH_MAX];

/* execve from a thread other than the main one: the process keeps its pid */
static void *exec_thread(void *arg)
{
	char *args[] = { self, "image", NULL };

	(void)arg;
	ev_mark(26);
	execv(self, args);
	_exit(98);
}

static int wait_for(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		;
	printf("child=%d status=%#x\n", (int)pid, st);
	return st;
}

/*
 * usage: api_events [N]   the scenario below; the first child calls ev_mark(10) N times
 *        api_events image  the image the third child execs: ev_mark(30), exit 0
 *        api_events spin   calls ev_mark(60) every 10 ms, for a test to attach to
 */
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1;
	pthread_t th;
	ssize_t len;
	pid_t kid;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "image")) {
		ev_mark(30);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "spin")) {
		printf("spinning pid=%d\n", (int)getpid());
		for (int i = 0; i < 6000; i++) {
			ev_mark(60);
			usleep(10000);
		}
		return 0;
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0 || n < 1)
		return 2;
	self[len] = 0;
	ev_mark(1);
	prctl(PR_SET_NAME, "ev-renamed");
	ev_mark(2);
	if (pthread_create(&th, NULL, worker, NULL) || pthread_join(th, NULL))
		return 2;
	/* a child that exits 7 */
	kid = fork();
	if (kid == 0) {
		for (long i = 0; i < n; i++)
			ev_mark(10);
		_exit(7);
	}
	wait_for(kid);
	/* a child killed by SIGUSR2 */
	kid = fork();
	if (kid == 0) {
		ev_mark(20);
		signal(SIGUSR2, SIG_DFL);
		raise(SIGUSR2);
		_exit(99);
	}
	wait_for(kid);
	/*
	 * A child that renames itself and execs from a second thread (which
	 * has the name its creator had): after the exec the name is the
	 * file's again.
	 */
	kid = fork();
	if (kid == 0) {
		prctl(PR_SET_NAME, "ev-before-exec");
		ev_mark(25);
		if (pthread_create(&th, NULL, exec_thread, NULL))
			_exit(97);
		pthread_join(th, NULL);
		_exit(96);
	}
	wait_for(kid);
	ev_mark(50);
	printf("done pid=%d\n", (int)getpid());
	return 3;
}
