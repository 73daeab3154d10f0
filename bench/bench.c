// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe-bench: ns per hit of libuprobe against a raw ptrace floor and kernel uprobes; registration cost. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uprobe.h>

#define REPS 3
#define DEFAULT_HITS 30000
#define NOPROBE_FACTOR 100 /* the bare loop is ~ns per call: run it longer to see it */
#define KGROUP "uprobe_bench"
#define MAX_ROWS 64
#define NFUNCS 6

/* bench_big in bench_funcs.S: groups of four instructions, 14 bytes each. */
#define BIG_GROUPS 2600
#define BIG_GROUP_LEN 14
static const uint8_t big_group[BIG_GROUP_LEN] = {
	0x48, 0x83, 0xc0, 0x01,       /* add $1,%rax */
	0x48, 0x89, 0xc2,             /* mov %rax,%rdx */
	0x48, 0x8d, 0x4c, 0x24, 0x08, /* lea 8(%rsp),%rcx */
	0x31, 0xc9,                   /* xor %ecx,%ecx */
};
static const uint8_t big_starts[4] = { 0, 4, 7, 12 };

struct func {
	const char *name;  /* argv[1] of the target, and the kernel event's name suffix */
	const char *sym;
	uint64_t sym_off;  /* the probe is at sym + sym_off */
	const char *what;  /* the instruction, for the row label */
	uint64_t file_off; /* from the ELF, for the kernel's p:...:0xOFFSET */
};

static struct func funcs[NFUNCS] = {
	{ "push", "bench_push", 0, "push %rbp (entry)" },
	{ "endbr", "bench_endbr", 0, "endbr64 (entry)" },
	{ "riprel", "bench_riprel", 0, "mov x(%rip),%rax (entry)" },
	{ "call", "bench_call", 0, "call rel32 (entry)" },
	{ "mid", "bench_mid", 4, "add %rdi,%rax (mid-function)" },
	/* the kernel optimizes a uprobe on a nop5 (6.18): the row no-stop probes must beat */
	{ "nop5", "bench_nop5", 0, "nop5 (entry)" },
};
#define NOP5 5 /* funcs[NOP5] */

enum unit { U_NS_CALL, U_NS_HIT, U_MS };

struct row {
	char label[64];
	enum unit unit;
	const char *count_what; /* "calls", "hits", "probes" */
	uint64_t count;         /* what one repetition did (hits as counted, not as asked) */
	double v[REPS];
	int nv;
	char note[160];
	char how[48];           /* libuprobe rows: "detour" or "int3", how the probe was hit */
	int kfunc;              /* no-stop rows: 1 + index in funcs[], for the "x kernel" ratio */
	int delivered;          /* no-stop rows: runs with every call's hit delivered */
};

struct placement {
	const char *name;
	bool pinned;
	struct row rows[MAX_ROWS];
	int nrows;
	int floor_row, regs_row; /* indices of the two floor rows */
};

static char target_path[PATH_MAX + 32];
static uint64_t nhits = DEFAULT_HITS;
static cpu_set_t orig_mask;
static int pin_cpu = -1;
static bool cur_pinned;
static int only_func = -1; /* --func: the index in funcs[] of the only function measured */

/* Are the rows of funcs[i] measured (--func)? */
static bool func_wanted(int i)
{
	return only_func < 0 || only_func == i;
}

static volatile sig_atomic_t timed_out;
static struct uprobe_tracer *volatile cur_tracer;
static volatile pid_t cur_child; /* a plain (untraced) child to kill on SIGINT */

/* tracefs state, prepared beforehand so the signal handler can undo it with write() alone */
static char tracefs[64];
static bool kevents_live;
static char kev_enable[NFUNCS][160];
static char kev_remove[NFUNCS][64];
static bool kret_live;
static void kret_remove(void);

static int empty_handler(struct uprobe_hit *h, void *data)
{
	return 0;
}

/* No-stop rows: every hit the handler saw, and those delivered from the ring. */
struct hit_count {
	uint64_t hits;
	uint64_t async;
	uint64_t sink; /* what regs_handler() read, so that it is read */
};

static int count_handler(struct uprobe_hit *h, void *data)
{
	struct hit_count *c = data;

	c->hits++;
	if (uprobe_hit_is_async(h))
		c->async++;
	return 0;
}

/*
 * count_handler() that also reads every register of the hit: the tracer
 * then reads the whole record, not only its first line (the row beside
 * the plain no-stop one says what a handler that looks at everything pays).
 */
static int regs_handler(struct uprobe_hit *h, void *data)
{
	struct hit_count *c = data;
	const struct user_regs_struct *r = uprobe_hit_regs(h);

	c->sink += r->rbx ^ r->rbp ^ r->r12 ^ r->r15 ^ r->rsp ^ r->eflags ^ r->r9;
	return count_handler(h, data);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The tracer thread's own CPU time: what registration costs, apart from waiting for a CPU. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned timeout_for(uint64_t hits)
{
	/* ~15 µs a hit expected; allow more than ten times that */
	return 10 + (unsigned)(hits / 5000);
}

/* ---- signals: bounded waits, cleanup on interrupt ---- */

static void on_alarm(int sig)
{
	timed_out = 1;
	if (cur_tracer)
		uprobe_tracer_stop(cur_tracer);
}

static int write_str(const char *path, const char *s, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 0;
}

/* Disables and deletes only our own events. Async-signal-safe: open/write/close. */
static void kevents_remove(void)
{
	char events[96];

	if (!tracefs[0])
		return;
	for (int i = 0; i < NFUNCS; i++)
		if (kev_enable[i][0])
			write_str(kev_enable[i], "0", O_TRUNC);
	strcpy(events, tracefs);
	strcat(events, "/uprobe_events");
	for (int i = 0; i < NFUNCS; i++)
		if (kev_remove[i][0])
			write_str(events, kev_remove[i], O_APPEND);
	kevents_live = false;
}

static void on_fatal(int sig)
{
	if (cur_child > 0)
		kill(cur_child, SIGKILL);
	if (kevents_live)
		kevents_remove();
	if (kret_live)
		kret_remove();
	/* traced children die with us: libuprobe and the floor set PTRACE_O_EXITKILL */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: a blocked waitpid returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_fatal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* waitpid(pid) for at most secs; on timeout kills pid (ours) and reaps it. */
static int wait_bounded(pid_t pid, int *st, unsigned secs)
{
	timed_out = 0;
	alarm(secs);
	for (;;) {
		pid_t r = waitpid(pid, st, __WALL);

		if (r == pid)
			break;
		if (r < 0 && errno == EINTR && !timed_out)
			continue;
		alarm(0);
		kill(pid, SIGKILL);
		alarm(5);
		waitpid(pid, st, __WALL);
		alarm(0);
		return timed_out ? -ETIMEDOUT : -errno;
	}
	alarm(0);
	return 0;
}

/* ---- CPU placement ---- */

static void set_placement(bool pinned)
{
	cpu_set_t m;

	cur_pinned = pinned;
	if (!pinned) {
		sched_setaffinity(0, sizeof(orig_mask), &orig_mask);
		return;
	}
	CPU_ZERO(&m);
	CPU_SET(pin_cpu, &m);
	if (sched_setaffinity(0, sizeof(m), &m) < 0)
		fprintf(stderr, "uprobe-bench: sched_setaffinity(CPU %d): %s\n", pin_cpu,
			strerror(errno));
}

/* The child inherits the mask from fork; set it explicitly as well, so both are pinned by name. */
static void place_child(pid_t pid)
{
	cpu_set_t m;

	if (!cur_pinned)
		return;
	CPU_ZERO(&m);
	CPU_SET(pin_cpu, &m);
	sched_setaffinity(pid, sizeof(m), &m);
}

/* ---- results through a pipe: the target times its own loop ---- */

static int result_pipe(int p[2])
{
	/* the write end must survive exec, the read end must not */
	if (pipe(p) < 0)
		return -errno;
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	return 0;
}

/* Reads "N NS ..." written by a child that has already exited. */
/* The first call's ns, and the function's first byte after the loop, of the last target read. */
static uint64_t last_first_ns;
static unsigned last_first_byte;

static int read_result(int fd, uint64_t *n, uint64_t *ns)
{
	char buf[128];
	unsigned long long a, b, sum, first = 0;
	unsigned byte = 0;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);

	if (r <= 0)
		return -EIO;
	buf[r] = 0;
	if (sscanf(buf, "%llu %llu %llu %llu %u", &a, &b, &sum, &first, &byte) < 2)
		return -EIO;
	*n = a;
	*ns = b;
	last_first_ns = first;
	last_first_byte = byte;
	return 0;
}

/* ---- ELF: symbol → file offset, without libuprobe, to cross-check it and feed the kernel ---- */

static int elf_sym_off(const char *path, const char *name, uint64_t *off, uint64_t *size)
{
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	uint64_t vaddr = 0;
	size_t nph;
	bool found = false;
	int fd, err = -ENOENT;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e) {
		err = -ENOEXEC;
		goto out;
	}
	while (!found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, (int)i, &s))
				continue;
			n = elf_strptr(e, sh.sh_link, s.st_name);
			if (n && !strcmp(n, name) && GELF_ST_TYPE(s.st_info) == STT_FUNC) {
				vaddr = s.st_value;
				*size = s.st_size;
				found = true;
				break;
			}
		}
	}
	if (!found || elf_getphdrnum(e, &nph))
		goto out;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			err = 0;
			break;
		}
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return err;
}

/* Finds every probed instruction in the file and checks bench_big's bytes are what we assume. */
static int prepare_offsets(void)
{
	uint64_t off, size;
	uint8_t buf[BIG_GROUP_LEN * 2];
	int fd, err;

	elf_version(EV_CURRENT);
	for (int i = 0; i < NFUNCS; i++) {
		err = elf_sym_off(target_path, funcs[i].sym, &off, &size);
		if (err) {
			fprintf(stderr, "uprobe-bench: %s: no function '%s': %s\n", target_path,
				funcs[i].sym, strerror(-err));
			return err;
		}
		funcs[i].file_off = off + funcs[i].sym_off;
	}
	err = elf_sym_off(target_path, "bench_big", &off, &size);
	if (err || size != BIG_GROUPS * BIG_GROUP_LEN + 1) {
		fprintf(stderr, "uprobe-bench: %s: bench_big missing or of unexpected size\n",
			target_path);
		return -ENOEXEC;
	}
	fd = open(target_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf) ||
	    memcmp(buf, big_group, BIG_GROUP_LEN) ||
	    memcmp(buf + BIG_GROUP_LEN, big_group, BIG_GROUP_LEN)) {
		fprintf(stderr, "uprobe-bench: %s: bench_big is not encoded as expected\n",
			target_path);
		if (fd >= 0)
			close(fd);
		return -ENOEXEC;
	}
	close(fd);
	return 0;
}

/* ---- the rows ---- */

static struct row *row_get(struct placement *pl, const char *label, enum unit unit,
			   const char *count_what)
{
	struct row *r;

	static struct row spare; /* beyond MAX_ROWS: measured, never printed */

	for (int i = 0; i < pl->nrows; i++)
		if (!strcmp(pl->rows[i].label, label))
			return &pl->rows[i];
	if (pl->nrows == MAX_ROWS) {
		fprintf(stderr, "bench: more than %d rows: '%s' not shown\n", MAX_ROWS, label);
		return &spare;
	}
	r = &pl->rows[pl->nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->label, sizeof(r->label), "%s", label);
	r->unit = unit;
	r->count_what = count_what;
	return r;
}

static void row_add(struct row *r, double v, uint64_t count)
{
	if (r->nv < REPS)
		r->v[r->nv++] = v;
	r->count = count;
}

static void row_note(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row_note(struct row *r, const char *fmt, ...)
{
	va_list ap;

	if (r->note[0])
		return; /* the first problem is the interesting one */
	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

/* A repetition's outcome: ns over count, or why it failed. */
static void row_result(struct row *r, int err, uint64_t ns, uint64_t count)
{
	if (err)
		row_note(r, "run failed: %s", strerror(-err));
	else
		row_add(r, (double)ns / (double)count, count);
}

/* The target alone, untraced (the no-probe row and the kernel uprobe rows). */
static int run_plain(const char *func, uint64_t n, uint64_t *done, uint64_t *ns)
{
	char nstr[32], fdstr[16];
	int p[2], st, err;
	pid_t pid;

	err = result_pipe(p);
	if (err)
		return err;
	snprintf(nstr, sizeof(nstr), "%llu", (unsigned long long)n);
	snprintf(fdstr, sizeof(fdstr), "%d", p[1]);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (!pid) {
		execl(target_path, target_path, func, nstr, fdstr, (char *)NULL);
		_exit(127);
	}
	cur_child = pid;
	place_child(pid);
	err = wait_bounded(pid, &st, timeout_for(n / NOPROBE_FACTOR));
	cur_child = 0;
	if (!err && (!WIFEXITED(st) || WEXITSTATUS(st)))
		err = -ECHILD;
	if (!err)
		err = read_result(p[0], done, ns);
out:
	close(p[0]);
	close(p[1]);
	return err;
}

/*
 * The floor: the least any ptrace breakpoint can cost. A child executes int3
 * n times; the tracer waits for each stop and resumes it, optionally with the
 * register read and write that a real breakpoint handler needs.
 */
static int run_floor(bool regs, uint64_t n, uint64_t *hits, uint64_t *ns)
{
	struct user_regs_struct ur;
	uint64_t done = 0;
	int p[2], st, err;
	pid_t pid;

	*hits = 0;
	err = result_pipe(p);
	if (err)
		return err;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (!pid) {
		uint64_t t0, t1;

		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(126);
		raise(SIGSTOP);
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			__asm__ volatile("int3" ::: "memory");
		t1 = now_ns();
		dprintf(p[1], "%llu %llu\n", (unsigned long long)n, (unsigned long long)(t1 - t0));
		_exit(0);
	}
	place_child(pid);
	timed_out = 0;
	alarm(timeout_for(n));
	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0) {
			if (errno == EINTR && !timed_out)
				continue;
			err = timed_out ? -ETIMEDOUT : -errno;
			kill(pid, SIGKILL);
			alarm(5);
			waitpid(pid, &st, __WALL);
			break;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				err = -ECHILD;
			break;
		}
		if (WSTOPSIG(st) == SIGSTOP && !done) {
			/* the child's own raise(SIGSTOP): options, then go */
			ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_EXITKILL);
			done = 1;
			ptrace(PTRACE_CONT, pid, NULL, NULL);
			continue;
		}
		if (WSTOPSIG(st) == SIGTRAP) {
			(*hits)++;
			if (regs) {
				ptrace(PTRACE_GETREGS, pid, NULL, &ur);
				ptrace(PTRACE_SETREGS, pid, NULL, &ur);
			}
			ptrace(PTRACE_CONT, pid, NULL, NULL);
			continue;
		}
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st));
	}
	alarm(0);
	if (!err)
		err = read_result(p[0], &done, ns);
out:
	close(p[0]);
	close(p[1]);
	return err;
}

/* Runs t until its tracees are gone, at most secs; on timeout kills pid (ours) and reaps it. */
static int tracer_run_bounded(struct uprobe_tracer *t, pid_t pid, unsigned secs)
{
	int err;

	timed_out = 0;
	cur_tracer = t;
	alarm(secs);
	err = uprobe_tracer_run(t);
	alarm(0);
	if (timed_out) {
		kill(pid, SIGKILL);
		timed_out = 0;
		alarm(5);
		uprobe_tracer_run(t);
		alarm(0);
		err = -ETIMEDOUT;
	}
	cur_tracer = NULL;
	return err;
}

/* ---- jump detours: which libuprobe rows got one; rows with optimization off ---- */

static unsigned long detour_lines; /* libuprobe's "jump detour for ..., at ..." debug lines */
static unsigned long count_lines;  /* ... of count-only detours */
static bool optimize_off;          /* next libuprobe rows: uprobe_tracer_set_optimize(false) */

/* libuprobe's messages: warnings to stderr as by default; detours made are counted. */
static int bench_print(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strstr(buf, ": jump detour for ") && strstr(buf, " bytes, at 0x"))
		detour_lines++;
	if (strstr(buf, ": jump detour for ") && strstr(buf, ", count-only"))
		count_lines++;
	if (level == UPROBE_WARN || getenv("LIBUPROBE_DEBUG"))
		fputs(buf, stderr);
	return 0;
}

/* After the probe is added: the switch, and where the count of detours stands. */
static void detour_setup(struct uprobe_tracer *t, unsigned long *mark)
{
	if (optimize_off)
		uprobe_tracer_set_optimize(t, false);
	*mark = detour_lines;
}

static void detour_record(struct row *r, unsigned long mark)
{
	snprintf(r->how, sizeof(r->how), "%s", detour_lines > mark ? "detour" : "int3");
}

static int run_libuprobe(const struct func *f, uint64_t n, uint64_t *hits, uint64_t *ns,
			 struct row *r);

/*
 * A no-stop row: how its hits came, from the ring or stopped (the first
 * hit, which makes the detour; a full ring; every hit where no detour can
 * be made). The last repetition's counts are shown.
 */
static void nostop_record(struct row *r, const struct hit_count *c)
{
	if (!c->async)
		snprintf(r->how, sizeof(r->how), "no detour: every hit stops");
	else
		snprintf(r->how, sizeof(r->how), "ring %llu, stopped %llu",
			 (unsigned long long)c->async, (unsigned long long)(c->hits - c->async));
}

/* The entry-probe rows again with jump optimization switched off, next to the default ones. */
static void measure_optimize_off(struct placement *pl)
{
	char label[64];
	uint64_t hits, ns;

	optimize_off = true;
	for (int i = 0; i < NFUNCS; i++) {
		if (!func_wanted(i))
			continue;
		struct row *r;

		if (funcs[i].sym_off)
			continue;
		snprintf(label, sizeof(label), "libuprobe: %s opt off", funcs[i].what);
		r = row_get(pl, label, U_NS_HIT, "hits");
		if (run_libuprobe(&funcs[i], nhits, &hits, &ns, r) == 0 && hits)
			row_add(r, (double)ns / (double)hits, hits);
	}
	optimize_off = false;
}

/*
 * How a libuprobe row runs: an entry probe, or an entry and a return probe
 * on the same function (ret), where the tracer runs (cpu, for
 * uprobe_tracer_set_cpu(); UPROBE_CPU_FOLLOW pins the tracee to pin_cpu and
 * leaves the tracer to follow it), in the in-place fallback (inline), and
 * as a no-stop probe whose handler counts the hits (nostop).
 */
struct lu_opts {
	bool ret;
	int cpu;
	bool inline_mode;
	bool nostop;
	bool count; /* no-stop with no handler: a count-only probe (uprobe_hits() counts) */
	bool notime; /* no-stop with UPROBE_RECORD_NO_TIME: records without rdtsc */
	bool args;   /* no-stop with UPROBE_RECORD_ARGS_ONLY: two cache lines a record */
	bool regs;   /* no-stop, its handler reads every register (regs_handler()) */
};

/*
 * One libuprobe row: spawn the target, the probe(s) with empty handlers,
 * run it to the end. *hits is per call: entries, or returns.
 */
static int run_libuprobe_opts(const struct func *f, uint64_t n, const struct lu_opts *lo,
			      uint64_t *hits, uint64_t *ns, struct row *r)
{
	struct uprobe_tracer *t;
	struct uprobe *u = NULL;
	char nstr[32], fdstr[16];
	char *argv[] = { target_path, (char *)f->name, nstr, fdstr, NULL };
	struct hit_count cnt = { 0, 0 };
	uint64_t done = 0;
	unsigned long detours = 0, counts = 0;
	int p[2], err, st;
	pid_t pid = 0;

	*hits = 0;
	t = uprobe_tracer_new();
	if (!t)
		return -errno;
	err = lo->inline_mode ? uprobe_tracer_force_inline(t, true) : 0;
	if (!err)
		err = result_pipe(p);
	if (err)
		goto out_free;
	snprintf(nstr, sizeof(nstr), "%llu", (unsigned long long)n);
	snprintf(fdstr, sizeof(fdstr), "%d", p[1]);
	err = uprobe_tracer_spawn(t, argv, &pid);
	close(p[1]);
	if (err) {
		row_note(r, "spawn: %s", uprobe_tracer_errmsg(t));
		goto out;
	}
	place_child(pid);
	if (lo->cpu == UPROBE_CPU_FOLLOW) {
		cpu_set_t m;

		CPU_ZERO(&m);
		CPU_SET(pin_cpu, &m);
		sched_setaffinity(pid, sizeof(m), &m);
	}
	err = uprobe_tracer_set_cpu(t, lo->cpu);
	if (err) {
		row_note(r, "uprobe_tracer_set_cpu: %s", uprobe_tracer_errmsg(t));
		kill(pid, SIGKILL);
		tracer_run_bounded(t, pid, 5);
		goto out;
	}
	UPROBE_OPTS(uprobe_opts, o, .handler = lo->count ? NULL : lo->regs ? regs_handler :
		    lo->nostop ? count_handler : empty_handler,
		    .ret_handler = lo->ret ? empty_handler : NULL, .data = &cnt,
		    .nostop = lo->nostop, .record = (lo->notime ? UPROBE_RECORD_NO_TIME : 0) |
			       (lo->args ? UPROBE_RECORD_ARGS_ONLY : 0));
	u = uprobe_add(t, target_path, f->sym, f->sym_off, &o);
	if (!u) {
		err = -errno;
		row_note(r, "uprobe_add: %s", uprobe_tracer_errmsg(t));
		kill(pid, SIGKILL);
		tracer_run_bounded(t, pid, 5);
		goto out;
	}
	detour_setup(t, &detours);
	counts = count_lines;
	if (uprobe_file_offset(u) != f->file_off)
		row_note(r, "libuprobe says file offset 0x%llx, the ELF says 0x%llx",
			 (unsigned long long)uprobe_file_offset(u),
			 (unsigned long long)f->file_off);
	err = tracer_run_bounded(t, pid, timeout_for(n) * (lo->ret ? 2 : 1) *
					 (lo->inline_mode ? 3 : 1));
	*hits = uprobe_hits(u);
	if (err) {
		row_note(r, "run: %s", err == -ETIMEDOUT ? "timed out" : uprobe_tracer_errmsg(t));
		goto out;
	}
	st = uprobe_tracer_exit_status(t, pid);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		row_note(r, "target did not exit cleanly (status 0x%x)", st);
		err = -ECHILD;
		goto out;
	}
	err = read_result(p[0], &done, ns);
	if (!err && (*hits != n || uprobe_missed(u)))
		row_note(r, "%llu %s, %llu missed, for %llu calls", (unsigned long long)*hits,
			 lo->ret ? "returns" : "hits", (unsigned long long)uprobe_missed(u),
			 (unsigned long long)n);
	/* the handler's own count: a hit delivered from the ring but not counted shows here */
	if (!err && lo->nostop && !lo->count && cnt.hits != n)
		row_note(r, "the handler saw %llu hits for %llu calls",
			 (unsigned long long)cnt.hits, (unsigned long long)n);
	if (!err && lo->nostop && *hits == n && !uprobe_missed(u) && (lo->count || cnt.hits == n))
		r->delivered++;
	if (lo->count)
		snprintf(r->how, sizeof(r->how), "%s",
			 count_lines > counts ? "counter in the program" : "no count-only detour");
	else if (lo->nostop)
		nostop_record(r, &cnt);
	else if (!lo->inline_mode)
		detour_record(r, detours);
out:
	close(p[0]);
out_free:
	uprobe_tracer_free(t);
	return err;
}

/* The plain row: an entry probe, the tracer placed as the bench places it. */
static int run_libuprobe(const struct func *f, uint64_t n, uint64_t *hits, uint64_t *ns,
			 struct row *r)
{
	const struct lu_opts lo = { .cpu = UPROBE_CPU_ANY };

	return run_libuprobe_opts(f, n, &lo, hits, ns, r);
}

/*
 * The in-place fallback for processes without a scratch area
 * (uprobe_tracer_force_inline): the entry probe on the rip-relative load,
 * which runs where it is with the other threads held. (push, endbr64, call
 * and jumps are emulated instead and cost about what a slot costs.)
 */
static void measure_inline(struct placement *pl)
{
	const struct lu_opts lo = { .cpu = UPROBE_CPU_ANY, .inline_mode = true };

	for (int rep = 0; rep < REPS; rep++) {
		struct row *r = row_get(pl, "libuprobe: entry probe, inline fallback", U_NS_HIT,
					"hits");
		uint64_t hits, ns;

		if (!run_libuprobe_opts(&funcs[2], nhits, &lo, &hits, &ns, r) && hits)
			row_add(r, (double)ns / (double)hits, hits);
	}
}

/* libc function entries for the second registration set, found in its .dynsym. */
#define LIBC_ENTRIES 1000
static char libc_path[PATH_MAX];
static uint64_t libc_offs[LIBC_ENTRIES * 2]; /* spares for entries libuprobe refuses */
static unsigned libc_noffs;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The libc this program runs with (the target's is the same file): the file
 * offsets of distinct FUNC symbols (IFUNCs excluded: adding one runs its
 * resolver in the tracee, another cost). Probing by file offset at a
 * function's start leaves libuprobe nothing to decode up to the offset.
 */
static int prepare_libc(void)
{
	char line[PATH_MAX + 128];
	uint64_t *vaddrs = NULL;
	size_t nv = 0, cap = 0, nph;
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	FILE *f = fopen("/proc/self/maps", "re");
	int fd = -1, err = -ENOENT;

	while (f && fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');

		if (path && strstr(path, "/libc.so")) {
			path[strcspn(path, "\n")] = 0;
			snprintf(libc_path, sizeof(libc_path), "%s", path);
			break;
		}
	}
	if (f)
		fclose(f);
	if (!libc_path[0] || (fd = open(libc_path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    !(e = elf_begin(fd, ELF_C_READ, NULL)))
		goto out;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;

			if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    s.st_shndx == SHN_UNDEF || !s.st_size)
				continue;
			if (nv == cap) {
				cap = cap ? cap * 2 : 1024;
				vaddrs = reallocarray(vaddrs, cap, sizeof(*vaddrs));
				if (!vaddrs) {
					err = -ENOMEM;
					goto out;
				}
			}
			vaddrs[nv++] = s.st_value;
		}
	}
	qsort(vaddrs, nv, sizeof(*vaddrs), cmp_u64);
	if (elf_getphdrnum(e, &nph))
		goto out;
	for (size_t i = 0; i < nv && libc_noffs < LIBC_ENTRIES * 2; i++) {
		if (i && vaddrs[i] == vaddrs[i - 1])
			continue; /* aliases: one instruction, one site */
		for (size_t j = 0; j < nph; j++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(e, (int)j, &ph) || ph.p_type != PT_LOAD ||
			    !(ph.p_flags & PF_X))
				continue;
			if (vaddrs[i] >= ph.p_vaddr && vaddrs[i] < ph.p_vaddr + ph.p_filesz)
				libc_offs[libc_noffs++] = vaddrs[i] - ph.p_vaddr + ph.p_offset;
		}
	}
	err = libc_noffs >= LIBC_ENTRIES ? 0 : -ENOENT;
out:
	if (e)
		elf_end(e);
	if (fd >= 0)
		close(fd);
	free(vaddrs);
	return err;
}

enum reg_set { REG_BIG, REG_LIBC, REG_FUNCS };

static void reg_funcs_probe(unsigned i, const char **bin, const char **sym);
static unsigned reg_funcs_count(void);

/* The i-th probe of a set: binary, symbol, offset. */
static void reg_probe(enum reg_set set, unsigned i, const char **bin, const char **sym,
		      uint64_t *off)
{
	if (set == REG_BIG) {
		*bin = target_path;
		*sym = "bench_big";
		*off = (uint64_t)(i / 4) * BIG_GROUP_LEN + big_starts[i % 4];
	} else if (set == REG_FUNCS) {
		reg_funcs_probe(i, bin, sym);
		*off = 0;
	} else {
		*bin = libc_path;
		*sym = NULL;
		*off = libc_offs[i];
	}
}

/*
 * Registration: count probes added one by one into a spawned target held at
 * its entry, so each is planted at once; then all removed. REG_BIG: distinct
 * instruction boundaries of bench_big; REG_LIBC: distinct libc function
 * entries (refused ones are skipped and reported).
 */
static int run_registration(enum reg_set set, unsigned count, double *add_ms, double *rm_ms,
			    double cpu_ms[2], struct row *r)
{
	struct uprobe_tracer *t;
	struct uprobe **u;
	char fdstr[16];
	char *argv[] = { target_path, "none", "0", fdstr, NULL };
	unsigned added = 0, tried = 0, refused = 0;
	unsigned limit = set == REG_LIBC ? libc_noffs : set == REG_FUNCS ? reg_funcs_count() :
			 BIG_GROUPS * 4;
	uint64_t t0, t1, c0, c1;
	pid_t pid = 0;
	int p[2] = { -1, -1 }, err;

	u = calloc(count, sizeof(*u));
	t = uprobe_tracer_new();
	if (!u || !t) {
		err = -ENOMEM;
		goto out;
	}
	/* its result line goes to a pipe nobody reads, not into the table */
	err = result_pipe(p);
	if (err)
		goto out;
	snprintf(fdstr, sizeof(fdstr), "%d", p[1]);
	err = uprobe_tracer_spawn(t, argv, &pid);
	if (err) {
		row_note(r, "spawn: %s", uprobe_tracer_errmsg(t));
		goto out;
	}
	place_child(pid);
	UPROBE_OPTS(uprobe_opts, o, .handler = empty_handler);
	c0 = thread_cpu_ns();
	t0 = now_ns();
	for (; added < count && tried < limit; tried++) {
		const char *bin, *sym;
		uint64_t off;

		reg_probe(set, tried, &bin, &sym, &off);
		u[added] = uprobe_add(t, bin, sym, off, &o);
		if (u[added]) {
			added++;
			continue;
		}
		if (set != REG_BIG && (errno == EOPNOTSUPP || errno == ENOEXEC || errno == EEXIST)) {
			if (!refused++)
				row_note(r, "refused e.g. %s", uprobe_tracer_errmsg(t));
			continue;
		}
		err = -errno;
		row_note(r, "uprobe_add #%u (%s+0x%llx): %s", added, sym ? sym : bin,
			 (unsigned long long)off, uprobe_tracer_errmsg(t));
		break;
	}
	t1 = now_ns();
	c1 = thread_cpu_ns();
	*add_ms = (double)(t1 - t0) / 1e6;
	cpu_ms[0] = (double)(c1 - c0) / 1e6;
	if (!err && added < count) {
		row_note(r, "only %u of %u added", added, count);
		err = -ENOENT;
	}
	if (refused && !err) {
		char first[sizeof(r->note)];

		snprintf(first, sizeof(first), "%s", r->note);
		snprintf(r->note, sizeof(r->note), "%u entries %.120s (skipped, timed)", refused,
			 first);
	}
	c0 = thread_cpu_ns();
	t0 = now_ns();
	for (unsigned i = 0; i < added; i++)
		uprobe_remove(u[i]);
	t1 = now_ns();
	c1 = thread_cpu_ns();
	*rm_ms = (double)(t1 - t0) / 1e6;
	cpu_ms[1] = (double)(c1 - c0) / 1e6;
	if (err)
		kill(pid, SIGKILL);
	if (tracer_run_bounded(t, pid, 10) == -ETIMEDOUT)
		row_note(r, "target did not finish after the removal");
out:
	uprobe_tracer_free(t);
	free(u);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	return err;
}

/* ---- kernel uprobes through tracefs ---- */

static bool tracefs_find(char *why, size_t whylen)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[128];

	if (geteuid() != 0) {
		snprintf(why, whylen, "not root");
		return false;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%s/uprobe_events", dirs[i]);
			if (!access(path, W_OK)) {
				snprintf(tracefs, sizeof(tracefs), "%s", dirs[i]);
				return true;
			}
		}
		if (pass == 0 && mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
			printf("note: mounted tracefs on /sys/kernel/tracing (left mounted)\n");
		else if (pass == 0)
			break;
	}
	snprintf(why, whylen, "no tracefs with uprobe_events (/sys/kernel/tracing, "
		 "/sys/kernel/debug/tracing; mount: %s)", strerror(errno));
	return false;
}

static int kevents_create(char *why, size_t whylen)
{
	char events[96], line[PATH_MAX + 96];
	int err;

	snprintf(events, sizeof(events), "%s/uprobe_events", tracefs);
	for (int i = 0; i < NFUNCS; i++) {
		snprintf(kev_enable[i], sizeof(kev_enable[i]), "%s/events/%s/ub_%s/enable", tracefs,
			 KGROUP, funcs[i].name);
		snprintf(kev_remove[i], sizeof(kev_remove[i]), "-:%s/ub_%s\n", KGROUP,
			 funcs[i].name);
	}
	/* leftovers of an earlier run killed hard: ours by name, nobody else's */
	kevents_remove();
	kevents_live = true;
	for (int i = 0; i < NFUNCS; i++) {
		snprintf(line, sizeof(line), "p:%s/ub_%s %s:0x%llx\n", KGROUP, funcs[i].name,
			 target_path, (unsigned long long)funcs[i].file_off);
		err = write_str(events, line, O_APPEND);
		if (!err)
			err = write_str(kev_enable[i], "1", O_TRUNC);
		if (err) {
			snprintf(why, whylen, "creating %s/ub_%s: %s", KGROUP, funcs[i].name,
				 strerror(-err));
			kevents_remove();
			return err;
		}
	}
	return 0;
}

/* The hit count of event `want` on the target from uprobe_profile ("  FILE EVENT HITS"), or -1. */
static long long kevent_hits_ev(const char *want)
{
	char path[96], file[PATH_MAX], ev[128], line[PATH_MAX + 256];
	unsigned long long hits;
	long long r = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/uprobe_profile", tracefs);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%4095s %127s %llu", file, ev, &hits) != 3)
			continue;
		/* older kernels print the event name alone, newer ones GROUP/EVENT */
		const char *e = strchr(ev, '/') ? strchr(ev, '/') + 1 : ev;

		if (!strcmp(e, want) && !strcmp(file, target_path))
			r = (long long)hits;
	}
	fclose(f);
	return r;
}

static long long kevent_hits(const char *name)
{
	char want[64];

	snprintf(want, sizeof(want), "ub_%s", name);
	return kevent_hits_ev(want);
}

/* ---- 10,000 function entries: every function of libc, then the target's bench_fn_* ---- */

#define MANY_FNS 10000 /* bench_fn_0 ... in bench_many.S */
static char **libc_names;
static unsigned nlibc_names;

/*
 * The default-version FUNC symbols of libc's .dynsym, one name per address,
 * in address order, as a wildcard (uprobe-trace 'u:libc:*') adds them;
 * IFUNCs left out as above. Probed by name: the registration rows then
 * pay for the symbol lookups too.
 */
static void prepare_funcs_names(void)
{
	struct { uint64_t vaddr; const char *name; } *v = NULL;
	size_t nv = 0, cap = 0;
	Elf_Data *versym = NULL;
	Elf_Scn *scn = NULL;
	Elf *e = NULL;
	int fd;

	if (!libc_path[0] || (fd = open(libc_path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	e = elf_begin(fd, ELF_C_READ, NULL);
	while (e && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_versym)
			versym = elf_getdata(scn, NULL);
	}
	while (e && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Versym vs = 0;
			GElf_Sym s;

			if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    s.st_shndx == SHN_UNDEF || !s.st_size)
				continue;
			if (versym && gelf_getversym(versym, (int)i, &vs) && (vs & 0x8000))
				continue; /* "name@VER": not what the plain name finds */
			if (nv == cap) {
				void *nvp = reallocarray(v, cap ? cap * 2 : 1024, sizeof(*v));

				if (!nvp)
					goto out;
				v = nvp;
				cap = cap ? cap * 2 : 1024;
			}
			v[nv].vaddr = s.st_value;
			v[nv].name = elf_strptr(e, sh.sh_link, s.st_name);
			nv++;
		}
	}
	qsort(v, nv, sizeof(*v), cmp_u64); /* by vaddr, the leading field */
	libc_names = calloc(nv ? nv : 1, sizeof(*libc_names));
	for (size_t i = 0; libc_names && i < nv && nlibc_names < MANY_FNS; i++) {
		if ((i && v[i].vaddr == v[i - 1].vaddr) || !v[i].name)
			continue;
		libc_names[nlibc_names] = strdup(v[i].name);
		if (libc_names[nlibc_names])
			nlibc_names++;
	}
out:
	free(v);
	if (e)
		elf_end(e);
	close(fd);
}

static unsigned reg_funcs_count(void)
{
	return nlibc_names + MANY_FNS;
}

static void reg_funcs_probe(unsigned i, const char **bin, const char **sym)
{
	static char name[32];

	if (i < nlibc_names) {
		*bin = libc_path;
		*sym = libc_names[i];
		return;
	}
	snprintf(name, sizeof(name), "bench_fn_%u", i - nlibc_names);
	*bin = target_path;
	*sym = name;
}

/* The registration rows' CPU time: what adding costs the tracer, apart from waiting for a CPU. */
static void reg_cpu_rows(struct placement *pl, unsigned count, const char *what,
			 const double cpu_ms[2])
{
	char label[64];

	if (count < 10000)
		return;
	snprintf(label, sizeof(label), "  CPU: add x%u %s", count, what);
	row_add(row_get(pl, label, U_MS, "probes"), cpu_ms[0], count);
	snprintf(label, sizeof(label), "  CPU: remove x%u %s", count, what);
	row_add(row_get(pl, label, U_MS, "probes"), cpu_ms[1], count);
}

/* ---- no-stop probes ---- */

/*
 * One repetition of the entry probes as no-stop probes: each hit writes the
 * registers into the ring and runs on; the handler counts them later. The
 * mid-function instruction gets no detour and stops at every hit.
 */
static void measure_nostop_as(struct placement *pl, int i, bool count, bool notime, bool args,
			      bool regs)
{
	const struct lu_opts lo = { .cpu = UPROBE_CPU_ANY, .nostop = true, .count = count,
				    .notime = notime, .args = args, .regs = regs };
	const char *kind = count		? "no-stop count-only"
			   : regs		? "no-stop reads regs"
			   : args && notime ? "no-stop args no time"
			   : notime	? "no-stop no time"
					: "no-stop";
	char label[64];
	uint64_t hits, ns, n;
	struct row *r, *first;

	snprintf(label, sizeof(label), "libuprobe: %s, %s", funcs[i].what, kind);
	r = row_get(pl, label, U_NS_HIT, "hits");
	r->kfunc = i + 1;
	/*
	 * Hits that do not stop cost ~100x less: 100x more of them
	 * (3,000,000 by default), the first one (it stops, and makes the
	 * detour) in a row of its own. Where no detour is made every hit
	 * stops: as many as the stopping rows.
	 */
	n = funcs[i].sym_off ? nhits : nhits * NOPROBE_FACTOR;
	if (run_libuprobe_opts(&funcs[i], n, &lo, &hits, &ns, r) || hits < 2)
		return;
	if (funcs[i].sym_off || last_first_ns >= ns) {
		row_add(r, (double)ns / (double)hits, hits);
		return;
	}
	row_add(r, (double)(ns - last_first_ns) / (double)(hits - 1), hits - 1);
	/* its detour is made at this hit, which stops */
	snprintf(label, sizeof(label), "libuprobe: %s, %s 1st", funcs[i].what, kind);
	first = row_get(pl, label, U_NS_HIT, "hits");
	row_add(first, (double)last_first_ns, 1);
}

/* No-stop entry + return rows: at least this many calls (issue 15), --quick or not. */
#define NSRET_MIN_CALLS 1000000

/*
 * One repetition of an entry and a return probe, both no-stop, on the push
 * %rbp function: the entry gadget records the entry and hijacks the return
 * address, the return gadget records the return. The first call stops at
 * both ends (it makes the detour): a row of its own, out of the average.
 */
static void measure_nostop_ret(struct placement *pl)
{
	const struct lu_opts lo = { .cpu = UPROBE_CPU_ANY, .nostop = true, .ret = true };
	uint64_t hits, ns, n = nhits * NOPROBE_FACTOR;
	struct row *r, *first;

	if (n < NSRET_MIN_CALLS)
		n = NSRET_MIN_CALLS;
	r = row_get(pl, "libuprobe: entry + return, no-stop", U_NS_CALL, "calls");
	if (run_libuprobe_opts(&funcs[0], n, &lo, &hits, &ns, r) || hits < 2)
		return;
	if (last_first_ns >= ns) {
		row_add(r, (double)ns / (double)hits, hits);
		return;
	}
	row_add(r, (double)(ns - last_first_ns) / (double)(hits - 1), hits - 1);
	first = row_get(pl, "libuprobe: entry + return, no-stop 1st", U_NS_CALL,
			"calls");
	row_add(first, (double)last_first_ns, 1);
}

/*
 * Each function as a no-stop probe, then beside it as a count-only one (no
 * handler at all: each hit adds 1 to a counter in the program, no record;
 * uprobe_hits() reads it); the push %rbp function with a return probe too.
 */
static void measure_nostop(struct placement *pl)
{
	for (int i = 0; i < NFUNCS; i++) {
		if (!func_wanted(i))
			continue;
		measure_nostop_as(pl, i, false, false, false, false);
		/*
		 * The nop5 row against the kernel with smaller records too:
		 * no time stamp (UPROBE_RECORD_NO_TIME), then the arguments
		 * only as well (UPROBE_RECORD_ARGS_ONLY); and a whole record
		 * whose handler reads every register (the tracer reads all
		 * three lines; the plain row's handler only counts).
		 */
		if (i == NOP5) {
			measure_nostop_as(pl, i, false, true, false, false);
			measure_nostop_as(pl, i, false, true, true, false);
			measure_nostop_as(pl, i, false, false, false, true);
		}
		measure_nostop_as(pl, i, true, false, false, false);
	}
	if (func_wanted(0))
		measure_nostop_ret(pl);
}

/* ---- entry + return probes; the tracer following the tracee's CPU ---- */

/*
 * One repetition of: entry + return on the push %rbp function (two stops a
 * call; the target is 3x the floor), and, where the bench leaves CPU
 * placement to the scheduler, a tracee pinned to a CPU that the tracer
 * follows it to.
 */
static void measure_ret_rows(struct placement *pl)
{
	static const struct {
		bool ret;
		int cpu;
		const char *label;
	} rows[] = {
		{ true, UPROBE_CPU_ANY, "libuprobe: entry + return, push %rbp function" },
		{ false, UPROBE_CPU_FOLLOW, "libuprobe: push %rbp (entry), tracer follows" },
		{ true, UPROBE_CPU_FOLLOW, "libuprobe: entry + return, tracer follows" },
	};
	uint64_t hits, ns;

	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct lu_opts lo = { .ret = rows[i].ret, .cpu = rows[i].cpu };
		struct row *r;

		/* pinned, tracer and tracee already share the one CPU: nothing to follow */
		if (rows[i].cpu == UPROBE_CPU_FOLLOW && pl->pinned)
			continue;
		r = row_get(pl, rows[i].label, rows[i].ret ? U_NS_CALL : U_NS_HIT,
			    rows[i].ret ? "calls" : "hits");
		if (!run_libuprobe_opts(&funcs[0], nhits, &lo, &hits, &ns, r) && hits)
			row_add(r, (double)ns / (double)hits, hits);
	}
}

/* ---- kernel uprobe + uretprobe on the same function, in a group of their own ---- */

#define KGROUP_RET "uprobe_bench_ret"
static const char *const kret_names[2] = { "ubr_entry", "ubr_return" };
static char kret_enable[2][160];
static char kret_remove_cmd[2][64];

/* Disables and deletes only these two events. Async-signal-safe: open/write/close. */
static void kret_remove(void)
{
	char events[96];

	if (!tracefs[0])
		return;
	for (int i = 0; i < 2; i++)
		if (kret_enable[i][0])
			write_str(kret_enable[i], "0", O_TRUNC);
	strcpy(events, tracefs);
	strcat(events, "/uprobe_events");
	for (int i = 0; i < 2; i++)
		if (kret_remove_cmd[i][0])
			write_str(events, kret_remove_cmd[i], O_APPEND);
	kret_live = false;
}

static int kret_create(const struct func *f, char *why, size_t whylen)
{
	char events[96], line[PATH_MAX + 96];
	int err;

	snprintf(events, sizeof(events), "%s/uprobe_events", tracefs);
	for (int i = 0; i < 2; i++) {
		snprintf(kret_enable[i], sizeof(kret_enable[i]), "%s/events/%s/%s/enable", tracefs,
			 KGROUP_RET, kret_names[i]);
		snprintf(kret_remove_cmd[i], sizeof(kret_remove_cmd[i]), "-:%s/%s\n", KGROUP_RET,
			 kret_names[i]);
	}
	kret_remove(); /* leftovers of a run killed hard */
	kret_live = true;
	for (int i = 0; i < 2; i++) {
		snprintf(line, sizeof(line), "%c:%s/%s %s:0x%llx\n", i ? 'r' : 'p', KGROUP_RET,
			 kret_names[i], target_path, (unsigned long long)f->file_off);
		err = write_str(events, line, O_APPEND);
		if (!err)
			err = write_str(kret_enable[i], "1", O_TRUNC);
		if (err) {
			snprintf(why, whylen, "creating %s/%s: %s", KGROUP_RET, kret_names[i],
				 strerror(-err));
			kret_remove();
			return err;
		}
	}
	return 0;
}

static void measure_kernel_ret(struct placement *pl, bool kernel_ok, const char *kernel_why)
{
	const struct func *f = &funcs[0];
	struct row *r = row_get(pl, "kernel: uprobe + uretprobe, push %rbp function", U_NS_CALL,
				"calls");
	uint64_t done, ns;
	char why[256];
	int err;

	if (!kernel_ok) {
		row_note(r, "skipped: %s", kernel_why);
		return;
	}
	err = kret_create(f, why, sizeof(why));
	if (err) {
		row_note(r, "skipped: %s", why);
		return;
	}
	for (int rep = 0; rep < REPS; rep++) {
		long long h0[2], h1[2];

		for (int i = 0; i < 2; i++)
			h0[i] = kevent_hits_ev(kret_names[i]);
		err = run_plain(f->name, nhits, &done, &ns);
		for (int i = 0; i < 2; i++)
			h1[i] = kevent_hits_ev(kret_names[i]);
		if (err) {
			row_note(r, "run failed: %s", strerror(-err));
			continue;
		}
		for (int i = 0; i < 2; i++) {
			if (h0[i] < 0 || h1[i] < 0)
				row_note(r, "%s: hit count not found in uprobe_profile", kret_names[i]);
			else if ((uint64_t)(h1[i] - h0[i]) != done)
				row_note(r, "%s: %lld hits for %llu calls", kret_names[i],
					 h1[i] - h0[i], (unsigned long long)done);
		}
		row_add(r, (double)ns / (double)done, done);
	}
	kret_remove();
}

/*
 * A kernel row's hits: the nop5's uprobe, optimized into a call, costs a
 * system call rather than a trap; 10x more hits keep its run as long as
 * the others'.
 */
static uint64_t kernel_hits(int i)
{
	return i == NOP5 ? nhits * 10 : nhits;
}

/*
 * How the kernel hit the probe, from the function's first byte the target
 * read after its loop: its int3, or (6.18+, a uprobe on a nop5 once hit)
 * the call to its uprobe trampoline that replaced the nop5.
 */
static void kernel_how(struct row *r)
{
	if (last_first_byte == 0xe8)
		snprintf(r->how, sizeof(r->how), "optimized: a call, no int3");
	else if (last_first_byte == 0xcc)
		snprintf(r->how, sizeof(r->how), "int3");
	else
		snprintf(r->how, sizeof(r->how), "first byte 0x%02x: not probed?",
			 last_first_byte);
}

/* ---- one placement: every row, REPS times, interleaved ---- */

static void measure(struct placement *pl, bool kernel_ok, const char *kernel_why)
{
	char label[64], why[256];
	uint64_t hits, ns, done;
	struct row *r;
	int err;

	set_placement(pl->pinned);
	for (int rep = 0; rep < REPS; rep++) {
		r = row_get(pl, "no probe: target loop alone", U_NS_CALL, "calls");
		err = run_plain("push", nhits * NOPROBE_FACTOR, &done, &ns);
		row_result(r, err, ns, done);

		r = row_get(pl, "floor: int3; waitpid+CONT", U_NS_HIT, "hits");
		pl->floor_row = (int)(r - pl->rows);
		err = run_floor(false, nhits, &hits, &ns);
		row_result(r, err, ns, hits);

		r = row_get(pl, "floor: + GETREGS+SETREGS", U_NS_HIT, "hits");
		pl->regs_row = (int)(r - pl->rows);
		err = run_floor(true, nhits, &hits, &ns);
		row_result(r, err, ns, hits);

		for (int i = 0; i < NFUNCS; i++) {
			if (!func_wanted(i))
				continue;
			snprintf(label, sizeof(label), "libuprobe: %s", funcs[i].what);
			r = row_get(pl, label, U_NS_HIT, "hits");
			err = run_libuprobe(&funcs[i], nhits, &hits, &ns, r);
			if (!err && hits)
				row_add(r, (double)ns / (double)hits, hits);
		}
		if (func_wanted(0))
			measure_ret_rows(pl);
		measure_optimize_off(pl);
		measure_nostop(pl);
	}

	if (only_func < 0)
		measure_inline(pl);
	for (int i = 0; i < NFUNCS; i++) {
		if (!func_wanted(i))
			continue;
		snprintf(label, sizeof(label), "kernel: %s", funcs[i].what);
		r = row_get(pl, label, U_NS_HIT, "hits");
		if (!kernel_ok)
			row_note(r, "skipped: %s", kernel_why);
	}
	if (kernel_ok) {
		err = kevents_create(why, sizeof(why));
		for (int rep = 0; rep < REPS && !err; rep++) {
			for (int i = 0; i < NFUNCS; i++) {
				long long h0, h1;

				if (!func_wanted(i))
					continue;
				snprintf(label, sizeof(label), "kernel: %s", funcs[i].what);
				r = row_get(pl, label, U_NS_HIT, "hits");
				h0 = kevent_hits(funcs[i].name);
				err = run_plain(funcs[i].name, kernel_hits(i), &done, &ns);
				h1 = kevent_hits(funcs[i].name);
				if (err) {
					row_note(r, "run failed: %s", strerror(-err));
					err = 0;
					continue;
				}
				if (h0 < 0 || h1 < 0)
					row_note(r, "hit count not found in uprobe_profile");
				else if ((uint64_t)(h1 - h0) != done)
					row_note(r, "%lld hits for %llu calls", h1 - h0,
						 (unsigned long long)done);
				row_add(r, (double)ns / (double)done, h0 >= 0 && h1 >= 0 ?
					(uint64_t)(h1 - h0) : done);
				if (!funcs[i].sym_off) /* the byte read is the function's first */
					kernel_how(r);
			}
		}
		if (err) {
			for (int i = 0; i < NFUNCS; i++) {
				if (!func_wanted(i))
					continue;
				snprintf(label, sizeof(label), "kernel: %s", funcs[i].what);
				row_note(row_get(pl, label, U_NS_HIT, "hits"), "skipped: %s", why);
			}
		}
		kevents_remove();
	}
	if (func_wanted(0))
		measure_kernel_ret(pl, kernel_ok, kernel_why);

	for (int rep = 0; rep < REPS && only_func < 0; rep++) {
		static const struct {
			enum reg_set set;
			unsigned count;
			const char *what;
		} regs[] = {
			{ REG_BIG, 1000, "insns of one function" },
			{ REG_BIG, 10000, "insns of one function" },
			{ REG_LIBC, LIBC_ENTRIES, "libc function entries" },
			{ REG_FUNCS, 10000, "fn entries (libc + binary)" },
		};

		for (unsigned c = 0; c < sizeof(regs) / sizeof(regs[0]); c++) {
			struct row *ra, *rr;
			double add_ms = 0, rm_ms = 0, cpu_ms[2] = { 0, 0 };

			if (regs[c].set == REG_LIBC && !libc_noffs)
				continue;
			snprintf(label, sizeof(label), "uprobe_add x%u %s", regs[c].count,
				 regs[c].what);
			ra = row_get(pl, label, U_MS, "probes");
			snprintf(label, sizeof(label), "uprobe_remove x%u %s", regs[c].count,
				 regs[c].what);
			rr = row_get(pl, label, U_MS, "probes");
			err = run_registration(regs[c].set, regs[c].count, &add_ms, &rm_ms, cpu_ms, ra);
			if (err)
				continue;
			row_add(ra, add_ms, regs[c].count);
			row_add(rr, rm_ms, regs[c].count);
			reg_cpu_rows(pl, regs[c].count, regs[c].what, cpu_ms);
		}
	}
}

/* ---- output ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double row_median(const struct row *r)
{
	double v[REPS];

	memcpy(v, r->v, sizeof(v));
	qsort(v, (size_t)r->nv, sizeof(double), cmp_double);
	return r->nv ? v[r->nv / 2] : 0;
}

static double row_spread(const struct row *r)
{
	double lo = r->v[0], hi = r->v[0];

	for (int i = 1; i < r->nv; i++) {
		lo = r->v[i] < lo ? r->v[i] : lo;
		hi = r->v[i] > hi ? r->v[i] : hi;
	}
	return r->nv ? 100.0 * (hi - lo) / row_median(r) : 0;
}

static void print_machine(uint64_t quick)
{
	char line[512], model[256] = "unknown";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(model, sizeof(model), "%s", c + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	printf("uprobe-bench (libuprobe %d.%d)%s\n", UPROBE_VERSION_MAJOR, UPROBE_VERSION_MINOR,
	       quick ? "  --quick" : "");
	printf("cpu:    %s, %d CPUs usable\n", model, CPU_COUNT(&orig_mask));
	printf("kernel: %s %s %s\n", u.sysname, u.release, u.version);
	printf("target: %s\nlibc:   %s\n", target_path, libc_path);
	printf("hits per row %llu, no-probe calls %llu; every value is the median of %d runs; "
	       "spread = (max-min)/median\n", (unsigned long long)nhits,
	       (unsigned long long)(nhits * NOPROBE_FACTOR), REPS);
	printf("x floor = ns/hit / floor (int3; waitpid+CONT); x regs = / floor with "
	       "GETREGS+SETREGS; same placement\n");
	printf("no-stop rows: ns per hit in the target's loop; x kernel = / the kernel uprobe "
	       "row on the same instruction; [ring N, stopped M]: the last run's hits\n");
	printf("kernel rows: [int3], or [optimized: a call, no int3] (a uprobe on a nop5, 6.18+), "
	       "as the target saw its function's first byte after its loop; nop5: 10x the hits\n");
	printf("no-stop rows exclude the first hit (it stops and makes the detour): its own "
	       "\"1st\" row\n");
	printf("entry + return rows: ns per call (two stops each); \"CPU:\" rows: the tracer "
	       "thread's CPU time of the row above\n");
	printf("\"tracer follows\" rows: the tracee pinned to CPU %d, the tracer not, with "
	       "UPROBE_CPU_FOLLOW\n", pin_cpu);
	fflush(stdout);
}

static void print_load(const char *when)
{
	char buf[128] = "?";
	FILE *f = fopen("/proc/loadavg", "re");

	if (f && fgets(buf, sizeof(buf), f))
		buf[strcspn(buf, "\n")] = 0;
	if (f)
		fclose(f);
	/* other work on the machine shows up mostly in the unpinned rows */
	printf("loadavg %s: %s\n", when, buf);
}

/* The kernel uprobe row's median for f in pl, or 0 where it was skipped. */
static double kernel_median(const struct placement *pl, const struct func *f)
{
	char label[64];

	snprintf(label, sizeof(label), "kernel: %s", f->what);
	for (int i = 0; i < pl->nrows; i++)
		if (!strcmp(pl->rows[i].label, label))
			return row_median(&pl->rows[i]);
	return 0;
}

static void print_table(struct placement *pls, int npl)
{
	printf("\n%-9s %-48s %10s %-6s %12s %-7s %8s %7s %8s %6s\n", "placement", "row", "count",
	       "", "median", "unit", "x floor", "x regs", "x kernel", "spread");
	for (int p = 0; p < npl; p++) {
		struct placement *pl = &pls[p];
		double floor = row_median(&pl->rows[pl->floor_row]);
		double regs = row_median(&pl->rows[pl->regs_row]);

		for (int i = 0; i < pl->nrows; i++) {
			const struct row *r = &pl->rows[i];
			double m = row_median(r), kern;
			static const char *const units[] = { "ns/call", "ns/hit", "ms" };

			printf("%-9s %-48s ", pl->name, r->label);
			if (!r->nv) {
				printf("%10s %-6s %12s %-7s %8s %7s %8s %6s  %s\n", "-", "", "-", "", "-",
				       "-", "-", "-", r->note);
				continue;
			}
			printf("%10llu %-6s %12.1f %-7s ", (unsigned long long)r->count,
			       r->count_what, m, units[r->unit]);
			if (r->unit == U_MS)
				printf("%8s %7s", "-", "-");
			else
				printf("%8.3f %7.3f", floor > 0 ? m / floor : 0, regs > 0 ? m / regs : 0);
			kern = r->kfunc ? kernel_median(pl, &funcs[r->kfunc - 1]) : 0;
			if (kern > 0)
				printf(" %8.2f", m / kern);
			else
				printf(" %8s", "-");
			printf(" %5.1f%%", row_spread(r));
			if (r->unit == U_MS)
				printf("  %.2f us/probe", 1000.0 * m / (double)r->count);
			if (r->nv < REPS)
				printf("  (%d of %d runs)", r->nv, REPS);
			if (r->how[0])
				printf("  [%s]", r->how);
			if (r->note[0])
				printf("  %s", r->note);
			printf("\n");
		}
	}
}

static const struct row *find_row(const struct placement *pl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const struct row *find_row(const struct placement *pl, const char *fmt, ...)
{
	char label[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(label, sizeof(label), fmt, ap);
	va_end(ap);
	for (int i = 0; i < pl->nrows; i++)
		if (!strcmp(pl->rows[i].label, label) && pl->rows[i].nv)
			return &pl->rows[i];
	return NULL;
}

/*
 * The nop5 function's rows again, side by side: the kernel's (optimized)
 * uprobe, and libuprobe's no-stop, count-only and stopping entry probes on
 * the same instruction, each against the kernel's.
 */
static void print_nop5(const struct placement *pls, int npl)
{
	const char *what = funcs[NOP5].what;

	for (int p = 0; p < npl; p++) {
		const struct placement *pl = &pls[p];
		const struct row *k = find_row(pl, "kernel: %s", what);
		const struct {
			const struct row *r;
			const char *what;
		} rows[] = {
			{ find_row(pl, "libuprobe: %s, no-stop", what), "no-stop entry, a record a hit" },
			{ find_row(pl, "libuprobe: %s, no-stop no time", what),
			  "no-stop entry, record without time" },
			{ find_row(pl, "libuprobe: %s, no-stop args no time", what),
			  "no-stop entry, arguments, no time" },
			{ find_row(pl, "libuprobe: %s, no-stop reads regs", what),
			  "no-stop entry, handler reads all regs" },
			{ find_row(pl, "libuprobe: %s, no-stop count-only", what), "no-stop count-only" },
			{ find_row(pl, "libuprobe: %s", what), "stopping entry probe" },
			{ find_row(pl, "libuprobe: %s, no-stop 1st", what),
			  "no-stop first hit (makes the detour)" },
		};
		double km = k ? row_median(k) : 0;

		printf("\n%s, %s: the same instruction side by side\n", funcs[NOP5].sym, pl->name);
		if (k)
			printf("  %-40s %10.1f ns/hit  [%s]\n", "kernel uprobe", km, k->how);
		else
			printf("  %-40s %10s\n", "kernel uprobe", "not measured");
		for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const struct row *r = rows[i].r;
			double m;

			if (!r) {
				printf("  %-40s %10s\n", rows[i].what, "not measured");
				continue;
			}
			m = row_median(r);
			printf("  %-40s %10.1f ns/hit", rows[i].what, m);
			if (km > 0 && m > 0 && m < km)
				printf("  %8.3f x kernel (1/%.0f)", m / km, km / m);
			else if (km > 0)
				printf("  %8.1f x kernel", m / km);
			if (r->kfunc)
				printf("  %llu hits, every one delivered in %d of %d runs",
				       (unsigned long long)r->count, r->delivered, REPS);
			printf("\n");
		}
	}
}

/*
 * The push %rbp function's calls timed at entry and return, side by side:
 * the kernel's uprobe + uretprobe, libuprobe's no-stop pair (the first
 * call, which stops at both ends to make the detour, apart) and its
 * stopping pair.
 */
static void print_nsret(const struct placement *pls, int npl)
{
	for (int p = 0; p < npl; p++) {
		const struct placement *pl = &pls[p];
		const struct row *k = find_row(pl, "kernel: uprobe + uretprobe, push %%rbp function");
		const struct {
			const struct row *r;
			const char *what;
		} rows[] = {
			{ find_row(pl, "libuprobe: entry + return, no-stop"),
			  "no-stop entry + return" },
			{ find_row(pl, "libuprobe: entry + return, push %%rbp function"),
			  "stopping entry + return" },
			{ find_row(pl, "libuprobe: entry + return, no-stop 1st"),
			  "no-stop first call (makes the detour)" },
		};
		double km = k ? row_median(k) : 0;

		printf("\n%s, %s: entry + return per call, side by side\n", funcs[0].sym, pl->name);
		if (k)
			printf("  %-40s %10.1f ns/call\n", "kernel uprobe + uretprobe", km);
		else
			printf("  %-40s %10s\n", "kernel uprobe + uretprobe", "not measured");
		for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const struct row *r = rows[i].r;
			double m;

			if (!r) {
				printf("  %-40s %10s\n", rows[i].what, "not measured");
				continue;
			}
			m = row_median(r);
			printf("  %-40s %10.1f ns/call", rows[i].what, m);
			if (km > 0 && m > 0 && m < km)
				printf("  %8.3f x kernel (1/%.0f)", m / km, km / m);
			else if (km > 0)
				printf("  %8.1f x kernel", m / km);
			if (r->count > 1)
				printf("  %llu calls", (unsigned long long)r->count);
			if (r->how[0])
				printf("  [%s]", r->how);
			printf("\n");
		}
	}
}

static int find_target(const char *argv0)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(target_path, sizeof(target_path), "%s/uprobe-bench-target", self);
	if (access(target_path, X_OK)) {
		fprintf(stderr, "%s: %s: %s (build it with ninja)\n", argv0, target_path,
			strerror(errno));
		return -ENOENT;
	}
	return 0;
}

static void usage(const char *argv0)
{
	printf("usage: %s [--quick] [--hits N] [--func NAME]\n"
	       "  Measures ns per probe hit: a raw ptrace floor, libuprobe entry probes on\n"
	       "  several first instructions (tagged [detour] or [int3], and again with jump\n"
	       "  optimization off, and as no-stop probes), entry + return probes, the inline\n"
	       "  fallback, kernel uprobes and uretprobes (root, tracefs) on the same\n"
	       "  instructions, and the cost of adding/removing 1,000 and 10,000 probes; all\n"
	       "  of it pinned to one CPU and unpinned (there also with the tracer following\n"
	       "  the tracee's CPU). A function that starts with a 5-byte nop, where a 6.18\n"
	       "  kernel optimizes its uprobe into a call, gets its rows again side by side\n"
	       "  at the end: kernel, no-stop, count-only, stopping, and the no-stop first hit.\n"
	       "  --quick: 10x fewer hits.\n"
	       "  --hits N: hits per stopping row (default %d); no-stop rows 100x that.\n"
	       "  --func NAME: only the rows of one probed function (push, endbr, riprel,\n"
	       "  call, mid, nop5), with the floor; no registration rows.\n", argv0,
	       DEFAULT_HITS);
}

int main(int argc, char **argv)
{
	struct placement pls[2] = { { .name = "pinned", .pinned = true },
				    { .name = "unpinned", .pinned = false } };
	char kernel_why[256] = "";
	bool kernel_ok, quick = false;
	uint64_t t0 = now_ns();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else if (!strcmp(argv[i], "--hits") && i + 1 < argc) {
			nhits = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--func") && i + 1 < argc) {
			i++;
			for (int f = 0; f < NFUNCS; f++)
				if (!strcmp(argv[i], funcs[f].name))
					only_func = f;
			if (only_func < 0) {
				fprintf(stderr, "%s: --func %s: no such function (", argv[0], argv[i]);
				for (int f = 0; f < NFUNCS; f++)
					fprintf(stderr, "%s%s", f ? ", " : "", funcs[f].name);
				fprintf(stderr, ")\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(argv[0]);
			return 0;
		} else {
			usage(argv[0]);
			return 2;
		}
	}
	if (quick)
		nhits /= 10;
	if (!nhits)
		nhits = 1;
	if (find_target(argv[0]) || prepare_offsets())
		return 1;
	if (prepare_libc())
		fprintf(stderr, "uprobe-bench: no %u libc functions found; skipping that row\n",
			LIBC_ENTRIES);
	prepare_funcs_names();
	if (sched_getaffinity(0, sizeof(orig_mask), &orig_mask) < 0)
		CPU_SET(0, &orig_mask);
	for (int c = 0; c < CPU_SETSIZE && pin_cpu < 0; c++)
		if (CPU_ISSET(c, &orig_mask))
			pin_cpu = c;
	install_signals();
	uprobe_set_print(bench_print);
	setvbuf(stdout, NULL, _IOLBF, 0);
	print_machine(quick);
	print_load("at start");
	kernel_ok = tracefs_find(kernel_why, sizeof(kernel_why));
	pls[0].name = "pinned";
	printf("pinned = tracer and tracee both on CPU %d\n", pin_cpu);
	for (int p = 0; p < 2; p++) {
		fprintf(stderr, "measuring: %s...\n", pls[p].name);
		measure(&pls[p], kernel_ok, kernel_why);
	}
	set_placement(false);
	print_table(pls, 2);
	print_nop5(pls, 2);
	print_nsret(pls, 2);
	printf("\n");
	print_load("at end");
	printf("total time %.1f s\n", (double)(now_ns() - t0) / 1e9);
	return 0;
}
