// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Threads blocked in system calls that fail with EINTR when anything wakes
 * them (epoll_wait, sigwaitinfo, semop: never restarted), while the main
 * thread sends each a signal it ignores by default and calls stop_here()
 * three times; then it ends their waits itself.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

static int pipefd[2], ep, semid;
static sigset_t usr2;

PROBED void stop_here(void)
{
	__asm__ volatile("");
}

static void *epoll_thread(void *arg)
{
	struct epoll_event ev;
	int r = epoll_wait(ep, &ev, 1, -1);

	printf("epoll=%d %s\n", r, r < 0 ? strerror(errno) : "ok");
	return NULL;
}

static void *sigwait_thread(void *arg)
{
	int r = sigwaitinfo(&usr2, NULL);

	printf("sigwait=%d %s\n", r, r < 0 ? strerror(errno) : "ok");
	return NULL;
}

static void *semop_thread(void *arg)
{
	struct sembuf op = { .sem_num = 0, .sem_op = -1 };
	int r = semop(semid, &op, 1);

	printf("semop=%d %s\n", r, r < 0 ? strerror(errno) : "ok");
	return NULL;
}

int main(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sembuf up = { .sem_num = 0, .sem_op = 1 };
	pthread_t a, b, s;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);
	semid = semget(IPC_PRIVATE, 1, 0600);
	if (pipe(pipefd) || (ep = epoll_create1(0)) < 0 || semid < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev))
		return 1;
	pthread_create(&a, NULL, epoll_thread, NULL);
	pthread_create(&b, NULL, sigwait_thread, NULL);
	pthread_create(&s, NULL, semop_thread, NULL);
	usleep(200000); /* all three wait by now */
	/* signals ignored by default: untraced they are dropped and wake no one */
	pthread_kill(a, SIGWINCH);
	pthread_kill(b, SIGCHLD);
	pthread_kill(s, SIGURG);
	usleep(50000);
	for (int i = 0; i < 3; i++) {
		stop_here();
		usleep(100000);
	}
	if (write(pipefd[1], "x", 1) != 1)
		return 1;
	pthread_join(a, NULL);
	pthread_kill(b, SIGUSR2);
	pthread_join(b, NULL);
	semop(semid, &up, 1);
	pthread_join(s, NULL);
	semctl(semid, 0, IPC_RMID);
	return 0;
}
