#!/usr/bin/env bash
# Order and numbering (issue 10 point 6), judged by the capture:
# - `tcpprobe probe` numbers its lines in launch order and names each line's
#   source port: the first SYN of one probe is dropped once (nftables quota
#   in the server ns), so its result comes last, yet its line says seq=2 and
#   the source port whose first SYN was the second on the wire;
# - the JSON timeline holds what --trace shows: ICMP type and code (checked
#   against the ICMP error in the capture), the dropped-entry count; every
#   timeline is in time order.
# checks: 3
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_init timeline
tmp=$DL_T PY=$DL_PY


# --- seq= is launch order, sport= the probe's source port -------------------
# The second probe (source port 21001) loses its first SYN: 60 bytes fit
# the 100-byte quota, the retransmission does not.
lab_sexec nft -f - <<EOF || fail seq "nft"
table inet seqtest {
	chain input {
		type filter hook input priority -5; policy accept;
		tcp sport 21001 tcp flags & (syn | ack) == syn quota until 100 bytes drop
	}
}
EOF
cap=$tmp/seq.pcap
lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN" || fail seq "tcpdump"
lab_tcpprobe probe -c 6 -i 0.02 -t 0.4 --time-wait 0.1 --source-ports 21000-21009 \
	"$LAB_S4:$LAB_PORT_OPEN" >"$tmp/seq.out" 2>&1
lab_capture_stop "$cap"
lab_sexec nft delete table inet seqtest
if why=$(lab_capture_ok "$cap" 7 ' S '); then
	lab_wire dump "$cap" >"$tmp/seq.dump"
	if why=$("$PY" - "$tmp/seq.out" "$tmp/seq.dump" <<'EOF'
import re, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("handshake ")]
order = []  # source ports by their first SYN on the wire = launch order
for l in open(sys.argv[2]):
    f = l.split()
    if len(f) > 6 and f[1] == ">" and f[6] == "S" and int(f[3]) not in order:
        order.append(int(f[3]))
errs, seqs = [], []
for l in lines:
    m = re.search(r" seq=(\d+) sport=(\d+) ", l)
    if not m:
        errs.append("no seq=/sport= in: " + l.strip())
        continue
    seq, sport = int(m.group(1)), int(m.group(2))
    seqs.append(seq)
    if seq < 1 or seq > len(order) or order[seq - 1] != sport:
        errs.append("seq=%d sport=%d, but the %d-th first SYN on the wire is from %s" %
                    (seq, sport, seq, order[seq - 1] if 0 < seq <= len(order) else "-"))
if len(lines) != 6 or sorted(seqs) != list(range(1, 7)):
    errs.append("%d lines, seqs %s" % (len(lines), seqs))
if seqs == sorted(seqs):
    errs.append("results came in launch order: the dropped SYN did not delay probe 2 (%s)" % seqs)
print("; ".join(errs[:4]) if errs else "lines in order %s" % seqs)
sys.exit(1 if errs else 0)
EOF
	); then pass seq; echo "  timeline: $why"; else fail seq "$why"; fi
else
	fail seq "$why"
fi

# --- JSON timeline: ICMP type/code, dropped count, time order ----------------
cap=$tmp/icmp.pcap
lab_capture_start "$cap" "tcp or icmp or icmp6" || fail icmp "tcpdump"
lab_tcpprobe probe --json "$LAB_S4:$LAB_PORT_UNREACH" "[$LAB_S6]:$LAB_PORT_PROHIB" \
	"$LAB_S4:$LAB_PORT_SLOWCLOSE" "$LAB_S4:$LAB_PORT_CLOSEFIRST" --time-wait 0.1 \
	>"$tmp/icmp.json" 2>"$tmp/icmp.err"
lab_capture_stop "$cap"
if why=$(lab_capture_ok "$cap" 2 'icmp'); then
	lab_wire dump "$cap" >"$tmp/icmp.dump"
	if why=$("$PY" - "$tmp/icmp.json" "$tmp/icmp.dump" <<'EOF'
import json, re, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
wire = {}  # quoted source port -> (type, code) of the ICMP errors in the capture
for l in open(sys.argv[2]):
    f = l.split()
    m = re.match(r"icmp6?:?(\d+)/(\d+)$", f[6]) if len(f) > 11 else None
    q = re.search(r"q:[^.]+(?:\.[^.]+)*\.(\d+)>", f[11]) if m else None
    if m and q:
        wire.setdefault(int(q.group(1)), set()).add((int(m.group(1)), int(m.group(2))))
errs = []
if len(rs) != 4:
    errs.append("%d results" % len(rs))
for r in rs:
    tl = r.get("timeline", [])
    if "timeline_dropped" not in r:
        errs.append("%s: no timeline_dropped" % r["target"])
    ts = [e["t_us"] for e in tl]
    if ts != sorted(ts):
        errs.append("%s:%d timeline out of time order: %s" % (r["address"], r["port"], ts))
    icmp = [e for e in tl if e["dir"] == "icmp"]
    if r["result"] == "unreachable":
        got = {(e.get("icmp_type"), e.get("icmp_code")) for e in icmp}
        want = wire.get(r["source_port"], set())
        if not icmp or got != want:
            errs.append("%s: timeline ICMP %s, capture %s" % (r["address"], got, want))
print("; ".join(errs[:4]) if errs else "ICMP in the capture %s" % wire)
sys.exit(1 if errs else 0)
EOF
	); then pass json; echo "  timeline: $why"; else fail json "$why"; fi
else
	fail json "$why"
fi

# --- the text trace says the same -------------------------------------------
out=$(lab_tcpprobe probe --trace "$LAB_S4:$LAB_PORT_UNREACH" 2>&1)
if echo "$out" | grep -q "<-- ICMP type 3   code 3 "; then pass trace-icmp; else fail trace-icmp "$out"; fi
dl_done
