// SPDX-License-Identifier: LGPL-2.1-or-later
/* Driver of the instruction torture functions: deterministic loops, checksums on stdout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* REG_RIP and friends */
#endif
#include <cpuid.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

/*
 * Usage: insn-torture            run every function once per loop index, print
 *        insn-torture threads    the same work in 4 threads at once under a
 *                                fast ITIMER_PROF; stdout identical in shape,
 *                                counters 4x, nothing depends on the timer.
 * stdout is a pure function of the binary and the CPU (cpuid leaf 0), so a
 * traced run must print exactly what an untraced one prints. Lines containing
 * "FAIL" are self-check failures. stderr carries only the SIGPROF/SIGUSR1 counts
 * (a tracer may send SIGUSR1 at any time; the handler only counts).
 */

typedef uint64_t (*tort_fn)(uint64_t i, uint64_t aux);

#define TORT(name) uint64_t name(uint64_t i, uint64_t aux);
TORT(tort_rip_load)
TORT(tort_rip_store)
TORT(tort_rip_lea)
TORT(tort_rip_sse)
TORT(tort_rip_vex)
TORT(tort_rip_evex)
TORT(tort_rip_lock)
TORT(tort_rip_x87)
TORT(tort_rip_eip)
TORT(tort_call_rel)
TORT(tort_getpc)
TORT(tort_call_ind)
TORT(tort_ret_caller)
TORT(tort_jmp)
TORT(tort_jcc)
TORT(tort_loop)
TORT(tort_pushf)
TORT(tort_pushpop)
TORT(tort_frame)
TORT(tort_rep)
TORT(tort_syscall)
TORT(tort_cpuid)
TORT(tort_nops)
TORT(tort_redzone)
TORT(tort_seg)
TORT(tort_fault)

extern uint64_t tort_cnt_c;
extern uint32_t tort_cnt_a, tort_cnt_b, tort_cnt_d, tort_cnt_e;
extern uint16_t tort_cnt_w;
extern char tort_guard[4096];

enum need { NEED_NONE, NEED_SSE41, NEED_AVX2, NEED_AVX512 };

enum check {
	CHK_NONE,
	CHK_ZERO,    /* must return 0 */
	CHK_PUSHF,   /* high half: TF sightings, must be 0 */
	CHK_SYSCALL, /* bits 0,1 set, bit 2 clear */
	CHK_REDZONE, /* low byte: corrupted red-zone slots, must be 0 */
	CHK_FAULT,   /* the fault handler saw every fault where it belongs */
};

static uint64_t fault_wrap(uint64_t i, uint64_t aux);
#define FAULTS_PER_CALL(i) (14 + 2 * ((i) & 1))

struct entry {
	const char *name;
	tort_fn fn;
	unsigned iters; /* loop indices 0..iters-1: different per function */
	enum need need;
	enum check check;
};

static const struct entry entries[] = {
	{ "tort_rip_load", tort_rip_load, 41, NEED_NONE, CHK_NONE },
	{ "tort_rip_store", tort_rip_store, 37, NEED_NONE, CHK_NONE },
	{ "tort_rip_lea", tort_rip_lea, 29, NEED_NONE, CHK_NONE },
	{ "tort_rip_sse", tort_rip_sse, 33, NEED_SSE41, CHK_NONE },
	{ "tort_rip_vex", tort_rip_vex, 31, NEED_AVX2, CHK_NONE },
	{ "tort_rip_evex", tort_rip_evex, 27, NEED_AVX512, CHK_NONE },
	{ "tort_rip_lock", tort_rip_lock, 43, NEED_NONE, CHK_NONE },
	{ "tort_rip_x87", tort_rip_x87, 23, NEED_NONE, CHK_NONE },
#ifdef TORTURE_NOPIE
	{ "tort_rip_eip", tort_rip_eip, 19, NEED_NONE, CHK_NONE },
#endif
	{ "tort_call_rel", tort_call_rel, 39, NEED_NONE, CHK_NONE },
	{ "tort_getpc", tort_getpc, 21, NEED_NONE, CHK_ZERO },
	{ "tort_call_ind", tort_call_ind, 35, NEED_NONE, CHK_NONE },
	{ "tort_ret_caller", tort_ret_caller, 25, NEED_NONE, CHK_NONE },
	{ "tort_jmp", tort_jmp, 64, NEED_NONE, CHK_NONE },
	{ "tort_jcc", tort_jcc, 48, NEED_NONE, CHK_NONE },
	{ "tort_loop", tort_loop, 47, NEED_NONE, CHK_NONE },
	{ "tort_pushf", tort_pushf, 30, NEED_NONE, CHK_PUSHF },
	{ "tort_pushpop", tort_pushpop, 26, NEED_NONE, CHK_NONE },
	{ "tort_frame", tort_frame, 17, NEED_NONE, CHK_NONE },
	{ "tort_rep", tort_rep, 45, NEED_NONE, CHK_NONE },
	{ "tort_syscall", tort_syscall, 22, NEED_NONE, CHK_SYSCALL },
	{ "tort_cpuid", tort_cpuid, 9, NEED_NONE, CHK_NONE },
	{ "tort_nops", tort_nops, 34, NEED_NONE, CHK_NONE },
	{ "tort_redzone", tort_redzone, 36, NEED_NONE, CHK_REDZONE },
	{ "tort_seg", tort_seg, 15, NEED_NONE, CHK_NONE },
	{ "tort_fault", fault_wrap, 12, NEED_NONE, CHK_FAULT },
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))
#define NTHREADS 4

struct result {
	uint64_t cs[NENTRIES];
	uint64_t bad[NENTRIES]; /* self-check failures */
	uint64_t tf_seen;       /* TF in pushed flags or in r11 after syscall */
	uint64_t faults;        /* faults recovered as expected */
	char fault_msg[200];    /* the first unexpected one */
};

/* Per thread: tort_fault's faults, checked by on_fault(). */
static __thread bool in_fault_test;
static __thread uint64_t fault_ok, fault_bad;
static __thread char fault_msg[200];

static bool have[4];
static uint64_t pid_aux;
static volatile uint64_t prof_hits, usr1_hits;
static pthread_barrier_t start_barrier;

static void detect_cpu(void)
{
	unsigned a, b, c, d;
	uint64_t xcr0 = 0;

	have[NEED_NONE] = true;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	have[NEED_SSE41] = c & bit_SSE4_1;
	if (c & bit_OSXSAVE) {
		unsigned lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = ((uint64_t)hi << 32) | lo;
	}
	bool avx_os = (xcr0 & 0x6) == 0x6;
	bool avx512_os = (xcr0 & 0xe6) == 0xe6;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return;
	have[NEED_AVX2] = avx_os && (b & bit_AVX2) && (b & bit_BMI) && (b & bit_BMI2);
	have[NEED_AVX512] = avx512_os && (b & bit_AVX512F);
}

/*
 * The register protocol of tort_fault (torture.S): rip == r13, rsp == r12,
 * [rsp] == r15 unless 0, si_addr == rbx unless -1; continue at r14, rsp = rbp.
 */
static void on_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = g[REG_RIP], rsp = g[REG_RSP], tos = 0;
	bool ok;

	if (!in_fault_test) {
		/* a real crash: die of it */
		signal(sig, SIG_DFL);
		return;
	}
	ok = rip == (uint64_t)g[REG_R13] && rsp == (uint64_t)g[REG_R12];
	if (ok && g[REG_R15]) {
		tos = *(uint64_t *)rsp;
		ok = tos == (uint64_t)g[REG_R15];
	}
	if (ok && g[REG_RBX] != -1)
		ok = (uint64_t)si->si_addr == (uint64_t)g[REG_RBX];
	if (ok) {
		fault_ok++;
	} else if (!fault_bad++) {
		/* addresses as offsets from tort_fault so the text is the same in every run */
		uint64_t base = (uint64_t)tort_fault;

		snprintf(fault_msg, sizeof(fault_msg),
			 "sig %d at tort_fault%+lld (want %+lld), rsp-want %lld, [rsp] %+lld (want "
			 "%+lld), si_addr match %d", sig, (long long)(rip - base),
			 (long long)(g[REG_R13] - base), (long long)(rsp - g[REG_R12]),
			 (long long)(tos - base), (long long)(g[REG_R15] - base),
			 (uint64_t)si->si_addr == (uint64_t)g[REG_RBX]);
	}
	g[REG_RIP] = g[REG_R14];
	g[REG_RSP] = g[REG_RBP];
}

static uint64_t fault_wrap(uint64_t i, uint64_t aux)
{
	uint64_t before = fault_ok, r;

	in_fault_test = true;
	r = tort_fault(i, aux);
	in_fault_test = false;
	/* r counts the recoveries tort_fault itself saw; the handler must agree */
	if (fault_ok - before != FAULTS_PER_CALL(i) || r != FAULTS_PER_CALL(i))
		fault_bad++;
	return r;
}

/* The fault handler runs on an alternate stack: tort_fault also faults with rsp on a
 * PROT_NONE page. Every thread needs its own. */
static void setup_altstack(void)
{
	static __thread char stack[64 * 1024];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };

	sigaltstack(&ss, NULL);
}

static void run_all(struct result *r)
{
	memset(r, 0, sizeof(*r));
	setup_altstack();
	for (size_t k = 0; k < NENTRIES; k++) {
		const struct entry *e = &entries[k];
		uint64_t cs = 0xcbf29ce484222325ull;
		uint64_t aux = e->check == CHK_SYSCALL ? pid_aux : 0;

		if (!have[e->need])
			continue;
		for (unsigned i = 0; i < e->iters; i++) {
			uint64_t v = e->fn(i, aux);

			cs = (cs ^ v) * 0x100000001b3ull;
			switch (e->check) {
			case CHK_ZERO:
				r->bad[k] += v != 0;
				break;
			case CHK_PUSHF:
				r->tf_seen += v >> 32;
				break;
			case CHK_SYSCALL:
				r->bad[k] += (v & 3) != 3;
				r->tf_seen += (v >> 2) & 1;
				break;
			case CHK_REDZONE:
				r->bad[k] += (v & 0xff) != 0;
				break;
			case CHK_FAULT:
				r->bad[k] = fault_bad;
				r->faults = fault_ok;
				memcpy(r->fault_msg, fault_msg, sizeof(fault_msg));
				break;
			default:
				break;
			}
		}
		r->cs[k] = cs;
	}
}

static void *worker(void *arg)
{
	pthread_barrier_wait(&start_barrier);
	run_all(arg);
	return NULL;
}

/*
 * File-backed executable mappings at start-up (program, libraries) and the
 * vdso. An asynchronous signal must interrupt the program at one of its own
 * addresses: a tracer's scratch code (anonymous, and possibly mapped before
 * main runs) must never show in a signal frame.
 */
static struct {
	uintptr_t lo, hi;
} text[64];
static unsigned ntext;
static volatile uint64_t foreign_rip;
static uintptr_t first_foreign_rip;
static unsigned char first_foreign_code[32]; /* from the start of its 64-byte slot */

static void record_text(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	while (f && fgets(line, sizeof(line), f) && ntext < 64) {
		unsigned long lo, hi;
		char perms[8], path[256] = "";

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &lo, &hi, perms, path) >= 3 &&
		    perms[2] == 'x' &&
		    ((path[0] == '/' && strncmp(path, "/memfd:", 7)) || !strcmp(path, "[vdso]")))
			text[ntext].lo = lo, text[ntext++].hi = hi;
	}
	if (f)
		fclose(f);
}

static void check_interrupted_rip(void *ucv)
{
	uintptr_t rip = ((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];

	/* tort_fault jumps to 0x10 on purpose: a signal may come before the fetch faults */
	if (rip < 4096)
		return;
	for (unsigned i = 0; i < ntext; i++)
		if (rip >= text[i].lo && rip < text[i].hi)
			return;
	if (__atomic_fetch_add(&foreign_rip, 1, __ATOMIC_RELAXED) == 0) {
		first_foreign_rip = rip;
		memcpy(first_foreign_code, (void *)(rip & ~(uintptr_t)63), sizeof(first_foreign_code));
	}
}

/* The integration test's handlers may tgkill() SIGUSR1 at the probed thread on any hit. */
static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	__atomic_fetch_add(&usr1_hits, 1, __ATOMIC_RELAXED);
	check_interrupted_rip(uc);
}

static void on_prof(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	__atomic_fetch_add(&prof_hits, 1, __ATOMIC_RELAXED);
	check_interrupted_rip(uc);
}

static void print_result(const struct result *r)
{
	for (size_t k = 0; k < NENTRIES; k++) {
		const struct entry *e = &entries[k];

		if (!have[e->need]) {
			printf("%-16s skipped (cpu lacks it)\n", e->name);
			continue;
		}
		printf("%-16s iters=%-3u cs=%016llx%s\n", e->name, e->iters,
		       (unsigned long long)r->cs[k], r->bad[k] ? " FAIL self-check" : "");
	}
	printf("pushf_tf_bit_seen %llu%s\n", (unsigned long long)r->tf_seen,
	       r->tf_seen ? " FAIL" : "");
	printf("faults_recovered %llu\n", (unsigned long long)r->faults);
	if (r->fault_msg[0])
		printf("FAIL fault: %s\n", r->fault_msg);
}

int main(int argc, char **argv)
{
	bool threaded = argc > 1 && !strcmp(argv[1], "threads");
	unsigned mult = threaded ? NTHREADS : 1;
	int rc = 0;

	struct sigaction usr1 = { .sa_sigaction = on_usr1,
				  .sa_flags = SA_RESTART | SA_SIGINFO | SA_ONSTACK };

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	record_text();
	struct sigaction fault = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK };

	sigemptyset(&usr1.sa_mask);
	sigaction(SIGUSR1, &usr1, NULL);
	sigemptyset(&fault.sa_mask);
	sigaction(SIGSEGV, &fault, NULL);
	sigaction(SIGBUS, &fault, NULL);
	sigaction(SIGFPE, &fault, NULL);
	if (mprotect(tort_guard, sizeof(tort_guard), PROT_NONE)) {
		perror("mprotect");
		return 2;
	}
	detect_cpu();
	pid_aux = (uint64_t)getpid();

	if (!threaded) {
		static struct result r;

		run_all(&r);
		print_result(&r);
		rc |= r.tf_seen != 0;
		for (size_t k = 0; k < NENTRIES; k++)
			rc |= r.bad[k] != 0;
	} else {
		static struct result r[NTHREADS];
		pthread_t th[NTHREADS];
		/* SA_ONSTACK: tort_fault runs with rsp just above a PROT_NONE page */
		struct sigaction sa = { .sa_sigaction = on_prof,
					.sa_flags = SA_RESTART | SA_SIGINFO | SA_ONSTACK };
		struct itimerval it = { { 0, 100 }, { 0, 100 } };
		bool agree = true;

		sigemptyset(&sa.sa_mask);
		sigaction(SIGPROF, &sa, NULL);
		pthread_barrier_init(&start_barrier, NULL, NTHREADS);
		setitimer(ITIMER_PROF, &it, NULL);
		for (int n = 0; n < NTHREADS; n++)
			if (pthread_create(&th[n], NULL, worker, &r[n])) {
				perror("pthread_create");
				return 2;
			}
		for (int n = 0; n < NTHREADS; n++)
			pthread_join(th[n], NULL);
		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_PROF, &it, NULL);
		print_result(&r[0]);
		for (int n = 1; n < NTHREADS; n++)
			agree &= !memcmp(&r[0], &r[n], sizeof(r[0]));
		printf("threads_agree %s\n", agree ? "yes" : "no FAIL");
		rc |= !agree || r[0].tf_seen != 0;
		for (size_t k = 0; k < NENTRIES; k++)
			rc |= r[0].bad[k] != 0;
		fprintf(stderr, "insn-torture: %llu SIGPROF\n", (unsigned long long)prof_hits);
	}
	if (usr1_hits)
		fprintf(stderr, "insn-torture: %llu SIGUSR1\n", (unsigned long long)usr1_hits);
	if (foreign_rip) {
		printf("FAIL: %llu asynchronous signals interrupted code outside the program's text; "
		       "first at %#lx (slot offset %lu), the 64-byte block holds:",
		       (unsigned long long)foreign_rip, (unsigned long)first_foreign_rip,
		       (unsigned long)(first_foreign_rip & 63));
		for (size_t b = 0; b < sizeof(first_foreign_code); b++)
			printf(" %02x", first_foreign_code[b]);
		printf("\n");
		rc = 1;
	}
	/* lock-prefixed counters: per run of run_all, times the thread count */
	printf("cnt_a %u cnt_b %08x cnt_c %llu cnt_d %u cnt_e %u cnt_w %04x (x%u)\n", tort_cnt_a,
	       tort_cnt_b, (unsigned long long)tort_cnt_c, tort_cnt_d, tort_cnt_e, tort_cnt_w,
	       mult);
	fflush(stdout);
	return rc;
}
