#!/usr/bin/env bash
# A real Prometheus (Debian's package) scrapes a real tcpprobe daemon, both
# inside the lab's client namespace: the series it stores, rate() and
# histogram_quantile() over them, and the shipped alert rules evaluated on
# live data must agree with what the daemon itself reports.
# Prints PASS/FAIL/SKIP lines. Prometheus and the daemon listen on
# 127.0.0.1 of the client namespace only; the daemon probes lab addresses.
# checks: 10
set -u
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh

if ! command -v prometheus >/dev/null 2>&1; then
	dl_checks prometheus
	fail server "prometheus not installed (Debian package prometheus; make deps installs it)"
	exit 1
fi
dl_init prometheus
tmp=$DL_T

MPORT=9110 PPORT=9090 # free: the namespace is ours
INTERVAL_S=0.5
{
	dl_conf_daemon metrics_listen=127.0.0.1:$MPORT source_ports=20000-20999
	cat <<EOF
[defaults]
interval = 500ms
timeout = 200ms
retries = 1
time_wait = 200ms
fin_wait_2 = 1s

[target open4]
host = $LAB_S4
port = $LAB_PORT_OPEN

[target slow6]
host = $LAB_S6
port = $LAB_PORT_SLOWCLOSE

[target dropped]
host = $LAB_S4
port = $LAB_PORT_DROPPED
kind = syn
timeout = 100ms
EOF
} >"$tmp/tcpprobe.conf"
dl_start "$tmp/tcpprobe.conf" || { fail daemon "did not start"; exit 1; }

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $root/etc/prometheus/alerts.yml
scrape_configs:
  - job_name: tcpprobe
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
EOF
c() { dl_http "$@"; }
q() { dl_prom_q "$@"; }
if ! dl_prom_start "$PPORT"; then
	fail server "prometheus not ready after 30 s: $(tail -n 5 "$tmp/prometheus.log" | tr '\n' ' ')"
	exit 1
fi
pass server

# At least 12 scrapes with the daemon up (a 10 s rate() window), 40 s at most.
n=0
for _ in $(seq 1 80); do
	n=$(q 'sum(count_over_time(up{job="tcpprobe"}[1m])) and on() min_over_time(up{job="tcpprobe"}[1m]) == 1' \
		'int(float(r[0]["value"][1])) if r else 0' 2>/dev/null || echo 0)
	[ "$n" -ge 12 ] && break
	sleep 0.5
done
if [ "$n" -ge 12 ]; then pass scrapes
else fail scrapes "only $n successful scrapes; daemon log: $(tail -n 3 "$tmp/daemon.log" | tr '\n' ' ')"; exit 1; fi

scrape() { c -o "$1" "http://127.0.0.1:$MPORT/metrics"; }
# value of the first sample of $2 in exposition $1 (exact label string match)
val() { awk -v s="$2" 'index($0, s " ") == 1 { print $NF; exit }' "$1"; }

# ---- stored counter vs the daemon's counter now ----
# Prometheus holds the value of its last scrape; the daemon's counter can
# only have grown since, by at most one probe per interval plus one.
sel='tcpprobe_probes_total{target="open4",kind="handshake",result="ok"}'
pv=$(q "$sel" 'r[0]["value"][1] + " " + str(r[0]["value"][0]) if r else "none"')
scrape "$tmp/now.prom"
tnow=$(date +%s.%N)
dv=$(val "$tmp/now.prom" "$sel")
read -r pval pts <<<"$pv"
# (the query's timestamp is its evaluation time; the sample is up to one
# scrape interval older: 1 s more of slack)
max=$(awk -v p="$pval" -v a="$pts" -v b="$tnow" -v i="$INTERVAL_S" 'BEGIN { printf "%d", p + (b - a + 1) / i + 2 }')
if [ "$pv" != none ] && [ -n "$dv" ] && [ "$pval" -gt 0 ] && [ "$pval" -le "$dv" ] && [ "$dv" -le "$max" ]; then
	pass counter-matches
else fail counter-matches "prometheus $pval, daemon $dv (at most $max)"; fi

# the same for every tcpprobe_probes_total series: the same set of series,
# each within the same bound
q 'tcpprobe_probes_total' >/dev/null && cp "$tmp/q.json" "$tmp/all.json"
scrape "$tmp/now.prom"
if "$DL_PY" - "$tmp/all.json" "$tmp/now.prom" "$(date +%s.%N)" "$INTERVAL_S" >"$tmp/cmp.out" 2>&1 <<'EOF'; then pass counters-all; else fail counters-all "$(tail -n 3 "$tmp/cmp.out" | tr '\n' ' ')"; fi
import json, re, sys
now, interval = float(sys.argv[3]), float(sys.argv[4])
prom = {}
for x in json.load(open(sys.argv[1]))['data']['result']:
    m = x['metric']
    prom[(m['target'], m['kind'], m['result'])] = (float(x['value'][1]), float(x['value'][0]))
daemon = {}
for line in open(sys.argv[2]):
    m = re.match(r'tcpprobe_probes_total\{target="([^"]+)",kind="([^"]+)",result="([^"]+)"\} (\d+)$', line)
    if m:
        daemon[m.group(1, 2, 3)] = int(m.group(4))
assert set(prom) == set(daemon), 'series differ: %s' % (set(prom) ^ set(daemon))
for k, (v, ts) in prom.items():
    hi = v + (now - ts + 1) / interval + 2
    assert v <= daemon[k] <= hi, '%s: prometheus %g, daemon %d (at most %g)' % (k, v, daemon[k], hi)
print(len(prom), 'series agree')
EOF

# ---- rate(): one probe per 500 ms interval ----
r=$(q "rate(${sel}[10s])" 'r[0]["value"][1] if r else "none"')
if awk -v r="$r" 'BEGIN { exit !(r != "none" && r >= 1.2 && r <= 2.8) }'; then pass rate
else fail rate "rate = $r, want about 2/s (one probe per 500 ms)"; fi

# ---- histogram_quantile() lands in the bucket it must ----
# The bucket is found from the increases Prometheus stores, the way the
# format defines it: the first le whose cumulative count reaches 99 % of
# +Inf; and the daemon must have observations in that bucket.
hq=$(q 'histogram_quantile(0.99, rate(tcpprobe_handshake_duration_seconds_bucket{target="open4"}[10s]))' \
	'r[0]["value"][1] if r else "none"')
q 'increase(tcpprobe_handshake_duration_seconds_bucket{target="open4"}[10s])' \
	'[(x["metric"]["le"], x["value"][1]) for x in r]' >"$tmp/inc.txt"
scrape "$tmp/now.prom"
if "$DL_PY" - "$hq" "$tmp/inc.txt" "$tmp/now.prom" >"$tmp/hq.out" 2>&1 <<'EOF'; then pass histogram-quantile; else fail histogram-quantile "$(tail -n 3 "$tmp/hq.out" | tr '\n' ' ')"; fi
import ast, re, sys
hq = float(sys.argv[1])
inc = sorted((float(le), float(v)) for le, v in ast.literal_eval(open(sys.argv[2]).read()))
total = inc[-1][1]
assert total > 0, 'no handshakes in 10 s: %s' % inc
prev = 0.0
for le, v in inc:
    if v >= 0.99 * total:
        break
    prev = le
lo, hi = prev, le
assert lo <= hq <= hi, 'p99 %g outside its bucket (%g, %g]' % (hq, lo, hi)
# the daemon's own per-bucket counts (non-cumulative) in that bucket
cum = {}
for line in open(sys.argv[3]):
    m = re.match(r'tcpprobe_handshake_duration_seconds_bucket\{target="open4",le="([^"]+)"\} (\d+)$', line)
    if m:
        cum[float(m.group(1))] = int(m.group(2))
bounds = sorted(cum)
below = max([cum[b] for b in bounds if b < hi] or [0])
assert cum[hi] - below > 0, 'daemon has no observation in (%g, %g]: %s' % (lo, hi, cum)
print('p99 %g in (%g, %g]' % (hq, lo, hi))
EOF

# ---- every family and series arrives ----
scrape "$tmp/now.prom"
names=$(grep -v '^#' "$tmp/now.prom" | sed 's/[{ ].*//' | sort -u | tr '\n' ' ')
got=$(q 'count by (__name__) ({__name__=~"tcpprobe_.+"})' '" ".join(sorted(x["metric"]["__name__"] for x in r))')
if [ "$names" = "$got " ]; then pass families
else fail families "daemon: $names; prometheus: $got"; fi
lines=$(grep -vc '^#' "$tmp/now.prom")
ss=$(q 'scrape_samples_scraped{job="tcpprobe"}' 'r[0]["value"][1] if r else "none"')
if [ "$ss" = "$lines" ]; then pass series-count
else fail series-count "prometheus scraped $ss samples, the daemon has $lines"; fi

# ---- the shipped rules, evaluated on live data ----
c "http://127.0.0.1:$PPORT/api/v1/rules" >"$tmp/rules.json"
c "http://127.0.0.1:$PPORT/api/v1/alerts" >"$tmp/alerts.json"
if "$DL_PY" - "$tmp/rules.json" "$tmp/alerts.json" >"$tmp/rules.out" 2>&1 <<'EOF'; then pass rules-live; else fail rules-live "$(tail -n 3 "$tmp/rules.out" | tr '\n' ' ')"; fi
import json, sys
rules = [r for g in json.load(open(sys.argv[1]))['data']['groups'] for r in g['rules']]
assert len(rules) >= 6, 'only %d rules loaded' % len(rules)
bad = [(r['name'], r.get('lastError')) for r in rules if r.get('health') != 'ok']
assert not bad, 'rules not healthy: %s' % bad
alerts = json.load(open(sys.argv[2]))['data']['alerts']
have = {(a['labels']['alertname'], a['labels'].get('target')): a['state'] for a in alerts}
# "dropped" times out every probe (tcpprobe_up 0) and retransmits its SYN:
# both alerts are pending (their `for` is minutes); open targets have none.
for want in [('TcpprobeTargetDown', 'dropped'), ('TcpprobeSynRetransmitsRising', 'dropped')]:
    assert have.get(want) == 'pending', '%s: %s (alerts: %s)' % (want, have.get(want), have)
for a, t in have:
    assert t not in ('open4', 'slow6'), 'alert %s for healthy target %s' % (a, t)
print(have)
EOF

# ---- stop Prometheus by PID, then its data goes with $tmp ----
# SIGTERM, and Prometheus must exit by itself, with status 0, within 10 s
# (lab_kill_pids would SIGKILL it: that proves nothing about stopping).
if dl_prom_stop; then
	if [ "$DL_PROM_RC" = 0 ]; then pass stop; else fail stop "prometheus exited $DL_PROM_RC after SIGTERM"; fi
else fail stop "prometheus $DL_PROM_PID still running 10 s after SIGTERM"; fi
dl_done
