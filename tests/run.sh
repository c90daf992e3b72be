#!/usr/bin/env bash
# Runs every test: unit binaries, state-machine scripts, config goldens, the
# fuzz corpora and a short fuzz smoke (tests/fuzz/run.sh), then the
# namespace-lab integration tests. Each test prints "PASS name" / "FAIL name: why"
# / "SKIP name: why"; the closing line is "N passed, N failed, N skipped".
#
# Honest counting: a SKIP not allowed for this environment (skip_allowed below)
# is a failure; an integration script (and the config and fuzz runners) declares
# its checks in a "# checks: N" header line, and printing fewer PASS/FAIL/SKIP
# lines than that is a failure (more is a note: raise N); a unit binary missing
# for a tests/unit/test_*.c, or a missing runner, is a failure; the fsm scripts
# run with -c, so a state no script enters fails.
#
# Names as arguments run only those tests: integration script names
# ("flows trace"), "unit/test_x", "unit" (every unit binary), "fsm-scripts",
# "config-golden", "fuzz". Without arguments, everything runs.
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
pass=0; fail=0; skipped=0; failed=(); times=()
selected_names=("$@")
declare -A selected_hit=()
selected() { # name [group]
	[ ${#selected_names[@]} -eq 0 ] && return 0
	local s
	for s in "${selected_names[@]}"; do
		[ "$s" = "$1" ] || [ "$s" = "${1#integration/}" ] || { [ -n "${2:-}" ] && [ "$s" = "$2" ]; } && { selected_hit[$s]=1; return 0; }
	done
	return 1
}

# The skips allowed here, an ERE over test names. Everything else that skips
# fails. A scenario adv.py marks known_bug skips only its one known failure:
# list its name here while that bug is open (none is today).
# - Under the sanitizers: RSS checks (ASan's quarantine holds freed memory) and
#   valgrind (it cannot run a sanitizer build).
# - Without them: the check that reads the daemon's sanitizer reports.
skip_allowed() { # name
	local ok
	if [ "$SANITIZE" = 1 ]; then
		ok='^(daemon-memory-rss|load-memory-bounded|valgrind-daemon-clean|valgrind-daemon-probed)$'
	else
		ok='^ctl-daemon-sanitizer-clean$'
	fi
	[[ $1 =~ $ok ]]
}

run_one() { # name declared-count|- command...
	local name=$1 want=$2; shift 2
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
	local p f s bad n sk
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=0; bad=0
	while read -r _ sk; do
		sk=${sk%%:*}; sk=${sk%% *}
		if skip_allowed "$sk"; then s=$((s + 1))
		else echo "FAIL $sk: unexpected skip (not allowed in this environment; see skip_allowed in tests/run.sh)"; bad=$((bad + 1)); fi
	done < <(grep '^SKIP ' "$out")
	f=$((f + bad))
	n=$((p + f + s))
	if [ "$want" = none ]; then
		echo "FAIL $name: the script declares no '# checks: N' line"; f=$((f + 1))
	elif [ "$want" != - ]; then
		if [ "$n" -lt "$want" ]; then
			echo "FAIL $name: ran $n of the $want checks it declares (# checks: in the script)"; f=$((f + 1))
		elif [ "$n" -gt "$want" ]; then
			echo "note: $name ran $n checks, declares $want: raise its '# checks:' line"
		fi
	fi
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
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
		echo "FAIL $name: ran no test case"; f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
	[ "$f" -gt 0 ] && failed+=("$name")
}

# The number a script declares in its "# checks: N" line, or "none".
declared() { # script
	local n
	n=$(sed -n 's/^# checks: \([0-9][0-9]*\)$/\1/p' "$1" | head -n 1)
	echo "${n:-none}"
}
# Missing pieces fail: nothing is dropped from the run silently.
missing() { # name what
	echo "== $1"; echo "FAIL $1: $2"; fail=$((fail + 1)); failed+=("$1")
}

for c in tests/unit/test_*.c; do
	t=$B/tests/$(basename "$c" .c)
	selected "unit/$(basename "$t")" unit || continue
	if [ -x "$t" ]; then run_one "unit/$(basename "$t")" - "$t"
	else missing "unit/$(basename "$t")" "$t not built (make unit)"; fi
done
if ! selected fsm-scripts; then :
elif [ -x "$B/tests/fsm_script" ]; then
	run_one fsm-scripts "$(($(ls tests/fsm/*.pkt | wc -l) + 1))" "$B/tests/fsm_script" -c tests/fsm/*.pkt
else missing fsm-scripts "$B/tests/fsm_script not built (make unit)"; fi
# One config check per golden .out file.
if ! selected config-golden; then :
elif [ -f tests/config/run.sh ]; then
	run_one config-golden "$(ls tests/config/*.out | wc -l)" bash tests/config/run.sh
else missing config-golden "tests/config/run.sh missing"; fi
if ! selected fuzz; then :
elif [ -f tests/fuzz/run.sh ]; then run_one fuzz "$(declared tests/fuzz/run.sh)" bash tests/fuzz/run.sh check
else missing fuzz "tests/fuzz/run.sh missing"; fi
if [ "${SKIP_LAB:-0}" != 1 ]; then
	for t in tests/integration/*.sh; do
		n=$(basename "$t" .sh)
		selected "integration/$n" || continue
		if [ "$SANITIZE" = 1 ] && [ "${SAN_QUICK:-0}" = 1 ] && [[ " $SAN_SLOW " == *" $n "* ]]; then
			echo "== integration/$n: left out (SAN_QUICK=1)"
			continue
		fi
		if [ "$SANITIZE" = 1 ] && [[ " $PLAIN_ONLY " == *" $n "* ]]; then
			echo "== integration/$n: left out (plain pass only)"
			continue
		fi
		run_one "integration/$n" "$(declared "$t")" bash "$t"
	done
fi

for s in "${selected_names[@]}"; do
	[ -n "${selected_hit[$s]:-}" ] || missing "$s" "no test of that name (tests/run.sh)"
done
echo "durations: $(printf '%s\n' "${times[@]}" | sort -rn | head -n 5 | paste -sd, - | sed 's/,/, /g') (slowest)"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "logs: $log"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
