// SPDX-License-Identifier: LGPL-2.1-or-later
/* What a handler asks of its hit: pid, tid, comm, registers, arguments, memory, return value, override, USDT arguments. */
#include <fcntl.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "api.h"
#include "ring.h"
#include "usdt.h"

/* Every register of h: a no-stop hit's that are still in its record read now (ring_hit_rest()) */
static struct user_regs_struct *hit_regs(const struct uprobe_hit *h)
{
	if (h->rest)
		ring_hit_rest((struct uprobe_hit *)h);
	return h->regs ? h->regs : &h->task->regs;
}

static struct proc *hit_proc(const struct uprobe_hit *h)
{
	return h->task ? h->task->proc : h->proc;
}

UPROBE_API pid_t uprobe_hit_pid(const struct uprobe_hit *h)
{
	return hit_proc(h)->pid;
}

UPROBE_API pid_t uprobe_hit_tid(const struct uprobe_hit *h)
{
	return h->task ? h->task->tid : h->tid;
}

/*
 * Threads whose comm file stays open (task.comm_fd1): a tool that shows
 * every hit's comm then pays one pread per hit (5 us on the VMs here), not
 * an open, a read and a close (25 to 35 us: the path walk through /proc,
 * as much as the rest of a stopping hit); a program of thousands of
 * threads must not use up the tracer's descriptors.
 */
#define COMM_FDS_MAX 256

/* Reads /proc/PID/task/TID/comm into buf (16 bytes), without its newline; k's file if open. */
static bool read_comm(struct uprobe_tracer *t, struct task *k, pid_t pid, pid_t tid, char *buf)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	if (tid <= 0)
		return false;
	/* a file opened before an exec by another thread names a thread that is gone: reopen */
	if (k && k->comm_fd1) {
		n = pread(k->comm_fd1 - 1, buf, 16, 0);
		if (n <= 0)
			task_close_comm(t, k);
	}
	if (n <= 0) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		n = read(fd, buf, 16);
		if (k && n > 0 && t->ncomm_fds < COMM_FDS_MAX) {
			k->comm_fd1 = fd + 1;
			t->ncomm_fds++;
		} else {
			close(fd);
		}
	}
	if (n <= 0)
		return false;
	if (buf[n - 1] == '\n')
		n--;
	buf[n < 16 ? n : 15] = 0;
	return true;
}

UPROBE_API const char *uprobe_hit_comm(struct uprobe_hit *h)
{
	pid_t tid = uprobe_hit_tid(h);
	struct task *k = h->task ? h->task : tid > 0 ? task_find(h->t, tid) : NULL;

	if (!h->comm_state)
		h->comm_state = read_comm(h->t, k, uprobe_hit_pid(h), tid, h->comm) ? 1 : -1;
	if (h->comm_state < 0) {
		errno = ESRCH;
		return NULL;
	}
	return h->comm;
}

UPROBE_API bool uprobe_hit_is_async(const struct uprobe_hit *h)
{
	return h->is_async;
}

UPROBE_API uint64_t uprobe_hit_time_ns(const struct uprobe_hit *h)
{
	return h->time_ns ? h->time_ns : mono_ns();
}

UPROBE_API struct uprobe *uprobe_hit_probe(const struct uprobe_hit *h)
{
	return h->probe;
}

UPROBE_API uint64_t uprobe_hit_addr(const struct uprobe_hit *h)
{
	return h->addr;
}

UPROBE_API struct user_regs_struct *uprobe_hit_regs(struct uprobe_hit *h)
{
	return hit_regs(h);
}

UPROBE_API uint64_t uprobe_hit_arg(const struct uprobe_hit *h, unsigned n)
{
	const struct user_regs_struct *r;
	uint64_t v = 0;

	/* a no-stop hit's first arguments: from its record's first line, read already */
	if (h->rest && n < RING_LINE0_ARGS)
		return ring_hit_arg(h, n);
	r = hit_regs(h);
	if (arch_regs_arg(r, n, &v))
		return v;
	mem_read(hit_proc(h), arch_stack_arg_addr(r, n), &v, sizeof(v));
	return v;
}

UPROBE_API ssize_t uprobe_hit_read(const struct uprobe_hit *h, uint64_t addr, void *buf,
				   size_t len)
{
	struct proc *mm = proc_mm(hit_proc(h));
	ssize_t n = pread(mm->memfd, buf, len, (off_t)addr);

	if (n < 0)
		return -errno;
	if (n == 0 && len) {
		/* the process is gone: its memory with it */
		errno = ESRCH;
		return -ESRCH;
	}
	/* probes added or removed by a handler are written once it returns: show them already */
	if (mm->batch)
		mem_batch_overlay(mm, addr, buf, (size_t)n);
	return n;
}

UPROBE_API ssize_t uprobe_hit_read_str(const struct uprobe_hit *h, uint64_t addr, char *buf,
				       size_t size)
{
	struct proc *mm = proc_mm(hit_proc(h));
	size_t done = 0;

	if (!buf || !size) {
		errno = EINVAL;
		return -EINVAL;
	}
	while (done < size - 1) {
		/* up to the end of this page: the next one may be unmapped */
		size_t chunk = 4096 - ((addr + done) & 4095);
		char *nul;
		ssize_t n;

		if (chunk > size - 1 - done)
			chunk = size - 1 - done;
		n = pread(mm->memfd, buf + done, chunk, (off_t)(addr + done));
		if (n <= 0) {
			int err = n < 0 ? (errno == EIO ? EFAULT : errno) : ESRCH;

			if (done)
				break; /* cut by an unreadable page: what came before it */
			buf[0] = 0;
			errno = err;
			return -err;
		}
		nul = memchr(buf + done, 0, (size_t)n);
		if (nul)
			return nul - buf + 1;
		done += (size_t)n;
	}
	buf[done] = 0;
	return (ssize_t)done + 1;
}

UPROBE_API ssize_t uprobe_hit_write(const struct uprobe_hit *h, uint64_t addr, const void *buf,
				    size_t len)
{
	int err;

	if (!buf && len) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (!len)
		return 0;
	err = proc_write_data(hit_proc(h), addr, buf, len);
	if (err) {
		errno = -err;
		return err;
	}
	return (ssize_t)len;
}

UPROBE_API bool uprobe_hit_is_return(const struct uprobe_hit *h)
{
	return h->is_return;
}

UPROBE_API bool uprobe_hit_is_post(const struct uprobe_hit *h)
{
	return h->is_post;
}

/* Why h cannot return at once from its function, or NULL when it can. */
static const char *no_override_why(const struct uprobe_hit *h)
{
	if (h->is_async || !h->task)
		return "a no-stop hit: the thread ran on long ago";
	if (h->is_return)
		return "a return handler: the function has returned";
	if (h->is_post)
		return "a post handler: the instruction has run";
	if (h->is_fault)
		return "a fault handler";
	if (!h->probe || !h->probe->site)
		return "a hit of no probe";
	if (h->probe->nostop)
		return "a no-stop probe";
	if (!h->probe->site->func_entry)
		return "a probe that is not at the first instruction of a called function";
	return NULL;
}

/*
 * Whether the thread runs with an x86 CET user shadow stack: a ret then
 * checks its target against the shadow stack, which an override (rip and
 * rsp set as by a ret) would leave one entry behind. Kernels without user
 * shadow stacks have no x86_Thread_features line: none then.
 */
static bool has_shadow_stack(struct task *k)
{
	char line[256];
	const char *v = procfs_task_status_field(k, "x86_Thread_features:", line, sizeof(line));

	return v && strstr(v, "shstk");
}

UPROBE_API int uprobe_hit_override_return(struct uprobe_hit *h, uint64_t value)
{
	const char *why = no_override_why(h), *path, *base;
	uint64_t ra;

	if (why) {
		if (!h->probe || !h->probe->site)
			return tracer_err(h->t, -EINVAL, "cannot override a return value from %s",
					  why);
		path = h->probe->site->elf->path;
		base = strrchr(path, '/');
		return tracer_err(h->t, -EINVAL, "%s: offset 0x%llx: cannot override the return "
				  "value from %s", base ? base + 1 : path,
				  (unsigned long long)h->probe->site->off, why);
	}
	if (has_shadow_stack(h->task))
		return tracer_err(h->t, -EOPNOTSUPP, "tid %d: cannot override a return value in a "
				  "thread with a shadow stack (x86 CET shstk)", h->task->tid);
	if (mem_read(h->task->proc, h->task->regs.rsp, &ra, sizeof(ra)) < 0)
		return tracer_err(h->t, -EFAULT, "tid %d: cannot read the return address at 0x%llx",
				  h->task->tid, (unsigned long long)h->task->regs.rsp);
	h->override = true;
	h->override_value = value;
	return 0;
}

UPROBE_API uint64_t uprobe_hit_retval(const struct uprobe_hit *h)
{
	return arch_regs_retval(hit_regs(h));
}

UPROBE_API int uprobe_hit_xmm(struct uprobe_hit *h, unsigned n, void *buf)
{
	struct user_fpregs_struct fp;

	if (n > 15) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (h->is_async) {
		/* the ring holds the general registers only */
		errno = EOPNOTSUPP;
		return -EOPNOTSUPP;
	}
	if (ptrace(PTRACE_GETFPREGS, h->task->tid, NULL, &fp) < 0)
		return -errno;
	memcpy(buf, &fp.xmm_space[n * 4], 16);
	return 0;
}

UPROBE_API double uprobe_hit_retval_double(struct uprobe_hit *h)
{
	uint8_t b[16];
	double d = 0;

	if (h->is_async && h->is_return) {
		/* a no-stop return's record holds xmm0's low half (ring_deliver.c) */
		memcpy(&d, &h->override_value, sizeof(d));
		return d;
	}
	if (uprobe_hit_xmm(h, 0, b) == 0)
		memcpy(&d, b, sizeof(d));
	return d;
}

UPROBE_API void *uprobe_hit_call_data(struct uprobe_hit *h)
{
	if (!h->inst)
		return NULL;
	for (unsigned i = 0; i < h->inst->nrefs; i++)
		if (h->inst->refs[i].u == h->probe && h->probe->data_size)
			return h->inst->data + h->inst->refs[i].data_off;
	return NULL;
}

UPROBE_API uint64_t uprobe_hit_entry_arg(const struct uprobe_hit *h, unsigned n)
{
	if (!h->inst || n > 5)
		return 0;
	return h->inst->args[n];
}

/*
 * From the end of the entry's handling (dispatch.c's commit_call()) to the
 * moment the tracer saw the return's stop: neither side's handlers nor the
 * tracer's work between the stop and the handler count.
 */
UPROBE_API uint64_t uprobe_hit_duration_ns(const struct uprobe_hit *h)
{
	uint64_t end;

	if (!h->inst || !h->is_return)
		return 0;
	/* a no-stop return: its record's time stamp */
	if (h->is_async)
		end = h->time_ns;
	else
		end = h->task && h->task->stop_ns ? h->task->stop_ns : mono_ns();
	return end > h->inst->entry_ns ? end - h->inst->entry_ns : 0;
}

UPROBE_API uint64_t uprobe_hit_call_id(const struct uprobe_hit *h)
{
	return h->inst ? h->inst->call_id : 0;
}

UPROBE_API int uprobe_hit_usdt(const struct uprobe_hit *h, const char **provider,
			       const char **name)
{
	const struct usdt_site *s = h && h->probe ? h->probe->usdt : NULL;

	if (!s) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (provider)
		*provider = s->provider;
	if (name)
		*name = s->name;
	return s->nargs;
}

static uint64_t reg_word(const struct user_regs_struct *r, uint8_t reg)
{
	return ((const uint64_t *)r)[reg];
}

UPROBE_API int uprobe_hit_usdt_arg(struct uprobe_hit *h, unsigned n, int64_t *value, int *size)
{
	const struct usdt_site *s = h && h->probe ? h->probe->usdt : NULL;
	const struct user_regs_struct *r;
	const struct usdt_arg *a;
	uint64_t raw = 0, addr, bias;
	ssize_t got;

	if (!s || n >= (unsigned)s->nargs || !value) {
		errno = EINVAL;
		return -EINVAL;
	}
	a = &s->args[n];
	r = uprobe_hit_regs(h);
	/* what the file's addresses moved by: 0 for a non-PIE executable */
	bias = h->addr - s->pc;
	switch (a->kind) {
	case USDT_ARG_CONST:
		raw = (uint64_t)a->disp + (a->biased ? bias : 0);
		break;
	case USDT_ARG_REG:
		raw = reg_word(r, a->reg) >> a->reg_shift;
		if (a->reg_width < 8)
			raw &= (1ull << (a->reg_width * 8)) - 1;
		break;
	case USDT_ARG_MEM:
		if (h->is_async) {
			/* the thread ran on: memory is no longer what it was at the probe */
			errno = EOPNOTSUPP;
			return -EOPNOTSUPP;
		}
		addr = (uint64_t)a->disp + (a->biased ? bias : 0);
		if (a->base != USDT_NO_REG)
			addr += reg_word(r, a->base);
		if (a->index != USDT_NO_REG)
			addr += reg_word(r, a->index) * a->scale;
		got = uprobe_hit_read(h, addr, &raw, usdt_arg_bytes(a));
		if (got < 0)
			return got == -EIO ? (errno = EFAULT, -EFAULT) : (int)got;
		if ((size_t)got != usdt_arg_bytes(a)) {
			errno = EFAULT;
			return -EFAULT;
		}
		break;
	}
	*value = usdt_arg_extend(a, raw);
	if (size)
		*size = a->size ? a->size : -(int)usdt_arg_bytes(a);
	return 0;
}
