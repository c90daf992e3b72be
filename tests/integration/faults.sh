#!/usr/bin/env bash
# Faults (issue "Hardening", point 5): each a named test of defined
# behaviour, against the namespace lab, each with a daemon of its own.
#
# | fault                               | defined behaviour                                      |
# |-------------------------------------|--------------------------------------------------------|
# | peer-vanishes (server veth down     | probes opened meanwhile: result timeout (SYNs retried);|
# |  during hold= and slow closes)      | open connections: result ok, close timeout (FIN        |
# |                                     | retried, or FIN_WAIT_2 expires); ctl answers; every    |
# |                                     | slot recorded and on the wire (but for the outage);    |
# |                                     | ok again once the link is back. The peer keeps what it |
# |                                     | had open (no RST reached it)                           |
# | rst-storm (random-seq RSTs to our   | no result changes: RFC 5961 3.2, only an exact-seq RST |
# |  ports from the targets' addresses) | resets; without a live 4-tuple: counted in             |
# |                                     | packets_unmatched                                      |
# | icmp-storm (errors quoting our      | no result changes: the quoted seq is not in flight     |
# |  ports, random seq)                 | (RFC 5927 4.1); counted in packets_unmatched           |
# | port-exhaustion (20 source ports,   | a probe with no free port: result error, `show` error  |
# |  40 probes to one host:port)        | text, status port_exhausted, a log line at most once a |
# |                                     | second; other destinations unaffected; every slot      |
# |                                     | recorded, every other one on the wire                  |
# | no-route (client route deleted)     | the probe in flight times out; then result error,      |
# |                                     | state error "no route to X: Network is unreachable",   |
# |                                     | nothing on the wire; ok at the first slot after it     |
# |                                     | returns                                                |
# | guard-deleted (nft table removed)   | noticed within 1 s, reinstalled, logged; no kernel RST |
# |                                     | after that (the capture shows the kernel's RSTs in the |
# |                                     | gap, and probes after it)                              |
# | reload-under-load (3,500 targets,   | every reload (ctl and SIGHUP) applied; probes ==       |
# |  75% of the pps cap)                | expected == the wire for every target                  |
# | sigterm-under-load (>= 100 open)    | exit 0 within 2 s; open connections RST; no nft table, |
# |                                     | no socket file, nothing half-open at the peer          |
#
# Every capture is checked (lab_capture_ok) before a check reads it; "every
# slot recorded" is judged by the wire (tests/lab/dcheck.py counted).
#
# Prints PASS/FAIL/SKIP lines. Packets stay inside the lab's namespaces.
# checks: 15
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh

dl_init faults
FLOOD=$DL_FLOOD
if [ ! -x "$FLOOD" ]; then fail flood-built "$DL_TOOLS/flood missing (make unit)"; exit 1; fi
lab_sexec sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 \
	net.ipv4.icmp_msgs_burst=1000000 net.ipv6.icmp.ratelimit=0

# target NAME HOST PORT [KEY=VALUE...]
target() {
	local n=$1 h=$2 p=$3 kv
	shift 3
	printf '[target %s]\nhost = %s\nport = %s\n' "$n" "$h" "$p"
	for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
	echo
}
show() { ctl --json show "$1"; }
# sum over targets with PREFIX of a python expression on t (the show object)
tsum() { # PREFIX EXPR
	"$DL_PY" - "$DL_T/snap.json" "$1" "$2" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(sum(eval(sys.argv[3]) for n, t in s["show"].items() if n.startswith(sys.argv[2])))
EOF
}
# Pause everything, wait for what is in flight, snapshot to $DL_T/snap.json.
# Fails (and leaves no snapshot) if the daemon does not drain in 10 s or
# the snapshot fails: no check may read an older one.
settle() {
	rm -f "$DL_T/snap.json"
	ctl pause --all >/dev/null || { echo "ctl pause --all failed"; return 1; }
	for _ in $(seq 1 100); do
		ctl --json status | jpy 'd["inflight"] + d["queued"]' | grep -qx 0 && break
		sleep 0.1
	done
	ctl --json status | jpy 'd["inflight"] + d["queued"]' | grep -qx 0 ||
		{ echo "still in flight or queued 10 s after pause --all"; return 1; }
	# Paused, so a second read sees the same state: one retry, and its
	# reason kept in the log (a snapshot failed once, unexplained, under ASan).
	dctl snapshot "$DL_T/snap.json" >/dev/null 2>"$DL_T/dctl.err" || {
		echo "  settle: dctl snapshot failed, retrying once: $(tail -c 300 "$DL_T/dctl.err")" >&2
		dctl snapshot "$DL_T/snap.json" >/dev/null 2>"$DL_T/dctl.err"
	} || { rm -f "$DL_T/snap.json"; echo "dctl snapshot failed: $(tail -c 300 "$DL_T/dctl.err")"; return 1; }
}
# The wire judges "every slot recorded": start() captures what the client
# sends from before the daemon starts; counted NAME N [dcheck args]: the
# capture is sound and, for exactly N targets, probes == expected == the
# probes on the wire (less error results, which send nothing).
CAPF="tcp and (src host $LAB_C4 or src host $LAB_C6)"
counted() { # NAME N [ARGS...]
	local name=$1 n=$2 why out
	shift 2
	why=$(lab_capture_ok "$DL_T/$name.pcap" "$n") || { echo "$why"; return 1; }
	[ -s "$DL_T/snap.json" ] || { echo "no snapshot"; return 1; }
	out=$("$DL_PY" tests/lab/dcheck.py counted "$DL_T/snap.json" "$DL_T/$name.pcap" --targets "$n" "$@" 2>&1)
	local rc=$?
	echo "$out" | grep -E '^(bad|ok) ' | paste -sd ';' -
	[ "$rc" = 0 ] && [[ $out == *"ok counted"* ]]
}
start() { # NAME CONF: a fresh daemon, and a capture of what it sends
	lab_capture_start "$DL_T/$1.pcap" "$CAPF" || { fail "$1" "capture did not start"; return 1; }
	dl_start "$2" "$DL_T/$1.log" || { fail "$1" "daemon did not start: $(tail -3 "$DL_T/$1.log")"; return 1; }
}
stop() { dl_stop TERM; }

# ---- peer-vanishes ---------------------------------------------------------------------
{
	dl_conf_daemon
	printf '[defaults]\ntimeout = 200ms\nretries = 2\ntime_wait = 300ms\nfin_wait_2 = 1s\n\n'
	for i in 1 2 3 4; do
		h=198.19.10.$i; [ $i -gt 2 ] && h=fd00:19::10:$i
		target hold$i "$h" 9000 hold=1s interval=500ms
		# The slow-close server answers our FIN after 200 ms: at a 200 ms
		# interval every target always has a probe waiting in FIN_WAIT_2, so
		# the link going down always catches one (at 300 ms it was chance).
		target slow$i "$h" 8085 interval=200ms
	done
	target syn1 198.19.10.9 9001 kind=syn interval=200ms
	target syn2 fd00:19::10:9 9001 kind=syn interval=200ms
} >"$DL_T/pv.conf"
# Keep the server's IPv6 addresses over the link flap (Linux drops them
# on admin down otherwise, and the lab would stay broken for IPv6).
lab_sexec sysctl -qw "net.ipv6.conf.$LAB_SIF.keep_addr_on_down=1"
if start peer-vanishes "$DL_T/pv.conf"; then
	sleep 2
	tdown=$(date +%s.%N)
	lab_sexec ip link set "$LAB_SIF" down
	sleep 1
	t=$(date +%s%N); ctl status >/dev/null; lat=$((($(date +%s%N) - t) / 1000000))
	sleep 2
	lab_sexec ip link set "$LAB_SIF" up
	lab_links_ready >/dev/null 2>&1 || fail peer-vanishes-link "the lab's link did not come back"
	tup=$(date +%s.%N)
	sleep 2.5
	why=$(settle) || fail peer-vanishes-settle "$why"
	lab_capture_stop "$DL_T/peer-vanishes.pcap"
	ok=$(tsum "" 't["inflight"] == 0 and t["last_result"] == "ok"')
	ct_hold=$(tsum hold 't["close_results"]["timeout"]')
	ct_slow=$(tsum slow 't["close_results"]["timeout"]')
	to=$(tsum "" 't["results"]["timeout"]')
	kept=$(lab_sexec ss -Htan state established | grep -cE '198\.19\.10\.|fd00:19::10:')
	note "peer-vanishes: ctl answered in ${lat} ms with the link down; close timeouts: hold $ct_hold, slow close $ct_slow; handshake timeouts $to; $ok/10 targets ok again; the peer still holds $kept connections it had when it vanished"
	if cnt=$(counted peer-vanishes 10 --gap "$tdown" "$tup") && [ "$lat" -lt 1000 ]; then pass peer-vanishes-no-hang
	else fail peer-vanishes-no-hang "ctl ${lat} ms; counted: $cnt"; fi
	if [ "$ct_hold" -ge 1 ] && [ "$ct_slow" -ge 1 ] && [ "$to" -ge 1 ]; then pass peer-vanishes-timeouts
	else fail peer-vanishes-timeouts "close timeouts hold=$ct_hold slow=$ct_slow, handshake timeouts=$to"; fi
	[ "$ok" = 10 ] && pass peer-vanishes-recovers || fail peer-vanishes-recovers "$ok of 10 targets ok after the link came back"
	[ "$kept" -ge 1 ] && pass peer-vanishes-peer-keeps || fail peer-vanishes-peer-keeps "the peer holds none of the connections open when it vanished"
	stop
fi

# ---- rst-storm and icmp-storm -------------------------------------------------------------
SP=20000-20099
{
	dl_conf_daemon source_ports=$SP
	printf '[defaults]\ntimeout = 300ms\nretries = 2\ntime_wait = 300ms\n\n'
	for i in 1 2 3; do
		target sh$i 198.19.11.$i 9000 hold=300ms interval=250ms
		target sh6$i fd00:19::11:$i 9000 hold=300ms interval=250ms
		target ss$i 198.19.11.$i 9001 kind=syn interval=200ms
	done
} >"$DL_T/storm.conf"
if start storm "$DL_T/storm.conf"; then
	sleep 1
	u0=$(ctl --json status | jpy 'd["packets_unmatched"]')
	srcs=(-s 198.19.11.1 -s 198.19.11.2 -s 198.19.11.3 -s fd00:19::11:1 -s fd00:19::11:2 -s fd00:19::11:3)
	rst=$(lab_sexec "$FLOOD" -m rst -r 10000 -d 3 -n 30000 -p "$SP" -P 9000-9001 \
		-c "$LAB_C4" -c "$LAB_C6" "${srcs[@]}")
	u1=$(ctl --json status | jpy 'd["packets_unmatched"]')
	icmp=$(lab_sexec "$FLOOD" -m icmp -r 10000 -d 3 -n 30000 -p "$SP" -P 9000-9001 \
		-c "$LAB_C4" -c "$LAB_C6" "${srcs[@]}")
	sleep 0.5
	why=$(settle) || fail storms-settle "$why"
	lab_capture_stop "$DL_T/storm.pcap"
	u2=$(jpy 'd["status"]["packets_unmatched"]' <"$DL_T/snap.json")
	bad=$(tsum "" 't["results"]["reset"] + t["results"]["unreachable"] + t["results"]["timeout"] + t["results"]["error"] + t["close_results"]["reset"]')
	okp=$(tsum "" 't["results"]["ok"]')
	note "rst storm: $rst; icmp storm: $icmp"
	note "storms: $okp probes ok, $bad not ok; packets_unmatched +$((u1 - u0)) (RSTs) +$((u2 - u1)) (ICMP)"
	if [ "$bad" = 0 ] && [ "$okp" -gt 100 ] && cnt=$(counted storm 9 --ports 20000-20099); then pass storms-results-unaffected
	else fail storms-results-unaffected "$bad probes not ok; $cnt"; fi
	if [ $((u1 - u0)) -gt 20000 ] && [ $((u2 - u1)) -gt 20000 ]; then pass storms-dropped-by-tuple-checks
	else fail storms-dropped-by-tuple-checks "unmatched +$((u1 - u0)) +$((u2 - u1))"; fi
	stop
fi

# ---- port-exhaustion ----------------------------------------------------------------------
{
	dl_conf_daemon source_ports=20000-20019
	printf '[defaults]\ninterval = 1s\ntime_wait = 3s\n\n'
	for i in $(seq 1 40); do target ex$i 198.19.12.1 9000; done
	target other 198.19.12.2 9000 interval=200ms
} >"$DL_T/ex.conf"
ex_t0=$(date +%s%N)
if start port-exhaustion "$DL_T/ex.conf"; then
	sleep 4.5
	st=$(ctl --json status)
	# The rate limit allows one line a second: judge the lines logged so far
	# against the seconds since start (a loaded machine stretches the run).
	logs=$(grep -c 'source port range 20000-20019 exhausted for 198.19.12.1 port 9000' "$DL_T/port-exhaustion.log")
	ex_s=$((($(date +%s%N) - ex_t0) / 1000000000 + 1))
	errtxt=$(for n in $(seq 1 40); do show ex$n | jpy 'd["target"]["error"] or ""'; done)
	errtxt=$(echo "$errtxt" | grep -m1 .)
	why=$(settle) || fail port-exhaustion-settle "$why"
	lab_capture_stop "$DL_T/port-exhaustion.pcap"
	nerr=$(tsum ex 't["results"]["error"]') nok=$(tsum ex 't["results"]["ok"]')
	other=$(tsum other 't["results"]["ok"] == t["probes"] > 15')
	pe=$(jpy 'd["status"]["port_exhausted"]' <"$DL_T/snap.json")
	note "port-exhaustion: $nok ok, $nerr error (status port_exhausted $pe, $logs log lines in the first $ex_s s); show: '$errtxt'"
	if [ "$nerr" -gt 0 ] && [ "$nerr" = "$pe" ] && [ "$logs" -ge 1 ] && [ "$logs" -le "$ex_s" ] &&
		echo "$errtxt" | grep -q "source_ports exhausted"; then
		pass port-exhaustion-visible
	else fail port-exhaustion-visible "errors $nerr, port_exhausted $pe, $logs log lines, show error '$errtxt'"; fi
	if [ "$other" = 1 ] && [ "$nok" -gt 0 ] && cnt=$(counted port-exhaustion 41 --ports 20000-20019); then pass port-exhaustion-nothing-stalls
	else fail port-exhaustion-nothing-stalls "other ok=$other, ex ok $nok; $cnt"; fi
	stop
fi

# ---- no-route -------------------------------------------------------------------------
{
	dl_conf_daemon
	printf '[defaults]\nkind = syn\ninterval = 300ms\ntimeout = 100ms\nretries = 0\n\n'
	target rt4 198.19.13.1 9000
	target rt6 fd00:19::13:1 9000
} >"$DL_T/rt.conf"
if start no-route "$DL_T/rt.conf"; then
	sleep 1
	lab_cexec ip route del "$LAB_ANYNET4"
	lab_cexec ip -6 route del "$LAB_ANYNET6"
	tdel=$(date +%s%N)
	sleep 1.5
	s4=$(show rt4 | jpy '"%s|%s|%s" % (d["target"]["state"], d["target"]["last_result"], d["target"]["error"])')
	s6=$(show rt6 | jpy '"%s|%s|%s" % (d["target"]["state"], d["target"]["last_result"], d["target"]["error"])')
	# The probe in flight at the delete times out (timeout 100 ms): from
	# 300 ms after the delete until the routes return, nothing on the wire.
	sleep 0.7
	tadd=$(date +%s%N)
	lab_cexec ip route add "$LAB_ANYNET4" via "$LAB_S4" dev "$LAB_CIF"
	lab_cexec ip -6 route add "$LAB_ANYNET6" via "$LAB_S6" dev "$LAB_CIF"
	sleep 1
	r4=$(show rt4 | jpy '"%s|%s" % (d["target"]["state"], d["target"]["last_result"])')
	r6=$(show rt6 | jpy '"%s|%s" % (d["target"]["state"], d["target"]["last_result"])')
	why=$(settle) || fail no-route-settle "$why"
	lab_capture_stop "$DL_T/no-route.pcap"
	# What "nothing sent" reads: SYNs to both targets before the delete and after the return.
	read -r nbefore nduring nafter < <(lab_wire dump "$DL_T/no-route.pcap" | awk -v a="$tdel" -v b="$tadd" '
		$2 == ">" && $7 == "S" { if ($1 < a) x++; else if ($1 >= a + 300000000 && $1 < b) y++; else if ($1 >= b) z++ }
		END { print x + 0, y + 0, z + 0 }')
	note "no-route: while unroutable: rt4 '$s4', rt6 '$s6', $nduring SYNs on the wire in $(((tadd - tdel) / 1000000 - 300)) ms ($nbefore before, $nafter after); after: rt4 $r4, rt6 $r6"
	if why=$(lab_capture_ok "$DL_T/no-route.pcap" 4 '^[0-9]+ > ([^ ]+ ){4}S ') && [ "$nbefore" -ge 2 ] && [ "$nafter" -ge 2 ] &&
		[[ $s4 == "error|error|no route to 198.19.13.1: Network is unreachable" ]] &&
		[[ $s6 == "error|error|no route to fd00:19::13:1: Network is unreachable" ]] && [ "$nduring" = 0 ]; then
		pass no-route-error
	else fail no-route-error "rt4 '$s4' rt6 '$s6', SYNs before/during/after $nbefore/$nduring/$nafter ${why:-}"; fi
	[ "$r4" = "ok|ok" ] && [ "$r6" = "ok|ok" ] && pass no-route-recovers || fail no-route-recovers "rt4 $r4 rt6 $r6"
	# --missing 1: one probe around the delete is recorded without being an
	# error but does not reach the wire (seen: 15 of 16 on the wire); a send
	# error not reported as one is issue 10 point 2. Every other must be there.
	cnt=$(counted no-route 2 --missing 1) && pass no-route-counted || fail no-route-counted "$cnt"
	stop
fi

# ---- guard-deleted --------------------------------------------------------------------
{
	dl_conf_daemon
	printf '[defaults]\ninterval = 100ms\ntime_wait = 200ms\n\n'
	for i in 1 2 3 4 5 6; do target g$i 198.19.14.$i 9000; done
} >"$DL_T/guard.conf"
if start guard-deleted "$DL_T/guard.conf"; then
	lab_capture_stop "$DL_T/guard-deleted.pcap" # start's: this one sees both sides
	lab_capture_start "$DL_T/guard.pcap" "tcp" || fail guard-deleted-capture tcpdump
	sleep 1
	tdel=$(date +%s%N)
	lab_cexec nft delete table inet tcpprobe_guard_20000_29999
	tback=
	for _ in $(seq 1 60); do
		if lab_cexec nft list table inet tcpprobe_guard_20000_29999 >/dev/null 2>&1; then tback=$(date +%s%N); break; fi
		sleep 0.05
	done
	sleep 1.5
	lab_capture_stop "$DL_T/guard.pcap"
	# Handshake probes close with FINs: every RST from the client is the kernel's.
	gap=$("$DL_PY" tests/lab/wire.py rsts "$DL_T/guard.pcap" | awk -v a="$tdel" -v b="${tback:-0}" '$1 >= a && $1 < b' | wc -l)
	after=$("$DL_PY" tests/lab/wire.py rsts "$DL_T/guard.pcap" | awk -v b="${tback:-0}" '$1 >= b' | wc -l)
	# What the gap section is about, on the wire: SYN/ACKs answered after the
	# reinstall (so "no RST after" covers real handshakes), and the kernel's
	# RSTs in the gap (without the guard it resets every SYN/ACK).
	synack_after=$(lab_wire dump "$DL_T/guard.pcap" | awk -v b="${tback:-0}" '$1 >= b && $2 == "<" && $7 == "S."' | wc -l)
	dt=$(((${tback:-0} - tdel) / 1000000))
	note "guard-deleted: reinstalled after ${dt} ms; kernel RSTs: $gap in the gap, $after after; $synack_after SYN/ACKs after"
	if [ -n "$tback" ] && [ "$dt" -le 1500 ] && grep -q "nftables table tcpprobe_guard_20000_29999 disappeared; reinstalling it" "$DL_T/guard-deleted.log"; then
		pass guard-deleted-reinstalled
	else fail guard-deleted-reinstalled "back after ${dt} ms; log: $(tail -2 "$DL_T/guard-deleted.log")"; fi
	if ! why=$(lab_capture_ok "$DL_T/guard.pcap" 1 '^[0-9]+ < ([^ ]+ ){4}S\. '); then fail guard-deleted-no-rst-after "$why"
	elif [ "$gap" -lt 1 ] || [ "$synack_after" -lt 6 ]; then
		fail guard-deleted-no-rst-after "the capture shows $gap kernel RSTs in the gap and $synack_after SYN/ACKs after it: it cannot judge"
	elif [ "$after" = 0 ]; then pass guard-deleted-no-rst-after
	else fail guard-deleted-no-rst-after "$after kernel RSTs after the reinstall"; fi
	stop
fi

# ---- reload-under-load and sigterm-under-load ------------------------------------------
# 3,000 syn and 500 handshake targets (held open 2 s) at 1 s: ~7,500
# packets/s, 75% of the default pps cap, ~1,000 connections open.
gen_heavy() { # EXTRA: 0 or N more targets
	dl_conf_daemon
	printf '[defaults]\ninterval = 1s\ntimeout = 500ms\nretries = 1\ntime_wait = 500ms\n\n'
	"$DL_PY" - "$1" <<'EOF'
import sys
for i in range(3500):
    host = "198.19.%d.%d" % (20 + i // 250, i % 250 + 1) if i % 2 == 0 else \
        "fd00:19::%x:%x" % (20 + i // 250, i % 250 + 1)
    print("[target h%d]\nhost = %s\nport = %d\n%s\n" % (
        i, host, 9000 + i % 1000, "hold = 2s" if i % 7 == 0 else "kind = syn"))
for i in range(int(sys.argv[1])):
    print("[target x%d]\nhost = 198.19.60.%d\nport = 9500\n" % (i, i + 1))
EOF
}
gen_heavy 0 >"$DL_T/heavy.conf"
# What the peer holds before (earlier faults may leave connections there).
peer_conns() { lab_sexec ss -Htan | grep -vE '^(LISTEN|TIME-WAIT) ' | grep -E "$LAB_C4|$LAB_C6" | awk '{print $1, $4, $5}' | sort; }
peer_conns >"$DL_T/ss.base"
if start reload-under-load "$DL_T/heavy.conf"; then
	sleep 2
	rbad=0
	for i in 1 2 3 4 5 6; do
		gen_heavy $((i % 2 ? 50 : 0)) >"$DL_T/heavy.conf"
		if [ $((i % 3)) = 0 ]; then
			r0=$(ctl --json status | jpy 'd["reloads"]')
			kill -HUP "$DL_PID"
			for _ in $(seq 1 50); do [ "$(ctl --json status | jpy 'd["reloads"]')" -gt "$r0" ] && break; sleep 0.1; done
			[ "$(ctl --json status | jpy 'd["reloads"]')" -gt "$r0" ] || rbad=$((rbad + 1))
		else
			ctl reload >/dev/null || rbad=$((rbad + 1))
		fi
		sleep 0.7
	done
	st=$(ctl --json status)
	why=$(settle) || fail reload-under-load-settle "$why"
	lab_capture_stop "$DL_T/reload-under-load.pcap"
	cnt=$(counted reload-under-load 3500); crc=$?
	note "reload-under-load: $(echo "$st" | jpy '"%d targets, %.0f pkt/s, %d probes waited on the caps, late max %.0f ms" % (d["targets"], d["pps"], d["probes_waited"], d["sched_late_max_us"] / 1000)'); $(grep -o 'reloaded .*' "$DL_T/reload-under-load.log" | sed 's/.*targets (//; s/)//' | tr '\n' ' ')"
	if [ "$rbad" = 0 ] && [ "$crc" = 0 ]; then
		pass reload-under-load
	else fail reload-under-load "$rbad reloads failed; uncounted: $cnt"; fi

	# SIGTERM with everything running again.
	ctl resume --all >/dev/null
	sleep 1.5
	inflight=$(ctl --json status | jpy 'd["inflight"]')
	stop
	peer_conns >"$DL_T/ss.after"
	left=$(comm -13 "$DL_T/ss.base" "$DL_T/ss.after" | grep -c .)
	note "sigterm-under-load: exit $DL_RC after $DL_STOP_MS ms with $inflight in flight; $left connections left at the peer"
	if [ "$DL_RC" = 0 ] && [ "$DL_STOP_MS" -le 2000 ] && [ "$left" = 0 ] && [ ! -e "$DL_SOCK" ] && [ "$inflight" -ge 100 ] &&
		! lab_cexec nft list tables | grep -q tcpprobe_guard; then
		pass sigterm-under-load
	else fail sigterm-under-load "exit $DL_RC after $DL_STOP_MS ms, $left left at the peer: $(comm -13 "$DL_T/ss.base" "$DL_T/ss.after" | head -3)"; fi
fi

dl_done
