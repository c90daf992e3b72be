#!/usr/bin/env bash
# Self-test of the lab's impairment tools (tests/lab/lab.sh: lab_loss, and the
# middle namespace with tests/tools/impair): each does what it claims, judged
# from captures on the client veth (and, for the client->server direction, a
# capture in the server namespace), with the kernel's TCP and ping as traffic.
# checks: 9
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
export LAB_MIDDLE=1
dl_init lab-impair
PY=$DL_PY tmp=$DL_T

check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name" "$why"; fi; }
kc() { lab_cexec "$LAB_PY" "$LAB_LIB/kclient.py" "$@"; }
field() { local kv; for kv in $2; do [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }; done; echo "?"; }

why="middle namespace $LAB_MNS missing or impair not running"
check up eval 'ip netns list | grep -q "^$LAB_MNS" && kill -0 "$LAB_IMPAIR_PID"'

# --- a clean bridge passes both families unchanged -------------------------
o4=$(kc connect "$LAB_S4" "$LAB_PORT_OPEN" --timeout 3)
o6=$(kc connect "$LAB_S6" "$LAB_PORT_OPEN" --timeout 3)
why="v4: $o4; v6: $o6"
check clean [ "$(field outcome "$o4")" = open ] && [ "$(field outcome "$o6")" = open ]

# --- dup 100% server->client: every server segment arrives exactly twice ---
lab_impair --seed 3 --dir b2a --dup 100
cap=$tmp/dup.pcap
lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN"
out=$(kc talk "$LAB_S4" "$LAB_PORT_OPEN" --timeout 3)
lab_capture_stop "$cap"
stats=$(lab_impair_stats)
dup_ok() {
	# Server segments grouped by (flags, seq, ack, options incl. TSval):
	# each group has exactly 2 copies, less than 50 ms apart (back to back
	# in the bridge; a loaded machine spreads them; no RTO is that short). (The client
	# kernel's ACKs may repeat: it answers the copies.)
	"$PY" - "$cap" <<'EOF'
import subprocess, sys, collections
lines = subprocess.run([sys.executable, "tests/lab/wire.py", "dump", sys.argv[1]],
                       capture_output=True, text=True).stdout.split("\n")
srv, cli = collections.defaultdict(list), collections.Counter()
for l in lines:
    f = l.split()
    if len(f) < 12:
        continue
    k = (f[6], f[7], f[8], f[11])
    if f[1] == "<":
        srv[k].append(int(f[0]))
    else:
        cli[k] += 1
bad = [k for k, ts in srv.items() if len(ts) != 2 or ts[1] - ts[0] > 50000000]
ok = len(srv) >= 3 and not bad
if not ok:
    print("server groups %d bad %s" % (len(srv), [(k, srv[k]) for k in bad[:3]]))
sys.exit(0 if ok else 1)
EOF
}
why="talk: $out; impair: $stats; $(dup_ok 2>&1)"
check dup dup_ok

# --- delay 25 ms each way: the wire RTT of a SYN is 50 ms, plus a little ---
lab_impair --seed 3 --delay 25
cap=$tmp/delay.pcap
lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN"
kc connect "$LAB_S4" "$LAB_PORT_OPEN" --timeout 3 >/dev/null
kc connect "$LAB_S6" "$LAB_PORT_OPEN" --timeout 3 >/dev/null
lab_capture_stop "$cap"
rtts=$(lab_wire rtts "$cap" | awk '{print $6}')
why="wire RTTs (ns): ${rtts//$'\n'/ }"
# Never below the configured 50 ms; the faster one near it (a loaded machine
# adds scheduling delay to single samples).
check delay eval '[ "$(echo "$rtts" | grep -c .)" -eq 2 ] &&
	echo "$rtts" | awk "{ if (\$1 < 50000000) exit 1; if (m == \"\" || \$1 < m) m = \$1 }
		END { exit !(m < 150000000) }"'

# --- reorder: 40 UDP datagrams 2 ms apart to a closed port, each from its own
# source port; the server's ICMP errors come back through the bridge, 50% of
# them held 5 ms, so later ones pass. The quoted source port gives the order.
lab_impair --seed 5 --dir b2a --reorder 50 --reorder-gap 5
cap=$tmp/reorder.pcap
lab_capture_start "$cap" "icmp"
lab_cexec "$PY" - "$LAB_S4" <<'EOF'
import socket, sys, time
for i in range(40):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 41000 + i))
    s.sendto(b"x", (sys.argv[1], 9))
    s.close()
    time.sleep(0.002)
time.sleep(0.1)
EOF
lab_capture_stop "$cap"
stats=$(lab_impair_stats)
seqs=$(tshark -r "$cap" -Y 'icmp.type == 3' -T fields -e udp.srcport 2>/dev/null | tr '\n' ' ')
reorder_ok() {
	local n inv
	n=$(echo "$seqs" | wc -w)
	inv=$(echo "$seqs" | awk '{ for (i = 2; i <= NF; i++) if ($i < $(i-1)) n++; print n + 0 }')
	# Every error arrives (nothing lost), some out of order.
	[ "$n" -eq 40 ] && [ "$inv" -ge 3 ]
}
why="reply seqs: $seqs; impair: $stats"
check reorder reorder_ok

# --- loss in the bridge, client->server 100%: SYNs leave, none arrives -----
lab_impair --seed 3 --dir a2b --loss 100
cap=$tmp/loss.pcap
lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN"
spcap=$tmp/loss-server.pcap
LAB_CAP_NS=$LAB_SNS LAB_CAP_IF=$LAB_SIF lab_capture_start "$spcap" "tcp port $LAB_PORT_OPEN"
out=$(kc connect "$LAB_S4" "$LAB_PORT_OPEN" --timeout 1.5)
lab_capture_stop "$cap"
lab_capture_stop "$spcap"
stats=$(lab_impair_stats)
nsyn=$(lab_wire dump "$cap" | awk '$7 == "S"' | wc -l)
nsrv=$(tcpdump -r "$spcap" -n 2>/dev/null | wc -l)
# "Nothing arrived" holds only if the server's capture ran: checked first.
scap=$(lab_capture_ok "$spcap" 0) && scap=ok
why="connect: $out; SYNs on the client side $nsyn, segments at the server $nsrv (capture: $scap); impair: $stats"
check loss-bridge eval '[ "$scap" = ok ] && [ "$(field outcome "$out")" = timeout ] && [ "$nsyn" -ge 2 ] && [ "$nsrv" -eq 0 ]'

# --- lab_loss (nftables numgen in the server ns) ---------------------------
lab_impair
lab_loss "$LAB_PORT_OPEN" 100 out
cap=$tmp/nftloss.pcap
lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN"
out=$(kc connect "$LAB_S4" "$LAB_PORT_OPEN" --timeout 1.5)
lab_capture_stop "$cap"
flags=$(lab_wire flags "$cap" --port "$LAB_PORT_OPEN" --dir | head -1)
why="connect: $out; flags: $flags"
check nft-loss-out eval '[ "$(field outcome "$out")" = timeout ] && [[ ${flags#*: } =~ ^\>S(\ \>S)+$ ]]'

# 30% client->server over 200 SYNs (no retransmission): the fraction of SYNs
# the server answered lies well inside a binomial range (p = 0.7, sd 0.032).
lab_loss_clear
lab_loss "$LAB_PORT_OPEN" 30 in
cap=$tmp/nftloss30.pcap
lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN and tcp[tcpflags] & tcp-syn != 0"
lab_cexec "$PY" - "$LAB_S4" "$LAB_PORT_OPEN" <<'EOF'
import socket, sys
for i in range(200):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
    s.settimeout(0.05)
    try:
        s.connect((sys.argv[1], int(sys.argv[2])))
    except OSError:
        pass
    s.close()
EOF
lab_capture_stop "$cap"
lab_loss_clear
nsyn=$(lab_wire dump "$cap" | awk '$7 == "S"' | wc -l)
nsa=$(lab_wire dump "$cap" | awk '$7 == "S." { print $9 }' | sort -u | wc -l)
why="SYNs $nsyn, SYNs answered $nsa"
check nft-loss-30 awk -v s="$nsyn" -v a="$nsa" 'BEGIN { r = a / s; exit !(s == 200 && r > 0.55 && r < 0.85) }'

out=$(kc connect "$LAB_S4" "$LAB_PORT_OPEN" --timeout 3)
why="after lab_loss_clear: $out"
check nft-loss-clear [ "$(field outcome "$out")" = open ]
dl_done
