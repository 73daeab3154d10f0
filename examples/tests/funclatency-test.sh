#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CLI tests of uprobe-funclatency against lattarget:
# funclatency-test.sh CASE UPROBE_FUNCLATENCY LATTARGET
#
# lattarget's run makes 100 calls of work_fast (returns at once), 10 of
# work_sleep (sleeps 2 ms), 5 of work_mid, 7 of worker, 3 of other, and
# never calls work_never. Every command runs under `timeout`; background
# processes are this script's own children, killed by pid on exit.
set -u

CASE=$1
FL=$(readlink -f "$2")
TGT=$(readlink -f "$3")
BOUND=${CLI_TEST_BOUND:-60}

. "$(dirname "$0")/test-common.sh" fl

fail()
{
	echo "FAIL ($CASE): $*" >&2
	for f in out err; do
		if [ -s "$tmp/$f" ]; then
			echo "--- last $f (first 30 lines):" >&2
			head -n 30 "$tmp/$f" >&2
		fi
	done
	exit 1
}

skip()
{
	echo "SKIP ($CASE): $*" >&2
	exit 77
}

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

expect_eq()
{
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

no_stderr()
{
	[ ! -s "$tmp/err" ] || fail "unexpected stderr: $(head -n 5 "$tmp/err")"
}

one_error_line()
{
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "expected one stderr line: $(cat "$tmp/err")"
	grep -qF -- "$1" "$tmp/err" || fail "stderr does not name '$1': $(cat "$tmp/err")"
	grep -q '^uprobe-funclatency: ' "$tmp/err" || fail "stderr line lacks the program name"
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

# reap PID: waits (bounded) for a background child of this script; status in $wrc.
reap()
{
	wait_for "$BOUND" not_alive "$1"
	wait "$1"
	wrc=$?
}

need_attach()
{
	local scope

	scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
	if [ "$scope" -ge 3 ] || { [ "$scope" -ge 1 ] && [ "$(id -u)" -ne 0 ]; }; then
		skip "kernel.yama.ptrace_scope=$scope forbids attaching to a non-child"
	fi
}

# summary FILE: checks every function's block (its bucket counts add up to its count, the
# fullest bar is full, min <= p50 <= p99 <= max) and prints one line per function:
# "LABEL COUNT UNIT FULLEST_LO FULLEST_HI FIRST_LO LAST_HI MIN P50 P99 MAX" (durations as written).
summary()
{
	awk '
	function flush() {
		if (label == "")
			return
		if (sum != count) { print "bad: " label " buckets add up to " sum ", count " count; exit 1 }
		if (count && top_bar != 40) { print "bad: " label " fullest bar " top_bar; exit 1 }
		if (count && !(v["min"] <= v["p50"] && v["p50"] <= v["p99"] && v["p99"] <= v["max"])) {
			print "bad: " label " min p50 p99 max out of order"; exit 1
		}
		print label, count, unit, mlo, mhi, (flo == "" ? "-" : flo), (lhi == "" ? "-" : lhi),
			s["min"], s["p50"], s["p99"], s["max"]
		label = ""
	}
	/^Tracing [0-9]+ functions?\. Ctrl-C to end\.$/ { next }
	/^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/ { flush(); next }
	/^$/ { flush(); next }
	/^ +[nmu]secs +: count +distribution$/ { unit = $1; next }
	/^ +[0-9]+ -> [0-9]+ +: [0-9]+ +\|/ {
		if (!match($0, /\|\**  *\|$/) && !match($0, /\|\*+\|$/)) { print "bad line: " $0; exit 1 }
		n = $5 + 0
		bar = $0; sub(/^[^|]*\|/, "", bar); gsub(/[^*]/, "", bar)
		sum += n
		if (flo == "" && n) flo = $1
		if (n) lhi = $3
		if (n > best) { best = n; mlo = $1; mhi = $3; top_bar = length(bar) }
		next
	}
	{
		flush()
		label = $1; count = -1; unit = "-"; mlo = mhi = "-"; flo = lhi = ""
		delete s; delete v
		for (i = 2; i < NF; i++) {
			if ($i == "count") count = $(i + 1) + 0
			if ($i == "min" || $i == "p50" || $i == "p99" || $i == "max") {
				s[$i] = $(i + 1); x = $(i + 1); sub(/[nmu]?s$/, "", x); v[$i] = x + 0
			}
		}
		if (count < 0) { print "bad header: " $0; exit 1 }
		sum = 0; best = 0; top_bar = 0
	}
	END { flush() }' "$1"
}

# field LABEL N: field N of LABEL's summary line in $tmp/sum.
field()
{
	awk -v l="$1" -v n="$2" '$1 == l { print $n }' "$tmp/sum"
}

# num DURATION: a duration as written (2.162ms, 2162.688us), without its unit.
num()
{
	echo "${1%%[nmu]s}" | sed 's/s$//'
}

# sleep_ok LABEL TWO_MS FULLEST...: LABEL in $tmp/sum holds lattarget's 10 calls of a 2 ms
# sleep, TWO_MS being 2 ms in its unit: count 10, min at least 2 ms, p50 below 8 ms, and the
# fullest bucket starting at one of FULLEST. A loaded machine may add a few ms (the sleep
# plus two round trips to the tracer) and move calls to the 4 ms bucket, never below 2 ms.
sleep_ok()
{
	local label=$1 two=$2 min p50 top b

	shift 2
	expect_eq "$(field "$label" 2)" 10 "$label count"
	min=$(num "$(field "$label" 8)")
	p50=$(num "$(field "$label" 9)")
	awk -v m="$min" -v t="$two" 'BEGIN { exit !(m >= t) }' ||
		fail "$label: min $min below 2 ms ($two)"
	awk -v p="$p50" -v t="$two" 'BEGIN { exit !(p < 4 * t) }' ||
		fail "$label: p50 $p50 not below 8 ms ($((4 * two)))"
	top=$(field "$label" 4)
	for b; do
		[ "$top" = "$b" ] && return 0
	done
	fail "$label: fullest bucket starts at $top, not at one of: $*"
}

# ---------------------------------------------------------------------------

# Counts equal the calls made; every function named is shown, in order; the command's
# status is ours.
t_counts()
{
	local ns

	run "$FL" lattarget:work_fast lattarget:work_sleep u:lattarget:work_mid lattarget:worker \
		lattarget:other lattarget:work_never -- "$TGT" run 3
	expect_rc 3
	no_stderr
	expect_eq "$(head -n 1 "$tmp/out")" "Tracing 6 functions. Ctrl-C to end." "first line"
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum" | tr '\n' ' ')" \
		"lattarget:work_fast 100 lattarget:work_sleep 10 u:lattarget:work_mid 5 \
lattarget:worker 7 lattarget:other 3 lattarget:work_never 0 " "labels and counts"
	ns='[0-9]+ns'
	grep -Eq "^lattarget:work_fast  count 100  avg $ns  p50 $ns  p99 $ns  min $ns  max $ns\$" \
		"$tmp/out" || fail "summary line: $(grep '^lattarget:work_fast' "$tmp/out")"
	expect_eq "$(field lattarget:work_sleep 3)" nsecs "default unit"
	# a 2 ms sleep lasts at least 2 ms
	[ "$(field lattarget:work_sleep 8 | tr -d ns)" -ge 2000000 ] ||
		fail "work_sleep min below 2 ms: $(grep '^lattarget:work_sleep' "$tmp/out")"
	grep -q '^lattarget:work_never  count 0$' "$tmp/out" ||
		fail "work_never: not shown as never called"

	# -o: the histograms in a file, stdout left to the command
	run "$FL" -o "$tmp/h" "$TGT:work_fast" -- sh -c "echo from-the-command; exec '$TGT' run 0"
	expect_rc 0
	no_stderr
	expect_eq "$(cat "$tmp/out")" from-the-command "stdout with -o"
	summary "$tmp/h" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum")" "$TGT:work_fast 100" "-o file"
	run "$FL" -o "$tmp/no/such/dir" lattarget:work_fast -- "$TGT" run 0
	expect_rc 1
	one_error_line "$tmp/no/such/dir"

	# -f: the calls of a shell's children; without it, none. 'exit' last, so that no
	# shell runs the last lattarget in its own process (dash and bash may exec it)
	run "$FL" -f "$TGT:work_mid" -- sh -c "'$TGT' run 0; '$TGT' run 4; exit \$?"
	expect_rc 4
	no_stderr
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum")" "$TGT:work_mid 10" "-f count"
	run "$FL" "$TGT:work_mid" -- sh -c "'$TGT' run 0; '$TGT' run 4; exit \$?"
	expect_rc 4
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum")" "$TGT:work_mid 0" "count without -f"

	# a command killed by a signal: 128 + N, as a shell says; its kill() never returned
	run "$FL" libc:kill -- sh -c 'kill -USR1 $$'
	[ "$rc" -eq $((128 + 10)) ] || fail "killed command: exit status $rc"
	grep -q '^libc:kill  count 0  missed 1$' "$tmp/out" || fail "kill: not missed once"
}

# -m: a 2 ms sleep lands in the 2 ms bucket (4 ms on a loaded machine), a call that
# returns at once in 0 -> 1; -u: that call lands in a microsecond bucket (below 1024 us).
t_units()
{
	run "$FL" -m lattarget:work_sleep lattarget:work_fast -- "$TGT" run 0
	expect_rc 0
	no_stderr
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(field lattarget:work_sleep 3)" msecs "-m unit"
	sleep_ok lattarget:work_sleep 2 2 4
	grep -Eq '^lattarget:work_sleep  count 10  avg [0-9]+\.[0-9]{3}ms  p50 [0-9]+\.[0-9]{3}ms ' \
		"$tmp/out" ||
		fail "work_sleep -m summary: $(grep '^lattarget:work_sleep' "$tmp/out")"
	expect_eq "$(field lattarget:work_fast 4)-$(field lattarget:work_fast 5)" 0-1 \
		"work_fast's fullest -m bucket"

	run "$FL" -u lattarget:work_fast lattarget:work_sleep -- "$TGT" run 0
	expect_rc 0
	no_stderr
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(field lattarget:work_fast 3)" usecs "-u unit"
	[ "$(field lattarget:work_fast 5)" -le 1023 ] ||
		fail "work_fast's fullest -u bucket is not in microseconds: $(field lattarget:work_fast 4)"
	sleep_ok lattarget:work_sleep 2000 2048 4096
	grep -Eq '^lattarget:work_fast  count 100  avg [0-9]+\.[0-9]{3}us  p50 [0-9]+\.[0-9]{3}us ' \
		"$tmp/out" || fail "-u summary: $(grep '^lattarget:work_fast' "$tmp/out")"
}

# Wildcards time exactly the matching functions, labelled with the file; one never
# called is left out.
t_wildcard()
{
	local real

	real=$(readlink -f "$TGT")
	run "$FL" 'lattarget:work_*' -- "$TGT" run 0
	expect_rc 0
	no_stderr
	expect_eq "$(head -n 1 "$tmp/out")" "Tracing 4 functions. Ctrl-C to end." "work_* matches"
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum" | tr '\n' ' ')" \
		"$real:work_fast 100 $real:work_mid 5 $real:work_sleep 10 " "work_* histograms"

	run "$FL" "u:$TGT:work*" "$TGT:oth?r" -- "$TGT" run 0
	expect_rc 0
	no_stderr
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum" | tr '\n' ' ')" \
		"$real:work_fast 100 $real:work_mid 5 $real:work_sleep 10 $real:worker 7 $real:other 3 " \
		"work* and oth?r histograms"

	run "$FL" 'lattarget:zz*' -- "$TGT" run 0
	expect_rc 1
	one_error_line "no function matches 'zz*'"
}

# A library the process loads later (dlopen): its functions wait for it, wildcards too, from
# the file the dynamic linker would load; a library never loaded is said once, not an error.
t_dlopen()
{
	run "$FL" libm:cbrt 'libm:hypo?' 'libm:cbrt?' -- "$TGT" dlopen 3
	expect_rc 3
	no_stderr
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	# hypot has two versions: one function, timed once
	expect_eq "$(awk '{ print $1, $2 }' "$tmp/sum" | tr '\n' ' ')" \
		"libm:cbrt 12 libm:hypot 4 " "dlopen'ed functions"
	grep -q '^Tracing [1-9][0-9]* functions' "$tmp/out" || fail "$(head -n 1 "$tmp/out")"

	run "$FL" libm:cbrt lattarget:work_fast -- "$TGT" run 0
	expect_rc 0
	one_error_line "libm:cbrt: never loaded"
	grep -q '^libm:cbrt  count 0$' "$tmp/out" || fail "libm:cbrt: $(cat "$tmp/out")"
	run "$FL" libnosuchlibrary:foo -- "$TGT" run 0
	expect_rc 1
	one_error_line "libnosuchlibrary"
	run "$FL" 'libnosuchlibrary:f*' -- "$TGT" run 0
	expect_rc 1
	one_error_line "libnosuchlibrary"
}

# -p: attach to a running lattarget, time its calls until it exits; it keeps its status.
t_attach()
{
	local tpid fpid

	need_attach
	"$TGT" wait "$tmp/go" 5 &
	tpid=$!
	bg_pids+=("$tpid")
	timeout -k 5 "$BOUND" "$FL" -m -p "$tpid" lattarget:work_fast 'lattarget:work_s*' \
		>"$tmp/out" 2>"$tmp/err" &
	fpid=$!
	bg_pids+=("$fpid")
	wait_for 30 grep -q '^Tracing 2 functions' "$tmp/out"
	touch "$tmp/go"
	reap "$fpid"
	[ "$wrc" -eq 0 ] || fail "-p: exit status $wrc"
	reap "$tpid"
	[ "$wrc" -eq 5 ] || fail "the traced process exited $wrc, not 5"
	no_stderr
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	expect_eq "$(awk '{ print $2 }' "$tmp/sum" | tr '\n' ' ')" "100 10 " "-p counts"
	expect_eq "$(field lattarget:work_fast 4)" 0 "-p work_fast's fullest bucket"
	sleep_ok "$(awk 'NR == 2 { print $1 }' "$tmp/sum")" 2 2 4

	# a function that does not exist: the process is let go unharmed, untraced
	rm -f "$tmp/go"
	"$TGT" wait "$tmp/go" 6 &
	tpid=$!
	bg_pids+=("$tpid")
	run "$FL" -p "$tpid" lattarget:work_fast lattarget:no_such_function
	expect_rc 1
	one_error_line "no_such_function"
	alive "$tpid" || fail "the process died"
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$tpid/status")" = 0 ] || fail "still traced"
	touch "$tmp/go"
	reap "$tpid"
	[ "$wrc" -eq 6 ] || fail "the process let go exited $wrc, not 6"
}

# calls_at_least LABEL N: LABEL's counts over every section of $tmp/out add up to N or more.
calls_at_least()
{
	[ "$(awk -v l="$1" '$1 == l && $2 == "count" { n += $3 } END { print n + 0 }' \
		"$tmp/out")" -ge "$2" ]
}

# -i 1: a section per second, each time-stamped, each with the calls since the last one:
# none, then lattarget's first 100 calls of work_fast, then its second 100.
t_interval()
{
	local fpid

	timeout -k 5 "$BOUND" "$FL" -i 1 lattarget:work_fast lattarget:work_sleep \
		-- "$TGT" wait "$tmp/go1" "$tmp/go2" 0 >"$tmp/out" 2>"$tmp/err" &
	fpid=$!
	bg_pids+=("$fpid")
	wait_for 30 eval '[ "$(grep -c "^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$" "$tmp/out")" -ge 2 ]'
	touch "$tmp/go1"
	# a tick may split the burst over two sections: wait for all 100 calls
	wait_for 30 calls_at_least lattarget:work_fast 100
	touch "$tmp/go2"
	reap "$fpid"
	[ "$wrc" -eq 0 ] || fail "-i: exit status $wrc"
	no_stderr
	summary "$tmp/out" >"$tmp/sum" || fail "$(tail -n 1 "$tmp/sum")"
	grep -Fxq "lattarget:work_fast  count 0" "$tmp/out" || fail "no empty section before the calls"
	expect_eq "$(awk '$1 == "lattarget:work_fast" { n += $2 } END { print n }' "$tmp/sum")" 200 \
		"work_fast calls over every section"
	expect_eq "$(awk '$1 == "lattarget:work_sleep" { n += $2 } END { print n }' "$tmp/sum")" 20 \
		"work_sleep calls over every section"
	awk '$1 == "lattarget:work_fast" && $2 > 100 { exit 1 }' "$tmp/sum" ||
		fail "a section holds calls of an earlier one"
}

# Usage errors: one line, status 2, nothing traced; --help says what a duration includes.
t_usage()
{
	run "$FL" --help
	expect_rc 0
	grep -q 'round trip' "$tmp/out" || fail "--help does not say durations include a round trip"
	run "$FL" -- "$TGT" run 0
	expect_rc 2
	one_error_line "no functions given"
	run "$FL" -u -m lattarget:work_fast -- "$TGT" run 0
	expect_rc 2
	one_error_line "-u and -m"
	run "$FL" -i 0 lattarget:work_fast -- "$TGT" run 0
	expect_rc 2
	one_error_line "bad interval '0'"
	run "$FL" r:lattarget:work_fast -- "$TGT" run 0
	expect_rc 2
	one_error_line "r:lattarget:work_fast"
	run "$FL" lattarget:work_fast+4 -- "$TGT" run 0
	expect_rc 2
	one_error_line "no offsets"
	run "$FL" work_fast -- "$TGT" run 0
	expect_rc 2
	one_error_line "bad function 'work_fast'"
	run "$FL" -p 1 lattarget:work_fast -- "$TGT" run 0
	expect_rc 2
	one_error_line "both -p and a command"
	run "$FL" lattarget:work_fast
	expect_rc 2
	one_error_line "no command given"
	run "$FL" lattarget:work_fast -- /nonexistent/prog
	expect_rc 1
	one_error_line "/nonexistent/prog"
}

case "$CASE" in
counts | units | wildcard | dlopen | attach | interval | usage)
	"t_$CASE"
	;;
*)
	echo "unknown case $CASE" >&2
	exit 99
	;;
esac
echo "PASS ($CASE)"
exit 0
