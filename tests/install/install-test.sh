#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The install, as a user gets it: `meson install --destdir` of this build into a directory of
# the test's own, then (1) the installed tools run without LD_LIBRARY_PATH and uprobe-trace
# traces the demo with a known hit count, (2) the README's tracer, taken from README.md, builds
# with pkg-config against the installed tree and traces the demo, (3) the manual page renders.
#
# install-test.sh BUILD_ROOT PREFIX BINDIR LIBDIR INCLUDEDIR MANDIR README DEMO SANITIZE
# (the directories as meson's options give them; SANITIZE is b_sanitize).
set -u

BUILD=$(readlink -f "$1")
PREFIX=$2
README=$(readlink -f "$7")
DEMO=$(readlink -f "$8")
SANITIZE=$9
MESON=${MESON:-}
BOUND=${INSTALL_TEST_BOUND:-60} # seconds any one command may take

# A directory option is relative to the prefix unless given absolute.
under_prefix()
{
	case $1 in
	/*) echo "$1" ;;
	*) echo "$PREFIX/$1" ;;
	esac
}
BINDIR=$(under_prefix "$3")
LIBDIR=$(under_prefix "$4")
INCLUDEDIR=$(under_prefix "$5")
MANDIR=$(under_prefix "$6")

export LC_ALL=C
unset LD_LIBRARY_PATH LD_PRELOAD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uprobe-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

fail()
{
	echo "FAIL: $*" >&2
	for f in out err; do
		if [ -s "$tmp/$f" ]; then
			echo "--- last $f (first 20 lines):" >&2
			head -n 20 "$tmp/$f" >&2
		fi
	done
	exit 1
}

# run CMD...: runs CMD bounded; stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run()
{
	timeout -k 5 "$BOUND" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -ne 124 ] || fail "timed out after ${BOUND}s: $*"
	return 0
}

# The demo reports how often it called compute(): the count every tracer must see.
demo_calls()
{
	sed -n 's/^demo: compute called \([0-9]*\) times$/\1/p' "$1"
}

# --- the install: into our own directory only, from what the build already made ---
if [ -z "$MESON" ]; then
	echo "SKIP: no meson command in PATH to run 'meson install' with" >&2
	exit 77
fi
run "$MESON" install -C "$BUILD" --destdir "$root" --no-rebuild --quiet
[ "$rc" -eq 0 ] || fail "meson install --destdir exited $rc"
for f in "$BINDIR/uprobe-trace" "$LIBDIR/libuprobe.so" "$LIBDIR/pkgconfig/libuprobe.pc" \
	 "$INCLUDEDIR/uprobe.h" "$MANDIR/man1/uprobe-trace.1"; do
	[ -e "$root$f" ] || fail "not installed: $f"
done

# --- (1) every installed program loads the installed libuprobe, by a relative rpath ---
for exe in "$root$BINDIR"/*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	run ldd "$exe"
	[ "$rc" -eq 0 ] || fail "ldd $exe exited $rc"
	! grep -q "not found" "$tmp/out" || fail "${exe#"$root"}: $(grep "not found" "$tmp/out")"
	if grep -q "libuprobe\.so" "$tmp/out"; then
		# the staged copy, not the build tree's nor one installed on this machine
		lib=$(sed -n 's/^[[:space:]]*libuprobe\.so[^ ]* => \([^ ]*\) .*/\1/p' "$tmp/out")
		[ "$(readlink -f "$lib")" = "$(readlink -f "$root$LIBDIR/libuprobe.so.0")" ] ||
			fail "${exe#"$root"} loads libuprobe from $lib, not from the install"
	fi
	run readelf -d "$exe"
	! grep -F "$BUILD" "$tmp/out" || fail "${exe#"$root"}: the build directory in its dynamic section"
done

run "$root$BINDIR/uprobe-trace" --count u:demo:compute r:demo:compute -- "$DEMO" 300
[ "$rc" -eq 0 ] || fail "installed uprobe-trace exited $rc"
n=$(demo_calls "$tmp/out")
[ "$n" = 300 ] || fail "the demo says compute() ran '$n' times, not 300"
grep -qx "u:demo:compute  *$n" "$tmp/out" || fail "no 'u:demo:compute $n' count line"
grep -qx "r:demo:compute  *$n" "$tmp/out" || fail "no 'r:demo:compute $n' count line"

# --- (2) the README's tracer, built with pkg-config against the installed tree ---
# The C block under the heading "### A tracer in ...", and the "cc calls.c" line after it.
awk '/^### A tracer in /{h=1} h&&/^```c$/{c=1;next} c&&/^```$/{exit} c{print}' "$README" \
	>"$tmp/calls.c"
[ -s "$tmp/calls.c" ] || fail "README.md: no \`\`\`c block under '### A tracer in ...'"
cc_line=$(grep -m1 '^cc calls\.c ' "$README")
[ -n "$cc_line" ] || fail "README.md: no 'cc calls.c ...' command line"

export PKG_CONFIG_PATH=$root$LIBDIR/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
unset PKG_CONFIG_LIBDIR
run pkg-config --exists --print-errors libuprobe
[ "$rc" -eq 0 ] || fail "pkg-config libuprobe: $(cat "$tmp/err")"
run pkg-config --cflags --libs libuprobe
grep -qF -- "-I$root$INCLUDEDIR" "$tmp/out" || fail "pkg-config --cflags: not the installed include dir"
grep -qF -- "-L$root$LIBDIR" "$tmp/out" || fail "pkg-config --libs: not the installed lib dir"
# A user without libelf's or libunwind's -dev package (no .pc files of theirs): libuprobe.pc
# alone must do, so it names no other package (pkgconf checks Requires.private always).
(export PKG_CONFIG_LIBDIR=$root$LIBDIR/pkgconfig; unset PKG_CONFIG_PATH
 exec timeout -k 5 "$BOUND" pkg-config --print-errors --cflags --libs libuprobe) \
	>"$tmp/out" 2>"$tmp/err"
[ "$?" -eq 0 ] || fail "pkg-config libuprobe with no other .pc file: $(cat "$tmp/err")"
# What libuprobe links itself: for --static and for packagers.
run pkg-config --static --libs libuprobe
for l in -lelf -lunwind-ptrace -lZydis -lZycore; do
	grep -qF -- "$l" "$tmp/out" || fail "pkg-config --static --libs: no $l: $(cat "$tmp/out")"
done

# A sanitized libuprobe needs its runtime first in the program that loads it.
extra="-Wall -Wextra -Werror"
[ "$SANITIZE" = none ] || extra="$extra -fsanitize=$SANITIZE"
(cd "$tmp" && exec timeout -k 5 "$BOUND" sh -c "$cc_line $extra") >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || fail "README's '$cc_line' exited $rc: $(head -n 5 "$tmp/err")"
run ldd "$tmp/calls"
grep -qF "$root$LIBDIR/libuprobe.so.0" "$tmp/out" || fail "calls does not load the installed libuprobe"

# Every call, in order, each with its argument, and the program's own exit status.
run "$tmp/calls" compute "$DEMO" 250
[ "$rc" -eq 0 ] || fail "calls exited $rc"
n=$(demo_calls "$tmp/out")
[ "$n" = 250 ] || fail "the demo says compute() ran '$n' times, not 250"
seq 0 $((n - 1)) | sed 's/.*/compute(&)/' >"$tmp/want"
grep '^compute(' "$tmp/out" >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got" || fail "calls: not compute(0) to compute($((n - 1))) in order"
grep -qx "compute: $n calls" "$tmp/out" || fail "calls: no 'compute: $n calls' line"
run "$tmp/calls" compute "$DEMO" -1
[ "$rc" -eq 2 ] || fail "calls did not exit with the demo's status 2, but $rc"

# A wrong name: one line naming it, status 1, and the program never ran.
run "$tmp/calls" computee "$DEMO" 5
[ "$rc" -eq 1 ] || fail "calls with a wrong symbol exited $rc, expected 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "computee" "$tmp/err" ||
	fail "calls with a wrong symbol: not one line naming it"
! grep -q '^demo:' "$tmp/out" || fail "calls with a wrong symbol ran the program"

# --- (3) the manual page renders, without warnings, and documents every option of --help ---
page=$root$MANDIR/man1/uprobe-trace.1
run groff -man -ww -z "$page"
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] || fail "groff -man -ww: $(head -n 3 "$tmp/err")"
if command -v man >/dev/null; then
	run env MANWIDTH=100 MANPAGER=cat man -l "$page"
else
	run groff -man -Tutf8 -rLL=100n "$page"
fi
[ "$rc" -eq 0 ] || fail "the manual page does not render ($rc)"
col -b <"$tmp/out" >"$tmp/page.txt"
grep -q "^NAME" "$tmp/page.txt" && grep -q "^EXIT STATUS" "$tmp/page.txt" ||
	fail "the rendered page has no NAME or EXIT STATUS section"

# Options are looked for in the page's source, where no line break or hyphenation splits them.
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$page" >"$tmp/page.src"
run "$root$BINDIR/uprobe-trace" --help
[ "$rc" -eq 0 ] || fail "uprobe-trace --help exited $rc"
opts=$(grep -o -- '--[a-z][a-z-]*' "$tmp/out" | sort -u)
[ -n "$opts" ] || fail "no options found in --help"
for o in $opts $(grep -o -- '^  -[a-zA-Z],' "$tmp/out" | tr -d ' ,'); do
	grep -qE -- "(^|[^a-zA-Z-])$o([^a-zA-Z-]|$)" "$tmp/page.src" ||
		fail "the manual page does not document $o"
done
version=$("$root$BINDIR/uprobe-trace" --version | sed -n '1s/.* //p')
grep -q "libuprobe $version" "$tmp/page.txt" ||
	fail "the manual page is not of version $version: $(tail -n 1 "$tmp/page.txt")"
exit 0
