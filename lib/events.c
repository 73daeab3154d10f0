// SPDX-License-Identifier: LGPL-2.1-or-later
/* Process events (fork, exec, exit) for the tool: queued where seen, delivered by run(). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orch.h"

/*
 * Events are seen deep in the event loop, at times when the tracer holds a
 * process (task_stop_all() inside a handler's uprobe_add(), a detour being
 * made) or is in the middle of spawn or attach: a callback there could
 * not safely add probes or stop. So they are queued, in the order seen,
 * and run() delivers them between its waits. Order against hits holds
 * all the same: hits are delivered synchronously, a process's no-stop
 * hits are drained before its exec or exit is queued (ring_forget()),
 * and a child's first hit needs a wait, which comes after the delivery.
 */
struct event_rec {
	struct uprobe_event ev;
	struct event_rec *next;
	char path[]; /* EXEC: ev.path points here */
};

UPROBE_API int uprobe_tracer_on_event(struct uprobe_tracer *t, uprobe_event_fn fn, void *data)
{
	if (!t) {
		errno = EINVAL;
		return -EINVAL;
	}
	t->event_fn = fn;
	t->event_data = data;
	return 0;
}

static struct event_rec *event_new(struct uprobe_tracer *t, enum uprobe_event_kind kind,
				   pid_t pid, pid_t tid, size_t extra)
{
	struct event_rec *e;

	if (!t->event_fn)
		return NULL;
	e = calloc(1, sizeof(*e) + extra);
	if (!e) {
		pr_warn("pid %d: out of memory: an event is lost", pid);
		return NULL;
	}
	e->ev.sz = sizeof(e->ev);
	e->ev.kind = kind;
	e->ev.pid = pid;
	e->ev.tid = tid;
	e->ev.time_ns = mono_ns();
	return e;
}

static void event_queue(struct uprobe_tracer *t, struct event_rec *e)
{
	if (t->events_tail)
		t->events_tail->next = e;
	else
		t->events = e;
	t->events_tail = e;
}

void events_fork(struct uprobe_tracer *t, struct task *k, pid_t child, bool followed, bool vfork)
{
	struct event_rec *e;

	if (!k->proc->events)
		return;
	e = event_new(t, UPROBE_EVENT_FORK, k->proc->pid, k->tid, 0);
	if (!e)
		return;
	e->ev.child = child;
	e->ev.followed = followed;
	e->ev.vfork = vfork;
	event_queue(t, e);
}

void events_exec(struct uprobe_tracer *t, struct proc *p, pid_t former_tid)
{
	char path[PATH_MAX], link[64];
	struct event_rec *e;
	ssize_t n;

	if (!p->events || !t->event_fn)
		return;
	snprintf(link, sizeof(link), "/proc/%d/exe", p->pid);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = 0;
	e = event_new(t, UPROBE_EVENT_EXEC, p->pid, former_tid ? former_tid : p->pid,
		      strlen(path) + 1);
	if (!e)
		return;
	memcpy(e->path, path, strlen(path) + 1);
	e->ev.path = e->path;
	event_queue(t, e);
}

void events_exit(struct uprobe_tracer *t, pid_t pid, int status)
{
	struct event_rec *e = event_new(t, UPROBE_EVENT_EXIT, pid, pid, 0);

	if (!e)
		return;
	e->ev.status = status;
	event_queue(t, e);
}

/*
 * Delivers the queued events, oldest first, until the queue is empty or a
 * callback asked run() to stop (the rest wait for the next run()).
 */
void events_deliver(struct uprobe_tracer *t)
{
	if (t->in_events)
		return;
	t->in_events = true;
	while (t->events && !t->stop_req) {
		struct event_rec *e = t->events;

		t->events = e->next;
		if (!t->events)
			t->events_tail = NULL;
		if (t->event_fn)
			t->event_fn(&e->ev, t->event_data);
		free(e);
	}
	t->in_events = false;
}

void events_free(struct uprobe_tracer *t)
{
	while (t->events) {
		struct event_rec *e = t->events;

		t->events = e->next;
		free(e);
	}
	t->events_tail = NULL;
}
