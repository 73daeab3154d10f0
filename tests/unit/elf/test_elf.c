// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of elf.c and elf_sym.c against fixtures the build makes, the test itself and the
 * system libc.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

/* Fixture paths, in the order meson passes them. */
static const char *fx_pie, *fx_nopie, *fx_stripped, *fx_ver, *fx_ver_stripped, *fx_gosec,
	*fx_gonote;

/* What a fixture program printed about one of its functions. */
struct fx_line {
	char name[64];
	uint64_t vaddr;
	uint8_t bytes[16];
};

static int run_fixture(const char *path, struct fx_line *out, int max)
{
	char cmd[4200], hex[64];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "'%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n < max && fscanf(p, "%63s %lx %32s", out[n].name, &out[n].vaddr, hex) == 3) {
		for (int i = 0; i < 16; i++) {
			unsigned b;

			assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
			out[n].bytes[i] = b;
		}
		n++;
	}
	pclose(p);
	return n;
}

/*
 * The file offset of vaddr computed the other way: from the section headers
 * (sh_addr/sh_offset), which elf.c never uses for this.
 */
static uint64_t off_by_sections(const char *path, uint64_t vaddr)
{
	int fd = open(path, O_RDONLY);
	Elf *elf;
	Elf_Scn *scn = NULL;
	uint64_t off = UINT64_MAX;

	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if ((sh.sh_flags & SHF_ALLOC) && sh.sh_type != SHT_NOBITS && vaddr >= sh.sh_addr &&
		    vaddr < sh.sh_addr + sh.sh_size)
			off = vaddr - sh.sh_addr + sh.sh_offset;
	}
	elf_end(elf);
	close(fd);
	return off;
}

/* Header fields read independently: a section's file offset, e_shoff. */
static uint64_t section_offset(const char *path, const char *want, uint64_t *shoff)
{
	int fd = open(path, O_RDONLY);
	Elf *elf;
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	size_t shstrndx;
	uint64_t off = UINT64_MAX;

	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	assert_non_null(gelf_getehdr(elf, &eh));
	*shoff = eh.e_shoff;
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (!strcmp(elf_strptr(elf, shstrndx, sh.sh_name), want))
			off = sh.sh_offset;
	}
	elf_end(elf);
	close(fd);
	return off;
}

static int count_cb(const struct elf_sym *sym, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int stop_cb(const struct elf_sym *sym, void *ctx)
{
	return ++(*(int *)ctx) == 2 ? -42 : 0;
}

static int count_matches(const struct elf_file *f, const char *pattern)
{
	int calls = 0, ret = elf_for_each_match(f, pattern, count_cb, &calls);

	assert_int_equal(ret, calls);
	return ret;
}

/* Sorted by vaddr, and no (name, version, vaddr) twice even though two tables fed it. */
static void check_sorted_unique(const struct elf_file *f)
{
	for (size_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *a = &f->syms[i];

		if (i)
			assert_true(f->syms[i - 1].vaddr <= a->vaddr);
		assert_null(strchr(a->name, '@'));
		for (size_t j = i + 1; j < f->nsyms && f->syms[j].vaddr == a->vaddr; j++) {
			const struct elf_sym *b = &f->syms[j];
			bool same_ver = a->version && b->version ? !strcmp(a->version, b->version) :
								     a->version == b->version;

			assert_false(!strcmp(a->name, b->name) && same_ver);
		}
	}
}

static void check_fixture_exe(const char *path, bool pie, bool stripped)
{
	struct fx_line lines[32];
	struct elf_file *f;
	const struct elf_sym *s, *outer, *inner, *add;
	char why[256] = "";
	uint64_t off, vaddr, shoff;
	int n, calls = 0;

	n = run_fixture(path, lines, 32);
	assert_int_equal(n, 10);
	assert_int_equal(elf_open(path, &f, why, sizeof(why)), 0);
	assert_int_equal(f->pie, pie);
	assert_false(f->is_go);
	check_sorted_unique(f);

	for (int i = 0; i < n; i++) {
		const struct fx_line *l = &lines[i];

		s = elf_find_sym(f, l->name);
		if (stripped && !strcmp(l->name, "fx_local")) {
			/* static: only in .symtab, which -s removed */
			assert_null(s);
			continue;
		}
		if (!s)
			fail_msg("%s: no symbol %s", path, l->name);
		assert_string_equal(s->name, l->name);
		assert_null(s->version); /* an executable's own symbols are unversioned */
		assert_true(s->default_version);
		assert_int_equal(s->ifunc, !strcmp(l->name, "fx_ifunc"));
		assert_int_equal(s->vaddr, l->vaddr);
		assert_int_equal(s->off, off_by_sections(path, l->vaddr));
		assert_true(s->off + 16 <= f->size);
		assert_memory_equal(f->data + s->off, l->bytes, 16);
		assert_int_equal(elf_vaddr_to_off(f, s->vaddr, &off), 0);
		assert_int_equal(off, s->off);
		assert_int_equal(elf_off_to_vaddr(f, s->off, &vaddr), 0);
		assert_int_equal(vaddr, s->vaddr);
		assert_non_null(elf_exec_seg_at_off(f, s->off));
		assert_true(elf_exec_seg_at_off(f, s->off)->flags & PF_X);
		/* .symtab and .dynsym (-rdynamic) both list it: one match, not two */
		assert_int_equal(count_matches(f, l->name),
				 !strcmp(l->name, "fx_dup") && !stripped ? 2 : 1);
	}
	if (!stripped) {
		/* The IFUNC symbol's value is its resolver's address. */
		assert_int_equal(elf_find_sym(f, "fx_ifunc")->vaddr,
				 elf_find_sym(f, "fx_ifunc_resolver")->vaddr);
		assert_int_equal(f->entry, elf_find_sym(f, "_start")->vaddr);
	}
	assert_null(elf_find_sym(f, "fx_nosuch"));
	assert_null(elf_find_sym(f, "fx_add@VER_1"));
	assert_null(elf_find_sym(f, "fx_ad"));

	/* The alias shares fx_add's address and the resolver fx_ifunc's: once each. */
	assert_int_equal(count_matches(f, "fx_*"), stripped ? 10 : 12);
	assert_int_equal(count_matches(f, "fx_ifunc_impl_[ab]"), 2);
	assert_int_equal(count_matches(f, "no_such_*"), 0);
	assert_int_equal(elf_for_each_match(f, "fx_*", stop_cb, &calls), -42);
	assert_int_equal(calls, 2);

	outer = elf_find_sym(f, "fx_outer");
	inner = elf_find_sym(f, "fx_inner");
	add = elf_find_sym(f, "fx_add");
	assert_non_null(outer);
	assert_non_null(inner);
	assert_int_equal(inner->size, 8);
	assert_ptr_equal(elf_sym_containing(f, inner->vaddr), inner);
	assert_ptr_equal(elf_sym_containing(f, inner->vaddr + 7), inner);
	assert_ptr_equal(elf_sym_containing(f, inner->vaddr + 8), outer);
	assert_ptr_equal(elf_sym_containing(f, outer->vaddr), outer);
	assert_ptr_equal(elf_sym_containing(f, outer->vaddr + outer->size - 1), outer);
	s = elf_sym_containing(f, add->vaddr + add->size - 1);
	assert_non_null(s);
	assert_int_equal(s->vaddr, add->vaddr);
	assert_null(elf_sym_containing(f, 0));
	assert_null(elf_sym_containing(f, UINT64_MAX));

	/* -z separate-code: read-only data is not in an executable segment. */
	off = section_offset(path, ".rodata", &shoff);
	assert_int_not_equal(off, UINT64_MAX);
	assert_null(elf_exec_seg_at_off(f, off));
	/* The section header table is in no PT_LOAD segment. */
	assert_int_equal(elf_off_to_vaddr(f, shoff, &vaddr), -EINVAL);
	assert_int_equal(elf_vaddr_to_off(f, UINT64_MAX - 4096, &off), -EINVAL);
}

static void test_pie(void **state)
{
	check_fixture_exe(fx_pie, true, false);
}

static void test_nopie(void **state)
{
	check_fixture_exe(fx_nopie, false, false);
}

static void test_stripped(void **state)
{
	struct elf_file *f;

	check_fixture_exe(fx_stripped, true, true);
	assert_int_equal(elf_open(fx_stripped, &f, NULL, 0), 0);
	assert_null(elf_find_sym(f, "fx_ifunc_resolver"));
}

/*
 * The versioned library, checked against what the dynamic linker itself
 * resolves: dlsym/dlvsym addresses minus the load base are the vaddrs, and
 * the bytes there must be the bytes at the file offsets.
 */
static void check_versioned(const char *path, bool stripped)
{
	struct elf_file *f;
	const struct elf_sym *foo, *foo1, *bar, *baz, *impl, *s;
	void *h = dlopen(fx_ver, RTLD_NOW | RTLD_LOCAL);
	void *p_foo2, *p_foo1, *p_baz;
	void *(*resolver)(void);
	Dl_info info;
	char why[256];
	uintptr_t base;

	assert_non_null(h);
	p_foo2 = dlsym(h, "foo");
	p_foo1 = dlvsym(h, "foo", "VER_1");
	p_baz = dlsym(h, "baz");
	assert_non_null(p_foo2);
	assert_non_null(p_foo1);
	assert_ptr_not_equal(p_foo1, p_foo2);
	assert_int_not_equal(dladdr(p_foo2, &info), 0);
	base = (uintptr_t)info.dli_fbase;

	assert_int_equal(elf_open(path, &f, why, sizeof(why)), 0);
	check_sorted_unique(f);

	foo = elf_find_sym(f, "foo");
	assert_non_null(foo);
	assert_string_equal(foo->version, "VER_2");
	assert_true(foo->default_version);
	assert_int_equal(foo->vaddr, (uintptr_t)p_foo2 - base);
	assert_memory_equal(f->data + foo->off, p_foo2, 16);
	assert_ptr_equal(elf_find_sym(f, "foo@@VER_2"), foo);
	assert_ptr_equal(elf_find_sym(f, "foo@VER_2"), foo);

	foo1 = elf_find_sym(f, "foo@VER_1");
	assert_non_null(foo1);
	assert_string_equal(foo1->name, "foo");
	assert_string_equal(foo1->version, "VER_1");
	assert_false(foo1->default_version);
	assert_int_equal(foo1->vaddr, (uintptr_t)p_foo1 - base);
	assert_memory_equal(f->data + foo1->off, p_foo1, 16);
	assert_null(elf_find_sym(f, "foo@@VER_1"));
	assert_null(elf_find_sym(f, "foo@VER_3"));
	assert_null(elf_find_sym(f, "foo@"));
	assert_int_equal(count_matches(f, "foo"), 2);

	/* No default version: the only one is taken, a choice of two is refused. */
	s = elf_find_sym(f, "old");
	assert_non_null(s);
	assert_false(s->default_version);
	assert_ptr_equal(elf_find_sym(f, "old@VER_1"), s);
	assert_memory_equal(f->data + s->off, dlvsym(h, "old", "VER_1"), 16);
	assert_null(elf_find_sym(f, "qux"));
	s = elf_find_sym(f, "qux@VER_2");
	assert_non_null(s);
	assert_false(s->default_version);
	assert_memory_equal(f->data + s->off, dlvsym(h, "qux", "VER_2"), 16);
	assert_int_equal(count_matches(f, "qux"), 2);

	bar = elf_find_sym(f, "bar");
	assert_non_null(bar);
	assert_string_equal(bar->version, "VER_1");
	assert_true(bar->default_version);
	assert_ptr_equal(elf_find_sym(f, "bar@@VER_1"), bar);
	assert_memory_equal(f->data + bar->off, dlsym(h, "bar"), 16);

	/* Calling the resolver at the IFUNC's vaddr must give what dlsym resolved. */
	baz = elf_find_sym(f, "baz");
	impl = elf_find_sym(f, "baz_impl");
	assert_non_null(baz);
	assert_non_null(impl);
	assert_true(baz->ifunc);
	assert_false(impl->ifunc);
	assert_string_equal(baz->version, "VER_1");
	resolver = (void *(*)(void))(base + baz->vaddr);
	assert_ptr_equal(resolver(), p_baz);
	assert_int_equal(impl->vaddr, (uintptr_t)p_baz - base);

	if (stripped) {
		assert_null(elf_find_sym(f, "foo_v1"));
		assert_null(elf_find_sym(f, "baz_resolver"));
	} else {
		/* Local aliases from .symtab, unversioned. */
		assert_int_equal(elf_find_sym(f, "foo_v1")->vaddr, foo1->vaddr);
		assert_null(elf_find_sym(f, "foo_v1")->version);
		assert_int_equal(elf_find_sym(f, "baz_resolver")->vaddr, baz->vaddr);
	}
	dlclose(h);
}

struct pub_list {
	struct uprobe_sym s[8];
	int n;
};

static int pub_cb(const struct uprobe_sym *sym, void *ctx)
{
	struct pub_list *l = ctx;

	if (l->n < 8)
		l->s[l->n] = *sym;
	l->n++;
	return 0;
}

/* uprobe_symbols() over the same file: versions as uprobe_add() resolves them. */
static void check_versioned_listing(const char *path)
{
	struct elf_file *f;
	struct pub_list l = { 0 };
	char why[256];

	assert_int_equal(elf_open(path, &f, why, sizeof(why)), 0);
	assert_int_equal(uprobe_symbols(path, "foo", pub_cb, &l), 0);
	assert_int_equal(l.n, 2);
	for (int i = 0; i < 2; i++) {
		const struct elf_sym *e = elf_find_sym(f, l.s[i].default_version ? "foo@@VER_2"
										  : "foo@VER_1");

		assert_string_equal(l.s[i].name, "foo");
		assert_string_equal(l.s[i].version, l.s[i].default_version ? "VER_2" : "VER_1");
		assert_non_null(e);
		assert_int_equal(l.s[i].offset, e->off);
		assert_int_equal(l.s[i].vaddr, e->vaddr);
		assert_int_equal(l.s[i].size, e->size);
	}
	assert_true(l.s[0].default_version != l.s[1].default_version);
	/* one address, two versions: once, under the default */
	memset(&l, 0, sizeof(l));
	assert_int_equal(uprobe_symbols(path, "same", pub_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.s[0].version, "VER_2");
	assert_true(l.s[0].default_version);
	memset(&l, 0, sizeof(l));
	assert_int_equal(uprobe_symbols(path, "baz", pub_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_true(l.s[0].ifunc);
	assert_int_equal(uprobe_symbols(path, "baz_impl", pub_cb, &l), 0);
	assert_int_equal(l.n, 2);
	assert_false(l.s[1].ifunc);
}

static void test_versioned(void **state)
{
	check_versioned_listing(fx_ver);
	check_versioned(fx_ver, false);
}

static void test_versioned_stripped(void **state)
{
	check_versioned_listing(fx_ver_stripped);
	check_versioned(fx_ver_stripped, true);
}

static void test_go(void **state)
{
	struct elf_file *f;

	assert_int_equal(elf_open(fx_gosec, &f, NULL, 0), 0);
	assert_true(f->is_go);
	assert_int_equal(elf_open(fx_gonote, &f, NULL, 0), 0);
	assert_true(f->is_go);
}

static void test_errors(void **state)
{
	char why[4200], path[] = "/tmp/test_elf_XXXXXX", expect[4200];
	struct elf_file *f = NULL;
	const char *text = "#!/bin/sh\n# a script is not an ELF file, however long it is.\n"
			   "echo hello world hello world hello world\n";
	uint8_t buf[4096];
	int fd, src;
	ssize_t got;

	assert_int_equal(elf_open("/nonexistent/x", &f, why, sizeof(why)), -ENOENT);
	assert_string_equal(why, "'/nonexistent/x': No such file or directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(elf_open(path, &f, why, sizeof(why)), -ENOEXEC);
	snprintf(expect, sizeof(expect), "'%s': not an x86-64 ELF file", path);
	assert_string_equal(why, expect);

	/* A valid ELF file for another machine: the fixture with e_machine = EM_AARCH64. */
	fd = open(path, O_WRONLY | O_TRUNC);
	src = open(fx_pie, O_RDONLY);
	assert_true(fd >= 0 && src >= 0);
	while ((got = read(src, buf, sizeof(buf))) > 0)
		assert_int_equal(write(fd, buf, got), got);
	assert_int_equal(pwrite(fd, &(uint16_t){ EM_AARCH64 }, 2, offsetof(Elf64_Ehdr, e_machine)),
			 2);
	close(src);
	close(fd);
	assert_int_equal(elf_open(path, &f, why, sizeof(why)), -ENOEXEC);
	assert_string_equal(why, expect);
	unlink(path);

	assert_int_equal(elf_open("/tmp", &f, why, sizeof(why)), -ENOEXEC);
	assert_int_equal(elf_open("/nonexistent/x", &f, NULL, 0), -ENOENT);
}

static void test_cache(void **state)
{
	struct elf_file *a, *b, *c;
	char link[] = "/tmp/test_elf_linkXXXXXX";
	char *target = realpath(fx_pie, NULL);
	int fd = mkstemp(link);

	assert_non_null(target);
	assert_true(fd >= 0);
	close(fd);
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	free(target);
	assert_int_equal(elf_open(fx_pie, &a, NULL, 0), 0);
	assert_int_equal(elf_open(fx_pie, &b, NULL, 0), 0);
	assert_ptr_equal(a, b);
	/* Another name for the same inode. */
	assert_int_equal(elf_open(link, &c, NULL, 0), 0);
	assert_ptr_equal(a, c);
	unlink(link);
	elf_cache_clear();
	assert_int_equal(elf_open(fx_pie, &a, NULL, 0), 0);
	assert_non_null(elf_find_sym(a, "fx_add"));
	elf_cache_clear();
}

__attribute__((noinline, used)) int test_self_marker(int x)
{
	return x * 7777 + 3;
}

/* The test's own executable: its mapped bytes are the file's bytes at the computed offset. */
static void test_self(void **state)
{
	const ElfW(Phdr) *phdr = (const void *)getauxval(AT_PHDR);
	unsigned long phnum = getauxval(AT_PHNUM);
	uintptr_t bias = 0;
	struct elf_file *f;
	const struct elf_sym *s;

	for (unsigned long i = 0; i < phnum; i++) {
		if (phdr[i].p_type == PT_PHDR)
			bias = (uintptr_t)phdr - phdr[i].p_vaddr;
	}
	assert_int_equal(elf_open("/proc/self/exe", &f, NULL, 0), 0);
	s = elf_find_sym(f, "test_self_marker");
	assert_non_null(s);
	assert_int_equal(s->vaddr, (uintptr_t)test_self_marker - bias);
	assert_memory_equal(f->data + s->off, (void *)test_self_marker, 16);
	assert_ptr_equal(elf_sym_containing(f, s->vaddr + 1), s);
}

static void test_libc(void **state)
{
	const struct elf_sym *m, *mc, *mc_old;
	struct elf_file *f;
	Dl_info info;
	char why[256];
	size_t found = 0;
	void *libc, *p_malloc;

	/*
	 * libc's own malloc, not whatever the process binds "malloc" to (a
	 * sanitizer's, say): locate libc through a function nobody interposes,
	 * then look malloc up in libc's scope.
	 */
	assert_int_not_equal(dladdr((void *)gnu_get_libc_version, &info), 0);
	libc = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(libc);
	p_malloc = dlsym(libc, "malloc");
	assert_non_null(p_malloc);
	dlclose(libc);
	assert_int_equal(elf_open(info.dli_fname, &f, why, sizeof(why)), 0);
	assert_true(f->pie);
	assert_true(f->nsyms > 1000);
	check_sorted_unique(f);

	m = elf_find_sym(f, "malloc");
	assert_non_null(m);
	assert_string_equal(m->version, "GLIBC_2.2.5");
	assert_true(m->default_version);
	assert_false(m->ifunc);
	assert_ptr_equal(elf_find_sym(f, "malloc@@GLIBC_2.2.5"), m);
	assert_int_equal(m->vaddr, (uintptr_t)p_malloc - (uintptr_t)info.dli_fbase);
	assert_memory_equal(f->data + m->off, p_malloc, 16);

	mc = elf_find_sym(f, "memcpy");
	assert_non_null(mc);
	assert_true(mc->ifunc);
	assert_true(mc->default_version);
	assert_string_equal(mc->version, "GLIBC_2.14");
	mc_old = elf_find_sym(f, "memcpy@GLIBC_2.2.5");
	assert_non_null(mc_old);
	assert_false(mc_old->default_version);
	assert_int_not_equal(mc_old->vaddr, mc->vaddr);
	assert_null(elf_find_sym(f, "memcpy@@GLIBC_2.2.5"));
	assert_ptr_equal(elf_find_sym(f, "memcpy@@GLIBC_2.14"), mc);
	assert_non_null(elf_exec_seg_at_off(f, mc->off));

	/* every symbol is found again by its name, and by an address inside it */
	found = 0;
	for (size_t i = 0; i < f->nsyms; i++)
		found += elf_find_sym(f, f->syms[i].name) != NULL;
	assert_int_equal(found, f->nsyms);
	found = 0;
	for (size_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *s = &f->syms[i];

		found += s->size && elf_sym_containing(f, s->vaddr + s->size / 2) != NULL;
	}
	assert_true(found > f->nsyms / 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pie),
		cmocka_unit_test(test_nopie),
		cmocka_unit_test(test_stripped),
		cmocka_unit_test(test_versioned),
		cmocka_unit_test(test_versioned_stripped),
		cmocka_unit_test(test_go),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_libc),
	};
	int ret;

	if (argc != 8) {
		fprintf(stderr, "usage: %s fx_pie fx_nopie fx_stripped libfxver.so "
				"libfxver_stripped.so fx_gosec fx_gonote\n", argv[0]);
		return 2;
	}
	fx_pie = argv[1];
	fx_nopie = argv[2];
	fx_stripped = argv[3];
	fx_ver = argv[4];
	fx_ver_stripped = argv[5];
	fx_gosec = argv[6];
	fx_gonote = argv[7];
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	elf_cache_clear();
	return ret;
}
