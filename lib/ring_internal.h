/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the hit ring share and nothing else sees: the
 * tracer's side of a process's ring (struct ring, which core.h leaves
 * opaque). The layout shared with the tracee is ring.h's.
 */
#ifndef UPROBE_RING_INTERNAL_H
#define UPROBE_RING_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mech.h"
#include "ring.h"

#define FS_CACHE 64 /* a power of two */

struct ring {
	uint8_t *base;   /* the tracer's mapping */
	uint64_t addr;   /* the tracee's */
	uint64_t tail;   /* next ticket to consume */
	/*
	 * Records' time-stamp counters become CLOCK_MONOTONIC times through
	 * the rate seen between this anchor and the drain's own reading;
	 * only when the kernel itself keeps time with the TSC (synchronised
	 * across CPUs), else a hit's time is when it was drained.
	 */
	bool tsc_ok;
	uint64_t tsc0, ns0;
	uint8_t fs_mode; /* RING_FS_*: how its gadgets read a record's fs_base */
	uint64_t retg;   /* the return gadget every hijacked return address names (0: none yet) */
	/* threads recently named by records: fs_base -> tid, checked against the task on use */
	struct {
		uint64_t fs;
		pid_t tid;
	} fs_cache[FS_CACHE];
};

/* ring.c: where an area's record gadget is; a (tsc, ns) pair that times records */
uint64_t ring_gadget_start(const struct xol_area *a);
void ring_tsc_sample(uint64_t *tsc, uint64_t *ns);

/* ring_deliver.c: runs the handlers of the probes of the record's detour (drained ones) */
void ring_deliver(struct uprobe_tracer *t, struct proc *p, struct ring *r,
		  struct ring_rec *rec, const struct ring_rec *slot, uint64_t time_ns);

#endif
