#!/usr/bin/env bash
# `make bench`, section statuspage: the status page's `/` for 10,000 targets
# that have been probing 13 s every second into 1 s status buckets (so every
# row's sparkline has 12-13 points, as an hour of 5 min buckets does, and
# walks the 288 buckets a 1 s width puts in its hour): loop time spent
# rendering (the Server-Timing header the daemon sends: measured around the
# render on the loop) and bytes, for the default page (500 rows), the
# largest page (5,000 rows), a name filter (scans all 10,000) and one
# target's page. GET /metrics of the same daemon for comparison. Each
# figure is the median of 5 requests [min-max]. Fails (exit 1) when `/`
# takes more than 200 ms of loop time.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
N=${STATUSPAGE_BENCH_TARGETS:-10000}
dl_init spbench
URL=http://127.0.0.1:9110
{
	dl_conf_daemon metrics_listen=127.0.0.1:9110 max_inflight=20000 pps=20000 log_level=warning \
		status_bucket=1s
	printf '[defaults]\nkind = syn\ninterval = 1s\ntime_wait = 1s\n\n'
	for ((i = 0; i < N; i++)); do
		printf '[target t%05d]\nhost = %s\nport = %d\nlabels = team=t%d\n\n' \
			"$i" "$LAB_S4" $((9000 + i % 1000)) $((i % 10))
	done
} >"$DL_T/bench.conf"
dl_start "$DL_T/bench.conf" || { echo "statuspage bench: daemon did not start" >&2; exit 1; }
total() { ctl --json status | jpy 'd["probes_started"]'; }
enough() { [ "$(total)" -ge $((N * 13)) ]; }
wait_until 90 enough || echo "statuspage bench: fewer than $((N * 13)) probes after 90 s" >&2

measure() { # LABEL PATH: median [min-max] render ms and the body size
	local label=$1 path=$2 ms=() size i
	for i in 1 2 3 4 5; do
		ms+=("$(lab_cexec curl -sS --max-time 30 -D - -o "$DL_T/body" "$URL$path" |
			tr -d '\r' | sed -n 's/^[Ss]erver-[Tt]iming: render;dur=//p')")
	done
	size=$(stat -c %s "$DL_T/body")
	printf '%s\n' "${ms[@]}" | sort -n | awk -v l="$label" -v s="$size" '
		{ v[NR] = $1 } END { printf "%s|%.1f|%.1f|%.1f|%d\n", l, v[3], v[1], v[5], s }'
}
metrics_ms() { # GET /metrics wall time (render + transfer), median of 5
	local i
	for i in 1 2 3 4 5; do
		lab_cexec curl -sS --max-time 30 -o /dev/null -w '%{time_total}\n' "$URL/metrics"
	done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f\n", v[3] * 1000 }'
}
{
	measure "/ (first 500 of $N rows)" "/"
	measure "/?n=2000 (2,000 rows, the largest page)" "/?n=2000"
	measure "/?label=team=t3 (filter, 1,000 rows)" "/?label=team%3Dt3&n=2000"
	measure "/target/t00042" "/target/t00042"
} >"$DL_T/rows"
mx=$(metrics_ms)
echo
echo "| status page, $N targets | render ms median [min–max] | bytes |"
echo "|---|---|---|"
awk -F'|' '{ printf "| `%s` | %s [%s–%s] | %d |\n", $1, $2, $3, $4, $5 }' "$DL_T/rows"
echo "| GET /metrics (for comparison: whole request) | $mx | |"
worst=$(awk -F'|' 'NR <= 3 && $2 > m { m = $2 } END { print m + 0 }' "$DL_T/rows")
printf '{"targets": %d, "rows": "%s", "metrics_ms": %s}\n' "$N" \
	"$(tr '\n' ';' <"$DL_T/rows")" "$mx" >"$DL_ROOT/${B:-build}/bench-statuspage.json"
dl_stop
if awk -v w="$worst" 'BEGIN { exit !(w <= 200) }'; then
	echo "statuspage bench: / renders in at most $worst ms of loop time (<= 200 ms)"
else
	echo "statuspage bench: / took $worst ms of loop time (> 200 ms)"
	exit 1
fi
