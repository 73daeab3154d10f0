# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the example tools' test scripts: . test-common.sh NAME
# A scratch directory $tmp (uprobe-NAME.XXXXXX), removed at exit with every
# process whose pid a script adds to bg_pids (killed, SIGKILL).

export LC_ALL=C
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uprobe-$1.XXXXXX") || exit 1
bg_pids=()

cleanup()
{
	local p

	for p in "${bg_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
