// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public header compiles alone in strict ISO C and C++ with every warning
 * an error (tests/header/meson.build builds this file in each mode), and the
 * types a tracer author writes against are usable there.
 */
#include <uprobe.h>

static int on_hit(struct uprobe_hit *h, void *data)
{
	(void)data;
	return uprobe_hit_addr(h) ? 0 : 1;
}

static int on_fault(struct uprobe_hit *h, const siginfo_t *si, void *data)
{
	(void)h;
	(void)data;
	return si->si_signo == SIGSEGV ? UPROBE_FAULT_HANDLED : 0;
}

int main(void)
{
#ifdef __cplusplus
	/* C++ has no compound literals: value-initialize, then name the fields */
	struct uprobe_opts opts = {};

	opts.sz = sizeof(opts);
	opts.handler = on_hit;
	opts.fault_handler = on_fault;
#else
	UPROBE_OPTS(uprobe_opts, opts, .handler = on_hit, .fault_handler = on_fault);
#endif
	return opts.sz == sizeof(opts) && uprobe_cap_name(UPROBE_CAP_TSC) ? 0 : 1;
}
