// SPDX-License-Identifier: LGPL-2.1-or-later
/* The engine's side of struct tracer_hooks: what the thread layer calls up into, and when. */
#include "orch.h"

/*
 * Hits k's process recorded come before this stop (its exit, exec,
 * signal, ...), k's own every one (ring_drain_thread()); only at run()'s
 * own wait: handlers never run in the middle of holding a process.
 */
static bool hook_before_stop(struct uprobe_tracer *t, struct task *k)
{
	pid_t tid = k->tid;

	if (!proc_mm(k->proc)->ring)
		return true;
	t->run_wait = false;
	ring_drain_thread(t, proc_mm(k->proc), k);
	return task_find(t, tid) == k;
}

static void hook_task_gone(struct uprobe_tracer *t, struct task *k)
{
	ret_task_exit(t, k);
	inline_drop_post_sys(t, k);
	if (k->proc)
		ring_thread_gone(k->proc, k);
}

/* Hits still in p's ring are delivered while its threads are known. */
static void hook_proc_going(struct uprobe_tracer *t, struct proc *p)
{
	ring_forget(t, p);
	usdt_proc_gone(t, p);
}

static void hook_proc_gone(struct uprobe_tracer *t, struct proc *p)
{
	area_forget_all(t, p);
	bp_table_free(&p->bps);
	bp_table_free(&p->post_bps);
}

static bool hook_owns_trap(struct task *k, uint64_t addr)
{
	struct proc *mm = proc_mm(k->proc);

	return bp_lookup(&mm->bps, addr) ||
	       ((mm->areas || mm->trap) &&
		(addr == xol_trampoline(k->proc) || detour_at(k->proc, addr)));
}

static bool hook_has_lifeline(struct task *k)
{
	return lifeline_handler(proc_mm(k->proc)) != 0;
}

/*
 * A plain relocated instruction's thread goes straight onto its slot (the
 * hit's own register write would put it there anyway); any other int3 of
 * ours, the trampoline's too, has its thread back on it: on libc's mask
 * changes too, where the lifeline makes the call, SIGTRAP left unblocked
 * (the slot would make it as the program asks).
 */
static uint64_t hook_lifeline_pc(struct task *k, uint64_t addr)
{
	struct proc *mm = proc_mm(k->proc);
	struct bp *b = bp_lookup(&mm->bps, addr);

	if (b && !b->retired)
		return b->slot && !b->internal && !b->site->npost &&
		       !arch_needs_step(&b->site->plan, false) && !sigmask_ll_kind(b->site) ?
		       b->slot : addr;
	return addr == xol_trampoline(k->proc) ? addr : 0;
}

const struct tracer_hooks tracer_hooks = {
	.stop = dispatch_stop,
	.before_stop = hook_before_stop,
	.task_gone = hook_task_gone,
	.proc_going = hook_proc_going,
	.proc_gone = hook_proc_gone,
	.owns_trap = hook_owns_trap,
	.has_lifeline = hook_has_lifeline,
	.deliver_step = sigmask_deliver_step,
	.lifeline_pc = hook_lifeline_pc,
	.inject_begin = lifeline_inject_begin,
	.inject_end = lifeline_inject_end,
};
