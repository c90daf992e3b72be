#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/fuzz_*.c, built into build/fuzz/ by `make fuzzers`).
#
#   tests/fuzz/run.sh check [TARGET...]   what `make check` runs: builds the fuzzers,
#       runs every file of tests/fuzz/corpus/TARGET/ once (regression inputs, the
#       regress-* files among them), then fuzzes each target for
#       FUZZ_SMOKE_SECONDS (10) from that corpus, FUZZ_JOBS (nproc, at most 4) at a
#       time. Prints PASS/FAIL fuzz-TARGET-corpus and fuzz-TARGET-smoke. An input
#       the smoke run finds crashing is copied to
#       tests/fuzz/corpus/TARGET/regress-<kind>-<sha1>: commit it with the fix,
#       and every later `make check` replays it. A missing clang or libFuzzer
#       runtime is a FAIL: `make deps` installs both.
#   tests/fuzz/run.sh fuzz [TARGET...]    what `make fuzz` runs: each target for
#       FUZZ_SECONDS (60), FUZZ_JOBS (nproc) at a time. New inputs go to
#       build/fuzz/corpus/TARGET/, crashes to build/fuzz/crashes/TARGET-*, logs to
#       build/fuzz/logs/. Prints executions and executions/s per target.
#
# A crash: reproduce with build/fuzz/fuzz_TARGET FILE, fix, then keep FILE as
# tests/fuzz/corpus/TARGET/regress-WHAT so the corpus run catches a relapse.
# checks: 10
set -u
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
mode=${1:-check}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(packet fsm trace config ctlproto)
FUZZ_CC=${FUZZ_CC:-clang-14}
out=$root/build/fuzz

# Largest input per target: an IP packet we parse, 256 fsm events, 512 trace
# events, a config file, and a control stream longer than CTL_LINE_MAX (4096).
max_len() {
	case $1 in
	packet) echo 4096 ;; fsm) echo 2048 ;; trace) echo 4096 ;; config) echo 8192 ;;
	ctlproto) echo 9000 ;;
	*) echo 4096 ;;
	esac
}

# Flags for every run: a hang is a bug (nothing here loops on its input).
common_flags() { # target
	local f=(-timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$1")")
	[ -f "tests/fuzz/$1.dict" ] && f+=(-dict="tests/fuzz/$1.dict")
	printf '%s\n' "${f[@]}"
}

# The first lines worth showing from a failed run's log.
why() { # log
	grep -m 8 -E 'invariant failed|ERROR: |SUMMARY: |runtime error|Test unit written|differs|does not load|deadly signal' "$1" |
		sed 's/^/    /' | grep . || tail -n 5 "$1" | sed 's/^/    /'
}

toolchain() {
	if ! command -v "$FUZZ_CC" >/dev/null; then
		echo "FAIL fuzz-toolchain: $FUZZ_CC not found (make deps installs clang)"
		return 1
	fi
	local rt
	rt=$("$FUZZ_CC" --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-$(uname -m).a
	if [ ! -f "$rt" ]; then
		echo "FAIL fuzz-toolchain: no libFuzzer runtime ($rt; make deps installs libclang-rt-14-dev)"
		return 1
	fi
}

build() {
	local log
	log=$(mktemp)
	if ! make --no-print-directory -s -C "$root" FUZZ_CC="$FUZZ_CC" fuzzers >"$log" 2>&1; then
		echo "FAIL fuzz-build: make fuzzers failed:"
		tail -n 20 "$log" | sed 's/^/    /'
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

# The smoke run of one target; its exit status in $tmp/T.smoke-rc. Crash
# inputs land in $tmp/crashes-T/ (fresh per run).
smoke() { # tmp target secs
	local tmp=$1 t=$2 secs=$3 flags
	mapfile -t flags < <(common_flags "$t")
	mkdir -p "$tmp/corpus-$t" "$tmp/crashes-$t"
	"$out/fuzz_$t" "${flags[@]}" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$tmp/crashes-$t/" "$tmp/corpus-$t" "tests/fuzz/corpus/$t" \
		>"$tmp/$t-smoke.log" 2>&1
	echo $? >"$tmp/$t.smoke-rc"
}

check() {
	local tmp t bin fail=0 secs=${FUZZ_SMOKE_SECONDS:-10} jobs running=0 f keep
	jobs=${FUZZ_JOBS:-$(nproc)}
	[ "$jobs" -gt 4 ] && jobs=4
	toolchain && build || return 1
	tmp=$(mktemp -d /tmp/tcpprobe-fuzz.XXXXXX)
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	for t in "${targets[@]}"; do
		bin=$out/fuzz_$t
		mapfile -t flags < <(common_flags "$t")
		mapfile -t files < <(find "tests/fuzz/corpus/$t" -type f 2>/dev/null | sort)
		if [ ${#files[@]} -eq 0 ]; then
			echo "FAIL fuzz-$t-corpus: tests/fuzz/corpus/$t/ is empty"
			fail=1
		elif "$bin" "${flags[@]}" "${files[@]}" >"$tmp/$t-corpus.log" 2>&1; then
			echo "PASS fuzz-$t-corpus (${#files[@]} inputs)"
		else
			echo "FAIL fuzz-$t-corpus: an input crashes or breaks an invariant"
			why "$tmp/$t-corpus.log"
			fail=1
		fi
	done
	# The smoke runs, FUZZ_JOBS at a time: 5 x 10 s is 30 s on 2 cores.
	for t in "${targets[@]}"; do
		smoke "$tmp" "$t" "$secs" &
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
	done
	wait
	for t in "${targets[@]}"; do
		if [ "$(cat "$tmp/$t.smoke-rc" 2>/dev/null)" = 0 ] && grep -q '^Done [0-9]* runs' "$tmp/$t-smoke.log"; then
			echo "PASS fuzz-$t-smoke ($(stats "$tmp/$t-smoke.log"), ${secs} s)"
			continue
		fi
		# Keep what it found as a regression input of the corpus.
		keep=
		for f in "$tmp/crashes-$t"/*; do
			[ -f "$f" ] || continue
			cp "$f" "tests/fuzz/corpus/$t/regress-$(basename "$f")"
			keep="$keep tests/fuzz/corpus/$t/regress-$(basename "$f")"
		done
		echo "FAIL fuzz-$t-smoke: crash in ${secs}s of fuzzing; kept as${keep:- (no input written)}: fix, then commit it"
		why "$tmp/$t-smoke.log"
		fail=1
	done
	return $fail
}

# "N execs, M exec/s" from a libFuzzer log (final stats, else the last status line).
stats() { # log
	awk '
		/^stat::number_of_executed_units:/ { n = $2 }
		/^stat::average_exec_per_sec:/ { s = $2 }
		/^Done [0-9]+ runs in [0-9]+ second/ { if (n == "") n = $2; secs = $5 }
		/^#[0-9]+\t/ { last = substr($1, 2); for (i = 1; i <= NF; i++) if ($i == "exec/s:") ls = $(i + 1) }
		END {
			if (n == "") n = last; if (s == "") s = ls
			if (n == "") n = "?"; if (s == "") s = "?"
			printf "%s execs, %s exec/s", n, s
		}' "$1"
}

fuzz() {
	local secs=${FUZZ_SECONDS:-60} jobs=${FUZZ_JOBS:-$(nproc)} t bin fail=0
	toolchain && build || return 1
	mkdir -p "$out/crashes" "$out/logs"
	echo "fuzzing ${targets[*]} for ${secs}s each, $jobs at a time"
	run_target() { # target
		local t=$1 bin=$out/fuzz_$1
		mkdir -p "$out/corpus/$t"
		mapfile -t flags < <(common_flags "$t")
		"$bin" "${flags[@]}" -max_total_time="$secs" -print_final_stats=1 \
			-artifact_prefix="$out/crashes/$t-" "$out/corpus/$t" "tests/fuzz/corpus/$t" \
			>"$out/logs/$t.log" 2>&1
		echo $? >"$out/logs/$t.rc"
	}
	local running=0
	for t in "${targets[@]}"; do
		run_target "$t" &
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then
			wait -n
			running=$((running - 1))
		fi
	done
	wait
	printf '%-16s %14s %10s %8s  %s\n' target executions exec/s corpus result
	for t in "${targets[@]}"; do
		local log=$out/logs/$t.log rc st n s c
		rc=$(cat "$out/logs/$t.rc" 2>/dev/null || echo 1)
		st=$(stats "$log")
		n=${st%% execs*}
		s=${st#*, }; s=${s% exec/s}
		c=$(find "$out/corpus/$t" -type f | wc -l)
		if [ "$rc" -eq 0 ]; then
			printf '%-16s %14s %10s %8s  %s\n' "fuzz_$t" "$n" "$s" "$c" ok
		else
			printf '%-16s %14s %10s %8s  %s\n' "fuzz_$t" "$n" "$s" "$c" "CRASH (see $log)"
			why "$log"
			fail=1
		fi
	done
	return $fail
}

case $mode in
check) check ;;
fuzz) fuzz ;;
*) echo "usage: $0 check|fuzz [TARGET...]" >&2; exit 2 ;;
esac
