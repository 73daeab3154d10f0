// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzzing of what USDT probes read from untrusted files: argument specs
 * (lib/usdt_args.c), random and mutated from real ones, and the
 * .note.stapsdt notes of api_usdt with bytes changed, added through
 * uprobe_add_usdt() with no tracee. Nothing may crash or hang; a refusal
 * is one line, with an errno that says what was wrong.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/user.h>

#include <cmocka.h>

#include "core.h"
#include "fuzz.h"

static const char *g_prog;

static const char *const g_specs[] = {
	"-4@%eax", "8@-16(%rbp)", "8@$5", "-1@%sil", "4@8(%rax,%rdx,4)", "8@foo(%rip)", "%edi",
	"-8@g_arr(,%rax,8)", "-1@%ah", "2@%r10w", "-4@$-7", "8@(%rsp)", "8@foo+8(%rip)",
};
static const char g_alphabet[] = "%$@(),+-0123456789xabcdefilnoprsuwzABX_. ";

static int fake_syms(void *ctx, const char *name, uint64_t *vaddr)
{
	(void)ctx;
	if (strcmp(name, "foo") && strcmp(name, "g_arr"))
		return -ENOENT;
	*vaddr = 0x4000;
	return 0;
}

static void check_parsed(const char *str, int n, const struct usdt_arg *args, const char *why)
{
	if (n < 0) {
		if (n != -EINVAL && n != -ENOENT && n != -E2BIG)
			fail_msg("'%s': %d", str, n);
		if (!*why || strchr(why, '\n'))
			fail_msg("'%s': message '%s'", str, why);
		return;
	}
	if (n > USDT_MAX_ARGS)
		fail_msg("'%s': %d arguments", str, n);
	for (int i = 0; i < n; i++) {
		const struct usdt_arg *a = &args[i];
		unsigned words = sizeof(struct user_regs_struct) / 8;
		int sz = a->size < 0 ? -a->size : a->size;

		if (a->kind > USDT_ARG_MEM || (sz && sz != 1 && sz != 2 && sz != 4 && sz != 8) ||
		    (a->kind == USDT_ARG_REG && a->reg >= words) ||
		    (a->kind == USDT_ARG_MEM &&
		     ((a->base != USDT_NO_REG && a->base >= words) ||
		      (a->index != USDT_NO_REG && a->index >= words) ||
		      (a->scale != 1 && a->scale != 2 && a->scale != 4 && a->scale != 8))))
			fail_msg("'%s': argument %d is inconsistent", str, i);
		usdt_arg_extend(a, 0x8000000000000001ull);
	}
}

static void test_specs(void **state)
{
	struct rng r = { fuzz_seed(0x05d7a995) };
	struct usdt_arg args[USDT_MAX_ARGS];
	char str[160], why[256];

	(void)state;
	for (unsigned it = 0; it < fuzz_iters(200000); it++) {
		size_t len = 0;
		int n;

		fuzz_set_case("specs seed 0x05d7a995 iteration %u", it);
		if (rng_chance(&r, 2)) {
			/* real specs, joined, then a few bytes changed, cut or doubled */
			while (len < 100) {
				const char *s = g_specs[rng_below(&r, ARRAY_SIZE(g_specs))];

				len += (size_t)snprintf(str + len, sizeof(str) - len, "%s ", s);
				if (rng_chance(&r, 3))
					break;
			}
			for (unsigned k = rng_below(&r, 4); k && len; k--) {
				size_t at = rng_below(&r, len);

				switch (rng_below(&r, 3)) {
				case 0:
					str[at] = g_alphabet[rng_below(&r, sizeof(g_alphabet) - 1)];
					break;
				case 1:
					len = at;
					break;
				default:
					str[at] = (char)(rng_next(&r) | 1);
				}
			}
		} else {
			len = rng_below(&r, 40);
			for (size_t i = 0; i < len; i++)
				str[i] = g_alphabet[rng_below(&r, sizeof(g_alphabet) - 1)];
		}
		str[len] = 0;
		why[0] = 0;
		n = usdt_parse_args(str, args, fake_syms, NULL, rng_chance(&r, 2), why, sizeof(why));
		check_parsed(str, n, args, why);
	}
}

/* The offset and size of api_usdt's .note.stapsdt. */
static bool note_section(const uint8_t *buf, size_t size, size_t *off, size_t *len)
{
	const Elf64_Ehdr *eh = (const void *)buf;
	const Elf64_Shdr *sh = (const void *)(buf + eh->e_shoff), *strs = &sh[eh->e_shstrndx];

	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (strcmp((const char *)buf + strs->sh_offset + sh[i].sh_name, ".note.stapsdt"))
			continue;
		*off = sh[i].sh_offset;
		*len = sh[i].sh_size;
		return *off + *len <= size;
	}
	return false;
}

static void test_notes(void **state)
{
	struct rng r = { fuzz_seed(0x5757d7) };
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	uint8_t *orig, *buf;
	size_t size, off = 0, len = 0;
	struct stat st;
	unsigned ok = 0;
	FILE *fp;

	(void)state;
	fp = fopen(g_prog, "rb");
	assert_non_null(fp);
	assert_int_equal(fstat(fileno(fp), &st), 0);
	size = (size_t)st.st_size;
	orig = malloc(size);
	buf = malloc(size);
	assert_non_null(orig);
	assert_non_null(buf);
	assert_int_equal(fread(orig, 1, size, fp), size);
	fclose(fp);
	assert_true(note_section(orig, size, &off, &len));
	uprobe_set_print(NULL);
	for (unsigned it = 0; it < fuzz_iters(300); it++) {
		struct uprobe_tracer *t = uprobe_tracer_new();
		struct uprobe_usdt *u;
		int fd;

		fuzz_set_case("notes seed 0x5757d7 iteration %u", it);
		assert_non_null(t);
		memcpy(buf, orig, size);
		for (unsigned k = 1 + rng_below(&r, 8); k; k--) {
			size_t at = off + rng_below(&r, len);

			/* the notes' sizes and strings matter most: often a small change */
			buf[at] = rng_chance(&r, 2) ? (uint8_t)rng_next(&r) : (uint8_t)(buf[at] ^ 1);
		}
		if (it % 16 == 0) {
			/* a note size just under 4 GiB: rounded up in 32 bits it would wrap to 0 */
			uint32_t huge = 0xfffffffd - (uint32_t)rng_below(&r, 3);

			memcpy(buf + off + (it % 32 ? 4 : 0), &huge, sizeof(huge));
		}
		/* a new file each time: parsed files are cached by (device, inode) */
		snprintf(path, sizeof(path), "%s/fuzz-usdt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, buf, size), (ssize_t)size);
		close(fd);
		errno = 0;
		u = uprobe_add_usdt(t, path, "*", "*", NULL);
		if (it % 16 == 0 && (u || errno != ENOEXEC))
			fail_msg("iteration %u: a first note of 4 GiB: errno %d, %s", it, errno,
				 uprobe_tracer_errmsg(t));
		if (u) {
			ok++;
			assert_true(uprobe_usdt_nsites(u) > 0);
		} else if (errno != ENOENT && errno != ENOEXEC && errno != EINVAL && errno != E2BIG &&
			   errno != EOPNOTSUPP && errno != EEXIST) {
			fail_msg("iteration %u: errno %d: %s", it, errno, uprobe_tracer_errmsg(t));
		} else if (!*uprobe_tracer_errmsg(t) || strchr(uprobe_tracer_errmsg(t), '\n')) {
			fail_msg("iteration %u: message '%s'", it, uprobe_tracer_errmsg(t));
		}
		uprobe_tracer_free(t);
		unlink(path);
		elf_cache_clear();
	}
	/* most mutants hit a string or an address: some still parse */
	assert_true(ok > 0);
	free(orig);
	free(buf);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_specs),
		cmocka_unit_test(test_notes),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_USDT\n", argv[0]);
		return 2;
	}
	g_prog = argv[1];
	fuzz_init();
	fuzz_watchdog(100);
	return cmocka_run_group_tests_name("fuzz_usdt", tests, NULL, NULL);
}
