#!/usr/bin/env bash
# The daemon against the namespace lab (issue "The daemon", done-when):
#  a. 1,000 targets (syn/handshake/fin; open, refused, dropped, ICMP-rejected;
#     intervals 2 s, 5 s, 10 s) for DAEMON_SECONDS (60): every target probed
#     its expected number of times (+-1 of elapsed/interval, == the daemon's
#     own `expected`, == the probes on the wire), on its deterministic phase
#     grid; results, `targets`, `show` and `status` agree with a capture on
#     the client veth
#  b. `tcpprobe daemon -n -c etc/tcpprobe.conf` prints the normalised config
#  c. reload: broken files (SIGHUP and `ctl reload`) keep the old config;
#     a changed target set keeps unchanged targets' counters and history
#  d. SIGTERM with connections held open: exit 0 within 2 s, RSTs on the
#     wire, nothing half-open at the peer, no nftables table, no socket file
#  e. memory: conn_bytes from `ctl status`, RSS bounded and not growing
# Prints PASS/FAIL/SKIP lines. Packets stay inside the lab's namespaces.
# checks: 21
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
SECS=${DAEMON_SECONDS:-60}
CHECK=tests/lab/dcheck.py
dl_checks daemon

# ---- b. daemon -n (no lab needed) -------------------------------------------------
if [ -x "$DL_BIN" ]; then
	t=$(mktemp -d /tmp/tcpprobe-daemon-n.XXXXXX)
	"$DL_BIN" daemon -n -c etc/tcpprobe.conf >"$t/n1" 2>"$t/err"; rc=$?
	"$DL_BIN" daemon -n -c "$t/n1" >"$t/n2" 2>>"$t/err"; rc2=$?
	# Every key the sample sets appears in the output, with defaults added.
	missing=$(grep -E '^[a-z_]+ =' etc/tcpprobe.conf | sed 's/ =.*//' | sort -u |
		while read -r k; do grep -qE "^$k =( |\$)" "$t/n1" || echo "$k"; done)
	if [ "$rc" = 0 ] && [ "$rc2" = 0 ] && cmp -s "$t/n1" "$t/n2" && [ -z "$missing" ] &&
		grep -qx '\[daemon\]' "$t/n1" && grep -qx '\[defaults\]' "$t/n1" &&
		grep -qx 'pps = 10000' "$t/n1" && grep -qx 'interval = 10s' "$t/n1"; then
		pass check-config-normalised
	else
		fail check-config-normalised "rc=$rc/$rc2 missing='$missing' $(head -c 300 "$t/err")"
	fi
	printf '[daemon]\npps = lots\n' >"$t/bad.conf"
	"$DL_BIN" daemon -n -c "$t/bad.conf" >"$t/out" 2>"$t/err"; rc=$?
	if [ "$rc" = 1 ] && grep -q "bad.conf:2: " "$t/err" && [ ! -s "$t/out" ]; then
		pass check-config-error
	else fail check-config-error "rc=$rc $(cat "$t/err")"; fi
	rm -rf "$t"
fi

dl_init daemon
# The lab's server must answer every probe: no ICMP rate limit in its
# namespace (the kernel's default allows ~1 error per second per peer).
lab_sexec sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 \
	net.ipv4.icmp_msgs_burst=1000000 net.ipv6.icmp.ratelimit=0

# ---- a. 1,000 targets ---------------------------------------------------------------
# gen_targets N PREFIX [INTERVAL]: i%10 < 6 open (9000-9999), 6 refused, 7
# dropped, 8 port-unreachable, 9 admin-prohibited; kinds round robin;
# even i IPv4, odd IPv6 (AnyIP); intervals 2 s / 5 s / 10 s (1:8:1).
gen_targets() {
	"$DL_PY" - "$@" <<'EOF'
import sys
n, pre = int(sys.argv[1]), sys.argv[2]
fixed = sys.argv[3] if len(sys.argv) > 3 else None
kinds = ("syn", "handshake", "fin")
for i in range(n):
    m = i % 10
    port = 9000 + (i * 7) % 1000 if m < 6 else 8075 + m
    host = "198.19.%d.%d" % (i // 250, i % 250 + 1) if i % 2 == 0 else \
        "fd00:19::%x:%x" % (i // 250, i % 250 + 1)
    iv = fixed or ("2s" if i % 10 == 3 else "10s" if i % 10 == 4 else "5s")
    print("[target %s%d]\nhost = %s\nport = %d\nkind = %s\ninterval = %s\n" % (
        pre, i, host, port, kinds[i % 3], iv))
EOF
}
CONF=$DL_T/tcpprobe.conf
{
	dl_conf_daemon history=5
	printf '[defaults]\ntimeout = 200ms\nretries = 1\ntime_wait = 500ms\nfin_wait_2 = 1s\n\n'
	gen_targets 1000 t
} >"$CONF"
cp "$CONF" "$DL_T/orig.conf"

lab_capture_start "$DL_T/a.pcap" "tcp or icmp or icmp6" || { fail capture "tcpdump"; exit 1; }
t0=$(date +%s.%N)
if ! dl_start "$CONF"; then fail start "daemon did not start"; exit 1; fi
t0r=$(date +%s.%N)
pass start
sleep $((SECS / 3))
ctl --json status >"$DL_T/st1.json"
rss1=$(dl_rss_kib)
sleep $((SECS - SECS / 3 - 1))
# Land on t0 + SECS, then stop every schedule at once.
while [ "$("$DL_PY" -c "import time; print(int(time.time() < $t0 + $SECS))")" = 1 ]; do sleep 0.05; done
ctl pause --all >/dev/null
t1=$(date +%s.%N)
drained=no
for _ in $(seq 1 100); do
	ctl --json status | jpy 'd["inflight"] + d["queued"]' | grep -qx 0 && { drained=yes; break; }
	sleep 0.1
done
[ "$drained" = yes ] || fail drained "probes still in flight or queued 10 s after pause --all"
dctl snapshot "$DL_T/snap.json" || { fail snapshot "dctl snapshot failed"; exit 1; }
rss2=$(dl_rss_kib) hwm=$(dl_hwm_kib)
ctl --json targets >"$DL_T/targets.json"
lab_capture_stop "$DL_T/a.pcap"
why=$(lab_capture_ok "$DL_T/a.pcap" 1000) || fail capture "$why"

out=$("$DL_PY" "$CHECK" schedule "$DL_T/snap.json" "$DL_T/a.pcap" --targets 1000 --t0 "$t0" --t0-ready "$t0r" --t1 "$t1" \
	--slack-ms 50 --results --sent --received 2>&1); rc=$?
echo "$out" | sed 's/^/  /'
for k in count phase results sent received; do
	l=$(echo "$out" | grep -E "^(ok|bad) $k:")
	case $l in
	ok*) pass "1000-targets-$k" ;;
	*) fail "1000-targets-$k" "${l:-no output: $out}" ;;
	esac
done

# The lab's defined outcomes, per port and kind, and targets == show == status.
out=$("$DL_PY" - "$DL_T/snap.json" "$DL_T/targets.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1])); tl = json.load(open(sys.argv[2]))["targets"]
want = {"syn": {"open": "ok", 8081: "refused", 8082: "timeout", 8083: "unreachable", 8084: "unreachable"},
        "handshake": {"open": "ok", 8081: "refused", 8082: "timeout", 8083: "unreachable", 8084: "unreachable"},
        "fin": {"open": "silent", 8081: "closed", 8082: "silent", 8083: "unreachable", 8084: "unreachable"}}
bad = []
for n, t in s["show"].items():
    w = want[t["kind"]]["open" if t["port"] >= 9000 else t["port"]]
    if t["probes"] == 0 or t["results"][w] != t["probes"]:
        bad.append("%s (%s :%d) results %s" % (n, t["kind"], t["port"], {k: v for k, v in t["results"].items() if v}))
    if t["kind"] == "handshake" and t["port"] >= 9000 and t["close_results"]["ok"] != t["probes"]:
        bad.append("%s close %s" % (n, t["close_results"]))
rows = {t["name"]: t["probes"] for t in tl}
if rows != {n: t["probes"] for n, t in s["show"].items()}:
    bad.append("targets and show disagree on probe counts")
st = s["status"]
total = sum(rows.values())
if st["targets"] != 1000 or st["probes_started"] != total:
    bad.append("status targets=%d probes_started=%d, sum of probes %d" % (st["targets"], st["probes_started"], total))
print("probes=%d packets_sent=%d packets_received=%d unmatched=%d late_max_ms=%.1f" % (
    total, st["packets_sent"], st["packets_received"], st["packets_unmatched"], st["sched_late_max_us"] / 1000))
print("\n".join(bad[:8]))
sys.exit(1 if bad else 0)
EOF
); rc=$?
echo "$out" | head -1 | sed 's/^/  /'
[ $rc = 0 ] && pass 1000-targets-outcomes || fail 1000-targets-outcomes "$(echo "$out" | tail -n +2 | tr '\n' ';')"
un=$(jpy 'd["status"]["packets_unmatched"]' <"$DL_T/snap.json")
[ "$un" -le 5 ] && pass 1000-targets-unmatched || fail 1000-targets-unmatched "$un packets matched no connection"

# ---- e. memory ------------------------------------------------------------------------
conns=$(jpy 'd["connections"]' <"$DL_T/st1.json")
cbytes=$(jpy 'd["memory"]["conn_bytes"]' <"$DL_T/st1.json")
per=$((conns > 0 ? cbytes / conns : 0))
note "memory: ${conns} connections, conn_bytes=$cbytes (${per} B each), RSS ${rss1} KiB at $((SECS / 3)) s, ${rss2} KiB at ${SECS} s, peak ${hwm} KiB"
if [ "${SANITIZE:-0}" = 1 ]; then
	# ASan's quarantine and shadow memory make RSS meaningless.
	skip memory-rss "RSS under ASan (conn_bytes: ${per} B per connection)"
elif [ "$conns" -gt 0 ] && [ "$per" -gt 0 ] && [ "$per" -le 1024 ] &&
	[ "${hwm:-999999}" -lt 65536 ] && [ $((rss2 - rss1)) -lt 4096 ]; then
	pass memory
else fail memory "conns=$conns conn_bytes=$cbytes rss $rss1 -> $rss2 KiB, peak $hwm KiB"; fi

# ---- c. reload -------------------------------------------------------------------------
# Everything is paused: counters only change if a target object is replaced.
st() { ctl --json status | jpy "d[\"$1\"]"; }
names_probes() { ctl --json targets | jpy '",".join("%s=%d" % (t["name"], t["probes"]) for t in d["targets"])'; }
before=$(names_probes)
e0=$(st reload_errors)
printf '[daemon\n' >"$CONF"
kill -HUP "$DL_PID"
for _ in $(seq 1 50); do [ "$(st reload_errors)" -gt "$e0" ] && break; sleep 0.1; done
if kill -0 "$DL_PID" 2>/dev/null && [ "$(st reload_errors)" = $((e0 + 1)) ] && [ "$(names_probes)" = "$before" ] &&
	grep -q "reload failed, keeping the running config: $CONF:1: " "$DL_T/daemon.log"; then
	pass reload-sighup-broken-kept
else fail reload-sighup-broken-kept "errors $e0 -> $(st reload_errors); $(tail -n 2 "$DL_T/daemon.log")"; fi

{ cat "$DL_T/orig.conf"; printf '[target bad]\nhost = 198.19.0.1\nport = 9000\nkind = bogus\n'; } >"$CONF"
ctl reload >/dev/null 2>"$DL_T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "reload failed, old configuration kept: $CONF:[0-9]*: " "$DL_T/err" &&
	[ "$(names_probes)" = "$before" ] && [ "$(st reload_errors)" = $((e0 + 2)) ] &&
	[ "$(grep -c 'reload failed, keeping the running config' "$DL_T/daemon.log")" = 2 ]; then
	pass reload-ctl-broken-kept
else fail reload-ctl-broken-kept "rc=$rc $(cat "$DL_T/err")"; fi

{ cat "$DL_T/orig.conf"; printf '[target mcast]\nhost = 224.0.0.1\nport = 9000\n'; } >"$CONF"
ctl reload >/dev/null 2>"$DL_T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "$CONF:[0-9]*: target 'mcast': refusing to probe 224.0.0.1: a multicast address" "$DL_T/err" &&
	[ "$(names_probes)" = "$before" ]; then
	pass reload-policy-error-kept
else fail reload-policy-error-kept "rc=$rc $(cat "$DL_T/err")"; fi

# A changed set: t0-t99 removed, t100 changed (port), n0-n49 new, the rest kept.
ctl --json show t500 | jpy 'json.dumps(d["target"]["recent"])' >"$DL_T/t500.before"
{
	dl_conf_daemon history=5
	printf '[defaults]\ntimeout = 200ms\nretries = 1\ntime_wait = 500ms\nfin_wait_2 = 1s\n\n'
	gen_targets 1000 t | "$DL_PY" -c '
import re, sys
out = []
for b in sys.stdin.read().strip().split("\n\n"):
    n = int(re.match(r"\[target t(\d+)\]", b).group(1))
    if n >= 100:
        out.append(b.replace("port = 9", "port = 8", 1) if n == 100 else b)
print("\n\n".join(out) + "\n")'
	gen_targets 50 n 1s
} >"$CONF"
ctl reload >"$DL_T/out" 2>"$DL_T/err"; rc=$?
# Until every new target (interval 1 s) has a probe: <= 5 s.
for _ in $(seq 1 50); do
	ctl --json targets | jpy 'all(t["probes"] > 0 for t in d["targets"] if t["name"].startswith("n"))' | grep -qx True && break
	sleep 0.1
done
out=$("$DL_PY" - "$before" "$(names_probes)" <<'EOF'
import sys
b = dict(x.split("=") for x in sys.argv[1].split(","))
a = dict(x.split("=") for x in sys.argv[2].split(","))
bad = []
if any(("t%d" % i) in a for i in range(100)): bad.append("removed targets still listed")
if [n for n in a if n.startswith("n")] != ["n%d" % i for i in range(50)]: bad.append("new targets missing")
if any(a["n%d" % i] == "0" for i in range(50)): bad.append("a new target was not probed")
kept = ["t%d" % i for i in range(101, 1000)]
if any(a[n] != b[n] for n in kept): bad.append("kept targets changed counters")
# t100 is a new object (unpaused): at most one probe since the reload.
if int(a["t100"]) > 1 or int(b["t100"]) < 5:
    bad.append("changed target t100 kept its counters (%s, was %s)" % (a["t100"], b["t100"]))
if len(a) != 950: bad.append("%d targets" % len(a))
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF
); rc2=$?
ctl --json show t500 | jpy 'json.dumps(d["target"]["recent"])' >"$DL_T/t500.after"
if [ "$rc" = 0 ] && grep -q "reloaded: 950 targets" "$DL_T/out" && [ "$rc2" = 0 ] &&
	cmp -s "$DL_T/t500.before" "$DL_T/t500.after" && [ "$(wc -c <"$DL_T/t500.after")" -gt 100 ] &&
	ctl show t0 2>&1 | grep -q "no target 't0'"; then
	pass reload-changed-set
else fail reload-changed-set "rc=$rc $(cat "$DL_T/out" "$DL_T/err") $out"; fi

# SIGHUP applies a good file too.
cp "$DL_T/orig.conf" "$CONF"
r0=$(st reloads)
kill -HUP "$DL_PID"
for _ in $(seq 1 50); do [ "$(st reloads)" -gt "$r0" ] && break; sleep 0.1; done
if [ "$(st targets)" = 1000 ] && ! ctl show n0 >/dev/null 2>&1 && grep -q "reloaded $CONF: 1000 targets" "$DL_T/daemon.log"; then
	pass reload-sighup-applied
else fail reload-sighup-applied "targets $(st targets)"; fi
dl_stop TERM
[ "$DL_RC" = 0 ] && pass stop-after-1000 || fail stop-after-1000 "exit $DL_RC"

# ---- d. SIGTERM with connections open -----------------------------------------------
{
	dl_conf_daemon
	printf '[defaults]\nkind = handshake\ninterval = 500ms\nhold = 30s\ntimeout = 200ms\n\n'
	for i in $(seq 0 19); do
		if [ $((i % 2)) = 0 ]; then h=198.19.9.$((i + 1)); else h=fd00:19::9:$((i + 1)); fi
		printf '[target h%d]\nhost = %s\nport = %d\n\n' "$i" "$h" $((9100 + i))
	done
	for i in 0 1 2 3; do
		printf '[target slow%d]\nhost = %s\nport = 8085\nhold = 0\ninterval = 100ms\n\n' "$i" 198.19.8.$((i + 1))
	done
} >"$CONF"
lab_capture_start "$DL_T/d.pcap" "tcp" || { fail capture "tcpdump"; exit 1; }
dl_start "$CONF" || { fail sigterm-start "daemon did not start"; exit 1; }
# Until the peer holds all 20 held connections (hold 30 s): <= 10 s.
for _ in $(seq 1 100); do
	lab_sexec ss -Htan state established "( sport >= :9100 and sport <= :9119 )" >"$DL_T/ss.before"
	[ "$(wc -l <"$DL_T/ss.before")" -ge 20 ] && break
	sleep 0.1
done
nest=$(wc -l <"$DL_T/ss.before")
inflight=$(ctl --json status | jpy 'd["inflight"]')
tterm=$(date +%s%N)
dl_stop TERM
lab_sexec ss -Htan >"$DL_T/ss.after"
left=$(grep -vE '^(LISTEN|TIME-WAIT) ' "$DL_T/ss.after" | grep -cE "$LAB_C4|$LAB_C6")
sleep 0.3
lab_capture_stop "$DL_T/d.pcap"
# Each connection the server had open got a RST from us after the SIGTERM.
rsts=$("$DL_PY" tests/lab/wire.py dump "$DL_T/d.pcap" |
	awk -v t="$tterm" '$2 == ">" && $7 ~ /^R/ && $1 >= t && $6 >= 9100 && $6 <= 9119 {print $6, $4}' | sort -u | wc -l)
note "SIGTERM: exit $DL_RC after $DL_STOP_MS ms; $inflight in flight, $nest established at the peer, $rsts RSTs after SIGTERM, $left connections left at the peer"
if [ "$DL_RC" = 0 ] && [ "$DL_STOP_MS" -le 2000 ]; then pass sigterm-exit-fast
else fail sigterm-exit-fast "exit $DL_RC after $DL_STOP_MS ms"; fi
if [ "$nest" -ge 20 ] && [ "$rsts" -ge "$nest" ] && [ "$left" = 0 ]; then pass sigterm-no-half-open
else fail sigterm-no-half-open "$nest established before, $rsts RSTs, left: $(grep -vE '^(LISTEN|TIME-WAIT) ' "$DL_T/ss.after" | head -3)"; fi
if ! lab_cexec nft list tables | grep -q tcpprobe_guard && [ ! -e "$DL_SOCK" ]; then
	pass sigterm-nothing-left
else fail sigterm-nothing-left "nft table or $DL_SOCK still there"; fi
# The guard held while the daemon ran: no (kernel) RST on the wire before SIGTERM.
krst=$("$DL_PY" tests/lab/wire.py rsts "$DL_T/d.pcap" | awk -v t="$tterm" '$1 < t' | wc -l)
[ "$krst" = 0 ] && pass sigterm-no-rst-before || fail sigterm-no-rst-before "$krst client RSTs before SIGTERM (none expected: handshakes close with FINs)"

dl_done
