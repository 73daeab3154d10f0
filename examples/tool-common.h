// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the example tools share: one-line errors, library names, their processes. Public API only. */
#ifndef TOOL_COMMON_H
#define TOOL_COMMON_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <uprobe.h>

/* The tool's name, the prefix of its error lines; each tool defines it. */
extern const char tool_prog[];

/* The statuses a runtime error and a usage error end a tool with. */
#define TOOL_EXIT_RUNTIME 1
#define TOOL_EXIT_USAGE 2

/* The signal state we started with, which the command gets: saved by tool_catch_signals(). */
extern sigset_t tool_orig_mask, tool_orig_ignored;

/* The library's last message without its "libuprobe: " prefix, or strerror(err). */
const char *tool_lib_error(struct uprobe_tracer *t, int err);

/*
 * The length of a well-formed UTF-8 sequence of a printable character at
 * s (2 to 4 bytes), or 0: C1 controls (U+0080-U+009F, which terminals obey
 * as they do ESC), overlong forms, surrogates and stray bytes are not.
 */
size_t tool_utf8_printable(const unsigned char *s);

/*
 * Writes str for a terminal: names and paths come from files anyone may
 * have made, and a name holding an escape sequence must not drive the
 * terminal of whoever reads the output. Control bytes, DEL and bytes that
 * are no printable UTF-8 are written as \xNN, a backslash as \\ (so the
 * text reads back unambiguously); the rest as is. fp may be NULL (only
 * count). Returns the columns written (a multibyte character counts as one).
 */
int tool_fput_text(FILE *fp, const char *str);

/*
 * An error or warning: one line "tool_prog: ..." on stderr, whatever the
 * message holds (names from a hostile file, a library message with a
 * newline in it).
 */
void tool_errline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Called before (true) and after (false) tool_errline()'s write, when set (uprobe-trace's live line). */
extern void (*tool_stderr_hook)(bool before);

/* A usage error: "tool_prog: ... (see tool_prog --help)" on stderr, then exit(TOOL_EXIT_USAGE). */
void tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Parses decimal or 0x-hex digits making up all of s (no sign, no space). */
bool tool_parse_u64(const char *s, uint64_t *v);

/*
 * Saves the signal state the shell gave us (tool_orig_mask,
 * tool_orig_ignored: the command gets it, not our handlers; what was ignored
 * stays ignored in it, nohup's SIGHUP, the SIGINT of a background job), then
 * has handler catch SIGINT and SIGTERM, and SIGHUP and (with sigpipe) SIGPIPE
 * when they were not ignored: under nohup the tracer goes on through a
 * hang-up as the command does. No SA_RESTART: the tracer's blocked wait
 * must return so run() sees the stop.
 */
void tool_catch_signals(void (*handler)(int), bool sigpipe);

/*
 * The file BINARY (a path, or a library name as uprobe_add() takes it)
 * names in traced process pid, as the tracer opens it, in *path
 * (malloc'd): a path through /proc/PID/root when pid lives in another
 * mount namespace; a name through uprobe_lib_path(). 0; -ENOENT when pid
 * maps no such library (nothing printed); another -errno (an ambiguous
 * name: tool_lib_error() words it).
 */
int tool_resolve_binary(struct uprobe_tracer *t, pid_t pid, const char *binary, char **path);

/*
 * A library name no traced process maps (yet): the file the dynamic linker
 * would load for it, found as it finds it, in ld.so.cache (through
 * `ldconfig -p`), then in the standard directories; the best match of
 * uprobe_lib_name_match(). NULL when there is none.
 */
char *tool_loader_lookup(const char *name);

/*
 * One stack frame of process pid as the library writes it
 * (uprobe_tracer_frame_str() with flags): "func+0xoff (path)", "0xaddr
 * (path)" or "0xaddr", malloc'd; NULL on failure.
 */
char *tool_frame_text(struct uprobe_tracer *t, pid_t pid, uint64_t pc, unsigned flags);

/* An exit status as a shell gives it: the code, or 128 + the signal. */
int tool_status_to_exit(int status);

/* Waits for our (detached) child; its exit code, or -1 if it was already reaped. */
int tool_wait_child(pid_t child);

/*
 * -p of ourselves or of one of our ancestors (`-p $$` from a shell): the
 * process we would stop and hold waits for us, or holds our terminal or
 * the pipe we write to, and the two of us would wait for each other.
 * 0, or -1 after printing the one-line error.
 */
int tool_refuse_ancestor(pid_t pid);

/*
 * The spawn ended before the command's entry point, with the command
 * there: it died (in the dynamic linker, a constructor: its status, as a
 * shell gives it, and the library's line saying how), or a stop let it go
 * untraced (then it is waited for, as after a stop in run()). Frees *t,
 * setting *t to NULL first (a signal handler may look). The tool's exit
 * status.
 */
int tool_spawn_ended(struct uprobe_tracer **t, int err, pid_t child);

#endif /* TOOL_COMMON_H */
