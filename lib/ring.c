// SPDX-License-Identifier: LGPL-2.1-or-later
/* The hit ring of no-stop probes: made in the tracee and mapped here; its gadgets, its counters. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mech.h"
#include "lifeline.h"
#include "ring.h"
#include "ring_internal.h"

/*
 * A probe whose probes all are no-stop (uprobe_opts.nostop) gets a jump
 * detour that calls the record gadget (arch/x86/gadget.c) instead of
 * trapping: the thread writes its registers into this ring and runs on.
 * The ring is a memfd the tracee creates (injected memfd_create, ftruncate,
 * mmap, close) and the tracer takes with pidfd_getfd and maps too: no
 * system call per hit on either side. The tracer drains it whenever its
 * run loop wakes: at every stop of a thread of the process, and on the
 * waker's ticks (tracer.c) while some ring exists. The records of a
 * process come before its exit or exec, which drain it first.
 *
 * When the ring is full the gadget returns onto the detour's int3: that
 * thread stops, the tracer drains the ring and runs that hit's handlers
 * synchronously. No hit is ever lost.
 */

#define RING_NAME "libuprobe-ring"

_Static_assert(RING_COUNT_SLOTS == XOL_AREA_SIZE / ARCH_SLOT_SIZE, "a counter per slot");

/* Where an area's record gadget is: its last XOL_REC_GADGET_SPACE bytes. */
uint64_t ring_gadget_start(const struct xol_area *a)
{
	return a->start + a->size - XOL_REC_GADGET_SPACE;
}

/* The offset of a's counter block in the ring; 0 when a has none (too many areas). */
static uint64_t counts_of(const struct xol_area *a)
{
	if (a->ord >= RING_COUNT_AREAS)
		return 0;
	return RING_COUNTS + (uint64_t)a->ord * RING_COUNT_SLOTS * sizeof(uint64_t);
}

/* The tracee's address of a's counter block in ring address `ring` (0: none). */
static uint64_t count_base(const struct xol_area *a, uint64_t ring)
{
	return counts_of(a) ? ring + counts_of(a) : 0;
}

/*
 * How p's record gadget names threads (RING_FS_*): by rdfsbase where the CPU
 * has it; else by the word at %fs:0, where every thread's TLS block starts
 * with its own address (the x86-64 TLS ABI, which glibc and musl follow);
 * else not at all (uprobe_hit_tid() is then 0 with several threads). Every
 * thread of p is stopped, its registers read.
 */
static uint8_t fs_mode(struct uprobe_tracer *t, struct proc *p)
{
	unsigned n = 0;

	if (caps_have(UPROBE_CAP_FSGSBASE))
		return RING_FS_RDFSBASE;
	for (unsigned i = 0; i < TASK_HASH; i++) {
		for (struct task *o = t->tasks[i]; o; o = o->hnext) {
			uint64_t self;

			if (o->proc != p || !o->regs_valid || !o->regs.fs_base)
				continue;
			if (mem_read(p, o->regs.fs_base, &self, sizeof(self)) || self != o->regs.fs_base)
				return RING_FS_NONE;
			n++;
		}
	}
	return n ? RING_FS_SELF : RING_FS_NONE;
}

/*
 * A (tsc, ns) pair read as close together as the reads allow: the clock
 * between two rdtsc, the pair kept where they are closest. A tracer
 * preempted between two plain reads paired a late clock with an early
 * counter, and every record of that drain came out late by the
 * preemption (then the next drain's, sampled right, went back in time:
 * api_nostop's two million hits under load). A few tries at most; 20000
 * ticks (some microseconds) is close enough.
 */
#define TSC_SAMPLE_TIGHT 20000
#define TSC_SAMPLE_TRIES 8

void ring_tsc_sample(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < TSC_SAMPLE_TRIES && best > TSC_SAMPLE_TIGHT; i++) {
		uint64_t a = __builtin_ia32_rdtsc(), n = mono_ns(), b = __builtin_ia32_rdtsc();

		if (b >= a && b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = n;
		}
	}
	if (best == UINT64_MAX) { /* the counter went back between two reads: take the last */
		*tsc = __builtin_ia32_rdtsc();
		*ns = mono_ns();
	}
}

static long sys_pidfd_open(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

static long sys_pidfd_getfd(int pidfd, int fd)
{
	return syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

/* Injects nr through k when p's seccomp filter certainly allows it. */
static int inject_checked(struct uprobe_tracer *t, struct task *k, const struct seccomp_state *sc,
			  long nr, const uint64_t args[6], const char *what, int64_t *ret)
{
	int err = inject_seccomp_check(t, k, sc, nr, args, what);

	if (err)
		return err;
	err = inject_syscall(t, k, nr, args, ret);
	if (!err && *ret < 0 && *ret >= -4095)
		err = (int)*ret;
	return err;
}

/* A fork child's copy of its parent's ring at addr: shared with the parent, it goes. */
static void drop_stale_ring(struct uprobe_tracer *t, struct task *k,
			    const struct seccomp_state *sc, uint64_t addr)
{
	uint64_t a[6] = { addr, RING_SIZE };
	int64_t ret;

	if (inject_seccomp_allowed(k, sc, SYS_munmap, a, &(uint32_t){ 0 }) == 1)
		inject_syscall(t, k, SYS_munmap, a, &ret);
}

/*
 * The ring's memfd made, sized and mapped in p through k, its name written
 * into the scratch area first: *fd and *addr in p, left for the caller to
 * close, and to unmap on failure.
 */
static int map_in_tracee(struct uprobe_tracer *t, struct proc *p, struct task *k,
			 const struct seccomp_state *sc, int64_t *fd, int64_t *addr,
			 const char **why)
{
	uint64_t name = p->gadget - XOL_GADGET_SYSCALL + XOL_GADGET_NAME;
	int64_t ret;
	int err;

	err = mem_write(p, name, RING_NAME, sizeof(RING_NAME));
	if (err) {
		*why = "cannot write its scratch area";
		return err;
	}
	{
		uint64_t a[6] = { name, MFD_CLOEXEC };

		err = inject_checked(t, k, sc, SYS_memfd_create, a, "the hit ring's memfd_create",
				     fd);
		if (err) {
			*why = "memfd_create failed or is not allowed";
			return err;
		}
	}
	{
		uint64_t a[6] = { (uint64_t)*fd, RING_SIZE };

		err = inject_checked(t, k, sc, SYS_ftruncate, a, "the hit ring's ftruncate", &ret);
		if (err) {
			*why = "ftruncate failed or is not allowed";
			return err;
		}
	}
	{
		uint64_t a[6] = { 0, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, (uint64_t)*fd, 0 };

		err = inject_checked(t, k, sc, SYS_mmap, a, "the hit ring's mmap", addr);
		if (err) {
			*addr = 0;
			*why = "mmap failed or is not allowed";
			return err;
		}
	}
	return 0;
}

/*
 * p's memfd fd taken into this process (pidfd_getfd) and mapped here, or
 * MAP_FAILED with errno set; *pidfd and *myfd left for the caller to close.
 */
static void *map_here(pid_t pid, int64_t fd, int *pidfd, int *myfd)
{
	*pidfd = (int)sys_pidfd_open(pid);
	if (*pidfd >= 0)
		*myfd = (int)sys_pidfd_getfd(*pidfd, (int)fd);
	if (*myfd >= 0)
		return mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *myfd, 0);
	return MAP_FAILED;
}

/*
 * Gadgets a fork child inherited point at its parent's ring: at r now, and
 * a fresh ring counts from 0. Nonzero if a write failed.
 */
static int point_gadgets(struct proc *p, struct ring *r)
{
	int err = 0;

	for (struct xol_area *a = p->areas; a && !err; a = a->next) {
		uint64_t at = ring_gadget_start(a) + (uint64_t)(uprobe__rec_gadget_ring - uprobe__rec_gadget);

		uint64_t cat = ring_gadget_start(a) +
			       (uint64_t)(uprobe__count_gadget_base - uprobe__rec_gadget);
		uint64_t cbase = count_base(a, r->addr);

		if (a->has_rec && !r->retg)
			r->retg = ring_gadget_start(a) + (uint64_t)(uprobe__nsret_gadget - uprobe__rec_gadget);
		if (a->has_rec)
			err = mem_write(p, at, &r->addr, sizeof(r->addr)) ||
			      mem_write(p, cat, &cbase, sizeof(cbase));
		/* a fresh ring counts from 0 */
		if (a->count_seen)
			memset(a->count_seen, 0, a->nslots * sizeof(*a->count_seen));
	}
	return err;
}

/* What map_in_tracee() left in p: fd closed (the mapping stays), the ring unmapped on failure. */
static void tracee_cleanup(struct uprobe_tracer *t, struct task *k,
			   const struct seccomp_state *sc, int64_t fd, int64_t addr, int err)
{
	int64_t ret;

	if (fd >= 0) {
		uint64_t a[6] = { (uint64_t)fd };

		/* a close the filter forbids leaves one fd open: harmless */
		if (inject_seccomp_allowed(k, sc, SYS_close, a, &(uint32_t){ 0 }) == 1)
			inject_syscall(t, k, SYS_close, a, &ret);
	}
	if (err && addr) {
		uint64_t a[6] = { (uint64_t)addr, RING_SIZE };

		if (inject_seccomp_allowed(k, sc, SYS_munmap, a, &(uint32_t){ 0 }) == 1)
			inject_syscall(t, k, SYS_munmap, a, &ret);
	}
}

/*
 * With p's threads held: the ring, mapped in p and here. In steps: a fork
 * child's stale ring dropped, the memfd made and mapped in p, taken and
 * mapped here, the gadgets pointed at it, then what p and this process
 * hold of it closed.
 */
static int ring_create(struct uprobe_tracer *t, struct proc *p, struct task *k, struct ring *r,
		       const char **why)
{
	struct seccomp_state sc = { 0 };
	int64_t fd = -1, addr = 0;
	int err, pidfd = -1, myfd = -1;
	void *mine;

	seccomp_read(k->tid, &sc);
	if (p->stale_ring)
		drop_stale_ring(t, k, &sc, p->stale_ring);
	err = map_in_tracee(t, p, k, &sc, &fd, &addr, why);
	if (err)
		goto out;
	mine = map_here(p->pid, fd, &pidfd, &myfd);
	if (mine == MAP_FAILED) {
		err = -errno;
		*why = "cannot take its memfd (pidfd_getfd) or map it";
		goto out;
	}
	r->base = mine;
	r->addr = (uint64_t)addr;
	r->tail = 0;
	r->tsc_ok = caps_have(UPROBE_CAP_TSC);
	ring_tsc_sample(&r->tsc0, &r->ns0);
	err = point_gadgets(p, r);
	if (err) {
		munmap(mine, RING_SIZE);
		r->base = NULL;
		*why = "cannot write its scratch area";
		goto out;
	}
	p->stale_ring = 0;
	/* head and tail 0; a record's seq 0 is not committed for any ticket */
	*(uint64_t *)(r->base + RING_MASK) = RING_NREC - 1;
out:
	tracee_cleanup(t, k, &sc, fd, addr, err);
	if (myfd >= 0)
		close(myfd);
	if (pidfd >= 0)
		close(pidfd);
	seccomp_state_free(&sc);
	return err;
}

int ring_ensure(struct uprobe_tracer *t, struct proc *p)
{
	char saved[sizeof(t->errmsg)];
	const char *why = "no thread to inject through";
	struct ring *r;
	struct task *k;
	pid_t pid;
	int err;

	if (p->ring)
		return 0;
	if (p->ring_failed || p->mm_owner || !p->gadget || p->inline_mode)
		return -EOPNOTSUPP;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* the user's last error message is not ours to replace */
	memcpy(saved, t->errmsg, sizeof(saved));
	pid = p->pid;
	task_mark_running(t, p);
	err = task_stop_all(t, p);
	/* holding it handles its stops: killed meanwhile, it is gone, p with it */
	if (proc_find(t, pid) != p) {
		free(r);
		memcpy(t->errmsg, saved, sizeof(saved));
		return -ESRCH;
	}
	k = err ? NULL : inject_task(t, p);
	if (!k)
		err = err ? err : -ESRCH;
	else
		err = ring_create(t, p, k, r, &why);
	if (!err) {
		long opts;

		p->ring = r;
		opts = lifeline_ptrace_opts(p);
		t->nrings++;
		for (unsigned i = 0; i < TASK_HASH; i++) {
			for (struct task *o = t->tasks[i]; o; o = o->hnext) {
				if (o->proc != p || o->state != TASK_STOPPED)
					continue;
				/* every thread's fs_base, which records name it by */
				if (!o->regs_valid)
					task_getregs(o);
				/*
				 * An exit stop, while the process's memory is still
				 * there: its last hits are delivered then, and their
				 * handlers can still read it (threads made from now
				 * on inherit the option).
				 */
				ptrace(PTRACE_SETOPTIONS, o->tid, NULL, (void *)opts);
			}
		}
		r->fs_mode = fs_mode(t, p);
		/* gadgets a fork child inherited read fs_base as this process must */
		for (struct xol_area *a = p->areas; a; a = a->next) {
			uint64_t at = ring_gadget_start(a) + (uint64_t)(uprobe__rec_gadget_fsgs - uprobe__rec_gadget);

			if (a->has_rec)
				mem_write(p, at, &r->fs_mode, sizeof(r->fs_mode));
		}
		pr_debug("pid %d: hit ring at 0x%llx, threads named %s", p->pid,
			 (unsigned long long)r->addr,
			 r->fs_mode == RING_FS_RDFSBASE ? "by rdfsbase"
			 : r->fs_mode == RING_FS_SELF	? "by the word at %fs:0"
							: "not at all");
	} else {
		free(r);
		if (proc_find(t, pid) == p) {
			p->ring_failed = true;
			pr_debug("pid %d: no hit ring, no-stop probes stop: %s (%s)", p->pid, why,
				 strerror(-err));
		}
	}
	memcpy(t->errmsg, saved, sizeof(saved));
	if (proc_find(t, pid) == p)
		task_release(t, p);
	return err;
}

uint64_t ring_gadget(struct proc *p, struct xol_area *a)
{
	size_t len = (size_t)(uprobe__rec_gadget_end - uprobe__rec_gadget);
	uint64_t at = ring_gadget_start(a);
	uint8_t code[XOL_REC_GADGET_SPACE];
	uint64_t ring;
	uint8_t fsgs;

	if (!p->ring || len > sizeof(code))
		return 0;
	if (a->has_rec)
		return at;
	memset(code, 0xcc, sizeof(code));
	memcpy(code, uprobe__rec_gadget, len);
	/* every area's entry gadget hijacks with the same return gadget: a tail call knows it */
	if (!p->ring->retg)
		p->ring->retg = at + (uint64_t)(uprobe__nsret_gadget - uprobe__rec_gadget);
	memcpy(code + (uprobe__nsret_gadget_retg - uprobe__rec_gadget), &p->ring->retg,
	       sizeof(p->ring->retg));
	ring = p->ring->addr;
	fsgs = p->ring->fs_mode;
	memcpy(code + (uprobe__rec_gadget_ring - uprobe__rec_gadget), &ring, sizeof(ring));
	memcpy(code + (uprobe__rec_gadget_fsgs - uprobe__rec_gadget), &fsgs, sizeof(fsgs));
	code[uprobe__rec_gadget_sahf - uprobe__rec_gadget] = caps_have(UPROBE_CAP_LAHF);
	if (!caps_have(UPROBE_CAP_PREFETCHW))
		arch_gadget_no_prefetch(code);
	{
		uint64_t cbase = count_base(a, ring);

		memcpy(code + (uprobe__count_gadget_base - uprobe__rec_gadget), &cbase,
		       sizeof(cbase));
		memcpy(code + (uprobe__count_gadget_area - uprobe__rec_gadget), &a->start,
		       sizeof(a->start));
	}
	if (mem_write(p, at, code, sizeof(code)))
		return 0;
	a->has_rec = true;
	/* after our death, a return finding the ring full goes on unrecorded */
	lifeline_note(p, at + (uint64_t)(uprobe__nsret_gadget_full - uprobe__rec_gadget), 0x90,
		      LL_DETOUR);
	return at;
}

uint64_t ring_rec_gadget(struct proc *p, struct xol_area *a, bool args, bool notime)
{
	const uint8_t *entry = args ? (notime ? uprobe__rec_gadget_args_notime
					      : uprobe__rec_gadget_args)
				    : (notime ? uprobe__rec_gadget_notime : uprobe__rec_gadget);
	uint64_t at = ring_gadget(p, a);

	return at ? at + (uint64_t)(entry - uprobe__rec_gadget) : 0;
}

uint64_t ring_nsent_gadget(struct proc *p, struct xol_area *a)
{
	uint64_t at = ring_gadget(p, a);

	return at ? at + (uint64_t)(uprobe__nsent_gadget - uprobe__rec_gadget) : 0;
}

uint64_t ring_count_gadget(struct proc *p, struct xol_area *a)
{
	uint64_t at;

	/* lahf/sahf, which the count gadget keeps the flags with: not in the first x86-64 CPUs */
	if (!caps_have(UPROBE_CAP_LAHF) || !counts_of(a) || !(at = ring_gadget(p, a)))
		return 0;
	return at + (uint64_t)(uprobe__count_gadget - uprobe__rec_gadget);
}

/*
 * The counters live in the ring, which the tracer maps too: reading them is
 * a load. Each count-only slot's new hits go to the probes its site has
 * now, as records are delivered to them (ring_drain() runs this first, so
 * hits counted before a probe is added or removed go to the probes as they
 * were).
 */
void ring_count(struct proc *p)
{
	const struct ring *r = p->ring;

	if (!r)
		return;
	for (struct xol_area *a = p->areas; a; a = a->next) {
		const uint64_t *counts;

		if (!a->count_map || !counts_of(a))
			continue;
		if (!a->count_seen && !(a->count_seen = calloc(a->nslots, sizeof(*a->count_seen))))
			continue; /* counted at the next drain */
		counts = (const uint64_t *)(r->base + counts_of(a));
		for (unsigned i = 1; i < a->used; i++) {
			struct slot_info *si = &a->info[i];
			uint64_t n, d;

			if (!xol_is_count(a, i))
				continue;
			n = __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
			d = n - a->count_seen[i];
			a->count_seen[i] = n;
			for (unsigned j = 0; d && j < si->site->nprobes; j++)
				si->site->probes[j]->hits += d;
		}
	}
}

void ring_count_all(struct uprobe_tracer *t)
{
	if (!t->nrings)
		return;
	for (struct proc *p = t->procs; p; p = p->next)
		ring_count(p);
}

/* The gadget's load of %fs:0 (RING_FS_SELF), which faults in a thread without TLS. */
bool ring_gadget_fs_load_at(const struct xol_area *a, uint64_t pc)
{
	return a->has_rec &&
	       (pc == ring_gadget_start(a) + (uint64_t)(uprobe__rec_gadget_fs_load - uprobe__rec_gadget) ||
		pc == ring_gadget_start(a) + (uint64_t)(uprobe__nsret_gadget_fs_load - uprobe__rec_gadget) ||
		pc == ring_gadget_start(a) + (uint64_t)(uprobe__nsent_gadget_fs_load - uprobe__rec_gadget));
}

bool ring_gadget_at(const struct xol_area *a, uint64_t pc)
{
	return a->has_rec && pc >= ring_gadget_start(a) && pc < a->start + a->size;
}

/* Unmaps a ring mapped at addr in k's process, when its seccomp filter certainly allows it. */
void ring_unmap_in(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	uint64_t a[6] = { addr, RING_SIZE };
	struct seccomp_state sc;
	int64_t ret;

	seccomp_read(k->tid, &sc);
	if (inject_seccomp_allowed(k, &sc, SYS_munmap, a, &(uint32_t){ 0 }) == 1)
		inject_syscall(t, k, SYS_munmap, a, &ret);
	seccomp_state_free(&sc);
}

uint64_t ring_addr(const struct proc *p)
{
	return p->ring ? p->ring->addr : 0;
}

/* Where p has a ring mapped: its own, or the copy of its parent's it inherited; 0 none. */
uint64_t ring_mapping(const struct proc *p)
{
	return p->ring ? p->ring->addr : p->stale_ring;
}
