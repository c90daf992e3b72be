#!/usr/bin/env bash
# The shipped unit's privilege split, without systemd: `tcpprobe guard install`
# as root (ExecStartPre=+), then the daemon as an unprivileged user holding only
# CAP_NET_RAW (ambient) with --rst-guard=external, then `guard remove`
# (ExecStopPost=+). Probes must work, and the client kernel must send no RST.
# checks: 6
set -u
cd "$(dirname "$0")/../.."
source tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_init privsep ""
user=tpps$$
# The guard table goes while the lab is still up, the user after the daemon.
cleanup() {
	[ "${LAB_UP:-0}" = 1 ] && lab_tcpprobe guard remove -c "$DL_T/tcpprobe.conf" 2>/dev/null
	dl_cleanup
	userdel "$user" 2>/dev/null
}
trap cleanup EXIT
useradd -M -r -s /usr/sbin/nologin "$user" || { fail privsep-user "useradd failed"; exit 1; }
chmod 755 "$DL_T"
mkdir "$DL_T/run" && chown "$user" "$DL_T/run"
DL_SOCK=$DL_T/run/control.sock
{
	dl_conf_daemon control_mode=0666
	printf '[defaults]\ninterval = 500ms\ntimeout = 200ms\nretries = 1\ntime_wait = 200ms\n'
	printf '[target open4]\nhost = %s\nport = %s\n' "$LAB_S4" "$LAB_PORT_OPEN"
	printf '[target open6]\nhost = %s\nport = %s\n' "$LAB_S6" "$LAB_PORT_OPEN"
	printf '[target slow]\nhost = %s\nport = %s\n' "$LAB_S4" "$LAB_PORT_SLOWCLOSE"
} >"$DL_T/tcpprobe.conf"
chmod 644 "$DL_T/tcpprobe.conf"
tmp=$DL_T

# An unprivileged daemon that installs the guard itself must fail plainly.
as_user="setpriv --reuid=$user --regid=$user --clear-groups --inh-caps=+net_raw --ambient-caps=+net_raw"
LAB_WRAP=$as_user dl_run "$tmp/tcpprobe.conf" "$tmp/nft.log"; rc=$?
out=$(cat "$tmp/nft.log")
if [ $rc -ne 0 ] && echo "$out" | grep -qi "nftables"; then pass privsep-nft-needs-net-admin
else fail privsep-nft-needs-net-admin "rc=$rc: $out"; fi

lab_tcpprobe guard install -c "$tmp/tcpprobe.conf" &&
	lab_tcpprobe guard status -c "$tmp/tcpprobe.conf" >/dev/null &&
	pass privsep-guard-install || fail privsep-guard-install "guard install/status failed"

lab_capture_start "$tmp/wire.pcap" "tcp" || echo "  capture did not start"
LAB_WRAP=$as_user dl_start "$tmp/tcpprobe.conf" "$tmp/daemon.log" --rst-guard=external
pid=$DL_PID
# Until every target has 3 probes (interval 500 ms: about 1.5 s), <= 15 s.
three_each() {
	status=$(ctl --json targets 2>&1)
	echo "$status" | jpy 'len(d["targets"]) == 3 and all(x["probes"] >= 3 for x in d["targets"])' | grep -qx True
}
status=
wait_until 15 three_each
caps=$(grep -E '^Cap(Eff|Prm)' /proc/$pid/status 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
# Stop the capture first: at SIGTERM the daemon aborts open probes with its
# own (marked) RSTs, which are not the kernel's.
lab_capture_stop "$tmp/wire.pcap"
dl_stop; rc=$DL_RC
ok=$(echo "$status" | jpy 'sorted(t["name"] for t in d["targets"]) == ["open4", "open6", "slow"] and all(t["last_result"] == "ok" and t["probes"] >= 3 for t in d["targets"])' 2>&1)
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
