// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the example tools share: one-line errors, library names, their processes. Public API only. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool-common.h"

/* ---- Errors ---- */

const char *tool_lib_error(struct uprobe_tracer *t, int err)
{
	const char *msg = t ? uprobe_tracer_errmsg(t) : NULL;
	static const char prefix[] = "libuprobe: ";

	if (!msg || !*msg)
		return strerror(err < 0 ? -err : err);
	if (!strncmp(msg, prefix, sizeof(prefix) - 1))
		msg += sizeof(prefix) - 1;
	return msg;
}

size_t tool_utf8_printable(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xc2 && s[1] < 0xa0) || (c == 0xe0 && s[1] < 0xa0) ||
	    (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
	    (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

int tool_fput_text(FILE *fp, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	int cols = 0;

	while (*s) {
		size_t n = *s >= 0x80 ? tool_utf8_printable(s) : 0;

		if (n) {
			if (fp)
				fwrite(s, 1, n, fp);
			s += n;
			cols++;
		} else if (*s < 0x20 || *s >= 0x7f) {
			if (fp)
				fprintf(fp, "\\x%02x", *s);
			s++;
			cols += 4;
		} else {
			if (fp && *s == '\\')
				fputc('\\', fp);
			if (fp)
				fputc(*s, fp);
			cols += *s == '\\' ? 2 : 1;
			s++;
		}
	}
	return cols;
}

void (*tool_stderr_hook)(bool before);

void tool_errline(const char *fmt, ...)
{
	char *msg = NULL, *line = NULL;
	size_t len = 0;
	va_list ap;
	FILE *mem;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	/* escaped into memory first: stderr is unbuffered, and the line is one write */
	mem = open_memstream(&line, &len);
	if (mem) {
		fprintf(mem, "%s: ", tool_prog);
		tool_fput_text(mem, n < 0 ? "out of memory" : msg);
		fputc('\n', mem);
		fclose(mem);
		if (tool_stderr_hook)
			tool_stderr_hook(true);
		fputs(line, stderr);
		if (tool_stderr_hook)
			tool_stderr_hook(false);
	} else {
		fprintf(stderr, "%s: out of memory\n", tool_prog);
	}
	free(line);
	free(msg);
}

void tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", tool_prog);
	exit(TOOL_EXIT_USAGE);
}

bool tool_parse_u64(const char *s, uint64_t *v)
{
	int base = 10;
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	*v = strtoull(s, &end, base);
	return !errno && !*end;
}

/* ---- Library names ---- */

/*
 * An absolute path as process pid sees it: through /proc/PID/root when it
 * is in another mount namespace (a container), where the path may name
 * another file than ours.
 */
static char *ns_path(pid_t pid, const char *path)
{
	char a[64], b[64], link[64];
	ssize_t n, m;
	char *out;

	snprintf(link, sizeof(link), "/proc/%d/ns/mnt", (int)pid);
	n = readlink(link, a, sizeof(a));
	m = readlink("/proc/self/ns/mnt", b, sizeof(b));
	if (path[0] != '/' || n <= 0 || m <= 0 || (n == m && !memcmp(a, b, (size_t)n)))
		return strdup(path);
	if (asprintf(&out, "/proc/%d/root%s", (int)pid, path) < 0)
		return NULL;
	/* a file only we have: the library looks at both, so may we */
	if (access(out, F_OK) && !access(path, F_OK)) {
		free(out);
		return strdup(path);
	}
	return out;
}

int tool_resolve_binary(struct uprobe_tracer *t, pid_t pid, const char *binary, char **path)
{
	char buf[PATH_MAX];
	int err;

	*path = NULL;
	if (strchr(binary, '/')) {
		*path = ns_path(pid, binary);
		return *path ? 0 : -ENOMEM;
	}
	err = uprobe_lib_path(t, pid, binary, buf, sizeof(buf));
	if (err)
		return err;
	*path = strdup(buf);
	return *path ? 0 : -ENOMEM;
}

/* Keeps path in *best when name matches its base name better than what *best holds. */
static void keep_best(const char *name, const char *path, char **best, int *rank)
{
	int r = uprobe_lib_name_match(name, path);
	char *dup;

	if (r <= *rank || !(dup = strdup(path)))
		return;
	free(*best);
	*best = dup;
	*rank = r;
}

char *tool_loader_lookup(const char *name)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
					    "/lib64", "/usr/lib64", "/lib", "/usr/lib" };
	char *line = NULL, *found = NULL;
	size_t cap = 0;
	int rank = 0;
	FILE *fp = popen("ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null", "re");

	while (fp && getline(&line, &cap, fp) > 0) {
		/* "\tlibsqlite3.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libsqlite3.so.0" */
		char *soname = line + strspn(line, " \t"), *arrow = strstr(line, " => ");
		size_t len = strcspn(soname, " ");
		char *path;

		if (!arrow || !strstr(line, "x86-64"))
			continue;
		soname[len] = '\0';
		path = arrow + 4;
		path[strcspn(path, "\n")] = '\0';
		if (uprobe_lib_name_match(name, soname) > rank && access(path, R_OK) == 0) {
			free(found);
			found = strdup(path);
			rank = found ? uprobe_lib_name_match(name, soname) : 0;
		}
	}
	free(line);
	if (fp)
		pclose(fp);
	for (size_t i = 0; !found && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[PATH_MAX];
			struct stat st;

			if (uprobe_lib_name_match(name, de->d_name) <= rank)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				keep_best(name, path, &found, &rank);
		}
		if (d)
			closedir(d);
	}
	return found;
}

char *tool_frame_text(struct uprobe_tracer *t, pid_t pid, uint64_t pc, unsigned flags)
{
	int n = uprobe_tracer_frame_str(t, pid, pc, flags, NULL, 0);
	char *text;

	if (n < 0 || !(text = malloc((size_t)n + 1)))
		return NULL;
	if (uprobe_tracer_frame_str(t, pid, pc, flags, text, (size_t)n + 1) != n) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- Processes ---- */

sigset_t tool_orig_mask, tool_orig_ignored;

void tool_catch_signals(void (*handler)(int), bool sigpipe)
{
	struct sigaction sa;

	sigprocmask(SIG_SETMASK, NULL, &tool_orig_mask);
	sigemptyset(&tool_orig_ignored);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction cur;

		if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler == SIG_IGN)
			sigaddset(&tool_orig_ignored, sig);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!sigismember(&tool_orig_ignored, SIGHUP))
		sigaction(SIGHUP, &sa, NULL);
	if (sigpipe && !sigismember(&tool_orig_ignored, SIGPIPE))
		sigaction(SIGPIPE, &sa, NULL);
}

int tool_status_to_exit(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return TOOL_EXIT_RUNTIME;
}

int tool_wait_child(pid_t child)
{
	int status;

	for (;;) {
		if (waitpid(child, &status, 0) == child)
			return tool_status_to_exit(status);
		if (errno != EINTR)
			return -1;
	}
}

/* The parent of pid from /proc/PID/stat, or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	const char *p;
	int ppid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	/* pid (comm) state ppid: the comm may hold anything but ends at the last ')' */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

int tool_refuse_ancestor(pid_t pid)
{
	pid_t a = getpid();

	if (pid == a) {
		tool_errline("pid %d is %s itself", (int)pid, tool_prog);
		return -1;
	}
	for (unsigned depth = 0; a > 1 && depth < 4096; depth++) {
		a = parent_of(a);
		if (a == pid) {
			tool_errline("pid %d is an ancestor of %s (%s): tracing it would deadlock",
				     (int)pid, tool_prog,
				     depth ? "a parent of its parent" : "its parent");
			return -1;
		}
	}
	return 0;
}

int tool_spawn_ended(struct uprobe_tracer **tp, int err, pid_t child)
{
	struct uprobe_tracer *t = *tp;
	int status = uprobe_tracer_exit_status(t, child);

	if (err != -EINTR)
		tool_errline("%s", tool_lib_error(t, err));
	*tp = NULL; /* before the free: a signal handler may look */
	uprobe_tracer_free(t);
	if (err == -EINTR)
		status = tool_wait_child(child);
	else if (status >= 0)
		status = tool_status_to_exit(status);
	return status >= 0 ? status : TOOL_EXIT_RUNTIME;
}
