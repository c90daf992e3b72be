#!/usr/bin/env bash
# Karn's rule in the daemon (issue 10 point 1): one handshake target probed
# every 100 ms over a lossy link (middle namespace, 5 ms each way, 10% loss
# each way). `ctl show` (JSON and text), `ctl targets` and /metrics must agree
# with each other and with the capture: probes whose SYN was retransmitted
# before the first SYN/ACK are counted as rtt_ambiguous and kept out of the
# handshake (RTT) histogram; every answered probe is in the connect histogram.
# checks: 1
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
export LAB_MIDDLE=1
dl_init karn-daemon
lab_impair --seed 13 --delay 5 --loss 10 || { fail impair "lab_impair failed"; exit 1; }

CONF=$DL_T/tcpprobe.conf
{
	dl_conf_daemon
	printf '[target k]\nhost = %s\nport = %s\nkind = handshake\ninterval = 100ms\n' \
		"$LAB_S4" "$LAB_PORT_OPEN"
	printf 'timeout = 300ms\nretries = 3\nfin_wait_2 = 1s\ntime_wait = 100ms\n'
} >"$CONF"

cap=$DL_T/k.pcap
# At least 80 results (bounded: 40 s), then stop scheduling and let the
# probes in flight finish; the capture holds at least 80 SYNs.
dl_capture_drain "$cap" "tcp port $LAB_PORT_OPEN" "$CONF" k 80 40 80 ' S ' || exit 1

ctl --json show k >"$DL_T/show.json"
ctl show k >"$DL_T/show.txt"
ctl --json targets >"$DL_T/targets.json"
ctl metrics >"$DL_T/metrics.txt"
lab_wire dump "$cap" >"$DL_T/k.dump"

if why=$("$DL_PY" - "$DL_T" <<'EOF'
import json, re, sys
d = sys.argv[1]
wire = {}
for l in open(d + "/k.dump"):
    f = l.split()
    if len(f) < 7:
        continue
    port = int(f[3]) if f[1] == ">" else int(f[5])
    wire.setdefault(port, []).append((f[1], f[6]))
answered = ambiguous = 0
for ev in wire.values():
    syns = 0
    for dr, fl in ev:
        if dr == ">" and fl == "S":
            syns += 1
        if dr == "<" and fl == "S.":
            answered += 1
            ambiguous += syns > 1
            break
show = json.loads(open(d + "/show.json").readline())["target"]
rows = json.loads(open(d + "/targets.json").readline())["targets"]
row = [r for r in rows if r["name"] == "k"][0]
met = open(d + "/metrics.txt").read()
def metric(name):
    m = re.search(r'^%s\{target="k"\} (\S+)$' % re.escape(name), met, re.M)
    return float(m.group(1)) if m else None
txt = re.search(r"rtt ambiguous:\s+(\d+) probes", open(d + "/show.txt").read())
vals = {
    "capture": ambiguous,
    "show": show.get("rtt_ambiguous"),
    "targets": row.get("rtt_ambiguous"),
    "metrics": metric("tcpprobe_rtt_ambiguous_total"),
    "show text": int(txt.group(1)) if txt else None,
}
conn = {
    "capture answered": answered,
    "show connect": show["histograms"].get("connect", {}).get("count"),
    "metrics connect": metric("tcpprobe_connect_duration_seconds_count"),
}
rtt = {
    "capture answered - ambiguous": answered - ambiguous,
    "show handshake": show["histograms"]["handshake"]["count"],
    "metrics handshake": metric("tcpprobe_handshake_duration_seconds_count"),
}
bad = [g for g in (vals, conn, rtt) if len(set(g.values())) != 1]
if ambiguous == 0:
    bad.append("no ambiguous probe in the capture: loss not applied?")
print("ambiguous %s; connect %s; rtt %s" % (vals, conn, rtt))
sys.exit(1 if bad else 0)
EOF
); then
	pass agree
	note "$why"
else
	fail agree "$why"
fi
