# shellcheck shell=bash
# ECMP inside the chain of tests/lab/lab_chain.sh, with one leg whose path
# moves, for per-flow path changes (tests/integration/pathflow.sh). Source
# after lab.sh, lab_chain.sh and lab_chain_alt.sh; use after `lab_chain_up 3`
# and `lab_chain_alt_up` (r2', links 11, 12 and 13):
#
#   lab_chain_ecmp_up     r1 spreads the server's prefix (IPv4 and IPv6) over
#                         two equal-cost next hops, hashed on the 5-tuple
#                         (fib_multipath_hash_policy = 1): one nexthop group
#                         of two nexthop objects, leg A r2 (link 1), leg B r2'
#                         (link 11). r3 still routes to the client over r2
#                         (link 2): replies take leg A. r3's time exceeded
#                         comes (IPv4) from its link-2 address, where its
#                         route to the client leaves, whichever leg the SYN
#                         took, and (IPv6) from the address of the link the
#                         SYN came in on
#   lab_chain_ecmp_move   leg B's nexthop becomes r3 itself (link 13), replaced
#                         in place in the group, so the hash keeps every flow
#                         on its leg: only leg B's flows change path (one
#                         router fewer), leg A's keep theirs
#   ECMP_PATH4[X], ECMP_PATH6[X]  the hops a trace lists: A over leg A, B over
#                         leg B, C over leg B once moved
#   ECMP_IF_A, ECMP_IF_B, ECMP_IF_C  r1's interfaces to r2, r2' and r3 (capture
#                         there with LAB_CAP_NS=${CHAIN_NS[1]}): which flows
#                         took which leg, the ground truth
#
# Everything lives in the chain's namespaces: lab_chain_down removes it.

declare -A ECMP_PATH4=() ECMP_PATH6=()
ECMP_IF_A=ch1-l ECMP_IF_B=ch11-l ECMP_IF_C=ch13-l

lab_chain_ecmp_up() {
	local r1=${CHAIN_NS[1]} s4 s6
	[ "${CHAIN_N:-0}" = 3 ] && [ -n "${CHAIN_NS[${CHAIN_ALT:-9}]:-}" ] ||
		{ lab_log "lab_chain_ecmp_up: lab_chain_up 3 and lab_chain_alt_up first"; return 1; }
	s4=$(lab_chain_net4 3).0/24 s6=$(lab_chain_net6 3)::/64
	ip netns exec "$r1" sysctl -qw net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv6.fib_multipath_hash_policy=1 &&
		ip -n "$r1" nexthop add id 41 via "$(lab_chain_net4 1).2" dev "$ECMP_IF_A" &&
		ip -n "$r1" nexthop add id 42 via "$(lab_chain_net4 11).2" dev "$ECMP_IF_B" &&
		ip -n "$r1" nexthop add id 40 group 41/42 &&
		ip -n "$r1" route replace "$s4" nhid 40 &&
		ip -n "$r1" nexthop add id 61 via "$(lab_chain_net6 1)::2" dev "$ECMP_IF_A" &&
		ip -n "$r1" nexthop add id 62 via "$(lab_chain_net6 11)::2" dev "$ECMP_IF_B" &&
		ip -n "$r1" nexthop add id 60 group 61/62 &&
		ip -n "$r1" -6 route replace "$s6" nhid 60 ||
		{ lab_log "lab_chain_ecmp_up: r1's nexthop groups"; return 1; }
	ECMP_PATH4[A]="${CHAIN_R4[1]} ${CHAIN_R4[2]} ${CHAIN_R4[3]} $CHAIN_T4"
	ECMP_PATH4[B]="${CHAIN_R4[1]} $(lab_chain_net4 11).2 ${CHAIN_R4[3]} $CHAIN_T4"
	ECMP_PATH4[C]="${CHAIN_R4[1]} ${CHAIN_R4[3]} $CHAIN_T4"
	ECMP_PATH6[A]="${CHAIN_R6[1]} ${CHAIN_R6[2]} ${CHAIN_R6[3]} $CHAIN_T6"
	ECMP_PATH6[B]="${CHAIN_R6[1]} $(lab_chain_net6 11)::2 $(lab_chain_net6 12)::2 $CHAIN_T6"
	ECMP_PATH6[C]="${CHAIN_R6[1]} $(lab_chain_net6 13)::2 $CHAIN_T6"
}

lab_chain_ecmp_move() {
	local r1=${CHAIN_NS[1]}
	ip -n "$r1" nexthop replace id 42 via "$(lab_chain_net4 13).2" dev "$ECMP_IF_C" &&
		ip -n "$r1" nexthop replace id 62 via "$(lab_chain_net6 13)::2" dev "$ECMP_IF_C"
}
