// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fixture program for test_elf: prints its functions' link-time addresses and first bytes. */
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/auxv.h>

/*
 * Every function has a distinct body so that comparing the bytes in memory
 * with the bytes at the file offset libuprobe computed tells them apart.
 * noinline/used keep each one a real function with its own symbol.
 */
__attribute__((noinline, used)) int fx_add(int a, int b)
{
	return a + b + 11;
}

/* Same address as fx_add: wildcard matching must report it once. */
extern int fx_alias(int a, int b) __attribute__((alias("fx_add")));

__attribute__((noinline, used)) int fx_mul(int a, int b)
{
	return a * b * 13;
}

__attribute__((noinline, used)) static int fx_local(int a)
{
	return a ^ 0x5a5a;
}

__attribute__((noinline, used, weak)) int fx_weak(int a)
{
	return a - 17;
}

__attribute__((noinline, used)) int fx_ifunc_impl_a(int a)
{
	return a << 3;
}

__attribute__((noinline, used)) int fx_ifunc_impl_b(int a)
{
	return a >> 5;
}

/* fx_dup.c has a static fx_dup at a lower address: lookups must find this one. */
__attribute__((noinline, used)) int fx_dup(int a)
{
	return a * 37 - 9;
}

volatile int fx_pick_b;

/* An IFUNC symbol's value is its resolver: that is what fx_ifunc's vaddr must be. */
__attribute__((noinline, used)) static int (*fx_ifunc_resolver(void))(int)
{
	return fx_pick_b ? fx_ifunc_impl_b : fx_ifunc_impl_a;
}

int fx_ifunc(int a) __attribute__((ifunc("fx_ifunc_resolver")));

/*
 * fx_inner lies inside fx_outer: the symbol containing an address in
 * fx_inner must be fx_inner (the smaller one), and fx_outer around it.
 */
__asm__(".text\n"
	".globl fx_outer\n"
	".type fx_outer, @function\n"
	"fx_outer:\n"
	".fill 8, 1, 0x90\n"
	".globl fx_inner\n"
	".type fx_inner, @function\n"
	"fx_inner:\n"
	".fill 8, 1, 0xcc\n"
	".size fx_inner, 8\n"
	".fill 8, 1, 0x90\n"
	"ret\n"
	".size fx_outer, .-fx_outer\n");
extern char fx_outer[], fx_inner[];

#if defined(FX_GO_SECTION)
/* What the Go linker emits; libuprobe only looks for the section's name. */
__attribute__((used, section(".go.buildinfo"))) static const char fx_go_buildinfo[32] =
	"\xff Go buildinf:";
#elif defined(FX_GO_NOTE)
/* The Go build id note: owner "Go", type 4 (NT_GO_BUILD_ID). */
__asm__(".section .note.go.buildid, \"a\", @note\n"
	".p2align 2\n"
	".long 3\n"	/* namesz: "Go\0" */
	".long 8\n"	/* descsz */
	".long 4\n"	/* type */
	".asciz \"Go\"\n"
	".p2align 2\n"
	".ascii \"fxbuild!\"\n"
	".p2align 2\n"
	".text\n");
#endif

/* Load bias: where the program headers are minus where the file says they are. */
static uintptr_t load_bias(void)
{
	const ElfW(Phdr) *phdr = (const void *)getauxval(AT_PHDR);
	unsigned long phnum = getauxval(AT_PHNUM);

	for (unsigned long i = 0; i < phnum; i++) {
		if (phdr[i].p_type == PT_PHDR)
			return (uintptr_t)phdr - phdr[i].p_vaddr;
	}
	return 0;
}

static void show(const char *name, const void *addr, uintptr_t bias)
{
	const uint8_t *p = addr;

	printf("%s %#lx ", name, (unsigned long)((uintptr_t)addr - bias));
	for (int i = 0; i < 16; i++)
		printf("%02x", p[i]);
	printf("\n");
}

int main(void)
{
	uintptr_t bias = load_bias();

	/* Output: "name link-time-vaddr first-16-bytes-hex", one function per line. */
	show("fx_add", (void *)fx_add, bias);
	show("fx_mul", (void *)fx_mul, bias);
	show("fx_local", (void *)fx_local, bias);
	show("fx_weak", (void *)fx_weak, bias);
	show("fx_ifunc_impl_a", (void *)fx_ifunc_impl_a, bias);
	show("fx_ifunc_impl_b", (void *)fx_ifunc_impl_b, bias);
	show("fx_ifunc", (void *)fx_ifunc_resolver, bias);
	show("fx_outer", fx_outer, bias);
	show("fx_inner", fx_inner, bias);
	show("fx_dup", (void *)fx_dup, bias);
	return fx_local(fx_add(1, 2)) == 0;
}
