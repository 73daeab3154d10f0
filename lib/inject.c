// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Code injected into a held tracee thread: system calls (mmap/munmap of
 * scratch areas, rt_sigaction), through the first area's stub, the gadget
 * or borrowed bytes, and function calls (IFUNC resolvers); whether its
 * seccomp filter lets them through. Running them to their end is
 * inject_run.c's.
 */
#include <elf.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "os.h"
#include "inject_internal.h"

/*
 * What k resumes with if the tracer dies while the injection runs: its
 * saved registers, with the rip the kernel held when it was moved for the
 * lifeline (wait.c).
 */
static void lifeline_back(struct task *k, const struct user_regs_struct *saved, uint64_t krip)
{
	struct user_regs_struct back = *saved;

	if (krip)
		back.rip = krip;
	k->proc->t->hooks->inject_begin(proc_mm(k->proc), k, &back);
}

/* Does the system call nr(args) make SIGTRAP ignored? */
static bool sets_sigtrap_ign(struct proc *p, long nr, const uint64_t args[6])
{
	uint64_t handler;

	return nr == SYS_rt_sigaction && args[0] == SIGTRAP && args[1] &&
	       mem_read(p, args[1], &handler, sizeof(handler)) == 0 &&
	       handler == (uint64_t)(uintptr_t)SIG_IGN;
}

/*
 * The first injection into a process (its first scratch area's mmap) has
 * no gadget to run: it runs a stub written into dead bytes of one of its
 * executable file mappings (past the end of the executable segment, to
 * the page's end: no code of the program ever runs there), not into the
 * bytes at the thread's pc, which every other thread may run the moment
 * a dying tracer lets them go. The stub ends the way back by itself:
 *
 *   movabs $nr, %rax; movabs $args, %rdi ... %r9; syscall;
 *   movabs $back, %rax, %rdi, %rsi, %rdx, %r10, %r8, %r9, %rcx, %r11;
 *   jmp *back_rip
 *
 * where `back` is what the thread resumes with (a system call it was held
 * in restarted, as the kernel would); the syscall keeps the flags (sysret
 * puts back those r11 held). The tracer takes the result at the system
 * call's exit stop and writes the registers back itself; a tracer that
 * dies at any moment leaves a thread that finishes the stub and goes on
 * exactly where it was, and no other thread ever meets the stub. Its
 * bytes are arch_syscall_stub()'s (arch/x86/linux.c).
 */

/* Where the stub goes: 16-aligned dead bytes of an executable file mapping; 0 for none. */
static uint64_t stub_at(struct proc *p)
{
	if (!p->maps && proc_refresh_maps(p) < 0)
		return 0;
	for (int i = 0; i < p->nmaps; i++) {
		const struct map_entry *m = &p->maps[i];
		struct elf_file *f;

		if (!m->x || m->path[0] != '/' || proc_elf_open(p, m, &f))
			continue;
		for (size_t j = 0; j < f->nsegs; j++) {
			const struct elf_seg *sg = &f->segs[j];
			uint64_t end = sg->off + (sg->memsz > sg->filesz ? sg->memsz : sg->filesz);
			uint64_t at;

			if (!(sg->flags & PF_X) || end < m->off || end >= m->off + (m->end - m->start))
				continue;
			at = (m->start + (end - m->off) + 15) & ~15ull;
			if (at + ARCH_STUB_LEN <= m->end)
				return at;
		}
	}
	return 0;
}

/* The stub for system call nr(args) by a thread that goes back to `back` after. */
static void stub_code(uint8_t code[ARCH_STUB_LEN], long nr, const uint64_t args[6],
		      const struct user_regs_struct *back)
{
	uint64_t rax, rip;

	/* a system call it was held in starts again */
	arch_regs_restarted(back, &rax, &rip);
	arch_syscall_stub(code, nr, args, back, rax, rip);
}

/*
 * inject_syscall() through the stub. k stands at the call's exit stop after
 * (no signal: held ones are queued again on resume).
 */
static int stub_syscall(struct task *k, uint64_t at, long nr, const uint64_t args[6],
			int64_t *ret)
{
	struct proc *p = k->proc;
	struct user_regs_struct saved = k->regs, back = k->regs;
	uint64_t krip = k->lrip ? k->kregs.rip : 0;
	uint8_t code[ARCH_STUB_LEN], orig[ARCH_STUB_LEN];
	int err;

	if (krip)
		back.rip = krip;
	stub_code(code, nr, args, &back);
	err = mem_read(p, at, orig, sizeof(orig));
	if (!err)
		err = mem_write(p, at, code, sizeof(code));
	if (err)
		return err;
	pr_debug("pid %d: system call %ld through a stub at 0x%llx", p->pid, nr,
		 (unsigned long long)at);
	/* the stub first, then the thread onto it; only its pc changes */
	k->regs.rip = at;
	arch_regs_no_syscall(&k->regs);
	err = task_setregs(k);
	if (!err)
		err = inject_run_to_syscall_stop(k, at + ARCH_STUB_SYSCALL, true);
	if (!err && task_getregs(k) < 0)
		err = -ESRCH;
	if (!err)
		*ret = (int64_t)arch_regs_retval(&k->regs);
	/* the thread back first, then the bytes: it never runs them half put back */
	task_restore_regs(k, &saved, krip);
	mem_write(p, at, orig, sizeof(orig));
	k->stop_sig = 0;
	return err;
}

/*
 * The registers are saved and restored around the call, orig_rax included:
 * a thread held inside an interrupted system call still restarts it
 * correctly afterwards, and -1 in orig_rax meanwhile keeps the kernel from
 * treating the injected registers as a restartable call.
 */
int inject_syscall(struct uprobe_tracer *t, struct task *k, long nr, const uint64_t args[6],
		   int64_t *ret)
{
	static const uint8_t code[] = { ARCH_SYSCALL_INSN, ARCH_INT3 }; /* syscall; int3 */
	struct proc *p = k->proc;
	struct user_regs_struct saved;
	uint8_t orig[sizeof(code)];
	bool temp = !p->gadget, tgkill_end = false;
	struct trap_guard g;
	uint64_t at, krip;
	int err;

	err = inject_run_leave_event_syscall(k);
	if (err)
		return err;
	if (task_getregs(k) < 0)
		return -ESRCH;
	if (temp && (at = stub_at(p)))
		return stub_syscall(k, at, nr, args, ret);
	saved = k->regs;
	krip = k->lrip ? k->kregs.rip : 0;
	if (temp) {
		/*
		 * No dead bytes for a stub: every thread is held, borrow the
		 * bytes at pc (a tracer dying now would leave them there).
		 */
		at = saved.rip;
		err = mem_read(p, at, orig, sizeof(orig));
		if (!err)
			err = mem_write(p, at, code, sizeof(code));
		if (err)
			return err;
	} else {
		at = p->gadget + XOL_GADGET_SYSCALL;
	}
	arch_regs_set_syscall(&k->regs, nr, args, 6);
	k->regs.rip = at;
	inject_run_guard_begin(k, &g);
	if (sets_sigtrap_ign(p, nr, args))
		g.ignored = true; /* from the call on: its end must not be an int3 either */
	if (g.ignored && !inject_run_tgkill_allowed(k, at))
		pr_debug("pid %d: SIGTRAP is ignored and its seccomp filter denies tgkill: an "
			 "injection's int3 resets it to the default", p->pid);
	else if (g.ignored)
		tgkill_end = true;
	if (!temp)
		lifeline_back(k, &saved, krip);
	err = task_setregs(k);
	if (!err && tgkill_end) {
		err = inject_run_to_syscall_stop(k, at, true);
		if (!err && task_getregs(k) < 0)
			err = -ESRCH;
		if (!err)
			*ret = (int64_t)arch_regs_retval(&k->regs);
		if (!err)
			err = inject_run_end_by_tgkill(k, at, false);
	} else if (!err) {
		err = inject_run_until_trap(k, at + 3);
		if (!err)
			*ret = (int64_t)arch_regs_retval(&k->regs);
		if (!err && !temp)
			log_die_point("inject-end");
	}
	inject_run_guard_end(k, &g);
	if (temp)
		mem_write(p, at, orig, sizeof(orig));
	task_restore_regs(k, &saved, krip);
	if (!temp)
		p->t->hooks->inject_end(proc_mm(p));
	k->stop_sig = SIGTRAP; /* k now sits in a SIGTRAP's signal-delivery-stop */
	return err;
}

/*
 * The instruction pointer seccomp filters see for the system call
 * inject_syscall(k, ...) would make now: the kernel reports the address
 * after the 2-byte syscall instruction (in the gadget, or at k's pc).
 */
int inject_syscall_ip(struct task *k, uint64_t *ip)
{
	struct proc *p = k->proc;

	uint64_t at;

	if (p->gadget) {
		*ip = p->gadget + XOL_GADGET_SYSCALL + ARCH_SYSCALL_LEN;
		return 0;
	}
	if (task_getregs(k) < 0)
		return -ESRCH;
	at = stub_at(p);
	*ip = (at ? at + ARCH_STUB_SYSCALL : k->regs.rip) + ARCH_SYSCALL_LEN;
	return 0;
}

int inject_seccomp_allowed(struct task *k, const struct seccomp_state *st, long nr,
			   const uint64_t args[6], uint32_t *action)
{
	uint64_t ip;
	int err = inject_syscall_ip(k, &ip);

	if (err)
		return err;
	return seccomp_decide(st, nr, args, ip, action);
}

int inject_seccomp_check(struct uprobe_tracer *t, struct task *k, const struct seccomp_state *st,
			 long nr, const uint64_t args[6], const char *what)
{
	uint32_t action = 0;
	int r = inject_seccomp_allowed(k, st, nr, args, &action);

	if (r == 1)
		return 0;
	if (r == 0)
		return tracer_err(t, -EPERM, "pid %d: its seccomp %s would deny %s (%s)",
				  k->proc->pid,
				  st->mode == SECCOMP_MODE_STRICT ? "strict mode" : "filter", what,
				  seccomp_action_name(action));
	return tracer_err(t, -EPERM, "pid %d: cannot read its seccomp filter (%s): libuprobe does "
			  "not inject %s into it", k->proc->pid, strerror(-r), what);
}

bool inject_possible(struct task *k, long nr, const uint64_t args[6])
{
	struct seccomp_state sc;
	uint32_t action;
	int ok;

	if (seccomp_read(k->tid, &sc) < 0)
		return false;
	ok = inject_seccomp_allowed(k, &sc, nr, args, &action);
	seccomp_state_free(&sc);
	return ok == 1;
}

/* Where k may have the kernel read or write a struct k_sigaction: below its red zone. */
static uint64_t stack_spot(struct task *k)
{
	return ((k->regs.rsp - 128 - 2 * sizeof(struct k_sigaction)) & ~15ull);
}

/* rt_sigaction(sig, act, old) injected through k; 0 or -errno. */
int inject_sigaction_sig(struct uprobe_tracer *t, struct task *k, int sig,
		      const struct k_sigaction *act, struct k_sigaction *old)
{
	uint64_t spot, args[6] = { (uint64_t)sig, 0, 0, 8 };
	int64_t ret;
	int err;

	if (task_getregs(k) < 0)
		return -ESRCH;
	spot = stack_spot(k);
	if (act) {
		err = mem_write(k->proc, spot, act, sizeof(*act));
		if (err)
			return err;
		args[1] = spot;
	}
	if (old)
		args[2] = spot + sizeof(*act);
	err = inject_syscall(t, k, SYS_rt_sigaction, args, &ret);
	if (err)
		return err;
	if (ret < 0)
		return (int)ret;
	return old ? mem_read(k->proc, spot + sizeof(*act), old, sizeof(*old)) : 0;
}

/* rt_sigaction(SIGTRAP, act, old) injected through k; 0 or -errno. */
int inject_sigaction(struct uprobe_tracer *t, struct task *k, const struct k_sigaction *act,
		  struct k_sigaction *old)
{
	return inject_sigaction_sig(t, k, SIGTRAP, act, old);
}

int inject_call(struct uprobe_tracer *t, struct task *k, uint64_t fn, const uint64_t args[6],
		uint64_t *ret)
{
	struct proc *p = k->proc;
	struct user_regs_struct saved;
	static const uint8_t syscall_insn[ARCH_SYSCALL_LEN] = { ARCH_SYSCALL_INSN };
	uint64_t ra, sp;
	bool tgkill_end = false, patched = false;
	uint64_t krip;
	uint8_t tramp[2];
	struct trap_guard g;
	int err;

	/* it returns to an int3 of ours: the trap gadget, or the inline trampoline */
	ra = p->gadget ? p->gadget + XOL_GADGET_TRAP : proc_mm(p)->trap;
	if (!ra)
		return -EOPNOTSUPP;
	err = inject_run_leave_event_syscall(k);
	if (err)
		return err;
	if (task_getregs(k) < 0)
		return -ESRCH;
	inject_run_guard_begin(k, &g);
	if (g.ignored && p->gadget && inject_run_tgkill_allowed(k, p->gadget + XOL_GADGET_SYSCALL)) {
		/* to the gadget's syscall instead: its entry stop holds the result in orig_rax */
		ra = p->gadget + XOL_GADGET_SYSCALL;
		tgkill_end = true;
	} else if (g.ignored && inject_run_tgkill_allowed(k, ra) && mem_read(p, ra, tramp, sizeof(tramp)) == 0 &&
		   mem_write(p, ra, syscall_insn, sizeof(syscall_insn)) == 0) {
		/*
		 * No scratch area (in place): the trampoline's int3 is a syscall
		 * meanwhile. The caller holds every thread, so only k runs there.
		 */
		patched = true;
		tgkill_end = true;
	} else if (g.ignored) {
		pr_debug("pid %d: SIGTRAP is ignored: the int3 an injected call returns to resets "
			 "it to the default", p->pid);
	}
	saved = k->regs;
	krip = k->lrip ? k->kregs.rip : 0;
	sp = arch_call_sp(saved.rsp);
	err = mem_write(p, sp, &ra, sizeof(ra));
	if (err)
		return err;
	arch_regs_set_call(&k->regs, fn, sp, args);
	if (p->gadget)
		lifeline_back(k, &saved, krip);
	err = task_setregs(k);
	if (!err && tgkill_end) {
		err = inject_run_to_syscall_stop(k, ra, false);
		if (!err && task_getregs(k) < 0)
			err = -ESRCH;
		if (!err)
			*ret = arch_regs_syscall_nr(&k->regs);
		if (!err)
			err = inject_run_end_by_tgkill(k, ra, true);
	} else if (!err) {
		err = inject_run_until_trap(k, ra + 1);
		if (!err)
			*ret = arch_regs_retval(&k->regs);
	}
	inject_run_guard_end(k, &g);
	if (patched)
		mem_write(p, ra, tramp, sizeof(tramp));
	task_restore_regs(k, &saved, krip);
	if (p->gadget)
		p->t->hooks->inject_end(proc_mm(p));
	k->stop_sig = SIGTRAP;
	return err;
}

/*
 * Held in a stop inside a system call (a clone or fork event): its return
 * value is not in rax yet, so the registers an injected call restores would
 * make the call return -ENOSYS (and glibc's pthread_create then clones a
 * second thread onto the same stack).
 */
static bool inside_syscall(struct task *k)
{
	struct user_regs_struct r;

	return ptrace(PTRACE_GETREGS, k->tid, NULL, &r) == 0 && arch_regs_inside_syscall(&r);
}

/* A held thread to inject through: one outside a system call if there is one. */
struct task *inject_task(struct uprobe_tracer *t, struct proc *p)
{
	struct task *any = NULL;

	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *k = t->tasks[i]; k; k = k->hnext) {
			if (k->proc != p || k->state != TASK_STOPPED)
				continue;
			if (!inside_syscall(k))
				return k;
			if (!any)
				any = k;
		}
	}
	return any;
}
