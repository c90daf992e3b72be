#!/usr/bin/env bash
# tcpprobe against an adversarial peer: a scapy script in the lab's server ns
# answers each probe with an exact segment sequence (tests/adversarial/adv.py,
# scenarios listed in tests/adversarial/README). Per scenario: the peer starts
# and signals readiness, a capture runs on the client veth, `tcpprobe probe
# --json` runs in the client ns, then adv.py checks the wire (what tcpprobe
# sent) and the report. PASS/FAIL adv-NAME-vF.
#
# The peer lives on AnyIP addresses of the server ns and ports 7000-7999,
# where nothing listens; an nft rule drops the server kernel's own RSTs from
# those ports (the peer sends on a packet socket, which netfilter does not
# see). ONLY=REGEX runs the matching scenarios; KEEP=1 keeps the files.
# checks: 34
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
source tests/lab/lab.sh
PY=$DL_PY
ADV=tests/adversarial/adv.py
ADV4=198.19.66.1 ADV6=fd00:19::66:1
PORT_LO=7000 PORT_HI=7999

if ! "$PY" -c 'import scapy' 2>/dev/null; then
	skip adversarial "needs python3-scapy"
	exit 0
fi
dl_init adversarial "" # KEEP=1 keeps the files
tmp=$DL_T

ip netns exec "$LAB_SNS" nft -f - <<EOF || { fail adv-setup "nft"; exit 1; }
table inet adv {
	chain output {
		type filter hook output priority 0; policy accept;
		tcp sport $PORT_LO-$PORT_HI tcp flags & rst == rst drop
	}
}
EOF
if [ -n "$(ip netns exec "$LAB_SNS" ss -Hltn "sport >= :$PORT_LO and sport <= :$PORT_HI")" ]; then
	fail adv-setup "something listens on $PORT_LO-$PORT_HI in the server ns"; exit 1
fi


# run NAME FAMILY PORT: one scenario, files in $tmp/NAME-vF/
run() {
	local name=$1 fam=$2 port=$3 id="adv-$1-v$2" d laddr client target pid i args rc
	d=$tmp/$id
	mkdir -p "$d"
	if [ "$fam" = 4 ]; then laddr=$ADV4 client=$LAB_C4 target=$ADV4:$port
	else laddr=$ADV6 client=$LAB_C6 target="[$ADV6]:$port"; fi
	mapfile -t args < <("$PY" "$ADV" args "$name")

	lab_sbg "$PY" "$ADV" peer "$name" --family "$fam" --port "$port" --local "$laddr" \
		--client "$client" --iface "$LAB_SIF" --smac "$LAB_SMAC" --cmac "$LAB_CMAC" \
		--dir "$d" >"$d/peer.out" 2>&1
	pid=$LAB_BG_PID
	lab_capture_start "$d/probe.pcap" "port $port or icmp or icmp6" ||
		{ lab_kill_pids "$pid"; fail "$id" "capture did not start"; return; }
	for i in $(seq 1 100); do
		[ -e "$d/ready" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -e "$d/ready" ]; then
		lab_capture_stop "$d/probe.pcap"; lab_kill_pids "$pid"
		fail "$id" "peer not ready: $(tail -n 3 "$d/peer.out" | tr '\n' ' ')"; return
	fi

	LAB_WRAP="timeout 30" lab_tcpprobe probe --json "-$fam" "${args[@]}" "$target" \
		>"$d/probe.json" 2>"$d/probe.err"
	echo $? >"$d/probe.rc"
	date +%s%N >"$d/probe.end_ns"

	# The peer's script ends by itself (every wait in it is bounded).
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	lab_kill_pids "$pid"
	lab_capture_stop "$d/probe.pcap"

	local why peer_err
	if ! why=$(lab_capture_ok "$d/probe.pcap" 1 '^[0-9]+ > '); then fail "$id" "$why"; return; fi
	peer_err=$("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print("" if j["ok"] else j["error"])' \
		"$d/peer.json" 2>&1)
	why=$("$PY" "$ADV" check "$name" --family "$fam" --port "$port" --dir "$d" 2>&1)
	rc=$?
	if [ $rc = 0 ] && [ -z "$peer_err" ]; then
		pass "$id"
	elif [ $rc = 3 ]; then
		skip "$id" "$why" # a known bug, see the scenario's known_bug
	else
		fail "$id" "${why}${peer_err:+ [peer: $peer_err]}"
		[ -n "${VERBOSE:-}" ] && sed 's/^/    /' "$d/probe.err" && "$PY" -c \
			'import json,sys; print("\n".join("    peer "+l for l in json.load(open(sys.argv[1]))["log"]))' "$d/peer.json"
	fi
}

start=$(date +%s)
port=$PORT_LO
while read -r name fam; do
	port=$((port + 1))
	[ -n "${ONLY:-}" ] && ! [[ "adv-$name-v$fam" =~ $ONLY ]] && continue
	run "$name" "$fam" "$port"
done < <("$PY" "$ADV" list)
echo "adversarial: $(($(date +%s) - start)) s"
dl_done
