// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The traced program outlives its tracer (lib/lifeline.c): a tracer that
 * dies by SIGKILL (in a handler, or from outside at a random moment) or by
 * a crash in a user's handler leaves the program running, exact: the
 * target checks every result of its four threads and exits 0 only if all
 * are right. Entry probes stopping in place and in jump detours, return
 * probes, no-stop probes, spawned and attached. Also: the handler is
 * there only while traced, and the program's own int3 still kills it.
 *
 * Each try forks a tracer process; this test is the child subreaper, so
 * the orphaned target is its child to wait for.
 */
#include <pthread.h>
#include <sys/prctl.h>

#include "tracee_test.h"

static const char *g_target, *g_cxx_target;

enum die {
	DIE_KILL,    /* SIGKILL in the Nth handler call */
	DIE_SEGV,    /* a crash (SIGSEGV) in the Nth handler call */
	DIE_OUTSIDE, /* SIGKILL from this process, a random moment after the first hit */
	DIE_POINT,   /* at the library's point die_env names (UPROBE_TEST_DIE, lib/log.c) */
};

struct plan {
	bool optimize;
	bool ret;    /* a return probe on ll_work, the entry probe on ll_outer */
	bool nostop;
	bool count;  /* the no-stop probe has no handler: a count-only probe */
	bool attach;
	enum die die;
	long n_calls;
	bool block; /* the target's threads block every signal */
	bool block_around; /* ... every signal around each call only (blockrestore) */
	bool own_trap; /* a SIGTRAP handler of the target's own, which raise()s SIGTRAP */
	bool nap;   /* a post probe on the system call a fifth thread sleeps in */
	bool cxx;   /* api_lifeline_cxx: return probe on llx_throw, which throws */
	/*
	 * The tracer's death (its Nth handler call, or the random moment of
	 * DIE_OUTSIDE) is counted from when each of the target's threads has
	 * been seen at a probe (see test_blocked_signals), not from the
	 * first hit.
	 */
	bool after_all_threads;
	const char *die_env; /* DIE_POINT: UPROBE_TEST_DIE's value */
	long detach_after;   /* hits before the tracer detaches (0: it does not) */
};

/* ---- the tracer process ---- */

static long g_left; /* handler calls before the tracer dies */
static enum die g_die;
static int g_hit_fd = -1; /* one byte at the first hit, for DIE_OUTSIDE */
static int g_threads_to_see; /* ... or once this many threads were seen */
static long g_detach_left;
static struct uprobe_tracer *g_tracer;
static pid_t g_seen[8];

/* A thread not seen before (at most 8 remembered). */
static bool first_of_thread(pid_t tid)
{
	for (int i = 0; i < 8; i++) {
		if (g_seen[i] == tid)
			return false;
		if (!g_seen[i]) {
			g_seen[i] = tid;
			return true;
		}
	}
	return false;
}

static int on_hit(struct uprobe_hit *h, void *data)
{
	(void)data;
	if (g_threads_to_see && first_of_thread(uprobe_hit_tid(h)))
		g_threads_to_see--;
	if (g_hit_fd >= 0 && !g_threads_to_see) {
		if (write(g_hit_fd, "h", 1) < 0)
			_exit(97);
		close(g_hit_fd);
		g_hit_fd = -1;
	}
	if (g_detach_left && --g_detach_left == 0)
		uprobe_tracer_stop(g_tracer);
	if (g_die != DIE_OUTSIDE && g_die != DIE_POINT && !g_threads_to_see && --g_left == 0) {
		if (g_die == DIE_SEGV)
			raise(SIGSEGV); /* as a NULL write in a user's handler ends the tracer */
		kill(getpid(), SIGKILL);
	}
	return 0;
}

static struct uprobe *g_first;

/* Tells of the first hit as on_hit() does, then removes its own probe. */
static int on_first(struct uprobe_hit *h, void *data)
{
	on_hit(h, data);
	if (g_first && uprobe_remove(g_first) == 0)
		g_first = NULL;
	return 0;
}

static void fail_child(const char *what, struct uprobe_tracer *t)
{
	fprintf(stderr, "tracer: %s: %s\n", what, t ? uprobe_tracer_errmsg(t) : strerror(errno));
	_exit(96);
}

/* Runs in the forked tracer: writes the target's pid to pid_fd, then traces until it dies. */
static void tracer_main(const struct plan *pl, long die_at, int pid_fd, int hit_fd, int out_fd)
{
	struct uprobe_tracer *t;
	char n[32];
	const char *target = pl->cxx ? g_cxx_target : g_target;
	char *argv[] = { (char *)target, n,
			 pl->block ? "block" : pl->block_around ? "blockrestore" : pl->nap ? "nap" :
			 pl->own_trap ? "trap" : NULL,
			 NULL };
	pid_t pid;
	int st;

	if (pl->die_env)
		setenv("UPROBE_TEST_DIE", pl->die_env, 1);
	t = uprobe_tracer_new();
	g_tracer = t;
	g_detach_left = pl->detach_after;
	snprintf(n, sizeof(n), "%ld", pl->n_calls);
	g_left = die_at;
	g_die = pl->die;
	g_hit_fd = hit_fd;
	g_threads_to_see = pl->after_all_threads ? 4 : 0;
	/* the target's output goes to the test (one_try()) */
	if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(92);
	if (!t)
		fail_child("new", NULL);
	uprobe_tracer_set_optimize(t, pl->optimize);
	if (pl->attach) {
		int ready[2];
		char c;

		if (pipe(ready))
			fail_child("pipe", NULL);
		pid = fork();
		if (pid == 0) {
			/* the target waits until it is traced */
			close(ready[1]);
			if (read(ready[0], &c, 1) != 1)
				_exit(95);
			execv(target, argv);
			_exit(94);
		}
		close(ready[0]);
		/* before the attach: the tracer may die inside it (DIE_POINT) */
		if (pid > 0 && write(pid_fd, &pid, sizeof(pid)) != sizeof(pid))
			_exit(93);
		if (pid < 0 || uprobe_tracer_attach(t, pid))
			fail_child("attach", t);
		if (write(ready[1], "g", 1) != 1)
			fail_child("start", NULL);
		close(ready[1]);
	} else if (uprobe_tracer_spawn(t, argv, &pid)) {
		fail_child("spawn", t);
	} else if (write(pid_fd, &pid, sizeof(pid)) != sizeof(pid)) {
		_exit(93);
	}
	close(pid_fd);
	{
		UPROBE_OPTS(uprobe_opts, o, .handler = pl->count ? NULL : on_hit,
			    .nostop = pl->nostop || pl->count);
		UPROBE_OPTS(uprobe_opts, r, .ret_handler = on_hit);

		if (pl->cxx) {
			if (!uprobe_add(t, target, "llx_call", 0, &o))
				fail_child("uprobe_add llx_call", t);
			if (!uprobe_add(t, target, "llx_throw", 0, &r))
				fail_child("uprobe_add llx_throw", t);
		} else if (!uprobe_add(t, g_target, "ll_outer", 0, &o)) {
			fail_child("uprobe_add ll_outer", t);
		}
		if (pl->ret && !uprobe_add(t, g_target, "ll_work", 0, &r))
			fail_child("uprobe_add ll_work", t);
		if (pl->nap) {
			UPROBE_OPTS(uprobe_opts, s, .post_handler = on_hit);

			/* ll_nap_sys + 5: its syscall */
			if (!uprobe_add(t, g_target, "ll_nap_sys", 5, &s))
				fail_child("uprobe_add ll_nap_sys+5", t);
		}
	}
	if (pl->count) {
		/*
		 * The count-only probe has no handler to tell of the first hit:
		 * a stopping probe on ll_work does, once (ll_outer's first hit,
		 * which made its detour, came just before), and goes.
		 */
		UPROBE_OPTS(uprobe_opts, f, .handler = on_first);

		g_first = uprobe_add(t, g_target, "ll_work", 0, &f);
		if (!g_first)
			fail_child("uprobe_add ll_work", t);
	}
	uprobe_tracer_run(t);
	if (pl->detach_after) {
		/* it lets the target go, and exits 0 if it lives through it */
		uprobe_tracer_detach(t);
		_exit(0);
	}
	/* ended before dying: the target finished first, and it is reaped */
	st = uprobe_tracer_exit_status(t, pid);
	_exit(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 90);
}

/* ---- the test process ---- */

static int wait_bounded(pid_t pid, int *st, unsigned secs)
{
	for (unsigned i = 0; i < secs * 100; i++) {
		pid_t r = waitpid(pid, st, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		sleep_ms(10);
	}
	return -1;
}

static unsigned g_seed = 12345;

static unsigned rnd(unsigned n)
{
	g_seed = g_seed * 1103515245u + 12345u;
	return (g_seed >> 8) % n;
}

/*
 * One try: the tracer dies at the die_at'th handler call (or a random
 * moment after the first hit); the target must then finish with exit 0.
 * Returns 0, or fails the test with what went wrong.
 */
static void one_try(const struct plan *pl, long die_at, int try)
{
	int pid_fd[2], hit_fd[2], out_fd[2], st, tst, err;
	char out[4096];
	ssize_t n;
	pid_t tracer, target = 0;
	char c;

	assert_int_equal(pipe(pid_fd), 0);
	assert_int_equal(pipe(hit_fd), 0);
	assert_int_equal(pipe(out_fd), 0);
	tracer = fork();
	assert_true(tracer >= 0);
	if (tracer == 0) {
		/* cmocka's handlers must not catch what ends the tracer */
		signal(SIGSEGV, SIG_DFL);
		alarm(0);
		close(pid_fd[0]);
		close(hit_fd[0]);
		close(out_fd[0]);
		tracer_main(pl, die_at, pid_fd[1], pl->die == DIE_OUTSIDE ? hit_fd[1] : -1,
			    out_fd[1]);
	}
	close(pid_fd[1]);
	close(hit_fd[1]);
	close(out_fd[1]);
	if (read(pid_fd[0], &target, sizeof(target)) != sizeof(target))
		target = 0;
	close(pid_fd[0]);
	if (pl->die == DIE_OUTSIDE) {
		if (read(hit_fd[0], &c, 1) == 1)
			sleep_ms(rnd(150));
		kill(tracer, SIGKILL);
	}
	close(hit_fd[0]);
	if (wait_bounded(tracer, &st, 60)) {
		kill(tracer, SIGKILL);
		waitpid(tracer, &st, 0);
		if (target > 0)
			kill(target, SIGKILL);
		fail_msg("try %d: the tracer never ended", try);
	}
	if (target <= 0)
		fail_msg("try %d: the tracer exited before tracing (status %#x)", try, st);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		close(out_fd[0]);
		if (pl->die == DIE_POINT)
			fail_msg("try %d: the tracer never reached %s", try, pl->die_env);
		return; /* the target finished before the tracer died, and exited 0 */
	}
	tst = st;
	if (!WIFSIGNALED(st))
		fail_msg("try %d: the tracer failed (status %#x)", try, st);
	/* the target is ours now (subreaper) */
	err = wait_bounded(target, &st, 60);
	/* what the target printed, all there once it ended (a waker may still hold the pipe) */
	fcntl(out_fd[0], F_SETFL, O_NONBLOCK);
	n = read(out_fd[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(out_fd[0]);
	fputs(out, stdout);
	if (err == -ECHILD && strstr(out, "total ok\n"))
		return; /* it finished under the tracer, which reaped it just before it was killed */
	if (err) {
		kill(target, SIGKILL);
		waitpid(target, &st, 0);
		fail_msg("try %d: the target never finished after the tracer (status %#x) died: %s",
			 try, tst, strerror(-err));
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("try %d (tracer died at call %ld): the target %s %d", try, die_at,
			 WIFSIGNALED(st) ? "died of signal" : "exited with", WIFSIGNALED(st) ?
			 WTERMSIG(st) : WEXITSTATUS(st));
}

static void tries(const struct plan *pl, int n, long max_calls)
{
	for (int i = 0; i < n; i++)
		one_try(pl, 1 + rnd((unsigned)max_calls), i);
}

/* n tries of a tracer killed from outside, in place and optimized in turn, attached from try a on. */
static void outside_tries(struct plan *pl, int n, int a)
{
	pl->die = DIE_OUTSIDE;
	for (int i = 0; i < n; i++) {
		pl->optimize = i % 2;
		pl->attach = i >= a;
		one_try(pl, 0, i);
	}
}

static void test_entry_in_place(void **state)
{
	struct plan pl = { .die = DIE_KILL, .n_calls = 2000 };

	(void)state;
	tries(&pl, 20, 3000);
}

static void test_entry_detour(void **state)
{
	struct plan pl = { .optimize = true, .die = DIE_KILL, .n_calls = 2000 };

	(void)state;
	tries(&pl, 20, 3000);
}

static void test_return_in_place(void **state)
{
	struct plan pl = { .ret = true, .die = DIE_KILL, .n_calls = 2000 };

	(void)state;
	tries(&pl, 20, 3000);
}

static void test_return_detour_attached(void **state)
{
	struct plan pl = { .optimize = true, .ret = true, .attach = true, .die = DIE_KILL,
			   .n_calls = 2000 };

	(void)state;
	tries(&pl, 20, 3000);
}

/* A user's handler that crashes the tracer: the program lives on. */
static void test_handler_segfault(void **state)
{
	struct plan pl = { .ret = true, .die = DIE_SEGV, .n_calls = 2000 };

	(void)state;
	tries(&pl, 20, 3000);
}

static void test_killed_from_outside(void **state)
{
	struct plan pl = { .ret = true, .die = DIE_OUTSIDE, .n_calls = 4000 };

	(void)state;
	for (int i = 0; i < 20; i++) {
		pl.optimize = i % 2;
		pl.attach = i % 3 == 0;
		one_try(&pl, 0, i);
	}
}

static void test_nostop_killed(void **state)
{
	struct plan pl = { .optimize = true, .nostop = true, .die = DIE_OUTSIDE,
			   .n_calls = 200000 };

	(void)state;
	for (int i = 0; i < 20; i++) {
		pl.attach = i % 2;
		one_try(&pl, 0, i);
	}
}

/* The same with a count-only probe: its detour keeps counting, the program stays exact. */
static void test_count_only_killed(void **state)
{
	struct plan pl = { .optimize = true, .count = true, .die = DIE_OUTSIDE,
			   .n_calls = 200000 };

	(void)state;
	for (int i = 0; i < 20; i++) {
		pl.attach = i % 2;
		one_try(&pl, 0, i);
	}
}

/*
 * Threads that block every signal: a trap of ours finding SIGTRAP blocked
 * would reset it to the default for the process (our handler gone) before
 * the tracer hears of it, and the tracer's death then kills the program;
 * so their masks are followed and SIGTRAP stays unblocked in the kernel.
 */
static void test_blocked_signals(void **state)
{
	/*
	 * The tracer dies once every thread was seen at a probe; from the
	 * first hit on: test_blocked_any_moment.
	 */
	struct plan pl = { .ret = true, .block = true, .after_all_threads = true,
			   .die = DIE_KILL, .n_calls = 2000 };

	(void)state;
	tries(&pl, 6, 3000);
	pl.n_calls = 4000;
	outside_tries(&pl, 4, 2);
}

/*
 * The same with the tracer dying at any moment from its first hit, before
 * the threads were all seen: their masks are followed (libc's rt_sigprocmask
 * calls made by the tracer), SIGTRAP kept unblocked in the kernel's view
 * while they block it, so that no trap of ours resets the handler.
 */
static void test_blocked_any_moment(void **state)
{
	struct plan pl = { .ret = true, .block = true, .die = DIE_KILL, .n_calls = 2000 };

	(void)state;
	tries(&pl, 8, 100);
	pl.n_calls = 4000;
	outside_tries(&pl, 4, 2);
}

/*
 * Each call between pthread_sigmask(SIG_BLOCK, every signal) and the mask
 * set back, the tracer killed from outside: our int3s on those system calls
 * stay until the guardian has put back every other (the lifeline makes the
 * calls itself meanwhile, SIGTRAP left unblocked), so that no thread blocks
 * SIGTRAP where another int3 of ours waits. Each thread checks at its end
 * that it blocks SIGCHLD, as it set, and not SIGTRAP.
 */
static void test_mask_calls_killed(void **state)
{
	struct plan pl = { .ret = true, .block_around = true, .n_calls = 4000 };

	(void)state;
	outside_tries(&pl, 6, 3);
}

/*
 * A program with a SIGTRAP handler of its own, installed once traced (by
 * main, spawned or attached), which raise()s SIGTRAP: ours stands in front
 * of it and passes it every SIGTRAP not ours, so that no trap of ours a
 * thread meets after the tracer's death reaches it (its count of its own
 * SIGTRAPs stays exact: exit 6 if not; before, a trap of ours reached it,
 * and it returned into the middle of an instruction).
 */
static void test_own_handler_killed(void **state)
{
	struct plan pl = { .ret = true, .own_trap = true, .die = DIE_KILL, .n_calls = 2000 };

	(void)state;
	tries(&pl, 6, 3000);
	pl.n_calls = 4000;
	outside_tries(&pl, 6, 3);
}

/*
 * A thread sleeps in a system call run in its post slot (the probe's post
 * handler runs once it returns) when the tracer dies: the call returns
 * into the slot's int3, and the thread must go on to the instruction after
 * the call, as untraced.
 */
static void test_post_slot_killed(void **state)
{
	struct plan pl = { .nap = true, .n_calls = 4000 };

	(void)state;
	outside_tries(&pl, 6, 4);
}

/*
 * A C++ exception thrown after the tracer's death through a frame whose
 * return address is the trampoline (the thread was inside a return-probed
 * function then): the unwinder must find real return addresses, or the
 * program ends in std::terminate.
 */
static void test_exception_after_death(void **state)
{
	struct plan pl = { .cxx = true, .n_calls = 150 };

	(void)state;
	outside_tries(&pl, 6, 4);
}

struct stopper {
	struct uprobe_tracer *t;
	long left; /* entry hits before run() stops */
	long rets;
};

static int stop_after(struct uprobe_hit *h, void *data)
{
	struct stopper *sp = data;

	if (uprobe_hit_is_return(h))
		sp->rets++;
	else if (--sp->left == 0)
		uprobe_tracer_stop(sp->t);
	return 0;
}

/*
 * ... and after a detach, the threads still have SIGTRAP blocked, as they
 * asked: the target checks at its end, untraced by then.
 */
/*
 * The tracer detaches after `left` hits of ll_outer, or (blockrestore) once
 * the four threads are done with their calls and back on their own mask.
 */
static void blocked_detach(const char *mode, const char *calls, long left)
{
	struct uprobe_tracer *t = uprobe_tracer_new();
	char *argv[] = { (char *)g_target, (char *)calls, (char *)mode, NULL };
	struct stopper sp = { .t = t, .left = left }, done = { .t = t, .left = 4 };
	pid_t pid;
	int st;

	assert_non_null(t);
	assert_int_equal(uprobe_tracer_spawn(t, argv, &pid), 0);
	{
		UPROBE_OPTS(uprobe_opts, o, .handler = stop_after, .data = &sp);
		UPROBE_OPTS(uprobe_opts, r, .ret_handler = stop_after, .data = &sp);

		UPROBE_OPTS(uprobe_opts, d, .handler = stop_after, .data = &done);

		assert_non_null(uprobe_add(t, g_target, "ll_outer", 0, &o));
		assert_non_null(uprobe_add(t, g_target, "ll_work", 0, &r));
		if (!left)
			assert_non_null(uprobe_add(t, g_target, "ll_done", 0, &d));
	}
	assert_int_equal(uprobe_tracer_run(t), 0);
	assert_true(left ? sp.left <= 0 : done.left <= 0);
	assert_true(sp.rets > 0);
	assert_int_equal(uprobe_tracer_detach(t), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	uprobe_tracer_free(t);
}

static void test_blocked_signals_detach(void **state)
{
	(void)state;
	blocked_detach("blockcheck", "100000", 2000);
	/*
	 * Threads that block every signal only around each call, a mask of
	 * their own (SIGCHLD) otherwise: SIGTRAP is not blocked after detach.
	 */
	blocked_detach("blockrestore", "300", 0);
}

/*
 * The tracer dies at the very moments between two writes that must not
 * leave the program damaged: a jump detour half written (its displacement
 * over the instruction, its int3 still in front), half taken back (at a
 * detach), and the end of an injected system call (its stop taken, the
 * registers not yet put back), the lifeline's own installation included.
 */
static void test_die_points(void **state)
{
	static const struct plan plans[] = {
		{ .optimize = true, .die = DIE_POINT, .die_env = "detour-jump", .n_calls = 2000 },
		{ .optimize = true, .ret = true, .die = DIE_POINT, .die_env = "detour-jump:2",
		  .n_calls = 2000 },
		{ .optimize = true, .nostop = true, .die = DIE_POINT, .die_env = "detour-jump",
		  .n_calls = 20000 },
		{ .optimize = true, .attach = true, .die = DIE_POINT, .die_env = "detour-jump",
		  .n_calls = 2000 },
		{ .optimize = true, .die = DIE_POINT, .die_env = "detour-back", .detach_after = 500,
		  .n_calls = 4000 },
		{ .optimize = true, .ret = true, .die = DIE_POINT, .die_env = "detour-back",
		  .detach_after = 500, .n_calls = 4000 },
		/*
		 * The 1st: the lifeline's own installation (a spawned program
		 * still dies with us then); the 2nd: a scratch area near the code.
		 */
		{ .optimize = true, .die = DIE_POINT, .die_env = "inject-end:2", .n_calls = 2000 },
		{ .optimize = true, .nostop = true, .die = DIE_POINT, .die_env = "inject-end:3",
		  .n_calls = 20000 },
		{ .optimize = true, .count = true, .die = DIE_POINT, .die_env = "detour-jump",
		  .n_calls = 20000 },
		{ .optimize = true, .count = true, .die = DIE_POINT, .die_env = "inject-end:3",
		  .n_calls = 20000 },
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(plans) / sizeof(plans[0]); i++)
		for (int j = 0; j < 2; j++)
			one_try(&plans[i], 0, (int)(i * 2 + j));
}

/*
 * The tracer dies while it detaches, some of its int3s put back and some
 * not, while the threads block every signal around each call (libc's
 * rt_sigprocmask, one of our int3s each, LL_MASK): were the int3 on their
 * mask change put back before one they meet later (the jump detour's head,
 * an int3 again at "detour-back"), a thread would block SIGTRAP for real
 * and then trap on it, a forced SIGTRAP that kills. The order in which
 * they are put back follows the breakpoints' hash, new with each address
 * layout: one try in three finds it or so, hence the tries.
 * (Seen first as pthread_create()'s mask change around its clone.)
 */
static void test_die_detaching_masks(void **state)
{
	struct plan pl = { .optimize = true, .block_around = true, .die = DIE_POINT,
			   .die_env = "detour-back", .detach_after = 500, .n_calls = 4000 };

	(void)state;
	for (int i = 0; i < 12; i++)
		one_try(&pl, 0, i);
}

static bool sigtrap_caught(pid_t pid)
{
	char path[64], line[256];
	unsigned long long cgt = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigCgt: %llx", &cgt) == 1)
			break;
	fclose(f);
	return cgt & (1ull << (SIGTRAP - 1));
}

static int count_hit(struct uprobe_hit *h, void *data)
{
	(void)h;
	++*(long *)data;
	return 0;
}

/*
 * The handler is the program's SIGTRAP disposition while it is traced,
 * and SIG_DFL again once detached; the program's own int3, traced or not,
 * kills it with SIGTRAP as untraced.
 */
static void test_detach_and_own_int3(void **state)
{
	struct uprobe_tracer *t = uprobe_tracer_new();
	char *argv[] = { (char *)g_target, "200000", "int3", NULL };
	long hits = 0;
	pid_t pid;
	int st;

	(void)state;
	assert_non_null(t);
	assert_int_equal(uprobe_tracer_spawn(t, argv, &pid), 0);
	{
		UPROBE_OPTS(uprobe_opts, o, .handler = count_hit, .data = &hits);

		assert_non_null(uprobe_add(t, g_target, "ll_outer", 0, &o));
	}
	assert_true(sigtrap_caught(pid));
	assert_int_equal(uprobe_tracer_detach(t), 0);
	assert_false(sigtrap_caught(pid));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTRAP);

	/* traced to the end: the own int3 reaches the program through the handler */
	argv[1] = "2000";
	assert_int_equal(uprobe_tracer_spawn(t, argv, &pid), 0);
	{
		UPROBE_OPTS(uprobe_opts, o, .handler = count_hit, .data = &hits);

		assert_non_null(uprobe_add(t, g_target, "ll_outer", 0, &o));
	}
	assert_int_equal(uprobe_tracer_run(t), 0);
	/*
	 * Every call of its 4 threads, seen by both probes on ll_outer (the
	 * first run's stays with the tracer); none in the first run, which
	 * ran only after the detach.
	 */
	assert_int_equal(hits, 2 * 4 * 2000);
	st = uprobe_tracer_exit_status(t, pid);
	assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTRAP);
	uprobe_tracer_free(t);
}

/* ---- a tracer thread that ends without a word (test_tracer_thread_exits) ---- */

struct thread_tracer {
	pid_t target;
	uint64_t at;    /* ll_outer in the target */
	uint8_t code[16]; /* its bytes before any probe */
	long left;      /* hits before the thread stops tracing */
	struct uprobe_tracer *t;
	int err;
};

static int on_thread_hit(struct uprobe_hit *h, void *data)
{
	struct thread_tracer *tt = data;

	tt->at = uprobe_hit_addr(h);
	if (--tt->left == 0)
		uprobe_tracer_stop(tt->t);
	return 0;
}

static int read_mem(pid_t pid, uint64_t at, void *buf, size_t len)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ok = pread(fd, buf, len, (off_t)at) == (ssize_t)len ? 0 : -1;
	close(fd);
	return ok;
}

/* The tracer thread: spawns, probes ll_outer (a jump detour when hot), and returns mid-run. */
static void *tracer_thread(void *arg)
{
	struct thread_tracer *tt = arg;
	char *argv[] = { (char *)g_target, "3000000", NULL };
	UPROBE_OPTS(uprobe_opts, o, .handler = on_thread_hit, .data = tt);

	tt->t = uprobe_tracer_new();
	if (!tt->t || uprobe_tracer_spawn(tt->t, argv, &tt->target)) {
		tt->err = 1;
		return NULL;
	}
	uprobe_tracer_set_optimize(tt->t, true);
	if (!uprobe_add(tt->t, g_target, "ll_outer", 0, &o)) {
		tt->err = 2;
		return NULL;
	}
	uprobe_tracer_run(tt->t);
	/* no detach, no free: the thread simply ends, and the kernel lets the target go */
	return NULL;
}

/*
 * Runs in a forked tracer process: its tracing thread ends without
 * detaching while the process lives on. The guardian (the thread's child,
 * PR_SET_PDEATHSIG) must put ll_outer's code back; the target must finish
 * exact. Exit 0 if both.
 */
static void thread_tracer_main(void)
{
	struct thread_tracer tt = { .left = 3000 };
	uint8_t now[16], file[16];
	pthread_t th;
	int st, i;

	if (pthread_create(&th, NULL, tracer_thread, &tt) || pthread_join(th, NULL))
		_exit(80);
	if (tt.err || !tt.at)
		_exit(81 + tt.err);
	/* the file's bytes: what the target had before its tracer touched it */
	{
		char exe[64];
		FILE *m;
		char line[512];
		unsigned long lo, hi, foff;
		int fd = -1;

		snprintf(exe, sizeof(exe), "/proc/%d/maps", (int)tt.target);
		m = fopen(exe, "r");
		if (!m)
			_exit(84);
		while (fgets(line, sizeof(line), m))
			if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &foff) == 3 && tt.at >= lo &&
			    tt.at < hi)
				break;
		fclose(m);
		fd = open(g_target, O_RDONLY);
		if (fd < 0 || pread(fd, file, sizeof(file), (off_t)(tt.at - lo + foff)) != 16)
			_exit(85);
		close(fd);
	}
	for (i = 0; i < 500; i++) {
		if (read_mem(tt.target, tt.at, now, sizeof(now)) == 0 && !memcmp(now, file, 16))
			break;
		sleep_ms(10);
	}
	if (i == 500) {
		fprintf(stderr, "thread tracer: ll_outer not put back in 5 s: %02x %02x, file %02x "
				"%02x\n", now[0], now[1], file[0], file[1]);
		kill(tt.target, SIGKILL);
		_exit(86);
	}
	/* the target was the thread's child: now this thread's (the group's) */
	if (waitpid(tt.target, &st, 0) != tt.target)
		_exit(87);
	_exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 88);
}

/*
 * A tracer *thread* that ends without detaching (its process lives on):
 * the kernel lets the target go, the guardian hears of it through
 * PR_SET_PDEATHSIG (no pipe closes: the process is alive) and puts the
 * jump detour's bytes back; the target finishes with exit 0.
 */
static void test_tracer_thread_exits(void **state)
{
	pid_t tracer;
	int st;

	(void)state;
	for (int try = 0; try < 3; try++) {
		tracer = fork();
		assert_true(tracer >= 0);
		if (tracer == 0) {
			alarm(0);
			thread_tracer_main();
		}
		if (wait_bounded(tracer, &st, 60)) {
			kill(tracer, SIGKILL);
			waitpid(tracer, &st, 0);
			fail_msg("try %d: the tracer process never ended", try);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("try %d: the tracer process: status %#x", try, st);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detach_and_own_int3),
		cmocka_unit_test(test_entry_in_place),
		cmocka_unit_test(test_entry_detour),
		cmocka_unit_test(test_return_in_place),
		cmocka_unit_test(test_return_detour_attached),
		cmocka_unit_test(test_handler_segfault),
		cmocka_unit_test(test_killed_from_outside),
		cmocka_unit_test(test_nostop_killed),
		cmocka_unit_test(test_count_only_killed),
		cmocka_unit_test(test_blocked_signals),
		cmocka_unit_test(test_blocked_signals_detach),
		cmocka_unit_test(test_blocked_any_moment),
		cmocka_unit_test(test_mask_calls_killed),
		cmocka_unit_test(test_own_handler_killed),
		cmocka_unit_test(test_die_points),
		cmocka_unit_test(test_tracer_thread_exits),
		cmocka_unit_test(test_post_slot_killed),
		cmocka_unit_test(test_exception_after_death),
		cmocka_unit_test(test_die_detaching_masks),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s API_LIFELINE API_LIFELINE_CXX\n", argv[0]);
		return 2;
	}
	g_target = argv[1];
	g_cxx_target = argv[2];
	g_seed = (unsigned)getpid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getenv("LL_ONLY")) {
		struct CMUnitTest one[1] = { tests[atoi(getenv("LL_ONLY"))] };
		return cmocka_run_group_tests(one, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
