/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the lifeline share and nothing else sees: the
 * tracer's side of a process's lifeline (struct lifeline, which core.h
 * leaves opaque), kept by lifeline.c (the handler, its data) and
 * lifeline_table.c (the table of our int3s). The layout shared with the
 * tracee is lifeline.h's.
 */
#ifndef UPROBE_LIFELINE_INTERNAL_H
#define UPROBE_LIFELINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mech.h"
#include "lifeline.h"

struct lifeline {
	uint64_t at;       /* the handler in the tracee */
	uint64_t tab;      /* its table */
	unsigned count;
	unsigned cap;      /* of addrs; the hash has 2 * cap buckets */
	uint64_t *addrs;   /* the table's keys, as written */
	uint32_t *hidx;    /* key -> index + 1 in addrs (0: empty), open addressing */
	unsigned nareas;
	bool installed;    /* our handler was made the disposition */
	/* the program's own handler, ours passing it what is not ours (ll_data.prog) */
	struct k_sigaction prog;
	bool guarded;      /* listed with the guardian */
	bool full_said;
};

/* Where the handler's data (struct ll_data) is in the tracee. */
static inline uint64_t lifeline_data_at(const struct lifeline *l)
{
	return l->at + (uint64_t)(uprobe__lifeline_data - uprobe__lifeline);
}

static inline int write_data(struct proc *p, const struct lifeline *l, size_t off,
			     const void *v, size_t len)
{
	return mem_write(p, lifeline_data_at(l) + off, v, len);
}

/* lifeline_table.c: room for one more entry in the mirror of the table; 0 or -ENOMEM */
int lifeline_table_grow(struct lifeline *l);

#endif
