#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sets everything up, then traces the bundled demo program with uprobe-trace.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh >/dev/null
echo "\$ uprobe-trace --count u:demo:compute u:demo:rot13 r:demo:compute u:libc:puts -- build/examples/demo"
exec build/examples/uprobe-trace --count 'u:demo:compute' 'u:demo:rot13' 'r:demo:compute' 'u:libc:puts' -- build/examples/demo
