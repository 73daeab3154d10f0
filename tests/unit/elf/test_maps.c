// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests of maps.c: canned /proc/PID/maps text, malformed lines, and /proc/self/maps. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

/* As the kernel writes it: names padded to a column, anonymous lines ending "0 ". */
static const char canned[] =
	"55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234                       /usr/bin/cat\n"
	"7f12a000-7f12c000 r-xp 00002000 fd:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f12c000-7f12d000 rw-p 00000000 00:00 0 \n"
	"7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7f000000-7f001000 r-xs 0001a000 103:0a 99999999999  /tmp/my dir/lib  x.so (deleted)\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	"7f200000-7f201000 ---p 00000000 00:00 0";

static void test_canned(void **state)
{
	FILE *fp = fmemopen((void *)canned, strlen(canned), "r");
	struct map_entry *e;
	int n;

	assert_non_null(fp);
	n = maps_read(fp, &e);
	fclose(fp);
	assert_int_equal(n, 7);

	assert_int_equal(e[0].start, 0x55d0c0a00000);
	assert_int_equal(e[0].end, 0x55d0c0a02000);
	assert_true(e[0].r && !e[0].w && !e[0].x && e[0].p);
	assert_string_equal(e[0].path, "/usr/bin/cat");

	assert_int_equal(e[1].start, 0x7f12a000);
	assert_int_equal(e[1].end, 0x7f12c000);
	assert_int_equal(e[1].off, 0x2000);
	assert_int_equal(e[1].dev_major, 0xfd);
	assert_int_equal(e[1].dev_minor, 1);
	assert_int_equal(e[1].ino, 1234);
	assert_true(e[1].r && !e[1].w && e[1].x && e[1].p);
	assert_string_equal(e[1].path, "/usr/lib/x86_64-linux-gnu/libc.so.6");

	assert_true(e[2].r && e[2].w && !e[2].x);
	assert_int_equal(e[2].ino, 0);
	assert_string_equal(e[2].path, "");

	assert_string_equal(e[3].path, "[vdso]");
	assert_true(e[3].x);

	/* Shared, a 3-digit major, an inode beyond 32 bits, spaces kept inside the name. */
	assert_false(e[4].p);
	assert_int_equal(e[4].off, 0x1a000);
	assert_int_equal(e[4].dev_major, 0x103);
	assert_int_equal(e[4].dev_minor, 0xa);
	assert_int_equal(e[4].ino, 99999999999ULL);
	assert_string_equal(e[4].path, "/tmp/my dir/lib  x.so (deleted)");

	assert_int_equal(e[5].start, 0xffffffffff600000ULL);
	assert_true(!e[5].r && !e[5].w && e[5].x);
	assert_string_equal(e[5].path, "[vsyscall]");

	/* The last line has no newline. */
	assert_true(!e[6].r && !e[6].w && !e[6].x && e[6].p);
	assert_string_equal(e[6].path, "");
	free(e);
}

static void test_parse_line(void **state)
{
	struct map_entry e;

	assert_int_equal(maps_parse_line("1000-2000 r-xp 00000000 08:02 42 /bin/a b\n", &e), 0);
	assert_string_equal(e.path, "/bin/a b");
	assert_int_equal(e.dev_major, 8);
	assert_int_equal(e.dev_minor, 2);
	/* Trailing spaces belong to the name (a file may be called that). */
	assert_int_equal(maps_parse_line("1000-2000 r-xp 00000000 08:02 42 /bin/c \n", &e), 0);
	assert_string_equal(e.path, "/bin/c ");
	assert_int_equal(maps_parse_line("1000-1000 ---p 0 0:0 0", &e), 0);
	assert_int_equal(e.start, e.end);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"zz-2000 r-xp 00000000 00:00 0\n",
		"1000 2000 r-xp 00000000 00:00 0\n",
		"1000-2000 rwxq 00000000 00:00 0\n",
		"1000-2000 r-x 00000000 00:00 0\n",
		"1000-2000 r-xpp 00000000 00:00 0\n",
		"2000-1000 r-xp 00000000 00:00 0\n",
		"1000-2000 r-xp 00000000 0000 0\n",
		"1000-2000 r-xp 00000000 00:00\n",
		"1000-2000 r-xp 00000000 00:00 abc\n",
		"1000-2000 r-xp 00000000 00:00 12x /a\n",
		"1000-2000 r-xp -0000000 00:00 0\n",
		"1000-2000 r-xp 0x000000 00:00 0\n",
		"1000-2000  r-xp 00000000 00:00 0\n",
		"10000000000000000-10000000000000001 r-xp 00000000 00:00 0\n",
		"1000-2000 r-xp 00000000 100000000:00 0\n",
		"1000-2000 r-xp 00000000 00:00 0 /a\nmore\n",
	};
	struct map_entry e;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (maps_parse_line(bad[i], &e) != -EINVAL)
			fail_msg("accepted malformed line %zu: '%s'", i, bad[i]);
	}
}

static void test_read_errors(void **state)
{
	static const char text[] = "1000-2000 r-xp 00000000 00:00 0\n"
				   "garbage\n"
				   "3000-4000 r-xp 00000000 00:00 0\n";
	struct map_entry *e = (void *)1;
	char *longline;
	FILE *fp;

	fp = fmemopen((void *)text, strlen(text), "r");
	assert_int_equal(maps_read(fp, &e), -EINVAL);
	assert_null(e);
	fclose(fp);

	fp = fmemopen((void *)"", 0, "r");
	assert_int_equal(maps_read(fp, &e), 0);
	fclose(fp);
	free(e);

	/* A name longer than path[] cannot be kept whole. */
	longline = malloc(sizeof(e->path) + 64);
	assert_non_null(longline);
	strcpy(longline, "1000-2000 r-xp 00000000 00:00 1 /");
	/* 'a's past the terminator: no byte of malloc's (MALLOC_PERTURB_) in the line */
	memset(longline + strlen(longline), 'a', sizeof(e->path) + 20);
	longline[sizeof(e->path) + 40] = '\0';
	assert_int_equal(maps_parse_line(longline, &(struct map_entry){}), -ENAMETOOLONG);
	free(longline);

	assert_int_equal(maps_read_pid(INT_MAX, &e), -ESRCH);
}

static void test_self(void **state)
{
	char exe[PATH_MAX];
	uint64_t here = (uint64_t)(uintptr_t)test_self;
	struct map_entry *e;
	struct stat st;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int n, found = 0;

	assert_true(len > 0);
	exe[len] = '\0';
	assert_int_equal(stat(exe, &st), 0);
	n = maps_read_pid(getpid(), &e);
	assert_true(n > 3);
	for (int i = 0; i < n; i++) {
		if (here < e[i].start || here >= e[i].end)
			continue;
		found++;
		assert_true(e[i].x && e[i].r && e[i].p);
		assert_string_equal(e[i].path, exe);
		assert_int_equal(e[i].ino, st.st_ino);
		assert_int_equal(e[i].dev_major, major(st.st_dev));
		assert_int_equal(e[i].dev_minor, minor(st.st_dev));
	}
	assert_int_equal(found, 1);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canned),
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
