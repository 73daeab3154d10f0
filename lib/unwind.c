// SPDX-License-Identifier: LGPL-2.1-or-later
/* Backtraces of a stopped thread with libunwind-ptrace, over the registers we already hold and with hijacked return addresses shown as the real ones. */
#include <libunwind-ptrace.h>
#include <string.h>

#include "core.h"

struct bt_ctx {
	void *upt;       /* libunwind-ptrace's own state, for what we do not override */
	struct task *k;
	uint64_t tramp;
};

/*
 * The backtrace under way. Accessors cannot rely on their `arg`: inside
 * _UPT_find_proc_info libunwind calls them back with libunwind-ptrace's
 * own argument, not ours.
 */
static __thread struct bt_ctx *cur_bt;

static int bt_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			     int need, void *arg)
{
	return _UPT_find_proc_info(as, ip, pi, need, cur_bt->upt);
}

static void bt_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	_UPT_put_unwind_info(as, pi, cur_bt->upt);
}

static int bt_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dil, void *arg)
{
	return _UPT_get_dyn_info_list_addr(as, dil, cur_bt->upt);
}

/*
 * Memory through /proc/PID/mem (one system call, not a PEEKDATA per word);
 * a stack slot holding the trampoline reads as the real return address of
 * the call it belongs to, so no frame ever shows the scratch area.
 */
static int bt_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
			 void *arg)
{
	struct bt_ctx *c = cur_bt;
	struct ret_instance *ri;

	if (write)
		return -UNW_EREADONLYREG;
	if (mem_read(c->k->proc, addr, val, sizeof(*val)) < 0)
		return -UNW_EINVAL;
	if (c->tramp && *val == c->tramp && (ri = ret_find(c->k, addr)))
		*val = ri->real_ret;
	return 0;
}

/* The registers as the handler sees them (rip is the probed address, not past the int3). */
static int bt_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
			 void *arg)
{
	const struct user_regs_struct *r = &cur_bt->k->regs;
	const unsigned long long *map[] = {
		[UNW_X86_64_RAX] = &r->rax, [UNW_X86_64_RDX] = &r->rdx, [UNW_X86_64_RCX] = &r->rcx,
		[UNW_X86_64_RBX] = &r->rbx, [UNW_X86_64_RSI] = &r->rsi, [UNW_X86_64_RDI] = &r->rdi,
		[UNW_X86_64_RBP] = &r->rbp, [UNW_X86_64_RSP] = &r->rsp, [UNW_X86_64_R8] = &r->r8,
		[UNW_X86_64_R9] = &r->r9,   [UNW_X86_64_R10] = &r->r10, [UNW_X86_64_R11] = &r->r11,
		[UNW_X86_64_R12] = &r->r12, [UNW_X86_64_R13] = &r->r13, [UNW_X86_64_R14] = &r->r14,
		[UNW_X86_64_R15] = &r->r15, [UNW_X86_64_RIP] = &r->rip,
	};

	if (write || reg < 0 || (size_t)reg >= ARRAY_SIZE(map) || !map[reg])
		return -UNW_EBADREG;
	*val = *map[reg];
	return 0;
}

static int bt_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			   void *arg)
{
	return -UNW_EBADREG;
}

static int bt_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int bt_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			    unw_word_t *off, void *arg)
{
	return _UPT_get_proc_name(as, addr, buf, len, off, cur_bt->upt);
}

static unw_accessors_t bt_accessors = {
	.find_proc_info = bt_find_proc_info,
	.put_unwind_info = bt_put_unwind_info,
	.get_dyn_info_list_addr = bt_get_dyn_info_list_addr,
	.access_mem = bt_access_mem,
	.access_reg = bt_access_reg,
	.access_fpreg = bt_access_fpreg,
	.resume = bt_resume,
	.get_proc_name = bt_get_proc_name,
};

UPROBE_API int uprobe_hit_backtrace(struct uprobe_hit *h, uint64_t *pcs, int max)
{
	struct bt_ctx c = { .k = h->task };
	unw_addr_space_t as;
	unw_cursor_t cur;
	int n = 0, r;

	if (!pcs || max <= 0) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (h->is_async || !h->task) {
		/* the stack the registers of a ring hit point into has moved on */
		errno = EOPNOTSUPP;
		return -EOPNOTSUPP;
	}
	c.tramp = proc_trampoline(h->task->proc);
	if (!h->t->unw_as) {
		h->t->unw_as = unw_create_addr_space(&bt_accessors, 0);
		if (!h->t->unw_as) {
			errno = ENOMEM;
			return -ENOMEM;
		}
	}
	as = h->t->unw_as;
	/* one address space serves every tracee: what it cached may belong to another */
	unw_flush_cache(as, 0, 0);
	c.upt = _UPT_create(h->task->tid);
	if (!c.upt) {
		errno = ENOMEM;
		return -ENOMEM;
	}
	cur_bt = &c;
	r = unw_init_remote(&cur, as, &c);
	if (r < 0) {
		pcs[n++] = h->task->regs.rip;
		goto out;
	}
	do {
		unw_word_t ip;

		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		pcs[n++] = ip;
	} while (n < max && unw_step(&cur) > 0);
out:
	cur_bt = NULL;
	_UPT_destroy(c.upt);
	return n;
}

void unwind_free(struct uprobe_tracer *t)
{
	if (t->unw_as)
		unw_destroy_addr_space(t->unw_as);
	t->unw_as = NULL;
}
