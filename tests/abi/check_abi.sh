#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The public header, the version script and the shared library's exports name the same functions.
set -eu
header=$1 map=$2 lib=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# every function declared with UPROBE_API (declarations may span lines: join them first)
grep -v '^#' "$header" | tr '\n' ' ' | grep -o 'UPROBE_API [^(;]*(' |
	sed 's/($//; s/.*[ *]//' | sort -u >"$tmp/header"
grep -E '^[[:space:]]+[a-z_0-9]+;' "$map" | tr -d ' \t;' | sort -u >"$tmp/map"
nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u >"$tmp/lib"

status=0
for pair in "header map" "header lib" "map lib"; do
	set -- $pair
	if ! diff -u "$tmp/$1" "$tmp/$2" >"$tmp/diff"; then
		echo "abi: $1 and $2 differ:"
		cat "$tmp/diff"
		status=1
	fi
done
n=$(wc -l <"$tmp/header")
[ "$n" -gt 10 ] || { echo "abi: only $n functions found in $header"; status=1; }
[ $status -eq 0 ] && echo "abi: $n functions agree in header, version script and library"
exit $status
