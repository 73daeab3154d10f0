// SPDX-License-Identifier: LGPL-2.1-or-later
/* uprobe-trace: command-line tracer printing or counting uprobe hits, on the public API. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
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
	OPT_FILTER,
	OPT_NO_LIVE,
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
	/* a PROBE's handler data: its label and the hits that passed --filter */
	struct probe_hits *ph;
};

/*
 * The handler data of a PROBE's probe. With --filter the library's count
 * is no longer what --count shows: the hits that passed are counted here.
 */
struct probe_hits {
	const char *label;
	uint64_t hits;     /* passed --filter (all hits without one) */
	uint64_t filtered; /* left out by --filter */
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
	bool no_live; /* --no-live */
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
const char tool_prog[] = PROG;

/* The library's last message, or strerror(err): see tool_lib_error(). */
static const char *lib_error(int err)
{
	return tool_lib_error(tracer, err);
}
static volatile sig_atomic_t stop_requested;
/* The signal mask and ignored signals we started with: the spawned command's. */
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
		"                    arguments as at the hit; r: probes and --hist too (the\n"
		"                    return is recorded on its way back to the caller). With\n"
		"                    --count (no --filter, no live line), a hit only adds 1 to a\n"
		"                    counter in the program.\n"
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
		"      --filter EXPR  only the hits for which EXPR holds are printed and counted\n"
		"                    (--count, --hist, --duration, the live line); for every\n"
		"                    PROBE, as all options are (not --fail calls); repeatable,\n"
		"                    each must hold. Operands: arg0-arg5 (a return probe's as at\n"
		"                    its call's entry; USDT: the point's), ret (return probes\n"
		"                    only), pid, tid (0 in a no-stop hit it could not tell), comm\n"
		"                    (the thread's name); numbers: decimal, 0x hex, -N; \"strings\".\n"
		"                    Operators: == != < <= > >=, comm ~ \"GLOB\" and !~, & (tighter\n"
		"                    than comparisons, unlike C), !, &&, ||, parentheses. Values\n"
		"                    are 64-bit signed: s8() s16() s32() s64() u8() u16() u32()\n"
		"                    u64() convert (s32(ret) < 0 for a function returning int).\n"
		"                    Cost: a hit left out still stopped the program (a no-stop\n"
		"                    hit was still recorded): it is tested in the tracer.\n"
		"                    --count adds \"filtered N\".\n"
		"                    E.g. --filter 'arg0 > 4096 && comm == \"nginx\"'\n"
		"      --no-live     no live line. By default, while stderr is a terminal and hit\n"
		"                    lines do not go to it too (--count, --hist, -o FILE, stdout\n"
		"                    elsewhere), a line there says the hits so far and hits/s,\n"
		"                    redrawn each second and erased at exit (the program's own\n"
		"                    output to that terminal may come after it on its line)\n"
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

/*
 * The live line: "uprobe-trace: N hits, R/s" on a terminal's stderr,
 * redrawn in place each second by a thread of its own while run() waits,
 * from counters the handlers bump. Whoever else writes to stderr meanwhile
 * takes live_mutex and erases it first; the next tick draws it again.
 */
static struct {
	bool on;
	bool done;      /* tells the thread to end */
	bool drawn;     /* a line is on the terminal */
	pthread_t thread;
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	uint64_t hits;     /* PROBE hits that passed --filter, and --fail calls: atomic */
	uint64_t filtered; /* atomic */
} live = { .mutex = PTHREAD_MUTEX_INITIALIZER };

/* Erases the live line: back to the line's start, cleared to its end. */
static void live_erase(void)
{
	static const char erase[] = "\r\033[K";
	/* a write that fails: the terminal is gone, and with it what there was to erase */
	ssize_t n = write(STDERR_FILENO, erase, sizeof(erase) - 1);

	(void)n;
	live.drawn = false;
}

/* Before a write to stderr: the live line erased, and kept away until live_unlock(). */
static void live_lock(void)
{
	if (!live.on)
		return;
	pthread_mutex_lock(&live.mutex);
	if (live.drawn)
		live_erase();
}

static void live_unlock(void)
{
	if (live.on)
		pthread_mutex_unlock(&live.mutex);
}

/* tool_errline()'s lines keep the live line away too */
static void live_hook(bool before)
{
	if (before)
		live_lock();
	else
		live_unlock();
}

static int print_fn(enum uprobe_print_level level, const char *fmt, va_list ap)
{
	if (level == UPROBE_DEBUG && opt.verbose < 2)
		return 0;
	if (level == UPROBE_INFO && opt.verbose < 1)
		return 0;
	int n;

	if (level == UPROBE_WARN && lib_quiet && !opt.verbose) {
		vsnprintf(lib_warned, sizeof(lib_warned), fmt, ap);
		return 0;
	}
	live_lock();
	n = vfprintf(stderr, fmt, ap);
	live_unlock();
	return n;
}

/* ---- Text that came from a file or a process ---- */

/* ---- PROBE parsing ---- */

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
		tool_errline("out of memory");
		exit(EXIT_RUNTIME);
	}
	return;
bad:
	tool_usage_error("bad probe '%s' (expected usdt:BINARY:PROVIDER:NAME)", text);
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
		tool_errline("out of memory");
		exit(EXIT_RUNTIME);
	}

	if (ps->symbol[0] >= '0' && ps->symbol[0] <= '9') {
		/* No symbol starts with a digit: this is a file offset. */
		if (ps->symbol[0] != '0' || (ps->symbol[1] != 'x' && ps->symbol[1] != 'X') ||
		    !tool_parse_u64(ps->symbol, &ps->offset))
			tool_usage_error("bad file offset in probe '%s' (expected 0xHEX)", text);
		free(ps->symbol);
		ps->symbol = NULL;
	} else if ((plus = strrchr(ps->symbol, '+'))) {
		if (plus == ps->symbol || !tool_parse_u64(plus + 1, &ps->offset))
			tool_usage_error("bad offset in probe '%s' (expected SYMBOL+N or SYMBOL+0xN)", text);
		*plus = '\0';
	}
	if (ps->kind == 'r' && (!ps->symbol || ps->offset))
		tool_usage_error("return probe '%s' must name a function (r:BINARY:SYMBOL)", text);
	ps->wildcard = ps->symbol && strpbrk(ps->symbol, "*?[");
	return;
bad:
	tool_usage_error("bad probe '%s' (expected u:BINARY:SYMBOL[+OFFSET], u:BINARY:0xFILEOFFSET "
		    "or r:BINARY:SYMBOL)",
		    text);
}

/* ---- --filter ---- */

/*
 * A --filter expression, parsed once into a tree before the program is
 * touched, evaluated at each hit in the tracer. Precedence, low to high:
 * ||, &&, comparisons (== != < <= > >= and ~ !~ for a glob on comm; not
 * chained), & (tighter than comparisons, unlike C: "arg1 & 4 == 4" means
 * what it reads), then ! and operands. An integer alone is true when it is
 * not 0. Values are 64-bit, compared signed unless an operand is unsigned
 * (a u8/u16/u32/u64() cast, a literal above INT64_MAX): "ret < 0" finds
 * errors of a function returning long; s32(ret) those of one returning int.
 */
enum fnode_kind {
	F_NUM, F_STR, F_ARG, F_RET, F_PID, F_TID, F_COMM,
	F_CAST, F_NOT, F_BAND, F_AND, F_OR, F_CMP,
};

enum fcmp { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_GLOB, C_NGLOB };

struct fnode {
	enum fnode_kind kind;
	enum fcmp cmp;
	bool is_str;   /* a string: comm or a literal */
	bool uns;      /* compared unsigned */
	unsigned bits; /* F_CAST: 8, 16, 32 or 64 */
	int64_t val;   /* F_NUM; F_ARG: the argument's number */
	char *str;     /* F_STR */
	struct fnode *l, *r;
	struct fnode *all; /* every node made, so that none is lost on a parse error's exit */
};

/* What a hit gives the filter: args NULL reads them from the hit (entry, USDT). */
struct fctx {
	struct uprobe_hit *h;
	const uint64_t *args; /* a return probe's arguments, saved at the call's entry */
	bool usdt;
	bool missing; /* an operand the hit does not have (a USDT argument, a gone comm) */
};

struct fparser {
	const char *text; /* the whole --filter argument */
	const char *p;
	const char *tok;  /* start of the token being looked at */
	bool uses_ret;
	int ret_pos;
};

static struct fnode *filter;
/* The first --filter that reads ret, and where: refused unless every PROBE is a return probe. */
static const char *filter_ret;
static int filter_ret_pos;

/* "--filter 'TEXT': WHY 'TOKEN' at position N (HINT)": the token at is the bad one. */
static void __attribute__((noreturn)) filter_error(struct fparser *fp, const char *at,
						   const char *why, const char *hint)
{
	int pos = (int)(at - fp->text) + 1;
	int len = 1;

	if (!*at)
		tool_usage_error("--filter '%s': %s end of input at position %d%s%s%s", fp->text, why,
			    pos, hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	/* the token: a word, a number, a string or one operator */
	if ((*at >= 'a' && *at <= 'z') || (*at >= '0' && *at <= '9') || *at == '_') {
		while ((at[len] >= 'a' && at[len] <= 'z') || (at[len] >= 'A' && at[len] <= 'Z') ||
		       (at[len] >= '0' && at[len] <= '9') || at[len] == '_')
			len++;
	} else if (strchr("=!<>&|", *at) && at[1] && strchr("=&|~", at[1])) {
		len = 2;
	}
	tool_usage_error("--filter '%s': %s '%.*s' at position %d%s%s%s", fp->text, why, len, at, pos,
		    hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
}

static struct fnode *fnode_all;

static struct fnode *fnode_new(struct fparser *fp, enum fnode_kind kind)
{
	struct fnode *n = calloc(1, sizeof(*n));

	if (!n) {
		tool_errline("out of memory");
		exit(EXIT_RUNTIME);
	}
	n->all = fnode_all;
	fnode_all = n;
	n->kind = kind;
	return n;
}

static void fskip(struct fparser *fp)
{
	while (*fp->p == ' ' || *fp->p == '\t' || *fp->p == '\n')
		fp->p++;
	fp->tok = fp->p;
}

/* Consumes the one-character token c ("!" not of "!=" or "!~"). */
static bool faccept(struct fparser *fp, char c)
{
	fskip(fp);
	if (*fp->p != c || (c == '!' && (fp->p[1] == '=' || fp->p[1] == '~')))
		return false;
	fp->p++;
	return true;
}

static struct fnode *fparse_expr(struct fparser *fp, int min_prec);

static struct fnode *fparse_number(struct fparser *fp, bool neg)
{
	const char *start = fp->p;
	struct fnode *n;
	uint64_t v;
	char *end;
	int base = 10;

	if (start[0] == '0' && (start[1] == 'x' || start[1] == 'X'))
		base = 16;
	errno = 0;
	v = strtoull(start + (base == 16 ? 2 : 0), &end, base);
	if (errno || end == start + (base == 16 ? 2 : 0) || (*end >= 'a' && *end <= 'z') ||
	    (*end >= 'A' && *end <= 'Z') || (*end >= '0' && *end <= '9') || *end == '_')
		filter_error(fp, start, "bad number", "decimal, 0x hex, or -decimal");
	if (neg && v > (uint64_t)INT64_MAX + 1)
		filter_error(fp, start, "number out of range", "64 bits");
	fp->p = end;
	n = fnode_new(fp, F_NUM);
	n->val = neg ? (int64_t)-v : (int64_t)v;
	n->uns = !neg && v > (uint64_t)INT64_MAX;
	return n;
}

static struct fnode *fparse_string(struct fparser *fp)
{
	const char *start = fp->p;
	struct fnode *n = fnode_new(fp, F_STR);
	size_t len = 0;
	char *s = malloc(strlen(start));

	if (!s) {
		tool_errline("out of memory");
		exit(EXIT_RUNTIME);
	}
	n->str = s; /* the node's from here: an error below loses nothing */
	for (fp->p++; *fp->p != '"'; fp->p++) {
		if (!*fp->p)
			filter_error(fp, start, "unterminated string", NULL);
		if (*fp->p == '\\' && (fp->p[1] == '"' || fp->p[1] == '\\'))
			fp->p++;
		s[len++] = *fp->p;
	}
	fp->p++;
	s[len] = '\0';
	n->is_str = true;
	return n;
}

/* arg0-arg5, ret, pid, tid, comm, or a cast s8()...u64(). */
static struct fnode *fparse_word(struct fparser *fp)
{
	static const char *const casts[] = { "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64" };
	const char *start = fp->p;
	struct fnode *n;
	size_t len = 0;

	while ((start[len] >= 'a' && start[len] <= 'z') || (start[len] >= '0' && start[len] <= '9') ||
	       start[len] == '_' || (start[len] >= 'A' && start[len] <= 'Z'))
		len++;
	fp->p = start + len;
	if (len == 4 && !strncmp(start, "arg", 3) && start[3] >= '0' && start[3] <= '5') {
		n = fnode_new(fp, F_ARG);
		n->val = start[3] - '0';
		return n;
	}
	if (len == 3 && !strncmp(start, "ret", 3)) {
		if (!fp->uses_ret)
			fp->ret_pos = (int)(start - fp->text) + 1;
		fp->uses_ret = true;
		return fnode_new(fp, F_RET);
	}
	if (len == 3 && !strncmp(start, "pid", 3))
		return fnode_new(fp, F_PID);
	if (len == 3 && !strncmp(start, "tid", 3))
		return fnode_new(fp, F_TID);
	if (len == 4 && !strncmp(start, "comm", 4)) {
		n = fnode_new(fp, F_COMM);
		n->is_str = true;
		return n;
	}
	for (size_t i = 0; i < sizeof(casts) / sizeof(casts[0]); i++) {
		if (strlen(casts[i]) != len || strncmp(start, casts[i], len))
			continue;
		if (!faccept(fp, '('))
			filter_error(fp, fp->tok, "expected '(' after a cast, got", NULL);
		n = fnode_new(fp, F_CAST);
		n->uns = start[0] == 'u';
		n->bits = (unsigned)atoi(start + 1);
		n->l = fparse_expr(fp, 0);
		if (n->l->is_str)
			filter_error(fp, start, "cannot cast a string:", NULL);
		if (!faccept(fp, ')'))
			filter_error(fp, fp->tok, "expected ')', got", NULL);
		return n;
	}
	filter_error(fp, start, "unknown operand",
		     "expected arg0-arg5, ret, pid, tid, comm or a cast s8() to u64()");
}

static struct fnode *fparse_unary(struct fparser *fp)
{
	struct fnode *n;

	fskip(fp);
	if (faccept(fp, '!')) {
		const char *at = fp->tok;

		n = fnode_new(fp, F_NOT);
		n->l = fparse_unary(fp);
		if (n->l->is_str)
			filter_error(fp, at, "'!' of a string:", NULL);
		return n;
	}
	if (faccept(fp, '(')) {
		n = fparse_expr(fp, 0);
		if (!faccept(fp, ')'))
			filter_error(fp, fp->tok, "expected ')', got", NULL);
		return n;
	}
	if (*fp->p == '-' && fp->p[1] >= '0' && fp->p[1] <= '9') {
		fp->p++;
		return fparse_number(fp, true);
	}
	if (*fp->p >= '0' && *fp->p <= '9')
		return fparse_number(fp, false);
	if (*fp->p == '"')
		return fparse_string(fp);
	if ((*fp->p >= 'a' && *fp->p <= 'z') || (*fp->p >= 'A' && *fp->p <= 'Z') || *fp->p == '_')
		return fparse_word(fp);
	filter_error(fp, fp->p, "expected an operand, got",
		     "arg0-arg5, ret, pid, tid, comm, a number, a \"string\", '!' or '('");
}

struct fbinop {
	const char *text;
	enum fnode_kind kind;
	enum fcmp cmp;
	int prec;
};

/* Longest first: "<=" before "<", "!~" before... "!" is no binary operator. */
static const struct fbinop fbinops[] = {
	{ "||", F_OR, 0, 1 },   { "&&", F_AND, 0, 2 }, { "==", F_CMP, C_EQ, 3 },
	{ "!=", F_CMP, C_NE, 3 }, { "<=", F_CMP, C_LE, 3 }, { ">=", F_CMP, C_GE, 3 },
	{ "!~", F_CMP, C_NGLOB, 3 }, { "<", F_CMP, C_LT, 3 }, { ">", F_CMP, C_GT, 3 },
	{ "~", F_CMP, C_GLOB, 3 }, { "&", F_BAND, 0, 4 },
};

static const struct fbinop *fpeek_binop(struct fparser *fp)
{
	fskip(fp);
	for (size_t i = 0; i < sizeof(fbinops) / sizeof(fbinops[0]); i++) {
		size_t n = strlen(fbinops[i].text);

		if (strncmp(fp->p, fbinops[i].text, n))
			continue;
		/* "&" of "&&", "=" alone and "|" alone are no operators here */
		if (n == 1 && *fbinops[i].text == '&' && fp->p[1] == '&')
			continue;
		return &fbinops[i];
	}
	return NULL;
}

/* Types: strings only in ==, !=, ~, !~ between comm and a literal. */
static void fcheck_binop(struct fparser *fp, const char *at, struct fnode *n)
{
	bool ls = n->l->is_str, rs = n->r->is_str;

	if (n->kind == F_CMP && (ls || rs)) {
		if (!(ls && rs) || (n->l->kind == F_COMM) == (n->r->kind == F_COMM))
			filter_error(fp, at, "comm compares with a \"string\" only:", NULL);
		if (n->cmp != C_EQ && n->cmp != C_NE && n->cmp != C_GLOB && n->cmp != C_NGLOB)
			filter_error(fp, at, "strings compare with ==, !=, ~ or !~ only, not", NULL);
		return;
	}
	if (n->kind == F_CMP && (n->cmp == C_GLOB || n->cmp == C_NGLOB))
		filter_error(fp, at, "a glob matches comm against a \"string\":", NULL);
	if (ls || rs)
		filter_error(fp, at, "a string cannot be an operand of", NULL);
}

static struct fnode *fparse_expr(struct fparser *fp, int min_prec)
{
	struct fnode *left = fparse_unary(fp);
	const struct fbinop *op;

	while ((op = fpeek_binop(fp)) && op->prec >= min_prec) {
		const char *at = fp->p;
		struct fnode *n = fnode_new(fp, op->kind);

		fp->p += strlen(op->text);
		n->cmp = op->cmp;
		n->l = left;
		n->r = fparse_expr(fp, op->prec + 1);
		fcheck_binop(fp, at, n);
		n->uns = n->kind == F_BAND && (n->l->uns || n->r->uns);
		left = n;
		/* "a < b < c" is no range test in C either: refused rather than guessed */
		if (op->prec == 3 && (op = fpeek_binop(fp)) && op->prec == 3)
			filter_error(fp, fp->p, "comparisons do not chain:", "use &&");
	}
	return left;
}

/* Parses one --filter; several are ANDed. Refused with one line naming the bad token. */
static void parse_filter(const char *text)
{
	struct fparser fp = { .text = text, .p = text };
	struct fnode *n = fparse_expr(&fp, 0);

	fskip(&fp);
	if (*fp.p)
		filter_error(&fp, fp.p, *fp.p == ')' ? "unbalanced" : "unexpected", NULL);
	if (n->is_str)
		tool_usage_error("--filter '%s': comm alone is no condition (comm == \"NAME\")", text);
	if (fp.uses_ret && !filter_ret) {
		filter_ret = text;
		filter_ret_pos = fp.ret_pos;
	}
	if (filter) {
		struct fnode *both = fnode_new(&fp, F_AND);

		both->l = filter;
		both->r = n;
		n = both;
	}
	filter = n;
}

static void filter_free(struct fnode *n)
{
	if (!n)
		return;
	filter_free(n->l);
	filter_free(n->r);
	free(n->str);
	free(n);
}

static int64_t feval(const struct fnode *n, struct fctx *c);

static bool fcompare(const struct fnode *n, struct fctx *c)
{
	int64_t a, b;
	bool uns;

	if (n->l->is_str) {
		const char *comm = uprobe_hit_comm(c->h);
		const char *lit = n->l->kind == F_STR ? n->l->str : n->r->str;
		bool match;

		if (!comm) {
			c->missing = true;
			return false;
		}
		match = n->cmp == C_EQ || n->cmp == C_NE ? !strcmp(comm, lit) :
							   !fnmatch(lit, comm, 0);
		return n->cmp == C_EQ || n->cmp == C_GLOB ? match : !match;
	}
	a = feval(n->l, c);
	b = feval(n->r, c);
	uns = n->l->uns || n->r->uns;

	switch (n->cmp) {
	case C_EQ:
		return a == b;
	case C_NE:
		return a != b;
	case C_LT:
		return uns ? (uint64_t)a < (uint64_t)b : a < b;
	case C_LE:
		return uns ? (uint64_t)a <= (uint64_t)b : a <= b;
	case C_GT:
		return uns ? (uint64_t)a > (uint64_t)b : a > b;
	default: /* C_GE */
		return uns ? (uint64_t)a >= (uint64_t)b : a >= b;
	}
}

static int64_t fcast(int64_t v, unsigned bits, bool uns)
{
	if (bits == 64)
		return v;
	if (uns)
		return (int64_t)((uint64_t)v & ((1ull << bits) - 1));
	return bits == 32 ? (int32_t)v : bits == 16 ? (int16_t)v : (int8_t)v;
}

static int64_t farg(unsigned i, struct fctx *c)
{
	int64_t v;

	if (c->args)
		return (int64_t)c->args[i];
	if (!c->usdt)
		return (int64_t)uprobe_hit_arg(c->h, i);
	/* a USDT point's argument as the program passed it, sign-extended per its spec */
	if (uprobe_hit_usdt_arg(c->h, i, &v, NULL)) {
		c->missing = true;
		return 0;
	}
	return v;
}

static int64_t feval(const struct fnode *n, struct fctx *c)
{
	switch (n->kind) {
	case F_NUM:
		return n->val;
	case F_ARG:
		return farg((unsigned)n->val, c);
	case F_RET:
		return (int64_t)uprobe_hit_regs(c->h)->rax;
	case F_PID:
		return uprobe_hit_pid(c->h);
	case F_TID:
		return uprobe_hit_tid(c->h);
	case F_CAST:
		return fcast(feval(n->l, c), n->bits, n->uns);
	case F_NOT:
		return !feval(n->l, c);
	case F_BAND:
		return feval(n->l, c) & feval(n->r, c);
	case F_AND:
		return feval(n->l, c) && feval(n->r, c);
	case F_OR:
		return feval(n->l, c) || feval(n->r, c);
	case F_CMP:
		return fcompare(n, c);
	default: /* strings are checked away at parse time */
		return 0;
	}
}

/*
 * Whether a hit passes --filter (no filter: all do). A hit that lacks an
 * operand (a USDT point with fewer arguments, a thread gone before its
 * name was read) does not pass, whatever the expression says.
 */
static bool filter_pass(struct uprobe_hit *h, const uint64_t *args, bool usdt)
{
	struct fctx c = { .h = h, .args = args, .usdt = usdt };
	bool pass;

	if (!filter)
		return true;
	pass = feval(filter, &c) != 0;
	return pass && !c.missing;
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

/*
 * A return probe's call data, filled at the call's entry: its arguments
 * (for --filter) and the --str strings up to the highest one asked for.
 */
struct ret_data {
	uint64_t args[STR_ARGS];
	struct str_arg strs[];
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
	size_t n = s[i] >= 0x80 ? tool_utf8_printable(s + i) : 0;

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
 * A thread's name as one word of a line: escaped as tool_fput_text() does, and
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
		tool_fput_text(fp, part);
		comm += n;
		if (*comm == ' ') {
			fputs("\\x20", fp);
			comm++;
		}
	}
}

static void print_stack(struct uprobe_hit *h)
{
	uint64_t pcs[STACK_MAX];
	int n = uprobe_hit_backtrace(h, pcs, opt.stack);

	if (opt.json)
		fputs(", \"stack\": [", opt.out);
	for (int i = 0; i < n; i++) {
		/* callers' frames are return addresses: looked up one byte back, where the call is */
		char *text = tool_frame_text(tracer, uprobe_hit_pid(h), pcs[i],
					     i ? UPROBE_FRAME_CALLER : 0);

		if (opt.json) {
			fputs(i ? ", " : "", opt.out);
			json_string(opt.out, text ? text : "?");
		} else {
			fputs("    ", opt.out);
			tool_fput_text(opt.out, text ? text : "?");
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
	tool_fput_text(opt.out, label);
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
		tool_fput_text(opt.out, label ? label : prefix);
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

/* Counts a hit of a PROBE that passed --filter, or one left out; true when it passed. */
static bool count_hit(struct probe_hits *ph, bool pass)
{
	if (!pass) {
		ph->filtered++;
		__atomic_fetch_add(&live.filtered, 1, __ATOMIC_RELAXED);
		return false;
	}
	ph->hits++;
	__atomic_fetch_add(&live.hits, 1, __ATOMIC_RELAXED);
	return true;
}

static int on_entry(struct uprobe_hit *h, void *data)
{
	struct probe_hits *ph = data;

	if (!count_hit(ph, filter_pass(h, NULL, false)))
		return 0;
	if (opt.lines) {
		print_hit(h, ph->label, false, NULL);
		check_output();
	}
	return 0;
}

static int on_usdt(struct uprobe_hit *h, void *data)
{
	struct probe_hits *ph = data;

	if (!count_hit(ph, filter_pass(h, NULL, true)))
		return 0;
	if (opt.lines) {
		print_usdt_hit(h, ph->label);
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
	__atomic_fetch_add(&live.hits, 1, __ATOMIC_RELAXED);
	if (fail_err || f->calls % opt.fail_every ||
	    (opt.fail_count && f->failed >= opt.fail_count))
		return 0;
	err = uprobe_hit_override_return(h, opt.fail_value);
	if (err) {
		/* refused before any change: stop here rather than trace without failing */
		tool_errline("--fail %s: %s", f->ps.text, lib_error(err));
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
	struct ret_data *rd = uprobe_hit_call_data(h);

	if (!rd)
		return 0;
	/* what --filter reads of the arguments at the return: they were in registers */
	for (unsigned i = 0; i < STR_ARGS; i++)
		rd->args[i] = uprobe_hit_arg(h, i);
	for (unsigned i = 0; i < STR_ARGS; i++)
		if (opt.str_mask & (1u << i))
			read_str_arg(h, rd->args[i], &rd->strs[i]);
	return 0;
}

static int on_return(struct uprobe_hit *h, void *data)
{
	struct probe_hits *ph = data;
	struct ret_data *rd = uprobe_hit_call_data(h);

	/* no call data: the entry was not seen (no memory for it); arguments cannot be told */
	if (!count_hit(ph, filter_pass(h, rd ? rd->args : NULL, false) && (rd || !filter)))
		return 0;
	if (opt.lines) {
		print_hit(h, ph->label, true, opt.str_mask && rd ? rd->strs : NULL);
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
		tool_fput_text(opt.out, ev->path);
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

/* Call data of a return probe: the arguments, and the --str ones up to the highest asked for. */
static size_t ret_data_size(void)
{
	unsigned top = 0;

	for (unsigned i = 0; i < STR_ARGS; i++)
		if (opt.str_mask & (1u << i))
			top = i + 1;
	return sizeof(struct ret_data) + top * sizeof(struct str_arg);
}

/* --hist with --filter: whether the call passed, decided at its entry where its arguments are. */
static int on_hist_entry(struct uprobe_hit *h, void *data)
{
	bool *pass = uprobe_hit_call_data(h);

	if (pass)
		*pass = filter_pass(h, NULL, false);
	return 0;
}

static int on_hist_return(struct uprobe_hit *h, void *data)
{
	struct fn_hist *fh = data;
	bool *pass = uprobe_hit_call_data(h);

	if (filter && !(pass && *pass))
		return 0;

	/* only a histogram's first value allocates: a failure there is said at exit */
	if (uprobe_hist_add(fh->h, uprobe_hit_duration_ns(h)))
		hist_lost++;
	return 0;
}

/* ---- The live line ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Draws the line with live.mutex held: the hits so far and their rate
 * since the last one (rate < 0: none, the last line).
 */
static void live_draw(uint64_t hits, int64_t rate)
{
	uint64_t filtered = __atomic_load_n(&live.filtered, __ATOMIC_RELAXED);
	char line[160];
	int n;

	n = snprintf(line, sizeof(line), "\r\033[K" PROG ": %" PRIu64 " hits", hits);
	if (rate >= 0 && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", %" PRId64 "/s", rate);
	if (filter && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", %" PRIu64 " filtered out",
			      filtered);
	if (n > 0 && write(STDERR_FILENO, line, strnlen(line, sizeof(line))) > 0)
		live.drawn = true;
}

static void *live_main(void *arg)
{
	uint64_t prev = 0, prev_ns = mono_ns();
	struct timespec until;

	pthread_mutex_lock(&live.mutex);
	while (!live.done) {
		uint64_t hits, now;

		/* a second from now, not from the last tick: a stalled thread does not catch up */
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec++;
		while (!live.done && pthread_cond_timedwait(&live.cond, &live.mutex, &until) == 0)
			;
		if (live.done)
			break;
		now = mono_ns();
		hits = __atomic_load_n(&live.hits, __ATOMIC_RELAXED);
		live_draw(hits, now > prev_ns ?
				(int64_t)((hits - prev) * 1000000000ull / (now - prev_ns)) : 0);
		prev = hits;
		prev_ns = now;
	}
	pthread_mutex_unlock(&live.mutex);
	return arg;
}

/*
 * Starts the live line when stderr is a terminal that hit lines do not go
 * to as well (they would scroll it away): with --count, --hist, -o FILE or
 * stdout elsewhere. A thread that cannot start only means no line.
 */
static bool live_wanted(void)
{
	return !opt.no_live && isatty(STDERR_FILENO) && !(opt.lines && isatty(fileno(opt.out)));
}

static void live_start(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	if (!live_wanted())
		return;
	if (pthread_condattr_init(&ca))
		return;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	/* signals go to the tracer's thread, whose wait they must interrupt: the drawer blocks all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (!pthread_cond_init(&live.cond, &ca) &&
	    !pthread_create(&live.thread, NULL, live_main, NULL))
		live.on = true;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_condattr_destroy(&ca);
}

/*
 * Ends it: drawn a last time with the final total (what --count adds up
 * to), then erased, so the terminal is as before.
 */
static void live_stop(void)
{
	if (!live.on)
		return;
	pthread_mutex_lock(&live.mutex);
	live.done = true;
	pthread_cond_signal(&live.cond);
	pthread_mutex_unlock(&live.mutex);
	pthread_join(live.thread, NULL);
	live_draw(__atomic_load_n(&live.hits, __ATOMIC_RELAXED), -1);
	live_erase();
	live.on = false;
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
		    .pending = pending_spec != NULL, .nostop = opt.nostop);

	if (filter) {
		uopts.handler = on_hist_entry;
		uopts.data_size = sizeof(bool);
	}

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
static bool live_wanted(void);

/*
 * No-stop hits only counted (--count, no --filter, no live line, which count
 * in the handlers): count-only probes, counted in the program itself.
 */
static bool count_only(void)
{
	return opt.nostop && opt.count && !filter && !live_wanted();
}

static int add_probe(char kind, const char *binary, const char *symbol, uint64_t offset,
		     char *label, bool owned, const char *pending_spec)
{
	struct probe_hits *ph = calloc(1, sizeof(*ph));
	struct probe_ent *e;
	struct uprobe *up;
	int err;
	UPROBE_OPTS(uprobe_opts, uopts, .data = ph, .pending = pending_spec != NULL);

	if (!ph)
		return -ENOMEM;
	ph->label = label;
	if (kind == 'r') {
		uopts.ret_handler = on_return;
		uopts.nostop = opt.nostop;
		if (opt.str_mask || filter) {
			uopts.handler = on_ret_entry;
			uopts.data_size = ret_data_size();
		}
	} else {
		uopts.handler = count_only() ? NULL : on_entry;
		uopts.nostop = opt.nostop;
		/* an entry hit prints and filters on its arguments only: two-line records */
		if (opt.nostop)
			uopts.record = UPROBE_RECORD_ARGS_ONLY;
	}

	err = reserve_probes(opt.hist ? 2 : 1);
	if (err)
		goto err;
	errno = 0;
	up = uprobe_add(tracer, binary, symbol, offset, &uopts);
	if (!up) {
		err = errno ? -errno : -EINVAL;
		goto err;
	}
	/*
	 * A function whose calls cannot be timed (_start, which never returns;
	 * a Go program) is refused whole: its entry count alone is not what
	 * --hist was asked for. A wildcard skips it with the library's reason.
	 */
	if (opt.hist) {
		err = add_hist_probe(binary, symbol, label, owned, pending_spec);
		if (err) {
			uprobe_remove(up);
			goto err;
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
	e->ph = ph;
	return 0;
err:
	free(ph);
	return err;
}

/* A usdt: probe, every site of the points it names; 0 or -errno. */
static int add_usdt(const struct probe_spec *ps)
{
	struct probe_hits *ph;
	struct probe_ent *e;
	struct uprobe_usdt *u;
	char *prefix;
	int err;
	UPROBE_OPTS(uprobe_opts, uopts, .handler = count_only() ? NULL : on_usdt,
		    .nostop = opt.nostop);

	err = reserve_probes(1);
	if (err)
		return err;
	ph = calloc(1, sizeof(*ph));
	if (!ph)
		return -ENOMEM;
	if (asprintf(&prefix, "usdt:%s:", ps->binary) < 0) {
		free(ph);
		return -ENOMEM;
	}
	ph->label = prefix;
	uopts.data = ph;
	errno = 0;
	u = uprobe_add_usdt(tracer, ps->binary, ps->provider, ps->symbol, &uopts);
	if (!u && errno == EOPNOTSUPP && uopts.nostop) {
		/* an argument in memory must be read at the hit: this probe's hits stop */
		tool_errline("warning: %s: %s: its hits stop", ps->text, lib_error(-EOPNOTSUPP));
		uopts.nostop = false;
		errno = 0;
		u = uprobe_add_usdt(tracer, ps->binary, ps->provider, ps->symbol, &uopts);
	}
	if (!u) {
		free(prefix);
		free(ph);
		return errno ? -errno : -EINVAL;
	}
	e = &probes[nprobes++];
	memset(e, 0, sizeof(*e));
	e->usdt = u;
	e->usdt_prefix = prefix;
	e->ph = ph;
	e->label = (char *)ps->text;
	return 0;
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
	int ret = -1, err = tool_resolve_binary(tracer, pid, ps->binary, &path);

	if (err && err != -ENOENT) {
		tool_errline("%s: %s", ps->text, lib_error(err));
		return -1;
	}
	if (err) {
		/* a library no traced process maps yet: its functions from the file it would be */
		path = tool_loader_lookup(ps->binary);
		if (!path) {
			tool_errline("%s: '%s': no traced process maps it, and no such library in "
				"ld.so.cache or the standard directories", ps->text, ps->binary);
			return -1;
		}
		pending = true;
	}
	n = match_functions(path, ps->symbol, &names, why, sizeof(why));
	if (n < 0) {
		tool_errline("%s: %s", ps->text, why);
		goto out;
	}
	if (ps->offset)
		snprintf(offs, sizeof(offs), "+0x%" PRIx64, ps->offset);
	for (long i = 0; i < n; i++) {
		char *label;

		if (asprintf(&label, "%c:%s:%s%s", ps->kind, pending ? ps->binary : path, names[i],
			     offs) < 0) {
			tool_errline("out of memory");
			goto out;
		}
		err = add_probe(ps->kind, pending ? ps->binary : path, names[i], ps->offset, label,
				true, pending ? ps->text : NULL);
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
		tool_errline("warning: %s: skipped %zu more functions (-v lists them)",
			ps->text, skipped - WILDCARD_WARN_MAX);
	if (!added) {
		if (!n)
			tool_errline("%s: %s: no function matches '%s'", ps->text, path,
				ps->symbol);
		else
			tool_errline("%s: none of the %ld matching functions could be probed",
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
				tool_errline("%s: %s", ps->text, lib_error(err));
				ret = -1;
			}
		} else if (ps->wildcard) {
			ret = add_wildcard(ps, pid);
		} else {
			char *path = NULL, *lib = NULL;

			/* a library no traced process maps yet, that the dynamic linker would find */
			if (!strchr(ps->binary, '/') &&
			    tool_resolve_binary(tracer, pid, ps->binary, &path) == -ENOENT)
				lib = tool_loader_lookup(ps->binary);
			err = add_probe(ps->kind, ps->binary, ps->symbol, ps->offset,
					(char *)ps->text, false, lib ? ps->text : NULL);
			free(path);
			free(lib);
			if (err) {
				tool_errline("%s: %s", ps->text, lib_error(err));
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

/* Parses --fail-value: what tool_parse_u64() takes, or that after a '-' (two's complement). */
static bool parse_value(const char *s, uint64_t *v)
{
	bool neg = *s == '-';

	if (!tool_parse_u64(s + neg, v))
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
		tool_usage_error("--fail '%s': not a return probe but a function's entry, "
			    "u:BINARY:SYMBOL or u:BINARY:0xFILEOFFSET", text);
	if (f->ps.wildcard)
		tool_usage_error("--fail '%s': one function, not a wildcard", text);
	if (f->ps.symbol && f->ps.offset)
		tool_usage_error("--fail '%s': a call can only be made to fail at the function's first "
			    "instruction, not +0x%" PRIx64, text, f->ps.offset);
	if (asprintf(&f->label, "--fail %s", text) < 0) {
		tool_errline("out of memory");
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
	char *path = NULL, *lib = NULL;
	struct probe_ent *e;
	struct uprobe *up;
	int ret = -1, err = tool_resolve_binary(tracer, pid, ps->binary, &path);
	UPROBE_OPTS(uprobe_opts, uopts, .handler = on_fail, .data = f);

	/* a library no traced process maps yet: placed when one loads it, as for a PROBE */
	if (err == -ENOENT) {
		lib = tool_loader_lookup(ps->binary);
		uopts.pending = lib != NULL;
		path = lib ? NULL : strdup(ps->binary);
	} else if (err && err != -ENOMEM) {
		tool_errline("--fail %s: %s", ps->text, lib_error(err));
		goto out;
	}
	if ((!path && !lib) || reserve_probes(1)) {
		tool_errline("out of memory");
		goto out;
	}
	if (!ps->symbol) {
		const char *file = lib ? lib : path;
		uint64_t off = ps->offset;

		err = uprobe_symbols(file, NULL, starts_at, &off);
		if (err < 0) {
			tool_errline("--fail %s: %s: %s", ps->text, file, strerror(-err));
			goto out;
		}
		if (!err) {
			tool_errline("--fail %s: no function of %s starts at file offset 0x%" PRIx64
				" (a call fails from its function's first instruction)", ps->text,
				file, ps->offset);
			goto out;
		}
	}
	errno = 0;
	up = uprobe_add(tracer, ps->binary, ps->symbol, ps->offset, &uopts);
	if (!up) {
		tool_errline("--fail %s: %s", ps->text, lib_error(errno ? -errno : -EINVAL));
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
			tool_usage_error("--hist times the calls of u:BINARY:SYMBOL probes: '%s' is a "
				    "%s probe", ps->text, ps->kind == 'r' ? "return" : "USDT");
		if (!ps->symbol || ps->offset)
			tool_usage_error("--hist times the calls of u:BINARY:SYMBOL probes: '%s' is not "
				    "at a function's entry", ps->text);
	}
}

/* --filter applies to every PROBE: ret only when each of them has a return value. */
static void check_filter_options(void)
{
	if (!nspecs)
		tool_usage_error("--filter selects hits of PROBEs: none given (--fail calls are not "
			    "filtered)");
	for (size_t i = 0; filter_ret && i < nspecs; i++)
		if (specs[i].kind != 'r')
			tool_usage_error("--filter '%s': 'ret' at position %d: '%s' is no return probe "
				    "(r:BINARY:SYMBOL), it has no return value", filter_ret,
				    filter_ret_pos, specs[i].text);
}

/* --str against the other options: each refusal is a usage error. */
static void check_str_options(void)
{
	unsigned top = 0;

	for (unsigned i = 0; i < STR_ARGS; i++)
		if (opt.str_mask & (1u << i))
			top = i + 1;
	if (opt.count || opt.hist)
		tool_usage_error("--str shows strings in per-hit lines: not with %s",
			    opt.count ? "--count" : "--hist");
	/*
	 * A no-stop hit is handled after the thread ran on: the string read
	 * then may be another than the one the function was given, and
	 * nothing would say so.
	 */
	if (opt.nostop)
		tool_usage_error("--str reads memory at the hit: not with --nostop, whose hits are read "
			    "after the program ran on");
	/* entry lines show arguments 0 to nargs - 1; the default grows to the highest --str */
	if (top > opt.nargs) {
		if (opt.nargs_given)
			tool_usage_error("--str %u is beyond the %u arguments --args shows", top - 1,
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
			tool_errline("%s: never loaded", spec);
	}
}

static void print_counts(void)
{
	int width = 0;

	for (size_t i = 0; i < nprobes; i++) {
		int len = tool_fput_text(NULL, probes[i].label);

		if (len > width && !probes[i].hist)
			width = len;
	}
	for (size_t i = 0; i < nprobes; i++) {
		uint64_t hits = probes[i].usdt ? uprobe_usdt_hits(probes[i].usdt) :
						 uprobe_hits(probes[i].up);
		uint64_t missed = probes[i].usdt ? 0 : uprobe_missed(probes[i].up);
		const struct probe_hits *ph = filter ? probes[i].ph : NULL;

		if (probes[i].hist)
			continue;
		if (ph)
			hits = ph->hits;

		if (opt.json) {
			fputs("{\"probe\": ", opt.out);
			json_string(opt.out, probes[i].label);
			fprintf(opt.out, ", \"hits\": %" PRIu64 ", \"missed\": %" PRIu64, hits,
				missed);
			if (probes[i].fail)
				fprintf(opt.out, ", \"failed\": %" PRIu64, probes[i].fail->failed);
			if (ph)
				fprintf(opt.out, ", \"filtered\": %" PRIu64, ph->filtered);
			fputs("}\n", opt.out);
		} else {
			int len = tool_fput_text(opt.out, probes[i].label);

			fprintf(opt.out, "%*s  %" PRIu64, width - len, "", hits);
			if (missed)
				fprintf(opt.out, "  missed %" PRIu64, missed);
			if (probes[i].fail)
				fprintf(opt.out, "  failed %" PRIu64, probes[i].fail->failed);
			if (ph)
				fprintf(opt.out, "  filtered %" PRIu64, ph->filtered);
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

	tool_fput_text(opt.out, fh->label);
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
		tool_errline("out of memory: %" PRIu64 " calls left out of the histograms", hist_lost);
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

/* The version, and which paths libuprobe takes on this machine (uprobe_caps()). */
static void print_version(void)
{
	unsigned caps = uprobe_caps();

	printf(PROG " (libuprobe) " UPROBE_TRACE_VERSION "\nmachine:");
	for (unsigned bit = 1; bit && uprobe_cap_name(bit); bit <<= 1)
		printf("%s %s %s", bit == 1 ? "" : ",", uprobe_cap_name(bit), caps & bit ? "yes" : "no");
	printf("\n");
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
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "no-live", no_argument, NULL, OPT_NO_LIVE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	char **command = NULL;
	int dashdash = argc, c, err = 0, code;
	pid_t child = 0, target;
	bool spawned = false, detached = true;

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
			if (!tool_parse_u64(optarg, &v) || !v || v > INT_MAX)
				tool_usage_error("bad pid '%s'", optarg);
			opt.pid = (pid_t)v;
			break;
		case 'c':
			opt.count = true;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'a':
			if (!tool_parse_u64(optarg, &v) || v > 6)
				tool_usage_error("bad --args '%s' (expected 0 to 6)", optarg);
			opt.nargs = (unsigned)v;
			opt.nargs_given = true;
			break;
		case 's':
			if (!tool_parse_u64(optarg, &v) || v >= STR_ARGS)
				tool_usage_error("bad --str '%s' (expected 0 to %d)", optarg, STR_ARGS - 1);
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
			if (optarg && (!tool_parse_u64(optarg, &v) || !v || v > STACK_MAX))
				tool_usage_error("bad --stack '%s' (expected 1 to %d)", optarg, STACK_MAX);
			if (optarg)
				opt.stack = (int)v;
			break;
		case OPT_FAIL: {
			struct fail_fn *n = realloc(fails, (nfails + 1) * sizeof(*n));

			if (!n) {
				tool_errline("out of memory");
				return EXIT_RUNTIME;
			}
			fails = n;
			memset(&fails[nfails], 0, sizeof(*fails));
			parse_fail(optarg, &fails[nfails++]);
			break;
		}
		case OPT_FAIL_EVERY:
			if (!tool_parse_u64(optarg, &v) || !v)
				tool_usage_error("bad --fail-every '%s' (expected a number from 1)", optarg);
			opt.fail_every = v;
			break;
		case OPT_FAIL_VALUE:
			if (!parse_value(optarg, &v))
				tool_usage_error("bad --fail-value '%s' (expected a 64-bit integer: decimal "
					    "or 0x hex, may be negative)", optarg);
			opt.fail_value = v;
			opt.fail_value_given = true;
			break;
		case OPT_FAIL_COUNT:
			if (!tool_parse_u64(optarg, &v) || !v)
				tool_usage_error("bad --fail-count '%s' (expected a number from 1)", optarg);
			opt.fail_count = v;
			break;
		case OPT_FILTER:
			parse_filter(optarg);
			break;
		case OPT_NO_LIVE:
			opt.no_live = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			print_version();
			return 0;
		case ':':
			tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				tool_usage_error("unknown option '-%c'", optopt);
			tool_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	nspecs = (size_t)(dashdash - optind);
	if (!nspecs && !nfails)
		tool_usage_error("no probes given");
	if (!nfails && (opt.fail_every || opt.fail_value_given || opt.fail_count))
		tool_usage_error("%s without --fail", opt.fail_every ? "--fail-every" :
			    opt.fail_value_given ? "--fail-value" : "--fail-count");
	if (!opt.fail_every)
		opt.fail_every = 1;
	specs = calloc(nspecs, sizeof(*specs));
	if (!specs) {
		tool_errline("out of memory");
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < nspecs; i++)
		parse_probe(argv[optind + (int)i], &specs[i]);
	if (dashdash + 1 < argc)
		command = &argv[dashdash + 1];
	if (opt.pid && command)
		tool_usage_error("both -p and a command given");
	/* a hit read from the ring comes after its thread ran on: no stack to walk */
	if (opt.stack && opt.nostop)
		tool_usage_error("--stack needs hits that stop: not with --nostop");
	if (opt.stack && (opt.count || opt.hist))
		tool_usage_error("--stack prints under each hit line: not with %s",
			    opt.count ? "--count" : "--hist");
	if (!opt.pid && !command)
		tool_usage_error("no command given (use -p PID or -- COMMAND [ARG...])");
	if (filter)
		check_filter_options();
	if (opt.hist)
		check_hist_options();
	if (opt.str_mask)
		check_str_options();
	opt.lines = !opt.count && !opt.hist;
	if (opt.duration) {
		bool any_ret = false;

		if (!opt.lines)
			tool_usage_error("--duration shows return lines: not with %s",
				    opt.count ? "--count" : "--hist");
		for (size_t i = 0; i < nspecs; i++)
			any_ret |= specs[i].kind == 'r';
		if (!any_ret)
			tool_usage_error("--duration shows return lines: no return probe "
				    "(r:BINARY:SYMBOL) given");
	}

	uprobe_set_print(print_fn);
	tool_stderr_hook = live_hook;
	opt.out = stdout;
	if (opt.out_path) {
		/* Close-on-exec: the traced command must not inherit the trace file. */
		opt.out = fopen(opt.out_path, "we");
		if (!opt.out) {
			tool_errline("%s: %s", opt.out_path, strerror(errno));
			return EXIT_RUNTIME;
		}
	}

	tracer = uprobe_tracer_new();
	if (!tracer) {
		tool_errline("%s", strerror(errno));
		return EXIT_RUNTIME;
	}

	tool_catch_signals(on_signal, true);

	if (opt.follow)
		uprobe_tracer_follow_forks(tracer, true);
	if (opt.events)
		uprobe_tracer_on_event(tracer, on_event, NULL);
	/* Spawn or attach first: library names ("libc") resolve against the tracee's maps. */
	lib_quiet = true;
	fflush(NULL);
	if (command) {
		UPROBE_OPTS(uprobe_spawn_opts, so, .sigmask = &tool_orig_mask,
			    .sigignore = &tool_orig_ignored);

		err = uprobe_tracer_spawn_opts(tracer, command, &child, &so);
		if (err && child > 0)
			return tool_spawn_ended(&tracer, err, child);
		if (err) {
			/* The library's message names the program ("spawn: prog: No such file..."). */
			if (*uprobe_tracer_errmsg(tracer))
				tool_errline("%s", lib_error(err));
			else
				tool_errline("cannot run '%s': %s", command[0],
					strerror(-err));
			return give_up(0);
		}
		spawned = true;
		target = child;
	} else {
		if (tool_refuse_ancestor(opt.pid))
			return give_up(0);
		err = uprobe_tracer_attach(tracer, opt.pid);
		if (err) {
			if (*uprobe_tracer_errmsg(tracer))
				tool_errline("%s", lib_error(err));
			else
				tool_errline("cannot attach to pid %d: %s", (int)opt.pid,
					strerror(-err));
			return give_up(0);
		}
		target = opt.pid;
	}
	lib_quiet = false;

	if (add_probes(specs, nspecs, target) || add_fails(target))
		return give_up(spawned ? child : 0);

	if (!stop_requested) {
		live_start();
		err = uprobe_tracer_run(tracer);
		if (err < 0)
			tool_errline("%s", lib_error(err));
		else if (fail_err)
			err = fail_err; /* said by on_fail() */
	}
	/* run() returned early (a stop or a failure): tracees are still attached. */
	if (stop_requested || err < 0) {
		/* Let the programs go on unharmed, without probes. */
		int derr = uprobe_tracer_detach(tracer);

		if (derr < 0) {
			tool_errline("detach: %s", lib_error(derr));
			detached = false;
			err = err < 0 ? err : derr;
		}
	}

	live_stop();
	if (opt.count)
		print_counts();
	if (opt.hist)
		print_hists();
	report_never_loaded();
	if (fflush(opt.out) || (opt.out != stdout && fclose(opt.out))) {
		tool_errline("%s: %s", opt.out_path ? opt.out_path : "stdout",
			strerror(errno));
		err = err < 0 ? err : -EIO;
	}

	code = err < 0 ? EXIT_RUNTIME : 0;
	if (spawned) {
		int status = uprobe_tracer_exit_status(tracer, child);

		if (status >= 0)
			status = tool_status_to_exit(status);
		else if (detached)
			status = tool_wait_child(child); /* it ended after the detach, or still runs */
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
		free(probes[i].ph);
	}
	filter_free(filter);
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
