#!/usr/bin/env bash
# SIGTERM while SYN/ACKs are on their way back: once the daemon is gone the
# peer must hold no half-open connection of ours. The middle namespace holds
# the server's segments 1.5 s (impair --dir b2a), so at the SIGTERM every
# recent probe's SYN has reached the server (SYN-RECV there) and none of its
# SYN/ACKs has reached us: the daemon's RST at the SYN's sequence + 1 must
# end them at once. Without it the server keeps them until its SYN/ACK
# retransmission (1 s) has come back through the delay to a client kernel
# without the guard (>= 2.5 s).
# checks: 3
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
export LAB_MIDDLE=1
dl_init shutdown
lab_impair --dir b2a --delay 1500 || { fail impair "lab_impair failed"; exit 1; }

CONF=$DL_T/tcpprobe.conf
{
	dl_conf_daemon
	printf '[defaults]\nkind = handshake\ninterval = 100ms\ntimeout = 3s\nretries = 0\ntime_wait = 100ms\n'
	printf '\n[target h4]\nhost = %s\nport = %s\n' "$LAB_S4" "$LAB_PORT_OPEN"
	printf '\n[target h6]\nhost = %s\nport = %s\n' "$LAB_S6" "$LAB_PORT_OPEN"
} >"$CONF"

# Half-open connections of ours at the server.
synrecv() { lab_sexec ss -Htan state syn-recv | grep -cE "$LAB_C4|$LAB_C6"; }
enough() { [ "$(synrecv)" -ge "$1" ]; }
cap=$DL_T/s.pcap
lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN" || { fail capture "could not start"; exit 1; }
if ! dl_start "$CONF" "$DL_T/daemon.log"; then
	fail setup "the daemon did not start"
	exit 1
fi
# Ten or more SYNs in flight (bounded: 10 s), then SIGTERM.
if wait_until 10 enough 10; then
	before=$(synrecv)
	dl_stop
	sleep 0.3 # the RSTs cross an undelayed link: 0.3 s is ample, 2.5 s is the fault
	after=$(synrecv)
	pass setup
else
	fail setup "the server never held 10 half-open connections: $(synrecv)"
	dl_stop
	after=-1
fi
lab_capture_stop "$cap"
note "exit $DL_RC after $DL_STOP_MS ms; half-open at the server: ${before:-?} before, $after 0.3 s after"
if [ "$after" = 0 ] && [ "$DL_RC" = 0 ]; then pass no-half-open
else fail no-half-open "exit $DL_RC; $after half-open connections at the server 0.3 s after the exit: $(lab_sexec ss -Htan state syn-recv | head -3 | tr '\n' '|')"; fi

# The wire: every SYN whose SYN/ACK had not come back when the daemon ended
# got an RST (no ACK flag) at its sequence + 1, from the same port.
if why=$(lab_capture_ok "$cap" 10 ' > ([^ ]+ ){4}S '); then
	res=$(lab_wire dump "$cap" | awk '
		$2 == ">" && $7 == "S"  { syn[$4] = $8 }
		$2 == "<" && $7 == "S." { delete syn[$6] }
		$2 == ">" && $7 == "R"  { if (($4 in syn) && $8 == (syn[$4] + 1) % 4294967296) { delete syn[$4]; rst++ } }
		END { left = 0; for (p in syn) left++; printf "%d %d", rst, left }')
	read -r rst left <<<"$res"
	if [ "${rst:-0}" -ge 10 ] && [ "$left" = 0 ]; then pass wire-rst
	else fail wire-rst "$rst RSTs at SYN+1, $left SYNs without SYN/ACK or RST"; fi
else fail wire-rst "$why"; fi
dl_done
