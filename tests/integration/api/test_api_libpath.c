// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe_lib_path(): a library name -> the file a traced process maps, checked against its maps. */
#include <sys/stat.h>

#include "tracee_test.h"

static const char *g_target, *g_plugin, *g_cxx, *g_soname;

/* The first file pid maps whose base name starts with prefix, from /proc/PID/maps; NULL: none. */
static char *mapped(pid_t pid, const char *prefix)
{
	struct maps m;
	char *found = NULL;

	if (!maps_read(pid, &m))
		return NULL;
	for (int i = 0; i < m.n && !found; i++) {
		const char *b = strrchr(m.e[i].path, '/');

		if (m.e[i].path[0] == '/' && b && !strncmp(b + 1, prefix, strlen(prefix)))
			found = strdup(m.e[i].path);
	}
	maps_free(&m);
	return found;
}

static void assert_lib_path(struct ctx *c, pid_t pid, const char *name, const char *want)
{
	char buf[PATH_MAX];
	int err = uprobe_lib_path(c->t, pid, name, buf, sizeof(buf));

	if (err) {
		print_error("uprobe_lib_path(%d, %s): %d %s\n", (int)pid, name, err,
			    uprobe_tracer_errmsg(c->t));
		fail();
	}
	assert_string_equal(buf, want);
}

/* libc by every name uprobe_add() takes, from the process and from pid 0. */
static void test_libc(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_target, NULL };
	char buf[16];
	char *libc, *exe, *ld;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	libc = mapped(pid, "libc.so.6");
	exe = mapped(pid, "api_libpath");
	ld = mapped(pid, "ld-linux");
	assert_non_null(libc);
	assert_lib_path(c, pid, "libc", libc);
	assert_lib_path(c, pid, "libc.so", libc);
	assert_lib_path(c, pid, "libc.so.6", libc);
	assert_lib_path(c, 0, "libc", libc);
	assert_lib_path(c, pid, libc, libc);
	/* the executable by its name, the loader by the start of its name */
	assert_lib_path(c, pid, strrchr(g_target, '/') + 1, exe);
	assert_non_null(ld);
	assert_lib_path(c, pid, "ld", ld);
	/* too small a buffer: refused, nothing half-written matters */
	assert_int_equal(uprobe_lib_path(c->t, pid, "libc", buf, sizeof(buf)), -ERANGE);
	free(libc);
	free(exe);
	free(ld);
	run_to_exit(c, pid);
	assert_int_equal(kv(read_out(c), "loaded"), 0);
}

/* libstdc++.so.6 names the file it links to (libstdc++.so.6.0.30), for uprobe_add() too. */
static void test_libstdcxx(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_cxx, NULL };
	char *lib;
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	lib = mapped(pid, "libstdc++.so.6");
	assert_non_null(lib);
	assert_lib_path(c, pid, "libstdc++", lib);
	assert_lib_path(c, pid, "libstdc++.so", lib);
	assert_lib_path(c, pid, "libstdc++.so.6", lib);
	assert_lib_path(c, pid, strrchr(lib, '/') + 1, lib);

	struct uprobe *p = add_probe(c, "libstdc++.so.6", "_Znwm", 0, on_count, &(uint64_t){ 0 });

	assert_string_equal(uprobe_binary_path(p), lib);
	free(lib);
	run_to_exit(c, pid);
}

struct at_loaded {
	struct uprobe_tracer *t;
	const char *name;
	int err;
	char path[PATH_MAX];
	char msg[1024];
};

/* Resolves al->name in the process that hit, while the libraries are mapped. */
static int on_loaded(struct uprobe_hit *h, void *data)
{
	struct at_loaded *al = data;

	al->err = uprobe_lib_path(al->t, uprobe_hit_pid(h), al->name, al->path, sizeof(al->path));
	snprintf(al->msg, sizeof(al->msg), "%s", uprobe_tracer_errmsg(al->t));
	return 0;
}

/* Runs g_target over libs and resolves name at all_loaded(). */
static void run_loaded(struct ctx *c, char **libs, int nlibs, struct at_loaded *al)
{
	char *argv[8] = { (char *)g_target };
	pid_t pid;

	for (int i = 0; i < nlibs; i++)
		argv[i + 1] = libs[i];
	al->t = c->t;
	al->err = 1;
	assert_int_equal(spawn_out(c, argv, &pid), 0);
	/* before the dlopen: the name matches nothing yet */
	assert_int_equal(uprobe_lib_path(c->t, pid, al->name, al->path, sizeof(al->path)),
			 -ENOENT);
	add_probe(c, g_target, "all_loaded", 0, on_loaded, al);
	run_to_exit(c, pid);
	assert_int_equal(kv(read_out(c), "loaded"), nlibs);
}

/* A library dlopen'ed after the process started: found once it is mapped. */
static void test_dlopen(void **state)
{
	struct ctx *c = *state;
	struct at_loaded al = { .name = "libapi_plugin" };
	char real[PATH_MAX];

	run_loaded(c, (char *[]){ (char *)g_plugin }, 1, &al);
	assert_int_equal(al.err, 0);
	assert_non_null(realpath(g_plugin, real));
	assert_string_equal(al.path, real);
}

/* A name nothing matches: -ENOENT, and the message names it. */
static void test_no_match(void **state)
{
	struct ctx *c = *state;
	char *argv[] = { (char *)g_target, NULL };
	char buf[PATH_MAX];
	pid_t pid;

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	assert_int_equal(uprobe_lib_path(c->t, pid, "libnosuchlib", buf, sizeof(buf)), -ENOENT);
	assert_non_null(strstr(uprobe_tracer_errmsg(c->t), "'libnosuchlib'"));
	assert_int_equal(uprobe_lib_path(c->t, pid, "/no/such/libc.so.6", buf, sizeof(buf)),
			 -ENOENT);
	/* "libc" is no prefix of a longer name: libcrypt, libcap do not answer "libc.so.7" */
	assert_int_equal(uprobe_lib_path(c->t, pid, "libc.so.7", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(uprobe_lib_path(c->t, pid, "libc.so.6.1", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(uprobe_lib_path(c->t, pid + 1000000, "libc", buf, sizeof(buf)), -ESRCH);
	assert_int_equal(uprobe_lib_path(c->t, pid, "", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(uprobe_lib_path(c->t, pid, NULL, buf, sizeof(buf)), -EINVAL);
	run_to_exit(c, pid);
}

/* uprobe_lib_name_match(): the same rules, for files nothing maps (ld.so.cache entries). */
static void test_name_match(void **state)
{
	(void)state;
	assert_int_equal(uprobe_lib_name_match("libc.so.6", "/usr/lib/libc.so.6"), 3);
	assert_int_equal(uprobe_lib_name_match("libc", "libc.so.6"), 2);
	assert_int_equal(uprobe_lib_name_match("libc.so", "libc.so.6"), 2);
	assert_int_equal(uprobe_lib_name_match("libstdc++.so.6", "libstdc++.so.6.0.30"), 2);
	assert_int_equal(uprobe_lib_name_match("libstdc++", "/x/libstdc++.so.6.0.30"), 2);
	assert_int_equal(uprobe_lib_name_match("ld", "ld-linux-x86-64.so.2"), 1);
	assert_int_equal(uprobe_lib_name_match("libc", "libc-2.31.so"), 1);
	assert_int_equal(uprobe_lib_name_match("ld", "/etc/ld.so.cache"), 0);
	assert_int_equal(uprobe_lib_name_match("libc", "libcrypt.so.1"), 0);
	assert_int_equal(uprobe_lib_name_match("libc.so.6", "libc.so.61"), 0);
	assert_int_equal(uprobe_lib_name_match("libc.so.6", "libc.so.6x"), 0);
	assert_int_equal(uprobe_lib_name_match("/usr/lib/libc.so.6", "libc.so.6"), 0);
	assert_int_equal(uprobe_lib_name_match("", "libc.so.6"), 0);
	assert_int_equal(uprobe_lib_name_match(NULL, "libc.so.6"), 0);
}

/* Copies the plugin to dir/name; returns the new path (malloc'd). */
static char *copy_plugin(const char *dir, const char *name)
{
	char *to = NULL, *cmd = NULL;

	assert_true(asprintf(&to, "%s/%s", dir, name) > 0);
	assert_true(asprintf(&cmd, "cp '%s' '%s'", g_plugin, to) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return to;
}

/*
 * Two libraries that one name matches equally well: refused, naming both
 * (for uprobe_add() too); their full names still tell them apart.
 */
static void test_ambiguous(void **state)
{
	struct ctx *c = *state;
	char dir[] = "/tmp/api_libpath.XXXXXX";
	struct at_loaded al = { .name = "libamb" }, one = { .name = "libamb.so.1" };
	char *libs[2], cmd[64];

	assert_non_null(mkdtemp(dir));
	libs[0] = copy_plugin(dir, "libamb.so.1");
	libs[1] = copy_plugin(dir, "libamb.so.2");
	run_loaded(c, libs, 2, &al);
	assert_int_equal(al.err, -EINVAL);
	assert_non_null(strstr(al.msg, "'libamb' is ambiguous"));
	assert_non_null(strstr(al.msg, libs[0]));
	assert_non_null(strstr(al.msg, libs[1]));

	run_loaded(c, libs, 2, &one);
	assert_int_equal(one.err, 0);
	assert_string_equal(one.path, libs[0]);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(libs[0]);
	free(libs[1]);
}

/* Names resolved at all_loaded(), while the library is mapped. */
struct at_loaded_n {
	struct uprobe_tracer *t;
	const char *const *names;
	int n, errs[4];
	char paths[4][PATH_MAX];
};

static int on_loaded_n(struct uprobe_hit *h, void *data)
{
	struct at_loaded_n *al = data;

	for (int i = 0; i < al->n; i++)
		al->errs[i] = uprobe_lib_path(al->t, uprobe_hit_pid(h), al->names[i], al->paths[i],
					      sizeof(al->paths[i]));
	return 0;
}

/*
 * A library whose file name (libapi_soname_impl.so) is not its DT_SONAME
 * (libapi_soname.so.1): the soname names it as its very name, and its
 * versions ("libapi_soname") as they would a file of that name; for
 * uprobe_add() too, a pending probe placed when it is dlopen'ed by path.
 */
static void test_soname(void **state)
{
	struct ctx *c = *state;
	static const char *const names[] = { "libapi_soname.so.1", "libapi_soname",
					      "libapi_soname.so", "libapi_soname.so.2" };
	struct at_loaded_n al = { .t = c->t, .names = names, .n = 4 };
	char *argv[] = { (char *)g_target, (char *)g_soname, NULL };
	UPROBE_OPTS(uprobe_opts, o, .handler = on_count, .pending = true);
	char real[PATH_MAX];
	uint64_t work = 0;
	struct uprobe *p;
	pid_t pid;

	assert_non_null(realpath(g_soname, real));
	/* the file name is not the soname: nothing here is a match by name alone */
	assert_null(strstr(real, "libapi_soname.so"));
	assert_int_equal(uprobe_lib_name_match("libapi_soname.so.1", real), 3);
	assert_int_equal(uprobe_lib_name_match("libapi_soname", real), 2);
	assert_int_equal(uprobe_lib_name_match("libapi_soname.so", real), 2);
	assert_int_equal(uprobe_lib_name_match("libapi_soname.so.2", real), 0);
	/* a bare name is only a name: never opened */
	assert_int_equal(uprobe_lib_name_match("libapi_soname.so.1", "libapi_soname_impl.so"), 0);

	assert_int_equal(spawn_out(c, argv, &pid), 0);
	o.data = &work;
	p = add_or_fail(c, "libapi_soname.so.1", "plugin_work", 0, &o);
	add_probe(c, g_target, "all_loaded", 0, on_loaded_n, &al);
	run_to_exit(c, pid);
	assert_int_equal(kv(read_out(c), "loaded"), 1);
	for (int i = 0; i < 3; i++) {
		if (al.errs[i])
			print_error("%s: %d\n", names[i], al.errs[i]);
		assert_int_equal(al.errs[i], 0);
		assert_string_equal(al.paths[i], real);
	}
	assert_int_equal(al.errs[3], -ENOENT);
	assert_int_equal(work, 1);
	assert_string_equal(uprobe_binary_path(p), real);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_libc),
		T(test_libstdcxx),
		T(test_dlopen),
		T(test_no_match),
		T(test_ambiguous),
		T(test_soname),
		cmocka_unit_test(test_name_match),
	};

	if (argc < 5) {
		fprintf(stderr, "usage: %s API_LIBPATH PLUGIN API_CXX SONAME_LIB\n", argv[0]);
		return 2;
	}
	g_target = argv[1];
	g_plugin = argv[2];
	g_cxx = argv[3];
	g_soname = argv[4];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_libpath", tests, NULL, NULL);
}
