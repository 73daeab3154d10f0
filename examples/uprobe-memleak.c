// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe-memleak: outstanding heap allocations of a traced process by call stack (public API). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uprobe.h>

#include "tool-common.h"

#define PROG "uprobe-memleak"

/* Exit statuses besides the traced command's own. */
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* Callers recorded per allocation when --stack-depth is not given, and the most allowed. */
#define DEPTH_DEFAULT 16
#define DEPTH_MAX 64
#define TOP_DEFAULT 10

/*
 * Allocator calls one thread may have pending at once, nested in each
 * other (reallocarray -> realloc -> malloc is three); deeper ones count as
 * nested without being remembered.
 */
#define NEST_MAX 16

/* What a probed function does with the heap; its arguments are read by kind. */
enum fn_kind {
	FN_MALLOC,         /* (size) -> ptr; valloc, pvalloc, operator new too */
	FN_CALLOC,         /* (n, size) -> ptr */
	FN_REALLOC,        /* (ptr, size) -> ptr */
	FN_REALLOCARRAY,   /* (ptr, n, size) -> ptr */
	FN_MEMALIGN,       /* (align, size) -> ptr; aligned_alloc */
	FN_POSIX_MEMALIGN, /* (&ptr, align, size) -> 0 or an errno */
	FN_FREE,           /* (ptr); operator delete in every form */
	FN_CATCH,          /* __cxa_begin_catch: calls below the catching frame were unwound */
};

struct fn_desc {
	const char *pattern; /* a name, or a uprobe_symbols() glob for C++'s mangled forms */
	enum fn_kind kind;
};

static const struct fn_desc libc_fns[] = {
	{ "malloc", FN_MALLOC },
	{ "calloc", FN_CALLOC },
	{ "realloc", FN_REALLOC },
	{ "reallocarray", FN_REALLOCARRAY },
	{ "free", FN_FREE },
	{ "posix_memalign", FN_POSIX_MEMALIGN },
	{ "aligned_alloc", FN_MEMALIGN },
	{ "memalign", FN_MEMALIGN },
	{ "valloc", FN_MALLOC },
	{ "pvalloc", FN_MALLOC },
};

/*
 * operator new and new[] (plain, nothrow, aligned, aligned nothrow) take
 * the size first; operator delete and delete[] (plain, sized, nothrow,
 * aligned, and their combinations) the pointer first.
 */
static const struct fn_desc cxx_fns[] = {
	{ "_Znwm*", FN_MALLOC },
	{ "_Znam*", FN_MALLOC },
	{ "_ZdlPv*", FN_FREE },
	{ "_ZdaPv*", FN_FREE },
	{ "__cxa_begin_catch", FN_CATCH },
};

/*
 * One probed function: the handlers' data. addr is where it was last hit,
 * in the process image of generation gen (see new_image()).
 */
struct fn_probe {
	enum fn_kind kind;
	bool libc;      /* a function of libc (or of a static program): unmapped only by exec */
	uint64_t addr;
	unsigned gen;
	struct fn_probe *next;
};

/* A call stack, interned: every allocation made from it points here. Named when first seen. */
struct stack {
	uint32_t hash;
	int n;
	char **frames;  /* n names, "func+0xoff (file)" */
	uint64_t count; /* outstanding allocations, summed at each report */
	uint64_t bytes;
	uint64_t pcs[];
};

/* One outstanding allocation. */
struct alloc {
	uint64_t ptr; /* 0: an empty slot */
	uint64_t size;
	struct stack *st;
};

/* The per-call data of an allocating function's return probe. */
struct call {
	uint64_t rsp;  /* at entry: where its return address is */
	uint64_t size;
	uint64_t arg;  /* realloc: the old pointer; posix_memalign: where the pointer goes */
	struct stack *st;
	struct alloc old; /* realloc: the old pointer's record, put back if the call fails */
	bool nested;   /* made by another allocator (realloc(NULL, n) -> malloc): not counted */
	bool track;    /* counted: not nested, and at least --min-size bytes */
};

/*
 * A thread inside allocators: the stack pointer at each pending call's
 * entry, outermost first. A call is nested when the thread has one pending
 * whose frame encloses it.
 */
struct thread {
	pid_t tid;
	unsigned n;
	uint64_t rsp[NEST_MAX];
};

static struct {
	int depth;
	unsigned top;
	uint64_t min_size;
	unsigned interval;
	int verbose;
	const char *out_path;
	pid_t pid;
	FILE *out;
} opt = { .depth = DEPTH_DEFAULT, .top = TOP_DEFAULT };

static struct uprobe_tracer *tracer;
const char tool_prog[] = PROG;

/* The library's last message, or strerror(err): see tool_lib_error(). */
static const char *lib_error(int err)
{
	return tool_lib_error(tracer, err);
}
static pid_t target;
static volatile sig_atomic_t stop_requested, report_due;
static bool lib_quiet;

/* Outstanding allocations: open addressing, linear probing, deletion by backward shift. */
static struct alloc *allocs;
static size_t nallocs, allocs_cap;

static struct stack **stacks;
static size_t nstacks, stacks_cap;

static struct thread *threads;
static size_t nthreads, threads_cap;

/* Set when memory runs out in a handler: the report would be wrong, so it says so. */
static bool lost;

static struct fn_probe *fn_probes;
/* Process images seen: an exec makes a new one, whose heap starts empty. */
static unsigned image_gen;

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: " PROG " [options] (-p PID | -- COMMAND [ARG...])\n"
		"\n"
		"Traces a process's heap allocations and prints those still outstanding,\n"
		"grouped by call stack, largest total first: at the process's exit, at\n"
		"SIGINT/SIGTERM, and every -i seconds.\n"
		"\n"
		"Traced: malloc, calloc, realloc, reallocarray, free, posix_memalign,\n"
		"aligned_alloc, memalign, valloc, pvalloc of the libc the process maps, and\n"
		"C++ operator new, new[], delete, delete[] in all their forms (sized,\n"
		"nothrow, aligned) when it maps libstdc++, or later loads it. An allocator\n"
		"called by another (realloc(NULL, n) calling malloc, operator new calling\n"
		"malloc) is counted once, as the outer call.\n"
		"\n"
		"options:\n"
		"  -p, --pid PID         attach to a running process (allocations made before\n"
		"                        are not known; frees of them are ignored)\n"
		"  -t, --top N           print the N stacks with the most bytes outstanding\n"
		"                        (default %d; 0: all)\n"
		"  -z, --min-size B      track only allocations of at least B bytes\n"
		"  -d, --stack-depth N   callers recorded per allocation, 1 to %d (default %d)\n"
		"  -i, --interval N      also print the report every N seconds\n"
		"  -o, --output FILE     write the reports to FILE\n"
		"  -v, --verbose         show libuprobe's messages (twice: its debug messages)\n"
		"  -h, --help            this text\n"
		"\n"
		"Each stack is printed as \"BYTES bytes in COUNT allocations from stack\", then\n"
		"one line per frame, the allocator's direct caller first: FUNC+0xOFF (FILE),\n"
		"0xADDR (FILE) or 0xADDR where nothing names it.\n"
		"\n"
		"SIGINT/SIGTERM print the report and stop tracing: the program is detached\n"
		"and goes on unharmed, and a spawned command is waited for.\n"
		"\n"
		"Exit status: the command's own (128+N if killed by signal N); with -p, 0;\n"
		"1 on a runtime error, 2 on a usage error.\n",
		TOP_DEFAULT, DEPTH_MAX, DEPTH_DEFAULT);
}

static int print_fn(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	if (level == UPROBE_DEBUG && opt.verbose < 2)
		return 0;
	if (level == UPROBE_INFO && opt.verbose < 1)
		return 0;
	if (level == UPROBE_WARN && lib_quiet && !opt.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- Text that came from a file or a process ---- */

/* ---- Outstanding allocations ---- */

static size_t ptr_slot(uint64_t ptr, size_t cap)
{
	/* heap pointers share their low bits: mix them all in (Fibonacci hashing) */
	return (size_t)((ptr * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static struct alloc *alloc_find(uint64_t ptr)
{
	if (!allocs_cap)
		return NULL;
	for (size_t i = ptr_slot(ptr, allocs_cap);; i = (i + 1) & (allocs_cap - 1)) {
		if (!allocs[i].ptr)
			return NULL;
		if (allocs[i].ptr == ptr)
			return &allocs[i];
	}
}

static int allocs_grow(void)
{
	size_t cap = allocs_cap ? allocs_cap * 2 : 1024;
	struct alloc *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < allocs_cap; i++) {
		size_t j;

		if (!allocs[i].ptr)
			continue;
		for (j = ptr_slot(allocs[i].ptr, cap); n[j].ptr; j = (j + 1) & (cap - 1))
			;
		n[j] = allocs[i];
	}
	free(allocs);
	allocs = n;
	allocs_cap = cap;
	return 0;
}

/*
 * Records ptr. A pointer already recorded was freed behind our back (by a
 * function not traced, or before an attach): the new record replaces it.
 */
static void alloc_add(uint64_t ptr, uint64_t size, struct stack *st)
{
	struct alloc *a = alloc_find(ptr);
	size_t i;

	if (a) {
		a->size = size;
		a->st = st;
		return;
	}
	if ((nallocs + 1) * 2 > allocs_cap && allocs_grow()) {
		lost = true;
		return;
	}
	for (i = ptr_slot(ptr, allocs_cap); allocs[i].ptr; i = (i + 1) & (allocs_cap - 1))
		;
	allocs[i] = (struct alloc){ .ptr = ptr, .size = size, .st = st };
	nallocs++;
}

/* Forgets ptr; its record in *old when asked. False when it was not outstanding. */
static bool alloc_del(uint64_t ptr, struct alloc *old)
{
	struct alloc *a = alloc_find(ptr);
	size_t hole, i, mask = allocs_cap - 1;

	if (!a)
		return false;
	if (old)
		*old = *a;
	/* backward shift: entries after the hole that may move into it do */
	hole = (size_t)(a - allocs);
	for (i = (hole + 1) & mask; allocs[i].ptr; i = (i + 1) & mask) {
		size_t home = ptr_slot(allocs[i].ptr, allocs_cap);

		if (((i - home) & mask) >= ((i - hole) & mask)) {
			allocs[hole] = allocs[i];
			hole = i;
		}
	}
	allocs[hole].ptr = 0;
	nallocs--;
	return true;
}

static void allocs_clear(void)
{
	if (allocs)
		memset(allocs, 0, allocs_cap * sizeof(*allocs));
	nallocs = 0;
}

/* ---- Stacks ---- */

static uint32_t stack_hash(const uint64_t *pcs, int n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < n; i++)
		h = (h ^ pcs[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static int stacks_grow(void)
{
	size_t cap = stacks_cap ? stacks_cap * 2 : 256;
	struct stack **n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < stacks_cap; i++) {
		size_t j;

		if (!stacks[i])
			continue;
		for (j = stacks[i]->hash & (cap - 1); n[j]; j = (j + 1) & (cap - 1))
			;
		n[j] = stacks[i];
	}
	free(stacks);
	stacks = n;
	stacks_cap = cap;
	return 0;
}

static struct stack *stack_new(pid_t pid, const uint64_t *pcs, int n, uint32_t hash)
{
	struct stack *st = calloc(1, sizeof(*st) + (size_t)n * sizeof(pcs[0]));

	if (!st)
		return NULL;
	st->frames = calloc((size_t)n + 1, sizeof(*st->frames));
	if (!st->frames) {
		free(st);
		return NULL;
	}
	st->hash = hash;
	st->n = n;
	memcpy(st->pcs, pcs, (size_t)n * sizeof(pcs[0]));
	/* named now: at the report the process may be gone, or have unloaded the library */
	for (int i = 0; i < n; i++)
		st->frames[i] = tool_frame_text(tracer, pid, pcs[i], UPROBE_FRAME_CALLER);
	return st;
}

/* The interned stack of callers pcs[0..n), or NULL when memory ran out. */
static struct stack *stack_intern(pid_t pid, const uint64_t *pcs, int n)
{
	uint32_t hash = stack_hash(pcs, n);
	size_t i;

	if ((nstacks + 1) * 2 > stacks_cap && stacks_grow())
		return NULL;
	for (i = hash & (stacks_cap - 1); stacks[i]; i = (i + 1) & (stacks_cap - 1)) {
		struct stack *st = stacks[i];

		if (st->hash == hash && st->n == n && !memcmp(st->pcs, pcs, (size_t)n * sizeof(*pcs)))
			return st;
	}
	stacks[i] = stack_new(pid, pcs, n, hash);
	if (stacks[i])
		nstacks++;
	return stacks[i];
}

/* The allocator's callers, --stack-depth of them (frame 0, the allocator itself, is left out). */
static struct stack *hit_stack(struct uprobe_hit *h)
{
	uint64_t pcs[DEPTH_MAX + 1];
	int n = uprobe_hit_backtrace(h, pcs, opt.depth + 1);

	return stack_intern(uprobe_hit_pid(h), pcs + 1, n > 1 ? n - 1 : 0);
}

/* ---- Nesting ---- */

static struct thread *thread_get(pid_t tid, bool create)
{
	for (size_t i = 0; i < nthreads; i++)
		if (threads[i].tid == tid)
			return &threads[i];
	if (!create)
		return NULL;
	if (nthreads == threads_cap) {
		size_t cap = threads_cap ? threads_cap * 2 : 16;
		struct thread *n = realloc(threads, cap * sizeof(*n));

		if (!n)
			return NULL;
		threads = n;
		threads_cap = cap;
	}
	threads[nthreads] = (struct thread){ .tid = tid };
	return &threads[nthreads++];
}

/* A thread out of every allocator is forgotten: the list holds only threads inside one. */
static void thread_put(struct thread *th)
{
	if (th->n)
		return;
	*th = threads[--nthreads];
}

/*
 * Forgets the thread's pending calls whose return-address slot is below
 * `below` (or at it, with `at`): their frames are gone. A call's frame
 * encloses every call it makes, whose slots are lower; a tail call (new[]
 * jumping to new) shares its slot.
 */
static void thread_drop(struct thread *th, uint64_t below, bool at)
{
	while (th->n && (th->rsp[th->n - 1] < below || (at && th->rsp[th->n - 1] == below)))
		th->n--;
}

/*
 * At an allocator's entry: whether another allocator's call on this thread
 * encloses it. Calls recorded below the current stack pointer have ended
 * without a return we saw (an exception unwound them: see FN_CATCH).
 */
static bool nested_enter(pid_t tid, uint64_t rsp)
{
	struct thread *th = thread_get(tid, true);
	bool nested;

	if (!th) {
		lost = true;
		return false;
	}
	/* deeper than rsp: those frames are gone */
	while (th->n && th->rsp[th->n - 1] < rsp)
		th->n--;
	nested = th->n > 0;
	if (th->n < NEST_MAX)
		th->rsp[th->n++] = rsp;
	return nested;
}

static void nested_leave(pid_t tid, uint64_t rsp)
{
	struct thread *th = thread_get(tid, false);

	if (!th)
		return;
	thread_drop(th, rsp, true);
	thread_put(th);
}

/* ---- Exec ---- */

/*
 * Whether the process exec'd since fp was last hit at fp->addr: its libc
 * function moved, and nothing starts at the old address any more. Under
 * address randomization every exec moves libc; a second libc (dlmopen)
 * leaves the first where it was. An exec that maps libc where it was
 * (randomization off) is not seen. libstdc++'s functions do not tell: a
 * dlclose and a dlopen move them too.
 */
static bool exec_seen(struct uprobe_hit *h, struct fn_probe *fp)
{
	uint64_t addr = uprobe_hit_addr(h);
	struct uprobe_sym_info si;
	bool moved;

	if (!fp->libc || (fp->gen == image_gen && fp->addr == addr))
		return false;
	moved = fp->gen == image_gen && fp->addr &&
		(uprobe_tracer_symbolize(tracer, uprobe_hit_pid(h), fp->addr, &si) || !si.name ||
		 si.sym_addr != fp->addr);
	if (moved)
		image_gen++;
	fp->addr = addr;
	fp->gen = image_gen;
	return moved;
}

/* Every hit first: after an exec, the old image's blocks and pending calls are gone. */
static void check_image(struct uprobe_hit *h, struct fn_probe *fp)
{
	if (!exec_seen(h, fp))
		return;
	allocs_clear();
	nthreads = 0;
}

/* ---- Handlers ---- */

static uint64_t mul_size(uint64_t a, uint64_t b, bool *overflow)
{
	uint64_t r;

	*overflow = __builtin_mul_overflow(a, b, &r);
	return r;
}

/*
 * The size an allocating call asks for; false when it cannot succeed (n *
 * size overflows), with *size UINT64_MAX: a realloc that fails so keeps its
 * block, where one to 0 bytes frees it.
 */
static bool call_size(struct uprobe_hit *h, enum fn_kind kind, uint64_t *size)
{
	bool overflow = false;

	switch (kind) {
	case FN_CALLOC:
		*size = mul_size(uprobe_hit_arg(h, 0), uprobe_hit_arg(h, 1), &overflow);
		break;
	case FN_REALLOC:
	case FN_MEMALIGN:
		*size = uprobe_hit_arg(h, 1);
		break;
	case FN_REALLOCARRAY:
		*size = mul_size(uprobe_hit_arg(h, 1), uprobe_hit_arg(h, 2), &overflow);
		break;
	case FN_POSIX_MEMALIGN:
		*size = uprobe_hit_arg(h, 2);
		break;
	default:
		*size = uprobe_hit_arg(h, 0);
	}
	if (overflow)
		*size = UINT64_MAX;
	return !overflow;
}

static int on_alloc_entry(struct uprobe_hit *h, void *data)
{
	struct fn_probe *fp = data;
	enum fn_kind kind = fp->kind;
	struct call *c = uprobe_hit_call_data(h);

	check_image(h, fp);
	if (!c)
		return 0;
	c->rsp = uprobe_hit_regs(h)->rsp;
	c->nested = nested_enter(uprobe_hit_tid(h), c->rsp);
	if (c->nested)
		return 0;
	c->track = call_size(h, kind, &c->size) && c->size >= opt.min_size;
	if (kind == FN_REALLOC || kind == FN_REALLOCARRAY) {
		/*
		 * The old block leaves the table now, while it is the caller's:
		 * once realloc frees it another thread may get it, and its record
		 * must not be taken for ours. A failed call puts it back.
		 */
		c->arg = uprobe_hit_arg(h, 0);
		if (c->arg && !alloc_del(c->arg, &c->old))
			c->old.ptr = 0;
	} else if (kind == FN_POSIX_MEMALIGN) {
		c->arg = uprobe_hit_arg(h, 0);
	}
	if (c->track)
		c->st = hit_stack(h);
	return 0;
}

static int on_alloc_return(struct uprobe_hit *h, void *data)
{
	enum fn_kind kind = ((struct fn_probe *)data)->kind;
	struct call *c = uprobe_hit_call_data(h);
	uint64_t ret = uprobe_hit_retval(h);

	if (!c)
		return 0;
	nested_leave(uprobe_hit_tid(h), c->rsp);
	if (c->nested)
		return 0;
	if (kind == FN_POSIX_MEMALIGN) {
		/* 0 and the pointer stored through its first argument, or an errno */
		if ((int)ret != 0 || uprobe_hit_read(h, c->arg, &ret, sizeof(ret)) != sizeof(ret))
			ret = 0;
	}
	if ((kind == FN_REALLOC || kind == FN_REALLOCARRAY) && c->old.ptr && !ret && c->size) {
		/* failed: the old block is still the caller's */
		alloc_add(c->old.ptr, c->old.size, c->old.st);
		return 0;
	}
	if (ret && c->track)
		alloc_add(ret, c->size, c->st);
	return 0;
}

/*
 * free and operator delete: even when another allocator calls them
 * (realloc(p, 0) calls free; delete calls free), the pointer is freed, and
 * forgetting it twice is harmless.
 */
static int on_free(struct uprobe_hit *h, void *data)
{
	uint64_t ptr = uprobe_hit_arg(h, 0);

	check_image(h, data);
	if (ptr)
		alloc_del(ptr, NULL);
	return 0;
}

/*
 * A C++ catch: calls the exception unwound (operator new throwing
 * bad_alloc) never return through their return probes. Their return
 * address slots are at or below the catching frame's, where the call of
 * __cxa_begin_catch put its own.
 */
static int on_catch(struct uprobe_hit *h, void *data)
{
	struct thread *th = thread_get(uprobe_hit_tid(h), false);

	if (th) {
		thread_drop(th, uprobe_hit_regs(h)->rsp, true);
		thread_put(th);
	}
	return 0;
}

/* ---- Adding probes ---- */

struct sym_list {
	char **names;
	uint64_t *offs;
	size_t n, cap;
};

static int collect_sym(const struct uprobe_sym *sym, void *ctx)
{
	struct sym_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **names = realloc(l->names, cap * sizeof(*names));
		uint64_t *offs;

		if (!names)
			return -ENOMEM;
		l->names = names;
		offs = realloc(l->offs, cap * sizeof(*offs));
		if (!offs)
			return -ENOMEM;
		l->offs = offs;
		l->cap = cap;
	}
	l->names[l->n] = strdup(sym->name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->offs[l->n++] = sym->offset;
	return 0;
}

/* File offsets already probed: aliases (aligned_alloc and memalign are one function in glibc). */
struct seen {
	uint64_t offs[64];
	size_t n;
};

static bool seen_before(struct seen *s, uint64_t off)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->offs[i] == off)
			return true;
	if (s->n < sizeof(s->offs) / sizeof(s->offs[0]))
		s->offs[s->n++] = off;
	return false;
}

/*
 * Probes one function. binary: the path, or with pending the library
 * name the probe waits for. 0, or -1 after printing the one-line error.
 */
static int add_fn(const char *binary, const char *name, enum fn_kind kind, bool pending,
		  bool libc)
{
	struct fn_probe *fp = calloc(1, sizeof(*fp));
	struct uprobe *up;
	UPROBE_OPTS(uprobe_opts, o, .data = fp, .pending = pending);

	if (!fp) {
		tool_errline("out of memory");
		return -1;
	}
	fp->kind = kind;
	fp->libc = libc;
	fp->next = fn_probes;
	fn_probes = fp;

	switch (kind) {
	case FN_FREE:
		o.handler = on_free;
		break;
	case FN_CATCH:
		o.handler = on_catch;
		break;
	default:
		o.handler = on_alloc_entry;
		o.ret_handler = on_alloc_return;
		o.data_size = sizeof(struct call);
	}
	errno = 0;
	up = uprobe_add(tracer, binary, name, 0, &o);
	if (!up) {
		tool_errline("%s:%s: %s", binary, name, lib_error(errno ? -errno : -EINVAL));
		return -1;
	}
	return 0;
}

/*
 * Probes every function of fns that file defines (those of libc it does
 * not, reallocarray before glibc 2.26, are left out). binary: as
 * uprobe_add() takes it (the tracee's path, or a library name the probes
 * wait for); file: the same file as we open it. 0, or -1 after printing
 * the one-line error.
 */
static int add_fns(const char *binary, const char *file, const struct fn_desc *fns, size_t nfns,
		   bool pending, bool libc)
{
	struct seen seen = {};
	int ret = 0;

	for (size_t i = 0; i < nfns && !ret; i++) {
		struct sym_list l = {};
		int err = uprobe_symbols(file, fns[i].pattern, collect_sym, &l);

		if (err) {
			tool_errline("%s: %s", binary, strerror(-err));
			ret = -1;
		}
		for (size_t j = 0; j < l.n; j++) {
			if (!ret && !seen_before(&seen, l.offs[j]))
				ret = add_fn(binary, l.names[j], fns[i].kind, pending, libc);
			free(l.names[j]);
		}
		free(l.names);
		free(l.offs);
	}
	return ret;
}

/*
 * The file process pid maps under a library name (uprobe_lib_path()), as
 * the tracee names it (what uprobe_add() takes); NULL when none.
 */
static char *mapped_lib(pid_t pid, const char *name)
{
	char buf[PATH_MAX], root[64];
	int n = snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);

	if (uprobe_lib_path(tracer, pid, name, buf, sizeof(buf)))
		return NULL;
	return strdup(strncmp(buf, root, (size_t)n) ? buf : buf + n);
}

/* libstdc++ where the dynamic linker would find it for a later dlopen, or NULL. */
static char *libstdcxx_file(void)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
					    "/lib64", "/usr/lib64", "/lib", "/usr/lib" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *path;
		struct stat st;

		if (asprintf(&path, "%s/libstdc++.so.6", dirs[i]) < 0)
			return NULL;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			return path;
		free(path);
	}
	return NULL;
}

static bool defines(const char *path, const char *name)
{
	struct sym_list l = {};
	bool found;

	found = uprobe_symbols(path, name, collect_sym, &l) == 0 && l.n;
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	free(l.offs);
	return found;
}

/* A path of process pid as we can open it: through /proc/PID/root (a container's files). */
static char *our_path(pid_t pid, const char *path)
{
	char *p;

	return asprintf(&p, "/proc/%d/root%s", (int)pid, path) < 0 ? NULL : p;
}

/* The executable of pid, as it names it; NULL when unknown. */
static char *exe_path(pid_t pid)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0 || buf[0] != '/')
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

#define NFNS(a) (sizeof(a) / sizeof((a)[0]))

static int add_probes(pid_t pid)
{
	char *libc = mapped_lib(pid, "libc"), *cxx = mapped_lib(pid, "libstdc++");
	char *file = NULL;
	int ret = -1;

	lib_quiet = true;
	/* a static program has its malloc in the executable */
	if (!libc) {
		libc = exe_path(pid);
		file = libc ? our_path(pid, libc) : NULL;
	} else {
		file = our_path(pid, libc);
	}
	if (!libc || !file || !defines(file, "malloc")) {
		tool_errline("pid %d maps no libc that defines malloc: nothing to trace", (int)pid);
		goto out;
	}
	if (add_fns(libc, file, libc_fns, NFNS(libc_fns), false, true))
		goto out;
	free(file);
	if (cxx) {
		file = our_path(pid, cxx);
		ret = file ? add_fns(cxx, file, cxx_fns, NFNS(cxx_fns), false, false) : -1;
		goto out;
	}
	/*
	 * A C++ plugin the program may dlopen later: the probes wait for
	 * libstdc++. By the name "libstdc++", which the library matches with
	 * libstdc++.so.6.0.30 as the maps name it.
	 */
	file = libstdcxx_file();
	ret = file ? add_fns("libstdc++", file, cxx_fns, NFNS(cxx_fns), true, false) : 0;
out:
	lib_quiet = false;
	free(libc);
	free(cxx);
	free(file);
	return ret;
}

/* ---- The report ---- */

static int cmp_stack(const void *a, const void *b)
{
	const struct stack *x = *(struct stack *const *)a, *y = *(struct stack *const *)b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return 0;
}

static void print_stack(const struct stack *st)
{
	fprintf(opt.out, "%" PRIu64 " bytes in %" PRIu64 " allocations from stack\n", st->bytes,
		st->count);
	if (!st->n)
		fputs("    (no stack)\n", opt.out);
	for (int i = 0; i < st->n; i++) {
		fputs("    ", opt.out);
		tool_fput_text(opt.out, st->frames[i] ? st->frames[i] : "?");
		fputc('\n', opt.out);
	}
	fputc('\n', opt.out);
}

/* Outstanding allocations by stack, largest total first. */
static void write_report(const char *why)
{
	struct stack **v = NULL, *none = NULL;
	uint64_t bytes = 0, shown_bytes = 0, shown_count = 0;
	size_t nv = 0, show;
	char when[32];
	time_t now = time(NULL);

	for (size_t i = 0; i < stacks_cap; i++)
		if (stacks[i])
			stacks[i]->count = stacks[i]->bytes = 0;
	for (size_t i = 0; i < allocs_cap; i++) {
		struct alloc *a = &allocs[i];

		if (!a->ptr)
			continue;
		bytes += a->size;
		if (!a->st) {
			/* a stack we had no memory to keep */
			if (!none)
				none = calloc(1, sizeof(*none));
			if (none) {
				none->count++;
				none->bytes += a->size;
			}
			continue;
		}
		a->st->count++;
		a->st->bytes += a->size;
	}
	v = calloc(nstacks + 1, sizeof(*v));
	for (size_t i = 0; v && i < stacks_cap; i++)
		if (stacks[i] && stacks[i]->count)
			v[nv++] = stacks[i];
	if (v && none)
		v[nv++] = none;
	if (v)
		qsort(v, nv, sizeof(*v), cmp_stack);
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	fprintf(opt.out,
		"[%s] pid %d, %s: %zu outstanding allocations, %" PRIu64 " bytes, from %zu stacks\n",
		when, (int)target, why, nallocs, bytes, nv);
	if (lost)
		fputs("(out of memory in the tracer: allocations were missed)\n", opt.out);
	fputc('\n', opt.out);
	show = opt.top && opt.top < nv ? opt.top : nv;
	for (size_t i = 0; i < show; i++) {
		print_stack(v[i]);
		shown_bytes += v[i]->bytes;
		shown_count += v[i]->count;
	}
	if (show < nv)
		fprintf(opt.out,
			"%zu more stacks, %" PRIu64 " bytes in %" PRIu64 " allocations, not shown"
			" (--top)\n\n",
			nv - show, bytes - shown_bytes, nallocs - shown_count);
	fflush(opt.out);
	free(none);
	free(v);
}

/*
 * The report, with our signals held: handlers installed without
 * SA_RESTART would cut a write to a pipe or a terminal short (-i's
 * SIGALRM every N seconds). They are delivered after it. why: "exit",
 * "SIGINT", "interval"...
 */
static void report(const char *why)
{
	sigset_t hold, old;

	sigemptyset(&hold);
	sigaddset(&hold, SIGALRM);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGPIPE);
	sigprocmask(SIG_BLOCK, &hold, &old);
	write_report(why);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ---- Main ---- */

static void on_signal(int sig)
{
	stop_requested = sig;
	uprobe_tracer_stop(tracer);
}

static void on_alarm(int sig)
{
	report_due = 1;
	uprobe_tracer_stop(tracer);
}

/* Everything the tracer kept: a sanitized build checks for leaks of our own. */
static void free_all(void)
{
	for (size_t i = 0; i < stacks_cap; i++) {
		if (!stacks[i])
			continue;
		for (int j = 0; j < stacks[i]->n; j++)
			free(stacks[i]->frames[j]);
		free(stacks[i]->frames);
		free(stacks[i]);
	}
	free(stacks);
	free(allocs);
	free(threads);
	while (fn_probes) {
		struct fn_probe *next = fn_probes->next;

		free(fn_probes);
		fn_probes = next;
	}
}

static int give_up(pid_t child)
{
	if (child > 0)
		kill(child, SIGKILL);
	uprobe_tracer_free(tracer);
	tracer = NULL;
	free_all();
	if (child > 0)
		tool_wait_child(child);
	return EXIT_RUNTIME;
}

static void parse_options(int argc, char **argv, int dashdash)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "top", required_argument, NULL, 't' },
		{ "min-size", required_argument, NULL, 'z' },
		{ "stack-depth", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(dashdash, argv, ":p:t:z:d:i:o:vh", longopts, NULL)) != -1) {
		uint64_t v;

		switch (c) {
		case 'p':
			if (!tool_parse_u64(optarg, &v) || !v || v > INT_MAX)
				tool_usage_error("bad pid '%s'", optarg);
			opt.pid = (pid_t)v;
			break;
		case 't':
			if (!tool_parse_u64(optarg, &v) || v > UINT_MAX)
				tool_usage_error("bad --top '%s' (expected a count, 0 for all)", optarg);
			opt.top = (unsigned)v;
			break;
		case 'z':
			if (!tool_parse_u64(optarg, &v))
				tool_usage_error("bad --min-size '%s' (expected bytes)", optarg);
			opt.min_size = v;
			break;
		case 'd':
			if (!tool_parse_u64(optarg, &v) || !v || v > DEPTH_MAX)
				tool_usage_error("bad --stack-depth '%s' (expected 1 to %d)", optarg,
					    DEPTH_MAX);
			opt.depth = (int)v;
			break;
		case 'i':
			if (!tool_parse_u64(optarg, &v) || !v || v > 86400)
				tool_usage_error("bad --interval '%s' (expected 1 to 86400 seconds)",
					    optarg);
			opt.interval = (unsigned)v;
			break;
		case 'o':
			opt.out_path = optarg;
			break;
		case 'v':
			opt.verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				tool_usage_error("unknown option '-%c'", optopt);
			tool_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < dashdash)
		tool_usage_error("unexpected argument '%s' (the command goes after --)", argv[optind]);
}

/* The --interval reports: SIGALRM, without SA_RESTART either (see tool_catch_signals()). */
static void catch_alarm(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
}

/* Spawns or attaches. 0, or an exit status to return with after the one-line error. */
static int start(char **command, pid_t *child, int *code)
{
	int err;

	lib_quiet = true;
	fflush(NULL);
	if (command) {
		UPROBE_OPTS(uprobe_spawn_opts, so, .sigmask = &tool_orig_mask,
			    .sigignore = &tool_orig_ignored);

		err = uprobe_tracer_spawn_opts(tracer, command, child, &so);
		lib_quiet = false;
		if (err && *child > 0) {
			*code = tool_spawn_ended(&tracer, err, *child);
			return -1;
		}
		if (err) {
			tool_errline("%s", lib_error(err));
			*code = give_up(0);
			return -1;
		}
		target = *child;
		return 0;
	}
	if (tool_refuse_ancestor(opt.pid)) {
		*code = give_up(0);
		return -1;
	}
	err = uprobe_tracer_attach(tracer, opt.pid);
	lib_quiet = false;
	if (err) {
		tool_errline("%s", lib_error(err));
		*code = give_up(0);
		return -1;
	}
	target = opt.pid;
	return 0;
}

/* Runs until the process exits or a signal stops us; reports every -i seconds meanwhile. */
static int trace(void)
{
	struct itimerval it = {};
	int err = 0;

	if (opt.interval) {
		it.it_interval.tv_sec = opt.interval;
		it.it_value.tv_sec = opt.interval;
		setitimer(ITIMER_REAL, &it, NULL);
	}
	while (!stop_requested) {
		err = uprobe_tracer_run(tracer);
		if (err < 0 || !report_due || uprobe_tracer_exit_status(tracer, target) >= 0)
			break;
		report_due = 0;
		report("interval");
	}
	if (opt.interval) {
		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_REAL, &it, NULL);
	}
	return err;
}

int main(int argc, char **argv)
{
	char **command = NULL;
	int dashdash = argc, err, code = 0;
	pid_t child = 0;
	bool detached = true;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dashdash = i;
			break;
		}
	}
	parse_options(argc, argv, dashdash);
	if (dashdash + 1 < argc)
		command = &argv[dashdash + 1];
	if (opt.pid && command)
		tool_usage_error("both -p and a command given");
	if (!opt.pid && !command)
		tool_usage_error("no command given (use -p PID or -- COMMAND [ARG...])");

	uprobe_set_print(print_fn);
	opt.out = stdout;
	if (opt.out_path) {
		opt.out = fopen(opt.out_path, "we");
		if (!opt.out) {
			tool_errline("%s: %s", opt.out_path, strerror(errno));
			return EXIT_RUNTIME;
		}
	}
	tracer = uprobe_tracer_new();
	if (!tracer) {
		tool_errline("%s", strerror(errno));
		return EXIT_RUNTIME;
	}
	tool_catch_signals(on_signal, true);
	catch_alarm();
	if (start(command, &child, &code))
		return code;
	if (add_probes(target))
		return give_up(command ? child : 0);

	err = stop_requested ? 0 : trace();
	if (err < 0)
		tool_errline("%s", lib_error(err));
	if (stop_requested || err < 0) {
		/* the report first: the process is still ours, and stands still for it */
		report(stop_requested == SIGINT ? "SIGINT" : stop_requested == SIGTERM ? "SIGTERM" :
			stop_requested ? "signal" : "error");
		err = uprobe_tracer_detach(tracer);
		if (err < 0) {
			tool_errline("detach: %s", lib_error(err));
			detached = false;
		}
	} else {
		report("exit");
	}
	if (fflush(opt.out) || (opt.out != stdout && fclose(opt.out))) {
		tool_errline("%s: %s", opt.out_path ? opt.out_path : "stdout", strerror(errno));
		err = -EIO;
	}
	code = err < 0 ? EXIT_RUNTIME : 0;
	if (command) {
		int status = uprobe_tracer_exit_status(tracer, child);

		if (status >= 0)
			status = tool_status_to_exit(status);
		else if (detached)
			status = tool_wait_child(child);
		if (!code)
			code = status >= 0 ? status : EXIT_RUNTIME;
	}
	uprobe_tracer_free(tracer);
	free_all();
	return code;
}
