/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between sigtrap.c (SIGTRAP as the program set it), sigmask.c (the masks
 * as the program set them) and lifeline.c (our handler, standing for the
 * program's default, and its table). Each calls only those below it:
 * sigtrap.c -> sigmask.c -> lifeline.c.
 */
#ifndef UPROBE_SIGTRAP_H
#define UPROBE_SIGTRAP_H

#include "mech.h"

/* sigmask.c */
uint64_t sigmask_kernel(const struct task *k, uint64_t pm);
int sigmask_set(pid_t tid, uint64_t m);
bool sigmask_trap_seen(struct uprobe_tracer *t, struct task *k, uint64_t m);
void sigmask_on_action(struct uprobe_tracer *t, struct task *k, int sig, uint64_t sa,
		       uint64_t osa);

/* lifeline.c */
bool lifeline_installed(const struct proc *p);
bool lifeline_chained(const struct proc *p);
int lifeline_chain(struct uprobe_tracer *t, struct proc *p, struct task *k,
		   const struct k_sigaction *prog);
struct k_sigaction lifeline_act(const struct proc *p);
void lifeline_now_installed(struct uprobe_tracer *t, struct proc *p, bool on);
void lifeline_set_ign(struct proc *p, bool ign);
bool lifeline_sigtrap_real(const struct proc *p, struct k_sigaction *act);
int lifeline_sigtrap_put_back(struct uprobe_tracer *t, struct task *k);

#endif /* UPROBE_SIGTRAP_H */
