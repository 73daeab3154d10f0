// SPDX-License-Identifier: LGPL-2.1-or-later
/* Return-probe torture target: exceptions, recursion, tail calls, longjmp, coroutines, threads. */
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <exception>

/*
 * Every function in FUNCS is meant to be entry- and return-probed. Each one
 * counts its calls on entry and its normal returns just before returning
 * (CALL/RET); a call that never reaches RET was skipped by an exception, a
 * longjmp, a forced unwind or an abandoned coroutine. At exit the program
 * prints "fn NAME calls=C ret=R" for each, and "deep rec depth=D" for each
 * outermost rec() call so the test can subtract what maxactive refuses.
 * Nothing printed depends on addresses or scheduling, so a probed run must
 * print exactly what an unprobed run prints.
 *
 * Usage: ret_cxx [SCENARIO...]
 *   (ex rec tail lj co threads thexit bt comig coreuse altlj; default all)
 */
#define FUNCS(X)                                                                               \
	X(main) X(ex_throw) X(ex_mid) X(ex_raii) X(ex_catch) X(ex_self) X(ex_rethrow_mid)     \
	X(ex_rethrow_top) X(ex_tfc) X(ex_tfc_top) X(ex_nested) X(ex_driver) X(rec)             \
	X(rec_throw) X(rec_throw_top) X(tc_a) X(tc_b) X(tc_c) X(tail_outer) X(tail_mid)        \
	X(tail_inner) X(tail_self) X(lj_top) X(lj_a) X(lj_b) X(lj_c) X(sj_top) X(sj_a) X(sj_b) \
	X(sj_c) X(sj_sig) X(lc_top) X(lc_a) X(lc_b) X(lc_c) X(co_entry) X(co_f) X(co_g)         \
	X(co_drive) X(co_abandon_entry) X(co_abandon_f) X(th_main) X(th_work) X(th_leaf)       \
	X(th_ex_main) X(th_exit_main) X(th_exit_a) X(th_exit_b) X(bt_a) X(bt_b) X(bt_c)        \
	X(sc_ex) X(sc_rec) X(sc_tail) X(sc_lj) X(sc_co) X(sc_threads) X(sc_thexit) X(sc_bt)             \
	X(mig_entry) X(mig_f) X(sc_comig) X(ex_tail) X(ex_tail_top) X(ex_tail_catch)          \
	X(reuse_entry) X(sc_coreuse)        \
	X(alt_top) X(alt_a) X(alt_b) X(alt_sig) X(alt_after) X(sc_altlj)

enum fn_id {
#define X_ENUM(n) F_##n,
	FUNCS(X_ENUM)
#undef X_ENUM
	F_COUNT
};

static const char *const fn_names[F_COUNT] = {
#define X_NAME(n) #n,
	FUNCS(X_NAME)
#undef X_NAME
};

static unsigned long n_calls[F_COUNT], n_ret[F_COUNT];

#define CALL(n) __atomic_fetch_add(&n_calls[F_##n], 1, __ATOMIC_RELAXED)
#define RET(n) __atomic_fetch_add(&n_ret[F_##n], 1, __ATOMIC_RELAXED)
#define PROBED extern "C" __attribute__((noipa, used))

static unsigned long g_caught, g_dtors, g_rethrown;

static void on_terminate()
{
	static const char msg[] = "ret_cxx: std::terminate called\n";

	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(87);
	_exit(86);
}

/* ---- exceptions ---- */

struct guard {
	~guard() { __atomic_fetch_add(&g_dtors, 1, __ATOMIC_RELAXED); }
};

PROBED int ex_throw(int v)
{
	CALL(ex_throw);
	if (v >= 0)
		throw v;
	RET(ex_throw);
	return v;
}

PROBED int ex_mid(int v)
{
	CALL(ex_mid);
	int r = ex_throw(v) + 1;
	RET(ex_mid);
	return r;
}

/* A cleanup landing pad: the unwinder runs ~guard here and calls _Unwind_Resume. */
PROBED int ex_raii(int v)
{
	CALL(ex_raii);
	guard g;
	int r = ex_mid(v) + 1;
	RET(ex_raii);
	return r;
}

/* Thrower at depth 3 (ex_raii -> ex_mid -> ex_throw), caught here, 2 frames up. */
PROBED int ex_catch(int v)
{
	int r = 0;

	CALL(ex_catch);
	try {
		r = ex_raii(v);
	} catch (int e) {
		__atomic_fetch_add(&g_caught, 1, __ATOMIC_RELAXED);
		r = e;
	}
	RET(ex_catch);
	return r;
}

/* Thrown and caught in the same frame. */
PROBED int ex_self(int v)
{
	int r = 0;

	CALL(ex_self);
	try {
		if (v >= 0)
			throw v + 1;
	} catch (int e) {
		r = e;
	}
	RET(ex_self);
	return r;
}

PROBED int ex_rethrow_mid(int v)
{
	int r = 0;

	CALL(ex_rethrow_mid);
	try {
		r = ex_mid(v);
	} catch (int) {
		__atomic_fetch_add(&g_rethrown, 1, __ATOMIC_RELAXED);
		throw;
	}
	RET(ex_rethrow_mid);
	return r;
}

PROBED int ex_rethrow_top(int v)
{
	int r = 0;

	CALL(ex_rethrow_top);
	try {
		r = ex_rethrow_mid(v);
	} catch (int e) {
		__atomic_fetch_add(&g_caught, 1, __ATOMIC_RELAXED);
		r = e;
	}
	RET(ex_rethrow_top);
	return r;
}

/* Throws a new exception from inside a catch block. */
PROBED int ex_tfc(int v)
{
	int r = 0;

	CALL(ex_tfc);
	try {
		r = ex_mid(v);
	} catch (int e) {
		r = ex_throw(e + 1);
	}
	RET(ex_tfc);
	return r;
}

PROBED int ex_tfc_top(int v)
{
	int r = 0;

	CALL(ex_tfc_top);
	try {
		r = ex_tfc(v);
	} catch (int e) {
		r = e;
	}
	RET(ex_tfc_top);
	return r;
}

/* Throw and catch again while the first exception is being handled. */
PROBED int ex_nested(int v)
{
	int r = 0;

	CALL(ex_nested);
	try {
		r = ex_mid(v);
	} catch (int e) {
		r = e + ex_catch(v + 1);
		try {
			r += ex_raii(v + 2);
		} catch (int e2) {
			r += e2;
		}
	}
	RET(ex_nested);
	return r;
}

/* At -O2 these tail-jump into a thrower and into a function that catches. */
PROBED int ex_tail(int v)
{
	CALL(ex_tail);
	if (v < 0)
		RET(ex_tail); /* ex_throw returns only for v < 0 */
	return ex_throw(v);
}

PROBED int ex_tail_top(int v)
{
	int r = 0;

	CALL(ex_tail_top);
	try {
		r = ex_tail(v);
	} catch (int e) {
		r = e;
	}
	RET(ex_tail_top);
	return r;
}

PROBED int ex_tail_catch(int v)
{
	CALL(ex_tail_catch);
	RET(ex_tail_catch); /* ex_catch always returns */
	return ex_catch(v);
}

PROBED long ex_driver(int n)
{
	long sum = 0;

	CALL(ex_driver);
	for (int i = 0; i < n; i++) {
		sum += ex_catch(i);
		sum += ex_self(i);
		sum += ex_rethrow_top(i);
		sum += ex_tfc_top(i);
		sum += ex_nested(i);
		sum += ex_tail_top(i);
		sum += ex_tail_catch(i);
	}
	RET(ex_driver);
	return sum;
}

/* ---- recursion ---- */

/* depth n: n calls; the count after the call keeps it a real recursion at -O2. */
PROBED long rec(int n)
{
	long r = 1;

	CALL(rec);
	if (n > 1)
		r = rec(n - 1) + n;
	RET(rec);
	return r;
}

PROBED long rec_throw(int n)
{
	long r;

	CALL(rec_throw);
	if (n <= 1)
		throw 1000 + n;
	r = rec_throw(n - 1) + 1;
	RET(rec_throw);
	return r;
}

PROBED long rec_throw_top(int n)
{
	long r = 0;

	CALL(rec_throw_top);
	try {
		r = rec_throw(n);
	} catch (int e) {
		r = e;
	}
	RET(rec_throw_top);
	return r;
}

static long deep_rec(int n)
{
	printf("deep rec depth=%d\n", n);
	return rec(n);
}

/* ---- tail calls ---- */

/* At -O2 these become "jmp tc_b" / "jmp tc_c" (the counts come before the call). */
PROBED int tc_c(int x)
{
	CALL(tc_c);
	RET(tc_c);
	return x * 3;
}

PROBED int tc_b(int x)
{
	CALL(tc_b);
	RET(tc_b);
	return tc_c(x + 1);
}

PROBED int tc_a(int x)
{
	CALL(tc_a);
	RET(tc_a);
	return tc_b(x + 2);
}

/*
 * Guaranteed tail jumps at every optimisation level: tail_outer jumps to
 * tail_mid which jumps to tail_inner, all with one return address; tail_self
 * jumps to itself n times. Their calls and returns are counted by the caller.
 */
extern "C" int tail_outer(int x);
extern "C" int tail_mid(int x);
extern "C" int tail_inner(int x);
extern "C" int tail_self(int n);
asm(".text\n"
    ".globl tail_outer\n.type tail_outer,@function\n"
    "tail_outer:\n.cfi_startproc\n"
    "	leal 1(%rdi), %edi\n"
    "	jmp tail_mid\n"
    ".cfi_endproc\n.size tail_outer, .-tail_outer\n"
    ".globl tail_mid\n.type tail_mid,@function\n"
    "tail_mid:\n.cfi_startproc\n"
    "	leal 2(%rdi), %edi\n"
    "	jmp tail_inner\n"
    ".cfi_endproc\n.size tail_mid, .-tail_mid\n"
    ".globl tail_inner\n.type tail_inner,@function\n"
    "tail_inner:\n.cfi_startproc\n"
    "	leal 3(%rdi), %eax\n"
    "	ret\n"
    ".cfi_endproc\n.size tail_inner, .-tail_inner\n"
    ".globl tail_self\n.type tail_self,@function\n"
    "tail_self:\n.cfi_startproc\n"
    "	testl %edi, %edi\n"
    "	jz 1f\n"
    "	decl %edi\n"
    "	jmp tail_self\n"
    "1:	movl $7, %eax\n"
    "	ret\n"
    ".cfi_endproc\n.size tail_self, .-tail_self\n");

/* ---- longjmp, siglongjmp, __longjmp_chk: each skips 3 probed frames ---- */

extern "C" void __longjmp_chk(struct __jmp_buf_tag *env, int val) __attribute__((noreturn));

static __thread jmp_buf lj_buf, lc_buf;
static __thread sigjmp_buf sj_buf;
static __thread int sj_val;

PROBED void lj_c(int v)
{
	CALL(lj_c);
	longjmp(lj_buf, v + 1);
}

PROBED int lj_b(int v)
{
	CALL(lj_b);
	lj_c(v);
	RET(lj_b);
	return 0;
}

PROBED int lj_a(int v)
{
	CALL(lj_a);
	int r = lj_b(v) + 1;
	RET(lj_a);
	return r;
}

/* Holds the setjmp: its own frame survives the longjmp and must report its return. */
PROBED int lj_top(int v)
{
	volatile int r = 0;

	CALL(lj_top);
	r = setjmp(lj_buf);
	if (r == 0)
		r = lj_a(v) + 100;
	RET(lj_top);
	return r;
}

PROBED int sj_sig(int v)
{
	CALL(sj_sig);
	RET(sj_sig);
	return v * 2;
}

/* siglongjmp out of a signal handler that ran on top of sj_c. */
static void sj_handler(int)
{
	siglongjmp(sj_buf, sj_sig(sj_val) + 1);
}

PROBED void sj_c(int v)
{
	CALL(sj_c);
	sj_val = v;
	raise(SIGUSR1);
	RET(sj_c);
}

PROBED int sj_b(int v)
{
	CALL(sj_b);
	sj_c(v);
	RET(sj_b);
	return 0;
}

PROBED int sj_a(int v)
{
	CALL(sj_a);
	int r = sj_b(v) + 1;
	RET(sj_a);
	return r;
}

PROBED int sj_top(int v)
{
	volatile int r = 0;

	CALL(sj_top);
	r = sigsetjmp(sj_buf, 1);
	if (r == 0)
		r = sj_a(v) + 100;
	RET(sj_top);
	return r;
}

PROBED void lc_c(int v)
{
	CALL(lc_c);
	__longjmp_chk(lc_buf, v + 1);
}

PROBED int lc_b(int v)
{
	CALL(lc_b);
	lc_c(v);
	RET(lc_b);
	return 0;
}

PROBED int lc_a(int v)
{
	CALL(lc_a);
	int r = lc_b(v) + 1;
	RET(lc_a);
	return r;
}

PROBED int lc_top(int v)
{
	volatile int r = 0;

	CALL(lc_top);
	r = setjmp(lc_buf);
	if (r == 0)
		r = lc_a(v) + 100;
	RET(lc_top);
	return r;
}

/* ---- coroutines (makecontext/swapcontext) ---- */

#define CO_STACK (256 * 1024)
static ucontext_t co_main_ctx, co_ctx, co_ab_ctx;
static int co_arg;
static long co_res;

/* Runs on the coroutine stack; swaps to main while it is pending. */
PROBED int co_f(int v)
{
	CALL(co_f);
	swapcontext(&co_ctx, &co_main_ctx);
	RET(co_f);
	return v + 1;
}

PROBED void co_entry(void)
{
	CALL(co_entry);
	co_res += co_f(co_arg);
	RET(co_entry);
}

/* Called on the main stack while co_f is pending on the coroutine stack. */
PROBED int co_g(int v)
{
	CALL(co_g);
	RET(co_g);
	return v * 2;
}

PROBED int co_abandon_f(int v)
{
	CALL(co_abandon_f);
	swapcontext(&co_ab_ctx, &co_main_ctx);
	RET(co_abandon_f);
	return v;
}

PROBED void co_abandon_entry(void)
{
	CALL(co_abandon_entry);
	co_abandon_f(1);
	RET(co_abandon_entry);
}

PROBED long co_drive(int iters)
{
	static char stack[CO_STACK] __attribute__((aligned(64)));

	CALL(co_drive);
	for (int i = 0; i < iters; i++) {
		co_arg = i;
		getcontext(&co_ctx);
		co_ctx.uc_stack.ss_sp = stack;
		co_ctx.uc_stack.ss_size = sizeof(stack);
		co_ctx.uc_link = &co_main_ctx;
		makecontext(&co_ctx, co_entry, 0);
		swapcontext(&co_main_ctx, &co_ctx); /* runs until co_f swaps back */
		co_res += co_g(i);
		swapcontext(&co_main_ctx, &co_ctx); /* co_f and co_entry return, uc_link */
	}
	RET(co_drive);
	return co_res;
}

/* A coroutine left inside co_abandon_f forever: its return is never reported. */
static void co_abandon(void)
{
	static char stack[CO_STACK] __attribute__((aligned(64)));

	getcontext(&co_ab_ctx);
	co_ab_ctx.uc_stack.ss_sp = stack;
	co_ab_ctx.uc_stack.ss_size = sizeof(stack);
	co_ab_ctx.uc_link = &co_main_ctx;
	makecontext(&co_ab_ctx, co_abandon_entry, 0);
	swapcontext(&co_main_ctx, &co_ab_ctx);
}

/*
 * A coroutine started on a thread that then exits, resumed and finished on
 * the main thread: mig_f is pending across the thread's exit.
 */
static ucontext_t mig_ctx, mig_thread_ctx, mig_main_ctx;
static long mig_res;

PROBED int mig_f(int v)
{
	CALL(mig_f);
	swapcontext(&mig_ctx, &mig_thread_ctx);
	RET(mig_f);
	return v + 1;
}

PROBED void mig_entry(void)
{
	CALL(mig_entry);
	mig_res = mig_f(5);
	RET(mig_entry);
}

static void *mig_thread(void *)
{
	static char stack[CO_STACK] __attribute__((aligned(64)));

	getcontext(&mig_ctx);
	mig_ctx.uc_stack.ss_sp = stack;
	mig_ctx.uc_stack.ss_size = sizeof(stack);
	mig_ctx.uc_link = &mig_main_ctx;
	makecontext(&mig_ctx, mig_entry, 0);
	swapcontext(&mig_thread_ctx, &mig_ctx); /* back when mig_f yields */
	return NULL;                            /* exits with mig_f pending */
}

PROBED void sc_comig(void)
{
	pthread_t th;

	CALL(sc_comig);
	pthread_create(&th, NULL, mig_thread, NULL);
	pthread_join(th, NULL);
	swapcontext(&mig_main_ctx, &mig_ctx); /* mig_f and mig_entry return here */
	printf("comig: res=%ld\n", mig_res);
	RET(sc_comig);
}

/*
 * A coroutine abandoned inside co_abandon_f, then its stack reused by a new
 * coroutine (a stack pool): reuse_entry calls co_abandon_f at the same depth.
 */
static ucontext_t reuse_ctx;

PROBED void reuse_entry(void)
{
	CALL(reuse_entry);
	co_abandon_f(2);
	RET(reuse_entry);
}

PROBED void sc_coreuse(void)
{
	static char stack[CO_STACK] __attribute__((aligned(64)));

	CALL(sc_coreuse);
	for (volatile int round = 0; round < 2; round++) {
		/* round 0: abandoned in co_abandon_f; round 1: same stack, runs to the end */
		getcontext(&reuse_ctx);
		reuse_ctx.uc_stack.ss_sp = stack;
		reuse_ctx.uc_stack.ss_size = sizeof(stack);
		reuse_ctx.uc_link = &co_main_ctx;
		makecontext(&reuse_ctx, round ? reuse_entry : co_abandon_entry, 0);
		swapcontext(&co_main_ctx, &reuse_ctx);
		if (round) /* co_abandon_f yielded again: resume it to the end */
			swapcontext(&co_main_ctx, &co_ab_ctx);
	}
	printf("coreuse: done\n");
	RET(sc_coreuse);
}

/*
 * siglongjmp out of a signal handler running on a sigaltstack that lies
 * above the thread's stack (mmapped before the thread was created), skipping
 * alt_a and alt_b; then alt_top calls alt_after from the same frame.
 */
static __thread sigjmp_buf alt_buf;
static char *alt_stack;

PROBED int alt_sig(int v)
{
	CALL(alt_sig);
	RET(alt_sig);
	return v + 1;
}

static void alt_handler(int)
{
	siglongjmp(alt_buf, alt_sig(1));
}

PROBED void alt_b(int)
{
	CALL(alt_b);
	raise(SIGUSR2);
	RET(alt_b);
}

PROBED int alt_a(int v)
{
	CALL(alt_a);
	alt_b(v);
	RET(alt_a);
	return v;
}

PROBED int alt_after(int v)
{
	CALL(alt_after);
	RET(alt_after);
	return v * 3;
}

PROBED int alt_top(int v)
{
	volatile int r = 0;

	CALL(alt_top);
	if (sigsetjmp(alt_buf, 1) == 0)
		r = alt_a(v);
	r += alt_after(v);
	RET(alt_top);
	return r;
}

static void *alt_thread(void *)
{
	stack_t ss = { .ss_sp = alt_stack, .ss_flags = 0, .ss_size = 256 * 1024 };
	struct sigaction sa;
	long s = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = alt_handler;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaltstack(&ss, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	for (int i = 0; i < 3; i++)
		s += alt_top(i);
	return (void *)s;
}

PROBED void sc_altlj(void)
{
	pthread_t th;
	void *r;

	CALL(sc_altlj);
	alt_stack = (char *)mmap(NULL, 256 * 1024, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_create(&th, NULL, alt_thread, NULL);
	pthread_join(th, &r);
	printf("altlj: sum=%ld\n", (long)r);
	RET(sc_altlj);
}

/* ---- threads ---- */

#define N_THREADS 4
#define TH_ITERS 2000

PROBED int th_leaf(int x)
{
	CALL(th_leaf);
	RET(th_leaf);
	return x + 1;
}

PROBED long th_work(int x)
{
	long s = 0;

	CALL(th_work);
	for (int j = 0; j < 3; j++)
		s += th_leaf(x + j);
	RET(th_work);
	return s;
}

PROBED void *th_main(void *)
{
	long s = 0;

	CALL(th_main);
	for (int i = 0; i < TH_ITERS; i++)
		s += th_work(i);
	RET(th_main);
	return (void *)s;
}

/* Exceptions, longjmps and recursion in several threads at once. */
PROBED void *th_ex_main(void *)
{
	long s = 0;

	CALL(th_ex_main);
	for (int i = 0; i < 20; i++) {
		s += ex_driver(3);
		s += rec_throw_top(30);
		s += lj_top(i) + lc_top(i);
		s += rec(40);
	}
	RET(th_ex_main);
	return (void *)s;
}

PROBED void th_exit_b(int v)
{
	CALL(th_exit_b);
	pthread_exit((void *)(long)(v + 1)); /* forced unwind: _Unwind_ForcedUnwind */
}

PROBED int th_exit_a(int v)
{
	CALL(th_exit_a);
	guard g;
	th_exit_b(v);
	RET(th_exit_a);
	return 0;
}

PROBED void *th_exit_main(void *arg)
{
	CALL(th_exit_main);
	th_exit_a((int)(long)arg);
	RET(th_exit_main);
	return NULL;
}

/* ---- backtrace() through return-probed frames (_Unwind_Backtrace) ---- */

PROBED int bt_c(int v)
{
	void *pcs[64];
	int n;

	CALL(bt_c);
	n = backtrace(pcs, 64);
	printf("bt:");
	for (int i = 0; i < n; i++) {
		Dl_info info;
		const char *name = "?";

		/* pcs[i] for i > 0 are return addresses: look up the call instruction. */
		if (dladdr((char *)pcs[i] - (i ? 1 : 0), &info) && info.dli_sname)
			name = info.dli_sname;
		printf(" %s", name);
		if (!strcmp(name, "main"))
			break;
	}
	printf("\n");
	RET(bt_c);
	return v + 1;
}

PROBED int bt_b(int v)
{
	CALL(bt_b);
	int r = bt_c(v) + 1;
	RET(bt_b);
	return r;
}

PROBED int bt_a(int v)
{
	CALL(bt_a);
	int r = bt_b(v) + 1;
	RET(bt_a);
	return r;
}

/* ---- scenarios ---- */

PROBED void sc_ex(void)
{
	CALL(sc_ex);
	long s = ex_driver(10);

	s += rec_throw_top(200); /* over maxactive: 128 hijacked frames and 72 refused are unwound */
	s += rec_throw_top(5);
	printf("ex: sum=%ld caught=%lu dtors=%lu rethrown=%lu\n", s, g_caught, g_dtors, g_rethrown);
	RET(sc_ex);
}

PROBED void sc_rec(void)
{
	CALL(sc_rec);
	long a = deep_rec(50), b = deep_rec(300), c = deep_rec(50);

	printf("rec: %ld %ld %ld\n", a, b, c);
	RET(sc_rec);
}

PROBED void sc_tail(void)
{
	long s = 0;

	CALL(sc_tail);
	for (int i = 0; i < 10; i++) {
		s += tc_a(i);
		n_calls[F_tail_outer]++, n_calls[F_tail_mid]++, n_calls[F_tail_inner]++;
		s += tail_outer(i);
		n_ret[F_tail_outer]++, n_ret[F_tail_mid]++, n_ret[F_tail_inner]++;
		n_calls[F_tail_inner]++;
		s += tail_inner(i);
		n_ret[F_tail_inner]++;
		n_calls[F_tail_self] += 21;
		s += tail_self(20);
		n_ret[F_tail_self] += 21;
	}
	printf("tail: sum=%ld\n", s);
	RET(sc_tail);
}

PROBED void sc_lj(void)
{
	struct sigaction sa;
	long s = 0;

	CALL(sc_lj);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sj_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* Repeated: stale instances left by a skipped frame would meet reused stack slots. */
	for (int i = 0; i < 5; i++) {
		s += lj_top(i);
		s += sj_top(i);
		s += lc_top(i);
	}
	printf("lj: sum=%ld\n", s);
	RET(sc_lj);
}

PROBED void sc_co(void)
{
	CALL(sc_co);
	long r = co_drive(5);

	co_abandon();
	printf("co: res=%ld\n", r);
	RET(sc_co);
}

PROBED void sc_threads(void)
{
	pthread_t th[2 * N_THREADS];
	long s = 0;

	CALL(sc_threads);
	for (long i = 0; i < N_THREADS; i++) {
		pthread_create(&th[i], NULL, th_main, (void *)i);
		pthread_create(&th[N_THREADS + i], NULL, th_ex_main, (void *)i);
	}
	for (int i = 0; i < 2 * N_THREADS; i++) {
		void *r;

		pthread_join(th[i], &r);
		s += (long)r;
	}
	/* th_ex_main's four threads each did rec(40) 20 times */
	for (int i = 0; i < N_THREADS * 20; i++)
		printf("deep rec depth=40\n");
	printf("threads: sum=%ld\n", s);
	RET(sc_threads);
}

PROBED void sc_thexit(void)
{
	pthread_t th[2];
	long s = 0;

	CALL(sc_thexit);
	for (long i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, th_exit_main, (void *)i);
	for (int i = 0; i < 2; i++) {
		void *r;

		pthread_join(th[i], &r);
		s += (long)r;
	}
	printf("thexit: sum=%ld dtors=%lu\n", s, g_dtors);
	RET(sc_thexit);
}

PROBED void sc_bt(void)
{
	CALL(sc_bt);
	int r = bt_a(1);

	r += bt_a(2);
	printf("bt: r=%d\n", r);
	RET(sc_bt);
}

static bool want(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	CALL(main);
	std::set_terminate(on_terminate);
	if (want(argc, argv, "ex"))
		sc_ex();
	if (want(argc, argv, "rec"))
		sc_rec();
	if (want(argc, argv, "tail"))
		sc_tail();
	if (want(argc, argv, "lj"))
		sc_lj();
	if (want(argc, argv, "co"))
		sc_co();
	if (want(argc, argv, "threads"))
		sc_threads();
	if (want(argc, argv, "thexit"))
		sc_thexit();
	if (want(argc, argv, "bt"))
		sc_bt();
	if (want(argc, argv, "comig"))
		sc_comig();
	if (want(argc, argv, "coreuse"))
		sc_coreuse();
	if (want(argc, argv, "altlj"))
		sc_altlj();
	RET(main); /* counted before the table is printed: main returns right after */
	for (int i = 0; i < F_COUNT; i++)
		printf("fn %s calls=%lu ret=%lu\n", fn_names[i], n_calls[i], n_ret[i]);
	fflush(stdout);
	return 0;
}
