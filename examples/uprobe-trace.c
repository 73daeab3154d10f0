// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe-trace: command-line tracer printing or counting uprobe hits, on the public API. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uprobe.h>

#define PROG "uprobe-trace"

/* Exit statuses besides the traced command's own. */
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* --stack's depth when none is given, and the most it may be. */
#define STACK_DEFAULT 16
#define STACK_MAX 64

/* Long-only options with no short form. */
enum {
	OPT_FAIL = 0x100,
	OPT_FAIL_EVERY,
	OPT_FAIL_VALUE,
	OPT_FAIL_COUNT,
};

/* How many refused functions of one wildcard are named before only a total is given. */
#define WILDCARD_WARN_MAX 10

/* --str: the arguments that may be shown as strings (those in registers), and bytes shown of one */
#define STR_ARGS 6
#define STR_MAX 4096 /* PATH_MAX: a path is shown whole */

/* One PROBE argument as parsed from the command line. */
struct probe_spec {
	const char *text; /* as written, the label of an explicit probe */
	char kind;        /* 'u' entry, 'r' return, 'U' USDT */
	char *binary;
	char *symbol;     /* NULL: offset is a file offset; USDT: the point's name */
	char *provider;   /* USDT: the provider */
	uint64_t offset;
	bool wildcard;
};

/*
 * One probe handed to the library. The handler's data pointer is the label
 * itself, so a hit needs no lookup and per-probe state stays two words
 * (thousands of probes from one `u:libc:*`); the hit count lives in the library.
 */
struct probe_ent {
	struct uprobe *up;
	struct uprobe_usdt *usdt; /* a usdt: probe (up is NULL) */
	char *usdt_prefix;        /* its handler's data: "usdt:BINARY:", freed at exit */
	char *label; /* the argv text, or an allocated "u:PATH:SYMBOL" for a wildcard match */
	bool owned;
	/* the PROBE argument of a library no traced process mapped yet (placed when one does) */
	const char *pending_spec;
	/* --hist: set on the return probe beside a function's entry probe, that times its calls */
	struct fn_hist *hist;
	/* --fail: set on the probe that makes the function's calls fail */
	struct fail_fn *fail;
};

/*
 * --fail: one function whose calls fail. Its probe's handler counts its
 * calls in the order the tracer sees them (all threads and processes as
 * one) and makes every --fail-every'th return --fail-value at once, its
 * body skipped (uprobe_hit_override_return()), at most --fail-count times.
 */
struct fail_fn {
	struct probe_spec ps;
	char *label;     /* "--fail SPEC", for the count line */
	uint64_t calls, failed;
};

/*
 * --hist: the durations of one function's calls. Its return probe fills
 * it: the library keeps each call's entry time per call (recursion, other
 * threads), and a call that never returns (longjmp, exit, an exception)
 * has no return and counts as missed instead of as a duration.
 */
struct fn_hist {
	const char *label;
	bool from_wildcard; /* left out at exit when never called: u:libc:* names thousands */
	struct uprobe_hist *h; /* the library's: log2 buckets in ns, as bpftrace's hist() */
};

static struct {
	bool count;
	bool json;
	bool follow;
	bool nostop;
	bool events; /* --events: fork, exec and exit lines */
	unsigned nargs;
	bool nargs_given;
	unsigned str_mask; /* --str: bit N shows argument N as a string */
	bool duration;
	bool hist;
	bool lines; /* per-hit lines: neither --count nor --hist */
	int stack;  /* --stack: frames shown under each hit, 0 none */
	uint64_t fail_every; /* --fail-every: the Nth, 2Nth... call fails; 0 until given */
	uint64_t fail_value; /* --fail-value: what a failed call returns (rax) */
	uint64_t fail_count; /* --fail-count: failures at most; 0 no bound */
	bool fail_value_given;
	int verbose;
	const char *out_path;
	pid_t pid;
	FILE *out;
	struct timespec start;
} opt = { .nargs = 3 };

static struct probe_ent *probes;
static size_t nprobes, probes_cap;
/* The probes as parsed from the command line; they live until exit, whichever way it comes. */
static struct probe_spec *specs;
static size_t nspecs;

/* The --fail functions. */
static struct fail_fn *fails;
static size_t nfails;
/* A failure a handler could not inject: tracing stops, the program goes on untouched. */
static int fail_err;
/* print_hit(): the line is an injected failure's (--fail) */
static bool hit_is_fail;

static struct uprobe_tracer *tracer;
static volatile sig_atomic_t stop_requested;
/* The signal mask and ignored signals we started with: the spawned command's. */
static sigset_t orig_mask, orig_ignored;
/* While probes are added the CLI reports failures itself, in one line; the library stays quiet. */
static bool lib_quiet;
/* The library's last warning while it was quiet, for the CLI to word (see add_probes()). */
static char lib_warned[512];
/* --hist: calls a histogram could not hold (no memory for its buckets) */
static uint64_t hist_lost;

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: " PROG " [options] PROBE... (-p PID | -- COMMAND [ARG...])\n"
		"\n"
		"Prints (or counts) every hit of user-space probes in a traced process.\n"
		"A hit line is: SECONDS PID/TID COMM PROBE ARGS..., COMM the thread's name at\n"
		"the hit (a no-stop hit's: when it was read; \"?\" if the thread was gone).\n"
		"\n"
		"PROBE:\n"
		"  u:BINARY:SYMBOL[+OFFSET]  entry probe at a function (+OFFSET bytes, decimal or 0x hex)\n"
		"  u:BINARY:0xFILEOFFSET     entry probe at a file offset of BINARY\n"
		"  r:BINARY:SYMBOL           return probe of a function\n"
		"  usdt:BINARY:PROVIDER:NAME every site of a USDT point (<sys/sdt.h>); lines show\n"
		"                            its arguments as the program passed them, in decimal\n"
		"                            (--json: \"usdt_args\"); NAME and PROVIDER may hold\n"
		"                            wildcards; --str N reads USDT argument N as a string;\n"
		"                            with --nostop, points with an argument in memory stop\n"
		"  BINARY is a path (contains '/') or the name of a file the process maps\n"
		"  (\"libc\", \"libc.so.6\", the executable's basename). SYMBOL may contain\n"
		"  '*', '?' and '[...]' wildcards: every matching function is probed and\n"
		"  those the library refuses are skipped with a warning.\n"
		"\n"
		"options:\n"
		"  -p, --pid PID     attach to a running process; exit when it exits or on SIGINT/SIGTERM\n"
		"  -c, --count       no per-hit lines; print each probe's hit count at exit\n"
		"  -j, --json        one JSON object per line\n"
		"  -a, --args N      integer arguments shown per hit, 0-6 (default 3, or up to the\n"
		"                    highest --str)\n"
		"  -s, --str N       show argument N (0-5, repeatable) as the string it points to:\n"
		"                    C-escaped in quotes, at most 4096 bytes (\"...\"... when cut),\n"
		"                    (null), or (bad 0xADDR) when unreadable; --json adds \"strs\".\n"
		"                    Return lines show it as it was at the call's entry. Not with\n"
		"                    --count or --nostop (a no-stop hit is read after the program\n"
		"                    ran on, when the string may have changed)\n"
		"  -H, --hist        no per-hit lines; at exit, per function probed (u:BINARY:SYMBOL,\n"
		"                    wildcards too), a log2 histogram of its calls' durations in\n"
		"                    ns as bpftrace's hist(), with count, min, avg, max and the\n"
		"                    calls that never returned (longjmp, exit): \"missed\".\n"
		"                    Functions a wildcard matched that were never called are left\n"
		"                    out. With --count, the count lines too\n"
		"  -d, --duration    return lines show the call's duration, dur=MICROSECONDS.NNNus\n"
		"                    (from the entry's stop to the return's, in the tracer;\n"
		"                    --json: \"duration_ns\")\n"
		"  -o, --output FILE write the trace to FILE (the program keeps its stdout/stderr)\n"
		"  -f, --follow-forks  trace the processes the command forks too, with every probe\n"
		"  -e, --events      a line for each fork (\"fork child=PID\", \"untraced\" without\n"
		"                    -f), exec (\"exec PATH\") and exit (\"exit status=N\", or\n"
		"                    \"exit signal=SIGNAME\" and \"core\") of a traced process, in\n"
		"                    order with its hits; with --count or --hist, these lines only\n"
		"  -n, --nostop      entry probes do not stop the program where they can be jump-\n"
		"                    optimized: it records each hit and runs on; the line is\n"
		"                    printed when the tracer reads it, with the hit's time (where\n"
		"                    the kernel's clock is the TSC; else the time it was read) and\n"
		"                    arguments as at the hit. Return probes still stop. With\n"
		"                    --count, a hit only adds 1 to a counter in the program\n"
		"      --stack[=N]   under each hit, its call stack (N frames, default 16, at most\n"
		"                    64), one per line: FUNC+0xOFF (FILE), or 0xADDR (FILE) or\n"
		"                    0xADDR where nothing names it; with --json a \"stack\" array.\n"
		"                    Not with --count, --hist or --nostop.\n"
		"      --fail SPEC   fault injection: calls of the function SPEC (u:BINARY:SYMBOL or\n"
		"                    u:BINARY:0xFILEOFFSET of a function's start; repeatable) return\n"
		"                    --fail-value at once, their body skipped; each failure is a\n"
		"                    line like an entry hit's, marked FAIL ret=VALUE (--json:\n"
		"                    \"fail\": true), and --count adds a \"--fail SPEC\" line with\n"
		"                    its calls and failures\n"
		"      --fail-every N  the Nth, 2Nth, ... call of each SPEC fails (default 1: all)\n"
		"      --fail-value V  what a failed call returns (default 0): decimal or 0x hex,\n"
		"                    negative too (-12 for -ENOMEM)\n"
		"      --fail-count K  at most K calls of each SPEC fail\n"
		"  -v, --verbose     list every refused wildcard match and show libuprobe's messages\n"
		"                    (twice: its debug messages too)\n"
		"  -V, --version     libuprobe's version and what it measured of this machine\n"
		"  -h, --help        this text\n"
		"\n"
		"SIGINT/SIGTERM stop tracing: the program is detached and goes on unharmed,\n"
		"the counts are printed, and a spawned command is waited for. Processes the\n"
		"command forks are not traced unless -f; probes follow it through execve.\n"
		"The command starts with the signal mask and ignored signals " PROG " was\n"
		"given (under nohup, SIGHUP stays ignored in both).\n"
		"\n"
		"Exit status: the command's own (128+N if killed by signal N); with -p, 0;\n"
		"1 on a runtime error (e.g. symbol not found), 2 on a usage error.\n");
}

static void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see " PROG " --help)\n", stderr);
	exit(EXIT_USAGE);
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

/* The library's last message without its "libuprobe: " prefix, or strerror(err). */
static const char *lib_error(int err)
{
	const char *msg = uprobe_tracer_errmsg(tracer);
	static const char prefix[] = "libuprobe: ";

	if (!msg || !*msg)
		return strerror(err < 0 ? -err : err);
	if (!strncmp(msg, prefix, sizeof(prefix) - 1))
		msg += sizeof(prefix) - 1;
	return msg;
}

/* ---- Text that came from a file or a process ---- */

/*
 * The length of a well-formed UTF-8 sequence of a printable character at
 * s (2 to 4 bytes), or 0: C1 controls (U+0080-U+009F, which terminals obey
 * as they do ESC), overlong forms, surrogates and stray bytes are not.
 */
static size_t utf8_printable(const unsigned char *s)
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

/*
 * Writes s for a terminal: symbol names and paths come from files anyone
 * may have made, and a name holding an escape sequence must not drive the
 * terminal of whoever reads the trace. Control bytes, DEL and bytes that
 * are no printable UTF-8 are written as \xNN, a backslash as \\ (so the
 * text reads back unambiguously); the rest as is. Returns the columns
 * written (bytes of the escaped form; a multibyte character counts as one).
 */
static int fput_text(FILE *fp, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	int cols = 0;

	while (*s) {
		size_t n = *s >= 0x80 ? utf8_printable(s) : 0;

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

/*
 * An error or warning: one line on stderr, whatever the message holds
 * (names from a hostile file, a library message with a newline in it).
 */
static void __attribute__((format(printf, 1, 2))) errline(const char *fmt, ...)
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
		fputs(PROG ": ", mem);
		fput_text(mem, n < 0 ? "out of memory" : msg);
		fputc('\n', mem);
		fclose(mem);
		fputs(line, stderr);
	} else {
		fputs(PROG ": out of memory\n", stderr);
	}
	free(line);
	free(msg);
}

/* ---- PROBE parsing ---- */

/* Parses decimal or 0x-hex digits making up all of s. */
static bool parse_u64(const char *s, uint64_t *v)
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

/* usdt:BINARY:PROVIDER:NAME; BINARY may hold ':', provider and point names do not. */
static void parse_usdt(const char *text, struct probe_spec *ps)
{
	const char *name = strrchr(text + 5, ':'), *prov;

	if (!name || name == text + 5 || !name[1])
		goto bad;
	for (prov = name - 1; prov > text + 5 && *prov != ':'; prov--)
		;
	if (prov <= text + 5 || prov + 1 == name)
		goto bad;
	ps->kind = 'U';
	ps->binary = strndup(text + 5, (size_t)(prov - (text + 5)));
	ps->provider = strndup(prov + 1, (size_t)(name - prov - 1));
	ps->symbol = strdup(name + 1);
	if (!ps->binary || !ps->provider || !ps->symbol) {
		errline("out of memory");
		exit(EXIT_RUNTIME);
	}
	return;
bad:
	usage_error("bad probe '%s' (expected usdt:BINARY:PROVIDER:NAME)", text);
}

static void parse_probe(const char *text, struct probe_spec *ps)
{
	const char *colon;
	char *plus;

	memset(ps, 0, sizeof(*ps));
	ps->text = text;
	if (!strncmp(text, "usdt:", 5)) {
		parse_usdt(text, ps);
		return;
	}
	if ((text[0] != 'u' && text[0] != 'r') || text[1] != ':')
		goto bad;
	ps->kind = text[0];
	/* The symbol follows the last ':' so that a path may contain one; ELF symbol names do not. */
	colon = strrchr(text + 2, ':');
	if (!colon || colon == text + 2 || !colon[1])
		goto bad;
	ps->binary = strndup(text + 2, (size_t)(colon - (text + 2)));
	ps->symbol = strdup(colon + 1);
	if (!ps->binary || !ps->symbol) {
		errline("out of memory");
		exit(EXIT_RUNTIME);
	}

	if (ps->symbol[0] >= '0' && ps->symbol[0] <= '9') {
		/* No symbol starts with a digit: this is a file offset. */
		if (ps->symbol[0] != '0' || (ps->symbol[1] != 'x' && ps->symbol[1] != 'X') ||
		    !parse_u64(ps->symbol, &ps->offset))
			usage_error("bad file offset in probe '%s' (expected 0xHEX)", text);
		free(ps->symbol);
		ps->symbol = NULL;
	} else if ((plus = strrchr(ps->symbol, '+'))) {
		if (plus == ps->symbol || !parse_u64(plus + 1, &ps->offset))
			usage_error("bad offset in probe '%s' (expected SYMBOL+N or SYMBOL+0xN)", text);
		*plus = '\0';
	}
	if (ps->kind == 'r' && (!ps->symbol || ps->offset))
		usage_error("return probe '%s' must name a function (r:BINARY:SYMBOL)", text);
	ps->wildcard = ps->symbol && strpbrk(ps->symbol, "*?[");
	return;
bad:
	usage_error("bad probe '%s' (expected u:BINARY:SYMBOL[+OFFSET], u:BINARY:0xFILEOFFSET "
		    "or r:BINARY:SYMBOL)",
		    text);
}

/* ---- Hits ---- */

static void json_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

/*
 * A string argument (--str) as read from the tracee. A return probe reads
 * it at the call's entry into the call's data (what the function was
 * given; by the return the memory may hold something else), so it holds
 * no pointer.
 */
enum str_state {
	STR_UNREAD, /* zeroed call data: nothing was read at the entry */
	STR_OK,
	STR_NULL,
	STR_BAD,    /* the address cannot be read */
};

struct str_arg {
	uint64_t addr;
	unsigned char state;
	bool cut; /* longer than STR_MAX: buf holds its first STR_MAX bytes */
	uint16_t len;
	/* one byte more than is shown, and the NUL: tells a cut string from one of STR_MAX bytes */
	char buf[STR_MAX + 2];
};

static void read_str_arg(const struct uprobe_hit *h, uint64_t addr, struct str_arg *sa)
{
	ssize_t n;

	sa->addr = addr;
	sa->cut = false;
	sa->len = 0;
	if (!addr) {
		sa->state = STR_NULL;
		return;
	}
	n = uprobe_hit_read_str(h, addr, sa->buf, sizeof(sa->buf));
	if (n <= 0) {
		sa->state = STR_BAD;
		return;
	}
	sa->state = STR_OK;
	sa->len = (uint16_t)(n - 1);
	if (sa->len > STR_MAX) {
		sa->len = STR_MAX;
		sa->cut = true;
	}
}

/* The printable UTF-8 character at s[i] that ends within len bytes: its length, or 0. */
static size_t utf8_within(const unsigned char *s, size_t i, size_t len)
{
	size_t n = s[i] >= 0x80 ? utf8_printable(s + i) : 0;

	return i + n <= len ? n : 0;
}

/*
 * Text form: in double quotes, C escapes (\n \t \r \" \\), \xHH (always
 * two digits) for other control bytes, DEL and bytes that are no printable
 * UTF-8 (so no string drives the terminal); "..." after the quote when cut.
 */
static void fput_cstr(FILE *fp, const struct str_arg *sa)
{
	const unsigned char *s = (const unsigned char *)sa->buf;

	if (sa->state == STR_NULL) {
		fputs("(null)", fp);
		return;
	}
	if (sa->state == STR_BAD) {
		fprintf(fp, "(bad 0x%" PRIx64 ")", sa->addr);
		return;
	}
	if (sa->state == STR_UNREAD) {
		fputs("(unread)", fp);
		return;
	}
	fputc('"', fp);
	for (size_t i = 0; i < sa->len;) {
		size_t n = utf8_within(s, i, sa->len);

		if (n) {
			fwrite(s + i, 1, n, fp);
			i += n;
			continue;
		}
		switch (s[i]) {
		case '\n':
			fputs("\\n", fp);
			break;
		case '\t':
			fputs("\\t", fp);
			break;
		case '\r':
			fputs("\\r", fp);
			break;
		case '"':
		case '\\':
			fprintf(fp, "\\%c", s[i]);
			break;
		default:
			if (s[i] < 0x20 || s[i] >= 0x7f)
				fprintf(fp, "\\x%02x", s[i]);
			else
				fputc(s[i], fp);
		}
		i++;
	}
	fputc('"', fp);
	if (sa->cut)
		fputs("...", fp);
}

/*
 * JSON form: valid UTF-8 whatever the bytes. A byte that is no printable
 * UTF-8 is \udcHH, Python's "surrogateescape" (U+DC80 + byte): json.loads()
 * then s.encode("utf-8", "surrogateescape") gives back the exact bytes.
 */
static void json_str_arg(FILE *fp, unsigned arg, const struct str_arg *sa)
{
	const unsigned char *s = (const unsigned char *)sa->buf;

	fprintf(fp, "{\"arg\": %u, \"addr\": \"0x%" PRIx64 "\", \"str\": ", arg, sa->addr);
	if (sa->state != STR_OK) {
		const char *why = sa->state == STR_NULL ? "null" :
				  sa->state == STR_BAD ? "bad address" : "unread";

		fprintf(fp, "null, \"truncated\": false, \"error\": \"%s\"}", why);
		return;
	}
	fputc('"', fp);
	for (size_t i = 0; i < sa->len;) {
		size_t n = utf8_within(s, i, sa->len);

		if (n) {
			fwrite(s + i, 1, n, fp);
			i += n;
			continue;
		}
		if (s[i] == '"' || s[i] == '\\')
			fprintf(fp, "\\%c", s[i]);
		else if (s[i] == '\n')
			fputs("\\n", fp);
		else if (s[i] == '\t')
			fputs("\\t", fp);
		else if (s[i] == '\r')
			fputs("\\r", fp);
		else if (s[i] < 0x20 || s[i] == 0x7f)
			fprintf(fp, "\\u%04x", s[i]);
		else if (s[i] >= 0x80)
			fprintf(fp, "\\udc%02x", s[i]);
		else
			fputc(s[i], fp);
		i++;
	}
	fprintf(fp, "\", \"truncated\": %s, \"error\": null}", sa->cut ? "true" : "false");
}

/* A JSON string of any bytes, as json_str_arg() writes one ("\udcHH": no UTF-8); NULL: null. */
static void json_text(FILE *fp, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = str ? strlen(str) : 0;

	if (!str) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_within(s, i, len);

		if (n) {
			fwrite(s + i, 1, n, fp);
			i += n;
			continue;
		}
		if (s[i] == '"' || s[i] == '\\')
			fprintf(fp, "\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] == 0x7f)
			fprintf(fp, "\\u%04x", s[i]);
		else if (s[i] >= 0x80)
			fprintf(fp, "\\udc%02x", s[i]);
		else
			fputc(s[i], fp);
		i++;
	}
	fputc('"', fp);
}

/*
 * A thread's name as one word of a line: escaped as fput_text() does, and
 * a space as \x20, so that the words after it keep their places; "?" when
 * it is not known, "" when empty.
 */
static void fput_comm(FILE *fp, const char *comm)
{
	if (!comm) {
		fputc('?', fp);
		return;
	}
	if (!*comm)
		fputs("\"\"", fp);
	while (*comm) {
		size_t n = strcspn(comm, " ");
		char part[32];

		snprintf(part, sizeof(part), "%.*s", (int)n, comm);
		fput_text(fp, part);
		comm += n;
		if (*comm == ' ') {
			fputs("\\x20", fp);
			comm++;
		}
	}
}

/*
 * One frame of --stack: "func+0xoff (path)", "0xaddr (path)", or "0xaddr".
 * Callers' frames are return addresses: looked up one byte back, where the
 * call is, since a call that ends a function returns past its end.
 */
static char *frame_text(struct uprobe_hit *h, uint64_t pc, bool caller)
{
	struct uprobe_sym_info si;
	const char *where;
	char *text = NULL;
	int n;

	if (uprobe_tracer_symbolize(tracer, uprobe_hit_pid(h), caller ? pc - 1 : pc, &si))
		return asprintf(&text, "0x%" PRIx64, pc) < 0 ? NULL : text;
	where = si.path ? si.path : si.mapping;
	if (si.name)
		n = asprintf(&text, "%s+0x%" PRIx64 " (%s)", si.name, pc - si.sym_addr,
			     *where ? where : "anonymous");
	else if (*where)
		n = asprintf(&text, "0x%" PRIx64 " (%s)", pc, where);
	else
		n = asprintf(&text, "0x%" PRIx64, pc);
	return n < 0 ? NULL : text;
}

static void print_stack(struct uprobe_hit *h)
{
	uint64_t pcs[STACK_MAX];
	int n = uprobe_hit_backtrace(h, pcs, opt.stack);

	if (opt.json)
		fputs(", \"stack\": [", opt.out);
	for (int i = 0; i < n; i++) {
		char *text = frame_text(h, pcs[i], i > 0);

		if (opt.json) {
			fputs(i ? ", " : "", opt.out);
			json_string(opt.out, text ? text : "?");
		} else {
			fputs("    ", opt.out);
			fput_text(opt.out, text ? text : "?");
			fputc('\n', opt.out);
		}
		free(text);
	}
	if (opt.json)
		fputc(']', opt.out);
}

/* strs: --str arguments read at the call's entry, indexed by argument (return lines only) */
static void print_hit(struct uprobe_hit *h, const char *label, bool ret,
		      const struct str_arg *strs)
{
	struct str_arg entry_strs[STR_ARGS];
	/* when the hit happened: for a no-stop probe, earlier than now */
	uint64_t start = (uint64_t)opt.start.tv_sec * 1000000000ull + (uint64_t)opt.start.tv_nsec;
	uint64_t at = uprobe_hit_time_ns(h), rel = at > start ? at - start : 0;
	long sec = (long)(rel / 1000000000u), usec = (long)(rel % 1000000000u / 1000);

	if (!ret && opt.str_mask) {
		for (unsigned i = 0; i < STR_ARGS; i++)
			if (opt.str_mask & (1u << i))
				read_str_arg(h, uprobe_hit_arg(h, i), &entry_strs[i]);
		strs = entry_strs;
	}

	if (opt.json) {
		fprintf(opt.out, "{\"time\": %ld.%06ld, \"pid\": %d, \"tid\": %d, \"comm\": ", sec,
			usec, (int)uprobe_hit_pid(h), (int)uprobe_hit_tid(h));
		json_text(opt.out, uprobe_hit_comm(h));
		fputs(", \"probe\": ", opt.out);
		json_string(opt.out, label);
		fprintf(opt.out, ", \"addr\": \"0x%" PRIx64 "\"", uprobe_hit_addr(h));
		if (ret) {
			fprintf(opt.out, ", \"retval\": \"0x%llx\"", uprobe_hit_regs(h)->rax);
			if (opt.duration)
				fprintf(opt.out, ", \"duration_ns\": %" PRIu64,
					uprobe_hit_duration_ns(h));
		} else {
			fputs(", \"args\": [", opt.out);
			for (unsigned i = 0; i < opt.nargs; i++)
				fprintf(opt.out, "%s\"0x%" PRIx64 "\"", i ? ", " : "",
					uprobe_hit_arg(h, i));
			fputc(']', opt.out);
		}
		if (strs) {
			bool first = true;

			fputs(", \"strs\": [", opt.out);
			for (unsigned i = 0; i < STR_ARGS; i++) {
				if (!(opt.str_mask & (1u << i)))
					continue;
				fputs(first ? "" : ", ", opt.out);
				json_str_arg(opt.out, i, &strs[i]);
				first = false;
			}
			fputc(']', opt.out);
		}
		if (hit_is_fail)
			fprintf(opt.out, ", \"fail\": true, \"retval\": \"0x%" PRIx64 "\"",
				opt.fail_value);
		if (opt.stack)
			print_stack(h);
		fputs("}\n", opt.out);
		return;
	}

	fprintf(opt.out, "%4ld.%06ld %d/%d ", sec, usec, (int)uprobe_hit_pid(h),
		(int)uprobe_hit_tid(h));
	fput_comm(opt.out, uprobe_hit_comm(h));
	fputc(' ', opt.out);
	fput_text(opt.out, label);
	if (ret) {
		uint64_t dur = uprobe_hit_duration_ns(h);

		fprintf(opt.out, " ret=0x%llx", uprobe_hit_regs(h)->rax);
		/* microseconds to the nanosecond: readable, and exact for whoever parses it */
		if (opt.duration)
			fprintf(opt.out, " dur=%" PRIu64 ".%03" PRIu64 "us", dur / 1000, dur % 1000);
		for (unsigned i = 0; strs && i < STR_ARGS; i++) {
			if (!(opt.str_mask & (1u << i)))
				continue;
			fprintf(opt.out, " arg%u=", i);
			fput_cstr(opt.out, &strs[i]);
		}
	} else {
		for (unsigned i = 0; i < opt.nargs; i++) {
			if (strs && (opt.str_mask & (1u << i))) {
				fprintf(opt.out, " arg%u=", i);
				fput_cstr(opt.out, &strs[i]);
			} else {
				fprintf(opt.out, " arg%u=0x%" PRIx64, i, uprobe_hit_arg(h, i));
			}
		}
		if (hit_is_fail)
			fprintf(opt.out, " FAIL ret=0x%" PRIx64, opt.fail_value);
	}
	fputc('\n', opt.out);
	if (opt.stack)
		print_stack(h);
}

/*
 * A USDT hit: its arguments as the program passed them (size and sign of
 * their specs applied), in decimal; --str N shows argument N as a string.
 * The label names the point hit, which a wildcard leaves to the hit to say.
 */
static void print_usdt_hit(struct uprobe_hit *h, const char *prefix)
{
	uint64_t start = (uint64_t)opt.start.tv_sec * 1000000000ull + (uint64_t)opt.start.tv_nsec;
	uint64_t at = uprobe_hit_time_ns(h), rel = at > start ? at - start : 0;
	long sec = (long)(rel / 1000000000u), usec = (long)(rel % 1000000000u / 1000);
	const char *prov = "?", *name = "?";
	int nargs = uprobe_hit_usdt(h, &prov, &name);
	char *label = NULL;
	bool any_str = false;

	if (asprintf(&label, "%s%s:%s", prefix, prov, name) < 0)
		label = NULL;
	if (opt.json) {
		fprintf(opt.out, "{\"time\": %ld.%06ld, \"pid\": %d, \"tid\": %d, \"probe\": ", sec,
			usec, (int)uprobe_hit_pid(h), (int)uprobe_hit_tid(h));
		json_string(opt.out, label ? label : prefix);
		fprintf(opt.out, ", \"addr\": \"0x%" PRIx64 "\", \"usdt_args\": [",
			uprobe_hit_addr(h));
	} else {
		fprintf(opt.out, "%4ld.%06ld %d/%d ", sec, usec, (int)uprobe_hit_pid(h),
			(int)uprobe_hit_tid(h));
		fput_text(opt.out, label ? label : prefix);
	}
	for (int i = 0; i < nargs; i++) {
		int64_t v;
		int size;
		int err = uprobe_hit_usdt_arg(h, (unsigned)i, &v, &size);

		if (opt.json) {
			fputs(i ? ", " : "", opt.out);
			if (err)
				fputs("null", opt.out);
			else if (size < 0)
				fprintf(opt.out, "%" PRId64, v);
			else
				fprintf(opt.out, "%" PRIu64, (uint64_t)v);
			continue;
		}
		fprintf(opt.out, " arg%d=", i);
		if (err) {
			fprintf(opt.out, "(%s)", strerror(-err));
		} else if (i < STR_ARGS && (opt.str_mask & (1u << i))) {
			struct str_arg sa;

			read_str_arg(h, (uint64_t)v, &sa);
			fput_cstr(opt.out, &sa);
		} else if (size < 0) {
			fprintf(opt.out, "%" PRId64, v);
		} else {
			fprintf(opt.out, "%" PRIu64, (uint64_t)v);
		}
	}
	if (opt.json) {
		fputc(']', opt.out);
		for (int i = 0; i < nargs && i < STR_ARGS; i++) {
			struct str_arg sa;
			int64_t v;

			if (!(opt.str_mask & (1u << i)))
				continue;
			if (uprobe_hit_usdt_arg(h, (unsigned)i, &v, NULL))
				v = 0;
			read_str_arg(h, (uint64_t)v, &sa);
			fputs(any_str ? ", " : ", \"strs\": [", opt.out);
			json_str_arg(opt.out, (unsigned)i, &sa);
			any_str = true;
		}
		if (any_str)
			fputc(']', opt.out);
		if (opt.stack)
			print_stack(h);
		fputs("}\n", opt.out);
	} else {
		fputc('\n', opt.out);
		if (opt.stack)
			print_stack(h);
	}
	free(label);
}

/*
 * A trace that cannot be written (a closed pipe, a full disk) ends tracing the
 * way SIGINT does: dying instead would leave an attached process with our
 * breakpoints in it.
 */
static void check_output(void)
{
	if (ferror(opt.out) && !stop_requested) {
		stop_requested = 1;
		uprobe_tracer_stop(tracer);
	}
}

static int on_entry(struct uprobe_hit *h, void *data)
{
	if (opt.lines) {
		print_hit(h, data, false, NULL);
		check_output();
	}
	return 0;
}

static int on_usdt(struct uprobe_hit *h, void *data)
{
	if (opt.lines) {
		print_usdt_hit(h, data);
		check_output();
	}
	return 0;
}

/* --fail: the Nth, 2Nth, ... call returns at once, at most --fail-count times. */
static int on_fail(struct uprobe_hit *h, void *data)
{
	struct fail_fn *f = data;
	int err;

	f->calls++;
	if (fail_err || f->calls % opt.fail_every ||
	    (opt.fail_count && f->failed >= opt.fail_count))
		return 0;
	err = uprobe_hit_override_return(h, opt.fail_value);
	if (err) {
		/* refused before any change: stop here rather than trace without failing */
		errline("--fail %s: %s", f->ps.text, lib_error(err));
		fail_err = err;
		stop_requested = 1;
		uprobe_tracer_stop(tracer);
		return 0;
	}
	f->failed++;
	if (opt.lines) {
		hit_is_fail = true;
		print_hit(h, f->ps.text, false, NULL);
		hit_is_fail = false;
		check_output();
	}
	return 0;
}

/*
 * The entry of a return probe's call: --str arguments are read now, as
 * bpftrace users save str(argN) at the uprobe for the uretprobe. By the
 * return the function may have changed or freed the memory; what it was
 * given is what a return line shows.
 */
static int on_ret_entry(struct uprobe_hit *h, void *data)
{
	struct str_arg *strs = uprobe_hit_call_data(h);

	for (unsigned i = 0; strs && i < STR_ARGS; i++)
		if (opt.str_mask & (1u << i))
			read_str_arg(h, uprobe_hit_arg(h, i), &strs[i]);
	return 0;
}

static int on_return(struct uprobe_hit *h, void *data)
{
	if (opt.lines) {
		print_hit(h, data, true, opt.str_mask ? uprobe_hit_call_data(h) : NULL);
		check_output();
	}
	return 0;
}

/* ---- Process events (--events) ---- */

/* The seconds since tracing began, for a line: at, a CLOCK_MONOTONIC time in ns. */
static void line_time(uint64_t at, long *sec, long *usec)
{
	uint64_t start = (uint64_t)opt.start.tv_sec * 1000000000ull + (uint64_t)opt.start.tv_nsec;
	uint64_t rel = at > start ? at - start : 0;

	*sec = (long)(rel / 1000000000u);
	*usec = (long)(rel % 1000000000u / 1000);
}

static void json_event(const struct uprobe_event *ev, long sec, long usec)
{
	const char *sig = NULL;

	fprintf(opt.out, "{\"time\": %ld.%06ld, \"pid\": %d, \"tid\": %d, \"event\": ", sec, usec,
		(int)ev->pid, (int)ev->tid);
	switch (ev->kind) {
	case UPROBE_EVENT_FORK:
		fprintf(opt.out, "\"fork\", \"child\": %d, \"followed\": %s, \"vfork\": %s}\n",
			(int)ev->child, ev->followed ? "true" : "false",
			ev->vfork ? "true" : "false");
		break;
	case UPROBE_EVENT_EXEC:
		fputs("\"exec\", \"path\": ", opt.out);
		json_text(opt.out, ev->path);
		fputs("}\n", opt.out);
		break;
	default: /* UPROBE_EVENT_EXIT */
		if (WIFEXITED(ev->status)) {
			fprintf(opt.out, "\"exit\", \"status\": %d, \"signal\": null, "
				"\"core\": false}\n", WEXITSTATUS(ev->status));
			break;
		}
		sig = sigabbrev_np(WTERMSIG(ev->status));
		if (sig)
			fprintf(opt.out, "\"exit\", \"status\": null, \"signal\": \"SIG%s\"", sig);
		else
			fprintf(opt.out, "\"exit\", \"status\": null, \"signal\": %d",
				WTERMSIG(ev->status));
		fprintf(opt.out, ", \"core\": %s}\n", WCOREDUMP(ev->status) ? "true" : "false");
	}
}

/*
 * --events: "fork child=PID" (" untraced" when not followed, " vfork" when
 * it runs on its parent's memory), "exec PATH", "exit status=N" or
 * "exit signal=SIGNAME" (" core"), after the time and PID/TID as hit lines.
 */
static int on_event(const struct uprobe_event *ev, void *data)
{
	const char *sig;
	long sec, usec;

	(void)data;
	if (ev->kind != UPROBE_EVENT_FORK && ev->kind != UPROBE_EVENT_EXEC &&
	    ev->kind != UPROBE_EVENT_EXIT)
		return 0;
	line_time(ev->time_ns, &sec, &usec);
	if (opt.json) {
		json_event(ev, sec, usec);
		check_output();
		return 0;
	}
	fprintf(opt.out, "%4ld.%06ld %d/%d ", sec, usec, (int)ev->pid, (int)ev->tid);
	if (ev->kind == UPROBE_EVENT_FORK) {
		fprintf(opt.out, "fork child=%d%s%s\n", (int)ev->child,
			ev->followed ? "" : " untraced", ev->vfork ? " vfork" : "");
	} else if (ev->kind == UPROBE_EVENT_EXEC) {
		fputs("exec ", opt.out);
		fput_text(opt.out, ev->path);
		fputc('\n', opt.out);
	} else if (WIFEXITED(ev->status)) {
		fprintf(opt.out, "exit status=%d\n", WEXITSTATUS(ev->status));
	} else {
		sig = sigabbrev_np(WTERMSIG(ev->status));
		if (sig)
			fprintf(opt.out, "exit signal=SIG%s", sig);
		else
			fprintf(opt.out, "exit signal=%d", WTERMSIG(ev->status));
		fputs(WCOREDUMP(ev->status) ? " core\n" : "\n", opt.out);
	}
	check_output();
	return 0;
}

/* Call data of a return probe: the --str arguments up to the highest one asked for. */
static size_t str_data_size(void)
{
	unsigned top = 0;

	for (unsigned i = 0; i < STR_ARGS; i++)
		if (opt.str_mask & (1u << i))
			top = i + 1;
	return top * sizeof(struct str_arg);
}

static int on_hist_return(struct uprobe_hit *h, void *data)
{
	struct fn_hist *fh = data;

	/* only a histogram's first value allocates: a failure there is said at exit */
	if (uprobe_hist_add(fh->h, uprobe_hit_duration_ns(h)))
		hist_lost++;
	return 0;
}

/* ---- Adding probes ---- */

static int reserve_probes(size_t more)
{
	while (nprobes + more > probes_cap) {
		size_t cap = probes_cap ? probes_cap * 2 : 16;
		struct probe_ent *n = realloc(probes, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		probes = n;
		probes_cap = cap;
	}
	return 0;
}

/* --hist: the return probe that times the calls of the function an entry probe is on. */
static int add_hist_probe(const char *binary, const char *symbol, const char *label,
			  bool from_wildcard, const char *pending_spec)
{
	struct fn_hist *fh = calloc(1, sizeof(*fh));
	struct probe_ent *e;
	struct uprobe *up;
	UPROBE_OPTS(uprobe_opts, uopts, .ret_handler = on_hist_return, .data = fh,
		    .pending = pending_spec != NULL);

	if (!fh)
		return -ENOMEM;
	fh->h = uprobe_hist_new(UPROBE_UNIT_NS);
	if (!fh->h) {
		free(fh);
		return -ENOMEM;
	}
	fh->label = label;
	fh->from_wildcard = from_wildcard;
	errno = 0;
	up = uprobe_add(tracer, binary, symbol, 0, &uopts);
	if (!up) {
		uprobe_hist_free(fh->h);
		free(fh);
		return errno ? -errno : -EINVAL;
	}
	e = &probes[nprobes++];
	memset(e, 0, sizeof(*e));
	e->up = up;
	e->label = (char *)label;
	e->pending_spec = pending_spec;
	e->hist = fh;
	return 0;
}

/* Adds one probe; 0 or -errno (the library's message is then in uprobe_tracer_errmsg()). */
static int add_probe(char kind, const char *binary, const char *symbol, uint64_t offset,
		     char *label, bool owned, const char *pending_spec)
{
	struct probe_ent *e;
	struct uprobe *up;
	int err;
	UPROBE_OPTS(uprobe_opts, uopts, .data = label, .pending = pending_spec != NULL);

	if (kind == 'r') {
		uopts.ret_handler = on_return;
		if (opt.str_mask) {
			uopts.handler = on_ret_entry;
			uopts.data_size = str_data_size();
		}
	} else {
		/* no-stop without lines: count-only probes, counted in the program itself */
		uopts.handler = opt.nostop && !opt.lines ? NULL : on_entry;
		uopts.nostop = opt.nostop;
	}

	err = reserve_probes(opt.hist ? 2 : 1);
	if (err)
		return err;
	errno = 0;
	up = uprobe_add(tracer, binary, symbol, offset, &uopts);
	if (!up)
		return errno ? -errno : -EINVAL;
	/*
	 * A function whose calls cannot be timed (_start, which never returns;
	 * a Go program) is refused whole: its entry count alone is not what
	 * --hist was asked for. A wildcard skips it with the library's reason.
	 */
	if (opt.hist) {
		err = add_hist_probe(binary, symbol, label, owned, pending_spec);
		if (err) {
			uprobe_remove(up);
			return err;
		}
	}
	e = &probes[nprobes++];
	e->up = up;
	e->label = label;
	e->owned = owned;
	e->pending_spec = pending_spec;
	e->hist = NULL;
	e->fail = NULL;
	e->usdt = NULL;
	e->usdt_prefix = NULL;
	return 0;
}

/* A usdt: probe, every site of the points it names; 0 or -errno. */
static int add_usdt(const struct probe_spec *ps)
{
	struct probe_ent *e;
	struct uprobe_usdt *u;
	char *prefix;
	int err;
	UPROBE_OPTS(uprobe_opts, uopts, .handler = opt.nostop && !opt.lines ? NULL : on_usdt,
		    .nostop = opt.nostop);

	err = reserve_probes(1);
	if (err)
		return err;
	if (asprintf(&prefix, "usdt:%s:", ps->binary) < 0)
		return -ENOMEM;
	uopts.data = prefix;
	errno = 0;
	u = uprobe_add_usdt(tracer, ps->binary, ps->provider, ps->symbol, &uopts);
	if (!u && errno == EOPNOTSUPP && uopts.nostop) {
		/* an argument in memory must be read at the hit: this probe's hits stop */
		errline("warning: %s: %s: its hits stop", ps->text, lib_error(-EOPNOTSUPP));
		uopts.nostop = false;
		errno = 0;
		u = uprobe_add_usdt(tracer, ps->binary, ps->provider, ps->symbol, &uopts);
	}
	if (!u) {
		free(prefix);
		return errno ? -errno : -EINVAL;
	}
	e = &probes[nprobes++];
	memset(e, 0, sizeof(*e));
	e->usdt = u;
	e->usdt_prefix = prefix;
	e->label = (char *)ps->text;
	return 0;
}

/*
 * The file that BINARY names in process pid, as the library resolves it: a
 * path as is; otherwise a mapped file whose basename is the name, or starts
 * with it followed by '.' or '-' ("libc" -> libc.so.6, "ld" -> ld-linux-x86-64.so.2);
 * otherwise the name itself, tried as a path.
 */
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

/* "libc" and "libc.so" name "libc.so.6"; "liblzma" names "liblzma.so.5" (as the library matches). */
static bool lib_name_matches(const char *want, const char *base)
{
	size_t n = strlen(want);

	if (!strcmp(base, want))
		return true;
	if (strncmp(base, want, n))
		return false;
	if (n > 3 && !strcmp(want + n - 3, ".so"))
		return base[n] == '.';
	return !strncmp(base + n, ".so", 3) && (base[n + 3] == '.' || !base[n + 3]);
}

/*
 * A library name no traced process maps (yet): the file the dynamic linker
 * would load for it, found as it finds it, in ld.so.cache (through
 * `ldconfig -p`), then in the standard directories. NULL when there is none.
 */
static char *loader_lookup(const char *name)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
					    "/lib64", "/usr/lib64", "/lib", "/usr/lib" };
	char *line = NULL, *found = NULL;
	size_t cap = 0;
	FILE *fp = popen("ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null", "re");

	while (fp && !found && getline(&line, &cap, fp) > 0) {
		/* "\tlibsqlite3.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libsqlite3.so.0" */
		char *soname = line + strspn(line, " \t"), *arrow = strstr(line, " => ");
		size_t len = strcspn(soname, " ");
		char *path;

		if (!arrow || !strstr(line, "x86-64"))
			continue;
		soname[len] = '\0';
		path = arrow + 4;
		path[strcspn(path, "\n")] = '\0';
		if (lib_name_matches(name, soname) && access(path, R_OK) == 0)
			found = strdup(path);
	}
	free(line);
	if (fp)
		pclose(fp);
	for (size_t i = 0; !found && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		while (d && !found && (de = readdir(d))) {
			char path[PATH_MAX];
			struct stat st;

			if (!lib_name_matches(name, de->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				found = strdup(path);
		}
		if (d)
			closedir(d);
	}
	return found;
}

static char *resolve_binary(pid_t pid, const char *name)
{
	size_t n = strlen(name);
	char maps[64], *line = NULL, *found = NULL;
	size_t cap = 0;
	FILE *fp;

	if (strchr(name, '/'))
		return ns_path(pid, name);
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	fp = fopen(maps, "re");
	while (fp && !found && getline(&line, &cap, fp) > 0) {
		char *path = strchr(line, '/'), *base;

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strstr(path, " (deleted)"))
			continue;
		base = strrchr(path, '/') + 1;
		if (!strncmp(base, name, n) && (!base[n] || base[n] == '.' || base[n] == '-'))
			found = ns_path(pid, path);
	}
	free(line);
	if (fp)
		fclose(fp);
	return found ? found : strdup(name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

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

/*
 * The names of every function of path (the library's symbol tables:
 * .symtab and .dynsym) that match pattern, sorted, each once. Returns the
 * count, or -1 with a message in why.
 */
static long match_functions(const char *path, const char *pattern, char ***out, char *why,
			    size_t whylen)
{
	static const char prefix[] = "libuprobe: ";
	struct name_list l = {};
	size_t w = 0;
	int err;

	lib_warned[0] = '\0';
	err = uprobe_symbols(path, pattern, collect_name, &l);
	if (err) {
		const char *msg = lib_warned;

		if (!strncmp(msg, prefix, sizeof(prefix) - 1))
			msg += sizeof(prefix) - 1;
		if (err == -ENOMEM || !*msg)
			snprintf(why, whylen, "%s: %s", path, strerror(-err));
		else
			snprintf(why, whylen, "%.*s", (int)strcspn(msg, "\n"), msg);
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		return -1;
	}
	/* versions and aliases at other addresses repeat a name: keep one of each */
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	for (size_t i = 0; i < l.n; i++) {
		if (w && !strcmp(l.v[w - 1], l.v[i]))
			free(l.v[i]);
		else
			l.v[w++] = l.v[i];
	}
	*out = l.v;
	return (long)w;
}

/* Refusals a wildcard skips; anything else (the tracee is gone, no memory...) is fatal. */
static bool is_refusal(int err)
{
	return err == -ENOENT || err == -EINVAL || err == -ENOEXEC || err == -EOPNOTSUPP ||
	       err == -EEXIST;
}

/* 0, or -1 after printing the one-line error. */
static int add_wildcard(const struct probe_spec *ps, pid_t pid)
{
	char why[PATH_MAX + 128], offs[32] = "";
	size_t added = 0, skipped = 0;
	bool pending = false;
	char **names = NULL;
	char *path;
	long n;
	int ret = -1;

	path = resolve_binary(pid, ps->binary);
	if (!path) {
		errline("out of memory");
		return -1;
	}
	if (!strchr(path, '/')) {
		/* a library no traced process maps yet: its functions from the file it would be */
		free(path);
		path = loader_lookup(ps->binary);
		if (!path) {
			errline("%s: '%s': no traced process maps it, and no such library in "
				"ld.so.cache or the standard directories", ps->text, ps->binary);
			return -1;
		}
		pending = true;
	}
	n = match_functions(path, ps->symbol, &names, why, sizeof(why));
	if (n < 0) {
		errline("%s: %s", ps->text, why);
		goto out;
	}
	if (ps->offset)
		snprintf(offs, sizeof(offs), "+0x%" PRIx64, ps->offset);
	for (long i = 0; i < n; i++) {
		char *label;
		int err;

		if (asprintf(&label, "%c:%s:%s%s", ps->kind, pending ? ps->binary : path, names[i],
			     offs) < 0) {
			errline("out of memory");
			goto out;
		}
		err = add_probe(ps->kind, pending ? ps->binary : path, names[i], ps->offset, label,
				true, pending ? ps->text : NULL);
		if (!err) {
			added++;
			continue;
		}
		if (!is_refusal(err)) {
			errline("%s: %s", label, lib_error(err));
			free(label);
			goto out;
		}
		if (opt.verbose || skipped < WILDCARD_WARN_MAX)
			errline("warning: %s: skipped: %s", label, lib_error(err));
		skipped++;
		free(label);
	}
	if (skipped > WILDCARD_WARN_MAX && !opt.verbose)
		errline("warning: %s: skipped %zu more functions (-v lists them)",
			ps->text, skipped - WILDCARD_WARN_MAX);
	if (!added) {
		if (!n)
			errline("%s: %s: no function matches '%s'", ps->text, path,
				ps->symbol);
		else
			errline("%s: none of the %ld matching functions could be probed",
				ps->text, n);
		goto out;
	}
	ret = 0;
out:
	for (long i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(path);
	return ret;
}

static int add_probes(struct probe_spec *specs, size_t nspecs, pid_t pid)
{
	int ret = 0;

	lib_quiet = true;
	for (size_t i = 0; i < nspecs && !ret; i++) {
		struct probe_spec *ps = &specs[i];
		int err;

		if (stop_requested)
			break;
		lib_warned[0] = '\0';
		if (ps->kind == 'U') {
			err = add_usdt(ps);
			if (err) {
				errline("%s: %s", ps->text, lib_error(err));
				ret = -1;
			}
		} else if (ps->wildcard) {
			ret = add_wildcard(ps, pid);
		} else {
			char *path = NULL, *lib = NULL;

			/* a library no traced process maps yet, that the dynamic linker would find */
			if (!strchr(ps->binary, '/') && (path = resolve_binary(pid, ps->binary)) &&
			    !strchr(path, '/'))
				lib = loader_lookup(ps->binary);
			err = add_probe(ps->kind, ps->binary, ps->symbol, ps->offset,
					(char *)ps->text, false, lib ? ps->text : NULL);
			free(path);
			free(lib);
			if (err) {
				errline("%s: %s", ps->text, lib_error(err));
				ret = -1;
			}
		}
		/*
		 * A probe on a file no traced process maps (another copy, a path
		 * of another mount namespace) would count 0 hits without a word;
		 * once per PROBE argument, however many functions it names.
		 */
		if (!ret && strstr(lib_warned, "no traced process maps it"))
			fprintf(stderr, PROG ": warning: %s: %s", ps->text,
				strncmp(lib_warned, "libuprobe: ", 11) ? lib_warned : lib_warned + 11);
	}
	lib_quiet = false;
	return ret;
}

/* ---- --fail ---- */

/* Parses --fail-value: what parse_u64() takes, or that after a '-' (two's complement). */
static bool parse_value(const char *s, uint64_t *v)
{
	bool neg = *s == '-';

	if (!parse_u64(s + neg, v))
		return false;
	if (neg) {
		if (*v > (uint64_t)INT64_MAX + 1)
			return false;
		*v = -*v;
	}
	return true;
}

/* A --fail SPEC: a function's entry, as u:BINARY:SYMBOL or its file offset. */
static void parse_fail(const char *text, struct fail_fn *f)
{
	parse_probe(text, &f->ps);
	if (f->ps.kind != 'u')
		usage_error("--fail '%s': not a return probe but a function's entry, "
			    "u:BINARY:SYMBOL or u:BINARY:0xFILEOFFSET", text);
	if (f->ps.wildcard)
		usage_error("--fail '%s': one function, not a wildcard", text);
	if (f->ps.symbol && f->ps.offset)
		usage_error("--fail '%s': a call can only be made to fail at the function's first "
			    "instruction, not +0x%" PRIx64, text, f->ps.offset);
	if (asprintf(&f->label, "--fail %s", text) < 0) {
		errline("out of memory");
		exit(EXIT_RUNTIME);
	}
}

/* uprobe_symbols() callback: stops (1) at a function starting at the file offset *ctx. */
static int starts_at(const struct uprobe_sym *sym, void *ctx)
{
	return sym->offset == *(const uint64_t *)ctx;
}

/*
 * Adds the probe that makes f's calls fail; 0, or -1 after printing the
 * one-line error. A file offset must be a function's start: checked here,
 * before any byte of the program changes, not at its first call.
 */
static int add_fail(struct fail_fn *f, pid_t pid)
{
	struct probe_spec *ps = &f->ps;
	char *path = resolve_binary(pid, ps->binary), *lib = NULL;
	struct probe_ent *e;
	struct uprobe *up;
	int err, ret = -1;
	UPROBE_OPTS(uprobe_opts, uopts, .handler = on_fail, .data = f);

	if (!path || reserve_probes(1)) {
		errline("out of memory");
		goto out;
	}
	/* a library no traced process maps yet: placed when one loads it, as for a PROBE */
	if (!strchr(path, '/') && (lib = loader_lookup(ps->binary)))
		uopts.pending = true;
	if (!ps->symbol) {
		const char *file = lib ? lib : path;
		uint64_t off = ps->offset;

		err = uprobe_symbols(file, NULL, starts_at, &off);
		if (err < 0) {
			errline("--fail %s: %s: %s", ps->text, file, strerror(-err));
			goto out;
		}
		if (!err) {
			errline("--fail %s: no function of %s starts at file offset 0x%" PRIx64
				" (a call fails from its function's first instruction)", ps->text,
				file, ps->offset);
			goto out;
		}
	}
	errno = 0;
	up = uprobe_add(tracer, ps->binary, ps->symbol, ps->offset, &uopts);
	if (!up) {
		errline("--fail %s: %s", ps->text, lib_error(errno ? -errno : -EINVAL));
		goto out;
	}
	e = &probes[nprobes++];
	memset(e, 0, sizeof(*e));
	e->up = up;
	e->label = f->label;
	e->pending_spec = lib ? ps->text : NULL;
	e->fail = f;
	ret = 0;
out:
	free(path);
	free(lib);
	return ret;
}

static int add_fails(pid_t pid)
{
	int ret = 0;

	lib_quiet = true;
	for (size_t i = 0; i < nfails && !ret && !stop_requested; i++)
		ret = add_fail(&fails[i], pid);
	lib_quiet = false;
	return ret;
}

/* ---- Main ---- */

/* --hist measures functions: each PROBE must name one's entry. */
static void check_hist_options(void)
{
	for (size_t i = 0; i < nspecs; i++) {
		const struct probe_spec *ps = &specs[i];

		if (ps->kind == 'r' || ps->kind == 'U')
			usage_error("--hist times the calls of u:BINARY:SYMBOL probes: '%s' is a "
				    "%s probe", ps->text, ps->kind == 'r' ? "return" : "USDT");
		if (!ps->symbol || ps->offset)
			usage_error("--hist times the calls of u:BINARY:SYMBOL probes: '%s' is not "
				    "at a function's entry", ps->text);
	}
	/* its return probes stop at every call anyway; --nostop would promise what it cannot */
	if (opt.nostop)
		usage_error("--hist stops at each call's entry and return to time it: not with "
			    "--nostop");
}

/* --str against the other options: each refusal is a usage error. */
static void check_str_options(void)
{
	unsigned top = 0;

	for (unsigned i = 0; i < STR_ARGS; i++)
		if (opt.str_mask & (1u << i))
			top = i + 1;
	if (opt.count || opt.hist)
		usage_error("--str shows strings in per-hit lines: not with %s",
			    opt.count ? "--count" : "--hist");
	/*
	 * A no-stop hit is handled after the thread ran on: the string read
	 * then may be another than the one the function was given, and
	 * nothing would say so.
	 */
	if (opt.nostop)
		usage_error("--str reads memory at the hit: not with --nostop, whose hits are read "
			    "after the program ran on");
	/* entry lines show arguments 0 to nargs - 1; the default grows to the highest --str */
	if (top > opt.nargs) {
		if (opt.nargs_given)
			usage_error("--str %u is beyond the %u arguments --args shows", top - 1,
				    opt.nargs);
		opt.nargs = top;
	}
}

static void on_signal(int sig)
{
	stop_requested = 1;
	uprobe_tracer_stop(tracer);
}

/*
 * Probes on a library that no traced process had mapped when they were
 * added wait for one that maps it (a dlopen, a followed child's exec): once
 * per PROBE argument, those whose library never came. Not an error.
 */
static void report_never_loaded(void)
{
	for (size_t i = 0; i < nprobes; i++) {
		const char *spec = probes[i].pending_spec;
		bool seen = false, placed = false;

		if (!spec)
			continue;
		for (size_t j = 0; j < nprobes && !seen; j++)
			seen = j < i && probes[j].pending_spec == spec;
		for (size_t j = i; j < nprobes && !placed; j++)
			placed = probes[j].pending_spec == spec && uprobe_binary_path(probes[j].up);
		if (!seen && !placed)
			errline("%s: never loaded", spec);
	}
}

static void print_counts(void)
{
	int width = 0;

	for (size_t i = 0; i < nprobes; i++) {
		int len = fput_text(NULL, probes[i].label);

		if (len > width && !probes[i].hist)
			width = len;
	}
	for (size_t i = 0; i < nprobes; i++) {
		uint64_t hits = probes[i].usdt ? uprobe_usdt_hits(probes[i].usdt) :
						 uprobe_hits(probes[i].up);
		uint64_t missed = probes[i].usdt ? 0 : uprobe_missed(probes[i].up);

		if (probes[i].hist)
			continue;

		if (opt.json) {
			fputs("{\"probe\": ", opt.out);
			json_string(opt.out, probes[i].label);
			fprintf(opt.out, ", \"hits\": %" PRIu64 ", \"missed\": %" PRIu64, hits,
				missed);
			if (probes[i].fail)
				fprintf(opt.out, ", \"failed\": %" PRIu64, probes[i].fail->failed);
			fputs("}\n", opt.out);
		} else {
			int len = fput_text(opt.out, probes[i].label);

			fprintf(opt.out, "%*s  %" PRIu64, width - len, "", hits);
			if (missed)
				fprintf(opt.out, "  missed %" PRIu64, missed);
			if (probes[i].fail)
				fprintf(opt.out, "  failed %" PRIu64, probes[i].fail->failed);
			fputc('\n', opt.out);
		}
	}
}

static void print_us(const char *name, uint64_t ns)
{
	fprintf(opt.out, "  %s %" PRIu64 ".%03" PRIu64 "us", name, ns / 1000, ns % 1000);
}

static void print_hist_json(const struct fn_hist *fh, uint64_t missed)
{
	uint64_t count = uprobe_hist_count(fh->h);
	bool first = true;

	fputs("{\"probe\": ", opt.out);
	json_string(opt.out, fh->label);
	fprintf(opt.out, ", \"count\": %" PRIu64 ", \"missed\": %" PRIu64, count, missed);
	if (count)
		fprintf(opt.out,
			", \"min_ns\": %" PRIu64 ", \"avg_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64
			", \"sum_ns\": %" PRIu64,
			uprobe_hist_min(fh->h), uprobe_hist_mean(fh->h), uprobe_hist_max(fh->h),
			uprobe_hist_sum(fh->h));
	else
		fputs(", \"min_ns\": null, \"avg_ns\": null, \"max_ns\": null, \"sum_ns\": 0",
		      opt.out);
	/* bpftrace's JSON form of a hist(): non-empty buckets, both bounds inclusive */
	fputs(", \"hist\": [", opt.out);
	for (unsigned k = 0; k < UPROBE_HIST_BUCKETS; k++) {
		uint64_t lo, hi, n = uprobe_hist_bucket(fh->h, k);

		if (!n)
			continue;
		uprobe_hist_bucket_range(k, &lo, &hi);
		fprintf(opt.out,
			"%s{\"min\": %" PRIu64 ", \"max\": %" PRIu64 ", \"count\": %" PRIu64 "}",
			first ? "" : ", ", lo, hi, n);
		first = false;
	}
	fputs("]}\n", opt.out);
}

/*
 * One function's histogram as bpftrace's hist() prints one (and bcc's
 * funclatency): from the first to the last non-empty bucket, bounds in ns.
 */
static void print_hist_text(const struct fn_hist *fh, uint64_t missed)
{
	uint64_t count = uprobe_hist_count(fh->h);

	fput_text(opt.out, fh->label);
	fprintf(opt.out, "  count %" PRIu64, count);
	if (count) {
		print_us("min", uprobe_hist_min(fh->h));
		print_us("avg", uprobe_hist_mean(fh->h));
		print_us("max", uprobe_hist_max(fh->h));
	}
	if (missed)
		fprintf(opt.out, "  missed %" PRIu64, missed);
	fputc('\n', opt.out);
	uprobe_hist_print(fh->h, opt.out, UPROBE_HIST_BPFTRACE);
	fputc('\n', opt.out);
}

/*
 * --hist at exit: one histogram per function, in the order probed. A
 * function a wildcard matched that was never called (nor left without
 * returning) is left out; one named explicitly is shown with count 0.
 */
static void print_hists(void)
{
	if (hist_lost)
		errline("out of memory: %" PRIu64 " calls left out of the histograms", hist_lost);
	for (size_t i = 0; i < nprobes; i++) {
		const struct fn_hist *fh = probes[i].hist;
		uint64_t missed;

		if (!fh)
			continue;
		missed = uprobe_missed(probes[i].up);
		if (fh->from_wildcard && !uprobe_hist_count(fh->h) && !missed)
			continue;
		if (opt.json)
			print_hist_json(fh, missed);
		else
			print_hist_text(fh, missed);
	}
}

static int status_to_exit(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_RUNTIME;
}

/* Waits for our (detached) child; its exit code, or -1 if it was already reaped. */
static int wait_child(pid_t child)
{
	int status;

	for (;;) {
		if (waitpid(child, &status, 0) == child)
			return status_to_exit(status);
		if (errno != EINTR)
			return -1;
	}
}

/* A runtime error before run(): a spawned child dies, an attached process is let go. */
static int give_up(pid_t child)
{
	if (child > 0)
		kill(child, SIGKILL);
	uprobe_tracer_free(tracer);
	tracer = NULL;
	if (child > 0)
		wait_child(child);
	return EXIT_RUNTIME;
}

/* The version, and which paths libuprobe takes on this machine (uprobe_caps()). */
static void print_version(void)
{
	unsigned caps = uprobe_caps();

	printf(PROG " (libuprobe) " UPROBE_TRACE_VERSION "\nmachine:");
	for (unsigned bit = 1; bit && uprobe_cap_name(bit); bit <<= 1)
		printf("%s %s %s", bit == 1 ? "" : ",", uprobe_cap_name(bit), caps & bit ? "yes" : "no");
	printf("\n");
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

/*
 * -p of ourselves or of one of our ancestors (`-p $$` from a shell): the
 * process we would stop and hold waits for us, or holds our terminal or
 * the pipe we write to, and the two of us would wait for each other.
 * 0, or -1 after printing the one-line error.
 */
static int refuse_ancestor(pid_t pid)
{
	pid_t a = getpid();

	if (pid == a) {
		errline("pid %d is " PROG " itself", (int)pid);
		return -1;
	}
	for (unsigned depth = 0; a > 1 && depth < 4096; depth++) {
		a = parent_of(a);
		if (a == pid) {
			errline("pid %d is an ancestor of " PROG " (%s): tracing it would deadlock",
				(int)pid, depth ? "a parent of its parent" : "its parent");
			return -1;
		}
	}
	return 0;
}

/*
 * The spawn ended before the command's entry point, with the command
 * there: it died (in the dynamic linker, a constructor: its status, as a
 * shell gives it, and the library's line saying how), or a stop let it go
 * untraced (then it is waited for, as after a stop in run()).
 */
static int spawn_ended(int err, pid_t child)
{
	int status = uprobe_tracer_exit_status(tracer, child);

	struct uprobe_tracer *t = tracer;

	if (err != -EINTR)
		errline("%s", lib_error(err));
	tracer = NULL; /* before the free: on_signal() may look */
	uprobe_tracer_free(t);
	if (err == -EINTR)
		status = wait_child(child);
	else if (status >= 0)
		status = status_to_exit(status);
	return status >= 0 ? status : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "count", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "args", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "follow-forks", no_argument, NULL, 'f' },
		{ "events", no_argument, NULL, 'e' },
		{ "nostop", no_argument, NULL, 'n' },
		{ "str", required_argument, NULL, 's' },
		{ "duration", no_argument, NULL, 'd' },
		{ "hist", no_argument, NULL, 'H' },
		{ "stack", optional_argument, NULL, 'K' }, /* long only: -s is --str */
		{ "fail", required_argument, NULL, OPT_FAIL },
		{ "fail-every", required_argument, NULL, OPT_FAIL_EVERY },
		{ "fail-value", required_argument, NULL, OPT_FAIL_VALUE },
		{ "fail-count", required_argument, NULL, OPT_FAIL_COUNT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	char **command = NULL;
	int dashdash = argc, c, err = 0, code;
	pid_t child = 0, target;
	bool spawned = false, detached = true;
	struct sigaction sa;

	clock_gettime(CLOCK_MONOTONIC, &opt.start);

	/* Everything after the first "--" is the command, never options or probes. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dashdash = i;
			break;
		}
	}
	opterr = 0;
	while ((c = getopt_long(dashdash, argv, ":p:cja:o:vfens:dHhV", longopts, NULL)) != -1) {
		uint64_t v;

		switch (c) {
		case 'p':
			if (!parse_u64(optarg, &v) || !v || v > INT_MAX)
				usage_error("bad pid '%s'", optarg);
			opt.pid = (pid_t)v;
			break;
		case 'c':
			opt.count = true;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'a':
			if (!parse_u64(optarg, &v) || v > 6)
				usage_error("bad --args '%s' (expected 0 to 6)", optarg);
			opt.nargs = (unsigned)v;
			opt.nargs_given = true;
			break;
		case 's':
			if (!parse_u64(optarg, &v) || v >= STR_ARGS)
				usage_error("bad --str '%s' (expected 0 to %d)", optarg, STR_ARGS - 1);
			opt.str_mask |= 1u << v;
			break;
		case 'd':
			opt.duration = true;
			break;
		case 'e':
			opt.events = true;
			break;
		case 'H':
			opt.hist = true;
			break;
		case 'o':
			opt.out_path = optarg;
			break;
		case 'v':
			opt.verbose++;
			break;
		case 'f':
			opt.follow = true;
			break;
		case 'n':
			opt.nostop = true;
			break;
		case 'K':
			opt.stack = STACK_DEFAULT;
			if (optarg && (!parse_u64(optarg, &v) || !v || v > STACK_MAX))
				usage_error("bad --stack '%s' (expected 1 to %d)", optarg, STACK_MAX);
			if (optarg)
				opt.stack = (int)v;
			break;
		case OPT_FAIL: {
			struct fail_fn *n = realloc(fails, (nfails + 1) * sizeof(*n));

			if (!n) {
				errline("out of memory");
				return EXIT_RUNTIME;
			}
			fails = n;
			memset(&fails[nfails], 0, sizeof(*fails));
			parse_fail(optarg, &fails[nfails++]);
			break;
		}
		case OPT_FAIL_EVERY:
			if (!parse_u64(optarg, &v) || !v)
				usage_error("bad --fail-every '%s' (expected a number from 1)", optarg);
			opt.fail_every = v;
			break;
		case OPT_FAIL_VALUE:
			if (!parse_value(optarg, &v))
				usage_error("bad --fail-value '%s' (expected a 64-bit integer: decimal "
					    "or 0x hex, may be negative)", optarg);
			opt.fail_value = v;
			opt.fail_value_given = true;
			break;
		case OPT_FAIL_COUNT:
			if (!parse_u64(optarg, &v) || !v)
				usage_error("bad --fail-count '%s' (expected a number from 1)", optarg);
			opt.fail_count = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			print_version();
			return 0;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	nspecs = (size_t)(dashdash - optind);
	if (!nspecs && !nfails)
		usage_error("no probes given");
	if (!nfails && (opt.fail_every || opt.fail_value_given || opt.fail_count))
		usage_error("%s without --fail", opt.fail_every ? "--fail-every" :
			    opt.fail_value_given ? "--fail-value" : "--fail-count");
	if (!opt.fail_every)
		opt.fail_every = 1;
	specs = calloc(nspecs, sizeof(*specs));
	if (!specs) {
		errline("out of memory");
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < nspecs; i++)
		parse_probe(argv[optind + (int)i], &specs[i]);
	if (dashdash + 1 < argc)
		command = &argv[dashdash + 1];
	if (opt.pid && command)
		usage_error("both -p and a command given");
	/* a hit read from the ring comes after its thread ran on: no stack to walk */
	if (opt.stack && opt.nostop)
		usage_error("--stack needs hits that stop: not with --nostop");
	if (opt.stack && (opt.count || opt.hist))
		usage_error("--stack prints under each hit line: not with %s",
			    opt.count ? "--count" : "--hist");
	if (!opt.pid && !command)
		usage_error("no command given (use -p PID or -- COMMAND [ARG...])");
	if (opt.hist)
		check_hist_options();
	if (opt.str_mask)
		check_str_options();
	opt.lines = !opt.count && !opt.hist;
	if (opt.duration) {
		bool any_ret = false;

		if (!opt.lines)
			usage_error("--duration shows return lines: not with %s",
				    opt.count ? "--count" : "--hist");
		for (size_t i = 0; i < nspecs; i++)
			any_ret |= specs[i].kind == 'r';
		if (!any_ret)
			usage_error("--duration shows return lines: no return probe "
				    "(r:BINARY:SYMBOL) given");
	}

	uprobe_set_print(print_fn);
	opt.out = stdout;
	if (opt.out_path) {
		/* Close-on-exec: the traced command must not inherit the trace file. */
		opt.out = fopen(opt.out_path, "we");
		if (!opt.out) {
			errline("%s: %s", opt.out_path, strerror(errno));
			return EXIT_RUNTIME;
		}
	}

	tracer = uprobe_tracer_new();
	if (!tracer) {
		errline("%s", strerror(errno));
		return EXIT_RUNTIME;
	}

	/*
	 * The command gets the signal state the shell gave us, not our
	 * handlers: what was ignored stays ignored in it (nohup's SIGHUP, the
	 * SIGINT of a background job), and the mask is the one we started with.
	 */
	sigprocmask(SIG_SETMASK, NULL, &orig_mask);
	sigemptyset(&orig_ignored);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction cur;

		if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler == SIG_IGN)
			sigaddset(&orig_ignored, sig);
	}
	/*
	 * No SA_RESTART: the tracer's blocked wait must return so run() sees the
	 * stop. SIGINT and SIGTERM always stop tracing; SIGHUP and SIGPIPE (the
	 * reader of the trace went away) only when they were not ignored: under
	 * nohup the tracer goes on through a hang-up as the command does.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!sigismember(&orig_ignored, SIGHUP))
		sigaction(SIGHUP, &sa, NULL);
	if (!sigismember(&orig_ignored, SIGPIPE))
		sigaction(SIGPIPE, &sa, NULL);

	if (opt.follow)
		uprobe_tracer_follow_forks(tracer, true);
	if (opt.events)
		uprobe_tracer_on_event(tracer, on_event, NULL);
	/* Spawn or attach first: library names ("libc") resolve against the tracee's maps. */
	lib_quiet = true;
	fflush(NULL);
	if (command) {
		UPROBE_OPTS(uprobe_spawn_opts, so, .sigmask = &orig_mask, .sigignore = &orig_ignored);

		err = uprobe_tracer_spawn_opts(tracer, command, &child, &so);
		if (err && child > 0)
			return spawn_ended(err, child);
		if (err) {
			/* The library's message names the program ("spawn: prog: No such file..."). */
			if (*uprobe_tracer_errmsg(tracer))
				errline("%s", lib_error(err));
			else
				errline("cannot run '%s': %s", command[0],
					strerror(-err));
			return give_up(0);
		}
		spawned = true;
		target = child;
	} else {
		if (refuse_ancestor(opt.pid))
			return give_up(0);
		err = uprobe_tracer_attach(tracer, opt.pid);
		if (err) {
			if (*uprobe_tracer_errmsg(tracer))
				errline("%s", lib_error(err));
			else
				errline("cannot attach to pid %d: %s", (int)opt.pid,
					strerror(-err));
			return give_up(0);
		}
		target = opt.pid;
	}
	lib_quiet = false;

	if (add_probes(specs, nspecs, target) || add_fails(target))
		return give_up(spawned ? child : 0);

	if (!stop_requested) {
		err = uprobe_tracer_run(tracer);
		if (err < 0)
			errline("%s", lib_error(err));
		else if (fail_err)
			err = fail_err; /* said by on_fail() */
	}
	/* run() returned early (a stop or a failure): tracees are still attached. */
	if (stop_requested || err < 0) {
		/* Let the programs go on unharmed, without probes. */
		int derr = uprobe_tracer_detach(tracer);

		if (derr < 0) {
			errline("detach: %s", lib_error(derr));
			detached = false;
			err = err < 0 ? err : derr;
		}
	}

	if (opt.count)
		print_counts();
	if (opt.hist)
		print_hists();
	report_never_loaded();
	if (fflush(opt.out) || (opt.out != stdout && fclose(opt.out))) {
		errline("%s: %s", opt.out_path ? opt.out_path : "stdout",
			strerror(errno));
		err = err < 0 ? err : -EIO;
	}

	code = err < 0 ? EXIT_RUNTIME : 0;
	if (spawned) {
		int status = uprobe_tracer_exit_status(tracer, child);

		if (status >= 0)
			status = status_to_exit(status);
		else if (detached)
			status = wait_child(child); /* it ended after the detach, or still runs */
		if (!code)
			code = status >= 0 ? status : EXIT_RUNTIME;
	}
	uprobe_tracer_free(tracer);
	for (size_t i = 0; i < nprobes; i++) {
		if (probes[i].owned)
			free(probes[i].label);
		if (probes[i].hist)
			uprobe_hist_free(probes[i].hist->h);
		free(probes[i].hist);
		free(probes[i].usdt_prefix);
	}
	free(probes);
	for (size_t i = 0; i < nspecs; i++) {
		free(specs[i].binary);
		free(specs[i].symbol);
		free(specs[i].provider);
	}
	free(specs);
	for (size_t i = 0; i < nfails; i++) {
		free(fails[i].ps.binary);
		free(fails[i].ps.symbol);
		free(fails[i].label);
	}
	free(fails);
	return code;
}
