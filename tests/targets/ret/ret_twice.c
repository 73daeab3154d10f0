// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee calling functions that return twice (setjmp, getcontext, vfork), fork, and spawning children that report whether they are traced. */
#include <setjmp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

extern char **environ;

static jmp_buf jb;
static sigjmp_buf sjb;
static ucontext_t uc;
static volatile int rounds, sum;

/* Each setjmp-like call returns n + 1 times: 0, then 1..n from longjmp. */
static __attribute__((noinline)) void jmp_loop(int n)
{
	int r;

	rounds = sum = 0;
	r = _setjmp(jb);
	sum += r;
	if (rounds < n) {
		rounds++;
		longjmp(jb, rounds);
	}
	printf("_setjmp: %d returns, sum %d\n", rounds + 1, sum);

	rounds = sum = 0;
	r = (setjmp)(jb);
	sum += r;
	if (rounds < n) {
		rounds++;
		longjmp(jb, rounds);
	}
	printf("setjmp: %d returns, sum %d\n", rounds + 1, sum);

	rounds = sum = 0;
	r = sigsetjmp(sjb, 1);
	sum += r;
	if (rounds < n) {
		rounds++;
		siglongjmp(sjb, rounds);
	}
	printf("sigsetjmp: %d returns, sum %d\n", rounds + 1, sum);
}

/* getcontext returns once, then once per setcontext to it. */
static __attribute__((noinline)) void ctx_loop(int n)
{
	volatile int r;

	rounds = 0;
	r = getcontext(&uc);
	if (r)
		printf("getcontext failed\n");
	if (rounds < n) {
		rounds++;
		setcontext(&uc);
	}
	printf("getcontext: %d returns\n", rounds + 1);
}

/* A setjmp in a loop of calls: each call's frame is gone when the next one comes. */
static __attribute__((noinline)) int jmp_once(int i)
{
	jmp_buf b;
	volatile int k = 0;

	if (_setjmp(b) == 0 && k++ == 0)
		longjmp(b, i + 1);
	return k;
}

static int run_status(const char *self, const char *how)
{
	char *argv[] = { (char *)self, "status", (char *)how, NULL };
	int st;
	pid_t pid;

	if (!strcmp(how, "spawn")) {
		if (posix_spawn(&pid, self, NULL, NULL, argv, environ))
			return -1;
	} else if (!strcmp(how, "spawnp")) {
		/* PATH's first directory lacks it: the first execve fails, the second runs it */
		argv[0] = strrchr(self, '/') + 1;
		if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ))
			return -1;
	} else {
		pid = vfork();
		if (pid == 0) {
			execv(self, argv);
			_exit(127);
		}
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Prints whether this process is traced, as a setuid program would care. */
static int print_status(const char *how)
{
	char line[256];
	FILE *fp = fopen("/proc/self/status", "r");
	int tracer = -1;

	while (fp && fgets(line, sizeof(line), fp))
		if (!strncmp(line, "TracerPid:", 10))
			tracer = atoi(line + 10);
	if (fp)
		fclose(fp);
	/* a setuid program run by a traced exec runs without its privileges */
	printf("%s child: traced=%d privileged=%d\n", how, tracer != 0, geteuid() != getuid());
	return tracer < 0 ? 2 : 0;
}

/* usage: ret_twice jmp N | ctx N | loop N | tick N | vfork | fork | spawn [/PROG] | args... | status HOW */
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "jmp";
	int n = argc > 2 ? atoi(argv[2]) : 3;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(mode, "jmp")) {
		jmp_loop(n);
	} else if (!strcmp(mode, "ctx")) {
		ctx_loop(n);
	} else if (!strcmp(mode, "loop")) {
		int s = 0;

		for (int i = 0; i < n; i++)
			s += jmp_once(i);
		printf("loop: %d\n", s);
	} else if (!strcmp(mode, "vfork")) {
		int st;
		pid_t pid = vfork();

		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return 1;
		printf("vfork: child exited %d\n", WEXITSTATUS(st));
	} else if (!strcmp(mode, "fork")) {
		int st;
		pid_t pid = fork();

		if (pid == 0) {
			printf("fork: child\n");
			_exit(5);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return 1;
		printf("fork: child exited %d\n", WEXITSTATUS(st));
	} else if (!strcmp(mode, "spawn")) {
		const char *hows[] = { "spawn", "spawnp", "vfork" };

		/* the program to run: a setuid copy of this one, say */
		const char *prog = argc > 2 ? argv[2] : argv[0];

		if (!strchr(prog, '/'))
			return 2;
		for (int i = 0; i < 3; i++)
			printf("%s: exit %d\n", hows[i], run_status(prog, hows[i]));
	} else if (!strcmp(mode, "status")) {
		return print_status(argc > 2 ? argv[2] : "?");
	} else if (!strcmp(mode, "tick")) {
		/* n calls of jmp_once, 20 ms apart: a process to attach to */
		int s = 0;

		for (int i = 0; i < n; i++) {
			s += jmp_once(i);
			usleep(20000);
		}
		printf("tick: %d\n", s);
	} else if (!strcmp(mode, "args")) {
		printf("argc=%d\n", argc);
	} else {
		return 2;
	}
	return 0;
}
