#!/usr/bin/env bash
# tcpprobe's Prometheus side.
#  1. promtool on etc/prometheus/: the scrape config, the alert rules and
#     their unit tests (alerts_test.yml).
#  2. promtool check metrics on a sample exposition written by test_metrics.
#  3. In the namespace lab, the daemon's /metrics: status, content type,
#     promtool-clean, gzip, HEAD, 404/405, a bind error, and values that
#     agree with the probes' known outcomes and with `tcpprobe ctl --json`.
# Prints PASS/FAIL/SKIP lines. Everything runs inside namespaces the lab
# creates: the daemon, curl and the targets (lab addresses only).
# checks: 20
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_init metrics
B=${B:-build}
BIN=$DL_BIN PY=$DL_PY tmp=$DL_T
PROM=$PWD/etc/prometheus

# ---- 1. promtool on the shipped files ------------------------------------
promtool_run() { # name command...
	local name=$1 out; shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -n 8 | tr '\n' ' ')"; fi
}
if ! command -v promtool >/dev/null 2>&1; then
	fail promtool "promtool not installed (Debian package prometheus; make deps installs it)"
	exit 1
fi
promtool_run check-config promtool check config "$PROM/prometheus.yml"
promtool_run check-rules promtool check rules "$PROM/alerts.yml"
promtool_run test-rules promtool test rules "$PROM/alerts_test.yml"

# check metrics: lint problems are printed; a clean exposition prints nothing.
lint() { # file -> 0 if clean; problems in $tmp/lint
	promtool check metrics <"$1" >"$tmp/lint" 2>&1 && [ ! -s "$tmp/lint" ]
}

# ---- 2. a sample exposition from the unit test ---------------------------
if [ -x "$B/tests/test_metrics" ]; then
	if METRICS_SAMPLE_OUT=$tmp/sample.prom "$B/tests/test_metrics" >"$tmp/unit.out" 2>&1 &&
		[ -s "$tmp/sample.prom" ]; then
		if lint "$tmp/sample.prom"; then pass sample-lint
		else fail sample-lint "$(head -n 5 "$tmp/lint" | tr '\n' ' ')"; fi
	else
		fail sample-lint "test_metrics failed: $(grep FAIL "$tmp/unit.out" | head -n 3)"
	fi
else
	fail sample-lint "$B/tests/test_metrics not built (make unit)"
fi

# ---- 3. the daemon in the lab --------------------------------------------
if ! [ -x "$BIN" ] || ! "$BIN" daemon -h >/dev/null 2>&1; then
	fail lab "$BIN daemon does not run"
	exit 1
fi

MPORT=9110 # the default metrics port, free: the namespace is ours
URL=http://127.0.0.1:$MPORT
{
	dl_conf_daemon metrics_listen=127.0.0.1:$MPORT source_ports=20000-20999 log_level=debug
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

[target syn-any4]
host = $LAB_ANY4
port = $LAB_PORT_OPEN
kind = syn

[target refused]
host = $LAB_S4
port = $LAB_PORT_CLOSED

[target dropped]
host = $LAB_S4
port = $LAB_PORT_DROPPED
kind = syn
timeout = 100ms

[target unreach]
host = $LAB_S4
port = $LAB_PORT_UNREACH
kind = syn

[target fin-closed]
host = $LAB_S4
port = $LAB_PORT_CLOSED
kind = fin
EOF
} >"$tmp/tcpprobe.conf"
NTARGETS=7

if ! "$BIN" daemon -n -c "$tmp/tcpprobe.conf" >"$tmp/check.out" 2>&1; then
	fail config "daemon -n: $(head -n 3 "$tmp/check.out")"
	exit 1
fi
if ! dl_start "$tmp/tcpprobe.conf" "$tmp/daemon.log"; then
	fail start "the daemon did not start: $(tail -n 5 "$tmp/daemon.log" | tr '\n' ' ')"
	exit 1
fi
DPID=$DL_PID
c() { dl_http "$@"; }

up=0
for _ in $(seq 1 100); do
	kill -0 "$DPID" 2>/dev/null || break
	c -o /dev/null "$URL/metrics" 2>/dev/null && { up=1; break; }
	sleep 0.1
done
if [ "$up" != 1 ]; then
	fail start "no /metrics on $URL; daemon log: $(tail -n 5 "$tmp/daemon.log" | tr '\n' ' ')"
	exit 1
fi
pass start

# A Python helper: values out of an exposition.
cat >"$tmp/prom.py" <<'EOF'
import re, sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')

def parse(path):
    out = []
    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        if not line or line.startswith('#'):
            continue
        m = LINE.match(line)
        if not m:
            sys.exit('bad line: ' + line)
        labels = {}
        if m.group(3):
            for k, v in LABEL.findall(m.group(3)):
                labels[k] = v.replace('\\n', '\n').replace('\\"', '"').replace('\\\\', '\\')
        out.append((m.group(1), labels, float(m.group(4))))
    return out

def query(samples, spec):
    """name[,k=v...] -> sum of the matching samples, or 'none'."""
    parts = spec.split(',')
    want = dict(p.split('=', 1) for p in parts[1:])
    vals = [v for n, l, v in samples if n == parts[0] and all(l.get(k) == x for k, x in want.items())]
    return sum(vals) if vals else None

if __name__ == '__main__':
    s = parse(sys.argv[1])
    for spec in sys.argv[2:]:
        v = query(s, spec)
        print('none' if v is None else ('%d' % v if v == int(v) else repr(v)))
EOF
mv_() { "$PY" "$tmp/prom.py" "$@"; } # FILE SPEC... -> one value per line
mv1() { mv_ "$@" | head -n 1; }

scrape() { c -D "$tmp/hdr" -o "$tmp/body" "$@" "$URL/metrics"; }
hdr() { # header name -> value (last response in $tmp/hdr)
	tr -d '\r' <"$tmp/hdr" | awk -v h="$1" 'BEGIN { IGNORECASE = 1 } index(tolower($0), tolower(h) ":") == 1 { sub(/^[^:]*: */, ""); print; exit }'
}
status() { tr -d '\r' <"$tmp/hdr" | awk 'NR == 1 { print $2 }'; }

# Wait until every target has a few results (bounded: 20 s).
ready=0
for _ in $(seq 1 100); do
	if scrape 2>/dev/null; then
		n=$(mv_ "$tmp/body" "tcpprobe_probes_total,target=open4,result=ok" \
			"tcpprobe_probes_total,target=slow6,result=ok" \
			"tcpprobe_probes_total,target=syn-any4,result=ok" \
			"tcpprobe_probes_total,target=refused,result=refused" \
			"tcpprobe_probes_total,target=dropped,result=timeout" \
			"tcpprobe_probes_total,target=unreach,result=unreachable" \
			"tcpprobe_probes_total,target=fin-closed,result=closed" | awk '$1 != "none" && $1 >= 3' | wc -l)
		[ "$n" = 7 ] && { ready=1; break; }
	fi
	sleep 0.2
done
if [ "$ready" = 1 ]; then pass results-arrive
else fail results-arrive "not every target has 3 results after 20 s: $(grep '^tcpprobe_probes_total' "$tmp/body" | grep -v ' 0$' | tr '\n' ' ')"; fi

# ---- HTTP behaviour ----
scrape
ct=$(hdr Content-Type)
if [ "$(status)" = 200 ] && [ "$ct" = "text/plain; version=0.0.4; charset=utf-8" ] &&
	[ -z "$(hdr Content-Encoding)" ]; then pass get
else fail get "status $(status), Content-Type '$ct', Content-Encoding '$(hdr Content-Encoding)'"; fi

cp "$tmp/body" "$tmp/plain.prom"
if lint "$tmp/plain.prom"; then pass lint
else fail lint "$(head -n 5 "$tmp/lint" | tr '\n' ' ')"; fi

# gzip: raw bytes must be gzip, and decompress to a clean exposition
scrape -H 'Accept-Encoding: gzip'
if [ "$(status)" = 200 ] && [ "$(hdr Content-Encoding)" = gzip ] &&
	gzip -dc <"$tmp/body" >"$tmp/gz.prom" 2>/dev/null && lint "$tmp/gz.prom" &&
	[ "$(wc -c <"$tmp/body")" -lt "$(wc -c <"$tmp/gz.prom")" ]; then
	pass gzip
else fail gzip "status $(status), Content-Encoding '$(hdr Content-Encoding)', $(wc -c <"$tmp/body") bytes"; fi
# curl --compressed (deflate, gzip, br offered) and an explicit refusal
scrape --compressed
if [ "$(hdr Content-Encoding)" = gzip ] && lint "$tmp/body"; then pass gzip-curl-compressed
else fail gzip-curl-compressed "Content-Encoding '$(hdr Content-Encoding)'"; fi
scrape -H 'Accept-Encoding: gzip;q=0, identity'
if [ -z "$(hdr Content-Encoding)" ] && lint "$tmp/body"; then pass gzip-q0-refused
else fail gzip-q0-refused "Content-Encoding '$(hdr Content-Encoding)' for gzip;q=0"; fi

# HEAD: 200, the headers of a GET, no body. The GET's body is sent in
# pieces (chunked), so neither says a length.
got=$(c --head -o /dev/null -D "$tmp/hdr" -w '%{size_download}' "$URL/metrics")
hs=$(status) hct=$(hdr Content-Type) hcl=$(hdr Content-Length)
scrape
te=$(hdr Transfer-Encoding)
if [ "$hs" = 200 ] && [ "$hct" = "text/plain; version=0.0.4; charset=utf-8" ] && [ -z "$hcl" ] &&
	[ "$got" = 0 ] && [ "$(status)" = 200 ] && [ "$te" = chunked ] && lint "$tmp/body"; then pass head
else fail head "HEAD: status $hs, Content-Type '$hct', Content-Length '$hcl', $got body bytes; GET: status $(status), Transfer-Encoding '$te'"; fi

bad=""
for m in POST PUT DELETE PATCH OPTIONS; do
	c -X "$m" -o /dev/null -D "$tmp/hdr" "$URL/metrics"
	[ "$(status)" = 405 ] && [ "$(hdr Allow)" = "GET, HEAD" ] || bad="$bad $m:$(status):'$(hdr Allow)'"
done
if [ -z "$bad" ]; then pass method-405; else fail method-405 "$bad"; fi

bad=""
for p in /nope /metrics/ /metricsx "/metrics/../x"; do
	c -o /dev/null -D "$tmp/hdr" --path-as-is "$URL$p"
	[ "$(status)" = 404 ] || bad="$bad $p:$(status)"
done
if [ -z "$bad" ]; then pass not-found-404; else fail not-found-404 "$bad"; fi
# a query string is still /metrics
c -o /dev/null -D "$tmp/hdr" "$URL/metrics?x=1"
if [ "$(status)" = 200 ]; then pass query-string; else fail query-string "status $(status)"; fi

c -D "$tmp/hdr" -o "$tmp/index" "$URL/"
if [ "$(status)" = 200 ] && grep -q 'href="/metrics"' "$tmp/index"; then pass index
else fail index "status $(status)"; fi

# A second daemon on the same metrics port fails with the address and errno.
# No RST guard and no targets: it must not touch the first one's state.
dl_conf_daemon control_socket="$tmp/second.sock" metrics_listen=127.0.0.1:$MPORT \
	source_ports=21000-21099 rst_guard=none >"$tmp/second.conf"
DL_RUN_SECONDS=10 dl_run "$tmp/second.conf" "$tmp/second.log"
rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] &&
	grep -q "metrics_listen 127.0.0.1:$MPORT: Address already in use" "$tmp/second.log"; then
	pass bind-error
else fail bind-error "exit $rc: $(tail -n 3 "$tmp/second.log" | tr '\n' ' ')"; fi
kill -0 "$DPID" 2>/dev/null || fail bind-error "the first daemon died"

# ---- values ----
scrape
f=$tmp/body
why=""
expect() { # spec op value
	local v
	v=$(mv1 "$f" "$1")
	if [ "$v" = none ] || ! awk -v a="$v" -v b="$3" -v op="$2" 'BEGIN {
		exit !((op == "==" && a == b) || (op == ">" && a > b) || (op == ">=" && a >= b)) }'; then
		why="$why $1=$v (want $2 $3);"
	fi
}
# Outcomes the lab guarantees; nothing else happened.
expect "tcpprobe_probes_total,target=open4,result=ok" ">" 0
for r in refused timeout unreachable reset error; do
	expect "tcpprobe_probes_total,target=open4,result=$r" "==" 0
done
expect "tcpprobe_probes_total,target=refused,result=ok" "==" 0
expect "tcpprobe_probes_total,target=dropped,result=ok" "==" 0
expect "tcpprobe_probes_total,target=fin-closed,kind=fin,result=silent" "==" 0
expect "tcpprobe_up,target=open4" "==" 1
expect "tcpprobe_up,target=slow6" "==" 1
expect "tcpprobe_up,target=refused" "==" 0
expect "tcpprobe_up,target=dropped" "==" 0
expect "tcpprobe_up,target=fin-closed" "==" 1
expect "tcpprobe_syn_retransmits_total,target=dropped" ">" 0
expect "tcpprobe_syn_retransmits_total,target=open4" "==" 0
expect "tcpprobe_target_paused,target=open4" "==" 0
expect "tcpprobe_targets" "==" "$NTARGETS"
expect "tcpprobe_packets_sent_total" ">" 0
expect "tcpprobe_packets_received_total" ">" 0
expect "tcpprobe_resident_memory_bytes" ">" 1000000
expect "tcpprobe_last_success_timestamp_seconds,target=open4" ">" "$(($(date +%s) - 60))"
expect "tcpprobe_start_time_seconds" ">" "$(($(date +%s) - 600))"
if [ -n "$why" ]; then fail values "$why"; else pass values; fi

why=""
# Histograms agree with the counters of the same scrape: every ok handshake
# probe has a handshake time and a close; the close has its three phases.
for t in open4 slow6; do
	ok=$(mv1 "$f" "tcpprobe_probes_total,target=$t,result=ok")
	expect "tcpprobe_handshake_duration_seconds_count,target=$t" "==" "$ok"
	expect "tcpprobe_handshake_duration_seconds_bucket,target=$t,le=+Inf" "==" "$ok"
	# a result is reported once its close is over: every ok has its close
	cok=$(mv1 "$f" "tcpprobe_close_total,target=$t,result=ok")
	expect "tcpprobe_close_total,target=$t,result=ok" "==" "$ok"
	for ph in fin_ack total; do
		expect "tcpprobe_close_duration_seconds_count,target=$t,phase=$ph" "==" "$cok"
	done
done
ok=$(mv1 "$f" "tcpprobe_probes_total,target=syn-any4,result=ok")
expect "tcpprobe_handshake_duration_seconds_count,target=syn-any4" "==" "$ok"
# slow6's server closes 200 ms after our FIN: fin_wait_2 must say so
expect "tcpprobe_close_duration_seconds_sum,target=slow6,phase=fin_wait_2" ">" \
	"$(awk -v n="$(mv1 "$f" "tcpprobe_close_duration_seconds_count,target=slow6,phase=fin_wait_2")" 'BEGIN { print n * 0.15 }')"
expect "tcpprobe_close_duration_seconds_bucket,target=slow6,phase=fin_wait_2,le=0.1" "==" 0
# Cumulative buckets never decrease, and the le labels are the default bounds.
if ! "$PY" - "$f" "$tmp/prom.py" <<'EOF'; then why="$why buckets not cumulative or wrong bounds;"; fi
import sys
sys.path.insert(0, sys.argv[2].rsplit('/', 1)[0])
import prom
want = ['5e-05', '0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025',
        '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '+Inf']
series = {}
for n, l, v in prom.parse(sys.argv[1]):
    if n.endswith('_bucket'):
        key = (n, tuple(sorted((k, x) for k, x in l.items() if k != 'le')))
        series.setdefault(key, []).append((l['le'], v))
for key, b in series.items():
    if [le for le, _ in b] != want or any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
        sys.exit('%s: %s' % (key, b))
EOF
# The peer's SYN/ACK as Linux sends it on a 1500-byte veth.
if ! grep -qE '^tcpprobe_peer_info\{target="open4",mss="1460",wscale="[0-9]+",sack="true",timestamps="true"\} 1$' "$f"; then
	why="$why peer_info: $(grep '^tcpprobe_peer_info{target="open4"' "$f");"
fi
expect "tcpprobe_peer_ttl,target=open4" "==" 64
expect "tcpprobe_peer_ttl,target=slow6" "==" 64
if grep -q '^tcpprobe_peer_info{target="dropped"' "$f"; then why="$why peer_info for dropped;"; fi
ver=$("$BIN" version | awk '{ print $2 }')
grep -qxF "tcpprobe_build_info{version=\"$ver\"} 1" "$f" || why="$why build_info != $ver;"
if [ -n "$why" ]; then fail histograms "$why"; else pass histograms; fi

# ---- agreement with tcpprobe ctl ----
if ! ctl --json status >"$tmp/status.json" 2>"$tmp/ctl.err" || ! "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/status.json" 2>/dev/null; then
	fail ctl-agrees "tcpprobe ctl --json status fails: $(head -n 1 "$tmp/ctl.err")"
	exit 1
fi
# Freeze: pause every target and wait until nothing is in flight or in
# TIME_WAIT, so counters stop moving and both views must match exactly.
why=""
if ! ctl pause --all >"$tmp/pause.out" 2>&1; then
	why="$why pause --all failed: $(head -n 1 "$tmp/pause.out");"
fi
quiet() { [ "$(ctl --json status | jpy 'd["inflight"] + d["time_wait"] + d["queued"]')" = 0 ]; }
wait_until 5 quiet || why="$why still busy 5 s after pause;"
sleep 0.3 # late replies to connections just closed
scrape
ctl --json status >"$tmp/status.json"
for t in open4 slow6 syn-any4 refused dropped unreach fin-closed; do
	ctl --json show "$t" >"$tmp/show-$t.json" || why="$why ctl show $t failed;"
done
ctl metrics >"$tmp/ctl.prom" 2>/dev/null || why="$why ctl metrics failed;"
if ! "$PY" - "$tmp" "$f" <<'EOF' >"$tmp/agree.out" 2>&1; then why="$why $(tail -n 5 "$tmp/agree.out" | tr '\n' ' ')"; fi
import json, sys
sys.path.insert(0, sys.argv[1])
import prom
tmp, f = sys.argv[1], sys.argv[2]
m = prom.parse(f)
q = lambda spec: prom.query(m, spec)
bad = []
def eq(what, a, b):
    if a != b:
        bad.append('%s: metrics %r, ctl %r' % (what, a, b))
st = json.load(open(tmp + '/status.json'))
eq('targets', q('tcpprobe_targets'), st['targets'])
eq('packets_sent', q('tcpprobe_packets_sent_total'), st['packets_sent'])
eq('packets_received', q('tcpprobe_packets_received_total'), st['packets_received'])
eq('packets_unmatched', q('tcpprobe_packets_unmatched_total'), st['packets_unmatched'])
eq('packets_bad', q('tcpprobe_packets_malformed_total'), st['packets_bad'])
eq('kernel_drops', q('tcpprobe_kernel_drops_total'), st['rx_kernel_drops'])
eq('probes_started', q('tcpprobe_probes_started_total'), st['probes_started'])
eq('probes_waited', q('tcpprobe_probes_waited_total'), st['probes_waited'])
eq('inflight', q('tcpprobe_inflight_connections'), st['inflight'])
eq('time_wait', q('tcpprobe_time_wait_connections'), st['time_wait'])
eq('reloads', q('tcpprobe_config_reloads_total'), st['reloads'])
eq('version', [l['version'] for n, l, v in m if n == 'tcpprobe_build_info'], [st['version']])
for t in ['open4', 'slow6', 'syn-any4', 'refused', 'dropped', 'unreach', 'fin-closed']:
    s = json.load(open('%s/show-%s.json' % (tmp, t)))['target']
    for r, n in s['results'].items():
        v = q('tcpprobe_probes_total,target=%s,result=%s' % (t, r))
        eq('%s %s' % (t, r), v if v is not None else 0, n)
    for r, n in s['close_results'].items():
        v = q('tcpprobe_close_total,target=%s,result=%s' % (t, r))
        eq('%s close %s' % (t, r), v if v is not None else 0, n)
    eq(t + ' probes', sum(v for n, l, v in m if n == 'tcpprobe_probes_total' and l['target'] == t), s['probes'])
    eq(t + ' syn_retransmits', q('tcpprobe_syn_retransmits_total,target=' + t), s['syn_retransmits'])
    eq(t + ' synack_retransmits', q('tcpprobe_synack_retransmits_total,target=' + t), s['synack_retransmits'])
    eq(t + ' paused', q('tcpprobe_target_paused,target=' + t), 1)
    p = s.get('peer')
    if p:
        eq(t + ' peer_ttl', q('tcpprobe_peer_ttl,target=' + t), p['ttl'])
        # on the lab's one link: no router on the way back
        eq(t + ' peer_hops', (q('tcpprobe_peer_hops,target=' + t), s['peer_hops']), (0, 0))
        info = [l for n, l, v in m if n == 'tcpprobe_peer_info' and l['target'] == t]
        eq(t + ' peer_info', info, [{'target': t,
            'mss': 'none' if p['mss'] is None else str(p['mss']),
            'wscale': 'none' if p['wscale'] is None else str(p['wscale']),
            'sack': 'true' if p['sack'] else 'false',
            'timestamps': 'true' if p['timestamps'] else 'false'}])
    else:
        eq(t + ' peer_ttl', q('tcpprobe_peer_ttl,target=' + t), None)
        eq(t + ' peer_hops', (q('tcpprobe_peer_hops,target=' + t), s['peer_hops']), (None, None))
    if s['kind'] != 'fin':
        h = s['histograms']['handshake']
        eq(t + ' handshake count', q('tcpprobe_handshake_duration_seconds_count,target=' + t), h['count'])
        eq(t + ' handshake sum', round(q('tcpprobe_handshake_duration_seconds_sum,target=' + t), 9), round(h['sum_s'], 9))
# ctl metrics is the same renderer: equal but for what moves on its own
skip = ('tcpprobe_resident_memory_bytes', 'tcpprobe_scheduler_lateness')
cm = [x for x in prom.parse(tmp + '/ctl.prom') if not x[0].startswith(skip)]
hm = [x for x in m if not x[0].startswith(skip)]
eq('ctl metrics == /metrics', len(cm), len(hm))
if cm != hm:
    bad.append('ctl metrics differs from /metrics: %s' % [(a, b) for a, b in zip(cm, hm) if a != b][:3])
if bad:
    print('\n'.join(bad))
    sys.exit(1)
EOF
ctl resume --all >/dev/null 2>&1 || why="$why resume --all failed;"
if [ -n "$why" ]; then fail ctl-agrees "$why"; else pass ctl-agrees; fi
dl_done
