// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Moving a thread out of any slot or detour, back into the program's code
 * at the point it is equivalent to: a held thread before the tracer lets it
 * go (detach, a fork child's copies of the areas), a thread at a post
 * slot's exit int3, and a thread a signal is about to be delivered to
 * inside a slot, a detour or the record gadget.
 */
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>

#include "mech.h"
#include "ring.h"

static int mem_read_cb(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return mem_read(ctx, addr, buf, len);
}

static int mem_write_cb(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return mem_write(ctx, addr, buf, len);
}

int stepout_post_exit(struct uprobe_tracer *t, struct task *k, struct site *s, uint64_t insn_addr,
		      uint64_t pc)
{
	struct arch_mem mem = { .ctx = k->proc, .read = mem_read_cb, .write = mem_write_cb };
	struct xol_area *a = xol_area_of(k->proc, pc);
	uint64_t slot;
	int r;

	if (!a)
		return 0;
	slot = a->start + (pc - a->start) / ARCH_SLOT_SIZE * ARCH_SLOT_SIZE;
	r = arch_slot_post(&s->plan, insn_addr, slot, pc, &k->regs, &mem);
	if (r < 0) {
		/* a ret whose stack cannot be read: let the copy after the int3 fault */
		k->regs.rip = pc + 1;
		return 1;
	}
	if (!r)
		return 0;
	if (arch_plan_is_syscall(&s->plan) &&
	    (arch_syscall_restarts(&k->regs) || k->at_sys_entry))
		return 1; /* not done yet: it runs again from the probed instruction, or now */
	site_run_post(t, k, s, insn_addr);
	return 1;
}

/*
 * The single-step just taken over a slot's relocated instruction ran with
 * TF set: where the instruction records the flags (pushf on the stack,
 * syscall in r11), the program must not see that TF.
 */
static void hide_trap_flag(struct task *k, const struct arch_plan *plan, uint64_t rsp_before)
{
	struct arch_mem mem = { .ctx = k->proc, .read = mem_read_cb, .write = mem_write_cb };

	if (task_getregs(k) < 0)
		return;
	if (arch_step_hide_tf(plan, &k->regs, rsp_before, &mem))
		task_setregs(k);
}

/*
 * Finishes the instruction of a slot that a step left where it was (a rep
 * string instruction part-way through its iterations) with no debug
 * register: debug registers may accept writes and never fire (some
 * microVMs), and one step per iteration could take seconds. A post slot
 * already ends in its exit int3: k runs to it, and stands on it after.
 * A plain slot jumps back into the program: a copy of the instruction
 * (it has no rip-relative operand) followed by an int3 runs in the area's
 * run-out space instead, and k then stands after the original
 * instruction. Only k runs there, and only until this returns.
 * 0: done; 1: the instruction faulted (as task_run_and_wait()); <0: error.
 */
static int run_out(struct task *k, struct xol_area *a, unsigned idx, const struct arch_plan *plan,
		   uint64_t insn_addr)
{
	uint64_t slot = a->start + (uint64_t)idx * ARCH_SLOT_SIZE;
	uint64_t at = slot, end;
	uint8_t code[ARCH_MAX_INSN + 1], byte;

	if (!xol_is_post(a, idx)) {
		at = a->start + XOL_GADGET_RUNOUT;
		memcpy(code, plan->bytes, plan->len);
		code[plan->len] = ARCH_INT3;
		if (mem_write(k->proc, at, code, plan->len + 1u))
			return -EIO;
		k->regs.rip = at;
		if (task_setregs(k) < 0)
			return -ESRCH;
	}
	end = at + ARCH_SLOT_SIZE;
	for (int tries = 0; tries < 16; tries++) {
		int r = task_run_and_wait(k, PTRACE_CONT, at, insn_addr, NULL);

		if (r)
			return r;
		if (task_getregs(k) < 0)
			return -ESRCH;
		if (k->regs.rip > at + 1 && k->regs.rip <= end &&
		    mem_read(k->proc, k->regs.rip - ARCH_INT3_LEN, &byte, 1) == 0 && byte == ARCH_INT3) {
			/* on the int3 after it */
			k->regs.rip = at == slot ? k->regs.rip - ARCH_INT3_LEN : insn_addr + plan->len;
			return task_setregs(k);
		}
		/* a stop that came before it ran on (a kill of SIGTRAP): again */
		if (k->regs.rip != at)
			return -EIO;
	}
	return -EIO;
}

/*
 * A thread about to execute a slot's syscall: let it enter the system call
 * (a syscall-entry stop comes before any blocking), then make it return to
 * the program, rcx as the original instruction would leave it. Rewinding it
 * onto the original instruction instead would let a quick re-attach report
 * the same execution twice, and stepping it could block the tracer.
 */
static int enter_syscall_out_of_slot(struct task *k, const struct arch_plan *plan,
				     uint64_t insn_addr, uint64_t slot)
{
	for (int tries = 0;; tries++) {
		int r = task_run_and_wait(k, PTRACE_SYSCALL, slot, insn_addr, NULL);

		if (r)
			return r < 0 ? r : 0;
		if (task_getregs(k) < 0)
			return -ESRCH;
		if (k->regs.rip == slot + plan->len)
			break;
		/* an event stop (a pending interrupt) came before the syscall */
		if (k->regs.rip != slot || tries == 16)
			return -EIO;
	}
	arch_regs_after_syscall(&k->regs, insn_addr + plan->len);
	k->stop_sig = 0; /* a syscall stop carries no signal: held ones are queued again */
	return task_setregs(k);
}

/*
 * k stands at a slot's syscall: runs it to its syscall-entry stop, where it
 * stays, past the instruction and in the slot. 0, or -errno (not reached).
 */
static int enter_syscall_in_slot(struct task *k, uint64_t slot)
{
	int r = task_run_and_wait(k, PTRACE_SYSCALL, slot, 0, NULL);

	if (r)
		return r < 0 ? r : -EIO;
	if (task_getregs(k) < 0)
		return -ESRCH;
	k->stop_sig = 0; /* a syscall stop carries no signal: held ones are queued again */
	if (k->regs.rip != slot + ARCH_SYSCALL_LEN)
		return -EIO;
	k->at_sys_entry = true;
	return 0;
}

/* One step of stepout_move_out(): where k stands, and how it moves on. */
struct step {
	struct xol_area *a;
	unsigned idx;
	/* k at the start of a slot: the slot's instruction, and its site */
	const struct arch_plan *first;
	struct site *fsite;
	uint64_t slot, insn_addr;
	long req;
};

/*
 * k is back in the program's code. The gadget's pushfq, stepped, saved the
 * trap flag and its popfq (without UPROBE_CAP_LAHF; sahf leaves it alone)
 * set it for good: the program must not run on with it. clear_tf: k did
 * not have it when stepout_move_out() began, and has been stepped since.
 */
static int back_in_program(struct task *k, bool clear_tf)
{
	if (clear_tf && arch_regs_tf(&k->regs)) {
		arch_regs_clear_tf(&k->regs);
		return task_setregs(k);
	}
	return 0;
}

/* What in_slot() found: the thread moved out (*ret), its post exit done, or a step to take. */
enum in_slot_next { SLOT_DONE, SLOT_AGAIN, SLOT_STEP };

/*
 * k stands in a slot (st->a, st->idx): moved straight back into the
 * program where its place there is known (SLOT_DONE, *ret the result),
 * past a post slot's exit int3 (SLOT_AGAIN: look where it stands now), or
 * to be stepped or run out as st now says (SLOT_STEP). last: where the
 * previous step started.
 */
static enum in_slot_next in_slot(struct uprobe_tracer *t, struct task *k, struct step *st,
				 uint64_t last, int *ret)
{
	struct xol_area *a = st->a;
	unsigned idx = st->idx;
	const struct slot_info *si = &a->info[idx];
	const struct arch_plan *plan = &si->site->plan;
	uint64_t slot = a->start + (uint64_t)idx * ARCH_SLOT_SIZE;

	st->slot = slot;
	st->insn_addr = si->insn_addr;
	/* at a post slot's exit int3: the instruction is done, its post handlers run */
	if (xol_is_post(a, idx) &&
	    stepout_post_exit(t, k, si->site, si->insn_addr, k->regs.rip) > 0) {
		if (task_setregs(k) < 0) {
			*ret = -ESRCH;
			return SLOT_DONE;
		}
		return SLOT_AGAIN; /* out, unless a failed ret is still to fault */
	}
	if (k->regs.rip == slot && arch_plan_is_syscall(plan)) {
		/*
		 * Stepping it could block in the system call with the
		 * tracer waiting: enter it instead, and return to the
		 * program. Held signals are queued again on resume and
		 * interrupt it as they would have untraced; a restarted
		 * call then runs the probed instruction, and its probe,
		 * once more, as the program itself re-executes it.
		 */
		*ret = enter_syscall_out_of_slot(k, plan, si->insn_addr, slot);
		return SLOT_DONE;
	}
	if (k->regs.rip != slot && !xol_is_post(a, idx) &&
	    arch_slot_pc_to_insn(plan, si->insn_addr, slot, &k->regs)) {
		*ret = task_setregs(k);
		return SLOT_DONE;
	}
	if (k->regs.rip == slot) {
		st->first = plan;
		st->fsite = si->site;
		/*
		 * Only an instruction that falls through reaches slot + len: a
		 * step that did not move a ret or jump (an interrupt reported
		 * first) must not let the thread run free.
		 */
		if (last == slot && arch_plan_may_repeat(plan) &&
		    (!plan->disp_pos || xol_is_post(a, idx)))
			st->req = PTRACE_CONT;
	}
	return SLOT_STEP;
}

/*
 * The step faulted: the fault handlers of the slot's probes are asked
 * first when it was the relocated instruction itself, else a copy in a
 * detour faulted, reported at its own address (detour_hit.c).
 */
static int step_faulted(struct uprobe_tracer *t, struct task *k, const struct step *st)
{
	if (st->first && k->regs.rip == st->insn_addr &&
	    site_run_fault(t, k, st->fsite, st->insn_addr, &k->pending[0])) {
		task_drop_signal(k, 0);
		k->stop_sig = k->npending ? k->stop_sig : 0;
		return task_setregs(k);
	}
	detour_fault(t, k);
	return 0;
}

/*
 * A late step trap (after a cpuid the hypervisor emulates) ran the exit
 * int3 after the relocated instruction of a post slot too: k goes back
 * onto the int3. 0, or -ESRCH.
 */
static int undo_late_step(struct proc *p, struct task *k, const struct step *st)
{
	uint8_t code[ARCH_MAX_INSN + 1];
	int len;

	if (!(st->first && st->req == PTRACE_SINGLESTEP && xol_is_post(st->a, st->idx) &&
	      arch_plan_is_copy(st->first) &&
	      task_getregs(k) == 0))
		return 0;
	if (mem_read(p, st->slot, code, sizeof(code)) == 0 &&
	    (len = arch_insn_len(code, sizeof(code))) > 0 && len < (int)sizeof(code) &&
	    code[len] == ARCH_INT3 && k->regs.rip == st->slot + (uint64_t)len + 1) {
		k->regs.rip--;
		if (task_setregs(k) < 0)
			return -ESRCH;
	}
	return 0;
}

/*
 * Moves a held thread found inside a slot back into the program, at the
 * point it is equivalent to; where there is none (half-way through a
 * multi-instruction sequence) it is stepped until it leaves the slot.
 * A thread at a slot's very start has had its handlers run for this
 * execution: it is stepped through the instruction rather than rewound,
 * so no later attach reports the same execution again; a system call there
 * is entered rather than stepped, and a rep string instruction still at
 * work after a step runs to its end in one go (run_out()) rather than one
 * step per iteration. Each step: out of the areas (back_in_program()), out
 * of a detour from its start, out of a slot (in_slot()), else one step or
 * run-out, its fault (step_faulted()) or late trap (undo_late_step()).
 */
int stepout_move_out(struct uprobe_tracer *t, struct task *k)
{
	struct proc *p = k->proc;
	uint64_t last = 0;
	bool tf = false;

	/* the record gadget of no-stop detours (ring.c) takes most of these steps */
	for (int steps = 0; steps < 256; steps++) {
		struct step st = { .req = PTRACE_SINGLESTEP };
		uint64_t rsp_before;
		int r;

		if (!k->regs_valid && task_getregs(k) < 0)
			return -ESRCH;
		if (!steps)
			tf = arch_regs_tf(&k->regs);
		st.a = xol_area_of(p, k->regs.rip);
		if (!st.a)
			return back_in_program(k, steps && !tf);
		st.idx = (unsigned)((k->regs.rip - st.a->start) / ARCH_SLOT_SIZE);
		if (st.idx > 0 && st.idx < st.a->used && xol_is_detour(st.a, st.idx)) {
			/* a jump detour (detour_hit.c): rewound from its very start only, else stepped */
			if (detour_pc_to_insn(&st.a->info[st.idx],
					      st.a->start + (uint64_t)st.idx * ARCH_SLOT_SIZE,
					      xol_is_rec(st.a, st.idx), &k->regs)) {
				/* back on the detour's int3 (ring full), maybe through popfq */
				if (steps && !tf)
					arch_regs_clear_tf(&k->regs);
				return task_setregs(k);
			}
			st.idx = 0;
		}
		if (st.idx > 0 && st.idx < st.a->used) {
			enum in_slot_next next = in_slot(t, k, &st, last, &r);

			if (next == SLOT_DONE)
				return r;
			if (next == SLOT_AGAIN)
				continue;
		}
		last = k->regs.rip;
		rsp_before = k->regs.rsp;
		r = st.req == PTRACE_CONT ? run_out(k, st.a, st.idx, st.first, st.insn_addr)
					  : task_run_and_wait(k, st.req, st.slot, st.insn_addr, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			return step_faulted(t, k, &st);
		if (undo_late_step(p, k, &st) < 0)
			return -ESRCH;
		if (st.first)
			hide_trap_flag(k, st.first, rsp_before);
	}
	return tracer_err(t, -EBUSY, "tid %d: could not leave the scratch area", k->tid);
}

/* A signal is about to be delivered to k, found inside a detour. */
static void signal_in_detour(struct uprobe_tracer *t, struct task *k, const siginfo_t *si)
{
	if (si->si_code > 0 && (si->si_signo == SIGSEGV || si->si_signo == SIGBUS ||
				si->si_signo == SIGFPE || si->si_signo == SIGILL)) {
		detour_fault(t, k);
		return;
	}
	stepout_move_out(t, k);
}

/*
 * A signal is about to be delivered to k, found in area a outside its
 * slots: in the record gadget of a no-stop detour, the gadget's own faults
 * are absorbed, and otherwise k is stepped out; nothing of it shows.
 */
static void signal_in_gadget(struct uprobe_tracer *t, struct task *k, struct xol_area *a,
			     const siginfo_t *si)
{
	uint8_t insn[ARCH_RDTSC_LEN];

	if (!ring_gadget_at(a, k->regs.rip))
		return;
	/*
	 * The gadget's rdtsc in a program that made it fault for itself
	 * (prctl PR_SET_TSC): the hit's time stamp is 0, the program
	 * never sees it.
	 */
	if (si->si_signo == SIGSEGV && task_siginfo_is_fault(si) &&
	    mem_read(k->proc, k->regs.rip, insn, sizeof(insn)) == 0 &&
	    arch_rdtsc_skip(&k->regs, insn)) {
		task_drop_signal(k, k->npending - 1);
		k->stop_sig = k->npending ? k->stop_sig : 0;
		task_setregs(k);
		return;
	}
	/*
	 * Its load of %fs:0 in a thread with no TLS yet (fs base 0, as in
	 * the dynamic loader's first steps): the hit names no thread by
	 * it, and the program never sees the fault.
	 */
	if (si->si_signo == SIGSEGV && task_siginfo_is_fault(si) &&
	    ring_gadget_fs_load_at(a, k->regs.rip)) {
		k->regs.rsi = 0;
		k->regs.rip += RING_FS_LOAD_LEN;
		task_drop_signal(k, k->npending - 1);
		k->stop_sig = k->npending ? k->stop_sig : 0;
		task_setregs(k);
		return;
	}
	/* in the record gadget of a no-stop detour: stepped out, nothing of it shows */
	stepout_move_out(t, k);
}

/*
 * A fault about to be delivered to k in slot idx of a: raised by the
 * relocated instruction itself, it is reported at the original
 * instruction's address, its probes' fault handlers asked first.
 */
static void fault_in_slot(struct uprobe_tracer *t, struct task *k, struct xol_area *a,
			  unsigned idx, const siginfo_t *si)
{
	const struct slot_info *info = &a->info[idx];
	uint64_t start = a->start + (uint64_t)idx * ARCH_SLOT_SIZE;

	/* a post slot's ret copy sits after its int3 */
	if (k->regs.rip == start ||
	    (xol_is_post(a, idx) && arch_plan_is_return(&info->site->plan) &&
	     k->regs.rip == start + 1)) {
		k->regs.rip = info->insn_addr;
		if (site_run_fault(t, k, info->site, info->insn_addr, si))
			task_drop_signal(k, k->npending - 1); /* swallowed */
		task_setregs(k);
	}
}

/*
 * A signal is about to be delivered to a thread: if the thread is inside a
 * slot, the signal frame would show the scratch area. A fault raised by the
 * relocated instruction itself (at the slot's start) is reported at the
 * original instruction's address; an asynchronous signal waits until the
 * thread is back in the program's code. A system call interrupted in a
 * slot returns to the program after its instruction; if the kernel
 * restarts it, the program re-executes the probed instruction, probe
 * included, exactly as it re-executes it untraced.
 */
void stepout_signal(struct uprobe_tracer *t, struct task *k)
{
	const siginfo_t *si;
	struct xol_area *a;
	unsigned idx;

	if (!k->npending || task_getregs(k) < 0)
		return;
	si = &k->pending[k->npending - 1];
	a = xol_area_of(k->proc, k->regs.rip);
	if (!a)
		return;
	idx = (unsigned)((k->regs.rip - a->start) / ARCH_SLOT_SIZE);
	if (!idx || idx >= a->used) {
		signal_in_gadget(t, k, a, si);
		return;
	}
	if (xol_is_detour(a, idx)) {
		const struct slot_info *info = &a->info[idx];

		signal_in_detour(t, k, si);
		/* the probed instruction itself (the first copy) faulted: its fault handlers first */
		if (task_siginfo_is_fault(si) && k->regs_valid && k->regs.rip == info->insn_addr &&
		    site_run_fault(t, k, info->site, info->insn_addr, si)) {
			task_drop_signal(k, k->npending - 1);
			task_setregs(k);
		}
		return;
	}
	if (task_siginfo_is_fault(si)) {
		fault_in_slot(t, k, a, idx, si);
		return;
	}
	if (xol_is_post(a, idx) && arch_plan_is_syscall(&a->info[idx].site->plan) &&
	    k->regs.rip == a->start + (uint64_t)idx * ARCH_SLOT_SIZE &&
	    enter_syscall_in_slot(k, k->regs.rip) == 0) {
		/*
		 * Its post handler must see the call's result: it runs the call
		 * from the slot, the held signal interrupting it as untraced, and
		 * the signal's stop at the exit int3 finds it done.
		 */
		return;
	}
	stepout_move_out(t, k);
}
