// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests of the thread layer's (task.c, wait.c, hold.c) calls up into the engine: each through t->hooks, with the arguments and at the moment struct tracer_hooks says. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/child.h"

#include "os.h"

/* What the fake hooks saw, in order. */
static struct {
	struct uprobe_tracer *t;
	char log[256];
	unsigned nstop, nbefore, nowns, nlifeline, npc, ndeliver;
	int deliver_sig;     /* what deliver_step() was asked about */
	bool deliver_ret;    /* and its answer */
	bool lifeline;       /* has_lifeline()'s answer */
	uint64_t pc_addr;    /* what lifeline_pc() was asked about */
	uint64_t pc_to;      /* and its answer */
	struct task *stop_k;
	int stop_status;
	bool before_ret;
	uint64_t owns_addr;
	pid_t tid;           /* the one thread of the fixture */
	bool going_known;    /* proc_going(): its thread still known */
	unsigned gone_ntasks;
	bool gone_linked;    /* task_gone(): k still findable by tid */
	bool proc_gone_known;
} seen;

static void note(const char *what)
{
	strncat(seen.log, what, sizeof(seen.log) - strlen(seen.log) - 1);
}

/* Holds k, as dispatch_stop() does for a thread it wants stopped. */
static void fake_stop(struct uprobe_tracer *t, struct task *k, int status)
{
	assert_ptr_equal(t, seen.t);
	seen.nstop++;
	seen.stop_k = k;
	seen.stop_status = status;
	k->state = TASK_STOPPED;
	k->stop_sig = 0;
	note("stop ");
}

static bool fake_before_stop(struct uprobe_tracer *t, struct task *k)
{
	assert_ptr_equal(t, seen.t);
	assert_int_equal(k->tid, seen.tid);
	seen.nbefore++;
	note("before ");
	return seen.before_ret;
}

static void fake_task_gone(struct uprobe_tracer *t, struct task *k)
{
	assert_ptr_equal(t, seen.t);
	seen.gone_ntasks = k->proc->ntasks;
	seen.gone_linked = task_find(t, k->tid) != NULL;
	note("task_gone ");
}

static void fake_proc_going(struct uprobe_tracer *t, struct proc *p)
{
	seen.going_known = task_find(t, seen.tid) != NULL && p->ntasks == 1;
	note("proc_going ");
}

static void fake_proc_gone(struct uprobe_tracer *t, struct proc *p)
{
	seen.proc_gone_known = task_find(t, seen.tid) != NULL || p->ntasks;
	note("proc_gone ");
}

static bool fake_owns_trap(struct task *k, uint64_t addr)
{
	assert_int_equal(k->tid, seen.tid);
	seen.nowns++;
	seen.owns_addr = addr;
	note("owns ");
	return false;
}

static bool fake_has_lifeline(struct task *k)
{
	assert_int_equal(k->tid, seen.tid);
	seen.nlifeline++;
	return seen.lifeline;
}

static uint64_t fake_lifeline_pc(struct task *k, uint64_t addr)
{
	assert_int_equal(k->tid, seen.tid);
	seen.npc++;
	seen.pc_addr = addr;
	return seen.pc_to;
}

static bool fake_deliver_step(struct task *k, int sig)
{
	assert_int_equal(k->tid, seen.tid);
	assert_int_equal(k->state, TASK_RUNNING); /* asked as it is resumed */
	seen.ndeliver++;
	seen.deliver_sig = sig;
	note("deliver ");
	return seen.deliver_ret;
}

static const struct tracer_hooks fake_hooks = {
	.stop = fake_stop,
	.before_stop = fake_before_stop,
	.task_gone = fake_task_gone,
	.proc_going = fake_proc_going,
	.proc_gone = fake_proc_gone,
	.owns_trap = fake_owns_trap,
	.has_lifeline = fake_has_lifeline,
	.lifeline_pc = fake_lifeline_pc,
	.deliver_step = fake_deliver_step,
};

struct fixture {
	pid_t pid;
	struct uprobe_tracer *t;
	struct proc *p;
	struct task *k;
};

/* A child that waits for signals, seized (running), known to a tracer with the fake hooks. */
static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->pid = unit_child(NULL);
	assert_true(fx->pid >= 0);
	assert_int_equal(ptrace(PTRACE_SEIZE, fx->pid, NULL, NULL), 0);
	fx->t = uprobe_tracer_new();
	assert_non_null(fx->t);
	/* the real table is installed at creation; the test's replaces it */
	assert_ptr_equal(fx->t->hooks, &tracer_hooks);
	fx->t->hooks = &fake_hooks;
	fx->p = proc_new(fx->t, fx->pid);
	assert_non_null(fx->p);
	fx->k = task_new(fx->t, fx->p, fx->pid, TASK_RUNNING);
	assert_non_null(fx->k);
	memset(&seen, 0, sizeof(seen));
	seen.t = fx->t;
	seen.tid = fx->pid;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kill(fx->pid, SIGKILL);
	while (waitpid(fx->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	/* what a test left is freed by the engine's own hooks */
	fx->t->hooks = &tracer_hooks;
	while (fx->t->procs)
		proc_free(fx->t, fx->t->procs);
	uprobe_tracer_free(fx->t);
	free(fx);
	return 0;
}

/* Sends sig and lets task_wait_one() take the signal-delivery stop it causes. */
static void signal_and_wait(struct fixture *fx, int sig)
{
	assert_int_equal(kill(fx->pid, sig), 0);
	assert_int_equal(task_wait_one(fx->t, fx->pid, true), 1);
}

/* Outside run()'s own wait, a stop goes straight to stop(), with k and waitpid()'s status. */
static void test_stop(void **state)
{
	struct fixture *fx = *state;

	signal_and_wait(fx, SIGUSR1);
	assert_int_equal(seen.nbefore, 0);
	assert_int_equal(seen.nstop, 1);
	assert_ptr_equal(seen.stop_k, fx->k);
	assert_true(WIFSTOPPED(seen.stop_status));
	assert_int_equal(WSTOPSIG(seen.stop_status), SIGUSR1);
	assert_int_equal(seen.stop_status >> 16, 0);
}

/* At run()'s own wait, before_stop() comes first, and a false from it (k gone) skips stop(). */
static void test_before_stop(void **state)
{
	struct fixture *fx = *state;

	fx->t->run_wait = true;
	seen.before_ret = false;
	signal_and_wait(fx, SIGUSR1);
	assert_int_equal(seen.nbefore, 1);
	assert_int_equal(seen.nstop, 0);
	/* the stop was taken and not handled: the child sits in it; on, without the signal */
	assert_int_equal(ptrace(PTRACE_CONT, fx->pid, NULL, NULL), 0);

	seen.before_ret = true;
	signal_and_wait(fx, SIGUSR2);
	assert_int_equal(seen.nbefore, 2);
	assert_int_equal(seen.nstop, 1);
	assert_int_equal(WSTOPSIG(seen.stop_status), SIGUSR2);
	assert_string_equal(seen.log, "before before stop ");
}

/*
 * A SIGTRAP stop, before it is taken, asks whether k's memory has a
 * lifeline, and only then where k goes (the int3 before its pc given):
 * k's pc becomes that, and k->lrip keeps the one the stop had.
 */
static void test_lifeline_move(void **state)
{
	struct fixture *fx = *state;
	uint64_t rip;

	signal_and_wait(fx, SIGTRAP);
	assert_int_equal(seen.nlifeline, 1);
	assert_int_equal(seen.npc, 0);
	assert_int_equal(fx->k->lrip, 0);
	assert_int_equal(ptrace(PTRACE_CONT, fx->pid, NULL, NULL), 0);

	seen.lifeline = true;
	seen.pc_to = 0x1000;
	signal_and_wait(fx, SIGTRAP);
	assert_int_equal(seen.nlifeline, 2);
	assert_int_equal(seen.npc, 1);
	assert_int_not_equal(fx->k->lrip, 0);
	assert_int_equal(seen.pc_addr, fx->k->lrip - 1);
	errno = 0;
	rip = (uint64_t)ptrace(PTRACE_PEEKUSER, fx->pid, (void *)offsetof(struct user_regs_struct, rip),
			       NULL);
	assert_int_equal(errno, 0);
	assert_int_equal(rip, 0x1000);
}

/*
 * Holding a thread already stopped past no signal, task_stop_all() asks
 * whether the int3 just before its pc is ours (one not, it stays held).
 */
static void test_owns_trap(void **state)
{
	struct fixture *fx = *state;

	signal_and_wait(fx, SIGUSR1);
	assert_int_equal(fx->k->state, TASK_STOPPED);
	assert_int_equal(task_stop_all(fx->t, fx->p), 0);
	assert_int_equal(seen.nowns, 1);
	assert_int_equal(task_getregs(fx->k), 0);
	assert_int_equal(seen.owns_addr, fx->k->regs.rip - 1);
	assert_int_equal(fx->k->state, TASK_STOPPED);
}

/*
 * Resumed with a signal to deliver, k is asked about once, with that
 * signal; resumed with none, never.
 */
static void test_deliver_step(void **state)
{
	struct fixture *fx = *state;

	signal_and_wait(fx, SIGWINCH); /* (its default: ignored) */
	assert_int_equal(task_resume(fx->k), 0);
	assert_int_equal(seen.ndeliver, 0); /* the signal not kept: none to deliver */

	signal_and_wait(fx, SIGWINCH);
	fx->k->stop_sig = SIGWINCH;
	task_hold_signal(fx->k, SIGWINCH);
	seen.deliver_ret = true;
	assert_int_equal(task_resume(fx->k), 0);
	assert_int_equal(seen.ndeliver, 1);
	assert_int_equal(seen.deliver_sig, SIGWINCH);
	assert_int_equal(fx->k->state, TASK_RUNNING);
	assert_string_equal(seen.log, "stop stop deliver ");
}

/*
 * proc_free(): proc_going() while its thread is still known, then each
 * thread's task_gone() (unlinked, still counted), then proc_gone() after.
 */
static void test_gone(void **state)
{
	struct fixture *fx = *state;

	proc_free(fx->t, fx->p);
	assert_null(fx->t->procs);
	assert_string_equal(seen.log, "proc_going task_gone proc_gone ");
	assert_true(seen.going_known);
	assert_int_equal(seen.gone_ntasks, 1);
	assert_false(seen.gone_linked);
	assert_false(seen.proc_gone_known);
}

/* task_free() of one thread: task_gone() alone. */
static void test_task_free(void **state)
{
	struct fixture *fx = *state;

	task_free(fx->t, fx->k);
	assert_string_equal(seen.log, "task_gone ");
	assert_int_equal(fx->p->ntasks, 0);
	assert_null(task_find(fx->t, fx->pid));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_before_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owns_trap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifeline_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_free, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
