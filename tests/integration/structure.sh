#!/usr/bin/env bash
# The shape of the project, checked from the Makefile and the built objects:
# only `make deps` installs packages (check, demo and fuzz never run apt-get,
# and stop naming a missing package); the daemon/ modules form no cycle and
# depend on each other only as tests/layers.allowed and README's picture say
# (tests/tools/layers.py, over the objects with nm); README's `tcpprobe probe`
# option list is the binary's own --help (built from the key table): all of
# its own options, some of the probe keys'.
# Every integration script counts, starts daemons and checks captures through
# tests/lab/daemon_lib.sh (tests/tools/testlib_check.py; the check's own
# fixtures show it catches each way around the library, and passes what only
# looks like one).
# Prints PASS/FAIL lines.
# checks: 11
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
python3 tests/tools/layers.py "$B" || dl_failed
# The option lines of README's usage block, and of --help (which prints
# nothing but its text: no probe is sent), -v/--verbose left out of README:
# up to the line "Each probe key ..." all of them (tcpprobe probe's own
# options), then some of the probe keys' options, verbatim and in --help's
# order (the key table's), and "  ..." for the rest.
readme=$(sed -n '/^tcpprobe probe \[options\] HOST\[:PORT\]\.\.\.$/,/^```$/p' README.md | sed '1d;$d')
help=$("${TCPPROBE:-$B/tcpprobe}" probe --help | sed -n '3,/^$/p' | sed '/^$/d' | grep -v -- '--verbose')
own_r=$(sed -n '1,/^Each probe key/p' <<<"$readme")
own_h=$(sed -n '1,/^Each probe key/p' <<<"$help")
keys_r=$(sed '1,/^Each probe key/d' <<<"$readme" | grep -vx '  \.\.\.')
# keys_r is a subsequence of --help's key lines: each found after the last.
if [ -n "$own_r" ] && [ "$own_r" = "$own_h" ] && [ -n "$keys_r" ] &&
	awk 'NR == FNR { r[++n] = $0; next } i < n && $0 == r[i + 1] { i++ } END { exit !(i == n) }' \
		<(echo "$keys_r") <(sed '1,/^Each probe key/d' <<<"$help"); then
	pass readme-probe-usage
else
	fail readme-probe-usage "README.md's usage block is not tcpprobe probe --help's text: $(diff <(echo "$readme") <(echo "$help") | head -6 | tr '\n' '|')"
fi

# The library's users: no script of its own pass/fail, counter or daemon start.
if out=$(python3 tests/tools/testlib_check.py tests/integration/*.sh); then
	pass integration-scripts-use-testlib
else fail integration-scripts-use-testlib "$(echo "$out" | head -n 8 | tr '\n' '|')"; fi
# The check itself, on its fixtures: a line of each kind it must catch, and
# lines that only look like one (a comment, a config check, a message, a grep
# pattern, a difference of counters).
fx=tests/tools/testlib_check
want=$(grep -vn '^#' "$fx/around.txt" | cut -d: -f1 | paste -sd, -)
bad=$(python3 tests/tools/testlib_check.py "$fx/around.txt" | cut -d: -f2 | sort -un | paste -sd, -)
good=$(python3 tests/tools/testlib_check.py "$fx/alike.txt")
if [ -n "$want" ] && [ "$bad" = "$want" ] && [ -z "$good" ]; then pass testlib-check-catches
else fail testlib-check-catches "caught lines '$bad' of '$want' in $fx/around.txt; in alike.txt: $good"; fi
dl_done
