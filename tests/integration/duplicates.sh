#!/usr/bin/env bash
# Duplicates are not retransmissions (issue 10 point 4). The lab's middle
# namespace duplicates every server->client frame back to back. The capture
# is the judge: a copy of a SYN/ACK or FIN with the TSval of the previous
# copy, less than 100 ms after it, is a duplicate (probes/fsm.h,
# FSM_DUP_GAP_NS); any other copy is the peer's retransmission. Per probe,
# `duplicates` counts the copies that arrived before the probe was reported
# (before the peer's FIN is in and our FIN acknowledged), `synack_retransmits` and
# `peer_fin_retransmits` only the peer's own retransmissions.
# checks: 2
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
export LAB_MIDDLE=1
dl_init duplicates
tmp=$DL_T PY=$DL_PY

lab_impair --seed 5 --dir b2a --dup 100 || { fail lab "lab_impair failed"; exit 1; }

# NAME PORT: 10 handshake probes, JSON, with a capture; judged per source port.
case_() {
	local name=$1 port=$2 cap=$tmp/$1.pcap why
	lab_capture_start "$cap" "tcp port $port" || { fail "$name" "tcpdump"; return; }
	lab_tcpprobe probe --json -c 10 -i 0.05 --time-wait 0.2 "$LAB_S4:$port" \
		>"$tmp/$name.json" 2>"$tmp/$name.err"
	lab_capture_stop "$cap"
	if ! why=$(lab_capture_ok "$cap" 20 ' S\. '); then fail "$name" "$why"; return; fi
	lab_wire dump "$cap" >"$tmp/$name.dump"
	if why=$("$PY" - "$tmp/$name.json" "$tmp/$name.dump" <<'EOF'
import json, re, sys
rs = {r["source_port"]: r for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip())}
conv = {}
for l in open(sys.argv[2]):
    f = l.split()
    if len(f) < 12:
        continue
    port = int(f[3]) if f[1] == ">" else int(f[5])
    conv.setdefault(port, []).append(f)
errs, tot = [], {"dup": 0, "srtx": 0}
for port, segs in conv.items():
    our_fin = next((int(f[7]) for f in segs if f[1] == ">" and "F" in f[6]), None)
    # The report point: the first peer segment by which both the peer's FIN
    # has arrived and our FIN is acknowledged (TIME_WAIT or CLOSED).
    end, fin_in, acked = len(segs), False, False
    for i, f in enumerate(segs):
        if f[1] != "<":
            continue
        fin_in = fin_in or "F" in f[6]
        acked = acked or (our_fin is not None and "." in f[6] and
                          int(f[8]) == (our_fin + 1) % 2**32)
        if fin_in and acked:
            end = i + 1
            break
    last = {}  # (flags, seq) -> (t, tsval)
    dup = srtx = frtx = 0
    for f in segs[:end]:
        if f[1] != "<" or not ("S" in f[6] or "F" in f[6]):
            continue
        key = ("S" in f[6], f[7])
        m = re.search(r"TS(\d+):", f[11])
        ts, t = (m.group(1) if m else None), int(f[0])
        if key in last:
            pt, pts = last[key]
            if t - pt < 100_000_000 and (ts is None or pts is None or ts == pts):
                dup += 1
            elif key[0]:
                srtx += 1
            else:
                frtx += 1
        last[key] = (t, ts)
    r = rs.get(port)
    if r is None:
        errs.append("port %d: not reported" % port)
        continue
    got = (r.get("duplicates"), r.get("synack_retransmits"), r.get("peer_fin_retransmits"))
    if got != (dup, srtx, frtx):
        errs.append("port %d: reported duplicates/synack_rtx/peer_fin_rtx %s, capture %s" %
                    (port, got, (dup, srtx, frtx)))
    tot["dup"] += dup
    tot["srtx"] += srtx
if len(rs) != 10 or len(conv) != 10:
    errs.append("%d results, %d conversations" % (len(rs), len(conv)))
if tot["dup"] < 10:
    errs.append("only %d duplicates in the capture: duplication not applied?" % tot["dup"])
print("; ".join(errs[:4]) if errs else "capture: %d duplicates, %d SYN/ACK retransmissions" %
      (tot["dup"], tot["srtx"]))
sys.exit(1 if errs else 0)
EOF
	); then pass "$name"; echo "  duplicates-$name: $why"; else fail "$name" "$why"; fi
}

# Active close: the SYN/ACK's copy is counted; the FIN's copy arrives in
# TIME_WAIT, after the report.
case_ active "$LAB_PORT_OPEN"
# The server closes at once: its FIN crosses ours (CLOSING) and its copy
# arrives before the ACK of ours, so it is in the report too.
case_ crossing "$LAB_PORT_CLOSEFIRST"
dl_done
