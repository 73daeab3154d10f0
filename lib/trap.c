// SPDX-License-Identifier: LGPL-2.1-or-later
/* The hot path and event dispatch: breakpoint hits, step completion, clone/fork/exec and the start-up breakpoint, signals, exits. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

/*
 * A thread is gone. The process is gone with its last thread, whose exit
 * the kernel reports last: the leader's, held back until every other
 * thread has been reaped, and carrying the process's status.
 */
static void handle_exit(struct uprobe_tracer *t, struct task *k, int status)
{
	struct proc *p = k->proc;
	pid_t pid = p->pid;
	bool report;

	if (k->tid == p->pid) {
		tracer_record_exit(t, p->pid, status);
		p->exited = true;
		p->exit_status = status;
	}
	/*
	 * The last thread: what the ring holds is delivered while the thread
	 * is known (its hits name it), before the exit; a vfork child records
	 * into its parent's ring.
	 */
	if (p->ntasks == 1 && proc_mm(p)->ring && (p->events || !p->mm_owner))
		ring_drain(t, proc_mm(p));
	ret_task_gone(t, k);
	task_free(t, k);
	if (p->ntasks)
		return;
	report = p->events && p->exited;
	status = p->exit_status;
	/* what its ring still holds is delivered by proc_free(), before the exit is queued */
	proc_free(t, p);
	if (report)
		event_exit(t, pid, status);
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

/*
 * Where the dynamic linker at base tells a debugger that the start-up link
 * map is complete: its _dl_debug_state() (r_brk), called with
 * _r_debug.r_state RT_ADD before it maps the libraries and RT_CONSISTENT
 * once it has mapped and relocated them all, before any constructor runs
 * (glibc's dl_main, then _dl_init; GDB stops there for the same reason).
 * 0, or -ENOENT when this loader has no such symbols (musl, a static binary).
 */
static int dl_notify_addrs(struct proc *p, uint64_t base, uint64_t *brk, uint64_t *state)
{
	const struct elf_sym *sym;
	struct elf_file *f = NULL;
	uint64_t rd, bias;

	if (!base || proc_refresh_maps(p) < 0)
		return -ENOENT;
	for (int i = 0; i < p->nmaps && !f; i++)
		if (p->maps[i].start == base && p->maps[i].off == 0 && p->maps[i].path[0] == '/')
			if (elf_open(p->maps[i].path, &f, NULL, 0) < 0)
				f = NULL;
	if (!f || !f->nsegs || !(sym = elf_find_sym(f, "_dl_debug_state")) ||
	    elf_dynsym_vaddr(f, "_r_debug", &rd) < 0)
		return -ENOENT;
	bias = base - (f->segs[0].vaddr & ~0xfffull);
	*brk = bias + sym->vaddr;
	*state = bias + rd + 24; /* struct r_debug: r_version, r_map, r_brk, then r_state */
	return 0;
}

/*
 * A one-shot breakpoint where probes on the new image are planted before
 * any of its code runs: at the dynamic linker's notification that the
 * start-up libraries are mapped and relocated (see dl_notify_addrs()), so
 * that probes see every library constructor; for a program without one, at
 * its entry point. Hits of the notification with the link map still
 * changing return at once (dl_notify_hit()).
 */
int proc_set_entry_bp(struct uprobe_tracer *t, struct proc *p)
{
	static const uint8_t int3 = ARCH_INT3;
	uint64_t base, at, brk, state;
	struct bp *b;
	uint8_t orig;
	int err = read_auxv(p, &base);

	if (err)
		return err;
	p->dl_state_addr = 0;
	p->r_state_addr = 0;
	at = p->entry;
	if (dl_notify_addrs(p, base, &brk, &state) == 0) {
		at = brk;
		p->dl_state_addr = state;
		p->r_state_addr = state;
	}
	err = mem_read(p, at, &orig, 1);
	if (err)
		return err;
	b = bp_insert(&p->bps, at);
	if (!b)
		return -ENOMEM;
	b->internal = true;
	b->orig = orig;
	err = mem_write(p, at, &int3, 1);
	if (err)
		bp_delete(&p->bps, b);
	return err;
}

/*
 * The start-up breakpoint on _dl_debug_state() was hit with the link map
 * still changing (RT_ADD): the function is empty by contract (it exists to
 * be stopped at), so the thread returns from it at once and the breakpoint
 * stays. True then; false at RT_CONSISTENT (or when the state cannot be
 * read), where probes are planted.
 */
static bool dl_notify_hit(struct task *k)
{
	struct proc *p = k->proc;
	uint64_t ret;
	int32_t state;

	if (!p->dl_state_addr || mem_read(p, p->dl_state_addr, &state, sizeof(state)) < 0 ||
	    state == 0 /* RT_CONSISTENT */ || task_getregs(k) < 0 ||
	    mem_read(p, k->regs.rsp, &ret, sizeof(ret)) < 0)
		return false;
	arch_regs_return(&k->regs, k->regs.rsp, ret);
	return task_setregs(k) == 0;
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

		if (dl_notify_hit(k)) {
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

static bool is_thread_of(pid_t tid, pid_t tgid)
{
	char path[64], line[128];
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	v = status_field(path, "Tgid:", line, sizeof(line));
	return v && atoi(v) == tgid;
}

static bool shares_vm(pid_t a, pid_t b)
{
	/* kcmp(KCMP_VM); if the kernel lacks it, assume a copy (fork) */
	return syscall(SYS_kcmp, a, b, 1 /* KCMP_VM */, 0, 0) == 0;
}

/* A fork child got copies of parent's areas: move k out of them, then unmap them. */
static int release_area_copies(struct uprobe_tracer *t, struct proc *parent, struct proc *child,
			       struct task *k)
{
	int ret;

	child->areas = parent->areas;
	ret = stepout_move_out(t, k);
	if (!ret)
		ret = area_unmap_list(t, child, k, parent->areas, parent->gadget,
				      lifeline_handler(parent));
	child->areas = NULL;
	return ret;
}

/*
 * A fork child that we do not follow: give it back its original bytes, move
 * it out of any slot, unmap its copy of the scratch areas, and let it go.
 */
static void release_fork_child(struct uprobe_tracer *t, struct task *forker, pid_t tid)
{
	struct proc *parent = forker->proc;
	struct proc *cp = proc_new(t, tid);
	struct task *ck;

	if (!cp) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return;
	}
	cp->fork_child = true;
	ck = task_new(t, cp, tid, TASK_STOPPED);
	if (!ck) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		proc_free(t, cp);
		return;
	}
	plant_unplant_all(t, parent, cp);
	usdt_fork_release(t, parent, cp);
	ret_restore_task(t, forker, cp);
	/* its handlers are its parent's copies: their sa_masks go back too (sigmask.c) */
	cp->sa_trap = parent->sa_trap;
	if (parent->areas)
		release_area_copies(t, parent, cp, ck);
	if (ring_mapping(parent))
		ring_unmap_in(t, ck, ring_mapping(parent));
	sigmask_child_leaves(forker, tid);
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	task_free(t, ck);
	proc_free(t, cp);
}

/*
 * A fork child we follow: its memory is a copy of the parent's, breakpoints,
 * scratch areas and hijacked return addresses included, so it takes copies
 * of the parent's tables and is traced from its first instruction.
 */
static bool adopt_fork_child(struct uprobe_tracer *t, struct task *forker, pid_t tid)
{
	struct proc *parent = forker->proc, *cp = proc_new(t, tid);
	struct task *ck;

	if (!cp) {
		release_fork_child(t, forker, tid);
		return false;
	}
	cp->events = true;
	cp->at_entry = true;
	cp->entry = parent->entry;
	cp->hwcap = parent->hwcap;
	ck = task_new(t, cp, tid, TASK_STOPPED);
	if (!ck)
		goto fail;
	sigmask_new_task(forker, ck);
	cp->sig_watch = parent->sig_watch; /* the same code, the same probes */
	cp->sa_trap = parent->sa_trap; /* and copies of its handlers */
	cp->sa_strip = parent->sa_strip;
	cp->had_detour = parent->had_detour;
	if (bp_table_copy(&cp->bps, &parent->bps) < 0 ||
	    bp_table_copy(&cp->post_bps, &parent->post_bps) < 0)
		goto fail;
	if (area_copy_proc(parent, cp) < 0 || ret_copy_task(forker, ck) < 0 ||
	    proc_refresh_maps(cp) < 0)
		goto fail;
	if (ring_mapping(parent))
		detour_fork_child(cp, ring_mapping(parent));
	usdt_fork_adopt(t, parent, cp);
	/*
	 * A hold of the parent (its memory, for a moment, or an in-place
	 * instruction of inline.c) does not concern the child, which has its
	 * own memory and would never be let go by that hold's end; a hold of
	 * every process (detach) interrupts it like any running thread.
	 */
	ck->want_stop = false;
	task_resume_or_hold(t, ck);
	return true;
fail:
	pr_warn("pid %d: cannot follow fork child %d: out of memory", parent->pid, tid);
	if (ck)
		task_free(t, ck);
	proc_free(t, cp);
	release_fork_child(t, forker, tid);
	return false;
}

static void handle_new_child(struct uprobe_tracer *t, struct task *k, int event)
{
	unsigned long msg = 0;
	pid_t child;
	int st;

	/* held here, it is inside the call: an injection through it leaves the call first (inject.c) */
	k->held_event = (unsigned char)event;
	if (ptrace(PTRACE_GETEVENTMSG, k->tid, NULL, &msg) < 0)
		goto out;
	child = (pid_t)msg;
	if (task_wait_new(t, child, &st) < 0 || !WIFSTOPPED(st))
		goto out;
	if (event == PTRACE_EVENT_CLONE && is_thread_of(child, k->proc->pid)) {
		struct task *nk = task_new(t, k->proc, child, TASK_STOPPED);

		if (nk) {
			nk->want_stop = k->want_stop;
			/* held with its creator for a moment (task_mark_running): let go with it too */
			nk->release = k->release;
			/* its fs_base names it in the records of no-stop probes (ring.c) */
			if (k->proc->ring && task_getregs(nk) == 0)
				ring_thread_new(k->proc, nk);
			/* its mask, its creator's at the clone, followed from here (sigmask.c) */
			sigmask_new_task(k, nk);
			task_resume_or_hold(t, nk);
		}
		goto out;
	}
	if (event == PTRACE_EVENT_VFORK || shares_vm(child, k->tid)) {
		/*
		 * It runs on the parent's memory, breakpoints included, until it
		 * execs or exits: keep it traced so those breakpoints work.
		 */
		struct proc *cp = proc_new(t, child);
		struct task *nk;

		if (!cp) {
			ptrace(PTRACE_DETACH, child, NULL, NULL);
			event_fork(t, k, child, false, true);
			goto out;
		}
		cp->mm_owner = k->proc;
		cp->sa_trap = k->proc->sa_trap; /* copies of its handlers, until its exec */
		cp->leave_at_exec = !t->follow_forks;
		/* not followed: traced until its exec only for our int3s in its parent's memory */
		cp->events = t->follow_forks && k->proc->events;
		if (event == PTRACE_EVENT_VFORK)
			cp->vforker = k->tid;
		/* queued before it runs: its own events and hits come after */
		event_fork(t, k, child, t->follow_forks, true);
		nk = task_new(t, cp, child, TASK_STOPPED);
		if (nk) {
			sigmask_new_task(k, nk);
			task_resume_or_hold(t, nk);
		}
		goto out;
	}
	if (t->follow_forks) {
		bool followed = adopt_fork_child(t, k, child);

		/* after the adoption, whose child has not run yet: it must say whether it worked */
		event_fork(t, k, child, followed, false);
	} else {
		release_fork_child(t, k, child);
		event_fork(t, k, child, false, false);
	}
out:
	task_resume_or_hold(t, k);
}

/*
 * Will the exec that k (regs read at its syscall-entry stop) starts find
 * an executable file? Looked up as k sees it, through its root, cwd or
 * directory descriptor. Once let go the child cannot be caught again, and
 * an exec that fails returns it, untraced, to memory full of our int3s
 * (execvp() tries each directory of PATH in turn): it stays traced then.
 */
static bool exec_finds_file(struct task *k)
{
	bool at = arch_regs_syscall_nr(&k->regs) == SYS_execveat;
	uint64_t addr = arch_regs_syscall_arg(&k->regs, at ? 1 : 0);
	int dirfd = at ? (int)arch_regs_syscall_arg(&k->regs, 0) : AT_FDCWD;
	char name[PATH_MAX], path[PATH_MAX + 64];
	struct stat st;
	size_t n = 0;

	/* read in pieces: the string may end just before an unmapped page */
	while (n < sizeof(name)) {
		size_t len = 64 - (addr + n) % 64;

		if (len > sizeof(name) - n)
			len = sizeof(name) - n;
		if (mem_read(k->proc, addr + n, name + n, len) < 0)
			return false;
		if (memchr(name + n, '\0', len))
			break;
		n += len;
	}
	if (n == sizeof(name))
		return false;
	if (at && !name[0] && (arch_regs_syscall_arg(&k->regs, 4) & AT_EMPTY_PATH))
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", k->tid, dirfd);
	else if (name[0] == '/')
		snprintf(path, sizeof(path), "/proc/%d/root%s", k->tid, name);
	else if (dirfd == AT_FDCWD)
		snprintf(path, sizeof(path), "/proc/%d/cwd/%s", k->tid, name);
	else
		snprintf(path, sizeof(path), "/proc/%d/fd/%d/%s", k->tid, dirfd, name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/*
 * A syscall stop of a child that leaves at its exec (leave_at_exec). True
 * if it was one and is dealt with; false for any other SIGTRAP stop.
 * Without PTRACE_O_TRACESYSGOOD (the other paths that run a thread to a
 * syscall stop expect a plain SIGTRAP), a syscall stop is the SIGTRAP
 * whose si_code is SIGTRAP, and the thread is inside the call
 * (arch_regs_inside_syscall(): x86-64 enters every one with -ENOSYS in rax).
 */
static bool leave_at_exec_stop(struct uprobe_tracer *t, struct task *k)
{
	struct proc *p = k->proc;
	siginfo_t si;

	if (ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) < 0 || si.si_code != SIGTRAP ||
	    task_getregs(k) < 0)
		return false;
	if (!arch_regs_inside_syscall(&k->regs) ||
	    (arch_regs_syscall_nr(&k->regs) != SYS_execve &&
	     arch_regs_syscall_nr(&k->regs) != SYS_execveat) ||
	    k->want_stop || k->npending || !exec_finds_file(k)) {
		task_resume_or_hold(t, k);
		return true;
	}
	/* should the exec fail after all, its return addresses are its own again */
	ret_restore_task(t, k, p);
	mem_flush(p);
	ptrace(PTRACE_DETACH, k->tid, NULL, NULL);
	task_free(t, k);
	proc_free(t, p);
	return true;
}

static void handle_exec(struct uprobe_tracer *t, struct task *k)
{
	struct proc *p = k->proc;
	unsigned long former = 0;

	ptrace(PTRACE_GETEVENTMSG, k->tid, NULL, &former);
	/* Every other thread is gone; the exec'ing one now has the leader's tid. */
	for (unsigned i = 0; i < TASK_HASH; i++) {
		struct task *o = t->tasks[i], *n;

		for (; o; o = n) {
			n = o->hnext;
			if (o->proc == p && o != k)
				task_free(t, o);
		}
	}
	if (p->mm_owner && !t->follow_forks) {
		/* a vfork child left its parent's memory: it is not followed */
		ptrace(PTRACE_DETACH, k->tid, NULL, NULL);
		task_free(t, k);
		proc_free(t, p);
		return;
	}
	/* a followed vfork child's hits before the exec are in its parent's ring */
	if (p->mm_owner && p->events && p->mm_owner->ring)
		ring_drain(t, p->mm_owner);
	p->mm_owner = NULL; /* a followed vfork child has a memory of its own now */
	trap_drop_post_sys(t, k);
	ret_task_exit(t, k);
	bp_table_free(&p->bps);
	bp_table_free(&p->post_bps);
	p->had_detour = false;
	/* its hits before the exec are delivered; the new image has no ring */
	ring_forget(t, p);
	p->ring_failed = false;
	p->stale_ring = 0;
	area_forget_all(t, p);
	/* the new image has semaphores of its own, at 0: the old ones went with the old memory */
	usdt_proc_gone(t, p);
	p->at_entry = false;
	/* an open /proc/PID/mem names the old address space: open the new one */
	if (proc_reopen_mem(p) < 0)
		pr_warn("pid %d: exec: cannot open its memory: %s", p->pid, strerror(errno));
	proc_refresh_maps(p);
	if (proc_set_entry_bp(t, p) < 0)
		pr_warn("pid %d: exec: cannot find the new program's entry point", p->pid);
	lifeline_learn(t, p, k, true);
	p->sig_watch = 0; /* a new image: its libc is watched from its entry */
	sigmask_exec(k);
	event_exec(t, p, (pid_t)former);
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
		handle_exit(t, k, status);
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
		handle_new_child(t, k, event);
		return;
	case PTRACE_EVENT_EXEC:
		handle_exec(t, k);
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
		if (k->proc->leave_at_exec && !k->post_sys && leave_at_exec_stop(t, k))
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
