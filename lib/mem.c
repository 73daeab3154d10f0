// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee memory through /proc/PID/mem: reads, writes that reach read-only text, and writes deferred while every thread is held. */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "os.h"

/*
 * /proc/PID/mem rather than process_vm_writev: a ptrace attacher's writes
 * through it are forced (FOLL_FORCE), so they reach r-x text and our r-x
 * scratch areas, and one pread/pwrite is one system call for any length.
 */
int mem_rw_raw(struct proc *mm, uint64_t addr, void *buf, size_t len, bool write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(mm->memfd, (char *)buf + done, len - done,
					   (off_t)(addr + done))
				  : pread(mm->memfd, (char *)buf + done, len - done,
					  (off_t)(addr + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += n;
	}
	return 0;
}

static int mem_rw(struct proc *p, uint64_t addr, void *buf, size_t len, bool write)
{
	struct proc *mm = proc_mm(p);
	int err;

	if (write && mm->batch)
		mem_batch_before_write(mm); /* queued writes come first */
	err = mem_rw_raw(mm, addr, buf, len, write);
	if (err)
		return err;
	if (write && mm->batch)
		mem_batch_after_write(mm, addr, buf, len);
	else if (mm->batch)
		mem_batch_overlay(mm, addr, buf, len);
	return 0;
}

int mem_read(struct proc *p, uint64_t addr, void *buf, size_t len)
{
	return mem_rw(p, addr, buf, len, false);
}

int mem_write(struct proc *p, uint64_t addr, const void *buf, size_t len)
{
	return mem_rw(p, addr, (void *)buf, len, true);
}

int proc_write_data(struct proc *p, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	n = process_vm_writev(p->pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0 || (errno != ENOSYS && errno != EPERM))
		/* a partial write stopped at a page the program could not write either */
		return n >= 0 || errno == EFAULT ? -EFAULT : -errno;
	return mem_write(p, addr, buf, len);
}

/* ---- writes deferred while every thread is held ---- */

/*
 * Adding a probe writes a 64-byte slot and a one-byte int3, and checks the
 * byte it replaces: three system calls, most of the cost of adding ten
 * thousand probes. While every thread sharing the memory is held in a
 * ptrace-stop nothing can observe the tracee's memory, so the writes are
 * queued and done in one pass before any of those threads can run again
 * (mem_flush() on every resume path): every slot first, then the text, so
 * no thread can meet an int3 whose slot is not written yet. The queue is a
 * log replayed in order; reads see it (mem_batch_overlay()), and the pages
 * read meanwhile are cached with it applied, since nothing else can change
 * them. If some thread runs, writes go straight through as before.
 *
 * Text writes in one page are merged into one write of the span between
 * them (the bytes in between are rewritten with their own values, which
 * no one can change while everything is held); the page is copied on write
 * by the first int3 anyway. Slots are contiguous, one write per run.
 */

#define PAGE 4096ull
/* small enough that what a batch holds is a few bytes per probe, large enough to amortize */
#define BATCH_PAGES 4
#define BATCH_MAX_ENTS 512
#define BATCH_MAX_DATA (16 * 1024)

struct batch_ent {
	uint64_t addr;
	uint32_t off; /* into data */
	uint16_t len;
	uint8_t order; /* enum mem_order */
};

struct mem_batch {
	bool open; /* every thread sharing the memory was held when checked, and none ran since */
	struct batch_ent *ents;
	unsigned n, cap;
	uint8_t *data;
	size_t dlen, dcap;
	uint8_t *pages; /* BATCH_PAGES cached pages, with the queue applied */
	uint64_t page_addr[BATCH_PAGES];
	bool page_valid[BATCH_PAGES];
	unsigned page_next;
};

static bool all_held(struct proc *mm)
{
	struct uprobe_tracer *t = mm->t;

	for (unsigned i = 0; i < TASK_HASH; i++)
		for (struct task *k = t->tasks[i]; k; k = k->hnext)
			if (proc_mm(k->proc) == mm && k->state != TASK_STOPPED)
				return false;
	return true;
}

/* Opens the batch of mm if every thread that shares its memory is held. */
static struct mem_batch *batch_open(struct proc *mm)
{
	struct mem_batch *b = mm->batch;

	if (b && b->open)
		return b;
	if (mm->memfd < 0 || !all_held(mm))
		return NULL;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		mm->batch = b;
	}
	b->open = true;
	return b;
}

/* Applies the bytes of e that fall in [addr, addr + len) to buf. */
static void apply(const struct mem_batch *b, const struct batch_ent *e, uint64_t addr, uint8_t *buf,
		  size_t len)
{
	uint64_t lo = e->addr > addr ? e->addr : addr;
	uint64_t hi = e->addr + e->len < addr + len ? e->addr + e->len : addr + len;

	if (lo < hi)
		memcpy(buf + (lo - addr), b->data + e->off + (lo - e->addr), hi - lo);
}

void mem_batch_overlay(struct proc *mm, uint64_t addr, void *buf, size_t len)
{
	struct mem_batch *b = mm->batch;

	if (!b)
		return;
	for (unsigned i = 0; i < b->n; i++)
		apply(b, &b->ents[i], addr, buf, len);
}

static int cached_page(struct mem_batch *b, uint64_t page)
{
	for (int i = 0; i < BATCH_PAGES; i++)
		if (b->page_valid[i] && b->page_addr[i] == page)
			return i;
	return -1;
}

static void patch_pages(struct mem_batch *b, uint64_t addr, const void *buf, size_t len)
{
	for (int i = 0; b->pages && i < BATCH_PAGES; i++) {
		uint64_t pa = b->page_addr[i];
		uint64_t lo = addr > pa ? addr : pa;
		uint64_t hi = addr + len < pa + PAGE ? addr + len : pa + PAGE;

		if (b->page_valid[i] && lo < hi)
			memcpy(b->pages + i * PAGE + (lo - pa), (const uint8_t *)buf + (lo - addr),
			       hi - lo);
	}
}

static int cmp_ent(const void *pa, const void *pb, void *ctx)
{
	const struct batch_ent *e = ctx;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	if (e[a].order != e[b].order)
		return e[a].order - e[b].order;
	if (e[a].addr != e[b].addr)
		return e[a].addr < e[b].addr ? -1 : 1;
	return a < b ? -1 : a > b; /* queue order last: a later write wins */
}

static int cmp_u32(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return a < b ? -1 : a > b;
}

/* Does the run [lo, hi) need the tracee's own bytes (gaps between writes), or none? */
static bool run_has_gaps(const struct batch_ent *e, const uint32_t *idx, unsigned n, uint64_t lo)
{
	uint64_t covered = lo;

	for (unsigned i = 0; i < n; i++) {
		if (e[idx[i]].addr > covered)
			return true;
		if (e[idx[i]].addr + e[idx[i]].len > covered)
			covered = e[idx[i]].addr + e[idx[i]].len;
	}
	return false;
}

/* Writes one run of queued writes (idx sorted by address) as one write. */
static int write_run(struct proc *mm, struct mem_batch *b, uint32_t *idx, unsigned n, uint64_t lo,
		     uint64_t hi, uint8_t **scratch, size_t *scap)
{
	size_t len = hi - lo;
	bool from_cache = true;
	int err = 0;

	if (len > *scap) {
		uint8_t *s = realloc(*scratch, len);

		if (!s)
			return -ENOMEM;
		*scratch = s;
		*scap = len;
	}
	if (run_has_gaps(b->ents, idx, n, lo)) {
		for (uint64_t pa = lo & ~(PAGE - 1); pa < hi && from_cache; pa += PAGE)
			from_cache = cached_page(b, pa) >= 0;
		if (from_cache) {
			/* the cached pages already hold the queue applied */
			for (uint64_t pa = lo & ~(PAGE - 1); pa < hi; pa += PAGE) {
				uint64_t a = pa > lo ? pa : lo, z = pa + PAGE < hi ? pa + PAGE : hi;

				memcpy(*scratch + (a - lo), b->pages + cached_page(b, pa) * PAGE + (a - pa),
				       z - a);
			}
			goto write;
		}
		err = mem_rw_raw(mm, lo, *scratch, len, false);
		if (err)
			return err;
	}
	/* overlapping writes apply in queue order */
	qsort(idx, n, sizeof(*idx), cmp_u32);
	for (unsigned i = 0; i < n; i++)
		apply(b, &b->ents[idx[i]], lo, *scratch, len);
write:
	return mem_rw_raw(mm, lo, *scratch, len, true);
}

/* Writes every queued write: slots first, then text. The batch stays open. */
static int write_pending(struct proc *mm, struct mem_batch *b)
{
	uint8_t *scratch = NULL;
	size_t scap = 0;
	uint32_t *idx;
	int ret = 0;

	if (!b->n)
		return 0;
	idx = malloc(b->n * sizeof(*idx));
	if (!idx) {
		/* no memory to sort: replay the log as it is, in order */
		for (unsigned i = 0; i < b->n && !ret; i++)
			ret = mem_rw_raw(mm, b->ents[i].addr, b->data + b->ents[i].off, b->ents[i].len, true);
		goto out;
	}
	for (unsigned i = 0; i < b->n; i++)
		idx[i] = i;
	qsort_r(idx, b->n, sizeof(*idx), cmp_ent, b->ents);
	for (unsigned i = 0, j; i < b->n; i = j) {
		const struct batch_ent *first = &b->ents[idx[i]];
		uint64_t lo = first->addr, hi = first->addr + first->len;
		int err;

		for (j = i + 1; j < b->n; j++) {
			const struct batch_ent *e = &b->ents[idx[j]];
			bool same_page = e->addr < ((hi - 1) & ~(PAGE - 1)) + PAGE;

			if (e->order != first->order ||
			    (e->addr > hi && !(first->order == MEM_TEXT && same_page)))
				break;
			if (e->addr + e->len > hi)
				hi = e->addr + e->len;
		}
		err = write_run(mm, b, idx + i, j - i, lo, hi, &scratch, &scap);
		if (err && !ret)
			ret = err;
	}
out:
	if (ret && ret != -ESRCH && ret != -EIO)
		pr_warn("pid %d: deferred write to its memory failed: %s", mm->pid, strerror(-ret));
	free(scratch);
	free(idx);
	b->n = 0;
	b->dlen = 0;
	return ret;
}

int mem_write_deferred(struct proc *p, uint64_t addr, const void *buf, size_t len,
		       enum mem_order order)
{
	struct proc *mm = proc_mm(p);
	struct mem_batch *b;
	struct batch_ent *e;

	if (len > PAGE || !(b = batch_open(mm)))
		return mem_write(p, addr, buf, len);
	if (b->n == BATCH_MAX_ENTS || b->dlen + len > BATCH_MAX_DATA)
		write_pending(mm, b);
	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 64;
		struct batch_ent *v = reallocarray(b->ents, cap, sizeof(*v));

		if (!v)
			return mem_write(p, addr, buf, len);
		b->ents = v;
		b->cap = cap;
	}
	if (b->dlen + len > b->dcap) {
		size_t cap = b->dcap ? b->dcap * 2 : 4096;
		uint8_t *d;

		while (cap < b->dlen + len)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return mem_write(p, addr, buf, len);
		b->data = d;
		b->dcap = cap;
	}
	e = &b->ents[b->n++];
	e->addr = addr;
	e->off = (uint32_t)b->dlen;
	e->len = (uint16_t)len;
	e->order = order;
	memcpy(b->data + b->dlen, buf, len);
	b->dlen += len;
	patch_pages(b, addr, buf, len);
	return 0;
}

int mem_read_cached(struct proc *p, uint64_t addr, void *buf, size_t len)
{
	struct proc *mm = proc_mm(p);
	uint64_t page = addr & ~(PAGE - 1);
	struct mem_batch *b;
	int i;

	if (!len || addr + len > page + PAGE || !(b = batch_open(mm)))
		return mem_read(p, addr, buf, len);
	i = cached_page(b, page);
	if (i < 0) {
		if (!b->pages) {
			b->pages = malloc(BATCH_PAGES * PAGE);
			if (!b->pages)
				return mem_read(p, addr, buf, len);
		}
		i = (int)(b->page_next++ % BATCH_PAGES);
		b->page_valid[i] = false;
		if (mem_rw_raw(mm, page, b->pages + i * PAGE, PAGE, false))
			return mem_read(p, addr, buf, len);
		for (unsigned j = 0; j < b->n; j++)
			apply(b, &b->ents[j], page, b->pages + i * PAGE, PAGE);
		b->page_addr[i] = page;
		b->page_valid[i] = true;
	}
	memcpy(buf, b->pages + i * PAGE + (addr - page), len);
	return 0;
}

void mem_batch_before_write(struct proc *mm)
{
	struct mem_batch *b = mm->batch;

	if (b && b->n)
		write_pending(mm, b);
}

void mem_batch_after_write(struct proc *mm, uint64_t addr, const void *buf, size_t len)
{
	if (mm->batch)
		patch_pages(mm->batch, addr, buf, len);
}

static void batch_close(struct proc *mm, struct mem_batch *b)
{
	write_pending(mm, b);
	b->open = false;
	free(b->ents);
	free(b->data);
	free(b->pages);
	b->ents = NULL;
	b->data = NULL;
	b->pages = NULL;
	b->cap = 0;
	b->dcap = 0;
	memset(b->page_valid, 0, sizeof(b->page_valid));
}

void mem_flush(struct proc *p)
{
	struct proc *mm = proc_mm(p);

	if (mm->batch && mm->batch->open)
		batch_close(mm, mm->batch);
}

void mem_flush_all(struct uprobe_tracer *t)
{
	for (struct proc *p = t->procs; p; p = p->next)
		mem_flush(p);
}

void mem_batch_free(struct proc *p)
{
	if (!p->batch)
		return;
	batch_close(p, p->batch);
	free(p->batch);
	p->batch = NULL;
}
