#!/usr/bin/env bash
# The shipped unit's privilege split, without systemd: `tcpprobe guard install`
# as root (ExecStartPre=+), then the daemon as an unprivileged user holding only
# CAP_NET_RAW (ambient) with --rst-guard=external, then `guard remove`
# (ExecStopPost=+). Probes must work, and the client kernel must send no RST.
# checks: 6
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
source tests/lab/lab.sh
BIN=${TCPPROBE:-$PWD/${B:-build}/tcpprobe}
LAB_TCPPROBE=$BIN
user=tpps$$
tmp=$(mktemp -d /tmp/tcpprobe-privsep.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { kill -TERM "$pid"; wait "$pid" 2>/dev/null; }
	[ "${LAB_UP:-0}" = 1 ] && lab_tcpprobe guard remove -c "$tmp/tcpprobe.conf" 2>/dev/null
	lab_down
	userdel "$user" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

useradd -M -r -s /usr/sbin/nologin "$user" || { fail privsep-user "useradd failed"; exit 1; }
lab_up || { fail privsep-lab "lab did not come up"; exit 1; }
chmod 755 "$tmp"
mkdir "$tmp/run" && chown "$user" "$tmp/run"
cat >"$tmp/tcpprobe.conf" <<CONF
[daemon]
control_socket = $tmp/run/control.sock
control_mode = 0666
metrics_listen = off
[defaults]
interval = 500ms
timeout = 200ms
retries = 1
time_wait = 200ms
[target open4]
host = $LAB_S4
port = $LAB_PORT_OPEN
[target open6]
host = $LAB_S6
port = $LAB_PORT_OPEN
[target slow]
host = $LAB_S4
port = $LAB_PORT_SLOWCLOSE
CONF
chmod 644 "$tmp/tcpprobe.conf"

# An unprivileged daemon that installs the guard itself must fail plainly.
as_user="setpriv --reuid=$user --regid=$user --clear-groups --inh-caps=+net_raw --ambient-caps=+net_raw"
out=$(LAB_WRAP="timeout 20 $as_user" lab_tcpprobe daemon -c "$tmp/tcpprobe.conf" 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -qi "nftables"; then pass privsep-nft-needs-net-admin
else fail privsep-nft-needs-net-admin "rc=$rc: $out"; fi

lab_tcpprobe guard install -c "$tmp/tcpprobe.conf" &&
	lab_tcpprobe guard status -c "$tmp/tcpprobe.conf" >/dev/null &&
	pass privsep-guard-install || fail privsep-guard-install "guard install/status failed"

lab_capture_start "$tmp/wire.pcap" "tcp" || echo "  capture did not start"
LAB_WRAP=$as_user lab_tcpprobe_bg daemon -c "$tmp/tcpprobe.conf" --rst-guard=external 2>"$tmp/daemon.log"
pid=$LAB_BG_PID
# Until every target has 3 probes (interval 500 ms: about 1.5 s), <= 15 s.
status=
for _ in $(seq 1 150); do
	status=$("$BIN" ctl -s "$tmp/run/control.sock" --json targets 2>&1)
	echo "$status" | /usr/bin/python3 -c '
import json,sys
d=json.loads(sys.stdin.readline())
sys.exit(0 if len(d["targets"]) == 3 and all(x["probes"] >= 3 for x in d["targets"]) else 1)' 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
caps=$(grep -E '^Cap(Eff|Prm)' /proc/$pid/status 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
# Stop the capture first: at SIGTERM the daemon aborts open probes with its
# own (marked) RSTs, which are not the kernel's.
lab_capture_stop "$tmp/wire.pcap"
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
ok=$(echo "$status" | /usr/bin/python3 -c '
import json,sys
d=json.loads(sys.stdin.readline())
t={x["name"]:x for x in d["targets"]}
print(all(t[n]["last_result"]=="ok" and t[n]["probes"]>=3 for n in ("open4","open6","slow")))' 2>&1)
if [ "$ok" = True ] && [ "$rc" = 0 ]; then pass privsep-daemon-probes-as-user
else fail privsep-daemon-probes-as-user "rc=$rc ok=$ok $(tail -n 5 "$tmp/daemon.log")"; fi
# With the guard external nothing is needed once the sockets are open: the
# daemon drops every capability (under the unit, whose seccomp filter refuses
# capset, it keeps the CAP_NET_RAW the bounding set allows).
[ "$caps" = "0000000000000000 " ] && pass privsep-caps-dropped || fail privsep-caps-dropped "caps: $caps"
# What the no-RST check reads must hold the conversations: 3 targets x >= 3
# probes, each with our SYN and our FIN and the server's SYN/ACK.
n=$(/usr/bin/python3 tests/lab/wire.py rsts "$tmp/wire.pcap" | wc -l)
if why=$(lab_capture_ok "$tmp/wire.pcap" 9 '^[0-9]+ > ([^ ]+ ){4}S ') &&
	why=$(lab_capture_ok "$tmp/wire.pcap" 9 '^[0-9]+ < ([^ ]+ ){4}S\. ') &&
	why=$(lab_capture_ok "$tmp/wire.pcap" 9 '^[0-9]+ > ([^ ]+ ){4}F\. '); then
	[ "$n" -eq 0 ] && pass privsep-no-kernel-rst || fail privsep-no-kernel-rst "$n client RSTs on the wire"
else fail privsep-no-kernel-rst "$why"; fi
lab_tcpprobe guard remove -c "$tmp/tcpprobe.conf" &&
	! ip netns exec "$LAB_CNS" nft list tables | grep -q tcpprobe_guard &&
	pass privsep-guard-remove || fail privsep-guard-remove "table still there"
dl_done
