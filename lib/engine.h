/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layer 3, engine data: scratch areas, breakpoint tables, sites and the
 * runners of their handlers, static detour rules, pending calls.
 *
 * A file of lib/ includes its own layer's header, which brings the ones
 * below: one that includes a higher layer's could call up a layer
 * (tests/layers/check_layers.py fails it).
 */
#ifndef UPROBE_ENGINE_H
#define UPROBE_ENGINE_H

#include "os.h"

/* bptable.c: the breakpoints of one address space */
int bp_table_copy(struct bp_table *to, const struct bp_table *from);
struct bp *bp_lookup(struct bp_table *bt, uint64_t vaddr);
struct bp *bp_insert(struct bp_table *bt, uint64_t vaddr);
void bp_delete(struct bp_table *bt, struct bp *b);
void bp_table_free(struct bp_table *bt);

/* registry.c: sites and probes by (dev, ino, off), their pools, the runners of their handlers */
void site_put(struct uprobe_tracer *t, struct site *s);
struct site *site_find(struct uprobe_tracer *t, dev_t dev, ino_t ino, uint64_t off);
struct site *site_iter(struct uprobe_tracer *t, struct site *s);
/* Frees s and its probe array; s is out of the hash. */
void site_free(struct uprobe_tracer *t, struct site *s);
/* Room in s->probes for one more probe. 0 or -ENOMEM. */
int site_make_room(struct site *s);
/* Puts s into t's hash (made on first use). 0 or -ENOMEM. */
int site_register(struct uprobe_tracer *t, struct site *s);
void registry_pools_init(struct uprobe_tracer *t);
void registry_free_all(struct uprobe_tracer *t);
/*
 * Runs the entry handlers of site s's probes for k, hit at addr (ri: its
 * return instance, if s has return probes). True when one asked for
 * uprobe_hit_override_return(); *value is then the value.
 */
bool site_run_entry(struct uprobe_tracer *t, struct task *k, struct site *s, uint64_t addr,
		    struct ret_instance *ri, uint64_t *value);
void site_run_entry_hit(struct site *s, struct uprobe_hit *h);
/*
 * fn, the handler of some of libuprobe's own probes, is of lifeline kind
 * `kind` (lifeline.h's LL_*): said once by the file that owns it, so that
 * lower layers tell its probes without knowing it. 0 or -ENOSPC.
 */
int registry_handler_kind(struct uprobe_tracer *t, uprobe_handler_fn fn, int kind);
/* Is one of s's probes' handlers of lifeline kind `kind`? */
bool site_handler_is(const struct site *s, int kind);
/* Runs the post handlers of site s's probes for k (regs as after the instruction at addr). */
void site_run_post(struct uprobe_tracer *t, struct task *k, struct site *s, uint64_t addr);
/*
 * The instruction of site s at insn_addr faulted; k's regs show it there and
 * si is the fault. Asks the probes' fault handlers: true if one swallowed it
 * (k's regs, maybe changed, are to be written back, the signal dropped).
 */
bool site_run_fault(struct uprobe_tracer *t, struct task *k, struct site *s,
		    uint64_t insn_addr, const siginfo_t *si);

/* xol.c */
struct xol_area *xol_area_of(struct proc *p, uint64_t addr);
/* Where a new area of size bytes may go nearest `near`, within rel32 reach of it; 0 if nowhere. */
uint64_t xol_find_gap(struct proc *p, uint64_t near, uint64_t size);
/* Sets slot idx's bit in *map (a's post_map or detour_map), made on first use. 0 or -ENOMEM. */
int xol_mark(struct xol_area *a, unsigned idx, uint64_t **map);
uint64_t xol_trampoline(struct proc *p);
/* Where the first area keeps the lifeline: LL_SPACE bytes before the record gadget. */
uint64_t xol_lifeline_at(const struct xol_area *a);

/* retcalls.c: the pending calls of each thread (k->rets), data only */
/* Return-probe instances: a zeroed block of size bytes, reused from t's free lists. */
struct ret_instance *ri_alloc(struct uprobe_tracer *t, size_t size);
void ri_free(struct ret_instance *ri);
void ri_pool_destroy(struct uprobe_tracer *t);
/* Counts ri missed by each of its probes (unless it returned once already). */
void ri_missed(struct ret_instance *ri);
struct ret_instance *ret_find(struct task *k, uint64_t slot);
/* Does u take a call of k (a return handler, and fewer than maxactive pending)? */
bool ret_takes(struct task *k, const struct uprobe *u);
size_t ret_takers(struct task *k, const struct site *s, unsigned *n);
void ri_fill(struct task *k, const struct site *s, struct ret_instance *ri, unsigned n);
struct ret_instance *ret_ns_at(struct uprobe_tracer *t, struct task *k, uint64_t slot);
bool ret_ns_known(struct uprobe_tracer *t, struct task *k, uint64_t slot);
void ret_ns_commit(struct task *k, struct ret_instance *ri);
struct ret_instance *ret_ns_take(struct uprobe_tracer *t, struct task *k, uint64_t slot);
void ret_discard(struct ret_instance *ri);
void ret_run_handlers(struct uprobe_hit *h, struct ret_instance *ri);
/* A stopping call at slot that started on another thread of k's memory: now k's. */
struct ret_instance *ret_steal(struct uprobe_tracer *t, struct task *k, uint64_t slot);
void ret_forget_probe(struct uprobe_tracer *t, struct uprobe *u);
void ret_task_gone(struct uprobe_tracer *t, struct task *k);
void ret_task_exit(struct uprobe_tracer *t, struct task *k);

/* detour_rules.c: whether a jump detour can be made, from the file alone */
#define DETOUR_MAX_COVERED ARCH_JMP_LEN /* instructions: all but the last are at least one byte */
/* The instructions a detour covers, decoded from the file. */
struct detour_covered {
	struct arch_plan plans[DETOUR_MAX_COVERED];
	unsigned n;
	unsigned len;
};
/*
 * The instructions from file offset start of f until ARCH_JMP_LEN bytes are
 * covered: 0, -ENOEXEC when one does not decode, -EOPNOTSUPP when one cannot
 * be copied into a detour (arch_detour_ok()).
 */
int detour_rules_covered(const struct elf_file *f, uint64_t start, struct detour_covered *c);
/*
 * The static checks of a jump detour at file offset off of f (detour.c's
 * rules): the bytes it would cover, or -EOPNOTSUPP with *why (may be NULL)
 * saying why none can be made there.
 */
int detour_rules_analyse(struct elf_file *f, uint64_t off, const char **why);
/*
 * Frees the branch targets kept for every file analysed (tests that parse
 * many files; the library keeps them as long as the parsed files).
 */
void detour_rules_cache_clear(void);

#endif /* UPROBE_ENGINE_H */
