// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The lifeline's table in the tracee: our int3s, the file's bytes under
 * them, and the stack slots that hold the trampoline, each entered before
 * its int3 is written and taken out after the byte is back, so that the
 * handler finds whatever a thread traps on; and the tracer's mirror of it,
 * a hash by address. The handler and its data are lifeline.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mech.h"
#include "lifeline.h"
#include "lifeline_internal.h"

static unsigned home_of(const struct lifeline *l, uint64_t addr)
{
	return (unsigned)((addr * 0x9e3779b97f4a7c15ull) >> 32) % (2 * l->cap);
}

static uint64_t key_at(const struct lifeline *l, unsigned h)
{
	return l->hidx[h] ? l->addrs[l->hidx[h] - 1] : 0;
}

/* The bucket of addr, or the empty one where it would go. */
static unsigned hslot(const struct lifeline *l, uint64_t addr)
{
	unsigned h = home_of(l, addr);

	while (l->hidx[h] && key_at(l, h) != addr)
		h = (h + 1) % (2 * l->cap);
	return h;
}

/* Empties bucket h, moving later entries of its run so that every lookup still finds them. */
static void hdel(struct lifeline *l, unsigned h)
{
	unsigned n = 2 * l->cap, j = h;

	l->hidx[h] = 0;
	for (;;) {
		unsigned home;

		j = (j + 1) % n;
		if (!l->hidx[j])
			return;
		home = home_of(l, key_at(l, j));
		/* the entry at j may fill h when h lies cyclically in [home, j) */
		if ((j > h && (home <= h || home > j)) || (j < h && home <= h && home > j)) {
			l->hidx[h] = l->hidx[j];
			l->hidx[j] = 0;
			h = j;
		}
	}
}

/* Room for one more entry in the tracer's mirror of the table (a quarter more at a time). */
int lifeline_table_grow(struct lifeline *l)
{
	unsigned cap = l->cap ? l->cap + l->cap / 4 : 64;
	uint64_t *addrs;
	uint32_t *hidx;

	if (l->count < l->cap)
		return 0;
	addrs = realloc(l->addrs, cap * sizeof(*addrs));
	if (!addrs)
		return -ENOMEM;
	l->addrs = addrs;
	hidx = calloc(2 * cap, sizeof(*hidx));
	if (!hidx)
		return -ENOMEM;
	free(l->hidx);
	l->hidx = hidx;
	l->cap = cap;
	for (unsigned i = 0; i < l->count; i++)
		l->hidx[hslot(l, l->addrs[i])] = i + 1;
	return 0;
}

static int write_count(struct proc *p, const struct lifeline *l)
{
	uint64_t n = l->count;

	return write_data(p, l, offsetof(struct ll_data, count), &n, sizeof(n));
}

/*
 * An int3 of ours goes to addr: in the program's code over the file's
 * byte orig (LL_CODE; LL_UNWIND at an unwinder's entry), or a detour's
 * (LL_DETOUR, orig a nop). Into the
 * table first (entry, then count), so that a thread trapping on it the
 * moment after finds it. Nothing when p has no lifeline.
 */
static void put(struct proc *p, const struct ll_ent *e)
{
	struct lifeline *l = p->lifeline;
	unsigned h;

	if (!l)
		return;
	h = hslot(l, e->addr);
	if (l->hidx[h]) {
		/* there already: the same byte again, or a slot's new call */
		mem_write(p, l->tab + (uint64_t)(l->hidx[h] - 1) * LL_ENT_SIZE, e, sizeof(*e));
		return;
	}
	if (l->count == LL_CAP || lifeline_table_grow(l)) {
		if (!l->full_said)
			pr_info("pid %d: the lifeline's table is full (%u entries): the program "
				"would not survive the tracer's death at the other probes", p->pid,
				l->count);
		l->full_said = true;
		return;
	}
	if (mem_write(p, l->tab + (uint64_t)l->count * LL_ENT_SIZE, e, sizeof(*e)))
		return;
	l->addrs[l->count++] = e->addr;
	l->hidx[hslot(l, e->addr)] = l->count; /* lifeline_table_grow() may have rehashed */
	write_count(p, l);
}

void lifeline_note(struct proc *p, uint64_t addr, uint8_t orig, int kind)
{
	struct ll_ent e = { .addr = addr, .orig = orig, .kind = (uint8_t)kind };

	put(p, &e);
}

/*
 * Our int3 at addr heads a jump detour being made or taken back: the
 * tracer writes the displacement (or the file's bytes) after it while the
 * int3 stands, so the handler must put back the len file bytes after it
 * too, before the int3, or a thread would run a half-written jump.
 */
void lifeline_note_tail(struct proc *p, uint64_t addr, uint8_t orig, const uint8_t *tail,
			unsigned len)
{
	struct ll_ent e = { .addr = addr, .orig = orig, .kind = LL_CODE };

	if (len > sizeof(e.val))
		len = sizeof(e.val);
	memcpy(&e.val, tail, len);
	e.tail = (uint8_t)len;
	put(p, &e);
}

/*
 * The trampoline goes into stack slot `slot` for a call returning to
 * real_ret. Entries stay after the return: a slot's next call overwrites
 * its entry, and a slot holds the trampoline only after its entry is
 * written, so the entry the handler finds is always the current call's.
 */
void lifeline_note_ret(struct proc *p, uint64_t slot, uint64_t real_ret)
{
	struct ll_ent e = { .addr = slot, .val = real_ret, .kind = LL_RET };

	put(proc_mm(p), &e);
}

/* Our int3 at addr is gone (the file's byte is back): out of the table. */
void lifeline_forget(struct proc *p, uint64_t addr)
{
	struct lifeline *l = p->lifeline;
	unsigned h, i, last;
	struct ll_ent e;

	if (!l)
		return;
	h = hslot(l, addr);
	if (!l->hidx[h])
		return;
	i = l->hidx[h] - 1;
	last = l->count - 1;
	/* the last entry moves into the hole, then the count shrinks */
	if (i != last && (mem_read(p, l->tab + (uint64_t)last * LL_ENT_SIZE, &e, sizeof(e)) ||
			  mem_write(p, l->tab + (uint64_t)i * LL_ENT_SIZE, &e, sizeof(e))))
		return; /* the table stays as it was: a stale entry names a byte of the file */
	hdel(l, h);
	if (i != last) {
		l->addrs[i] = l->addrs[last];
		l->hidx[hslot(l, l->addrs[i])] = i + 1;
	}
	l->count = last;
	write_count(p, l);
}
