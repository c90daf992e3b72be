#!/usr/bin/env bash
# `tcpprobe probe` against the namespace lab, IPv4 and IPv6: what it reports
# and what crossed the wire (a nanosecond capture on the client veth).
set -u
cd "$(dirname "$0")/../.."
source tests/lab/lab.sh
BIN=${TCPPROBE:-$PWD/${B:-build}/tcpprobe}
PY=/usr/bin/python3
tmp=$(mktemp -d /tmp/tcpprobe-probe.XXXXXX)
trap 'lab_down; rm -rf "$tmp"' EXIT
lab_up || { echo "FAIL probe-lab: lab did not come up"; exit 1; }

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# probe NAME ARGS...: runs tcpprobe probe --json in the client ns with a capture;
# leaves $tmp/NAME.json (stdout), NAME.err, NAME.pcap, NAME.rc
probe() {
	local name=$1; shift
	lab_capture_start "$tmp/$name.pcap" "tcp or icmp or icmp6"
	ip netns exec "$LAB_CNS" timeout 60 "$BIN" probe --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
	sleep 0.3
	lab_capture_stop "$tmp/$name.pcap"
}

# jq-like checks with Debian's python: jcheck NAME 'python expression over r (first object)'
jcheck() {
	"$PY" - "$tmp/$1.json" "$2" <<'EOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = rs[0] if rs else {}
ok = eval(sys.argv[2])
if not ok:
    print(json.dumps(rs)[:600])
sys.exit(0 if ok else 1)
EOF
}

states() { # NAME: the states entered, in order, deduplicated
	"$PY" -c '
import json,sys
r=json.loads(open(sys.argv[1]).readline())
out=[]
for e in r["timeline"]:
    if not out or out[-1]!=e["state"]: out.append(e["state"])
print(" ".join(out))' "$tmp/$1.json"
}

flags() { "$PY" tests/lab/wire.py flags "$tmp/$1.pcap" --port "$2" | head -n 1 | sed 's/^[^:]*: //'; }

no_kernel_rst() { # NAME: no RST from the client side except tcpprobe's own (R. or R seq=SEG.ACK)
	local n
	n=$("$PY" tests/lab/wire.py rsts "$tmp/$1.pcap" | wc -l)
	[ "$n" -eq "${2:-0}" ]
}

for fam in 4 6; do
	if [ $fam = 4 ]; then S=$LAB_S4; T=$S; else S=$LAB_S6; T="[$S]"; fi
	icmp_unreach_ok="r['icmp']['type']==3 and r['icmp']['code']==3"
	icmp_prohib_ok="r['icmp']['type']==3 and r['icmp']['code']==13"
	if [ $fam = 6 ]; then
		icmp_unreach_ok="r['icmp']['type']==1 and r['icmp']['code']==4"
		icmp_prohib_ok="r['icmp']['type']==1 and r['icmp']['code']==1"
	fi

	probe open$fam "$T:$LAB_PORT_OPEN"
	if [ "$(cat "$tmp/open$fam.rc")" = 0 ] &&
	   jcheck open$fam "r['result']=='ok' and r['close']=='ok' and r['rtt_us']>0 and r['peer']['mss']>0 and r['phases_us']['close']>0 and r['kind']=='handshake'"; then
		pass "probe-open-v$fam"
	else fail "probe-open-v$fam" "rc=$(cat "$tmp/open$fam.rc") $(head -c 300 "$tmp/open$fam.json") $(cat "$tmp/open$fam.err")"; fi
	if no_kernel_rst open$fam; then pass "probe-open-no-client-rst-v$fam"
	else fail "probe-open-no-client-rst-v$fam" "$("$PY" tests/lab/wire.py rsts "$tmp/open$fam.pcap")"; fi
	# Our SYN: Linux's options, in Linux's order; checksums valid on everything we sent.
	syn=$("$PY" tests/lab/wire.py dump "$tmp/open$fam.pcap" | awk '$2==">" && $7=="S"' | head -n1)
	if echo "$syn" | grep -q 'mss1460,sackOK,TS[0-9]*:0,nop,ws7' && echo "$syn" | awk '{exit !($13=="ok")}'; then
		pass "probe-syn-options-checksum-v$fam"
	else fail "probe-syn-options-checksum-v$fam" "$syn"; fi
	bad=$("$PY" tests/lab/wire.py dump "$tmp/open$fam.pcap" | awk '$2==">" && $13!="ok"' | wc -l)
	[ "$bad" -eq 0 ] && pass "probe-checksums-v$fam" || fail "probe-checksums-v$fam" "$bad client segments with bad checksums"

	probe closed$fam "$T:$LAB_PORT_CLOSED"
	if [ "$(cat "$tmp/closed$fam.rc")" = 1 ] && jcheck closed$fam "r['result']=='refused' and r['close']=='none'"; then
		pass "probe-closed-refused-v$fam"
	else fail "probe-closed-refused-v$fam" "$(head -c 300 "$tmp/closed$fam.json")"; fi

	probe dropped$fam --timeout 100ms --retries 2 "$T:$LAB_PORT_DROPPED"
	nsyn=$("$PY" tests/lab/wire.py dump "$tmp/dropped$fam.pcap" | awk '$2==">" && $7=="S"' | wc -l)
	if jcheck dropped$fam "r['result']=='timeout' and r['syn_retransmits']==2" && [ "$nsyn" -eq 3 ]; then
		pass "probe-dropped-timeout-v$fam"
	else fail "probe-dropped-timeout-v$fam" "wire SYNs=$nsyn $(head -c 300 "$tmp/dropped$fam.json")"; fi

	probe unreach$fam "$T:$LAB_PORT_UNREACH"
	if jcheck unreach$fam "r['result']=='unreachable' and $icmp_unreach_ok"; then
		pass "probe-icmp-port-unreachable-v$fam"
	else fail "probe-icmp-port-unreachable-v$fam" "$(head -c 300 "$tmp/unreach$fam.json")"; fi

	probe prohib$fam "$T:$LAB_PORT_PROHIB"
	if jcheck prohib$fam "r['result']=='unreachable' and $icmp_prohib_ok"; then
		pass "probe-icmp-admin-prohibited-v$fam"
	else fail "probe-icmp-admin-prohibited-v$fam" "$(head -c 300 "$tmp/prohib$fam.json")"; fi

	probe slow$fam "$T:$LAB_PORT_SLOWCLOSE"
	f=$(flags slow$fam "$LAB_PORT_SLOWCLOSE")
	st=$(states slow$fam)
	if [ "$f" = "S S. . F. . F. ." ] && [[ "$st" == *"FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT"* ]] &&
	   jcheck slow$fam "r['result']=='ok' and r['close']=='ok' and r['phases_us']['fin_wait_2']>150000"; then
		pass "probe-four-way-close-v$fam"
	else fail "probe-four-way-close-v$fam" "wire='$f' states='$st'"; fi

	probe first$fam --hold 200ms "$T:$LAB_PORT_CLOSEFIRST"
	st=$(states first$fam)
	if [[ "$st" == *"ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED"* ]] && jcheck first$fam "r['close']=='ok'"; then
		pass "probe-passive-close-v$fam"
	else fail "probe-passive-close-v$fam" "states='$st' $(head -c 200 "$tmp/first$fam.json")"; fi

	probe banner$fam --hold 100ms "$T:$LAB_PORT_BANNER"
	if jcheck banner$fam "r['result']=='ok' and r['bytes_received']==len('SSH-2.0-tcpprobe-lab\r\n') and r['close']=='ok'"; then
		pass "probe-banner-data-acked-v$fam"
	else fail "probe-banner-data-acked-v$fam" "$(head -c 300 "$tmp/banner$fam.json")"; fi

	probe syn$fam --kind syn "$T:$LAB_PORT_OPEN"
	f=$(flags syn$fam "$LAB_PORT_OPEN")
	if [ "$f" = "S S. R." ] && jcheck syn$fam "r['result']=='ok' and r['kind']=='syn'" && no_kernel_rst syn$fam 1; then
		pass "probe-syn-kind-v$fam"
	else fail "probe-syn-kind-v$fam" "wire='$f'"; fi

	probe fin$fam --kind fin --timeout 100ms --retries 1 "$T:$LAB_PORT_CLOSED"
	if jcheck fin$fam "r['result']=='closed'"; then pass "probe-fin-closed-v$fam"
	else fail "probe-fin-closed-v$fam" "$(head -c 300 "$tmp/fin$fam.json")"; fi
done

# The guard's table is gone after a normal exit and after SIGTERM.
if ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard >/dev/null 2>&1; then
	fail probe-guard-removed-on-exit "table still there"
else pass probe-guard-removed-on-exit; fi
ip netns exec "$LAB_CNS" "$BIN" probe --count 100 --interval 0.05 "$LAB_S4:$LAB_PORT_OPEN" >/dev/null 2>&1 &
pid=$!
sleep 1
had=$(ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard >/dev/null 2>&1 && echo yes || echo no)
kill -TERM $pid; wait $pid 2>/dev/null
if [ "$had" = yes ] && ! ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard >/dev/null 2>&1; then
	pass probe-guard-removed-on-sigterm
else fail probe-guard-removed-on-sigterm "present while running: $had"; fi

# A stale table (as a crash leaves it) is replaced, and removed at exit.
ip netns exec "$LAB_CNS" nft add table inet tcpprobe_guard
probe stale "$LAB_S4:$LAB_PORT_OPEN"
if jcheck stale "r['result']=='ok'" && ! ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard >/dev/null 2>&1; then
	pass probe-guard-stale-replaced
else fail probe-guard-stale-replaced "$(cat "$tmp/stale.err")"; fi

# Usage errors exit 2; the human output has a ping-like summary.
ip netns exec "$LAB_CNS" "$BIN" probe --kind bogus "$LAB_S4" >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && pass probe-usage-exit-2 || fail probe-usage-exit-2 "rc=$rc"
out=$(ip netns exec "$LAB_CNS" "$BIN" probe --count 3 --interval 0.1 "$LAB_S4:$LAB_PORT_OPEN" 2>&1); rc=$?
if [ $rc = 0 ] && echo "$out" | grep -q '3 probes sent, 3 ok, 0.0% loss' && echo "$out" | grep -q 'rtt min/avg/max/mdev'; then
	pass probe-human-summary
else fail probe-human-summary "rc=$rc $out"; fi
out=$(ip netns exec "$LAB_CNS" "$BIN" probe --trace "$LAB_S4:$LAB_PORT_SLOWCLOSE" 2>&1)
if echo "$out" | grep -q -- '--> S ' && echo "$out" | grep -q '<-- S\.' && echo "$out" | grep -q 'TIME_WAIT'; then
	pass probe-trace-timeline
else fail probe-trace-timeline "$out"; fi

# RTT agreement with the wire over 200 probes (the capture is on the client veth).
probe rtt --count 200 --interval 0.01 --time-wait 100ms "$LAB_S4:$LAB_PORT_OPEN"
res=$("$PY" - "$tmp/rtt.json" <<EOF
import json, subprocess, sys
wire = {}
for line in subprocess.run(["$PY", "tests/lab/wire.py", "rtts", "$tmp/rtt.pcap"], capture_output=True, text=True).stdout.splitlines():
    t0, src, sport, dst, dport, rtt, n = line.split()
    wire[int(sport)] = int(rtt)
errs = []
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["result"] == "ok" and r["source_port"] in wire:
        errs.append(abs(r["rtt_us"] * 1000 - wire[r["source_port"]]))
errs.sort()
n = len(errs)
if n < 190:
    print("only %d matched probes" % n); sys.exit(1)
med = errs[n // 2] / 1000; p99 = errs[min(n - 1, n * 99 // 100)] / 1000
print("n=%d median_err_us=%.3f p99_err_us=%.3f max_err_us=%.3f" % (n, med, p99, errs[-1] / 1000))
sys.exit(0 if med <= 10 else 1)
EOF
)
rc=$?
echo "rtt agreement with the wire: $res"
[ $rc = 0 ] && pass "probe-rtt-matches-wire ($res)" || fail probe-rtt-matches-wire "$res"
