// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tracee of the CLI's issue-18 tests: a program that uses SIGTRAP and functions that return
 * twice, and prints at its end its whole signal state, so that a traced run can be compared
 * byte for byte with an untraced one.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

/*
 * usage: sigstate FEATURES N [GOFILE]
 *
 * FEATURES, comma-separated:
 *   handler   a SIGTRAP handler of its own (SA_SIGINFO, SA_RESTART, SIGUSR2 in its mask);
 *             every 10th call it raise()s SIGTRAP and (SIGTRAP not blocked) runs an int3 of its own
 *   ignore    SIGTRAP ignored; raise(SIGTRAP) every 10th call
 *   block     SIGTRAP blocked in every thread; raise(SIGTRAP) every 10th call (left pending)
 *   blockall  every signal blocked in every thread
 *   ctor      a constructor, before main, blocks SIGTRAP and installs the handler (as
 *             handler and block: raise(SIGTRAP) every 10th call, left pending)
 *   late      the handler is installed (and SIGTRAP raised) half-way through, while traced
 *   jmp       each call also goes through setjmp/longjmp, _setjmp, and sigsetjmp/siglongjmp
 *             out of the SIGTRAP handler (with handler)
 *   ucontext  each call also goes through getcontext and a swapcontext to a second context,
 *             and a getcontext that setcontext makes return twice
 *   children  fork, vfork and posix_spawn children, each checked by its exit status
 *   int3      at the end an int3 with SIGTRAP at its default: it dies of SIGTRAP
 *   usr1      a SIGUSR1 handler blocking every signal (sigfillset() sa_mask, SIGTRAP in it),
 *             raised every 10th call; it calls sig_work() and notes the mask it runs with
 * N: how many calls of sig_work(), by the main thread and by a second thread.
 * GOFILE: once set up, "ready" on stderr, then sig_work() every 10 ms until GOFILE exists
 * (bounded: 60 s), before the N calls: a moment to attach and detach in.
 *
 * At its end: the sum of the calls, the number of SIGTRAPs its handler took, each thread's
 * SigBlk and SigPnd (/proc) and its mask and pending signals as it asks for them
 * (pthread_sigmask, sigpending), the process's SigIgn, SigCgt and ShdPnd, and every signal's
 * sigaction (handler, flags, mask). Nothing that differs between two untraced runs (no pid, no address).
 */

#define PROBED __attribute__((noipa, used))
#define UC_STACK (64 * 1024)

static volatile sig_atomic_t traps;
static int f_handler, f_ignore, f_block, f_blockall, f_ctor, f_late, f_jmp, f_ucontext;
static int f_children, f_int3, f_usr1;
/* the masks SIGUSR1's handler ran with, as it asked for them: all ORed, all ANDed */
static unsigned long long usr1_or, usr1_and = ~0ull;
static int usr1_runs;
static long n_calls;
/* per thread: both threads jump and switch contexts at once */
static __thread sigjmp_buf trap_jmp;
static __thread volatile sig_atomic_t trap_jmp_armed, thread_traps;

void own_int3(void);
__asm__(".text\n"
	".globl own_int3\n"
	".type own_int3, @function\n"
	"own_int3:\n"
	"	int3\n"
	"	ret\n"
	".size own_int3, .-own_int3\n");

PROBED long sig_work(long i)
{
	return i * 5 + 1;
}

/* Called by nobody: a probe that is never hit. */
PROBED long sig_never(long i)
{
	return i - 1;
}

static void on_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	/* both threads' handlers may run at once: traps++ would lose a count */
	__atomic_add_fetch(&traps, 1, __ATOMIC_RELAXED);
	thread_traps++;
	if (trap_jmp_armed) {
		trap_jmp_armed = 0;
		siglongjmp(trap_jmp, 1);
	}
}

static unsigned long long set_bits(const sigset_t *set);

static void on_usr1(int sig)
{
	sigset_t m;

	(void)sig;
	sig_work(sig);
	sigemptyset(&m);
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	__atomic_or_fetch(&usr1_or, set_bits(&m), __ATOMIC_RELAXED);
	__atomic_and_fetch(&usr1_and, set_bits(&m), __ATOMIC_RELAXED);
	__atomic_add_fetch(&usr1_runs, 1, __ATOMIC_RELAXED);
}

static void set_usr1(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

static void set_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGTRAP, &sa, NULL);
}

static int has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

/* glibc passes main's arguments to the program's constructors. */
__attribute__((constructor)) static void early(int argc, char **argv)
{
	sigset_t trap;

	if (argc < 2 || !has(argv[1], "ctor"))
		return;
	sigemptyset(&trap);
	sigaddset(&trap, SIGTRAP);
	sigprocmask(SIG_BLOCK, &trap, NULL);
	set_handler();
}

static __thread ucontext_t uc_main, uc_side;
static __thread long uc_arg, uc_ret;
static __thread char *uc_stack;

static void side(void)
{
	uc_ret = sig_work(uc_arg);
	swapcontext(&uc_side, &uc_main);
}

static __thread jmp_buf jb;

/* One call of sig_work(i), through whatever the features ask; returns what it returned. */
static long one_call(long i)
{
	long r = sig_work(i);

	if (f_jmp) {
		volatile long v = 0;

		if (setjmp(jb) == 0) {
			v = sig_work(i);
			longjmp(jb, 1);
		}
		if (v != r)
			return -1;
		if (_setjmp(jb) == 0)
			_longjmp(jb, 2);
		if (f_handler && i % 10 == 3) {
			long before = thread_traps;

			if (sigsetjmp(trap_jmp, 1) == 0) {
				trap_jmp_armed = 1;
				raise(SIGTRAP);
				return -1; /* the handler jumps back */
			}
			if (thread_traps != before + 1)
				return -1;
		}
	}
	if (f_ucontext) {
		volatile int done = 0;

		getcontext(&uc_main);
		if (!done) {
			done = 1;
			uc_arg = i;
			getcontext(&uc_side);
			if (!uc_stack)
				uc_stack = malloc(UC_STACK);
			if (!uc_stack)
				return -1;
			uc_side.uc_stack.ss_sp = uc_stack;
			uc_side.uc_stack.ss_size = UC_STACK;
			uc_side.uc_link = &uc_main;
			makecontext(&uc_side, side, 0);
			swapcontext(&uc_main, &uc_side);
		}
		if (uc_ret != r)
			return -1;
		/* and getcontext returning twice, through setcontext */
		done = 0;
		getcontext(&uc_side);
		if (!done) {
			done = 1;
			setcontext(&uc_side);
			return -1;
		}
	}
	if (f_usr1 && i % 10 == 5)
		raise(SIGUSR1);
	if (i % 10 == 0 && (f_handler || f_ignore || f_block)) {
		raise(SIGTRAP);
		if (f_handler && !f_block)
			own_int3();
	}
	return r;
}

static long loop(long n)
{
	long sum = 0;

	for (long i = 0; i < n; i++) {
		long r = one_call(i);

		if (r != i * 5 + 1)
			return -1;
		sum += r;
		if (f_late && i == n / 2) {
			set_handler();
			raise(SIGTRAP);
		}
	}
	return sum;
}

/* "Name: value" of a /proc status file. */
static void status_field(const char *path, const char *name, char *out, size_t size)
{
	char line[256];
	size_t n = strlen(name);
	FILE *f = fopen(path, "r");

	snprintf(out, size, "?");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			snprintf(out, size, "%s", line + n + 1 + strspn(line + n + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	fclose(f);
}

/* One 64-bit sigset_t as /proc prints it. */
static unsigned long long set_bits(const sigset_t *set)
{
	unsigned long long v = 0;

	for (int s = 1; s <= 64 && s < NSIG; s++)
		if (sigismember(set, s) == 1)
			v |= 1ull << (s - 1);
	return v;
}

/* The thread's mask and pending signals as the kernel shows them, and as it asks for them. */
static void thread_state(const char *who, char *out, size_t size)
{
	char blk[64], pnd[64];
	sigset_t mask, pending;

	status_field("/proc/thread-self/status", "SigBlk", blk, sizeof(blk));
	status_field("/proc/thread-self/status", "SigPnd", pnd, sizeof(pnd));
	sigemptyset(&mask);
	sigemptyset(&pending);
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	sigpending(&pending);
	snprintf(out, size, "%s SigBlk=%s SigPnd=%s mask=%016llx pending=%016llx\n", who, blk, pnd,
		 set_bits(&mask), set_bits(&pending));
}

static void setup_thread(void)
{
	sigset_t set;

	if (f_blockall) {
		sigfillset(&set);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	if (f_block) {
		sigemptyset(&set);
		sigaddset(&set, SIGTRAP);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
}

struct worker {
	pthread_t th;
	long sum;
	char state[160];
};

static void *worker(void *arg)
{
	struct worker *w = arg;

	w->sum = loop(n_calls);
	thread_state("thread2", w->state, sizeof(w->state));
	return NULL;
}

/* Each child calls sig_work() and ends with what it returned (mod 256). */
static int children(void)
{
	char *argv[] = { "sh", "-c", "exit 7", NULL };
	extern char **environ;
	volatile int bad = 0; /* kept across vfork */
	int st;
	pid_t pid;

	pid = fork();
	if (pid == 0)
		_exit((int)sig_work(3) & 255);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 16)
		bad++;
	pid = vfork();
	if (pid == 0)
		_exit(9);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 9)
		bad++;
	pid = vfork();
	if (pid == 0) {
		execv("/bin/sh", argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		bad++;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) ||
	    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		bad++;
	return bad;
}

static void print_sigactions(void)
{
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;
		unsigned long mask = 0;
		const char *h;

		if (s == SIGKILL || s == SIGSTOP || sigaction(s, NULL, &sa))
			continue;
		if (sa.sa_handler == SIG_DFL && !sa.sa_flags)
			continue;
		for (int m = 1; m <= 64 && m < NSIG; m++)
			if (sigismember(&sa.sa_mask, m) == 1)
				mask |= 1ul << (m - 1);
		h = sa.sa_handler == SIG_DFL ? "default" : sa.sa_handler == SIG_IGN ? "ignored" :
		    (void *)sa.sa_sigaction == (void *)on_trap ? "on_trap" : "other";
		printf("sig %d handler=%s flags=%#x mask=%#lx\n", s, h, (unsigned)sa.sa_flags, mask);
	}
}

int main(int argc, char **argv)
{
	struct worker w = { 0 };
	char main_state[160], v[64];
	long sum;
	int bad = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: sigstate FEATURES N [GOFILE]\n");
		return 2;
	}
	f_handler = has(argv[1], "handler") || has(argv[1], "ctor");
	f_ignore = has(argv[1], "ignore");
	f_block = has(argv[1], "block") || has(argv[1], "ctor");
	f_blockall = has(argv[1], "blockall");
	f_ctor = has(argv[1], "ctor");
	f_late = has(argv[1], "late");
	f_jmp = has(argv[1], "jmp");
	f_ucontext = has(argv[1], "ucontext");
	f_children = has(argv[1], "children");
	f_int3 = has(argv[1], "int3");
	f_usr1 = has(argv[1], "usr1");
	n_calls = atol(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (f_handler && !f_ctor)
		set_handler();
	if (f_ignore)
		signal(SIGTRAP, SIG_IGN);
	if (f_usr1)
		set_usr1();
	setup_thread();
	if (argc > 3) {
		fprintf(stderr, "ready\n");
		for (int k = 0; k < 6000 && access(argv[3], F_OK); k++) {
			sig_work(k);
			usleep(10000);
		}
	}
	if (pthread_create(&w.th, NULL, worker, &w))
		return 2;
	sum = loop(n_calls);
	pthread_join(w.th, NULL);
	thread_state("main", main_state, sizeof(main_state));
	if (f_children)
		bad += children();
	printf("calls=%ld sum=%ld thread2_sum=%ld traps=%d bad=%d\n", n_calls, sum, w.sum,
	       (int)traps, bad);
	if (f_usr1)
		printf("usr1 runs=%d mask_or=%016llx mask_and=%016llx\n", usr1_runs, usr1_or,
		       usr1_and);
	fputs(main_state, stdout);
	fputs(w.state, stdout);
	status_field("/proc/self/status", "SigIgn", v, sizeof(v));
	printf("SigIgn=%s\n", v);
	status_field("/proc/self/status", "SigCgt", v, sizeof(v));
	printf("SigCgt=%s\n", v);
	status_field("/proc/self/status", "ShdPnd", v, sizeof(v));
	printf("ShdPnd=%s\n", v);
	print_sigactions();
	fflush(stdout);
	if (f_int3)
		__asm__ volatile("int3");
	return sum < 0 || w.sum < 0 || bad ? 1 : 0;
}
