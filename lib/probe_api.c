// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uprobe_add(): probe.c's probe_add(), then what the first return probe
 * starts. Above both probe.c and watch.c, as watch.c places its own probes
 * through probe.c.
 */
#include "api.h"

UPROBE_API struct uprobe *uprobe_add(struct uprobe_tracer *t, const char *binary,
				     const char *symbol, uint64_t offset,
				     const struct uprobe_opts *opts)
{
	struct uprobe *u = probe_add(t, binary, symbol, offset, opts);

	/* the first return probe placed: watch unwinders and longjmp from now on */
	if (u && u->ret_handler && u->site && t->nretprobes == 1)
		watch_procs(t);
	return u;
}
