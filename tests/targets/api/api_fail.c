// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tracee for fault injection (uprobe_hit_override_return): calls functions
 * and malloc a known number of times and prints every call whose result is
 * not what the function computes, so a test can check exactly which calls
 * failed, with what value, and that nothing else changed.
 *
 *   api_fail CALLS [THREADS [outer]]
 *
 * Each thread t (0-based) calls fail_calc(t * 100000 + i) for i in
 * 0..CALLS-1 (fail_calc(x) = 3x + 1, counting its body's runs), then
 * fail_leaf(i) the same way (fail_leaf(x) = x + 1, in assembly: a probe
 * inside it is at a known instruction), then malloc(FAIL_MALLOC_SIZE).
 * Lines: "calc_fail t=T i=I ret=R", "leaf_fail t=T i=I ret=R",
 * "malloc_null t=T i=I", then per thread "thread t=T calc_sum=S leaf_sum=S
 * calc_ok=N" (sums over the calls that did not fail), then
 * "resolve_fail ret=R" if _dl_runtime_resolve_fake(41) (called once, after
 * the threads) did not return 42, "calc_body=N" (runs of fail_calc's body,
 * all threads) and "done=1".
 * With "outer", fail_calc is reached through fail_outer, which tail-calls
 * it (jmp, not call): both return to fail_outer's caller at once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL_MALLOC_SIZE 12345
#define MAX_THREADS 8

long fail_leaf(long x); /* +0 push %rbp, +1 mov %rsp,%rbp, +4 lea 1(%rdi),%rax, +8 pop, +9 ret */

asm(".text\n"
    ".globl fail_leaf\n.type fail_leaf,@function\nfail_leaf:\n"
    "	push %rbp\n"
    "	mov %rsp,%rbp\n"
    "	lea 1(%rdi),%rax\n"
    "	pop %rbp\n"
    "	ret\n.size fail_leaf,.-fail_leaf\n");

/*
 * A called function under the name of ld.so's lazy-binding trampoline: the
 * library refuses an override at every symbol of that name, called or not.
 * main calls it once; a line says if it returned anything but x + 1.
 */
long _dl_runtime_resolve_fake(long x);

asm(".text\n"
    ".globl _dl_runtime_resolve_fake\n.type _dl_runtime_resolve_fake,@function\n"
    "_dl_runtime_resolve_fake:\n"
    "	lea 1(%rdi),%rax\n"
    "	ret\n.size _dl_runtime_resolve_fake,.-_dl_runtime_resolve_fake\n");

static long (*volatile g_resolve)(long) = _dl_runtime_resolve_fake;

static atomic_long g_calc_body;
static long g_calls;

__attribute__((noinline)) long fail_calc(long x)
{
	atomic_fetch_add(&g_calc_body, 1);
	return 3 * x + 1;
}

/* Called through a volatile pointer: the compiler can neither inline nor fold the calls. */
static long (*volatile g_calc)(long) = fail_calc;

/* A tail call: its return address is its caller's, and fail_calc returns for both. */
__attribute__((noinline)) long fail_outer(long x)
{
	return g_calc(x);
}

static long (*volatile g_outer)(long) = fail_outer;
static int g_use_outer;
static long (*volatile g_leaf)(long) = fail_leaf;
static void *(*volatile g_malloc)(size_t) = malloc;

struct thr {
	long t;
	char *out;
	size_t len;
};

static void *run(void *arg)
{
	struct thr *th = arg;
	long calc_sum = 0, leaf_sum = 0, calc_ok = 0;
	FILE *f = open_memstream(&th->out, &th->len);

	if (!f)
		abort();
	for (long i = 0; i < g_calls; i++) {
		long x = th->t * 100000 + i, r = g_use_outer ? g_outer(x) : g_calc(x);

		if (r != 3 * x + 1) {
			fprintf(f, "calc_fail t=%ld i=%ld ret=%ld\n", th->t, i, r);
		} else {
			calc_sum += r;
			calc_ok++;
		}
	}
	for (long i = 0; i < g_calls; i++) {
		long x = th->t * 100000 + i, r = g_leaf(x);

		if (r != x + 1)
			fprintf(f, "leaf_fail t=%ld i=%ld ret=%ld\n", th->t, i, r);
		else
			leaf_sum += r;
	}
	for (long i = 0; i < g_calls; i++) {
		char *p = g_malloc(FAIL_MALLOC_SIZE);

		if (!p) {
			fprintf(f, "malloc_null t=%ld i=%ld\n", th->t, i);
			continue;
		}
		memset(p, (int)i, FAIL_MALLOC_SIZE);
		free(p);
	}
	fprintf(f, "thread t=%ld calc_sum=%ld leaf_sum=%ld calc_ok=%ld\n", th->t, calc_sum,
		leaf_sum, calc_ok);
	fclose(f);
	return NULL;
}

int main(int argc, char **argv)
{
	struct thr th[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	long n = argc > 2 ? atol(argv[2]) : 1, r;

	g_calls = argc > 1 ? atol(argv[1]) : 100;
	g_use_outer = argc > 3 && !strcmp(argv[3], "outer");
	if (n < 1 || n > MAX_THREADS || g_calls < 1)
		return 2;
	for (long i = 0; i < n; i++) {
		th[i] = (struct thr){ .t = i };
		if (n == 1)
			run(&th[i]);
		else if (pthread_create(&tid[i], NULL, run, &th[i]))
			return 1;
	}
	for (long i = 0; i < n; i++) {
		if (n > 1)
			pthread_join(tid[i], NULL);
		fputs(th[i].out, stdout);
		free(th[i].out);
	}
	r = g_resolve(41);
	if (r != 42)
		printf("resolve_fail ret=%ld\n", r);
	printf("calc_body=%ld\ndone=1\n", (long)atomic_load(&g_calc_body));
	return 0;
}
