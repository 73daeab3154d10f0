#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the Debian packages libuprobe needs (when missing) and builds it in $BUILD (default: build).
set -eu
cd "$(dirname "$0")/.."

PKGS="gcc g++ libc6-dev pkg-config meson ninja-build libelf-dev liblzma-dev libunwind-dev libzydis-dev libzycore-dev libcmocka-dev python3 binutils groff-base systemtap-sdt-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

BUILD=${BUILD:-build}
if [ -f "$BUILD/build.ninja" ]; then
	meson setup --reconfigure "$BUILD" ${MESON_ARGS:-} >/dev/null
else
	meson setup "$BUILD" ${MESON_ARGS:-} >/dev/null
fi
ninja -C "$BUILD"
