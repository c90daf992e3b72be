#!/usr/bin/env bash
# Flows (issue 15 point 1): `tcpprobe probe --flows N` sends N probes a round,
# flow i on its own source port every round (IPv6: its own flow label too).
# Judged by the wire (captures on the client veth):
# - `--flows 1` is today's probe: same output (numbers that are times masked),
#   same JSON fields and values, same segments (flags, ports, options, window,
#   TTL) as without the option;
# - with --flows 4 each flow keeps one port over the rounds, the rounds run
#   faster than TIME_WAIT (the flow's next SYN takes its tuple over, with a
#   higher ISN, and the server accepts it), IPv6 flows keep one nonzero flow
#   label each; the per-flow table and the round lines match the probes, and
#   so do --json's round objects and flows object;
# - several targets in one run: each round line and flows table names its
#   target, with that target's figures (the wire's SYN/ACKs per address);
# - bad values are usage errors;
# - ECMP (tests/lab/lab_ecmp.sh): a router splits the flows over two equal-cost
#   legs by 5-tuple hash, one leg 20 ms slower one way with 25% of its SYNs
#   lost. `--flows 8` must name as worse exactly the flows whose segments a
#   capture on the bad leg shows, and each flow's loss and RTT p50 must be
#   what the client-side capture shows (SYNs without SYN/ACK; SYN -> SYN/ACK
#   times), over IPv4 and IPv6, and over IPv6 once more with the router
#   hashing addresses and flow label only (hash policy 0): the flows keep
#   their paths by their labels; each round's probes, answered, lost, RTT
#   min/median/max and jitter are the client capture's for that round (IPv4:
#   --json's round objects, IPv6: the text's round lines);
# - the same through the daemon (flows = 8, flow_metrics = yes, both families
#   at once): tcpprobe_flow_worse names the bad leg's ports, and the flows'
#   tcpprobe_flow_probes_total and p50 in /metrics equal the captures';
# - the daemon keeps a flow target's ports its own: another target to the
#   same address and port never gets one; with flow_metrics = yes a
#   single-flow target exports no per-flow series (it has no flow port).
# - `ctl probe` (one probe) refuses flows > 1, trace_interval, flow_metrics.
# checks: 23
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/lab_ecmp.sh
. tests/lab/lab_ecmp.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_init flows
trap 'lab_ecmp_down; dl_cleanup' EXIT
tmp=$DL_T PY=$DL_PY

# cap NAME ARGS...: tcpprobe probe ARGS with a capture; NAME.out/.err/.rc/.pcap
cap() {
	local name=$1; shift
	lab_capture_start "$tmp/$name.pcap" "tcp port $LAB_PORT_OPEN" || return 1
	LAB_WRAP="timeout 60" lab_tcpprobe probe "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
	lab_capture_stop "$tmp/$name.pcap"
	lab_wire dump "$tmp/$name.pcap" >"$tmp/$name.dump"
}

# --- --flows 1 is today's probe ----------------------------------------------
same_args=(-c 3 -i 0.2 --time-wait 0.1s "$LAB_S4:$LAB_PORT_OPEN")
cap plain "${same_args[@]}" && cap one --flows 1 "${same_args[@]}" &&
	cap plainj --json "${same_args[@]}" && cap onej --json --flows 1 "${same_args[@]}"
if ! why=$(lab_capture_ok "$tmp/plain.pcap" 3 ' S ') || ! why=$(lab_capture_ok "$tmp/one.pcap" 3 ' S '); then
	fail same-text "capture: $why"
	fail same-json "capture: $why"
	fail same-wire "capture: $why"
else
	# Times differ from run to run: mask decimals; ports, seq, results stay.
	mask() { sed -E 's/[0-9]+\.[0-9]+/T/g' "$1"; }
	if [ "$(cat "$tmp/plain.rc")" = 0 ] && [ "$(cat "$tmp/one.rc")" = 0 ] &&
		diff <(mask "$tmp/plain.out") <(mask "$tmp/one.out") >"$tmp/same.diff" &&
		[ "$(grep -c '^handshake ' "$tmp/one.out")" = 3 ]; then
		pass same-text
	else
		fail same-text "outputs differ: $(head -c 600 "$tmp/same.diff"; head -c 300 "$tmp/one.out")"
	fi
	if why=$("$PY" - "$tmp/plainj.out" "$tmp/onej.out" <<'EOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
timing = {"time", "rtt_us", "connect_us", "phases_us", "timeline"}
def bad(why):
    print(why)
    sys.exit(1)
if len(a) != 3 or len(b) != 3:
    bad("%d and %d results" % (len(a), len(b)))
# Our segments only: the peer's pure ACKs come or not with its timing.
ours = lambda r: [e["flags"] for e in r["timeline"] if e["dir"] == ">"]
for x, y in zip(a, b):
    if list(x) != list(y):
        bad("fields differ: %s / %s" % (list(x), list(y)))
    for k in x:
        if k not in timing and x[k] != y[k]:
            bad("%s: %r / %r" % (k, x[k], y[k]))
    if ours(x) != ours(y):
        bad("our segments differ: %s / %s" % (ours(x), ours(y)))
    if "flow" in y:
        bad("--flows 1 result carries flow")
EOF
	); then pass same-json; else fail same-json "$why"; fi
	# The wire: each of our segments' ports, flags, window, length, options
	# (TS values masked) and TTL, in order. Ours only: the peer's pure ACKs
	# come or not with its timing (a delayed ACK, or one with its FIN).
	wire() { lab_wire dump -v "$1" | awk '$2 == ">" { o=$12; gsub(/TS[0-9]+:[0-9]+/, "TS", o); print $2, $4, $6, $7, $10, $11, o, $14 }'; }
	if diff <(wire "$tmp/plain.pcap") <(wire "$tmp/one.pcap") >"$tmp/wire.diff" &&
		[ "$(wire "$tmp/one.pcap" | grep -c ' S ')" = 3 ]; then
		pass same-wire
	else
		fail same-wire "segments differ: $(head -c 600 "$tmp/wire.diff")"
	fi
fi

# --- four flows, IPv4 then IPv6 -----------------------------------------------
# 0.3 s between rounds, TIME_WAIT 2 s: every round after the first finds the
# flow's tuple in TIME_WAIT and takes it over.
for fam in 4 6; do
	if [ $fam = 4 ]; then dst="$LAB_S4:$LAB_PORT_OPEN"; else dst="[$LAB_S6]:$LAB_PORT_OPEN"; fi
	cap f$fam --flows 4 -c 3 -i 0.3 --json "$dst"
	cap t$fam --flows 4 -c 3 -i 0.3 "$dst"
	if ! why=$(lab_capture_ok "$tmp/f$fam.pcap" 12 ' S '); then
		fail ports-v$fam "capture: $why"
		continue
	fi
	tshark -r "$tmp/f$fam.pcap" -T fields -e tcp.srcport -e tcp.flags.syn -e tcp.flags.ack \
		-e ipv6.flow 2>/dev/null >"$tmp/f$fam.fields"
	if why=$("$PY" - "$tmp/f$fam.out" "$tmp/f$fam.dump" "$tmp/f$fam.fields" "$(cat "$tmp/f$fam.rc")" $fam <<'EOF'
import json, sys
out, dump, fields, rc, fam = sys.argv[1:]
objs = [json.loads(l) for l in open(out)]
rs = [o for o in objs if "result" in o]
rounds = [o for o in objs if "round" in o]
table = [o for o in objs if "flows" in o]
errs = []
if rc != "0" or len(rs) != 12:
    errs.append("rc %s, %d results" % (rc, len(rs)))
port = {}
for r in rs:
    port.setdefault(r.get("flow"), set()).add(r["source_port"])
if sorted(port) != [1, 2, 3, 4] or any(len(p) != 1 for p in port.values()):
    errs.append("flow -> ports %s" % port)
ports = {min(p) for p in port.values()}
if len(ports) != 4:
    errs.append("flows share ports: %s" % port)
# A round object after each round's last probe; the flows table last.
if [(o["round"], o["probes"], o["answered"], o["lost"]) for o in rounds] != \
        [(k, 4, 4, 0) for k in (1, 2, 3)] or rounds[0]["jitter_us"] is not None:
    errs.append("round objects %s" % rounds)
if len(table) != 1 or objs[-1] is not table[0] or \
        {(f["flow"], f["source_port"], f["probes"], f["lost"]) for f in table[0]["flows"]} != \
        {(f, min(p), 3, 0) for f, p in port.items() if f} or table[0]["worse_flows"] != []:
    errs.append("flows object %s" % table)
# The wire: three SYNs per flow port, ISNs growing, each answered.
syn, synack = {}, {}
for l in open(dump):
    f = l.split()
    if f[1] == ">" and f[6] == "S":
        syn.setdefault(int(f[3]), []).append(int(f[7]))
    if f[1] == "<" and f[6] == "S.":
        synack[int(f[5])] = synack.get(int(f[5]), 0) + 1
if set(syn) != ports:
    errs.append("SYN ports %s, flows %s" % (sorted(syn), sorted(ports)))
for p, isns in syn.items():
    grow = all(((b - a) % 2**32) < 2**31 and a != b for a, b in zip(isns, isns[1:]))
    if len(isns) != 3 or not grow or synack.get(p) != 3:
        errs.append("port %d: SYN ISNs %s, %s SYN/ACKs" % (p, isns, synack.get(p)))
if fam == "6":
    label = {}
    for l in open(fields):
        f = l.split("\t")
        if len(f) >= 4 and f[0] and f[3].strip() and int(f[0]) in ports:
            label.setdefault(int(f[0]), set()).add(int(f[3], 16))
    if set(label) != ports or any(len(v) != 1 or 0 in v for v in label.values()) or \
            len({min(v) for v in label.values()}) != 4:
        errs.append("flow labels per port %s" % label)
print("; ".join(errs[:4]))
sys.exit(1 if errs else 0)
EOF
	); then pass ports-v$fam; else fail ports-v$fam "$why"; fi
done
# The text: lines name flow and port, each round has its line, the table
# has the four flows with 3 probes each and their ports.
if why=$("$PY" - "$tmp/t4.out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
lines = re.findall(r"^handshake .* seq=(\d) flow=(\d) sport=(\d+) ok ", t, re.M)
rounds = re.findall(r"^round (\d): 4 probes, 4 answered, 0 lost, rtt min/median/max = [0-9.]+/[0-9.]+/[0-9.]+ ms, jitter (\S+) ms$", t, re.M)
rows = re.findall(r"^\s+(\d)\s+(\d+)\s+3\s+0\s+0\.0%\s+[0-9.]+ ms\s+[0-9.]+ ms\s+64$", t, re.M)
errs = []
if len(lines) != 12:
    errs.append("%d probe lines" % len(lines))
if [r[0] for r in rounds] != ["1", "2", "3"] or rounds[0][1] != "-":
    errs.append("round lines %s" % rounds)
lp = {(f, p) for _, f, p in lines}
if sorted(rows) != sorted(lp) or len(rows) != 4:
    errs.append("table rows %s, lines %s" % (rows, sorted(lp)))
if "worse flows: none" not in t:
    errs.append("no 'worse flows: none'")
print("; ".join(errs) + "\n" + t[-900:] if errs else "")
sys.exit(1 if errs else 0)
EOF
); then pass text; else fail text "$why"; fi

# --- several targets: each round line and flows table names its own ------------
# Two targets in one run (IPv4 and IPv6), 2 flows, 2 rounds: the round lines
# interleave, so each must say whose it is ("round K [ADDR]:PORT NAME: ..."),
# and its figures must be that target's: probes its flows, answered its
# SYN/ACKs on the wire (the client capture, by address). Each flows table
# sits in its target's statistics section, with that target's ports, and
# its "worse flows" line names the target.
cap multi --flows 2 -c 2 -i 0.3 "$LAB_S4:$LAB_PORT_OPEN" "[$LAB_S6]:$LAB_PORT_OPEN"
if ! why=$(lab_capture_ok "$tmp/multi.pcap" 8 ' S '); then
	fail multi-target "capture: $why"
elif why=$("$PY" - "$tmp/multi.out" "$tmp/multi.dump" "$(cat "$tmp/multi.rc")" "$LAB_S4" "$LAB_S6" \
	"$LAB_PORT_OPEN" <<'EOF'
import re, sys
out, dump, rc, s4, s6, port = sys.argv[1:]
t = open(out).read()
errs = [] if rc == "0" else ["rc %s" % rc]
synack = {}
for l in open(dump):
    f = l.split()
    if f[1] == "<" and f[6] == "S.":
        synack.setdefault(f[2], set()).add(int(f[5]))
        synack[f[2] + "#"] = synack.get(f[2] + "#", 0) + 1
probes = {}
for m in re.finditer(r"^handshake \[(\S+)\]:(\d+) (\S+) seq=(\d) flow=(\d) sport=(\d+) ", t, re.M):
    probes.setdefault(m.group(1), []).append((int(m.group(4)), int(m.group(6))))
rounds = {}
for m in re.finditer(r"^round (\d+)(.*?): (\d+) probes, (\d+) answered, (\d+) lost, ", t, re.M):
    rounds.setdefault(m.group(2), []).append(tuple(int(m.group(i)) for i in (1, 3, 4, 5)))
want = {" [%s]:%s %s" % (a, port, a): a for a in (s4, s6)}
if set(rounds) != set(want):
    errs.append("round lines name %s, want %s" % (sorted(rounds), sorted(want)))
for name, a in want.items():
    rs = rounds.get(name, [])
    if [r[0] for r in rs] != [1, 2] or any(r[1] != 2 for r in rs) or \
            sum(r[2] for r in rs) != synack.get(a + "#", -1):
        errs.append("%s: rounds %s, %s SYN/ACKs on the wire" % (name, rs, synack.get(a + "#")))
# The statistics sections: each one's table rows are its target's ports.
for sec in t.split("\n--- ")[1:]:
    m = re.match(r"(\S+) \[(\S+)\]:(\d+) tcpprobe", sec)
    if not m:
        continue
    rows = {int(p) for p in re.findall(r"^\s+\d\s+(\d+)\s+2\s", sec, re.M)}
    ports = {p for _, p in probes.get(m.group(2), [])}
    if len(rows) != 2 or rows != ports or rows != synack.get(m.group(2)):
        errs.append("%s: table ports %s, probes' %s, wire %s" % (m.group(2), rows, ports, synack.get(m.group(2))))
    if not re.search(r"^worse flows \[%s\]:%s %s: none$" % (re.escape(m.group(2)), port, re.escape(m.group(1))), sec, re.M):
        errs.append("%s: no 'worse flows [ADDR]:PORT NAME: none'" % m.group(2))
print("; ".join(errs) + ("\n" + t[-1500:] if errs else ""))
sys.exit(1 if errs else 0)
EOF
); then pass multi-target; else fail multi-target "$why"; fi

# --- usage errors ----------------------------------------------------------------
bad=""
for args in "--flows 0" "--flows 65" "--flows 4 -s 20000" "--flows 8 --source-ports 20000-20003" \
	"--flows 2 -c 2 -i 1 --hold 1s"; do
	# shellcheck disable=SC2086
	LAB_WRAP="timeout 20" lab_tcpprobe probe $args "$LAB_S4:$LAB_PORT_OPEN" >"$tmp/u.out" 2>"$tmp/u.err"
	rc=$?
	if [ $rc != 2 ] || ! grep -q '^tcpprobe probe: .*\(flows\|source port\)' "$tmp/u.err"; then
		bad="$bad [$args: rc $rc, $(head -c 200 "$tmp/u.err")]"
	fi
done
# -i 0 with the default --hold 0: the error says which values clash (it
# once asked for a --hold below -i, i.e. below 0).
LAB_WRAP="timeout 20" lab_tcpprobe probe --flows 2 -c 2 -i 0 "$LAB_S4:$LAB_PORT_OPEN" >"$tmp/u.out" 2>"$tmp/u.err"
rc=$?
[ $rc = 2 ] && grep -q -- '--flows 2 needs -i/--interval (0s) above --hold (0s)' "$tmp/u.err" ||
	bad="$bad [-i 0: rc $rc, $(head -c 200 "$tmp/u.err")]"
if [ -z "$bad" ]; then pass usage; else fail usage "$bad"; fi

# --- the daemon: a flow target's ports are its own --------------------------------
# Target a (flows = 4) and target b (one flow) probe the same address and port
# every 300 ms from a range of 8 ports: a keeps its four, and b, going round
# the range, never gets one of them, though with no TIME_WAIT they are free
# nearly all the time. ([defaults] has flows = 2, which b sets back to 1 and
# a `ctl probe` naming no flows must not take.) Both have flow_metrics = yes:
# a's per-flow series give its flows' ports; b, one flow, has no flow port
# (each probe takes another), so it exports no per-flow series and no round
# gauges (it exported one "flow" whose source port was its last probe's).
{
	dl_conf_daemon "history=100" "source_ports=20000-20007"
	printf '[defaults]\nport = %s\ninterval = 300ms\ntime_wait = 0s\nflows = 2\nflow_metrics = yes\n' "$LAB_PORT_OPEN"
	printf '[target a]\nhost = %s\nflows = 4\n[target b]\nhost = %s\nflows = 1\n' "$LAB_S4" "$LAB_S4"
} >"$tmp/r.conf"
if dl_start "$tmp/r.conf" && wait_until 20 dl_has_results a 40 && wait_until 10 dl_has_results b 10; then
	ctl --json history a 100 >"$tmp/r.a"
	ctl --json history b 100 >"$tmp/r.b"
	ctl metrics >"$tmp/r.metrics"
	ctl --json show b >"$tmp/r.showb"
	if why=$("$PY" - "$tmp/r.a" "$tmp/r.b" "$tmp/r.metrics" "$tmp/r.showb" <<'EOF'
import json, re, sys
a, b = (json.load(open(f))["results"] for f in sys.argv[1:3])
m = open(sys.argv[3]).read()
show = json.load(open(sys.argv[4]))["target"]
errs = []
aport = {r["flow"]: r["source_port"] for r in a if r.get("flow")}
got = {int(f): int(v) for f, v in re.findall(r'^tcpprobe_flow_source_port\{target="a",flow="(\d+)"\} (\d+)$', m, re.M)}
if got != aport or len(got) != 4:
    errs.append("a: tcpprobe_flow_source_port %s, its flows' ports %s" % (got, aport))
bser = re.findall(r'^(tcpprobe_(?:flow|round)_\w+)\{target="b"', m, re.M)
if bser or show.get("flows") is not None or show.get("round") is not None:
    errs.append("b (one flow): series %s, ctl show flows %s round %s" % (sorted(set(bser)), show.get("flows"), show.get("round")))
if len({r["source_port"] for r in b}) < 3 or not re.search(r'^tcpprobe_probes_total\{target="b",', m, re.M):
    errs.append("b: ports %s, probes_total %s" % ({r["source_port"] for r in b}, re.findall(r'^tcpprobe_probes_total\{target="b".*', m, re.M)))
print("; ".join(errs))
sys.exit(1 if errs else 0)
EOF
	); then pass flow-metrics-one; else fail flow-metrics-one "$why"; fi
	# `ctl probe` sends one probe: keys that need rounds or a schedule are
	# refused by name (they were ignored: flows=3 gave one probe, no flow),
	# and flows=1 still probes, and so does a request naming none of them
	# under [defaults]' flows = 2 (it was refused: a target's rounds are not
	# a one-shot's).
	cbad=""
	for kv in flows=3 trace_interval=1m flow_metrics=yes; do
		ctl probe "$LAB_S4:$LAB_PORT_OPEN" "$kv" >"$tmp/cp.out" 2>&1
		rc=$?
		grep -q "^tcpprobe ctl: ${kv%%=*}: .*one probe" "$tmp/cp.out" && [ $rc = 1 ] ||
			cbad="$cbad [$kv: rc $rc, $(head -c 200 "$tmp/cp.out")]"
	done
	for kv in flows=1 ""; do
		ctl --json probe "$LAB_S4:$LAB_PORT_OPEN" ${kv:+"$kv"} >"$tmp/cp.out" 2>&1 &&
			[ "$(jpy 'd["result"]["result"], d["result"].get("flow")' <"$tmp/cp.out")" = "('ok', None)" ] ||
			cbad="$cbad [${kv:-no key}: $(head -c 200 "$tmp/cp.out")]"
	done
	if [ -z "$cbad" ]; then pass ctl-probe-one; else fail ctl-probe-one "$cbad"; fi
	dl_stop
	if why=$("$PY" - "$tmp/r.a" "$tmp/r.b" <<'EOF'
import json, sys
a, b = (json.load(open(f))["results"] for f in sys.argv[1:3])
port = {}
for r in a:
    port.setdefault(r.get("flow"), set()).add(r["source_port"])
flowports = set().union(*port.values()) if port else set()
bp = {r["source_port"] for r in b}
errs = []
if sorted(port) != [1, 2, 3, 4] or any(len(p) != 1 for p in port.values()) or len(flowports) != 4:
    errs.append("a: flow -> ports %s" % port)
if any(r["result"] != "ok" for r in a + b):
    errs.append("results %s" % sorted({r["result"] for r in a + b}))
if bp & flowports or len(bp) < 3:
    errs.append("b's ports %s, a's %s" % (sorted(bp), sorted(flowports)))
print("; ".join(errs))
sys.exit(1 if errs else 0)
EOF
	); then pass daemon-ports; else fail daemon-ports "$why"; fi
else
	fail daemon-ports "the daemon did not start or record results: $(tail -n 3 "$tmp/daemon.log" 2>/dev/null)"
	fail ctl-probe-one "the daemon did not start"
	fail flow-metrics-one "the daemon did not start"
	dl_stop
fi

# --- ECMP: the flows on the bad leg, from the bad leg's capture ------------------
DELAY=20 LOSS=25
# rows_text OUT: tcpprobe probe's table and worse flows as JSON
# {"rows": {sport: [flow, probes, lost, p50_ms]}, "named": [sport...]}.
rows_text() {
	"$PY" - "$1" <<'EOF'
import json, re, sys
t = open(sys.argv[1]).read()
rows = {int(m[1]): (int(m[0]), int(m[2]), int(m[3]), float(m[4]))
        for m in re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[0-9.]+%\s+([0-9.]+) ms", t, re.M)}
named = {int(p) for p in re.findall(r"^  flow \d+ \(sport (\d+)\):", t, re.M)}
listed = re.findall(r"^worse flows: ([0-9, ]+)$", t, re.M)
lp = {p for p, r in rows.items() if listed and str(r[0]) in listed[0].split(", ")}
# The one-line list and the reason lines must agree: a mismatch names nothing.
print(json.dumps({"rows": rows, "named": sorted(named) if lp == named else ["mismatch"]}))
EOF
}
# rows_json OUT: the same from `tcpprobe probe --json`'s flows object (its
# worse_flows list and the rows' worse must agree, as the text's lines do).
rows_json() {
	"$PY" - "$1" <<'EOF'
import json, sys
t = [o for o in map(json.loads, open(sys.argv[1])) if "flows" in o]
fl = t[-1]["flows"] if t else []
rows = {f["source_port"]: (f["flow"], f["probes"], f["lost"],
                           f["rtt_p50_us"] / 1e3 if f["rtt_p50_us"] is not None else float("nan"))
        for f in fl}
named = {f["source_port"] for f in fl if f["worse"]}
listed = {f["source_port"] for f in fl if t and f["flow"] in t[-1]["worse_flows"]}
print(json.dumps({"rows": rows, "named": sorted(named) if t and listed == named else ["mismatch"]}))
EOF
}
# rows_metrics METRICS TARGET: the same from the daemon's /metrics.
rows_metrics() {
	"$PY" - "$1" "$2" <<'EOF'
import json, re, sys
m, target = open(sys.argv[1]).read(), sys.argv[2]
def series(name, extra=""):
    out = {}
    for l in m.splitlines():
        g = re.match(r'%s\{target="%s",flow="(\d+)"%s\} (\S+)$' % (name, re.escape(target), extra), l)
        if g:
            out[int(g.group(1))] = float(g.group(2))
    return out
port = series("tcpprobe_flow_source_port")
res = {}
for l in m.splitlines():
    g = re.match(r'tcpprobe_flow_probes_total\{target="%s",flow="(\d+)",result="(\w+)"\} (\d+)$' % re.escape(target), l)
    if g:
        res.setdefault(int(g.group(1)), {})[g.group(2)] = int(g.group(3))
p50 = series("tcpprobe_flow_handshake_seconds", ',quantile="0.5"')
worse = series("tcpprobe_flow_worse")
rows = {int(port[f]): (f, sum(v for k, v in res.get(f, {}).items() if k != "error"),
                       res.get(f, {}).get("timeout", 0), p50.get(f, float("nan")) * 1e3)
        for f in port}
print(json.dumps({"rows": rows, "named": sorted(int(port[f]) for f, w in worse.items() if w)}))
EOF
}
# ecmp_judge ROWS LEG_DUMP CLI_DUMP DST: the rows against the captures (only
# segments to or from DST); prints why not (each reason starts with the
# check's word: named/split/table, or lost/p50/loss), each flow on stderr.
ecmp_judge() {
	"$PY" - "$1" "$2" "$3" "$4" "$DELAY" <<'EOF'
import json, sys
rj, leg, cli, dst, delay = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
TIMEOUT_NS = 300e6
j = json.load(open(rj))
rows = {int(p): v for p, v in j["rows"].items()}
named = set(j["named"])
def segs(path):
    for l in open(path):
        f = l.split()
        if dst in (f[2], f[4]):
            yield f
# Ground truth 1: the source ports whose segments crossed the bad leg.
bad = {int(f[3]) for f in segs(leg) if f[1] == ">"}
# Ground truth 2: per source port, the client veth's SYNs, answered or not, and RTTs.
syn, ans = {}, {}
for f in segs(cli):
    if f[1] == ">" and f[6] == "S":
        syn[(int(f[3]), (int(f[7]) + 1) % 2**32)] = int(f[0])
    elif f[1] == "<" and f[6] == "S.":
        ans.setdefault((int(f[5]), int(f[8])), int(f[0]))
wire = {}
for (p, a), t0 in syn.items():
    w = wire.setdefault(p, [0, 0, []])
    w[0] += 1
    # A SYN/ACK later than the probes' timeout (0.3 s: a stalled forwarder on
    # a loaded machine) comes after the probe ended: lost, as for tcpprobe.
    if (p, a) in ans and ans[(p, a)] - t0 < TIMEOUT_NS:
        w[2].append((ans[(p, a)] - t0) / 1e6)
    else:
        w[1] += 1
def median(v):
    v = sorted(v)
    n = len(v)
    return None if not n else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)
errs = []
if len(rows) != 8 or set(rows) != set(wire):
    errs.append("table ports %s, capture ports %s" % (sorted(rows), sorted(wire)))
if not 0 < len(bad) < 8:
    errs.append("split: %d of 8 flows on the bad leg" % len(bad))
if named != bad:
    errs.append("named %s, the bad leg carried %s" % (sorted(named), sorted(bad)))
detail = []
for p, (flow, probes, lost, p50) in sorted(rows.items()):
    n, wl, rtts = wire.get(p, (0, 0, []))
    wm = median(rtts)
    detail.append("flow %d sport %d %s leg: lost %d/%d (capture %d/%d), p50 %.3f ms (capture %s)" % (
        flow, p, "bad" if p in bad else "good", lost, probes, wl, n, p50,
        "%.3f" % wm if wm is not None else "-"))
    if (lost, probes) != (wl, n):
        errs.append("lost: sport %d lost %d of %d, capture %d of %d" % (p, lost, probes, wl, n))
    if wm is None or not abs(p50 - wm) <= 0.02 + 0.01 * wm:
        errs.append("p50: sport %d %.3f ms, capture %s" % (p, p50, wm))
    if p in bad and p50 < delay:
        errs.append("p50: sport %d on the bad leg %.3f ms < %g ms" % (p, p50, delay))
    if p not in bad and wl:
        errs.append("lost: sport %d on the good leg lost %d" % (p, wl))
if not any(wire[p][1] for p in bad if p in wire):
    errs.append("loss: no SYN lost on the bad leg (not applied?)")
print("\n".join(detail), file=sys.stderr)
print("; ".join(errs[:5]))
sys.exit(1 if errs else 0)
EOF
}
# rounds_judge OUT CLI_DUMP DST: tcpprobe's round figures (the JSON round
# objects, or the text's round lines) against the client capture's. Ground
# truth per round (the SYNs of one tick: a gap of over 150 ms between SYNs
# starts the next): probes = SYNs, answered = those a SYN/ACK answered within
# the 0.3 s timeout, lost = the rest, RTT min/median/max over SYN -> SYN/ACK,
# jitter = the mean over the flows (source ports) with an RTT in this round
# and the one before of the difference. Prints why not; each round on stderr.
rounds_judge() {
	"$PY" - "$1" "$2" "$3" <<'EOF'
import json, re, sys
out, cli, dst = sys.argv[1:4]
TIMEOUT_NS, GAP_NS = 300e6, 150e6
KEYS = ("probes", "answered", "lost", "rtt_min_us", "rtt_median_us", "rtt_max_us", "jitter_us")
got = {}
for l in open(out):
    if l.startswith("{"):
        o = json.loads(l)
        if "round" in o:
            got[o["round"]] = [o[k] for k in KEYS]
        continue
    m = re.match(r"round (\d+): (\d+) probes, (\d+) answered, (\d+) lost, "
                 r"rtt min/median/max = (\S+)/(\S+)/(\S+) ms, jitter (\S+) ms$", l)
    if m:
        v = [int(x) for x in m.groups()[1:4]]
        v += [None if x == "-" else float(x) * 1e3 for x in m.groups()[4:]]
        got[int(m.group(1))] = v
syn, ans = [], {}
for l in open(cli):
    f = l.split()
    if dst not in (f[2], f[4]):
        continue
    if f[1] == ">" and f[6] == "S":
        syn.append((int(f[0]), int(f[3]), (int(f[7]) + 1) % 2**32))
    elif f[1] == "<" and f[6] == "S.":
        ans.setdefault((int(f[5]), int(f[8])), int(f[0]))
syn.sort()
rounds, last = [], None
for t, p, a in syn:
    if last is None or t - last > GAP_NS:
        rounds.append({})
    last = t
    w = ans.get((p, a))
    rounds[-1][p] = (w - t) / 1e3 if w is not None and w - t < TIMEOUT_NS else None
def median(v):
    v, n = sorted(v), len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2) if n else None
want, prev = {}, {}
for k, r in enumerate(rounds, 1):
    rtts = [x for x in r.values() if x is not None]
    jd = [abs(x - prev[p]) for p, x in r.items() if x is not None and prev.get(p) is not None]
    want[k] = [len(r), len(rtts), len(r) - len(rtts), min(rtts, default=None),
               median(rtts), max(rtts, default=None), sum(jd) / len(jd) if jd else None]
    prev = r
errs, worst = [], [0.0, 0.0]
if sorted(got) != sorted(want) or len(want) != 20:
    errs.append("rounds %s, the capture's %s" % (sorted(got), sorted(want)))
for k in sorted(set(got) & set(want)):
    g, w = got[k], want[k]
    print("round %d: %s / capture %s" % (k, g, ["%.3f" % x if isinstance(x, float) else x for x in w]),
          file=sys.stderr)
    if g[:3] != w[:3]:
        errs.append("round %d: probes/answered/lost %s, capture %s" % (k, g[:3], w[:3]))
    for i in range(3, 7):
        if (g[i] is None) != (w[i] is None):
            errs.append("round %d %s: %s, capture %s" % (k, KEYS[i], g[i], w[i]))
            continue
        if g[i] is None:
            continue
        d, j = abs(g[i] - w[i]), i == 6
        worst[j] = max(worst[j], d)
        # The RTTs within 20 us + 1% as the p50 check; jitter is a mean of
        # differences of two of them: twice that.
        if d > (2 if j else 1) * (20 + 0.01 * w[i]):
            errs.append("round %d %s: %.3f us, capture %.3f us" % (k, KEYS[i], g[i], w[i]))
print("largest difference to the capture: rtt %.1f us, jitter %.1f us" % tuple(worst), file=sys.stderr)
print("; ".join(errs[:5]))
sys.exit(1 if errs else 0)
EOF
}
# verdict CHECK LABEL ROWS LEG CLI DST: two checks from one judgement
# (CHECK-named-LABEL, CHECK-loss-rtt-LABEL).
verdict() {
	local why named_why num_why
	why=$(ecmp_judge "$3" "$4" "$5" "$6" 2>"$tmp/detail")
	sed "s/^/  flows: $2 /" "$tmp/detail"
	named_why=$(echo "$why" | tr ';' '\n' | grep -E '^ ?(named|split|table)' | paste -sd ';' -)
	num_why=$(echo "$why" | tr ';' '\n' | grep -E '^ ?(lost|p50|loss)' | paste -sd ';' -)
	if [ -z "$named_why" ]; then pass "$1-named-$2"; else fail "$1-named-$2" "$named_why"; fi
	if [ -z "$num_why" ] && [ -z "$named_why" ]; then pass "$1-loss-rtt-$2"
	else fail "$1-loss-rtt-$2" "${num_why:-see $1-named-$2}"; fi
}
# caps_start NAME / caps_stop NAME: the bad leg (router side) and the client's
# ECMP veth, with their dumps.
caps_start() {
	LAB_CAP_NS=$ECMP_RNS LAB_CAP_IF=$ECMP_BAD_IF lab_capture_start "$tmp/$1.leg.pcap" \
		"tcp port $LAB_PORT_OPEN" &&
	LAB_CAP_IF=$ECMP_CIF lab_capture_start "$tmp/$1.cli.pcap" "tcp port $LAB_PORT_OPEN"
}
caps_stop() {
	lab_capture_stop
	lab_ecmp_wire dump "$tmp/$1.leg.pcap" >"$tmp/$1.leg.dump"
	lab_ecmp_wire dump "$tmp/$1.cli.pcap" >"$tmp/$1.cli.dump"
}

ecmp_ok=1
if ! lab_ecmp_up "$DELAY" || ! lab_ecmp_loss "$LOSS"; then
	ecmp_ok=0
	for c in named-v4 loss-rtt-v4 named-v6 loss-rtt-v6; do
		fail "ecmp-$c" "lab_ecmp_up failed"
		fail "daemon-$c" "lab_ecmp_up failed"
	done
	fail ecmp-rounds-v4 "lab_ecmp_up failed"
	fail ecmp-rounds-v6 "lab_ecmp_up failed"
	fail ecmp-named-v6label "lab_ecmp_up failed"
	fail ecmp-loss-rtt-v6label "lab_ecmp_up failed"
fi
# ecmp_probe LABEL DST HOSTPORT [--json]: tcpprobe probe --flows 8 with the
# captures, judged (checks ecmp-named-LABEL, ecmp-loss-rtt-LABEL, and with
# ROUNDS=1 ecmp-rounds-LABEL); leaves lo, the start of the source port range
# that split the flows.
ecmp_probe() {
	local label=$1 dst=$2 hp=$3 json=${4:-} name n why
	# The hash may put all 8 flows on one leg (1 in 128): then other ports.
	for lo in 20000 21000 22000; do
		name=e$label-$lo
		caps_start "$name" || break
		# -r 0 -t 0.3: a lost SYN is a lost probe, and over before the next round.
		LAB_WRAP="timeout 60" lab_tcpprobe probe --flows 8 -c 20 -i 0.4 -t 0.3 -r 0 $json \
			--source-ports "$lo-$((lo + 999))" "$hp" >"$tmp/$name.out" 2>"$tmp/$name.err"
		caps_stop "$name"
		n=$(awk '$2 == ">" {print $4}' "$tmp/$name.leg.dump" | sort -u | wc -l)
		[ "$n" -gt 0 ] && [ "$n" -lt 8 ] && break
		note "$label: source ports $lo-: $n of 8 flows on the bad leg; trying other ports"
	done
	if ! why=$(lab_capture_ok "$tmp/$name.cli.pcap" 160 ' S ') ||
		! why=$(lab_capture_ok "$tmp/$name.leg.pcap" 10 ' S '); then
		fail "ecmp-named-$label" "capture: $why"
		fail "ecmp-loss-rtt-$label" "capture: $why"
		[ "${ROUNDS:-0}" = 1 ] && fail "ecmp-rounds-$label" "capture: $why"
		return
	fi
	if [ -n "$json" ]; then rows_json "$tmp/$name.out"; else rows_text "$tmp/$name.out"; fi >"$tmp/$name.rows"
	verdict ecmp "$label" "$tmp/$name.rows" "$tmp/$name.leg.dump" "$tmp/$name.cli.dump" "$dst"
	if [ "${ROUNDS:-0}" = 1 ]; then
		if why=$(rounds_judge "$tmp/$name.out" "$tmp/$name.cli.dump" "$dst" 2>"$tmp/$name.rdetail"); then
			pass "ecmp-rounds-$label"
		else
			fail "ecmp-rounds-$label" "$why"
		fi
		grep -E '^(round (1|2|20):|largest)' "$tmp/$name.rdetail" | sed "s/^/  flows: $label /"
	fi
	sed -n '/^round 20:/p; /^worse flows:/,$p; /"round": *20,/p; /"worse_flows"/p' "$tmp/$name.out" |
		sed "s/^/  flows: $label /"
}
lo=20000
if [ $ecmp_ok = 1 ]; then
	# IPv6 hashed on addresses and flow label only (fib_multipath_hash_policy
	# = 0, not the ports): each flow still keeps one path, by its label.
	if ip netns exec "$ECMP_RNS" sysctl -qw net.ipv6.fib_multipath_hash_policy=0; then
		ecmp_probe v6label "$ECMP_T6" "[$ECMP_T6]:$LAB_PORT_OPEN"
	else
		fail ecmp-named-v6label "cannot set net.ipv6.fib_multipath_hash_policy=0"
		fail ecmp-loss-rtt-v6label "cannot set net.ipv6.fib_multipath_hash_policy=0"
	fi
	ip netns exec "$ECMP_RNS" sysctl -qw net.ipv6.fib_multipath_hash_policy=1
	# IPv4 in JSON (rows from its flows object, rounds from its round
	# objects), IPv6 in text (the table, the round lines): each against the
	# captures.
	ROUNDS=1 ecmp_probe v4 "$ECMP_T4" "$ECMP_T4:$LAB_PORT_OPEN" --json
	ROUNDS=1 ecmp_probe v6 "$ECMP_T6" "[$ECMP_T6]:$LAB_PORT_OPEN"
fi

# --- the same through the daemon: flows = 8, flow_metrics = yes, /metrics --------
# Both families at once, on the source ports the probe runs split (the daemon
# reserves from the start of its range); 20 rounds, then paused, drained,
# scraped, and judged against the captures of that time.
if [ $ecmp_ok = 1 ]; then
	MPORT=19$((RANDOM % 90 + 10))1
	{
		dl_conf_daemon "metrics_listen=127.0.0.1:$MPORT" "source_ports=$lo-$((lo + 7))"
		printf '[defaults]\nport = %s\ninterval = 400ms\ntimeout = 300ms\nretries = 0\n' "$LAB_PORT_OPEN"
		printf 'flows = 8\nflow_metrics = yes\n'
		printf '[target e4]\nhost = %s\n[target e6]\nhost = %s\n' "$ECMP_T4" "$ECMP_T6"
	} >"$tmp/d.conf"
	caps_start d
	if dl_start "$tmp/d.conf"; then
		wait_until 40 dl_has_results e4 160 && wait_until 10 dl_has_results e6 160
		ctl pause --all >/dev/null
		wait_until 10 dl_idle
		dl_http "http://127.0.0.1:$MPORT/metrics" >"$tmp/d.metrics"
		ctl show e4 >"$tmp/d.show4"
		caps_stop d
		dl_stop
		for fam in 4 6; do
			if [ $fam = 4 ]; then dst=$ECMP_T4; else dst=$ECMP_T6; fi
			rows_metrics "$tmp/d.metrics" "e$fam" >"$tmp/d$fam.rows"
			verdict daemon "v$fam" "$tmp/d$fam.rows" "$tmp/d.leg.dump" "$tmp/d.cli.dump" "$dst"
		done
		sed -n '/^flows/,/^last round/p' "$tmp/d.show4" | sed 's/^/  flows: ctl show e4: /'
		grep -E '^tcpprobe_round_(loss_ratio|jitter_seconds)\{' "$tmp/d.metrics" | sed 's/^/  flows: /'
	else
		caps_stop d
		for c in named-v4 loss-rtt-v4 named-v6 loss-rtt-v6; do fail "daemon-$c" "the daemon did not start"; done
	fi
fi
dl_done
