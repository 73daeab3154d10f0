// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A process's scratch areas as a whole: mapping one (the first one with the
 * lifeline), a slot in one or else in place (inline.c), and forgetting,
 * copying or unmapping them all with the lifeline and the inline state.
 * Finding an area by address, marking its slots and where a new one may go
 * are xol.c's, a layer below.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "mech.h"
#include "lifeline.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* An area whose munmap k's seccomp filter would not certainly allow stays mapped: harmless. */
static bool may_unmap(struct task *k, const struct seccomp_state *sc, const uint64_t args[6])
{
	uint32_t action = 0;
	int r = inject_seccomp_allowed(k, sc, SYS_munmap, args, &action);

	if (r == 1)
		return true;
	pr_debug("pid %d: scratch area at 0x%llx left mapped: %s: %s", k->proc->pid,
		 (unsigned long long)args[0],
		 r == 0 ? "its seccomp filter would deny the munmap" : "cannot read its seccomp filter",
		 r == 0 ? seccomp_action_name(action) : strerror(-r));
	return false;
}

/*
 * An area's worth of free addresses within 2 GiB of near, mapped in p
 * through k: *start, or -errno. Up to 8 tries, the maps read again after
 * each (an old kernel ignores MAP_FIXED_NOREPLACE and maps elsewhere).
 */
static int map_near(struct uprobe_tracer *t, struct proc *p, struct task *k,
		    const struct seccomp_state *sc, uint64_t near, uint64_t *start)
{
	int64_t ret = -ENOMEM;
	int err;

	proc_refresh_maps(p);
	for (int tries = 0; tries < 8; tries++) {
		uint64_t addr = xol_find_gap(p, near, XOL_AREA_SIZE);
		uint64_t args[6] = { addr, XOL_AREA_SIZE, PROT_READ | PROT_EXEC,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				     (uint64_t)-1, 0 };

		if (!addr)
			return tracer_err(t, -ENOMEM,
					  "pid %d: no free address range within 2 GiB of 0x%llx for a "
					  "scratch area", p->pid, (unsigned long long)near);
		err = inject_seccomp_check(t, k, sc, SYS_mmap, args, "the scratch-area mmap");
		if (err) {
			p->xol_denied = true;
			return err;
		}
		err = inject_syscall(t, k, SYS_mmap, args, &ret);
		if (err)
			return tracer_err(t, err, "pid %d: cannot map a scratch area: %s", p->pid,
					  strerror(-err));
		if ((uint64_t)ret == addr) {
			*start = addr;
			return 0;
		}
		if (ret >= 0 || ret < -4095) {
			/* an old kernel ignored NOREPLACE and put it elsewhere */
			uint64_t un[6] = { (uint64_t)ret, XOL_AREA_SIZE };
			int64_t r2;

			if (may_unmap(k, sc, un))
				inject_syscall(t, k, SYS_munmap, un, &r2);
		}
		proc_refresh_maps(p);
	}
	return tracer_err(t, -ENOMEM, "pid %d: mmap of a scratch area failed: %s", p->pid,
			  strerror((int)-ret));
}

/* The area at start, mapped in p, with its gadgets written into slot 0. */
static int area_new(struct uprobe_tracer *t, struct proc *p, uint64_t start,
		    struct xol_area **out)
{
	static const uint8_t gadget[] = { ARCH_SYSCALL_INSN, ARCH_INT3, ARCH_INT3, ARCH_INT3 }; /* see XOL_GADGET_* */
	struct xol_area *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return tracer_err(t, -ENOMEM, "out of memory");
	a->start = start;
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
		return err;
	}
	*out = a;
	return 0;
}

/* a joins p's areas; the first one also gets the lifeline and the signal actions' watch. */
static void area_add(struct uprobe_tracer *t, struct proc *p, struct task *k,
		     struct xol_area *a, struct seccomp_state *sc)
{
	bool first;

	if (!p->gadget)
		p->gadget = a->start + XOL_GADGET_SYSCALL;
	first = !p->areas;
	a->next = p->areas;
	p->areas = a;
	proc_refresh_maps(p);
	pr_debug("pid %d: scratch area at 0x%llx", p->pid, (unsigned long long)a->start);
	if (first) {
		lifeline_setup(t, p, k, a, sc);
		/*
		 * no handler of the program's may run with SIGTRAP blocked from now
		 * on (sigmask.c); nothing to do where no lifeline was made
		 */
		sigmask_actions_start(t, p, k, sc);
	} else {
		lifeline_area_added(p, a);
	}
}

/*
 * Maps a new area near `near`. Every thread of p is held meanwhile, and
 * released after. In steps: p's threads held, the mmap injected
 * (map_near()), the area made (area_new()) and added to p (area_add()).
 */
static int area_create(struct uprobe_tracer *t, struct proc *p, uint64_t near,
		       struct xol_area **out)
{
	struct seccomp_state sc = { 0 };
	struct xol_area *a = NULL;
	struct task *k;
	uint64_t start = 0;
	pid_t pid = p->pid;
	int err;

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
	err = map_near(t, p, k, &sc, near, &start);
	if (err)
		goto out;
	err = area_new(t, p, start, &a);
	if (err)
		goto out;
	area_add(t, p, k, a, &sc);
	*out = a;
out:
	seccomp_state_free(&sc);
	task_release(t, p);
	return err;
}

/* Makes sure p has a scratch area (and so a syscall gadget and a trap), near `near`. */
int area_ensure(struct uprobe_tracer *t, struct proc *p, uint64_t near)
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
	return inline_entry_trap(t, p, &trap);
}

/* One more area near `near`, for code that must reach it with rel32 jumps (detour_make.c). */
int area_near(struct uprobe_tracer *t, struct proc *p, uint64_t near)
{
	struct xol_area *a;

	return area_create(t, p, near, &a);
}

int area_slot_for(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t vaddr,
		  uint64_t *slot)
{
	return area_slot_make(t, p, s, vaddr, false, slot);
}

int area_slot_make(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t vaddr,
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
	free(a->args_map);
	free(a->nsret_map);
	free(a->count_seen);
	free(a);
}

/* Forgets p's areas without touching the tracee (it exec'd, or is gone). */
void area_forget_all(struct uprobe_tracer *t, struct proc *p)
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
int area_unmap_list(struct uprobe_tracer *t, struct proc *p, struct task *k,
		    struct xol_area *areas, uint64_t gadget, uint64_t ll_handler)
{
	struct xol_area *gadget_area = NULL;
	struct seccomp_state sc;
	int ret = 0;

	seccomp_read(k->tid, &sc);
	p->gadget = gadget;
	/* SIGTRAP's default back before the handler's code goes */
	sigtrap_teardown(t, p, k, &sc, ll_handler);
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

int area_unmap_all(struct uprobe_tracer *t, struct proc *p, struct task *k)
{
	int ret = area_unmap_list(t, p, k, p->areas, p->gadget, lifeline_handler(p));

	area_forget_all(t, p);
	return ret;
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
int area_copy_proc(struct proc *from, struct proc *to)
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
		c->notime_map = c->args_map = NULL;
		c->count_seen = NULL; /* the child's ring counts from 0 */
		if (copy_map(&c->post_map, a->post_map, a) || copy_map(&c->detour_map, a->detour_map, a) ||
		    copy_map(&c->rec_map, a->rec_map, a) || copy_map(&c->count_map, a->count_map, a) ||
		    copy_map(&c->notime_map, a->notime_map, a) ||
		    copy_map(&c->args_map, a->args_map, a) ||
		    copy_map(&c->nsret_map, a->nsret_map, a)) {
			free(c->post_map);
			free(c->detour_map);
			free(c->rec_map);
			free(c->count_map);
			free(c->notime_map);
			free(c->args_map);
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
