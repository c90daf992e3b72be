#!/usr/bin/env bash
# Karn's rule (issue 10 point 1): 100 handshakes over a lossy link (the lab's
# middle namespace: 5 ms each way, 10% loss each way, seeded). The capture on
# the client veth is the judge: a probe whose SYN was retransmitted before the
# first SYN/ACK has an ambiguous RTT, reports no RTT sample, flags it and
# reports the connect time (first SYN -> SYN/ACK), which shows the
# retransmission delays; every other probe's RTT is the wire's.
# checks: 2
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
export LAB_MIDDLE=1
dl_init karn
tmp=$DL_T PY=$DL_PY

lab_impair --seed 11 --delay 5 --loss 10 || { fail lab "lab_impair failed"; exit 1; }

RTO=0.3
probe_args=(probe -c 100 -i 0.03 -t "$RTO" -r 3 --fin-wait-2 1s --time-wait 0.1s
	"$LAB_S4:$LAB_PORT_OPEN")

# judge NAME MODE: compare the probe output with the capture.
judge() {
	"$PY" - "$tmp/$1.out" "$tmp/$1.dump" "$2" "$RTO" <<'EOF'
import json, re, statistics, sys
out, dump, mode, rto = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]) * 1e6
wire = {}  # client source port -> [(t_ns, dir, flags)]
for l in open(dump):
    f = l.split()
    if len(f) < 7:
        continue
    port = int(f[3]) if f[1] == ">" else int(f[5])
    wire.setdefault(port, []).append((int(f[0]), f[1], f[6]))
w = {}  # port -> (ambiguous, connect_us, rtt_us) for answered conversations
for port, ev in wire.items():
    syns, first = [], None
    for t, d, fl in ev:
        if d == ">" and fl == "S" and first is None:
            syns.append(t)
        if d == "<" and fl == "S." and first is None:
            first = t
    if first is not None and syns:
        w[port] = (len(syns) > 1, (first - syns[0]) / 1e3, (first - syns[-1]) / 1e3)
errs = []
def check(cond, msg):
    if not cond:
        errs.append(msg)
check(len(wire) >= 30 and len(w) >= 25, "capture: %d conversations, %d answered" % (len(wire), len(w)))
amb_wire = {p for p, v in w.items() if v[0]}
path = statistics.median(v[2] for v in w.values() if not v[0]) if w else 0
if mode == "json":
    rs = [json.loads(l) for l in open(out) if l.strip()]
    check(len(rs) == 100, "%d results" % len(rs))
    by = {r["source_port"]: r for r in rs}
    amb = {p for p, r in by.items() if r.get("rtt_ambiguous")}
    check(amb == amb_wire, "ambiguous: reported %d %s, capture %d %s" %
          (len(amb), sorted(amb)[:8], len(amb_wire), sorted(amb_wire)[:8]))
    check(len(amb_wire) > 0, "no SYN retransmitted before a SYN/ACK: loss not applied?")
    rtts = []
    for p, (a, conn, rtt) in w.items():
        r = by.get(p)
        if r is None:
            errs.append("port %d in the capture, not reported" % p)
            continue
        c = r.get("connect_us")
        check(c is not None and abs(c - conn) < 100, "port %d connect_us %s, wire %.1f" % (p, c, conn))
        if a:
            check(r["rtt_us"] is None, "port %d ambiguous but rtt_us %s" % (p, r["rtt_us"]))
            check(c is not None and c >= rto, "port %d connect %s us < RTO" % (p, c))
        else:
            check(r["rtt_us"] is not None and abs(r["rtt_us"] - rtt) < 100,
                  "port %d rtt_us %s, wire %.1f" % (p, r["rtt_us"], rtt))
            if r["rtt_us"] is not None:
                rtts.append(r["rtt_us"])
    def p99(v):
        v = sorted(v)
        return v[min(len(v) - 1, int(0.99 * len(v)))] if v else 0
    rp99, wp99 = p99(rtts), p99(v[2] for v in w.values() if not v[0])
    # The issue's bound: p99 within 2x the path RTT. If the link itself (the
    # bridge on a loaded machine) stalled an unambiguous exchange beyond
    # that, the capture shows it, and the report may be no worse than it.
    check(rtts and (rp99 <= 2 * path or rp99 <= wp99 + 100),
          "rtt p99 %.1f us > 2 x path %.1f us (wire p99 %.1f us)" % (rp99, path, wp99))
    print("probes %d answered %d ambiguous %d (capture %d) path rtt %.1f us, reported p99 %.1f us"
          ", wire p99 %.1f us, connect max %.1f us" % (len(rs), len(w), len(amb), len(amb_wire),
          path, rp99, wp99, max(v[1] for v in w.values())), file=sys.stderr)
else:
    text = open(out).read()
    lines = [l for l in text.split("\n") if l.startswith("handshake ")]
    n_amb = sum(" rtt=ambiguous" in l for l in lines)
    check(n_amb == len(amb_wire), "%d lines rtt=ambiguous, capture %d" % (n_amb, len(amb_wire)))
    m = re.search(r"^rtt min/avg/max/mdev = [0-9.]+/[0-9.]+/([0-9.]+)/", text, re.M)
    wmax = max([v[2] for v in w.values() if not v[0]] or [0])
    check(m and float(m.group(1)) * 1e3 <= max(2 * path, wmax + 100),
          "summary rtt max %s ms, path %.1f us, wire max %.1f us" % (m and m.group(1), path, wmax))
    m = re.search(r"^connect min/avg/max/mdev = .* \((\d+) with a retransmitted SYN", text, re.M)
    check((int(m.group(1)) if m else 0) == len(amb_wire),
          "summary connect line %s, capture %d ambiguous" % (m and m.group(0), len(amb_wire)))
for e in errs[:6]:
    print(e)
sys.exit(1 if errs else 0)
EOF
}

run() { # NAME MIN_SYNS ARGS...
	local name=$1 min=$2; shift 2
	lab_capture_start "$tmp/$name.pcap" "tcp port $LAB_PORT_OPEN" || return 1
	lab_tcpprobe "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	lab_capture_stop "$tmp/$name.pcap"
	lab_capture_ok "$tmp/$name.pcap" "$min" ' S ' >"$tmp/$name.capwhy" || return 1
	lab_wire dump "$tmp/$name.pcap" >"$tmp/$name.dump"
}

if run json 100 "${probe_args[@]}" --json; then
	if why=$(judge json json 2>"$tmp/json.note"); then pass json; else fail json "$why"; fi
	sed 's/^/  karn: /' "$tmp/json.note"
else
	fail json "capture: $(cat "$tmp/json.capwhy")"
fi

probe_args[2]=40
if run text 40 "${probe_args[@]}"; then
	if why=$(judge text text 2>&1); then pass summary; else fail summary "$why"; fi
else
	fail summary "capture: $(cat "$tmp/text.capwhy")"
fi
dl_done
