/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the pieces of the tracer object share, and nothing else sees:
 * tracer.c makes it and runs its loop; spawn.c and attach.c bring
 * processes in, and let one go again (detach.c) when that fails half way.
 */
#ifndef UPROBE_TRACER_INTERNAL_H
#define UPROBE_TRACER_INTERNAL_H

#include "api.h"

/* tracer.c: the thread that first spawned, attached or ran is the tracer's (uprobe_tracer_call) */
void tracer_note_owner(struct uprobe_tracer *t);

/* detach.c: p's threads are all held: clean its memory and let every thread go. */
void detach_proc(struct uprobe_tracer *t, struct proc *p);

#endif
