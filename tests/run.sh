#!/usr/bin/env bash
# Runs every test: unit binaries, state-machine scripts, config goldens, the
# fuzz corpora and a short fuzz smoke (tests/fuzz/run.sh), then the
# namespace-lab integration tests. Each test prints "PASS name" / "FAIL name: why";
# the closing line is "N passed, N failed".
#
# SANITIZE=1 (make check SANITIZE=1, B=build/san): sanitizer errors abort the
# process, leaks included. SAN_QUICK=1 then also leaves out the slow
# integration tests listed in SAN_SLOW (for a CI budget; see .ci/run).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${B:-build}
export B TCPPROBE=${TCPPROBE:-$PWD/$B/tcpprobe}
export SANITIZE=${SANITIZE:-0} # tests may relax what ASan distorts (RSS, timing)
log=$(mktemp -d /tmp/tcpprobe-check.XXXXXX)
if [ "$SANITIZE" = 1 ]; then
	# Ours first: options the caller set come later and win. Reports go to
	# files instead of stderr, so that one from a daemon whose stderr a
	# test discards still fails the test that ran it (run_one looks).
	san=$log/sanitizer
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$san/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$san/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
fi
# With SAN_QUICK=1, the sanitizer pass leaves these integration tests out.
SAN_SLOW=${SAN_SLOW:-load daemon faults adversarial}
# The sanitizer pass always leaves these out: systemd_boot installs the
# binary into a booted Debian root where the unit's sandbox and ASan do not
# mix; the plain pass runs it.
PLAIN_ONLY=${PLAIN_ONLY:-systemd_boot}
pass=0; fail=0; failed=(); times=()

run_one() { # name command...
	local name=$1; shift
	local out="$log/$(echo "$name" | tr '/ ' '__').log"
	echo "== $name"
	mkdir -p "$log" # a test that cleans /tmp too eagerly must not blind the rest
	# Writable by a daemon that dropped root: a report must not get lost.
	[ "$SANITIZE" = 1 ] && mkdir -p "$san" && chmod 711 "$log" && chmod 1777 "$san"
	local t0=$SECONDS
	timeout --kill-after=10 "${TEST_TIMEOUT:-600}" "$@" >"$out" 2>&1
	local rc=$?
	times+=("$((SECONDS - t0))s $name")
	grep -E '^(PASS|FAIL|SKIP) ' "$out"
	local p f
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
	if [ "$SANITIZE" = 1 ] && [ -n "$(ls -A "$san" 2>/dev/null)" ]; then
		local keep
		keep="$log/sanitizer-$(echo "$name" | tr '/ ' '__')"
		mv "$san" "$keep"
		echo "FAIL $name: sanitizer report(s) in $keep:"
		cat "$keep"/* | grep -E 'ERROR|SUMMARY|runtime error|#[0-9] ' | head -n 20 | sed 's/^/    /'
		f=$((f + 1))
	fi
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
[ -f tests/fuzz/run.sh ] && run_one fuzz bash tests/fuzz/run.sh check
if [ "${SKIP_LAB:-0}" != 1 ]; then
	for t in tests/integration/*.sh; do
		n=$(basename "$t" .sh)
		if [ "$SANITIZE" = 1 ] && [ "${SAN_QUICK:-0}" = 1 ] && [[ " $SAN_SLOW " == *" $n "* ]]; then
			echo "== integration/$n: left out (SAN_QUICK=1)"
			continue
		fi
		if [ "$SANITIZE" = 1 ] && [[ " $PLAIN_ONLY " == *" $n "* ]]; then
			echo "== integration/$n: left out (plain pass only)"
			continue
		fi
		[ -f "$t" ] && run_one "integration/$n" bash "$t"
	done
fi

echo "durations: $(printf '%s\n' "${times[@]}" | sort -rn | head -n 5 | paste -sd, - | sed 's/,/, /g') (slowest)"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "logs: $log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
