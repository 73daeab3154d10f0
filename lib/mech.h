/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layer 4, mechanisms on one address space: planting, resolving, detours,
 * the hit ring, return probes, in-place runs, stepping out, the lifeline.
 *
 * A file of lib/ includes its own layer's header, which brings the ones
 * below: one that includes a higher layer's could call up a layer
 * (tests/layers/check_layers.py fails it).
 */
#ifndef UPROBE_MECH_H
#define UPROBE_MECH_H

#include "engine.h"

/* area.c: a process's scratch areas with their lifeline; in place (inline.c) when there is none */
int area_slot_for(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t vaddr,
		  uint64_t *slot);
/* Same, for a post slot (post true) */
int area_slot_make(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t vaddr,
		   bool post, uint64_t *slot);
int area_near(struct uprobe_tracer *t, struct proc *p, uint64_t near);
int area_ensure(struct uprobe_tracer *t, struct proc *p, uint64_t near);
int area_unmap_all(struct uprobe_tracer *t, struct proc *p, struct task *k);
int area_unmap_list(struct uprobe_tracer *t, struct proc *p, struct task *k,
		    struct xol_area *areas, uint64_t gadget, uint64_t ll_handler);
void area_forget_all(struct uprobe_tracer *t, struct proc *p);
int area_copy_proc(struct proc *from, struct proc *to);

/* stepout.c: threads out of slots and detours, post-slot exits, signals inside slots */
/* Moves held thread k, found anywhere in a scratch area, back into the program. */
int stepout_move_out(struct uprobe_tracer *t, struct task *k);
/*
 * k (regs read) stands at pc, an exit int3 of the post slot of site s for
 * the instruction at insn_addr: moves it on into the program and runs the
 * post handlers. 1 done (regs to be written back), 0 pc is no such point.
 */
int stepout_post_exit(struct uprobe_tracer *t, struct task *k, struct site *s, uint64_t insn_addr,
		      uint64_t pc);
/* A signal (k's last held one) is about to be delivered to k: out of any slot first. */
void stepout_signal(struct uprobe_tracer *t, struct task *k);

/* inline.c */
int inline_slot(struct uprobe_tracer *t, struct proc *p, struct site *s, uint64_t *slot);
int inline_entry_trap(struct uprobe_tracer *t, struct proc *p, uint64_t *addr);
int inline_entry_trap_hit(struct uprobe_tracer *t, struct task *k, uint64_t addr);
int inline_step(struct uprobe_tracer *t, struct task *k, uint64_t addr);
void inline_restore_entry_trap(struct proc *p, struct proc *target);
void inline_forget(struct uprobe_tracer *t, struct proc *p);
int inline_copy_proc(struct proc *from, struct proc *to);
/* Forgets k's pending syscall post handlers (post_sys). */
void inline_drop_post_sys(struct uprobe_tracer *t, struct task *k);

/* retprobe.c: arming return addresses, and keeping them right (uses ring.c and inline.c) */
struct ret_instance *ret_prepare(struct uprobe_tracer *t, struct task *k, struct site *s,
				 uint64_t addr);
void ret_commit(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri);
int ret_copy_task(struct task *from, struct task *to);
void ret_trampoline_hit(struct uprobe_tracer *t, struct task *k);
void ret_restore_task(struct uprobe_tracer *t, struct task *k, struct proc *target);
/* What watch.c's handlers below do to the pending calls of k: */
void ret_unwind_start(struct uprobe_tracer *t, struct task *k);
void ret_unwind_caught(struct uprobe_tracer *t, struct task *k);
void ret_longjmp(struct task *k);
void ret_returned_twice(struct uprobe_tracer *t, struct task *k, uint64_t addr);
void ret_event(struct uprobe_tracer *t, struct task *k);

/* unwind.c */
void unwind_free(struct uprobe_tracer *t);

/* ring.c: the hit ring of no-stop probes */
struct ring;
int ring_ensure(struct uprobe_tracer *t, struct proc *p);
uint64_t ring_gadget(struct proc *p, struct xol_area *a);
uint64_t ring_nsent_gadget(struct proc *p, struct xol_area *a);
/*
 * The record gadget entry for what a site's records hold: all registers or
 * the arguments only (UPROBE_RECORD_ARGS_ONLY), with or without a time
 * stamp (UPROBE_RECORD_NO_TIME); 0 as ring_gadget().
 */
uint64_t ring_rec_gadget(struct proc *p, struct xol_area *a, bool args, bool notime);
/* a's count gadget (writing a's gadgets first), 0 when a has no counter block */
uint64_t ring_count_gadget(struct proc *p, struct xol_area *a);
/* Adds what p's count-only detours counted since last time to their probes' hits. */
void ring_count(struct proc *p);
void ring_count_all(struct uprobe_tracer *t);
bool ring_gadget_at(const struct xol_area *a, uint64_t pc);
bool ring_gadget_fs_load_at(const struct xol_area *a, uint64_t pc);
void ring_unmap_in(struct uprobe_tracer *t, struct task *k, uint64_t addr);
uint64_t ring_addr(const struct proc *p);
uint64_t ring_mapping(const struct proc *p);

/* ring_drain.c: the rings drained, forgotten, unmapped; the return gadget's int3s */
unsigned ring_drain(struct uprobe_tracer *t, struct proc *p);
void ring_drain_past(struct uprobe_tracer *t, struct proc *p, struct task *k);
bool ring_drain_thread(struct uprobe_tracer *t, struct proc *p, struct task *k);
bool ring_ret_pending(const struct proc *p, uint64_t slot);
bool ring_settled(const struct proc *p);
unsigned ring_drain_all(struct uprobe_tracer *t);
bool ring_poll(struct uprobe_tracer *t);
void ring_poll_pause(void);
void ring_forget(struct uprobe_tracer *t, struct proc *p);
void ring_unmap(struct uprobe_tracer *t, struct proc *p, struct task *k);
bool ring_nsret_trap(struct uprobe_tracer *t, struct task *k, uint64_t addr);

/* ring_deliver.c: no-stop records to their handlers, and the threads they name */
void ring_thread_new(struct proc *p, const struct task *k);
void ring_thread_gone(struct proc *p, const struct task *k);
/* The rest of a no-stop hit's registers (uprobe_hit.rest), read from its record on first use */
void ring_hit_rest(struct uprobe_hit *h);
uint64_t ring_hit_arg(const struct uprobe_hit *h, unsigned n);
void ring_hits_settle(struct uprobe_tracer *t);

/* ring_nsret.c: the table of hijacked return addresses of no-stop return probes (ring.h) */
uint64_t ring_retg(const struct proc *p);
/* A no-stop call from its entry record (retcalls.c's table; ring_retg() tells a tail call) */
struct ret_instance *ring_nsret_entry(struct uprobe_tracer *t, struct task *k, struct site *s,
				  uint64_t addr, const struct user_regs_struct *regs,
				  uint64_t slot, uint64_t real, uint64_t time_ns);
bool ring_nsret_full(const struct proc *p, uint64_t slot);
void ring_nsret_release(struct proc *p, uint64_t slot, bool force);
void ring_nsret_restore(struct proc *p, struct proc *target);
void ring_nsret_unwind(struct proc *p, const struct task *k);
uint64_t ring_nsret_real(const struct proc *p, uint64_t slot, uint64_t val);

/* detour.c: jump-optimized probes; a detour's slot looked up, taken down */
void detour_fork_child(struct proc *child, uint64_t stale_ring);
bool detour_at(struct proc *p, uint64_t addr);
void detour_unoptimize(struct proc *p, struct bp *b);
void detour_write_back(struct proc *target, const struct bp *b);
void detour_clear_range(struct proc *p, uint64_t vaddr);
void detour_orig_byte(struct proc *p, uint64_t vaddr, uint8_t *byte);

/* True for a detour that is in place (its jmp written). */
bool detour_on(const struct bp *b);
/* b's bytes are back to the int3-first layout: it is no longer optimized, and never will be. */
void detour_forget(struct proc *p, struct bp *b);

/* detour_make.c: a jump detour made at a hit */
bool detour_try(struct uprobe_tracer *t, struct task *k, struct bp *b);
/* A probe of s was added or removed: p's detour at b changes kind if it must (no-stop or not). */
void detour_site_changed(struct proc *p, struct bp *b);

/* detour_hit.c: a thread's run through a jump detour */
/* detour_trap()'s answer for a hit sent to record itself again (the thread runs on) */
#define DETOUR_RETRIED 1
uint64_t detour_trap(struct uprobe_tracer *t, struct task *k, uint64_t *addr, struct bp **b);
void detour_resume(struct uprobe_tracer *t, struct task *k, const struct user_regs_struct *saved,
		   uint64_t detour);
bool detour_fault(struct uprobe_tracer *t, struct task *k);
bool detour_pc_to_insn(const struct slot_info *si, uint64_t slot, bool rec,
		       struct user_regs_struct *regs);

/* lifeline.c: the program outlives its tracer */
struct seccomp_state;
void lifeline_setup(struct uprobe_tracer *t, struct proc *p, struct task *k, struct xol_area *a,
		    const struct seccomp_state *sc);
void lifeline_area_added(struct proc *p, const struct xol_area *a);
void lifeline_note(struct proc *p, uint64_t addr, uint8_t orig, int kind);
void lifeline_note_tail(struct proc *p, uint64_t addr, uint8_t orig, const uint8_t *tail,
			unsigned len);
void lifeline_note_ret(struct proc *p, uint64_t slot, uint64_t real_ret);
void lifeline_forget(struct proc *p, uint64_t addr);
/* Our handler's address in p, if it was made the SIGTRAP disposition; else 0. */
uint64_t lifeline_handler(const struct proc *p);
int lifeline_copy(const struct proc *from, struct proc *to);
long lifeline_ptrace_opts(const struct proc *p);
void lifeline_inject_begin(struct proc *p, struct task *k, const struct user_regs_struct *back);
void lifeline_inject_end(struct proc *p);

/* sigtrap.c: SIGTRAP as the program set it, while traced */
void sigtrap_trap_seen(struct uprobe_tracer *t, struct task *k, bool step);
bool sigtrap_program_own(struct uprobe_tracer *t, struct task *k);
bool sigtrap_surfaced(struct task *k);
void sigtrap_learn(struct uprobe_tracer *t, struct proc *p, struct task *k, bool exec);
int sigtrap_on_sigaction(struct uprobe_hit *h, void *data);
void sigtrap_detach_task(struct task *k);
void sigtrap_teardown(struct uprobe_tracer *t, struct proc *p, struct task *k,
		       const struct seccomp_state *sc, uint64_t handler);
void sigtrap_detach(struct uprobe_tracer *t, struct proc *p, struct task *k);

/* sigmask.c: each thread's signal mask as the program set it, SIGTRAP unblocked in the kernel */
enum { SIGW_MASKS = 1, SIGW_RETURN = 2, SIGW_ACTIONS = 4 };
void sigmask_watched(struct uprobe_tracer *t, struct proc *p, unsigned what);
void sigmask_actions_watch(struct uprobe_tracer *t, struct proc *p);
void sigmask_actions_start(struct uprobe_tracer *t, struct proc *p, struct task *k,
			   const struct seccomp_state *sc);
void sigmask_actions_end(struct uprobe_tracer *t, struct proc *p, struct task *k,
			 const struct seccomp_state *sc);
int sigmask_on_sigprocmask(struct uprobe_hit *h, void *data);
int sigmask_on_sigreturn(struct uprobe_hit *h, void *data);
bool sigmask_deliver_step(struct task *k, int sig);
int sigmask_handler_entry(struct task *k);
int sigmask_ll_kind(const struct site *s);
void sigmask_new_task(struct task *from, struct task *k);
void sigmask_child_leaves(struct task *forker, pid_t tid);
void sigmask_exec(struct task *k);
void lifeline_free(struct proc *p);

/* kernel.c: coexistence with the kernel's uprobes */
#define KERNEL_PAGE 4096
/* Does tracefs list a kernel uprobe on f at a file offset in [lo, hi)? false if unreadable. */
bool kernel_probe_near(const struct elf_file *f, uint64_t lo, uint64_t hi);
/* Marks s as sharing its code with a kernel uprobe, and starts the watch. */
void kernel_site_seen(struct uprobe_tracer *t, struct site *s);
/* cb for each probe tracefs lists, with its file's (dev, ino) and offset, until one returns non-0. */
int kernel_for_each_event(int (*cb)(dev_t dev, ino_t ino, uint64_t off, void *ctx), void *ctx);

/* kernel_watch.c: the kernel's uprobes over time */
/* At most every 20 ms: plants again int3s the kernel restored away, mends detours it wrote into. */
void kernel_watch(struct uprobe_tracer *t);

/* plant.c: a site's int3s in every process that maps it, and out again */
int plant_site(struct uprobe_tracer *t, struct site *s);
int plant_in(struct uprobe_tracer *t, struct proc *p, struct site *s);
int plant_post_slots(struct uprobe_tracer *t, struct site *s);
void plant_remove_site(struct uprobe_tracer *t, struct site *s);
void plant_kind_changed(struct uprobe_tracer *t, struct site *s);
void plant_forget_unmapped(struct proc *p);
int plant_unplant_all(struct uprobe_tracer *t, struct proc *p, struct proc *target);
/* The post slot of the breakpoint at vaddr, 0 if it has none. */
uint64_t plant_post_slot(struct proc *mm, uint64_t vaddr);

/* resolve.c: what a probe names, to a file and an offset, before any byte changes */
const char *resolve_base_name(const char *path);
bool resolve_map_is_file(const struct map_entry *m, const struct elf_file *f);
int resolve_binary(struct uprobe_tracer *t, const char *binary, char *out, size_t outsz);
struct elf_file *resolve_mapped_elf(struct uprobe_tracer *t, const char *path);
/* binary resolved as uprobe_add() does, and parsed. 0 or -errno with the message set. */
int resolve_open_binary(struct uprobe_tracer *t, const char *binary, struct elf_file **f);
int resolve_ifunc(struct uprobe_tracer *t, struct elf_file *f, const struct elf_sym *sym,
		  struct elf_file **impl_file, uint64_t *impl_off);

/* resolve_check.c: whether a probe may go at the place resolved: return probes, boundaries */
int resolve_check_retprobe(struct uprobe_tracer *t, struct elf_file *f, uint64_t off, bool force);
bool resolve_returns_twice(const struct elf_file *f, uint64_t off);
bool resolve_is_func_entry(const struct elf_file *f, uint64_t off, const char *symbol,
			   bool sym_start);
int resolve_check_boundary(struct uprobe_tracer *t, struct elf_file *f, uint64_t off,
			   const char *name, uint64_t start_off);
void resolve_bcache_free(struct uprobe_tracer *t);

#endif /* UPROBE_MECH_H */
