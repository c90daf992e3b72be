#!/usr/bin/env bash
# Remote write 1.0 (issue "Fleet scale") into a real Prometheus (Debian's
# 2.42, --web.enable-remote-write-receiver, no scrape job), both in the
# lab's client namespace:
#  a. Prometheus's query API returns the daemon's series with the target's
#     labels and the external_labels, and histograms as _bucket/_sum/_count
#  b. Prometheus stopped for 30 s and started again: the queued samples
#     arrive, no gap in tcpprobe_probes_total (consecutive samples at most
#     1.5 intervals apart), nothing dropped
#  c. a queue too small for the outage: what it lost is exactly what the
#     dropped counters say (Prometheus holds one sample per delivered
#     collection of a series present in every collection; collected =
#     sent + dropped + queued, in collections and in samples)
# Prints PASS/FAIL/SKIP lines.
# checks: 7
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
if ! command -v prometheus >/dev/null 2>&1; then
	dl_checks remote-write
	fail server "prometheus not installed (make deps)"
	exit 1
fi
dl_init remote-write

PPORT=9092
# The receiver on, no scrape job (prometheus.yml below).
prom_start() { dl_prom_start "$PPORT" --web.enable-remote-write-receiver; }
q() { dl_prom_q "$@"; }
rw() { ctl --json status | jpy "d['remote_write'][0]['$1']"; }
drained() { [ "$(rw queued_samples)" = 0 ]; }

printf 'global:\n  scrape_interval: 1m\n' >"$DL_T/prometheus.yml" # no scrape job
prom_start || { fail server "prometheus not ready: $(tail -5 "$DL_T/prometheus.log")"; exit 1; }
pass server

conf() { # QUEUE_MAX
	dl_conf_daemon source_ports=24000-24999
	dl_conf_defaults
	cat <<EOF

[target web]
host = $LAB_S4
port = $LAB_PORT_OPEN
labels = team=net

[remote_write prom]
url = http://127.0.0.1:$PPORT/api/v1/write
interval = 1s
timeout = 2s
external_labels = region=eu, prober=host1
queue_max = $1
EOF
}
conf 1000000 >"$DL_T/d.conf"
dl_start "$DL_T/d.conf" || { fail start "daemon did not start"; exit 1; }

# ---- a. series in Prometheus -----------------------------------------------------------
sel='tcpprobe_probes_total{target="web",team="net",kind="handshake",result="ok",region="eu",prober="host1"}'
if wait_until 15 q "$sel" 'int(float(r[0]["value"][1])) if r else exit(1)'; then pass series-with-external-labels
else fail series-with-external-labels "$(q '{prober="host1"}' 'len(r)') series from host1; $(ctl status | tail -3)"; fi
if q 'tcpprobe_handshake_duration_seconds_bucket{target="web",le="+Inf",region="eu"}' 'r[0]["value"][1]' >/dev/null 2>&1 &&
	q 'tcpprobe_handshake_duration_seconds_count{target="web",region="eu"}' 'r[0]["value"][1]' >/dev/null 2>&1; then
	pass histogram-classic-series
else fail histogram-classic-series "$(q '{__name__=~"tcpprobe_handshake.*",target="web"}' 'len(r)') series"; fi

# ---- b. 30 s outage, large queue -------------------------------------------------------
sleep 3
dl_prom_stop
t_stop=$(date +%s)
sleep 30
q0=$(rw queued_samples)
prom_start || { fail restart "prometheus not ready again"; exit 1; }
if wait_until 30 drained; then pass outage-queue-drained; note "queued during the 30 s outage: $q0 samples"
else fail outage-queue-drained "$(ctl status | tail -3)"; fi
gaps=$(q "$sel[$(($(date +%s) - t_stop + 20))s]" '
max(float(b[0]) - float(a[0]) for a, b in zip(r[0]["values"], r[0]["values"][1:]))')
# Samples stamped inside the outage: one per 1 s collection.
n=$(q "$sel[$(($(date +%s) - t_stop + 20))s]" "sum(1 for v in r[0]['values'] if $t_stop + 1 <= float(v[0]) <= $t_stop + 29)")
if [ -n "$gaps" ] && awk -v g="$gaps" 'BEGIN { exit !(g <= 1.5) }' && [ "${n:-0}" -ge 27 ] &&
	[ "$(rw dropped_samples)" = 0 ]; then
	pass outage-no-gap; note "$n samples stamped inside the 30 s outage, largest step ${gaps} s"
else fail outage-no-gap "largest step ${gaps:-?} s over ${n:-?} samples; dropped $(rw dropped_samples)"; fi
per=$(rw last_batch_samples)
dl_stop

# ---- c. a too-small queue --------------------------------------------------------------
# 5 collections' worth: a 15 s outage at 1 s loses about 10 of them.
qmax=$((5 * ${per:-100}))
dl_prom_stop; rm -rf "$DL_T/data"; prom_start || { fail restart2 "prometheus not ready"; exit 1; }
conf "$qmax" >"$DL_T/d2.conf"
dl_start "$DL_T/d2.conf" || { fail start2 "daemon did not start"; exit 1; }
wait_until 15 q 'tcpprobe_targets{prober="host1"}' 'r[0] if r else exit(1)'
sleep 1
dl_prom_stop
sleep 15
prom_start || { fail restart3 "prometheus not ready again"; exit 1; }
wait_until 30 drained
# Collections go on (1 s): Prometheus's count, taken between two status
# reads, lies between the two sent counts.
ctl --json status >"$DL_T/s1.json"
stored=$(q 'count_over_time(tcpprobe_targets{prober="host1"}[1h])' 'int(r[0]["value"][1]) if r else 0')
ctl --json status >"$DL_T/s2.json"
res=$("$DL_PY" - "$DL_T/s1.json" "$DL_T/s2.json" "$stored" "$qmax" <<'EOF'
import json, sys
a, b = (json.loads(open(f).readline())["remote_write"][0] for f in sys.argv[1:3])
stored = int(sys.argv[3])
ok = (a["dropped_batches"] > 0 and b["dropped_batches"] == a["dropped_batches"]
      and a["sent_batches"] <= stored <= b["sent_batches"]
      and a["collected_batches"] == a["sent_batches"] + a["dropped_batches"] + a["queued_batches"]
      and a["collected_samples"] == a["sent_samples"] + a["dropped_samples"] + a["queued_samples"]
      + a["rejected_samples"] and a["queued_samples"] <= int(sys.argv[4]))
print("ok" if ok else "bad", "stored", stored, {k: a[k] for k in a if k.endswith(("batches", "samples"))})
EOF
)
if [ "${res%% *}" = ok ]; then pass small-queue-drops-counted; note "${res#ok }"
else fail small-queue-drops-counted "$res"; fi
if ctl metrics | grep -q '^tcpprobe_remote_write_dropped_samples_total{remote="prom"} [1-9]'; then
	pass dropped-metric
else fail dropped-metric "$(ctl metrics | grep remote_write | head -3)"; fi
dl_stop
dl_prom_stop
dl_done
