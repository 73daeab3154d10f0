// SPDX-License-Identifier: LGPL-2.1-or-later
/* Return probes: hijacked return addresses, the trampoline, and keeping both right through longjmp, exceptions and coroutines. */
#include <string.h>
#include <sys/ptrace.h>
#include <time.h>

#include "mech.h"

static bool in_range(struct task *k, struct ret_instance *ri, void *ctx);

/* What ri's slot holds while it is armed: the trampoline, or a no-stop call's return gadget. */
static uint64_t hijack_of(struct task *k, const struct ret_instance *ri)
{
	return ri->nostop ? ring_retg(proc_mm(k->proc)) : xol_trampoline(k->proc);
}

/*
 * Unlinks and frees every instance of k for which drop() says so; counts
 * them missed. Not a no-stop call whose return is recorded but not yet
 * delivered (behind another thread's record not committed yet): the
 * stack no longer tells about it, its return record will.
 */
static void drop_if(struct task *k, bool (*drop)(struct task *k, struct ret_instance *ri, void *ctx),
		    void *ctx)
{
	struct ret_instance **pp = &k->rets;

	while (*pp) {
		struct ret_instance *ri = *pp;

		if (drop(k, ri, ctx) &&
		    !(ri->nostop && ring_ret_pending(proc_mm(k->proc), ri->slot))) {
			*pp = ri->next;
			k->nrets--;
			/* a frame known gone (longjmp): its entry goes, whatever its stale slot says */
			if (ri->nostop && !ri->chained)
				ring_nsret_release(k->proc, ri->slot, drop == in_range);
			ri_missed(ri);
			ri_free(ri);
		} else {
			pp = &ri->next;
		}
	}
}

/* ---- entry ---- */

/*
 * A new call's return address sits at rsp: a pending call recorded at or
 * below that slot whose slot no longer holds the trampoline was abandoned
 * (setcontext, a reused coroutine stack, a longjmp we could not follow).
 * One whose slot still holds the trampoline may be live on another stack,
 * so it stays: it can only be matched by a return through that very slot.
 */
static bool abandoned(struct task *k, struct ret_instance *ri, void *ctx)
{
	uint64_t rsp = *(uint64_t *)ctx, val;

	if (ri->twice) {
		/*
		 * Its caller's frame starts right above its slot: a call made
		 * from higher up the stack means that frame returned, unless it
		 * lives on another stack, where its slot still holds its return
		 * address.
		 */
		if (ri->slot >= rsp)
			return false;
		if (mem_read(k->proc, ri->slot, &val, sizeof(val)) < 0)
			return true;
		return val != ri->real_ret;
	}
	if (ri->slot > rsp || !ri->armed)
		return false;
	if (mem_read(k->proc, ri->slot, &val, sizeof(val)) < 0)
		return true;
	return val != hijack_of(k, ri);
}

/*
 * The trampoline into ri's stack slot, its real return address into the
 * lifeline's table first: a program that outlives us returns through it.
 */
static int arm(struct task *k, struct ret_instance *ri, uint64_t tramp)
{
	lifeline_note_ret(k->proc, ri->slot, ri->real_ret);
	return mem_write(k->proc, ri->slot, &tramp, sizeof(tramp));
}

struct ret_instance *ret_prepare(struct uprobe_tracer *t, struct task *k, struct site *s,
				 uint64_t addr)
{
	struct ret_instance *ri, *below = NULL;
	uint64_t real_ret, tramp = xol_trampoline(k->proc), rsp = k->regs.rsp;
	size_t size, data = 0;
	unsigned n = 0;

	if (k->unwind_sp)
		ret_event(t, k);
	if (k->rets)
		drop_if(k, abandoned, &rsp);
	data = ret_takers(k, s, &n);
	if (!n)
		return NULL;
	if (!tramp && inline_entry_trap(t, k->proc, &tramp) < 0)
		tramp = 0;
	if (!tramp || mem_read(k->proc, rsp, &real_ret, sizeof(real_ret)) < 0)
		goto missed;
	if (real_ret == tramp) {
		/* a tail call from a return-probed function: share its slot and its real return */
		below = ret_find(k, rsp);
		if (!below || s->twice)
			goto missed;
		real_ret = below->real_ret;
	}
	size = sizeof(*ri) + n * sizeof(struct ret_ref) + 15 + data;
	ri = ri_alloc(t, size);
	if (!ri)
		goto missed;
	ri->size = size;
	ri_fill(k, s, ri, n);
	ri->slot = rsp;
	ri->real_ret = real_ret;
	ri->call_id = ++t->next_call_id;
	ri->entry_ns = mono_ns();
	ri->args[0] = k->regs.rdi;
	ri->args[1] = k->regs.rsi;
	ri->args[2] = k->regs.rdx;
	ri->args[3] = k->regs.rcx;
	ri->args[4] = k->regs.r8;
	ri->args[5] = k->regs.r9;
	ri->chained = below != NULL;
	ri->twice = s->twice;
	ri->func = addr;
	return ri;
missed:
	for (unsigned i = 0; i < s->nprobes; i++)
		if (ret_takes(k, s->probes[i]))
			s->probes[i]->missed++;
	return NULL;
}

/*
 * A followed fork child: its stack is a copy of the forking thread's,
 * trampolines included, so it gets copies of that thread's pending calls.
 */
int ret_copy_task(struct task *from, struct task *to)
{
	struct ret_instance **tail = &to->rets;

	for (struct ret_instance *ri = from->rets; ri; ri = ri->next) {
		struct ret_instance *c = ri_alloc(from->proc->t, ri->size);

		if (!c)
			return -ENOMEM;
		memcpy(c, ri, ri->size);
		c->refs = (struct ret_ref *)((uint8_t *)c + ((uint8_t *)ri->refs - (uint8_t *)ri));
		c->data = (uint8_t *)c + (ri->data - (uint8_t *)ri);
		c->next = NULL;
		if (c->nostop) {
			/*
			 * The child shares its parent's ring and table until it
			 * has its own: its copy of the call returns through the
			 * trampoline instead.
			 */
			uint64_t val, tramp = xol_trampoline(to->proc);

			c->nostop = false;
			if (!c->chained && c->armed && tramp &&
			    mem_read(to->proc, c->slot, &val, sizeof(val)) == 0 &&
			    val == ring_retg(proc_mm(from->proc))) {
				lifeline_note_ret(to->proc, c->slot, c->real_ret);
				mem_write(to->proc, c->slot, &tramp, sizeof(tramp));
			}
		}
		*tail = c;
		tail = &c->next;
		to->nrets++;
	}
	/* the slots of calls not delivered yet get their real return address */
	ring_nsret_restore(proc_mm(from->proc), to->proc);
	return 0;
}

/*
 * A call of a function that may return twice: instead of its return
 * address, the code there is probed, and every return through it is the
 * call's. An older call from the same place with the same slot is over
 * (its caller called again: setjmp in a loop).
 */
static bool same_place(struct task *k, struct ret_instance *ri, void *ctx)
{
	const struct ret_instance *n = ctx;

	return ri->twice && ri->slot == n->slot && ri->real_ret == n->real_ret &&
	       ri->func == n->func;
}

/*
 * Hijacks the return address: from now on the call returns into the
 * trampoline. A call that returns twice is not hijacked: the code at its
 * return address is watched (watch_twice_call(), done by the caller).
 */
void ret_commit(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri)
{
	uint64_t tramp = xol_trampoline(k->proc);

	if (ri->twice) {
		drop_if(k, same_place, ri);
		ri->armed = false;
	} else if (k->unwind_sp) {
		/*
		 * An unwinder is starting (this is one of its entry points, with
		 * a return probe of its own): it must not meet the trampoline.
		 * The call waits disarmed, like the others, for the re-arm.
		 */
		ri->armed = false;
	} else if (!ri->chained && arm(k, ri, tramp) < 0) {
		ri_missed(ri);
		ri_free(ri);
		return;
	} else {
		ri->armed = true;
	}
	ri->next = k->rets;
	k->rets = ri;
	k->nrets++;
}

/* ---- return ---- */

static bool dead_below(struct task *k, struct ret_instance *ri, void *ctx)
{
	uint64_t slot = *(uint64_t *)ctx, val;

	if (ri->slot >= slot)
		return false;
	/*
	 * Below the returning frame on this stack: a frame skipped without our
	 * noticing — unless it lives on another stack (a coroutine's), which
	 * its slot still holding the trampoline tells.
	 */
	if (!ri->armed)
		return true;
	if (mem_read(k->proc, ri->slot, &val, sizeof(val)) < 0)
		return true;
	return val != hijack_of(k, ri);
}

static void run_ret_handlers(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri)
{
	struct uprobe_hit h = { .t = t, .task = k, .addr = ri->func, .inst = ri, .is_return = true };

	ret_run_handlers(&h, ri);
}

void ret_trampoline_hit(struct uprobe_tracer *t, struct task *k)
{
	uint64_t slot = k->regs.rsp - 8;
	struct ret_instance *ri;

	if (k->unwind_sp)
		ret_event(t, k);
	if (!ret_find(k, slot) && !ret_steal(t, k, slot)) {
		pr_warn("tid %d returned through the trampoline from an unknown call (stack slot "
			"0x%llx)", k->tid, (unsigned long long)slot);
		k->stop_sig = SIGTRAP;
		k->npending = 0;
		task_restart(k, PTRACE_CONT, SIGSEGV, TASK_RUNNING);
		return;
	}
	drop_if(k, dead_below, &slot);
	/*
	 * Every call whose return address sat in this slot returns now, newest
	 * first: a tail-called function before the one that jumped to it.
	 */
	for (struct ret_instance **pp = &k->rets; *pp;) {
		ri = *pp;
		if (ri->slot != slot || ri->twice || ri->nostop) {
			pp = &ri->next;
			continue;
		}
		*pp = ri->next;
		k->nrets--;
		k->regs.rip = ri->real_ret;
		run_ret_handlers(t, k, ri);
		ri_free(ri);
	}
}

/*
 * k is at addr, the return address of a function that returns twice (our
 * probe there: watch_on_twice_return()): each pending call of it by this
 * thread that returns here (its slot just below rsp) is reported, and stays
 * for the next return. A vfork child returns on its parent's stack, in its
 * parent's calls.
 */
void ret_returned_twice(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	struct task *owner = k;
	uint64_t slot = k->regs.rsp - 8;

	if (!k->rets && k->proc->vforker)
		owner = task_find(t, k->proc->vforker);
	for (struct ret_instance *ri = owner ? owner->rets : NULL; ri; ri = ri->next) {
		if (!ri->twice || ri->slot != slot || ri->real_ret != addr)
			continue;
		ri->returned = true;
		run_ret_handlers(t, k, ri);
	}
}

/* ---- keeping instances right through unwinders and longjmp ---- */

struct below_ctx {
	uint64_t lo, hi;
};

static bool in_range(struct task *k, struct ret_instance *ri, void *ctx)
{
	struct below_ctx *c = ctx;

	/* the setjmp longjmp returns through had its return address right below the target */
	if (ri->twice && ri->slot >= c->hi - 8)
		return false;
	return ri->slot >= c->lo && ri->slot < c->hi;
}

/*
 * The thread is past an unwinder (it caught, or the unwinder returned):
 * the calls it disarmed below rsp were unwound and are missed; the others
 * get their trampoline back. Calls armed meanwhile are left alone: one
 * below rsp may be on another stack (a coroutine's) and still live.
 */
static bool unwound_or_rearmed(struct task *k, struct ret_instance *ri, void *ctx)
{
	uint64_t tramp = xol_trampoline(k->proc), val;

	if (ri->armed)
		return false;
	if (ri->slot < k->regs.rsp)
		return true;
	if (ri->twice)
		return false; /* its return address was never ours to take back */
	if (!ri->chained && (ri->real_ret == tramp || ri->real_ret == ring_retg(proc_mm(k->proc)))) {
		/*
		 * A tail call between a stopping and a no-stop return-probed
		 * function: the older call of the slot has the real return,
		 * and both come back as one chain through the trampoline.
		 */
		for (struct ret_instance *o = ri->next; o; o = o->next) {
			if (o->slot == ri->slot && !o->twice && !o->chained) {
				ri->real_ret = o->real_ret;
				ri->chained = true;
				break;
			}
		}
	}
	if (mem_read(k->proc, ri->slot, &val, sizeof(val)) < 0 || val != ri->real_ret)
		return true; /* the frame is not what it was: it cannot return through us */
	/* a no-stop call comes back as a stopping one: its table entry went at the unwinder */
	ri->nostop = false;
	if (!ri->chained && arm(k, ri, tramp) < 0)
		return true;
	ri->armed = true;
	return false;
}

static void rearm(struct uprobe_tracer *t, struct task *k)
{
	drop_if(k, unwound_or_rearmed, NULL);
	k->unwind_sp = 0;
}

/* Any event of k while an unwinder was running: if it has finished, re-arm. */
void ret_event(struct uprobe_tracer *t, struct task *k)
{
	if (k->unwind_sp && k->regs.rsp > k->unwind_sp)
		rearm(t, k);
}

/*
 * k entered an unwinder (our probe there: watch_on_unwind()): it must read
 * real return addresses, never the trampoline. unwind_sp is set even when
 * no call is pending: a return probe on this very unwinder is committed
 * after this handler, and it must wait disarmed (ret_commit()), or the
 * unwinder's first step, from its own frame to its caller, meets the
 * trampoline and ends the search (_URC_END_OF_STACK: std::terminate).
 */
void ret_unwind_start(struct uprobe_tracer *t, struct task *k)
{
	uint64_t tramp = xol_trampoline(k->proc);
	pid_t tid = k->tid;

	if (ring_retg(proc_mm(k->proc))) {
		/* no-stop calls: every one recorded so far first, then every slot of the table */
		ring_drain_past(t, proc_mm(k->proc), k);
		if (task_find(t, tid) != k)
			return;
		ring_nsret_unwind(proc_mm(k->proc), k);
	}
	for (struct ret_instance *ri = k->rets; ri; ri = ri->next) {
		uint64_t val;

		if (!ri->armed)
			continue;
		if (mem_read(k->proc, ri->slot, &val, sizeof(val)) == 0 &&
		    val == (ri->nostop ? ring_retg(proc_mm(k->proc)) : tramp))
			mem_write(k->proc, ri->slot, &ri->real_ret, sizeof(ri->real_ret));
		if (ri->nostop && !ri->chained)
			ring_nsret_release(k->proc, ri->slot, true);
		ri->armed = false;
	}
	/* a tail call from a stopping call into a no-stop one: the no-stop one's real return */
	for (struct ret_instance *ri = k->rets; ri; ri = ri->next) {
		uint64_t val;

		if (!ri->nostop && !ri->chained &&
		    mem_read(k->proc, ri->slot, &val, sizeof(val)) == 0 && val == tramp)
			mem_write(k->proc, ri->slot, &ri->real_ret, sizeof(ri->real_ret));
	}
	k->unwind_sp = k->regs.rsp;
}

/*
 * k is in __cxa_begin_catch (watch_on_catch()): the exception has landed
 * in the frame that catches it.
 */
void ret_unwind_caught(struct uprobe_tracer *t, struct task *k)
{
	if (k->unwind_sp)
		rearm(t, k);
}

/*
 * k is in longjmp(env, val) (watch_on_longjmp()): frames between here and
 * the target stack pointer are abandoned. glibc stores that rsp mangled:
 * rol 0x11 after xor with the pointer guard at %fs:0x30.
 */
void ret_longjmp(struct task *k)
{
	uint64_t mangled, guard, target;
	struct below_ctx c;

	if (!k->rets)
		return;
	if (mem_read(k->proc, k->regs.rdi + 6 * 8, &mangled, sizeof(mangled)) < 0 ||
	    mem_read(k->proc, k->regs.fs_base + 0x30, &guard, sizeof(guard)) < 0)
		return;
	target = ((mangled >> 0x11) | (mangled << (64 - 0x11))) ^ guard;
	if (target <= k->regs.rsp || target - k->regs.rsp > (1ull << 30))
		return; /* another stack, or not glibc's layout: leave it to the slot checks */
	c.lo = k->regs.rsp;
	c.hi = target;
	drop_if(k, in_range, &c);
}

/* ---- removal, exit, detach, fork ---- */

/*
 * Puts k's real return addresses back into target's memory, wherever the
 * slot still holds the trampoline: k's own process before detach, or a fork
 * child's copy of k's stack. A thread about to execute the trampoline
 * itself is sent to the real return address.
 */
void ret_restore_task(struct uprobe_tracer *t, struct task *k, struct proc *target)
{
	uint64_t tramp = xol_trampoline(k->proc);

	/* a fork child's copy of the stack: the table has every no-stop call, even undelivered */
	if (target != k->proc)
		ring_nsret_restore(proc_mm(k->proc), target);
	if (!tramp)
		return;
	for (struct ret_instance *ri = k->rets; ri; ri = ri->next) {
		uint64_t val;

		if (ri->chained)
			continue;
		if (mem_read(target, ri->slot, &val, sizeof(val)) == 0 && val == hijack_of(k, ri))
			mem_write(target, ri->slot, &ri->real_ret, sizeof(ri->real_ret));
	}
	if (target == k->proc && k->regs_valid && k->regs.rip == tramp) {
		struct ret_instance *ri = ret_find(k, k->regs.rsp - 8);

		if (ri) {
			k->regs.rip = ri->real_ret;
			task_setregs(k);
		}
	}
}
