# shellcheck shell=bash
# Alternate routes through the chain of tests/lab/lab_chain.sh, for path
# change tests (tests/integration/pathchange.sh). Source after lab.sh and
# lab_chain.sh; use after `lab_chain_up 3`:
#
#   lab_chain_alt_up        adds router r2' (namespace CHAIN_NS[9], so
#                           lab_chain_down removes it too) between r1 and r3
#                           (links 11: r1 - r2', 12: r2' - r3) and a direct
#                           link r1 - r3 (13); the routes stay on r2
#   lab_chain_route A|B|C   switch r1's route to the server's link and r3's
#                           route to the client's link (IPv4 and IPv6), all
#                           at once:
#                             A  r1 - r2 - r3    (lab_chain_up's; 3 routers)
#                             B  r1 - r2' - r3   (the same length, another r2)
#                             C  r1 - r3         (one router fewer)
#   CHAIN_PATH4[X], CHAIN_PATH6[X]  the hops a trace of CHAIN_T4 (CHAIN_T6)
#                           lists on route X: every router's address toward
#                           the client (where its ICMP time exceeded comes
#                           from), then the target
#   CHAIN_HOPS4[X]          routers on route X (what the SYN/ACK's TTL says)
#   CHAIN_ALT_R4, CHAIN_ALT_R6  r2''s address toward the client (link 11)

CHAIN_ALT=9 # r2''s index in CHAIN_NS (past any chain lab_chain_up builds)
declare -A CHAIN_PATH4=() CHAIN_PATH6=() CHAIN_HOPS4=()

lab_chain_alt_up() {
	local ns=$CHAIN_PREFIX$CHAIN_ALT-$LAB_ID c4 s4 c6 s6
	[ "${CHAIN_N:-0}" = 3 ] || { lab_log "lab_chain_alt_up: lab_chain_up 3 first"; return 1; }
	CHAIN_NS[$CHAIN_ALT]=$ns
	ip netns add "$ns" && lab_ns_setup "$ns" &&
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 &&
		lab_chain_link "${CHAIN_NS[1]}" "$ns" 11 &&
		lab_chain_link "$ns" "${CHAIN_NS[3]}" 12 &&
		lab_chain_link "${CHAIN_NS[1]}" "${CHAIN_NS[3]}" 13 ||
		{ lab_log "lab_chain_alt_up: r2' and its links"; return 1; }
	lab_chain_link_ready "${CHAIN_NS[1]}" "$ns" 11 && lab_chain_link_ready "$ns" "${CHAIN_NS[3]}" 12 &&
		lab_chain_link_ready "${CHAIN_NS[1]}" "${CHAIN_NS[3]}" 13 || return 1
	c4=$(lab_chain_net4 0).0/24 s4=$(lab_chain_net4 3).0/24
	c6=$(lab_chain_net6 0)::/64 s6=$(lab_chain_net6 3)::/64
	ip -n "$ns" route add "$c4" via "$(lab_chain_net4 11).1" &&
		ip -n "$ns" route add "$s4" via "$(lab_chain_net4 12).2" &&
		ip -n "$ns" -6 route add "$c6" via "$(lab_chain_net6 11)::1" &&
		ip -n "$ns" -6 route add "$s6" via "$(lab_chain_net6 12)::2" ||
		{ lab_log "lab_chain_alt_up: r2''s routes"; return 1; }
	CHAIN_ALT_R4=$(lab_chain_net4 11).2 CHAIN_ALT_R6=$(lab_chain_net6 11)::2
	# A router's ICMP error leaves by its route to the client, from that
	# interface's address: r3 answers from the link its route takes.
	CHAIN_PATH4[A]="${CHAIN_R4[1]} ${CHAIN_R4[2]} ${CHAIN_R4[3]} $CHAIN_T4"
	CHAIN_PATH4[B]="${CHAIN_R4[1]} $CHAIN_ALT_R4 $(lab_chain_net4 12).2 $CHAIN_T4"
	CHAIN_PATH4[C]="${CHAIN_R4[1]} $(lab_chain_net4 13).2 $CHAIN_T4"
	CHAIN_PATH6[A]="${CHAIN_R6[1]} ${CHAIN_R6[2]} ${CHAIN_R6[3]} $CHAIN_T6"
	CHAIN_PATH6[B]="${CHAIN_R6[1]} $CHAIN_ALT_R6 $(lab_chain_net6 12)::2 $CHAIN_T6"
	CHAIN_PATH6[C]="${CHAIN_R6[1]} $(lab_chain_net6 13)::2 $CHAIN_T6"
	CHAIN_HOPS4[A]=3 CHAIN_HOPS4[B]=3 CHAIN_HOPS4[C]=2
	export CHAIN_ALT_R4 CHAIN_ALT_R6
}

lab_chain_route() { # A|B|C
	local c4 s4 c6 s6 k1 k3
	c4=$(lab_chain_net4 0).0/24 s4=$(lab_chain_net4 3).0/24
	c6=$(lab_chain_net6 0)::/64 s6=$(lab_chain_net6 3)::/64
	case $1 in # the links r1 and r3 route over
	A) k1=1 k3=2 ;;
	B) k1=11 k3=12 ;;
	C) k1=13 k3=13 ;;
	*) lab_log "lab_chain_route: route '$1' (A, B or C)"; return 1 ;;
	esac
	ip -n "${CHAIN_NS[1]}" route replace "$s4" via "$(lab_chain_net4 $k1).2" &&
		ip -n "${CHAIN_NS[3]}" route replace "$c4" via "$(lab_chain_net4 $k3).1" &&
		ip -n "${CHAIN_NS[1]}" -6 route replace "$s6" via "$(lab_chain_net6 $k1)::2" &&
		ip -n "${CHAIN_NS[3]}" -6 route replace "$c6" via "$(lab_chain_net6 $k3)::1"
}
