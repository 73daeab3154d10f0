// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The hot path and event dispatch: which stop a thread reported, breakpoint
 * hits, step completion, signals. Clone, fork, exec, exit and the start-up
 * breakpoint are handled by lifecycle.c, which this calls.
 *
 * A plain probe's hit, top to bottom: wait.c's task_wait_one() takes the
 * stop and hands it here (tracer_hooks.stop); dispatch_stop() ->
 * handle_sigtrap() -> classify_trap() (bptable.c's lookup) -> probe_hit()
 * (registry.c runs the handlers) -> step_over() (detour.c counts the hits
 * before its jump detour) -> execute_plan() -> task.c's task_restart(),
 * into the instruction's slot. Each call goes down a layer or stays in
 * this file; none comes back up.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "orch.h"

#ifndef SI_KERNEL
#define SI_KERNEL 0x80
#endif

/* Is `addr` (rip - 1 after a SIGTRAP) a real int3 trap rather than some other SIGTRAP? */
static bool trap_is_int3(struct task *k)
{
	siginfo_t si;

	if (ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) < 0)
		return false;
	return si.si_code == SI_KERNEL;
}

/*
 * The entry's handlers are done: the call's time starts (theirs is not
 * its), and its return address is hijacked, or, for a function that
 * returns twice, the code there watched instead.
 */
static void commit_call(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri)
{
	ri->entry_ns = mono_ns();
	if (ri->twice && !watch_twice_call(t, k, ri))
		return;
	ret_commit(t, k, ri);
}

/*
 * uprobe_hit_override_return(): the function returns value at once, the
 * thread left as its own ret would leave it: rip the return address popped
 * from [rsp], rsp 8 higher, rax the value. With a return probe on it, the
 * call is hijacked first, as when it runs: the address popped is then the
 * trampoline, whose stop runs the return handlers with rax the value and
 * ends the pending call, tail calls and functions that return twice
 * included, exactly as a real return does.
 */
static void override_return(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri,
			    uint64_t rsp, uint64_t value)
{
	uint64_t ra;

	if (ri)
		commit_call(t, k, ri);
	if (mem_read(k->proc, rsp, &ra, sizeof(ra)) < 0) {
		/* read in the handler a moment ago: only a process going away gets here */
		pr_warn("tid %d: cannot read the return address at 0x%llx to override the call",
			k->tid, (unsigned long long)rsp);
		task_setregs(k);
		task_resume(k);
		return;
	}
	arch_regs_return(&k->regs, rsp, ra);
	arch_regs_set_retval(&k->regs, value);
	task_setregs(k);
	task_resume(k);
}

static int mem_read_cb(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return mem_read(ctx, addr, buf, len);
}

static int mem_write_cb(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return mem_write(ctx, addr, buf, len);
}

/*
 * Post handlers without a stop: nops and direct jumps only move rip, so
 * their effect is applied here. False when the instruction needs its slot.
 */
static bool post_emulate(struct uprobe_tracer *t, struct task *k, struct bp *b)
{
	if (!arch_post_emulate(&b->site->plan, b->vaddr, &k->regs))
		return false;
	site_run_post(t, k, b->site, b->vaddr);
	if (task_setregs(k) == 0)
		task_resume(k);
	return true;
}

/* Single-stepped in its slot: `call *%rsp`, and `jmp *mem` under a post handler. */
static bool needs_step(const struct site *s)
{
	return arch_needs_step(&s->plan, s->npost);
}

/* After the original instruction's effect: continue the thread in the program. */
static void execute_plan(struct uprobe_tracer *t, struct task *k, struct bp *b)
{
	int r;

	mem_flush(k->proc);
	if (b->site->npost && post_emulate(t, k, b))
		return;
	k->regs.rip = b->slot;
	if (b->site->npost) {
		uint64_t post = plant_post_slot(proc_mm(k->proc), b->vaddr);

		if (post)
			k->regs.rip = post;
	}
	if (task_setregs(k) < 0)
		return;
	if (needs_step(b->site)) {
		k->step_bp = *b;
		r = task_restart(k, PTRACE_SINGLESTEP, 0, TASK_STEPPING);
		if (r < 0 && r != -ESRCH)
			pr_warn("pid %d: single-step failed: %s", k->tid, strerror(-r));
		return;
	}
	r = task_restart(k, task_cont_req(k), 0, TASK_RUNNING);
	if (r < 0 && r != -ESRCH)
		pr_warn("pid %d: resume failed: %s", k->tid, strerror(-r));
}

static void step_done(struct uprobe_tracer *t, struct task *k)
{
	struct arch_mem mem = { .ctx = k->proc, .read = mem_read_cb, .write = mem_write_cb };
	struct bp *b = &k->step_bp;

	if (task_getregs(k) == 0) {
		arch_step_fixup(&b->site->plan, b->vaddr, b->slot, &k->regs, &mem);
		if (b->site->npost && k->regs.rip != b->slot)
			site_run_post(t, k, b->site, b->vaddr);
		task_setregs(k);
	}
	site_put(t, b->site);
	memset(b, 0, sizeof(*b));
	k->state = TASK_STOPPED;
	k->stop_sig = SIGTRAP; /* a step trap is a signal-delivery-stop: held signals ride on it */
	sigtrap_trap_seen(t, k, true);
	task_resume_or_hold(t, k);
}

/*
 * The syscall-exit stop of a probed syscall run in place: its post
 * handlers run now that its result is there. Resumed with PTRACE_SYSCALL
 * from its entry stop, the thread's next SIGTRAP stop is that exit stop
 * (signals stop with their own number; libuprobe sets no
 * PTRACE_O_TRACESYSGOOD, so the pc tells the rest). False for any other stop.
 */
static bool post_sys_exit(struct uprobe_tracer *t, struct task *k)
{
	struct site *s = k->post_sys;

	if (task_getregs(k) < 0 || k->regs.rip != k->post_sys_addr + s->plan.len) {
		inline_drop_post_sys(t, k);
		return false;
	}
	k->post_sys = NULL;
	if (!arch_syscall_restarts(&k->regs)) {
		site_run_post(t, k, s, k->post_sys_addr);
		task_setregs(k);
	}
	site_put(t, s);
	task_resume_or_hold(t, k);
	return true;
}

/*
 * Stops the thread's own state expects: the end of a single-step of ours,
 * a step into a signal's handler (its mask seen to: sigmask.c), a probed
 * system call's exit. True when the stop was one and is handled; a step
 * into a handler or a system call's exit may turn out to be some other
 * SIGTRAP, which is then classified as any other.
 */
static bool expected_trap(struct uprobe_tracer *t, struct task *k)
{
	if (k->state == TASK_STEPPING) {
		step_done(t, k);
		return true;
	}
	if (k->sig_entry && sigmask_handler_entry(k) > 0) {
		task_resume_or_hold(t, k);
		return true;
	}
	return k->post_sys && post_sys_exit(t, k);
}

/* Whose int3 a SIGTRAP stop is (classify_trap()): each kind has its handler below. */
enum trap_kind {
	TRAP_TRAMPOLINE, /* the return trampoline, or the program's entry point under it */
	TRAP_STARTUP,    /* an internal breakpoint: start-up, the dynamic linker's notifier */
	TRAP_PROBE,      /* a probe's int3, or its jump detour's */
	TRAP_RETRIED,    /* a detour's hit sent to record itself again: nothing left to do */
	TRAP_POST_EXIT,  /* a post slot's exit int3 */
	TRAP_OTHER,      /* none of ours now: a removed int3's, or the program's own SIGTRAP */
};

struct trap_at {
	uint64_t addr;         /* the int3's address; for a detour's, the probed instruction's */
	struct bp *b;          /* TRAP_STARTUP, TRAP_PROBE: its breakpoint */
	uint64_t detour;       /* TRAP_PROBE: the detour's int3 the thread stopped at, or 0 */
	struct xol_area *area; /* TRAP_POST_EXIT: the area and index of the post slot */
	unsigned idx;
};

static enum trap_kind classify_trap(struct uprobe_tracer *t, struct task *k, struct trap_at *at)
{
	struct proc *p = k->proc;
	struct proc *mm = proc_mm(p);
	struct bp *b;

	at->addr = k->regs.rip - ARCH_INT3_LEN;
	if ((mm->areas || mm->trap) && at->addr == xol_trampoline(p))
		return TRAP_TRAMPOLINE;
	b = bp_lookup(&mm->bps, at->addr);
	if (b && b->retired)
		b = NULL;
	/*
	 * After a one-byte instruction the thread may legitimately sit at
	 * addr + 1 and get a SIGTRAP from kill(); only then is the cause
	 * ambiguous, so only then is it worth a request to ask.
	 */
	if (b && (b->internal || b->site->plan.len == 1) && !trap_is_int3(k) &&
	    !sigtrap_surfaced(k))
		b = NULL;
	/*
	 * A jump detour's int3: detour_hit.c tells, addr becomes the probed
	 * instruction's. A hit that found the ring full may be sent to
	 * record itself again, after the earlier ones (TRAP_RETRIED).
	 */
	if (!b && mm->areas) {
		at->detour = detour_trap(t, k, &at->addr, &b);
		if (at->detour == DETOUR_RETRIED)
			return TRAP_RETRIED;
	}
	at->b = b;
	if (b)
		return b->internal ? TRAP_STARTUP : TRAP_PROBE;
	if (mm->areas) {
		struct xol_area *a = xol_area_of(p, at->addr);
		unsigned idx = a ? (unsigned)((at->addr - a->start) / ARCH_SLOT_SIZE) : 0;

		if (idx && idx < a->used && xol_is_post(a, idx)) {
			at->area = a;
			at->idx = idx;
			return TRAP_POST_EXIT;
		}
	}
	return TRAP_OTHER;
}

/* A return-probed call returns (also while the tracer holds threads). */
static void trampoline_hit(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	int r = inline_entry_trap_hit(t, k, addr);

	if (r) {
		/* the program itself ran its entry point, where the trampoline sits */
		if (r > 0)
			task_resume_or_hold(t, k);
		return;
	}
	sigtrap_trap_seen(t, k, false);
	ret_trampoline_hit(t, k);
	if (k->state == TASK_RUNNING)
		return;
	task_setregs(k);
	task_resume_or_hold(t, k);
}

/* The start-up breakpoint, or the dynamic linker's notifier (lifecycle.c). */
static void startup_hit(struct uprobe_tracer *t, struct task *k, const struct trap_at *at)
{
	struct proc *p = k->proc;
	uint8_t orig = at->b->orig;

	if (lifecycle_dl_notify_hit(k)) {
		task_resume_or_hold(t, k);
		return;
	}
	p->dl_state_addr = 0;
	mem_write(p, at->addr, &orig, 1);
	bp_delete(&proc_mm(p)->bps, at->b);
	k->regs.rip = at->addr;
	task_setregs(k);
	p->at_entry = true;
	task_hold(k);
	if (!k->want_stop && !p->spawn_hold) {
		/* An exec in run(): the new image is ready, plant and go. */
		lifecycle_plant_all(t, p);
		task_resume(k);
	}
}

/*
 * After a probe's entry handlers at addr: the instruction's own effect,
 * from its slot (or through a jump detour made now), or in place where
 * the process has no scratch area.
 */
static void step_over(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	/* bp may have moved if a handler added probes; look it up again */
	struct bp *b = bp_lookup(&proc_mm(k->proc)->bps, addr);

	if (!b || b->retired) {
		task_setregs(k);
		task_resume(k);
		return;
	}
	if (!b->slot) {
		/* no scratch area: the instruction runs in place */
		if (inline_step(t, k, addr) == 0)
			task_resume_or_hold(t, k);
		return;
	}
	if (detour_try(t, k, b))
		return;
	if (needs_step(b->site))
		b->site->refs++; /* dropped in step_done */
	execute_plan(t, k, b);
}

/*
 * A probe's hit, the hot path: its entry handlers, the call armed for
 * its return probes, then the instruction's effect (step_over()), or
 * back out of the detour it came through.
 */
static void probe_hit(struct uprobe_tracer *t, struct task *k, const struct trap_at *at)
{
	struct site *s = at->b->site;
	uint64_t addr = at->addr, value;
	struct user_regs_struct saved;
	struct ret_instance *ri;

	sigtrap_trap_seen(t, k, false);
	if (k->want_stop) {
		/* Rewound: it hits again once released, and runs its handlers then. */
		k->regs.rip = addr;
		task_setregs(k);
		task_hold(k);
		return;
	}
	saved = k->regs;
	k->regs.rip = addr;
	if (k->unwind_sp)
		ret_event(t, k);
	ri = s->nret ? ret_prepare(t, k, s, addr) : NULL;
	if (site_run_entry(t, k, s, addr, ri, &value)) {
		/* its body is skipped, wherever the thread was: int3, detour, in place */
		override_return(t, k, ri, saved.rsp, value);
		return;
	}
	if (k->regs.rip != addr) {
		/* A handler redirected the thread: the instruction is skipped. */
		ret_discard(ri);
		task_setregs(k);
		task_resume(k);
		return;
	}
	if (ri)
		commit_call(t, k, ri);
	if (at->detour) {
		detour_resume(t, k, &saved, at->detour);
		return;
	}
	step_over(t, k, addr);
}

/* No int3 of ours now: a removed one's, or the program's own SIGTRAP. */
static void other_trap(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	struct proc *p = k->proc;

	if (trap_is_int3(k)) {
		uint8_t byte = 0;

		if (mem_read(p, addr, &byte, 1) == 0 && byte != ARCH_INT3) {
			/* Our breakpoint, removed after it trapped: run the real instruction. */
			k->regs.rip = addr;
			task_setregs(k);
			task_resume_or_hold(t, k);
			return;
		}
	}
	/* The program's own SIGTRAP (its int3, raise(), kill from outside): deliver it. */
	k->stop_sig = SIGTRAP;
	if (sigtrap_program_own(t, k)) {
		/* it blocks SIGTRAP, which our traps unblocked: pending again, as untraced */
		task_resume_or_hold(t, k);
		return;
	}
	task_hold_signal(k, SIGTRAP);
	if (proc_mm(p)->areas)
		stepout_signal(t, k);
	task_resume_or_hold(t, k);
}

/* An exit int3 of a post slot: the instruction is done, its post handlers run. */
static void post_exit_hit(struct uprobe_tracer *t, struct task *k, const struct trap_at *at)
{
	const struct slot_info *si = &at->area->info[at->idx];

	if (stepout_post_exit(t, k, si->site, si->insn_addr, at->addr) > 0) {
		task_setregs(k);
		task_resume_or_hold(t, k);
		return;
	}
	other_trap(t, k, at->addr);
}

/* A SIGTRAP stop: expected by the thread's state, or classified by where it stands. */
static void handle_sigtrap(struct uprobe_tracer *t, struct task *k)
{
	struct trap_at at = { 0 };

	if (expected_trap(t, k) || task_getregs(k) < 0)
		return;
	switch (classify_trap(t, k, &at)) {
	case TRAP_TRAMPOLINE:
		trampoline_hit(t, k, at.addr);
		return;
	case TRAP_STARTUP:
		startup_hit(t, k, &at);
		return;
	case TRAP_PROBE:
		probe_hit(t, k, &at);
		return;
	case TRAP_RETRIED:
		return; /* it records the hit again, after its earlier ones */
	case TRAP_POST_EXIT:
		post_exit_hit(t, k, &at);
		return;
	case TRAP_OTHER:
		other_trap(t, k, at.addr);
		return;
	}
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* PTRACE_EVENT_STOP: a group-stop, or an interrupt (ours, or someone's). */
static void event_stop(struct uprobe_tracer *t, struct task *k, int sig)
{
	bool ours = k->interrupted;

	k->interrupted = false;
	if (is_stop_signal(sig)) {
		/* group-stop: stay stopped as job control says, but stay traceable */
		k->group_stop = true;
		task_resume_or_hold(t, k);
		return;
	}
	k->group_stop = false;
	if (k->state == TASK_STEPPING) {
		/* an interrupt raced the step: finish the step first */
		task_restart(k, PTRACE_SINGLESTEP, 0, TASK_STEPPING);
		return;
	}
	if (ours)
		task_restart_interrupted_call(k);
	task_resume_or_hold(t, k);
}

/*
 * A signal for the program. One it ignores ended a wait only because
 * we trace it: the wait is made again (the signal is still delivered,
 * to be dropped by the kernel as it would have been when sent).
 */
static void signal_stop(struct uprobe_tracer *t, struct task *k, int sig)
{
	if (k->state != TASK_STEPPING && task_signal_ignored(k, sig))
		task_restart_interrupted_call(k);
	task_hold_signal(k, sig);
	k->stop_sig = sig;
	if (k->state == TASK_STEPPING) {
		/* deliver it after the step, never while the thread is in a slot copy */
		k->stop_sig = 0;
		task_restart(k, PTRACE_SINGLESTEP, 0, TASK_STEPPING);
		return;
	}
	if (proc_mm(k->proc)->areas)
		stepout_signal(t, k);
	task_resume_or_hold(t, k);
}

void dispatch_stop(struct uprobe_tracer *t, struct task *k, int status)
{
	int sig, event;

	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		lifecycle_on_exit(t, k, status);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	sig = WSTOPSIG(status);
	event = (unsigned)status >> 16;
	k->stop_sig = 0;
	k->at_sys_entry = false;
	k->regs_valid = false; /* whatever was read belongs to an earlier stop */
	if (k->state != TASK_STEPPING)
		k->state = TASK_STOPPED;

	switch (event) {
	case PTRACE_EVENT_STOP:
		event_stop(t, k, sig);
		return;
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		lifecycle_on_new_child(t, k, event);
		return;
	case PTRACE_EVENT_EXEC:
		lifecycle_on_exec(t, k);
		return;
	case 0:
		break;
	default:
		/* PTRACE_EVENT_EXIT, VFORK_DONE: nothing to do */
		if (k->state == TASK_STEPPING)
			task_restart(k, PTRACE_SINGLESTEP, 0, TASK_STEPPING);
		else
			task_resume_or_hold(t, k);
		return;
	}

	/*
	 * A SIGTRAP that kill() or tgkill() sent (the program's own, or
	 * another's) ends no step of ours: it is held like any signal, and the
	 * step goes on.
	 */
	if (sig == SIGTRAP && !(k->state == TASK_STEPPING && task_sigtrap_sent(k))) {
		if (k->proc->leave_at_exec && !k->post_sys && lifecycle_leave_at_exec_stop(t, k))
			return;
		handle_sigtrap(t, k);
		return;
	}
	signal_stop(t, k, sig);
}
