// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe-funclatency: a latency histogram per function of a traced process, on the public API. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uprobe.h>

#include "tool-common.h"

#define PROG "uprobe-funclatency"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* How many refused functions of one wildcard are named before only a total is given. */
#define WILDCARD_WARN_MAX 10
/* -i: the longest interval, a day */
#define INTERVAL_MAX 86400

/* One FUNC argument as parsed from the command line. */
struct func_spec {
	const char *text;
	char *binary;
	char *symbol;
	bool wildcard;
};

/* One function timed: its return probe, and the histogram its returns fill. */
struct func {
	struct uprobe *up;
	char *label;
	bool from_wildcard; /* left out when never called: libc:* names thousands */
	struct uprobe_hist *h;
	uint64_t missed_shown; /* -i: missed calls already reported in an earlier interval */
	/* the FUNC of a library no traced process mapped yet (placed when one loads it) */
	const char *pending_spec;
};

static struct {
	enum uprobe_unit unit;
	unsigned interval;
	bool follow;
	int verbose;
	pid_t pid;
	const char *out_path;
} opt = { .unit = UPROBE_UNIT_NS };

/* each allocated alone: its address is the handler's data */
static struct func **funcs;
static size_t nfuncs, funcs_cap;
static struct func_spec *specs;
static size_t nspecs;

/* stdout, or -o FILE */
static FILE *out;
static struct uprobe_tracer *tracer;
const char tool_prog[] = PROG;

/* The library's last message, or strerror(err): see tool_lib_error(). */
static const char *lib_error(int err)
{
	return tool_lib_error(tracer, err);
}
static volatile sig_atomic_t stop_requested;
/* While functions are added the tool words failures itself; the library stays quiet. */
static bool lib_quiet;
static char lib_warned[512];
/* calls a histogram could not hold (no memory for its buckets at its first value) */
static uint64_t lost;

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: " PROG " [options] FUNC... (-p PID | -- COMMAND [ARG...])\n"
		"\n"
		"Times every call of the functions named and prints, per function, the number\n"
		"of calls, their average, p50 and p99, and a log2 histogram of their durations\n"
		"(as bcc's funclatency), when the command exits or on SIGINT/SIGTERM.\n"
		"\n"
		"FUNC:\n"
		"  [u:]BINARY:SYMBOL   BINARY is a path (contains '/') or the name of a file the\n"
		"                      process maps (\"libc\", the executable's basename); SYMBOL may\n"
		"                      hold '*', '?' and '[...]': every matching function is timed,\n"
		"                      those the library refuses are skipped with a warning, and\n"
		"                      those never called are left out of the output. A library\n"
		"                      no traced process maps yet (a dlopen to come) is found as\n"
		"                      the dynamic linker would find it, and waited for\n"
		"\n"
		"options:\n"
		"  -p, --pid PID           attach to a running process until it exits\n"
		"  -u, --microseconds      histogram in microseconds (default nanoseconds)\n"
		"  -m, --milliseconds      histogram in milliseconds\n"
		"  -i, --interval N        print and reset the histograms every N seconds (1-86400)\n"
		"  -o, --output FILE       write the histograms to FILE (the command keeps stdout)\n"
		"  -f, --follow-forks      time the calls of the processes it forks too (a shell's\n"
		"                          commands); they are not traced otherwise\n"
		"  -v, --verbose           list every refused wildcard match, show libuprobe's messages\n"
		"  -h, --help              this text\n"
		"\n"
		"Durations are measured in the tracer, from the end of a call's entry stop to\n"
		"the stop at its return: never shorter than the call, but the kernel's part of\n"
		"one round trip between the thread and the tracer longer (tens of microseconds\n"
		"on a busy machine). Calls of a few microseconds are not measurable this way. Recursive calls and threads each time their own calls; a\n"
		"call that never returns (longjmp, an exception, exit) is counted as missed.\n"
		"Percentiles are within 3.2%% of the exact value.\n"
		"\n"
		"Exit status: the command's own (128+N if killed by signal N); with -p, 0;\n"
		"1 on a runtime error (e.g. symbol not found), 2 on a usage error.\n");
}

static int print_fn(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	if (level == UPROBE_DEBUG && opt.verbose < 2)
		return 0;
	if (level == UPROBE_INFO && opt.verbose < 1)
		return 0;
	if (level == UPROBE_WARN && lib_quiet && !opt.verbose) {
		vsnprintf(lib_warned, sizeof(lib_warned), fmt, ap);
		return 0;
	}
	return vfprintf(stderr, fmt, ap);
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end;
}

/* FUNC: [u:]BINARY:SYMBOL; the symbol follows the last ':', so a path may hold one. */
static void parse_spec(const char *text, struct func_spec *fs)
{
	const char *body = text, *colon;

	memset(fs, 0, sizeof(*fs));
	fs->text = text;
	if (!strncmp(text, "u:", 2))
		body += 2;
	else if (!strncmp(text, "r:", 2))
		tool_usage_error("'%s': functions are timed from entry to return: name them as "
			    "BINARY:SYMBOL", text);
	colon = strrchr(body, ':');
	if (!colon || colon == body || !colon[1])
		tool_usage_error("bad function '%s' (expected BINARY:SYMBOL)", text);
	if (strchr(colon + 1, '+') || (colon[1] >= '0' && colon[1] <= '9'))
		tool_usage_error("'%s': functions are timed from their entry: no offsets", text);
	fs->binary = strndup(body, (size_t)(colon - body));
	fs->symbol = strdup(colon + 1);
	if (!fs->binary || !fs->symbol) {
		tool_errline("out of memory");
		exit(EXIT_RUNTIME);
	}
	fs->wildcard = strpbrk(fs->symbol, "*?[") != NULL;
}

/* ---- Timing ---- */

static int on_return(struct uprobe_hit *hit, void *data)
{
	struct func *f = data;

	if (uprobe_hist_add(f->h, uprobe_hit_duration_ns(hit)))
		lost++;
	return 0;
}

/* Times one function; 0 or -errno (the library's message in uprobe_tracer_errmsg()). */
static int add_func(const char *binary, const char *symbol, char *label, bool from_wildcard,
		    const char *pending_spec)
{
	struct func *f;

	if (nfuncs == funcs_cap) {
		size_t cap = funcs_cap ? funcs_cap * 2 : 16;
		struct func **n = realloc(funcs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		funcs = n;
		funcs_cap = cap;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->h = uprobe_hist_new(opt.unit);
	if (!f->h) {
		free(f);
		return -ENOMEM;
	}
	f->label = label;
	f->from_wildcard = from_wildcard;
	f->pending_spec = pending_spec;
	{
		UPROBE_OPTS(uprobe_opts, uo, .ret_handler = on_return, .data = f,
			    .pending = pending_spec != NULL);

		errno = 0;
		f->up = uprobe_add(tracer, binary, symbol, 0, &uo);
	}
	if (!f->up) {
		int err = errno ? -errno : -EINVAL;

		uprobe_hist_free(f->h);
		free(f);
		return err;
	}
	funcs[nfuncs++] = f;
	return 0;
}

/* ---- Wildcards ---- */

struct name_list {
	char **v;
	size_t n, cap;
};

static int collect_name(const struct uprobe_sym *sym, void *ctx)
{
	struct name_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(sym->name);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* The library's last quiet warning, without its prefix and newline, or strerror(err). */
static const char *warned_or(int err)
{
	static const char prefix[] = "libuprobe: ";
	char *msg = lib_warned;

	if (!*msg || err == -ENOMEM)
		return strerror(-err);
	msg[strcspn(msg, "\n")] = '\0';
	if (!strncmp(msg, prefix, sizeof(prefix) - 1))
		msg += sizeof(prefix) - 1;
	return msg;
}

/* Refusals a wildcard skips; anything else (the tracee is gone, no memory) is fatal. */
static bool is_refusal(int err)
{
	return err == -ENOENT || err == -EINVAL || err == -ENOEXEC || err == -EOPNOTSUPP ||
	       err == -EEXIST;
}

/* Adds every match of the spec's pattern, each name once (versions repeat names). 0 or -1. */
static int add_wildcard(const struct func_spec *fs, pid_t pid)
{
	struct name_list l = {};
	size_t added = 0, skipped = 0, w = 0;
	const char *pending = NULL;
	char *path = NULL;
	int ret = -1, err = tool_resolve_binary(tracer, pid, fs->binary, &path);

	if (err == -ENOENT) {
		/* a library no traced process maps yet: its functions from the file it would be */
		path = tool_loader_lookup(fs->binary);
		if (!path) {
			tool_errline("%s: '%s': no traced process maps it, and no such library in "
				"ld.so.cache or the standard directories", fs->text, fs->binary);
			return -1;
		}
		pending = fs->text;
	} else if (err) {
		tool_errline("%s: %s", fs->text, lib_error(err));
		return -1;
	}
	lib_warned[0] = '\0';
	err = uprobe_symbols(path, fs->symbol, collect_name, &l);
	if (err) {
		tool_errline("%s: %s", fs->text, warned_or(err));
		goto out;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	for (size_t i = 0; i < l.n; i++) {
		if (w && !strcmp(l.v[w - 1], l.v[i]))
			free(l.v[i]);
		else
			l.v[w++] = l.v[i];
	}
	l.n = w;
	for (size_t i = 0; i < l.n; i++) {
		char *label;

		if (asprintf(&label, "%s:%s", pending ? fs->binary : path, l.v[i]) < 0) {
			tool_errline("out of memory");
			goto out;
		}
		err = add_func(pending ? fs->binary : path, l.v[i], label, true, pending);
		if (!err) {
			added++;
			continue;
		}
		if (!is_refusal(err)) {
			tool_errline("%s: %s", label, lib_error(err));
			free(label);
			goto out;
		}
		if (opt.verbose || skipped < WILDCARD_WARN_MAX)
			tool_errline("warning: %s: skipped: %s", label, lib_error(err));
		skipped++;
		free(label);
	}
	if (skipped > WILDCARD_WARN_MAX && !opt.verbose)
		tool_errline("warning: %s: skipped %zu more functions (-v lists them)", fs->text,
			skipped - WILDCARD_WARN_MAX);
	if (!added) {
		if (!l.n)
			tool_errline("%s: %s: no function matches '%s'", fs->text, path, fs->symbol);
		else
			tool_errline("%s: none of the %zu matching functions could be probed", fs->text,
				l.n);
		goto out;
	}
	ret = 0;
out:
	free_names(&l);
	free(path);
	return ret;
}

static int add_funcs(pid_t pid)
{
	int ret = 0;

	lib_quiet = true;
	for (size_t i = 0; i < nspecs && !ret && !stop_requested; i++) {
		const struct func_spec *fs = &specs[i];
		char *path = NULL, *lib = NULL;
		int err;

		lib_warned[0] = '\0';
		if (fs->wildcard) {
			ret = add_wildcard(fs, pid);
			continue;
		}
		/* a library no traced process maps yet, that the dynamic linker would find */
		if (!strchr(fs->binary, '/') &&
		    tool_resolve_binary(tracer, pid, fs->binary, &path) == -ENOENT)
			lib = tool_loader_lookup(fs->binary);
		err = add_func(fs->binary, fs->symbol, (char *)fs->text, false,
			       lib ? fs->text : NULL);
		free(path);
		free(lib);
		if (err) {
			tool_errline("%s: %s", fs->text, lib_error(err));
			ret = -1;
		}
	}
	lib_quiet = false;
	return ret;
}

/* ---- Output ---- */

/* A duration in the histogram's unit: "2104519ns", "2104.519us", "2.104ms". */
static void print_dur(const char *name, uint64_t ns)
{
	switch (opt.unit) {
	case UPROBE_UNIT_US:
		fprintf(out, "  %s %" PRIu64 ".%03" PRIu64 "us", name, ns / 1000, ns % 1000);
		break;
	case UPROBE_UNIT_MS:
		fprintf(out, "  %s %" PRIu64 ".%03" PRIu64 "ms", name, ns / 1000000, ns / 1000 % 1000);
		break;
	default:
		fprintf(out, "  %s %" PRIu64 "ns", name, ns);
	}
}

/*
 * Each function's summary line and histogram: those a wildcard matched only
 * when called (or left without returning) since the last print.
 */
static void print_funcs(void)
{
	for (size_t i = 0; i < nfuncs; i++) {
		struct func *f = funcs[i];
		uint64_t count = uprobe_hist_count(f->h);
		uint64_t missed = uprobe_missed(f->up) - f->missed_shown;

		if (f->from_wildcard && !count && !missed)
			continue;
		tool_fput_text(out, f->label);
		fprintf(out, "  count %" PRIu64, count);
		if (count) {
			print_dur("avg", uprobe_hist_mean(f->h));
			print_dur("p50", uprobe_hist_percentile(f->h, 50));
			print_dur("p99", uprobe_hist_percentile(f->h, 99));
			print_dur("min", uprobe_hist_min(f->h));
			print_dur("max", uprobe_hist_max(f->h));
		}
		if (missed)
			fprintf(out, "  missed %" PRIu64, missed);
		fputc('\n', out);
		uprobe_hist_print(f->h, out, UPROBE_HIST_BCC);
		fputc('\n', out);
		f->missed_shown += missed;
		uprobe_hist_reset(f->h);
	}
	if (lost) {
		tool_errline("out of memory: %" PRIu64 " calls left out of the histograms", lost);
		lost = 0;
	}
	fflush(out);
}

/*
 * Functions of a library no traced process had mapped when they were added
 * wait for one that loads it: once per FUNC, those whose library never came.
 * Not an error.
 */
static void report_never_loaded(void)
{
	for (size_t i = 0; i < nfuncs; i++) {
		const char *spec = funcs[i]->pending_spec;
		bool seen = false, placed = false;

		if (!spec)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = funcs[j]->pending_spec == spec;
		for (size_t j = i; j < nfuncs && !placed; j++)
			placed = funcs[j]->pending_spec == spec && uprobe_binary_path(funcs[j]->up);
		if (!seen && !placed)
			tool_errline("%s: never loaded", spec);
	}
}

/* ---- -i: printing from the tracer's thread every N seconds ---- */

static pthread_mutex_t tick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cond;
static bool tick_done;

static int print_interval(struct uprobe_tracer *t, void *arg)
{
	char stamp[16];
	time_t now = time(NULL);
	struct tm tm;

	strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime_r(&now, &tm));
	fprintf(out, "%s\n", stamp);
	print_funcs();
	return 0;
}

/*
 * The histograms belong to the tracer's thread (handlers fill them there):
 * the ticker hands each print to it through uprobe_tracer_call(), which
 * wakes run() at once.
 */
static void *ticker(void *arg)
{
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&tick_lock);
	while (!tick_done) {
		next.tv_sec += opt.interval;
		while (!tick_done && pthread_cond_timedwait(&tick_cond, &tick_lock, &next) == 0)
			;
		if (tick_done)
			break;
		pthread_mutex_unlock(&tick_lock);
		uprobe_tracer_call(tracer, print_interval, NULL);
		pthread_mutex_lock(&tick_lock);
	}
	pthread_mutex_unlock(&tick_lock);
	return NULL;
}

static int ticker_start(pthread_t *th)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tick_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* SIGINT and SIGTERM must reach the tracer's thread, whose wait they interrupt */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(th, NULL, ticker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

static void ticker_stop(pthread_t th)
{
	pthread_mutex_lock(&tick_lock);
	tick_done = true;
	pthread_cond_signal(&tick_cond);
	pthread_mutex_unlock(&tick_lock);
	pthread_join(th, NULL);
}

/* ---- Main ---- */

static void on_signal(int sig)
{
	stop_requested = 1;
	uprobe_tracer_stop(tracer);
}

/* A runtime error before run(): a spawned child dies, an attached process is let go. */
static int give_up(pid_t child)
{
	if (child > 0)
		kill(child, SIGKILL);
	uprobe_tracer_free(tracer);
	tracer = NULL;
	if (child > 0)
		tool_wait_child(child);
	return EXIT_RUNTIME;
}

static void parse_options(int argc, char **argv, int dashdash)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "microseconds", no_argument, NULL, 'u' },
		{ "milliseconds", no_argument, NULL, 'm' },
		{ "interval", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "follow-forks", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(dashdash, argv, ":p:umi:o:fvh", longopts, NULL)) != -1) {
		uint64_t v;

		switch (c) {
		case 'p':
			if (!parse_u64(optarg, &v) || !v || v > INT_MAX)
				tool_usage_error("bad pid '%s'", optarg);
			opt.pid = (pid_t)v;
			break;
		case 'u':
		case 'm':
			if (opt.unit != UPROBE_UNIT_NS)
				tool_usage_error("-u and -m are exclusive");
			opt.unit = c == 'u' ? UPROBE_UNIT_US : UPROBE_UNIT_MS;
			break;
		case 'i':
			if (!parse_u64(optarg, &v) || !v || v > INTERVAL_MAX)
				tool_usage_error("bad interval '%s' (expected 1 to %d seconds)", optarg,
					    INTERVAL_MAX);
			opt.interval = (unsigned)v;
			break;
		case 'o':
			opt.out_path = optarg;
			break;
		case 'f':
			opt.follow = true;
			break;
		case 'v':
			opt.verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				tool_usage_error("unknown option '-%c'", optopt);
			tool_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
}

/* Spawns the command or attaches to -p; the pid, or -1 after the one-line error (*code set). */
static pid_t start(char **command, int *code)
{
	pid_t child = 0;
	int err;

	lib_quiet = true;
	fflush(NULL);
	if (command) {
		UPROBE_OPTS(uprobe_spawn_opts, so, .sigmask = &tool_orig_mask,
			    .sigignore = &tool_orig_ignored);

		err = uprobe_tracer_spawn_opts(tracer, command, &child, &so);
		if (err) {
			int status = child > 0 ? uprobe_tracer_exit_status(tracer, child) : -1;

			if (err != -EINTR)
				tool_errline("%s", lib_error(err));
			if (err == -EINTR && child > 0)
				status = tool_wait_child(child);
			else if (status >= 0)
				status = tool_status_to_exit(status);
			*code = status >= 0 ? status : EXIT_RUNTIME;
			return -1;
		}
	} else {
		if (tool_refuse_ancestor(opt.pid)) {
			*code = EXIT_RUNTIME;
			return -1;
		}
		err = uprobe_tracer_attach(tracer, opt.pid);
		if (err) {
			tool_errline("%s", lib_error(err));
			*code = EXIT_RUNTIME;
			return -1;
		}
		child = opt.pid;
	}
	lib_quiet = false;
	return child;
}

int main(int argc, char **argv)
{
	char **command = NULL;
	int dashdash = argc, err = 0, code = 0;
	pid_t target;
	pthread_t tick;
	bool ticking = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dashdash = i;
			break;
		}
	}
	parse_options(argc, argv, dashdash);
	nspecs = (size_t)(dashdash - optind);
	if (!nspecs)
		tool_usage_error("no functions given");
	specs = calloc(nspecs, sizeof(*specs));
	if (!specs) {
		tool_errline("out of memory");
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < nspecs; i++)
		parse_spec(argv[optind + (int)i], &specs[i]);
	if (dashdash + 1 < argc)
		command = &argv[dashdash + 1];
	if (opt.pid && command)
		tool_usage_error("both -p and a command given");
	if (!opt.pid && !command)
		tool_usage_error("no command given (use -p PID or -- COMMAND [ARG...])");

	out = stdout;
	if (opt.out_path) {
		/* close-on-exec: the traced command must not inherit it */
		out = fopen(opt.out_path, "we");
		if (!out) {
			tool_errline("%s: %s", opt.out_path, strerror(errno));
			return EXIT_RUNTIME;
		}
	}
	uprobe_set_print(print_fn);
	tracer = uprobe_tracer_new();
	if (!tracer) {
		tool_errline("%s", strerror(errno));
		return EXIT_RUNTIME;
	}
	tool_catch_signals(on_signal, false);
	if (opt.follow)
		uprobe_tracer_follow_forks(tracer, true);
	target = start(command, &code);
	if (target < 0) {
		uprobe_tracer_free(tracer);
		return code;
	}
	if (add_funcs(target))
		return give_up(command ? target : 0);
	fprintf(out, "Tracing %zu function%s. Ctrl-C to end.\n", nfuncs, nfuncs == 1 ? "" : "s");
	fflush(out);

	if (opt.interval) {
		err = ticker_start(&tick);
		if (err) {
			tool_errline("interval thread: %s", strerror(-err));
			return give_up(command ? target : 0);
		}
		ticking = true;
	}
	if (!stop_requested) {
		err = uprobe_tracer_run(tracer);
		if (err < 0)
			tool_errline("%s", lib_error(err));
	}
	if (ticking)
		ticker_stop(tick);
	/* stopped early: let the program go on unharmed, without probes */
	if (stop_requested || err < 0) {
		int derr = uprobe_tracer_detach(tracer);

		if (derr < 0) {
			tool_errline("detach: %s", lib_error(derr));
			err = err < 0 ? err : derr;
		}
	}
	if (opt.interval)
		print_interval(tracer, NULL);
	else
		print_funcs();
	report_never_loaded();
	if (ferror(out) || fflush(out) || (out != stdout && fclose(out))) {
		tool_errline("%s: %s", opt.out_path ? opt.out_path : "stdout", strerror(errno ? errno : EIO));
		err = err < 0 ? err : -EIO;
	}
	code = err < 0 ? EXIT_RUNTIME : 0;
	if (command) {
		int status = uprobe_tracer_exit_status(tracer, target);

		status = status >= 0 ? tool_status_to_exit(status) : tool_wait_child(target);
		if (!code)
			code = status >= 0 ? status : EXIT_RUNTIME;
	}
	uprobe_tracer_free(tracer);
	for (size_t i = 0; i < nfuncs; i++) {
		if (funcs[i]->from_wildcard)
			free(funcs[i]->label);
		uprobe_hist_free(funcs[i]->h);
		free(funcs[i]);
	}
	free(funcs);
	for (size_t i = 0; i < nspecs; i++) {
		free(specs[i].binary);
		free(specs[i].symbol);
	}
	free(specs);
	return code;
}
