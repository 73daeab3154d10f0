// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A long `rep movsb` (rep_copy+3 is the instruction) for a test that kills
 * the program while the tracer runs that instruction to its end out of
 * line: a SIGUSR1 that comes while the thread copies in its slot makes the
 * tracer move it out first (xol.c's run-out, a wait for that thread alone),
 * and the kill comes there. Only the copying thread takes SIGUSR1.
 * Usage: api_repkill leader|sibling|worker
 *   leader   the only thread copies
 *   sibling  the leader copies while another thread sleeps
 *   worker   a second thread copies while the leader waits for it
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* into pages never touched: each first write faults, the first copy takes long */
#define COPY_BYTES (128ul << 20)

void rep_copy(void *dst, const void *src, size_t n);
__asm__(".globl rep_copy\n"
	".type rep_copy, @function\n"
	"rep_copy:\n"
	"	mov %rdx, %rcx\n" /* 3 bytes: the probe is at rep_copy+3 */
	"	rep movsb\n"
	"	ret\n"
	".size rep_copy, .-rep_copy\n");

static char *src, *dst;

static void on_usr1(int sig)
{
	(void)sig;
}

static void *copier(void *arg)
{
	sigset_t usr1;

	(void)arg;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	/* again and again: the kill comes during one of them */
	for (int i = 0; i < 200; i++)
		rep_copy(dst, src, COPY_BYTES);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigset_t usr1;
	pthread_t th;

	if (argc < 2)
		return 2;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* threads made from here inherit it */
	src = mmap(NULL, COPY_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, COPY_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED)
		return 2;
	/* 4 KiB faults, not 2 MiB ones: the first copy lasts */
	madvise(src, COPY_BYTES, MADV_NOHUGEPAGE);
	madvise(dst, COPY_BYTES, MADV_NOHUGEPAGE);
	printf("ready\n");
	fflush(stdout);
	if (!strcmp(argv[1], "worker")) {
		if (pthread_create(&th, NULL, copier, NULL))
			return 2;
		pthread_join(th, NULL);
		return 0;
	}
	if (!strcmp(argv[1], "sibling") && pthread_create(&th, NULL, sleeper, NULL))
		return 2;
	copier(NULL);
	return 0;
}
