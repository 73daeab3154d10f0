// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tracee for post handlers and faults: small functions whose probed
 * instructions sit at fixed offsets (noted beside each), and a JVM-style
 * implicit null check: a SIGSEGV handler that finds the faulting load by
 * its pc, makes it "return" -1 and skips it.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

long post_add(long a, long b);      /* +0 add %rsi,%rdi */
long post_lea(long a, long b);      /* +0 lea 0x10(%rdi,%rsi,4),%rax */
long post_callrax(long (*fn)(void)); /* +4 call *%rax */
long post_ret(void);                /* +5 ret */
long post_jcc(long a, long b);      /* +3 jl (taken: +11, not: +5) */
long post_syscall(void);            /* +5 syscall (getpid) */
long post_jmpreg(void);             /* +7 jmp *%rax, to +9 */
long post_jmpmem(void);             /* +0 jmp *post_jmpmem_tbl(%rip), to +6 */
long jvm_load(const long *p);       /* +0 mov (%rdi),%rax: the implicit null check */
long jvm_load8(const long *p);      /* +0 mov 8(%rdi),%rax; ret: 5 bytes, a jump detour covers both */

asm(".text\n"
    ".globl post_add\n.type post_add,@function\npost_add:\n"
    "	add %rsi,%rdi\n"
    "	mov %rdi,%rax\n"
    "	ret\n.size post_add,.-post_add\n"
    ".globl post_lea\n.type post_lea,@function\npost_lea:\n"
    "	lea 0x10(%rdi,%rsi,4),%rax\n"
    "	ret\n.size post_lea,.-post_lea\n"
    ".globl post_callrax\n.type post_callrax,@function\npost_callrax:\n"
    "	push %rbx\n"
    "	mov %rdi,%rax\n"
    "	call *%rax\n"
    "	pop %rbx\n"
    "	ret\n.size post_callrax,.-post_callrax\n"
    ".globl post_ret\n.type post_ret,@function\npost_ret:\n"
    "	mov $7,%eax\n"
    "	ret\n.size post_ret,.-post_ret\n"
    ".globl post_jcc\n.type post_jcc,@function\npost_jcc:\n"
    "	cmp %rsi,%rdi\n"
    "	jl 1f\n"
    "	mov $1,%eax\n"
    "	ret\n"
    "1:	mov $2,%eax\n"
    "	ret\n.size post_jcc,.-post_jcc\n"
    ".globl post_syscall\n.type post_syscall,@function\npost_syscall:\n"
    "	mov $39,%eax\n"
    "	syscall\n"
    "	ret\n.size post_syscall,.-post_syscall\n"
    ".globl post_jmpreg\n.type post_jmpreg,@function\npost_jmpreg:\n"
    "	lea 1f(%rip),%rax\n"
    "	jmp *%rax\n"
    "1:	mov $3,%eax\n"
    "	ret\n.size post_jmpreg,.-post_jmpreg\n"
    ".globl post_jmpmem\n.type post_jmpmem,@function\npost_jmpmem:\n"
    "	jmp *post_jmpmem_tbl(%rip)\n"
    ".Ljm_target:	mov $4,%eax\n"
    "	ret\n.size post_jmpmem,.-post_jmpmem\n"
    ".globl jvm_load\n.type jvm_load,@function\njvm_load:\n"
    "	mov (%rdi),%rax\n"
    "	ret\n.size jvm_load,.-jvm_load\n"
    ".globl jvm_load8\n.type jvm_load8,@function\njvm_load8:\n"
    "	mov 8(%rdi),%rax\n"
    "	ret\n.size jvm_load8,.-jvm_load8\n"
    ".section .data.rel.local,\"aw\"\n"
    ".p2align 3\npost_jmpmem_tbl: .quad .Ljm_target\n"
    ".text\n");

static long callee(void)
{
	return 42;
}

static volatile sig_atomic_t npe_handled, bad_pc;

/* The JVM way: a load at a known pc faulted on a null pointer; make it yield -1 and go on. */
static void on_segv(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];

	(void)sig;
	if (!(pc == (uintptr_t)jvm_load && si->si_addr == NULL) &&
	    !(pc == (uintptr_t)jvm_load8 && si->si_addr == (void *)8)) {
		bad_pc++;
		signal(SIGSEGV, SIG_DFL);
		return;
	}
	uc->uc_mcontext.gregs[REG_RAX] = -1;
	uc->uc_mcontext.gregs[REG_RIP] += pc == (uintptr_t)jvm_load ? 3 : 4;
	npe_handled++;
}

/*
 * usage: api_post ROUNDS [8]: runs every function ROUNDS times and prints what
 * it saw; with 8, the null check is jvm_load8 (mov 8(%rdi): a detour covers it)
 */
int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 10, bad = 0, npe_seen = 0, swallowed = 0, ok = 0;
	long (*load)(const long *) = argc > 2 && !strcmp(argv[2], "8") ? jvm_load8 : jvm_load;
	long xs[2] = { 0, 5 };
	struct sigaction sa;
	long x = 5;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	setvbuf(stdout, NULL, _IONBF, 0);
	for (long i = 0; i < rounds; i++) {
		bad += post_add(i, 100) != i + 100;
		bad += post_lea(i, 3) != i + 12 + 16;
		bad += post_callrax(callee) != 42;
		bad += post_ret() != 7;
		bad += post_jcc(i, rounds / 2) != (i < rounds / 2 ? 2 : 1);
		bad += post_syscall() != getpid();
		bad += post_jmpreg() != 3;
		bad += post_jmpmem() != 4;
		/* every other call dereferences NULL */
		long v = load == jvm_load ? jvm_load(i & 1 ? NULL : &x) : jvm_load8(i & 1 ? NULL : xs);

		if (v == 5)
			ok++;
		else if (v == -1)
			npe_seen++;
		else if (v == -2)
			swallowed++;
		else
			bad++;
	}
	printf("rounds=%ld bad=%ld loads=%ld npe_seen=%ld npe_handled=%d swallowed=%ld bad_pc=%d\n",
	       rounds, bad, ok, npe_seen, (int)npe_handled, swallowed, (int)bad_pc);
	return bad || bad_pc ? 1 : 0;
}
