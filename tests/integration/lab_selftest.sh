#!/usr/bin/env bash
# Self-test of the namespace lab (tests/lab/): every port behaves as lab.sh
# documents when the kernel's own TCP client talks to it, over IPv4, IPv6 and
# one AnyIP address of each family; the capture tooling (wire.py) reads what
# went over the wire; lab_sweep and lab_down leave nothing behind.
# checks: 54
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks lab
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
trap lab_down EXIT

check() { # name condition-command... ; message from $why
	local name=$1; shift
	if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}
kc() { lab_cexec "$LAB_PY" "$LAB_LIB/kclient.py" "$@"; }
field() { # key line -> value of key=value
	local kv
	for kv in $2; do [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }; done
	echo "?"
}
ms_between() { # value lo hi (ms, float)
	awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "?" && v + 0 >= lo && v + 0 < hi) }'
}

tmp=$(mktemp -d /tmp/lab-selftest.XXXXXX)
cleanup() { lab_down; rm -rf "$tmp"; }
trap cleanup EXIT

# --- up -----------------------------------------------------------------
if ! lab_up "$$"; then
	fail up "lab_up failed"
	exit 1
fi
why=""
up_ok() {
	local ns r
	for ns in "$LAB_CNS" "$LAB_SNS"; do
		ip netns list | awk '{print $1}' | grep -qxF "$ns" || { why="no namespace $ns"; return 1; }
		r=$(ip -n "$ns" route show default; ip -n "$ns" -6 route show default)
		[ -z "$r" ] || { why="default route in $ns: $r"; return 1; }
	done
	kill -0 "$LAB_SERVERS_PID" 2>/dev/null || { why="servers not running"; return 1; }
}
check up up_ok

cap=$tmp/selftest.pcap
if ! lab_capture_start "$cap" "tcp or icmp or icmp6"; then
	fail capture-start "tcpdump did not start"
fi

# --- port behaviour, kernel client ----------------------------------------
v6() { [[ $1 == *:* ]]; }
for target in "v4=$LAB_S4" "v6=$LAB_S6" "any4=$LAB_ANY4" "any6=$LAB_ANY6"; do
	fam=${target%%=*} host=${target#*=}

	out=$(kc talk "$host" "$LAB_PORT_OPEN")
	why="got: $out"
	check "open-$fam" ms_between "$(field eof_ms "$out")" 0 100

	out=$(kc connect "$host" "$LAB_PORT_CLOSED")
	why="got: $out"
	check "closed-$fam" [ "$(field outcome "$out")" = ECONNREFUSED ]

	out=$(kc connect "$host" "$LAB_PORT_DROPPED" --timeout 1)
	why="got: $out"
	check "dropped-$fam" [ "$(field outcome "$out")" = timeout ]

	# IPv6: the ICMPv6 error beats connect() to the socket lock, so the
	# kernel only acts on the one answering the SYN retransmission (~1 s).
	out=$(kc connect "$host" "$LAB_PORT_UNREACH" --timeout 3)
	why="got: $out"
	check "unreach-$fam" [ "$(field outcome "$out")" = ECONNREFUSED ]

	want=EHOSTUNREACH; v6 "$host" && want=EACCES
	out=$(kc connect "$host" "$LAB_PORT_PROHIB" --timeout 3)
	why="want $want, got: $out"
	check "prohib-$fam" [ "$(field outcome "$out")" = "$want" ]

	out=$(kc talk "$host" "$LAB_PORT_SLOWCLOSE")
	why="want EOF $LAB_SLOW_MS ms after our FIN, got: $out"
	check "slowclose-$fam" ms_between "$(field eof_ms "$out")" $((LAB_SLOW_MS - 20)) $((LAB_SLOW_MS + 500))

	out=$(kc talk "$host" "$LAB_PORT_CLOSEFIRST")
	why="want EOF before we send anything, got: $out"
	check "closefirst-$fam" ms_between "$(field early_eof_ms "$out")" 0 100

	out=$(kc talk "$host" "$LAB_PORT_BANNER")
	why="got: $out"
	check "banner-$fam" [ "$(field data "$out")" = "$LAB_BANNER" ]

	bad=""
	for p in "$LAB_PORT_EXTRA_LO" 9500 "$LAB_PORT_EXTRA_HI"; do
		o=$(field outcome "$(kc connect "$host" "$p")")
		[ "$o" = open ] || bad="$bad $p=$o"
	done
	for p in $((LAB_PORT_EXTRA_LO - 1)) $((LAB_PORT_EXTRA_HI + 1)); do
		o=$(field outcome "$(kc connect "$host" "$p")")
		[ "$o" = ECONNREFUSED ] || bad="$bad $p=$o"
	done
	why="unexpected:$bad"
	check "extra-$fam" [ -z "$bad" ]
done

# --- what went over the wire ------------------------------------------------
lab_capture_stop "$cap"
all_lines() { # port pattern: every conversation's --dir flags match pattern
	local port=$1 pat=$2 n=0 l
	while IFS= read -r l; do
		n=$((n + 1))
		[[ $l =~ $pat ]] || { why="port $port: '$l' does not match /$pat/"; return 1; }
	done < <(lab_wire flags "$cap" --port "$port" --dir)
	[ "$n" -eq 4 ] || { why="port $port: $n conversations, want 4"; return 1; }
}
why="no pcap"
check capture-nano [ "$(head -c4 "$cap" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 4d3cb2a1 ]

check wire-open all_lines "$LAB_PORT_OPEN" '^>S <S\. >\. >F\. (<\. )?<F\. >\.$'
check wire-closed all_lines "$LAB_PORT_CLOSED" '^>S <R\.$'
check wire-dropped all_lines "$LAB_PORT_DROPPED" '^>S( >S)*$'
# The kernel client may retransmit its SYN before an ICMPv6 error gets through
# (it is dropped while connect() holds the socket) and a loaded machine's
# capture can miss a reply: what must hold is that every answer is the right
# ICMP error and there is at least one.
check wire-unreach all_lines "$LAB_PORT_UNREACH" '^>S( >S)* <icmp(3/3|6:1/4)( >S| <icmp(3/3|6:1/4))*$'
check wire-prohib all_lines "$LAB_PORT_PROHIB" '^>S( >S)* <icmp(3/13|6:1/1)( >S| <icmp(3/13|6:1/1))*$'
# The point of slow-close: the server ACKs our FIN before it sends its own.
check wire-slowclose all_lines "$LAB_PORT_SLOWCLOSE" '^>S <S\. >\. >F\. <\. <F\. >\.$'
check wire-closefirst all_lines "$LAB_PORT_CLOSEFIRST" '^>S <S\. >\. <F\. (>\. )?>F\. <\.$'
check wire-banner all_lines "$LAB_PORT_BANNER" '^>S <S\. >\. <P\. (>\. )?>F\. (<\. )?<F\. >\.$'

csum_ok() {
	local n bad
	n=$(lab_wire dump "$cap" | wc -l)
	bad=$(lab_wire dump "$cap" | awk '$13 != "ok"' | head -3)
	why="$n lines; not ok: $bad"
	[ "$n" -gt 100 ] && [ -z "$bad" ]
}
check wire-csum csum_ok

rtts_ok() {
	local out
	out=$(lab_wire rtts "$cap" | awk -v p="$LAB_PORT_OPEN" '$5 == p')
	why="rtts for port $LAB_PORT_OPEN: $out"
	[ "$(echo "$out" | grep -c .)" -eq 4 ] &&
		echo "$out" | awk '{ if ($6 <= 0 || $6 > 50000000 || $7 != 1) exit 1 }'
}
check wire-rtts rtts_ok

why=$(lab_capture_ok "$cap" 100 ' > ')
check capture-ok [ -z "$why" ]
out=$(lab_wire rsts "$cap")
why="RSTs from the client side: $out"
check wire-no-client-rst [ -z "$out" ]

# --- lab_capture_ok: a capture that proves nothing fails it ---------------------
capture_ok_rejects() {
	local r
	r=$(lab_capture_ok "$tmp/never.pcap") && { why="accepted a capture never started"; return 1; }
	lab_capture_start "$tmp/empty.pcap" "tcp port 1" || { why="tcpdump did not start"; return 1; }
	lab_capture_stop "$tmp/empty.pcap"
	r=$(lab_capture_ok "$tmp/empty.pcap") && { why="accepted an empty capture"; return 1; }
	r=$(lab_capture_ok "$cap" 1 ' < icmp9') && { why="accepted a capture without the packets asked for"; return 1; }
	# A capture that lost packets in the kernel: tcpdump's own closing counts.
	printf '%s\t10\t3\t0\n' "$tmp/lossy.pcap" >>"$LAB_DIR/captures"; cp "$cap" "$tmp/lossy.pcap"
	r=$(lab_capture_ok "$tmp/lossy.pcap") && { why="accepted a capture with kernel drops"; return 1; }
	[[ $r == *"dropped by kernel"* ]] || { why="drops not named: $r"; return 1; }
	return 0
}
check capture-ok-rejects capture_ok_rejects

# --- lab_tcpprobe: runs tcpprobe only in this lab's client namespace, and only
# while it has no default route -------------------------------------------------
TCPPROBE=${TCPPROBE:-$PWD/${B:-build}/tcpprobe}
safe_exec_ok() {
	local out rc
	[ -x "$TCPPROBE" ] || { why="$TCPPROBE not built"; return 1; }
	out=$(lab_tcpprobe --version 2>&1) || { why="refused in a good lab: $out"; return 1; }
	ip -n "$LAB_CNS" route add default via "$LAB_S4" || { why="cannot add the test route"; return 1; }
	out=$(lab_tcpprobe --version 2>&1); rc=$?
	ip -n "$LAB_CNS" route del default via "$LAB_S4"
	[ "$rc" = 125 ] && [[ $out == *"default route"* ]] || { why="IPv4 default route: rc=$rc $out"; return 1; }
	ip -n "$LAB_CNS" -6 route add default via "$LAB_S6" || { why="cannot add the test route"; return 1; }
	out=$(lab_tcpprobe_bg --version 2>&1); rc=$?
	ip -n "$LAB_CNS" -6 route del default via "$LAB_S6"
	[ "$rc" = 125 ] || { why="IPv6 default route: lab_tcpprobe_bg rc=$rc $out"; return 1; }
	out=$(LAB_CNS=tpc-nosuch lab_tcpprobe --version 2>&1); rc=$?
	[ "$rc" = 125 ] || { why="foreign namespace name: rc=$rc $out"; return 1; }
	out=$(LAB_UP=0 lab_tcpprobe --version 2>&1); rc=$?
	[ "$rc" = 125 ] || { why="no lab up: rc=$rc $out"; return 1; }
	out=$(lab_tcpprobe --version 2>&1) || { why="refused after the routes went: $out"; return 1; }
}
check tcpprobe-safe-exec safe_exec_ok

# --- lab_sweep removes a lab whose owner died, and only that ---------------
sweep_ok() {
	local sid="sw$$" spid
	spid=$(bash -c '. tests/lab/lab.sh; lab_up "$1" >/dev/null 2>&1 || exit 1
		echo "$LAB_SERVERS_PID"; kill -KILL $$' _ "$sid")
	[ -n "$spid" ] || { why="could not create the stale lab"; return 1; }
	ip netns list | grep -q "^${LAB_PREFIX_S}$sid" || { why="stale lab not there"; return 1; }
	lab_sweep 2>/dev/null
	if ip netns list | grep -qE "^($LAB_PREFIX_C|$LAB_PREFIX_S)$sid\b"; then
		why="stale namespaces survived the sweep"; return 1
	fi
	# A concurrent run's sweep may be the one killing it: allow it 3 s.
	for _ in $(seq 1 30); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$spid" 2>/dev/null; then why="stale servers ($spid) survived"; return 1; fi
	[ ! -e "$LAB_RUN/$sid" ] || { why="$LAB_RUN/$sid survived"; return 1; }
	ip netns list | grep -q "^$LAB_CNS\b" || { why="sweep removed the live lab"; return 1; }
}
check sweep sweep_ok

# --- down leaves nothing -----------------------------------------------------
spid=$LAB_SERVERS_PID cns=$LAB_CNS sns=$LAB_SNS dir=$LAB_DIR
lab_capture_start "$tmp/down.pcap" >/dev/null 2>&1
cpid=${LAB_CAP_PIDS[0]:-}
lab_down
down_ok() {
	local p
	for p in $spid $cpid; do
		kill -0 "$p" 2>/dev/null && { why="process $p still alive"; return 1; }
	done
	if ip netns list | awk '{print $1}' | grep -qxE "$cns|$sns"; then
		why="namespace left: $(ip netns list | grep -E "$cns|$sns")"; return 1
	fi
	[ ! -e "$dir" ] || { why="$dir left"; return 1; }
	lab_down || { why="second lab_down failed"; return 1; }
}
check down down_ok
dl_done
