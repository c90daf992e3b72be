#!/usr/bin/env bash
# The daemon started by hand, and two daemons on one host (issue 11 points 3
# and 4), in the namespace lab:
#  - handrun-*: `tcpprobe daemon -c FILE` whose control socket's directory
#    does not exist creates it (owner: the `user` it drops to; mode from
#    control_mode), logs it, serves, and removes its socket at exit
#  - two-*: two daemons side by side in one client namespace with their own
#    source_ports: each has its own guard table (tcpprobe_guard_LO_HI); a
#    third whose range overlaps, or equals, a running one's is refused
#    naming it, and so are `guard install` of an overlapping range and
#    `guard remove` of a running one's; after one daemon stops, the other's
#    table stays and its handshakes still complete with no kernel RST on the
#    wire (checked in a capture)
# Prints PASS/FAIL lines. Packets stay inside the lab's namespaces.
# checks: 12
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh

dl_init instances
# A daemon that drops to `nobody` must reach its socket to remove it.
chmod 0711 "$DL_T"

targets() { # PREFIX NET3: four handshake targets every 100 ms
	printf '[defaults]\ninterval = 100ms\ntime_wait = 200ms\n\n'
	for i in 1 2 3 4; do printf '[target %s%d]\nhost = %s.%d\nport = 9000\n\n' "$1" "$i" "$2" "$i"; done
}
has_table() { lab_cexec nft list table inet "tcpprobe_guard_$1" >/dev/null 2>&1; }

# ---- handrun: the socket's directory is created --------------------------------------
for who in root nobody; do
	dir=$DL_T/run-$who/tcpprobe
	DL_SOCK=$dir/control.sock
	extra=()
	[ "$who" = nobody ] && extra=(user=nobody)
	{ dl_conf_daemon control_mode=0660 "${extra[@]}"; targets h 198.19.20; } >"$DL_T/h.conf"
	if ! dl_start "$DL_T/h.conf" "$DL_T/h-$who.log"; then
		fail "handrun-$who-starts" "$(tail -n 3 "$DL_T/h-$who.log")"; continue
	fi
	want_owner=$who:$( [ "$who" = root ] && echo root || id -gn nobody)
	got=$(stat -c '%a %U:%G' "$dir" 2>/dev/null)
	if [ "$got" = "750 $want_owner" ] &&
		grep -q "control: created directory $dir (mode 0750, owner $want_owner) for the control socket" "$DL_T/h-$who.log"; then
		pass "handrun-$who-creates-dir"
	else fail "handrun-$who-creates-dir" "dir: '$got' (want '750 $want_owner'); log: $(grep -i director "$DL_T/h-$who.log")"; fi
	dl_stop TERM
	if [ "$DL_RC" = 0 ] && [ ! -e "$DL_SOCK" ]; then pass "handrun-$who-stops-clean"
	else fail "handrun-$who-stops-clean" "exit $DL_RC, socket left: $(ls "$dir" 2>&1)"; fi
done
# An existing directory is left as it is.
dir=$DL_T/run-existing; mkdir -m 0700 "$dir"; DL_SOCK=$dir/control.sock
{ dl_conf_daemon; targets e 198.19.20; } >"$DL_T/e.conf"
if dl_start "$DL_T/e.conf" "$DL_T/e.log" && [ "$(stat -c %a "$dir")" = 700 ] &&
	! grep -q "created directory" "$DL_T/e.log"; then pass handrun-existing-dir-kept
else fail handrun-existing-dir-kept "mode $(stat -c %a "$dir"); $(tail -n 2 "$DL_T/e.log")"; fi
dl_stop TERM

# ---- two daemons in one namespace ------------------------------------------------------
start_as() { # VAR CONF LOG: start a daemon, its PID in VAR
	dl_spawn "${2%.conf}.sock" "$2" "$3" || return 1
	printf -v "$1" %s "$DL_SPAWNED"
}
A=$DL_T/a.conf B=$DL_T/b.conf
{ dl_conf_daemon control_socket="$DL_T/a.sock" source_ports=20000-20999; targets a 198.19.21; } >"$A"
{ dl_conf_daemon control_socket="$DL_T/b.sock" source_ports=21000-21999; targets b 198.19.22; } >"$B"
apid= bpid=
start_as apid "$A" "$DL_T/a.log" || fail two-start-a "$(tail -n 3 "$DL_T/a.log")"
start_as bpid "$B" "$DL_T/b.log" || fail two-start-b "$(tail -n 3 "$DL_T/b.log")"
[ -n "$apid" ] && [ -n "$bpid" ] || exit 1
if has_table 20000_20999 && has_table 21000_21999; then pass two-tables
else fail two-tables "$(lab_cexec nft list tables | tr '\n' ' ')"; fi

# Overlapping or equal ranges are refused, naming the holder.
{ dl_conf_daemon control_socket="$DL_T/c.sock" source_ports=20500-21499; targets c 198.19.23; } >"$DL_T/c.conf"
{ dl_conf_daemon control_socket="$DL_T/d.sock" source_ports=21000-21999; targets d 198.19.23; } >"$DL_T/d.conf"
DL_RUN_SECONDS=10 dl_run "$DL_T/c.conf" "$DL_T/c.err"; crc=$?
DL_RUN_SECONDS=10 dl_run "$DL_T/d.conf" "$DL_T/d.err"; drc=$?
if [ "$crc" = 1 ] && grep -q "source ports 20500-21499 overlap 20000-20999 of another tcpprobe (pid $apid) in this network namespace" "$DL_T/c.err" &&
	[ "$drc" = 1 ] && grep -q "source ports 21000-21999 are in use by another tcpprobe (pid $bpid)" "$DL_T/d.err" &&
	has_table 20000_20999 && has_table 21000_21999 && ! has_table 20500_21499; then
	pass two-overlap-refused
else fail two-overlap-refused "c: rc=$crc $(cat "$DL_T/c.err"); d: rc=$drc $(cat "$DL_T/d.err")"; fi
lab_tcpprobe guard install -c "$DL_T/c.conf" 2>"$DL_T/gi.err"; girc=$?
lab_tcpprobe guard remove -c "$A" 2>"$DL_T/gr.err"; grrc=$?
lab_tcpprobe guard install -c "$A" 2>"$DL_T/gs.err"; gsrc=$?
if [ "$girc" = 1 ] && grep -q "not installing table inet tcpprobe_guard_20500_21499: source ports 20500-21499 overlap" "$DL_T/gi.err" &&
	[ "$grrc" = 1 ] && grep -q "not removing table inet tcpprobe_guard_20000_20999: source ports 20000-20999 are in use by another tcpprobe (pid $apid)" "$DL_T/gr.err" &&
	[ "$gsrc" = 0 ] && has_table 20000_20999 && ! has_table 20500_21499; then
	pass two-guard-command-respects-owner
else fail two-guard-command-respects-owner "install rc=$girc $(cat "$DL_T/gi.err"); remove rc=$grrc $(cat "$DL_T/gr.err"); reinstall rc=$gsrc $(cat "$DL_T/gs.err")"; fi
# A one-shot probe with the default range (20000-29999) next to them too.
LAB_WRAP="timeout 10" lab_tcpprobe probe -c 1 "$LAB_ANY4:9000" >/dev/null 2>"$DL_T/p.err"; prc=$?
if [ "$prc" = 1 ] && grep -q "^tcpprobe probe: source ports 20000-29999 overlap 2[01]000-2[01]999 of another tcpprobe" "$DL_T/p.err"; then
	pass two-probe-overlap-refused
else fail two-probe-overlap-refused "rc=$prc $(cat "$DL_T/p.err")"; fi

# Stop B; A keeps its table, and its handshakes complete with no kernel RST.
lab_capture_start "$DL_T/two.pcap" "tcp" || fail two-capture "tcpdump did not start"
sleep 0.5
tstop=$(date +%s%N)
dl_kill "$bpid" || fail two-stop-b "B did not exit"
brc=$DL_RC
DL_SOCK=$DL_T/a.sock
p0=$(ctl --json targets | jpy 'sum(t["probes"] for t in d["targets"])')
sleep 2
p1=$(ctl --json targets | jpy 'sum(t["probes"] for t in d["targets"])')
last=$(ctl --json targets | jpy '" ".join(sorted(set(t["last_result"] for t in d["targets"])))')
lab_capture_stop "$DL_T/two.pcap"
if [ "$brc" = 0 ] && has_table 20000_20999 && ! has_table 21000_21999; then pass two-stop-keeps-other-table
else fail two-stop-keeps-other-table "B exit $brc; tables: $(lab_cexec nft list tables | tr '\n' ' ')"; fi
# The capture must hold A's handshakes after B stopped, and no RST from A's ports.
"$DL_PY" tests/lab/wire.py dump "$DL_T/two.pcap" >"$DL_T/two.txt"
synacks=$(awk -v t="$tstop" '$1 > t && $2 == "<" && $7 == "S." && $6 >= 20000 && $6 <= 20999' "$DL_T/two.txt" | wc -l)
acks=$(awk -v t="$tstop" '$1 > t && $2 == ">" && $7 == "." && $4 >= 20000 && $4 <= 20999' "$DL_T/two.txt" | wc -l)
krst=$("$DL_PY" tests/lab/wire.py rsts "$DL_T/two.pcap" | awk '$4 >= 20000 && $4 <= 20999' | wc -l)
note "after B stopped: A ran $((p1 - p0)) probes in 2 s (last results: $last); wire: $synacks SYN/ACKs to A, $acks ACKs from A, $krst RSTs from A's ports"
capwhy=$(lab_capture_ok "$DL_T/two.pcap") && capwhy=
if [ -z "$capwhy" ] && [ "$synacks" -ge 40 ] && [ "$acks" -ge "$synacks" ] && [ "$krst" = 0 ] && [ "$((p1 - p0))" -ge 40 ] && [ "$last" = ok ]; then
	pass two-other-keeps-probing-no-kernel-rst
else fail two-other-keeps-probing-no-kernel-rst "${capwhy:+$capwhy; }$synacks SYN/ACKs, $acks ACKs, $krst RSTs, $((p1 - p0)) probes, last '$last'"; fi
dl_kill "$apid"; arc=$DL_RC
if [ "$arc" = 0 ] && ! lab_cexec nft list tables | grep -q tcpprobe_guard; then pass two-last-stop-removes-all
else fail two-last-stop-removes-all "A exit $arc; tables: $(lab_cexec nft list tables | tr '\n' ' ')"; fi
exit 0
