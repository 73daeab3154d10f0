// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee of uprobe-memleak's tests: known leaks of known sizes from known functions. */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * usage: leaktarget [wait | plugin PATH | threads]
 *
 * Leaks, each from its own function (the allocator's direct caller), and
 * nothing else of its own:
 *   leak_malloc          3 x malloc(100)                      300 bytes
 *   leak_calloc          1 x calloc(10, 20)                   200 bytes
 *   leak_realloc_grow    malloc(10) grown by realloc to 5000 5000 bytes
 *   leak_realloc_null    1 x realloc(NULL, 77)                 77 bytes
 *   leak_memalign        posix_memalign(64, 640)              640 bytes
 *                        aligned_alloc(128, 1280)            1280 bytes
 *   leak_shrink          malloc(4000) shrunk to 33             33 bytes
 *   leak_reallocarray    reallocarray(NULL, 7, 9)              63 bytes
 *   leak_realloc_fail    malloc(21) that a failed realloc keeps  21 bytes
 *                        (and a reallocarray whose n * size wraps to 0)
 * Everything else is freed: by free, by realloc to 0, by a moved realloc.
 * stdin and stdout are unbuffered: stdio allocates nothing for them, so
 * every block allocated on behalf of its code is one of these.
 * Prints "leaktarget: done" at the end.
 * wait: first prints "leaktarget: ready" and reads a line of stdin (a test
 * attaches meanwhile), then does it all, then reads another before exiting.
 * plugin PATH: also dlopens the C++ library PATH (this program does not
 * link libstdc++; the plugin does) and calls its plugin_leak(), which
 * leaks 48 bytes through operator new[].
 * threads: also runs 4 threads at once, each allocating and freeing 2000
 * blocks (realloc(NULL, n) among them, which nests malloc), then leaking
 * 1000 + N bytes from thread_leak (N = 0 to 3): 4 blocks, 4006 bytes.
 */

/* Pointers leave through here so the compiler keeps every call. */
void *volatile sink;

#define NOINLINE __attribute__((noinline))

NOINLINE void leak_malloc(void)
{
	sink = malloc(100);
}

NOINLINE void leak_calloc(void)
{
	sink = calloc(10, 20);
}

NOINLINE void leak_realloc_grow(void)
{
	char *p = malloc(10);

	sink = p;
	sink = realloc(p, 5000);
}

NOINLINE void leak_realloc_null(void)
{
	sink = realloc(NULL, 77);
}

NOINLINE void leak_memalign(void)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, 640) == 0)
		sink = p;
	sink = aligned_alloc(128, 1280);
}

NOINLINE void leak_shrink(void)
{
	char *p = malloc(4000);

	sink = p;
	sink = realloc(p, 33);
}

NOINLINE void leak_reallocarray(void)
{
	sink = reallocarray(NULL, 7, 9);
}

NOINLINE void leak_realloc_fail(void)
{
	char *p = malloc(21);

	sink = p;
	if (!realloc(p, (size_t)-1 / 2))
		sink = p;
	if (!reallocarray(p, (size_t)1 << 63, 2))
		sink = p;
}

/* Everything here is freed again, through every path. */
NOINLINE void no_leaks(void)
{
	void *a = malloc(111), *b = calloc(3, 37), *c = NULL, *d, *e, *f;

	free(a);
	free(b);
	free(NULL);
	if (posix_memalign(&c, 256, 300) == 0)
		free(c);
	d = aligned_alloc(64, 192);
	free(d);
	d = memalign(32, 96);
	free(d);
	d = valloc(123);
	free(d);
	/* valgrind aborts at pvalloc: LEAKTARGET_VALGRIND leaves it out */
	if (!getenv("LEAKTARGET_VALGRIND")) {
		d = pvalloc(55);
		free(d);
	}
	/* grown far enough to move, then shrunk, then freed by realloc to 0 */
	e = malloc(24);
	sink = e;
	e = realloc(e, 100000);
	e = realloc(e, 16);
	sink = e;
	e = realloc(e, 0); /* glibc frees it and returns NULL */
	free(e);
	f = realloc(NULL, 44);
	f = reallocarray(f, 100, 10);
	free(f);
	/* failed calls keep nothing, and the old block stays the caller's */
	f = malloc(12);
	sink = realloc(f, (size_t)-1 / 2);
	sink = reallocarray(f, (size_t)-1 / 2, 4);
	free(f);
	sink = calloc((size_t)-1 / 2, 4);
	sink = NULL;
}

NOINLINE void thread_leak(long n)
{
	sink = malloc(1000 + (size_t)n);
}

static void *worker(void *arg)
{
	for (int i = 0; i < 500; i++) {
		void *p = malloc(16 + (size_t)i), *q = realloc(NULL, 8);

		sink = p;
		q = realloc(q, 4000);
		free(p);
		free(q);
	}
	thread_leak((long)arg);
	return NULL;
}

static void run_threads(void)
{
	pthread_t t[4];

	for (long i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			exit(2);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

static void load_plugin(const char *path)
{
	void *h = dlopen(path, RTLD_NOW);
	void (*leak)(void) = h ? (void (*)(void))dlsym(h, "plugin_leak") : NULL;

	if (!leak) {
		fprintf(stderr, "leaktarget: %s\n", dlerror());
		exit(2);
	}
	leak();
}

int main(int argc, char **argv)
{
	bool wait = argc > 1 && !strcmp(argv[1], "wait");
	char line[16];

	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0);
	if (wait) {
		puts("leaktarget: ready");
		if (!fgets(line, sizeof(line), stdin))
			return 3;
	}
	for (int i = 0; i < 3; i++)
		leak_malloc();
	leak_calloc();
	leak_realloc_grow();
	leak_realloc_null();
	leak_memalign();
	leak_shrink();
	leak_reallocarray();
	leak_realloc_fail();
	if (argc > 2 && !strcmp(argv[1], "plugin"))
		load_plugin(argv[2]);
	if (argc > 1 && !strcmp(argv[1], "threads"))
		run_threads();
	for (int i = 0; i < 2; i++)
		no_leaks();
	puts("leaktarget: done");
	if (wait && !fgets(line, sizeof(line), stdin))
		return 3;
	return 0;
}
