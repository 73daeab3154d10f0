/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layer 5, orchestration: stops dispatched, processes' lives, probes
 * placed and watched, the tool's events.
 *
 * A file of lib/ includes its own layer's header, which brings the ones
 * below: one that includes a higher layer's could call up a layer
 * (tests/layers/check_layers.py fails it).
 */
#ifndef UPROBE_ORCH_H
#define UPROBE_ORCH_H

#include "mech.h"

/* dispatch.c: a thread's stop (waitpid() status) classified and handled */
void dispatch_stop(struct uprobe_tracer *t, struct task *k, int status);

/* probe.c */
struct uprobe *probe_add(struct uprobe_tracer *t, const char *binary, const char *symbol,
			 uint64_t offset, const struct uprobe_opts *opts);
/* Places the pending probes whose library a tracee now maps. */
void probe_place_pending(struct uprobe_tracer *t);
void probe_remove_all(struct uprobe_tracer *t);

/*
 * lifecycle.c: a traced process's life (start-up breakpoint, clone, fork,
 * vfork, exec, exit; dispatch_stop() calls the handlers), and its probes
 * planted as its mappings come and change
 */
int lifecycle_plant_all(struct uprobe_tracer *t, struct proc *p);
/* The handler of our probe on the dynamic linker's _dl_debug_state (watch.c puts it). */
int lifecycle_on_dl_state(struct uprobe_hit *h, void *data);
/* The one-shot start-up breakpoint of p's new image: at ld.so's notification, else its entry */
int lifecycle_entry_bp(struct uprobe_tracer *t, struct proc *p);
/* That breakpoint hit while the link map still changes: k returned at once. False: plant now. */
bool lifecycle_dl_notify_hit(struct task *k);
/* A PTRACE_EVENT_CLONE, FORK or VFORK stop of k's: the new thread or process */
void lifecycle_on_new_child(struct uprobe_tracer *t, struct task *k, int event);
/* A SIGTRAP stop of a process that leaves at its exec: true if it was a syscall stop, dealt with */
bool lifecycle_leave_at_exec_stop(struct uprobe_tracer *t, struct task *k);
/* k's PTRACE_EVENT_EXEC stop: the old image's state dropped, the new one's start-up breakpoint */
void lifecycle_on_exec(struct uprobe_tracer *t, struct task *k);
/* k is gone (status as waitpid() gave it); with its last thread, its process. */
void lifecycle_on_exit(struct uprobe_tracer *t, struct task *k, int status);

/* watch.c */
/* Tells the registry which of watch.c's handlers are unwinders' (LL_UNWIND). */
void watch_handler_kinds(struct uprobe_tracer *t);
int watch_proc(struct uprobe_tracer *t, struct proc *p);
void watch_procs(struct uprobe_tracer *t);
bool watch_has(struct uprobe_tracer *t, dev_t dev, ino_t ino, uint64_t off, uprobe_handler_fn fn);
void watch_free(struct uprobe_tracer *t);
int watch_code_at(struct uprobe_tracer *t, struct proc *p, uint64_t ra, uprobe_handler_fn fn);
bool watch_twice_call(struct uprobe_tracer *t, struct task *k, struct ret_instance *ri);
/* The handlers of our probes for return probes: unwinders, longjmp, returns twice. */
int watch_on_unwind(struct uprobe_hit *h, void *data);
int watch_on_unwind_backtrace(struct uprobe_hit *h, void *data);
int watch_on_unwind_done(struct uprobe_hit *h, void *data);
int watch_on_catch(struct uprobe_hit *h, void *data);
int watch_on_longjmp(struct uprobe_hit *h, void *data);
int watch_on_twice_return(struct uprobe_hit *h, void *data);
struct uprobe *probe_add_internal(struct uprobe_tracer *t, const char *path, const char *symbol,
				  uint64_t offset, uprobe_handler_fn fn);

/* events.c */
void events_fork(struct uprobe_tracer *t, struct task *k, pid_t child, bool followed, bool vfork);
/* p exec'd (called once its old image's hits are delivered); former_tid: the thread that did */
void events_exec(struct uprobe_tracer *t, struct proc *p, pid_t former_tid);
/* Process pid is gone, every hit of it delivered. */
void events_exit(struct uprobe_tracer *t, pid_t pid, int status);
void events_deliver(struct uprobe_tracer *t);
void events_free(struct uprobe_tracer *t);

/* usdt.c: USDT probes' semaphores, counted once per process that maps them */
/* p's maps changed (spawn's entry, attach, exec, dlopen): set the semaphores it maps now */
void usdt_proc_sync(struct uprobe_tracer *t, struct proc *p);
/* Detach: p's semaphores go back down */
void usdt_proc_detach(struct uprobe_tracer *t, struct proc *p);
/* p exited or exec'd: its semaphores are gone with its memory */
void usdt_proc_gone(struct uprobe_tracer *t, struct proc *p);
/* A fork child let go: its copy of the parent's semaphores goes back down */
void usdt_fork_release(struct uprobe_tracer *t, struct proc *parent, struct proc *child);
/* A followed fork child: its copy of the semaphores is counted for it too */
void usdt_fork_adopt(struct uprobe_tracer *t, struct proc *parent, struct proc *child);
void usdt_free_all(struct uprobe_tracer *t);

#endif /* UPROBE_ORCH_H */
