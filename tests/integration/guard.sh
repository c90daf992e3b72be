#!/usr/bin/env bash
# Guard rails (issue "Hardening", point 6), against the namespace lab:
#  - multicast, broadcast, reserved, unspecified, and (unless allowed)
#    loopback and link-local targets: a config error with FILE:LINE (`-n`,
#    start, reload), an error reply to `ctl add` and `ctl probe`; a hostname
#    that resolves to one: state error, nothing sent
#  - the allow/deny CIDR lists: obeyed by config targets, `ctl add`,
#    `ctl probe`, and by kept targets on reload
#  - the global pps cap: never exceeded on the wire by a mix of targets and
#    one-shot probes asking for more than it (packets from the client per
#    100 ms window of a capture, against cap/10 plus the engine's burst of
#    10 ms of tokens), and reached (the busiest second >= 0.9 x the cap) under
#    a demand of 3 x the cap
# Prints PASS/FAIL/SKIP lines.
# Packets stay inside the lab's namespaces.
# checks: 9
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh

dl_init guard

BAD=(224.0.0.1 239.255.255.250 ff02::1 255.255.255.255 0.0.0.0 :: 240.0.0.1 127.0.0.1 ::1 169.254.1.1 fe80::1 ::ffff:127.0.0.1)
WHY=("a multicast address" "a multicast address" "a multicast address" "the broadcast address"
	"an unspecified (0.0.0.0/8) address" "the unspecified address ::" "a reserved (240.0.0.0/4) address"
	"a loopback address" "a loopback address" "a link-local address" "a link-local address" "a loopback address")

# ---- config --------------------------------------------------------------------------
bad=
for i in "${!BAD[@]}"; do
	a=${BAD[$i]}
	{ dl_conf_daemon; printf '[target ok]\nhost = 198.19.0.1\n\n[target bad]\nhost = %s\nport = 80\n' "$a"; } >"$DL_T/c.conf"
	"$DL_BIN" daemon -n -c "$DL_T/c.conf" >/dev/null 2>"$DL_T/err"; rc=$?
	l=$(grep -n '^\[target bad\]' "$DL_T/c.conf" | cut -d: -f1)
	grep -q "^$DL_T/c.conf:$l: target 'bad': refusing to probe .*: ${WHY[$i]}" "$DL_T/err" && [ "$rc" = 1 ] ||
		bad="$bad [$a: rc=$rc $(cat "$DL_T/err")]"
done
[ -z "$bad" ] && pass config-refuses-addresses || fail config-refuses-addresses "$bad"

# A start with such a file fails (exit 2: systemd does not restart it).
dl_run "$DL_T/c.conf" "$DL_T/err"; rc=$?
if [ "$rc" = 2 ] && grep -q "refusing to probe" "$DL_T/err" && [ ! -e "$DL_SOCK" ]; then pass config-refused-at-start
else fail config-refused-at-start "rc=$rc $(cat "$DL_T/err")"; fi

# Allowed when the config says so.
{ dl_conf_daemon allow_loopback=yes allow_link_local=yes
	printf '[target lo]\nhost = 127.0.0.1\n\n[target lo6]\nhost = ::1\n\n[target ll]\nhost = fe80::1\n\n[target ll4]\nhost = 169.254.1.1\n'; } >"$DL_T/c.conf"
if "$DL_BIN" daemon -n -c "$DL_T/c.conf" >/dev/null 2>"$DL_T/err"; then pass config-allow-loopback-link-local
else fail config-allow-loopback-link-local "$(cat "$DL_T/err")"; fi

# allow/deny lists apply to config targets too.
{ dl_conf_daemon "allow=198.19.0.0/16, fd00:19::/64" deny=198.19.66.0/24
	printf '[target in]\nhost = 198.19.1.1\n\n[target out]\nhost = 198.18.0.2\n'; } >"$DL_T/c.conf"
"$DL_BIN" daemon -n -c "$DL_T/c.conf" >/dev/null 2>"$DL_T/err"; rc1=$?
{ dl_conf_daemon "allow=198.19.0.0/16, fd00:19::/64" deny=198.19.66.0/24
	printf '[target in]\nhost = 198.19.1.1\n\n[target denied]\nhost = 198.19.66.1\n'; } >"$DL_T/c2.conf"
"$DL_BIN" daemon -n -c "$DL_T/c2.conf" >/dev/null 2>"$DL_T/err2"; rc2=$?
l1=$(grep -n '^\[target out\]' "$DL_T/c.conf" | cut -d: -f1)
l2=$(grep -n '^\[target denied\]' "$DL_T/c2.conf" | cut -d: -f1)
if [ "$rc1" = 1 ] && grep -q "c.conf:$l1: target 'out': refusing to probe 198.18.0.2: not in the allow list" "$DL_T/err" &&
	[ "$rc2" = 1 ] && grep -q "c2.conf:$l2: target 'denied': refusing to probe 198.19.66.1: denied by deny list" "$DL_T/err2"; then
	pass config-allow-deny
else fail config-allow-deny "rc=$rc1/$rc2 $(cat "$DL_T/err" "$DL_T/err2")"; fi

# ---- ctl add / ctl probe ------------------------------------------------------------------
CONF=$DL_T/tcpprobe.conf
{ dl_conf_daemon "allow=198.19.0.0/16, fd00:19::/64" "deny=198.19.66.0/24, fd00:19::66:0/112"
	printf '[defaults]\nkind = syn\ninterval = 200ms\n\n[target base]\nhost = 198.19.1.1\nport = 9000\n'; } >"$CONF"
dl_start "$CONF" || { fail start "daemon did not start"; exit 1; }
bad=
for i in "${!BAD[@]}"; do
	a=${BAD[$i]}
	hp=$a; [[ $a == *:* ]] && hp="[$a]"
	ctl add "b$i" "$hp:80" >/dev/null 2>"$DL_T/err" && bad="$bad [add $a accepted]"
	grep -q "refusing to probe .*: ${WHY[$i]}" "$DL_T/err" || bad="$bad [add $a: $(cat "$DL_T/err")]"
	ctl probe "$hp:80" >/dev/null 2>"$DL_T/err" && bad="$bad [probe $a accepted]"
	grep -q "refusing to probe .*: ${WHY[$i]}" "$DL_T/err" || bad="$bad [probe $a: $(cat "$DL_T/err")]"
done
if [ -z "$bad" ] && [ "$(ctl --json status | jpy 'd["targets"]')" = 1 ]; then pass ctl-refuses-addresses
else fail ctl-refuses-addresses "$bad"; fi

bad=
for c in "198.18.0.2:8080|not in the allow list" "[fd00:18::2]:8080|not in the allow list" \
	"198.19.66.7:9000|denied by deny list" "[fd00:19::66:7]:9000|denied by deny list"; do
	hp=${c%%|*} why=${c#*|}
	ctl add "x$RANDOM" "$hp" >/dev/null 2>"$DL_T/err" && bad="$bad [add $hp accepted]"
	grep -q "refusing to probe .*: $why" "$DL_T/err" || bad="$bad [add $hp: $(cat "$DL_T/err")]"
	ctl probe "$hp" >/dev/null 2>"$DL_T/err" && bad="$bad [probe $hp accepted]"
	grep -q "refusing to probe .*: $why" "$DL_T/err" || bad="$bad [probe $hp: $(cat "$DL_T/err")]"
done
for hp in 198.19.67.1:9000 "[fd00:19::67:1]:9000"; do
	ctl probe "$hp" kind=syn 2>&1 | grep -q " ok rtt=" || bad="$bad [probe $hp not ok]"
done
if ctl add in1 198.19.67.1:9000 >/dev/null && ctl add in6 "[fd00:19::67:1]:9000" >/dev/null; then :; else bad="$bad [add in the allow list refused]"; fi
if [ -z "$bad" ] && [ "$(ctl --json status | jpy 'd["targets"]')" = 3 ]; then pass ctl-allow-deny
else fail ctl-allow-deny "$bad"; fi

# A hostname is checked when it is resolved; a reload re-checks kept targets.
{ dl_conf_daemon allow_loopback=yes
	printf '[defaults]\nkind = syn\ninterval = 200ms\n\n[target local]\nhost = localhost\nport = 9\nfamily = ipv4\n'; } >"$CONF"
# The wire is the judge: a capture on the client ns's loopback must show the
# probes while allowed, and none after the reload forbids them.
LAB_CAP_IF=lo lab_capture_start "$DL_T/lo.pcap" "tcp and dst port 9" || fail capture-lo "tcpdump on lo"
ctl reload >/dev/null 2>"$DL_T/err" || fail reload-loopback "$(cat "$DL_T/err")"
p1=0
for _ in $(seq 1 50); do # a probe every 200 ms: 2 within <= 5 s
	p1=$(ctl --json show local | jpy 'd["target"]["probes"]' 2>/dev/null)
	[ "${p1:-0}" -ge 2 ] && break
	sleep 0.1
done
sed -i 's/^allow_loopback = yes$/allow_loopback = no/' "$CONF"
ctl reload >/dev/null 2>"$DL_T/err"; rc=$?
t_reload=$(date +%s%N)
s=$(ctl --json show local | jpy '"%s|%s" % (d["target"]["state"], d["target"]["error"])')
sleep 0.6 # the silence observed: three probe intervals
lab_capture_stop "$DL_T/lo.pcap"
before=$(lab_wire dump "$DL_T/lo.pcap" | awk -v t="$t_reload" '$7 == "S" && $5 == "127.0.0.1" && $1 < t' | wc -l)
after=$(lab_wire dump "$DL_T/lo.pcap" | awk -v t="$t_reload" '$1 >= t' | wc -l)
note "hostname localhost: $p1 probes while allowed ($before SYNs on lo); after a reload forbidding loopback: '$s', $after packets on lo in 0.6 s"
if why=$(lab_capture_ok "$DL_T/lo.pcap" 2 '^[0-9]+ > [^ ]+ [0-9]+ 127\.0\.0\.1 9 S ') && [ "$before" -ge 2 ] &&
	[ "$rc" = 0 ] && [ "$s" = "error|refusing to probe 127.0.0.1: a loopback address (set allow_loopback = yes)" ] &&
	[ "$after" = 0 ]; then
	pass hostname-rechecked-on-reload
else fail hostname-rechecked-on-reload "rc=$rc probes=$p1 '$s' SYNs on lo before $before after $after ${why:-} $(cat "$DL_T/err")"; fi
dl_stop TERM

# ---- the pps cap ----------------------------------------------------------------------------
# 300 syn targets at 1 s (~600 packets/s) and 100 handshake targets at 1 s
# (~500 packets/s), plus 20 clients asking for one-shot probes back to back:
# about 1,500 packets/s asked for, against a cap of 500.
CAP=500
{ dl_conf_daemon pps=$CAP
	printf '[defaults]\ninterval = 1s\ntimeout = 1s\ntime_wait = 200ms\n\n'
	for i in $(seq 0 399); do
		k=syn; [ "$i" -ge 300 ] && k=handshake
		printf '[target p%d]\nhost = 198.19.%d.%d\nport = %d\nkind = %s\n\n' "$i" $((70 + i / 250)) $((i % 250 + 1)) $((9000 + i)) "$k"
	done
} >"$CONF"
lab_capture_start "$DL_T/pps.pcap" "tcp and (src host $LAB_C4 or src host $LAB_C6)" || { fail capture tcpdump; exit 1; }
dl_start "$CONF" || { fail start "daemon did not start"; exit 1; }
oneshots=()
for i in $(seq 1 20); do
	(for _ in $(seq 1 400); do ctl probe "198.19.80.$i:9500" kind=handshake >/dev/null 2>&1 || exit; done) &
	oneshots+=($!)
	DL_PIDS+=($!)
done
sleep 8
q=$(ctl --json status | jpy '"%d %d" % (d["queued"], d["probes_waited"])')
for p in "${oneshots[@]}"; do kill "$p" 2>/dev/null; done
ctl pause --all >/dev/null
drained=no
for _ in $(seq 1 50); do
	ctl --json status | jpy 'd["inflight"] + d["queued"]' | grep -qx 0 && { drained=yes; break; }
	sleep 0.1
done
[ "$drained" = yes ] || fail overload-drained "probes still in flight or queued 5 s after pause --all"
qd=$(ctl --json status | jpy 'd["queued"]')
dctl snapshot "$DL_T/snap.json"
skipped=$(jpy 'sum(t["expected"] - t["probes"] for t in d["show"].values())' <"$DL_T/snap.json")
dl_stop TERM
lab_capture_stop "$DL_T/pps.pcap"
res=$("$DL_PY" - "$DL_T/pps.pcap" "$CAP" <<'EOF'
import sys
sys.path.insert(0, "tests/lab")
import wire
cap = int(sys.argv[2])
ts = sorted(s.t for s in wire.segments(sys.argv[1]) if not s.icmp)
# Leave out the RSTs of the shutdown (the last 50 ms): they are not paced.
end = ts[-1] - 50_000_000 if ts else 0
ts = [t for t in ts if t <= end]

def busiest(win):
    best = j = 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= win:
            j += 1
        best = max(best, i - j + 1)
    return best

# The engine admits a probe when the bucket holds its cost in tokens and
# charges every packet it sends, replies included (debt is repaid before
# the next admission). So a window may see the refill (cap x window), the
# bucket (10 ms of tokens, at least 4), and the rest of probes already
# admitted (a handful of packets): allowance cap/10 + max(4, cap/100) + 10
# per 100 ms, cap + max(4, cap/100) + 10 per second.
burst = max(4, cap // 100)
b100, b1s = busiest(100_000_000), busiest(1_000_000_000)
span = (ts[-1] - ts[0]) / 1e9 if len(ts) > 1 else 1
print("%d %d %d %d %.1f %d %.1f" % (b100, cap // 10 + burst + 10, b1s, cap + burst + 10,
                                    len(ts) / span, len(ts), span))
EOF
)
read -r b100 a100 b1s a1s avg n span <<<"$res"
read -r queued waited <<<"$q"
note "pps cap $CAP: $n packets in $span s, average $avg pkt/s; busiest 100 ms: $b100 packets (allowance $a100), busiest 1 s: $b1s (allowance $a1s)"
note "overload: $queued probes queued at 8 s ($waited waited on the caps); $skipped slots skipped (expected - probes); $qd queued after the pause"
# Held, and reached: under 3 x the cap in demand, the busiest second carries
# >= 0.9 x the cap (a cap never reached says nothing; nothing sent passes no bound).
why=$(lab_capture_ok "$DL_T/pps.pcap" $((CAP * 4)))
if [ -z "$why" ] && [ -n "$b100" ] && [ "$n" -gt 0 ] && [ "$b100" -le "$a100" ] && [ "$b1s" -le "$a1s" ] &&
	[ "$b1s" -ge $((CAP * 9 / 10)) ] &&
	"$DL_PY" -c "import sys; sys.exit(not $avg <= $CAP * 1.01)"; then
	pass pps-cap-held
else fail pps-cap-held "$why busiest 100 ms $b100 (allowed $a100), 1 s $b1s (allowed $a1s, at least $((CAP * 9 / 10))), average $avg"; fi
# One queued probe per target at most (plus the one-shots' 20 clients).
if [ "$queued" -le 420 ] && [ "$skipped" -gt 0 ] && grep -q "overloaded: .* probe slots skipped" "$DL_T/daemon.log"; then
	pass overload-queue-bounded
else fail overload-queue-bounded "$queued queued, $skipped skipped; log: $(grep overloaded "$DL_T/daemon.log" | head -2)"; fi

dl_done
