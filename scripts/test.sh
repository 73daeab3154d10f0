#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sets everything up and runs every test: once in a normal build (and its machine-dependent
# suites again with every capability turned off), once under ASan+UBSan.
set -eu
cd "$(dirname "$0")/.."

sh scripts/setup.sh
meson test -C build --print-errorlogs --num-processes 2
# Again with every capability of this machine turned off (debug registers, FSGSBASE,
# TSC; lib/caps.c): each fallback is proven here whatever this machine has.
meson test -C build --setup capsoff --suite insn --suite api --suite ret \
	--print-errorlogs --num-processes 2

BUILD=build-sanitize MESON_ARGS="-Db_sanitize=address,undefined -Db_lundef=false" sh scripts/setup.sh
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-sanitize --print-errorlogs --num-processes 2

# One closing line over both runs (meson stops the script above on any failure).
count()
{
	cat build/meson-logs/testlog.json build/meson-logs/testlog-capsoff.json \
		build-sanitize/meson-logs/testlog.json |
		grep -o "\"result\": \"$1\"" | wc -l
}
echo "tests: $(count OK) passed, $(count FAIL) failed, $(count SKIP) skipped"
