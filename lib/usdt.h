/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Between usdt.c (the notes, sites as probes, semaphores) and hit.c (a USDT hit's arguments). */
#ifndef UPROBE_USDT_H
#define UPROBE_USDT_H

#include "internal.h"

/* One site of a USDT point: where gcc put (one copy of) the probe's nop. */
struct usdt_site {
	const char *provider, *name; /* in the file's mapped bytes, valid while it is cached */
	const char *argstr;
	uint64_t pc;      /* link-time address, .stapsdt.base adjusted */
	uint64_t off;     /* its file offset */
	uint64_t sem_off; /* the semaphore's file offset; 0 none */
	int nargs;
	struct usdt_arg args[USDT_MAX_ARGS];
	struct uprobe *u;
};

#endif /* UPROBE_USDT_H */
