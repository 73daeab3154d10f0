// SPDX-License-Identifier: LGPL-2.1-or-later
/* Loads a plugin with dlopen, calls it, unloads it, and does it again: prints how often it called. */
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

/* usage: api_dlopen PLUGIN ROUNDS CALLS */
int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 3, n = argc > 3 ? atoi(argv[3]) : 10;
	long calls = 0, sum = 0, bad = 0, icalls = 0, isum = 0, frames = 0;
	void *pc;

	if (argc < 2)
		return 2;
	/* libgcc_s, which backtrace() loads, here before the plugin */
	backtrace(&pc, 1);
	for (int r = 0; r < rounds; r++) {
		void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
		int (*work)(int);

		if (!h) {
			printf("dlopen: %s\n", dlerror());
			return 1;
		}
		work = (int (*)(int))dlsym(h, "plugin_work");
		if (!work)
			return 1;
		for (int i = 0; i < n + r; i++) {
			int v = work(i);

			bad += v != i * 7 + 1;
			sum += v;
			calls++;
		}
		/* the IFUNCs, where the plugin has them */
		int (*twice)(int) = (int (*)(int))dlsym(h, "plugin_twice");
		int (*thrice)(int) = (int (*)(int))dlsym(h, "plugin_thrice");

		for (int i = 0; twice && thrice && i < n; i++) {
			isum += twice(i) + thrice(i);
			icalls++;
		}
		int (*walk)(void) = (int (*)(void))dlsym(h, "plugin_frames");

		if (walk)
			frames += walk();
		if (dlclose(h))
			return 1;
	}
	printf("calls=%ld\nsum=%ld\nbad=%ld\nicalls=%ld\nisum=%ld\nframes=%ld\n", calls, sum, bad,
	       icalls, isum, frames);
	return 0;
}
