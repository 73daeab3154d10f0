// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What this machine really does, measured once per tracer process.
 *
 * CPUs, hypervisors and kernels differ in ways no flag tells reliably: a
 * microVM may accept debug-register writes and never fire them, hide
 * FSGSBASE, or report the single-step trap after an instruction it
 * emulates (cpuid) one instruction late. Nothing in libuprobe relies on a
 * feature without this check, and every path that uses one has an exact
 * fallback:
 *
 * - FSGSBASE (AT_HWCAP2): the record gadget of no-stop probes reads the
 *   thread's fs base with rdfsbase; without it, it reads the word at %fs:0,
 *   which the x86-64 TLS ABI makes the thread pointer itself (checked per
 *   process, ring.c).
 * - TSC: records are time-stamped in the tracee with rdtsc when the kernel
 *   keeps time with the TSC; without it, a hit's time is when it was drained.
 * - Debug registers and exact single-steps are measured and reported only:
 *   libuprobe needs neither (a rep string instruction is finished under an
 *   int3 placed after a copy of it; a step that went one instruction too
 *   far is taken as done).
 *
 * UPROBE_TEST_CAPS_OFF (a comma-separated list of names, or "all") turns
 * capabilities off, so that the test suite runs every fallback on every
 * machine. For tests only, never for production.
 */
#include <cpuid.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define HWCAP2_FSGSBASE_BIT (1ul << 1)

/*
 * The measuring child runs this (after stopping itself): the tracer moves it
 * to caps_cpuid and steps once, then to caps_hw_entry with DR0 on
 * caps_hw_target and lets it run. It exits by itself if nothing stops it.
 */
extern const char uprobe__caps_cpuid[], uprobe__caps_after_cpuid[], uprobe__caps_after_next[];
extern const char uprobe__caps_hw_entry[], uprobe__caps_hw_target[];
__asm__(
	"	.pushsection .text.uprobe_caps, \"ax\"\n"
	"	.globl uprobe__caps_cpuid\n"
	"	.hidden uprobe__caps_cpuid\n"
	"	.globl uprobe__caps_after_cpuid\n"
	"	.hidden uprobe__caps_after_cpuid\n"
	"	.globl uprobe__caps_after_next\n"
	"	.hidden uprobe__caps_after_next\n"
	"	.globl uprobe__caps_hw_entry\n"
	"	.hidden uprobe__caps_hw_entry\n"
	"	.globl uprobe__caps_hw_target\n"
	"	.hidden uprobe__caps_hw_target\n"
	"uprobe__caps_cpuid:\n"
	"	cpuid\n"
	"uprobe__caps_after_cpuid:\n"
	"	mov %eax, %r8d\n"
	"uprobe__caps_after_next:\n"
	"	nop\n"
	"	ud2\n"
	"uprobe__caps_hw_entry:\n"
	"	nop\n"
	"uprobe__caps_hw_target:\n"
	"	nop\n"
	"	mov $231, %eax\n" /* exit_group(0): the breakpoint did not fire */
	"	xor %edi, %edi\n"
	"	syscall\n"
	"	ud2\n"
	"	.popsection\n");

static unsigned caps_measured; /* what the machine does */
static unsigned caps_off;      /* what UPROBE_TEST_CAPS_OFF turns off */
static pthread_once_t caps_once = PTHREAD_ONCE_INIT;

static const struct {
	unsigned bit;
	const char *name;
} cap_names[] = {
	{ UPROBE_CAP_FSGSBASE, "fsgsbase" },
	{ UPROBE_CAP_TSC, "tsc" },
	{ UPROBE_CAP_HW_BREAK, "hwbreak" },
	{ UPROBE_CAP_STEP_EXACT, "stepexact" },
	{ UPROBE_CAP_LAHF, "lahf" },
	{ UPROBE_CAP_PREFETCHW, "prefetchw" },
};

/* lahf/sahf in 64-bit mode: CPUID 0x80000001 ECX bit 0 (LAHF-SAHF) */
static bool have_lahf(void)
{
	unsigned a, b, c, d;

	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & 1);
}

/* prefetchw: CPUID 0x80000001 ECX bit 8 (PREFETCHW, once AMD's 3DNowPrefetch) */
static bool have_prefetchw(void)
{
	unsigned a, b, c, d;

	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 8));
}

static bool clock_is_tsc(void)
{
	char buf[32] = "";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return !strcmp(buf, "tsc\n");
}

/* Waits up to ~1 s for a stop or the end of pid; false on a timeout. */
static bool wait_bounded(pid_t pid, int *st)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(pid, st, WNOHANG | __WALL);

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		nanosleep(&ms, NULL);
	}
	return false;
}

/* Debug registers and a step over cpuid, on a child of our own. */
static unsigned measure_child(void)
{
	struct user_regs_struct regs;
	unsigned caps = 0;
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return 0;
	if (pid == 0) {
		/* raw system calls only: the parent may have had other threads */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
			syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
		syscall(SYS_exit_group, 0);
	}
	if (!wait_bounded(pid, &st) || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		goto out;
	if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) < 0)
		goto out;
	regs.rip = (uint64_t)(uintptr_t)uprobe__caps_cpuid;
	regs.rax = 0;
	regs.rcx = 0;
	if (ptrace(PTRACE_SETREGS, pid, NULL, &regs) < 0 ||
	    ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) < 0 || !wait_bounded(pid, &st) ||
	    !WIFSTOPPED(st) || ptrace(PTRACE_GETREGS, pid, NULL, &regs) < 0)
		goto out;
	if (regs.rip == (uint64_t)(uintptr_t)uprobe__caps_after_cpuid)
		caps |= UPROBE_CAP_STEP_EXACT;
	else if (regs.rip != (uint64_t)(uintptr_t)uprobe__caps_after_next)
		pr_debug("capabilities: a step over cpuid stopped at an unexpected place");
	regs.rip = (uint64_t)(uintptr_t)uprobe__caps_hw_entry;
	if (ptrace(PTRACE_SETREGS, pid, NULL, &regs) < 0 ||
	    arch_hw_break_set(pid, (uint64_t)(uintptr_t)uprobe__caps_hw_target) < 0 ||
	    ptrace(PTRACE_CONT, pid, NULL, NULL) < 0 || !wait_bounded(pid, &st))
		goto out;
	if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP &&
	    ptrace(PTRACE_GETREGS, pid, NULL, &regs) == 0 &&
	    regs.rip == (uint64_t)(uintptr_t)uprobe__caps_hw_target)
		caps |= UPROBE_CAP_HW_BREAK;
out:
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
	return caps;
}

static void caps_parse_off(const char *s)
{
	char buf[128], *save = NULL;

	if (!s || !*s)
		return;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		bool known = false;

		if (!strcmp(w, "all")) {
			caps_off = ~0u;
			continue;
		}
		for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++) {
			if (!strcmp(w, cap_names[i].name)) {
				caps_off |= cap_names[i].bit;
				known = true;
			}
		}
		if (!known)
			pr_warn("UPROBE_TEST_CAPS_OFF: unknown capability '%s'", w);
	}
}

static void caps_measure(void)
{
	if (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE_BIT)
		caps_measured |= UPROBE_CAP_FSGSBASE;
	if (clock_is_tsc())
		caps_measured |= UPROBE_CAP_TSC;
	if (have_lahf())
		caps_measured |= UPROBE_CAP_LAHF;
	if (have_prefetchw())
		caps_measured |= UPROBE_CAP_PREFETCHW;
	caps_measured |= measure_child();
	caps_parse_off(getenv("UPROBE_TEST_CAPS_OFF"));
	if (caps_off)
		pr_debug("UPROBE_TEST_CAPS_OFF is set: capabilities turned off for testing (0x%x)",
			caps_off & caps_measured);
	pr_debug("capabilities: fsgsbase %s, tsc %s, hwbreak %s, stepexact %s, lahf %s, "
		 "prefetchw %s%s",
		 caps_measured & UPROBE_CAP_FSGSBASE ? "yes" : "no",
		 caps_measured & UPROBE_CAP_TSC ? "yes" : "no",
		 caps_measured & UPROBE_CAP_HW_BREAK ? "yes" : "no",
		 caps_measured & UPROBE_CAP_STEP_EXACT ? "yes" : "no (late after cpuid)",
		 caps_measured & UPROBE_CAP_LAHF ? "yes" : "no",
		 caps_measured & UPROBE_CAP_PREFETCHW ? "yes" : "no",
		 caps_off ? "; some turned off by UPROBE_TEST_CAPS_OFF" : "");
}

bool caps_have(unsigned cap)
{
	pthread_once(&caps_once, caps_measure);
	return (caps_measured & ~caps_off & cap) == cap;
}

UPROBE_API unsigned uprobe_caps(void)
{
	pthread_once(&caps_once, caps_measure);
	return caps_measured & ~caps_off;
}

UPROBE_API const char *uprobe_cap_name(unsigned cap)
{
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (cap_names[i].bit == cap)
			return cap_names[i].name;
	return NULL;
}
