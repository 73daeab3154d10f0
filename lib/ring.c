// SPDX-License-Identifier: LGPL-2.1-or-later
/* The hit ring of no-stop probes: made in the tracee, shared with the tracer, drained by it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
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
static uint64_t gadget_at(const struct xol_area *a)
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

static void tsc_sample(uint64_t *tsc, uint64_t *ns)
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

static uint64_t tsc_to_ns(const struct ring *r, uint64_t tsc, uint64_t tsc_now, uint64_t ns_now)
{
	double rate;

	if (!r->tsc_ok || tsc_now <= r->tsc0 || tsc >= tsc_now || tsc < r->tsc0)
		return ns_now;
	rate = (double)(ns_now - r->ns0) / (double)(tsc_now - r->tsc0);
	return ns_now - (uint64_t)((double)(tsc_now - tsc) * rate);
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
	int err = seccomp_check_inject(t, k, sc, nr, args, what);

	if (err)
		return err;
	err = inject_syscall(t, k, nr, args, ret);
	if (!err && *ret < 0 && *ret >= -4095)
		err = (int)*ret;
	return err;
}

/* With p's threads held: the ring, mapped in p and here. */
static int ring_create(struct uprobe_tracer *t, struct proc *p, struct task *k, struct ring *r,
		       const char **why)
{
	struct seccomp_state sc = { 0 };
	uint64_t name = p->gadget - XOL_GADGET_SYSCALL + XOL_GADGET_NAME;
	int64_t fd = -1, addr = 0, ret;
	int err, pidfd = -1, myfd = -1;
	void *mine = MAP_FAILED;

	seccomp_read(k->tid, &sc);
	if (p->stale_ring) {
		/* a fork child's copy of its parent's ring: shared with the parent, it goes */
		uint64_t a[6] = { p->stale_ring, RING_SIZE };

		if (seccomp_inject_allowed(k, &sc, SYS_munmap, a, &(uint32_t){ 0 }) == 1)
			inject_syscall(t, k, SYS_munmap, a, &ret);
	}
	err = mem_write(p, name, RING_NAME, sizeof(RING_NAME));
	if (err) {
		*why = "cannot write its scratch area";
		goto out;
	}
	{
		uint64_t a[6] = { name, MFD_CLOEXEC };

		err = inject_checked(t, k, &sc, SYS_memfd_create, a, "the hit ring's memfd_create",
				     &fd);
		if (err) {
			*why = "memfd_create failed or is not allowed";
			goto out;
		}
	}
	{
		uint64_t a[6] = { (uint64_t)fd, RING_SIZE };

		err = inject_checked(t, k, &sc, SYS_ftruncate, a, "the hit ring's ftruncate", &ret);
		if (err) {
			*why = "ftruncate failed or is not allowed";
			goto out;
		}
	}
	{
		uint64_t a[6] = { 0, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, (uint64_t)fd, 0 };

		err = inject_checked(t, k, &sc, SYS_mmap, a, "the hit ring's mmap", &addr);
		if (err) {
			addr = 0;
			*why = "mmap failed or is not allowed";
			goto out;
		}
	}
	pidfd = (int)sys_pidfd_open(p->pid);
	if (pidfd >= 0)
		myfd = (int)sys_pidfd_getfd(pidfd, (int)fd);
	if (myfd >= 0)
		mine = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, myfd, 0);
	if (mine == MAP_FAILED) {
		err = -errno;
		*why = "cannot take its memfd (pidfd_getfd) or map it";
		goto out;
	}
	r->base = mine;
	r->addr = (uint64_t)addr;
	r->tail = 0;
	r->tsc_ok = caps_have(UPROBE_CAP_TSC);
	tsc_sample(&r->tsc0, &r->ns0);
	/* gadgets a fork child inherited point at its parent's ring: at this one now */
	for (struct xol_area *a = p->areas; a && !err; a = a->next) {
		uint64_t at = gadget_at(a) + (uint64_t)(uprobe__rec_gadget_ring - uprobe__rec_gadget);

		uint64_t cat = gadget_at(a) +
			       (uint64_t)(uprobe__count_gadget_base - uprobe__rec_gadget);
		uint64_t cbase = count_base(a, r->addr);

		if (a->has_rec && !r->retg)
			r->retg = gadget_at(a) + (uint64_t)(uprobe__nsret_gadget - uprobe__rec_gadget);
		if (a->has_rec)
			err = mem_write(p, at, &r->addr, sizeof(r->addr)) ||
			      mem_write(p, cat, &cbase, sizeof(cbase));
		/* a fresh ring counts from 0 */
		if (a->count_seen)
			memset(a->count_seen, 0, a->nslots * sizeof(*a->count_seen));
	}
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
	if (fd >= 0) {
		uint64_t a[6] = { (uint64_t)fd };

		/* the mapping stays; a close the filter forbids leaves one fd open: harmless */
		if (seccomp_inject_allowed(k, &sc, SYS_close, a, &(uint32_t){ 0 }) == 1)
			inject_syscall(t, k, SYS_close, a, &ret);
	}
	if (err && addr) {
		uint64_t a[6] = { (uint64_t)addr, RING_SIZE };

		if (seccomp_inject_allowed(k, &sc, SYS_munmap, a, &(uint32_t){ 0 }) == 1)
			inject_syscall(t, k, SYS_munmap, a, &ret);
	}
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
		opts = proc_ptrace_opts(p);
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
			uint64_t at = gadget_at(a) + (uint64_t)(uprobe__rec_gadget_fsgs - uprobe__rec_gadget);

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
	uint64_t at = gadget_at(a);
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
	       (pc == gadget_at(a) + (uint64_t)(uprobe__rec_gadget_fs_load - uprobe__rec_gadget) ||
		pc == gadget_at(a) + (uint64_t)(uprobe__nsret_gadget_fs_load - uprobe__rec_gadget) ||
		pc == gadget_at(a) + (uint64_t)(uprobe__nsent_gadget_fs_load - uprobe__rec_gadget));
}

bool ring_gadget_at(const struct xol_area *a, uint64_t pc)
{
	return a->has_rec && pc >= gadget_at(a) && pc < a->start + a->size;
}

/* Is the record's detour (ret: its return address in the detour) an arguments-only one? */
static bool rec_args_only(struct proc *p, uint64_t ret)
{
	uint64_t slot = ret - ARCH_DETOUR_REC_RET;
	struct xol_area *a = ret ? xol_area_of(p, slot) : NULL;

	return a && xol_is_args(a, (unsigned)((slot - a->start) / ARCH_SLOT_SIZE));
}

/* Ticket pos's record in r */
static struct ring_rec *rec_at(const struct ring *r, uint64_t pos)
{
	return (struct ring_rec *)(r->base + RING_RECS) + (pos & (RING_NREC - 1));
}

/*
 * A record delivered ahead of its turn (deliver_own()): its seq is its
 * committed value with this bit set, which the in-order drain passes
 * over. Producers never read seq (the published tail says what is free).
 */
#define RING_SEQ_DONE (1ull << 63)

/*
 * Copies the committed record out of slot and delivers it; done: the
 * record's seq from then on, before any handler runs (a record delivered
 * ahead of its turn), or 0. In order, nothing is written into the slot:
 * its lines go back to the writer's CPU on the next lap as shared copies,
 * not as lines this CPU modified.
 */
static void consume(struct uprobe_tracer *t, struct proc *p, struct ring *r,
		    struct ring_rec *slot, uint64_t done, uint64_t *tsc_now, uint64_t *ns_now)
{
	struct ring_rec rec;

	/*
	 * An arguments-only record is its first two cache lines: the
	 * third, the last lap's, is not pulled across from the
	 * thread's CPU.
	 */
	memcpy(&rec, slot, RING_ARGS_SIZE);
	if (!rec_args_only(p, rec.ret))
		memcpy((char *)&rec + RING_ARGS_SIZE, (const char *)slot + RING_ARGS_SIZE,
		       sizeof(rec) - RING_ARGS_SIZE);
	else
		memset((char *)&rec + RING_ARGS_SIZE, 0, sizeof(rec) - RING_ARGS_SIZE);
	if (!*tsc_now)
		tsc_sample(tsc_now, ns_now);
	if (done)
		__atomic_store_n(&slot->seq, done, __ATOMIC_RELEASE);
	if (rec.tsc > *tsc_now)
		tsc_sample(tsc_now, ns_now); /* written after this drain began */
	deliver(t, p, r, &rec, tsc_to_ns(r, rec.tsc, *tsc_now, *ns_now));
}

/*
 * The records before r->tail are copied out: free for the producers'
 * next lap (ring.h). Published every RING_PUBLISH records of a drain and
 * at its end, not at each: the producers read the tail's line at every
 * hit, and each store takes it away from their CPUs.
 */
#define RING_PUBLISH 256

static void publish_tail(struct ring *r)
{
	__atomic_store_n((uint64_t *)(r->base + RING_TAIL), r->tail, __ATOMIC_RELEASE);
}

/*
 * Delivers the records in order up to the first one not committed yet (its
 * thread is between its ticket and its commit), or, when final (no thread
 * of the process will ever write again: it exited, exec'd, or was let go
 * with every thread out of the gadget), every committed one, skipping the
 * tickets of threads that died holding them. Records delivered ahead of
 * their turn (deliver_own()) are passed over.
 */
static unsigned drain(struct uprobe_tracer *t, struct proc *p, bool final)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid;
	uint64_t tsc_now = 0, ns_now = 0;
	uint64_t head = r ? __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE) : 0;
	unsigned n = 0;

	ring_count(p);
	while (r && n < RING_NREC * 4) {
		struct ring_rec *slot = rec_at(r, r->tail);
		uint64_t pos = r->tail, seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);

		if (seq == ((pos + 1) | RING_SEQ_DONE)) {
			r->tail = pos + 1;
			continue;
		}
		if (seq != pos + 1) {
			if (!final || pos >= head)
				break;
			r->tail = pos + 1;
			continue;
		}
		r->tail = pos + 1;
		n++;
		consume(t, p, r, slot, 0, &tsc_now, &ns_now);
		/* a handler may have let the process go (its exit handled meanwhile) */
		if (proc_find(t, pid) != p || p->ring != r) {
			r = NULL;
			break;
		}
		if (!(n % RING_PUBLISH))
			publish_tail(r);
	}
	if (r)
		publish_tail(r);
	t->ring_delivered += n;
	return n;
}

unsigned ring_drain(struct uprobe_tracer *t, struct proc *p)
{
	return drain(t, p, false);
}

/*
 * The committed records of k's thread (named by fs_base) behind another
 * thread's uncommitted ticket, delivered ahead of their turn, in their
 * own order: up to the first return record whose call is not known yet
 * (its entry may be another thread's, a coroutine that moved, still
 * behind the ticket). true when every one of k's is delivered.
 */
static bool deliver_own(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid, tid = k->tid;
	uint64_t tsc_now = 0, ns_now = 0, head, fs;

	if (r->fs_mode == RING_FS_NONE || (!k->regs_valid && task_getregs(k) < 0))
		return false;
	fs = k->regs.fs_base;
	if (!fs)
		return false;
	head = __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
	for (uint64_t pos = r->tail; (int64_t)(head - pos) > 0; pos++) {
		struct ring_rec *slot = rec_at(r, pos);

		if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) != pos + 1 || slot->fs_base != fs)
			continue;
		if (!slot->ret && slot->kind == RING_KIND_RET &&
		    !ret_ns_known(t, k, slot->ns_slot))
			return false;
		consume(t, p, r, slot, (pos + 1) | RING_SEQ_DONE, &tsc_now, &ns_now);
		if (proc_find(t, pid) != p || p->ring != r || task_find(t, tid) != k)
			return true;
	}
	return true;
}

/*
 * Delivers what p's ring holds, and every record of k (stopped) at least,
 * before the tracer acts on k's stop: the drain stops at a ticket whose
 * thread has not committed its record yet, and k's own records behind
 * it are delivered ahead of their turn. Code that judges k's calls by
 * its stack (a slot that no longer holds the return gadget) must see
 * the returns k made, and k's hits come in k's order. true when every
 * record of k is delivered (or k or its process is gone).
 */
bool ring_drain_thread(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid, tid = k->tid;

	if (!r)
		return true;
	drain(t, p, false);
	if (proc_find(t, pid) != p || p->ring != r || task_find(t, tid) != k || ring_settled(p))
		return true;
	return deliver_own(t, p, k);
}

/*
 * Delivers every record taken in p's ring so far, those of k (stopped)
 * at least: the drain stops at a ticket whose thread has not committed
 * its record yet, which a running thread does within nanoseconds. A
 * thread that is held there, or stopped with its stop not yet taken (the
 * tracer is busy with k), is not waited for long (a hundred yields):
 * k's own records behind it are delivered ahead of their turn.
 */
void ring_drain_past(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	struct ring *r = p->ring;
	pid_t pid = p->pid;
	uint64_t head;

	if (!r)
		return;
	head = __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < 100; i++) {
		drain(t, p, false);
		if (proc_find(t, pid) != p || p->ring != r || (int64_t)(r->tail - head) >= 0)
			return;
		sched_yield();
	}
	ring_drain_thread(t, p, k);
}

/*
 * Is a return through stack slot slot recorded in p's ring and not yet
 * delivered? Its call returned: the stack no longer tells (the slot
 * holds another call's return address by now), the record will.
 */
bool ring_ret_pending(const struct proc *p, uint64_t slot)
{
	const struct ring *r = p->ring;
	uint64_t head;

	if (!r)
		return false;
	head = __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
	for (uint64_t pos = r->tail; (int64_t)(head - pos) > 0; pos++) {
		const struct ring_rec *rec = rec_at(r, pos);

		if (__atomic_load_n(&rec->seq, __ATOMIC_ACQUIRE) == pos + 1 && !rec->ret &&
		    rec->kind == RING_KIND_RET && rec->ns_slot == slot)
			return true;
	}
	return false;
}

/* Has every ticket taken in p's ring so far been delivered? */
bool ring_settled(const struct proc *p)
{
	const struct ring *r = p->ring;

	return !r || r->tail == __atomic_load_n((uint64_t *)(r->base + RING_HEAD), __ATOMIC_ACQUIRE);
}

unsigned ring_drain_all(struct uprobe_tracer *t)
{
	unsigned n = 0;

	if (!t->nrings)
		return 0;
	for (struct proc *p = t->procs, *next; p; p = next) {
		pid_t pid = p->pid;

		next = p->next;
		if (p->ring)
			n += ring_drain(t, p);
		/* the list may have changed under a handler: start over from a known proc */
		if (proc_find(t, pid) != p)
			break;
		next = p->next;
	}
	return n;
}

/*
 * Whether run() should poll the rings rather than sleep in wait: while
 * records come (any drain delivered some in the last RING_POLL_LINGER_NS),
 * a ring left to the waker's 1 ms tick fills in a fraction of it (16384
 * records at 30 ns a hit: 0.5 ms), and a full ring stops the thread that
 * finds it so, for a stop and a whole drain. Polled every RING_POLL_NS,
 * it is drained while the threads run on. Costs the tracer a few percent
 * of a CPU while hits flow, nothing once they stop; only where the run
 * thread may run on another CPU than theirs.
 */
#define RING_POLL_NS 50000
#define RING_POLL_LINGER_NS 5000000

bool ring_poll(struct uprobe_tracer *t)
{
	uint64_t now;

	if (!t->nrings)
		return false;
	now = mono_ns();
	if (t->ring_delivered != t->ring_seen) {
		cpu_set_t m;

		/*
		 * A run thread held to one CPU (pinned with its tracee, or
		 * following one) cannot drain beside the threads: polling
		 * would only take turns with them, many times slower than
		 * letting the ring fill (measured: 3.2 us a no-stop call
		 * against 0.9). Asked at the start of each busy spell.
		 */
		if (now >= t->ring_poll_until)
			t->ring_poll_spare = sched_getaffinity(0, sizeof(m), &m) == 0 &&
					     CPU_COUNT(&m) > 1;
		t->ring_seen = t->ring_delivered;
		t->ring_poll_until = now + RING_POLL_LINGER_NS;
	}
	return t->ring_poll_spare && now < t->ring_poll_until;
}

/* Between two polls: the threads fill the rings meanwhile. */
void ring_poll_pause(void)
{
	struct timespec ts = { 0, RING_POLL_NS };

	nanosleep(&ts, NULL);
}

/* Forgets p's ring on the tracer's side, after the records still in it are delivered. */
void ring_forget(struct uprobe_tracer *t, struct proc *p)
{
	struct ring *r = p->ring;

	if (!r)
		return;
	drain(t, p, true);
	if (p->ring != r)
		return;
	p->ring = NULL;
	t->nrings--;
	munmap(r->base, RING_SIZE);
	free(r);
}

/* Unmaps a ring mapped at addr in k's process, when its seccomp filter certainly allows it. */
void ring_unmap_in(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	uint64_t a[6] = { addr, RING_SIZE };
	struct seccomp_state sc;
	int64_t ret;

	seccomp_read(k->tid, &sc);
	if (seccomp_inject_allowed(k, &sc, SYS_munmap, a, &(uint32_t){ 0 }) == 1)
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

/* Detach: the ring goes from p (its no-stop detours are gone already) through held thread k. */
void ring_unmap(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	uint64_t addr = ring_addr(p);

	if (!addr)
		return;
	/* every thread is out of the gadgets: each hijacked slot gets its real return back */
	ring_nsret_restore(p, p);
	ring_forget(t, p);
	if (k)
		ring_unmap_in(t, k, addr);
}

/* ---- no-stop return probes: the table of hijacked return addresses (ring.h) ---- */

/*
 * A SIGTRAP of k at addr, one of the return gadget's int3s? The ring was
 * full: drained, k goes back to take its ticket again (bounded: a thread
 * held up for good is not waited for; then its return goes unrecorded and
 * its calls are dropped as missed). No entry for its slot: the tracer's
 * pending call there gives the real return address. true when handled:
 * k's rip is set where it goes on (still gone when a drain's handler let
 * its process go).
 */
bool ring_nsret_trap(struct uprobe_tracer *t, struct task *k, uint64_t addr)
{
	struct proc *p = proc_mm(k->proc);
	struct xol_area *a = xol_area_of(p, addr);
	uint64_t at, slot;
	pid_t tid = k->tid;

	if (!a || !a->has_rec || !p->ring)
		return false;
	at = gadget_at(a);
	slot = k->regs.rsp + 48;
	if (addr == at + (uint64_t)(uprobe__nsret_gadget_full - uprobe__rec_gadget)) {
		ring_drain(t, p);
		if (task_find(t, tid) != k)
			return true;
		if (k->ring_retries < 10000) {
			k->ring_retries++;
			k->regs.rip = at + (uint64_t)(uprobe__nsret_gadget_retry - uprobe__rec_gadget);
		} else {
			struct ret_instance *ri;

			k->ring_retries = 0;
			while ((ri = ret_ns_take(t, k, slot)))
				ret_discard(ri);
			k->regs.rip = at + (uint64_t)(uprobe__nsret_gadget_out - uprobe__rec_gadget);
		}
	} else if (addr == at + (uint64_t)(uprobe__nsret_gadget_lost - uprobe__rec_gadget)) {
		struct ret_instance *ri = ret_ns_take(t, k, slot);

		if (!ri) {
			pr_warn("tid %d returned through the return gadget from an unknown call "
				"(stack slot 0x%llx)", k->tid, (unsigned long long)slot);
			return false;
		}
		mem_write(p, slot, &ri->real_ret, sizeof(ri->real_ret));
		ret_discard(ri);
		while ((ri = ret_ns_take(t, k, slot)))
			ret_discard(ri);
		k->regs.rip = at + (uint64_t)(uprobe__nsret_gadget_out - uprobe__rec_gadget);
	} else {
		return false;
	}
	return true; /* the caller resumes k at its new rip */
}
