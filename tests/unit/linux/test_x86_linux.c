// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of lib/arch/x86/linux.c: a system call and a function call set up with its
 * register helpers, and its syscall stub, each run by a stopped child of the test; the
 * inline register facts of internal.h's arch section on canned registers.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

#define EXIT_CODE 42

/* A page of code the test writes and the child runs: shared, so written after the fork. */
static uint8_t *page;
static pid_t child = -1;

/* What an injected call runs in the child: every argument register matters. */
__attribute__((noinline)) static long weigh6(long a, long b, long c, long d, long e, long f)
{
	return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f;
}

static int setup(void **state)
{
	int st;

	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	if (page == MAP_FAILED)
		return -1;
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		/* stopped until the test is done with it; it must come back intact */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
			raise(SIGSTOP);
		_exit(EXIT_CODE);
	}
	if (waitpid(child, &st, __WALL) != child || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		return -1;
	return 0;
}

/* Lets the child go on (no signal) and checks that it ended as it would untraced. */
static void expect_clean_exit(void)
{
	int st;

	assert_int_equal(ptrace(PTRACE_CONT, child, NULL, NULL), 0);
	assert_int_equal(waitpid(child, &st, __WALL), child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), EXIT_CODE);
	child = -1;
}

static int teardown(void **state)
{
	int st;

	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(child, &st, __WALL) < 0 && errno == EINTR)
			;
		child = -1;
	}
	munmap(page, 4096);
	return 0;
}

static void getregs(struct user_regs_struct *r)
{
	assert_int_equal(ptrace(PTRACE_GETREGS, child, NULL, r), 0);
}

static void setregs(const struct user_regs_struct *r)
{
	assert_int_equal(ptrace(PTRACE_SETREGS, child, NULL, r), 0);
}

/* Continues the child to the int3 it runs into next; its registers there. */
static void run_to_int3(struct user_regs_struct *r)
{
	int st;

	assert_int_equal(ptrace(PTRACE_CONT, child, NULL, NULL), 0);
	assert_int_equal(waitpid(child, &st, __WALL), child);
	assert_true(WIFSTOPPED(st));
	assert_int_equal(WSTOPSIG(st), SIGTRAP);
	getregs(r);
}

/* Runs system call nr(args) in the child from its stop, set up by arch_regs_set_syscall(). */
static int64_t child_syscall(const struct user_regs_struct *saved, long nr, const uint64_t args[6])
{
	struct user_regs_struct r = *saved;

	arch_regs_set_syscall(&r, nr, args, 6);
	r.rip = (uintptr_t)page;
	setregs(&r);
	run_to_int3(&r);
	assert_int_equal(r.rip, (uintptr_t)page + ARCH_SYSCALL_LEN + ARCH_INT3_LEN);
	return (int64_t)arch_regs_retval(&r);
}

/* Each argument register is the one the kernel reads: a wrong one changes the answer. */
static void test_set_syscall(void **state)
{
	static const uint8_t code[] = { ARCH_SYSCALL_INSN, ARCH_INT3 };
	const uint64_t anon = MAP_PRIVATE | MAP_ANONYMOUS, no_fd = (uint64_t)-1;
	struct user_regs_struct saved;
	int64_t v;

	memcpy(page, code, sizeof(code));
	getregs(&saved);
	assert_int_equal(child_syscall(&saved, SYS_getpid, (uint64_t[6]){ 0 }), child);
	/* rt_sigprocmask's 4th argument (r10) is the set's size: 8, nothing else */
	assert_int_equal(child_syscall(&saved, SYS_rt_sigprocmask, (uint64_t[6]){ 0, 0, 0, 8 }), 0);
	assert_int_equal(child_syscall(&saved, SYS_rt_sigprocmask, (uint64_t[6]){ 0, 0, 0, 7 }),
			 -EINVAL);
	/* mmap: length rsi, protection rdx, flags r10, descriptor r8, offset r9 */
	v = child_syscall(&saved, SYS_mmap, (uint64_t[6]){ 0, 4096, PROT_READ, anon, no_fd, 0 });
	assert_true(v > 0 && v % 4096 == 0);
	assert_int_equal(child_syscall(&saved, SYS_mmap,
				       (uint64_t[6]){ 0, 4096, PROT_READ, anon, no_fd, 1 }), -EINVAL);
	assert_int_equal(child_syscall(&saved, SYS_mmap,
				       (uint64_t[6]){ 0, 4096, PROT_READ, MAP_PRIVATE, 1000, 0 }),
			 -EBADF);
	setregs(&saved);
	expect_clean_exit();
}

static void test_change_syscall(void **state)
{
	static const uint8_t code[] = { ARCH_SYSCALL_INSN, ARCH_INT3 };
	/* no such process: getpgid() of it would fail; the changed call asks for its own */
	uint64_t first[6] = { 999999999 }, args[1] = { 0 };
	struct user_regs_struct saved, r;
	int st;

	memcpy(page, code, sizeof(code));
	getregs(&saved);
	r = saved;
	arch_regs_set_syscall(&r, SYS_getuid, first, 6);
	r.rip = (uintptr_t)page;
	setregs(&r);
	/* at its entry stop it becomes getpgid(0), number and argument both changed */
	assert_int_equal(ptrace(PTRACE_SYSCALL, child, NULL, NULL), 0);
	assert_int_equal(waitpid(child, &st, __WALL), child);
	assert_true(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP);
	getregs(&r);
	assert_true(arch_regs_inside_syscall(&r));
	assert_int_equal(arch_regs_syscall_nr(&r), SYS_getuid);
	arch_regs_change_syscall(&r, SYS_getpgid, args, 1);
	setregs(&r);
	run_to_int3(&r);
	assert_false(arch_regs_inside_syscall(&r));
	assert_int_equal(arch_regs_retval(&r), getpgid(child));
	setregs(&saved);
	expect_clean_exit();
}

static void test_set_call(void **state)
{
	const uint64_t args[6] = { 1, 10, 100, 1000, 10000, 100000 };
	struct user_regs_struct saved, r;
	uint64_t sp, ra = (uintptr_t)page;

	page[0] = ARCH_INT3;
	getregs(&saved);
	sp = arch_call_sp(saved.rsp);
	/* the ABI: 16-byte aligned before the call pushed its return address, below the red zone */
	assert_int_equal((sp + 8) % 16, 0);
	assert_true(sp + 128 <= saved.rsp);
	assert_int_equal(ptrace(PTRACE_POKEDATA, child, (void *)sp, (void *)ra), 0);
	r = saved;
	arch_regs_set_call(&r, (uintptr_t)weigh6, sp, args);
	setregs(&r);
	run_to_int3(&r);
	assert_int_equal(r.rip, ra + ARCH_INT3_LEN);
	assert_int_equal(r.rsp, sp + 8);
	assert_int_equal(arch_regs_retval(&r), weigh6(1, 10, 100, 1000, 10000, 100000));
	setregs(&saved);
	expect_clean_exit();
}

/*
 * The stub makes its call and then puts back every register a system call takes or
 * clobbers before it jumps back: stepped to its way back, they are as they were.
 */
static void test_syscall_stub(void **state)
{
	const uint64_t args[6] = { 0 };
	struct user_regs_struct saved, back, r;
	int st, steps;

	getregs(&saved);
	back = saved;
	/* values that show a register left as the call or the stub had it */
	back.rdi = 0x1111; back.rsi = 0x2222; back.rdx = 0x3333; back.r10 = 0x4444;
	back.r8 = 0x5555; back.r9 = 0x6666; back.rcx = 0x7777; back.r11 = 0x8888;
	arch_syscall_stub(page, SYS_getpid, args, &back, 0x9999, (uintptr_t)page + 2048);
	page[2048] = ARCH_INT3;
	r = saved;
	r.rip = (uintptr_t)page;
	arch_regs_no_syscall(&r);
	setregs(&r);
	/* to the call's entry stop: at the stub's syscall, with its number */
	assert_int_equal(ptrace(PTRACE_SYSCALL, child, NULL, NULL), 0);
	assert_int_equal(waitpid(child, &st, __WALL), child);
	assert_true(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP);
	getregs(&r);
	assert_int_equal(r.rip, (uintptr_t)page + ARCH_STUB_SYSCALL + ARCH_SYSCALL_LEN);
	assert_int_equal(arch_regs_syscall_nr(&r), SYS_getpid);
	assert_int_equal(ptrace(PTRACE_SYSCALL, child, NULL, NULL), 0);
	assert_int_equal(waitpid(child, &st, __WALL), child);
	getregs(&r);
	assert_int_equal(arch_regs_retval(&r), child);
	for (steps = 0; steps < 64 && r.rip != (uintptr_t)page + 2048; steps++) {
		assert_int_equal(ptrace(PTRACE_SINGLESTEP, child, NULL, NULL), 0);
		assert_int_equal(waitpid(child, &st, __WALL), child);
		getregs(&r);
	}
	assert_int_equal(r.rip, (uintptr_t)page + 2048);
	assert_int_equal(r.rax, 0x9999);
	assert_int_equal(r.rdi, back.rdi);
	assert_int_equal(r.rsi, back.rsi);
	assert_int_equal(r.rdx, back.rdx);
	assert_int_equal(r.r10, back.r10);
	assert_int_equal(r.r8, back.r8);
	assert_int_equal(r.r9, back.r9);
	assert_int_equal(r.rcx, back.rcx);
	assert_int_equal(r.r11, back.r11);
	assert_int_equal(r.rsp, saved.rsp);
	setregs(&saved);
	expect_clean_exit();
}

static void test_regs_facts(void **state)
{
	struct user_regs_struct r = { 0 };
	const uint8_t rdtsc[ARCH_RDTSC_LEN] = { 0x0f, 0x31 }, other[ARCH_RDTSC_LEN] = { 0x0f, 0x05 };
	uint64_t v;

	for (int64_t e = -517; e <= -511; e++) {
		r.rax = (uint64_t)e;
		assert_int_equal(arch_syscall_restarts(&r), e >= -516 && e <= -512);
	}
	r.rax = (uint64_t)-ENOSYS;
	r.orig_rax = (uint64_t)-1;
	assert_false(arch_regs_inside_syscall(&r));
	r.orig_rax = SYS_read;
	assert_true(arch_regs_inside_syscall(&r));
	r.rdi = 1; r.rsi = 2; r.rdx = 3; r.rcx = 4; r.r8 = 5; r.r9 = 6; r.r10 = 7;
	for (unsigned n = 0; n < 6; n++) {
		assert_true(arch_regs_arg(&r, n, &v));
		assert_int_equal(v, n + 1);
	}
	assert_false(arch_regs_arg(&r, 6, &v));
	assert_int_equal(arch_regs_syscall_arg(&r, 3), 7);
	r.rsp = 0x1000;
	assert_int_equal(arch_stack_arg_addr(&r, 6), 0x1008);
	r.eflags = 0x346;
	assert_true(arch_regs_tf(&r));
	arch_regs_clear_tf(&r);
	assert_int_equal(r.eflags, 0x246);
	r.rip = 0x5000;
	r.rax = r.rdx = 7;
	assert_false(arch_rdtsc_skip(&r, other));
	assert_int_equal(r.rip, 0x5000);
	assert_true(arch_rdtsc_skip(&r, rdtsc));
	assert_int_equal(r.rip, 0x5002);
	assert_int_equal(r.rax, 0);
	assert_int_equal(r.rdx, 0);
}

/*
 * The calls that fail with -EINTR itself when anything wakes them, our
 * interrupt too (signal(7)'s "never restarted" that return no -ERESTART*
 * code): epoll waits, sigtimedwait, System V IPC waits, io_getevents. Not
 * those the kernel restarts (read, wait4, futex, nanosleep's
 * restart_block), nor poll (-ERESTARTNOHAND: restarted where no handler
 * runs, as after our interrupt), nor connect() (it goes on).
 */
static void test_never_restarted(void **state)
{
	static const long never[] = { SYS_epoll_wait, SYS_epoll_pwait, SYS_rt_sigtimedwait,
				      SYS_semop, SYS_semtimedop, SYS_msgrcv, SYS_msgsnd,
				      SYS_io_getevents };
	static const long restarted[] = { SYS_read, SYS_write, SYS_wait4, SYS_futex,
					  SYS_nanosleep, SYS_connect, SYS_accept, SYS_poll };

	(void)state;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		assert_true(arch_syscall_never_restarted(never[i]));
	for (size_t i = 0; i < sizeof(restarted) / sizeof(restarted[0]); i++)
		assert_false(arch_syscall_never_restarted(restarted[i]));
	assert_false(arch_syscall_never_restarted(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_syscall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_syscall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syscall_stub, setup, teardown),
		cmocka_unit_test(test_regs_facts),
		cmocka_unit_test(test_never_restarted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
