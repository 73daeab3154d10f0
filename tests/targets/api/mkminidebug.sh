#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# usage: mkminidebug.sh IN OUT
# OUT is IN stripped of every symbol, with MiniDebugInfo as Fedora's find-debuginfo makes it:
# the functions .dynsym lacks, in .symtab of an xz-compressed ELF file in .gnu_debugdata.
set -eu
in=$1
out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D "$in" --format=posix --defined-only | awk '{ print $1 }' | sort >"$tmp/dynsyms"
nm "$in" --format=posix --defined-only | awk '$2 == "T" || $2 == "t" { print $1 }' | sort \
	>"$tmp/funcsyms"
comm -13 "$tmp/dynsyms" "$tmp/funcsyms" >"$tmp/keep"
objcopy --only-keep-debug "$in" "$tmp/debug"
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols="$tmp/keep" \
	"$tmp/debug" "$tmp/mini"
xz -q "$tmp/mini"
objcopy --strip-all --remove-section .comment "$in" "$tmp/stripped"
objcopy --add-section .gnu_debugdata="$tmp/mini.xz" "$tmp/stripped" "$out"
