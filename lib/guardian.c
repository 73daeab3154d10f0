// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The guardian: after the tracer's death, the program runs at full speed.
 *
 * The lifeline (lifeline.c) keeps a program alive when its tracer dies
 * without detaching, but only lazily: an int3 of ours goes away when a
 * thread traps on it, and a jump into a detour never traps, so the program
 * would go through our copies for ever. The guardian is a small process
 * forked by the tracer thread when the first lifeline is set up. It holds,
 * in memory shared with the tracer, the list of processes with a lifeline
 * (pid, start time, the lifeline's data in the process); the lifeline's
 * table in each process is the journal of every byte we changed in its
 * code. When the tracer thread dies (PR_SET_PDEATHSIG: the thread that
 * forked it, whose death is what lets our tracees go) or its process does
 * (its end of a pipe closes without a word), the guardian puts back, in
 * each process of the list, every byte of the table, through
 * /proc/PID/mem, as the lifeline's handler would at a trap, but at once:
 * a jump detour's head becomes an int3 first, then its other bytes come
 * back, then the first (a thread never meets half a jump: one that comes
 * meanwhile traps into the handler, which does the same). Pending returns
 * through the trampoline stay the handler's (a stack slot is only safe to
 * write with its thread stopped, or atomically from inside the program),
 * and so do the int3s at the unwinders' entries (LL_UNWIND: the handler
 * there gives the slots their return addresses back before an exception
 * unwinds through them), those on libc's mask changes (LL_MASK, pass_of())
 * and the scratch areas (a thread may be in one; the kernel leaves its own
 * uretprobe page mapped too).
 *
 * The guardian needs no ptrace and holds nothing the tracer did not: it
 * writes as the tracer's user, where /proc/PID/mem lets it. It exits when
 * the tracer is freed (a byte on the pipe), and is reaped then. After the
 * fork it makes system calls only (the tracer's program may have other
 * threads holding locks), on its own stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os.h"
#include "lifeline.h"

#define GUARD_MAX 4096
#define GUARD_DEATH_SIG SIGUSR2

struct guard_ent {
	int32_t pid; /* 0: a free entry */
	uint32_t pad;
	uint64_t start;  /* the process's start time (/proc/PID/stat field 22) */
	uint64_t data;   /* its lifeline's struct ll_data */
};

struct guard_shm {
	uint32_t n; /* entries in use, free ones among them */
	uint32_t pad;
	struct guard_ent e[GUARD_MAX];
};

struct guardian {
	pid_t pid;
	int fd; /* the pipe's write end */
	struct guard_shm *shm;
};

/* "/proc/PID/" + name into path, with no stdio (the guardian uses it too). */
static void guard_path(char path[48], pid_t pid, const char *name)
{
	char digits[12];
	size_t n = 0, at;

	do
		digits[n++] = (char)('0' + pid % 10);
	while ((pid /= 10) && n < sizeof(digits));
	memcpy(path, "/proc/", 6);
	at = 6;
	while (n)
		path[at++] = digits[--n];
	path[at++] = '/';
	for (; *name && at < 47; name++)
		path[at++] = *name;
	path[at] = 0;
}

/* Field 22 of /proc/PID/stat, with plain system calls. */
static uint64_t start_time(pid_t pid)
{
	char path[48], buf[512], *s;
	uint64_t v = 0;
	int fd, field = 2;
	ssize_t n;

	guard_path(path, pid, "stat");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* the name (field 2) may hold anything: fields count from its last ')' */
	s = strrchr(buf, ')');
	if (!s)
		return 0;
	for (; *s && field < 22; s++)
		if (*s == ' ')
			field++;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

static ssize_t mem_pread(int fd, void *buf, size_t len, uint64_t at)
{
	return pread(fd, buf, len, (off_t)at);
}

static void put_byte(int fd, uint64_t at, uint8_t b)
{
	if (pwrite(fd, &b, 1, (off_t)at) != 1)
		return;
}

/*
 * Which pass puts an entry's byte back: first the int3 on libc's signal
 * return (LL_SIGRET), which every handler's return meets, with the mask the
 * handler ran with (SIGTRAP blocked there, the handler cannot catch it);
 * then the others. -1: none (LL_RET, LL_UNWIND: the handler's, above; and
 * LL_MASK, those on libc's mask changes: they stay, the handler making
 * those calls for good with SIGTRAP unblocked. Put back one after the
 * other, a thread could block SIGTRAP for real at one already put back and
 * then meet the int3 of another: a forced SIGTRAP, blocked, kills. Seen in
 * api_lifeline's die points under load: pthread_create() blocks every
 * signal around its clone and puts the mask back after.)
 */
static int pass_of(const struct ll_ent *e)
{
	switch (e->kind) {
	case LL_SIGRET:
		return 0;
	case LL_CODE:
	case LL_DETOUR:
		return 1;
	default:
		return -1;
	}
}

/* One table entry, as the handler would at its trap, only at once. */
static void restore_ent(int fd, const struct ll_ent *e, int pass)
{
	uint8_t cur;

	if (pass_of(e) != pass)
		return;
	if (mem_pread(fd, &cur, 1, e->addr) != 1)
		return;
	if (e->kind == LL_CODE && e->tail && cur == ARCH_JMP_OPCODE) {
		/* a finished jump detour: an int3 first, a thread coming now traps */
		put_byte(fd, e->addr, ARCH_INT3);
		cur = ARCH_INT3;
	}
	if (cur != ARCH_INT3)
		return; /* put back already, or not ours any more */
	if (e->tail && pwrite(fd, &e->val, e->tail, (off_t)(e->addr + 1)) != e->tail)
		return;
	put_byte(fd, e->addr, e->orig);
}

static void restore_proc(const struct guard_ent *g)
{
	struct ll_ent ents[128];
	struct ll_data d;
	char path[48];
	int fd;

	if (start_time(g->pid) != g->start)
		return; /* gone, its pid maybe another's now */
	guard_path(path, g->pid, "mem");
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int pass = 0; pass < 2; pass++) {
		if (mem_pread(fd, &d, sizeof(d), g->data) != (ssize_t)sizeof(d) || d.count > LL_CAP)
			break;
		for (uint64_t i = 0; i < d.count; i += 128) {
			uint64_t n = d.count - i < 128 ? d.count - i : 128;

			if (mem_pread(fd, ents, n * sizeof(ents[0]), d.tab + i * LL_ENT_SIZE) !=
			    (ssize_t)(n * sizeof(ents[0])))
				break;
			for (uint64_t j = 0; j < n; j++)
				restore_ent(fd, &ents[j], pass);
		}
	}
	close(fd);
}

static __attribute__((noreturn)) void guardian_main(struct guard_shm *shm, int rfd, pid_t tracer,
						    pid_t tracer_tid)
{
	struct pollfd pf[2];
	sigset_t death;
	char c;
	int sfd, nfd;

	/* what the tracer's program had open is not ours to hold (a pipe's reader waits for EOF) */
	if (rfd != 3) {
		if (dup2(rfd, 3) < 0)
			_exit(1);
		rfd = 3;
	}
	if (syscall(SYS_close_range, 4, ~0u, 0) < 0)
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
	/* nor its terminal or pipes as stdin, stdout, stderr: /dev/null there */
	nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; nfd >= 0 && fd < 3; fd++)
		if (fd != nfd)
			dup2(nfd, fd);
	if (nfd > 3)
		close(nfd);
	sigemptyset(&death);
	sigaddset(&death, GUARD_DEATH_SIG);
	sfd = signalfd(-1, &death, SFD_CLOEXEC);
	prctl(PR_SET_NAME, "uprobe-guard", 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, GUARD_DEATH_SIG, 0, 0, 0);
	/* the tracer thread gone before the line above: its death signal never comes */
	if (syscall(SYS_tgkill, tracer, tracer_tid, 0) < 0)
		goto restore;
	pf[0] = (struct pollfd){ .fd = rfd, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (;;) {
		if (poll(pf, sfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (pf[1].revents)
			break; /* the tracer thread died */
		if (pf[0].revents) {
			ssize_t n = read(rfd, &c, 1);

			if (n == 1 && c == 'q')
				_exit(0); /* freed: everything was detached */
			if (n < 0 && errno == EINTR)
				continue;
			break; /* its process died */
		}
	}
restore:
	for (uint32_t i = 0; i < shm->n && i < GUARD_MAX; i++)
		if (shm->e[i].pid > 0)
			restore_proc(&shm->e[i]);
	_exit(0);
}

static int guardian_start(struct uprobe_tracer *t)
{
	struct guardian *g;
	sigset_t all, old;
	pid_t tracer = getpid(), tid = (pid_t)syscall(SYS_gettid);
	int fds[2];
	long pid;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->shm = mmap(NULL, sizeof(*g->shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	if (g->shm == MAP_FAILED) {
		free(g);
		return -errno;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		munmap(g->shm, sizeof(*g->shm));
		free(g);
		return -errno;
	}
	/* the guardian starts with every signal blocked: its death signal waits for signalfd */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* a raw fork: no atfork handlers of the tracer's program run */
	pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	if (pid == 0) {
		close(fds[1]);
		guardian_main(g->shm, fds[0], tracer, tid);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(fds[0]);
	if (pid < 0) {
		int err = -errno;

		close(fds[1]);
		munmap(g->shm, sizeof(*g->shm));
		free(g);
		return err;
	}
	g->pid = (pid_t)pid;
	g->fd = fds[1];
	t->guard = g;
	pr_debug("guardian: pid %d", g->pid);
	return 0;
}

/* p has a lifeline whose data is at `data`: into the guardian's list (started first). */
void guardian_add(struct uprobe_tracer *t, pid_t pid, uint64_t data)
{
	struct guard_shm *shm;
	uint32_t i, free_at = GUARD_MAX;

	if (!t->guard && guardian_start(t) < 0) {
		pr_debug("pid %d: no guardian: the lifeline alone keeps it alive", pid);
		return;
	}
	shm = t->guard->shm;
	for (i = 0; i < shm->n; i++) {
		if (shm->e[i].pid == pid)
			break;
		if (!shm->e[i].pid && free_at == GUARD_MAX)
			free_at = i;
	}
	if (i == shm->n)
		i = free_at != GUARD_MAX ? free_at : shm->n;
	if (i == GUARD_MAX)
		return;
	/* the pid last: the guardian uses an entry only with its other fields set */
	shm->e[i].pid = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	shm->e[i].start = start_time(pid);
	shm->e[i].data = data;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	shm->e[i].pid = pid;
	if (i == shm->n)
		shm->n = i + 1;
}

/* pid's lifeline is gone (exit, exec, detach): out of the list. */
void guardian_remove(struct uprobe_tracer *t, pid_t pid)
{
	struct guard_shm *shm = t->guard ? t->guard->shm : NULL;

	if (!shm)
		return;
	for (uint32_t i = 0; i < shm->n; i++)
		if (shm->e[i].pid == pid)
			shm->e[i].pid = 0;
	while (shm->n && !shm->e[shm->n - 1].pid)
		shm->n--;
}

/* The tracer is freed, every process detached: the guardian ends, and is reaped. */
void guardian_stop(struct uprobe_tracer *t)
{
	struct guardian *g = t->guard;
	int st;

	if (!g)
		return;
	/* nothing to restore any more, whatever it reads next */
	g->shm->n = 0;
	if (write(g->fd, "q", 1) != 1)
		pr_debug("guardian: %s", strerror(errno));
	close(g->fd);
	while (waitpid(g->pid, &st, __WALL) < 0 && errno == EINTR)
		;
	munmap(g->shm, sizeof(*g->shm));
	free(g);
	t->guard = NULL;
}

/* The guardian's pid (0: none), for tests. */
pid_t guardian_pid(const struct uprobe_tracer *t)
{
	return t->guard ? t->guard->pid : 0;
}
