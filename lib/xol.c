// SPDX-License-Identifier: LGPL-2.1-or-later
/* Out-of-line scratch areas in the tracee: placement within ±2 GiB, slots, moving threads out, unmapping. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "core.h"
#include "lifeline.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define REACH ((int64_t)1 << 31)
#define LOW_LIMIT 0x10000ull           /* mmap_min_addr */
#define HIGH_LIMIT 0x7ffffffff000ull   /* top of the user address space (4-level paging) */

struct xol_area *xol_area_of(struct proc *p, uint64_t addr)
{
	for (struct xol_area *a = proc_mm(p)->areas; a; a = a->next)
		if (addr >= a->start && addr < a->start + a->size)
			return a;
	return NULL;
}

static uint64_t dist(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/*
 * The free gap address closest to `near` that fits an area, so that slots
 * reach the code with rel32 jumps and rip-relative operands keep reaching
 * their targets. 0 if no gap lies within reach.
 */
static uint64_t find_gap(struct proc *p, uint64_t near, uint64_t size)
{
	uint64_t best = 0, best_d = UINT64_MAX, prev_end = LOW_LIMIT;

	for (int i = 0; i <= p->nmaps; i++) {
		uint64_t gap_lo = prev_end;
		uint64_t gap_hi = i < p->nmaps ? p->maps[i].start : HIGH_LIMIT;

		if (i < p->nmaps)
			prev_end = p->maps[i].end > prev_end ? p->maps[i].end : prev_end;
		/* keep a guard page on each side so stacks growing down are not blocked */
		gap_lo += 0x10000;
		if (gap_hi < 0x10000 || gap_hi - 0x10000 < gap_lo || gap_hi - 0x10000 - gap_lo < size)
			continue;
		gap_hi -= 0x10000;
		uint64_t cand = near < gap_lo ? gap_lo : near + size > gap_hi ? gap_hi - size : near;

		cand &= ~0xfffull;
		if (cand < gap_lo)
			cand += 0x1000;
		if (cand + size > gap_hi)
			continue;
		if (dist(cand, near) < best_d) {
			best_d = dist(cand, near);
			best = cand;
		}
	}
	if (best_d >= (uint64_t)(REACH - 2 * size))
		return 0;
	return best;
}

/* An area whose munmap k's seccomp filter would not certainly allow stays mapped: harmless. */
static bool may_unmap(struct task *k, const struct seccomp_state *sc, const uint64_t args[6])
{
	uint32_t action = 0;
	int r = seccomp_inject_allowed(k, sc, SYS_munmap, args, &action);

	if (r == 1)
		return true;
	pr_debug("pid %d: scratch area at 0x%llx left mapped: %s: %s", k->proc->pid,
		 (unsigned long long)args[0],
		 r == 0 ? "its seccomp filter would deny the munmap" : "cannot read its seccomp filter",
		 r == 0 ? seccomp_action_name(action) : strerror(-r));
	return false;
}

/* Maps a new area near `near`. Every thread of p is held meanwhile, and released after. */
static int area_create(struct uprobe_tracer *t, struct proc *p, uint64_t near,
		       struct xol_area **out)
{
	static const uint8_t gadget[] = { ARCH_SYSCALL_INSN, ARCH_INT3, ARCH_INT3, ARCH_INT3 }; /* see XOL_GADGET_* */
	struct seccomp_state sc = { 0 };
	struct xol_area *a = NULL;
	struct task *k;
	int64_t ret = -ENOMEM;
	pid_t pid = p->pid;
	int err, tries;
	bool first;

	task_mark_running(t, p);
	err = task_stop_all(t, p);
	/* holding it handles its stops: killed meanwhile, it is gone, p with it */
	if (proc_find(t, pid) != p)
		return tracer_err(t, -ESRCH, "pid %d: it ended", pid);
	if (err)
		return tracer_err(t, err, "pid %d: cannot stop its threads", pid);
	k = inject_task(t, p);
	if (!k) {
		err = tracer_err(t, -ESRCH, "pid %d: no thread left", p->pid);
		goto out;
	}
	/*
	 * Its seccomp filter may answer the injected mmap with SIGSYS or a
	 * kill: each one is injected only when the filter certainly allows it
	 * (a failed read leaves sc.err for the check below).
	 */
	seccomp_read(k->tid, &sc);
	proc_refresh_maps(p);
	for (tries = 0; tries < 8; tries++) {
		uint64_t addr = find_gap(p, near, XOL_AREA_SIZE);
		uint64_t args[6] = { addr, XOL_AREA_SIZE, PROT_READ | PROT_EXEC,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				     (uint64_t)-1, 0 };

		if (!addr) {
			err = tracer_err(t, -ENOMEM,
					 "pid %d: no free address range within 2 GiB of 0x%llx for a "
					 "scratch area", p->pid, (unsigned long long)near);
			goto out;
		}
		err = seccomp_check_inject(t, k, &sc, SYS_mmap, args, "the scratch-area mmap");
		if (err) {
			p->xol_denied = true;
			goto out;
		}
		err = inject_syscall(t, k, SYS_mmap, args, &ret);
		if (err) {
			tracer_err(t, err, "pid %d: cannot map a scratch area: %s", p->pid,
				   strerror(-err));
			goto out;
		}
		if ((uint64_t)ret == addr)
			break;
		if (ret >= 0 || ret < -4095) {
			/* an old kernel ignored NOREPLACE and put it elsewhere */
			uint64_t un[6] = { (uint64_t)ret, XOL_AREA_SIZE };
			int64_t r2;

			if (may_unmap(k, &sc, un))
				inject_syscall(t, k, SYS_munmap, un, &r2);
		}
		proc_refresh_maps(p);
	}
	if (tries == 8) {
		err = tracer_err(t, -ENOMEM, "pid %d: mmap of a scratch area failed: %s", p->pid,
				 strerror((int)-ret));
		goto out;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		err = tracer_err(t, -ENOMEM, "out of memory");
		goto out;
	}
	a->start = (uint64_t)ret;
	a->size = XOL_AREA_SIZE;
	a->ord = p->areas_made++;
	/* the first area also keeps the lifeline, before the record gadget */
	a->nslots = (XOL_AREA_SIZE - XOL_REC_GADGET_SPACE - (p->areas ? 0 : LL_SPACE)) /
		    ARCH_SLOT_SIZE;
	a->used = 1; /* slot 0 holds the gadgets */
	err = mem_write(p, a->start, gadget, sizeof(gadget));
	if (err) {
		tracer_err(t, err, "pid %d: cannot write its scratch area", p->pid);
		free(a);
		a = NULL;
		goto out;
	}
	if (!p->gadget)
		p->gadget = a->start + XOL_GADGET_SYSCALL;
	first = !p->areas;
	a->next = p->areas;
	p->areas = a;
	proc_refresh_maps(p);
	pr_debug("pid %d: scratch area at 0x%llx", p->pid, (unsigned long long)a->start);
	if (first)
		lifeline_setup(t, p, k, a, &sc);
	else
		lifeline_area_added(p, a);
	*out = a;
out:
	seccomp_state_free(&sc);
	task_release(t, p);
	return err;
}

/* Makes sure p has a scratch area (and so a syscall gadget and a trap), near `near`. */
int xol_ensure_area(struct uprobe_tracer *t, struct proc *p, uint64_t near)
{
	struct xol_area *a;
	uint64_t trap;
	int err;

	if (p->gadget)
		return 0;
	if (!p->inline_mode && !p->xol_denied) {
		err = area_create(t, p, near, &a);
		/* -ESRCH: p may be freed */
		if (!err || err == -ESRCH || !p->xol_denied)
			return err;
	}
	/* no area: injected calls return to the inline trampoline instead */
	return inline_trap(t, p, &trap);
}

/* One more area near `near`, for code that must reach it with rel32 jumps (detour.c). */
int xol_area_near(struct uprobe_tracer *t, struct proc *p, uint64_t near)
{
	struct xol_area *a;

	return area_create(t, p, near, &a);
}

int xol_slot_for(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t vaddr,
		 uint64_t *slot)
{
	return xol_slot_make(t, p, s, vaddr, false, slot);
}

int xol_slot_make(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t vaddr,
		  bool post, uint64_t *slot)
{
	uint8_t code[ARCH_SLOT_SIZE];
	struct xol_area *a;
	uint64_t addr = 0;
	int n, err;

	if (p->inline_mode)
		return inline_slot(t, p, s, slot);
	for (a = p->areas; a; a = a->next) {
		if (a->used < a->nslots &&
		    arch_slot_reachable(&s->plan, vaddr, a->start + (uint64_t)a->used * ARCH_SLOT_SIZE))
			break;
	}
	if (!a) {
		err = p->xol_denied ? -EPERM : area_create(t, p, vaddr, &a);
		if (err && p->xol_denied)
			return inline_slot(t, p, s, slot);
		if (err)
			return err;
	}
	if (a->used >= a->info_cap) {
		/* by quarters: with ten thousand probes, doubling would leave a third unused */
		unsigned cap = a->info_cap ? a->info_cap + a->info_cap / 4 : 64;
		struct slot_info *info = reallocarray(a->info, cap, sizeof(*info));

		if (!info)
			return tracer_err(t, -ENOMEM, "out of memory");
		a->info = info;
		a->info_cap = cap;
	}
	addr = a->start + (uint64_t)a->used * ARCH_SLOT_SIZE;
	memset(code, ARCH_INT3, sizeof(code));
	n = post ? arch_relocate_post(&s->plan, vaddr, addr, code)
		 : arch_relocate(&s->plan, vaddr, addr, code);
	if (n < 0)
		return tracer_err(t, n, "%s: offset 0x%llx: its operand cannot be reached from the "
				  "scratch area", s->elf->path, (unsigned long long)s->off);
	err = mem_write_deferred(p, addr, code, sizeof(code), MEM_SLOT);
	if (err)
		return tracer_err(t, err, "pid %d: cannot write a slot: %s", p->pid, strerror(-err));
	a->info[a->used].insn_addr = vaddr;
	a->info[a->used].site = s;
	if (post && xol_mark(a, a->used, &a->post_map))
		return tracer_err(t, -ENOMEM, "out of memory");
	s->refs++;
	a->used++;
	*slot = addr;
	return 0;
}

/*
 * The single-step just taken over a slot's relocated instruction ran with
 * TF set: where the instruction records the flags (pushf on the stack,
 * syscall in r11), the program must not see that TF.
 */
static int mem_read_cb(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return mem_read(ctx, addr, buf, len);
}

static int mem_write_cb(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return mem_write(ctx, addr, buf, len);
}

static void hide_trap_flag(struct task *k, const struct arch_plan *plan, uint64_t rsp_before)
{
	struct arch_mem mem = { .ctx = k->proc, .read = mem_read_cb, .write = mem_write_cb };

	if (task_getregs(k) < 0)
		return;
	if (arch_step_hide_tf(plan, &k->regs, rsp_before, &mem))
		task_setregs(k);
}


/*
 * Restarts k with `req` (a single-step, or a run to a hardware breakpoint)
 * and waits for the trap that ends it. Asynchronous signals arriving
 * meanwhile are held. 0: trapped; 1: the instruction faulted instead, and
 * that fault is now the first signal to deliver, reported at the original
 * instruction when it came from a slot's start; <0: error.
 */
static int run_and_wait(struct task *k, long req, uint64_t slot, uint64_t insn_addr)
{
	mem_flush(k->proc);
	for (int rounds = 0; rounds < 1000; rounds++) {
		int st, err;

		if (ptrace(req, k->tid, NULL, NULL) < 0)
			return -errno;
		k->regs_valid = false;
		err = task_wait_own(k, &st);
		if (err)
			return err;
		if (st >> 16) {
			/*
			 * An interrupt or a group-stop reported first: nothing ran
			 * yet. Taken as the step's end, it once made a pushf's fixup
			 * clear bit 8 of whatever the stack held (a return address).
			 */
			if ((st >> 16) == PTRACE_EVENT_STOP) {
				int sig = WSTOPSIG(st);

				k->interrupted = false;
				if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
					k->group_stop = true;
			}
			continue;
		}
		if (WSTOPSIG(st) == SIGTRAP && !task_sigtrap_sent(k)) {
			k->stop_sig = SIGTRAP;
			return 0;
		}
		if (!task_hold_fault_first(k, WSTOPSIG(st)))
			continue;
		if (task_getregs(k) == 0 && k->regs.rip == slot) {
			k->regs.rip = insn_addr;
			task_setregs(k);
		}
		return 1;
	}
	return -EBUSY;
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
 * 0: done; 1: the instruction faulted (as run_and_wait()); <0: error.
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
		int r = run_and_wait(k, PTRACE_CONT, at, insn_addr);

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
		int r = run_and_wait(k, PTRACE_SYSCALL, slot, insn_addr);

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

int xol_enter_syscall(struct task *k, uint64_t slot)
{
	int r = run_and_wait(k, PTRACE_SYSCALL, slot, 0);

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

/*
 * Moves a held thread found inside a slot back into the program, at the
 * point it is equivalent to; where there is none (half-way through a
 * multi-instruction sequence) it is stepped until it leaves the slot.
 * A thread at a slot's very start has had its handlers run for this
 * execution: it is stepped through the instruction rather than rewound,
 * so no later attach reports the same execution again; a system call there
 * is entered rather than stepped, and a rep string instruction still at
 * work after a step runs to its end in one go (run_out()) rather than one
 * step per iteration.
 */
int xol_move_out(struct uprobe_tracer *t, struct task *k)
{
	struct proc *p = k->proc;
	uint64_t last = 0;
	bool tf = false;

	/* the record gadget of no-stop detours (ring.c) takes most of these steps */
	for (int steps = 0; steps < 256; steps++) {
		const struct arch_plan *first = NULL;
		struct site *fsite = NULL;
		uint64_t slot = 0, insn_addr = 0, rsp_before;
		long req = PTRACE_SINGLESTEP;
		struct xol_area *a;
		unsigned idx;
		int r;

		if (!k->regs_valid && task_getregs(k) < 0)
			return -ESRCH;
		if (!steps)
			tf = arch_regs_tf(&k->regs);
		a = xol_area_of(p, k->regs.rip);
		if (!a) {
			/*
			 * The gadget's pushfq, stepped, saved the trap flag and its
			 * popfq set it for good: the program must not run on with it.
			 */
			if (steps && !tf && arch_regs_tf(&k->regs)) {
				arch_regs_clear_tf(&k->regs);
				return task_setregs(k);
			}
			return 0;
		}
		idx = (unsigned)((k->regs.rip - a->start) / ARCH_SLOT_SIZE);
		if (idx > 0 && idx < a->used && xol_is_detour(a, idx)) {
			/* a jump detour (detour.c): rewound from its very start only, else stepped */
			if (detour_pc_to_insn(&a->info[idx], a->start + (uint64_t)idx * ARCH_SLOT_SIZE,
					      xol_is_rec(a, idx), &k->regs)) {
				/* back on the detour's int3 (ring full), maybe through popfq */
				if (steps && !tf)
					arch_regs_clear_tf(&k->regs);
				return task_setregs(k);
			}
			idx = 0;
		}
		if (idx > 0 && idx < a->used) {
			const struct slot_info *si = &a->info[idx];
			const struct arch_plan *plan = &si->site->plan;

			slot = a->start + (uint64_t)idx * ARCH_SLOT_SIZE;
			insn_addr = si->insn_addr;
			/* at a post slot's exit int3: the instruction is done, its post handlers run */
			if (xol_is_post(a, idx) && trap_post(t, k, si->site, si->insn_addr, k->regs.rip) > 0) {
				if (task_setregs(k) < 0)
					return -ESRCH;
				continue; /* out, unless a failed ret is still to fault */
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
				return enter_syscall_out_of_slot(k, plan, si->insn_addr, slot);
			}
			if (k->regs.rip != slot && !xol_is_post(a, idx) &&
			    arch_slot_pc_to_insn(plan, si->insn_addr, slot, &k->regs))
				return task_setregs(k);
			if (k->regs.rip == slot) {
				first = plan;
				fsite = si->site;
				/*
				 * Only an instruction that falls through reaches slot + len: a
				 * step that did not move a ret or jump (an interrupt reported
				 * first) must not let the thread run free.
				 */
				if (last == slot && arch_plan_may_repeat(plan) &&
				    (!plan->disp_pos || xol_is_post(a, idx)))
					req = PTRACE_CONT;
			}
		}
		last = k->regs.rip;
		rsp_before = k->regs.rsp;
		r = req == PTRACE_CONT ? run_out(k, a, idx, first, insn_addr)
				       : run_and_wait(k, req, slot, insn_addr);
		if (r < 0)
			return r;
		if (r > 0) {
			/* the instruction faulted: its probes' fault handlers are asked first */
			if (first && k->regs.rip == insn_addr &&
			    site_run_fault(t, k, fsite, insn_addr, &k->pending[0])) {
				task_drop_signal(k, 0);
				k->stop_sig = k->npending ? k->stop_sig : 0;
				return task_setregs(k);
			}
			/* a copy in a detour faulted: reported at its own address (detour.c) */
			detour_fault(t, k);
			return 0;
		}
		if (first && req == PTRACE_SINGLESTEP && xol_is_post(a, idx) &&
		    arch_plan_is_copy(first) &&
		    task_getregs(k) == 0) {
			uint8_t code[ARCH_MAX_INSN + 1];
			int len;

			/*
			 * A late step trap (after a cpuid the hypervisor emulates)
			 * ran the exit int3 after the relocated instruction too.
			 */
			if (mem_read(p, slot, code, sizeof(code)) == 0 &&
			    (len = arch_insn_len(code, sizeof(code))) > 0 && len < (int)sizeof(code) &&
			    code[len] == ARCH_INT3 && k->regs.rip == slot + (uint64_t)len + 1) {
				k->regs.rip--;
				if (task_setregs(k) < 0)
					return -ESRCH;
			}
		}
		if (first)
			hide_trap_flag(k, first, rsp_before);
	}
	return tracer_err(t, -EBUSY, "tid %d: could not leave the scratch area", k->tid);
}

static void area_free(struct xol_area *a, struct uprobe_tracer *t)
{
	for (unsigned i = 1; i < a->used; i++)
		site_put(t, a->info[i].site);
	free(a->info);
	free(a->post_map);
	free(a->detour_map);
	free(a->rec_map);
	free(a->count_map);
	free(a->notime_map);
	free(a->nsret_map);
	free(a->count_seen);
	free(a);
}

/* Forgets p's areas without touching the tracee (it exec'd, or is gone). */
void xol_forget_all(struct uprobe_tracer *t, struct proc *p)
{
	struct xol_area *a, *n;

	for (a = p->areas; a; a = n) {
		n = a->next;
		area_free(a, t);
	}
	p->areas = NULL;
	p->gadget = 0;
	lifeline_free(p);
	inline_forget(t, p);
}

/*
 * Unmaps the areas of list `areas` (p's own, or the copies a fork child
 * inherited) through held thread k of p. The area holding the syscall
 * gadget goes last, through a temporary gadget at k's pc: it cannot unmap
 * itself and then return into itself.
 */
static int unmap_areas(struct uprobe_tracer *t, struct proc *p, struct task *k,
		       struct xol_area *areas, uint64_t gadget, uint64_t ll_handler)
{
	struct xol_area *gadget_area = NULL;
	struct seccomp_state sc;
	int ret = 0;

	seccomp_read(k->tid, &sc);
	p->gadget = gadget;
	/* SIGTRAP's default back before the handler's code goes */
	lifeline_teardown(t, p, k, &sc, ll_handler);
	for (struct xol_area *a = areas; a; a = a->next) {
		uint64_t args[6] = { a->start, a->size };
		int64_t r;

		if (gadget >= a->start && gadget < a->start + a->size) {
			gadget_area = a;
			continue;
		}
		if (!may_unmap(k, &sc, args))
			continue;
		if (inject_syscall(t, k, SYS_munmap, args, &r) < 0 || r < 0)
			ret = -EIO;
	}
	p->gadget = 0;
	if (gadget_area) {
		uint64_t args[6] = { gadget_area->start, gadget_area->size };
		int64_t r;

		if (may_unmap(k, &sc, args) &&
		    (inject_syscall(t, k, SYS_munmap, args, &r) < 0 || r < 0))
			ret = -EIO;
	}
	seccomp_state_free(&sc);
	return ret;
}

int xol_unmap_all(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	int ret = unmap_areas(t, p, k, p->areas, p->gadget, lifeline_handler(p));

	xol_forget_all(t, p);
	return ret;
}

int xol_mark(struct xol_area *a, unsigned idx, uint64_t **map)
{
	if (!*map) {
		*map = calloc(a->nslots / 64 + 1, sizeof(**map));
		if (!*map)
			return -ENOMEM;
	}
	(*map)[idx / 64] |= 1ull << (idx % 64);
	return 0;
}

static int copy_map(uint64_t **to, const uint64_t *from, const struct xol_area *a)
{
	size_t n = (a->nslots / 64 + 1) * sizeof(*from);

	if (!from)
		return 0;
	*to = malloc(n);
	if (!*to)
		return -ENOMEM;
	memcpy(*to, from, n);
	return 0;
}

/* A followed fork child has copies of from's areas at the same addresses: track them. */
int xol_copy_areas(struct proc *from, struct proc *to)
{
	struct xol_area **tail = &to->areas;

	for (struct xol_area *a = from->areas; a; a = a->next) {
		struct xol_area *c = calloc(1, sizeof(*c));

		if (!c)
			return -ENOMEM;
		*c = *a;
		c->next = NULL;
		c->info = calloc(a->info_cap ? a->info_cap : 1, sizeof(*c->info));
		if (!c->info) {
			free(c);
			return -ENOMEM;
		}
		memcpy(c->info, a->info, a->used * sizeof(*c->info));
		c->post_map = c->detour_map = c->rec_map = c->count_map = c->nsret_map = NULL;
		c->notime_map = NULL;
		c->count_seen = NULL; /* the child's ring counts from 0 */
		if (copy_map(&c->post_map, a->post_map, a) || copy_map(&c->detour_map, a->detour_map, a) ||
		    copy_map(&c->rec_map, a->rec_map, a) || copy_map(&c->count_map, a->count_map, a) ||
		    copy_map(&c->notime_map, a->notime_map, a) ||
		    copy_map(&c->nsret_map, a->nsret_map, a)) {
			free(c->post_map);
			free(c->detour_map);
			free(c->rec_map);
			free(c->count_map);
			free(c->notime_map);
			free(c->nsret_map);
			free(c->info);
			free(c);
			return -ENOMEM;
		}
		for (unsigned i = 1; i < a->used; i++)
			c->info[i].site->refs++;
		*tail = c;
		tail = &c->next;
	}
	to->gadget = from->gadget;
	to->areas_made = from->areas_made;
	if (lifeline_copy(from, to))
		return -ENOMEM;
	return inline_copy_proc(from, to);
}

/* A fork child got copies of parent's areas: move k out of them, then unmap them. */
int xol_release_copies(struct uprobe_tracer *t, struct proc *parent, struct proc *child,
		       struct task *k)
{
	int ret;

	child->areas = parent->areas;
	ret = xol_move_out(t, k);
	if (!ret)
		ret = unmap_areas(t, child, k, parent->areas, parent->gadget,
				  lifeline_handler(parent));
	child->areas = NULL;
	return ret;
}

uint64_t xol_lifeline_at(const struct xol_area *a)
{
	return a->start + a->size - XOL_REC_GADGET_SPACE - LL_SPACE;
}

uint64_t proc_trampoline(struct proc *p)
{
	struct proc *mm = proc_mm(p);

	return mm->gadget ? mm->gadget - XOL_GADGET_SYSCALL + XOL_GADGET_RET : mm->trap;
}
