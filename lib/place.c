// SPDX-License-Identifier: LGPL-2.1-or-later
/* Where the tracer runs: pinned to a CPU, or following the CPUs of the threads it serves. */
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

/*
 * Every hit is a round trip: the tracee stops, the tracer wakes, the tracee
 * is resumed. When the two run on different CPUs each direction is a
 * cross-CPU wake-up, which on virtual machines costs ten times the rest of
 * the round trip. Following: the tracer runs where the thread that stopped
 * may run, i.e. on the CPUs its affinity restricts it to; a tracee pinned
 * to one CPU then shares it with its tracer, and nothing can split them.
 * Following the CPU an unrestricted thread last ran on was measured not to
 * work: the tracer resumes it while still running itself, so the wake-up
 * places it on an idle CPU (measured on a 2-CPU VM: the pair shared a CPU in
 * 35 hits of 20,000), and a pinned tracer only loses the freedom to move.
 * The affinity is looked at rarely (the first stop, then at most every
 * FOLLOW_PERIOD_NS) and changed only when it differs: a hit in between
 * costs a clock read (vDSO) and a comparison.
 */
#define FOLLOW_PERIOD_NS 50000000ull

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int pin_self(int cpu)
{
	cpu_set_t m;

	CPU_ZERO(&m);
	CPU_SET(cpu, &m);
	return sched_setaffinity(0, sizeof(m), &m) < 0 ? -errno : 0;
}

/* The affinity the run thread had before we moved it, taken once per run(). */
static void save_affinity(struct uprobe_tracer *t)
{
	if (!t->place.saved_valid &&
	    sched_getaffinity(0, sizeof(t->place.saved), &t->place.saved) == 0)
		t->place.saved_valid = true;
}

static void restore_affinity(struct uprobe_tracer *t)
{
	if (t->place.saved_valid)
		sched_setaffinity(0, sizeof(t->place.saved), &t->place.saved);
	t->place.saved_valid = false;
	t->place.cur = -1;
}

static bool in_run_thread(struct uprobe_tracer *t)
{
	return t->run_tid && t->run_tid == (pid_t)syscall(SYS_gettid);
}

/* Puts the run thread where t->place asks; called from that thread. */
static void apply(struct uprobe_tracer *t)
{
	struct tracer_place *pl = &t->place;

	if (pl->want == UPROBE_CPU_ANY) {
		restore_affinity(t);
		return;
	}
	save_affinity(t);
	if (pl->want == UPROBE_CPU_FOLLOW) {
		pl->next_check = 0; /* at the next stop */
		return;
	}
	if (pl->cur != pl->want && pin_self(pl->want) == 0)
		pl->cur = pl->want;
}

UPROBE_API int uprobe_tracer_set_cpu(struct uprobe_tracer *t, int cpu)
{
	cpu_set_t allowed;

	if (!t) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (cpu < UPROBE_CPU_FOLLOW || cpu >= CPU_SETSIZE)
		return tracer_err(t, -EINVAL, "uprobe_tracer_set_cpu: %d is not a CPU number, "
				  "UPROBE_CPU_ANY (-1) or UPROBE_CPU_FOLLOW (-2)", cpu);
	if (cpu >= 0 && (sched_getaffinity(0, sizeof(allowed), &allowed) < 0 ||
			 !CPU_ISSET(cpu, &allowed)))
		return tracer_err(t, -EINVAL, "uprobe_tracer_set_cpu: CPU %d is not one this "
				  "process may run on", cpu);
	/* calloc'd tracers start at 0: the field says "set" before it says which */
	t->place.set = true;
	t->place.want = cpu;
	if (in_run_thread(t))
		apply(t);
	return 0;
}

void place_run_begin(struct uprobe_tracer *t)
{
	if (!t->place.set)
		return;
	t->place.cur = -1;
	apply(t);
}

void place_run_end(struct uprobe_tracer *t)
{
	if (t->place.set)
		restore_affinity(t);
}

void place_follow(struct uprobe_tracer *t, struct task *k)
{
	struct tracer_place *pl = &t->place;
	cpu_set_t m, mine;
	uint64_t now;

	if (!pl->set || pl->want != UPROBE_CPU_FOLLOW)
		return;
	now = coarse_ns();
	if (now < pl->next_check)
		return;
	pl->next_check = now + FOLLOW_PERIOD_NS;
	if (sched_getaffinity(k->tid, sizeof(m), &m) < 0)
		return;
	/* only where the run thread was allowed before we moved it */
	if (pl->saved_valid)
		mine = pl->saved;
	else if (sched_getaffinity(0, sizeof(mine), &mine) < 0)
		return;
	CPU_AND(&m, &m, &mine);
	if (!CPU_COUNT(&m) || CPU_EQUAL(&m, &mine)) {
		/* a thread free to run anywhere: so is the tracer */
		if (pl->cur != -1)
			restore_affinity(t);
		return;
	}
	if (pl->cur == -2 && CPU_EQUAL(&m, &pl->cur_mask))
		return;
	save_affinity(t);
	if (sched_setaffinity(0, sizeof(m), &m) == 0) {
		pl->cur = -2;
		pl->cur_mask = m;
	}
}
