/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libuprobe public API: user-space uprobes for x86-64 Linux processes, driven through ptrace. */
#ifndef UPROBE_H
#define UPROBE_H

#include <signal.h>
#if defined(__GLIBC__) && !defined(__USE_POSIX199309) && !defined(__USE_XOPEN_EXTENDED)
/* strict ISO C (-std=c11): <signal.h> leaves siginfo_t out, the fault handler needs it */
#include <bits/types/siginfo_t.h>
#endif
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/user.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef UPROBE_API
#define UPROBE_API __attribute__((visibility("default")))
#endif

#define UPROBE_VERSION_MAJOR 0
#define UPROBE_VERSION_MINOR 1

/*
 * Conventions
 * -----------
 * Functions returning int return 0 (or a non-negative value) on success and a
 * negative errno on failure, with errno set to the positive value as well.
 * Functions returning a pointer return NULL on failure with errno set.
 * Every failure also leaves a one-line message naming the input that was
 * wrong, retrievable with uprobe_tracer_errmsg() and passed to the print
 * callback (uprobe_set_print()).
 *
 * Threading: a struct uprobe_tracer and everything created from it belong to
 * the thread that calls uprobe_tracer_run(); only uprobe_tracer_stop() may be
 * called from another thread or from a signal handler. ptrace itself binds a
 * tracee to the tracer *thread* that attached it, so spawn/attach/run/detach
 * must all be called from one thread.
 *
 * Handlers run in the tracer, synchronously, while the thread that hit the
 * probe is stopped; other threads of the tracee keep running. No-stop probes
 * (uprobe_opts.nostop) are the exception: the thread runs on, and the
 * handler sees a snapshot of its registers later.
 */

struct uprobe_tracer;
struct uprobe;
struct uprobe_hit;

/* ---- Options (libbpf-style: sz first, new fields only at the end) ---- */

#define UPROBE_OPTS(TYPE, NAME, ...)                                                   \
	struct TYPE NAME = __extension__({                                             \
		memset(&NAME, 0, sizeof(struct TYPE));                                 \
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ };               \
	})

/*
 * Handler callbacks. Return 0. (Other values are reserved.)
 * A handler may change registers through uprobe_hit_regs(); they are written
 * back when the thread resumes. If a handler of an entry probe changes rip,
 * the probed instruction is skipped and the thread continues at the new rip
 * (the kprobes "modify ip" convention; for fault injection at a function's
 * entry, uprobe_hit_override_return() does it exactly).
 */
typedef int (*uprobe_handler_fn)(struct uprobe_hit *hit, void *data);

/* What a fault handler returns. */
enum uprobe_fault_action {
	UPROBE_FAULT_DELIVER = 0, /* the program receives the signal as it would untraced */
	UPROBE_FAULT_HANDLED = 1, /* swallowed: the thread resumes with the hit's registers */
};

/*
 * Fault handler: the probed instruction raised a fault (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, ...) as it ran after the entry handlers. The hit's
 * registers are those of the faulting instruction, rip its address in the
 * program (as the program's own signal handler would see them); si is the
 * signal, si_addr as if the instruction had faulted in place. Returns an
 * enum uprobe_fault_action. To swallow a fault and skip the instruction,
 * set rip to the next instruction (rip + its length) and return
 * UPROBE_FAULT_HANDLED; leaving rip unchanged runs the instruction, and its
 * probe, again.
 */
typedef int (*uprobe_fault_fn)(struct uprobe_hit *hit, const siginfo_t *si, void *data);

struct uprobe_opts {
	size_t sz; /* sizeof(struct uprobe_opts), for ABI growth */
	uprobe_handler_fn handler;     /* entry handler: runs before the instruction */
	/*
	 * Makes it a return probe: runs each time the function returns, with
	 * the registers as the caller sees them (rip = the return address).
	 * Return probes go on a function's first instruction (offset 0), never
	 * on the entry point (_start: -EOPNOTSUPP, even with force), which is
	 * not called and never returns.
	 * A function that returns twice (setjmp, _setjmp, __sigsetjmp,
	 * sigsetjmp, getcontext, vfork and their aliases, known by name) runs
	 * the return handler at every return of the call: 0 then each
	 * longjmp's value, or vfork's 0 in the child (on the child's thread)
	 * then its pid in the parent. Its return address is not hijacked but
	 * probed. A function of the program's own marked returns_twice is not
	 * known as such: a second return through a hijacked address is fatal.
	 * With nostop (below) neither the entry nor the return stops: the
	 * return address goes through a gadget in the scratch area that
	 * records the return (rax, rdx, the low double of xmm0, a time
	 * stamp); the return handler runs later, as a no-stop hit. Calls
	 * caught up in a C++ exception come back as stopping ones; functions
	 * that return twice always stop.
	 */
	uprobe_handler_fn ret_handler;
	void *data;                    /* passed to the handlers */
	/*
	 * Return probes: bytes of per-call data (uprobe_hit_call_data()),
	 * zeroed at entry, seen by the entry handler and by the return handler
	 * of the same call. At most 65535 (allocated per pending call).
	 */
	size_t data_size;
	/*
	 * Return probes: the most calls a thread may have pending (entered,
	 * not yet returned) before further calls are counted as missed
	 * instead of hijacked. 0 means 128.
	 */
	unsigned maxactive;
	/*
	 * Return probes in a Go program are refused (-EOPNOTSUPP): Go moves
	 * goroutine stacks, copying a hijacked return address to where no
	 * return will ever be matched. true forces them anyway.
	 */
	bool force;
	/*
	 * When BINARY is a library name that no tracee maps yet (a plugin the
	 * program will dlopen), the probe is pending instead of refused: it is
	 * placed when a tracee maps that library. Errors found then (no such
	 * symbol) go to the print callback. uprobe_binary_path() is NULL until
	 * it is placed.
	 */
	bool pending;
	/*
	 * Runs after the probed instruction has executed, with the registers as
	 * they are then: its results, rip the next instruction or the target a
	 * branch, call or return went to (uprobe_hit_addr() is still the probed
	 * instruction). It may change registers, rip included. It costs one
	 * more stop per hit (none for nops and direct jumps). Not run when an
	 * entry handler skipped the instruction by changing rip, nor when the
	 * instruction faulted, nor for a system call the kernel restarts (its
	 * re-execution is hit again). uprobe_hit_is_post() tells the two
	 * calls apart when one function serves as both handlers.
	 */
	uprobe_handler_fn post_handler;
	/* See uprobe_fault_fn; several probes on one instruction are asked in order. */
	uprobe_fault_fn fault_handler;
	/*
	 * A no-stop probe: the thread that hits it is not stopped. Where a
	 * jump detour can be made (see uprobe_tracer_set_optimize(); here
	 * at the probe's first hit), the thread writes its registers into a
	 * ring buffer shared with the tracer (about 30 ns, no system call)
	 * and runs on; the handler runs later, in uprobe_tracer_run(), with
	 * those registers: uprobe_hit_is_async() is true, uprobe_hit_regs()
	 * shows the registers as they were at the instruction (changing them
	 * has no effect), uprobe_hit_read() reads memory as it is now (so do
	 * uprobe_hit_arg() for arguments 6 and up, on the stack), and
	 * uprobe_hit_xmm() and uprobe_hit_backtrace() fail with -EOPNOTSUPP.
	 * Hits are delivered in order per thread, exactly once, before the
	 * process's exit or exec is reported and before a probe on that
	 * instruction is added or removed; while the tracer lags far behind
	 * (16384 hits not yet handled) a hit stops and waits for it instead of
	 * being dropped. run() looks at the ring whenever it wakes, every
	 * 50 us or so while hits come (it polls then, for up to 5 ms after
	 * the last), and otherwise at least every 1 to 50 ms.
	 * Where no detour can be made (a jump into the bytes it would
	 * cover, an indirect jump in the function, several instructions in
	 * the middle of a function of a file with exception landing pads,
	 * another probe there that stops), or no ring (the process's seccomp
	 * filter forbids memfd_create), each hit stops as for any probe, and
	 * the handler runs then, with the same rules. A followed fork child
	 * gets a ring of its own at its first hit. Not with a post handler (-EINVAL). Several probes
	 * on one instruction are no-stop only when all of them are.
	 * Count-only: a no-stop probe with no handler at all records
	 * nothing; its detour adds 1 to a 64-bit counter in the tracee
	 * (one locked increment, flags and registers kept), and
	 * uprobe_hits() reads the counters (in the tracer's thread; from
	 * another, it returns what was last read), plus the hits that
	 * stopped (the first, which makes the detour; every hit where no
	 * detour or counter can be had). Only where every probe on the
	 * instruction is count-only; counts of a followed fork child are
	 * its own, and uprobe_hits() is their sum over every traced
	 * process, as for other probes. The counters are read one last
	 * time before a process exits, execs or is detached from.
	 */
	bool nostop;
	/*
	 * No-stop probes: what a hit's record may leave out, UPROBE_RECORD_*
	 * or'ed (0: everything). Where several probes share the instruction,
	 * their records hold what any of them wants; return probes keep every
	 * register and their time stamps (the call's duration). -EINVAL
	 * without nostop.
	 */
	unsigned record;
};
#define uprobe_opts__last_field record

/*
 * No time stamp (the gadget's rdtsc, about 7 of a record's 40 ns on an AMD
 * EPYC): uprobe_hit_time_ns() of a hit from the ring is when the tracer
 * read it.
 */
#define UPROBE_RECORD_NO_TIME 0x1u
/*
 * The arguments only: rdi, rsi, rdx, rcx, r8, r9, rax (a variadic call's
 * vector count), rsp (arguments 6 and up, read as memory is now), the
 * flags and the time stamp, two of the record's three cache lines;
 * uprobe_hit_regs() shows 0 in rbx, rbp and r10-r15. Either way the
 * tracer reads a record's first line only (the time stamp and the first
 * four arguments) until a handler asks for more: uprobe_hit_regs(),
 * uprobe_hit_arg() past the fourth, uprobe_hit_retval().
 */
#define UPROBE_RECORD_ARGS_ONLY 0x2u
#define UPROBE_RECORD_ALL_FLAGS (UPROBE_RECORD_NO_TIME | UPROBE_RECORD_ARGS_ONLY)

/* ---- Messages ---- */

enum uprobe_print_level {
	UPROBE_WARN,
	UPROBE_INFO,
	UPROBE_DEBUG,
};
typedef int (*uprobe_print_fn)(enum uprobe_print_level level, const char *fmt, va_list ap);

/*
 * Sets the function that receives libuprobe's one-line diagnostics ("libuprobe: ..."),
 * returning the previous one. NULL silences them. The default prints warnings
 * to stderr (and info too when the environment has LIBUPROBE_DEBUG set).
 * Not thread-safe with respect to concurrent printing; call it once at start-up.
 */
UPROBE_API uprobe_print_fn uprobe_set_print(uprobe_print_fn fn);

/* ---- Tracer ---- */

/* A new tracer with no tracee. NULL with errno ENOMEM on failure. */
UPROBE_API struct uprobe_tracer *uprobe_tracer_new(void);

/*
 * Runs argv[0] (searched in PATH when it has no '/') as a new traced process
 * and returns with it stopped before any code of the program or of its
 * libraries has run:
 * - a dynamically linked program (glibc's loader): where the dynamic
 *   linker tells a debugger that the start-up link map is complete, in
 *   its _dl_debug_state() with _r_debug.r_state RT_CONSISTENT: every
 *   library needed at start-up (DT_NEEDED, LD_PRELOAD) is mapped and
 *   relocated (IFUNCs resolved), and no library constructor
 *   (DT_INIT/DT_INIT_ARRAY, C++ static initializers) has run yet;
 * - a static program, or one whose loader has no _r_debug (musl): at its
 *   entry point, before its first instruction.
 * Probes added now on the executable or those libraries see every call,
 * constructors' included. The process is killed if the tracer exits
 * (PTRACE_O_EXITKILL). *pid receives its pid (may be NULL).
 * Until then every stop is handled as in uprobe_tracer_run():
 * signals are delivered to the program (a crash in the dynamic linker
 * while it relocates), threads it creates are traced, forks
 * follow uprobe_tracer_follow_forks(). The program's signal dispositions
 * and mask are the calling thread's, as fork and exec make them (caught
 * signals back to their default); see uprobe_tracer_spawn_opts().
 * Errors: -ENOENT/-EACCES/-ENOEXEC the program cannot be executed (errno of
 * execvp), -EPERM ptrace not allowed;
 * -ECHILD it ended before that point (killed by a signal before or
 *   during its exec, a crash or an exit in the dynamic linker, an IFUNC
 *   resolver): *pid is set, uprobe_tracer_exit_status() gives its status,
 *   and the message says how it ended;
 * -EINTR uprobe_tracer_stop() was called meanwhile (from a signal handler
 *   of the calling thread, or another thread): before its exec the child
 *   is killed (*pid not set); after it, the program is let go untraced and
 *   *pid is set, for the caller to wait for it.
 * Waits only for the program: a program that never gets there (an IFUNC
 * resolver that never returns) keeps it waiting until
 * uprobe_tracer_stop(). A traced process that execs stops at the same
 * point of its new image, where probes are planted before its
 * constructors too.
 */
UPROBE_API int uprobe_tracer_spawn(struct uprobe_tracer *t, char *const argv[], pid_t *pid);

struct uprobe_spawn_opts {
	size_t sz; /* sizeof(struct uprobe_spawn_opts), for ABI growth */
	/*
	 * The signal mask the program starts with; NULL: the calling thread's.
	 * (glibc's own internal signals cannot be blocked.)
	 */
	const sigset_t *sigmask;
	/*
	 * The signals the program starts with ignored (SIG_IGN); every other
	 * starts with its default action. NULL: those the calling process
	 * ignores. A tracer that catches signals for itself (SIGINT, SIGHUP)
	 * passes here those that were ignored when it started, so that the
	 * program inherits them as from a shell (nohup's SIGHUP).
	 */
	const sigset_t *sigignore;
};
#define uprobe_spawn_opts__last_field sigignore

/*
 * uprobe_tracer_spawn() with options (NULL: the same). Errors as there,
 * and -EINVAL for non-zero bytes in opts beyond the fields this library
 * knows.
 */
UPROBE_API int uprobe_tracer_spawn_opts(struct uprobe_tracer *t, char *const argv[], pid_t *pid,
					const struct uprobe_spawn_opts *opts);

/*
 * Attaches to a running process and all its threads (PTRACE_SEIZE); probes
 * already added apply to it. The process keeps running.
 * Errors: -ESRCH no such process, or a zombie (exited, not yet reaped),
 * -EPERM not allowed or already traced, or its main thread has exited,
 * -EEXIST already attached to this tracer. The message says which.
 */
UPROBE_API int uprobe_tracer_attach(struct uprobe_tracer *t, pid_t pid);

/*
 * Handles events (probe hits, thread creation, exits, signals) until every
 * tracee has exited, or uprobe_tracer_stop() is called. It waits for any
 * child of the calling thread: a child the calling thread forked for other
 * purposes may have its exit consumed here; children forked by the
 * program's other threads are left alone (so run the tracer in a thread of
 * its own when the program has children of its own). Returns 0 then, or a
 * negative errno on an internal failure (the message says which).
 * After a stop, tracees stay attached: threads stopped at that moment (at
 * a hit, say) stay stopped until run() is called again, the others keep
 * running (and hit probes that wait for run()); call
 * uprobe_tracer_detach() to let them go.
 */
UPROBE_API int uprobe_tracer_run(struct uprobe_tracer *t);

/*
 * Makes uprobe_tracer_run() return soon. Async-signal-safe and callable from
 * any thread; run() returns at once, whether its tracees are busy or idle.
 */
UPROBE_API void uprobe_tracer_stop(struct uprobe_tracer *t);

/*
 * Runs fn(t, arg) in the thread that runs the tracer and returns what fn
 * returned: the safe way for another thread to add or remove probes, or
 * to do anything else with the tracer, while uprobe_tracer_run() runs
 * (ptrace binds every tracee to that one thread). From the tracer's own
 * thread (a handler included) or while run() does not run, fn is called
 * directly; from another thread while run() runs, the request is handed to
 * run(), which wakes up for it at once, and the caller waits until fn has
 * returned. -EBUSY from another thread while run() does not run.
 */
UPROBE_API int uprobe_tracer_call(struct uprobe_tracer *t,
				  int (*fn)(struct uprobe_tracer *t, void *arg), void *arg);

/*
 * Removes every probe's breakpoints from every tracee, moves threads that
 * are inside libuprobe's scratch code back to the program's own code, unmaps
 * the scratch areas and detaches from every thread, re-delivering any signal
 * that was pending. The processes continue unharmed. Probes stay registered
 * (and would be planted again by a later spawn/attach). Returns 0 or -errno.
 */
UPROBE_API int uprobe_tracer_detach(struct uprobe_tracer *t);

/*
 * Whether fork and vfork children of tracees are followed: traced from
 * their first instruction with every probe (and their own pending return
 * probes), through exec too. Off by default: a child gets its original
 * bytes and return addresses back and is let go (a vfork or posix_spawn
 * child, which runs on its parent's memory, at the syscall-entry stop of
 * an execve whose file exists, so that a setuid program keeps its
 * privileges; or when it exits).
 * Applies to forks from now on. Returns 0 or -EINVAL.
 */
UPROBE_API int uprobe_tracer_follow_forks(struct uprobe_tracer *t, bool follow);

/* ---- Process events ---- */

/* What happened to a traced process. Kinds may be added: ignore those you do not know. */
enum uprobe_event_kind {
	UPROBE_EVENT_FORK = 1, /* it forked (fork, vfork, clone of a process, posix_spawn) */
	UPROBE_EVENT_EXEC = 2, /* it ran execve: a new program, probes planted as at spawn */
	UPROBE_EVENT_EXIT = 3, /* it ended: its last thread exited, or it was killed */
};

/*
 * An event, as passed to a uprobe_event_fn. The library fills it; fields
 * are only ever added at the end, so a callback built against a newer
 * header than the library it runs with checks UPROBE_EVENT_HAS(ev, field)
 * before reading a field its library may not know (sz is what was filled).
 */
struct uprobe_event {
	size_t sz;                   /* bytes of this struct the library filled in */
	enum uprobe_event_kind kind;
	pid_t pid;                   /* the process: for FORK, the parent */
	/*
	 * The thread: FORK the one that forked; EXEC the one that called
	 * execve, by its tid before the exec (after it, it has pid as tid);
	 * EXIT pid.
	 */
	pid_t tid;
	uint64_t time_ns;            /* when the tracer saw it: CLOCK_MONOTONIC nanoseconds */
	/* FORK: the child's pid */
	pid_t child;
	/*
	 * FORK: the child is traced (uprobe_tracer_follow_forks()), with every
	 * probe, its own events reported; false: it was let go.
	 */
	bool followed;
	/* FORK: the child runs on its parent's memory until it execs or exits (vfork) */
	bool vfork;
	/*
	 * EXEC: the file the process now runs, as /proc/PID/exe names it
	 * after the exec (its path in the process's mount namespace; for a
	 * script, its interpreter); "" when it cannot be read. Valid during
	 * the callback only.
	 */
	const char *path;
	/*
	 * EXIT: the wait status, as from waitpid: WIFEXITED() and
	 * WEXITSTATUS(), or WIFSIGNALED(), WTERMSIG() and WCOREDUMP().
	 */
	int status;
};
#define UPROBE_EVENT_HAS(ev, field)                                                          \
	((ev)->sz >= offsetof(struct uprobe_event, field) + sizeof((ev)->field))

/* An event callback. Return 0. (Other values are reserved.) */
typedef int (*uprobe_event_fn)(const struct uprobe_event *ev, void *data);

/*
 * Calls fn(ev, data) for every fork, exec and exit of each traced process:
 * spawned, attached, and followed fork children (uprobe_tracer_follow_forks();
 * a fork whose child is let go is reported, with followed false, and no
 * event of that child after; a vfork child, on its parent's memory until
 * it execs, still hits the probes there). Threads are not processes: a thread's
 * creation or exit is no event, and the process's exit is reported once,
 * when its last thread is gone. Not reported: the exec that
 * uprobe_tracer_spawn() itself runs, and anything of a process after
 * uprobe_tracer_detach().
 * Order: events are delivered by uprobe_tracer_run(), in the tracer's
 * thread, never while a handler runs, in the order the tracer saw them. An
 * exec or exit comes after every hit of the process before it, hits of
 * no-stop probes still in its ring included; a fork comes before every
 * hit of its child. Events seen outside run() (during spawn, attach or a
 * handler's uprobe_add()) are delivered by the next run(). The callback
 * may call uprobe_tracer_stop() (run() returns after it), uprobe_add() and
 * uprobe_remove(). Events not yet delivered when run() returns on a stop
 * wait for the next run(); uprobe_tracer_free() drops them.
 * One callback per tracer: a new one replaces the old; fn NULL turns
 * events off. Returns 0, or -EINVAL for a NULL tracer.
 */
UPROBE_API int uprobe_tracer_on_event(struct uprobe_tracer *t, uprobe_event_fn fn, void *data);

#define UPROBE_CPU_ANY (-1)    /* no placement: the scheduler decides (the default) */
#define UPROBE_CPU_FOLLOW (-2) /* the tracer follows the CPUs of the threads it serves */

/*
 * Where the thread that runs uprobe_tracer_run() runs. A hit is a round
 * trip between the tracee thread and the tracer, and when they sit on
 * different CPUs each half is a cross-CPU wake-up, which can cost more than
 * everything else a hit does (ten times more on some virtual machines).
 * cpu >= 0: the run thread is pinned to that CPU while run() runs.
 * UPROBE_CPU_FOLLOW: while run() runs, the run thread runs where the thread
 *   that stopped may run: on the CPUs its affinity restricts it to, so that
 *   a tracee pinned to one CPU shares that CPU with its tracer; a thread
 *   free to run anywhere leaves the tracer free too. (Following the CPU
 *   such a thread last ran on does not keep the pair together: resumed by
 *   a tracer still running on its CPU, the thread wakes on an idle one.)
 *   The affinity is looked at on the first stop and then at most every
 *   50 ms: a hit costs no extra system call.
 * UPROBE_CPU_ANY: no placement (the default).
 * The run thread's own affinity is restored when run() returns. Takes
 * effect at the next run(), or at once from a handler or through
 * uprobe_tracer_call(). Only the tracer thread is moved, never a tracee.
 * Returns 0, or -EINVAL for a value below -2, at or above CPU_SETSIZE, or
 * a CPU this process may not run on.
 */
UPROBE_API int uprobe_tracer_set_cpu(struct uprobe_tracer *t, int cpu);

/*
 * Whether processes spawned or attached from now on (and their followed
 * fork children) run probed instructions in place instead of in a scratch
 * area: no memory is ever mapped into them. After the handlers, a hit then
 * emulates the instruction (nop, endbr64, push of a register, call rel32,
 * jmp, jcc, ret: as fast as a scratch area), or puts its original byte back
 * and runs it with every other thread of the process held, then plants the
 * int3 again: about three times the cost of a hit, more with each other
 * running thread. Return probes keep working (their trampoline is an int3
 * on the program's entry point, which runs only at start-up). libuprobe
 * falls back to this by itself for a process in which no scratch area can
 * be mapped (its seccomp filter forbids mmap). Off by default; for tests,
 * and for programs that must not see new mappings. Processes already
 * traced are not affected. May be called from a handler; from another
 * thread while run() runs, through uprobe_tracer_call(). Returns 0, or
 * -EINVAL for a NULL tracer.
 */
UPROBE_API int uprobe_tracer_force_inline(struct uprobe_tracer *t, bool on);

/*
 * Whether entry probes may be jump-optimized (on by default), as the
 * kernel's optimized kprobes are: once a probe has been hit, where it is
 * safe, its instruction and the following ones (at least 5 bytes) are
 * replaced by a jump to a copy of them in libuprobe's scratch area that
 * traps there; a hit then costs no register write unless a handler changes
 * a register. Handlers see the same hit either way (uprobe_hit_addr() and
 * rip are the probed address). It is not done where a jump could land, or a
 * thread be, inside the replaced bytes: functions with indirect jumps, a
 * jump into those bytes, a call among them, several instructions in the
 * middle of a function of a file with exception landing pads (C++, and
 * glibc) or with any jump into them, other probes among them. false puts every optimized
 * probe back to an int3 at once (no-stop probes then stop at every hit
 * too); true applies from the next hits on.
 * Callable from handlers and through uprobe_tracer_call(). 0 or -EINVAL.
 */
UPROBE_API int uprobe_tracer_set_optimize(struct uprobe_tracer *t, bool on);

/*
 * The wait status (as from waitpid) of a tracee process that ended while
 * traced; -ESRCH if this tracer saw no such process end.
 */
UPROBE_API int uprobe_tracer_exit_status(struct uprobe_tracer *t, pid_t pid);

/* The last error message of this tracer ("" if none). Valid until the next call. */
UPROBE_API const char *uprobe_tracer_errmsg(const struct uprobe_tracer *t);

/* Detaches (if still attached) and frees the tracer and all its probes. NULL is a no-op. */
UPROBE_API void uprobe_tracer_free(struct uprobe_tracer *t);

/* ---- The machine ---- */

/*
 * Capabilities of this machine, measured once per process at the first
 * uprobe_tracer_new() (or uprobe_caps()) call: a few milliseconds, one
 * short-lived child process traced by the calling thread. libuprobe relies
 * on no feature without measuring it, and every path that would use one has
 * an exact fallback, so these change speed and detail, never correctness:
 *
 * UPROBE_CAP_FSGSBASE: rdfsbase is usable; the record gadget of no-stop
 *   probes names its thread by fs base directly. Without it the gadget reads
 *   the word at %fs:0 (the thread pointer under the x86-64 TLS ABI, checked
 *   per process); uprobe_hit_tid() is right either way.
 * UPROBE_CAP_TSC: the kernel keeps time with the TSC; no-stop hits get their
 *   time stamp from rdtsc in the tracee. Without it, a no-stop hit's time is
 *   when the tracer drained it.
 * UPROBE_CAP_HW_BREAK: debug registers fire (an execute breakpoint in DR0
 *   stops a thread). Reported only: libuprobe does not use them.
 * UPROBE_CAP_STEP_EXACT: a single-step over cpuid stops right after it.
 *   Some hypervisors report it one instruction late; libuprobe takes such a
 *   step as done either way. Reported only.
 * UPROBE_CAP_LAHF: lahf/sahf run in 64-bit mode (missing on the first
 *   x86-64 CPUs). The gadgets of no-stop probes put the program's flags
 *   back with sahf; without it, with popfq (about 6 ns a hit more), and
 *   count-only probes record like the others instead of counting.
 * UPROBE_CAP_PREFETCHW: prefetchw runs (CPUID). The record gadgets ask for
 *   the next record's cache lines with write intent while they commit one;
 *   without it they jump over those hints (a hint only: no change in what
 *   is recorded).
 *
 * The environment variable UPROBE_TEST_CAPS_OFF ("all", or names from
 * uprobe_cap_name() separated by commas) turns capabilities off so that the
 * test suite runs every fallback on every machine. It is for tests, not for
 * production. Thread-safe.
 */
#define UPROBE_CAP_FSGSBASE (1u << 0)
#define UPROBE_CAP_TSC (1u << 1)
#define UPROBE_CAP_HW_BREAK (1u << 2)
#define UPROBE_CAP_STEP_EXACT (1u << 3)
#define UPROBE_CAP_LAHF (1u << 4)
#define UPROBE_CAP_PREFETCHW (1u << 5)
UPROBE_API unsigned uprobe_caps(void);
/*
 * The short name of one UPROBE_CAP_* bit ("fsgsbase", "tsc", "hwbreak",
 * "stepexact", "lahf", "prefetchw"), or NULL.
 */
UPROBE_API const char *uprobe_cap_name(unsigned cap);

/* ---- Probes ---- */

/*
 * Adds an entry probe.
 * binary: a path (anything containing '/'), or a name matched against the
 *   files mapped by the tracees: "libc", "libc.so" or "libc.so.6" match
 *   /usr/lib/x86_64-linux-gnu/libc.so.6, and the basename of the executable
 *   matches it ("ls"); "libstdc++.so.6" matches libstdc++.so.6.0.30, and a
 *   library's DT_SONAME names it too (see uprobe_lib_path() for the rules). A name two different mapped files
 *   match equally well is refused (-EINVAL, the message names both). A
 *   name no tracee maps is tried as a path. Paths are
 *   looked up as the tracee sees them: a tracee in another mount namespace
 *   (a container) has its paths resolved through /proc/PID/root (the file
 *   it maps under that path first), and mapped files are matched by
 *   (device, inode). A probe on a file no traced process maps is added
 *   (it waits for a process that maps it) with a warning to the print
 *   callback.
 * symbol: a function name, optionally versioned ("malloc", "malloc@@GLIBC_2.2.5",
 *   "memcpy@GLIBC_2.2.5"); NULL makes offset a file offset. With a symbol,
 *   the probe is at exactly `offset` bytes from the symbol's start.
 *   An IFUNC symbol (libc's strlen) is resolved to the implementation the
 *   tracee's resolver selects.
 * The probe is refused before any byte of any tracee changes when: the
 *   binary or symbol does not exist (-ENOENT), the address is not in an
 *   executable segment or not an instruction boundary of the containing
 *   function (-EINVAL), the instruction cannot be decoded (-ENOEXEC) or cannot
 *   be executed out of line (-EOPNOTSUPP), or it is an int3 the program
 *   itself contains (-EEXIST).
 * Several probes on one instruction run their handlers in the order added.
 * While every thread of a process is held (after spawn, or in a handler
 * while its other threads are stopped too), the bytes of added and removed
 * probes are written together just before one of those threads runs again
 * (uprobe_hit_read() shows them already): adding thousands costs a few
 * system calls in all.
 * May be called before spawn/attach (then binary must be a path), between
 * run() calls, from a handler (a probe added on the instruction being hit
 * runs from that hit on), and from other threads through
 * uprobe_tracer_call().
 */
UPROBE_API struct uprobe *uprobe_add(struct uprobe_tracer *t, const char *binary,
				     const char *symbol, uint64_t offset,
				     const struct uprobe_opts *opts);

/*
 * The file a traced process maps under a library name, as the tracer can
 * open it: in buf (size bytes, '\0' included) a path of the calling
 * process, /proc/PID/root/... when the tracee lives in another mount
 * namespace (a container).
 * pid: a traced process, or 0 for the first one spawned or attached.
 * name: as uprobe_add() takes binary: a file name matched against the
 *   files the process maps, "libc", "libc.so" and "libc.so.6" all naming
 *   /usr/lib/x86_64-linux-gnu/libc.so.6, "libstdc++" and "libstdc++.so.6"
 *   naming libstdc++.so.6.0.30, and a name going on after a '-' as a last
 *   resort ("ld" -> ld-linux-x86-64.so.2); or a path (containing '/'), as
 *   the tracee sees it, which must be mapped. A library's DT_SONAME names
 *   it as its file name does: "libfoo.so.1" is the very name of a file
 *   libfoo-impl.so whose soname it is (and "libfoo", "libfoo.so" a version
 *   of it), as the dynamic linker knows it. Sonames are read (each file
 *   parsed once, the cache uprobe_add() uses; only files mapped
 *   executable) when no mapped file's base name is name itself.
 * The process's maps as last read are asked first, read again when they
 * answer nothing (a library dlopen'ed since); a library unmapped since may
 * still be named until then.
 * Returns 0, or a negative errno with a one-line message
 * (uprobe_tracer_errmsg()): -ENOENT the process maps no such file, -EINVAL
 * NULL or empty arguments or a name that matches two different files
 * equally well (the message names both), -ESRCH pid is not traced (or
 * nothing is), -ERANGE the path does not fit in size bytes.
 * Callable where uprobe_add() is; not thread-safe against the tracer's own
 * thread.
 */
UPROBE_API int uprobe_lib_path(struct uprobe_tracer *t, pid_t pid, const char *name, char *buf,
			       size_t size);

/*
 * How well the library name name (no '/') names the file at path, by its
 * base name, with the rules of uprobe_lib_path(): 0 not at all, else 1 (a
 * name going on after '-'), 2 (a version of it: "libc" for libc.so.6) or 3
 * (the very name); of several candidates the highest is meant. For files
 * no tracee maps yet (ld.so.cache entries, a directory listing). When path
 * holds a '/' and its base name is not name itself, the file is read (an
 * ELF file is parsed once, with the cache uprobe_add() uses) and its
 * DT_SONAME counts as a name of it too: the better rank wins. A bare name
 * (no '/') is only compared, never opened. Needs no tracer; thread-safe.
 */
UPROBE_API int uprobe_lib_name_match(const char *name, const char *path);

/* Removes a probe (its breakpoint goes when no other probe shares the
 * instruction) and frees it; calls of a return probe still pending return
 * normally, unreported. Callable where uprobe_add() is, a probe's own
 * handler included. Returns 0 or -errno. */
UPROBE_API int uprobe_remove(struct uprobe *p);

/* Number of times the probe fired: entries for an entry probe, returns for a return probe. */
UPROBE_API uint64_t uprobe_hits(const struct uprobe *p);

/*
 * Return probes: calls whose return was not reported: skipped by longjmp,
 * unwound by an exception, over maxactive, or pending when their thread
 * exited or the tracer detached.
 */
UPROBE_API uint64_t uprobe_missed(const struct uprobe *p);

/* Where the probe is: the file it is in (its canonical absolute path), and the file offset. */
UPROBE_API const char *uprobe_binary_path(const struct uprobe *p);
UPROBE_API uint64_t uprobe_file_offset(const struct uprobe *p);

/* ---- Hits (valid only inside a handler) ---- */

UPROBE_API pid_t uprobe_hit_pid(const struct uprobe_hit *h);
UPROBE_API pid_t uprobe_hit_tid(const struct uprobe_hit *h);
/*
 * The name of the thread that hit (/proc/PID/task/TID/comm, at most 15
 * bytes): what prctl(PR_SET_NAME) or pthread_setname_np() set, else the
 * program's file name as its last exec made it. Read once, when first
 * asked for in a hit, and kept for that hit (so a handler that does not
 * ask pays nothing). For a hit that stopped, the name at the hit; for one
 * from the ring (uprobe_hit_is_async()), the name when the tracer read
 * the hit, which may be later than the thread renamed itself or exec'd.
 * NULL with errno ESRCH when it cannot be read: the thread had exited by
 * then (hits read at the process's exit), or it is not known
 * (uprobe_hit_tid() 0). The string is valid until the handler returns.
 */
UPROBE_API const char *uprobe_hit_comm(struct uprobe_hit *h);
/* The probe that fired. */
UPROBE_API struct uprobe *uprobe_hit_probe(const struct uprobe_hit *h);
/* Address of the probed instruction in the tracee. */
UPROBE_API uint64_t uprobe_hit_addr(const struct uprobe_hit *h);
/* Integer argument n (0-based) under the SysV x86-64 ABI: rdi, rsi, rdx, rcx,
 * r8, r9, then the stack (meaningful at a function's first instruction). */
UPROBE_API uint64_t uprobe_hit_arg(const struct uprobe_hit *h, unsigned n);
/* The thread's registers; writable, written back when it resumes. */
UPROBE_API struct user_regs_struct *uprobe_hit_regs(struct uprobe_hit *h);
/* Reads tracee memory; returns bytes read or -errno. */
UPROBE_API ssize_t uprobe_hit_read(const struct uprobe_hit *h, uint64_t addr, void *buf,
				   size_t len);
/*
 * Reads the NUL-terminated string at addr into buf, at most size - 1 bytes
 * of it, and always terminates buf (as bpf_probe_read_user_str()). Reads
 * page by page: a string that ends right before an unmapped page is read
 * whole, and one cut by an unmapped page ends there. Returns the bytes put
 * in buf counting the NUL (so size means the string may go on past it),
 * -EFAULT when addr cannot be read at all, -ESRCH when the process is gone,
 * -EINVAL for a NULL buf or a size of 0. Callable from handlers.
 */
UPROBE_API ssize_t uprobe_hit_read_str(const struct uprobe_hit *h, uint64_t addr, char *buf,
				       size_t size);
/*
 * Writes len bytes of buf into the tracee's memory at addr, as the program
 * itself could: through process_vm_writev(), which honours page protections
 * (writing read-only memory fails with -EFAULT); where that call is not
 * available (-ENOSYS, -EPERM), through /proc/PID/mem. For data: writing
 * over probed code is not supported. Returns len or -errno (-ESRCH: the
 * process is gone). Callable from handlers, no-stop (asynchronous) ones
 * included: the write then lands while the program runs.
 */
UPROBE_API ssize_t uprobe_hit_write(const struct uprobe_hit *h, uint64_t addr, const void *buf,
				    size_t len);

/*
 * Fault injection, as bpf_override_return(): from an entry handler, makes
 * the probed function return value at once, its body skipped. The thread
 * goes on exactly as after the function's own ret: rax = value, rip = the
 * return address that was at [rsp], rsp 8 higher; every other register is
 * as at the call (with the changes handlers made through
 * uprobe_hit_regs()). The override takes effect once every entry handler
 * of the hit has run: handlers of probes added later on the same
 * instruction still run, and see the call's entry registers (its
 * arguments, rip the function); when several call this, the last value
 * wins; rip, rsp and rax written by handlers are replaced. A return probe
 * on the function sees the call return: its return handler runs with rax =
 * value and rip the return address, and the call is no longer pending. A
 * post handler does not run (the instruction is skipped). The same whether
 * the probe runs through an int3, a jump detour or in place.
 * Allowed only where it is exact: in the entry handler of a stopping probe
 * on a function's first instruction (added with a symbol at offset 0, or a
 * file offset where a function symbol starts; not the program's entry
 * point, which is not called). Elsewhere -EINVAL, with a message naming the
 * probe and why: a probe inside a function (the function may have pushed
 * onto the stack), a return or post handler, a fault handler, a no-stop
 * probe (uprobe_opts.nostop, even at a hit that stopped), code that is
 * jumped to rather than called (the entry point, _start, ld.so's
 * _dl_runtime_resolve* and _dl_runtime_profile*, __restore_rt, _dl_start*,
 * a compiler's cold part of a function: f.cold, f.cold.1).
 * The function must be entered by a call (or a tail jmp from a called
 * function), so that [rsp] is the return address. -EOPNOTSUPP in a thread
 * with an x86 CET user shadow stack (shstk in /proc's x86_Thread_features):
 * returning without its ret would desynchronise the shadow stack. -EFAULT
 * when [rsp] cannot be read. Returns 0 when the override is set. Only from
 * the handler, during the hit.
 */
UPROBE_API int uprobe_hit_override_return(struct uprobe_hit *h, uint64_t value);

/* True in a return handler. */
UPROBE_API bool uprobe_hit_is_return(const struct uprobe_hit *h);
/* True in a post handler (see uprobe_opts.post_handler). */
UPROBE_API bool uprobe_hit_is_post(const struct uprobe_hit *h);
/*
 * True for a hit of a no-stop probe delivered from the ring: the thread
 * ran on long ago (see uprobe_opts.nostop). uprobe_hit_tid() is then 0
 * when the thread cannot be told (a CPU without FSGSBASE, a thread that
 * changed its TLS register since the tracer last saw it).
 */
UPROBE_API bool uprobe_hit_is_async(const struct uprobe_hit *h);
/*
 * When the thread hit the probe, in CLOCK_MONOTONIC nanoseconds: for a
 * hit that stopped, the time of this call (the thread is still there);
 * for a hit from the ring, the time-stamp counter the thread read at the
 * hit, converted (to within a microsecond where the kernel's clock is the
 * TSC; elsewhere, or with UPROBE_RECORD_NO_TIME, the time the tracer read
 * the hit).
 */
UPROBE_API uint64_t uprobe_hit_time_ns(const struct uprobe_hit *h);
/* The integer return value (rax); meaningful in a return handler. */
UPROBE_API uint64_t uprobe_hit_retval(const struct uprobe_hit *h);
/*
 * The floating-point return value (low double of xmm0); in a return handler
 * (a no-stop return's record holds that half of xmm0, uprobe_hit_xmm() fails).
 */
UPROBE_API double uprobe_hit_retval_double(struct uprobe_hit *h);
/* Copies the 16 bytes of register xmmN (0-15) into buf. 0 or -errno. */
UPROBE_API int uprobe_hit_xmm(struct uprobe_hit *h, unsigned n, void *buf);
/*
 * Return probes: this call's per-call data area (opts.data_size bytes), the
 * same in the entry handler and the return handler of one call; NULL when
 * data_size is 0 or outside a return probe's call.
 */
UPROBE_API void *uprobe_hit_call_data(struct uprobe_hit *h);
/* In a return handler: integer argument n (0-5) as it was at the call's entry. */
UPROBE_API uint64_t uprobe_hit_entry_arg(const struct uprobe_hit *h, unsigned n);
/*
 * In a return handler: the call's duration in nanoseconds (CLOCK_MONOTONIC,
 * in the tracer): from the end of its entry's handling (the entry handlers
 * and the tracer's own work there excluded) to the moment the tracer saw the
 * return's stop (the return handlers excluded). What remains beside the
 * call itself is the kernel's part of one ptrace round trip: resuming the
 * thread after its entry, and reporting its return trap (a few
 * microseconds; more on a loaded machine). A no-stop return probe's call
 * (opts.nostop with a ret_handler): from the entry's time stamp to the
 * return's (uprobe_hit_time_ns() of each), the call alone plus the
 * gadgets' few nanoseconds.
 */
UPROBE_API uint64_t uprobe_hit_duration_ns(const struct uprobe_hit *h);
/*
 * A number identifying the call of a return-probed function: the same in
 * every handler of its entry (entry probes on that instruction included)
 * and of its return; unique in the tracer. 0 elsewhere.
 */
UPROBE_API uint64_t uprobe_hit_call_id(const struct uprobe_hit *h);
/*
 * The call stack of the thread that hit: pcs[0] is the current pc, then
 * the return addresses of the callers, at most max of them. Through
 * return-probed frames it shows the real callers, never libuprobe's
 * trampoline. Returns the number of pcs written, or -errno. Unwinds with
 * each file's unwind rules; uprobe_hit_backtrace_opts() can follow frame
 * pointers instead, and uprobe_hit_stack_str() names the frames.
 */
UPROBE_API int uprobe_hit_backtrace(struct uprobe_hit *h, uint64_t *pcs, int max);

/* How uprobe_hit_backtrace_opts() finds each caller. */
enum uprobe_unwinder {
	/*
	 * The unwind rules of each file (.eh_frame, through libunwind), as
	 * uprobe_hit_backtrace(): right in any function that has them, frame
	 * pointer or not; rules are cached per process and address, so a
	 * stack seen before costs memory reads only.
	 */
	UPROBE_UNWIND_CFI = 0,
	/*
	 * Saved frame pointers: pcs[0] is the hit's pc, then the return
	 * address at [rbp + 8], the next frame at [rbp], and so on; the stack
	 * is read in 8 KB windows (one read for a usual chain), no file is
	 * looked at: a few times faster than CFI (bench/bench_backtrace.c).
	 * At a function's first instruction (an entry or fault handler of a
	 * probe there; a post handler there after an endbr64, a nop, a jump or
	 * a `push %rbp`) the function has no frame yet, and the caller's return
	 * address is taken from the stack pointer ([rsp], or [rsp + 8] after
	 * the push), so the direct caller is never missed there. The walk
	 * stops, never faulting nor looping, at a frame pointer that is 0,
	 * not 8-aligned, not above the previous one (or below rsp), or
	 * unreadable, at a return address below 4096, or at max.
	 * What it gets wrong, as every frame-pointer unwinder does:
	 * - code without frame pointers (gcc's default from -O1 on; most
	 *   distributions' libc; leaf functions, which gcc leaves frameless
	 *   even with -fno-omit-frame-pointer unless -mno-omit-leaf-frame-
	 *   pointer is given): a hit past such a function's first
	 *   instruction misses its direct caller (frame 1 is the caller of
	 *   the innermost function that made a frame), and a function that
	 *   uses rbp for data shows wrong frames above it, or ends the walk;
	 * - a hit elsewhere in a prologue or an epilogue (after `push %rbp`
	 *   but before `mov %rsp,%rbp`, after `leave` or `pop %rbp`) misses
	 *   its direct caller;
	 * - above a signal handler comes the interrupted function's caller,
	 *   not the interrupted pc.
	 * UPROBE_UNWIND_CFI gets each of these right wherever the files have
	 * unwind rules (.eh_frame: every gcc and clang build by default).
	 */
	UPROBE_UNWIND_FP = 1,
};

struct uprobe_backtrace_opts {
	size_t sz; /* sizeof(struct uprobe_backtrace_opts), for ABI growth */
	enum uprobe_unwinder unwinder; /* default UPROBE_UNWIND_CFI */
};
#define uprobe_backtrace_opts__last_field unwinder

/*
 * uprobe_hit_backtrace() with options (NULL: the same). Both unwinders
 * show the real callers through return-probed frames, never libuprobe's
 * trampoline. Returns the number of pcs written (at least 1: pcs[0]), or
 * -EINVAL (NULL h or pcs, max below 1, an unknown unwinder, non-zero
 * bytes in opts beyond the fields this library knows), -EOPNOTSUPP in a
 * no-stop hit delivered from the ring (its stack has moved on). Only
 * from a handler, during the hit.
 */
UPROBE_API int uprobe_hit_backtrace_opts(struct uprobe_hit *h, uint64_t *pcs, int max,
					 const struct uprobe_backtrace_opts *opts);

/* ---- USDT probes (systemtap <sys/sdt.h>: DTRACE_PROBE, STAP_PROBE) ---- */

/*
 * A USDT probe: every site of one or more USDT points of a file. The
 * compiler may copy a point (inlining, unrolling, cloning a function): each
 * copy is a site, a probe of its own (uprobe_usdt_site()), and each fires.
 */
struct uprobe_usdt;

/*
 * Probes every site of the USDT points provider:name of binary (the notes
 * in its .note.stapsdt section). binary is resolved as by uprobe_add(): a
 * path, or the name of a file a tracee maps ("libfoo" for libfoo.so.1).
 * provider and name may hold fnmatch(3) wildcards ("*", "?", "[...]").
 * opts as for uprobe_add(): handler, data, post_handler, fault_handler,
 * nostop, record and force apply to every site; ret_handler, data_size,
 * maxactive, pending and UPROBE_RECORD_ARGS_ONLY (an argument may be in
 * any register) are refused (-EINVAL).
 * Semaphores: a point declared with a semaphore (its _ENABLED() macro,
 * sdt.h's .probes section) has it incremented in every traced process
 * that maps the binary while the probe exists: now, in a process attached
 * or spawned later, after an exec or dlopen that maps it; it is
 * decremented by uprobe_usdt_remove(), uprobe_tracer_detach() and
 * uprobe_tracer_free() (a fork child not followed gets its copy
 * decremented before it is let go), so the program's _ENABLED() is true
 * exactly while the probe is attached. The semaphore is found at its
 * address in the file's writable data mapping, wherever the file (PIE,
 * shared library) was loaded; .stapsdt.base corrects for prelink. The
 * writes are those of uprobe_hit_write().
 * Arguments are parsed now, for every site: a spec that cannot be parsed
 * (an unknown register, a symbol the file does not define) refuses the
 * probe (-EINVAL, -ENOENT), the message naming the spec.
 * No-stop probes (opts.nostop): their handlers run after the thread went
 * on, so an argument in memory could no longer be read as it was: a point
 * with an argument in memory is refused with nostop (-EOPNOTSUPP);
 * register and constant arguments are exact.
 * Errors, before any byte of any tracee changes: -ENOENT the binary, its
 * .note.stapsdt section, or a point matching provider:name does not exist
 * (the message names what); -ENOEXEC a malformed note; those of
 * uprobe_add() for a site. NULL with errno set; callable where
 * uprobe_add() is.
 */
UPROBE_API struct uprobe_usdt *uprobe_add_usdt(struct uprobe_tracer *t, const char *binary,
					       const char *provider, const char *name,
					       const struct uprobe_opts *opts);

/*
 * Removes every site's probe and decrements the semaphores it incremented,
 * then frees u. Its sites cannot be removed one by one (uprobe_remove() on
 * one: -EBUSY). Callable where uprobe_remove() is. 0 or -EINVAL.
 */
UPROBE_API int uprobe_usdt_remove(struct uprobe_usdt *u);

/* The number of sites (at least one). */
UPROBE_API unsigned uprobe_usdt_nsites(const struct uprobe_usdt *u);
/*
 * Site i's probe, in the order of the notes (for uprobe_hits(),
 * uprobe_file_offset(), uprobe_binary_path()); NULL with errno EINVAL
 * when i is out of range. Valid until uprobe_usdt_remove().
 */
UPROBE_API struct uprobe *uprobe_usdt_site(const struct uprobe_usdt *u, unsigned i);
/* Hits of every site together. */
UPROBE_API uint64_t uprobe_usdt_hits(const struct uprobe_usdt *u);
/* The number of distinct semaphores its points have (0: none is guarded). */
UPROBE_API unsigned uprobe_usdt_semaphores(const struct uprobe_usdt *u);

/*
 * In a handler of a USDT probe: the number of arguments of the site hit
 * (0 to 12), and its provider and point names (each may be NULL; valid
 * while the probe exists). -EINVAL for a hit of another probe.
 */
UPROBE_API int uprobe_hit_usdt(const struct uprobe_hit *h, const char **provider,
			       const char **name);
/*
 * Argument n (0-based) of the USDT site hit, as the program passed it:
 * read from the registers, memory or constant its spec names, with the
 * spec's size and sign applied (zero- or sign-extended to 64 bits: a
 * `-4@` argument of -5 is -5, a `1@` of 255 is 255, an unsigned `8@`
 * value is its bits). *size (may be NULL) gets the size in bytes as the
 * spec gives it, negative when signed; a spec without one is taken as
 * signed, of its register's width or 8. 0, or -EINVAL (not a USDT hit, n
 * out of range, NULL value), -EFAULT the memory cannot be read, -ESRCH
 * the process is gone, -EOPNOTSUPP an argument in memory in a no-stop
 * (asynchronous) hit, which never happens for a probe uprobe_add_usdt()
 * accepted.
 */
UPROBE_API int uprobe_hit_usdt_arg(struct uprobe_hit *h, unsigned n, int64_t *value, int *size);

/* ---- Symbols ---- */

/* A function symbol of an ELF file, as uprobe_symbols() reports it. */
struct uprobe_sym {
	const char *name;     /* the plain name, without version */
	/*
	 * Its version ("GLIBC_2.2.5"), or NULL when unversioned. A name
	 * defined at one address under several versions is reported once,
	 * with its default version when it has one.
	 */
	const char *version;
	bool default_version; /* "name@@VER" (or unversioned) rather than "name@VER" */
	/*
	 * STT_GNU_IFUNC: offset is the resolver's, not the implementation's;
	 * uprobe_add() on the name probes what the tracee's resolver picks.
	 */
	bool ifunc;
	uint64_t offset;      /* file offset of its first byte: uprobe_add(t, path, NULL, offset) */
	uint64_t size;        /* st_size; 0 when the symbol does not say */
	uint64_t vaddr;       /* its link-time address (st_value) */
};

typedef int (*uprobe_sym_fn)(const struct uprobe_sym *sym, void *ctx);

/*
 * Calls cb for every function symbol (STT_FUNC and STT_GNU_IFUNC, defined,
 * with bytes in the file) of the ELF file at path whose name matches the
 * fnmatch(3) glob pattern ('*', '?', '[...]'; NULL matches every name),
 * in address order. .symtab and .dynsym are read as one: a name is
 * reported once per address, whichever tables hold it; aliases (several
 * names at one address) are each reported. These are the symbols
 * uprobe_add() resolves names with, parsed once per file (the cache
 * uprobe_add() uses). sym and its strings are valid during the call only.
 * path is a path of the calling process (a short name such as "libc" is
 * only resolved against a tracee's maps by uprobe_add(); a probe's
 * uprobe_binary_path() or uprobe_tracer_symbolize()'s path give one).
 * Returns 0 once every match was reported (none is no error), the first
 * non-zero value cb returned (listing stops there), or a negative errno:
 * -EINVAL a NULL path or cb, -ENOENT/-EACCES the file cannot be opened,
 * -ENOEXEC not a regular file or not an x86-64 ELF executable or shared
 * object, -ENOMEM. Failures also go to the print callback, one line
 * naming the file. Needs no tracer; thread-safe.
 */
UPROBE_API int uprobe_symbols(const char *path, const char *pattern, uprobe_sym_fn cb, void *ctx);

/* What uprobe_tracer_symbolize() knows of an address. */
struct uprobe_sym_info {
	/*
	 * The file mapped at the address (canonical path, as
	 * uprobe_binary_path()), or NULL when it is in no file: an anonymous
	 * mapping (JIT code, the heap, a stack, libuprobe's own scratch
	 * areas), or the vDSO.
	 */
	const char *path;
	/*
	 * The mapping's name as /proc/PID/maps writes it: a path, "[vdso]",
	 * "[heap]", "[stack]", or "" for an anonymous mapping.
	 */
	const char *mapping;
	uint64_t file_offset; /* the address's offset in path; with the vDSO, in its image */
	/*
	 * The function containing the address, or NULL when no symbol
	 * covers it (a stripped file without a debug file, a static
	 * function only .symtab would name, PLT stubs, anonymous memory).
	 */
	const char *name;
	const char *version;  /* name's version, or NULL */
	uint64_t sym_addr;    /* the function's first byte in the process */
	uint64_t sym_offset;  /* the address minus sym_addr */
	uint64_t sym_size;
	/* name came from a debug file (build id, .gnu_debuglink, MiniDebugInfo) */
	bool from_debug_file;
};

/*
 * Tells what is at addr in traced process pid: the mapped file and the
 * offset in it, and the function that contains it, named from the file's
 * .symtab when it has one; else, when a separate debug file is found as
 * gdb finds it (/usr/lib/debug/.build-id/xx/rest.debug by build id; else
 * .gnu_debuglink's name in the file's directory, its .debug/
 * subdirectory, or that directory under /usr/lib/debug, checked by
 * CRC-32), from the debug file's; else from its MiniDebugInfo (an
 * xz-compressed ELF file of symbols in .gnu_debugdata); else from .dynsym.
 * The vDSO is named
 * from its image in the process's memory. For a return address from
 * uprobe_hit_backtrace() (frames 1 and up), pass it minus 1: a call that
 * ends a function returns past its end.
 * Fast for repeated addresses: files are parsed once (the cache
 * uprobe_add() uses, debug files kept with them), the process's mappings
 * are those the tracer last read, read again only for an address that
 * none of them holds. A mapping made by mmap (not dlopen) over one seen
 * before is seen at the next dlopen, exec or unknown address.
 * Returns 0 for an address in any mapping (out->path NULL for one of no
 * file, out->name NULL when no function is known); -EFAULT in no mapping;
 * -ESRCH pid is not a process this tracer traces; -EINVAL a NULL t or
 * out. Strings in *out are valid until the next call on this tracer or
 * until the handler returns. Callable from handlers and wherever
 * uprobe_add() is.
 */
UPROBE_API int uprobe_tracer_symbolize(struct uprobe_tracer *t, pid_t pid, uint64_t addr,
				       struct uprobe_sym_info *out);

/* Flags of uprobe_tracer_frame_str() */
/* pc is a return address (frames 1 and up of a backtrace): named at pc - 1, see above */
#define UPROBE_FRAME_CALLER (1u << 0)
/* the address first: "0x55d0c1a2b139 main+0x2c (/path/prog)" */
#define UPROBE_FRAME_ADDR (1u << 1)

/*
 * One frame of a stack as text, the way uprobe-trace --stack prints it, into
 * buf (size bytes, always '\0'-terminated when size > 0, as snprintf()):
 * "func+0xOFF (/path/to/file)" where a function is known, OFF from its
 * first byte to pc (for a return address, the offset of the return address
 * itself, as gdb shows it, though the function is looked up at pc - 1);
 * "0xADDR (/path/to/file)" in a file or mapping ("[vdso]", "[heap]") with
 * no function known; "0xADDR" in anonymous or unmapped memory. With
 * UPROBE_FRAME_ADDR the address comes first: "0xADDR func+0xOFF (file)",
 * "0xADDR (file)", "0xADDR". Names and paths are as the files hold them
 * (bytes no terminal should be sent unescaped may be in them). pid is a
 * traced process (uprobe_hit_pid()), named with uprobe_tracer_symbolize()'s
 * rules and caches. Returns the length of the whole text (without the
 * '\0'; size or more: it was cut), or -EINVAL (NULL t, NULL buf with a
 * non-zero size, unknown flags), -ESRCH (pid is not traced). An address in
 * no mapping is no error: it is shown as an address. Callable from
 * handlers and wherever uprobe_add() is.
 */
UPROBE_API int uprobe_tracer_frame_str(struct uprobe_tracer *t, pid_t pid, uint64_t pc,
				       unsigned flags, char *buf, size_t size);

/*
 * The hit's call stack, symbolized: uprobe_hit_backtrace_opts(h, ..., max,
 * opts) (NULL opts: the CFI unwinder), then one line per frame, each
 * ending in '\n', into buf (as snprintf(): always terminated when size >
 * 0, the return value the length of the whole text):
 *   #0 0x55d0c1a2b139 compute+0x0 (/home/me/prog)
 *   #1 0x55d0c1a2b3f1 main+0x2c (/home/me/prog)
 *   #2 0x7f3a12c2724a __libc_start_call_main+0x7a (/usr/lib/x86_64-linux-gnu/libc.so.6)
 * that is "#N " and uprobe_tracer_frame_str() with UPROBE_FRAME_ADDR, and
 * UPROBE_FRAME_CALLER for frames 1 and up (return addresses, looked up at
 * pc - 1). Returns the length, or the errors of uprobe_hit_backtrace_opts()
 * (buf then holds ""), -ENOMEM. Only from a handler, during the hit.
 */
UPROBE_API int uprobe_hit_stack_str(struct uprobe_hit *h, char *buf, size_t size, int max,
				    const struct uprobe_backtrace_opts *opts);

/* ---- Aggregations: histograms and keyed counters (no tracer needed) ---- */

/*
 * What a histogram's values measure. Time units take values in
 * nanoseconds and show them in their own unit; UPROBE_UNIT_NONE is any
 * other quantity (bytes, counts), shown as is.
 */
enum uprobe_unit {
	UPROBE_UNIT_NONE = 0,
	UPROBE_UNIT_NS = 1,
	UPROBE_UNIT_US = 2,
	UPROBE_UNIT_MS = 3,
};

/* How uprobe_hist_print() draws the buckets. */
enum uprobe_hist_style {
	/*
	 * bpftrace's hist(): "[128K, 256K)   28 |@@@@...|" (52 columns of
	 * bar), bounds as powers of two with K, M, G... for 2^10, 2^20,
	 * 2^30..., "[0]" and "[1]" for the first two buckets.
	 */
	UPROBE_HIST_BPFTRACE = 0,
	/*
	 * bcc's print_log2_hist(): a header naming the unit ("nsecs",
	 * "usecs", "msecs", "value"), then "  128 -> 255  : 28  |****...|"
	 * (40 columns of bar; 20 when values reach 2^32), 0 and 1 together
	 * as "0 -> 1".
	 */
	UPROBE_HIST_BCC = 1,
};

/*
 * A histogram of 64-bit values: count, sum, min, max, log2 buckets (as
 * bpftrace's hist() and bcc's log2 histograms) and percentiles.
 * Log2 bucket 0 holds 0, bucket k (1 to 64) holds [2^(k-1), 2^k); for a
 * time unit, the value in that unit (ns / 1000 for UPROBE_UNIT_US, ns /
 * 1000000 for UPROBE_UNIT_MS, rounded down) decides the bucket, so a 2.2 ms
 * call is in the [2, 4) bucket of a UPROBE_UNIT_MS histogram. Everything
 * else (min, max, sum, mean, percentiles) is in the values' own unit (ns).
 * Inside each power of two 16 finer buckets of equal width keep
 * percentiles to within 1/32 (3.2%) of the exact value; below 32 they are
 * exact. A histogram costs about 600 bytes, and 8 KB more from its first
 * value on. Adding a value is a few dozen instructions and allocates
 * nothing after the first. Not thread-safe: one histogram, one thread at
 * a time (or the caller's lock). Callable from handlers.
 */
struct uprobe_hist;

#define UPROBE_HIST_BUCKETS 65

/* A new, empty histogram; NULL with errno EINVAL (unknown unit) or ENOMEM. */
UPROBE_API struct uprobe_hist *uprobe_hist_new(enum uprobe_unit unit);
/* Frees it. NULL is a no-op. */
UPROBE_API void uprobe_hist_free(struct uprobe_hist *h);
/*
 * Adds one value. 0, or -ENOMEM when the first value's fine buckets cannot
 * be allocated (the value is then not counted at all), -EINVAL for NULL h.
 */
UPROBE_API int uprobe_hist_add(struct uprobe_hist *h, uint64_t value);
/* Empties it (as new; the unit stays), as interval printing needs. */
UPROBE_API void uprobe_hist_reset(struct uprobe_hist *h);
/* Adds every value of src to dst (same unit, else -EINVAL). 0 or -errno. */
UPROBE_API int uprobe_hist_merge(struct uprobe_hist *dst, const struct uprobe_hist *src);
UPROBE_API enum uprobe_unit uprobe_hist_unit(const struct uprobe_hist *h);
/* Values added. */
UPROBE_API uint64_t uprobe_hist_count(const struct uprobe_hist *h);
/* Their sum, UINT64_MAX when it does not fit (kept exactly inside: see the mean). */
UPROBE_API uint64_t uprobe_hist_sum(const struct uprobe_hist *h);
/* The smallest and largest value, the mean (exact sum / count, rounded down); 0 when empty. */
UPROBE_API uint64_t uprobe_hist_min(const struct uprobe_hist *h);
UPROBE_API uint64_t uprobe_hist_max(const struct uprobe_hist *h);
UPROBE_API uint64_t uprobe_hist_mean(const struct uprobe_hist *h);
/*
 * The p-th percentile (0 to 100, fractions allowed: 99.9; p is rounded to
 * the nearest 1e-6 percent, so decimal p are taken exactly) by nearest rank:
 * the value at rank ceil(p / 100 * count) (at least 1) in sorted order,
 * to within 1/32 of it (the middle of its fine bucket, kept within [min,
 * max]); exact below 32, exact for p 0 (min) and 100 (max), and whenever
 * the rank is the first or the last. 0 when empty or p is out of range
 * (or NaN).
 */
UPROBE_API uint64_t uprobe_hist_percentile(const struct uprobe_hist *h, double p);
/* The count of log2 bucket k (0 to UPROBE_HIST_BUCKETS - 1), as described above; 0 beyond. */
UPROBE_API uint64_t uprobe_hist_bucket(const struct uprobe_hist *h, unsigned k);
/* Bucket k's bounds, both inclusive ([0, 0], [1, 1], [2, 3], ..., [2^63, UINT64_MAX]). */
UPROBE_API void uprobe_hist_bucket_range(unsigned k, uint64_t *lo, uint64_t *hi);
/*
 * Writes the buckets to fp in the given style, from the first non-empty
 * one to the last (an empty histogram writes nothing), one line each.
 * Bars are scaled to the fullest bucket. Returns 0, -EINVAL for a NULL
 * argument or an unknown style, -EIO when fp reports an error.
 */
UPROBE_API int uprobe_hist_print(const struct uprobe_hist *h, FILE *fp,
				 enum uprobe_hist_style style);

/*
 * Keyed counters: a hash table from a key (any bytes, or a C string) to a
 * count and a sum, as bpftrace's count() and sum() in a map (@[key] =
 * count()). Keys are copied. Adding is one hash of the key and, for a key
 * not seen before, one allocation. Not thread-safe, callable from handlers.
 */
struct uprobe_counts;

/* An entry, as iteration shows it: key and its length (a string's without its NUL). */
struct uprobe_count {
	const void *key;
	size_t key_len;
	uint64_t count; /* the adds for this key */
	uint64_t sum;   /* the sum of their values (wraps past UINT64_MAX) */
};

/* Orders of uprobe_counts_sorted() and uprobe_counts_print(). */
enum uprobe_counts_order {
	UPROBE_COUNTS_BY_COUNT = 0, /* largest count first; ties by key bytes */
	UPROBE_COUNTS_BY_SUM = 1,   /* largest sum first; ties by key bytes */
	UPROBE_COUNTS_BY_KEY = 2,   /* key bytes ascending (memcmp; a shorter prefix first) */
};

typedef int (*uprobe_count_fn)(const struct uprobe_count *entry, void *ctx);

/* A new, empty table; NULL with errno ENOMEM. */
UPROBE_API struct uprobe_counts *uprobe_counts_new(void);
UPROBE_API void uprobe_counts_free(struct uprobe_counts *c);
/*
 * Counts one event of key (key_len bytes; 0 is a key too) and adds value
 * to its sum. 0, or -ENOMEM (nothing counted), -EINVAL for NULL c, or a
 * NULL key with a non-zero key_len.
 */
UPROBE_API int uprobe_counts_add(struct uprobe_counts *c, const void *key, size_t key_len,
				 uint64_t value);
/* The same with the bytes of a C string as the key. */
UPROBE_API int uprobe_counts_add_str(struct uprobe_counts *c, const char *key, uint64_t value);
/* The count and sum of key (each may be NULL): 0, or -ENOENT when never added. */
UPROBE_API int uprobe_counts_get(const struct uprobe_counts *c, const void *key, size_t key_len,
				 uint64_t *count, uint64_t *sum);
/* Distinct keys. */
UPROBE_API size_t uprobe_counts_len(const struct uprobe_counts *c);
/* Forgets every key. */
UPROBE_API void uprobe_counts_reset(struct uprobe_counts *c);
/*
 * Calls cb for each entry in the given order; entries are valid during
 * the call only, and cb must not change c. Returns 0, the first non-zero
 * value cb returned (iteration stops), -EINVAL, or -ENOMEM (sorting
 * needs a pointer per key).
 */
UPROBE_API int uprobe_counts_sorted(const struct uprobe_counts *c, enum uprobe_counts_order order,
				    uprobe_count_fn cb, void *ctx);
/*
 * Writes the entries in the given order, at most max of them (0: all),
 * one per line: the key, left-aligned to the longest shown, then the count,
 * then the sum unless it is 0 for every key shown. A key is written as
 * text when it is printable ASCII (a trailing NUL dropped), else as
 * hex bytes (0x0a1b...); in text, a backslash is written "\\". 0, or
 * -EINVAL, -ENOMEM, -EIO when fp reports an error.
 */
UPROBE_API int uprobe_counts_print(const struct uprobe_counts *c, FILE *fp,
				   enum uprobe_counts_order order, size_t max);

#ifdef __cplusplus
}
#endif

#endif /* UPROBE_H */
