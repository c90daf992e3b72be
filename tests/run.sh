#!/usr/bin/env bash
# Runs every test: unit binaries, state-machine scripts, config goldens, then the
# namespace-lab integration tests. Each test prints "PASS name" / "FAIL name: why";
# the closing line is "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
export B TCPPROBE=${TCPPROBE:-$PWD/$B/tcpprobe}
log=$(mktemp -d /tmp/tcpprobe-check.XXXXXX)
pass=0; fail=0; failed=()

run_one() { # name command...
	local name=$1; shift
	local out="$log/$(echo "$name" | tr '/ ' '__').log"
	echo "== $name"
	timeout --kill-after=10 "${TEST_TIMEOUT:-600}" "$@" >"$out" 2>&1
	local rc=$?
	grep -E '^(PASS|FAIL|SKIP) ' "$out"
	local p f
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited $rc without a FAIL line; last output:"; tail -n 20 "$out" | sed 's/^/    /'
		f=1
	elif [ "$f" -gt 0 ]; then
		tail -n 30 "$out" | grep -vE '^(PASS|SKIP) ' | sed 's/^/    /' | tail -n 15
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: ran no test case"; f=1
	fi
	pass=$((pass + p)); fail=$((fail + f))
	[ "$f" -gt 0 ] && failed+=("$name")
}

for t in "$B"/tests/test_*; do
	[ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
[ -d tests/fsm ] && run_one fsm-scripts "$B/tests/fsm_script" tests/fsm/*.pkt
[ -x tests/config/run.sh ] && run_one config-golden bash tests/config/run.sh
if [ "${SKIP_LAB:-0}" != 1 ]; then
	for t in tests/integration/*.sh; do
		[ -f "$t" ] && run_one "integration/$(basename "$t" .sh)" bash "$t"
	done
fi

[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "logs: $log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
