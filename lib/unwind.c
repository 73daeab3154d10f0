// SPDX-License-Identifier: LGPL-2.1-or-later
/* Backtraces of a stopped thread with libunwind-ptrace, over the registers we already hold and with hijacked return addresses shown as the real ones. */
#include <libunwind-ptrace.h>
#include <string.h>
#include <unistd.h>

#include "mech.h"

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
	*val = ring_nsret_real(proc_mm(c->k->proc), addr, *val);
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

static int cfi_backtrace(struct uprobe_hit *h, uint64_t *pcs, int max)
{
	static __thread struct bt_ctx c;
	unw_cursor_t cur;
	struct proc *mm;
	int n = 0, r;

	c.k = h->task;
	c.have_block = false;
	c.tramp = xol_trampoline(h->task->proc);
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

/* ---- Frame pointers ---- */

/*
 * Stack bytes read at once, from the page holding the first word wanted:
 * the frames of a usual chain lie in one read, and a read that runs into
 * an unmapped page stops there (pread of /proc/PID/mem returns what it
 * could read) instead of failing whole.
 */
#define FP_WINDOW 8192
#define FP_PAGE 4096ull
/* User addresses lie below 2^56 even with five-level paging: anything above is no frame. */
#define FP_USER_END (1ull << 56)

struct fp_win {
	struct proc *mm;
	uint64_t start; /* the tracee address of buf[0] */
	size_t len;     /* bytes of buf read; 0 none */
	uint8_t buf[FP_WINDOW];
};

/* The word at addr (8-aligned, below FP_USER_END) through the window: 0, or -EFAULT unreadable. */
static int fp_word(struct fp_win *w, uint64_t addr, uint64_t *val)
{
	if (addr < w->start || addr + 8 > w->start + w->len) {
		uint64_t page = addr & ~(FP_PAGE - 1);
		ssize_t n;

		do
			n = pread(w->mm->memfd, w->buf, sizeof(w->buf), (off_t)page);
		while (n < 0 && errno == EINTR);
		w->start = page;
		w->len = n > 0 ? (size_t)n : 0;
		/* stack slots written while every thread is held (a hijacked return) are queued */
		if (w->len && w->mm->batch)
			mem_batch_overlay(w->mm, page, w->buf, w->len);
		if (addr + 8 > w->start + w->len)
			return -EFAULT;
	}
	memcpy(val, w->buf + (addr - w->start), sizeof(*val));
	return 0;
}

/* ret, read from stack slot slot: the real return address where a return probe hijacked it. */
static uint64_t fp_real_ret(struct task *k, uint64_t tramp, uint64_t slot, uint64_t ret)
{
	struct ret_instance *ri;

	if (tramp && ret == tramp && (ri = ret_find(k, slot)))
		return ri->real_ret;
	return ring_nsret_real(proc_mm(k->proc), slot, ret);
}

/*
 * Where the caller's return address is while the hit's function has not
 * made its frame yet, 0 when it has (or nothing says it has not): at a
 * function's first instruction (entry and fault handlers) it is [rsp] and
 * rbp is still the caller's; in a post handler there, after an endbr64, a
 * nop or a jump it is still [rsp], after `push %rbp` [rsp + 8].
 */
static uint64_t fp_entry_slot(const struct uprobe_hit *h)
{
	const struct site *s = h->probe ? h->probe->site : NULL;
	uint64_t rsp = h->task->regs.rsp;
	int pushed;

	if (!s || !s->func_entry || h->is_return)
		return 0;
	if (!h->is_post)
		return rsp;
	/*
	 * Nothing pushed yet: still no frame (a jump at the entry goes where none is made
	 * either); or only the frame pointer.
	 */
	pushed = arch_plan_entry_pushed(&s->plan);
	return pushed < 0 ? 0 : rsp + (uint64_t)pushed;
}

/* Could ret be a return address: in user space, not in the first page (0 ends a chain). */
static bool fp_code_addr(uint64_t ret)
{
	return ret >= FP_PAGE && ret < FP_USER_END;
}

/*
 * The chain of saved frame pointers: each frame's rbp points at the
 * caller's saved rbp, with the return address above it ([rbp + 8]). Every
 * frame pointer must be 8-aligned, above the previous one (stacks grow
 * down: callers' frames are higher), and readable; the walk stops at the
 * first that is not, at a return address that cannot be one, or at max:
 * never more steps than the stack has words.
 */
static int fp_backtrace(struct uprobe_hit *h, uint64_t *pcs, int max)
{
	static __thread struct fp_win w;
	struct task *k = h->task;
	uint64_t tramp = xol_trampoline(k->proc);
	uint64_t fp = k->regs.rbp, lo = k->regs.rsp, slot, ret;
	int n = 0;

	w.mm = proc_mm(k->proc);
	w.len = 0;
	pcs[n++] = k->regs.rip;
	slot = fp_entry_slot(h);
	if (slot && n < max) {
		if (slot & 7 || slot >= FP_USER_END - 8 || fp_word(&w, slot, &ret) ||
		    !fp_code_addr(ret))
			return n;
		pcs[n++] = fp_real_ret(k, tramp, slot, ret);
		lo = slot + 8;
	}
	while (n < max) {
		uint64_t next;

		if (!fp || fp & 7 || fp < lo || fp >= FP_USER_END - 16)
			break;
		if (fp_word(&w, fp + 8, &ret) || fp_word(&w, fp, &next) || !fp_code_addr(ret))
			break;
		pcs[n++] = fp_real_ret(k, tramp, fp + 8, ret);
		lo = fp + 16;
		fp = next;
	}
	return n;
}

UPROBE_API int uprobe_hit_backtrace_opts(struct uprobe_hit *h, uint64_t *pcs, int max,
					 const struct uprobe_backtrace_opts *opts)
{
	enum uprobe_unwinder how;

	if (!h) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (!pcs || max <= 0)
		return tracer_err(h->t, -EINVAL, "backtrace: %s", pcs ? "max must be at least 1" :
				  "no buffer for the frames");
	if (!OPTS_VALID(opts, uprobe_backtrace_opts))
		return tracer_err(h->t, -EINVAL, "backtrace: unknown fields in uprobe_backtrace_opts");
	how = OPTS_GET(opts, unwinder, UPROBE_UNWIND_CFI);
	if (how != UPROBE_UNWIND_CFI && how != UPROBE_UNWIND_FP)
		return tracer_err(h->t, -EINVAL, "backtrace: unknown unwinder %d", (int)how);
	if (h->is_async || !h->task)
		/* the stack the registers of a ring hit point into has moved on */
		return tracer_err(h->t, -EOPNOTSUPP, "backtrace: a no-stop hit's stack has moved on");
	return how == UPROBE_UNWIND_FP ? fp_backtrace(h, pcs, max) : cfi_backtrace(h, pcs, max);
}

UPROBE_API int uprobe_hit_backtrace(struct uprobe_hit *h, uint64_t *pcs, int max)
{
	return uprobe_hit_backtrace_opts(h, pcs, max, NULL);
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
