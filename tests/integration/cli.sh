#!/usr/bin/env bash
# Input as operators type it, and exit statuses a script can trust (issue
# 11 points 5 and 6), against the namespace lab:
#  - usage-*: each mistyped argument exits 2 with a message that starts
#    "tcpprobe probe:" and says what is wrong (hex and leading-zero ports,
#    port 0 and 70000, a hex count and a count of 0, inet_aton shorthand,
#    an ambiguous bare IPv6 with a port, -4 with -6, a family the address lacks, durations past the
#    config's bounds, a subnet-directed broadcast, link-local without zone)
#  - decimal-count: -c 010 sends exactly 10 SYNs (on the wire)
#  - mss-off: --mss off sends SYNs without an MSS option (on the wire)
#  - link-local-*: [fe80::...%lab-c]:8080 from `probe` and `host = ...%lab-c`
#    in a daemon (allow_link_local = yes) complete handshakes on the wire
#  - broadcast-config: a subnet-directed broadcast target is a FILE:LINE error
#  - exit-*: 0 all ok, 1 a failed probe; -s PORT -c 3 within TIME_WAIT: one
#    probe sent (one SYN on the wire), two `error` not sent, said once, exit 1;
#    Ctrl-C after ok probes: exit 0 with the summary
# Prints PASS/FAIL lines. Packets stay inside the lab's namespaces.
# checks: 29
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh

dl_init cli
S4=$LAB_S4 OPEN=$LAB_PORT_OPEN

# ---- usage errors: exit 2, and why ----------------------------------------------------------
usage_case() { # NAME WANT-STDERR-ERE ARGS...
	local name=$1 want=$2; shift 2
	LAB_WRAP="timeout 20" lab_tcpprobe probe "$@" >"$DL_T/u.out" 2>"$DL_T/u.err"; local rc=$?
	if [ "$rc" = 2 ] && grep -qE -- "$want" "$DL_T/u.err" && ! grep -vq '^tcpprobe probe: ' "$DL_T/u.err" &&
		[ ! -s "$DL_T/u.out" ]; then
		pass "usage-$name"
	else fail "usage-$name" "rc=$rc stderr: $(head -c 300 "$DL_T/u.err") stdout: $(head -c 100 "$DL_T/u.out")"; fi
}
usage_case port-hex "^tcpprobe probe: -p/--port: '0x50' is hexadecimal: ports are decimal \(write 80\)$" -p 0x50 "$S4"
usage_case port-leading-zero "^tcpprobe probe: -p/--port: '08080' has a leading zero: ports are decimal \(write 8080\)$" -p 08080 "$S4"
usage_case port-0 "^tcpprobe probe: '$S4:0': port '0' cannot be probed: ports are 1..65535$" "$S4:0"
usage_case port-70000 "^tcpprobe probe: '$S4:70000': port '70000' is out of range: ports are 1..65535$" "$S4:70000"
usage_case count-hex "^tcpprobe probe: -c/--count: '0x10' is not a number$" -c 0x10 "$S4"
usage_case count-0 "^tcpprobe probe: -c/--count: '0' is out of range \\(1..1000000\\)$" -c 0 "$S4"
usage_case inet-aton-shorthand "^tcpprobe probe: '198.18.2' is not a full IPv4 address a.b.c.d \(inet_aton would read it as 198.18.0.2\)$" 198.18.2:$OPEN
usage_case bare-number "^tcpprobe probe: '200' is not a full IPv4 address" 200
usage_case v6-ambiguous "^tcpprobe probe: 'fd31::2:80' is ambiguous: write \[fd31::2\]:80 for port 80 of fd31::2, or \[fd31::2:80\] for the address$" fd31::2:80
usage_case family-conflict "^tcpprobe probe: -4 and -6 conflict" -4 -6 "$S4"
usage_case family-v6-of-v4 "^tcpprobe probe: $S4 is an IPv4 address, not IPv6$" -6 "$S4:$OPEN"
usage_case family-v4-of-v6 "^tcpprobe probe: $LAB_S6 is an IPv6 address, not IPv4$" -4 "[$LAB_S6]:$OPEN"
usage_case timeout-bound "^tcpprobe probe: -t/--timeout: '2m' is out of range \(1ms..1m\)$" -t 2m "$S4"
usage_case hold-bound "^tcpprobe probe: --hold: '7200' is out of range \(0s..1h\)$" --hold 7200 "$S4"
usage_case time-wait-bound "^tcpprobe probe: --time-wait: '5m' is out of range \(0s..4m\)$" --time-wait 5m "$S4"
usage_case interval-bound "^tcpprobe probe: -i/--interval: '25h' is out of range \(0s..24h\)$" -i 25h "$S4"
usage_case subnet-broadcast "^tcpprobe probe: refusing to probe 198.18.0.255: the broadcast address of 198.18.0.0/24 on $LAB_CIF$" 198.18.0.255:$OPEN
usage_case link-local-no-zone "^tcpprobe probe: fe80::1 is link-local: name its interface, as in \[fe80::1%eth0\]:$OPEN$" "[fe80::1]:$OPEN"
usage_case link-local-no-such-zone "^tcpprobe probe: fe80::1%nosuch0: no interface 'nosuch0' here$" "[fe80::1%nosuch0]:$OPEN"
usage_case zone-not-link-local "^tcpprobe probe: 'fd00:18::2%$LAB_CIF': a zone \(%$LAB_CIF\) is only for link-local addresses" "[fd00:18::2%$LAB_CIF]:$OPEN"

# ---- decimal count, --mss off, on the wire ---------------------------------------------------
syns() { "$DL_PY" tests/lab/wire.py dump "$1" | awk -v p="$2" '$2 == ">" && $7 == "S" && $6 == p'; }
lab_capture_start "$DL_T/c.pcap" "tcp port 9001" || fail capture "tcpdump did not start"
lab_tcpprobe probe -c 010 -i 0.02 --mss off 198.19.30.1:9001 >"$DL_T/c.out" 2>"$DL_T/c.err"; rc=$?
lab_capture_stop "$DL_T/c.pcap"
if why=$(lab_capture_ok "$DL_T/c.pcap" 20); then
	n=$(syns "$DL_T/c.pcap" 9001 | wc -l)
	mss=$(syns "$DL_T/c.pcap" 9001 | awk '$12 ~ /mss/' | wc -l)
	if [ "$rc" = 0 ] && [ "$n" = 10 ] && grep -q '^10 probes sent, 10 ok' "$DL_T/c.out"; then pass decimal-count
	else fail decimal-count "rc=$rc, $n SYNs on the wire (want 10): $(tail -n 3 "$DL_T/c.out") $(cat "$DL_T/c.err")"; fi
	if [ "$n" -gt 0 ] && [ "$mss" = 0 ]; then pass mss-off
	else fail mss-off "$mss of $n SYNs carry an MSS option"; fi
else fail decimal-count "$why"; fi

# ---- IPv6 link-local with a zone -------------------------------------------------------------
ll=
for _ in $(seq 1 50); do
	ll=$(ip -n "$LAB_SNS" -6 addr show dev "$LAB_SIF" scope link | awk '/inet6/ && !/tentative/ {sub("/.*", "", $2); print $2; exit}')
	cll=$(ip -n "$LAB_CNS" -6 addr show dev "$LAB_CIF" scope link | awk '/inet6/ && !/tentative/ {sub("/.*", "", $2); print $2; exit}')
	[ -n "$ll" ] && [ -n "$cll" ] && break
	sleep 0.1
done
if [ -z "$ll" ] || [ -z "$cll" ]; then
	fail link-local "no link-local addresses on the lab's veth pair"
else
	lab_capture_start "$DL_T/ll.pcap" "ip6 and tcp port $OPEN" || fail capture "tcpdump did not start"
	lab_tcpprobe probe -c 2 -i 0.05 "[$ll%$LAB_CIF]:$OPEN" >"$DL_T/ll.out" 2>"$DL_T/ll.err"; rc=$?
	# The daemon: a config target with the zone, and allow_link_local.
	{ dl_conf_daemon allow_link_local=yes
		printf '[defaults]\ninterval = 200ms\ntime_wait = 200ms\n\n[target ll]\nhost = %s%%%s\nport = %s\n' "$ll" "$LAB_CIF" "$OPEN"; } >"$DL_T/ll.conf"
	drc=1 dres=
	if dl_start "$DL_T/ll.conf" "$DL_T/ll.log"; then
		for _ in $(seq 1 40); do
			dres=$(ctl --json show ll | jpy '"%s|%s" % (d["target"]["probes"], d["target"]["last_result"])')
			[ "${dres%%|*}" -ge 3 ] 2>/dev/null && break
			sleep 0.1
		done
		dl_stop TERM; drc=$DL_RC
	fi
	lab_capture_stop "$DL_T/ll.pcap"
	if why=$(lab_capture_ok "$DL_T/ll.pcap" 4 " S\. "); then
		wire=$("$DL_PY" tests/lab/wire.py --client "$cll" dump "$DL_T/ll.pcap" | awk -v a="$ll" '$5 == a && $2 == ">" && $7 == "S"' | wc -l)
		if [ "$rc" = 0 ] && grep -q '^2 probes sent, 2 ok' "$DL_T/ll.out" && [ "$wire" -ge 2 ]; then pass link-local-probe
		else fail link-local-probe "rc=$rc, $wire SYNs to $ll: $(tail -n 3 "$DL_T/ll.out") $(cat "$DL_T/ll.err")"; fi
		if [ "$drc" = 0 ] && [ "${dres%%|*}" -ge 3 ] 2>/dev/null && [ "${dres#*|}" = ok ] && [ "$wire" -ge 5 ]; then pass link-local-daemon
		else fail link-local-daemon "exit $drc, show: '$dres', $wire SYNs; $(tail -n 2 "$DL_T/ll.log")"; fi
	else fail link-local-probe "$why"; fi
fi

# ---- a subnet-directed broadcast in a config ----------------------------------------------------
{ dl_conf_daemon; printf '[target ok]\nhost = 198.19.0.1\n\n[target bcast]\nhost = 198.18.0.255\n'; } >"$DL_T/b.conf"
lab_tcpprobe daemon -n -c "$DL_T/b.conf" >/dev/null 2>"$DL_T/b.err"; rc=$?
l=$(grep -n '^\[target bcast\]' "$DL_T/b.conf" | cut -d: -f1)
if [ "$rc" = 1 ] && grep -q "^$DL_T/b.conf:$l: target 'bcast': refusing to probe 198.18.0.255: the broadcast address of 198.18.0.0/24 on $LAB_CIF$" "$DL_T/b.err"; then
	pass broadcast-config
else fail broadcast-config "rc=$rc $(cat "$DL_T/b.err")"; fi

# ---- exit statuses ------------------------------------------------------------------------------
lab_tcpprobe probe "$S4:$OPEN" >/dev/null 2>&1; ok_rc=$?
lab_tcpprobe probe -t 100ms -r 0 "$S4:$LAB_PORT_CLOSED" >/dev/null 2>&1; closed_rc=$?
if [ "$ok_rc" = 0 ] && [ "$closed_rc" = 1 ]; then pass exit-ok-and-failed
else fail exit-ok-and-failed "ok: $ok_rc (want 0), refused: $closed_rc (want 1)"; fi

# -s PORT -c 3 inside TIME_WAIT (2 s): the port is busy for probes 2 and 3.
lab_capture_start "$DL_T/s.pcap" "tcp port 9002" || fail capture "tcpdump did not start"
lab_tcpprobe probe -s 20050 -c 3 -i 0.1 198.19.30.2:9002 >"$DL_T/s.out" 2>"$DL_T/s.err"; rc=$?
lab_tcpprobe probe --json -s 20051 -c 2 -i 0.1 198.19.30.2:9002 >"$DL_T/sj.out" 2>"$DL_T/sj.err"; jrc=$?
lab_capture_stop "$DL_T/s.pcap"
if why=$(lab_capture_ok "$DL_T/s.pcap" 2 " S "); then
	n=$(syns "$DL_T/s.pcap" 9002 | awk '$4 == 20050' | wc -l)
	said=$(grep -c "not sent" "$DL_T/s.err")
	if [ "$rc" = 1 ] && [ "$n" = 1 ] && [ "$said" = 1 ] &&
		grep -q "^tcpprobe probe: 198.19.30.2: probe 2 not sent: no free source port in 20050-20050 for \[198.19.30.2\]:9002" "$DL_T/s.err" &&
		[ "$(grep -c ' seq=[23] sport=0 error not_sent$' "$DL_T/s.out")" = 2 ] &&
		grep -q '^1 probes sent, 1 ok, 0.0% loss; 2 not sent (error)$' "$DL_T/s.out" &&
		! grep -vq '^tcpprobe probe: ' "$DL_T/s.err"; then
		pass exit-source-port-busy
	else fail exit-source-port-busy "rc=$rc, $n SYNs from 20050 (want 1), said $said times: $(cat "$DL_T/s.err") | $(grep -E 'seq=|sent' "$DL_T/s.out" | tr '\n' '|')"; fi
	if [ "$jrc" = 1 ] && [ "$(jpy 'd["result"]' <"$DL_T/sj.out")" = ok ] &&
		[ "$(tail -n 1 "$DL_T/sj.out" | jpy '"%s %s %s" % (d["result"], d["not_sent"], d["error"][:14])')" = "error True no free source" ]; then
		pass exit-source-port-busy-json
	else fail exit-source-port-busy-json "rc=$jrc $(cat "$DL_T/sj.out" | cut -c1-200)"; fi
else fail exit-source-port-busy "$why"; fi

# Ctrl-C after ok probes: the summary, exit 0 (ping's rule: the probes that finished decide).
LAB_BG_PID=
lab_tcpprobe_bg probe -c 1000 -i 0.05 198.19.30.3:9003 >"$DL_T/i.out" 2>"$DL_T/i.err"
ipid=$LAB_BG_PID
for _ in $(seq 1 100); do [ "$(grep -c ' ok ' "$DL_T/i.out")" -ge 5 ] && break; sleep 0.05; done
kill -INT "$ipid"
for _ in $(seq 1 100); do kill -0 "$ipid" 2>/dev/null || break; sleep 0.05; done
wait "$ipid" 2>/dev/null; rc=$?
n=$(grep -c ' ok ' "$DL_T/i.out")
if [ "$rc" = 0 ] && [ "$n" -ge 5 ] && grep -qE "^$n probes sent, $n ok, 0.0% loss$" "$DL_T/i.out"; then pass exit-ctrl-c-after-ok
else fail exit-ctrl-c-after-ok "rc=$rc, $n ok lines; $(tail -n 4 "$DL_T/i.out" | tr '\n' '|') $(cat "$DL_T/i.err")"; fi
exit 0
