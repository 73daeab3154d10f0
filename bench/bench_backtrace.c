// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uprobe-bench-backtrace: the cost of uprobe_hit_backtrace() per frame, against
 * the cost of the same hit without a backtrace, in one run. The target calls
 * bt_leaf under about 16 frames; every hit takes a backtrace of up to 32.
 * The first backtrace of a stack finds its unwind rules in the ELF files, the
 * next ones reuse them: both are shown. Then the same with the frame-pointer
 * unwinder (UPROBE_UNWIND_FP; the target keeps frame pointers).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uprobe.h>

struct bt_stats {
	bool backtrace;
	bool fp; /* UPROBE_UNWIND_FP */
	unsigned n, frames, first_frames;
	uint64_t bt_ns, first_ns;
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int on_leaf(struct uprobe_hit *h, void *data)
{
	struct bt_stats *s = data;
	UPROBE_OPTS(uprobe_backtrace_opts, o, .unwinder = s->fp ? UPROBE_UNWIND_FP : UPROBE_UNWIND_CFI);
	uint64_t pcs[32], t0;
	int n;

	if (!s->backtrace)
		return 0;
	t0 = now_ns();
	n = uprobe_hit_backtrace_opts(h, pcs, 32, &o);
	if (n <= 0)
		return 0;
	if (!s->n++) {
		s->first_ns = now_ns() - t0;
		s->first_frames = (unsigned)n;
		return 0;
	}
	s->bt_ns += now_ns() - t0;
	s->frames += (unsigned)n;
	return 0;
}

/* One traced run of the target; the wall time of the whole run in *ns. */
static int run(const char *target, const char *calls, struct bt_stats *s, uint64_t *ns)
{
	struct uprobe_tracer *t = uprobe_tracer_new();
	char *argv[] = { (char *)target, (char *)calls, "14", NULL };
	uint64_t t0;
	pid_t pid;
	int r;

	if (!t)
		return -errno;
	r = uprobe_tracer_spawn(t, argv, &pid);
	if (!r) {
		UPROBE_OPTS(uprobe_opts, o, .handler = on_leaf, .data = s);

		if (!uprobe_add(t, target, "bt_leaf", 0, &o))
			r = -errno;
	}
	t0 = now_ns();
	while (!r && (r = uprobe_tracer_run(t)) > 0)
		;
	*ns = now_ns() - t0;
	if (r < 0)
		fprintf(stderr, "uprobe-bench-backtrace: %s\n", uprobe_tracer_errmsg(t));
	uprobe_tracer_free(t);
	return r < 0 ? r : 0;
}

int main(int argc, char **argv)
{
	char target[PATH_MAX], self[PATH_MAX];
	const char *calls = argc > 1 ? argv[1] : "2000";
	struct bt_stats plain = { 0 }, bt = { .backtrace = true }, fp = { .backtrace = true, .fp = true };
	uint64_t plain_ns, bt_ns, fp_ns;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return 1;
	self[n] = 0;
	snprintf(target, sizeof(target), "%s/uprobe-bench-backtrace-target", dirname(self));
	if (run(target, calls, &plain, &plain_ns) || run(target, calls, &bt, &bt_ns) || bt.n < 2 ||
	    run(target, calls, &fp, &fp_ns) || fp.n < 2)
		return 1;
	printf("hits: %s, each with a backtrace of %.1f frames\n", calls,
	       (double)bt.frames / (bt.n - 1));
	printf("first backtrace (unwind rules read from the ELF files): %.1f us, %u frames\n",
	       bt.first_ns / 1e3, bt.first_frames);
	printf("later backtraces: %.2f us per frame, %.1f us per backtrace\n",
	       (double)bt.bt_ns / bt.frames / 1e3, (double)bt.bt_ns / (bt.n - 1) / 1e3);
	printf("a hit without a backtrace: %.1f us; with one: %.1f us (%.2fx)\n",
	       (double)plain_ns / atoi(calls) / 1e3, (double)bt_ns / atoi(calls) / 1e3,
	       (double)bt_ns / (double)plain_ns);
	printf("frame pointers: %.1f frames; the first %.1f us, later ones %.3f us per frame, "
	       "%.1f us per backtrace (%.1fx faster than CFI per frame)\n",
	       (double)fp.frames / (fp.n - 1), fp.first_ns / 1e3, (double)fp.bt_ns / fp.frames / 1e3,
	       (double)fp.bt_ns / (fp.n - 1) / 1e3,
	       ((double)bt.bt_ns / bt.frames) / ((double)fp.bt_ns / fp.frames));
	return 0;
}
