// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The hot path and event dispatch: which stop a thread reported, breakpoint
 * hits, step completion, signals. Clone, fork, exec, exit and the start-up
 * breakpoint are handled by lifecycle.c, which this calls.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "core.h"

#ifndef SI_KERNEL
#define SI_KERNEL 0x80
#endif

/*
 * System calls that return -EINTR itself, not a -ERESTART* code the
 * kernel turns into a restart, when anything wakes the thread: a
 * PTRACE_INTERRUPT of ours too (signal(7): "never restarted"). connect()
 * is not here: the connection goes on, and a second call is EALREADY.
 */
static bool eintr_not_restarted(long nr)
{
	switch (nr) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_rt_sigtimedwait:
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_msgrcv:
	case SYS_msgsnd:
	case SYS_io_getevents:
		return true;
	}
	return false;
}

/* Has k a signal pending that it does not block (its own, or its process's)? */
static bool unblocked_signal_pending(struct task *k)
{
	char line[128];
	const char *v;
	uint64_t pnd, blk;

	if (!(v = task_status_field(k, "SigPnd:", line, sizeof(line))))
		return true;
	pnd = strtoull(v, NULL, 16);
	if (!(v = task_status_field(k, "ShdPnd:", line, sizeof(line))))
		return true;
	pnd |= strtoull(v, NULL, 16);
	if (!(v = task_status_field(k, "SigBlk:", line, sizeof(line))))
		return true;
	blk = strtoull(v, NULL, 16);
	return pnd & ~blk;
}

/*
 * Our interrupt stopped k (or a signal it ignores, see below): if it was
 * blocked in one of those calls, the call has just failed with -EINTR for
 * no signal of the program's, which it would never see untraced
 * (epoll_wait() in an event loop, at every detach or stop of all threads).
 * The call is made again as the kernel restarts the others: the syscall
 * instruction again, with its number. Not when another signal waits for
 * delivery (the EINTR is then its) or one is held by us; a timeout starts
 * again from its full length.
 */
static void restart_interrupted_call(struct task *k)
{
	static const uint8_t insn[ARCH_SYSCALL_LEN] = { ARCH_SYSCALL_INSN };
	uint8_t code[ARCH_SYSCALL_LEN];

	if (k->npending || task_getregs(k) < 0)
		return;
	if ((int64_t)k->regs.rax != -EINTR || (int64_t)k->regs.orig_rax < 0 ||
	    !eintr_not_restarted((long)k->regs.orig_rax))
		return;
	if (mem_read(k->proc, k->regs.rip - ARCH_SYSCALL_LEN, code, sizeof(code)) < 0 ||
	    memcmp(code, insn, sizeof(insn)) || unblocked_signal_pending(k))
		return;
	k->regs.rax = k->regs.orig_rax;
	k->regs.rip -= ARCH_SYSCALL_LEN;
	task_setregs(k);
}

/*
 * Does k's process ignore sig: SIG_IGN, or the default action of SIGCHLD,
 * SIGWINCH, SIGURG, SIGCONT? Untraced, such a signal is dropped when sent
 * and wakes no one; traced, the kernel queues it for us to see, and the
 * thread's wait ends with -EINTR.
 */
static bool signal_ignored(struct task *k, int sig)
{
	char line[128];
	const char *v;
	uint64_t bit = 1ull << (sig - 1);

	if (sig < 1 || sig > 64)
		return false;
	if ((v = task_status_field(k, "SigIgn:", line, sizeof(line))) &&
	    (strtoull(v, NULL, 16) & bit))
		return true;
	if (sig != SIGCHLD && sig != SIGWINCH && sig != SIGURG && sig != SIGCONT)
		return false;
	v = task_status_field(k, "SigCgt:", line, sizeof(line));
	return v && !(strtoull(v, NULL, 16) & bit);
}

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
	lifeline_trap_seen(t, k, true);
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
		trap_drop_post_sys(t, k);
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

static void handle_sigtrap(struct uprobe_tracer *t, struct task *k)
{
	struct proc *p = k->proc;
	struct proc *mm = proc_mm(p);
	struct user_regs_struct saved;
	struct ret_instance *ri;
	uint64_t addr, value, detour = 0;
	struct bp *b;

	if (k->state == TASK_STEPPING) {
		step_done(t, k);
		return;
	}
	if (k->sig_entry) {
		/* stepped into a signal's handler: its mask seen to (sigmask.c) */
		int r = sigmask_handler_entry(k);

		if (r > 0) {
			task_resume_or_hold(t, k);
			return;
		}
	}
	if (k->post_sys && post_sys_exit(t, k))
		return;
	if (task_getregs(k) < 0)
		return;
	addr = k->regs.rip - ARCH_INT3_LEN;
	if ((mm->areas || mm->trap) && addr == proc_trampoline(p)) {
		int r = inline_trap_hit(t, k, addr);

		if (r) {
			/* the program itself ran its entry point, where the trampoline sits */
			if (r > 0)
				task_resume_or_hold(t, k);
			return;
		}
		lifeline_trap_seen(t, k, false);
		/* a return-probed call returns (also while the tracer holds threads) */
		ret_trampoline_hit(t, k);
		if (k->state == TASK_RUNNING)
			return;
		task_setregs(k);
		task_resume_or_hold(t, k);
		return;
	}
	b = bp_lookup(&mm->bps, addr);
	if (b && b->retired)
		b = NULL;
	/*
	 * After a one-byte instruction the thread may legitimately sit at
	 * addr + 1 and get a SIGTRAP from kill(); only then is the cause
	 * ambiguous, so only then is it worth a request to ask.
	 */
	if (b && (b->internal || b->site->plan.len == 1) && !trap_is_int3(k) &&
	    !lifeline_trap_surfaced(k))
		b = NULL;
	/* a jump detour's int3 (detour.c): addr becomes the probed instruction's */
	if (!b && mm->areas)
		detour = detour_trap(t, k, &addr, &b);
	if (detour == DETOUR_RETRIED)
		return; /* it records the hit again, after its earlier ones */
	if (b && b->internal) {
		uint8_t orig = b->orig;

		if (lifecycle_dl_notify_hit(k)) {
			task_resume_or_hold(t, k);
			return;
		}
		p->dl_state_addr = 0;
		mem_write(p, addr, &orig, 1);
		bp_delete(&mm->bps, b);
		k->regs.rip = addr;
		task_setregs(k);
		p->at_entry = true;
		task_hold(k);
		if (!k->want_stop && !p->spawn_hold) {
			/* An exec in run(): the new image is ready, plant and go. */
			lifecycle_plant_all(t, p);
			task_resume(k);
		}
		return;
	}
	if (b) {
		lifeline_trap_seen(t, k, false);
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
		ri = b->site->nret ? ret_prepare(t, k, b->site, addr) : NULL;
		if (site_run_entry(t, k, b->site, addr, ri, &value)) {
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
		if (detour) {
			detour_resume(t, k, &saved, detour);
			return;
		}
		/* bp may have moved if a handler added probes; look it up again */
		b = bp_lookup(&mm->bps, addr);
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
		return;
	}
	if (mm->areas) {
		/* an exit int3 of a post slot: the instruction is done, its post handlers run */
		struct xol_area *a = xol_area_of(p, addr);
		unsigned idx = a ? (unsigned)((addr - a->start) / ARCH_SLOT_SIZE) : 0;

		if (idx && idx < a->used && xol_is_post(a, idx) &&
		    stepout_post_exit(t, k, a->info[idx].site, a->info[idx].insn_addr, addr) > 0) {
			task_setregs(k);
			task_resume_or_hold(t, k);
			return;
		}
	}
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
	if (lifeline_own_sigtrap(t, k)) {
		/* it blocks SIGTRAP, which our traps unblocked: pending again, as untraced */
		task_resume_or_hold(t, k);
		return;
	}
	task_hold_signal(k, SIGTRAP);
	if (mm->areas)
		stepout_signal(t, k);
	task_resume_or_hold(t, k);
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

void trap_dispatch(struct uprobe_tracer *t, struct task *k, int status)
{
	int sig, event;
	bool ours;

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
		ours = k->interrupted;
		k->interrupted = false;
		if (is_stop_signal(sig)) {
			/* group-stop: stay stopped as job control says, but stay traceable */
			k->group_stop = true;
			task_resume_or_hold(t, k);
		} else {
			k->group_stop = false;
			if (k->state == TASK_STEPPING) {
				/* an interrupt raced the step: finish the step first */
				task_restart(k, PTRACE_SINGLESTEP, 0, TASK_STEPPING);
				return;
			}
			if (ours)
				restart_interrupted_call(k);
			task_resume_or_hold(t, k);
		}
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
	/*
	 * A signal for the program. One it ignores ended a wait only because
	 * we trace it: the wait is made again (the signal is still delivered,
	 * to be dropped by the kernel as it would have been when sent).
	 */
	if (k->state != TASK_STEPPING && signal_ignored(k, sig))
		restart_interrupted_call(k);
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
