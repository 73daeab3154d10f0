// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Threads and processes: found, made, freed; their registers; resumed and
 * restarted; the signals held for them; a system call our interrupt
 * broke, made again; the signals a process ignores. Waiting is wait.c's,
 * holding every thread hold.c's.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "os.h"

static unsigned task_hash(pid_t tid)
{
	return (unsigned)tid % TASK_HASH;
}

struct task *task_find(struct uprobe_tracer *t, pid_t tid)
{
	struct task *k;

	for (k = t->tasks[task_hash(tid)]; k; k = k->hnext)
		if (k->tid == tid)
			return k;
	return NULL;
}

struct task *task_new(struct uprobe_tracer *t, struct proc *p, pid_t tid, enum task_state st)
{
	struct task *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->tid = tid;
	k->proc = p;
	k->born = ++t->task_seq;
	k->state = st;
	k->hnext = t->tasks[task_hash(tid)];
	t->tasks[task_hash(tid)] = k;
	k->pnext = p->threads;
	p->threads = k;
	p->ntasks++;
	if (!t->wake_tid)
		t->wake_tid = tid;
	return k;
}

void task_free(struct uprobe_tracer *t, struct task *k)
{
	struct task **pp;

	for (pp = &t->tasks[task_hash(k->tid)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == k) {
			*pp = k->hnext;
			break;
		}
	}
	t->hooks->task_gone(t, k);
	task_close_comm(t, k);
	if (k->proc) {
		for (pp = &k->proc->threads; *pp; pp = &(*pp)->pnext) {
			if (*pp == k) {
				*pp = k->pnext;
				break;
			}
		}
		k->proc->ntasks--;
	}
	if (t->wake_tid == k->tid) {
		t->wake_tid = 0;
		for (unsigned i = 0; i < TASK_HASH && !t->wake_tid; i++)
			if (t->tasks[i])
				t->wake_tid = t->tasks[i]->tid;
	}
	free(k);
}

void task_close_comm(struct uprobe_tracer *t, struct task *k)
{
	if (!k->comm_fd1)
		return;
	close(k->comm_fd1 - 1);
	k->comm_fd1 = 0;
	t->ncomm_fds--;
}

int proc_reopen_mem(struct proc *p)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	mem_batch_free(p); /* an exec: what was queued was for the old image */
	if (p->memfd >= 0)
		close(p->memfd);
	p->memfd = fd;
	return 0;
}

struct proc *proc_new(struct uprobe_tracer *t, pid_t pid)
{
	struct proc *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return NULL;
	p->memfd = -1;
	p->pid = pid;
	err = proc_reopen_mem(p);
	if (err) {
		free(p);
		errno = -err;
		return NULL;
	}
	p->t = t;
	p->inline_mode = t->force_inline;
	p->next = t->procs;
	t->procs = p;
	return p;
}

/*
 * Not cached: a tracee may unshare its mount namespace at any time (as
 * `unshare -m` does before it execs), and only probes being added and
 * files not parsed yet ask.
 */
static bool proc_other_mntns(struct proc *p)
{
	char path[64], theirs[64], ours[64];
	ssize_t n, m;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", p->pid);
	n = readlink(path, theirs, sizeof(theirs));
	m = readlink("/proc/self/ns/mnt", ours, sizeof(ours));
	return n > 0 && m > 0 && (n != m || memcmp(theirs, ours, (size_t)n));
}

const char *proc_path(struct proc *p, const char *path, char *out, size_t outsz)
{
	if (path[0] == '/' && proc_other_mntns(p))
		snprintf(out, outsz, "/proc/%d/root%s", p->pid, path);
	else
		snprintf(out, outsz, "%s", path);
	return out;
}

int proc_elf_open(struct proc *p, const struct map_entry *m, struct elf_file **f)
{
	char path[sizeof(m->path) + 32];

	*f = elf_cached(makedev(m->dev_major, m->dev_minor), m->ino);
	if (*f)
		return 0;
	return elf_open(proc_path(p, m->path, path, sizeof(path)), f, NULL, 0);
}

/* p's code can get our probes now: a process of its own (not a vfork child, nor a fork child being let go), past its entry. */
bool proc_plantable(const struct proc *p)
{
	return !p->mm_owner && !p->fork_child && p->at_entry;
}

struct proc *proc_find(struct uprobe_tracer *t, pid_t pid)
{
	struct proc *p;

	for (p = t->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

void proc_free(struct uprobe_tracer *t, struct proc *p)
{
	struct proc **pp;

	t->hooks->proc_going(t, p);
	for (pp = &t->procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	for (struct proc *q = t->procs; q; q = q->next)
		if (q->mm_owner == p)
			q->mm_owner = NULL;
	for (unsigned i = 0; i < TASK_HASH; i++) {
		struct task *k = t->tasks[i], *n;

		for (; k; k = n) {
			n = k->hnext;
			if (k->proc == p)
				task_free(t, k);
		}
	}
	mem_batch_free(p);
	t->hooks->proc_gone(t, p);
	free(p->maps);
	free(p->maps_checked);
	if (p->memfd >= 0)
		close(p->memfd);
	if (p->trap_fd1)
		close(p->trap_fd1 - 1);
	free(p);
}

int proc_refresh_maps(struct proc *p)
{
	struct map_entry *m = NULL;
	int n = maps_read_pid(p->pid, &m);

	if (n < 0)
		return n;
	free(p->maps);
	p->maps = m;
	p->nmaps = n;
	p->maps_gen = ++p->t->maps_seq;
	p->maps_ns = mono_ns();
	return 0;
}

int task_getregs(struct task *k)
{
	if (ptrace(PTRACE_GETREGS, k->tid, NULL, &k->regs) < 0) {
		k->kregs_valid = false;
		return -errno;
	}
	k->regs_valid = true;
	k->kregs = k->regs;
	k->kregs_valid = true;
	/* moved for the lifeline: the tracer sees where the trap left it */
	if (k->lrip)
		k->regs.rip = k->lrip;
	return 0;
}

/* Words of a register write done one by one (PTRACE_POKEUSER) rather than in one PTRACE_SETREGS. */
#define POKE_MAX 3

/*
 * Writes k->regs back. PTRACE_SETREGS costs about three PTRACE_POKEUSERs
 * (it sets every segment and base register too), and most writes change
 * one word (rip: into a slot, back from the return trampoline) or none:
 * against the registers the kernel holds in this stop, only what differs
 * is written, each field through the same kernel path as SETREGS.
 */
int task_setregs(struct task *k)
{
	const unsigned long long *want = (const unsigned long long *)&k->regs;
	const unsigned long long *have = (const unsigned long long *)&k->kregs;
	unsigned diff[POKE_MAX], n = 0;

	if (k->kregs_valid) {
		for (unsigned i = 0; i < sizeof(k->regs) / sizeof(*want); i++) {
			if (want[i] == have[i])
				continue;
			if (n == POKE_MAX)
				goto all;
			diff[n++] = i;
		}
		for (unsigned i = 0; i < n; i++) {
			if (ptrace(PTRACE_POKEUSER, k->tid, (void *)(diff[i] * sizeof(*want)),
				   (void *)want[diff[i]]) < 0) {
				k->kregs_valid = false;
				return -errno;
			}
		}
		k->kregs = k->regs;
		k->lrip = 0;
		return 0;
	}
all:
	if (ptrace(PTRACE_SETREGS, k->tid, NULL, &k->regs) < 0) {
		k->kregs_valid = false;
		return -errno;
	}
	k->kregs = k->regs;
	k->kregs_valid = true;
	k->lrip = 0;
	return 0;
}

int task_restore_regs(struct task *k, const struct user_regs_struct *regs, uint64_t krip)
{
	int err;

	k->regs = *regs;
	if (krip)
		k->regs.rip = krip;
	err = task_setregs(k);
	k->regs = *regs;
	k->regs_valid = true;
	if (krip && !err)
		k->lrip = regs->rip;
	return err;
}

/* Queues a held signal again from outside; its siginfo survives where the kernel allows. */
static void requeue_signal(struct task *k, siginfo_t *si)
{
	if (syscall(SYS_rt_tgsigqueueinfo, k->proc->pid, k->tid, si->si_signo, si) < 0)
		syscall(SYS_tgkill, k->proc->pid, k->tid, si->si_signo);
}

/*
 * Lets a held or just-handled thread go. The oldest held signal is
 * delivered by the restart itself (its exact siginfo restored first when the
 * current stop is another signal's); later ones are queued again.
 */
/*
 * Restarts stopped k with req (PTRACE_CONT, PTRACE_SYSCALL or
 * PTRACE_SINGLESTEP), delivering sig; st is its state from then on
 * (TASK_RUNNING, or TASK_STEPPING for a step the dispatcher ends). The
 * one place a thread the run loop dispatches is let go; a held thread runs
 * only through task_run_own() (wait.c): its steps (task_run_and_wait())
 * and injected code (inject_run.c). What was read of its registers is stale from now
 * on. 0, or -errno (-ESRCH: gone meanwhile, its exit still to report).
 */
int task_restart(struct task *k, long req, int sig, enum task_state st)
{
	mem_flush(k->proc);
	k->state = st;
	k->regs_valid = false;
	if (ptrace(req, k->tid, NULL, (void *)(long)sig) < 0)
		return -errno;
	return 0;
}

int task_resume(struct task *k)
{
	int r;

	int sig = 0;
	long req = k->post_sys ? PTRACE_SYSCALL : task_cont_req(k);

	task_sync_regs(k);
	mem_flush(k->proc);
	k->want_stop = false;
	k->regs_valid = false;
	k->kregs_valid = false;
	/*
	 * An interrupt still outstanding only costs a spurious stop later;
	 * believing in one that was consumed would leave a wait with no end.
	 */
	k->interrupted = false;
	if (k->group_stop && !k->npending) {
		if (ptrace(PTRACE_LISTEN, k->tid, NULL, NULL) < 0)
			return errno == ESRCH ? 0 : -errno;
		k->state = TASK_LISTEN;
		return 0;
	}
	k->group_stop = false;
	if (k->npending) {
		siginfo_t *si = &k->pending[0];

		/*
		 * Its own siginfo, even for the same signal number: a held
		 * SIGTRAP that rides on a step's SIGTRAP stop must not arrive
		 * as the step trap.
		 */
		if (k->stop_sig)
			ptrace(PTRACE_SETSIGINFO, k->tid, NULL, si);
		if (k->stop_sig)
			sig = si->si_signo;
		else
			requeue_signal(k, si);
		for (unsigned i = 1; i < k->npending; i++)
			requeue_signal(k, &k->pending[i]);
		k->npending = 0;
	}
	k->stop_sig = 0;
	/* the hook is asked as k is resumed (test_task_hooks pins it) */
	k->state = TASK_RUNNING;
	if (sig && req == PTRACE_CONT && k->proc->t->hooks->deliver_step(k, sig))
		req = PTRACE_SINGLESTEP;
	r = task_restart(k, req, sig, TASK_RUNNING);
	return r == -ESRCH ? 0 : r;
}

void task_hold(struct task *k)
{
	k->state = TASK_STOPPED;
}

/* Resumes a thread after an event, or holds it if the tracer asked for that. */
void task_resume_or_hold(struct uprobe_tracer *t, struct task *k)
{
	if (k->want_stop) {
		task_hold(k);
		return;
	}
	task_resume(k);
}

bool task_sigtrap_sent(struct task *k)
{
	siginfo_t si;

	return ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) == 0 && si.si_signo == SIGTRAP &&
	       si.si_code <= 0;
}

/* Records the signal of the current signal-delivery-stop to deliver later. */
void task_hold_signal(struct task *k, int sig)
{
	siginfo_t si;

	if (ptrace(PTRACE_GETSIGINFO, k->tid, NULL, &si) < 0) {
		memset(&si, 0, sizeof(si));
		si.si_signo = sig;
		si.si_code = SI_USER;
	}
	if (k->npending < ARRAY_SIZE(k->pending))
		k->pending[k->npending++] = si;
}

bool task_siginfo_is_fault(const siginfo_t *si)
{
	return si->si_code > 0 && (si->si_signo == SIGSEGV || si->si_signo == SIGBUS ||
				   si->si_signo == SIGFPE || si->si_signo == SIGILL);
}

bool task_hold_fault_first(struct task *k, int sig)
{
	siginfo_t fault;

	task_hold_signal(k, sig);
	if (!k->npending || !task_siginfo_is_fault(&k->pending[k->npending - 1]))
		return false;
	/* delivered first, from this very stop, with its own siginfo */
	fault = k->pending[k->npending - 1];
	memmove(&k->pending[1], &k->pending[0], (k->npending - 1) * sizeof(fault));
	k->pending[0] = fault;
	k->stop_sig = fault.si_signo;
	return true;
}

void task_drop_signal(struct task *k, unsigned i)
{
	if (i >= k->npending)
		return;
	memmove(&k->pending[i], &k->pending[i + 1], (k->npending - i - 1) * sizeof(k->pending[0]));
	k->npending--;
}

/* Has k a signal pending that it does not block (its own, or its process's)? */
static bool unblocked_signal_pending(struct task *k)
{
	char line[128];
	const char *v;
	uint64_t pnd, blk;

	if (!(v = procfs_task_status_field(k, "SigPnd:", line, sizeof(line))))
		return true;
	pnd = strtoull(v, NULL, 16);
	if (!(v = procfs_task_status_field(k, "ShdPnd:", line, sizeof(line))))
		return true;
	pnd |= strtoull(v, NULL, 16);
	if (!(v = procfs_task_status_field(k, "SigBlk:", line, sizeof(line))))
		return true;
	blk = strtoull(v, NULL, 16);
	return pnd & ~blk;
}

/*
 * Our interrupt stopped k (or a signal it ignores, see below): if it was
 * blocked in a call the kernel never restarts
 * (arch_syscall_never_restarted()), the call has just failed with -EINTR
 * for no signal of the program's, which it would never see untraced
 * (epoll_wait() in an event loop, at every detach or stop of all threads).
 * The call is made again as the kernel restarts the others: the syscall
 * instruction again, with its number. Not when another signal waits for
 * delivery (the EINTR is then its) or one is held by us; a timeout starts
 * again from its full length.
 */
void task_restart_interrupted_call(struct task *k)
{
	static const uint8_t insn[ARCH_SYSCALL_LEN] = { ARCH_SYSCALL_INSN };
	uint8_t code[ARCH_SYSCALL_LEN];

	if (k->npending || task_getregs(k) < 0)
		return;
	if ((int64_t)k->regs.rax != -EINTR || (int64_t)k->regs.orig_rax < 0 ||
	    !arch_syscall_never_restarted((long)k->regs.orig_rax))
		return;
	if (mem_read(k->proc, k->regs.rip - ARCH_SYSCALL_LEN, code, sizeof(code)) < 0 ||
	    memcmp(code, insn, sizeof(insn)) || unblocked_signal_pending(k))
		return;
	k->regs.rax = k->regs.orig_rax;
	k->regs.rip -= ARCH_SYSCALL_LEN;
	task_setregs(k);
}

/*
 * Does k's process ignore sig: SIG_IGN, or the default action of SIGCHLD,
 * SIGWINCH, SIGURG, SIGCONT? Untraced, such a signal is dropped when sent
 * and wakes no one; traced, the kernel queues it for us to see, and the
 * thread's wait ends with -EINTR.
 */
bool task_signal_ignored(struct task *k, int sig)
{
	char line[128];
	const char *v;
	uint64_t bit = 1ull << (sig - 1);

	if (sig < 1 || sig > 64)
		return false;
	if ((v = procfs_task_status_field(k, "SigIgn:", line, sizeof(line))) &&
	    (strtoull(v, NULL, 16) & bit))
		return true;
	if (sig != SIGCHLD && sig != SIGWINCH && sig != SIGURG && sig != SIGCONT)
		return false;
	v = procfs_task_status_field(k, "SigCgt:", line, sizeof(line));
	return v && !(strtoull(v, NULL, 16) & bit);
}
