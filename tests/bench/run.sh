#!/usr/bin/env bash
# `make bench`: tcpprobe's benchmarks in the namespace lab (see bench.py).
# Prints a Markdown table; raw figures go to $B/bench.json.
#
#   BENCH_REPS=3              runs per figure (median, min, max)
#   BENCH_ONLY=throughput,accuracy,scale,discovery   sections to run
#
# Every packet stays between the lab's two namespaces: the client namespace
# has no default route, and every tool is pointed at lab addresses only.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
BIN=${TCPPROBE:-$PWD/$B/tcpprobe}
CC=${CC:-cc}
SINK_LO=7000 SINK_HI=7003
export SINK_LO SINK_HI

[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces, raw sockets)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench: $BIN not built" >&2; exit 1; }
mkdir -p "$B/bench"
BD=$(cd "$B/bench" && pwd)
for p in sink connect_epoll; do
	"$CC" -O2 -g -std=gnu17 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$BD/$p" \
		"tests/bench/$p.c" || exit 1
done
for t in zmap hping3 nping wrk prometheus-blackbox-exporter; do
	command -v "$t" >/dev/null 2>&1 || echo "bench: $t not installed (make deps-bench); its baseline is skipped" >&2
done

source tests/lab/lab.sh
trap 'lab_down' EXIT
trap 'exit 130' INT TERM
lab_up || { echo "bench: lab did not come up" >&2; exit 1; }
# More room for the kernel's side of the benchmarks, in the lab only.
ip netns exec "$LAB_SNS" sysctl -qw net.ipv4.tcp_max_tw_buckets=2000000

lab_sbg "$BD/sink" "$SINK_LO" "$SINK_HI" "$$" 900 >"$LAB_DIR/sink.out" 2>"$LAB_DIR/sink.err"
for _ in $(seq 1 50); do grep -q '^ready' "$LAB_DIR/sink.out" && break; sleep 0.1; done
grep -q '^ready' "$LAB_DIR/sink.out" || { echo "bench: sink did not start: $(cat "$LAB_DIR/sink.err")" >&2; exit 1; }

# Bounded: the whole run is meant to take under 10 minutes.
timeout --kill-after=20 900 "$LAB_PY" tests/bench/bench.py --bin "$BIN" --epoll "$BD/connect_epoll" \
	--json "$B/bench.json" --reps "${BENCH_REPS:-3}" --only "${BENCH_ONLY:-throughput,accuracy,scale}"
rc=$?
# http_sd at scale (issue "Fleet scale"): 10,000 targets, refreshes changing
# 1% of them: <= 100 ms of loop time each, no probe of an unchanged target
# lost or delayed (judged from a capture); its own lab. Figures in
# $B/discovery_scale.json.
if [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *,discovery,* ]]; then
	lab_down
	DISCOVERY_SCALE_JSON=$PWD/$B/discovery_scale.json B=$B TCPPROBE=$BIN \
		bash tests/bench/discovery_scale.sh || rc=1
fi
# The status page's `/` for 10,000 targets (issue "status page"): render
# time and size, <= 200 ms of loop time; its own lab.
if [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *,statuspage,* ]]; then
	lab_down
	B=$B TCPPROBE=$BIN bash tests/bench/statuspage.sh || rc=1
fi
exit $rc
