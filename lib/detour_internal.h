/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of jump detours share and nothing else sees: a
 * breakpoint's detour state, and the functions one of them calls in
 * another. detour.c's opening comment tells what a detour is.
 */
#ifndef UPROBE_DETOUR_INTERNAL_H
#define UPROBE_DETOUR_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "mech.h"

#define INT3 0xcc
#define RED_ZONE 128

/*
 * bp->dstate:
 *   UNTRIED -> ON     an attempt at a hit wrote the jmp
 *   UNTRIED -> NEVER  the site cannot have a detour, or attempts kept failing
 *   ON -> UNTRIED     de-optimized (probe removed, a probe added in the range,
 *                     a fault inside the detour, optimization switched off)
 */
enum detour_state {
	DETOUR_UNTRIED,
	DETOUR_ON,
	DETOUR_NEVER,
};

/*
 * Holding threads handles their events: another thread's exec (or a kill)
 * may have freed k, and k's process with it when k was its last thread.
 */
static inline bool still_there(struct uprobe_tracer *t, struct task *k, pid_t tid)
{
	return task_find(t, tid) == k;
}

/* detour.c: a detour's covered instructions, its slot and kind */
int detour_covered_plans(const struct site *s, struct detour_covered *c);
const struct slot_info *detour_slot(struct proc *p, uint64_t addr, uint64_t *slot, uint64_t *int3);
uint64_t detour_int3_of(struct proc *p, uint64_t slot);
bool detour_slot_is_rec(struct proc *p, uint64_t slot);
bool detour_slot_is(struct proc *p, uint64_t slot, bool (*is)(const struct xol_area *, unsigned));
struct bp *detour_covering(struct proc *p, uint64_t vaddr);

/* detour_hit.c: k sent on right after a detour's int3 (its handlers have run) */
void detour_hit_enter(struct task *k, uint64_t int3);

/* detour_threads.c: the threads held while the jmp is written, checked and moved */
bool detour_threads_clear(struct uprobe_tracer *t, struct proc *p, struct task *k, uint64_t lo,
			  uint64_t hi, uint64_t own_slot);
bool detour_threads_move(struct uprobe_tracer *t, struct proc *p, struct task *k,
			 uint64_t own_slot, uint64_t to);
void detour_threads_unslot(struct uprobe_tracer *t, struct proc *p, uint64_t addr, uint64_t slot);

#endif
