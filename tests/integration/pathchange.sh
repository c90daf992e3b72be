#!/usr/bin/env bash
# Path change detection in the daemon (issue 15 point 3): targets with
# trace_interval behind the chain lab (tests/lab/lab_chain.sh: client - r1 -
# r2 - r3 - server; IPv4 and IPv6) whose route is switched mid-run
# (lab_chain_alt.sh):
# A (r1 r2 r3) -> B (r1 r2' r3: same length, another router) -> C (r1 r3:
# one router fewer). Targets fast and fast6 (the same server over IPv6)
# trace every 2 s; target slow every minute,
# so it can only see route C in time through its SYN/ACKs' TTL (an early
# trace). Each switch must be one path change (metric, ctl show with the
# previous path, one log line) within one trace_interval of the switch (the
# change's time: the first trace that saw it; the confirming trace follows
# at once); tcpprobe_peer_hops must move 3 -> 2 with route C; ctl show's
# "trace" is the last path trace. The wire
# judges: a capture on the client's link shows r2' answering TTL 2 after the
# switch to B, r1-r3's link after C, and the SYN/ACK's TTL 61 -> 62; and
# every trace of a target leaving from one source port (one 5-tuple).
# checks: 15
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
# shellcheck source=tests/lab/lab_chain.sh
source tests/lab/lab_chain.sh
# shellcheck source=tests/lab/lab_chain_alt.sh
source tests/lab/lab_chain_alt.sh
dl_init pathchange
trap 'lab_chain_down; dl_cleanup' EXIT
T=$DL_T
FAST_IV=2 # fast's trace_interval, seconds

if ! lab_chain_up 3 || ! lab_chain_alt_up; then
	fail chain "lab_chain_up 3 / lab_chain_alt_up failed"
	exit 1
fi

{
	dl_conf_daemon
	cat <<EOF
[target fast]
host = $CHAIN_T4
port = $LAB_PORT_OPEN
kind = syn
interval = 500ms
trace_interval = ${FAST_IV}s

[target fast6]
host = $CHAIN_T6
port = $LAB_PORT_OPEN
kind = syn
interval = 500ms
trace_interval = ${FAST_IV}s

[target slow]
host = $CHAIN_T4
port = $LAB_PORT_EXTRA_LO
kind = syn
interval = 200ms
trace_interval = 1m
EOF
} >"$T/d.conf"

show() { ctl --json show "$1"; }
# field NAME EXPR: EXPR on the target's show object (t)
field() { show "$1" | jpy "(lambda t: $2)(d[\"target\"])"; }
path_of() { field "$1" '" ".join(h or "*" for h in (t["path"] or []))'; }
prev_of() { field "$1" '" ".join(h or "*" for h in (t["previous_path"] or []))'; }
changes() { field "$1" 't["path_changes"]'; }
has_path() { [ "$(path_of "$1")" = "$2" ]; }
changes_ge() { [ "$(changes "$1")" -ge "$2" ]; }
metric() { ctl metrics | awk -v m="$1" '$1 == m {print $2}'; }
now_s() { date +%s.%N; }
# float comparison: lt A B
lt() { "$DL_PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"; }
log_count() { grep -cF -- "$1" "$T/daemon.log"; }

CAP=$T/chain.pcap
LAB_CAP_IF=$CHAIN_CIF lab_capture_start "$CAP" "icmp or icmp6 or tcp" || { fail capture "tcpdump did not start"; exit 1; }
dl_start "$T/d.conf" || { fail start "daemon did not start"; exit 1; }

slow_hops_are() { [ "$(field slow 't["peer_hops"]')" = "$1" ]; }

# ---- route A: the first path of both (slow's first trace within 10 s) ----
if wait_until 25 has_path fast "${CHAIN_PATH4[A]}" && wait_until 25 has_path slow "${CHAIN_PATH4[A]}" &&
	wait_until 25 has_path fast6 "${CHAIN_PATH6[A]}" &&
	[ "$(changes fast)" = 0 ] && [ "$(changes slow)" = 0 ] && [ "$(changes fast6)" = 0 ] &&
	wait_until 5 slow_hops_are "${CHAIN_HOPS4[A]}"; then
	pass first-path
else
	fail first-path "fast6: '$(path_of fast6)' ($(changes fast6) changes), fast: '$(path_of fast)' ($(changes fast) changes), slow: '$(path_of slow)' ($(changes slow) changes), want '${CHAIN_PATH4[A]}' and 0; slow peer_hops $(field slow 't["peer_hops"]')"
fi

# ---- route B: the same length, another router ----
TB=$(now_s)
lab_chain_route B || fail route "switch to B failed"
if wait_until 15 changes_ge fast 1; then SEEN_B=$(now_s); else SEEN_B=; fi
if [ -n "$SEEN_B" ] && [ "$(changes fast)" = 1 ] && has_path fast "${CHAIN_PATH4[B]}" &&
	[ "$(prev_of fast)" = "${CHAIN_PATH4[A]}" ] && wait_until 15 changes_ge fast6 1 &&
	[ "$(changes fast6)" = 1 ] && has_path fast6 "${CHAIN_PATH6[B]}" &&
	[ "$(prev_of fast6)" = "${CHAIN_PATH6[A]}" ]; then
	pass switch-b-one-change
else
	fail switch-b-one-change "fast: changes $(changes fast), path '$(path_of fast)', previous '$(prev_of fast)'; want 1, '${CHAIN_PATH4[B]}', '${CHAIN_PATH4[A]}'; fast6: $(changes fast6), '$(path_of fast6)', '$(prev_of fast6)'"
fi
# The change's time is the end of the first trace that saw it: within one
# trace_interval of the switch (1 s slack for a loaded machine's timers).
CHB=$(field fast 't["path_changed_time"]')
DT_B=$("$DL_PY" -c 'import sys; print("%.3f" % (float(sys.argv[1]) - float(sys.argv[2])))' "${CHB:-0}" "$TB")
CHB6=$(field fast6 't["path_changed_time"]')
DT_B6=$("$DL_PY" -c 'import sys; print("%.3f" % (float(sys.argv[1]) - float(sys.argv[2])))' "${CHB6:-0}" "$TB")
DT_SEEN_B=$("$DL_PY" -c 'import sys; print("%.3f" % (float(sys.argv[1] or 0) - float(sys.argv[2])))' "$SEEN_B" "$TB")
note "route B: change seen by a trace $DT_B s after the switch (IPv6: $DT_B6 s), counted (ctl) after $DT_SEEN_B s"
if lt 0 "$DT_B" && lt "$DT_B" "$((FAST_IV + 1))" && lt 0 "$DT_B6" && lt "$DT_B6" "$((FAST_IV + 1))"; then
	pass switch-b-within-interval
else
	fail switch-b-within-interval "change at +$DT_B s (IPv6 +$DT_B6 s), want within ${FAST_IV} s (+1 s for late timers)"
fi
LINE_B="target fast: path changed: ${CHAIN_PATH4[A]} -> ${CHAIN_PATH4[B]}"
LINE_B6="target fast6: path changed: ${CHAIN_PATH6[A]} -> ${CHAIN_PATH6[B]}"
if [ "$(log_count "$LINE_B")" = 1 ] && [ "$(log_count "target fast: path changed:")" = 1 ] &&
	[ "$(log_count "$LINE_B6")" = 1 ] && [ "$(log_count "target fast6: path changed:")" = 1 ]; then
	pass switch-b-log
else
	fail switch-b-log "want one '$LINE_B', one '$LINE_B6' and no other change line; log: $(grep 'path changed' "$T/daemon.log" | tr '\n' '|')"
fi
# Three more traces on route B: still one change (nothing flaps).
N0=$(field fast 't["path_traces"]')
traced_3() { [ "$(field fast 't["path_traces"]')" -ge $((N0 + 3)) ]; }
if wait_until $((4 * FAST_IV + 5)) traced_3 && [ "$(changes fast)" = 1 ] && has_path fast "${CHAIN_PATH4[B]}" &&
	[ "$(changes fast6)" = 1 ] && has_path fast6 "${CHAIN_PATH6[B]}"; then
	pass switch-b-stable
else
	fail switch-b-stable "traces $N0 -> $(field fast 't["path_traces"]'), changes $(changes fast), path '$(path_of fast)'; fast6 $(changes fast6), '$(path_of fast6)'"
fi
# Same length, so the SYN/ACKs' TTL says the same; slow has not traced again.
if [ "$(field fast 't["peer_hops"]')" = "${CHAIN_HOPS4[B]}" ] && [ "$(changes slow)" = 0 ] &&
	[ "$(field fast6 't["peer_hops"]')" = "${CHAIN_HOPS4[B]}" ] &&
	[ "$(metric 'tcpprobe_peer_hops{target="fast"}')" = "${CHAIN_HOPS4[B]}" ]; then
	pass peer-hops-same-length
else
	fail peer-hops-same-length "fast peer_hops $(field fast 't["peer_hops"]') (metric $(metric 'tcpprobe_peer_hops{target="fast"}')), slow changes $(changes slow)"
fi

# ---- route C: one router fewer; slow sees it through the TTL ----
TC=$(now_s)
lab_chain_route C || fail route "switch to C failed"
if wait_until 20 changes_ge fast 2 && wait_until 20 changes_ge slow 1 &&
	wait_until 20 changes_ge fast6 2 && [ "$(changes fast6)" = 2 ] &&
	has_path fast6 "${CHAIN_PATH6[C]}" && [ "$(prev_of fast6)" = "${CHAIN_PATH6[B]}" ] &&
	[ "$(changes fast)" = 2 ] && [ "$(changes slow)" = 1 ] &&
	has_path fast "${CHAIN_PATH4[C]}" && [ "$(prev_of fast)" = "${CHAIN_PATH4[B]}" ] &&
	has_path slow "${CHAIN_PATH4[C]}" && [ "$(prev_of slow)" = "${CHAIN_PATH4[A]}" ]; then
	pass switch-c
else
	fail switch-c "fast6: $(changes fast6) changes, '$(path_of fast6)' after '$(prev_of fast6)'; fast: $(changes fast) changes, '$(path_of fast)' after '$(prev_of fast)'; slow: $(changes slow), '$(path_of slow)' after '$(prev_of slow)'"
fi
# slow's trace_interval is a minute: only the TTL's early trace finds C soon.
CHC=$(field slow 't["path_changed_time"]')
DT_C=$("$DL_PY" -c 'import sys; print("%.3f" % (float(sys.argv[1] or 0) - float(sys.argv[2])))' "${CHC:-0}" "$TC")
EARLY=$(field slow 't["path_traces_early"]')
note "route C: slow (trace_interval 1m) saw the change $DT_C s after the switch; early traces $EARLY"
if lt 0 "$DT_C" && lt "$DT_C" 10 && [ "${EARLY:-0}" -ge 1 ] &&
	[ "$(log_count "target slow: peer hops now ${CHAIN_HOPS4[C]} (SYN/ACK TTL $((64 - CHAIN_HOPS4[C])))")" -ge 1 ]; then
	pass ttl-triggers-trace
else
	fail ttl-triggers-trace "slow's change at +$DT_C s (want < 10 s), early traces '$EARLY'; log: $(grep 'slow' "$T/daemon.log" | tail -n 3 | tr '\n' '|')"
fi
if [ "$(metric 'tcpprobe_peer_hops{target="slow"}')" = "${CHAIN_HOPS4[C]}" ] &&
	[ "$(metric 'tcpprobe_peer_hops{target="fast"}')" = "${CHAIN_HOPS4[C]}" ] &&
	[ "$(metric 'tcpprobe_peer_hops{target="fast6"}')" = "${CHAIN_HOPS4[C]}" ] &&
	[ "$(field slow 't["peer_hops"]')" = "${CHAIN_HOPS4[C]}" ]; then
	pass peer-hops-gauge
else
	fail peer-hops-gauge "tcpprobe_peer_hops fast $(metric 'tcpprobe_peer_hops{target="fast"}') fast6 $(metric 'tcpprobe_peer_hops{target="fast6"}') slow $(metric 'tcpprobe_peer_hops{target="slow"}'), want ${CHAIN_HOPS4[C]}"
fi
m_fast=$(metric 'tcpprobe_path_changes_total{target="fast"}')
m_slow=$(metric 'tcpprobe_path_changes_total{target="slow"}')
m_hops=$(metric 'tcpprobe_path_hops{target="fast"}')
m_fast6=$(metric 'tcpprobe_path_changes_total{target="fast6"}')
if [ "$m_fast" = 2 ] && [ "$m_slow" = 1 ] && [ "$m_hops" = "${CHAIN_HOPS4[C]}" ] && [ "$m_fast6" = 2 ] &&
	[ "$(log_count "target fast: path changed:")" = 2 ] && [ "$(log_count "target slow: path changed:")" = 1 ]; then
	pass path-metrics
else
	fail path-metrics "tcpprobe_path_changes_total fast $m_fast fast6 $m_fast6 slow $m_slow (want 2, 2, 1), tcpprobe_path_hops fast $m_hops; log lines fast $(log_count "target fast: path changed:") slow $(log_count "target slow: path changed:")"
fi
ctl show fast >"$T/show.txt"
if grep -qE "^  path: +${CHAIN_PATH4[C]}, since " "$T/show.txt" &&
	grep -qE "^  previous path: +${CHAIN_PATH4[B]}$" "$T/show.txt" &&
	grep -qE "^  path changes: +2, last at " "$T/show.txt" &&
	[ "$(field fast '" ".join(h["address"] or "*" for h in t["trace"]["hops"])')" = "${CHAIN_PATH4[C]}" ]; then
	pass show-text
else
	fail show-text "$(grep -E 'path' "$T/show.txt" | tr '\n' '|'); last trace: $(field fast 't["trace"]')"
fi
sed -n '/^  peer:/,/^  previous path:/p' "$T/show.txt" | sed 's/^/    /'
grep -E 'path changed|tracing early' "$T/daemon.log" | sed 's/^/    /'

# Added at run time with trace_interval and removed, twice (a trace still
# in flight outlives its target, which is freed when the trace reports).
TADD=$(now_s)
if ctl add added "[$CHAIN_T6]:$LAB_PORT_OPEN" kind=syn interval=300ms trace_interval=1s >/dev/null &&
	wait_until 15 has_path added "${CHAIN_PATH6[C]}" && ctl remove added >/dev/null &&
	wait_until 5 absent added && ctl add added "[$CHAIN_T6]:$LAB_PORT_OPEN" trace_interval=1s >/dev/null &&
	wait_until 15 has_path added "${CHAIN_PATH6[C]}" && ctl remove added >/dev/null && ctl status >/dev/null; then
	pass add-remove
else
	fail add-remove "path '$(path_of added)'; $(tail -n 3 "$T/daemon.log" | tr '\n' '|')"
fi

dl_stop
lab_capture_stop "$CAP"
if [ "$DL_RC" = 0 ]; then pass daemon-exit; else fail daemon-exit "exit status $DL_RC"; fi

# ---- the wire: who answered TTL 2, and the SYN/ACKs' TTL, per route ----
if why=$(lab_capture_ok "$CAP" 10 'icmp11/0'); then
	why=$("$DL_PY" - "$DL_ROOT/tests/lab" "$CAP" "$TB" "$TC" \
		"$CHAIN_T4,${CHAIN_R4[2]},$CHAIN_ALT_R4,$(lab_chain_net4 13).2" \
		"$CHAIN_T6,${CHAIN_R6[2]},$CHAIN_ALT_R6,$(lab_chain_net6 13)::2" \
		"$LAB_PORT_OPEN" "$LAB_PORT_EXTRA_LO" 2 "$TADD" <<'EOF'
import ipaddress
import sys
sys.path.insert(0, sys.argv[1])
import wire
cap, tb, tc = sys.argv[2:5]
# per family: the target, r2, r2', r3 on the r1-r3 link
fams = [[str(ipaddress.ip_address(a)) for a in arg.split(',')] for arg in sys.argv[5:7]]
tb, tc = int(float(tb) * 1e9), int(float(tc) * 1e9)
tadd = int(float(sys.argv[10]) * 1e9)  # then target "added" traces the IPv6 target too
settle = 500000000  # a trace in flight at the switch may still end the old way
te = {'A': set(), 'B': set(), 'C': set()}
synack_ttl = {'A': {}, 'B': {}, 'C': {}}
trace_sports, ttl1 = {}, {}
targets = [f[0] for f in fams]
for s in wire.segments(cap):
    if not s.icmp and s.dst in targets and s.flags & 0x12 == 0x02 and s.ttl <= 30 and s.t < tadd:
        # a trace's SYN (the probes' go out with TTL 64)
        k = (s.dst, s.dport)
        trace_sports.setdefault(k, set()).add(s.sport)
        if s.ttl == 1:
            ttl1[k] = ttl1.get(k, 0) + 1
    if s.t < tb:
        ph = 'A'
    elif tb + settle <= s.t < tc:
        ph = 'B'
    elif s.t >= tc + settle:
        ph = 'C'
    else:
        continue
    if s.icmp in ('icmp11/0', 'icmp6:3/0'):
        te[ph].add(s.src)
    elif s.icmp:
        continue
    elif s.src in targets and s.flags & 0x12 == 0x12:
        synack_ttl[ph].setdefault(s.src, set()).add(s.ttl)
bad = []
for target, r2, r2alt, r3c in fams:
    if r2 not in te['A'] or r2alt in te['A'] or r3c in te['A']:
        bad.append('route A: time exceeded from %s' % sorted(te['A']))
    if r2alt not in te['B'] or r2 in te['B'] or r3c in te['B']:
        bad.append("route B: time exceeded from %s (want r2' %s, not r2 %s)" % (sorted(te['B']), r2alt, r2))
    if r3c not in te['C'] or r2 in te['C'] or r2alt in te['C']:
        bad.append('route C: time exceeded from %s (want %s)' % (sorted(te['C']), r3c))
    want = {'A': {61}, 'B': {61}, 'C': {62}}
    for ph in 'ABC':
        got = synack_ttl[ph].get(target, set())
        if got != want[ph]:
            bad.append('route %s: SYN/ACK TTLs from %s %s, want %s' % (ph, target, sorted(got), sorted(want[ph])))
print('; '.join(bad) if bad else 'ok')
# Every trace of a target on one 5-tuple (its reserved source port), so
# ECMP would keep them on one path.
keys = [(targets[0], int(sys.argv[7])), (targets[1], int(sys.argv[7])), (targets[0], int(sys.argv[8]))]
flow = ['%s port %d: %d traces from source ports %s' % (k[0], k[1], ttl1.get(k, 0), sorted(trace_sports.get(k, ())))
        for k in keys if len(trace_sports.get(k, ())) != 1 or ttl1.get(k, 0) < int(sys.argv[9])]
print('; '.join(flow) if flow else 'ok')
EOF
)
	if [ "$(echo "$why" | sed -n 1p)" = ok ]; then pass wire; else fail wire "$(echo "$why" | sed -n 1p)"; fi
	if [ "$(echo "$why" | sed -n 2p)" = ok ]; then pass trace-one-flow; else fail trace-one-flow "$(echo "$why" | sed -n 2p)"; fi
else
	fail wire "$why"
	fail trace-one-flow "no capture to judge"
fi
dl_done
