// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tracee of the soak test: a fixed amount of work (never a time) through
 * threads, forks, vfork+exec, timers, longjmp and a final exec of itself,
 * with every call of a probed function counted per segment.
 *
 * A segment is the stretch between two checkpoints cp(id); it is numbered by
 * the id. Checkpoints are called only where no other thread can call a
 * probed function (threads joined, or parked at a barrier), so the test may
 * add and remove probes, or detach, at each one and still know exactly which
 * calls each probe saw. A fork child counts its calls apart and sends them to
 * its parent through a pipe: "cseg SEG" lines, SEG the segment it was forked
 * in. The output (counts, checksums, children's statuses) is the same traced
 * or not.
 *
 * usage: soak_target [ROUND]
 *   Does round ROUND (default 0) with checkpoints ROUND * 100 + 1 to
 *   ROUND * 100 + 90, then execs itself for the next one; the last round,
 *   NROUNDS, is a shorter one (no second fork phase, no detach), then exits.
 *   Environment SOAK_SYNC=PREFIX: at checkpoint N where the test detaches,
 *   wait for PREFIX.detached.N before going on; at the end of the detached
 *   stretch, create PREFIX.ready.N and wait for PREFIX.go.N (each wait at
 *   most 60 s). Without it, no wait.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBED __attribute__((noipa, used))

/* Keep in step with test_soak.c. */
enum fn { FN_NS_A, FN_NS_B, FN_ST_C, FN_RP_D, FN_RP_SKIP, FN_SLOW_E, FN_SIG_F, NFN };
static const char *const fn_names[NFN] = { "ns_a", "ns_b", "st_c", "rp_d",
					   "rp_skip", "slow_e", "sig_f" };
#define NROUNDS 5
#define MAX_SEG (100 * (NROUNDS + 1))
#define NWORKERS 4
#define MAX_CHILDREN 8
#define SIG_CAP 150 /* signals (of each kind) whose handler calls probed functions */

struct cnt {
	long n, s; /* calls, sum of their first argument */
};

/*
 * Per-thread counts, merged into counts[] when the thread ends: an atomic add
 * on a line no other thread writes is cheap, and atomic so that a signal
 * handler counting on the same thread loses nothing.
 */
static __thread struct cnt tl_counts[MAX_SEG][NFN];
static struct cnt counts[MAX_SEG][NFN];
static struct cnt ccounts[MAX_SEG][NFN]; /* of the children forked in each segment */
static long seg_acc[MAX_SEG];
static int g_seg;
static long g_cps[64];
static int g_ncps;
static long g_iters; /* per worker and segment */
static const char *g_sync;

static void count(int fn, long x)
{
	int seg = __atomic_load_n(&g_seg, __ATOMIC_RELAXED);

	__atomic_fetch_add(&tl_counts[seg][fn].n, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&tl_counts[seg][fn].s, x, __ATOMIC_RELAXED);
}

/*
 * The thread's last act of counting: adds its counts to counts[]. Its
 * signals stay blocked, so that no handler counts on it afterwards.
 */
static void flush_counts(void)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (int s = 0; s < MAX_SEG; s++) {
		for (int f = 0; f < NFN; f++) {
			if (!tl_counts[s][f].n)
				continue;
			__atomic_fetch_add(&counts[s][f].n, tl_counts[s][f].n, __ATOMIC_RELAXED);
			__atomic_fetch_add(&counts[s][f].s, tl_counts[s][f].s, __ATOMIC_RELAXED);
			tl_counts[s][f].n = tl_counts[s][f].s = 0;
		}
	}
}

static long tid(void)
{
	return syscall(SYS_gettid);
}

/* ---- the probed functions ---- */

/* Checkpoint: the test acts on its probe; the calls after it count in segment id. */
PROBED void cp(long id)
{
	__atomic_store_n(&g_seg, (int)id, __ATOMIC_RELAXED);
	g_cps[g_ncps++] = id;
}

/* No-stop probes (one of them, for a while, shares the instruction with a stopping one). */
PROBED long ns_a(long x, long t)
{
	count(FN_NS_A, x);
	__asm__ volatile("" : : "r"(t));
	return x * 3 + 1;
}

PROBED long ns_b(long x, long t)
{
	count(FN_NS_B, x);
	__asm__ volatile("" : : "r"(t));
	return x + 7;
}

/* A stopping probe. */
PROBED long st_c(long x, long t)
{
	count(FN_ST_C, x);
	__asm__ volatile("" : : "r"(t));
	return x * 5;
}

/* A stopping probe whose handler takes its time. */
PROBED long slow_e(long x, long t)
{
	count(FN_SLOW_E, x);
	__asm__ volatile("" : : "r"(t));
	return x - 1;
}

/* Called from the signal handlers only; a no-stop probe. */
PROBED long sig_f(long signo, long t)
{
	count(FN_SIG_F, signo);
	__asm__ volatile("" : : "r"(t));
	return signo * 11;
}

/*
 * The return-probed function: recurses depth times, returns x * 2 + depth
 * and checks what its callee returned (a return probe that returned anything
 * else, or elsewhere, is caught here). At depth 0, with jb, leaves every
 * frame by longjmp when x % 5 == 0.
 */
PROBED long rp_d(long x, long depth, jmp_buf *jb)
{
	count(FN_RP_D, x);
	if (depth > 0) {
		long r = rp_d(x + 1, depth - 1, jb);

		if (r != (x + 1) * 2 + depth - 1)
			abort();
	} else if (jb && x % 5 == 0) {
		longjmp(*jb, 1);
	}
	return x * 2 + depth;
}

/* rp_d(x, depth) under a setjmp; counts the frames a longjmp left (FN_RP_SKIP). */
PROBED long rp_call(long x, long depth)
{
	jmp_buf jb;
	volatile long r = 7;

	if (!setjmp(jb))
		r = rp_d(x, depth, &jb);
	else
		count(FN_RP_SKIP, depth + 1);
	return r;
}

/* ---- work ---- */

static long hot(long from, long to, long seed)
{
	long t = tid(), acc = 0;

	for (long i = from; i < to; i++) {
		long x = seed + i;

		acc += ns_a(x, t);
		acc += ns_b(x, t);
		if (!(i & 15))
			acc += st_c(x, t);
		if (!(i & 63))
			acc += rp_call(x, (i >> 6) & 3);
		if (!(i & 1023))
			acc += slow_e(x, t);
	}
	return acc;
}

static void add_acc(int seg, long v)
{
	__atomic_fetch_add(&seg_acc[seg], v, __ATOMIC_RELAXED);
}

static void die(const char *what)
{
	fprintf(stderr, "soak_target: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(2);
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- fork children ---- */

struct child_res {
	pid_t pid;
	int fd;
	int seg;
	int status;
	long acc;
};

static struct child_res g_children[MAX_CHILDREN];
static int g_nchildren;
static pthread_mutex_t g_child_lock = PTHREAD_MUTEX_INITIALIZER;

struct child_report {
	struct cnt c[NFN];
	long acc;
};

static void *child_thread(void *arg)
{
	long seed = (long)arg;
	long acc = hot(0, g_iters / 8, seed);

	flush_counts();
	return (void *)acc;
}

/* In a fork child: its own work and two threads', counted afresh in counts[seg], sent to fd. */
static void child_main(int seg, int fd, long seed)
{
	struct child_report rep;
	pthread_t th[2];
	long acc;

	memset(tl_counts, 0, sizeof(tl_counts));
	memset(counts[seg], 0, sizeof(counts[0]));
	__atomic_store_n(&g_seg, seg, __ATOMIC_RELAXED);
	acc = hot(0, g_iters / 8, seed);
	acc += rp_call(seed + 5, 3);
	for (long k = 0; k < 2; k++)
		if (pthread_create(&th[k], NULL, child_thread, (void *)(seed + 1000 * (k + 1))))
			_exit(3);
	for (int k = 0; k < 2; k++) {
		void *r;

		pthread_join(th[k], &r);
		acc += (long)r;
	}
	flush_counts();
	memcpy(rep.c, counts[seg], sizeof(rep.c));
	rep.acc = acc;
	if (write(fd, &rep, sizeof(rep)) != sizeof(rep))
		_exit(4);
	_exit(0);
}

/* Forks a child counted in ccounts[seg]; any thread may call it. Returns its slot. */
static int start_child(int seg, long seed)
{
	int fds[2], k;
	pid_t pid;

	if (pipe(fds))
		die("pipe");
	pthread_mutex_lock(&g_child_lock);
	k = g_nchildren++;
	pthread_mutex_unlock(&g_child_lock);
	if (k >= MAX_CHILDREN)
		die("too many children");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(fds[0]);
		child_main(seg, fds[1], seed);
	}
	close(fds[1]);
	g_children[k].pid = pid;
	g_children[k].fd = fds[0];
	g_children[k].seg = seg;
	return k;
}

/* Collects child k's counts into ccounts[its seg] and its status. */
static void reap_child(int k)
{
	struct child_res *r = &g_children[k];
	struct child_report rep;
	ssize_t n;

	memset(&rep, 0, sizeof(rep));
	do
		n = read(r->fd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	close(r->fd);
	while (waitpid(r->pid, &r->status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (n != sizeof(rep)) {
		r->status = -1;
		return;
	}
	r->acc = rep.acc;
	for (int f = 0; f < NFN; f++) {
		__atomic_fetch_add(&ccounts[r->seg][f].n, rep.c[f].n, __ATOMIC_RELAXED);
		__atomic_fetch_add(&ccounts[r->seg][f].s, rep.c[f].s, __ATOMIC_RELAXED);
	}
}

/* vfork + exec of /bin/true; returns its wait status. */
static int vfork_true(void)
{
	int st;
	pid_t pid;

	fflush(stdout);
	pid = vfork();
	if (pid < 0)
		die("vfork");
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid true");
	return st;
}

/* ---- worker threads ---- */

enum wmode { W_PLAIN, W_BARRIER, W_DETACH, W_FORK };

struct worker {
	pthread_t th;
	int k;
	int seg;
	enum wmode mode;
	long seed;
	long acc;
	int child; /* W_FORK, worker 1: the slot of the child it forked */
};

static pthread_barrier_t g_bar;

/* Worker 0 alone calls cp(id) while the others are parked at the barrier. */
static void all_cp(struct worker *w, long id)
{
	pthread_barrier_wait(&g_bar);
	if (w->k == 0)
		cp(id);
	pthread_barrier_wait(&g_bar);
}

/*
 * With SOAK_SYNC: waits (at most 60 s) until the test has created
 * PREFIX.WHAT.SEG, after creating PREFIX.SAY.SEG if say is not NULL.
 */
static void sync_test(const char *say, const char *what, int seg)
{
	char path[4096];
	int fd;

	if (!g_sync)
		return;
	if (say) {
		snprintf(path, sizeof(path), "%s.%s.%d", g_sync, say, seg);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			die("sync file");
		close(fd);
	}
	snprintf(path, sizeof(path), "%s.%s.%d", g_sync, what, seg);
	for (int i = 0; access(path, F_OK); i++) {
		if (i >= 30000)
			die("the test did not answer within 60 s");
		msleep(2);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long n = g_iters, acc = 0;

	switch (w->mode) {
	case W_PLAIN:
		acc = hot(0, n, w->seed);
		break;
	case W_FORK:
		acc = hot(0, n / 2, w->seed);
		if (w->k == 1)
			w->child = start_child(w->seg, w->seed + 77);
		acc += hot(n / 2, n, w->seed);
		if (w->k == 1)
			reap_child(w->child);
		break;
	case W_BARRIER:
		/* segments seg, seg + 1, seg + 2 */
		acc = hot(0, n / 3, w->seed);
		all_cp(w, w->seg + 1);
		acc += hot(n / 3, 2 * n / 3, w->seed);
		all_cp(w, w->seg + 2);
		acc += hot(2 * n / 3, n, w->seed);
		break;
	case W_DETACH:
		/* seg counted; at cp(seg + 1) the test detaches; cp(seg + 2) after it attached again */
		acc = hot(0, n / 3, w->seed);
		pthread_barrier_wait(&g_bar);
		if (w->k == 0) {
			/*
			 * This thread runs on after its hit, until the test has
			 * stopped everything to detach: it must not let the others
			 * go before that.
			 */
			cp(w->seg + 1);
			sync_test(NULL, "detached", w->seg + 1);
		}
		pthread_barrier_wait(&g_bar);
		acc += hot(n / 3, 2 * n / 3, w->seed);
		pthread_barrier_wait(&g_bar);
		if (w->k == 0) {
			/* a child nobody traces, from a thread that is not main */
			int k = start_child(w->seg + 1, w->seed + 99);

			reap_child(k);
			printf("seg %d detached child status=%#x acc=%ld\n", w->seg + 1,
			       g_children[k].status, g_children[k].acc);
			sync_test("ready", "go", w->seg + 1);
			cp(w->seg + 2);
		}
		pthread_barrier_wait(&g_bar);
		acc += hot(2 * n / 3, n, w->seed);
		break;
	}
	flush_counts();
	w->acc = acc;
	return NULL;
}

static void start_workers(struct worker *w, int seg, enum wmode mode, long seed)
{
	for (int k = 0; k < NWORKERS; k++) {
		w[k].k = k;
		w[k].seg = seg;
		w[k].mode = mode;
		w[k].seed = seed + 100000 * k;
		w[k].child = -1;
		if (pthread_create(&w[k].th, NULL, worker_main, &w[k]))
			die("pthread_create");
	}
}

static void join_workers(struct worker *w, int seg)
{
	for (int k = 0; k < NWORKERS; k++) {
		pthread_join(w[k].th, NULL);
		add_acc(seg, w[k].acc);
	}
}

/* rounds of NWORKERS threads created and joined */
static void thread_rounds(int seg, int rounds, enum wmode mode)
{
	struct worker w[NWORKERS];

	for (int r = 0; r < rounds; r++) {
		start_workers(w, seg, mode, 1000000L * seg + 10000 * r);
		join_workers(w, seg);
	}
}

/* ---- phases ---- */

/* Workers, main forking children meanwhile (and worker 1 one more), a vfork+exec of /bin/true. */
static void phase_fork(int seg, int nchildren)
{
	struct worker w[NWORKERS];
	int slots[MAX_CHILDREN], st;

	start_workers(w, seg, W_FORK, 1000000L * seg);
	for (int i = 0; i < nchildren; i++)
		slots[i] = start_child(seg, 1000000L * seg + 500000 + 1000 * i);
	st = vfork_true();
	for (int i = 0; i < nchildren; i++)
		reap_child(slots[i]);
	join_workers(w, seg);
	printf("seg %d true status=%#x\n", seg, st);
	for (int i = 0; i <= nchildren; i++) {
		struct child_res *r = &g_children[i < nchildren ? slots[i] : w[1].child];

		printf("seg %d child %d status=%#x acc=%ld\n", seg, i, r->status, r->acc);
	}
}

static volatile long g_sig_n[2];
static long g_sig_acc;

/* SIGALRM and SIGPROF: the first SIG_CAP of each call probed functions, whatever thread they hit. */
static void on_timer(int signo)
{
	int k = signo == SIGALRM ? 0 : 1, e = errno;
	long n = __atomic_fetch_add(&g_sig_n[k], 1, __ATOMIC_RELAXED), t, v;

	if (n >= SIG_CAP)
		return;
	t = tid();
	v = sig_f(signo, t) + st_c(n, t) + rp_d(n + 1000 * k, n & 1, NULL);
	__atomic_fetch_add(&g_sig_acc, v, __ATOMIC_RELAXED);
	errno = e;
}

static void phase_signals(int seg)
{
	struct itimerval it = { { 0, 700 }, { 0, 700 } }, off = { { 0, 0 }, { 0, 0 } };
	struct worker w[NWORKERS];
	struct sigaction sa;
	struct timespec t0, t1;
	volatile long spin = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_timer;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGPROF, &sa, NULL);
	start_workers(w, seg, W_PLAIN, 1000000L * seg);
	setitimer(ITIMER_REAL, &it, NULL);
	setitimer(ITIMER_PROF, &it, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* until both caps are reached; the workers, then this loop, burn the CPU time SIGPROF needs */
	while (g_sig_n[0] < SIG_CAP || g_sig_n[1] < SIG_CAP) {
		for (int i = 0; i < 100000; i++)
			spin = spin + i;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 60)
			die("timers did not fire enough within 60 s");
	}
	setitimer(ITIMER_REAL, &off, NULL);
	setitimer(ITIMER_PROF, &off, NULL);
	join_workers(w, seg);
	printf("seg %d signals acc=%ld\n", seg, g_sig_acc);
}

/* Deep return-probed recursion on the main thread, most of it left by longjmp. */
static void phase_deep(int seg)
{
	long acc = 0;

	for (long j = 0; j < 300; j++)
		acc += rp_call(1000000L * seg + j, j % 40);
	add_acc(seg, acc);
	thread_rounds(seg, 1, W_PLAIN);
}

static void report(void)
{
	flush_counts();
	for (int s = 0; s < MAX_SEG; s++) {
		for (int f = 0; f < NFN; f++)
			if (counts[s][f].n)
				printf("seg %d %s n=%ld s=%ld\n", s, fn_names[f], counts[s][f].n,
				       counts[s][f].s);
		for (int f = 0; f < NFN; f++)
			if (ccounts[s][f].n)
				printf("cseg %d %s n=%ld s=%ld\n", s, fn_names[f], ccounts[s][f].n,
				       ccounts[s][f].s);
		if (seg_acc[s])
			printf("seg %d acc=%ld\n", s, seg_acc[s]);
	}
	printf("cps");
	for (int i = 0; i < g_ncps; i++)
		printf(" %ld", g_cps[i]);
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int round = argc > 1 ? atoi(argv[1]) : 0, base = 100 * round;
	bool last = round >= NROUNDS;
	char next[16];
	char *const args[] = { argv[0], next, NULL };

	g_sync = getenv("SOAK_SYNC");
	g_iters = last ? 4096 : 24576; /* test_soak.c's ITERS */
	if (round < 0 || round > NROUNDS || pthread_barrier_init(&g_bar, NULL, NWORKERS))
		die("usage");

	cp(base + 1);
	thread_rounds(base + 1, last ? 2 : 4, W_PLAIN);
	cp(base + 10);
	thread_rounds(base + 10, 1, W_BARRIER);        /* cp 11, 12 inside */
	cp(base + 20);
	phase_fork(base + 20, last ? 1 : 3);
	if (!last) {
		cp(base + 30);
		phase_fork(base + 30, 2);
	}
	cp(base + 40);
	phase_signals(base + 40);
	if (!last) {
		cp(base + 50);
		thread_rounds(base + 50, 1, W_DETACH); /* cp 51 (detach), 52 (attached again) */
		cp(base + 60);
		phase_deep(base + 60);
	}
	cp(base + 90);
	report();
	if (!last) {
		sigset_t none;

		/* report() blocked every signal, and the mask survives exec */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		snprintf(next, sizeof(next), "%d", round + 1);
		execv("/proc/self/exe", args);
		die("exec");
	}
	return 0;
}
