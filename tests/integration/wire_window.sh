#!/usr/bin/env bash
# Our advertised window on the wire (issue 10 point 5), judged by tshark: once
# both SYNs carried window scaling, every later segment of ours carries the
# configured window shifted right by our scale (RFC 7323 2.3), so the window
# the peer computes (tshark's tcp.window_size) is the configured one rounded
# down to the scale's granularity, never 2^scale times it. Without scaling the
# field is the window itself. SYNs are never scaled.
# checks: 4
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_init window
tmp=$DL_T

# case NAME WINDOW WSCALE|off TARGET
case_() {
	local name=$1 win=$2 ws=$3 target=$4 cap=$tmp/$1.pcap out why
	lab_capture_start "$cap" "tcp port $LAB_PORT_OPEN" || { fail "$name" "tcpdump"; return; }
	lab_tcpprobe probe --window "$win" --wscale "$ws" --time-wait 0.1 "$target" >"$tmp/$name.out" 2>&1
	lab_capture_stop "$cap"
	if ! why=$(lab_capture_ok "$cap" 5); then fail "$name" "$why"; return; fi
	# Our segments: flags, raw window field, tshark's scale factor and
	# computed window (-1/-2: unknown scale).
	out=$(tshark -r "$cap" -Y "tcp.dstport == $LAB_PORT_OPEN" \
		-T fields -e tcp.flags.syn -e tcp.window_size_value -e tcp.window_size_scalefactor \
		-e tcp.window_size 2>/dev/null)
	if why=$(echo "$out" | awk -v win="$win" -v ws="$ws" '
		NF < 2 { next }
		{ n++ }
		$1 == 1 || $1 == "True" {
			if ($2 != win) { print "SYN window " $2 " != " win; bad = 1 }
			next
		}
		{
			data++
			want = ws == "off" ? win : int(win / 2 ^ ws)
			if ($2 != want) { print "window field " $2 ", want " want " (scale " $3 ")"; bad = 1 }
			if ($4 > win || $4 <= win - (ws == "off" ? 1 : 2 ^ ws)) {
				print "peer-computed window " $4 " for configured " win; bad = 1
			}
		}
		END { if (n < 3 || data < 2) { print "only " n " segments of ours"; bad = 1 }; exit bad }'); then
		pass "$name"
	else
		fail "$name" "$why; probe: $(head -c 300 "$tmp/$name.out")"
	fi
}

case_ scaled-default 64240 7 "$LAB_S4:$LAB_PORT_OPEN"
case_ scaled-v6 64240 7 "[$LAB_S6]:$LAB_PORT_OPEN"
case_ scaled-2 1000 2 "$LAB_S4:$LAB_PORT_OPEN"
case_ unscaled 64240 off "$LAB_S4:$LAB_PORT_OPEN"
dl_done
