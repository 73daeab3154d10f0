#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The traced program outlives its tracer (issue 13's first test): uprobe-trace
# on a hot 4-thread program (killtarget) is killed with SIGKILL at a random
# moment 0.3-1.5 s in, 20 times per mode; the program must run to its end with
# exactly its untraced result ("total ok", exit 0) every time, and its code
# must be what it was untraced by its end ("code ok": the guardian put back
# every int3 and jump of ours, lib/guardian.c).
# lifeline-test.sh MODE UPROBE_TRACE KILLTARGET
#   entry   -p, entry probes              ret     -p, entry + return probes
#   nostop  -p, no-stop entry probes      spawn   -- CMD, entry + return probes
#   nostop_ret  -p, no-stop entry + return probes (returns through the return gadget)
#   signals -p, entry + return probes, the program's SIGALRM handler (every
#           signal in its sa_mask, SIGTRAP too) calling the probed functions
set -u

MODE=$1
UT=$(readlink -f "$2")
TGT=$(readlink -f "$3")
TRIES=${LIFELINE_TRIES:-20}
SECS=2.0 # the program's own run time (killtarget SECONDS)
EXTRA=()
[ "$MODE" = signals ] && EXTRA=(signals)

. "$(dirname "$0")/test-common.sh" ll

fail()
{
	echo "FAIL (lifeline $MODE): $*" >&2
	for f in "$tmp"/*.err; do
		[ -s "$f" ] && { echo "--- $f:" >&2; head -n 10 "$f" >&2; }
	done
	exit 1
}

# a random moment 0.3-1.5 s
moment()
{
	awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + (r % 121) / 100 }'
}

# alive PID: PID runs (a zombie does not count)
alive()
{
	local st

	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# tracer_of PID: the pid tracing PID (0: none)
tracer_of()
{
	awk '$1 == "TracerPid:" { print $2 }' "/proc/$1/status" 2>/dev/null
}

# child_of TRACER: the program uprobe-trace spawned (before its exec too), not the guardian.
# Not a search by command line: the other lifeline tests, run alongside, start the same one.
child_of()
{
	local c

	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = uprobe-guard ] && continue
		echo "$c"
		return
	done
}

case $MODE in
entry) probes=("u:$TGT:kt_work" "u:$TGT:kt_outer") ;;
ret) probes=("u:$TGT:kt_work" "r:$TGT:kt_work" "r:$TGT:kt_outer") ;;
nostop) probes=(--nostop "u:$TGT:kt_work" "u:$TGT:kt_outer") ;;
nostop_ret) probes=(--nostop "u:$TGT:kt_work" "r:$TGT:kt_work" "r:$TGT:kt_outer") ;;
spawn) probes=("u:$TGT:kt_work" "r:$TGT:kt_work" "r:$TGT:kt_outer") ;;
signals) probes=("u:$TGT:kt_work" "r:$TGT:kt_work" "r:$TGT:kt_outer") ;;
*) echo "unknown mode $MODE" >&2; exit 2 ;;
esac

# Untraced first: what "its untraced result" is.
timeout 30 "$TGT" 0.2 "${EXTRA[@]}" >"$tmp/untraced" 2>/dev/null || fail "untraced run failed"
[ "$(cat "$tmp/untraced")" = "$(printf 'total ok\ncode ok')" ] ||
	fail "untraced run: $(cat "$tmp/untraced")"

traced=0
guards=0
for try in $(seq 1 "$TRIES"); do
	at=$(moment)
	out=$tmp/t$try.out
	if [ "$MODE" = spawn ]; then
		# the program is uprobe-trace's child, reparented when it dies: it reports
		# through its output file ("total ok" is its last act before exit 0)
		"$UT" -o "$tmp/t$try.hits" "${probes[@]}" -- "$TGT" "$SECS" >"$out" \
			2>"$tmp/t$try.err" &
		ut=$!
		bg_pids+=("$ut")
		sleep "$at"
		pid=$(child_of "$ut")
		[ -n "$pid" ] && [ "$(tracer_of "$pid")" = "$ut" ] && traced=$((traced + 1))
		kill -KILL "$ut" 2>/dev/null
		wait "$ut" 2>/dev/null
		for i in $(seq 1 600); do
			[ -n "$pid" ] && alive "$pid" || break
			sleep 0.05
		done
		[ -n "$pid" ] && alive "$pid" &&
			fail "try $try (tracer killed after $at s): the program still runs after 30 s"
		[ "$(cat "$out")" = "$(cat "$tmp/untraced")" ] ||
			fail "try $try (tracer killed after $at s): program said: $(cat "$out")"
		continue
	fi
	"$TGT" "$SECS" "${EXTRA[@]}" >"$out" 2>/dev/null &
	pid=$!
	bg_pids+=("$pid")
	# uprobe-trace itself is killed (not a wrapper that would leave it running)
	"$UT" -p "$pid" "${probes[@]}" >"$tmp/t$try.hits" 2>"$tmp/t$try.err" &
	ut=$!
	bg_pids+=("$ut")
	sleep "$at"
	[ "$(tracer_of "$pid")" = "$ut" ] && traced=$((traced + 1))
	# the guardian holds none of the tracer's stdin, stdout, stderr (a pipe's reader waits)
	for g in $(cat /proc/"$ut"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/"$g"/comm 2>/dev/null)" = uprobe-guard ] || continue
		guards=$((guards + 1))
		for fd in 0 1 2; do
			f=$(readlink /proc/"$g"/fd/$fd 2>/dev/null) || continue
			[ "$f" = /dev/null ] || fail "try $try: the guardian's fd $fd is $f"
		done
	done
	kill -KILL "$ut" 2>/dev/null
	wait "$ut" 2>/dev/null
	# bounded: the program's own SECS and its slower lifeline hits after
	for i in $(seq 1 600); do
		alive "$pid" || break
		sleep 0.05
	done
	alive "$pid" && fail "try $try (tracer killed after $at s): the program still runs after 30 s"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] && [ "$(cat "$out")" = "$(cat "$tmp/untraced")" ] ||
		fail "try $try (tracer killed after $at s): exit status $rc, output: $(cat "$out")"
done
# a try whose tracer died before it attached proves nothing: most must have been traced
[ "$traced" -ge $((TRIES / 2)) ] || fail "only $traced of $TRIES programs were traced at the kill"
[ "$MODE" = spawn ] || [ "$guards" -ge 1 ] || fail "no guardian seen in $TRIES tries"
echo "lifeline $MODE: $TRIES of $TRIES programs survived their tracer's SIGKILL ($traced traced at the kill)"
exit 0
