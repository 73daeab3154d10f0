// SPDX-License-Identifier: LGPL-2.1-or-later
/* Integration: a probe on every instruction of the torture program, hit counts vs a single-step reference. */

/*
 * insn-test MODE TORTURE [--add-before-spawn] [--signal-every-hit] [--inline] [--every N,K]
 *           [--post] [--nostop] [--exclude FUNC]... [--repeat N]
 *   MODE single:  run the torture program once per phase.
 *   MODE threads: the traced and untraced runs use "threads" (4 threads, ITIMER_PROF);
 *                 the expected counts are 4x the single-thread reference.
 *   --signal-every-hit: every handler tgkill()s SIGUSR1 at the thread that hit, so
 *                 the signal is pending when the thread resumes into the out-of-line
 *                 copy: every instruction form goes through the engine's
 *                 signal-in-slot path. The torture program only counts SIGUSR1.
 *   --inline: uprobe_tracer_force_inline(): no scratch area, every instruction runs in
 *                 place (emulated, or stepped with the other threads held); the traced
 *                 process must never get an anonymous executable mapping.
 *   --every N,K: probe only the instructions whose index in their function is K modulo N
 *                 (the instruction after a probed one is then mostly unprobed, which the
 *                 in-place fallback runs over differently).
 *   --exclude FUNC: do not probe that tort_* function (to look past a known bug).
 *   --post:       every probe also has a post handler; the reference records where
 *                 each completed step of an instruction went (its successor rip),
 *                 and the post handlers must see the same successors, as often.
 *   --nostop:     every probe is a no-stop probe (uprobe_opts.nostop): where a jump detour
 *                 can be made the thread records its registers into the ring and runs on,
 *                 and the handler sees the snapshot later (an async hit); elsewhere the hit
 *                 stops as usual. Counts must stay exact; at least one hit must be async
 *                 (none with --inline: no scratch area, so no detour and no ring). Not with
 *                 --post (a no-stop probe cannot have a post handler).
 *   --repeat N:   the traced phase runs N times (default 1), each run checked on its own
 *                 against the one reference: races that show once in a few runs (a
 *                 signal landing mid-step) get N chances for the price of one reference.
 *
 * Phases (each under its own alarm(); the tracee of the phase is killed on any failure):
 *  1. decode every tort_* function from the symbol table with Zydis (independent of
 *     libuprobe's own decoder) into instruction boundaries;
 *  2. reference: fork + PTRACE_TRACEME, PTRACE_SINGLESTEP through the whole run,
 *     count each boundary (a rep-prefixed string instruction counts once per
 *     execution, not once per iteration);
 *  3. untraced run: stdout and wait status;
 *  4. traced run: uprobe_tracer_spawn, a counting probe on every boundary, run;
 *     compare stdout, status, and every probe's count; handlers check hit state.
 * Exit 0 pass, 1 fail, 77 skip (ptrace forbidden here).
 */

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <Zydis/Zydis.h>

#include "uprobe.h"

#define NTHREADS 4
#define MAX_STEPS 40000000ull /* the whole reference run is ~1M steps */
#define MAX_REPORT 60         /* mismatch lines printed per kind */
#define ALARM_REF 120
#define ALARM_PLAIN 30
#define ALARM_TRACED 140

/* Extra checks a handler makes at particular instructions (found by decoding). */
enum chk {
	CHK_NONE,
	CHK_RCX_IS_ADDR,  /* right after syscall: rcx == address of this instruction */
	CHK_TOS_IS_ADDR,  /* target of call-to-next (get-pc): [rsp] == this address */
	CHK_TOS_NO_TF64,  /* right after pushfq: bit 8 of [rsp] clear */
	CHK_TOS_NO_TF16,  /* right after pushfw */
	CHK_TOS_RET_ADDR, /* entry of a tort_h_* helper: [rsp] is just after a call insn */
};

struct func {
	char *name;
	bool excluded; /* --exclude: not probed, not compared */
	uint64_t vaddr, size, off; /* link-time address, size, file offset */
	size_t first, n;           /* its instructions in insns[] */
};

struct insn {
	size_t fn;
	uint64_t off; /* from the function's start */
	uint64_t vaddr;
	uint8_t len, bytes[ZYDIS_MAX_INSTRUCTION_LENGTH];
	bool rep; /* string instruction with a rep/repe/repne prefix */
	bool falls; /* never branches: a completed step ends right after it */
	bool is_call;
	enum chk chk;
	char text[96];
	uint64_t ref; /* reference count, one single-thread run */
	uint64_t ref_post, ref_post_sum; /* completed executions, sum of successors (succ_key) */
	uint64_t post_hits, post_sum, bad_post_addr; /* traced run, post handlers */
	/* traced run */
	struct uprobe *p;
	uint64_t hits;     /* counted by on_hit() */
	uint64_t api_hits; /* uprobe_hits() */
	uint64_t bad_addr, bad_rip, bad_probe, bad_pid, bad_chk;
	uint64_t async_hits; /* uprobe_hit_is_async() */
	uint64_t bad_async;  /* async hit of a probe that must stop */
	uint64_t chk_skipped; /* --nostop: memory checks not made at async hits */
	uint64_t first_bad_addr, first_bad_rip, first_bad_val;
};

static struct func *funcs;
static size_t nfuncs;
static struct insn *insns;
static size_t ninsns;
static uint64_t elf_entry;
static bool elf_pie;

static volatile pid_t g_victim; /* the tracee of the current phase, killed on timeout */
static const char *g_phase = "setup";
static int failures;

static pid_t traced_pid;
static uint64_t traced_bias;
static bool signal_every_hit;
static bool post_mode;
static bool nostop_mode;
static uint64_t torture_lo, torture_hi; /* link-time range of the tort_* functions */

/* A successor rip made comparable across runs: in the torture code, its link address. */
static uint64_t succ_key(uint64_t rip, uint64_t bias)
{
	if (rip >= torture_lo + bias && rip < torture_hi + bias)
		return rip - bias;
	return 1; /* elsewhere (main, libc): only counted */
}
static bool force_inline;
static unsigned every_n = 1, every_k;
static int scratch_maps = -1; /* inline mode: anonymous executable mappings seen at a hit */

#define fail(fmt, ...)                                                                     \
	do {                                                                               \
		failures++;                                                                \
		printf("FAIL: " fmt "\n", ##__VA_ARGS__);                                  \
	} while (0)

static volatile long g_last_hit = -1; /* index of the probe that fired last */
static const char *insn_name(const struct insn *in, char *buf, size_t len);

static void on_fatal_signal(int sig)
{
	static const char msg[] = "insn-test: watchdog/termination, killing the tracee\n";
	static char buf[400];
	pid_t v = g_victim;
	long last = g_last_hit;

	if (v > 0)
		kill(v, SIGKILL);
	(void)!write(2, msg, sizeof(msg) - 1);
	(void)!write(2, g_phase, strlen(g_phase));
	(void)!write(2, "\n", 1);
	if (last >= 0) {
		/* snprintf is not async-signal-safe on paper; this process ends right after */
		static char name[256];
		int n = snprintf(buf, sizeof(buf), "last probe hit: %s\n",
				 insn_name(&insns[last], name, sizeof(name)));

		(void)!write(2, buf, n);
	}
	_exit(sig == SIGALRM ? 1 : 2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void kill_and_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	/* bounded: a SIGKILLed child is reaped promptly; it may already be reaped by libuprobe */
	for (int i = 0; i < 200; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG | __WALL);

		if (r == pid || (r < 0 && errno == ECHILD))
			break;
		usleep(10000);
	}
}

/* ------------------------------------------------------------ ELF + decode */

static int cmp_func(const void *a, const void *b)
{
	const struct func *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int load_torture(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	size_t nph, cap = 0;
	uint8_t *data = NULL;
	struct stat st;
	int ret = -1;
	ZydisDecoder dec;
	ZydisFormatter fmt;

	if (fd < 0 || fstat(fd, &st)) {
		printf("FAIL: open %s: %s\n", path, strerror(errno));
		goto out;
	}
	data = malloc(st.st_size);
	if (!data || pread(fd, data, st.st_size, 0) != st.st_size) {
		printf("FAIL: read %s\n", path);
		goto out;
	}
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || !gelf_getehdr(e, &eh) || elf_getphdrnum(e, &nph)) {
		printf("FAIL: %s: not an ELF file: %s\n", path, elf_errmsg(-1));
		goto out;
	}
	elf_entry = eh.e_entry;
	elf_pie = eh.e_type == ET_DYN;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    !sym.st_size)
				continue;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			if (!name || strncmp(name, "tort_", 5))
				continue;
			if (nfuncs == cap) {
				cap = cap ? cap * 2 : 64;
				funcs = realloc(funcs, cap * sizeof(*funcs));
			}
			funcs[nfuncs++] = (struct func){ .name = strdup(name), .vaddr = sym.st_value,
							  .size = sym.st_size };
		}
	}
	if (!nfuncs) {
		printf("FAIL: %s: no tort_* function symbols (stripped?)\n", path);
		goto out;
	}
	qsort(funcs, nfuncs, sizeof(*funcs), cmp_func);

	/* file offsets through the PT_LOAD segments */
	for (size_t k = 0; k < nfuncs; k++) {
		bool found = false;

		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD ||
			    !(ph.p_flags & PF_X))
				continue;
			if (funcs[k].vaddr >= ph.p_vaddr &&
			    funcs[k].vaddr + funcs[k].size <= ph.p_vaddr + ph.p_filesz) {
				funcs[k].off = funcs[k].vaddr - ph.p_vaddr + ph.p_offset;
				found = true;
			}
		}
		if (!found) {
			printf("FAIL: %s: %s not in an executable segment\n", path, funcs[k].name);
			goto out;
		}
	}

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_ATT);
	cap = 0;
	for (size_t k = 0; k < nfuncs; k++) {
		struct func *f = &funcs[k];
		bool helper = !strncmp(f->name, "tort_h_", 7);
		enum chk next_chk = CHK_NONE;

		f->first = ninsns;
		for (uint64_t off = 0; off < f->size;) {
			ZydisDecodedInstruction di;
			ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
			struct insn *in;

			if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, data + f->off + off,
								 f->size - off, &di, ops))) {
				printf("FAIL: %s+0x%" PRIx64 ": undecodable\n", f->name, off);
				goto out;
			}
			if (ninsns == cap) {
				cap = cap ? cap * 2 : 1024;
				insns = realloc(insns, cap * sizeof(*insns));
			}
			in = &insns[ninsns++];
			memset(in, 0, sizeof(*in));
			in->fn = k;
			in->off = off;
			in->vaddr = f->vaddr + off;
			in->len = di.length;
			memcpy(in->bytes, data + f->off + off, di.length);
			in->rep = di.attributes &
				  (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE);
			in->is_call = di.mnemonic == ZYDIS_MNEMONIC_CALL;
			in->falls = !in->rep && di.meta.branch_type == ZYDIS_BRANCH_TYPE_NONE &&
				    di.meta.category != ZYDIS_CATEGORY_RET &&
				    di.meta.category != ZYDIS_CATEGORY_CALL &&
				    di.meta.category != ZYDIS_CATEGORY_COND_BR &&
				    di.meta.category != ZYDIS_CATEGORY_UNCOND_BR &&
				    di.meta.category != ZYDIS_CATEGORY_SYSCALL &&
				    di.meta.category != ZYDIS_CATEGORY_INTERRUPT &&
				    di.meta.category != ZYDIS_CATEGORY_SYSTEM;
			ZydisFormatterFormatInstruction(&fmt, &di, ops, di.operand_count_visible,
							in->text, sizeof(in->text), in->vaddr, NULL);
			in->chk = next_chk;
			if (off == 0 && helper)
				in->chk = CHK_TOS_RET_ADDR;
			next_chk = CHK_NONE;
			if (di.mnemonic == ZYDIS_MNEMONIC_SYSCALL)
				next_chk = CHK_RCX_IS_ADDR;
			else if (di.mnemonic == ZYDIS_MNEMONIC_PUSHFQ)
				next_chk = CHK_TOS_NO_TF64;
			else if (di.mnemonic == ZYDIS_MNEMONIC_PUSHF)
				next_chk = CHK_TOS_NO_TF16;
			else if (di.mnemonic == ZYDIS_MNEMONIC_CALL && di.raw.imm[0].size &&
				 di.raw.imm[0].value.s == 0)
				next_chk = CHK_TOS_IS_ADDR;
			off += di.length;
		}
		f->n = ninsns - f->first;
	}
	ret = 0;
out:
	if (e)
		elf_end(e);
	if (fd >= 0)
		close(fd);
	free(data);
	return ret;
}

/* Index of the instruction at link-time vaddr, or -1. */
static long insn_at(uint64_t vaddr)
{
	size_t lo = 0, hi = ninsns;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (insns[mid].vaddr == vaddr)
			return mid;
		if (insns[mid].vaddr < vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static const char *insn_name(const struct insn *in, char *buf, size_t len)
{
	char hex[3 * ZYDIS_MAX_INSTRUCTION_LENGTH + 1];
	size_t o = 0;

	for (int i = 0; i < in->len; i++)
		o += snprintf(hex + o, sizeof(hex) - o, "%s%02x", i ? " " : "", in->bytes[i]);
	snprintf(buf, len, "%s+0x%" PRIx64 " (vaddr 0x%" PRIx64 ", %s: %s)", funcs[in->fn].name,
		 in->off, in->vaddr, hex, in->text);
	return buf;
}

/* Load bias: AT_ENTRY minus e_entry. */
static int read_bias(pid_t pid, uint64_t *bias)
{
	char path[64];
	uint64_t av[2];
	int fd;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (read(fd, av, sizeof(av)) == sizeof(av) && av[0] != AT_NULL) {
		if (av[0] == AT_ENTRY) {
			*bias = av[1] - elf_entry;
			ret = 0;
			break;
		}
	}
	close(fd);
	return ret;
}

/* --------------------------------------------------------------- reference */

static int reference_run(const char *path)
{
	char *argv[] = { (char *)path, NULL };
	uint64_t bias = 0, lo, hi, steps = 0, prev_rip = 0, nsignals = 0, late_steps = 0;
	int32_t *map = NULL;
	int status, sig = 0, ret = -1;
	pid_t pid;
	double t0 = now();

	g_phase = "reference single-step run";
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		if (ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(126);
		execv(path, argv);
		_exit(127);
	}
	g_victim = pid;
	alarm(ALARM_REF);
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status) ||
	    WSTOPSIG(status) != SIGTRAP) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 126) {
			printf("SKIP: PTRACE_TRACEME refused here\n");
			ret = 77;
		} else {
			printf("FAIL: reference: no exec stop (status 0x%x)\n", status);
		}
		goto out;
	}
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL);
	if (read_bias(pid, &bias)) {
		printf("FAIL: reference: no AT_ENTRY in /proc/%d/auxv\n", pid);
		goto out;
	}
	lo = funcs[0].vaddr + bias;
	hi = funcs[nfuncs - 1].vaddr + funcs[nfuncs - 1].size + bias;
	map = malloc((hi - lo) * sizeof(*map));
	torture_lo = lo - bias;
	torture_hi = hi - bias;
	for (uint64_t a = 0; a < hi - lo; a++)
		map[a] = -1;
	for (size_t i = 0; i < ninsns; i++)
		map[insns[i].vaddr + bias - lo] = i;

	/*
	 * Counts an instruction when a step from it completes or faults (a probe
	 * fires before its instruction can fault). Not counted: a step that only
	 * delivered a signal, one that an asynchronous signal pre-empted (the
	 * instruction runs later), and the 2nd..nth iteration of a rep string
	 * instruction (the thread stays at the same rip).
	 */
	int32_t post_idx = -1; /* the last step completed this instruction: its successor is next */

	for (;;) {
		uint64_t rip;
		int32_t idx = -1;
		bool completed;
		int injected;

		if (++steps > MAX_STEPS) {
			printf("FAIL: reference: more than %llu steps\n", MAX_STEPS);
			goto out;
		}
		errno = 0;
		rip = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user_regs_struct, rip), 0);
		if (errno) {
			printf("FAIL: reference: PEEKUSER: %s\n", strerror(errno));
			goto out;
		}
		if (rip >= lo && rip < hi) {
			idx = map[rip - lo];
			if (idx < 0) {
				printf("FAIL: reference: stepped to 0x%" PRIx64
				       " inside the torture code but not at a decoded boundary\n",
				       rip - bias);
				goto out;
			}
		}
		if (post_idx >= 0 && insns[post_idx].falls &&
		    rip != insns[post_idx].vaddr + insns[post_idx].len + bias) {
			/*
			 * A late step trap: a hypervisor that emulates the instruction
			 * (cpuid) reports the step after the next one. That one ran too.
			 */
			uint64_t fall = insns[post_idx].vaddr + insns[post_idx].len + bias;
			int32_t n = fall >= lo && fall < hi ? map[fall - lo] : -1;

			insns[post_idx].ref_post++;
			insns[post_idx].ref_post_sum += succ_key(fall, bias);
			late_steps++;
			post_idx = n;
			if (n >= 0)
				insns[n].ref++;
		}
		if (post_idx >= 0 && !(insns[post_idx].rep && rip == prev_rip)) {
			insns[post_idx].ref_post++;
			insns[post_idx].ref_post_sum += succ_key(rip, bias);
		}
		post_idx = -1;
		injected = sig;
		if (ptrace(PTRACE_SINGLESTEP, pid, 0, sig)) {
			printf("FAIL: reference: SINGLESTEP: %s\n", strerror(errno));
			goto out;
		}
		sig = 0;
		if (waitpid(pid, &status, __WALL) != pid) {
			printf("FAIL: reference: waitpid: %s\n", strerror(errno));
			goto out;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		completed = WSTOPSIG(status) == SIGTRAP;
		if (!completed) {
			siginfo_t si;

			sig = WSTOPSIG(status);
			nsignals++;
			completed = (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
				     sig == SIGILL) &&
				    !ptrace(PTRACE_GETSIGINFO, pid, 0, &si) && si.si_code > 0;
		}
		if (idx >= 0 && !injected && completed && !(rip == prev_rip && insns[idx].rep))
			insns[idx].ref++;
		if (idx >= 0 && !injected && WSTOPSIG(status) == SIGTRAP)
			post_idx = idx;
		prev_rip = rip;
	}
	if (!WIFEXITED(status)) {
		printf("FAIL: reference run died: status 0x%x\n", status);
		goto out;
	}
	pid = 0;
	ret = 0;
	printf("reference: %" PRIu64 " single steps (%" PRIu64 " late), %" PRIu64
	       " signals, in %.1fs\n", steps, late_steps, nsignals, now() - t0);
out:
	alarm(0);
	if (ret && pid > 0)
		kill_and_reap(pid);
	g_victim = 0;
	free(map);
	return ret;
}

/* -------------------------------------------------------------- plain run */

static char *read_fd_all(int fd)
{
	struct stat st;
	char *buf;

	if (fstat(fd, &st))
		return strdup("");
	buf = calloc(1, st.st_size + 1);
	if (pread(fd, buf, st.st_size, 0) != st.st_size)
		buf[0] = 0;
	return buf;
}

static int plain_run(char *const argv[], char **out, int *status)
{
	int fd = memfd_create("insn-plain-out", MFD_CLOEXEC);
	pid_t pid;
	int ret = -1;

	g_phase = "untraced run";
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	g_victim = pid;
	alarm(ALARM_PLAIN);
	if (waitpid(pid, status, 0) != pid) {
		kill_and_reap(pid);
		goto out;
	}
	*out = read_fd_all(fd);
	ret = 0;
out:
	alarm(0);
	g_victim = 0;
	close(fd);
	return ret;
}

/* ------------------------------------------------------------- traced run */

/* Anonymous executable mappings of pid (a scratch area would be one), or -1. */
static int anon_exec_maps(pid_t pid)
{
	char path[64], line[4096 + 128];
	int n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%*x-%*x %7s %*x %*s %*u %n", perms, &pos) < 1 || !pos)
			continue;
		if (perms[2] == 'x' && (line[pos] == '\n' || line[pos] == 0))
			n++;
	}
	fclose(fp);
	return n;
}

static int on_hit(struct uprobe_hit *h, void *data)
{
	struct insn *in = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);
	uint64_t want = in->vaddr + traced_bias;
	uint64_t addr = uprobe_hit_addr(h), tos = 0, val = 0;
	bool async = uprobe_hit_is_async(h);
	pid_t tid = uprobe_hit_tid(h);
	bool ok = true;

	in->hits++;
	in->async_hits += async;
	g_last_hit = in - insns;
	if (force_inline && scratch_maps < 0)
		scratch_maps = anon_exec_maps(traced_pid);
	/*
	 * At an async hit the thread ran on long ago: the signal cannot reach the
	 * probed instruction's copy any more and lands wherever the thread is now,
	 * possibly inside a detour or the record gadget, which the library must step
	 * out of before delivery (the torture program checks the interrupted rip is
	 * its own). Still worth sending; the program only counts SIGUSR1. A thread
	 * that has exited since gets nothing (ESRCH); tid 0 (not known) is skipped.
	 */
	if (signal_every_hit && tid > 0)
		syscall(SYS_tgkill, traced_pid, tid, SIGUSR1);
	if (addr != want) {
		if (!in->bad_addr++)
			in->first_bad_addr = addr;
	}
	if (!regs || regs->rip != want) {
		if (!in->bad_rip++)
			in->first_bad_rip = regs ? regs->rip : 0;
	}
	if (uprobe_hit_probe(h) != in->p)
		in->bad_probe++;
	/* an async hit may not know its thread, but only on a CPU without FSGSBASE */
	if (uprobe_hit_pid(h) != traced_pid || tid < 0 || !tid)
		in->bad_pid++;
	/* only a no-stop probe has async hits, and never without a scratch area */
	if (async && (!nostop_mode || force_inline))
		in->bad_async++;
	if (!regs || in->chk == CHK_NONE)
		return 0;
	/*
	 * The snapshot's registers are those at the instruction, but memory is read
	 * as it is now: the stack the [rsp] checks look at has moved on.
	 */
	if (async && in->chk != CHK_RCX_IS_ADDR) {
		in->chk_skipped++;
		return 0;
	}
	if (in->chk != CHK_RCX_IS_ADDR &&
	    uprobe_hit_read(h, regs->rsp, &tos, sizeof(tos)) != sizeof(tos)) {
		ok = false;
		val = ~0ull;
	}
	switch (in->chk) {
	case CHK_RCX_IS_ADDR:
		ok = regs->rcx == want;
		val = regs->rcx;
		break;
	case CHK_TOS_IS_ADDR:
		ok = ok && tos == want;
		val = tos;
		break;
	case CHK_TOS_NO_TF64:
	case CHK_TOS_NO_TF16:
		ok = ok && !(tos & 0x100);
		val = in->chk == CHK_TOS_NO_TF16 ? (tos & 0xffff) : tos;
		break;
	case CHK_TOS_RET_ADDR: {
		long i = insn_at(tos - traced_bias);

		ok = ok && i > 0 && insns[i - 1].is_call && insns[i - 1].fn == insns[i].fn;
		val = tos;
		break;
	}
	default:
		break;
	}
	if (!ok && !in->bad_chk++)
		in->first_bad_val = val;
	return 0;
}

static int on_post(struct uprobe_hit *h, void *data)
{
	struct insn *in = data;
	struct user_regs_struct *regs = uprobe_hit_regs(h);

	in->post_hits++;
	in->post_sum += succ_key(regs->rip, traced_bias);
	if (uprobe_hit_addr(h) != in->vaddr + traced_bias || !uprobe_hit_is_post(h))
		in->bad_post_addr++;
	return 0;
}

static int add_probes(struct uprobe_tracer *t, const char *path)
{
	int nfail = 0;
	char name[256];

	for (size_t i = 0; i < ninsns; i++) {
		struct insn *in = &insns[i];
		UPROBE_OPTS(uprobe_opts, o, .handler = on_hit, .data = in,
			    .post_handler = post_mode ? on_post : NULL, .nostop = nostop_mode);

		if (funcs[in->fn].excluded || (i - funcs[in->fn].first) % every_n != every_k)
			continue;
		in->p = uprobe_add(t, path, funcs[in->fn].name, in->off, &o);
		if (!in->p) {
			if (nfail++ < MAX_REPORT)
				printf("FAIL: uprobe_add %s: %s (%s)\n",
				       insn_name(in, name, sizeof(name)), strerror(errno),
				       uprobe_tracer_errmsg(t));
		}
	}
	if (nfail) {
		failures++;
		printf("FAIL: %d of %zu probes refused\n", nfail, ninsns);
	}
	return nfail;
}

static int traced_run(char *const argv[], bool add_before, char **out, int *status)
{
	struct uprobe_tracer *t = uprobe_tracer_new();
	int fd = memfd_create("insn-traced-out", MFD_CLOEXEC);
	int saved = -1, r, ret = -1;
	pid_t pid = 0;
	double t0;

	if (!t || fd < 0) {
		printf("FAIL: tracer/memfd: %s\n", strerror(errno));
		goto out;
	}
	g_phase = "traced run: adding probes / spawning";
	alarm(ALARM_TRACED);
	if (force_inline && uprobe_tracer_force_inline(t, true)) {
		printf("FAIL: uprobe_tracer_force_inline: %s\n", strerror(errno));
		goto out;
	}
	if (add_before)
		add_probes(t, argv[0]);

	/* the tracee inherits fd 1 at spawn: point it at the capture file meanwhile */
	fflush(stdout);
	saved = dup(1);
	dup2(fd, 1);
	r = uprobe_tracer_spawn(t, argv, &pid);
	dup2(saved, 1);
	close(saved);
	if (r < 0) {
		if (r == -EPERM) {
			printf("SKIP: uprobe_tracer_spawn: EPERM (%s)\n", uprobe_tracer_errmsg(t));
			ret = 77;
		} else {
			printf("FAIL: uprobe_tracer_spawn: %s (%s)\n", strerror(-r),
			       uprobe_tracer_errmsg(t));
		}
		pid = 0;
		goto out;
	}
	g_victim = pid;
	traced_pid = pid;
	if (read_bias(pid, &traced_bias)) {
		printf("FAIL: traced: no AT_ENTRY for pid %d\n", pid);
		goto out;
	}
	if (!elf_pie && traced_bias) {
		printf("FAIL: non-PIE executable with load bias 0x%" PRIx64 "\n", traced_bias);
		goto out;
	}
	if (!add_before)
		add_probes(t, argv[0]);

	g_phase = "traced run: uprobe_tracer_run";
	t0 = now();
	r = uprobe_tracer_run(t);
	if (r < 0) {
		printf("FAIL: uprobe_tracer_run: %s (%s)\n", strerror(-r), uprobe_tracer_errmsg(t));
		goto out;
	}
	*status = uprobe_tracer_exit_status(t, pid);
	printf("traced run: %.1fs\n", now() - t0);
	for (size_t i = 0; i < ninsns; i++)
		insns[i].api_hits = insns[i].p ? uprobe_hits(insns[i].p) : 0;
	*out = read_fd_all(fd);
	pid = 0; /* exited */
	ret = 0;
out:
	alarm(0);
	if (pid > 0)
		kill(pid, SIGKILL);
	if (t)
		uprobe_tracer_free(t);
	if (pid > 0)
		kill_and_reap(pid);
	g_victim = 0;
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ----------------------------------------------------------------- checks */

static void print_lines(const char *tag, const char *s)
{
	const char *p = s;

	while (*p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		printf("  %s| %.*s\n", tag, n, p);
		p += n + (nl != NULL);
	}
}

static void compare_outputs(const char *plain, int plain_st, const char *traced, int traced_st)
{
	if (strstr(plain, "FAIL"))
		fail("the untraced torture run reports a self-check failure (torture bug)");
	if (!WIFEXITED(plain_st) || WEXITSTATUS(plain_st))
		fail("untraced torture run: status 0x%x", plain_st);
	if (strcmp(plain, traced)) {
		fail("traced stdout differs from untraced stdout");
		print_lines("untraced", plain);
		print_lines("traced  ", traced);
	}
	if (plain_st != traced_st)
		fail("exit status: untraced 0x%x, traced 0x%x%s", plain_st, traced_st,
		     WIFSIGNALED(traced_st) ? " (killed by a signal)" : "");
}

static const char *chk_name(enum chk c)
{
	switch (c) {
	case CHK_RCX_IS_ADDR:
		return "rcx after syscall == address of the next instruction";
	case CHK_TOS_IS_ADDR:
		return "[rsp] after call-to-next == this address";
	case CHK_TOS_NO_TF64:
	case CHK_TOS_NO_TF16:
		return "TF clear in the flags pushf stored";
	case CHK_TOS_RET_ADDR:
		return "[rsp] at helper entry is the address after a call";
	default:
		return "?";
	}
}

static void compare_counts(unsigned mult)
{
	unsigned n_count = 0, n_state = 0;
	uint64_t total = 0;
	char name[256];

	for (size_t i = 0; i < ninsns; i++) {
		struct insn *in = &insns[i];
		uint64_t want = in->ref * mult;

		if (!in->p)
			continue; /* excluded, or already reported by add_probes() */
		total += want;
		if (in->hits != want || in->api_hits != want) {
			if (n_count++ < MAX_REPORT)
				printf("FAIL: count %s: expected %" PRIu64 ", handler ran %" PRIu64
				       ", uprobe_hits %" PRIu64 "\n",
				       insn_name(in, name, sizeof(name)), want, in->hits, in->api_hits);
		}
		if (post_mode && (in->post_hits != in->ref_post * mult ||
				  in->post_sum != in->ref_post_sum * mult || in->bad_post_addr)) {
			if (n_count++ < MAX_REPORT)
				printf("FAIL: post %s: expected %" PRIu64 " runs (successor sum 0x%"
				       PRIx64 "), post handler ran %" PRIu64 " (sum 0x%" PRIx64
				       "), wrong hit address %" PRIu64 "x\n",
				       insn_name(in, name, sizeof(name)), in->ref_post * mult,
				       in->ref_post_sum * mult, in->post_hits, in->post_sum,
				       in->bad_post_addr);
		}
		if (in->bad_addr && n_state++ < MAX_REPORT)
			printf("FAIL: state %s: uprobe_hit_addr wrong %" PRIu64 "x, first 0x%" PRIx64
			       " (want 0x%" PRIx64 ")\n", insn_name(in, name, sizeof(name)),
			       in->bad_addr, in->first_bad_addr, in->vaddr + traced_bias);
		if (in->bad_rip && n_state++ < MAX_REPORT)
			printf("FAIL: state %s: regs->rip wrong %" PRIu64 "x, first 0x%" PRIx64
			       " (want 0x%" PRIx64 ")\n", insn_name(in, name, sizeof(name)),
			       in->bad_rip, in->first_bad_rip, in->vaddr + traced_bias);
		if (in->bad_probe && n_state++ < MAX_REPORT)
			printf("FAIL: state %s: uprobe_hit_probe() is not this probe %" PRIu64 "x\n",
			       insn_name(in, name, sizeof(name)), in->bad_probe);
		if (in->bad_pid && n_state++ < MAX_REPORT)
			printf("FAIL: state %s: uprobe_hit_pid/tid wrong %" PRIu64 "x\n",
			       insn_name(in, name, sizeof(name)), in->bad_pid);
		if (in->bad_async && n_state++ < MAX_REPORT)
			printf("FAIL: state %s: %" PRIu64 " async hits where every hit must stop\n",
			       insn_name(in, name, sizeof(name)), in->bad_async);
		if (in->bad_chk && n_state++ < MAX_REPORT)
			printf("FAIL: state %s: %s: wrong %" PRIu64 "x, first value 0x%" PRIx64
			       " (address 0x%" PRIx64 ", bias 0x%" PRIx64 ")\n",
			       insn_name(in, name, sizeof(name)), chk_name(in->chk), in->bad_chk,
			       in->first_bad_val, in->vaddr + traced_bias, traced_bias);
	}
	if (n_count) {
		failures++;
		printf("FAIL: %u of %zu probes have wrong hit counts\n", n_count, ninsns);
	}
	if (n_state) {
		failures++;
		printf("FAIL: %u wrong handler-visible states\n", n_state);
	}
	printf("expected hits in total: %" PRIu64 "\n", total);
}

/*
 * --nostop: how many hits came from the ring. Where detours can exist at least
 * one must have, or the test could pass with every no-stop hit stopping.
 */
static void check_async(void)
{
	uint64_t async = 0, total = 0, skipped = 0;
	size_t nprobes = 0, nasync = 0;

	for (size_t i = 0; i < ninsns; i++) {
		if (!insns[i].p)
			continue;
		nprobes++;
		nasync += insns[i].async_hits != 0;
		async += insns[i].async_hits;
		total += insns[i].hits;
		skipped += insns[i].chk_skipped;
	}
	printf("async hits: %" PRIu64 " of %" PRIu64 ", at %zu of %zu probes; %" PRIu64
	       " memory checks skipped at async hits\n", async, total, nasync, nprobes, skipped);
	if (nostop_mode && !force_inline && !async)
		fail("--nostop: no hit was async: no probe got a no-stop detour");
}

/* What one traced run counted, cleared for the next (--repeat). */
static void forget_traced_run(void)
{
	for (size_t i = 0; i < ninsns; i++) {
		struct insn *in = &insns[i];

		in->post_hits = in->post_sum = in->bad_post_addr = 0;
		in->p = NULL;
		in->hits = in->api_hits = 0;
		in->bad_addr = in->bad_rip = in->bad_probe = in->bad_pid = in->bad_chk = 0;
		in->async_hits = in->bad_async = in->chk_skipped = 0;
		in->first_bad_addr = in->first_bad_rip = in->first_bad_val = 0;
	}
	scratch_maps = -1;
	g_last_hit = -1;
}

int main(int argc, char **argv)
{
	bool threads, add_before = false;
	const char *excludes[16];
	unsigned nexcludes = 0;
	const char *path;
	char *plain_out = NULL, *traced_out = NULL;
	int plain_st = 0, traced_st = 0, r, repeat = 1;
	size_t nchk = 0, nexec = 0;
	struct sigaction sa = { .sa_handler = on_fatal_signal };

	if (argc < 3 || (strcmp(argv[1], "single") && strcmp(argv[1], "threads"))) {
		fprintf(stderr,
			"usage: %s single|threads TORTURE [--add-before-spawn] [--signal-every-hit] "
			"[--post] [--nostop] [--inline] [--every N,K] [--exclude FUNC]...\n",
			argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	threads = !strcmp(argv[1], "threads");
	path = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--add-before-spawn")) {
			add_before = true;
		} else if (!strcmp(argv[i], "--exclude") && i + 1 < argc && nexcludes < 16) {
			excludes[nexcludes++] = argv[++i];
		} else if (!strcmp(argv[i], "--signal-every-hit")) {
			signal_every_hit = true;
		} else if (!strcmp(argv[i], "--post")) {
			post_mode = true;
		} else if (!strcmp(argv[i], "--nostop")) {
			nostop_mode = true;
		} else if (!strcmp(argv[i], "--inline")) {
			force_inline = true;
		} else if (!strcmp(argv[i], "--repeat") && i + 1 < argc &&
			   (repeat = atoi(argv[i + 1])) >= 1 && repeat <= 100) {
			i++;
		} else if (!strcmp(argv[i], "--every") && i + 1 < argc &&
			   sscanf(argv[i + 1], "%u,%u", &every_n, &every_k) == 2 && every_n &&
			   every_k < every_n) {
			i++;
		} else {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
			return 2;
		}
	}
	if (nostop_mode && post_mode) {
		fprintf(stderr, "%s: --nostop and --post: a no-stop probe has no post handler\n",
			argv[0]);
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	char *abs = realpath(path, NULL);
	if (!abs) {
		printf("FAIL: %s: %s\n", path, strerror(errno));
		return 1;
	}
	char *targv[] = { abs, threads ? "threads" : NULL, NULL };

	if (load_torture(abs))
		return 1;
	for (unsigned e = 0; e < nexcludes; e++) {
		bool found = false;

		for (size_t k = 0; k < nfuncs; k++)
			if (!strcmp(funcs[k].name, excludes[e]))
				found = funcs[k].excluded = true;
		if (!found) {
			printf("FAIL: --exclude %s: no such torture function\n", excludes[e]);
			return 1;
		}
		printf("not probed: %s\n", excludes[e]);
	}
	for (size_t i = 0; i < ninsns; i++)
		nchk += insns[i].chk != CHK_NONE;
	printf("%s: %s, %zu functions, %zu instructions (%zu with state checks), mode %s%s%s%s%s\n",
	       abs, elf_pie ? "PIE" : "non-PIE", nfuncs, ninsns, nchk, argv[1],
	       add_before ? ", probes added before spawn" : "",
	       signal_every_hit ? ", SIGUSR1 on every hit" : "",
	       force_inline ? ", in place (no scratch area)" : "",
	       nostop_mode ? ", no-stop probes" : "");

	r = reference_run(abs);
	if (r)
		return r == 77 ? 77 : 1;
	for (size_t i = 0; i < ninsns; i++)
		nexec += insns[i].ref != 0;
	printf("reference: %zu of %zu instructions executed at least once; never:", nexec, ninsns);
	for (size_t i = 0; i < ninsns; i++)
		if (!insns[i].ref)
			printf(" %s+0x%" PRIx64, funcs[insns[i].fn].name, insns[i].off);
	printf("\n");

	if (plain_run(targv, &plain_out, &plain_st)) {
		printf("FAIL: untraced run failed or timed out\n");
		return 1;
	}
	for (int run = 1; run <= repeat && !failures; run++) {
		if (repeat > 1) {
			printf("traced run %d of %d\n", run, repeat);
			forget_traced_run();
		}
		r = traced_run(targv, add_before, &traced_out, &traced_st);
		if (r == 77)
			return 77;
		if (r) {
			failures++;
		} else {
			compare_outputs(plain_out, plain_st, traced_out, traced_st);
			compare_counts(threads ? NTHREADS : 1);
			check_async();
			if (force_inline && scratch_maps != 0)
				fail("inline mode: %d anonymous executable mappings in the tracee at "
				     "its first hit", scratch_maps);
		}
		free(traced_out);
		traced_out = NULL;
	}
	printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
	free(plain_out);
	free(abs);
	return failures ? 1 : 0;
}
