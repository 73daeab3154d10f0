// SPDX-License-Identifier: LGPL-2.1-or-later
/* Process events (fork, exec, exit) in order with hits, and the comm of hits. */
#include <dirent.h>
#include <limits.h>

#include "tracee_test.h"

static const char *g_events;

/*
 * Hits and events as one trace, a line each, in the order the tracer
 * delivered them. Processes are named, not numbered: P the spawned (or
 * attached) one, A, B, C its children in the order their forks came.
 */
struct trace {
	pid_t pid;          /* P */
	pid_t kids[8];      /* A, B, C... */
	int nkids;
	bool comm;          /* hit lines show uprobe_hit_comm() */
	int stop_at_fork;   /* on_event_stop() stops run() at this fork (1: A's); 0 never */
	int kill_after;     /* attach: SIGTERM the process at this hit; 0 never */
	int async_hits;
	/* on_event(): a probe on main added at the first exec, removed at that process's exit */
	struct uprobe_tracer *add_on_exec;
	struct uprobe *added;
	pid_t added_pid;
	int bad_event;      /* an event whose sz or fields are wrong */
	char real[PATH_MAX];
	char *text;
	size_t len;
	FILE *fp;
};

static const char *who(struct trace *tr, pid_t pid, char *buf)
{
	if (pid == tr->pid)
		return "P";
	for (int i = 0; i < tr->nkids; i++)
		if (tr->kids[i] == pid)
			return (sprintf(buf, "%c", 'A' + i), buf);
	sprintf(buf, "?%d", (int)pid);
	return buf;
}

static int on_mark(struct uprobe_hit *h, void *data)
{
	struct trace *tr = data;
	pid_t pid = uprobe_hit_pid(h), tid = uprobe_hit_tid(h);
	char b[16];

	if (uprobe_hit_is_async(h))
		tr->async_hits++;
	fprintf(tr->fp, "hit %s%s %lu", who(tr, pid, b), tid == pid ? "" : "/thread",
		(unsigned long)uprobe_hit_arg(h, 0));
	if (tr->comm) {
		const char *comm = uprobe_hit_comm(h);

		fprintf(tr->fp, " %s", comm ? comm : "(null)");
		/* read once, kept for the hit: the same pointer and text again */
		if (comm && uprobe_hit_comm(h) != comm)
			fprintf(tr->fp, " (comm read twice)");
	}
	fputc('\n', tr->fp);
	if (tr->kill_after && !--tr->kill_after)
		kill(pid, SIGTERM);
	return 0;
}

static int on_main(struct uprobe_hit *h, void *data)
{
	struct trace *tr = data;
	char b[16];

	fprintf(tr->fp, "main %s\n", who(tr, uprobe_hit_pid(h), b));
	return 0;
}

static int on_event(const struct uprobe_event *ev, void *data)
{
	struct trace *tr = data;
	char b1[16], b2[16];

	if (ev->sz != sizeof(*ev) || !UPROBE_EVENT_HAS(ev, status) || !ev->time_ns)
		tr->bad_event++;
	switch (ev->kind) {
	case UPROBE_EVENT_FORK:
		if (tr->nkids < 8)
			tr->kids[tr->nkids++] = ev->child;
		fprintf(tr->fp, "fork %s %s %s%s%s\n", who(tr, ev->pid, b1), who(tr, ev->child, b2),
			ev->followed ? "followed" : "not-followed", ev->vfork ? " vfork" : "",
			ev->tid == ev->pid ? "" : " (not the main thread)");
		break;
	case UPROBE_EVENT_EXEC:
		fprintf(tr->fp, "exec %s tid=%s path=%s\n", who(tr, ev->pid, b1),
			ev->tid == ev->pid ? "main" : "thread",
			!strcmp(ev->path, tr->real) ? "ok" : ev->path);
		if (tr->add_on_exec && !tr->added) {
			UPROBE_OPTS(uprobe_opts, o, .handler = on_main, .data = tr);

			tr->added = uprobe_add(tr->add_on_exec, g_events, "main", 0, &o);
			tr->added_pid = ev->pid;
			if (!tr->added)
				fprintf(tr->fp, "uprobe_add: %s\n",
					uprobe_tracer_errmsg(tr->add_on_exec));
		}
		break;
	case UPROBE_EVENT_EXIT:
		if (ev->tid != ev->pid)
			tr->bad_event++;
		if (tr->added && ev->pid == tr->added_pid) {
			if (uprobe_hits(tr->added) != 1 || uprobe_remove(tr->added))
				fprintf(tr->fp, "main probe: %llu hits, or not removed\n",
					(unsigned long long)uprobe_hits(tr->added));
			tr->added = NULL;
		}
		if (WIFEXITED(ev->status))
			fprintf(tr->fp, "exit %s status %d\n", who(tr, ev->pid, b1),
				WEXITSTATUS(ev->status));
		else if (WIFSIGNALED(ev->status))
			fprintf(tr->fp, "exit %s signal %d\n", who(tr, ev->pid, b1),
				WTERMSIG(ev->status));
		else
			fprintf(tr->fp, "exit %s status %#x?\n", who(tr, ev->pid, b1), ev->status);
		break;
	default:
		fprintf(tr->fp, "unknown kind %d\n", (int)ev->kind);
	}
	return 0;
}

static void trace_open(struct trace *tr)
{
	tr->fp = open_memstream(&tr->text, &tr->len);
	assert_non_null(tr->fp);
	assert_non_null(realpath(g_events, tr->real));
}

static const char *trace_text(struct trace *tr)
{
	fflush(tr->fp);
	return tr->text;
}

static void trace_close(struct trace *tr)
{
	fclose(tr->fp);
	free(tr->text);
}

static void expect_trace(struct trace *tr, const char *want, const char *out)
{
	const char *got = trace_text(tr);

	if (strcmp(got, want)) {
		print_error("trace:\n%s\nwanted:\n%s\ntracee output:\n%s\n", got, want, out);
		fail();
	}
	assert_int_equal(tr->bad_event, 0);
}

static struct uprobe_tracer *g_tracer; /* for the callback that stops */

static int on_event_stop(const struct uprobe_event *ev, void *data)
{
	struct trace *tr = data;

	on_event(ev, data);
	if (ev->kind == UPROBE_EVENT_FORK && tr->stop_at_fork == tr->nkids)
		uprobe_tracer_stop(g_tracer);
	return 0;
}

static pid_t start_scenario(struct ctx *c, struct trace *tr, const char *n, bool nostop)
{
	char *argv[] = { (char *)g_events, (char *)n, NULL };
	pid_t pid;

	trace_open(tr);
	assert_int_equal(uprobe_tracer_on_event(c->t, tr->stop_at_fork ? on_event_stop : on_event,
						tr), 0);
	pid = spawn_or_fail(c, argv);
	tr->pid = pid;
	UPROBE_OPTS(uprobe_opts, o, .handler = on_mark, .data = tr, .nostop = nostop);
	add_or_fail(c, g_events, "ev_mark", 0, &o);
	return pid;
}

/* What a followed run delivers: every process's hits between its fork and its exit. */
static char *followed_trace(int n, bool comm, bool main_probe)
{
	char *s = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&s, &len);

	fprintf(fp, "hit P 1%s\n", comm ? " api_events" : "");
	fprintf(fp, "hit P 2%s\n", comm ? " ev-renamed" : "");
	fprintf(fp, "hit P/thread 40%s\n", comm ? " ev-worker" : "");
	fprintf(fp, "fork P A followed\n");
	for (int i = 0; i < n; i++)
		fprintf(fp, "hit A 10%s\n", comm ? " ev-renamed" : "");
	fprintf(fp, "exit A status 7\n");
	fprintf(fp, "fork P B followed\n");
	fprintf(fp, "hit B 20%s\n", comm ? " ev-renamed" : "");
	fprintf(fp, "exit B signal %d\n", SIGUSR2);
	fprintf(fp, "fork P C followed\n");
	fprintf(fp, "hit C 25%s\n", comm ? " ev-before-exec" : "");
	fprintf(fp, "hit C/thread 26%s\n", comm ? " ev-before-exec" : "");
	fprintf(fp, "exec C tid=thread path=ok\n");
	if (main_probe)
		fprintf(fp, "main C\n");
	fprintf(fp, "hit C 30%s\n", comm ? " api_events" : "");
	fprintf(fp, "exit C status 0\n");
	fprintf(fp, "hit P 50%s\n", comm ? " ev-renamed" : "");
	fprintf(fp, "exit P status 3\n");
	fclose(fp);
	return s;
}

/* The comm files uprobe_hit_comm() keeps open go with their threads: none is left. */
static void assert_no_comm_fds(void)
{
	char path[300], target[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	assert_non_null(d);
	while ((de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strncmp(target, "/proc/", 6) && strstr(target, "/comm")) {
			print_error("still open: %s\n", target);
			fail();
		}
	}
	closedir(d);
}

static void check_statuses(struct ctx *c, struct trace *tr)
{
	assert_no_comm_fds();
	int st = uprobe_tracer_exit_status(c->t, tr->pid);

	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3);
	ctx_untrack(c, tr->pid);
}

/*
 * Followed children: each fork, the exec, each exit (status 7, SIGUSR2, 0,
 * and the parent's 3) in order with the hits, none for the thread, and the
 * comm of each hit as the thread named itself: renamed by prctl, a
 * pthread_setname_np thread, inherited across fork, reset by exec. The exec
 * callback adds a probe on main, which the new image hits, and the exit
 * callback removes it.
 */
static void test_events_followed(void **state)
{
	struct ctx *c = *state;
	struct trace tr = { .comm = true, .add_on_exec = c->t };
	char *want = followed_trace(3, true, true);

	assert_int_equal(uprobe_tracer_follow_forks(c->t, true), 0);
	start_scenario(c, &tr, "3", false);
	run_ok(c);
	expect_trace(&tr, want, read_out(c));
	check_statuses(c, &tr);
	free(want);
	trace_close(&tr);
}

/* Children not followed: their forks say so, and nothing of theirs comes after. */
static void test_events_not_followed(void **state)
{
	struct ctx *c = *state;
	struct trace tr = { .comm = true };
	const char *want = "hit P 1 api_events\n"
			   "hit P 2 ev-renamed\n"
			   "hit P/thread 40 ev-worker\n"
			   "fork P A not-followed\n"
			   "fork P B not-followed\n"
			   "fork P C not-followed\n"
			   "hit P 50 ev-renamed\n"
			   "exit P status 3\n";

	start_scenario(c, &tr, "3", false);
	run_ok(c);
	expect_trace(&tr, want, read_out(c));
	check_statuses(c, &tr);
	trace_close(&tr);
}

/*
 * No-stop hits: a child that makes 300 and exits at once has them in its
 * ring at its exit; every one comes before the exit event, and the exec's
 * old-image hit before the exec.
 */
static void test_events_nostop(void **state)
{
	struct ctx *c = *state;
	struct trace tr = { .comm = false };
	char *want = followed_trace(300, false, false);

	assert_int_equal(uprobe_tracer_follow_forks(c->t, true), 0);
	start_scenario(c, &tr, "300", true);
	run_ok(c);
	expect_trace(&tr, want, read_out(c));
	check_statuses(c, &tr);
	fprintf(stderr, "async %d\n", tr.async_hits);
	if (!tr.async_hits) {
		print_error("no hit came from a ring: the test tests nothing\n");
		fail();
	}
	free(want);
	trace_close(&tr);
}

/* A callback stops run() at the first fork; the next run() goes on where it stopped. */
static void test_events_stop_in_callback(void **state)
{
	struct ctx *c = *state;
	struct trace tr = { .comm = true, .stop_at_fork = 1 };
	char *want = followed_trace(3, true, false);
	const char *first = "hit P 1 api_events\n"
			    "hit P 2 ev-renamed\n"
			    "hit P/thread 40 ev-worker\n"
			    "fork P A followed\n";

	g_tracer = c->t;
	assert_int_equal(uprobe_tracer_follow_forks(c->t, true), 0);
	start_scenario(c, &tr, "3", false);
	run_ok(c);
	if (strcmp(trace_text(&tr), first)) {
		print_error("stopped at the first fork, the trace is:\n%s\n", trace_text(&tr));
		fail();
	}
	assert_true(uprobe_tracer_exit_status(c->t, tr.pid) < 0);
	run_ok(c);
	expect_trace(&tr, want, read_out(c));
	check_statuses(c, &tr);
	free(want);
	trace_close(&tr);
}

/* An attached process killed by a signal: its exit, once, after its hits. */
static void test_events_attach(void **state)
{
	struct ctx *c = *state;
	struct trace tr = { .comm = true, .kill_after = 3 };
	char *argv[] = { (char *)g_events, "spin", NULL };
	const char *want = "hit P 60 api_events\n"
			   "hit P 60 api_events\n"
			   "hit P 60 api_events\n"
			   "exit P signal 15\n";
	pid_t pid = start_untraced(c, argv);
	char *out = NULL;

	assert_true(pid > 0);
	for (int i = 0; i < 500 && !(out && strstr(out, "spinning")); i++) {
		free(out);
		sleep_ms(10);
		out = slurp(c->out);
	}
	assert_non_null(out);
	assert_non_null(strstr(out, "spinning"));
	free(out);
	trace_open(&tr);
	tr.pid = pid;
	assert_int_equal(uprobe_tracer_on_event(c->t, on_event, &tr), 0);
	assert_int_equal(uprobe_tracer_attach(c->t, pid), 0);
	UPROBE_OPTS(uprobe_opts, o, .handler = on_mark, .data = &tr);
	add_or_fail(c, g_events, "ev_mark", 0, &o);
	run_ok(c);
	expect_trace(&tr, want, "(attached)");
	trace_close(&tr);
}

/* Bad input. */
static void test_events_errors(void **state)
{
	(void)state;
	assert_int_equal(uprobe_tracer_on_event(NULL, on_event, NULL), -EINVAL);
	assert_int_equal(errno, EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, ctx_setup, ctx_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_events_followed),
		T(test_events_not_followed),
		T(test_events_nostop),
		T(test_events_stop_in_callback),
		T(test_events_attach),
		T(test_events_errors),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s API_EVENTS\n", argv[0]);
		return 2;
	}
	g_events = argv[1];
	tracee_test_init("api", 60, getenv("API_TEST_FILTER"));
	return cmocka_run_group_tests_name("api_events", tests, NULL, NULL);
}
