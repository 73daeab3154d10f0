// SPDX-License-Identifier: LGPL-2.1-or-later
/* The in-place fallback for processes without a scratch area: emulate, or step the original instruction with the other threads held. */
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "mech.h"

/*
 * A process gets no scratch area when the tracer forces it
 * (uprobe_tracer_force_inline) or when none can be mapped (xol_denied: its
 * seccomp filter would refuse or punish the injected mmap). Its breakpoints
 * then have no slot (bp->slot == 0), and a hit, after the handlers, runs the
 * instruction where it is:
 *
 *  - emulated (arch_emulate: nop/endbr64, push %reg, call, jmp, jcc, ret):
 *    registers and stack get its effect, nothing else changes, nobody waits;
 *  - otherwise every other thread running on the same memory (its process,
 *    a vfork child or the parent it borrows its memory from) is held
 *    (hold.c), the original byte goes back, the thread runs the
 *    instruction, the int3 returns and the others are let go: no thread
 *    can run through the instruction while its breakpoint is missing. A
 *    non-branch instruction runs to a temporary int3 on the next one (a rep
 *    string instruction thus to its end); a branch is single-stepped; a
 *    `syscall` runs only to its syscall-entry stop, past the instruction,
 *    and goes on from there once the int3 is back, so that no blocking call
 *    runs with everyone held. Threads that trap on their own while being
 *    held (often on a probe) keep that stop, which is handled once they are
 *    let go.
 *
 * Return probes need an int3 of ours where the hijacked return addresses
 * point: the process's entry point (AT_ENTRY, `_start`), which runs once at
 * start-up and never again. In case a thread does run it (we put it there
 * before the program started), a trap there that matches no pending call
 * is the program's own execution and is stepped like a probed instruction.
 * Injected calls (IFUNC resolvers) return to it too.
 */

UPROBE_API int uprobe_tracer_force_inline(struct uprobe_tracer *t, bool on)
{
	if (!t) {
		errno = EINVAL;
		return -EINVAL;
	}
	t->force_inline = on;
	return 0;
}

/*
 * A breakpoint at vaddr without a slot. Its site is referenced for as long as
 * the process lives, as a slot would reference it: a retired breakpoint
 * still names its site.
 */
int inline_slot(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t *slot)
{
	if (p->ninline_sites == p->inline_sites_cap) {
		unsigned cap = p->inline_sites_cap ? p->inline_sites_cap * 2 : 64;
		struct site **v = reallocarray(p->inline_sites, cap, sizeof(*v));

		if (!v)
			return tracer_err(t, -ENOMEM, "out of memory");
		p->inline_sites = v;
		p->inline_sites_cap = cap;
	}
	if (!p->inline_mode && !p->areas) {
		p->inline_mode = true;
		pr_info("pid %d: no scratch area can be mapped: probed instructions run in place",
			p->pid);
	}
	p->inline_sites[p->ninline_sites++] = s;
	s->refs++;
	*slot = 0;
	return 0;
}

/* The trampoline of a process without scratch area: an int3 on its entry point, planted once. */
int inline_entry_trap(struct uprobe_tracer *t, struct proc *p, uint64_t *addr)
{
	static const uint8_t int3 = ARCH_INT3;
	struct proc *mm = proc_mm(p);
	struct bp *b;
	uint8_t orig;
	int err;

	if (mm->trap) {
		*addr = mm->trap;
		return 0;
	}
	if (!mm->entry)
		return tracer_err(t, -EOPNOTSUPP, "pid %d: no scratch area and no known entry point: "
				  "no place for a return trampoline", mm->pid);
	b = bp_lookup(&mm->bps, mm->entry);
	if (b && !b->retired)
		return tracer_err(t, -EOPNOTSUPP, "pid %d: a probe sits on the entry point 0x%llx, "
				  "where a process without scratch area keeps its return trampoline",
				  mm->pid, (unsigned long long)mm->entry);
	err = mem_read(mm, mm->entry, &orig, 1);
	if (!err && orig == int3)
		err = -EEXIST;
	if (!err)
		err = mem_write(mm, mm->entry, &int3, 1);
	if (err)
		return tracer_err(t, err, "pid %d: cannot put a trampoline on the entry point 0x%llx: "
				  "%s", mm->pid, (unsigned long long)mm->entry, strerror(-err));
	mm->trap = mm->entry;
	mm->trap_orig = orig;
	*addr = mm->trap;
	return 0;
}

/* Puts the entry point's byte back, in p itself (detach) or in a fork child's copy. */
void inline_restore_entry_trap(struct proc *p, struct proc *target)
{
	struct proc *mm = proc_mm(p);

	if (!mm->trap)
		return;
	mem_write(target, mm->trap, &mm->trap_orig, 1);
	if (target == mm)
		mm->trap = 0;
}

/* p's memory is gone (exit, exec) or cleaned (detach): drop what named it. */
void inline_forget(struct uprobe_tracer *t, struct proc *p)
{
	for (unsigned i = 0; i < p->ninline_sites; i++)
		site_put(t, p->inline_sites[i]);
	free(p->inline_sites);
	p->inline_sites = NULL;
	p->ninline_sites = p->inline_sites_cap = 0;
	p->trap = 0;
}

/* A followed fork child: a copy of from's memory, trampoline and breakpoints included. */
int inline_copy_proc(struct proc *from, struct proc *to)
{
	to->inline_mode = from->inline_mode;
	to->xol_denied = from->xol_denied;
	to->trap = from->trap;
	to->trap_orig = from->trap_orig;
	if (!from->ninline_sites)
		return 0;
	to->inline_sites = calloc(from->ninline_sites, sizeof(*to->inline_sites));
	if (!to->inline_sites)
		return -ENOMEM;
	memcpy(to->inline_sites, from->inline_sites, from->ninline_sites * sizeof(*to->inline_sites));
	to->ninline_sites = to->inline_sites_cap = from->ninline_sites;
	for (unsigned i = 0; i < to->ninline_sites; i++)
		to->inline_sites[i]->refs++;
	return 0;
}

/*
 * A trap on the trampoline that no pending call of any thread explains: the
 * thread runs the entry point itself (it had not started when the
 * trampoline was planted).
 */
static bool runs_entry(struct uprobe_tracer *t, struct task *k)
{
	struct proc *mm = proc_mm(k->proc);
	uint64_t slot = k->regs.rsp - 8;

	if (ret_find(k, slot))
		return false;
	for (unsigned i = 0; i < TASK_HASH; i++)
		for (struct task *o = t->tasks[i]; o; o = o->hnext)
			if (proc_mm(o->proc) == mm && ret_find(o, slot))
				return false;
	return true;
}

int inline_entry_trap_hit(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	struct proc *mm = proc_mm(k->proc);

	if (mm->gadget || addr != mm->trap || !runs_entry(t, k))
		return 0;
	k->regs.rip = addr;
	if (k->want_stop) {
		/* rewound: it traps again once released */
		task_setregs(k);
		return 1;
	}
	return inline_step(t, k, addr) == 0 ? 1 : -ESRCH;
}

/* ---- stepping in place ---- */

static int mem_read_cb(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return mem_read(ctx, addr, buf, len);
}

static int mem_write_cb(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return mem_write(ctx, addr, buf, len);
}

/*
 * A non-branch instruction ends where the next one starts: an int3 put
 * there for the moment (every other thread is held) stops the thread right
 * after it. A breakpoint trap costs far less than a single-step's debug
 * exception, which a hypervisor may take itself; a rep string instruction
 * runs to its end in one go, and no TF can show in what pushf stores.
 * The original byte and that int3 go in with one write, as do the int3 and
 * the next byte back after. -EAGAIN, nothing written, when the next byte is
 * an int3 already (a probe there: a step lands on it instead) or cannot be
 * written.
 */
static int run_over(struct task *k, struct proc *mm, uint64_t addr, const struct arch_plan *plan,
		    struct task_run_out *out)
{
	uint64_t next = addr + plan->len;
	uint8_t buf[ARCH_MAX_INSN + 1], saved;
	int r;

	if (mem_read(mm, next, &saved, 1) || saved == ARCH_INT3)
		return -EAGAIN;
	/* the instruction's own bytes are the file's, as the plan and every slot assume */
	memcpy(buf, plan->bytes, plan->len);
	buf[plan->len] = ARCH_INT3;
	if (mem_write(mm, addr, buf, plan->len + 1u))
		return -EAGAIN;
	r = task_run_and_wait(k, PTRACE_CONT, 0, 0, out);
	buf[0] = ARCH_INT3;
	buf[plan->len] = saved;
	mem_write(mm, addr, buf, plan->len + 1u);
	if (r)
		return r; /* a fault is at addr, where the instruction starts */
	if (task_getregs(k) < 0)
		return -ESRCH;
	if (k->regs.rip != next + 1)
		return -EIO;
	k->regs.rip = next;
	return task_setregs(k);
}

/*
 * Single-steps the instruction at addr (its original byte back). A step
 * that leaves a non-branch instruction where it was did one iteration of a
 * rep string instruction: the rest runs to the int3 of the probe on the
 * next instruction, where the thread is put back (this is run only when
 * that int3 is there, or an int3 could not be put there), or step by step.
 * No debug register: some machines accept them and never fire. A step
 * over an instruction a hypervisor emulates (cpuid) may stop one
 * instruction late: where that instruction was the next probe's int3, the
 * thread is put back onto it. A pushf stored the step's TF: it is cleared.
 */
static int step_in_place(struct task *k, uint64_t addr, const struct arch_plan *plan,
			 struct task_run_out *out)
{
	struct arch_mem mem = { .ctx = k->proc, .read = mem_read_cb, .write = mem_write_cb };
	bool falls = arch_plan_falls_through(plan);
	uint64_t next = addr + plan->len;
	uint8_t byte = 0;
	int r = task_run_and_wait(k, PTRACE_SINGLESTEP, 0, 0, out);

	if (r)
		return r;
	if (task_getregs(k) < 0)
		return -ESRCH;
	if (falls && mem_read(k->proc, next, &byte, 1) == 0 && byte == ARCH_INT3 &&
	    k->regs.rip == next + 1) {
		k->regs.rip = next; /* a late step trap: the int3 after it ran too */
		if (task_setregs(k) < 0)
			return -ESRCH;
	} else if (k->regs.rip == addr && plan->len && arch_plan_may_repeat(plan)) {
		for (long n = 0; n < (1l << 22) && k->regs.rip == addr; n++) {
			r = task_run_and_wait(k, byte == ARCH_INT3 ? PTRACE_CONT : PTRACE_SINGLESTEP,
					      0, 0, out);
			if (r)
				return r;
			if (task_getregs(k) < 0)
				return -ESRCH;
			if (byte == ARCH_INT3 && k->regs.rip == next + 1) {
				k->regs.rip = next;
				return task_setregs(k);
			}
		}
	}
	if (arch_plan_pushes_flags(plan))
		return arch_step_fixup(plan, addr, addr, &k->regs, &mem);
	return 0;
}

/*
 * `syscall`: run to the syscall-entry stop, past the instruction, where its
 * int3 can go back before the call runs (and perhaps blocks). Signals held
 * meanwhile are queued again when it resumes, and interrupt the call as
 * they would untraced.
 */
static int enter_syscall(struct task *k, uint64_t addr, const struct arch_plan *plan,
			 struct task_run_out *out)
{
	for (int tries = 0; tries < 16; tries++) {
		int r = task_run_and_wait(k, PTRACE_SYSCALL, 0, 0, out);

		if (r)
			return r;
		if (task_getregs(k) < 0)
			return -ESRCH;
		if (k->regs.rip == addr + plan->len) {
			k->stop_sig = 0; /* a syscall stop carries no signal */
			return 0;
		}
		if (k->regs.rip != addr)
			return -EIO;
	}
	return -EIO;
}

/*
 * The program's own view of its memory, for emulated stack accesses:
 * process_vm_readv/writev honour page protections where /proc/PID/mem
 * would write through the PROT_NONE guard page a real push faults on. A
 * write that would cross a page is left to the real instruction, which
 * writes either all of it or nothing.
 */
static int user_rw(void *ctx, uint64_t addr, void *buf, size_t len, bool write)
{
	struct task *k = ctx;
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	if ((addr & 4095) + len > 4096)
		return -EOPNOTSUPP;
	n = write ? process_vm_writev(k->tid, &local, 1, &remote, 1, 0)
		  : process_vm_readv(k->tid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static int user_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return user_rw(ctx, addr, buf, len, false);
}

static int user_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return user_rw(ctx, addr, (void *)buf, len, true);
}

/*
 * An instruction arch_emulate() knows gets its effect on k's registers
 * and stack, and its post handlers, there and then: nobody is held.
 * False when it is no such instruction (or no longer probed); else *r is
 * inline_step()'s result.
 */
static bool emulated(struct uprobe_tracer *t, struct task *k, uint64_t addr, int *r)
{
	struct arch_mem user = { .ctx = k, .read = user_read, .write = user_write };
	struct proc *mm = proc_mm(k->proc);
	struct bp *b;

	k->regs.rip = addr;
	b = bp_lookup(&mm->bps, addr);
	if (!b || b->retired || arch_emulate(&b->site->plan, addr, &k->regs, &user) != 0)
		return false;
	if (b->site->npost)
		site_run_post(t, k, b->site, addr);
	*r = task_setregs(k) < 0 ? -ESRCH : 0;
	return true;
}

/*
 * What runs at addr, looked up again once the others are held: a live
 * breakpoint's instruction (its site referenced, *site), or the entry
 * point's first instruction under the trampoline; with the byte the int3
 * stands on. False when the int3 is gone: the real instruction runs.
 */
static bool what_runs(struct proc *mm, uint64_t addr, uint8_t *orig,
		      const struct arch_plan **plan, struct site **site)
{
	/* the entry point's first instruction, of unknown length (0): stepped, nothing else */
	static const struct arch_plan entry_plan = ARCH_PLAN_UNKNOWN;
	struct bp *b = bp_lookup(&mm->bps, addr);

	if (b && !b->retired) {
		*orig = b->orig;
		*plan = &b->site->plan;
		*site = b->site;
		(*site)->refs++; /* its handlers below may remove its probes */
	} else if (addr == mm->trap) {
		*orig = mm->trap_orig;
		*plan = &entry_plan;
	} else {
		return false;
	}
	return true;
}

/*
 * Runs the instruction at addr, the others held: to an int3 after it
 * where it can (run_over()), else with the original byte back for the
 * moment, single-stepped or, a `syscall`, to its entry stop. Returns as
 * those do; -EAGAIN: the byte could not go back, nothing ran.
 */
static int run_in_place(struct task *k, struct proc *mm, uint64_t addr, uint8_t orig,
			const struct arch_plan *plan, struct task_run_out *out)
{
	static const uint8_t int3 = ARCH_INT3;
	int r = -EAGAIN;

	if (plan->len && arch_plan_is_copy(plan))
		r = run_over(k, mm, addr, plan, out);
	if (r == -EAGAIN) {
		if (mem_write(mm, addr, &orig, 1) < 0)
			return -EAGAIN;
		if (arch_plan_is_syscall(plan))
			r = enter_syscall(k, addr, plan, out);
		else
			r = step_in_place(k, addr, plan, out);
		mem_write(mm, addr, &int3, 1);
	}
	/* ESRCH: killed meanwhile (its exit is reported later) */
	if (r < 0 && r != -ESRCH && !out->died)
		pr_warn("tid %d: cannot run the instruction at 0x%llx in place: %s", k->tid,
			(unsigned long long)addr, strerror(-r));
	return r;
}

/*
 * After the others are let go, k still there: the handlers of site (NULL:
 * none) for what run_in_place() returned (r). 0, or -ESRCH: k is gone.
 */
static int after_step(struct uprobe_tracer *t, struct task *k, struct site *site, uint64_t addr,
		      const struct arch_plan *plan, int r)
{
	if (site && r == 1 && k->npending && site_run_fault(t, k, site, addr, &k->pending[0])) {
		/* a fault handler swallowed the fault: resume with its registers */
		task_drop_signal(k, 0);
		return task_setregs(k) < 0 ? -ESRCH : 0;
	}
	if (site && r == 0 && site->npost && arch_plan_is_syscall(plan)) {
		/* only entered, no result yet: its post handlers wait for the syscall-exit stop */
		k->post_sys = site;
		k->post_sys_addr = addr;
		site->refs++;
		return 0;
	}
	if (site && r == 0 && site->npost) {
		site_run_post(t, k, site, addr);
		return task_setregs(k) < 0 ? -ESRCH : 0;
	}
	return 0;
}

/*
 * Runs the instruction at addr for thread k, stopped on its breakpoint with
 * its handlers done (k->regs as they left them). 0: k is stopped after the
 * instruction (or on its fault, to deliver), ready to resume; -ESRCH: k is
 * gone (and freed).
 */
int inline_step(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	const struct arch_plan *plan = NULL;
	struct site *site = NULL;
	struct held h = { 0 };
	struct proc *mm;
	struct task_run_out out = { 0 };
	bool gone = false;
	int r = 0;
	pid_t ktid = k->tid;
	uint8_t orig;

	if (emulated(t, k, addr, &r))
		return r;
	k->regs.rip = addr;
	if (task_setregs(k) < 0)
		return -ESRCH;
	if (hold_others(t, k, &h) < 0) {
		/* k is gone (freed): the others still go, and their traps are handled */
		gone = true;
		goto out;
	}
	/* events handled meanwhile may have moved or removed it, or ended a vfork parent */
	mm = proc_mm(k->proc);
	if (what_runs(mm, addr, &orig, &plan, &site))
		r = run_in_place(k, mm, addr, orig, plan, &out);
out:
	if (out.interrupted && !out.died && ptrace(PTRACE_INTERRUPT, k->tid, NULL, NULL) == 0)
		k->interrupted = true; /* it was meant to stop at once: it will, once resumed */
	hold_release_others(t, &h);
	if (out.died)
		t->hooks->stop(t, k, out.status); /* k is freed */
	hold_handle_deferred(t, &h);
	if (h.v != h.stack)
		free(h.v);
	/* what the deferred traps did may have ended it (an exec in another thread) */
	if (out.died || gone || task_find(t, ktid) != k)
		r = -ESRCH;
	else
		r = after_step(t, k, site, addr, plan, r);
	if (site)
		site_put(t, site);
	return r;
}

void inline_drop_post_sys(struct uprobe_tracer *t, struct task *k)
{
	if (k->post_sys)
		site_put(t, k->post_sys);
	k->post_sys = NULL;
}
