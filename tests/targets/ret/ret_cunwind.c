// SPDX-License-Identifier: LGPL-2.1-or-later
/* C target whose libgcc_s glibc dlopens late: backtrace(), pthread_exit through probed frames. */
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/*
 * Usage: ret_cunwind bt|thexit
 *   bt      cu_a -> cu_b -> cu_c, which prints the names backtrace() gives
 *   thexit  a thread: cu_th -> cu_mid (a cleanup variable) -> cu_leaf -> pthread_exit;
 *           prints how many cleanups ran
 * Built with -fexceptions (cleanups are unwinder landing pads) and -rdynamic
 * (dladdr names the program's functions).
 */
#define PROBED __attribute__((noipa, used))

static volatile long sink;
static int cleanups;

PROBED int cu_c(int v)
{
	void *pcs[64];
	int n = backtrace(pcs, 64);

	printf("bt:");
	for (int i = 0; i < n; i++) {
		Dl_info info;
		const char *name = "?";

		if (dladdr((char *)pcs[i] - (i ? 1 : 0), &info) && info.dli_sname)
			name = info.dli_sname;
		printf(" %s", name);
		if (!strcmp(name, "main"))
			break;
	}
	printf("\n");
	return v + 1;
}

PROBED int cu_b(int v)
{
	int r = cu_c(v) + 1;

	sink = r;
	return r;
}

PROBED int cu_a(int v)
{
	int r = cu_b(v) + 1;

	sink = r;
	return r;
}

static void cleanup(int *p)
{
	__atomic_fetch_add(&cleanups, 1, __ATOMIC_RELAXED);
	sink = *p;
}

PROBED void cu_leaf(int v)
{
	sink = v;
	pthread_exit((void *)(long)(v + 1));
}

PROBED int cu_mid(int v)
{
	int guard __attribute__((cleanup(cleanup))) = v;

	cu_leaf(v);
	sink = guard;
	return 0;
}

PROBED void *cu_th(void *arg)
{
	cu_mid((int)(long)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "bt";

	if (!strcmp(mode, "bt")) {
		int r = cu_a(1);

		r += cu_a(2);
		printf("r=%d\n", r);
	} else if (!strcmp(mode, "thexit")) {
		for (long i = 0; i < 3; i++) {
			pthread_t th;
			void *ret;

			pthread_create(&th, NULL, cu_th, (void *)i);
			pthread_join(th, &ret);
			printf("thread %ld: ret=%ld cleanups=%d\n", i, (long)ret, cleanups);
		}
	} else {
		return 2;
	}
	return 0;
}
