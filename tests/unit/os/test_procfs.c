// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of lib/procfs.c: the field parsers on canned text and files,
 * and the readers of /proc/PID on children of the test whose signal
 * dispositions, blocked and pending signals the test set (and the test's
 * own auxiliary vector, which getauxval() reads apart).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/child.h"

#include "core.h"

/* ---- canned input ---- */

static const char status_text[] =
	"Name:\tfx\n"
	"State:\tS (sleeping)\n"
	"Tgid:\t4242\n"
	"PPid:\t1\n"
	"TracerPid:\t0\n"
	"Pid:\t4243\n"
	"SigQ:\t0/63412\n"
	"SigPnd:\t0000000000000010\n"
	"ShdPnd:\t0000000000000400\n"
	"SigBlk:\t0000000000010000\n"
	"SigIgn:\t0000000000001000\n"
	"SigCgt:\t00000001800044a0\n";

static void test_hex_field(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_true(procfs_hex_field(status_text, "\nSigCgt:", &v));
	assert_int_equal(v, 0x1800044a0ull);
	assert_true(procfs_hex_field(status_text, "\nSigPnd:", &v));
	assert_int_equal(v, SIG_BIT(SIGTRAP));
	assert_true(procfs_hex_field(status_text, "\nShdPnd:", &v));
	assert_int_equal(v, SIG_BIT(SIGSEGV));
	assert_true(procfs_hex_field(status_text, "\nSigIgn:", &v));
	assert_int_equal(v, SIG_BIT(SIGPIPE));
	v = 77;
	assert_false(procfs_hex_field(status_text, "\nCapEff:", &v));
	assert_int_equal(v, 77); /* left alone */
	assert_false(procfs_hex_field("", "\nSigCgt:", &v));
}

/* A canned status file: the value after the key, found only at a line's start. */
static void test_status_field(void **state)
{
	char path[] = "/tmp/test_procfs.XXXXXX", buf[128];
	const char *v;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, status_text, strlen(status_text)), (ssize_t)strlen(status_text));
	close(fd);
	v = procfs_status_field(path, "Pid:", buf, sizeof(buf));
	assert_non_null(v);
	assert_string_equal(v, "\t4243\n"); /* not PPid's nor TracerPid's */
	v = procfs_status_field(path, "State:", buf, sizeof(buf));
	assert_non_null(v);
	assert_string_equal(v, "\tS (sleeping)\n");
	assert_ptr_equal(v, buf + strlen("State:"));
	assert_null(procfs_status_field(path, "Uid:", buf, sizeof(buf)));
	unlink(path);
	assert_null(procfs_status_field(path, "Pid:", buf, sizeof(buf)));
}

/* ---- children of the test ---- */

static int to_child[2], from_child[2];

static void child_wait(void)
{
	char c;

	if (read(to_child[0], &c, 1) != 1)
		_exit(1);
}

static void child_ready(void)
{
	if (write(from_child[1], "r", 1) != 1)
		_exit(1);
}

static void on_sig(int sig)
{
	(void)sig;
}

/*
 * The child: SIGUSR1 caught, SIGUSR2 ignored, SIGTRAP and SIGWINCH
 * blocked; at each word from the test, SIGTRAP's disposition moves on:
 * default, ignored, caught.
 */
static void child(void)
{
	struct sigaction sa = { .sa_handler = on_sig };
	sigset_t block;

	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGUSR2, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTRAP);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, NULL);
	child_ready();
	child_wait();
	signal(SIGTRAP, SIG_IGN);
	child_ready();
	child_wait();
	sigaction(SIGTRAP, &sa, NULL);
	child_ready();
	for (;;)
		pause();
}

struct fixture {
	pid_t pid;
	struct proc p;
	struct task k;
};

static void wait_ready(void)
{
	char c;

	assert_int_equal(read(from_child[0], &c, 1), 1);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(from_child), 0);
	fx->pid = unit_child(child);
	assert_true(fx->pid >= 0);
	wait_ready();
	fx->p.pid = fx->pid;
	fx->p.memfd = -1;
	fx->k.proc = &fx->p;
	fx->k.tid = fx->pid;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kill(fx->pid, SIGKILL);
	while (waitpid(fx->pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (fx->p.trap_fd1)
		close(fx->p.trap_fd1 - 1);
	close(to_child[0]);
	close(to_child[1]);
	close(from_child[0]);
	close(from_child[1]);
	free(fx);
	return 0;
}

static void next_step(void)
{
	assert_int_equal(write(to_child[1], "g", 1), 1);
	wait_ready();
}

/* SigCgt and SigIgn as the child set them; then SIGTRAP's three dispositions in turn. */
static void test_masks(void **state)
{
	struct fixture *fx = *state;
	uint64_t cgt, ign;
	int st = -1;

	assert_int_equal(procfs_status_masks(&fx->p, &cgt, &ign), 0);
	assert_true(cgt & SIG_BIT(SIGUSR1));
	assert_false(cgt & SIG_BIT(SIGUSR2));
	assert_true(ign & SIG_BIT(SIGUSR2));
	assert_false(ign & SIG_BIT(SIGUSR1));
	assert_false((cgt | ign) & SIG_BIT(SIGTRAP));
	assert_int_equal(procfs_sigtrap_status(&fx->p, &st), 0);
	assert_int_equal(st, TRAP_DFL);
	assert_int_not_equal(fx->p.trap_fd1, 0); /* kept open, and read again below */

	next_step();
	assert_int_equal(procfs_sigtrap_status(&fx->p, &st), 0);
	assert_int_equal(st, TRAP_IGN);
	next_step();
	assert_int_equal(procfs_sigtrap_status(&fx->p, &st), 0);
	assert_int_equal(st, TRAP_CAUGHT);
	assert_int_equal(procfs_status_masks(&fx->p, &cgt, &ign), 0);
	assert_true(cgt & SIG_BIT(SIGTRAP));
	assert_false(ign & SIG_BIT(SIGTRAP));
}

/* A process that is gone: an error, not a crash nor an answer. */
static void test_masks_gone(void **state)
{
	struct fixture *fx = *state;
	uint64_t cgt, ign;
	int st;

	kill(fx->pid, SIGKILL);
	assert_int_equal(waitpid(fx->pid, NULL, 0), fx->pid);
	assert_true(procfs_status_masks(&fx->p, &cgt, &ign) < 0);
	assert_true(procfs_sigtrap_status(&fx->p, &st) < 0);
}

/*
 * SigPnd is the thread's own: a SIGTRAP sent to the thread (blocked, so it
 * stays pending) shows there; one sent to the process (ShdPnd) does not,
 * nor does another signal.
 */
static void test_trap_pending(void **state)
{
	struct fixture *fx = *state;
	char buf[128];
	const char *v;

	assert_false(procfs_sigtrap_pending_in(&fx->k));
	assert_int_equal(syscall(SYS_tgkill, fx->pid, fx->pid, SIGWINCH), 0);
	assert_int_equal(kill(fx->pid, SIGTRAP), 0);
	/* wait for both to be pending, as the status shows them apart */
	for (int i = 0; i < 1000; i++) {
		uint64_t shd = 0;

		v = procfs_task_status_field(&fx->k, "ShdPnd:", buf, sizeof(buf));
		if (v && procfs_hex_field(buf, "ShdPnd:", &shd) && (shd & SIG_BIT(SIGTRAP)))
			break;
		usleep(1000);
	}
	assert_false(procfs_sigtrap_pending_in(&fx->k));
	assert_int_equal(syscall(SYS_tgkill, fx->pid, fx->pid, SIGTRAP), 0);
	assert_true(procfs_sigtrap_pending_in(&fx->k));
}

/* The field of the thread's own status file: its state once stopped. */
static void test_task_status_field(void **state)
{
	struct fixture *fx = *state;
	char buf[128];
	const char *v = NULL;

	assert_int_equal(kill(fx->pid, SIGSTOP), 0);
	for (int i = 0; i < 1000; i++) {
		v = procfs_task_status_field(&fx->k, "State:", buf, sizeof(buf));
		assert_non_null(v);
		if (strstr(v, "T (stopped)"))
			break;
		usleep(1000);
	}
	assert_string_equal(v, "\tT (stopped)\n");
	v = procfs_task_status_field(&fx->k, "Tgid:", buf, sizeof(buf));
	assert_non_null(v);
	assert_int_equal(strtol(v, NULL, 10), fx->pid);
	assert_null(procfs_task_status_field(&fx->k, "NoSuchKey:", buf, sizeof(buf)));
	kill(fx->pid, SIGCONT);
}

/*
 * AT_HWCAP as the kernel gave it, read from the test's own auxv as raw
 * pairs (glibc's getauxval(AT_HWCAP) on x86-64 is its own word instead).
 */
static uint64_t own_hwcap(void)
{
	uint64_t pair[2], v = 0;
	FILE *f = fopen("/proc/self/auxv", "re");

	assert_non_null(f);
	while (fread(pair, sizeof(pair), 1, f) == 1 && pair[0] != AT_NULL)
		if (pair[0] == AT_HWCAP)
			v = pair[1];
	fclose(f);
	return v;
}

/* The child's auxiliary vector is the test's (fork), which getauxval() reads apart. */
static void test_auxv(void **state)
{
	struct fixture *fx = *state;
	uint64_t base = 1;

	assert_int_equal(procfs_read_auxv(&fx->p, &base), 0);
	assert_int_equal(fx->p.entry, getauxval(AT_ENTRY));
	assert_int_equal(base, getauxval(AT_BASE));
	assert_int_equal(fx->p.hwcap, own_hwcap());
	assert_int_not_equal(fx->p.entry, 0);
	assert_int_not_equal(base, 0); /* the test is dynamically linked */
}

static void test_auxv_gone(void **state)
{
	struct fixture *fx = *state;
	uint64_t base;

	kill(fx->pid, SIGKILL);
	assert_int_equal(waitpid(fx->pid, NULL, 0), fx->pid);
	assert_true(procfs_read_auxv(&fx->p, &base) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_field),
		cmocka_unit_test(test_status_field),
		cmocka_unit_test_setup_teardown(test_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masks_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trap_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_status_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auxv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auxv_gone, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
