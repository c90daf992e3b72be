#!/usr/bin/env bash
# The shape of the project, checked from the Makefile and the built objects:
# only `make deps` installs packages (check, demo and fuzz never run apt-get,
# and stop naming a missing package); the daemon/ modules form no cycle and
# depend on each other only as tests/layers.allowed and README's picture say
# (tests/tools/layers.py, over the objects with nm).
# Prints PASS/FAIL lines.
# checks: 8
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
B=${B:-build}

# make -n prints the recipes it would run (recursive makes included) and runs none.
for goal in check demo fuzz; do
	if make -n --no-print-directory B="$B" "$goal" 2>&1 | grep -q 'apt-get'; then
		fail "make-$goal-installs-nothing" "make -n $goal would run apt-get"
	else pass "make-$goal-installs-nothing"; fi
done
# A package dpkg does not know stops check before anything is built.
out=$(make --no-print-directory B="$B" DEB_TEST=tcpprobe-no-such-package deps-present 2>&1)
if [ $? -ne 0 ] && grep -q 'not installed: tcpprobe-no-such-package (make deps installs them)' <<<"$out"; then
	pass make-check-names-missing-package
else fail make-check-names-missing-package "deps-present did not stop naming it: $out"; fi
python3 tests/tools/layers.py "$B" || DL_FAILS=$((DL_FAILS + 1))
dl_done
