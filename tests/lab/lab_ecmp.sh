# shellcheck shell=bash
# An ECMP topology beside the lab (issue 15, tests/integration/flows.sh).
# Source it after lab.sh; after lab_up:
#
#   lab_ecmp_up DELAY_MS   adds a router namespace tpr-ID between the lab's
#                          client and server, on links of their own:
#
#     client tpc-ID  lab-e 198.18.10.1 fd00:18:10::1
#        |
#     router tpr-ID  er    198.18.10.2 fd00:18:10::2; a multipath route to the
#        |      \          targets over two equal-cost next hops, hashed on
#        |       \         the 5-tuple (fib_multipath_hash_policy = 1, IPv4
#        |        \        and IPv6)
#       ra         rb  leg A 198.18.11.0/24 fd00:18:11::/64 (clean);
#        |          |  leg B 198.18.12.0/24 fd00:18:12::/64 through
#        |   tpb-ID [tests/tools/impair: DELAY_MS router->server]
#        |          |
#     server tps-ID sa, sb; the targets ECMP_T4 198.18.20.2, ECMP_T6
#                   fd00:18:20::2 on its lo (the lab's servers answer there).
#                   Replies go back over leg A only, so leg B's delay and
#                   loss are one-way and a flow's path is its SYN's.
#
#   lab_ecmp_loss PCT      nftables in the server drops PCT% of the SYNs that
#                          arrive over leg B (numgen random); 0: none
#   lab_ecmp_wire ARGS...  lab_wire knowing the client's addresses here
#   lab_ecmp_down          kills what it started, deletes tpr-ID and tpb-ID
#                          (lab_down does not know them: call this first)
#
# Capture leg B with LAB_CAP_NS=$ECMP_RNS LAB_CAP_IF=$ECMP_BAD_IF
# lab_capture_start ...: every segment that crossed the bad leg, before its
# loss (the drop is at the leg's far end). Namespaces of a dead owner are
# swept as lab.sh sweeps its own. Nothing here adds a default route.

ECMP_T4=198.18.20.2 ECMP_T6=fd00:18:20::2
ECMP_C4=198.18.10.1 ECMP_C6=fd00:18:10::1     # the client's side of the router
ECMP_NET4=198.18.20.0/24 ECMP_NET6=fd00:18:20::/64
ECMP_CIF=lab-e ECMP_BAD_IF=rb
ECMP_PREFIX_R=tpr- ECMP_PREFIX_B=tpb-
ECMP_RNS= ECMP_BNS= ECMP_IMPAIR_PID=

lab_ecmp_sweep() {
	local ns id
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in "$ECMP_PREFIX_R"* | "$ECMP_PREFIX_B"*) ;; *) continue ;; esac
		id=${ns#"$ECMP_PREFIX_R"}; id=${id#"$ECMP_PREFIX_B"}
		[ "$id" = "${LAB_ID:-}" ] && continue
		lab_owner_alive "$id" && continue
		lab_log "sweeping stale namespace $ns"
		lab_del_ns "$ns"
	done
}

# veth NS_A IF_A NS_B IF_B: a pair with offloads off, both ends up.
lab_ecmp_veth() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" &&
	lab_offloads_off "$1" "$2" && lab_offloads_off "$3" "$4" &&
	ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

# addr NS IF V4/LEN V6/LEN
lab_ecmp_addr() {
	ip -n "$1" addr add "$3" dev "$2" && ip -n "$1" -6 addr add "$4" dev "$2" nodad
}

lab_ecmp_up() { # DELAY_MS
	local delay=$1 i ok
	[ "${LAB_UP:-0}" = 1 ] || { lab_log "lab_ecmp_up: no lab is up"; return 1; }
	lab_ecmp_sweep
	ECMP_RNS=$ECMP_PREFIX_R$LAB_ID ECMP_BNS=$ECMP_PREFIX_B$LAB_ID
	if ! {
		ip netns add "$ECMP_RNS" && ip netns add "$ECMP_BNS" &&
		lab_ns_setup "$ECMP_RNS" &&
		ip -n "$ECMP_BNS" link set lo up &&
		# The bad leg's middle stays silent, as lab.sh's middle does.
		ip netns exec "$ECMP_BNS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0 &&
		ip netns exec "$ECMP_RNS" sysctl -qw net.ipv4.ip_forward=1 \
			net.ipv6.conf.all.forwarding=1 net.ipv4.fib_multipath_hash_policy=1 \
			net.ipv6.fib_multipath_hash_policy=1 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0 &&
		# The server gets leg B's SYNs and answers over leg A.
		ip netns exec "$LAB_SNS" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0 &&
		lab_ecmp_veth "$LAB_CNS" "$ECMP_CIF" "$ECMP_RNS" er &&
		lab_ecmp_veth "$ECMP_RNS" ra "$LAB_SNS" sa &&
		lab_ecmp_veth "$ECMP_RNS" rb "$ECMP_BNS" ba &&
		lab_ecmp_veth "$LAB_SNS" sb "$ECMP_BNS" bb &&
		lab_ecmp_addr "$LAB_CNS" "$ECMP_CIF" "$ECMP_C4/24" "$ECMP_C6/64" &&
		lab_ecmp_addr "$ECMP_RNS" er 198.18.10.2/24 fd00:18:10::2/64 &&
		lab_ecmp_addr "$ECMP_RNS" ra 198.18.11.1/24 fd00:18:11::1/64 &&
		lab_ecmp_addr "$ECMP_RNS" rb 198.18.12.1/24 fd00:18:12::1/64 &&
		lab_ecmp_addr "$LAB_SNS" sa 198.18.11.2/24 fd00:18:11::2/64 &&
		lab_ecmp_addr "$LAB_SNS" sb 198.18.12.2/24 fd00:18:12::2/64 &&
		lab_ecmp_addr "$LAB_SNS" lo "$ECMP_T4/32" "$ECMP_T6/128" &&
		ip -n "$LAB_CNS" route add "$ECMP_NET4" via 198.18.10.2 dev "$ECMP_CIF" &&
		ip -n "$LAB_CNS" -6 route add "$ECMP_NET6" via fd00:18:10::2 dev "$ECMP_CIF" &&
		ip -n "$ECMP_RNS" route add "$ECMP_NET4" nexthop via 198.18.11.2 dev ra \
			nexthop via 198.18.12.2 dev rb &&
		ip -n "$ECMP_RNS" -6 route add "$ECMP_NET6" nexthop via fd00:18:11::2 dev ra \
			nexthop via fd00:18:12::2 dev rb &&
		ip -n "$LAB_SNS" route add 198.18.10.0/24 via 198.18.11.1 dev sa &&
		ip -n "$LAB_SNS" -6 route add fd00:18:10::/64 via fd00:18:11::1 dev sa
	}; then
		lab_log "lab_ecmp_up: setup failed"; lab_ecmp_down; return 1
	fi
	[ -x "$LAB_IMPAIR" ] || { lab_log "no $LAB_IMPAIR (make unit builds it)"; lab_ecmp_down; return 1; }
	: >"$LAB_DIR/ecmp-impair.out"
	lab_bg "$ECMP_BNS" "$LAB_IMPAIR" ba bb --dir a2b --delay "$delay" \
		>"$LAB_DIR/ecmp-impair.out" 2>"$LAB_DIR/ecmp-impair.err"
	ECMP_IMPAIR_PID=$LAB_BG_PID
	for i in $(seq 1 50); do
		grep -q '^ready' "$LAB_DIR/ecmp-impair.out" 2>/dev/null && break
		sleep 0.05
	done
	grep -q '^ready' "$LAB_DIR/ecmp-impair.out" ||
		{ lab_log "impair did not start: $(cat "$LAB_DIR/ecmp-impair.err")"; lab_ecmp_down; return 1; }
	# IPv6 routes through a new veth work once its link-local address is up.
	for i in $(seq 1 50); do
		ok=1
		for x in "$LAB_CNS $ECMP_CIF" "$ECMP_RNS er" "$ECMP_RNS ra" "$ECMP_RNS rb" \
			"$LAB_SNS sa" "$LAB_SNS sb"; do
			set -- $x
			[ -n "$(ip -n "$1" -6 -o addr show dev "$2" scope link)" ] || ok=0
		done
		[ $ok = 1 ] && break
		sleep 0.1
	done
	if ! lab_cexec "$LAB_PY" "$LAB_LIB/kclient.py" wait --timeout 10 \
		"$ECMP_T4:$LAB_PORT_OPEN" "[$ECMP_T6]:$LAB_PORT_OPEN" >&2; then
		lab_log "lab_ecmp_up: the targets do not answer through the router"; lab_ecmp_down; return 1
	fi
	return 0
}

lab_ecmp_loss() { # PCT
	local pct=$1
	lab_sexec nft delete table inet ecmploss 2>/dev/null
	[ "$pct" = 0 ] && return 0
	lab_sexec nft -f - <<EOF
table inet ecmploss {
	chain input {
		type filter hook input priority -10; policy accept;
		iifname "sb" tcp flags & (syn | ack) == syn numgen random mod 100 < $pct drop
	}
}
EOF
}

lab_ecmp_wire() { lab_wire --client "$ECMP_C4" --client "$ECMP_C6" "$@"; }

lab_ecmp_down() {
	[ -n "$ECMP_IMPAIR_PID" ] && lab_kill_pids "$ECMP_IMPAIR_PID"
	ECMP_IMPAIR_PID=
	[ -n "$ECMP_RNS" ] && lab_del_ns "$ECMP_RNS"
	[ -n "$ECMP_BNS" ] && lab_del_ns "$ECMP_BNS"
	ECMP_RNS= ECMP_BNS=
	return 0
}
