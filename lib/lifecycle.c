// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A traced process's life, and its probes as its mappings come and change:
 * the one-shot start-up breakpoint of a new image (spawn, exec); every
 * registered probe planted when a process is ready for them (spawn's entry,
 * attach, exec), and again when the dynamic linker changes the link map
 * (dlopen, dlclose), with them libuprobe's own probes (watch.c), pending
 * probes whose library has come (probe.c) and USDT semaphores (usdt.c); new
 * threads and processes (clone, fork, vfork), exec and exit. dispatch.c tells
 * which stop a thread reported and calls the handlers here, which call
 * nothing of its.
 */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orch.h"

/*
 * p's first scratch area, made before any trap of ours can happen in it
 * (at the entry point of a spawned program, at attach): the lifeline made
 * with it is what shows every reset of SIGTRAP our traps cause
 * (sigtrap.c); one made at a first hit comes after that hit's.
 */
static void early_area(struct uprobe_tracer *t, struct proc *p)
{
	if (p->gadget || p->xol_denied || p->inline_mode || p->mm_owner)
		return;
	/* only where a probe will be: near the first file of one it maps */
	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s)) {
		if (!s->nprobes)
			continue;
		for (int i = 0; i < p->nmaps; i++)
			if (p->maps[i].x && resolve_map_is_file(&p->maps[i], s->elf)) {
				area_ensure(t, p, p->maps[i].start);
				return;
			}
	}
}

/*
 * Is p's dynamic linker between RT_ADD (or RT_DELETE) and RT_CONSISTENT?
 * A library it maps then is not relocated yet.
 */
static bool link_map_changing(struct proc *p)
{
	int32_t state;

	return p->r_state_addr && mem_read(p, p->r_state_addr, &state, sizeof(state)) == 0 &&
	       state != 0 /* RT_CONSISTENT */;
}

/* Plants every registered probe into p (after spawn reached the entry, attach, exec). */
int lifecycle_plant_all(struct uprobe_tracer *t, struct proc *p)
{
	int err, ret = 0;

	proc_refresh_maps(p);
	early_area(t, p);
	watch_proc(t, p);
	/*
	 * A pending probe's library is the one being mapped: wait for
	 * RT_CONSISTENT, which comes before any of its code runs but after its
	 * relocation, which an IFUNC's resolver needs (run before, it read an
	 * unrelocated GOT and faulted).
	 */
	if (!link_map_changing(p)) {
		unsigned nret = t->nretprobes;

		probe_place_pending(t);
		/* the first return probe placed: watch unwinders and longjmp from now on */
		if (!nret && t->nretprobes)
			watch_procs(t);
	}
	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s)) {
		if (!s->nprobes)
			continue;
		err = plant_in(t, p, s);
		if (err) {
			pr_warn("%s", t->errmsg);
			ret = err;
		}
	}
	usdt_proc_sync(t, p);
	return ret;
}

/*
 * The dynamic linker's hook (_dl_debug_state), called around every change
 * of the link map: a library mapped by dlopen gets the probes registered
 * for its file (added by path before it was loaded, or already planted in
 * another process); one unmapped by dlclose loses its breakpoints.
 */
int lifecycle_on_dl_state(struct uprobe_hit *h, void *data)
{
	struct proc *p = h->task->proc;

	if (p->mm_owner || !p->at_entry)
		return 0;
	if (proc_refresh_maps(p) < 0)
		return 0;
	plant_forget_unmapped(p);
	lifecycle_plant_all(h->t, p);
	return 0;
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
 * changing return at once (lifecycle_dl_notify_hit()).
 */
int lifecycle_entry_bp(struct uprobe_tracer *t, struct proc *p)
{
	static const uint8_t int3 = ARCH_INT3;
	uint64_t base, at, brk, state;
	struct bp *b;
	uint8_t orig;
	int err = procfs_read_auxv(p, &base);

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
bool lifecycle_dl_notify_hit(struct task *k)
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

static bool is_thread_of(pid_t tid, pid_t tgid)
{
	char path[64], line[128];
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	v = procfs_status_field(path, "Tgid:", line, sizeof(line));
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

void lifecycle_on_new_child(struct uprobe_tracer *t, struct task *k, int event)
{
	unsigned long msg = 0;
	pid_t child;
	int st;

	/* held here, it is inside the call: an injection through it leaves the call first (inject_run.c) */
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
			/* its fs_base names it in the records of no-stop probes (ring_deliver.c) */
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
			events_fork(t, k, child, false, true);
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
		events_fork(t, k, child, t->follow_forks, true);
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
		events_fork(t, k, child, followed, false);
	} else {
		release_fork_child(t, k, child);
		events_fork(t, k, child, false, false);
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
bool lifecycle_leave_at_exec_stop(struct uprobe_tracer *t, struct task *k)
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

void lifecycle_on_exec(struct uprobe_tracer *t, struct task *k)
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
	inline_drop_post_sys(t, k);
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
	if (lifecycle_entry_bp(t, p) < 0)
		pr_warn("pid %d: exec: cannot find the new program's entry point", p->pid);
	sigtrap_learn(t, p, k, true);
	p->sig_watch = 0; /* a new image: its libc is watched from its entry */
	sigmask_exec(k);
	events_exec(t, p, (pid_t)former);
	task_resume_or_hold(t, k);
}

/*
 * A thread is gone. The process is gone with its last thread, whose exit
 * the kernel reports last: the leader's, held back until every other
 * thread has been reaped, and carrying the process's status.
 */
void lifecycle_on_exit(struct uprobe_tracer *t, struct task *k, int status)
{
	struct proc *p = k->proc;
	pid_t pid = p->pid;
	bool report;

	if (k->tid == p->pid) {
		wait_record_exit(t, p->pid, status);
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
		events_exit(t, pid, status);
}
