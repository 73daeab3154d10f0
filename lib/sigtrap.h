/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between sigtrap.c (SIGTRAP as the program set it) and lifeline.c (our
 * handler, standing for the program's default, and its table).
 */
#ifndef UPROBE_SIGTRAP_H
#define UPROBE_SIGTRAP_H

#include "core.h"

#define SIGTRAP_BIT (1ull << (SIGTRAP - 1))

/* sigtrap.c */
enum { TRAP_DFL, TRAP_IGN, TRAP_CAUGHT };
int trap_status(struct proc *p, int *state);
int sigaction_via(struct uprobe_tracer *t, struct task *k, const struct k_sigaction *act,
		  struct k_sigaction *old);
int trap_put_back(struct uprobe_tracer *t, struct task *k);

/* lifeline.c */
bool lifeline_installed(const struct proc *p);
struct k_sigaction lifeline_act(const struct proc *p);
void lifeline_now_installed(struct uprobe_tracer *t, struct proc *p, bool on);
void lifeline_set_ign(struct proc *p, bool ign);

#endif /* UPROBE_SIGTRAP_H */
