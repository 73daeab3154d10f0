/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of injection share and nothing else sees: inject.c (what
 * is injected: system calls, function calls) runs it to its end through
 * inject_run.c.
 */
#ifndef UPROBE_INJECT_INTERNAL_H
#define UPROBE_INJECT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "os.h"

/*
 * An int3 trap is a forced SIGTRAP: where the thread has SIGTRAP blocked, or
 * the process ignores it, the kernel first resets its disposition to the
 * default and unblocks it (force_sig_info_to_task()), for good, and the
 * program later dies of a SIGTRAP it meant to ignore. Injections guard
 * against both: a blocked SIGTRAP is unblocked in the thread's mask only
 * while the injected code runs (so the trap changes nothing) and put back;
 * an ignored one is never trapped on at all: the injection ends in the
 * delivery of a SIGTRAP the thread sends itself (tgkill, a plain signal,
 * reported to the tracer although ignored), not in an int3.
 */
struct trap_guard {
	uint64_t mask;   /* k's signal mask before */
	bool unblocked;  /* SIGTRAP taken out of it meanwhile */
	bool ignored;    /* the process ignores SIGTRAP */
};

/* inject_run.c: running injected code to its end; 0 or -errno */
void inject_run_guard_begin(struct task *k, struct trap_guard *g);
void inject_run_guard_end(struct task *k, const struct trap_guard *g);
int inject_run_to_syscall_stop(struct task *k, uint64_t sys_pc, bool want_exit);
int inject_run_leave_event_syscall(struct task *k);
int inject_run_end_by_tgkill(struct task *k, uint64_t sys_pc, bool at_entry);
bool inject_run_tgkill_allowed(struct task *k, uint64_t sys_pc);
int inject_run_until_trap(struct task *k, uint64_t trap_pc);

#endif
