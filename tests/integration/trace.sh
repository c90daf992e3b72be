#!/usr/bin/env bash
# TCP path tracing (issue 15 points 2 and 4) through a chain of three router
# namespaces (tests/lab/lab_chain.sh: client - r1 - r2 - r3 - server), judged
# against a capture on the client's link (tests/lab/tracecheck.py):
#  - `probe --kind trace` lists r1, r2, r3 in order and the target last, over
#    IPv4 and IPv6; on the wire every SYN is on one 4-tuple with TTL 1..4 and
#    its own sequence number, each router's ICMP time exceeded quotes the SYN
#    of its TTL, each hop's RTT is the capture's, every SYN/ACK got our RST;
#  - the text output is traceroute's: one line per TTL, the target last;
#  - a router that drops its ICMP (nftables on its output) is a silent hop
#    (`*`, address null), tried 1 + retries times on the wire; the trace goes on;
#    a router at Linux's default ICMP rate limit: 16 traces in a row are all
#    ok, hop 2 silent in those whose SYN drew no ICMP from it on the wire;
#  - a closed port: result refused, the target's RST is the last hop;
#  - safety: forged ICMP time exceeded and SYN/ACK that quote our 4-tuple with
#    sequence numbers we did not send name no hop and draw no RST (RFC 5927);
#    the address policy refuses a multicast target before anything is sent.
#  - the daemon: targets of kind trace (IPv4, IPv6) show their last trace in
#    `ctl show` (JSON hops as above, text lines) and tcpprobe_trace_hops /
#    tcpprobe_trace_silent_hops; with pps = 10 and twice that demand, no second
#    of the capture holds more than 10 + the 4-packet burst of our segments;
#  - ECMP (r1 splits over r2 and r2'): `--flows 12 --kind trace` traces each
#    flow on its own source port, and each trace names the router that the
#    captures on r1's two links saw that flow take; a daemon target with
#    flows = 12 keeps each flow's path (ctl show flows[].path), the same way.
#    IPv4 and IPv6; over IPv6 r1 hashes addresses and flow label only, so the
#    flow's label (one for all its TTLs) alone picks its leg.
# checks: 19
set -u
cd "$(dirname "$0")/../.."
source tests/lab/lab.sh
source tests/lab/lab_chain.sh
source tests/lab/lab_chain_alt.sh
source tests/lab/daemon_lib.sh
dl_init trace
trap 'lab_chain_down; dl_cleanup' EXIT
PY=$DL_PY
T=$DL_T

if ! lab_chain_up 3; then
	fail chain "lab_chain_up 3 failed"
	exit 1
fi
R4="${CHAIN_R4[1]},${CHAIN_R4[2]},${CHAIN_R4[3]}"
R6="${CHAIN_R6[1]},${CHAIN_R6[2]},${CHAIN_R6[3]}"

# trace NAME ARGS...: `tcpprobe probe --kind trace ARGS` in the client ns
# under a capture on its link to r1; leaves $T/NAME.out, .err, .rc, .pcap and
# .cap (why the capture is bad, empty if fine).
trace() {
	local name=$1; shift
	LAB_CAP_IF=$CHAIN_CIF lab_capture_start "$T/$name.pcap" "tcp or icmp or icmp6" || return 1
	LAB_WRAP="timeout 60" lab_tcpprobe probe --kind trace "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	lab_capture_stop "$T/$name.pcap"
	lab_capture_ok "$T/$name.pcap" 4 >"$T/$name.cap" || true
}
rc() { cat "$T/$1.rc"; }
why() { echo "$(cat "$T/$1.cap") rc=$(rc "$1") out: $(tr '\n' '|' <"$T/$1.out" | tail -c 900) err: $(head -c 300 "$T/$1.err")"; }
tc() { "$PY" tests/lab/tracecheck.py "$@"; }

# ---- the chain, IPv4 and IPv6 ------------------------------------------------
for fam in 4 6; do
	if [ $fam = 4 ]; then tgt=$CHAIN_T4 addr=$CHAIN_T4 routers=$R4
	else tgt="[$CHAIN_T6]" addr=$CHAIN_T6 routers=$R6; fi
	trace v$fam --json "$tgt:$LAB_PORT_OPEN"
	res=$(tc hops "$T/v$fam.out" --routers "$routers" --target "$addr" 2>&1)
	if [ "$res" = ok ] && [ "$(rc v$fam)" = 0 ]; then pass "v$fam-hops"
	else fail "v$fam-hops" "$res; $(why v$fam)"; fi
	res=$(tc wire "$T/v$fam.out" "$T/v$fam.pcap" --routers "$routers" --target "$addr" 2>&1)
	if [ ! -s "$T/v$fam.cap" ] && [ "$res" = ok ]; then pass "v$fam-wire"
	else fail "v$fam-wire" "$res; $(why v$fam)"; fi
done

# ---- traceroute's text ---------------------------------------------------------
trace text "$CHAIN_T4:$LAB_PORT_OPEN"
want=$(printf '%s\n' "1 ${CHAIN_R4[1]}" "2 ${CHAIN_R4[2]}" "3 ${CHAIN_R4[3]}" "4 $CHAIN_T4 S.")
got=$(awk '/^ +[0-9]+  / { f = $1 " " $2; if ($NF == "S." || $NF == "R.") f = f " " $NF; print f }' "$T/text.out")
rtts_ok=$(awk '/^ +[0-9]+  / && $4 != "ms" { bad = 1 } END { print bad ? "no" : "yes" }' "$T/text.out")
if [ "$(rc text)" = 0 ] && [ "$got" = "$want" ] && [ "$rtts_ok" = yes ] &&
	grep -qE "^trace \[$CHAIN_T4\]:$LAB_PORT_OPEN .* ok .*hops=4" "$T/text.out"; then
	pass text
else fail text "got '$got' want '$want'; $(why text)"; fi

# ---- a router that sends no ICMP: a silent hop ----------------------------------
lab_chain_icmp_drop 2
trace silent --json -r 1 -t 300ms "$CHAIN_T4:$LAB_PORT_OPEN"
res=$(tc wire "$T/silent.out" "$T/silent.pcap" --routers "$R4" --target "$CHAIN_T4" --silent 2 2>&1)
tries=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hops"][1]["tries"])' "$T/silent.out" 2>&1)
if [ "$res" = ok ] && [ "$tries" = 2 ] && [ "$(rc silent)" = 0 ] && [ ! -s "$T/silent.cap" ]; then
	pass silent-hop
else fail silent-hop "$res; tries=$tries; $(why silent)"; fi
trace silent6 -r 0 -t 300ms "[$CHAIN_T6]:$LAB_PORT_OPEN"
got=$(awk '/^ +[0-9]+  / { print $1, $2 }' "$T/silent6.out" | paste -sd, -)
want="1 ${CHAIN_R6[1]},2 *,3 ${CHAIN_R6[3]},4 $CHAIN_T6"
if [ "$got" = "$want" ] && [ "$(rc silent6)" = 0 ]; then pass silent-hop-v6-text
else fail silent-hop-v6-text "got '$got' want '$want'; $(why silent6)"; fi
lab_chain_icmp_clear 2

# ---- a router that rate-limits its ICMP errors: silent hops, not errors -----------
# r2 back to Linux's default ICMP rate limit (per destination: a burst of 6,
# then one a second); 16 traces 20 ms apart: the traces past its burst show hop
# 2 silent, every trace is still ok, and the silent hops are exactly the
# traces whose SYN of TTL 2 drew no ICMP from r2 on the wire.
lab_chain_exec 2 sysctl -qw net.ipv4.icmp_ratelimit=1000
trace ratelimit --json -c 16 -i 20ms -r 0 -t 300ms "$CHAIN_T4:$LAB_PORT_OPEN"
lab_chain_exec 2 sysctl -qw net.ipv4.icmp_ratelimit=0
res=$("$PY" - "$T/ratelimit.out" "$T/ratelimit.pcap" "${CHAIN_R4[2]}" "$CHAIN_T4" <<'EOF' 2>&1
import json, sys
sys.path.insert(0, "tests/lab")
import wire
out, pcap, r2, target = sys.argv[1:]
rs = [json.loads(l) for l in open(out) if l.strip()]
segs = list(wire.segments(pcap))
syn2 = {s.seq: s.sport for s in segs if s.icmp is None and s.flags == 0x02 and s.ttl == 2}
icmp = {(s.quote[1], s.quote[4]) for s in segs if s.icmp == "icmp11/0" and s.src == r2 and s.quote}
why, silent = [], 0
for r in rs:
    h = r["hops"][1]
    mine = [q for q, sp in syn2.items() if sp == r["source_port"]]
    wire_answered = any((r["source_port"], q) in icmp for q in mine)
    if r["result"] != "ok" or len(r["hops"]) != 4:
        why.append("sport %d: %s, %d hops" % (r["source_port"], r["result"], len(r["hops"])))
    if (h["kind"] == "silent") == wire_answered:
        why.append("sport %d: hop 2 %s, r2's ICMP on the wire: %s" % (r["source_port"], h["kind"],
                                                                     wire_answered))
    silent += h["kind"] == "silent"
if len(rs) != 16:
    why.append("%d traces" % len(rs))
if not silent and not why:
    why.append("no silent hop 2 (r2 not rate-limiting?)")
print("; ".join(why[:4]) or "ok %d of %d traces with hop 2 silent" % (silent, len(rs)))
EOF
)
if [ "${res%% *}" = ok ] && [ "$(rc ratelimit)" = 0 ] && [ ! -s "$T/ratelimit.cap" ]; then pass ratelimit
else fail ratelimit "$res; $(why ratelimit)"; fi
echo "ratelimit: $res"

# ---- a closed port: the target's RST ends the trace -----------------------------
trace closed --json "$CHAIN_T4:$LAB_PORT_CLOSED"
res=$(tc wire "$T/closed.out" "$T/closed.pcap" --routers "$R4" --target "$CHAIN_T4" 2>&1)
if [ "$res" = ok ] && [ "$(rc closed)" = 1 ] && grep -q '"result":"refused"' "$T/closed.out"; then
	pass closed
else fail closed "$res; $(why closed)"; fi

# ---- the RST that answers the target's SYN/ACK reaches it, whatever --ttl says ---
# `ttl` is a probe's TTL; a trace's SYNs go out with 1..max_hops. With --ttl 2
# the RST once left with TTL 2, died at r2 and left the target half-open on the
# 4-tuple: the next trace from that port (a daemon target's traces keep one)
# got no SYN/ACK and timed out. Every RST must carry a TTL that reaches the
# target (4 hops), and a second trace from the same port must be ok.
RPORT=$((20000 + $$ % 9000))
trace rstttl --ttl 2 -s "$RPORT" "$CHAIN_T4:$LAB_PORT_OPEN" && cp "$T/rstttl.out" "$T/rstttl.1" &&
	cp "$T/rstttl.pcap" "$T/rstttl1.pcap" && trace rstttl -r 0 -t 300ms -s "$RPORT" "$CHAIN_T4:$LAB_PORT_OPEN"
low=$(for f in rstttl1 rstttl; do "$PY" tests/lab/wire.py dump -v "$T/$f.pcap" 2>/dev/null; done |
	awk -v s="$RPORT" '$4 == s && $7 ~ /^R/ { for (i = 8; i <= NF; i++) if ($i ~ /^ttl=/) { split($i, a, "="); if (a[2] < 4) n++ } } END { print n + 0 }')
if grep -q "sport=$RPORT ok .*hops=4" "$T/rstttl.1" && grep -q "sport=$RPORT ok .*hops=4" "$T/rstttl.out" &&
	[ ! -s "$T/rstttl.cap" ] && [ "$low" = 0 ]; then
	pass rst-reaches-target
else fail rst-reaches-target "RSTs with TTL < 4: $low; first: $(head -1 "$T/rstttl.1" 2>/dev/null); $(why rstttl)"; fi

# ---- RFC 5927: forged answers with sequence numbers we did not send -------------
# The target drops our SYNs (port 8082), so hop 4 stays silent unless a forged
# answer is believed. Once the SYN with TTL 4 is on the wire, the server sends
# (through the routers) an ICMP time exceeded and a SYN/ACK that quote our
# 4-tuple, each with that SYN's sequence number + 1. The forger starts (and
# imports scapy, which takes seconds) first and waits for its go file, so the
# forgeries arrive while the trace runs; the test checks that it still ran.
forge_ok=no alive=no
go=$T/forge.go
cat >"$T/forge.py" <<'EOF'
import os, sys, time
from scapy.all import IP, ICMP, TCP, send, conf
conf.verb = 0
target, client, dport, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
print("ready", flush=True)
for _ in range(3000):
    if os.path.exists(go) and open(go).read().endswith("\n"):
        break
    time.sleep(0.01)
sport, seq = (int(x) for x in open(go).read().split())
quote = IP(src=client, dst=target, ttl=1) / TCP(sport=sport, dport=dport, flags="S", seq=seq)
send(IP(src=target, dst=client) / ICMP(type=11, code=0) / bytes(quote)[:28])
send(IP(src=target, dst=client) / TCP(sport=dport, dport=sport, flags="SA", seq=777, ack=seq + 1))
print("sent", flush=True)
EOF
lab_sbg "$PY" "$T/forge.py" "$CHAIN_T4" "$(lab_chain_net4 0).1" "$LAB_PORT_DROPPED" "$go" \
	>"$T/forge.log" 2>&1
fpid=$LAB_BG_PID
wait_until 30 grep -q '^ready' "$T/forge.log"
LAB_CAP_IF=$CHAIN_CIF lab_capture_start "$T/forged.pcap" "tcp or icmp or icmp6" &&
	LAB_WRAP="timeout 60" lab_tcpprobe_bg probe --kind trace --json --max-hops 4 -r 0 -t 3s \
		"$CHAIN_T4:$LAB_PORT_DROPPED" >"$T/forged.out" 2>"$T/forged.err"
ppid=$LAB_BG_PID
syn4() { "$PY" tests/lab/wire.py dump -v "$T/forged.pcap" 2>/dev/null |
	awk -v t="$CHAIN_T4" '$5 == t && $7 == "S" && / ttl=4 / { print $4, $8; exit }'; }
syn4_seen() { [ -n "$(syn4)" ]; }
if wait_until 5 syn4_seen; then
	read -r fsport fseq <<<"$(syn4)"
	bad=$(( (fseq + 1) % 4294967296 ))
	echo "$fsport $bad" >"$go.tmp" && mv "$go.tmp" "$go"
	wait_until 10 grep -q '^sent' "$T/forge.log" && forge_ok=yes
	kill -0 "$ppid" 2>/dev/null && alive=yes
fi
wait "$ppid"
echo $? >"$T/forged.rc"
wait "$fpid" 2>/dev/null
lab_capture_stop "$T/forged.pcap"
lab_capture_ok "$T/forged.pcap" 1 "icmp11/0 .*q:.*/${bad:-x} " >"$T/forged.cap" || true
res=$("$PY" - "$T/forged.out" "$CHAIN_T4" <<'EOF' 2>&1
import json, sys
r = json.load(open(sys.argv[1]))
h = r["hops"]
bad = [x for x in h if x["address"] == sys.argv[2]]
print("ok" if r["result"] == "timeout" and len(h) == 4 and h[3]["kind"] == "silent" and not bad
      else "result %s hops %s" % (r["result"], h))
EOF
)
rst=$("$PY" tests/lab/wire.py dump "$T/forged.pcap" | awk -v s="${fsport:-x}" '$4 == s && $7 ~ /^R/' | wc -l)
if [ "$forge_ok" = yes ] && [ "$alive" = yes ] && [ ! -s "$T/forged.cap" ] && [ "$res" = ok ] &&
	[ "$rst" = 0 ]; then
	pass forged-ignored
else fail forged-ignored "forge=$forge_ok trace running then: $alive ($(tail -c 300 "$T/forge.log" 2>/dev/null)); $res; rsts=$rst; $(why forged)"; fi

# ---- the address policy ----------------------------------------------------------
LAB_CAP_IF=$CHAIN_CIF lab_capture_start "$T/policy.pcap" "tcp" &&
	LAB_WRAP="timeout 20" lab_tcpprobe probe --kind trace 224.0.0.1:80 >"$T/policy.out" 2>"$T/policy.err"
prc=$?
lab_capture_stop "$T/policy.pcap"
n=$("$PY" tests/lab/wire.py dump "$T/policy.pcap" | wc -l)
if [ "$prc" = 2 ] && grep -qi multicast "$T/policy.err" && [ "$n" = 0 ]; then pass policy
else fail policy "rc=$prc segments=$n err: $(cat "$T/policy.err")"; fi

# ---- the daemon: kind = trace targets, under the pps cap ---------------------------
# Outside the probes' source ports (20000-29999) and the kernel's ephemeral range.
MPORT=$((30000 + $$ % 2000))
{
	dl_conf_daemon pps=10 metrics_listen=127.0.0.1:$MPORT
	cat <<EOF
[defaults]
kind = trace
interval = 500ms
timeout = 500ms
retries = 0
port = $LAB_PORT_OPEN
max_hops = 8

[target t4]
host = $CHAIN_T4

[target t6]
host = $CHAIN_T6
EOF
} >"$T/d.conf"
LAB_CAP_IF=$CHAIN_CIF lab_capture_start "$T/d.pcap" "tcp"
if dl_start "$T/d.conf"; then
	wait_until 20 dl_has_results t4 4
	wait_until 20 dl_has_results t6 4
	ctl --json show t4 >"$T/show4.json"
	ctl --json show t6 >"$T/show6.json"
	ctl show t4 >"$T/show4.txt"
	dl_http "http://127.0.0.1:$MPORT/metrics" >"$T/metrics.txt"
	dl_stop
fi
lab_capture_stop "$T/d.pcap"
for fam in 4 6; do
	"$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["target"]; print(json.dumps(dict(t["trace"], port=0, source_port=0)))' \
		"$T/show$fam.json" >"$T/trace$fam.json" 2>"$T/trace$fam.err"
done
r4=$(tc hops "$T/trace4.json" --routers "$R4" --target "$CHAIN_T4" 2>&1)
r6=$(tc hops "$T/trace6.json" --routers "$R6" --target "$CHAIN_T6" 2>&1)
got=$(awk '/^last trace: ok/ { on = 1; next } on && !/^ +[0-9]+  / { on = 0 } on { print $1, $2 }' "$T/show4.txt" | paste -sd, -)
want="1 ${CHAIN_R4[1]},2 ${CHAIN_R4[2]},3 ${CHAIN_R4[3]},4 $CHAIN_T4"
if [ "$r4" = ok ] && [ "$r6" = ok ] && [ "$got" = "$want" ]; then pass daemon-show
else fail daemon-show "v4: $r4; v6: $r6; text '$got' want '$want'; $(head -c 400 "$T/trace4.err")"; fi
m=$(grep -E '^tcpprobe_trace_(silent_)?hops\{target="t[46]"' "$T/metrics.txt" | sort | tr '\n' ' ')
want='tcpprobe_trace_hops{target="t4"} 4 tcpprobe_trace_hops{target="t6"} 4 tcpprobe_trace_silent_hops{target="t4"} 0 tcpprobe_trace_silent_hops{target="t6"} 0 '
if [ "$m" = "$want" ]; then pass daemon-metrics
else fail daemon-metrics "got '$m'"; fi
# The cap counts every segment we send: SYNs and the RSTs on SYN/ACKs.
res=$("$PY" - "$T/d.pcap" "$(lab_chain_net4 0).1" "$(lab_chain_net6 0)::1" <<'EOF' 2>&1
import sys
sys.path.insert(0, "tests/lab")
import wire
ts = sorted(s.t for s in wire.segments(sys.argv[1]) if s.icmp is None and s.src in sys.argv[2:])
j = 0
worst = 0
for i in range(len(ts)):
    while ts[i] - ts[j] >= 1e9:
        j += 1
    worst = max(worst, i - j + 1)
secs = (ts[-1] - ts[0]) / 1e9 if ts else 0
print("ok" if worst <= 14 and len(ts) >= 30 else "bad",
      "worst second %d segments, %d in %.1f s" % (worst, len(ts), secs))
EOF
)
waited=$(grep -E '^tcpprobe_probes_waited_total ' "$T/metrics.txt" | awk '{print $2}')
if lab_capture_ok "$T/d.pcap" 30 >"$T/d.cap" && [ "${res%% *}" = ok ]; then pass daemon-pps
else fail daemon-pps "$res; waited=$waited; $(cat "$T/d.cap")"; fi
echo "pps: $res (probes waited on the caps: $waited)"

# ---- ECMP: with flows, one trace per flow shows each flow's path ------------------
# r1 splits the server's prefix over r2 and r2' (tests/lab/lab_chain_alt.sh), a
# multipath route for each family: IPv4 hashed on the 5-tuple, IPv6 on
# addresses and flow label only (fib_multipath_hash_policy 0), so over IPv6 the
# flow label alone picks the leg: each flow must keep one label for all its
# TTLs, and the flows' labels must differ. Ground truth: captures on r1's links
# to r2 and r2' say which flow (source port) took which; each flow's trace
# must name that router at hop 2, every SYN of a flow must have crossed one leg
# only, and both legs must carry some flow (12 flows: all on one leg is 1 in
# 2,048).
leg4a=$(lab_chain_net4 1).2 leg4b=$(lab_chain_net4 11).2
leg6a=$(lab_chain_net6 1)::2 leg6b=$(lab_chain_net6 11)::2
# ecmp_probe LABEL TARGET HOSTPORT VIA: `--flows 12 --kind trace` under captures
# on both legs, judged (check ecmp-flows[-v6]).
ecmp_probe() {
	local label=$1 tgt=$2 hp=$3 via=$4 res legs
	LAB_CAP_NS=${CHAIN_NS[1]} LAB_CAP_IF=ch1-l lab_capture_start "$T/legA$label.pcap" "tcp" &&
		LAB_CAP_NS=${CHAIN_NS[1]} LAB_CAP_IF=ch11-l lab_capture_start "$T/legB$label.pcap" "tcp"
	LAB_WRAP="timeout 60" lab_tcpprobe probe --kind trace --flows 12 --json -r 0 -t 500ms \
		"$hp" >"$T/ecmp$label.out" 2>"$T/ecmp$label.err"
	echo $? >"$T/ecmp$label.rc"
	lab_capture_stop "$T/legA$label.pcap"
	lab_capture_stop "$T/legB$label.pcap"
	res=$(tc ecmp "$T/ecmp$label.out" --legs "$T/legA$label.pcap,$T/legB$label.pcap" --via "$via" \
		--target "$tgt" --flows 12 2>&1)
	legs=$(for p in legA legB; do "$PY" tests/lab/wire.py dump "$T/$p$label.pcap" |
		awk -v t="$tgt" '$5 == t && $7 == "S" { print $4 }' | sort -u | wc -l; done | paste -sd/ -)
	if [ "$res" = ok ] && [ "$(cat "$T/ecmp$label.rc")" = 0 ]; then pass "ecmp-flows$label"
	else fail "ecmp-flows$label" "$res; rc=$(cat "$T/ecmp$label.rc"); err: $(head -c 300 "$T/ecmp$label.err")"; fi
	echo "ecmp${label:- v4}: flows over leg A / leg B: $legs"
}
if lab_chain_alt_up && lab_chain_exec 1 sysctl -qw net.ipv4.fib_multipath_hash_policy=1 \
	net.ipv6.fib_multipath_hash_policy=0 &&
	ip -n "${CHAIN_NS[1]}" route replace "$(lab_chain_net4 3).0/24" \
		nexthop via "$leg4a" nexthop via "$leg4b" &&
	ip -n "${CHAIN_NS[1]}" -6 route replace "$(lab_chain_net6 3)::/64" \
		nexthop via "$leg6a" nexthop via "$leg6b"; then
	ecmp_probe "" "$CHAIN_T4" "$CHAIN_T4:$LAB_PORT_OPEN" "$leg4a,$leg4b"
	ecmp_probe -v6 "$CHAIN_T6" "[$CHAIN_T6]:$LAB_PORT_OPEN" "$leg6a,$leg6b"
	# The daemon: kind = trace targets with flows = 12 keep each flow's path
	# (ctl show's flows[].path), judged by the same kind of captures.
	{
		dl_conf_daemon
		for fam in 4 6; do
			if [ $fam = 4 ]; then host=$CHAIN_T4; else host=$CHAIN_T6; fi
			cat <<EOF
[target e$fam]
host = $host
port = $LAB_PORT_OPEN
kind = trace
flows = 12
interval = 1s
timeout = 500ms
retries = 0
max_hops = 8
EOF
		done
	} >"$T/e.conf"
	LAB_CAP_NS=${CHAIN_NS[1]} LAB_CAP_IF=ch1-l lab_capture_start "$T/dlegA.pcap" "tcp" &&
	LAB_CAP_NS=${CHAIN_NS[1]} LAB_CAP_IF=ch11-l lab_capture_start "$T/dlegB.pcap" "tcp" &&
	dl_start "$T/e.conf" && wait_until 20 dl_has_results e4 12 && wait_until 10 dl_has_results e6 12
	for fam in 4 6; do
		ctl --json show "e$fam" >"$T/eshow$fam.json"
		ctl show "e$fam" >"$T/eshow$fam.txt"
	done
	dl_stop
	lab_capture_stop "$T/dlegA.pcap"
	lab_capture_stop "$T/dlegB.pcap"
	for fam in 4 6; do
		if [ $fam = 4 ]; then tgt=$CHAIN_T4 via="$leg4a,$leg4b" label=""
		else tgt=$CHAIN_T6 via="$leg6a,$leg6b" label=-v6; fi
		res=$(tc ecmp "$T/eshow$fam.json" --legs "$T/dlegA.pcap,$T/dlegB.pcap" --via "$via" \
			--target "$tgt" --flows 12 2>&1)
		npaths=$(grep -c '^ *path: ' "$T/eshow$fam.txt")
		if [ "$res" = ok ] && [ "$npaths" = 12 ]; then pass "ecmp-flows-daemon$label"
		else fail "ecmp-flows-daemon$label" "$res; text path lines: $npaths"; fi
	done
else
	for c in ecmp-flows ecmp-flows-v6 ecmp-flows-daemon ecmp-flows-daemon-v6; do
		fail "$c" "lab_chain_alt_up or the multipath routes failed"
	done
fi

dl_done
