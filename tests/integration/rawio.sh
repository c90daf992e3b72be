#!/usr/bin/env bash
# rawio.sh: rawio (raw sends, the AF_PACKET receive filter, kernel
# timestamps) and rstguard (the nftables RST guard), live, in a throwaway
# pair of network namespaces joined by a veth:
#
#   client ns  veth0 198.18.0.1/24 fd00:18::1/64  (rawio_tool runs here)
#   server ns  veth0 198.18.0.2/24 fd00:18::2/64  (kernel listener on 8080;
#              forwards, to make real ICMP errors)
#
# No default route: nothing can leave the pair. Every wait is bounded; the
# namespaces and every process started here are removed on exit, by PID.
# Each check prints "PASS name" or "FAIL name: why". KEEP=1 keeps the logs
# and captures.
# checks: 37
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
B=${B:-build}
TOOL=$PWD/$B/tests/rawio_tool
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

if [ "$(id -u)" != 0 ] || ! command -v tcpdump >/dev/null; then
	skip rawio "needs root and tcpdump"
	exit 0
fi
if [ ! -x "$TOOL" ]; then
	fail rawio_tool_built "$TOOL missing (make unit)"
	exit 1
fi

C=tpr-c$$
S=tpr-s$$
W=$(mktemp -d /tmp/tcpprobe-rawio.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	ip netns del "$C" 2>/dev/null
	ip netns del "$S" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "note: logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inc() { ip netns exec "$C" "$@"; }
ins() { ip netns exec "$S" "$@"; }
# Background processes are started with ip netns exec directly, not through
# inc/ins: a backgrounded function is a subshell, and $! would be its PID,
# not the process's, which killing the subshell would leave running.

# ---- the lab ---------------------------------------------------------------
setup() {
	ip netns add "$C" && ip netns add "$S" || return 1
	ip link add "tprc$$" netns "$C" type veth peer name "tprs$$" netns "$S" || return 1
	inc ip link set "tprc$$" name veth0 && ins ip link set "tprs$$" name veth0 || return 1
	local n
	for n in "$C" "$S"; do
		# No DAD: a tentative link-local address holds up neighbour
		# discovery for a second or two after the link comes up.
		ip netns exec "$n" sysctl -qw net.ipv6.conf.veth0.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 || return 1
		ip -n "$n" link set lo up || return 1
	done
	ip -n "$C" addr add 198.18.0.1/24 dev veth0 && ip -n "$C" addr add fd00:18::1/64 dev veth0 nodad &&
	ip -n "$S" addr add 198.18.0.2/24 dev veth0 && ip -n "$S" addr add fd00:18::2/64 dev veth0 nodad &&
	ip -n "$C" link set veth0 up && ip -n "$S" link set veth0 up || return 1
	# Keep the client's own connections out of the ports under test.
	inc sysctl -qw net.ipv4.ip_local_port_range="50000 50999" || return 1
	# Routes (not default ones) through the server, which forwards: an
	# unrouted prefix gives "destination unreachable", a prefix routed
	# back out of veth0 with TTL 1 gives "time exceeded".
	ins sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$C" route add 198.18.1.0/24 via 198.18.0.2 && ip -n "$C" route add 198.18.2.0/24 via 198.18.0.2 &&
	ip -n "$C" -6 route add fd00:19::/64 via fd00:18::2 && ip -n "$C" -6 route add fd00:1a::/64 via fd00:18::2 &&
	ip -n "$S" route add 198.18.2.0/24 dev veth0 && ip -n "$S" -6 route add fd00:1a::/64 dev veth0 || return 1

	# A kernel listener on 8080 in the server ns, 127.0.0.1/::1 8081 in the
	# client ns (loopback check). Bounded by their own sleep too.
	ip netns exec "$S" "$PY" -c '
import socket, time
ls = []
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, 8080)); s.listen(64); ls.append(s)
print("ready", flush=True)
time.sleep(300)' >"$W/srv.out" 2>&1 &
	PIDS+=($!)
	ip netns exec "$C" "$PY" -c '
import socket, time
ls = []
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam); s.bind((addr, 8081)); s.listen(64); ls.append(s)
print("ready", flush=True)
time.sleep(300)' >"$W/lo.out" 2>&1 &
	PIDS+=($!)
	local i
	for i in $(seq 50); do
		grep -qs ready "$W/srv.out" && grep -qs ready "$W/lo.out" && break
		sleep 0.1
	done
	grep -q ready "$W/srv.out" && grep -q ready "$W/lo.out" || return 1
	# Static neighbours: no check waits on ARP or neighbour discovery.
	local cmac smac
	cmac=$(inc cat /sys/class/net/veth0/address) && smac=$(ins cat /sys/class/net/veth0/address) &&
	ip -n "$C" neigh replace 198.18.0.2 lladdr "$smac" dev veth0 nud permanent &&
	ip -n "$C" neigh replace fd00:18::2 lladdr "$smac" dev veth0 nud permanent &&
	ip -n "$S" neigh replace 198.18.0.1 lladdr "$cmac" dev veth0 nud permanent &&
	ip -n "$S" neigh replace fd00:18::1 lladdr "$cmac" dev veth0 nud permanent
}
if ! setup >"$W/setup.log" 2>&1; then
	fail rawio_lab_setup "$(tail -n 3 "$W/setup.log" | tr '\n' ' ')"
	exit 1
fi
pass rawio_lab_setup

# Lines of the tool's output as "dir proto sport dport flags", sorted.
frames() { awk '$1 == "in" || $1 == "out" { print $1, $4, $5, $6, $7 }' "$@" | sort; }

# ---- the RST guard ---------------------------------------------------------
check_guard() {
	local out
	inc "$TOOL" guard-remove 40000 40999 || { fail guard_remove_absent "remove of an absent table failed"; return; }
	pass guard_remove_absent
	inc "$TOOL" guard-present 40000 40999 >/dev/null && { fail guard_absent "present before install"; return; }
	pass guard_absent

	# A stale table (a crash left it, with other contents) is replaced.
	inc nft -f - <<-'EOF'
	table inet tcpprobe_guard_40000_40999 {
		chain junk { type filter hook input priority 0; policy accept; tcp dport 1 drop; }
	}
	EOF
	if ! inc "$TOOL" guard-install 40000 40999 2>"$W/gi.err"; then
		fail guard_install "$(cat "$W/gi.err")"; return
	fi
	out=$(inc nft list table inet tcpprobe_guard_40000_40999)
	if grep -q junk <<<"$out" || [ "$(grep -c 'drop' <<<"$out")" != 1 ] ||
	   ! grep -Eq 'hook output priority (filter|0); policy accept;' <<<"$out" ||
	   ! grep -q 'tcp sport 40000-40999 tcp flags & rst == rst meta mark != 0x00007470 drop' <<<"$out"; then
		fail guard_install_replaces_stale "unexpected table: $(tr '\n\t' '  ' <<<"$out")"
	else
		pass guard_install_replaces_stale
	fi
	# Reinstall: still one table, one rule. Another range gets a table of
	# its own, and each is removed on its own.
	inc "$TOOL" guard-install 40000 40999 || fail guard_reinstall "failed"
	inc "$TOOL" guard-install 41000 41499 || fail guard_reinstall "second range failed"
	out=$(inc nft list ruleset)
	if [ "$(grep -c '^table' <<<"$out")" = 2 ] && [ "$(grep -c drop <<<"$out")" = 2 ] &&
	   grep -q 'tcp sport 40000-40999 ' <<<"$out" && grep -q 'tcp sport 41000-41499 ' <<<"$out"; then
		pass guard_reinstall
	else
		fail guard_reinstall "ruleset: $(tr '\n\t' '  ' <<<"$out")"
	fi
	inc "$TOOL" guard-present 40000 40999 >/dev/null && pass guard_present || fail guard_present "not reported present"
	inc "$TOOL" guard-remove 40000 40999 && ! inc nft list table inet tcpprobe_guard_40000_40999 >/dev/null 2>&1 &&
		! inc "$TOOL" guard-present 40000 40999 >/dev/null && inc "$TOOL" guard-present 41000 41499 >/dev/null &&
		pass guard_remove || fail guard_remove "table still there, or the other range's gone"
	inc "$TOOL" guard-remove 41000 41499

	# Without CAP_NET_ADMIN: one plain line on stderr, nothing else.
	inc setpriv --bounding-set=-net_admin -- "$TOOL" guard-install 40000 40999 2>"$W/np.err" >/dev/null
	local want="cannot install nftables table inet tcpprobe_guard_40000_40999: Operation not permitted (needs CAP_NET_ADMIN)"
	[ "$(cat "$W/np.err")" = "$want" ] && pass guard_error_unprivileged ||
		fail guard_error_unprivileged "stderr: $(cat "$W/np.err")"
}

# ---- rawio_open errors ------------------------------------------------------
check_open_errors() {
	inc setpriv --bounding-set=-net_raw,-net_admin -- "$TOOL" syn 198.18.0.1 198.18.0.2 40900 8080 \
		>/dev/null 2>"$W/nr.err"
	local want="socket(AF_PACKET): Operation not permitted (needs CAP_NET_RAW)"
	[ "$(cat "$W/nr.err")" = "$want" ] && pass rawio_error_unprivileged ||
		fail rawio_error_unprivileged "stderr: $(cat "$W/nr.err")"
	# SO_MARK: Linux >= 5.17 lets CAP_NET_RAW set it, older kernels want
	# CAP_NET_ADMIN. Report which, as a note.
	if inc setpriv --bounding-set=-net_admin -- "$TOOL" -w 0 syn 198.18.0.1 198.18.0.2 40901 8080 \
		>/dev/null 2>"$W/nm.err"; then
		echo "note: SO_MARK works without CAP_NET_ADMIN on $(uname -r)"
	else
		echo "note: without CAP_NET_ADMIN: $(cat "$W/nm.err")"
	fi
}

# ---- a SYN out, the SYN/ACK back, against a tcpdump capture -----------------
# Starts tcpdump on the client veth; sets TD.
capture_start() {
	rm -f "$W/$1.pcap" "$W/$1.log"
	ip netns exec "$C" tcpdump -i veth0 -n -U --immediate-mode --time-stamp-precision=nano -w "$W/$1.pcap" \
		tcp or icmp or icmp6 2>"$W/$1.log" &
	TD=$!
	PIDS+=("$TD")
	local i
	for i in $(seq 50); do grep -q listening "$W/$1.log" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
capture_stop() {
	sleep 0.2
	# TERM, not INT: a background job of a non-interactive shell starts
	# with SIGINT ignored, and tcpdump keeps it ignored.
	kill -TERM "$TD" 2>/dev/null
	local i
	for i in $(seq 50); do kill -0 "$TD" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$TD" 2>/dev/null
	wait "$TD" 2>/dev/null
	tcpdump -n -tt --time-stamp-precision=nano -r "$W/$1.pcap" 2>/dev/null >"$W/$1.txt"
}

# pcap_ts FILE PATTERN: the first capture line matching PATTERN, its time in ns.
pcap_ts() {
	awk -v pat="$2" 'index($0, pat) { split($1, t, "."); print t[1] t[2]; exit }' "$1"
}

MAXDIFF_NS=${MAXDIFF_NS:-5000}
TSDIFFS=()

# check_syn NAME SRC DST SPORT CSRC CDST: guard on, SYN out, SYN/ACK in, both
# timestamps against tcpdump's, and no RST in the capture.
check_syn() {
	local name=$1 src=$2 dst=$3 sport=$4 csrc=$5 cdst=$6
	capture_start "$name" || { fail "${name}_capture" "tcpdump did not start"; return; }
	inc "$TOOL" -w 700 syn "$src" "$dst" "$sport" 8080 >"$W/$name.out" 2>"$W/$name.err"
	capture_stop "$name"
	local out_l in_l
	out_l=$(awk -v p="$sport" '$1 == "out" && $4 == "tcp" && $5 == p && $7 == "S"' "$W/$name.out" | head -n1)
	in_l=$(awk -v p="$sport" '$1 == "in" && $4 == "tcp" && $6 == p && $7 == "S."' "$W/$name.out" | head -n1)
	if [ -z "$out_l" ]; then
		fail "${name}_outgoing_syn" "not delivered: $(tr '\n' '|' <"$W/$name.out") $(cat "$W/$name.err")"
	else
		pass "${name}_outgoing_syn"
	fi
	if [ -z "$in_l" ]; then
		fail "${name}_synack" "not delivered: $(tr '\n' '|' <"$W/$name.out")"
	else
		pass "${name}_synack"
	fi
	local dir line ts pts d pat
	for dir in out in; do
		if [ "$dir" = out ]; then line=$out_l; pat="$csrc.$sport > $cdst.8080: Flags [S],"
		else line=$in_l; pat="$cdst.8080 > $csrc.$sport: Flags [S.],"; fi
		[ -n "$line" ] || continue
		ts=$(awk '{ print $2 }' <<<"$line")
		pts=$(pcap_ts "$W/$name.txt" "$pat")
		if [ -z "$pts" ] || [ -z "$ts" ] || [ "$ts" -lt 1000000000000000000 ]; then
			fail "${name}_${dir}_timestamp" "tool ts '$ts', tcpdump ts '$pts'"
			continue
		fi
		d=$((ts - pts)); [ "$d" -lt 0 ] && d=$((-d))
		TSDIFFS+=("$name/$dir=${d}ns")
		if [ "$d" -le "$MAXDIFF_NS" ]; then
			pass "${name}_${dir}_timestamp"
		else
			fail "${name}_${dir}_timestamp" "differs from tcpdump's by ${d} ns (> $MAXDIFF_NS)"
		fi
	done
	if grep -q "$csrc.$sport > $cdst.8080: Flags \[R" "$W/$name.txt"; then
		fail "${name}_guard_blocks_rst" "a RST left: $(grep 'Flags \[R' "$W/$name.txt" | head -n1)"
	else
		pass "${name}_guard_blocks_rst"
	fi
}

# check_rst_without_guard NAME SRC DST SPORT CSRC CDST: the kernel's RST does
# go out without the guard (so the guard is what stopped it above).
check_rst_without_guard() {
	local name=$1 src=$2 dst=$3 sport=$4 csrc=$5 cdst=$6
	capture_start "$name" || { fail "${name}_capture" "tcpdump did not start"; return; }
	inc "$TOOL" -w 300 syn "$src" "$dst" "$sport" 8080 >"$W/$name.out" 2>&1
	capture_stop "$name"
	if grep -q "$csrc.$sport > $cdst.8080: Flags \[R\]" "$W/$name.txt"; then
		pass "${name}_kernel_rst"
	else
		fail "${name}_kernel_rst" "no RST in the capture: $(tr '\n' '|' <"$W/$name.txt")"
	fi
	# The outgoing RST (no SYN/FIN) is filtered out of rawio's view.
	if awk '$1 == "out" && $7 ~ /R/' "$W/$name.out" | grep -q .; then
		fail "${name}_rst_not_delivered" "$(tr '\n' '|' <"$W/$name.out")"
	else
		pass "${name}_rst_not_delivered"
	fi
}

# The marked RST passes the guard, an unmarked one is refused with EPERM and
# counted as a tx error.
check_mark() {
	local out
	out=$(inc "$TOOL" -w 0 rst 198.18.0.1 198.18.0.2 40600 8080 2>&1)
	grep -q 'stats tx=1 txerr=0' <<<"$out" && pass guard_passes_marked_rst ||
		fail guard_passes_marked_rst "$out"
	out=$(inc "$TOOL" -m 0 -w 0 rst fd00:18::1 fd00:18::2 40601 8080 2>&1)
	grep -q 'stats tx=0 txerr=1' <<<"$out" && grep -q 'Operation not permitted' <<<"$out" &&
		pass guard_drops_unmarked_rst_eperm || fail guard_drops_unmarked_rst_eperm "$out"
}

# ---- batches and send errors ------------------------------------------------
# 200 SYNs queued at once (four sendmmsg batches of 64 and one of 8), every
# other one to an unroutable TEST-NET address: 100 fail with ENETUNREACH
# (in the client, no packet leaves), 100 go out and get their SYN/ACK.
# check_burst NAME SRC DST BADDST SPORT
check_burst() {
	local name=$1 out
	out=$(inc "$TOOL" -w 800 burst 200 "$2" "$3" "$4" "$5" 8080 2>&1)
	local st nout nin
	st=$(grep '^stats' <<<"$out")
	nout=$(awk '$1 == "out" && $7 == "S"' <<<"$out" | wc -l)
	nin=$(awk '$1 == "in" && $7 == "S."' <<<"$out" | sort -u -k5,6 | wc -l)
	if [[ "$st" == "stats tx=100 txerr=100 rx="*" drops=0 badcsum=0" ]] && [ "$nout" = 100 ] && [ "$nin" = 100 ] &&
	   grep -q 'Network is unreachable' <<<"$out"; then
		pass "$name"
	else
		fail "$name" "$st, $nout SYNs and $nin SYN/ACKs delivered; $(grep -v '^in\|^out' <<<"$out" | tr '\n' '|')"
	fi
}

# ---- the kernel filter --------------------------------------------------------
# rawio_tool listens on 41000-41099 while the server sends what must come
# through and what must not; the client sends some too. Exactly the expected
# frames must be delivered.
check_filter() {
	local mac
	mac=$(inc cat /sys/class/net/veth0/address)
	# At most 60 s; stopped (SIGTERM) once the last frame waited for arrived.
	ip netns exec "$C" "$TOOL" listen 41000 41099 60 >"$W/listen.out" 2>&1 &
	local lp=$!
	PIDS+=("$lp")
	local i
	for i in $(seq 50); do grep -q listening "$W/listen.out" 2>/dev/null && break; sleep 0.1; done

	# Crafted frames from the server (scapy, layer 2 so nothing is resolved
	# or rewritten). C = client, S = server.
	ins "$PY" - "$mac" >"$W/scapy.out" 2>&1 <<-'EOF'
	import sys
	from scapy.all import (Ether, IP, IPv6, TCP, UDP, ICMP, IPOption, Raw, sendp,
	                       ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded,
	                       ICMPv6ParamProblem, ICMPv6EchoRequest, IPv6ExtHdrDestOpt)
	mac = sys.argv[1]
	C4, S4, C6, S6 = "198.18.0.1", "198.18.0.2", "fd00:18::1", "fd00:18::2"
	def q4(sport, dport, **kw):   # a segment the client sent, as quoted
	    return bytes(IP(src=C4, dst=S4, **kw) / TCP(sport=sport, dport=dport, flags="S"))
	def q6(sport, dport):
	    return bytes(IPv6(src=C6, dst=S6) / TCP(sport=sport, dport=dport, flags="S"))
	e = Ether(dst=mac)
	good = [
	    e / IP(src=S4, dst=C4) / TCP(sport=80, dport=41001, flags="S"),
	    e / IP(src=S4, dst=C4, options=[IPOption(b"\x01\x01\x01\x00")]) / TCP(sport=81, dport=41002, flags="A"),
	    e / IPv6(src=S6, dst=C6) / TCP(sport=82, dport=41003, flags="S"),
	    e / IP(src=S4, dst=C4) / ICMP(type=3, code=4, nexthopmtu=1400) / Raw(q4(41004, 83)),
	    e / IP(src=S4, dst=C4) / ICMP(type=11, code=0) / Raw(q4(41005, 84, options=[IPOption(b"\x01\x01\x01\x01\x01\x01\x01\x00")])),
	    e / IPv6(src=S6, dst=C6) / ICMPv6PacketTooBig(mtu=1280) / Raw(q6(41006, 85)),
	    e / IPv6(src=S6, dst=C6) / ICMPv6DestUnreach(code=1) / Raw(q6(41007, 86)),
	    e / IPv6(src=S6, dst=C6) / ICMPv6TimeExceeded() / Raw(q6(41008, 87)),
	    e / IP(src=S4, dst=C4) / ICMP(type=3, code=1) / Raw(q4(41009, 88)[:28]),  # IP + 8 bytes
	    # Ethernet padding after a 40-byte packet: checksums use the IP length
	    Ether(dst=mac, type=0x0800) / Raw(bytes(IP(src=S4, dst=C4) / TCP(sport=89, dport=41075, flags="S")) + bytes(6)),
	]
	bad = [
	    e / IP(src=S4, dst=C4) / TCP(sport=90, dport=42001, flags="S"),            # port out of range
	    e / IP(src=S4, dst=C4) / UDP(sport=91, dport=41050),                       # UDP, port in range
	    e / IPv6(src=S6, dst=C6) / UDP(sport=92, dport=41051),
	    e / IP(src=S4, dst=C4) / ICMP(type=3, code=3) / Raw(q4(42002, 41052)),     # quoted sport out of range
	    e / IP(src=S4, dst=C4) / ICMP(type=3, code=3) / Raw(bytes(IP(src=C4, dst=S4) / UDP(sport=41053, dport=93))),
	    e / IP(src=S4, dst=C4) / ICMP(type=12) / Raw(q4(41054, 94)),               # parameter problem
	    e / IP(src=S4, dst=C4) / ICMP(type=0) / Raw(q4(41055, 95)),                # echo reply
	    e / IP(src=S4, dst=C4) / ICMP(type=8, id=1, seq=1) / Raw(q4(41063, 95)),   # ping: the reply goes out
	    e / IPv6(src=S6, dst=C6) / ICMPv6ParamProblem() / Raw(q6(41056, 96)),
	    e / IPv6(src=S6, dst=C6) / ICMPv6DestUnreach() / Raw(bytes(IPv6(src=C6, dst=S6) / UDP(sport=41057, dport=97))),
	    e / IPv6(src=S6, dst=C6) / ICMPv6EchoRequest() / Raw(q6(41058, 98)),      # ping6: the reply goes out
	    # a non-first fragment whose first bytes look like ports 99 -> 41059
	    e / IP(src=S4, dst=C4, proto=6, frag=1, id=7) / Raw(bytes(TCP(sport=99, dport=41059, flags="S"))),
	    # a TCP segment behind an IPv6 extension header
	    e / IPv6(src=S6, dst=C6) / IPv6ExtHdrDestOpt() / TCP(sport=100, dport=41060, flags="S"),
	    # not for this host's MAC (PACKET_OTHERHOST)
	    Ether(dst="02:00:00:00:00:01") / IP(src=S4, dst=C4) / TCP(sport=101, dport=41061, flags="S"),
	]
	# Bad checksums, which the kernel would drop: rawio drops them too.
	badsum = [
	    e / IP(src=S4, dst=C4) / TCP(sport=102, dport=41070, flags="S", chksum=0xdead),
	    e / IP(src=S4, dst=C4, chksum=0xbeef) / TCP(sport=103, dport=41071, flags="S"),
	    e / IP(src=S4, dst=C4) / ICMP(type=3, code=3, chksum=0x1234) / Raw(q4(41072, 104)),
	    e / IPv6(src=S6, dst=C6) / TCP(sport=105, dport=41073, flags="R", chksum=0xdead),
	    e / IPv6(src=S6, dst=C6) / ICMPv6DestUnreach(cksum=0x1234) / Raw(q6(41074, 106)),
	    e / IP(src=S4, dst=C4) / TCP(sport=107, dport=41076, flags="PA", chksum=0xdead) / Raw(b"0123456789"),
	]
	bad += badsum
	sendp(good + bad, iface="veth0", verbose=False)
	print("sent", len(good), len(bad), len(badsum))
	EOF
	# Kernel traffic that must not come through: UDP to a port in range (the
	# ICMP port unreachable goes out), TCP to a port out of range (the
	# client's RST goes out), a kernel connection from the client (50000+).
	ins "$PY" -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", ("198.18.0.1", 41062))'
	ins "$PY" -c '
import socket
for a in ("198.18.0.1", "fd00:18::1"):
    try: socket.create_connection((a, 42003), timeout=1)
    except OSError: pass'
	inc "$PY" -c 'import socket; s = socket.create_connection(("198.18.0.2", 8080), timeout=1); s.close()'
	# From rawio itself: a SYN (out, and its SYN/ACK in), a FIN/ACK (out;
	# the listener answers it with a RST, in), a RST (out: not delivered).
	inc "$TOOL" -w 300 syn 198.18.0.1 198.18.0.2 41012 8080 >/dev/null 2>&1
	inc "$TOOL" -w 0 fin fd00:18::1 fd00:18::2 41010 8080 >/dev/null 2>&1
	inc "$TOOL" -w 0 rst 198.18.0.1 198.18.0.2 41011 8080 >/dev/null 2>&1
	# The last reply (the listener's RST to our FIN) comes asynchronously;
	# everything else was queued on the socket when its sender returned.
	# Wait for it (<= 10 s), then stop the listener: it reads what is queued.
	for i in $(seq 100); do grep -q '^in [0-9]* [0-9]* tcp 8080 41010 R ' "$W/listen.out" && break; sleep 0.1; done
	grep -q '^in [0-9]* [0-9]* tcp 8080 41010 R ' "$W/listen.out" ||
		fail filter_last_frame "the RST answering our FIN (8080 -> 41010) did not arrive in 10 s"
	kill -TERM "$lp"
	wait "$lp"

	frames "$W/listen.out" >"$W/got"
	sort >"$W/want" <<-'EOF'
	in tcp 80 41001 S
	in tcp 81 41002 .
	in tcp 82 41003 S
	in icmp:3 41004 83 -
	in icmp:11 41005 84 -
	in icmp6:2 41006 85 -
	in icmp6:1 41007 86 -
	in icmp6:3 41008 87 -
	in icmp:3 41009 88 -
	in tcp 89 41075 S
	out tcp 41012 8080 S
	in tcp 8080 41012 S.
	out tcp 41010 8080 F.
	in tcp 8080 41010 R
	EOF
	if ! grep -q '^sent 10 20 6' "$W/scapy.out"; then
		fail filter_crafted_sent "scapy: $(tail -n 3 "$W/scapy.out" | tr '\n' ' ')"
	fi
	local missing extra
	missing=$(comm -23 "$W/want" "$W/got" | tr '\n' ';')
	extra=$(comm -13 "$W/want" "$W/got" | tr '\n' ';')
	[ -z "$missing" ] && pass filter_delivers_wanted || fail filter_delivers_wanted "missing: $missing"
	[ -z "$extra" ] && pass filter_rejects_unrelated || fail filter_rejects_unrelated "delivered: $extra"
	grep -q 'drops=0' "$W/listen.out" && pass filter_no_kernel_drops ||
		fail filter_no_kernel_drops "$(grep stats "$W/listen.out")"
	grep -q 'badcsum=6$' "$W/listen.out" && pass rx_drops_bad_checksums ||
		fail rx_drops_bad_checksums "want badcsum=6: $(grep stats "$W/listen.out")"
}

# ---- real ICMP errors, from the forwarding server ---------------------------
# check_icmp NAME TTL SRC DST SPORT PROTO
check_icmp() {
	local name=$1 ttl=$2 src=$3 dst=$4 sport=$5 proto=$6
	inc "$TOOL" -t "$ttl" -w 500 syn "$src" "$dst" "$sport" 80 >"$W/$name.out" 2>&1
	if frames "$W/$name.out" | grep -qx "in $proto $sport 80 -"; then
		pass "$name"
	else
		fail "$name" "no '$proto' quoting port $sport: $(tr '\n' '|' <"$W/$name.out")"
	fi
}

# ---- loopback -------------------------------------------------------------------
# On lo every packet passes the taps twice, as outgoing and as incoming; the
# filter takes each of our segments once: our SYN as outgoing (its incoming
# copy has a destination port out of range), the SYN/ACK as incoming (its
# outgoing copy has a source port out of range).
check_loopback() {
	local fam src sport name
	for fam in 4 6; do
		if [ $fam = 4 ]; then src=127.0.0.1; sport=40700; else src=::1; sport=40701; fi
		name=loopback_v$fam
		inc "$TOOL" -w 300 syn "$src" "$src" "$sport" 8081 >"$W/$name.out" 2>&1
		frames "$W/$name.out" >"$W/$name.got"
		if [ "$(cat "$W/$name.got")" = "$(printf 'in tcp 8081 %s S.\nout tcp %s 8081 S' "$sport" "$sport")" ]; then
			pass "$name"
		else
			fail "$name" "$(tr '\n' '|' <"$W/$name.out")"
		fi
	done
}

check_guard
check_open_errors
if inc "$TOOL" guard-install 40000 40999; then
	check_syn syn_v4 198.18.0.1 198.18.0.2 40001 198.18.0.1 198.18.0.2
	check_syn syn_v6 fd00:18::1 fd00:18::2 40002 fd00:18::1 fd00:18::2
	check_mark
	check_loopback
	inc "$TOOL" guard-remove 40000 40999
else
	fail guard_install "cannot install the guard"
fi
check_rst_without_guard noguard_v4 198.18.0.1 198.18.0.2 40003 198.18.0.1 198.18.0.2
check_rst_without_guard noguard_v6 fd00:18::1 fd00:18::2 40004 fd00:18::1 fd00:18::2
check_burst burst_v4 198.18.0.1 198.18.0.2 203.0.113.1 40200
check_burst burst_v6 fd00:18::1 fd00:18::2 2001:db8::1 40200
check_filter
check_icmp icmp_unreachable_v4 64 198.18.0.1 198.18.1.1 40800 icmp:3
check_icmp icmp_time_exceeded_v4 1 198.18.0.1 198.18.2.1 40801 icmp:11
check_icmp icmp6_unreachable 64 fd00:18::1 fd00:19::1 40802 icmp6:1
check_icmp icmp6_time_exceeded 1 fd00:18::1 fd00:1a::1 40803 icmp6:3

echo "note: |rawio - tcpdump| timestamps: ${TSDIFFS[*]:-none}"
dl_done
