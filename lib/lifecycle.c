// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A process's probes as its mappings come and change: every registered
 * probe planted when a process is ready for them (spawn's entry, attach,
 * exec), and again when the dynamic linker changes the link map (dlopen,
 * dlclose); with them libuprobe's own probes (watch.c), pending probes
 * whose library has come (probe.c) and USDT semaphores (usdt.c).
 */
#include "core.h"

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
