// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exception landing pads for test_lsda: a try/catch and destructor
 * cleanups. The personality routine hands the unwinder each landing pad it
 * enters through _Unwind_SetIP(), which this program interposes to print
 * it ("pad VADDR"): the pads that really run, to check those test_lsda
 * reads from the file against.
 */
#include <cstdint>
#include <cstdio>
#include <dlfcn.h>
#include <exception>
#include <stdexcept>
#include <unwind.h>

extern "C" {

__attribute__((noinline)) void fx_throw(int v)
{
	if (v > 0)
		throw std::runtime_error("fx");
}

/* arithmetic before and after the try: ranges away from the pad */
__attribute__((noinline)) int fx_catch(int v)
{
	volatile int k = v;
	int r = k * 7 + 3;

	r ^= k << 2;
	try {
		fx_throw(v);
		r += k;
	} catch (const std::exception &) {
		r = -r;
	}
	r += k * 5;
	return r;
}

__attribute__((noinline)) void fx_touch(volatile int *p)
{
	*p += 1;
}

void _Unwind_SetIP(struct _Unwind_Context *ctx, _Unwind_Ptr ip)
{
	static void (*real)(struct _Unwind_Context *, _Unwind_Ptr);
	Dl_info self, at;

	if (!real)
		real = (void (*)(struct _Unwind_Context *, _Unwind_Ptr))dlsym(RTLD_NEXT,
									       "_Unwind_SetIP");
	if (dladdr((void *)fx_throw, &self) && dladdr((void *)ip, &at) &&
	    self.dli_fbase == at.dli_fbase)
		printf("pad %lx\n", (unsigned long)(ip - (uintptr_t)self.dli_fbase));
	real(ctx, ip);
}
}

struct guard {
	volatile int n;
	~guard() { fx_touch(&n); }
};

extern "C" __attribute__((noinline)) int fx_cleanup(int v)
{
	volatile int k = v;
	guard g1 = { k };

	fx_throw(k - 1);
	guard g2 = { k };

	fx_throw(k);
	return k * 9 + g1.n + g2.n;
}

int main(void)
{
	int r = fx_catch(1);

	try {
		r += fx_cleanup(1);
	} catch (...) {
		r++;
	}
	printf("done %d\n", r);
	return 0;
}
