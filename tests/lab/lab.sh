# shellcheck shell=bash
# Namespace lab for tcpprobe's integration tests, demo and benchmarks.
# Source it from bash, then:
#
#   lab_up [ID]             client ns tpc-ID and server ns tps-ID (ID defaults
#                           to $$) joined by a veth pair, kernel servers running
#   trap lab_down EXIT      kills what the lab started (by PID), deletes both ns
#   lab_cexec CMD...        run CMD in the client ns (lab_sexec: server ns)
#   lab_cbg CMD...          start CMD in the background in the client ns
#                           (lab_sbg: server ns); its PID is left in LAB_BG_PID
#                           and lab_down kills it
#   lab_capture_start FILE [FILTER]   tcpdump on the client veth (or on
#                           $LAB_CAP_IF in the client ns, or in $LAB_CAP_NS),
#                           nanosecond pcap
#   lab_capture_stop [FILE]           stop it (or every capture) and flush
#   lab_capture_ok FILE [MIN [ERE]]   the capture started, stopped cleanly, lost
#                           no packet (kernel or interface drops) and holds at
#                           least MIN (1) lines of `wire.py dump FILE` matching
#                           ERE; else prints why on stdout and returns 1. Run it
#                           before any "no RST" / "nothing sent" / checksum
#                           check reads FILE: an empty capture proves nothing.
#   lab_tcpprobe ARGS...    tcpprobe ($LAB_TCPPROBE, else $TCPPROBE) in the
#                           client ns; lab_tcpprobe_bg: in the background, PID
#                           in LAB_BG_PID. $LAB_WRAP (split on spaces) goes
#                           before the binary (timeout, setpriv, valgrind).
#                           Both refuse (status 125, nothing run) unless
#                           lab_safe_ns holds. Every test runs tcpprobe
#                           probe/daemon/guard through these.
#   lab_safe_ns [NS]        NS (default the client ns) is one of this live
#                           lab's namespaces and has no IPv4 or IPv6 default
#                           route; else says why on stderr and returns 1
#   lab_wire ARGS...        tests/lab/wire.py with the lab's client addresses
#   lab_sweep               remove labs whose creating process is dead
#
# Impairments (this kernel has no netem and no dummy interfaces):
#   lab_loss PORT PCT [in|out|both]   nftables in the server ns drops PCT% of
#                           TCP segments to (in) / from (out) PORT, chosen
#                           by `numgen random mod 100`; in+out by default
#   lab_loss_clear          removes every lab_loss rule
#   LAB_MIDDLE=1 lab_up     puts a third namespace tpm-ID between client and
#                           server: lab-c <-> lab-mc [impair] lab-ms <-> lab-s.
#                           tests/tools/impair (built by `make unit`; path in
#                           $LAB_IMPAIR) bridges the two veths with AF_PACKET
#                           and applies delay, loss, duplication, reordering
#   lab_impair ARGS...      restarts the bridge with impair options, e.g.
#                           lab_impair --seed 7 --dir b2a --dup 100 --delay 5
#                           (a2b: client->server; b2a: server->client; see the
#                           header of tests/tools/impair.c). No ARGS: a clean
#                           link.
#   lab_impair_stats        stops the bridge, prints its counters (one line
#                           per direction: in lost duplicated reordered out)
#   Client and server keep their interface names, MACs and addresses, so every
#   other function works the same with or without the middle namespace.
#
# Nothing here sends a packet outside the two namespaces it creates: there is
# no default route in either, and the only routes are to the lab's prefixes.
#
# Port map (server ns, every address incl. the AnyIP ranges):
#   8080 open          accept, read to EOF, close
#   8081 closed        nothing listens: the kernel answers RST
#   8082 dropped       nftables drops every TCP segment: silence
#   8083 unreachable   nftables: ICMP(v6) port unreachable
#   8084 prohibited    nftables: ICMP(v6) administratively prohibited
#   8085 slow-close    read to EOF, close 200 ms later: four-way close
#   8086 close-first   accept and close at once: the server's FIN comes first
#   8087 banner        sends "SSH-2.0-tcpprobe-lab\r\n", read to EOF, close
#   9000-9999 extra    open behaviour, real listeners (no NAT, no conntrack)

LAB_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_PY=/usr/bin/python3          # Debian's python: the one with scapy
LAB_RUN=/run/tcpprobe-lab        # one directory per live lab: owner, pids, logs
LAB_PREFIX_C=tpc- LAB_PREFIX_S=tps- LAB_PREFIX_M=tpm-

LAB_C4=198.18.0.1 LAB_S4=198.18.0.2 LAB_NET4=198.18.0.0/24
LAB_C6=fd00:18::1 LAB_S6=fd00:18::2 LAB_NET6=fd00:18::/64
LAB_ANYNET4=198.19.0.0/16 LAB_ANYNET6=fd00:19::/64
LAB_ANY4=198.19.3.7 LAB_ANY6=fd00:19::3:7       # one AnyIP address of each family
LAB_CMAC=02:00:c6:12:00:01 LAB_SMAC=02:00:c6:12:00:02
LAB_CIF=lab-c LAB_SIF=lab-s      # each lives only inside its own namespace
LAB_MCIF=lab-mc LAB_MSIF=lab-ms  # the middle namespace's ends (LAB_MIDDLE=1)
LAB_IMPAIR=${LAB_IMPAIR:-$(cd "$LAB_LIB/../.." && pwd)/${B:-build}/tests/impair}

LAB_PORT_OPEN=8080 LAB_PORT_CLOSED=8081 LAB_PORT_DROPPED=8082
LAB_PORT_UNREACH=8083 LAB_PORT_PROHIB=8084 LAB_PORT_SLOWCLOSE=8085
LAB_PORT_CLOSEFIRST=8086 LAB_PORT_BANNER=8087
LAB_PORT_EXTRA_LO=9000 LAB_PORT_EXTRA_HI=9999
LAB_BANNER='SSH-2.0-tcpprobe-lab\r\n'
LAB_SLOW_MS=200

export LAB_LIB LAB_PY LAB_C4 LAB_S4 LAB_NET4 LAB_C6 LAB_S6 LAB_NET6 \
	LAB_ANYNET4 LAB_ANYNET6 LAB_ANY4 LAB_ANY6 LAB_CMAC LAB_SMAC LAB_CIF LAB_SIF \
	LAB_PORT_OPEN LAB_PORT_CLOSED LAB_PORT_DROPPED LAB_PORT_UNREACH \
	LAB_PORT_PROHIB LAB_PORT_SLOWCLOSE LAB_PORT_CLOSEFIRST LAB_PORT_BANNER \
	LAB_PORT_EXTRA_LO LAB_PORT_EXTRA_HI LAB_BANNER LAB_SLOW_MS

LAB_UP=0
LAB_PIDS=()
LAB_CAP_PIDS=() LAB_CAP_FILES=()

lab_log() { echo "lab: $*" >&2; }

# Start time of a process (clock ticks since boot), to tell a live owner from a
# recycled PID. Field 22 of /proc/PID/stat, counted after the ")" of comm.
lab_starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo "${20}"
}

# True if the process that created lab ID still exists.
lab_owner_alive() {
	local f="$LAB_RUN/$1/owner" pid st now
	[ -r "$f" ] || return 1
	read -r pid st <"$f" || return 1
	now=$(lab_starttime "$pid") || return 1
	[ "$now" = "$st" ]
}

# Stop PIDs: SIGTERM, up to 3 s of grace, then SIGKILL. Reaps our children.
lab_kill_pids() {
	local pid alive
	[ $# -gt 0 ] || return 0
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
	for _ in $(seq 1 30); do
		alive=0
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "$@"; do
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	return 0
}

# Kill every process left in namespace NS, by PID, then delete it.
lab_del_ns() {
	local ns=$1 pids
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" || return 0
	# shellcheck disable=SC2207
	pids=($(ip netns pids "$ns" 2>/dev/null))
	lab_kill_pids "${pids[@]}"
	# Another sweeper may have deleted it meanwhile: only complain if it stays.
	if ! ip netns del "$ns" 2>/dev/null &&
		ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns"; then
		lab_log "could not delete netns $ns"
	fi
}

lab_sweep() {
	local ns id d
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in "$LAB_PREFIX_C"* | "$LAB_PREFIX_S"* | "$LAB_PREFIX_M"*) ;; *) continue ;; esac
		id=${ns#"$LAB_PREFIX_C"}; id=${id#"$LAB_PREFIX_S"}; id=${id#"$LAB_PREFIX_M"}
		[ "$LAB_UP" = 1 ] && [ "$id" = "${LAB_ID:-}" ] && continue
		lab_owner_alive "$id" && continue
		lab_log "sweeping stale namespace $ns"
		lab_del_ns "$ns"
	done
	for d in "$LAB_RUN"/*/; do
		[ -d "$d" ] || continue
		id=$(basename "$d")
		lab_owner_alive "$id" || rm -rf "$d"
	done
	return 0
}

lab_cexec() { ip netns exec "$LAB_CNS" "$@"; }

# The only way tests start tcpprobe: in a namespace this lab made, which has
# no default route, so no probe can leave the lab whatever its target says.
lab_safe_ns() { # [NS]
	local ns=${1:-${LAB_CNS:-}} r
	if [ "${LAB_UP:-0}" != 1 ] || [ -z "$ns" ]; then
		lab_log "refused: no lab is up"; return 1
	fi
	if [ "$ns" != "$LAB_CNS" ] && [ "$ns" != "$LAB_SNS" ]; then
		lab_log "refused: '$ns' is not one of this lab's namespaces ($LAB_CNS, $LAB_SNS)"; return 1
	fi
	case $ns in "$LAB_PREFIX_C"?* | "$LAB_PREFIX_S"?*) ;; *)
		lab_log "refused: '$ns' lacks the lab's prefix"; return 1 ;;
	esac
	if ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns"; then
		lab_log "refused: namespace $ns does not exist"; return 1
	fi
	if ! lab_owner_alive "$LAB_ID" || [ "$(cut -d' ' -f1 "$LAB_DIR/owner")" != "$$" ]; then
		lab_log "refused: lab $LAB_ID is not owned by this shell ($$)"; return 1
	fi
	# 2>&1: an error listing the routes counts as a route (refuse).
	r=$(ip -n "$ns" route show default 2>&1; ip -n "$ns" -6 route show default 2>&1)
	if [ -n "$r" ]; then
		lab_log "refused: namespace $ns has a default route: $(echo "$r" | paste -sd ';' -)"; return 1
	fi
	return 0
}

lab_tcpprobe_bin() {
	local bin=${LAB_TCPPROBE:-${TCPPROBE:-}}
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		lab_log "refused: no tcpprobe binary (LAB_TCPPROBE/TCPPROBE: '$bin')"; return 1
	fi
	echo "$bin"
}

lab_tcpprobe() { # ARGS...
	local bin
	bin=$(lab_tcpprobe_bin) && lab_safe_ns "$LAB_CNS" || return 125
	# shellcheck disable=SC2086  # LAB_WRAP is a command prefix, split on purpose
	ip netns exec "$LAB_CNS" ${LAB_WRAP:-} "$bin" "$@"
}

lab_tcpprobe_bg() { # ARGS...
	local bin
	LAB_BG_PID=
	bin=$(lab_tcpprobe_bin) && lab_safe_ns "$LAB_CNS" || return 125
	# shellcheck disable=SC2086
	lab_bg "$LAB_CNS" ${LAB_WRAP:-} "$bin" "$@"
}
lab_sexec() { ip netns exec "$LAB_SNS" "$@"; }

lab_bg() { # ns cmd...
	local ns=$1; shift
	ip netns exec "$ns" "$@" &
	LAB_BG_PID=$!
	LAB_PIDS+=("$LAB_BG_PID")
	echo "$LAB_BG_PID" >>"$LAB_DIR/pids"
}
lab_cbg() { lab_bg "$LAB_CNS" "$@"; }
lab_sbg() { lab_bg "$LAB_SNS" "$@"; }

lab_wire() {
	"$LAB_PY" "$LAB_LIB/wire.py" --client "$LAB_C4" --client "$LAB_C6" "$@"
}

lab_ns_setup() { # ns: sysctls that must hold before any interface exists
	local ns=$1
	# shellcheck disable=SC2016  # $k expands in the inner sh
	ip netns exec "$ns" sh -c '
		for k in all default; do
			# Addresses usable at once (no DAD), and no RS/RA chatter in captures.
			sysctl -qw net.ipv6.conf.$k.accept_dad=0 net.ipv6.conf.$k.dad_transmits=0 \
				net.ipv6.conf.$k.accept_ra=0 net.ipv6.conf.$k.router_solicitations=0
		done
		# Every probe must get its ICMP error: no rate limit (the default allows
		# about one error per second per peer).
		sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
			net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000 2>/dev/null
		true' || return 1
	ip -n "$ns" link set lo up
}

lab_offloads_off() { # ns ifname
	# With TX checksum offload a veth hands kernel segments to the capture
	# with only the pseudo-header sum filled in, and TSO/GSO/GRO merge or
	# split segments: both would make the capture lie about the wire.
	if command -v ethtool >/dev/null 2>&1; then
		ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off \
			>/dev/null 2>&1 || lab_log "ethtool -K $2 failed; captures may show offload artefacts"
	else
		lab_log "ethtool not installed; offloads left on (captures may show bad checksums)"
	fi
}

# IPv6 on a new veth is not usable until linkwatch has activated the device:
# until then the kernel has no ff00::/8 route and drops incoming neighbour
# solicitations (Ip6InNoRoutes), so the first ND exchange stalls for a second.
# The link-local address appears at that moment; wait for it on both ends.
lab_links_ready() {
	local i
	for i in $(seq 1 50); do
		if [ -n "$(ip -n "$LAB_CNS" -6 -o addr show dev "$LAB_CIF" scope link)" ] &&
			[ -n "$(ip -n "$LAB_SNS" -6 -o addr show dev "$LAB_SIF" scope link)" ] &&
			[ -z "$(ip -n "$LAB_CNS" -6 -o addr show dev "$LAB_CIF" tentative)" ] &&
			[ -z "$(ip -n "$LAB_SNS" -6 -o addr show dev "$LAB_SIF" tentative)" ]; then
			return 0
		fi
		sleep 0.1
	done
	lab_log "IPv6 on the veth pair not ready after 5 s"
	return 1
}

lab_nft_rules() {
	cat <<EOF
table inet lab {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport $LAB_PORT_DROPPED drop
		tcp dport $LAB_PORT_UNREACH reject with icmpx type port-unreachable
		tcp dport $LAB_PORT_PROHIB reject with icmpx type admin-prohibited
	}
}
EOF
}

# The client-server link: one veth pair, or with LAB_MIDDLE=1 two pairs
# through the middle namespace and the impair bridge.
lab_links() {
	if [ -z "$LAB_MNS" ]; then
		ip -n "$LAB_CNS" link add "$LAB_CIF" address "$LAB_CMAC" type veth \
			peer name "$LAB_SIF" address "$LAB_SMAC" netns "$LAB_SNS" &&
		lab_offloads_off "$LAB_CNS" "$LAB_CIF" && lab_offloads_off "$LAB_SNS" "$LAB_SIF"
		return
	fi
	[ -x "$LAB_IMPAIR" ] || { lab_log "no $LAB_IMPAIR (make unit builds it)"; return 1; }
	ip netns add "$LAB_MNS" && ip -n "$LAB_MNS" link set lo up &&
	# The middle's own stack stays silent: no addresses, no IPv6, no forwarding.
	ip netns exec "$LAB_MNS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0 &&
	ip -n "$LAB_CNS" link add "$LAB_CIF" address "$LAB_CMAC" type veth \
		peer name "$LAB_MCIF" netns "$LAB_MNS" &&
	ip -n "$LAB_SNS" link add "$LAB_SIF" address "$LAB_SMAC" type veth \
		peer name "$LAB_MSIF" netns "$LAB_MNS" &&
	lab_offloads_off "$LAB_CNS" "$LAB_CIF" && lab_offloads_off "$LAB_SNS" "$LAB_SIF" &&
	lab_offloads_off "$LAB_MNS" "$LAB_MCIF" && lab_offloads_off "$LAB_MNS" "$LAB_MSIF" &&
	ip -n "$LAB_MNS" link set "$LAB_MCIF" up &&
	ip -n "$LAB_MNS" link set "$LAB_MSIF" up &&
	lab_impair
}

lab_impair() { # impair options; none: a clean link
	[ -n "${LAB_MNS:-}" ] || { lab_log "lab_impair needs LAB_MIDDLE=1 lab_up"; return 1; }
	local i
	[ -n "${LAB_IMPAIR_PID:-}" ] && lab_kill_pids "$LAB_IMPAIR_PID"
	: >"$LAB_DIR/impair.out"
	lab_bg "$LAB_MNS" "$LAB_IMPAIR" "$LAB_MCIF" "$LAB_MSIF" "$@" \
		>"$LAB_DIR/impair.out" 2>"$LAB_DIR/impair.err"
	LAB_IMPAIR_PID=$LAB_BG_PID
	for i in $(seq 1 50); do
		grep -q '^ready' "$LAB_DIR/impair.out" 2>/dev/null && return 0
		kill -0 "$LAB_IMPAIR_PID" 2>/dev/null || break
		sleep 0.05
	done
	lab_log "impair did not start: $(cat "$LAB_DIR/impair.err" 2>/dev/null)"
	return 1
}

lab_impair_stats() {
	[ -n "${LAB_IMPAIR_PID:-}" ] || return 1
	lab_kill_pids "$LAB_IMPAIR_PID"
	LAB_IMPAIR_PID=
	cat "$LAB_DIR/impair.err"
}

lab_loss() { # PORT PCT [in|out|both]
	local port=$1 pct=$2 dir=${3:-both} rules=""
	case $dir in in | out | both) ;; *) lab_log "lab_loss: direction '$dir'"; return 1 ;; esac
	[[ $port =~ ^[0-9]+$ && $pct =~ ^[0-9]+$ && $pct -le 100 ]] ||
		{ lab_log "lab_loss: bad PORT '$port' or PCT '$pct'"; return 1; }
	local cond="numgen random mod 100 < $pct"
	[ "$pct" = 100 ] && cond=""     # numgen's range is 0-99
	[ "$dir" != out ] && rules="add rule inet labloss input tcp dport $port $cond drop"
	[ "$dir" != in ] && rules="$rules
add rule inet labloss output tcp sport $port $cond drop"
	lab_sexec nft -f - <<EOF
table inet labloss {
	chain input { type filter hook input priority -10; policy accept; }
	chain output { type filter hook output priority -10; policy accept; }
}
$rules
EOF
}

lab_loss_clear() { lab_sexec nft delete table inet labloss 2>/dev/null; return 0; }

lab_up() {
	local id=${1:-$$} i
	if [ "$LAB_UP" = 1 ]; then lab_log "lab $LAB_ID is already up"; return 1; fi
	if ! [[ $id =~ ^[A-Za-z0-9_]{1,11}$ ]]; then
		lab_log "bad lab id '$id' (1-11 of [A-Za-z0-9_])"; return 1
	fi
	lab_sweep
	LAB_ID=$id LAB_CNS=$LAB_PREFIX_C$id LAB_SNS=$LAB_PREFIX_S$id LAB_DIR=$LAB_RUN/$id
	LAB_MNS=
	[ "${LAB_MIDDLE:-0}" = 1 ] && LAB_MNS=$LAB_PREFIX_M$id
	export LAB_ID LAB_CNS LAB_SNS LAB_MNS LAB_DIR
	if ip netns list | awk '{print $1}' | grep -qxE "$LAB_CNS|$LAB_SNS${LAB_MNS:+|$LAB_MNS}"; then
		lab_log "namespace $LAB_CNS or $LAB_SNS exists already"; return 1
	fi
	LAB_UP=1 LAB_PIDS=() LAB_CAP_PIDS=() LAB_CAP_FILES=()
	# The owner record goes first: the sweeper treats a lab without one as stale.
	if ! { mkdir -p "$LAB_DIR" && echo "$$ $(lab_starttime $$)" >"$LAB_DIR/owner"; }; then
		lab_down; return 1
	fi
	: >"$LAB_DIR/pids"

	if ! {
		ip netns add "$LAB_CNS" && ip netns add "$LAB_SNS" &&
		lab_ns_setup "$LAB_CNS" && lab_ns_setup "$LAB_SNS" &&
		ip netns exec "$LAB_SNS" sysctl -qw net.core.somaxconn=65535 \
			net.ipv4.tcp_max_syn_backlog=65535 &&
		lab_links &&
		ip -n "$LAB_CNS" addr add "$LAB_C4/24" dev "$LAB_CIF" &&
		ip -n "$LAB_CNS" -6 addr add "$LAB_C6/64" dev "$LAB_CIF" nodad &&
		ip -n "$LAB_SNS" addr add "$LAB_S4/24" dev "$LAB_SIF" &&
		ip -n "$LAB_SNS" -6 addr add "$LAB_S6/64" dev "$LAB_SIF" nodad &&
		ip -n "$LAB_CNS" link set "$LAB_CIF" up &&
		ip -n "$LAB_SNS" link set "$LAB_SIF" up &&
		# AnyIP: the server owns every address of these prefixes.
		ip -n "$LAB_SNS" route add local "$LAB_ANYNET4" dev lo &&
		ip -n "$LAB_SNS" -6 route add local "$LAB_ANYNET6" dev lo &&
		ip -n "$LAB_CNS" route add "$LAB_ANYNET4" via "$LAB_S4" dev "$LAB_CIF" &&
		ip -n "$LAB_CNS" -6 route add "$LAB_ANYNET6" via "$LAB_S6" dev "$LAB_CIF" &&
		lab_nft_rules | ip netns exec "$LAB_SNS" nft -f - &&
		lab_links_ready
	}; then
		lab_log "setup failed"; lab_down; return 1
	fi

	lab_sbg "$LAB_PY" "$LAB_LIB/servers.py" --owner "$$" --slow-ms "$LAB_SLOW_MS" \
		--open "$LAB_PORT_OPEN" --slow-close "$LAB_PORT_SLOWCLOSE" \
		--close-first "$LAB_PORT_CLOSEFIRST" --banner "$LAB_PORT_BANNER" \
		--extra "$LAB_PORT_EXTRA_LO-$LAB_PORT_EXTRA_HI" \
		>"$LAB_DIR/servers.out" 2>"$LAB_DIR/servers.log"
	LAB_SERVERS_PID=$LAB_BG_PID
	export LAB_SERVERS_PID
	for i in $(seq 1 100); do
		grep -q '^ready' "$LAB_DIR/servers.out" 2>/dev/null && break
		kill -0 "$LAB_SERVERS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^ready' "$LAB_DIR/servers.out" 2>/dev/null; then
		lab_log "servers did not start:"; sed 's/^/    /' "$LAB_DIR/servers.log" >&2
		lab_down; return 1
	fi
	local targets=() a p
	for a in "$LAB_S4" "[$LAB_S6]" "$LAB_ANY4" "[$LAB_ANY6]"; do
		for p in "$LAB_PORT_OPEN" "$LAB_PORT_SLOWCLOSE" "$LAB_PORT_CLOSEFIRST" \
			"$LAB_PORT_BANNER" "$LAB_PORT_EXTRA_LO" "$LAB_PORT_EXTRA_HI"; do
			targets+=("$a:$p")
		done
	done
	if ! lab_cexec "$LAB_PY" "$LAB_LIB/kclient.py" wait --timeout 10 "${targets[@]}" >&2; then
		lab_log "lab servers do not answer"; lab_down; return 1
	fi
	return 0
}

lab_capture_start() { # FILE [FILTER]
	local file=$1 filter=${2:-} err pid i
	err=$(mktemp "$LAB_DIR/tcpdump.XXXXXX")
	# -Z root: tcpdump would otherwise drop to its own user before opening FILE.
	ip netns exec "${LAB_CAP_NS:-$LAB_CNS}" tcpdump -Z root -n -i "${LAB_CAP_IF:-$LAB_CIF}" --time-stamp-precision=nano \
		--immediate-mode -B 32768 -U -w "$file" ${filter:+"$filter"} 2>"$err" &
	pid=$!
	echo "$pid" >>"$LAB_DIR/pids"
	for i in $(seq 1 100); do
		grep -q 'listening on' "$err" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if ! grep -q 'listening on' "$err" 2>/dev/null; then
		lab_log "tcpdump did not start:"; sed 's/^/    /' "$err" >&2
		lab_kill_pids "$pid"; return 1
	fi
	mv "$err" "$LAB_DIR/tcpdump.$pid.err"
	LAB_CAP_PIDS+=("$pid") LAB_CAP_FILES+=("$file")
	return 0
}

lab_capture_stop() { # [FILE]: that capture, or all of them
	local i pid n keep_p=() keep_f=()
	for i in "${!LAB_CAP_PIDS[@]}"; do
		pid=${LAB_CAP_PIDS[$i]}
		if [ -n "${1:-}" ] && [ "${LAB_CAP_FILES[$i]}" != "$1" ]; then
			keep_p+=("$pid") keep_f+=("${LAB_CAP_FILES[$i]}"); continue
		fi
		# Give packets already in flight time to reach the ring buffer.
		sleep 0.1
		kill -INT "$pid" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		lab_kill_pids "$pid"
		n=$(awk '/packets dropped by kernel/ {print $1}' "$LAB_DIR/tcpdump.$pid.err" 2>/dev/null)
		[ "${n:-0}" -gt 0 ] && lab_log "tcpdump: $n packets dropped by kernel (${LAB_CAP_FILES[$i]})"
		# For lab_capture_ok: FILE, then tcpdump's closing counts ('-' if
		# it never printed them, i.e. did not stop cleanly).
		awk -v f="${LAB_CAP_FILES[$i]}" '
			/packets captured/ { c = $1 } /packets dropped by kernel/ { k = $1 }
			/packets dropped by interface/ { d = $1 }
			END { printf "%s\t%s\t%s\t%s\n", f, c == "" ? "-" : c, k == "" ? "-" : k, d == "" ? 0 : d }' \
			"$LAB_DIR/tcpdump.$pid.err" >>"$LAB_DIR/captures" 2>/dev/null
	done
	LAB_CAP_PIDS=("${keep_p[@]}") LAB_CAP_FILES=("${keep_f[@]}")
	return 0
}

lab_capture_ok() { # FILE [MIN [ERE]]
	local file=$1 min=${2:-1} ere=${3:-} rec cap kern ifd n dump
	rec=$(awk -F'\t' -v f="$file" '$1 == f { r = $0 } END { print r }' "$LAB_DIR/captures" 2>/dev/null)
	if [ -z "$rec" ]; then
		echo "capture $file was not started and stopped by lab_capture_start/stop"; return 1
	fi
	IFS=$'\t' read -r _ cap kern ifd <<<"$rec"
	if [ "$cap" = - ] || [ "$kern" = - ]; then
		echo "tcpdump for $file did not stop cleanly (no closing counts)"; return 1
	fi
	if [ "$kern" != 0 ] || [ "$ifd" != 0 ]; then
		echo "capture $file lost packets: $kern dropped by kernel, $ifd by interface"; return 1
	fi
	if [ ! -s "$file" ]; then echo "capture $file is missing or empty"; return 1; fi
	if [ -z "$ere" ]; then
		# Any packet will do: tcpdump's own count (a big capture is not
		# worth a dump); the file must hold at least its header and them.
		n=$cap
	elif ! dump=$("$LAB_PY" "$LAB_LIB/wire.py" dump "$file" 2>&1); then
		echo "wire.py cannot read $file: $(echo "$dump" | tail -n 1)"; return 1
	else
		n=$(printf '%s\n' "$dump" | grep -cE -- "$ere")
	fi
	if [ "$n" -lt "$min" ]; then
		echo "capture $file holds $n segments${ere:+ matching '$ere'}, want >= $min (tcpdump: $cap captured)"
		return 1
	fi
	return 0
}

lab_down() {
	[ "$LAB_UP" = 1 ] || return 0
	lab_capture_stop ""
	lab_kill_pids "${LAB_PIDS[@]}"
	lab_del_ns "$LAB_CNS"
	lab_del_ns "$LAB_SNS"
	[ -n "${LAB_MNS:-}" ] && lab_del_ns "$LAB_MNS"
	rm -rf "$LAB_DIR"
	LAB_UP=0 LAB_PIDS=() LAB_IMPAIR_PID=
	return 0
}
