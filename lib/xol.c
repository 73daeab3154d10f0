// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Out-of-line scratch areas in the tracee, as data: which one holds an
 * address, where a new one may go (within ±2 GiB), slot marks, the addresses
 * of the lifeline and the trampoline. Mapping, filling and unmapping them
 * is area.c's.
 */
#include <stdlib.h>

#include "engine.h"
#include "lifeline.h"

#define REACH ((int64_t)1 << 31)
#define LOW_LIMIT 0x10000ull           /* mmap_min_addr */
#define HIGH_LIMIT 0x7ffffffff000ull   /* top of the user address space (4-level paging) */

struct xol_area *xol_area_of(struct proc *p, uint64_t addr)
{
	for (struct xol_area *a = proc_mm(p)->areas; a; a = a->next)
		if (addr >= a->start && addr < a->start + a->size)
			return a;
	return NULL;
}

static uint64_t dist(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/*
 * The free gap address closest to `near` that fits an area, so that slots
 * reach the code with rel32 jumps and rip-relative operands keep reaching
 * their targets. 0 if no gap lies within reach.
 */
uint64_t xol_find_gap(struct proc *p, uint64_t near, uint64_t size)
{
	uint64_t best = 0, best_d = UINT64_MAX, prev_end = LOW_LIMIT;

	for (int i = 0; i <= p->nmaps; i++) {
		uint64_t gap_lo = prev_end;
		uint64_t gap_hi = i < p->nmaps ? p->maps[i].start : HIGH_LIMIT;

		if (i < p->nmaps)
			prev_end = p->maps[i].end > prev_end ? p->maps[i].end : prev_end;
		/* keep a guard page on each side so stacks growing down are not blocked */
		gap_lo += 0x10000;
		if (gap_hi < 0x10000 || gap_hi - 0x10000 < gap_lo || gap_hi - 0x10000 - gap_lo < size)
			continue;
		gap_hi -= 0x10000;
		uint64_t cand = near < gap_lo ? gap_lo : near + size > gap_hi ? gap_hi - size : near;

		cand &= ~0xfffull;
		if (cand < gap_lo)
			cand += 0x1000;
		if (cand + size > gap_hi)
			continue;
		if (dist(cand, near) < best_d) {
			best_d = dist(cand, near);
			best = cand;
		}
	}
	if (best_d >= (uint64_t)(REACH - 2 * size))
		return 0;
	return best;
}

int xol_mark(struct xol_area *a, unsigned idx, uint64_t **map)
{
	if (!*map) {
		*map = calloc(a->nslots / 64 + 1, sizeof(**map));
		if (!*map)
			return -ENOMEM;
	}
	(*map)[idx / 64] |= 1ull << (idx % 64);
	return 0;
}

uint64_t xol_lifeline_at(const struct xol_area *a)
{
	return a->start + a->size - XOL_REC_GADGET_SPACE - LL_SPACE;
}

uint64_t xol_trampoline(struct proc *p)
{
	struct proc *mm = proc_mm(p);

	return mm->gadget ? mm->gadget - XOL_GADGET_SYSCALL + XOL_GADGET_RET : mm->trap;
}
