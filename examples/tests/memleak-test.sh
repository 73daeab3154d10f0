#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Tests of uprobe-memleak against real processes:
# memleak-test.sh CASE UPROBE_MEMLEAK LEAKTARGET LEAKTARGET_CXX LEAKPLUGIN
#
# The targets leak known sizes from known functions (see their comments) and
# free everything else; a report must show exactly those leaks, by their
# direct callers, and no other stack from the target's own code (libc's and
# ld.so's own blocks may be outstanding at exit: they are not the target's).
# Every command runs under `timeout`; background processes are this script's
# own children, killed by pid on exit.
set -u

CASE=$1
ML=$(readlink -f "$2")
LT=$(readlink -f "$3")
LTX=$(readlink -f "$4")
PLUGIN=$(readlink -f "$5") # a C++ library leaktarget dlopens
BOUND=${CLI_TEST_BOUND:-60}

. "$(dirname "$0")/test-common.sh" memleak

fail()
{
	echo "FAIL ($CASE): $*" >&2
	for f in out err; do
		if [ -s "$tmp/$f" ]; then
			echo "--- last $f (first 40 lines):" >&2
			head -n 40 "$tmp/$f" >&2
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
	timeout -k 5 "$BOUND" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
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

expect_eq()
{
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

one_error_line()
{
	local n

	n=$(wc -l <"$tmp/err")
	[ "$n" -eq 1 ] || fail "expected one stderr line, got $n"
	grep -qF -- "$1" "$tmp/err" || fail "stderr does not name '$1': $(cat "$tmp/err")"
	grep -q '^uprobe-memleak: ' "$tmp/err" || fail "stderr line lacks the program name"
}

alive()
{
	local st

	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

not_alive()
{
	! alive "$1"
}

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

untraced()
{
	[ "$(tracer_of "$1")" = 0 ]
}

need_python()
{
	command -v python3 >/dev/null || skip "python3 is not installed"
}

need_attach()
{
	local scope

	scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
	if [ "$scope" -ge 3 ] || { [ "$scope" -ge 1 ] && [ "$(id -u)" -ne 0 ]; }; then
		skip "kernel.yama.ptrace_scope=$scope forbids attaching to a non-child"
	fi
}

# probes_in PID: the last libc function uprobe-memleak probes, pvalloc, starts with an int3
# in PID, so every libc probe is in. Its address there: its offset in our own libc
# (the same file) plus PID's libc base.
probes_in()
{
	python3 - "$1" <<'EOF' 2>/dev/null
import ctypes, os, sys

def libc_base(pid):
    for line in open("/proc/%s/maps" % pid):
        f = line.split()
        if len(f) >= 6 and os.path.basename(f[5]).startswith("libc.so") and int(f[2], 16) == 0:
            return int(f[0].split("-")[0], 16), f[5]
    raise SystemExit(1)

libc = ctypes.CDLL("libc.so.6")
ours, path = libc_base("self")
theirs, tpath = libc_base(sys.argv[1])
assert os.stat(path).st_ino == os.stat(tpath).st_ino
addr = ctypes.cast(libc.pvalloc, ctypes.c_void_p).value - ours + theirs
with open("/proc/%s/mem" % sys.argv[1], "rb") as m:
    m.seek(addr)
    sys.exit(0 if m.read(1) == b"\xcc" else 1)
EOF
}

in_file()
{
	grep -qF -- "$1" "$2"
}

# check_report FILE BINARY WHY EXPECTED [MODE]: the last report in FILE (made for WHY: exit,
# SIGINT...) shows, among the stacks whose first frame (the allocator's direct caller) is in
# BINARY, exactly EXPECTED: "caller:count:bytes ..." summed over the stacks of one caller.
# No other stack of BINARY, and no frame of a function named no_leaks or freed_again
# anywhere. No stack's first frame is an allocator: that would be an allocator's inner call
# counted again (malloc under realloc, under operator new). MODE "depth=N": every stack has
# exactly N frames; "top=N": exactly N stacks shown, then the "more stacks" line;
# "not=PATH": no frame of file PATH.
check_report()
{
	python3 - "$@" <<'EOF' || fail "report: $(cat "$1" | head -n 60)"
import re, sys
path, binary, why, expected = sys.argv[1:5]
mode = sys.argv[5] if len(sys.argv) > 5 else ""
lines = open(path).read().split("\n")
heads = [i for i, l in enumerate(lines) if re.match(r"\[\d\d:\d\d:\d\d\] pid \d+, ", l)]
assert heads, "no report"
head = lines[heads[-1]]
m = re.fullmatch(r"\[\d\d:\d\d:\d\d\] pid \d+, (\w+): (\d+) outstanding allocations, "
                 r"(\d+) bytes, from (\d+) stacks", head)
assert m, head
assert m.group(1) == why, (head, why)
total_count, total_bytes, nstacks = int(m.group(2)), int(m.group(3)), int(m.group(4))
stacks, cur, more = [], None, None
for l in lines[heads[-1] + 1:]:
    b = re.fullmatch(r"(\d+) bytes in (\d+) allocations from stack", l)
    if b:
        cur = [int(b.group(1)), int(b.group(2)), []]
        stacks.append(cur)
    elif l.startswith("    ") and cur:
        cur[2].append(l[4:])
    elif l.startswith("[") :
        break
    elif re.match(r"\d+ more stacks, ", l):
        more = l
frame_re = re.compile(r"[^ ]+\+0x[0-9a-f]+ \((/[^)]*|\[[a-z]+\]|anonymous)\)"
                      r"|0x[0-9a-f]+( \(/[^)]*\))?")
for s in stacks:
    assert s[2], s
    for f in s[2]:
        assert frame_re.fullmatch(f), f
        assert not re.match(r"(no_leaks|_Z11freed_againv)\+", f), ("freed memory reported", s)
# largest total first
assert [s[0] for s in stacks] == sorted((s[0] for s in stacks), reverse=True), stacks
if mode.startswith("top="):
    n = int(mode[4:])
    assert len(stacks) == n, (n, stacks)
    assert more and more.startswith("%d more stacks" % (nstacks - n)), more
else:
    assert len(stacks) == nstacks, (nstacks, stacks)
    assert sum(s[0] for s in stacks) == total_bytes, (total_bytes, stacks)
    assert sum(s[1] for s in stacks) == total_count, (total_count, stacks)
if mode.startswith("not="):
    for s in stacks:
        for f in s[2]:
            assert not f.endswith("(%s)" % mode[4:]), ("frame of %s" % mode[4:], s)
if mode.startswith("depth="):
    for s in stacks:
        assert len(s[2]) == int(mode[6:]), s
inner = re.compile(r"(malloc|calloc|realloc|reallocarray|free|posix_memalign|aligned_alloc|"
                   r"memalign|valloc|pvalloc|__libc_\w+|_Znwm\w*|_Znam\w*)\+")
for s in stacks:
    assert not inner.match(s[2][0]), ("an inner call counted", s)
got = {}
for s in stacks:
    m = re.fullmatch(r"([^ ]+)\+0x[0-9a-f]+ \((/[^)]*)\)", s[2][0])
    if not m or m.group(2) != binary:
        continue
    c = got.setdefault(m.group(1), [0, 0])
    c[0] += s[1]
    c[1] += s[0]
want = {}
for e in expected.split():
    name, count, nbytes = e.split(":")
    want[name] = [int(count), int(nbytes)]
assert got == want, ("got", got, "want", want)
EOF
}

# What leaktarget leaks: caller:allocations:bytes
C_LEAKS="leak_malloc:3:300 leak_calloc:1:200 leak_realloc_grow:1:5000 leak_realloc_null:1:77
leak_memalign:2:1920 leak_shrink:1:33 leak_reallocarray:1:63 leak_realloc_fail:1:21"
CXX_LEAKS_NONZERO="_Z8leak_newv:2:128 _Z14leak_new_arrayv:1:300 _Z16leak_new_nothrowv:1:40
_Z16leak_new_alignedv:1:256 _Z16leak_after_catchv:1:32"
CXX_LEAKS="$CXX_LEAKS_NONZERO _Z13leak_new_zerov:1:0"

# ---------------------------------------------------------------------------

# A C program's leaks through every allocator of libc, exactly; the program runs as untraced.
t_leaks()
{
	need_python
	run "$LT"
	expect_rc 0
	cp "$tmp/out" "$tmp/expected"
	run "$ML" --top 0 -o "$tmp/r" -- "$LT"
	expect_rc 0
	no_stderr
	cmp -s "$tmp/out" "$tmp/expected" || fail "the target's output changed: $(cat "$tmp/out")"
	check_report "$tmp/r" "$LT" exit "$C_LEAKS"

	# the report goes to stdout without -o, after the program's own output
	run "$ML" --top 0 -- "$LT"
	expect_rc 0
	no_stderr
	expect_eq "$(head -n 1 "$tmp/out")" "leaktarget: done" "first line"
	check_report "$tmp/out" "$LT" exit "$C_LEAKS"

	# the command's exit status, and its death by a signal, are ours
	run "$ML" -- sh -c 'exit 7'
	expect_rc 7
	run "$ML" -- sh -c 'kill -SEGV $$'
	expect_rc $((128 + 11))
}

# A command that execs: the blocks of the image before (sh's) are gone with it.
t_exec()
{
	local sh

	need_python
	sh=$(readlink -f "$(command -v sh)")
	# sh has blocks of its own outstanding when it ends (so at an exec too)
	run "$ML" --top 0 -o "$tmp/r" -- sh -c 'x=$(echo a); true'
	expect_rc 0
	grep -q "($sh)" "$tmp/r" || skip "$sh has no outstanding block at its exec"
	run "$ML" --top 0 -o "$tmp/r" -- sh -c "x=\$(echo a); exec '$LT'"
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/out")" "leaktarget: done" "target output"
	check_report "$tmp/r" "$LT" exit "$C_LEAKS" "not=$sh"
}

# C++: operator new in its forms, by its direct callers; deletes in theirs; a bad_alloc
# caught does not leave the thread looking inside an allocator.
t_cxx()
{
	need_python
	run "$ML" --top 0 -o "$tmp/r" -- "$LTX"
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/out")" "leaktarget_cxx: done" "target output"
	check_report "$tmp/r" "$LTX" exit "$CXX_LEAKS"

	# new char[0] is 0 bytes, under --min-size 1; the malloc(1) it makes is not the program's
	run "$ML" --top 0 --min-size 1 -o "$tmp/r" -- "$LTX"
	expect_rc 0
	no_stderr
	check_report "$tmp/r" "$LTX" exit "$CXX_LEAKS_NONZERO"
}

# libstdc++ loaded after tracing began, with a C++ plugin: operator new is traced from then.
t_plugin()
{
	need_python
	run "$ML" --top 0 -o "$tmp/r" -- "$LT" plugin "$PLUGIN"
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/out")" "leaktarget: done" "target output"
	# (dlopen's own blocks have leaktarget's main in their stacks: only the plugin's are checked)
	check_report "$tmp/r" "$PLUGIN" exit "plugin_leak:1:48"
}

# Threads allocating at once: each one's nested calls are its own.
t_threads()
{
	need_python
	run "$ML" --top 0 -o "$tmp/r" -- "$LT" threads
	expect_rc 0
	no_stderr
	check_report "$tmp/r" "$LT" exit "$C_LEAKS thread_leak:4:4006"
}

# valgrind --leak-check=full as an independent judge: the blocks it finds outstanding at exit
# (lost or still reachable), summed by their allocator's direct caller among the target's own
# functions, are those uprobe-memleak reports.
t_valgrind()
{
	local bin args

	need_python
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	# leaktarget without pvalloc, which valgrind does not implement
	export LEAKTARGET_VALGRIND=1
	for args in "$LT" "$LT threads" "$LTX nothrow"; do
		bin=${args%% *}
		run "$ML" --top 0 --stack-depth 1 -o "$tmp/r" -- $args
		expect_rc 0
		no_stderr
		run valgrind --leak-check=full --show-leak-kinds=all --demangle=no \
			--log-file="$tmp/vg" $args
		expect_rc 0
		nm --defined-only "$bin" | awk '$2 ~ /^[tT]$/ { print $3 }' >"$tmp/syms"
		python3 - "$tmp/r" "$tmp/vg" "$tmp/syms" "$bin" <<'EOF' ||
import re, sys
report, vg, syms, binary = sys.argv[1:]
own = set(open(syms).read().split())
ours, theirs = {}, {}
lines = open(report).read().split("\n")
for i, l in enumerate(lines):
    m = re.fullmatch(r"(\d+) bytes in (\d+) allocations from stack", l)
    f = re.fullmatch(r"    ([^ ]+)\+0x[0-9a-f]+ \((/[^)]*)\)", lines[i + 1]) if m else None
    if f and f.group(2) == binary:
        c = ours.setdefault(f.group(1), [0, 0])
        c[0] += int(m.group(2))
        c[1] += int(m.group(1))
lines = [re.sub(r"^==\d+== ?", "", l) for l in open(vg).read().split("\n")]
for i, l in enumerate(lines):
    m = re.match(r"([\d,]+) bytes in ([\d,]+) blocks are .* in loss record", l)
    if not m:
        continue
    # the allocator (valgrind's own, through a frame or two of its preload), then its caller
    j = i + 1
    while j < len(lines) and "vgpreload" in lines[j]:
        j += 1
    f = re.match(r"\s+by 0x[0-9A-F]+: (\S+) ", lines[j])
    if f and f.group(1) in own:
        c = theirs.setdefault(f.group(1), [0, 0])
        c[0] += int(m.group(2).replace(",", ""))
        c[1] += int(m.group(1).replace(",", ""))
assert ours, "no leak of the target's in the report"
assert ours == theirs, ("uprobe-memleak", ours, "valgrind", theirs)
EOF
			fail "$args: uprobe-memleak and valgrind differ: $(grep -A3 'loss record' "$tmp/vg" | head -n 40)"
	done
}

# --top, --min-size, --stack-depth, -i.
t_options()
{
	need_python
	# the two largest only, and a line for the rest
	run "$ML" --top 2 -o "$tmp/r" -- "$LT"
	expect_rc 0
	no_stderr
	check_report "$tmp/r" "$LT" exit "leak_realloc_grow:1:5000 leak_memalign:1:1280" top=2
	# the default shows 10 of leaktarget's stacks at most
	run "$ML" -o "$tmp/r" -- "$LT"
	expect_rc 0
	[ "$(grep -c ' allocations from stack$' "$tmp/r")" -le 10 ] || fail "default --top"

	# only allocations of at least 200 bytes are tracked
	run "$ML" --top 0 --min-size 200 -o "$tmp/r" -- "$LT"
	expect_rc 0
	no_stderr
	check_report "$tmp/r" "$LT" exit \
		"leak_calloc:1:200 leak_realloc_grow:1:5000 leak_memalign:2:1920"

	# one frame: the direct caller alone, so leak_malloc's three call sites are one stack
	run "$ML" --top 0 --stack-depth 1 -o "$tmp/r" -- "$LT"
	expect_rc 0
	no_stderr
	check_report "$tmp/r" "$LT" exit "$C_LEAKS" depth=1
	grep -qx '300 bytes in 3 allocations from stack' "$tmp/r" || fail "leak_malloc not one stack"
	run "$ML" --top 0 -d 3 -o "$tmp/r" -- "$LT"
	expect_rc 0
	check_report "$tmp/r" "$LT" exit "$C_LEAKS" depth=3

	# -i: reports while the program runs, then the one at exit
	run "$ML" -i 1 -o "$tmp/r" -- sleep 2.5
	expect_rc 0
	no_stderr
	[ "$(grep -c '^\[..:..:..\] pid [0-9]*, interval: ' "$tmp/r")" -ge 1 ] ||
		fail "-i: no interval report: $(cat "$tmp/r")"
	tail -n +2 "$tmp/r" | grep -q '^\[..:..:..\] pid [0-9]*, exit: ' ||
		fail "-i: no report at exit: $(cat "$tmp/r")"
}

# -p on a running process, then SIGINT: the report holds exactly what was leaked while
# traced; the process goes on untraced and ends normally.
t_attach()
{
	local lt tr

	need_python
	need_attach
	mkfifo "$tmp/in"
	"$LT" wait <"$tmp/in" >"$tmp/lt.out" 2>&1 &
	lt=$!
	bg_pids+=("$lt")
	exec 3>"$tmp/in"
	wait_for 10 in_file "leaktarget: ready" "$tmp/lt.out"
	"$ML" --top 0 -o "$tmp/r" -p "$lt" >"$tmp/out" 2>"$tmp/err" &
	tr=$!
	bg_pids+=("$tr")
	wait_for 10 traced_by "$lt" "$tr"
	wait_for 20 probes_in "$lt"
	echo go >&3
	wait_for 20 in_file "leaktarget: done" "$tmp/lt.out"
	kill -INT "$tr"
	reap "$tr"
	[ "$wrc" -eq 0 ] || fail "tracer exited $wrc after SIGINT"
	no_stderr
	check_report "$tmp/r" "$LT" SIGINT "$C_LEAKS"
	alive "$lt" || fail "the target did not survive the detach"
	untraced "$lt" || fail "the target is still traced"
	echo bye >&3
	exec 3>&-
	reap "$lt"
	[ "$wrc" -eq 0 ] || fail "target exited $wrc"

	# -p until the process exits by itself: a report at its exit, and status 0
	"$LT" wait <"$tmp/in" >"$tmp/lt.out" 2>&1 &
	lt=$!
	bg_pids+=("$lt")
	exec 3>"$tmp/in"
	wait_for 10 in_file "leaktarget: ready" "$tmp/lt.out"
	"$ML" --top 0 -o "$tmp/r" -p "$lt" >"$tmp/out" 2>"$tmp/err" &
	tr=$!
	bg_pids+=("$tr")
	wait_for 10 traced_by "$lt" "$tr"
	wait_for 20 probes_in "$lt"
	echo go >&3
	wait_for 20 in_file "leaktarget: done" "$tmp/lt.out"
	echo bye >&3
	exec 3>&-
	reap "$tr"
	[ "$wrc" -eq 0 ] || fail "tracer exited $wrc at the target's exit"
	no_stderr
	check_report "$tmp/r" "$LT" exit "$C_LEAKS"
	reap "$lt"
	[ "$wrc" -eq 0 ] || fail "target exited $wrc"
}

# SIGINT to a spawned command's tracer: the report of what is outstanding then, the command
# goes on untraced to its end, and its exit status is the tracer's.
t_sigint()
{
	local tr lt

	need_python
	mkfifo "$tmp/in"
	"$ML" --top 0 -o "$tmp/r" -- "$LT" wait <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
	tr=$!
	bg_pids+=("$tr")
	exec 3>"$tmp/in"
	wait_for 10 in_file "leaktarget: ready" "$tmp/out"
	# the tracer has children of its own too (libuprobe's helpers): the one running leaktarget
	for lt in $(cat "/proc/$tr/task/$tr/children"); do
		[ "$(readlink "/proc/$lt/exe")" = "$LT" ] && break
	done
	traced_by "$lt" "$tr" || fail "leaktarget ($lt) is not traced by $tr"
	echo go >&3
	wait_for 20 in_file "leaktarget: done" "$tmp/out"
	kill -INT "$tr"
	wait_for 10 untraced "$lt"
	alive "$tr" || fail "the tracer did not wait for its command"
	echo bye >&3
	exec 3>&-
	reap "$tr"
	[ "$wrc" -eq 0 ] || fail "tracer exited $wrc, not the command's 0"
	no_stderr
	check_report "$tmp/r" "$LT" SIGINT "$C_LEAKS"
	[ "$(grep -c '^\[' "$tmp/r")" -eq 1 ] || fail "more than the SIGINT report: $(cat "$tmp/r")"
}

# Bad input: one line naming it, status 2 (usage) or 1 (runtime), and nothing traced.
t_usage()
{
	local args

	for args in "--top x" "--top -1" "--min-size 1k" "--stack-depth 0" "--stack-depth 65" \
		"-d x" "-i 0" "-i x" "--bogus" "-p 0" "-p x" "-p 1 -- true" "" "extra -- true"; do
		run "$ML" $args
		expect_rc 2
		[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$args: expected one stderr line"
		grep -q '^uprobe-memleak: ' "$tmp/err" || fail "$args: no program name"
		[ ! -s "$tmp/out" ] || fail "$args: stdout: $(cat "$tmp/out")"
	done
	run "$ML" --stack-depth 65 -- true
	one_error_line "--stack-depth '65'"
	run "$ML" --help
	expect_rc 0
	for args in --top --min-size --stack-depth --interval "-p, --pid"; do
		grep -q -- "$args" "$tmp/out" || fail "--help does not mention $args"
	done
	run "$ML" -- /nonexistent/prog
	expect_rc 1
	one_error_line /nonexistent/prog
	run "$ML" -o /nonexistent/dir/r -- true
	expect_rc 1
	one_error_line /nonexistent/dir/r
}

case "$CASE" in
leaks | exec | cxx | plugin | threads | valgrind | options | attach | sigint | usage)
	"t_$CASE"
	;;
*)
	echo "unknown case $CASE" >&2
	exit 99
	;;
esac
echo "PASS ($CASE)"
exit 0
