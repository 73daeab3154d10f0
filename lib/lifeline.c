// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The lifeline: the traced program outlives its tracer. A tracer killed
 * (SIGKILL, the OOM killer, a crash in a user's handler) never detaches:
 * the kernel lets its tracees go with our int3s in their code, and the
 * first thread to reach one would die of SIGTRAP, as would every thread
 * that was stopped on one. So each process with a scratch area gets a
 * SIGTRAP handler of ours (arch/x86/lifeline.c) where it leaves SIGTRAP at
 * its default, with a table of our int3s and the file's bytes under them,
 * kept in step as probes come and go (lifeline_table.c): after the
 * tracer's death each int3 a thread reaches is put back, once, and the
 * program runs as untraced.
 *
 * While the tracer lives the handler only ever sees the program's own
 * SIGTRAPs, and gives them the default action. The program that asks
 * (sigaction(SIGTRAP, NULL, &old)) is told what it set; one that installs
 * its own replaces ours, and its handler is never touched. At detach the
 * default comes back, if ours is still there. Following what the program
 * sets, and finding what our traps reset, is sigtrap.c's; putting it back
 * (lifeline_sigtrap_put_back(), which lifeline_setup() needs too) is here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mech.h"
#include "lifeline.h"
#include "lifeline_internal.h"
#include "sigtrap.h"

#define K_SA_SIGINFO 0x4
#define K_SA_ONSTACK 0x08000000
#define K_SA_RESTORER 0x04000000
#define K_SA_NODEFER 0x40000000

/* Would p's filter let the handler make each of its system calls? */
static bool handler_allowed(const struct seccomp_state *sc, uint64_t at)
{
	static const struct {
		long nr;
		uint64_t args[6];
	} calls[] = {
		{ SYS_open, { 0, 0x80002 } },
		{ SYS_pwrite64, { 3, 0, 1 } },
		{ SYS_close, { 3 } },
		{ SYS_rt_sigaction, { SIGTRAP, 0, 0, 8 } },
		{ SYS_getpid, { 0 } },
		{ SYS_gettid, { 0 } },
		{ SYS_tgkill, { 0, 0, SIGTRAP } },
		{ SYS_process_vm_readv, { 0, 0, 1, 0, 1, 0 } },
		{ SYS_process_vm_writev, { 0, 0, 1, 0, 1, 0 } },
		{ SYS_rt_sigreturn, { 0 } },
	};
	uint32_t action;

	if (sc->err)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(calls); i++)
		if (seccomp_decide(sc, calls[i].nr, calls[i].args, at, &action) != 1)
			return false;
	return true;
}

/* regs in ucontext's gregs[0..LL_NGREGS) order, as the handler puts them back (rt_sigreturn) */
static void inj_gregs(const struct user_regs_struct *r, uint64_t g[LL_NGREGS])
{
	uint64_t rax, rip;

	arch_regs_restarted(r, &rax, &rip);
	const uint64_t w[LL_NGREGS] = {
		r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rdi,
		r->rsi, r->rbp, r->rbx, r->rdx, rax, r->rcx, r->rsp, rip, r->eflags,
	};

	memcpy(g, w, sizeof(w));
}

/* Our handler as SIGTRAP's disposition: every signal blocked while it runs. */
static struct k_sigaction handler_act(const struct lifeline *l)
{
	struct k_sigaction act = {
		.handler = l->at,
		.flags = K_SA_SIGINFO | K_SA_ONSTACK | K_SA_RESTORER,
		.restorer = l->at + (uint64_t)(uprobe__lifeline_restorer - uprobe__lifeline),
		.mask = ~0ull,
	};

	if (l->prog.handler) {
		/*
		 * In front of the program's: its flags, mask and restorer (libc's
		 * signal return, which sigmask.c watches), as the kernel applies
		 * them to its handler; SIGTRAP itself never blocked, so that our
		 * int3 on that signal return can be caught after the tracer's
		 * death (sigmask.c gives the program the mask it asked for).
		 */
		act.flags = l->prog.flags | K_SA_SIGINFO | K_SA_RESTORER | K_SA_NODEFER;
		act.mask = l->prog.mask & ~(1ull << (SIGTRAP - 1));
		if (l->prog.flags & K_SA_RESTORER)
			act.restorer = l->prog.restorer;
	}
	return act;
}

/* Does p's lifeline stand in front of a SIGTRAP handler of the program's own? */
bool lifeline_chained(const struct proc *p)
{
	return p->lifeline && p->lifeline->prog.handler;
}

/*
 * The program set its own SIGTRAP handler prog (its handler field 0: none,
 * ours stands for the default or SIG_IGN): ours is made the disposition in
 * front of it, through held thread k. 0 or -errno.
 */
int lifeline_chain(struct uprobe_tracer *t, struct proc *p, struct task *k,
		   const struct k_sigaction *prog)
{
	struct lifeline *l = p->lifeline;
	struct k_sigaction act;
	uint64_t h = prog ? prog->handler : 0;
	int err;

	memset(&l->prog, 0, sizeof(l->prog));
	if (prog)
		l->prog = *prog;
	/* the program's handler first, then ours in front of it: a trap meanwhile finds both */
	write_data(p, l, offsetof(struct ll_data, prog), &h, sizeof(h));
	act = handler_act(l);
	err = inject_sigaction(t, k, &act, NULL);
	if (!err)
		lifeline_now_installed(t, p, true);
	return err;
}

/* Is our handler p's SIGTRAP disposition now? */
bool lifeline_installed(const struct proc *p)
{
	return p->lifeline && p->lifeline->installed;
}

/* Our handler as a disposition; p has a lifeline. */
struct k_sigaction lifeline_act(const struct proc *p)
{
	return handler_act(p->lifeline);
}

/* p's disposition was just made ours (on), or something else (off); p has a lifeline. */
void lifeline_now_installed(struct uprobe_tracer *t, struct proc *p, bool on)
{
	struct lifeline *l = p->lifeline;

	l->installed = on;
	if (on && !l->guarded)
		guardian_add(t, p->pid, lifeline_data_at(l));
	l->guarded |= on;
}

/* Ours stands for SIG_IGN (ign) or the default; p has a lifeline. */
void lifeline_set_ign(struct proc *p, bool ign)
{
	uint64_t v = ign;

	write_data(p, p->lifeline, offsetof(struct ll_data, ign), &v, sizeof(v));
}

/*
 * SIGTRAP's disposition as it must be while we are attached: our handler,
 * standing for the program's default, or the program's own; false where
 * it is the default (no reset can change it).
 */
bool lifeline_sigtrap_real(const struct proc *p, struct k_sigaction *act)
{
	if (lifeline_installed(p)) {
		*act = lifeline_act(p);
		return true;
	}
	/*
	 * Nor SIG_IGN: setting it discards the SIGTRAPs pending in every
	 * thread, our traps' in flight included. A program that ignores
	 * SIGTRAP with no handler of ours has the default while traced
	 * (sigtrap_program_own() drops what is sent to it) and SIG_IGN back
	 * at detach.
	 */
	if (!p->trap_learned || !p->trap_want.handler ||
	    p->trap_want.handler == (uint64_t)(uintptr_t)SIG_IGN)
		return false;
	*act = p->trap_want;
	return true;
}

/*
 * A trap of ours reset SIGTRAP to the default: the disposition it must
 * have goes back, through held thread k. 0 or -errno.
 */
int lifeline_sigtrap_put_back(struct uprobe_tracer *t, struct task *k)
{
	struct proc *p = k->proc;
	uint64_t args[6] = { SIGTRAP, 0, 0, 8 };
	struct k_sigaction act, cur;
	int err;

	if (!lifeline_sigtrap_real(p, &act))
		return 0;
	if (!inject_possible(k, SYS_rt_sigaction, args)) {
		pr_debug("pid %d: SIGTRAP reset by a trap of ours; its seccomp filter denies "
			 "putting it back", p->pid);
		return -EPERM;
	}
	if (!lifeline_installed(p) && !p->trap_want_full) {
		/* the reset changed the handler alone: the rest is still the program's */
		err = inject_sigaction(t, k, NULL, &cur);
		if (err)
			return err;
		cur.handler = act.handler;
		act = cur;
	}
	err = inject_sigaction(t, k, &act, &cur);
	if (!err && cur.handler) {
		/* not the default after all: one the program set meanwhile stays */
		inject_sigaction(t, k, &cur, NULL);
		return -EAGAIN;
	}
	pr_debug("pid %d: SIGTRAP reset by a trap of ours in thread %d: put back (%s)", p->pid,
		 k->tid, err ? strerror(-err) : "done");
	return err;
}

void lifeline_free(struct proc *p)
{
	struct lifeline *l = p->lifeline;

	if (!l)
		return;
	if (l->guarded)
		guardian_remove(p->t, p->pid);
	free(l->addrs);
	free(l->hidx);
	free(l);
	p->lifeline = NULL;
}

/*
 * Does the program's SIGTRAP leave room for our handler? Its default or
 * SIG_IGN does (*state says which, as procfs_sigtrap_status() read it), and so does
 * its own handler known whole (ours goes in front of it: l->prog). A
 * handler of its own known only in part does not, nor one procfs_sigtrap_status()
 * sees; the first may already have been reset by a trap of ours, and is
 * put back.
 */
static bool sigtrap_leaves_room(struct uprobe_tracer *t, struct proc *p, struct task *k,
				struct lifeline *l, int *state)
{
	if (p->trap_learned && p->trap_want.handler && p->trap_want.handler != (uint64_t)(uintptr_t)SIG_IGN) {
		if (!p->trap_want_full) {
			/* its own, known only in part: a trap of ours may have reset it already */
			if (procfs_sigtrap_status(p, state) == 0 && *state == TRAP_DFL)
				lifeline_sigtrap_put_back(t, k);
			pr_debug("pid %d: no lifeline: its own SIGTRAP handler is not known whole",
				 p->pid);
			return false;
		}
		l->prog = p->trap_want; /* ours in front of it */
	} else if (procfs_sigtrap_status(p, state) || *state == TRAP_CAUGHT) {
		pr_debug("pid %d: no lifeline: it handles SIGTRAP itself", p->pid);
		return false;
	}
	return true;
}

/*
 * The handler's code and data into the area, at l->at: its table's
 * address, the area it knows, the program's handler or SIG_IGN it stands
 * for, and k's way back. 0, or non-zero on failure.
 */
static int write_handler(struct proc *p, struct task *k, struct lifeline *l,
			 const struct xol_area *a, int state, size_t len)
{
	uint8_t code[LL_CODE_SPACE];
	struct ll_data d = { 0 };
	struct user_regs_struct back;

	if (task_getregs(k) < 0)
		return -ESRCH;
	memcpy(code, uprobe__lifeline, len);
	/* make_disposition()'s injection is one too: k's way back, should we die meanwhile */
	back = k->regs;
	if (k->lrip)
		back.rip = k->kregs.rip;
	d.inj_tid = (uint64_t)k->tid;
	inj_gregs(&back, d.inj_gregs);
	d.tab = l->tab;
	d.tramp = a->start + XOL_GADGET_RET;
	d.nareas = 1;
	d.ign = !l->prog.handler && (state == TRAP_IGN || (p->trap_learned &&
				     p->trap_want.handler == (uint64_t)(uintptr_t)SIG_IGN));
	d.prog = l->prog.handler;
	d.areas[0][0] = a->start;
	d.areas[0][1] = a->start + a->size;
	memcpy(code + (uprobe__lifeline_data - uprobe__lifeline), &d, sizeof(d));
	return mem_write(p, l->at, code, len);
}

/*
 * Our handler made SIGTRAP's disposition through k, *old the one before.
 * False if that failed, or if the program set a handler of its own since
 * its status was read (put back).
 */
static bool make_disposition(struct uprobe_tracer *t, struct proc *p, struct task *k,
			     struct lifeline *l, struct k_sigaction *old)
{
	struct k_sigaction act = handler_act(l);
	uint64_t zero = 0;
	int err = inject_sigaction(t, k, &act, old);

	write_data(p, l, offsetof(struct ll_data, inj_tid), &zero, sizeof(zero));
	if (err) {
		pr_debug("pid %d: no lifeline: rt_sigaction: %s", p->pid, strerror(-err));
		return false;
	}
	if (old->handler != (uint64_t)(uintptr_t)SIG_DFL && old->handler != (uint64_t)(uintptr_t)SIG_IGN &&
	    old->handler != l->prog.handler) {
		/* changed since status was read: put it back */
		inject_sigaction(t, k, old, NULL);
		return false;
	}
	return true;
}

/*
 * The program's default, as it would see it, from the disposition old our
 * handler replaced: what its sigaction() calls are told from now on.
 */
static void learn_default(struct proc *p, struct lifeline *l, struct k_sigaction old)
{
	if (old.handler != (uint64_t)(uintptr_t)SIG_IGN && p->trap_learned)
		old.handler = p->trap_want.handler; /* reset by a trap of ours before this area */
	p->trap_want = old;
	p->trap_want_full = p->trap_learned = true;
	pr_debug("pid %d: lifeline at 0x%llx", p->pid, (unsigned long long)l->at);
}

/*
 * p's first scratch area a was just mapped, every thread of p held, k one
 * of them: the handler goes into its reserved end, and becomes p's SIGTRAP
 * handler if p leaves SIGTRAP at its default and its seccomp filter lets
 * the handler run. Failing that, p simply has no lifeline.
 */
void lifeline_setup(struct uprobe_tracer *t, struct proc *p, struct task *k, struct xol_area *a,
		    const struct seccomp_state *sc)
{
	size_t len = (size_t)(uprobe__lifeline_end - uprobe__lifeline);
	struct k_sigaction old;
	struct lifeline *l;
	uint32_t action;
	uint64_t args[6] = { SIGTRAP, 0, 0, 8 };
	int state = TRAP_DFL;

	if (p->lifeline)
		return;
	if (len > LL_CODE_SPACE) {
		pr_warn("the lifeline's code (%zu bytes) outgrew its space: no lifeline", len);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l || lifeline_table_grow(l)) {
		free(l);
		return;
	}
	if (!sigtrap_leaves_room(t, p, k, l, &state))
		goto fail;
	l->at = xol_lifeline_at(a);
	l->tab = l->at + LL_CODE_SPACE;
	if (!handler_allowed(sc, l->at) ||
	    inject_seccomp_allowed(k, sc, SYS_rt_sigaction, args, &action) != 1) {
		pr_debug("pid %d: no lifeline: its seccomp filter may deny what the handler does",
			 p->pid);
		goto fail;
	}
	if (write_handler(p, k, l, a, state, len))
		goto fail;
	l->nareas = 1;
	if (!make_disposition(t, p, k, l, &old))
		goto fail;
	l->installed = true;
	p->lifeline = l;
	if (l->prog.handler)
		pr_debug("pid %d: lifeline at 0x%llx, in front of its own SIGTRAP handler", p->pid,
			 (unsigned long long)l->at);
	else
		learn_default(p, l, old);
	guardian_add(t, p->pid, lifeline_data_at(l));
	l->guarded = true;
	/* a spawned program need no longer die with us (PTRACE_O_EXITKILL) */
	for (unsigned i = 0; i < TASK_HASH; i++)
		for (struct task *o = t->tasks[i]; o; o = o->hnext)
			if (o->proc == p && o->state == TASK_STOPPED)
				ptrace(PTRACE_SETOPTIONS, o->tid, NULL, (void *)lifeline_ptrace_opts(p));
	return;
fail:
	p->lifeline = l;
	lifeline_free(p);
}

/* Another scratch area of p: the handler lets threads found in it run on. */
void lifeline_area_added(struct proc *p, const struct xol_area *a)
{
	struct lifeline *l = p->lifeline;
	uint64_t span[2] = { a->start, a->start + a->size }, n;

	if (!l || l->nareas == LL_MAX_AREAS)
		return;
	if (write_data(p, l, offsetof(struct ll_data, areas) + l->nareas * sizeof(span), span,
		       sizeof(span)))
		return;
	n = ++l->nareas;
	write_data(p, l, offsetof(struct ll_data, nareas), &n, sizeof(n));
}

/*
 * The ptrace options p's threads get: a spawned program dies with the
 * tracer (PTRACE_O_EXITKILL) unless it has a lifeline; one with a ring
 * reports its exit (ring.c).
 */
long lifeline_ptrace_opts(const struct proc *p)
{
	long opts = SEIZE_OPTS;

	if (p->ring)
		opts |= PTRACE_O_TRACEEXIT;
	if (p->spawned && !lifeline_handler(p))
		opts |= PTRACE_O_EXITKILL;
	return opts;
}

/*
 * k is about to run code the tracer injects; were the tracer to die
 * meanwhile, the handler puts back `back` (what k must resume with) when
 * k reaches the gadget's int3s. p is k's process (its memory's owner).
 */
void lifeline_inject_begin(struct proc *p, struct task *k, const struct user_regs_struct *back)
{
	struct lifeline *l = p->lifeline;
	uint64_t w[1 + LL_NGREGS] = { (uint64_t)k->tid };

	if (!l || !l->installed)
		return;
	inj_gregs(back, &w[1]);
	/* the registers first, the tid that makes them count last */
	if (write_data(p, l, offsetof(struct ll_data, inj_gregs), &w[1], sizeof(w) - sizeof(w[0])) == 0)
		write_data(p, l, offsetof(struct ll_data, inj_tid), &w[0], sizeof(w[0]));
}

void lifeline_inject_end(struct proc *p)
{
	struct lifeline *l = p->lifeline;
	uint64_t zero = 0;

	if (l && l->installed)
		write_data(p, l, offsetof(struct ll_data, inj_tid), &zero, sizeof(zero));
}

uint64_t lifeline_handler(const struct proc *p)
{
	return p->lifeline && p->lifeline->installed ? p->lifeline->at : 0;
}

/* A followed fork child has a copy of from's memory, table and handler included. */
int lifeline_copy(const struct proc *from, struct proc *to)
{
	const struct lifeline *f = from->lifeline;
	struct lifeline *l;

	to->trap_want = from->trap_want;
	to->trap_learned = from->trap_learned;
	to->trap_want_full = from->trap_want_full;
	to->trap_check = from->trap_check;
	if (!f)
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	*l = *f;
	l->addrs = malloc(f->cap * sizeof(*l->addrs));
	l->hidx = malloc(2 * f->cap * sizeof(*l->hidx));
	to->lifeline = l;
	if (!l->addrs || !l->hidx) {
		lifeline_free(to);
		return -ENOMEM;
	}
	memcpy(l->addrs, f->addrs, f->cap * sizeof(*l->addrs));
	memcpy(l->hidx, f->hidx, 2 * f->cap * sizeof(*l->hidx));
	if (l->guarded)
		guardian_add(to->t, to->pid, lifeline_data_at(l));
	return 0;
}
