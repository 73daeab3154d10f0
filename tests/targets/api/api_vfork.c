// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee whose vfork children (sharing its memory) call a probed function; it posix_spawns too. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

extern char **environ;

PROBED long vwork(long i)
{
	return i * 5 + 1;
}

/* One vfork whose child calls vwork(i + 1000) and exits 0 when it returned right. */
static __attribute__((noinline)) int vfork_round(int i)
{
	int st;
	pid_t pid = vfork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(vwork(i + 1000) == (i + 1000) * 5 + 1 ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

/* usage: api_vfork ROUNDS SPAWNS */
int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5, spawns = argc > 2 ? atoi(argv[2]) : 3;
	int vfork_ok = 0, spawn_ok = 0, parent_calls = 0, bad = 0;
	/* An absolute path: posix_spawn execs it once (posix_spawnp would try each PATH entry). */
	char *true_path = access("/bin/true", X_OK) == 0 ? "/bin/true" : "/usr/bin/true";
	char *true_argv[] = { true_path, NULL };

	setvbuf(stdout, NULL, _IONBF, 0);
	printf("pid=%d\n", (int)getpid());
	for (int i = 0; i < rounds; i++) {
		int st;

		if (vwork(i) != i * 5 + 1)
			bad++;
		parent_calls++;
		st = vfork_round(i);
		if (st == 0)
			vfork_ok++;
		else
			printf("vfork child %d: status %#x\n", i, st);
	}
	for (int i = 0; i < spawns; i++) {
		pid_t pid;
		int st;

		if (posix_spawn(&pid, true_path, NULL, NULL, true_argv, environ)) {
			printf("posix_spawn failed\n");
			continue;
		}
		if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			spawn_ok++;
		else
			printf("spawned child %d: status %#x\n", i, st);
	}
	printf("rounds=%d vfork_ok=%d parent_calls=%d spawns=%d spawn_ok=%d bad=%d\n", rounds,
	       vfork_ok, parent_calls, spawns, spawn_ok, bad);
	return bad || vfork_ok != rounds || spawn_ok != spawns ? 1 : 0;
}
