// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Each thread's signal mask as the program set it, while we trace it
 * (task.prog_mask): followed through libc's rt_sigprocmask calls, which we
 * make ourselves (a probe of ours on each, watch.c), through the masks
 * signal handlers run with (each delivery steps into the handler) and
 * their returns (a probe on libc's __restore_rt). The kernel's mask keeps
 * SIGTRAP unblocked, so that no trap of ours is a forced signal that
 * resets SIGTRAP's disposition or leaves it blocked where the lifeline
 * must catch it; what the program asks of its mask is its own. Where a
 * mask changes out of our sight (a raw system call, a restorer of its
 * own), the thread is not followed until its next watched call and
 * sigtrap.c's checks stand in.
 *
 * Handlers' masks too (sa_mask, proc.sa_trap): a handler whose sa_mask
 * holds SIGTRAP (sigfillset()'s do) would run with SIGTRAP blocked in the
 * kernel. Entered after our death, with no stop of ours to unblock it, the
 * first trap of ours in it (its return through __restore_rt has one) would
 * be a forced SIGTRAP: the lifeline reset to the default, the program
 * killed. So while a lifeline stands, the kernel's sa_masks lack SIGTRAP;
 * the program is told its own in its sigaction() queries, gets SIGTRAP in
 * its mask at each such handler's entry, and has them back at detach.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include "mech.h"
#include "lifeline.h"
#include "sigtrap.h"

#define SIG_UNBLOCKABLE (SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP))

/*
 * What k's mask must be in the kernel for the program's mask pm: SIGTRAP
 * unblocked, so that a trap of ours never resets its disposition nor
 * leaves it blocked where the lifeline must catch it; blocked only where
 * the program blocks it and one of its own SIGTRAPs waits in k.
 */
uint64_t sigmask_kernel(const struct task *k, uint64_t pm)
{
	return k->trap_hold && (pm & SIGTRAP_BIT) ? pm : pm & ~SIGTRAP_BIT;
}

int sigmask_set(pid_t tid, uint64_t m)
{
	return ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(m), &m) ? -errno : 0;
}

/*
 * Stopped k's mask is followed from now on: the program's is the kernel's
 * (with the SIGTRAP our traps left unblocked, where it blocks it), and the
 * kernel's loses SIGTRAP.
 */
static void mask_start(struct task *k)
{
	uint64_t m, pm;

	if (ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m))
		return;
	pm = m | (k->trap_reblock ? SIGTRAP_BIT : 0);
	k->trap_hold = (pm & SIGTRAP_BIT) && procfs_sigtrap_pending_in(k);
	if (sigmask_kernel(k, pm) != m && sigmask_set(k->tid, sigmask_kernel(k, pm)))
		return;
	k->prog_mask = pm;
	k->mask_known = true;
	k->trap_reblock = false;
}

/*
 * what (SIGW_*) of a libc p maps is watched (watch.c). Every
 * rt_sigprocmask call: the masks of p's stopped threads are followed from
 * now on; others from their first such call.
 */
void sigmask_watched(struct uprobe_tracer *t, struct proc *p, unsigned what)
{
	bool masks = (what & SIGW_MASKS) && !(p->sig_watch & SIGW_MASKS);

	p->sig_watch |= (unsigned char)what;
	if (!masks)
		return;
	for (unsigned i = 0; i < TASK_HASH; i++)
		for (struct task *k = t->tasks[i]; k; k = k->hnext)
			if (k->proc == p && k->state == TASK_STOPPED && !k->mask_known)
				mask_start(k);
}

/*
 * k, stopped, was just made by from (a thread, or a fork or vfork child):
 * its mask is from's as the program set it; its kernel one, from's, may
 * hold a SIGTRAP blocked for a signal k does not have.
 */
void sigmask_new_task(struct task *from, struct task *k)
{
	if (!from->mask_known)
		return;
	k->trap_hold = false;
	if (from->trap_hold && sigmask_set(k->tid, sigmask_kernel(k, from->prog_mask)))
		return;
	k->prog_mask = from->prog_mask;
	k->mask_known = true;
}

/* A fork child of forker's, stopped, is let go: with the mask the program set. */
void sigmask_child_leaves(struct task *forker, pid_t tid)
{
	if (forker->mask_known)
		sigmask_set(tid, forker->prog_mask);
}

/*
 * k, stopped, exec'd: the new image keeps the mask the program set, which
 * the kernel gets whole until the new image's libc is watched (mask_start()
 * then follows it again from there).
 */
void sigmask_exec(struct task *k)
{
	/* (and every handler the program had: the new image's are its own, whole) */
	k->proc->sa_trap = 0;
	k->proc->sa_strip = false;
	if (!k->mask_known)
		return;
	k->mask_known = false;
	if (sigmask_kernel(k, k->prog_mask) != k->prog_mask)
		sigmask_set(k->tid, k->prog_mask);
}

#define K_SIG_DFL 0
#define K_SIG_IGN 1

/*
 * Whether a handler of k_sigaction a, with SIGTRAP in its sa_mask, gets
 * it taken out in the kernel: a handler (not the default, not ignored)
 * for another signal than SIGTRAP (whose disposition is lifeline.c's).
 */
static bool strippable(int sig, const struct k_sigaction *a)
{
	return sig != SIGTRAP && a->handler != K_SIG_DFL && a->handler != K_SIG_IGN &&
	       (a->mask & SIGTRAP_BIT);
}

/*
 * p's handlers' masks are followed from now on (p->sa_strip), every thread
 * of p held, k one of them, sc its seccomp filter: where p has a lifeline
 * and libc's rt_sigaction calls are watched, each handler it already has
 * (SigCgt) is read and, where its sa_mask holds SIGTRAP, set again
 * without. A signal whose call the filter may refuse is left as it is.
 */
void sigmask_actions_start(struct uprobe_tracer *t, struct proc *p, struct task *k,
			   const struct seccomp_state *sc)
{
	uint64_t cgt, ign;

	if (p->sa_strip || p->mm_owner || !lifeline_installed(p) ||
	    !(p->sig_watch & SIGW_ACTIONS) || procfs_status_masks(p, &cgt, &ign))
		return;
	p->sa_strip = true;
	for (int sig = 1; sig <= 64; sig++) {
		uint64_t args[6] = { (uint64_t)sig, 0, 0, 8 };
		struct k_sigaction act;
		uint32_t action;

		if (!(cgt & SIG_BIT(sig)) || sig == SIGTRAP ||
		    inject_seccomp_allowed(k, sc, SYS_rt_sigaction, args, &action) != 1 ||
		    inject_sigaction_sig(t, k, sig, NULL, &act) || !strippable(sig, &act))
			continue;
		act.mask &= ~SIGTRAP_BIT;
		if (inject_sigaction_sig(t, k, sig, &act, NULL) == 0)
			p->sa_trap |= SIG_BIT(sig);
	}
	if (p->sa_trap)
		pr_debug("pid %d: SIGTRAP taken out of the sa_mask of signals %#llx", p->pid,
			 (unsigned long long)p->sa_trap);
}

/*
 * libc's rt_sigaction calls of p are watched now (watch.c): its handlers'
 * masks are followed from here where it has a lifeline, every thread held
 * for that.
 */
void sigmask_actions_watch(struct uprobe_tracer *t, struct proc *p)
{
	struct seccomp_state sc = { 0 };
	uint64_t cgt, ign;
	pid_t pid = p->pid;
	struct task *k;

	if (p->sa_strip || p->mm_owner || !lifeline_installed(p) ||
	    !(p->sig_watch & SIGW_ACTIONS) || procfs_status_masks(p, &cgt, &ign))
		return;
	if (!(cgt & ~SIGTRAP_BIT)) {
		/* no handler yet (most programs): nothing to read, no hold */
		p->sa_strip = true;
		return;
	}
	task_mark_running(t, p);
	if (task_stop_all(t, p) < 0) {
		if (proc_find(t, pid) == p)
			task_release(t, p);
		return;
	}
	/* holding it handles its stops: killed meanwhile, it is gone, p with it */
	if (proc_find(t, pid) != p)
		return;
	k = inject_task(t, p);
	if (k && seccomp_read(k->tid, &sc) == 0)
		sigmask_actions_start(t, p, k, &sc);
	seccomp_state_free(&sc);
	task_release(t, p);
}

/*
 * Our probe after libc's rt_sigaction system call (sigtrap_on_sigaction()),
 * which succeeded for sig other than SIGTRAP, through stopped k: what it
 * was told of a handler whose sa_mask we took SIGTRAP out of gets it back;
 * a handler it set with SIGTRAP in its sa_mask loses it in the kernel.
 */
void sigmask_on_action(struct uprobe_tracer *t, struct task *k, int sig, uint64_t sa,
		       uint64_t osa)
{
	struct proc *p = k->proc;
	struct k_sigaction act;
	uint64_t bit = SIG_BIT(sig);

	if (sig < 1 || sig > 64 || sig == SIGTRAP || p->mm_owner)
		return;
	if (osa && (p->sa_trap & bit) && mem_read(p, osa, &act, sizeof(act)) == 0) {
		act.mask |= SIGTRAP_BIT;
		mem_write(p, osa, &act, sizeof(act));
	}
	if (!sa || mem_read(p, sa, &act, sizeof(act)))
		return;
	p->sa_trap &= ~bit;
	if (!p->sa_strip || !strippable(sig, &act))
		return;
	act.mask &= ~SIGTRAP_BIT;
	if (inject_sigaction_sig(t, k, sig, &act, NULL) == 0)
		p->sa_trap |= bit;
}

/*
 * p is let go (detach, or a fork child not followed) through held k: each
 * handler whose sa_mask lost SIGTRAP gets it back, where it is still the
 * one we left.
 */
void sigmask_actions_end(struct uprobe_tracer *t, struct proc *p, struct task *k,
			 const struct seccomp_state *sc)
{
	for (int sig = 1; sig <= 64 && p->sa_trap && !p->mm_owner; sig++) {
		uint64_t args[6] = { (uint64_t)sig, 0, 0, 8 };
		struct k_sigaction act;
		uint32_t action;

		if (!(p->sa_trap & SIG_BIT(sig)) ||
		    inject_seccomp_allowed(k, sc, SYS_rt_sigaction, args, &action) != 1 ||
		    inject_sigaction_sig(t, k, sig, NULL, &act) || act.handler == K_SIG_DFL ||
		    act.handler == K_SIG_IGN || (act.mask & SIGTRAP_BIT))
			continue;
		act.mask |= SIGTRAP_BIT;
		inject_sigaction_sig(t, k, sig, &act, NULL);
	}
	p->sa_trap = 0;
	p->sa_strip = false;
}

/*
 * Our probe on each rt_sigprocmask system call of libc's (watch.c): the call
 * made here, on the program's mask, as the kernel would (its result in
 * %rax, %rcx and %r11 as a syscall leaves them, the thread past it), the
 * kernel's mask set to match with SIGTRAP unblocked.
 */
int sigmask_on_sigprocmask(struct uprobe_hit *h, void *data)
{
	struct task *k = h->task;
	struct proc *p = k->proc;
	struct user_regs_struct *r = &k->regs;
	uint64_t m, old, set = 0, pm;
	int how = (int)r->rdi, err = 0;

	(void)data;
	if (!k->regs_valid || !(proc_mm(p)->sig_watch & SIGW_MASKS) ||
	    ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m))
		return 0; /* the call runs as it is */
	old = k->mask_known ? k->prog_mask : m | (k->trap_reblock ? SIGTRAP_BIT : 0);
	pm = old;
	if (r->r10 != sizeof(uint64_t)) {
		err = -EINVAL;
	} else if (r->rsi && mem_read(p, r->rsi, &set, sizeof(set))) {
		err = -EFAULT;
	} else if (r->rsi) {
		set &= ~SIG_UNBLOCKABLE;
		if (how == SIG_BLOCK)
			pm |= set;
		else if (how == SIG_UNBLOCK)
			pm &= ~set;
		else if (how == SIG_SETMASK)
			pm = set;
		else
			err = -EINVAL;
	}
	if (!err) {
		if (!(pm & SIGTRAP_BIT))
			k->trap_hold = false; /* its SIGTRAP, pending, is delivered now */
		if (sigmask_kernel(k, pm) != m && sigmask_set(k->tid, sigmask_kernel(k, pm)))
			return 0;
		k->prog_mask = pm;
		k->mask_known = true;
		k->trap_reblock = false;
		if (r->rdx && mem_write(p, r->rdx, &old, sizeof(old)))
			err = -EFAULT;
	}
	r->rax = (uint64_t)(int64_t)err;
	r->rip += ARCH_SYSCALL_LEN;
	r->rcx = r->rip;
	r->r11 = r->eflags;
	return 0;
}

/*
 * Where a signal frame keeps the mask sigreturn puts back (x86-64: struct
 * rt_sigframe is the return address, then struct ucontext, whose uc_sigmask
 * follows uc_flags, uc_link, uc_stack and the 256-byte uc_mcontext): from
 * rsp at the handler's first instruction, and at the restorer's (the
 * handler's ret popped the return address).
 */
#define UC_SIGMASK_OFF (8 + 8 + 24 + 256)
#define FRAME_UC_OFF 8
/* ... and the flags it puts back: uc_mcontext.gregs[REG_EFL] */
#define UC_EFLAGS_OFF (8 + 8 + 24 + 17 * 8)
#define EFLAGS_TF 0x100
#define K_SA_NODEFER 0x40000000

/*
 * k, its mask followed, is resumed delivering sig: where the program has a
 * handler for it, k is stepped into it, to stop before its first
 * instruction (sigmask_handler_entry()). Not followed from there where the
 * return from the handler is not watched, or where it is not stepped into.
 */
bool sigmask_deliver_step(struct task *k, int sig)
{
	struct proc *p = k->proc;
	/* the program's own SIGTRAP, for its handler behind ours: stepped to go straight there */
	bool chained = sig == SIGTRAP && !p->mm_owner && lifeline_chained(p);
	uint64_t cgt, ign, m;
	long fl;

	if (!k->mask_known && !chained)
		return false;
	/* blocked: queued again, no handler runs */
	if (ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m) || (m & SIG_BIT(sig)))
		return false;
	if (chained) {
		if (!(proc_mm(p)->sig_watch & SIGW_RETURN))
			k->mask_known = false;
	} else if (sig == SIGTRAP) {
		/* ours stands for the default or SIG_IGN: no frame, no mask */
		if ((lifeline_installed(p) && !lifeline_chained(p)) || !p->trap_learned ||
		    !p->trap_want.handler ||
		    p->trap_want.handler == (uint64_t)(uintptr_t)SIG_IGN)
			return false;
	} else if (procfs_status_masks(p, &cgt, &ign) || !(cgt & SIG_BIT(sig))) {
		return false; /* the default action or ignored: the mask stays */
	}
	if (!chained && (p->mm_owner || !(proc_mm(p)->sig_watch & SIGW_RETURN))) {
		k->mask_known = false; /* the handler's mask, and its return, unseen */
		return false;
	}
	/*
	 * Its own trap flag, as the frame must keep it: stepping onto a popf
	 * (or iret), the kernel leaves the flag it sets for the step in the
	 * frame, for sigreturn to restore.
	 */
	errno = 0;
	fl = ptrace(PTRACE_PEEKUSER, k->tid, (void *)offsetof(struct user_regs_struct, eflags),
		    NULL);
	if (errno)
		return false;
	k->sig_entry_tf = (fl & EFLAGS_TF) != 0;
	k->sig_entry_sig = sig;
	k->sig_entry = true;
	return true;
}

/*
 * k stopped after a step into a signal's handler (sigmask_deliver_step()):
 * the kernel set the handler's mask (k's, the handler's sa_mask and the
 * signal) and saved k's in the frame for sigreturn. The program's mask is
 * that with its own SIGTRAP bit; the frame gets the program's mask before
 * the handler (sigmask_on_sigreturn() puts the kernel's back there), the
 * kernel's loses SIGTRAP. 1: done, resume k; 0: not that stop (the signal
 * found no handler after all, and the step ran an instruction: a step
 * trap, swallowed, is 1 too).
 */
int sigmask_handler_entry(struct task *k)
{
	uint64_t m, pm, at, fm, fl, before = k->prog_mask;
	siginfo_t si;

	k->sig_entry = false;
	if (ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si))
		return 0;
	if (si.si_code == TRAP_TRACE)
		return 1;
	if (si.si_code != SIGTRAP)
		return 0; /* (ptrace_notify() after the frame is set up says SIGTRAP) */
	if (task_getregs(k) < 0) {
		k->mask_known = false;
		return 1;
	}
	at = k->regs.rsp + FRAME_UC_OFF + UC_EFLAGS_OFF;
	if (!k->sig_entry_tf && mem_read(k->proc, at, &fl, sizeof(fl)) == 0 && (fl & EFLAGS_TF)) {
		fl &= ~EFLAGS_TF;
		mem_write(k->proc, at, &fl, sizeof(fl));
	}
	/*
	 * The program's own SIGTRAP, in our handler in front of its own
	 * (lifeline.c): straight to its own, which the kernel would have
	 * called the same way (ours is for what comes after our death).
	 */
	if (k->sig_entry_sig == SIGTRAP && lifeline_chained(k->proc) &&
	    k->regs.rip == lifeline_handler(k->proc)) {
		k->regs.rip = k->proc->trap_want.handler;
		task_setregs(k);
	}
	if (!k->mask_known || ptrace(PTRACE_GETSIGMASK, k->tid, (void *)sizeof(m), &m)) {
		k->mask_known = false;
		return 1;
	}
	pm = m | (before & SIGTRAP_BIT);
	/* a handler whose sa_mask has SIGTRAP, which the kernel's lacks (sa_trap) */
	if (k->sig_entry_sig != SIGTRAP && (k->proc->sa_trap & SIG_BIT(k->sig_entry_sig)))
		pm |= SIGTRAP_BIT;
	/* ours in front of the program's SIGTRAP handler never blocks SIGTRAP: the program's does */
	if (k->sig_entry_sig == SIGTRAP && lifeline_chained(k->proc) &&
	    (!(k->proc->trap_want.flags & K_SA_NODEFER) || (k->proc->trap_want.mask & SIGTRAP_BIT)))
		pm |= SIGTRAP_BIT;
	at = k->regs.rsp + FRAME_UC_OFF + UC_SIGMASK_OFF;
	if (mem_read(k->proc, at, &fm, sizeof(fm)) ||
	    (fm != before && mem_write(k->proc, at, &before, sizeof(before))) ||
	    (sigmask_kernel(k, pm) != m && sigmask_set(k->tid, sigmask_kernel(k, pm)))) {
		k->mask_known = false;
		return 1;
	}
	k->prog_mask = pm;
	return 1;
}

/*
 * Our probe on libc's signal return (__restore_rt's first instruction): the
 * frame's mask, the program's (sigmask_handler_entry(), or the handler's
 * own change), is the program's from the return on; the kernel gets it
 * with SIGTRAP unblocked.
 */
int sigmask_on_sigreturn(struct uprobe_hit *h, void *data)
{
	struct task *k = h->task;
	uint64_t at, fm, km;

	(void)data;
	if (!k->regs_valid)
		return 0;
	at = k->regs.rsp + UC_SIGMASK_OFF;
	if (!k->mask_known) {
		/* nothing to follow */
	} else if (mem_read(k->proc, at, &fm, sizeof(fm))) {
		k->mask_known = false;
	} else {
		fm &= ~SIG_UNBLOCKABLE;
		if (!(fm & SIGTRAP_BIT))
			k->trap_hold = false;
		km = sigmask_kernel(k, fm);
		if (km != fm && mem_write(k->proc, at, &km, sizeof(km)))
			k->mask_known = false;
		else
			k->prog_mask = fm;
	}
	/*
	 * Its `mov $SYS_rt_sigreturn,%rax` done here: the thread goes on to
	 * the system call, and no copy of the instruction runs (in place, that
	 * would hold every other thread).
	 */
	k->regs.rax = SYS_rt_sigreturn;
	k->regs.rip += ARCH_RESTORER_MOV_LEN;
	return 0;
}

/*
 * The lifeline's kind (lifeline.h) for our int3 at site s where it is one
 * on libc's mask changes (LL_MASK, LL_SIGRET), else 0.
 */
int sigmask_ll_kind(const struct site *s)
{
	/* (internal is set once the probe is placed: after this) */
	for (unsigned i = 0; i < s->nprobes; i++) {
		if (s->probes[i]->handler == sigmask_on_sigprocmask)
			return LL_MASK;
		if (s->probes[i]->handler == sigmask_on_sigreturn)
			return LL_SIGRET;
	}
	return 0;
}

/*
 * A trap of ours in k, whose mask is followed: with SIGTRAP unblocked in
 * the kernel, it changed nothing. Held blocked for a SIGTRAP of the
 * program's pending in k, it reset the disposition, unblocked it and
 * took that SIGTRAP in place of ours: both go back. False: k's mask is not
 * what we left (changed where we do not watch, a handler's), no longer
 * followed.
 */
bool sigmask_trap_seen(struct uprobe_tracer *t, struct task *k, uint64_t m)
{
	uint64_t km = sigmask_kernel(k, k->prog_mask);
	bool surfaced;
	siginfo_t si;

	k->ll_mask = m;
	k->ll_mask_valid = true;
	if (m == km && !(km & SIGTRAP_BIT))
		return true;
	if (m != (km & ~SIGTRAP_BIT)) {
		k->mask_known = false;
		return false;
	}
	/* (its siginfo first: our injection's stops replace it) */
	surfaced = ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 && si.si_code <= 0;
	lifeline_sigtrap_put_back(t, k);
	if (sigmask_set(k->tid, km) == 0)
		k->ll_mask = km;
	if (surfaced && k->npending < ARRAY_SIZE(k->pending))
		k->pending[k->npending++] = si;
	return true;
}
