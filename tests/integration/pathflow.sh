#!/usr/bin/env bash
# Path change detection per flow (issue 15 point 3): in the chain lab r1
# spreads the server's prefix over two equal-cost legs (tests/lab/
# lab_chain_ecmp.sh: leg A r2, leg B r2', hashed on the 5-tuple), and mid-run
# only leg B's path changes (its next hop becomes r3 itself: one router
# fewer). Targets with flows = 12: e4 and e6 (syn probes, trace_interval 2 s;
# e4 with flow_metrics) and t4 (kind = trace, every second). Ground truth from
# captures on r1's three links: the flows (source ports) whose SYNs crossed
# leg B before the move, and link 13 after it. Exactly those flows must
# report one change each (ctl show's flows[]: path, previous_path,
# path_changes, path_changed_time; one log line naming the flow), the others
# none; the target's path_changes and tcpprobe_path_changes_total are their
# sum; tcpprobe_flow_path_changes_total only with flow_metrics. r2 stops
# sending time exceeded after the first paths: leg A's traces outlast the
# probes' interval, yet no probe fails or goes missing for sharing its
# 4-tuple with its flow's trace, and the silent hop is no change. A capture on
# the client's link shows every trace of e4 and e6 leaving from the flows'
# own source ports (IPv6: with the flow's label). t4's path_traces counts its
# flows' traces (its TTL 1 SYNs on the wire).
# checks: 12
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
# shellcheck source=tests/lab/lab_chain_ecmp.sh
source tests/lab/lab_chain_ecmp.sh
dl_init pathflow
trap 'lab_chain_down; dl_cleanup' EXIT
T=$DL_T
IV=2   # e4's and e6's trace_interval, seconds
NF=12  # flows: all on one leg is 2 in 4,096

if ! lab_chain_up 3 || ! lab_chain_alt_up || ! lab_chain_ecmp_up; then
	fail chain "lab_chain_up 3 / lab_chain_alt_up / lab_chain_ecmp_up failed"
	exit 1
fi

{
	dl_conf_daemon
	cat <<EOF
[defaults]
flows = $NF
kind = syn
port = $LAB_PORT_OPEN
interval = 500ms
trace_interval = ${IV}s
timeout = 500ms
retries = 1
max_hops = 8

[target e4]
host = $CHAIN_T4
flow_metrics = yes

[target e6]
host = $CHAIN_T6

[target t4]
host = $CHAIN_T4
port = $LAB_PORT_EXTRA_LO
kind = trace
interval = 1s
trace_interval = off
retries = 0
EOF
} >"$T/d.conf"

# flows NAME EXPR: EXPR over the target's flows (fl) and the target (t)
flows() { ctl --json show "$1" | "$DL_PY" -c '
import json, sys
t = json.loads(sys.stdin.readline())["target"]
fl = t["flows"] or []
p = lambda x: " ".join(h or "*" for h in (x or []))
print(eval(sys.argv[1]))' "$2"; }
# every flow has a path, none changed
all_paths() { [ "$(flows "$1" 'sum(1 for f in fl if f.get("path")) == '$NF' and t["path_changes"] == 0')" = True ]; }
# no flow still on leg B's old path, and every changed flow has its previous path
moved() { [ "$(flows "$1" 'all(p(f.get("path")) != "'"$2"'" for f in fl) and len(fl) == '$NF'')" = True ]; }
traces() { flows "$1" 't["path_traces"]'; }
metric() { ctl metrics | awk -v m="$1" '$1 == m {print $2}'; }
now_s() { date +%s.%N; }

for c in A B C; do
	LAB_CAP_NS=${CHAIN_NS[1]} LAB_CAP_IF=$(eval echo "\$ECMP_IF_$c") \
		lab_capture_start "$T/leg$c.pcap" "tcp" || { fail capture "tcpdump on leg $c did not start"; exit 1; }
done
LAB_CAP_IF=$CHAIN_CIF lab_capture_start "$T/client.pcap" "tcp" || { fail capture "tcpdump on the client's link did not start"; exit 1; }
dl_start "$T/d.conf" || { fail start "daemon did not start"; exit 1; }

# ---- before: every flow's first path, no change ----
if wait_until 25 all_paths e4 && wait_until 10 all_paths e6 && wait_until 10 all_paths t4; then
	pass first-paths
else
	fail first-paths "flows with a path / changes: e4 $(flows e4 'sum(1 for f in fl if f.get("path")), t["path_changes"]'), e6 $(flows e6 'sum(1 for f in fl if f.get("path")), t["path_changes"]'), t4 $(flows t4 'sum(1 for f in fl if f.get("path")), t["path_changes"]')"
fi

# From here r2 (leg A) sends no time exceeded: leg A's traces wait out
# hop 2's tries (1 s), longer than the probes' interval, so a flow's probe
# falls due while its trace holds the 4-tuple (it waits for it), and the
# silent hop is no change.
lab_chain_icmp_drop 2 || fail icmp-drop "lab_chain_icmp_drop 2 failed"

# ---- leg B moves ----
TS=$(now_s)
lab_chain_ecmp_move || fail move "lab_chain_ecmp_move failed"
if wait_until 20 moved e4 "${ECMP_PATH4[B]}" && wait_until 10 moved e6 "${ECMP_PATH6[B]}" &&
	wait_until 10 moved t4 "${ECMP_PATH4[B]}"; then
	note "every flow off leg B's old path $("$DL_PY" -c 'import sys,time; print("%.2f" % (time.time() - float(sys.argv[1])))' "$TS") s after the move"
else
	note "flows still on leg B's old path: e4 $(flows e4 '[f["flow"] for f in fl if p(f.get("path")) == "'"${ECMP_PATH4[B]}"'"]')"
fi
# Two more trace rounds: nothing flaps, no late second change.
N0=$(traces e4)
more() { [ "$(traces e4)" -ge $((N0 + 2 * NF)) ]; }
wait_until $((3 * IV + 5)) more || note "e4: traces $N0 -> $(traces e4) (wanted $((2 * NF)) more)"
for n in e4 e6; do ctl --json show "$n" >"$T/$n.json"; done
T4A=$(now_s)
ctl --json show t4 >"$T/t4.json"
T4B=$(now_s)
ctl show e4 >"$T/e4.txt"
ctl metrics >"$T/metrics.txt"
dl_stop
lab_capture_stop
if [ "$DL_RC" = 0 ]; then pass daemon-exit; else fail daemon-exit "exit status $DL_RC"; fi

for c in A B C; do
	lab_capture_ok "$T/leg$c.pcap" 1 >"$T/leg$c.cap" || note "leg $c: $(cat "$T/leg$c.cap")"
done
res=$("$DL_PY" - "$DL_ROOT/tests/lab" "$T" "$TS" "$IV" "$NF" "$CHAIN_T4" "$CHAIN_T6" \
	"$LAB_PORT_OPEN" "$LAB_PORT_EXTRA_LO" "${ECMP_PATH4[A]}" "${ECMP_PATH4[B]}" "${ECMP_PATH4[C]}" \
	"${ECMP_PATH6[A]}" "${ECMP_PATH6[B]}" "${ECMP_PATH6[C]}" <<'EOF'
import ipaddress, json, re, sys
sys.path.insert(0, sys.argv[1])
import wire
T, ts, iv, nf = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
t4, t6 = (str(ipaddress.ip_address(a)) for a in sys.argv[6:8])
port, tport = int(sys.argv[8]), int(sys.argv[9])
paths = {4: sys.argv[10:13], 6: sys.argv[13:16]}
ts_ns, settle = int(ts * 1e9), 300000000   # a trace in flight at the move may end either way

def ports(leg, dst, dport, lo=0, hi=1 << 63):
    return {s.sport for s in wire.segments('%s/leg%s.pcap' % (T, leg))
            if not s.icmp and s.dst == dst and s.dport == dport and s.flags & 0x12 == 0x02
            and lo <= s.t < hi}

out = {}
def check(name, ok, why):
    out[name] = 'ok' if ok else why

log = open(T + '/daemon.log').read()
legs = []
for name, dst, dport, fam in (('e4', t4, port, 4), ('e6', t6, port, 6), ('t4', t4, tport, 4)):
    a = ports('A', dst, dport)
    b = ports('B', dst, dport, hi=ts_ns)
    c = ports('C', dst, dport, lo=ts_ns + settle)
    b_after = ports('B', dst, dport, lo=ts_ns + settle)
    legs.append('%s %d/%d' % (name, len(a), len(b)))
    wire_ok = (len(a) + len(b) == nf and a and b and not a & b and c == b and not b_after)
    t = json.load(open('%s/%s.json' % (T, name)))['target']
    fl = t['flows'] or []
    bad = []
    if not wire_ok:
        bad.append('capture: leg A %s, leg B before %s, link 13 after %s, leg B after %s'
                   % (sorted(a), sorted(b), sorted(c), sorted(b_after)))
    p = lambda x: ' '.join(h or '*' for h in (x or []))
    pa, pb, pc = paths[fam]
    changed = set()
    for f in fl:
        sp, n = f['source_port'], f.get('path_changes')
        if sp in b:
            changed.add(f['flow'])
            when = f.get('path_changed_time') or 0
            if n != 1 or p(f.get('path')) != pc or p(f.get('previous_path')) != pb or \
                    not 0 < when - ts < iv + 1.5:
                bad.append('flow %d (sport %d, leg B): %s changes, path %r, previous %r, changed %+.2f s'
                           % (f['flow'], sp, n, p(f.get('path')), p(f.get('previous_path')), when - ts))
        elif n != 0 or p(f.get('path')) != pa or f.get('previous_path') is not None:
            bad.append('flow %d (sport %d, leg A): %s changes, path %r, previous %r'
                       % (f['flow'], sp, n, p(f.get('path')), p(f.get('previous_path'))))
    if len(fl) != nf:
        bad.append('%d flows' % len(fl))
    if t['path_changes'] != len(b):
        bad.append('target path_changes %s, want %d' % (t['path_changes'], len(b)))
    # a flow's probe and its trace share the 4-tuple, one at a time: no
    # probe fails for it ("the flow's previous probe is still running")
    if (t['results'] or {}).get('error'):
        bad.append('%s probes ended in error: %s' % (t['results']['error'], t.get('error')))
    if not 0 <= t['expected'] - t['probes'] <= 2 * nf:
        bad.append('%d probes of %d expected' % (t['probes'], t['expected']))
    check(name + '-per-flow', not bad, '; '.join(bad))
    # one log line per changed flow, naming it; none for the others
    lines = re.findall(r'target %s flow (\d+): path changed: (.*)' % name, log)
    want = ['%s -> %s' % (pb, pc)] * len(changed)
    check(name + '-log', sorted(int(x) for x, _ in lines) == sorted(changed) and
          [l for _, l in lines] == want,
          'log lines for flows %s (want %s): %s' % ([x for x, _ in lines], sorted(changed), [l for _, l in lines][:2]))
    out[name + '-changes'] = len(b)
print(json.dumps(out))
print('legs A/B: ' + ', '.join(legs), file=sys.stderr)
EOF
)
note "$(echo "$res" | tail -n 1)"
jr() { "$DL_PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "not judged"))' "$(echo "$res" | grep '^{')" "$1"; }
for c in e4-per-flow e6-per-flow t4-per-flow e4-log e6-log t4-log; do
	if [ "$(jr $c)" = ok ]; then pass "$c"; else fail "$c" "$(jr $c)"; fi
done

# Metrics: the target's counter is the flows' sum; per flow only with flow_metrics.
m() { awk -v m="$1" '$1 == m {print $2}' "$T/metrics.txt"; }
sum_flows=$(awk '$1 ~ /^tcpprobe_flow_path_changes_total\{target="e4",/ {s += $2; n++} END {print s + 0 "/" n + 0}' "$T/metrics.txt")
if [ "$(m 'tcpprobe_path_changes_total{target="e4"}')" = "$(jr e4-changes)" ] &&
	[ "$(m 'tcpprobe_path_changes_total{target="e6"}')" = "$(jr e6-changes)" ] &&
	[ "$(m 'tcpprobe_path_changes_total{target="t4"}')" = "$(jr t4-changes)" ] &&
	[ "$sum_flows" = "$(jr e4-changes)/$NF" ] &&
	! grep -q '^tcpprobe_flow_path_changes_total{target="e[6]"' "$T/metrics.txt"; then
	pass metrics
else
	fail metrics "tcpprobe_path_changes_total e4 $(m 'tcpprobe_path_changes_total{target="e4"}') e6 $(m 'tcpprobe_path_changes_total{target="e6"}') t4 $(m 'tcpprobe_path_changes_total{target="t4"}') (want $(jr e4-changes) $(jr e6-changes) $(jr t4-changes)); e4 per flow sum/series $sum_flows; e6 series $(grep -c '^tcpprobe_flow_path_changes_total{target="e6"' "$T/metrics.txt")"
fi

# ctl show's text: a changes line under each changed flow's path.
nchg=$(grep -cE "^        path changes: 1, last at .*, previous: ${ECMP_PATH4[B]}$" "$T/e4.txt")
if [ "$nchg" = "$(jr e4-changes)" ] && grep -qE "^  path changes: +$(jr e4-changes)(,|$)" "$T/e4.txt"; then
	pass show-text
else
	fail show-text "$nchg flow change lines (want $(jr e4-changes)); $(grep -E 'path' "$T/e4.txt" | head -n 8 | tr '\n' '|')"
fi
{ grep -E '^  path' "$T/e4.txt"; sed -n '/^flows/,/^last round/p' "$T/e4.txt" | head -n 12; } | sed 's/^/    /'

# t4 (kind = trace, flows): path_traces counts its flows' traces (it was
# null: only trace_interval's were counted), none early. Ground truth: its
# TTL 1 SYNs on the client's link (retries = 0: one a trace) sent before
# ctl show (less those still running then, at most one a flow) and before
# its answer.
why=$("$DL_PY" - "$DL_ROOT/tests/lab" "$T" "$CHAIN_T4" "$LAB_PORT_EXTRA_LO" "$NF" "$T4A" "$T4B" <<'EOF'
import ipaddress, json, sys
sys.path.insert(0, sys.argv[1])
import wire
T, dst, port, nf = sys.argv[2], str(ipaddress.ip_address(sys.argv[3])), int(sys.argv[4]), int(sys.argv[5])
a, b = (int(float(x) * 1e9) for x in sys.argv[6:8])
syn = [s.t for s in wire.segments(T + '/client.pcap') if not s.icmp and s.dst == dst and
       s.dport == port and s.flags & 0x12 == 0x02 and s.ttl == 1]
lo, hi = sum(t < a for t in syn) - nf, sum(t < b for t in syn)
t = json.load(open(T + '/t4.json'))['target']
n, early = t.get('path_traces'), t.get('path_traces_early')
if not isinstance(n, int) or not max(lo, 1) <= n <= hi or early != 0:
    print('path_traces %r (wire: %d..%d), path_traces_early %r' % (n, lo, hi, early))
    sys.exit(1)
print('path_traces %d, wire %d..%d' % (n, lo, hi), file=sys.stderr)
EOF
)
if [ -z "$why" ]; then pass t4-traces; else fail t4-traces "$why"; fi

# The wire: every trace SYN (TTL <= max_hops) of e4 and e6 left from a flow's
# own source port (the ports its probes use), every flow was traced, and over
# IPv6 a trace carries its flow's label.
why=$("$DL_PY" - "$DL_ROOT/tests/lab" "$T/client.pcap" "$CHAIN_T4" "$CHAIN_T6" "$LAB_PORT_OPEN" "$NF" <<'EOF'
import ipaddress, struct, sys
sys.path.insert(0, sys.argv[1])
import wire
cap, port, nf = sys.argv[2], int(sys.argv[5]), int(sys.argv[6])
dsts = [ipaddress.ip_address(a) for a in sys.argv[3:5]]
probe, trace, labels = {}, {}, {}
for t, lt, frame in wire.read_pcap(cap):
    l3 = wire.l3_of(lt, frame)
    if not l3:
        continue
    if l3[0] >> 4 == 4 and l3[9] == 6:
        off, ttl, dst, label = (l3[0] & 15) * 4, l3[8], ipaddress.ip_address(l3[16:20]), None
    elif l3[0] >> 4 == 6 and l3[6] == 6:
        off, ttl, dst = 40, l3[7], ipaddress.ip_address(l3[24:40])
        label = struct.unpack('!I', l3[0:4])[0] & 0xFFFFF
    else:
        continue
    if dst not in dsts or len(l3) < off + 14:
        continue
    sport, dport = struct.unpack('!HH', l3[off:off + 4])
    if dport != port or l3[off + 13] & 0x12 != 0x02:
        continue
    k = (str(dst), sport)
    (trace if ttl <= 8 else probe).setdefault(str(dst), set()).add(sport)
    labels.setdefault(k, set()).add(label)
bad = []
for d in map(str, dsts):
    p, tr = probe.get(d, set()), trace.get(d, set())
    if len(p) != nf or tr != p:
        bad.append('%s: probes from %d ports, traces from %s' % (d, len(p), sorted(tr - p) or '%d of them' % len(tr)))
bad += ['%s port %d: flow labels %s' % (k[0], k[1], sorted(v)) for k, v in labels.items()
        if len(v) != 1 or (':' in k[0] and 0 in v)]
print('; '.join(bad) if bad else 'ok')
EOF
)
if [ "$why" = ok ]; then pass wire-trace-ports; else fail wire-trace-ports "$why"; fi
dl_done
