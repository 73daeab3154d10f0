// SPDX-License-Identifier: LGPL-2.1-or-later
/* Backtraces of a stopped thread with libunwind-ptrace, over the registers we already hold and with hijacked return addresses shown as the real ones. */
#include <libunwind-ptrace.h>
#include <string.h>

#include "core.h"

#define BT_BLOCK 4096

struct bt_ctx {
	void *upt;       /* libunwind-ptrace's own state, for what we do not override */
	struct task *k;
	uint64_t tramp;
	/* the last block of tracee memory read: a walk up the stack reads each block once */
	uint64_t block;  /* its address, BT_BLOCK-aligned; valid when have_block */
	bool have_block;
	uint8_t buf[BT_BLOCK];
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

	uint64_t block = addr & ~(uint64_t)(BT_BLOCK - 1);

	if (write)
		return -UNW_EREADONLYREG;
	if (addr - block <= BT_BLOCK - sizeof(*val) && (c->have_block && c->block == block)) {
		memcpy(val, c->buf + (addr - block), sizeof(*val));
	} else if (addr - block <= BT_BLOCK - sizeof(*val) &&
		   mem_read(c->k->proc, block, c->buf, BT_BLOCK) == 0) {
		c->block = block;
		c->have_block = true;
		memcpy(val, c->buf + (addr - block), sizeof(*val));
	} else if (mem_read(c->k->proc, addr, val, sizeof(*val)) < 0) {
		return -UNW_EINVAL;
	}
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

/*
 * The unwinder for p: libunwind's address space keeps, per instruction
 * address, the unwind rules it found (UNW_CACHE_GLOBAL), and
 * libunwind-ptrace the ELF image it has open. Both stay across backtraces
 * of the same process while its maps do not change, so a stack seen before
 * costs memory reads only; another process, or an exec or dlopen since,
 * flushes them.
 */
static int unwinder_for(struct uprobe_tracer *t, struct proc *p)
{
	if (!t->unw_as) {
		t->unw_as = unw_create_addr_space(&bt_accessors, 0);
		if (!t->unw_as)
			return -ENOMEM;
		unw_set_caching_policy(t->unw_as, UNW_CACHE_GLOBAL);
	}
	if (t->unw_upt && t->unw_gen == p->maps_gen && p->maps_gen)
		return 0;
	unw_flush_cache(t->unw_as, 0, 0);
	if (t->unw_upt)
		_UPT_destroy(t->unw_upt);
	t->unw_upt = _UPT_create(p->pid);
	t->unw_gen = p->maps_gen;
	return t->unw_upt ? 0 : -ENOMEM;
}

UPROBE_API int uprobe_hit_backtrace(struct uprobe_hit *h, uint64_t *pcs, int max)
{
	static __thread struct bt_ctx c;
	unw_cursor_t cur;
	struct proc *mm;
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
	c.k = h->task;
	c.have_block = false;
	c.tramp = proc_trampoline(h->task->proc);
	mm = proc_mm(h->task->proc);
	if (!mm->maps_gen)
		proc_refresh_maps(mm);
	r = unwinder_for(h->t, mm);
	if (r < 0) {
		errno = -r;
		return r;
	}
	c.upt = h->t->unw_upt;
	cur_bt = &c;
	r = unw_init_remote(&cur, h->t->unw_as, &c);
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
	return n;
}

void unwind_free(struct uprobe_tracer *t)
{
	if (t->unw_upt)
		_UPT_destroy(t->unw_upt);
	if (t->unw_as)
		unw_destroy_addr_space(t->unw_as);
	t->unw_upt = NULL;
	t->unw_as = NULL;
	t->unw_gen = 0;
}
