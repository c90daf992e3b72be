# shellcheck shell=bash
# A chain of router namespaces between the lab's client and server, for path
# tests (tests/integration/trace.sh; path changes). Source after lab.sh; use
# after lab_up (the client and server keep their direct veth too):
#
#   lab_chain_up N          client — r1 — ... — rN — server, IPv4 and IPv6,
#                           forwarding on, no ICMP rate limit (lab_ns_setup)
#   CHAIN_N                 N
#   CHAIN_T4, CHAIN_T6      the server's address at the chain's end (the target)
#   CHAIN_R4[i], CHAIN_R6[i]  (i = 1..N) router i's address on its client side:
#                           where its ICMP errors to the client come from
#   CHAIN_NS[i]             router i's namespace; lab_chain_exec I CMD... runs
#                           CMD there
#   CHAIN_CIF               the client's interface toward r1 (capture on it with
#                           LAB_CAP_IF=$CHAIN_CIF lab_capture_start ...)
#   lab_chain_icmp_drop I   router I drops the ICMP(v6) time exceeded it would
#                           send (nftables, its output hook): a silent hop
#   lab_chain_icmp_clear I  undoes it
#   lab_chain_link A B K    a veth pair between namespaces A and B on link
#                           number K (addresses below): for extra routers, e.g.
#                           an alternate path (add routes yourself)
#   lab_chain_down          removes the routers (lab_down does not know them:
#                           call it first in the EXIT trap)
#
# Link K joins node K and K+1 (node 0 the client, N+1 the server):
# 198.18.(100+K).0/24 and fd00:18:(100+K)::/64, the left end .1 / ::1, the
# right end .2 / ::2; interfaces chK-l (left) and chK-r (right). Routes: the
# client reaches the server's link via r1, the server the client's link via
# rN, each router both links via its neighbours. Nothing has a default route.

CHAIN_NS=() CHAIN_R4=() CHAIN_R6=() CHAIN_N=0
CHAIN_PREFIX=tpr

lab_chain_net4() { echo "198.18.$((100 + $1))"; }  # K: the /24's first three octets
lab_chain_net6() { echo "fd00:18:$((100 + $1))"; } # K: the /64's first three groups

lab_chain_exec() { local i=$1; shift; ip netns exec "${CHAIN_NS[$i]}" "$@"; }

# Router namespaces of labs whose owner is gone (lab_sweep knows only its
# own prefixes).
lab_chain_sweep() {
	local ns id
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^$CHAIN_PREFIX[0-9]+-(.+)$ ]] || continue
		id=${BASH_REMATCH[1]}
		[ "$id" = "${LAB_ID:-}" ] && continue
		lab_owner_alive "$id" && continue
		lab_del_ns "$ns"
	done
	return 0
}

lab_chain_link() { # A B K
	local a=$1 b=$2 k=$3 n4 n6
	n4=$(lab_chain_net4 "$k") n6=$(lab_chain_net6 "$k")
	ip -n "$a" link add "ch$k-l" type veth peer name "ch$k-r" netns "$b" &&
	lab_offloads_off "$a" "ch$k-l" && lab_offloads_off "$b" "ch$k-r" &&
	ip -n "$a" addr add "$n4.1/24" dev "ch$k-l" &&
	ip -n "$b" addr add "$n4.2/24" dev "ch$k-r" &&
	ip -n "$a" -6 addr add "$n6::1/64" dev "ch$k-l" nodad &&
	ip -n "$b" -6 addr add "$n6::2/64" dev "ch$k-r" nodad &&
	ip -n "$a" link set "ch$k-l" up && ip -n "$b" link set "ch$k-r" up
}

# Both ends of link K have their IPv6 link-local addresses (neighbour
# discovery works: see lab_links_ready).
lab_chain_link_ready() { # A B K
	local i
	for i in $(seq 1 50); do
		if [ -n "$(ip -n "$1" -6 -o addr show dev "ch$3-l" scope link)" ] &&
			[ -n "$(ip -n "$2" -6 -o addr show dev "ch$3-r" scope link)" ] &&
			[ -z "$(ip -n "$1" -6 -o addr show dev "ch$3-l" tentative)" ] &&
			[ -z "$(ip -n "$2" -6 -o addr show dev "ch$3-r" tentative)" ]; then
			return 0
		fi
		sleep 0.1
	done
	lab_log "chain link $3 ($1 - $2): IPv6 not ready after 5 s"
	return 1
}

lab_chain_up() { # N
	local n=$1 i ns prev next last
	[ "${LAB_UP:-0}" = 1 ] || { lab_log "lab_chain_up: lab_up first"; return 1; }
	[[ $n =~ ^[1-9]$ ]] || { lab_log "lab_chain_up: N '$n' (1..9)"; return 1; }
	lab_chain_sweep
	CHAIN_N=$n CHAIN_CIF=ch0-l
	CHAIN_T4=$(lab_chain_net4 "$n").2 CHAIN_T6=$(lab_chain_net6 "$n")::2
	for i in $(seq 1 "$n"); do
		ns=$CHAIN_PREFIX$i-$LAB_ID
		CHAIN_NS[$i]=$ns
		CHAIN_R4[$i]=$(lab_chain_net4 $((i - 1))).2
		CHAIN_R6[$i]=$(lab_chain_net6 $((i - 1)))::2
		ip netns add "$ns" && lab_ns_setup "$ns" &&
			ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
				net.ipv6.conf.all.forwarding=1 || { lab_chain_down; return 1; }
	done
	export CHAIN_N CHAIN_CIF CHAIN_T4 CHAIN_T6
	local c4 c6 s4 s6
	c4=$(lab_chain_net4 0).0/24 c6=$(lab_chain_net6 0)::/64
	s4=$(lab_chain_net4 "$n").0/24 s6=$(lab_chain_net6 "$n")::/64
	for i in $(seq 0 "$n"); do
		if [ "$i" = 0 ]; then prev=$LAB_CNS; else prev=${CHAIN_NS[$i]}; fi
		if [ "$i" = "$n" ]; then next=$LAB_SNS; else next=${CHAIN_NS[$((i + 1))]}; fi
		lab_chain_link "$prev" "$next" "$i" || { lab_chain_down; return 1; }
	done
	for i in $(seq 0 "$n"); do
		if [ "$i" = 0 ]; then prev=$LAB_CNS; else prev=${CHAIN_NS[$i]}; fi
		if [ "$i" = "$n" ]; then next=$LAB_SNS; else next=${CHAIN_NS[$((i + 1))]}; fi
		lab_chain_link_ready "$prev" "$next" "$i" || { lab_chain_down; return 1; }
	done
	last=$(lab_chain_net4 "$n")
	{
		ip -n "$LAB_CNS" route add "$s4" via "$(lab_chain_net4 0).2" &&
		ip -n "$LAB_CNS" -6 route add "$s6" via "$(lab_chain_net6 0)::2" &&
		ip -n "$LAB_SNS" route add "$c4" via "$last.1" &&
		ip -n "$LAB_SNS" -6 route add "$c6" via "$(lab_chain_net6 "$n")::1"
	} || { lab_log "lab_chain_up: client/server routes"; lab_chain_down; return 1; }
	for i in $(seq 1 "$n"); do
		ns=${CHAIN_NS[$i]}
		# Toward the client via the previous router, toward the server via
		# the next; directly connected ends need no route.
		if [ "$i" -gt 1 ]; then
			ip -n "$ns" route add "$c4" via "$(lab_chain_net4 $((i - 1))).1" &&
			ip -n "$ns" -6 route add "$c6" via "$(lab_chain_net6 $((i - 1)))::1"
		fi &&
		if [ "$i" -lt "$n" ]; then
			ip -n "$ns" route add "$s4" via "$(lab_chain_net4 "$i").2" &&
			ip -n "$ns" -6 route add "$s6" via "$(lab_chain_net6 "$i")::2"
		fi || { lab_log "lab_chain_up: routes of router $i"; lab_chain_down; return 1; }
	done
	return 0
}

lab_chain_icmp_drop() { # I
	lab_chain_exec "$1" nft -f - <<'EOF'
table inet chainicmp {
	chain output {
		type filter hook output priority 0; policy accept;
		icmp type time-exceeded drop
		icmpv6 type time-exceeded drop
	}
}
EOF
}

lab_chain_icmp_clear() { lab_chain_exec "$1" nft delete table inet chainicmp 2>/dev/null; return 0; }

lab_chain_down() {
	local i
	for i in "${!CHAIN_NS[@]}"; do
		lab_del_ns "${CHAIN_NS[$i]}"
	done
	CHAIN_NS=() CHAIN_R4=() CHAIN_R6=() CHAIN_N=0
	return 0
}
