// SPDX-License-Identifier: LGPL-2.1-or-later
/* Loads each library named, calls all_loaded() while all are mapped, then unloads them. */
#include <dlfcn.h>
#include <stdio.h>

#define MAX_LIBS 8

/* A probe here sees every library loaded. */
__attribute__((noinline, used)) int all_loaded(int n)
{
	__asm__ volatile("");
	return n;
}

/* usage: api_libpath LIB... (each a path to a copy of libapi_plugin.so) */
int main(int argc, char **argv)
{
	void *h[MAX_LIBS];
	int n = 0, sum = 0;

	for (int i = 1; i < argc && n < MAX_LIBS; i++) {
		int (*work)(int);

		h[n] = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
		if (!h[n]) {
			printf("dlopen: %s\n", dlerror());
			return 1;
		}
		work = (int (*)(int))dlsym(h[n++], "plugin_work");
		if (!work)
			return 1;
		sum += work(i);
	}
	printf("loaded=%d\nsum=%d\n", all_loaded(n), sum);
	for (int i = 0; i < n; i++)
		dlclose(h[i]);
	return 0;
}
