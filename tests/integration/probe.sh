#!/usr/bin/env bash
# `tcpprobe probe` against the namespace lab, IPv4 and IPv6: what it reports
# and what crossed the wire (a nanosecond capture on the client veth). Every
# check that reads a capture first checks it (lab_capture_ok): started, no
# drops, holds the segments the check is about.
# checks: 33
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
source tests/lab/lab.sh
dl_init probe ""
BIN=$DL_BIN PY=$DL_PY tmp=$DL_T


# probe NAME ARGS...: runs tcpprobe probe --json in the client ns with a capture;
# leaves $tmp/NAME.json (stdout), NAME.err, NAME.pcap, NAME.rc
probe() {
	local name=$1; shift
	lab_capture_start "$tmp/$name.pcap" "tcp or icmp or icmp6"
	LAB_WRAP="timeout 60" lab_tcpprobe probe --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
	lab_capture_stop "$tmp/$name.pcap"
}

# Dump lines of one segment kind: "> S" is a client SYN, "< R." a server RST/ACK,
# "< icmp3/3" an ICMP error to the client (wire.py dump columns 2 and 7).
seg() { echo "^[0-9]+ $1 ([^ ]+ ){4}$(echo "$2" | sed 's/\./\\./g') "; }
# cap NAME MIN DIR FLAGS: the capture holds >= MIN such segments; else says why
cap() { lab_capture_ok "$tmp/$1.pcap" "$2" "$(seg "$3" "$4")"; }
# wflags NAME PORT: per-direction flag sequence of the first conversation
wflags() { "$PY" tests/lab/wire.py flags "$tmp/$1.pcap" --port "$2" --dir | head -n 1 | sed 's/^[^:]*: //'; }

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
	# What the absence checks below read: our SYN, ACK and FIN, the server's FIN.
	capwhy=$(cap open$fam 1 '>' S && cap open$fam 1 '>' F. && cap open$fam 1 '<' F.)
	if [ -n "$capwhy" ]; then fail "probe-open-no-client-rst-v$fam" "$capwhy"
	elif no_kernel_rst open$fam; then pass "probe-open-no-client-rst-v$fam"
	else fail "probe-open-no-client-rst-v$fam" "$("$PY" tests/lab/wire.py rsts "$tmp/open$fam.pcap")"; fi
	# Our SYN: Linux's options, in Linux's order; checksums valid on everything we sent.
	syn=$("$PY" tests/lab/wire.py dump "$tmp/open$fam.pcap" | awk '$2==">" && $7=="S"' | head -n1)
	if echo "$syn" | grep -q 'mss1460,sackOK,TS[0-9]*:0,nop,ws7' && echo "$syn" | awk '{exit !($13=="ok")}'; then
		pass "probe-syn-options-checksum-v$fam"
	else fail "probe-syn-options-checksum-v$fam" "$syn"; fi
	bad=$("$PY" tests/lab/wire.py dump "$tmp/open$fam.pcap" | awk '$2==">" && $13!="ok"' | wc -l)
	if [ -n "$capwhy" ]; then fail "probe-checksums-v$fam" "$capwhy"
	elif [ "$bad" -eq 0 ]; then pass "probe-checksums-v$fam"
	else fail "probe-checksums-v$fam" "$bad client segments with bad checksums"; fi

	probe closed$fam "$T:$LAB_PORT_CLOSED"
	if [ "$(cat "$tmp/closed$fam.rc")" = 1 ] && jcheck closed$fam "r['result']=='refused' and r['close']=='none'" &&
		[ "$(wflags closed$fam "$LAB_PORT_CLOSED")" = ">S <R." ]; then
		pass "probe-closed-refused-v$fam"
	else fail "probe-closed-refused-v$fam" "wire='$(wflags closed$fam "$LAB_PORT_CLOSED")' $(head -c 300 "$tmp/closed$fam.json")"; fi

	probe dropped$fam --timeout 100ms --retries 2 "$T:$LAB_PORT_DROPPED"
	nsyn=$("$PY" tests/lab/wire.py dump "$tmp/dropped$fam.pcap" | awk '$2==">" && $7=="S"' | wc -l)
	capwhy=$(lab_capture_ok "$tmp/dropped$fam.pcap")
	if [ -z "$capwhy" ] && jcheck dropped$fam "r['result']=='timeout' and r['syn_retransmits']==2" && [ "$nsyn" -eq 3 ]; then
		pass "probe-dropped-timeout-v$fam"
	else fail "probe-dropped-timeout-v$fam" "$capwhy wire SYNs=$nsyn $(head -c 300 "$tmp/dropped$fam.json")"; fi

	# The wire: our SYN, then the ICMP error quoting it, and nothing more from us.
	icmp_wire() { # NAME ICMP-FLAGS PORT
		local why w
		why=$(cap "$1" 1 '>' S && cap "$1" 1 '<' "$2") || { echo "$why"; return 1; }
		w=$(wflags "$1" "$3")
		[[ $w =~ ^'>S <'"$2"$ ]] || { echo "wire '$w', want '>S <$2'"; return 1; }
		"$PY" tests/lab/wire.py dump "$tmp/$1.pcap" | awk -v i="$2" '
			$2 == ">" && $7 == "S" { syn = "q:" $3 "." $4 ">" $5 "." $6 "/" $8 }
			$2 == "<" && $7 == i { q = $12 }
			END { if (syn != q) { print "ICMP quotes " q ", our SYN was " syn; exit 1 } }'
	}
	unreach_icmp=icmp3/3 prohib_icmp=icmp3/13
	[ $fam = 6 ] && unreach_icmp=icmp6:1/4 prohib_icmp=icmp6:1/1
	probe unreach$fam "$T:$LAB_PORT_UNREACH"
	if why=$(icmp_wire unreach$fam $unreach_icmp "$LAB_PORT_UNREACH") &&
		jcheck unreach$fam "r['result']=='unreachable' and $icmp_unreach_ok"; then
		pass "probe-icmp-port-unreachable-v$fam"
	else fail "probe-icmp-port-unreachable-v$fam" "$why $(head -c 300 "$tmp/unreach$fam.json")"; fi

	probe prohib$fam "$T:$LAB_PORT_PROHIB"
	if why=$(icmp_wire prohib$fam $prohib_icmp "$LAB_PORT_PROHIB") &&
		jcheck prohib$fam "r['result']=='unreachable' and $icmp_prohib_ok"; then
		pass "probe-icmp-admin-prohibited-v$fam"
	else fail "probe-icmp-admin-prohibited-v$fam" "$why $(head -c 300 "$tmp/prohib$fam.json")"; fi

	probe slow$fam "$T:$LAB_PORT_SLOWCLOSE"
	f=$(flags slow$fam "$LAB_PORT_SLOWCLOSE")
	st=$(states slow$fam)
	if [ "$f" = "S S. . F. . F. ." ] && [ "$(wflags slow$fam "$LAB_PORT_SLOWCLOSE")" = ">S <S. >. >F. <. <F. >." ] && [[ "$st" == *"FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT"* ]] &&
	   jcheck slow$fam "r['result']=='ok' and r['close']=='ok' and r['phases_us']['fin_wait_2']>150000"; then
		pass "probe-four-way-close-v$fam"
	else fail "probe-four-way-close-v$fam" "wire='$f' states='$st'"; fi

	probe first$fam --hold 200ms "$T:$LAB_PORT_CLOSEFIRST"
	st=$(states first$fam)
	# The server's FIN first, then ours (after our ACK of it, or with it), then its ACK.
	w=$(wflags first$fam "$LAB_PORT_CLOSEFIRST")
	if [[ $w =~ ^'>S <S. >. <F. '('>. ')?'>F. <.'$ ]] &&
		[[ "$st" == *"ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED"* ]] && jcheck first$fam "r['close']=='ok'"; then
		pass "probe-passive-close-v$fam"
	else fail "probe-passive-close-v$fam" "wire='$w' states='$st' $(head -c 200 "$tmp/first$fam.json")"; fi

	probe banner$fam --hold 100ms "$T:$LAB_PORT_BANNER"
	# On the wire: the server's 22 bytes after its SYN/ACK (seq Y) and our
	# ACK of them, ack = Y+1+22, before our FIN.
	why=$(cap banner$fam 1 '<' P.) &&
	why=$("$PY" tests/lab/wire.py dump "$tmp/banner$fam.pcap" | awk -v n=22 '
		$2 == "<" && $7 == "S." { y = $8 }
		$2 == "<" && $11 == n { data = 1 }
		$2 == ">" && y != "" && $9 == (y + 1 + n) % 4294967296 && $7 == "." { acked = 1 }
		END { if (!data || !acked) { printf "server data of %d bytes seen: %d, our ACK %s+1+%d seen: %d", n, data, y, n, acked; exit 1 } }')
	if [ -z "$why" ] && jcheck banner$fam "r['result']=='ok' and r['bytes_received']==len('SSH-2.0-tcpprobe-lab\r\n') and r['close']=='ok'"; then
		pass "probe-banner-data-acked-v$fam"
	else fail "probe-banner-data-acked-v$fam" "$why $(head -c 300 "$tmp/banner$fam.json")"; fi

	probe syn$fam --kind syn "$T:$LAB_PORT_OPEN"
	f=$(flags syn$fam "$LAB_PORT_OPEN")
	if [ "$(wflags syn$fam "$LAB_PORT_OPEN")" = ">S <S. >R." ] && jcheck syn$fam "r['result']=='ok' and r['kind']=='syn'" && no_kernel_rst syn$fam 1; then
		pass "probe-syn-kind-v$fam"
	else fail "probe-syn-kind-v$fam" "wire='$f'"; fi

	probe fin$fam --kind fin --timeout 100ms --retries 1 "$T:$LAB_PORT_CLOSED"
	# Our bare FIN, the closed port's RST answering it (ack = our seq + 1).
	w=$(wflags fin$fam "$LAB_PORT_CLOSED")
	why=$(cap fin$fam 1 '>' F && cap fin$fam 1 '<' R.) &&
	why=$("$PY" tests/lab/wire.py dump "$tmp/fin$fam.pcap" | awk '
		$2 == ">" && $7 == "F" { s = $8 } $2 == "<" && $7 == "R." { a = $9 }
		END { if (a != (s + 1) % 4294967296) { print "RST ack " a ", our FIN seq " s; exit 1 } }')
	if [ -z "$why" ] && [ "$w" = ">F <R." ] && jcheck fin$fam "r['result']=='closed'"; then pass "probe-fin-closed-v$fam"
	else fail "probe-fin-closed-v$fam" "$why wire='$w' $(head -c 300 "$tmp/fin$fam.json")"; fi
done

# The guard's table is gone after a normal exit and after SIGTERM.
if ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard_20000_29999 >/dev/null 2>&1; then
	fail probe-guard-removed-on-exit "table still there"
else pass probe-guard-removed-on-exit; fi
lab_tcpprobe_bg probe --count 100 --interval 0.05 "$LAB_S4:$LAB_PORT_OPEN" >"$tmp/term.out" 2>&1
pid=$LAB_BG_PID
# Wait for the probe's first answer (the guard is installed before it): <= 5 s.
had=no
for _ in $(seq 1 100); do
	if grep -q . "$tmp/term.out" && ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard_20000_29999 >/dev/null 2>&1; then had=yes; break; fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
kill -TERM $pid; wait $pid 2>/dev/null
if [ "$had" = yes ] && ! ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard_20000_29999 >/dev/null 2>&1; then
	pass probe-guard-removed-on-sigterm
else fail probe-guard-removed-on-sigterm "present while running: $had"; fi

# A stale table (as a crash leaves it) is replaced, and removed at exit.
ip netns exec "$LAB_CNS" nft add table inet tcpprobe_guard_20000_29999
probe stale "$LAB_S4:$LAB_PORT_OPEN"
if jcheck stale "r['result']=='ok'" && ! ip netns exec "$LAB_CNS" nft list table inet tcpprobe_guard_20000_29999 >/dev/null 2>&1; then
	pass probe-guard-stale-replaced
else fail probe-guard-stale-replaced "$(cat "$tmp/stale.err")"; fi

# Usage errors exit 2; the human output has a ping-like summary.
lab_tcpprobe probe --kind bogus "$LAB_S4" >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && pass probe-usage-exit-2 || fail probe-usage-exit-2 "rc=$rc"
out=$(lab_tcpprobe probe --count 3 --interval 0.1 "$LAB_S4:$LAB_PORT_OPEN" 2>&1); rc=$?
if [ $rc = 0 ] && echo "$out" | grep -q '3 probes sent, 3 ok, 0.0% loss' && echo "$out" | grep -q 'rtt min/avg/max/mdev'; then
	pass probe-human-summary
else fail probe-human-summary "rc=$rc $out"; fi
out=$(lab_tcpprobe probe --trace "$LAB_S4:$LAB_PORT_SLOWCLOSE" 2>&1)
if echo "$out" | grep -q -- '--> S ' && echo "$out" | grep -q '<-- S\.' && echo "$out" | grep -q 'TIME_WAIT'; then
	pass probe-trace-timeline
else fail probe-trace-timeline "$out"; fi

# RTT agreement with the wire over 200 probes (the capture is on the client veth).
probe rtt --count 200 --interval 0.01 --time-wait 100ms "$LAB_S4:$LAB_PORT_OPEN"
capwhy=$(lab_capture_ok "$tmp/rtt.pcap" 200 "$(seg '<' S.)")
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
if [ -n "$capwhy" ]; then fail probe-rtt-matches-wire "$capwhy"
elif [ $rc = 0 ]; then pass "probe-rtt-matches-wire ($res)"
else fail probe-rtt-matches-wire "$res"; fi
dl_done
