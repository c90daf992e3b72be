#!/usr/bin/env bash
# Duplicates in the daemon (issue 10 point 4): every server->client frame is
# duplicated (middle namespace). Per target, `ctl show`, `ctl --json show`
# and /metrics count the SYN/ACK copies as duplicates, never as SYN/ACK
# retransmissions; the FIN copies that arrive in TIME_WAIT (after the probe
# was reported) are counted daemon-wide in `status` and /metrics, and per
# target in `show` and /metrics. The capture is the judge of every count.
# checks: 1
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
export LAB_MIDDLE=1
dl_init dups-daemon
lab_impair --seed 9 --dir b2a --dup 100 || { fail impair "lab_impair failed"; exit 1; }

CONF=$DL_T/tcpprobe.conf
{
	dl_conf_daemon
	printf '[target d]\nhost = %s\nport = %s\nkind = handshake\ninterval = 200ms\n' \
		"$LAB_S4" "$LAB_PORT_OPEN"
	printf 'time_wait = 1s\n'
} >"$CONF"

cap=$DL_T/d.pcap
# 15 results, then nothing in flight or in TIME_WAIT; the capture holds at
# least 30 SYN/ACKs.
dl_capture_drain "$cap" "tcp port $LAB_PORT_OPEN" "$CONF" d 15 30 30 ' S\. ' || exit 1
ctl --json show d >"$DL_T/show.json"
ctl --json status >"$DL_T/status.json"
ctl metrics >"$DL_T/metrics.txt"
lab_wire dump "$cap" >"$DL_T/d.dump"

if why=$("$DL_PY" - "$DL_T" <<'EOF'
import json, re, sys
d = sys.argv[1]
conv = {}
for l in open(d + "/d.dump"):
    f = l.split()
    if len(f) < 12:
        continue
    port = int(f[3]) if f[1] == ">" else int(f[5])
    conv.setdefault(port, []).append(f)
# The rule of probes/fsm.h (FSM_DUP_GAP_NS): a copy with the previous copy's
# TSval, < 100 ms after it, is a duplicate; any other copy a retransmission.
# Port 8080 closes after our FIN: every FIN copy after the first arrives in
# TIME_WAIT, after the probe was reported.
n = {"syn_dup": 0, "syn_rtx": 0, "fin_dup": 0, "fin_rtx": 0, "tw_rst": 0}
for segs in conv.values():
    last = {}
    for f in segs:
        # An RST after the peer's FIN finds us in TIME_WAIT (the server
        # answers our ACK of a FIN copy from CLOSED).
        if f[1] == "<" and "R" in f[6] and "fin" in last:
            n["tw_rst"] += 1
        if f[1] != "<" or not ("S" in f[6] or "F" in f[6]):
            continue
        kind = "syn" if "S" in f[6] else "fin"
        m = re.search(r"TS(\d+):", f[11])
        t, ts = int(f[0]), m.group(1) if m else None
        if kind in last:
            pt, pts = last[kind]
            dup = t - pt < 100_000_000 and (ts is None or pts is None or ts == pts)
            n[kind + ("_dup" if dup else "_rtx")] += 1
        last[kind] = (t, ts)
syn_dups, fin_dups_tw = n["syn_dup"], n["fin_dup"]
show = json.loads(open(d + "/show.json").readline())["target"]
st = json.loads(open(d + "/status.json").readline())
met = open(d + "/metrics.txt").read()
def metric(name, lbl='{target="d"}'):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(lbl)), met, re.M)
    return int(float(m.group(1))) if m else None
got = {
    "show duplicates": show.get("duplicates"),
    "metrics duplicates": metric("tcpprobe_duplicates_total"),
    "show synack_retransmits": show.get("synack_retransmits"),
    "metrics synack_retransmits": metric("tcpprobe_synack_retransmits_total"),
    "status time_wait_duplicates": st.get("time_wait_duplicates"),
    "metrics time_wait_duplicates": metric("tcpprobe_time_wait_duplicates_total", ""),
    "status time_wait_peer_fin_retransmits": st.get("time_wait_peer_fin_retransmits"),
    "show time_wait_duplicates": show.get("time_wait_duplicates"),
    "metrics target time_wait_duplicates":
        metric("tcpprobe_target_time_wait_duplicates_total"),
    "show time_wait_peer_fin_retransmits": show.get("time_wait_peer_fin_retransmits"),
    "metrics target time_wait_peer_fin_retransmits":
        metric("tcpprobe_target_time_wait_peer_fin_retransmits_total"),
    "show time_wait_rsts": show.get("time_wait_rsts"),
    "status time_wait_rsts": st.get("time_wait_rsts"),
    "metrics target time_wait_rsts": metric("tcpprobe_target_time_wait_rsts_total"),
}
want = {
    "show duplicates": syn_dups, "metrics duplicates": syn_dups,
    "show synack_retransmits": n["syn_rtx"], "metrics synack_retransmits": n["syn_rtx"],
    "status time_wait_duplicates": fin_dups_tw, "metrics time_wait_duplicates": fin_dups_tw,
    "status time_wait_peer_fin_retransmits": n["fin_rtx"],
    "show time_wait_duplicates": fin_dups_tw, "metrics target time_wait_duplicates": fin_dups_tw,
    "show time_wait_peer_fin_retransmits": n["fin_rtx"],
    "metrics target time_wait_peer_fin_retransmits": n["fin_rtx"],
    "show time_wait_rsts": n["tw_rst"], "status time_wait_rsts": n["tw_rst"],
    "metrics target time_wait_rsts": n["tw_rst"],
}
bad = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
if syn_dups < 15 or n["tw_rst"] < 15:
    bad["capture"] = "only %d SYN/ACK copies, %d RSTs in TIME_WAIT: duplication not applied?" % (syn_dups, n["tw_rst"])
print("got/want %s (capture %s)" % (bad, n) if bad else "capture %s; all agree" % n)
sys.exit(1 if bad else 0)
EOF
); then
	pass agree
	note "$why"
else
	fail agree "$why"
fi
