#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CLI tests of uprobe-trace against real processes:
# cli-test.sh CASE UPROBE_TRACE DEMO CRASH CLITARGET CLIUSDT SIGSTATE
#
# Expected numbers come from the traced programs themselves (the demo reports
# how often it called each function) or from what the test set up (the number
# of directories given to ls), never from constants copied here. Every command
# runs under `timeout`; background processes are this script's own children,
# waited for with a bound and killed by pid on exit.
set -u

CASE=$1
# Absolute: meson passes paths relative to the build directory, and some cases change directory.
UT=$(readlink -f "$2")
DEMO=$(readlink -f "$3")
CRASH=$(readlink -f "$4")
TGT=$(readlink -f "$5") # clitarget: known strings and durations
USDT=$(readlink -f "${6:-/nonexistent}") # cliusdt: USDT points
SIGST=$(readlink -f "${7:-/nonexistent}") # sigstate: its own SIGTRAP use, prints its signal state
BOUND=${CLI_TEST_BOUND:-60} # seconds any one command may take

. "$(dirname "$0")/test-common.sh" cli

fail()
{
	echo "FAIL ($CASE): $*" >&2
	for f in out err; do
		if [ -s "$tmp/$f" ]; then
			echo "--- last $f (first 20 lines):" >&2
			head -n 20 "$tmp/$f" >&2
		fi
	done
	exit 1
}

skip()
{
	echo "SKIP ($CASE): $*" >&2
	exit 77
}

# run CMD...: runs CMD bounded; stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run()
{
	timeout -k 5 "$BOUND" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -ne 124 ] || fail "timed out after ${BOUND}s: $*"
	return 0
}

expect_rc()
{
	[ "$rc" -eq "$1" ] || fail "exit status $rc, expected $1"
}

no_stderr()
{
	[ ! -s "$tmp/err" ] || fail "unexpected stderr: $(head -n 5 "$tmp/err")"
}

# The usage and runtime errors: exactly one stderr line, naming what was wrong.
one_error_line()
{
	local n

	n=$(wc -l <"$tmp/err")
	[ "$n" -eq 1 ] || fail "expected one stderr line, got $n"
	grep -qF -- "$1" "$tmp/err" || fail "stderr does not name '$1': $(cat "$tmp/err")"
	grep -q '^uprobe-trace: ' "$tmp/err" || fail "stderr line lacks the program name"
}

# demo_calls FUNC FILE: how many times the demo says it called FUNC.
demo_calls()
{
	sed -n "s/^demo: $1 called \([0-9]*\) times.*/\1/p" "$2"
}

# hits LABEL FILE: the hit count of LABEL in --count output.
hits()
{
	awk -v l="$1" '$1 == l { print $2 }' "$2"
}

expect_eq()
{
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

# alive PID: PID runs (a zombie does not count).
alive()
{
	local st

	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds; fails the test after SECONDS.
wait_for()
{
	local limit=$(($1 * 20)) i=0

	shift
	until "$@"; do
		i=$((i + 1))
		[ "$i" -le "$limit" ] || fail "gave up waiting for: $*"
		sleep 0.05
	done
}

not_alive()
{
	! alive "$1"
}

# reap PID: waits (bounded) for a background child of this script; status in $wrc.
reap()
{
	wait_for "$BOUND" not_alive "$1"
	wait "$1"
	wrc=$?
}

tracer_of()
{
	awk '/^TracerPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

traced_by()
{
	[ "$(tracer_of "$1")" = "$2" ]
}

traced()
{
	! untraced "$1" && alive "$1"
}

untraced()
{
	[ "$(tracer_of "$1")" = 0 ]
}

# explain_traced PID: why PID is not seen untraced, on stderr: gone (with its status, when it
# is this script's child and was reaped), or who traces each of its threads (the tracer's comm,
# State, PPid and command line) and where each thread is (State, wchan).
explain_traced()
{
	local t tp st

	if [ ! -e "/proc/$1/status" ]; then
		wait "$1" 2>/dev/null
		st=$?
		if [ "$st" -eq 127 ]; then
			echo "pid $1 is gone (not this script's child: no status)" >&2
		elif [ "$st" -gt 128 ]; then
			echo "pid $1 is gone: killed by signal $((st - 128))" >&2
		else
			echo "pid $1 is gone: exit status $st" >&2
		fi
		return
	fi
	for t in /proc/"$1"/task/*; do
		echo "pid $1 thread ${t##*/}: $(grep -E '^(State|TracerPid):' "$t/status" 2>/dev/null |
			tr '\t\n' '  ') wchan=$(cat "$t/wchan" 2>/dev/null)" >&2
		tp=$(awk '/^TracerPid:/ { print $2 }' "$t/status" 2>/dev/null)
		[ -n "$tp" ] && [ "$tp" != 0 ] || continue
		echo "  its tracer $tp: comm=$(cat "/proc/$tp/comm" 2>/dev/null)" \
			"$(grep -E '^(State|Tgid|PPid):' "/proc/$tp/status" 2>/dev/null | tr '\t\n' '  ')" \
			"cmdline=$(tr '\0' ' ' <"/proc/$tp/cmdline" 2>/dev/null)" >&2
	done
}

# wait_untraced SECONDS PID: as wait_for SECONDS untraced PID, explaining a failure.
wait_untraced()
{
	local limit=$(($1 * 20)) i=0

	until untraced "$2"; do
		i=$((i + 1))
		if [ "$i" -gt "$limit" ]; then
			explain_traced "$2"
			fail "gave up waiting for: untraced $2"
		fi
		sleep 0.05
	done
}

# has_child PID: PID's main thread has a child (proc files report size 0: test -s cannot tell).
has_child()
{
	[ -n "$(cat "/proc/$1/task/$1/children" 2>/dev/null)" ]
}

# child_runs PID PROGRAM: a child of PID has exec'd PROGRAM; its pid in $child. (The tracer
# has children of its own too: libuprobe's short-lived capability probe, its waker.)
child_runs()
{
	local c

	for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		if [ "$(readlink "/proc/$c/exe" 2>/dev/null)" = "$2" ]; then
			child=$c
			return 0
		fi
	done
	return 1
}

need_python()
{
	command -v python3 >/dev/null || skip "python3 is not installed"
}

# Attaching to a process that is not the tracer's child needs ptrace_scope 0 or CAP_SYS_PTRACE.
need_attach()
{
	local scope

	scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
	if [ "$scope" -ge 3 ] || { [ "$scope" -ge 1 ] && [ "$(id -u)" -ne 0 ]; }; then
		skip "kernel.yama.ptrace_scope=$scope forbids attaching to a non-child"
	fi
}

# insn_offsets FUNC BINARY: the offsets of FUNC's instructions from its start, one per line.
insn_offsets()
{
	local addr base=

	# objdump continues long instructions on lines without a mnemonic field: skip those.
	for addr in $(objdump -d "--disassemble=$1" "$2" |
		awk -F'\t' 'NF >= 3 && $1 ~ /^ *[0-9a-f]+:$/ { a = $1; gsub(/[ :]/, "", a); print a }'); do
		base=${base:-$((0x$addr))}
		echo $((0x$addr - base))
	done
}

# file_offset SYMBOL BINARY: the file offset of SYMBOL, from its address and its section's.
file_offset()
{
	local addr sec

	addr=$(nm "$2" | awk -v s="$1" '$3 == s { print $1; exit }')
	sec=$(readelf -SW "$2" | sed -n 's/^ *\[ *[0-9]*\] //p' | awk '$1 == ".text" { print $3, $4 }')
	[ -n "$addr" ] && [ -n "$sec" ] || fail "cannot find $1 in $2"
	set -- $sec
	echo $((0x$addr - 0x$1 + 0x$2))
}

# ---------------------------------------------------------------------------

# --count on the demo: each probe's count equals what the demo says it did;
# the demo's own output is unchanged.
t_count()
{
	local n=1234 lines

	run "$DEMO" $n
	expect_rc 0
	cp "$tmp/out" "$tmp/expected"
	lines=$(wc -l <"$tmp/expected")

	run "$UT" --count u:demo:compute u:demo:rot13 u:libc:puts -- "$DEMO" $n
	expect_rc 0
	no_stderr
	head -n "$lines" "$tmp/out" | cmp -s - "$tmp/expected" || fail "demo output changed"
	tail -n +$((lines + 1)) "$tmp/out" >"$tmp/counts"
	expect_eq "$(wc -l <"$tmp/counts")" 3 "count lines"
	expect_eq "$(hits u:demo:compute "$tmp/counts")" "$(demo_calls compute "$tmp/expected")" compute
	expect_eq "$(hits u:demo:rot13 "$tmp/counts")" "$(demo_calls rot13 "$tmp/expected")" rot13
	expect_eq "$(hits u:libc:puts "$tmp/counts")" "$(demo_calls puts "$tmp/expected")" puts

	# The README's form: a relative path, printed as written.
	(cd "$(dirname "$DEMO")" &&
		timeout -k 5 "$BOUND" "$UT" --count u:./demo:compute -- ./demo 77 >"$tmp/out" 2>"$tmp/err")
	rc=$?
	expect_rc 0
	expect_eq "$(tail -n 1 "$tmp/out")" "u:./demo:compute  77" "README count line"
}

# --nostop: the same counts and the same arguments, in order, from entry probes that
# record hits instead of stopping; a return probe beside them still works.
t_nostop()
{
	local n=1234 lines

	run "$DEMO" $n
	expect_rc 0
	cp "$tmp/out" "$tmp/expected"
	lines=$(wc -l <"$tmp/expected")
	run "$UT" --nostop --count u:demo:compute u:demo:rot13 u:libc:puts r:demo:compute -- "$DEMO" $n
	expect_rc 0
	no_stderr
	head -n "$lines" "$tmp/out" | cmp -s - "$tmp/expected" || fail "demo output changed"
	tail -n +$((lines + 1)) "$tmp/out" >"$tmp/counts"
	expect_eq "$(hits u:demo:compute "$tmp/counts")" "$(demo_calls compute "$tmp/expected")" compute
	expect_eq "$(hits u:demo:rot13 "$tmp/counts")" "$(demo_calls rot13 "$tmp/expected")" rot13
	expect_eq "$(hits u:libc:puts "$tmp/counts")" "$(demo_calls puts "$tmp/expected")" puts
	expect_eq "$(hits r:demo:compute "$tmp/counts")" "$(demo_calls compute "$tmp/expected")" \
		"return probe beside no-stop ones"

	run "$UT" --nostop -o "$tmp/hits" u:demo:compute -- "$DEMO" 300
	expect_rc 0
	no_stderr
	expect_eq "$(wc -l <"$tmp/hits")" 300 "hit lines"
	awk '{ if ($5 != sprintf("arg0=0x%x", NR - 1)) exit 1 }' "$tmp/hits" ||
		fail "arguments out of order: $(head -n 3 "$tmp/hits")"
	awk '{ split($2, p, "/"); if (p[1] != p[2]) exit 1 }' "$tmp/hits" || fail "pid != tid"
	# the times are the hits' own (from the ring), not when they were printed
	sort -s -n -k1,1 -c "$tmp/hits" 2>/dev/null || fail "time goes backwards"
}

# --nostop r: no-stop return probes: the return values of the stopping run, in order,
# through the entry and return gadgets (-vv says so); --hist --nostop times every call.
t_nostop_ret()
{
	local n=400

	run "$DEMO" $n
	expect_rc 0
	cp "$tmp/out" "$tmp/expected"
	run "$UT" -o "$tmp/stop" r:demo:compute -- "$DEMO" $n
	expect_rc 0
	no_stderr
	run "$UT" -vv --nostop -o "$tmp/ns" r:demo:compute -- "$DEMO" $n
	expect_rc 0
	cmp -s "$tmp/out" "$tmp/expected" || fail "demo output changed"
	grep -q 'no-stop return' "$tmp/err" || fail "no no-stop return detour: $(tail -n 3 "$tmp/err")"
	expect_eq "$(wc -l <"$tmp/ns")" "$(demo_calls compute "$tmp/expected")" "return lines"
	expect_eq "$(awk '{ print $5 }' "$tmp/ns")" "$(awk '{ print $5 }' "$tmp/stop")" \
		"return values, in order"
	awk '{ split($2, p, "/"); if (p[1] != p[2]) exit 1 }' "$tmp/ns" || fail "pid != tid"
	run "$UT" --nostop --hist u:demo:compute -- "$DEMO" $n
	expect_rc 0
	no_stderr
	grep -q "^u:demo:compute  *count $(demo_calls compute "$tmp/expected") " "$tmp/out" ||
		fail "--hist --nostop: $(grep count "$tmp/out")"
}

# Default output: one line per hit with time, pid/tid, comm, probe, first arguments.
t_hits()
{
	local n=5 re

	run "$UT" -o "$tmp/hits" u:demo:compute -- "$DEMO" $n
	expect_rc 0
	no_stderr
	expect_eq "$(wc -l <"$tmp/hits")" $n "hit lines"
	re='^ *[0-9]+\.[0-9]{6} [0-9]+/[0-9]+ demo u:demo:compute'
	re+=' arg0=0x[0-9a-f]+ arg1=0x[0-9a-f]+ arg2=0x[0-9a-f]+$'
	grep -Evq "$re" "$tmp/hits" && fail "bad hit line: $(grep -Ev "$re" "$tmp/hits" | head -n 1)"
	# compute(i) for i = 0..n-1, in order, from one single-threaded process.
	expect_eq "$(awk '{ print $5 }' "$tmp/hits" | tr '\n' ' ')" \
		"arg0=0x0 arg0=0x1 arg0=0x2 arg0=0x3 arg0=0x4 " "arguments"
	awk '{ split($2, p, "/"); if (p[1] != p[2]) exit 1 }' "$tmp/hits" || fail "pid != tid"
	[ "$(awk '{ print $2 }' "$tmp/hits" | sort -u | wc -l)" -eq 1 ] || fail "several pids"
	sort -n -c "$tmp/hits" 2>/dev/null || fail "time goes backwards"

	run "$UT" --args 1 -o "$tmp/hits" u:demo:compute -- "$DEMO" 2
	expect_rc 0
	grep -Eq ' u:demo:compute arg0=0x1$' "$tmp/hits" || fail "--args 1: $(cat "$tmp/hits")"
	run "$UT" --args 0 -o "$tmp/hits" u:demo:compute -- "$DEMO" 2
	expect_rc 0
	grep -Evq ' u:demo:compute$' "$tmp/hits" && fail "--args 0: $(cat "$tmp/hits")"
	run "$UT" --args 6 -o "$tmp/hits" u:demo:compute -- "$DEMO" 2
	expect_rc 0
	grep -Eq ' arg5=0x[0-9a-f]+$' "$tmp/hits" || fail "--args 6: $(cat "$tmp/hits")"
	return 0
}

# --json: every line is a JSON object; --json --count lines are exactly {probe, hits, missed}.
t_json()
{
	local n=30

	need_python
	run "$DEMO" $n
	cp "$tmp/out" "$tmp/expected"
	run "$UT" --json -o "$tmp/j" u:demo:compute u:demo:rot13 -- "$DEMO" $n
	expect_rc 0
	no_stderr
	python3 - "$tmp/j" "$(demo_calls compute "$tmp/expected")" \
		"$(demo_calls rot13 "$tmp/expected")" <<'EOF' || fail "--json output"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert all(isinstance(r, dict) for r in rows)
keys = {"time", "pid", "tid", "comm", "probe", "addr", "args"}
assert all(set(r) == keys for r in rows), rows[0]
comp = [r for r in rows if r["probe"] == "u:demo:compute"]
rot = [r for r in rows if r["probe"] == "u:demo:rot13"]
assert len(comp) == int(sys.argv[2]) and len(rot) == int(sys.argv[3]), (len(comp), len(rot))
assert [int(r["args"][0], 16) for r in comp] == list(range(len(comp)))
assert all(len(r["args"]) == 3 for r in rows)
assert all(r["time"] >= 0 and r["pid"] == r["tid"] and r["comm"] == "demo" for r in rows)
assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
EOF

	run "$UT" --json --count -o "$tmp/c" u:demo:compute 'u:demo:r?t13' -- "$DEMO" $n
	expect_rc 0
	no_stderr
	python3 - "$tmp/c" "$(demo_calls compute "$tmp/expected")" \
		"$(demo_calls rot13 "$tmp/expected")" <<'EOF' || fail "--json --count output"
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
for line in lines:
    assert re.fullmatch(r'\{"probe": "[^"]*", "hits": [0-9]+, "missed": 0\}', line), line
rows = [json.loads(line) for line in lines]
assert rows[0] == {"probe": "u:demo:compute", "hits": int(sys.argv[2]), "missed": 0}, rows[0]
assert rows[1]["probe"].endswith("/demo:rot13") and rows[1]["hits"] == int(sys.argv[3]), rows[1]
EOF
}

# -o FILE: the trace goes to FILE; the program keeps its stdout/stderr untouched.
t_output()
{
	run "$DEMO" 200
	cp "$tmp/out" "$tmp/expected"
	run "$UT" -o "$tmp/trace" u:demo:rot13 -- "$DEMO" 200
	expect_rc 0
	no_stderr
	cmp -s "$tmp/out" "$tmp/expected" || fail "stdout is not the demo's own"
	expect_eq "$(grep -c ' u:demo:rot13 ' "$tmp/trace")" "$(demo_calls rot13 "$tmp/expected")" \
		"trace lines in FILE"
	run "$UT" --count -o "$tmp/trace" u:demo:rot13 -- "$DEMO" 200
	expect_rc 0
	cmp -s "$tmp/out" "$tmp/expected" || fail "stdout is not the demo's own (--count)"
	expect_eq "$(cat "$tmp/trace")" "u:demo:rot13  $(demo_calls rot13 "$tmp/expected")" "count in FILE"
	# The program's stderr stays its own too.
	run "$UT" -o "$tmp/trace" u:crash:main -- "$CRASH"
	expect_rc 2
	expect_eq "$(cat "$tmp/err")" "usage: crash segv|abort|ill|N" "program stderr"
	grep -q ' u:crash:main ' "$tmp/trace" || fail "no hit of u:crash:main in FILE"

	run "$UT" -o "$tmp/no/such/dir/trace" u:demo:rot13 -- "$DEMO" 1
	expect_rc 1
	one_error_line "$tmp/no/such/dir/trace"
	[ ! -s "$tmp/out" ] || fail "the command ran although -o failed"
}

# Wildcards expand to every matching function, labelled with the resolved file.
t_wildcard()
{
	local n=321 real

	run "$DEMO" $n
	cp "$tmp/out" "$tmp/expected"
	real=$(readlink -f "$DEMO")

	run "$UT" --count -o "$tmp/c" 'u:demo:comp*' -- "$DEMO" $n
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/c")" "u:$real:compute  $(demo_calls compute "$tmp/expected")" \
		"u:demo:comp*"

	run "$UT" --count -o "$tmp/c" "u:$DEMO:comp*" "u:$DEMO:r?t1[0-9]" -- "$DEMO" $n
	expect_rc 0
	expect_eq "$(hits "u:$DEMO:compute" "$tmp/c")" "$(demo_calls compute "$tmp/expected")" \
		"path wildcard compute"
	expect_eq "$(hits "u:$DEMO:rot13" "$tmp/c")" "$(demo_calls rot13 "$tmp/expected")" \
		"path wildcard rot13"
	expect_eq "$(wc -l <"$tmp/c")" 2 "path wildcard lines"

	# A library name resolves through the tracee's maps.
	run "$UT" --count -o "$tmp/c" 'u:libc:put?' -- "$DEMO" $n
	expect_rc 0
	grep -Eq '^u:/[^ ]*/libc\.so[^ ]*:puts ' "$tmp/c" || fail "no libc puts line: $(cat "$tmp/c")"
	expect_eq "$(awk '$1 ~ /:puts$/ { print $2 }' "$tmp/c")" "$(demo_calls puts "$tmp/expected")" \
		"u:libc:put? puts"

	# Per-hit lines carry the expanded name.
	run "$UT" -o "$tmp/h" 'u:demo:comp*' -- "$DEMO" 3
	expect_rc 0
	expect_eq "$(grep -c " u:$real:compute arg0=" "$tmp/h")" 3 "per-hit wildcard label"

	run "$UT" --count 'u:demo:zzz*' -- "$DEMO" 1
	expect_rc 1
	one_error_line 'zzz*'
	[ ! -s "$tmp/out" ] || fail "the command ran although no probe matched"
}

# File-offset probes and SYMBOL+OFFSET: computed from the ELF file with nm, readelf, objdump.
t_offset()
{
	local n=150 off insns second mid prev cur

	command -v nm >/dev/null && command -v readelf >/dev/null && command -v objdump >/dev/null ||
		skip "binutils (nm, readelf, objdump) not installed"
	run "$DEMO" $n
	cp "$tmp/out" "$tmp/expected"
	off=$(file_offset compute "$DEMO")

	run "$UT" --count -o "$tmp/c" "u:$DEMO:$(printf 0x%x "$off")" -- "$DEMO" $n
	expect_rc 0
	no_stderr
	expect_eq "$(hits "u:$DEMO:$(printf 0x%x "$off")" "$tmp/c")" \
		"$(demo_calls compute "$tmp/expected")" "file-offset probe"
	run "$UT" --count -o "$tmp/c" "u:demo:$(printf 0x%x "$off")" -- "$DEMO" $n
	expect_rc 0
	expect_eq "$(hits "u:demo:$(printf 0x%x "$off")" "$tmp/c")" \
		"$(demo_calls compute "$tmp/expected")" "file-offset probe on a name"

	# The second instruction is a boundary; one byte into the first multi-byte one is not.
	insns=$(insn_offsets compute "$DEMO")
	second=$(echo "$insns" | sed -n 2p)
	[ -n "$second" ] || fail "cannot disassemble compute"
	prev=
	mid=
	for cur in $insns; do
		if [ -n "$prev" ] && [ $((cur - prev)) -ge 2 ]; then
			mid=$((prev + 1))
			break
		fi
		prev=$cur
	done
	[ -n "$mid" ] || fail "no multi-byte instruction in compute"

	run "$UT" --count -o "$tmp/c" "u:demo:compute+$second" -- "$DEMO" $n
	expect_rc 0
	expect_eq "$(hits "u:demo:compute+$second" "$tmp/c")" "$(demo_calls compute "$tmp/expected")" \
		"compute+$second"
	run "$UT" --count -o "$tmp/c" "u:demo:compute+$(printf 0x%x "$second")" -- "$DEMO" $n
	expect_rc 0
	expect_eq "$(hits "u:demo:compute+$(printf 0x%x "$second")" "$tmp/c")" \
		"$(demo_calls compute "$tmp/expected")" "compute+0x$second"

	run "$UT" --count "u:demo:compute+$mid" -- "$DEMO" $n
	expect_rc 1
	one_error_line "u:demo:compute+$mid"
	[ ! -s "$tmp/out" ] || fail "the command ran although the probe was refused"
	run "$UT" --count "u:$DEMO:$(printf 0x%x $((off + mid)))" -- "$DEMO" $n
	expect_rc 1
	one_error_line "u:$DEMO:$(printf 0x%x $((off + mid)))"
}

# The exit status is the command's own; 128+N when it is killed by signal N.
t_exit()
{
	run "$UT" --count u:libc:malloc -- sh -c 'exit 3'
	expect_rc 3
	no_stderr
	run "$UT" --count u:libc:malloc -- sh -c 'kill -KILL $$'
	expect_rc 137
	no_stderr
	run "$UT" --count u:libc:malloc -- sh -c 'kill -TERM $$'
	expect_rc 143
	run "$UT" --count u:crash:main -- "$CRASH" 42
	expect_rc 42
	run "$UT" --count u:crash:main -- "$CRASH" segv
	expect_rc 139
	expect_eq "$(hits u:crash:main "$tmp/out")" 1 "crash main hits"
	run "$UT" --count u:crash:main -- "$CRASH" abort
	expect_rc 134
	run "$UT" --count u:crash:main -- "$CRASH" ill
	expect_rc 132
	run "$UT" --count u:libc:malloc -- true
	expect_rc 0
	no_stderr

	# `false` exits 1 and the tracer says nothing; a runtime error also exits 1, with one line.
	run "$UT" --count u:libc:malloc -- false
	expect_rc 1
	no_stderr
	run "$UT" --count u:libc:no_such_function_xyz -- true
	expect_rc 1
	one_error_line no_such_function_xyz
}

# Usage errors exit 2 with one line, before anything runs.
t_usage()
{
	local args

	while IFS= read -r args; do
		eval "run \"\$UT\" $args"
		expect_rc 2
		[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$args: expected one stderr line"
		[ ! -e "$tmp/ran" ] || fail "$args: the command ran"
	done <<'EOF'
-- touch "$tmp/ran"
x:demo:compute -- touch "$tmp/ran"
u:demo -- touch "$tmp/ran"
u::compute -- touch "$tmp/ran"
u:demo: -- touch "$tmp/ran"
u:demo:compute+zz -- touch "$tmp/ran"
u:demo:0x12q -- touch "$tmp/ran"
u:demo:123 -- touch "$tmp/ran"
r:demo:compute+4 -- touch "$tmp/ran"
u:demo:compute
u:demo:compute --
-p 1 u:demo:compute -- touch "$tmp/ran"
--str 6 u:demo:compute -- touch "$tmp/ran"
--str x u:demo:compute -- touch "$tmp/ran"
--str u:demo:compute -- touch "$tmp/ran"
--str 0 --count u:demo:compute -- touch "$tmp/ran"
--str 0 --nostop u:demo:compute -- touch "$tmp/ran"
--args 1 --str 1 u:demo:compute -- touch "$tmp/ran"
-d --count r:demo:compute -- touch "$tmp/ran"
--duration u:demo:compute -- touch "$tmp/ran"
--hist r:demo:compute -- touch "$tmp/ran"
--hist u:demo:compute+4 -- touch "$tmp/ran"
--hist u:demo:0x1000 -- touch "$tmp/ran"
--hist --str 0 u:demo:compute -- touch "$tmp/ran"
--hist -d u:demo:compute -- touch "$tmp/ran"
-p zero u:demo:compute
--no-such-option u:demo:compute -- touch "$tmp/ran"
-Q u:demo:compute -- touch "$tmp/ran"
--args 7 u:demo:compute -- touch "$tmp/ran"
--args u:demo:compute -- touch "$tmp/ran"
u:demo:compute -o
EOF
	run "$UT" --help
	expect_rc 0
	grep -q '^usage: uprobe-trace ' "$tmp/out" || fail "--help prints no usage"
	run "$UT" -h
	expect_rc 0
}

# Runtime errors exit 1 with one line naming the input; a spawned command never runs.
t_errors()
{
	local pid_max

	run "$UT" --count u:libc:mallocc -- "$DEMO" 5
	expect_rc 1
	one_error_line "u:libc:mallocc"
	[ ! -s "$tmp/out" ] || fail "the demo ran"

	run "$UT" --count u:demo:no_such_func -- "$DEMO" 5
	expect_rc 1
	one_error_line no_such_func
	[ ! -s "$tmp/out" ] || fail "the demo ran"

	run "$UT" --count u:/nonexistent/libfoo.so:foo -- "$DEMO" 5
	expect_rc 1
	one_error_line /nonexistent/libfoo.so
	run "$UT" --count u:libnosuchlib:foo -- "$DEMO" 5
	expect_rc 1
	one_error_line libnosuchlib
	run "$UT" --count 'u:/nonexistent/libfoo.so:f*' -- "$DEMO" 5
	expect_rc 1
	one_error_line /nonexistent/libfoo.so

	# The second probe fails after the first was added: still nothing runs.
	run "$UT" --count u:demo:compute u:demo:no_such_func -- "$DEMO" 5
	expect_rc 1
	one_error_line no_such_func
	[ ! -s "$tmp/out" ] || fail "the demo ran"

	run "$UT" --count u:libc:malloc -- /nonexistent/program
	expect_rc 1
	one_error_line /nonexistent/program

	pid_max=$(cat /proc/sys/kernel/pid_max)
	run "$UT" --count -p $((pid_max + 1)) u:libc:malloc
	expect_rc 1
	one_error_line $((pid_max + 1))

	# Return probes: every return of compute counted, none missed.
	run "$DEMO" 40
	cp "$tmp/out" "$tmp/expected"
	run "$UT" --count r:demo:compute -- "$DEMO" 40
	expect_rc 0
	expect_eq "$(hits r:demo:compute "$tmp/out")" "$(demo_calls compute "$tmp/expected")" \
		"return probe hits"
	# per-return lines carry the return value
	run "$UT" -o "$tmp/r" r:demo:compute -- "$DEMO" 40
	expect_rc 0
	expect_eq "$(grep -c ' r:demo:compute ret=0x[0-9a-f]*$' "$tmp/r")" \
		"$(demo_calls compute "$tmp/expected")" "r: lines with ret="
}

# Probes in libc of a system program: ls opens and closes each directory it lists once.
t_ls()
{
	local ls_bin dirs=() i j n=7 entries=0

	ls_bin=$(command -v ls) || skip "no ls"
	for i in $(seq 1 $n); do
		mkdir "$tmp/d$i"
		for j in $(seq 1 $((i * 3))); do
			: >"$tmp/d$i/f$j"
			entries=$((entries + 1))
		done
		dirs+=("$tmp/d$i")
	done
	run "$ls_bin" "${dirs[@]}"
	expect_rc 0
	cp "$tmp/out" "$tmp/expected"
	expect_eq "$(grep -c '^f' "$tmp/expected")" $entries "untraced ls"

	run "$UT" --count -o "$tmp/c" u:libc:opendir u:libc:closedir -- "$ls_bin" "${dirs[@]}"
	expect_rc 0
	no_stderr
	cmp -s "$tmp/out" "$tmp/expected" || fail "ls output changed"
	expect_eq "$(hits u:libc:opendir "$tmp/c")" $n "opendir"
	expect_eq "$(hits u:libc:closedir "$tmp/c")" $n "closedir"

	# ls -d lists the names without opening them.
	run "$UT" --count -o "$tmp/c" u:libc:opendir -- "$ls_bin" -d "${dirs[@]}"
	expect_rc 0
	expect_eq "$(hits u:libc:opendir "$tmp/c")" 0 "opendir with ls -d"

	# A failing ls: its own status comes back (2: cannot access).
	run "$UT" --count u:libc:opendir -- "$ls_bin" "$tmp/does-not-exist"
	expect_rc 2
	grep -q 'does-not-exist' "$tmp/err" || fail "ls's own stderr is missing"
}

# Thousands of probes: u:libc:* (one per libc function) and thousands of explicit arguments.
t_many()
{
	local n=100 nlines args=() i

	run "$DEMO" $n
	cp "$tmp/out" "$tmp/expected"

	run "$UT" --count -o "$tmp/c" 'u:libc:*' -- "$DEMO" $n
	grep -v ': warning: ' "$tmp/err" >"$tmp/err2"
	[ ! -s "$tmp/err2" ] || fail "u:libc:* stderr: $(head -n 3 "$tmp/err2")"
	expect_rc 0
	cmp -s "$tmp/out" "$tmp/expected" || fail "demo output changed under u:libc:*"
	nlines=$(wc -l <"$tmp/c")
	[ "$nlines" -ge 1000 ] || fail "u:libc:* made only $nlines probes"
	expect_eq "$(awk '$1 ~ /\/libc\.so[^:]*:puts$/ { print $2 }' "$tmp/c")" \
		"$(demo_calls puts "$tmp/expected")" "puts under u:libc:*"
	echo "u:libc:* expanded to $nlines probes, $(grep -c ': warning: ' "$tmp/err") warning lines"

	run "$UT" --count -o "$tmp/c" 'u:libc:*' -- true
	expect_rc 0
	[ ! -s "$tmp/out" ] || fail "true printed something"

	# A system program under every libc probe prints what it prints untraced.
	mkdir "$tmp/dir" && : >"$tmp/dir/a" && mkdir "$tmp/dir/b" && ln -s a "$tmp/dir/c"
	run ls -la "$tmp/dir"
	expect_rc 0
	cp "$tmp/out" "$tmp/expected.ls"
	run "$UT" --count -o "$tmp/c" 'u:libc:*' -- ls -la "$tmp/dir"
	expect_rc 0
	cmp -s "$tmp/out" "$tmp/expected.ls" || fail "ls -la output changed under u:libc:*"
	expect_eq "$(awk '$1 ~ /:opendir$/ { print $2 }' "$tmp/c")" 1 "opendir under u:libc:*"

	# 3000 explicit probes: 1500 on compute, 1500 on rot13.
	for i in $(seq 1 1500); do
		args+=(u:demo:compute u:demo:rot13)
	done
	run "$UT" --count -o "$tmp/c" "${args[@]}" -- "$DEMO" $n
	expect_rc 0
	cmp -s "$tmp/out" "$tmp/expected" || fail "demo output changed under 3000 probes"
	expect_eq "$(wc -l <"$tmp/c")" 3000 "count lines"
	expect_eq "$(awk '$1 == "u:demo:compute" { print $2 }' "$tmp/c" | sort -u)" \
		"$(demo_calls compute "$tmp/expected")" "every compute probe"
	expect_eq "$(awk '$1 == "u:demo:rot13" { print $2 }' "$tmp/c" | sort -u)" \
		"$(demo_calls rot13 "$tmp/expected")" "every rot13 probe"
}

# An IFUNC symbol as the only probe: the library runs the tracee's resolver to find the
# implementation. glibc's puts() calls strlen() on its string, so strlen runs at least as
# often as the demo calls puts.
t_ifunc()
{
	local n=500 got

	run "$DEMO" $n
	cp "$tmp/out" "$tmp/expected"
	run "$UT" --count -o "$tmp/c" u:libc:strlen -- "$DEMO" $n
	expect_rc 0
	no_stderr
	cmp -s "$tmp/out" "$tmp/expected" || fail "demo output changed"
	got=$(hits u:libc:strlen "$tmp/c")
	[ -n "$got" ] && [ "$got" -ge "$(demo_calls puts "$tmp/expected")" ] ||
		fail "strlen hits '$got' < puts calls $(demo_calls puts "$tmp/expected")"
}

# Probes follow the traced process through execve: `sh -c 'exec ls DIR...'` replaces the
# shell by ls in the same process, whose libc gets the probes again.
t_exec()
{
	local ls_bin dirs=() i n=4

	ls_bin=$(command -v ls) || skip "no ls"
	for i in $(seq 1 $n); do
		mkdir "$tmp/d$i"
		dirs+=("$tmp/d$i")
	done
	run "$UT" --count -o "$tmp/c" u:libc:opendir -- sh -c 'exec "$0" "$@"' "$ls_bin" "${dirs[@]}"
	expect_rc 0
	no_stderr
	expect_eq "$(hits u:libc:opendir "$tmp/c")" $n "opendir after exec"
}

# -f: the shell forks one ls per directory; only with -f are the children traced.
t_follow()
{
	local ls_bin script i n=3

	ls_bin=$(command -v ls) || skip "no ls"
	script=""
	for i in $(seq 1 $n); do
		mkdir "$tmp/f$i"
		script="$script \"$ls_bin\" \"$tmp/f$i\" >/dev/null;"
	done
	script="$script exit 5"
	run "$UT" --count -o "$tmp/c" u:libc:opendir -- sh -c "$script"
	expect_rc 5
	no_stderr
	expect_eq "$(hits u:libc:opendir "$tmp/c")" 0 "opendir in untraced children"
	run "$UT" -f --count -o "$tmp/c" u:libc:opendir -- sh -c "$script"
	expect_rc 5
	no_stderr
	expect_eq "$(hits u:libc:opendir "$tmp/c")" $n "opendir in followed children"
}

# -p: attach to a running demo, stop the tracer with SIGINT (or SIGTERM): the demo carries on
# untraced and finishes with the same result as an untraced run.
attach_and_stop()
{
	local sig=$1 n=300 demo tr got total

	need_attach
	run "$DEMO" $n
	cp "$tmp/out" "$tmp/expected"

	"$DEMO" $n 10 >"$tmp/demo.out" 2>"$tmp/demo.err" &
	demo=$!
	bg_pids+=("$demo")
	sleep 0.2
	"$UT" --count -o "$tmp/c" -p "$demo" u:demo:compute >"$tmp/out" 2>"$tmp/err" &
	tr=$!
	bg_pids+=("$tr")
	wait_for 10 traced_by "$demo" "$tr"
	sleep 0.5
	kill "-$sig" "$tr"
	reap "$tr"
	[ "$wrc" -eq 0 ] || fail "tracer exited $wrc after SIG$sig"
	no_stderr
	alive "$demo" || fail "the demo did not survive the detach"
	untraced "$demo" || fail "the demo is still traced"
	got=$(hits u:demo:compute "$tmp/c")
	total=$(demo_calls compute "$tmp/expected")
	[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -lt "$total" ] ||
		fail "hits '$got' not within (0, $total)"

	reap "$demo"
	[ "$wrc" -eq 0 ] || fail "demo exited $wrc"
	cmp -s "$tmp/demo.out" "$tmp/expected" || fail "the demo's result changed"
	[ ! -s "$tmp/demo.err" ] || fail "demo stderr: $(cat "$tmp/demo.err")"
}

t_attach_sigint()
{
	attach_and_stop INT
}

t_attach_sigterm()
{
	attach_and_stop TERM
}

# SIGINT reaches a tracer blocked in its wait while the tracee sleeps (no events at all):
# the tracer returns at once, detaches, and the process sleeps on untraced.
t_attach_idle()
{
	local sl tr t0

	need_attach
	sleep 30 &
	sl=$!
	bg_pids+=("$sl")
	"$UT" --count -p "$sl" u:libc:malloc >"$tmp/out" 2>"$tmp/err" &
	tr=$!
	bg_pids+=("$tr")
	wait_for 10 traced_by "$sl" "$tr"
	sleep 0.3
	t0=$SECONDS
	kill -INT "$tr"
	wait_for 5 not_alive "$tr"
	wait "$tr"
	wrc=$?
	[ "$wrc" -eq 0 ] || fail "tracer exited $wrc"
	no_stderr
	expect_eq "$(cat "$tmp/out")" "u:libc:malloc  0" "count"
	alive "$sl" || fail "sleep did not survive"
	untraced "$sl" || fail "sleep is still traced"
	[ $((SECONDS - t0)) -le 3 ] || fail "the tracer took $((SECONDS - t0))s to stop"

	# The same with a spawned command: detached on SIGINT, waited for, its status returned.
	"$UT" --count u:libc:malloc -- sh -c 'sleep 1; exit 5' >"$tmp/out" 2>"$tmp/err" &
	tr=$!
	bg_pids+=("$tr")
	wait_for 10 has_child "$tr"
	sleep 0.3
	kill -INT "$tr"
	reap "$tr"
	[ "$wrc" -eq 5 ] || fail "tracer exited $wrc, expected the command's 5"
	no_stderr
}

# -p until the process exits by itself: the tracer exits 0 with the hits it saw.
t_attach_exit()
{
	# long enough (3 s) to outlive a slow tracer's refusal (ASan, a loaded machine)
	local n=300 demo got

	need_attach
	"$DEMO" $n 10 >"$tmp/demo.out" 2>&1 &
	demo=$!
	bg_pids+=("$demo")
	sleep 0.1
	# A refused probe after a good one: exit 1, and the process is let go unharmed.
	run "$UT" --count -p "$demo" u:demo:compute u:demo:no_such_func
	expect_rc 1
	one_error_line no_such_func
	if ! alive "$demo"; then
		reap "$demo"
		fail "the demo ended (status $wrc) after a refused probe"
	fi
	untraced "$demo" || fail "the demo is still traced after a refused probe"
	run "$UT" --count -p "$demo" u:demo:compute
	expect_rc 0
	no_stderr
	got=$(hits u:demo:compute "$tmp/out")
	[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -le $n ] || fail "hits '$got' not within (0, $n]"
	reap "$demo"
	[ "$wrc" -eq 0 ] || fail "demo exited $wrc"
	expect_eq "$(demo_calls compute "$tmp/demo.out")" $n "demo's own count"
}

# A spawned command survives SIGINT to the tracer: it is detached, runs to its end,
# and its exit status becomes the tracer's.
t_spawn_sigint()
{
	local n=300 tr demo got

	run "$DEMO" $n
	cp "$tmp/out" "$tmp/expected"
	"$UT" --count -o "$tmp/c" u:demo:compute -- "$DEMO" $n 10 >"$tmp/out" 2>"$tmp/err" &
	tr=$!
	bg_pids+=("$tr")
	wait_for 10 child_runs "$tr" "$DEMO"
	demo=$child
	bg_pids+=("$demo")
	wait_for 10 traced_by "$demo" "$tr"
	sleep 0.5
	kill -INT "$tr"
	reap "$tr"
	[ "$wrc" -eq 0 ] || fail "tracer exited $wrc"
	no_stderr
	cmp -s "$tmp/out" "$tmp/expected" || fail "the demo did not finish correctly"
	got=$(hits u:demo:compute "$tmp/c")
	[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -lt $n ] || fail "hits '$got' not within (0, $n)"
}

# A library constructor of the command (crash's, CRASH_EARLY) runs traced, after spawn: a
# handled signal is delivered and tracing goes on; a death gives the command's own status;
# SIGTERM/SIGINT let the command go at once and it finishes untraced.
t_early()
{
	local sig tr cr

	CRASH_EARLY=usr1 run "$CRASH" early
	expect_rc 0
	expect_eq "$(cat "$tmp/out")" "usr1=1" "untraced"
	CRASH_EARLY=usr1 run "$UT" --count u:crash:main -- "$CRASH" early
	expect_rc 0
	no_stderr
	expect_eq "$(head -n 1 "$tmp/out")" "usr1=1" "the constructor's signal reached its handler"
	expect_eq "$(hits u:crash:main "$tmp/out")" 1 "main traced after the early signal"

	# constructors run traced (spawn returns before them): a death there is the command's own
	CRASH_EARLY=segv run "$UT" --count u:crash:main -- "$CRASH" 0
	expect_rc 139
	expect_eq "$(hits u:crash:main "$tmp/out")" 0 "main never reached"
	CRASH_EARLY=exit run "$UT" -o "$tmp/trace" u:crash:main -- "$CRASH" 0
	expect_rc 9
	[ ! -s "$tmp/trace" ] || fail "main traced in a program that never reached it: $(cat "$tmp/trace")"

	for sig in TERM INT; do
		CRASH_EARLY=sleep "$UT" --count u:crash:main -- "$CRASH" early >"$tmp/out" 2>"$tmp/err" &
		tr=$!
		bg_pids+=("$tr")
		# past its exec (a stop before it kills the child: the program never ran)
		wait_for 10 child_runs "$tr" "$CRASH"
		cr=$child
		bg_pids+=("$cr")
		wait_for 10 traced_by "$cr" "$tr"
		sleep 0.2
		kill "-$sig" "$tr"
		# let go within a second, while its constructor still sleeps
		wait_untraced 1 "$cr"
		alive "$cr" || fail "the command died on SIG$sig to the tracer"
		reap "$tr"
		[ "$wrc" -eq 0 ] || fail "tracer exited $wrc after SIG$sig, expected the command's 0"
		no_stderr
		expect_eq "$(grep -x 'usr1=[0-9]*' "$tmp/out")" "usr1=0" "the command's output after SIG$sig"
	done
}

# r:libc:* on a shell, which calls setjmp (dash at start, and for each
# command substitution) and fork: return probes on functions that return
# twice used to kill it (SIGSEGV). Same output and status as untraced,
# with setjmp's returns counted. And r:PROG:_start is refused in one line.
t_twice()
{
	local cmd='x=$(echo hi); echo "$x"; exit 3' got

	run sh -c "$cmd"
	expect_rc 3
	cp "$tmp/out" "$tmp/expected"
	run "$UT" --count -o "$tmp/c" 'r:libc:*' -- sh -c "$cmd"
	expect_rc 3
	cmp -s "$tmp/out" "$tmp/expected" || fail "sh output changed under r:libc:*"
	got=$(awk '$1 ~ /:(_setjmp|__sigsetjmp)$/ { n += $2 } END { print n + 0 }' "$tmp/c")
	[ "$got" -gt 0 ] || fail "no setjmp returns counted under r:libc:*"
	run "$UT" "r:$DEMO:_start" -- "$DEMO" 3
	expect_rc 1
	one_error_line "_start is the entry point"
}

# A process in another mount namespace (a container), where $tmp/bin is a
# private bind mount of $tmp/cont: the path u:$tmp/bin/demo names its demo,
# not the other program ours names, and u:demo finds the file it maps.
# A probe on a file that no traced process maps gets a warning.
comm_is()
{
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

t_mntns()
{
	local n=150 demo got

	need_attach
	[ "$(id -u)" -eq 0 ] || skip "a mount namespace with a bind mount needs root"
	unshare -m --propagation private true 2>/dev/null || skip "unshare -m is not permitted here"
	mkdir "$tmp/bin" "$tmp/cont"
	cp "$DEMO" "$tmp/cont/demo"
	cp "$CRASH" "$tmp/bin/demo" # ours: another program, without compute()
	unshare -m --propagation private sh -c \
		"mount --bind '$tmp/cont' '$tmp/bin' && exec '$tmp/bin/demo' $n 10" >"$tmp/demo.out" 2>&1 &
	demo=$!
	bg_pids+=("$demo")
	wait_for 10 comm_is "$demo" demo
	# and a probe on a file it does not map is said to wait, in one warning line
	run "$UT" --count -p "$demo" "u:$tmp/bin/demo:compute" u:demo:compute "u:$CRASH:main"
	expect_rc 0
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "warning: u:$CRASH:main: " "$tmp/err" &&
		grep -qF "no traced process maps it" "$tmp/err" ||
		fail "expected one warning about u:$CRASH:main: $(cat "$tmp/err")"
	got=$(hits "u:$tmp/bin/demo:compute" "$tmp/out")
	[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -le $n ] || fail "path: hits '$got' not within (0, $n]"
	got=$(hits u:demo:compute "$tmp/out")
	[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -le $n ] || fail "name: hits '$got' not within (0, $n]"
	reap "$demo"
	[ "$wrc" -eq 0 ] || fail "demo exited $wrc"
	expect_eq "$(demo_calls compute "$tmp/demo.out")" $n "demo's own count"
}

# A library named before any traced process maps it (python's dlopen of
# libsqlite3, liblzma in the children of a shell): found as the dynamic linker
# would find it, the probe waits and counts from the moment it is loaded; one
# that never loads is said once, not an error; no such library is one.
t_pending()
{
	local md5

	run "$UT" --count u:liblzma:lzma_code -- true
	expect_rc 0
	one_error_line "u:liblzma:lzma_code: never loaded"
	run "$UT" --count u:libnosuchlibrary:foo -- true
	expect_rc 1
	one_error_line "libnosuchlibrary"

	if command -v python3 >/dev/null && python3 -c 'import sqlite3' 2>/dev/null; then
		run "$UT" --count u:libsqlite3:sqlite3_open_v2 -- python3 -c \
			'import sqlite3; sqlite3.connect(":memory:"); sqlite3.connect(":memory:")'
		expect_rc 0
		no_stderr
		expect_eq "$(hits u:libsqlite3:sqlite3_open_v2 "$tmp/out")" 2 "sqlite3_open_v2 calls"
	fi
	command -v xz >/dev/null || skip "xz is not installed"
	seq 1 20000 >"$tmp/f"
	run sh -c "xz -3 -c '$tmp/f' | xz -d | md5sum"
	md5=$(cat "$tmp/out")
	run "$UT" -f --count -o "$tmp/c" u:liblzma:lzma_code -- sh -c "xz -3 -c '$tmp/f' | xz -d | md5sum"
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/out")" "$md5" "the pipeline's output"
	[ "$(hits u:liblzma:lzma_code "$tmp/c")" -gt 0 ] || fail "no lzma_code call counted: $(cat "$tmp/c")"
}

# No-stop hits are never lost: on real interpreters (threads and frees at exit
# included) the counts equal the stopping probes' counts.
t_nostop_exact()
{
	local prog stop nostop ran=0

	for prog in perl python3; do
		command -v "$prog" >/dev/null || continue
		case $prog in
		perl) set -- perl -e 'my @a = map { [$_] } 1 .. 20000; print scalar(@a), "\n"' ;;
		python3) set -- python3 -c 'import json; print(len(json.dumps([list(range(100)) for i in range(2000)])))' ;;
		esac
		run "$UT" --count -o "$tmp/stop" u:libc:free u:libc:malloc -- "$@"
		expect_rc 0
		run "$UT" -vv --nostop --count -o "$tmp/nostop" u:libc:free u:libc:malloc -- "$@"
		expect_rc 0
		# counted by count-only detours (a counter in the program, no record per hit)
		grep -q 'jump detour for .*, count-only$' "$tmp/err" ||
			fail "$prog: no count-only detour with --nostop --count"
		stop=$(hits u:libc:free "$tmp/stop")/$(hits u:libc:malloc "$tmp/stop")
		nostop=$(hits u:libc:free "$tmp/nostop")/$(hits u:libc:malloc "$tmp/nostop")
		[ "$(hits u:libc:malloc "$tmp/stop")" -gt 1000 ] || fail "$prog: only $stop free/malloc calls"
		expect_eq "$nostop" "$stop" "$prog: free/malloc with --nostop"
		ran=$((ran + 1))
	done
	[ "$ran" -gt 0 ] || skip "neither perl nor python3 is installed"
}

# The command starts with the signal dispositions and mask the tracer was given, not the
# tracer's own handlers: the same SigIgn/SigBlk as run untraced (python sets them up, and
# ignores SIGPIPE itself), and under nohup.
t_signal_state()
{
	local wrap

	need_python
	wrap='import os, signal as s, sys
s.pthread_sigmask(s.SIG_BLOCK, [s.SIGUSR1, s.SIGWINCH])
s.signal(s.SIGINT, s.SIG_IGN)
s.signal(s.SIGUSR2, s.SIG_IGN)
os.execvp(sys.argv[1], sys.argv[1:])'
	run python3 -c "$wrap" grep -E '^Sig(Blk|Ign):' /proc/self/status
	expect_rc 0
	cp "$tmp/out" "$tmp/expected"
	grep -q '^SigBlk:.*0000000008000200$' "$tmp/expected" || fail "set-up: $(cat "$tmp/expected")"
	run python3 -c "$wrap" "$UT" --count -o "$tmp/c" u:libc:malloc -- \
		grep -E '^Sig(Blk|Ign):' /proc/self/status
	expect_rc 0
	no_stderr
	cmp -s "$tmp/out" "$tmp/expected" ||
		fail "signal state: $(tr '\n' ' ' <"$tmp/out"), untraced: $(tr '\n' ' ' <"$tmp/expected")"

	run nohup grep -E '^Sig(Blk|Ign):' /proc/self/status
	cp "$tmp/out" "$tmp/expected"
	grep -q '^SigIgn:.*[13579bdf]$' "$tmp/expected" || fail "nohup does not ignore SIGHUP: $(cat "$tmp/expected")"
	run nohup "$UT" --count -o "$tmp/c" u:libc:malloc -- grep -E '^Sig(Blk|Ign):' /proc/self/status
	expect_rc 0
	cmp -s "$tmp/out" "$tmp/expected" ||
		fail "under nohup: $(tr '\n' ' ' <"$tmp/out"), untraced: $(tr '\n' ' ' <"$tmp/expected")"
}

# Inputs that would make the tracer wait for ever are refused at once with one line: -p of
# itself or of an ancestor (`-p $$` from a shell), a FIFO or a device as BINARY.
t_refuse()
{
	run bash -c '"$0" --count -p $$ u:libc:malloc; exit $?' "$UT"
	expect_rc 1
	one_error_line "is an ancestor of uprobe-trace (its parent)"
	# bash's parent is the timeout of run()
	run bash -c '"$0" --count -p $PPID u:libc:malloc; exit $?' "$UT"
	expect_rc 1
	one_error_line "is an ancestor of uprobe-trace (a parent of its parent)"
	run bash -c 'exec "$0" --count -p $$ u:libc:malloc' "$UT"
	expect_rc 1
	one_error_line "is uprobe-trace itself"

	mkfifo "$tmp/fifo" || fail "mkfifo"
	BOUND=10 run "$UT" --count "u:$tmp/fifo:foo" -- "$DEMO" 1
	expect_rc 1
	one_error_line "$tmp/fifo': not a regular file"
	[ ! -s "$tmp/out" ] || fail "the demo ran"
	BOUND=10 run "$UT" --count "u:$tmp/fifo:f*" -- "$DEMO" 1
	expect_rc 1
	one_error_line "$tmp/fifo': not a regular file"
	BOUND=10 run "$UT" --count u:/dev/null:foo -- "$DEMO" 1
	expect_rc 1
	one_error_line "/dev/null': not a regular file"
}

# --stack: each hit's callers under it, named from the demo's and libc's symbols.
t_stack()
{
	local real args

	need_python
	real=$(readlink -f "$DEMO")
	# demo's say() is the only caller of puts: main -> say -> puts
	run "$UT" --stack -o "$tmp/h" u:libc:puts u:demo:compute -- "$DEMO" 3
	expect_rc 0
	no_stderr
	python3 - "$tmp/h" "$real" <<'EOF' || fail "--stack output: $(head -n 20 "$tmp/h")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
demo = re.escape(sys.argv[2])
hits = [i for i, l in enumerate(lines) if not l.startswith("    ")]
assert len(hits) == 4, hits    # compute x3, puts x1
for at, nxt in zip(hits, hits[1:] + [len(lines)]):
    frames = [l[4:] for l in lines[at + 1:nxt]]
    assert 3 <= len(frames) <= 16, frames
    for f in frames:
        assert re.fullmatch(r'[^ ]+\+0x[0-9a-f]+ \((/[^)]*|\[[a-z]+\])\)|0x[0-9a-f]+( \(/[^)]*\))?', f), f
    if ":compute " in lines[at]:
        assert re.fullmatch(r'compute\+0x0 \(%s\)' % demo, frames[0]), frames
        assert re.fullmatch(r'main\+0x[0-9a-f]+ \(%s\)' % demo, frames[1]), frames
    else:
        assert re.fullmatch(r'[_A-Za-z]*puts\+0x0 \(/[^)]*libc[^)]*\)', frames[0]), frames
        assert re.fullmatch(r'say\+0x[0-9a-f]+ \(%s\)' % demo, frames[1]), frames
        assert re.fullmatch(r'main\+0x[0-9a-f]+ \(%s\)' % demo, frames[2]), frames
EOF

	# at most N frames
	run "$UT" --stack=2 -o "$tmp/h" u:demo:compute -- "$DEMO" 3
	expect_rc 0
	expect_eq "$(grep -c '^    ' "$tmp/h")" 6 "--stack=2 frame lines"
	expect_eq "$(grep -c '^    main+0x' "$tmp/h")" 3 "--stack=2 callers"

	run "$UT" --json --stack=3 -o "$tmp/j" u:libc:puts -- "$DEMO" 3
	expect_rc 0
	no_stderr
	python3 - "$tmp/j" "$real" <<'EOF' || fail "--json --stack output: $(cat "$tmp/j")"
import json, re, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert len(rows) == 1, rows
st = rows[0]["stack"]
assert len(st) == 3, st
assert re.fullmatch(r'say\+0x[0-9a-f]+ \(%s\)' % re.escape(sys.argv[2]), st[1]), st
assert st[2].startswith("main+0x"), st
EOF

	# combinations it makes no sense in, and bad depths
	for args in "--stack --nostop" "--stack=4 --count" "--stack --hist" "--stack=0" "--stack=65" \
		"--stack=x" "--stack="; do
		run "$UT" $args u:demo:compute -- "$DEMO" 1
		expect_rc 2
		[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$args: expected one stderr line"
		grep -q -- "stack" "$tmp/err" || fail "$args: does not name --stack: $(cat "$tmp/err")"
		[ ! -s "$tmp/out" ] || fail "$args: the demo ran"
	done
	run "$UT" --stack --nostop u:demo:compute -- "$DEMO" 1
	grep -q -- "--nostop" "$tmp/err" || fail "--stack --nostop: not said why: $(cat "$tmp/err")"
	run "$UT" --help
	grep -q -- "--stack" "$tmp/out" || fail "--help does not mention --stack"
}

# Symbol names come from files anyone can write: one holding a terminal escape sequence
# (crash's segv renamed ESC[2J in .strtab) is printed escaped in per-hit lines, counts and
# warnings, never raw; --json escapes it its own way.
t_escape()
{
	local esc

	need_python
	cp "$CRASH" "$tmp/crash2" || fail "cp"
	python3 - "$tmp/crash2" <<'EOF2' || fail "cannot rename segv in .strtab"
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
shoff, = struct.unpack_from("<Q", b, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3a)
def sec(i):
    name, typ, flags, addr, off, size = struct.unpack_from("<IIQQQQ", b, shoff + i * shentsize)
    return name, typ, off, size
_, _, stroff, _ = sec(shstrndx)
for i in range(shnum):
    name, typ, off, size = sec(i)
    if b[stroff + name:].startswith(b".strtab\0"):
        at = b.find(b"\0segv\0", off, off + size)
        assert at > 0
        b[at + 1:at + 5] = b"\x1b[2J"
        open(sys.argv[1], "wb").write(b)
        sys.exit(0)
sys.exit(1)
EOF2
	# the copy finds crash's library where crash is
	export LD_LIBRARY_PATH="$(dirname "$CRASH")"
	esc='u:'"$tmp"'/crash2:\x1b[2J'
	run "$UT" -o "$tmp/h" "u:$tmp/crash2:*" -- "$tmp/crash2" segv
	expect_rc 139
	grep -q $'\x1b' "$tmp/h" "$tmp/err" && fail "a raw ESC was printed"
	expect_eq "$(grep -cF " $esc arg0=" "$tmp/h")" 1 "escaped hit line"
	run "$UT" --count -o "$tmp/c" "u:$tmp/crash2:*" -- "$tmp/crash2" segv
	expect_rc 139
	grep -q $'\x1b' "$tmp/c" "$tmp/err" && fail "a raw ESC was printed with --count"
	# (not hits(): awk -v would turn the \x1b back into an ESC)
	expect_eq "$(grep -F "$esc " "$tmp/c" | awk '{ print $2 }')" 1 "escaped count line"
	run "$UT" --json --count -o "$tmp/c" "u:$tmp/crash2:*" -- "$tmp/crash2" segv
	grep -qF '\u001b[2J"' "$tmp/c" || fail "--json: $(cat "$tmp/c")"
	# a message naming it: the probe on the escaped name of an instruction's middle byte
	run "$UT" --count "u:$tmp/crash2:*+1" -- "$tmp/crash2" segv
	grep -q $'\x1b' "$tmp/err" && fail "a raw ESC in a warning"
	return 0
}

# -p of a zombie: one line saying it is a zombie, not "Operation not permitted".
t_zombie()
{
	local sl z

	need_attach
	# the shell forks a short sleep and becomes a long one, which never reaps it (the short
	# one outlives the exec: a shell reaps a child that ended before it execs)
	bash -c 'sleep 0.3 & exec sleep 30' &
	sl=$!
	bg_pids+=("$sl")
	wait_for 10 has_child "$sl"
	z=$(cat "/proc/$sl/task/$sl/children")
	z=${z%% *}
	[ -n "$z" ] || fail "no child of $sl"
	wait_for 10 is_zombie "$z"
	run "$UT" --count -p "$z" u:libc:malloc
	expect_rc 1
	one_error_line "pid $z is a zombie"
	grep -q "not permitted" "$tmp/err" && fail "blames permissions: $(cat "$tmp/err")"
	return 0
}

is_zombie()
{
	[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# What --str shows of clitarget's take_str() calls, one line each, in order (bad: its address).
expected_strs()
{
	printf '"hello"\n'
	printf '"tab\\there\\nnew \\"quoted\\" back\\\\slash"\n'
	printf '"\\x01\\x7f\\xff\xc3\xa9\\x1b[2J"\n'
	printf '""\n'
	printf '"%s"...\n' "$(head -c 4096 /dev/zero | tr '\0' a)"
	printf '"%s"\n' "$(head -c 4096 /dev/zero | tr '\0' b)"
	printf '(null)\n'
	printf '(bad %s)\n' "$1"
}

# --str: strings read from the tracee, C-escaped, cut at 4096 bytes (paths whole), NULL and bad pointers named.
t_str()
{
	local bad

	run "$UT" --str 0 -o "$tmp/h" u:clitarget:take_str -- "$TGT" str
	expect_rc 0
	no_stderr
	bad=$(sed -n 's/^clitarget: bad //p' "$tmp/out")
	[ -n "$bad" ] || fail "clitarget printed no bad address"
	grep -q $'\x1b' "$tmp/h" && fail "a raw ESC was printed"
	sed -E 's/^ *[0-9]+\.[0-9]{6} [0-9]+\/[0-9]+ clitarget u:clitarget:take_str arg0=//
		s/ arg1=0x[0-9a-f]+ arg2=0x[0-9a-f]+$//' "$tmp/h" >"$tmp/got"
	expected_strs "$bad" >"$tmp/want"
	cmp -s "$tmp/got" "$tmp/want" || fail "strings: $(diff "$tmp/want" "$tmp/got" | head -n 10)"

	# another argument; --args bounds the line, and the default grows to the highest --str
	run "$UT" -s 1 --args 2 -o "$tmp/h" u:clitarget:take_str2 -- "$TGT" str
	expect_rc 0
	expect_eq "$(sed -E 's/^.* u:clitarget:take_str2 //' "$tmp/h")" 'arg0=0x7 arg1="second"' \
		"--str 1 --args 2"
	run "$UT" -s 4 -o "$tmp/h" u:clitarget:take_str2 -- "$TGT" str
	expect_rc 0
	grep -Eq ' arg3=0x[0-9a-f]+ arg4=(\(bad 0x[0-9a-f]+\)|\(null\)|".*")$' "$tmp/h" ||
		fail "--str 4 without --args: $(cat "$tmp/h")"

	# --json: one string per --str argument, escaped for JSON, with truncated and error
	run "$UT" --json -s 0 -o "$tmp/j" u:clitarget:take_str -- "$TGT" str
	expect_rc 0
	no_stderr
	bad=$(sed -n 's/^clitarget: bad //p' "$tmp/out")
	if command -v python3 >/dev/null; then
		python3 - "$tmp/j" "$bad" <<'EOF' || fail "--json --str: $(head -c 600 "$tmp/j")"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
strs = [r["strs"] for r in rows]
assert all(len(s) == 1 and s[0]["arg"] == 0 for s in strs), strs
got = [(s[0]["str"], s[0]["truncated"], s[0]["error"]) for s in strs]
want = [("hello", False, None),
        ('tab\there\nnew "quoted" back\\slash', False, None),
        ("\x01\x7f\udcff\u00e9\x1b[2J", False, None),
        ("", False, None),
        ("a" * 4096, True, None),
        ("b" * 4096, False, None),
        (None, False, "null"),
        (None, False, "bad address")]
assert got == want, got
# the exact bytes come back through Python's surrogateescape
assert got[2][0].encode("utf-8", "surrogateescape") == b"\x01\x7f\xff\xc3\xa9\x1b[2J"
assert strs[7][0]["addr"] == sys.argv[2] and strs[6][0]["addr"] == "0x0", strs[7]
assert all(r["args"][0] == s[0]["addr"] for r, s in zip(rows, strs))
EOF
	else
		grep -qF '"str": "tab\there\nnew \"quoted\" back\\slash", "truncated": false' "$tmp/j" ||
			fail "--json escapes: $(cat "$tmp/j")"
		grep -qF '"str": null, "truncated": false, "error": "bad address"}' "$tmp/j" ||
			fail "--json bad address: $(cat "$tmp/j")"
	fi
}

# --str in return lines: the string as the function was given it at its entry, although the
# function changed it before returning.
t_str_ret()
{
	local bad

	run "$UT" -s 0 -o "$tmp/h" r:clitarget:mutate r:clitarget:take_str -- "$TGT" str
	expect_rc 0
	no_stderr
	bad=$(sed -n 's/^clitarget: bad //p' "$tmp/out")
	expect_eq "$(grep -F ' r:clitarget:mutate ' "$tmp/h" | sed 's/^.* r:clitarget:mutate //')" \
		'ret=0x0 arg0="before"' "return line of mutate"
	grep -F ' r:clitarget:take_str ' "$tmp/h" | sed 's/^.* r:clitarget:take_str ret=0x0 arg0=//' \
		>"$tmp/got"
	expected_strs "$bad" >"$tmp/want"
	cmp -s "$tmp/got" "$tmp/want" || fail "return strings: $(diff "$tmp/want" "$tmp/got" | head)"

	run "$UT" --json -s 0 -o "$tmp/j" r:clitarget:mutate -- "$TGT" str
	expect_rc 0
	grep -qF '"retval": "0x0", "strs": [{"arg": 0, "addr": "0x' "$tmp/j" &&
		grep -qF '"str": "before", "truncated": false, "error": null}]}' "$tmp/j" ||
		fail "--json return line: $(cat "$tmp/j")"
}

# --duration: return lines carry the call's duration, never less than the call spun (a traced
# call only adds the tracer's round trip); entry lines carry none.
t_duration()
{
	run "$UT" -d -o "$tmp/h" r:clitarget:lat_slow r:clitarget:lat_fast u:clitarget:lat_fast \
		-- "$TGT" lat
	expect_rc 0
	no_stderr
	expect_eq "$(grep -c ' r:clitarget:lat_slow ret=0x[0-9a-f]* dur=[0-9]*\.[0-9]\{3\}us$' "$tmp/h")" \
		20 "lat_slow return lines with dur="
	expect_eq "$(grep -c ' r:clitarget:lat_fast ret=0x[0-9a-f]* dur=[0-9]*\.[0-9]\{3\}us$' "$tmp/h")" \
		30 "lat_fast return lines with dur="
	grep ' u:clitarget:lat_fast ' "$tmp/h" | grep -q 'dur=' && fail "an entry line with dur="
	# clitarget spins 2200 us in lat_slow, 140 us in lat_fast
	awk '{ d = $6; sub(/^dur=/, "", d); sub(/us$/, "", d); d += 0 }
	     $4 == "r:clitarget:lat_slow" && d < 2200 { exit 1 }
	     $4 == "r:clitarget:lat_fast" && d < 140 { exit 1 }' \
		"$tmp/h" || fail "a duration shorter than the call: $(grep -F ' dur=' "$tmp/h" | head -n 3)"

	run "$UT" --json -d -o "$tmp/j" r:clitarget:lat_slow -- "$TGT" lat
	expect_rc 0
	expect_eq "$(grep -c '"retval": "0x[0-9a-f]*", "duration_ns": [0-9]*}$' "$tmp/j")" 20 \
		"--json duration_ns"
	sed 's/.*"duration_ns": //; s/}$//' "$tmp/j" | awk '$1 < 2200000 { exit 1 }' ||
		fail "--json duration_ns shorter than the call: $(head -n 3 "$tmp/j")"
}

# hist_check FILE: the --hist text output in FILE is well formed: per function, the bucket
# counts add up to its count, ranges are bpftrace's, the fullest bucket has the whole bar.
# Prints "LABEL COUNT FIRST_BUCKET MODE_BUCKET" per function.
hist_check()
{
	awk '
	function flush() {
		if (label == "")
			return
		if (sum != count) { print "bad: " label " buckets add up to " sum ", count " count; exit 1 }
		if (count && top_bar != 52) { print "bad: " label " fullest bar " top_bar; exit 1 }
		print label, count, first, mode
		label = ""
	}
	/^$/ { flush(); next }
	/^\[/ {
		if (!match($0, /^\[[0-9]+[KMG]?, [0-9]+[KMG]?\) +[0-9]+ \|@* *\|$/)) {
			print "bad line: " $0; exit 1
		}
		range = substr($0, 1, index($0, ")"))
		rest = substr($0, index($0, ")") + 1)
		split(rest, f, " ")
		n = f[1] + 0
		bar = rest; gsub(/[^@]/, "", bar)
		sum += n
		if (first == "" && n) first = range
		if (n > best) { best = n; mode = range; top_bar = length(bar) }
		next
	}
	{
		flush()
		label = $1; count = -1
		for (i = 2; i < NF; i++) if ($i == "count") count = $(i + 1) + 0
		if (count < 0) { print "bad header: " $0; exit 1 }
		sum = 0; best = 0; first = ""; mode = ""; top_bar = 0
	}
	END { flush() }' "$1"
}

# --hist: per function, a log2 histogram of its calls' durations. clitarget spins 140 us in
# lat_fast (bucket [128K, 256K) ns), 2.2 ms in lat_slow ([2M, 4M)), both in lat_mixed. A
# traced call also counts a round trip to the tracer: each group may land one bucket up,
# never below; the counts are exact.
t_hist()
{
	local real us

	run "$UT" --hist -o "$tmp/h" u:clitarget:lat_fast u:clitarget:lat_slow u:clitarget:lat_mixed \
		u:clitarget:take_str -- "$TGT" lat
	expect_rc 0
	no_stderr
	grep -q ' u:clitarget:' "$tmp/h" && fail "per-hit lines with --hist: $(head -n 3 "$tmp/h")"
	hist_check "$tmp/h" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	# the lowest bucket only: a loaded machine stretches a sleep, never shortens it
	awk '$1 == "u:clitarget:lat_fast" && $2 == 30 &&
		($3 " " $4 == "[128K, 256K)" || $3 " " $4 == "[256K, 512K)") { ok++ }
	     $1 == "u:clitarget:lat_slow" && $2 == 20 &&
		($3 " " $4 == "[2M, 4M)" || $3 " " $4 == "[4M, 8M)") { ok++ }
	     $1 == "u:clitarget:lat_mixed" && $2 == 50 &&
		($3 " " $4 == "[128K, 256K)" || $3 " " $4 == "[256K, 512K)") { ok++ }
	     $1 == "u:clitarget:take_str" && $2 == 0 { ok++ }
	     END { exit ok != 4 }' "$tmp/sum" || fail "histograms: $(cat "$tmp/sum")"
	us='[0-9]+\.[0-9]{3}us'
	grep -Eq "^u:clitarget:lat_fast  count 30  min $us  avg $us  max $us\$" "$tmp/h" ||
		fail "summary line: $(grep '^u:clitarget:lat_fast' "$tmp/h")"

	# --json: one object per function; the numbers agree with each other and with clitarget
	run "$UT" --hist --json -o "$tmp/j" u:clitarget:lat_fast u:clitarget:lat_slow \
		u:clitarget:lat_mixed u:clitarget:take_str -- "$TGT" lat
	expect_rc 0
	no_stderr
	if command -v python3 >/dev/null; then
		python3 - "$tmp/j" <<'EOF' || fail "--hist --json: $(cat "$tmp/j")"
import json, sys
rows = {r["probe"]: r for r in map(json.loads, open(sys.argv[1]))}
assert list(rows) == ["u:clitarget:lat_fast", "u:clitarget:lat_slow", "u:clitarget:lat_mixed",
                      "u:clitarget:take_str"], list(rows)
K, M = 1 << 10, 1 << 20
FAST, SLOW = 140000, 2200000
def check(name, count, spun, groups):
    r = rows[name]
    h = r["hist"]
    assert r["count"] == count and r["missed"] == 0, r
    assert sum(b["count"] for b in h) == count, r
    for b in h:
        assert b["min"] & (b["min"] - 1) == 0 and b["max"] == 2 * b["min"] - 1, b
    assert h[0]["min"] <= r["min_ns"] <= h[0]["max"], r
    assert h[-1]["min"] <= r["max_ns"] <= h[-1]["max"], r
    assert r["min_ns"] <= r["avg_ns"] <= r["max_ns"] and r["sum_ns"] // count == r["avg_ns"], r
    # a call lasts at least what it spun
    assert r["min_ns"] >= spun, r
    # each group's fullest bucket is its own or the next one up
    for lo, region in groups:
        bs = [b for b in h if region(b)]
        assert bs and max(bs, key=lambda b: b["count"])["min"] in (lo, 2 * lo), (lo, r)
every = lambda b: True
check("u:clitarget:lat_fast", 30, FAST, [(128 * K, every)])
check("u:clitarget:lat_slow", 20, SLOW, [(2 * M, every)])
check("u:clitarget:lat_mixed", 50, FAST, [(128 * K, lambda b: b["min"] < M),
                                          (2 * M, lambda b: b["min"] >= M)])
# every slow call at 2M or above; of the 30 fast ones, 3 may have been held that long
mixed = rows["u:clitarget:lat_mixed"]["hist"]
assert sum(b["count"] for b in mixed if b["min"] >= 2 * M) in (20, 21, 22, 23), mixed
t = rows["u:clitarget:take_str"]
assert t == {"probe": "u:clitarget:take_str", "count": 0, "missed": 0, "min_ns": None,
             "avg_ns": None, "max_ns": None, "sum_ns": 0, "hist": []}, t
EOF
	else
		grep -q '^{"probe": "u:clitarget:lat_slow", "count": 20, "missed": 0, .*"hist": \[{"min": ' \
			"$tmp/j" || fail "--hist --json: $(cat "$tmp/j")"
	fi

	# wildcards: a histogram per function called, labelled with the file; with --count, the
	# count lines first
	real=$(readlink -f "$TGT")
	run "$UT" --hist --count -o "$tmp/h" 'u:clitarget:lat_*' 'u:clitarget:take_*' -- "$TGT" lat
	expect_rc 0
	no_stderr
	grep -E '^u:[^ ]+ +[0-9]+$' "$tmp/h" >"$tmp/c"
	expect_eq "$(wc -l <"$tmp/c")" 5 "--count lines"
	expect_eq "$(hits "u:$real:lat_mixed" "$tmp/c")" 50 "--count line of lat_mixed"
	expect_eq "$(hits "u:$real:take_str" "$tmp/c")" 0 "--count line of take_str"
	[ "$(head -n 5 "$tmp/h")" = "$(cat "$tmp/c")" ] || fail "--count lines not first"
	tail -n +6 "$tmp/h" >"$tmp/hh"
	hist_check "$tmp/hh" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum" | tr '\n' ' ')" \
		"u:$real:lat_fast 30 u:$real:lat_mixed 50 u:$real:lat_slow 20 " "wildcard histograms"
}

# --hist where calls nest or never return: recursion keeps each call's own duration, a call
# left by longjmp or exit is missed, not measured.
t_hist_edge()
{
	local re

	run "$UT" --hist -o "$tmp/h" u:clitarget:rec u:clitarget:jumper -- "$TGT" lat
	expect_rc 0
	no_stderr
	hist_check "$tmp/h" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	# rec(5) 4 times: 24 calls; 10 of jumper's 15 calls leave by longjmp
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum" | tr '\n' ' ')" \
		"u:clitarget:rec 24 u:clitarget:jumper 5 " "counts"
	grep -Eq '^u:clitarget:jumper  count 5  min .*  missed 10$' "$tmp/h" ||
		fail "jumper: $(grep '^u:clitarget:jumper' "$tmp/h")"
	grep '^u:clitarget:rec ' "$tmp/h" | grep -q missed && fail "rec: $(grep '^u:clitarget:rec' "$tmp/h")"
	# each level spins 140 us after its callee: the outermost of 6 lasts at least 840 us
	run "$UT" --hist --json -o "$tmp/j" u:clitarget:rec -- "$TGT" lat
	expect_rc 0
	re='^\{"probe": "u:clitarget:rec", "count": 24, "missed": 0, '
	re+='"min_ns": (1[4-9][0-9]{4}|[2-9][0-9]{5}|[0-9]{7,}), '
	grep -Eq "$re" "$tmp/j" ||
		fail "rec --json: $(cat "$tmp/j")"
	sed 's/.*"max_ns": \([0-9]*\),.*/\1/' "$tmp/j" | awk '$1 < 840000 { exit 1 }' ||
		fail "rec's outermost call shorter than its callees: $(cat "$tmp/j")"

	# leave() calls exit(): no duration, one missed call
	run "$UT" --hist -o "$tmp/h" u:clitarget:leave -- "$TGT" noreturn
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/h")" "u:clitarget:leave  count 0  missed 1" "leave"
}

# usdt:BINARY:PROVIDER:NAME: each hit's USDT arguments as the program passed them, in text
# (--str for a string argument) and JSON; counts over a wildcard; errors in one line.
t_usdt()
{
	local n=7 i words=(alpha beta gamma)

	run "$USDT" $n
	expect_eq "$(cat "$tmp/out")" "cliusdt: $n steps" "untraced run"
	run "$UT" -o "$tmp/t" --str 2 usdt:cliusdt:cli:step -- "$USDT" $n
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/out")" "cliusdt: $n steps" "traced run's output"
	expect_eq "$(wc -l <"$tmp/t")" $n "step lines"
	for ((i = 0; i < n; i++)); do
		sed -n "$((i + 1))p" "$tmp/t" |
			grep -Eq " usdt:cliusdt:cli:step arg0=$i arg1=-?$i arg2=\"${words[i % 3]}\"\$" ||
			fail "step $i: $(sed -n "$((i + 1))p" "$tmp/t")"
	done
	# arg1 is -i: signed, shown negative
	grep -q ' arg1=-6 ' "$tmp/t" || fail "negative argument: $(cat "$tmp/t")"

	need_python
	run "$UT" --json -o "$tmp/j" --str 2 'usdt:cliusdt:cli:*' -- "$USDT" $n
	expect_rc 0
	no_stderr
	python3 - "$tmp/j" $n <<'EOF' || fail "--json usdt output: $(head -n 3 "$tmp/j")"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
n = int(sys.argv[2])
words = ["alpha", "beta", "gamma"]
steps = [r for r in rows if r["probe"] == "usdt:cliusdt:cli:step"]
done = [r for r in rows if r["probe"] == "usdt:cliusdt:cli:done"]
assert len(steps) == n and len(done) == 1 and len(rows) == n + 1, rows
for i, r in enumerate(steps):
    assert r["usdt_args"][:2] == [i, -i], r
    assert r["strs"] == [{"arg": 2, "addr": "0x%x" % r["usdt_args"][2], "str": words[i % 3],
                          "truncated": False, "error": None}], r
assert done[0]["usdt_args"] == [n, n] and "strs" not in done[0], done
EOF

	# --nostop: cli:done reads memory, which a no-stop hit would read too late: the
	# probe's hits stop instead (said once), and show the value it had then
	run "$UT" --nostop -o "$tmp/t" 'usdt:cliusdt:cli:*' -- "$USDT" $n
	expect_rc 0
	one_error_line "warning: usdt:cliusdt:cli:*: "
	grep -q "argument 2 is in memory" "$tmp/err" || fail "the warning: $(cat "$tmp/err")"
	expect_eq "$(grep -c ' usdt:cliusdt:cli:step arg0=' "$tmp/t")" $n "--nostop step lines"
	grep -q " usdt:cliusdt:cli:done arg0=$n arg1=$n\$" "$tmp/t" ||
		fail "--nostop done line: $(cat "$tmp/t")"

	run "$UT" --count 'usdt:cliusdt:cli:*' usdt:cliusdt:cli:done -- "$USDT" $n
	expect_rc 0
	no_stderr
	expect_eq "$(hits 'usdt:cliusdt:cli:*' "$tmp/out")" $((n + 1)) "wildcard count"
	expect_eq "$(hits usdt:cliusdt:cli:done "$tmp/out")" 1 "done count"

	run "$UT" usdt:cliusdt:cli:nosuch -- "$USDT" $n
	expect_rc 1
	one_error_line "no USDT probe cli:nosuch"
	run "$UT" usdt:cliusdt:nosuch:step -- "$USDT" $n
	expect_rc 1
	one_error_line "no USDT probe nosuch:step"
	run "$UT" usdt:cliusdt:cli -- "$USDT" $n
	expect_rc 2
	one_error_line "expected usdt:BINARY:PROVIDER:NAME"
	run "$UT" --hist usdt:cliusdt:cli:step -- "$USDT" $n
	expect_rc 2
	one_error_line "is a USDT probe"
}

# --fail: fault injection. Every 100th malloc returns NULL in a program that counts its NULL
# mallocs, and the 7th, 14th and 21st calls of one of its functions return -2 (by name and by
# file offset); the program otherwise computes what it does untraced. Refusals are one line.
t_fail()
{
	local line calls failed nulls first want off spec sum

	run "$UT" --count --fail u:libc:malloc --fail-every 100 --fail-value 0 -o "$tmp/h" \
		-- "$TGT" fail
	expect_rc 0
	no_stderr
	line=$(grep -F -- '--fail u:libc:malloc ' "$tmp/h") || fail "no count line: $(cat "$tmp/h")"
	set -- $line
	calls=$3 failed=$5
	[ "$4" = failed ] && [ "$calls" -ge 1000 ] || fail "count line: $line"
	expect_eq "$failed" "$((calls / 100))" "failed mallocs (of $calls)"
	# the loop's 1000 mallocs come in a row: NULL at every 100th of the process's calls
	nulls=$(sed -n 's/^clitarget: null_at //p' "$tmp/out" | tr '\n' ' ')
	first=${nulls%% *}
	[ -n "$first" ] && [ "$first" -lt 100 ] || fail "first NULL malloc at '$first'"
	expect_eq "$nulls" "$(seq -s ' ' "$first" 100 999) " "loop indices of the NULL mallocs"
	expect_eq "$(sed -n 's/^clitarget: mallocs 1000 null //p' "$tmp/out")" \
		"$(echo $nulls | wc -w)" "NULL mallocs the program counted"
	grep -qx 'clitarget: open_config 50 failed 0 sum 250' "$tmp/out" || fail "open_config"

	# beside a PROBE on the same function: both count every call
	run "$UT" --count u:libc:malloc --fail u:libc:malloc --fail-every 100 -o "$tmp/h" \
		-- "$TGT" fail
	expect_rc 0
	no_stderr
	calls=$(hits u:libc:malloc "$tmp/h")
	expect_eq "$(grep -F -- '--fail u:libc:malloc ' "$tmp/h")" \
		"--fail u:libc:malloc  $calls  failed $((calls / 100))" "count lines"

	# per-failure lines: one per NULL of the loop, marked, with the size asked (4321)
	run "$UT" --fail u:libc:malloc --fail-every 100 -o "$tmp/h" -- "$TGT" fail
	expect_rc 0
	no_stderr
	expect_eq "$(grep -c ' u:libc:malloc arg0=0x10e1 .* FAIL ret=0x0$' "$tmp/h")" \
		"$(grep -c '^clitarget: null_at ' "$tmp/out")" "FAIL lines"

	off=$(file_offset open_config "$TGT")
	sum=$(awk 'BEGIN { for (i = 0; i < 50; i++) if (i != 6 && i != 13 && i != 20) s += 3 + i % 5
		print s }')
	for spec in u:clitarget:open_config "u:$TGT:$(printf 0x%x "$off")"; do
		run "$UT" --fail "$spec" --fail-every 7 --fail-value -2 --fail-count 3 -o "$tmp/h" \
			-- "$TGT" fail
		expect_rc 0
		no_stderr
		expect_eq "$(grep '^clitarget: open_config' "$tmp/out")" \
			"$(printf 'clitarget: open_config failed i=%d ret=-2\n' 6 13 20
			echo "clitarget: open_config 50 failed 3 sum $sum")" "$spec: failed calls"
		expect_eq "$(sed -n 's/^ *[0-9.]* [0-9/]* [^ ]* \(.*\) arg1=.* \(FAIL.*\)/\1 \2/p' "$tmp/h")" \
			"$(printf "$spec arg0=%s FAIL ret=0xfffffffffffffffe\n" 0x6 0xd 0x14)" \
			"$spec: FAIL lines"
	done

	run "$UT" --json --fail u:clitarget:open_config --fail-every 25 -o "$tmp/j" -- "$TGT" fail
	expect_rc 0
	expect_eq "$(grep -c '"args": \["0x\(18\|31\)", .*"fail": true, "retval": "0x0"}$' "$tmp/j")" \
		2 "--json failure lines"

	run "$UT" --help
	grep -q -- "--fail-every N" "$tmp/out" || fail "--help does not mention --fail-every"

	# refused before the program runs: a call fails from its function's first instruction only
	run "$UT" --fail "u:$TGT:$(printf 0x%x $((off + 1)))" -- "$TGT" fail
	expect_rc 1
	one_error_line "no function of $TGT starts at file offset"
	[ ! -s "$tmp/out" ] || fail "the program ran: $(head -n 3 "$tmp/out")"
	# _start is not called: refused at its hit, before any change; the program goes on
	run "$UT" --fail u:clitarget:_start -- "$TGT" fail
	expect_rc 1
	one_error_line "cannot override the return value"
	grep -qx 'clitarget: open_config 50 failed 0 sum 250' "$tmp/out" ||
		fail "the program after a refusal: $(tail -n 3 "$tmp/out")"
	for args in "--fail r:clitarget:open_config" "--fail u:clitarget:open_config+4" \
		"--fail u:clitarget:open_*" "--fail-every 3 u:clitarget:open_config" \
		"--fail u:clitarget:open_config --fail-every 0" \
		"--fail u:clitarget:open_config --fail-value 12x" \
		"--fail u:clitarget:open_config --fail-count -1"; do
		run "$UT" $args -- "$TGT" fail
		expect_rc 2
		one_error_line "fail"
		[ ! -s "$tmp/out" ] || fail "$args: the program ran"
	done
}

# --events: a shell forks crash twice (exit 4, SIGABRT), then execs the demo (dash forks
# with vfork: "fork child=N vfork", which is not checked, bash does not). With -f each
# child's fork, exec and exit in order with its hits; without, the forks marked untraced and
# nothing of the children. Hit lines name the thread: "crash", then "demo" after the exec.
t_events()
{
	local script='"$0" 4; "$0" abort; exec "$1" 2' crash demo sh_pid re

	crash=$(readlink -f "$CRASH")
	demo=$(readlink -f "$DEMO")
	run "$UT" -f -e -o "$tmp/e" "u:$demo:compute" "u:$crash:main" -- \
		sh -c "$script" "$CRASH" "$DEMO"
	expect_rc 0
	grep -q $'\x1b' "$tmp/e" && fail "a raw ESC was printed"
	re='^ *[0-9]+\.[0-9]{6} [0-9]+/[0-9]+ (fork child=[0-9]+|exec /|exit |(crash|demo) u:)'
	grep -Evq "$re" "$tmp/e" && fail "bad line: $(grep -Ev "$re" "$tmp/e" | head -n 1)"
	sort -s -n -k1,1 -c "$tmp/e" 2>/dev/null || fail "time goes backwards: $(cat "$tmp/e")"
	# processes by name: P the shell, A and B its children in the order of their forks
	sh_pid=$(awk 'NR == 1 { split($2, p, "/"); print p[1] }' "$tmp/e")
	awk -v sh="$sh_pid" '
	{
		split($2, p, "/")
		if (p[1] != p[2]) { print "a thread: " $0; exit }
		if ($3 == "fork") {
			c = $4
			sub(/^child=/, "", c)
			name[c] = sprintf("%c", 64 + ++n)
		}
		who = p[1] == sh ? "P" : name[p[1]]
		$1 = ""; $2 = who
		sub(/^ /, "")
		sub(/ arg0=.*/, "")
		sub(/ core$/, "")
		sub(/ vfork$/, "")
		sub(/child=[0-9]+/, "child=X")
		print
	}' "$tmp/e" >"$tmp/got"
	printf '%s\n' "P fork child=X" "A exec $crash" "A crash u:$crash:main" "A exit status=4" \
		"P fork child=X" "B exec $crash" "B crash u:$crash:main" "B exit signal=SIGABRT" \
		"P exec $demo" "P demo u:$demo:compute" "P demo u:$demo:compute" "P exit status=0" \
		>"$tmp/want"
	cmp -s "$tmp/got" "$tmp/want" || fail "--events -f: $(diff "$tmp/want" "$tmp/got")"

	# not followed: the forks say so, and only the shell's own exec and exit follow
	run "$UT" -e -o "$tmp/e" "u:$demo:compute" "u:$crash:main" -- \
		sh -c "$script" "$CRASH" "$DEMO"
	expect_rc 0
	sed -E 's/^ *[0-9.]+ [0-9]+\/[0-9]+ //; s/ arg0=.*//; s/child=[0-9]+/child=X/' "$tmp/e" |
		sed 's/ vfork$//' >"$tmp/got"
	printf '%s\n' "fork child=X untraced" "fork child=X untraced" "exec $demo" \
		"demo u:$demo:compute" "demo u:$demo:compute" "exit status=0" >"$tmp/want"
	cmp -s "$tmp/got" "$tmp/want" || fail "--events: $(diff "$tmp/want" "$tmp/got")"

	# --json: the same events as objects, and the hits' comm
	need_python
	run "$UT" -f -e --json -o "$tmp/j" "u:$demo:compute" -- sh -c "$script" "$CRASH" "$DEMO"
	expect_rc 0
	python3 - "$tmp/j" "$crash" "$demo" <<'EOF' || fail "--events --json: $(cat "$tmp/j")"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
ev = [r for r in rows if "event" in r]
assert [r["event"] for r in ev] == ["fork", "exec", "exit", "fork", "exec", "exit", "exec",
                                    "exit"], ev
sh = ev[0]["pid"]
a, b = ev[0]["child"], ev[3]["child"]
assert ev[0]["followed"] is True and ev[0]["vfork"] in (True, False), ev[0]
assert ev[1] == dict(ev[1], pid=a, tid=a, path=sys.argv[2]), ev[1]
assert ev[2] == dict(ev[2], pid=a, status=4, signal=None, core=False), ev[2]
assert ev[5]["pid"] == b and ev[5]["status"] is None and ev[5]["signal"] == "SIGABRT", ev[5]
assert ev[6] == dict(ev[6], pid=sh, path=sys.argv[3]), ev[6]
assert ev[7] == dict(ev[7], pid=sh, status=0, signal=None, core=False), ev[7]
hits = [r for r in rows if "probe" in r]
assert len(hits) == 2 and all(r["comm"] == "demo" and r["pid"] == sh for r in hits), hits
assert rows.index(hits[0]) > rows.index(ev[6]) and rows[-1] == ev[7]
EOF

	run "$UT" --help
	grep -q -- "--events" "$tmp/out" || fail "--help does not mention --events"
}

# picks_where EXPR: the pick() calls clitarget reported in $tmp/out (bash arithmetic on a, b
# and r, its arguments and return) for which EXPR holds, as "A B" in the trace's hex.
picks_where()
{
	local a b r

	while read -r a b r; do
		if (($1)); then
			printf '0x%x 0x%x\n' "$a" "$b"
		fi
	done < <(sed -n 's/^clitarget: pick \(-\{0,1\}[0-9]* -\{0,1\}[0-9]* -\{0,1\}[0-9]*\)$/\1/p' "$tmp/out")
}

# traced_picks FILE: the arguments of the u:clitarget:pick lines in FILE, as "A B".
traced_picks()
{
	sed -n 's/.* u:clitarget:pick arg0=\(0x[0-9a-f]*\) arg1=\(0x[0-9a-f]*\).*/\1 \2/p' "$1"
}

# --filter on entry probes: exactly the calls whose arguments the condition selects, as the
# program reports them; decimal, hex and negative literals, signed and unsigned, &, !, ().
t_filter()
{
	local f expr n want

	while IFS='@' read -r f expr; do
		run "$UT" -o "$tmp/t" --filter "$f" u:clitarget:pick -- "$TGT" filter
		expect_rc 0
		no_stderr
		want=$(picks_where "$expr")
		n=$(echo "$want" | grep -c .)
		[ "$n" -gt 0 ] && [ "$n" -lt 20 ] || fail "--filter '$f' selects $n calls of 20"
		expect_eq "$(traced_picks "$tmp/t")" "$want" "--filter '$f'"
	done <<'CASES'
arg0 > 4096@a > 4096
arg1 < 0@b < 0
arg1 >= 0x10 || arg1 == -3@b >= 16 || b == -3
!(arg0 <= 0x3e8) && (arg1 & 1)@!(a <= 1000) && (b & 1)
u64(arg1) > 100@b < 0 || b > 100
s8(arg0) < 0@(a & 0xff) >= 0x80
(arg0 == 0 || arg0 == 19000) && arg1 == -0@(a == 0 || a == 19000) && b == 0
arg0&0x800 && !(arg1 > 9)@(a & 0x800) && !(b > 9)
CASES

	# --count counts only the hits that passed, and says how many did not
	run "$UT" --count -o "$tmp/c" --filter 'arg0 > 4096' --filter 'arg1 > 0' \
		u:clitarget:pick -- "$TGT" filter
	expect_rc 0
	no_stderr
	n=$(picks_where 'a > 4096 && b > 0' | wc -l)
	expect_eq "$(cat "$tmp/c")" "u:clitarget:pick  $n  filtered $((20 - n))" "--count"
	run "$UT" --count --json -o "$tmp/c" --filter 'arg0 > 4096' u:clitarget:pick \
		-- "$TGT" filter
	n=$(picks_where 'a > 4096' | wc -l)
	expect_eq "$(cat "$tmp/c")" \
		"{\"probe\": \"u:clitarget:pick\", \"hits\": $n, \"missed\": 0, \"filtered\": $((20 - n))}" \
		"--count --json"

	# --hist times only the calls that passed (decided at their entry)
	run "$UT" --hist -o "$tmp/c" --filter 'arg0 > 4096' u:clitarget:pick -- "$TGT" filter
	expect_rc 0
	no_stderr
	n=$(picks_where 'a > 4096' | wc -l)
	grep -q "^u:clitarget:pick  count $n  min " "$tmp/c" || fail "--hist: $(head -n 1 "$tmp/c")"

	# USDT: argN is the point's argument, with its sign; a point without it never passes
	run "$UT" -o "$tmp/t" --filter 'arg1 < -6 || arg2 == 0' 'usdt:cliusdt:cli:*' -- "$USDT" 10
	expect_rc 0
	no_stderr
	expect_eq "$(sed 's/^ *[0-9.]* [0-9/]* //; s/ arg2=.*//' "$tmp/t" | tr '\n' ' ')" \
		"$(for i in 7 8 9; do printf 'usdt:cliusdt:cli:step arg0=%d arg1=-%d ' $i $i; done)" \
		"usdt --filter"

	# no-stop hits are filtered when the tracer reads them: the same calls
	run "$UT" -n -o "$tmp/t" --filter 'arg0 > 4096' u:clitarget:pick -- "$TGT" filter
	expect_rc 0
	expect_eq "$(traced_picks "$tmp/t")" "$(picks_where 'a > 4096')" "--nostop --filter"

	run "$UT" --help
	grep -q -- "--filter EXPR" "$tmp/out" || fail "--help does not mention --filter"
}

# ret on return probes: the return value (signed, or cast), with the call's arguments as they
# were at its entry; --duration lines only for the calls that passed.
t_filter_ret()
{
	local f expr want

	while IFS='@' read -r f expr; do
		run "$UT" -d -o "$tmp/t" --filter "$f" r:clitarget:pick -- "$TGT" filter
		expect_rc 0
		no_stderr
		want=$(sed -n 's/^clitarget: pick \(-\{0,1\}[0-9]*\) \(-\{0,1\}[0-9]*\) \(-\{0,1\}[0-9]*\)$/\1 \2 \3/p' \
			"$tmp/out" | while read -r a b r; do
			if (($expr)); then printf 'ret=0x%x\n' "$r"; fi; done)
		[ -n "$want" ] || fail "--filter '$f' selects no call"
		expect_eq "$(sed -n 's/.* r:clitarget:pick \(ret=0x[0-9a-f]*\) dur=[0-9.]*us$/\1/p' \
			"$tmp/t")" "$want" "--filter '$f'"
		expect_eq "$(wc -l <"$tmp/t")" "$(echo "$want" | wc -l)" "lines of --filter '$f'"
	done <<'CASES'
ret < 0 && arg1 < 0@r < 0 && b < 0
ret >= 5@r >= 5
u64(ret) > 0xfffffffffffffff0 || ret == 0@r < 0 && r > -16 || r == 0
s32(ret) == -1 || u8(ret) == 0xf7@r == -1 || (r & 0xff) == 0xf7
arg0 >= 10000 && !(ret & 1)@a >= 10000 && !(r & 1)
CASES

	# ret where a PROBE has no return value: refused before the program runs
	for args in "u:clitarget:pick" "r:clitarget:pick u:clitarget:pick" \
		"r:clitarget:pick usdt:clitarget:p:n"; do
		run "$UT" --filter 'arg0 > 1 && ret < 0' $args -- "$TGT" filter
		expect_rc 2
		one_error_line "'ret' at position 13"
		grep -q "is no return probe" "$tmp/err" || fail "$args: $(cat "$tmp/err")"
		[ ! -s "$tmp/out" ] || fail "$args: the program ran"
	done
}

# text_changed PID OFFSET FILE: the byte at file offset OFFSET of FILE differs in PID's memory
# from the file's: a probe is planted there.
text_changed()
{
	python3 - "$@" <<'PY' 2>/dev/null
import os, sys
pid, off, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = open(path, "rb").read()[off:off + 1]
for line in open("/proc/%s/maps" % pid):
    f = line.split()
    if len(f) < 6 or f[5] != path:
        continue
    start, end = (int(x, 16) for x in f[0].split("-"))
    foff = int(f[2], 16)
    if foff <= off < foff + end - start:
        with open("/proc/%s/mem" % pid, "rb") as m:
            m.seek(start + off - foff)
            sys.exit(0 if m.read(1) != want else 1)
sys.exit(1)
PY
}

# pid, tid and comm with a program of two threads and a child (-f): the lines of the
# threads the condition names, as the program reports its pids and tids.
t_filter_procs()
{
	local f want fifo tgt ut

	while IFS='@' read -r f want; do
		run "$UT" -f -o "$tmp/t" --filter "$f" u:clitarget:pick -- "$TGT" procs
		expect_rc 0
		no_stderr
		[ "$(grep -c '^clitarget: pick ' "$tmp/out")" = 3 ] || fail "$f: $(cat "$tmp/out")"
		expect_eq "$(sed -n 's/^ *[0-9.]* \([0-9]*\)\/\([0-9]*\) \([^ ]*\) u:clitarget:pick arg0=0x\([0-9]\) .*/pick \4 pid \1 tid \2 \3/p' \
			"$tmp/t")" \
			"$(sed -n 's/^clitarget: pick \([0-9]\) pid \([0-9]*\) tid \([0-9]*\)$/pick \1 pid \2 tid \3/p' \
			"$tmp/out" | grep -E "^pick [$want] " | sed 's/^pick 2 .*/& fworker/; /fworker$/!s/$/ clitarget/')" \
			"--filter '$f'"
	done <<'CASES'
comm == "fworker"@2
comm != "fworker"@13
comm ~ "fw*"@2
comm !~ "f?orker" && tid == pid@13
tid != pid@2
CASES

	# pid and tid as numbers: a process started here, attached to before it forks
	need_attach
	need_python
	fifo=$tmp/fifo
	mkfifo "$fifo" || fail "mkfifo"
	"$TGT" procs wait <"$fifo" >"$tmp/procs" &
	tgt=$!
	bg_pids+=("$tgt")
	exec 3>"$fifo"
	timeout -k 5 "$BOUND" "$UT" -f -o "$tmp/t" --filter "pid == $tgt && tid != $tgt" \
		--filter "pid == $tgt || tid == $tgt" u:clitarget:pick -p "$tgt" 2>"$tmp/err" &
	ut=$!
	bg_pids+=("$ut")
	# $ut is timeout's pid: the tracer is its child; the probe is in once pick() changed
	wait_for "$BOUND" text_changed "$tgt" "$(file_offset pick "$TGT")" "$TGT"
	echo >&3
	exec 3>&-
	reap "$ut"
	[ "$wrc" -eq 0 ] || fail "uprobe-trace -p exited $wrc: $(cat "$tmp/err")"
	reap "$tgt"
	no_stderr
	expect_eq "$(sed -n 's/.* \([0-9]*\)\/\([0-9]*\) fworker u:clitarget:pick arg0=0x2 .*/\1 \2/p' "$tmp/t")" \
		"$(sed -n 's/^clitarget: pick 2 pid \([0-9]*\) tid \([0-9]*\)$/\1 \2/p' "$tmp/procs")" \
		"pid == $tgt && tid != $tgt"
	expect_eq "$(wc -l <"$tmp/t")" 1 "lines of pid == $tgt && tid != $tgt"
}

# Bad expressions: one line naming the bad token and its position, before the program runs.
t_filter_errors()
{
	local f want

	while IFS='@' read -r f want; do
		run "$UT" --filter "$f" u:clitarget:pick -- "$TGT" filter
		expect_rc 2
		one_error_line "$want"
		[ ! -s "$tmp/out" ] || fail "'$f': the program ran"
	done <<'CASES'
arg0 >> 3@'>' at position 7
arg6 == 1@unknown operand 'arg6' at position 1
(arg0 == 1@expected ')', got end of input at position 11
arg0 == 1)@unbalanced ')' at position 10
arg0 = 1@unexpected '=' at position 6
comm > "x"@'>' at position 6
comm == 3@'==' at position 6
arg0 ~ "x"@'~' at position 6
"x" == "y"@'==' at position 5
comm == "x@unterminated string '"' at position 9
comm@comm alone
arg0 < 1 < 2@comparisons do not chain: '<' at position 10
0x == 1@bad number '0x' at position 1
99999999999999999999 > arg0@bad number '99999999999999999999' at position 1
arg0 > -9223372036854775809@number out of range '9223372036854775809' at position 9
u32 arg0@expected '(' after a cast, got 'arg0' at position 5
arg0 > 1 &&@expected an operand, got end of input at position 12
! arg0 ||| arg1@expected an operand, got '|' at position 10
@expected an operand, got end of input at position 1
CASES
	# --filter without a PROBE: --fail calls are not filtered
	run "$UT" --filter 'arg0 > 1' --fail u:clitarget:pick -- "$TGT" filter
	expect_rc 2
	one_error_line "--filter selects hits of PROBEs"
}

# The live line: on a terminal's stderr each second while tracing, its last total what
# --count adds up to, erased at the end; never when stderr is no terminal or with --no-live.
t_live()
{
	need_python
	cat >"$tmp/ptyrun.py" <<'PY'
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=open(sys.argv[1], "wb"),
                     stderr=slave)
os.close(slave)
data = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:  # EIO: every writer closed the terminal
        break
    if not chunk:
        break
    data += chunk
sys.stderr.buffer.write(data)
sys.exit(p.wait())
PY
	run python3 "$tmp/ptyrun.py" "$tmp/t" "$UT" --count -o "$tmp/c" --filter 'arg1 & 1' \
		u:clitarget:pick -- "$TGT" tick
	expect_rc 0
	python3 - "$tmp/err" "$tmp/c" <<'PY' || fail "live line: $(od -c "$tmp/err" | head -n 20)"
import re, sys
err = open(sys.argv[1], "rb").read().decode()
counts = open(sys.argv[2]).read().split("\n")
total = sum(int(l.split()[1]) for l in counts if l.strip())
filtered = sum(int(l.split()[3]) for l in counts if "filtered" in l)
lines = re.findall(r"\r\x1b\[Kuprobe-trace: (\d+) hits(?:, (\d+)/s)?, (\d+) filtered out", err)
assert len(lines) >= 3, lines       # 4 s of calls: 1 s, 2 s, 3 s, and the final one
ticks, last = lines[:-1], lines[-1]
assert all(rate for _, rate, _ in ticks) and not last[1], lines
hits = [int(h) for h, _, _ in lines]
assert hits == sorted(hits) and hits[0] > 0, hits
assert (int(last[0]), int(last[2])) == (total, filtered) == (20, 20), (last, total, filtered)
# each rate is what the hits grew by over about a second: 20 hits in 4 s at least
assert all(0 < int(r) <= 20 for _, r, _ in ticks), ticks
assert err.endswith("\r\x1b[K"), repr(err[-40:])
assert "clitarget: done" not in err
PY
	# hit lines go to a file: the line too; to the terminal: no line to scroll away
	run python3 "$tmp/ptyrun.py" "$tmp/t" "$UT" -o "$tmp/o" u:clitarget:pick -- "$TGT" tick
	expect_rc 0
	grep -q 'uprobe-trace: [0-9]* hits, [0-9]*/s' "$tmp/err" || fail "no live line with -o"
	run python3 "$tmp/ptyrun.py" "$tmp/t" "$UT" --no-live --count u:clitarget:pick -- "$TGT" tick
	expect_rc 0
	no_stderr
	# not a terminal: nothing
	run "$UT" --count u:clitarget:pick -- "$TGT" tick
	expect_rc 0
	no_stderr
	expect_eq "$(hits u:clitarget:pick "$tmp/out")" 40 "hits"
}

# Issue 18, proven on sigstate (examples/tests/sigstate.c), which prints at its end each
# thread's SigBlk and SigPnd, SigIgn, SigCgt, ShdPnd and every signal's sigaction (handler,
# flags, mask). Traced, its output and exit status must equal its untraced run's.
#
# sig_same FEATURES PROBES...: traced with PROBES (hit), against untraced. The differences
# allowed, named here, are what /proc shows of SIGTRAP while traced (README, "When the tracer
# dies"): a program that leaves SIGTRAP at its default or ignores it has the lifeline's
# handler (SIGTRAP in SigCgt, not in SigIgn), and a thread that blocks SIGTRAP has it unblocked
# in the kernel (SigBlk) unless one of its own is pending. What the program asks for itself is
# exact: its sigaction() says SIG_DFL or SIG_IGN (libuprobe watches libc's rt_sigaction), its
# pthread_sigmask() and sigpending() give its own (libuprobe makes libc's rt_sigprocmask calls).
sig_same()
{
	local feat=$1 n=200 urc

	shift
	run "$SIGST" "$feat" $n
	urc=$rc
	cp "$tmp/out" "$tmp/expected"
	run "$UT" --count -o "$tmp/c" "$@" -- "$SIGST" "$feat" $n
	[ "$rc" -eq "$urc" ] || fail "$feat [$*]: exit status $rc, untraced $urc"
	# SIGTRAP's bit (0x10) out of each thread's SigBlk, in both
	for f in "$tmp/out" "$tmp/expected"; do
		python3 - "$f" <<'EOF2' || fail "cannot filter $f"
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"SigBlk=([0-9a-f]{16})",
              lambda m: "SigBlk=%016x" % (int(m.group(1), 16) & ~0x10), text)
open(sys.argv[1], "w").write(text)
EOF2
	done
	if ! grep -q '^sig 5 handler=on_trap ' "$tmp/expected"; then
		# the lifeline: SIGTRAP's bit (0x10) out of SigCgt and SigIgn, in both
		for f in "$tmp/out" "$tmp/expected"; do
			python3 - "$f" <<'EOF2' || fail "cannot filter $f"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
out = []
for l in lines:
    m = re.fullmatch(r"Sig(Cgt|Ign)=([0-9a-f]{16})", l)
    if m:
        l = "Sig%s=%016x" % (m.group(1), int(m.group(2), 16) & ~0x10)
    out.append(l)
open(sys.argv[1], "w").write("".join(x + "\n" for x in out))
EOF2
		done
	fi
	cmp -s "$tmp/out" "$tmp/expected" ||
		fail "$feat [$*]: $(diff "$tmp/expected" "$tmp/out" | grep '^[<>]' | tr '\n' ' ')"
}

# hits_of SUFFIX: the hits of the probes whose label ends in SUFFIX, in the last sig_same's
# --count output.
hits_of()
{
	awk -v s="$1" 'substr($1, length($1) - length(s) + 1) == s { n += $2 } END { print n + 0 }' \
		"$tmp/c"
}

# Probes hit (entry and return on the program's function; return probes on the functions
# that return twice and on fork, vfork and posix_spawn) in programs with their own SIGTRAP
# handler, one installing it while traced, swapcontext, children, and an int3 of their own
# that kills them as untraced (exit 133).
t_sigstate()
{
	local feat

	need_python
	for feat in handler late ignore ucontext children int3 ucontext,children block ctor blockall \
		handler,jmp usr1 usr1,block; do
		sig_same "$feat" u:sigstate:sig_work r:sigstate:sig_work
		# entry and return, 2 threads x 200 calls at least (the fork child's is untraced)
		[ "$(hits_of :sig_work)" -ge 800 ] || fail "$feat: sig_work hits: $(cat "$tmp/c")"
		sig_same "$feat" r:libc:getcontext r:libc:swapcontext
		sig_same "$feat" r:libc:vfork r:libc:fork r:libc:posix_spawn
	done
	# every return counted: getcontext's 4 per call (2 threads x 200 calls); vfork's
	# in the child and the parent (2 calls); fork's in the parent, its child untraced
	sig_same ucontext r:libc:getcontext r:libc:swapcontext
	expect_eq "$(hits_of :getcontext)" 1600 "getcontext returns"
	sig_same children r:libc:vfork r:libc:fork r:libc:posix_spawn
	expect_eq "$(hits_of :vfork)/$(hits_of :fork)" 4/1 "vfork/fork returns"
	for feat in ucontext children int3 handler; do
		sig_same "$feat" 'r:libc:*setjmp*'
	done
}

# sig_snap PID: each thread's SigBlk and SigPnd, and the process's SigIgn, SigCgt, ShdPnd.
sig_snap()
{
	local t

	for t in /proc/"$1"/task/*; do
		grep -E '^Sig(Blk|Pnd):' "$t/status"
	done
	grep -E '^(SigIgn|SigCgt|ShdPnd):' "/proc/$1/status"
}

has_line()
{
	grep -qsx "$1" "$2"
}

not_untraced()
{
	! untraced "$1"
}

# Attach and detach (SIGINT to uprobe-trace) with probes never hit, at a random moment, 20
# tries per program: the program's signal state right after the detach equals the state
# before the attach, read from /proc (every thread's mask and pending set, dispositions),
# and its output and exit status equal its untraced run's (its own view of every sigaction).
t_sigstate_attach()
{
	local feat i urc sg tr

	need_attach
	for feat in handler ignore block blockall ctor handler,jmp,ucontext int3 usr1; do
		rm -f "$tmp/go"
		"$SIGST" "$feat" 100 "$tmp/go" >"$tmp/expected" 2>"$tmp/sg.err" &
		sg=$!
		bg_pids+=("$sg")
		wait_for 10 has_line ready "$tmp/sg.err"
		touch "$tmp/go"
		reap "$sg"
		urc=$wrc
		for i in $(seq 1 20); do
			rm -f "$tmp/go" "$tmp/sg.err"
			"$SIGST" "$feat" 100 "$tmp/go" >"$tmp/sg.out" 2>"$tmp/sg.err" &
			sg=$!
			bg_pids+=("$sg")
			wait_for 10 has_line ready "$tmp/sg.err"
			sig_snap "$sg" >"$tmp/before"
			"$UT" --count -o "$tmp/c" -p "$sg" u:sigstate:sig_never r:sigstate:sig_never \
				>"$tmp/out" 2>"$tmp/err" &
			tr=$!
			bg_pids+=("$tr")
			wait_for 10 not_untraced "$sg"
			sleep "0.0$((RANDOM % 10))"
			kill -INT "$tr"
			reap "$tr"
			[ "$wrc" -eq 0 ] || fail "$feat try $i: tracer exited $wrc"
			no_stderr
			wait_untraced 10 "$sg"
			sig_snap "$sg" >"$tmp/after"
			cmp -s "$tmp/before" "$tmp/after" || fail "$feat try $i: after detach:" \
				"$(diff "$tmp/before" "$tmp/after" | grep '^[<>]' | tr '\n' ' ')"
			touch "$tmp/go"
			reap "$sg"
			[ "$wrc" -eq "$urc" ] || fail "$feat try $i: exit status $wrc, untraced $urc"
			cmp -s "$tmp/sg.out" "$tmp/expected" || fail "$feat try $i: output:" \
				"$(diff "$tmp/expected" "$tmp/sg.out" | grep '^[<>]' | tr '\n' ' ')"
		done
	done
}

case "$CASE" in
count | nostop | nostop_ret | hits | json | output | wildcard | offset | exit | usage | errors | ls | many | \
	ifunc | exec | follow | \
	attach_sigint | attach_sigterm | attach_idle | attach_exit | spawn_sigint | early | \
	signal_state | refuse | escape | zombie | mntns | twice | pending | nostop_exact | \
	str | str_ret | duration | hist | hist_edge | stack | usdt | fail | events | \
	filter | filter_ret | filter_procs | filter_errors | live | \
	sigstate | sigstate_attach)
	"t_$CASE"
	;;
*)
	echo "unknown case $CASE" >&2
	exit 99
	;;
esac
echo "PASS ($CASE)"
exit 0
