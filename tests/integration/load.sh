#!/usr/bin/env bash
# The daemon under load (issue "Hardening", point 4), in the namespace lab:
# 10,000 targets (syn and handshake to AnyIP addresses, ports 9000-9999,
# interval 10 s) while
#   - tests/tools/flood sends unrelated TCP (to ports outside source_ports)
#     and ICMP (echo requests; errors quoting other ports, or UDP) from the
#     server namespace at LOAD_FLOOD_PPS (30,000/s) for LOAD_FLOOD_SECONDS
#     (30 s);
#   - 1,000 control clients connect at once;
#   - /metrics is scraped every 100 ms while the config is reloaded again
#     and again.
# Asserts: every target's schedule kept (probes == expected == wire, +-1 of
# its grid slots, every probe on its phase grid); no result lost; RSS
# bounded; the kernel filter kept the flood from userspace (packets_received
# == the frames on the wire for our ports; unmatched 0; the veth's rx
# counter shows the flood arrived); every control client answered or
# refused with an error; every scrape and reload succeeded.
# LOAD_FULL=1: a 150 s flood (the default keeps `make check` short).
# SANITIZE=1 (ASan build): RSS is not judged, probes during the scrapes get
# 3 s of slack instead of 1 s, and one failed scrape is tolerated (a reset
# was seen once under ASan with 1.8 s scrapes).
# Prints PASS/FAIL/SKIP lines. Packets stay inside the lab's namespaces.
# checks: 15
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
if [ "${LOAD_FULL:-0}" = 1 ]; then FSECS=${LOAD_FLOOD_SECONDS:-150}; else FSECS=${LOAD_FLOOD_SECONDS:-30}; fi
FPPS=${LOAD_FLOOD_PPS:-30000}
NT=${LOAD_TARGETS:-10000}
WARM=12 # before the flood: every target probed once, history rings full
MPORT=9110
# Slack for probes sent while /metrics is scraped at 10 Hz: each scrape
# renders ~23 MB on the daemon's loop (~100 ms, ~500 ms under ASan, in
# pieces of a few ms).
WSLACK=1000 SCRAPES_BAD_OK=0
[ "${SANITIZE:-0}" = 1 ] && WSLACK=3000 SCRAPES_BAD_OK=1

dl_init load
FLOOD=$DL_FLOOD
if [ ! -x "$FLOOD" ]; then fail flood-built "$FLOOD missing (make unit)"; exit 1; fi

CONF=$DL_T/tcpprobe.conf
gen() { # extra targets (for reloads): 0 or N
	dl_conf_daemon history=1 metrics_listen=127.0.0.1:$MPORT
	printf '[defaults]\ninterval = 10s\ntimeout = 1s\nretries = 1\ntime_wait = 1s\n\n'
	"$DL_PY" - "$NT" "$1" <<'EOF'
import sys
n, extra = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    host = "198.19.%d.%d" % (i // 250, i % 250 + 1) if i % 2 == 0 else \
        "fd00:19::%x:%x" % (i // 250, i % 250 + 1)
    print("[target t%d]\nhost = %s\nport = %d\nkind = %s\n" % (
        i, host, 9000 + (i * 7) % 1000, "syn" if i % 3 else "handshake"))
for i in range(extra):
    print("[target x%d]\nhost = 198.19.200.%d\nport = 9999\nkind = syn\ninterval = 1s\n" % (i, i + 1))
EOF
}
# LOAD_ONLY_CP=1 (while working on it): the control-plane part only.
if [ "${LOAD_ONLY_CP:-0}" != 1 ]; then
gen 0 >"$CONF"

# Only our ports (and nothing of the flood) in the capture.
st() { ctl --json status | jpy "d[\"$1\"]"; }
CAPF="(tcp and src portrange 20000-29999 and (src host $LAB_C4 or src host $LAB_C6)) or (tcp and dst portrange 20000-29999 and (dst host $LAB_C4 or dst host $LAB_C6))"
lab_capture_start "$DL_T/load.pcap" "$CAPF" || { fail capture "tcpdump"; exit 1; }
t0=$(date +%s.%N)
if ! dl_start "$CONF"; then fail start "daemon did not start"; exit 1; fi
t0r=$(date +%s.%N)
tstart=$("$DL_PY" -c "import time; print('%.3f' % (time.time() - $t0))")
pass start
note "$NT targets loaded and listening after $tstart s"
sleep_until() { while [ "$("$DL_PY" -c "import time; print(int(time.time() < $t0 + $1))")" = 1 ]; do sleep 0.05; done; }

sleep_until "$WARM"
ctl --json status >"$DL_T/st0.json"
rss0=$(dl_rss_kib)
rx0=$(ip -n "$LAB_CNS" -s -j link show "$LAB_CIF" | jpy 'd[0]["stats64"]["rx"]["packets"]')

# The flood, bounded by count and time.
lab_sexec "$FLOOD" -r "$FPPS" -d "$FSECS" -n $((FPPS * FSECS + 1000)) -p 20000-29999 \
	-c "$LAB_C4" -c "$LAB_C6" -s "$LAB_S4" -s "$LAB_S6" -P 8080 >"$DL_T/flood.out" 2>&1 &
fpid=$!
DL_PIDS+=("$fpid")

# 1,000 control clients at once, a few seconds into the flood.
sleep 3
cs=$(ulimit -n 4096; dctl many 1000 20)
st_ok=$(ctl --json status | jpy 'd["ok"]')
note "1000 control clients: $cs"
ans=$(echo "$cs" | sed -n 's/.*answered=\([0-9]*\).*/\1/p')
ref=$(echo "$cs" | sed -n 's/.*refused=\([0-9]*\).*/\1/p')
if [ "$st_ok" = True ] && echo "$cs" | grep -q 'failed=0$' && [ $((ans + ref)) = 1000 ] && [ "$ans" -ge 100 ]; then
	pass control-1000-clients
else fail control-1000-clients "$cs; status after: $st_ok"; fi

wait "$fpid"
flood=$(cat "$DL_T/flood.out")
sent=$(echo "$flood" | sed -n 's/^sent=\([0-9]*\) .*/\1/p')
sleep 1
rx1=$(ip -n "$LAB_CNS" -s -j link show "$LAB_CIF" | jpy 'd[0]["stats64"]["rx"]["packets"]')
ctl --json status >"$DL_T/st1.json"
rss1=$(dl_rss_kib)

# /metrics (gzip, as Prometheus asks) every 100 ms while the config is
# reloaded every second, adding then removing 20 targets. After the flood,
# so that its effect on the schedule is measured on its own: rendering
# 10,000 targets' series blocks the daemon's loop for each scrape.
tw0=$(date +%s.%N) tw1=$tw0
{
	lab_cexec "$DL_PY" - "$MPORT" 100 >"$DL_T/scrape.out" 2>&1 <<'EOF' &
import gzip, sys, time, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
ok = bad = size = 0; worst = 0.0; errs = []
for i in range(n):
    t = time.time()
    try:
        rq = urllib.request.Request("http://127.0.0.1:%d/metrics" % port,
                                    headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(rq, timeout=5) as r:
            body = r.read()
            if r.headers.get("Content-Encoding") == "gzip":
                size = len(body)
                body = gzip.decompress(body)
            if r.status == 200 and b"tcpprobe_up{" in body and b"# TYPE" in body:
                ok += 1
            else:
                bad += 1; errs.append("status %d" % r.status)
    except Exception as e:
        bad += 1; errs.append(str(e))
    dt = time.time() - t
    worst = max(worst, dt)
    time.sleep(max(0, 0.1 - dt))
print("scrapes ok=%d bad=%d slowest_ms=%.0f gzip_bytes=%d %s" % (ok, bad, worst * 1000, size, "; ".join(errs[:3])))
EOF
	spid=$!
	DL_PIDS+=("$spid")
	rok=0 rbad=0
	for i in $(seq 1 8); do
		gen $((i % 2 ? 20 : 0)) >"$CONF"
		if ctl reload >/dev/null 2>>"$DL_T/reload.err"; then rok=$((rok + 1)); else rbad=$((rbad + 1)); fi
		sleep 1
	done
	gen 0 >"$CONF"
	ctl reload >/dev/null 2>>"$DL_T/reload.err" && rok=$((rok + 1)) || rbad=$((rbad + 1))
	wait "$spid"
	tw1=$(date +%s.%N)
	sc=$(cat "$DL_T/scrape.out")
	rms=$(sed -n 's/.*reloaded .*targets (\([0-9.]*\) ms)$/\1/p' "$DL_T/daemon.log" | sort -n | tail -1)
	note "$sc; reloads ok=$rok failed=$rbad, longest ${rms} ms in the daemon ($NT targets)"
	sbad=$(echo "$sc" | sed -n 's/^scrapes ok=[0-9]* bad=\([0-9]*\).*/\1/p')
	if [ -n "$sbad" ] && [ "$sbad" -le "$SCRAPES_BAD_OK" ] && [ "$rbad" = 0 ] && [ "$(st targets)" = "$NT" ]; then
		pass metrics-during-reloads
	else fail metrics-during-reloads "$sc; reloads failed: $rbad $(head -c 300 "$DL_T/reload.err")"; fi
}

# Stop every schedule at once, let what is in flight finish, then compare.
tend=$("$DL_PY" -c "print(int($tw1 - $t0) + 3)")
sleep_until "$tend"
ctl pause --all >/dev/null
t1=$(date +%s.%N)
drained=no
for _ in $(seq 1 100); do
	ctl --json status | jpy 'd["inflight"] + d["queued"]' | grep -qx 0 && { drained=yes; break; }
	sleep 0.1
done
[ "$drained" = yes ] || fail drained "probes still in flight or queued 10 s after pause --all"
dctl snapshot "$DL_T/snap.json" || { fail snapshot "dctl snapshot failed"; exit 1; }
hwm=$(dl_hwm_kib)
lab_capture_stop "$DL_T/load.pcap"
why=$(lab_capture_ok "$DL_T/load.pcap" "$NT") || fail capture "$why"

out=$("$DL_PY" tests/lab/dcheck.py schedule "$DL_T/snap.json" "$DL_T/load.pcap" --targets "$NT" --t0 "$t0" --t0-ready "$t0r" --t1 "$t1" \
	--slack-ms 250 --slack-window "$tw0" "$tw1" "$WSLACK" --results --sent --received --only t 2>&1)
echo "$out" | sed 's/^/  /'
for k in count phase results sent received; do
	l=$(echo "$out" | grep -E "^(ok|bad) $k:")
	case $l in
	ok*) pass "schedule-$k" ;;
	*) fail "schedule-$k" "${l:-no output: $(echo "$out" | tail -3)}" ;;
	esac
done

# The kernel filter: the flood reached the veth, not the daemon.
read -r r0 u0 d0 < <(jpy '"%d %d %d" % (d["packets_received"], d["packets_unmatched"], d["rx_kernel_drops"])' <"$DL_T/st0.json")
read -r r1 u1 d1 < <(jpy '"%d %d %d" % (d["packets_received"], d["packets_unmatched"], d["rx_kernel_drops"])' <"$DL_T/st1.json")
veth=$((rx1 - rx0))
note "flood: $flood"
note "veth rx +$veth frames; daemon packets_received +$((r1 - r0)), unmatched +$((u1 - u0)), ring drops +$((d1 - d0)): $((veth - (r1 - r0))) frames dropped by the kernel filter"
if [ -n "$sent" ] && [ "$sent" -ge $((FPPS * FSECS * 9 / 10)) ] && [ "$veth" -ge "$sent" ] &&
	[ $((u1 - u0)) -le 5 ] && [ $((d1 - d0)) = 0 ] && [ $((r1 - r0)) -lt $((sent / 10)) ]; then
	pass kernel-filter-drops-flood
else fail kernel-filter-drops-flood "sent=$sent veth=$veth received=$((r1 - r0)) unmatched=$((u1 - u0)) drops=$((d1 - d0))"; fi

hwm_mib=$((hwm / 1024))
note "RSS ${rss0} KiB before the flood, ${rss1} KiB after, peak ${hwm} KiB; $(jpy '"%d connections, conn_bytes %d, target_bytes %d" % (d["connections"], d["memory"]["conn_bytes"], d["memory"]["target_bytes"])' <"$DL_T/st0.json")"
if [ "${SANITIZE:-0}" = 1 ]; then
	skip memory-bounded "RSS under ASan (its quarantine holds freed memory)"
elif [ $((rss1 - rss0)) -lt 16384 ] && [ "$hwm_mib" -lt 256 ]; then pass memory-bounded
else fail memory-bounded "RSS $rss0 -> $rss1 KiB, peak $hwm KiB"; fi

dl_stop TERM
if [ "$DL_RC" = 0 ] && [ "$DL_STOP_MS" -le 2000 ]; then pass stop
else fail stop "exit $DL_RC after $DL_STOP_MS ms"; fi
fi # LOAD_ONLY_CP

# ---- the control plane under overload (issue 11 point 2) ----------------------
# Measured while it happens, for CP_SECONDS each: `status` every 100 ms,
# `metrics` every 500 ms (both on a new control connection, timed from
# connect to the whole reply), GET /metrics every 500 ms (overload-6000:
# every 1 s, one after the other; half as many must be answered, so that
# the count asks for the goal, <= 2 s, not <= 1 s; and `metrics` for
# CP_SECONDS, then /metrics, with status throughout). Goal: status <=
# 200 ms, metrics and /metrics <= 2 s, every request answered. SANITIZE=1:
# the times are noted, not judged (ASan slows the daemon several times
# over); every request must still be answered.
#   exhaustion  600 targets on one destination port every 100 ms with a
#               100-port source range (6,000 probes/s for 100 ports held
#               ~1 s each in TIME_WAIT): status port_exhausted must grow
#   overload    a schedule at 3x the caps: 300 syn targets every 100 ms
#               (6,000 pkt/s) with pps = 2000: slots must be skipped
#   overload-6000  6,000 syn targets on one destination every 100 ms with
#               the default source range, ~6x what one core probes: slots
#               must be skipped. Their exposition is ~24 MB: /metrics and
#               `metrics` render and send it a piece per loop pass, so that
#               `status` is answered in between (in one go it held `status`
#               0.5-1.4 s). Then clients that hang up half-way through it
#               (hangups): each render stops, the daemon answers on
CP_SECONDS=${LOAD_CP_SECONDS:-8}
cp_conf() { # sport-range pps targets one|many (destinations)
	dl_conf_daemon history=1 metrics_listen=127.0.0.1:$MPORT source_ports="$1" pps="$2"
	printf '[defaults]\ninterval = 100ms\ntimeout = 1s\nretries = 1\ntime_wait = 1s\nkind = syn\n\n'
	"$DL_PY" - "$3" "$4" "$LAB_ANY4" <<'PYEND'
import sys
n, one, any4 = int(sys.argv[1]), sys.argv[2] == "one", sys.argv[3]
for i in range(1, n + 1):
    if one:
        print("[target c%d]\nhost = %s\nport = 8080\n" % (i, any4))
    else:
        print("[target c%d]\nhost = 198.19.%d.%d\nport = 9000\n" % (i, i // 250 + 100, i % 250 + 1))
PYEND
}
cp_http() { # name period-ms: GET /metrics every period for CP_SECONDS
	lab_cexec "$DL_PY" - "$MPORT" "$CP_SECONDS" "$2" >"$DL_T/cp-$1.http" 2>&1 <<'PYEND'
import sys, time, urllib.request
port, secs, period = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]) / 1000
end = time.time() + secs
lat, bad = [], 0
while time.time() < end:
    t = time.time()
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            bad += r.status != 200 or b"tcpprobe_up{" not in r.read()
    except Exception:
        bad += 1
    lat.append(time.time() - t)
    time.sleep(max(0, period - lat[-1]))
lat.sort()
print("n=%d failed=%d median_ms=%.0f max_ms=%.0f" % (len(lat), bad, lat[len(lat) // 2] * 1000, lat[-1] * 1000))
PYEND
}
# serial: `metrics` for CP_SECONDS, then GET /metrics for CP_SECONDS (status
# throughout), not both at once: two 24 MB renders back to back all the
# time took more CPU than a loaded 2-core box left the daemon.
cp_measure() { # name sport-range pps targets one|many counter [metrics-period-ms [serial]]
	local name=$1 range=$2 pps=$3 nt=$4 ctr=$6 mp=${7:-500} serial=${8:-} c0 c1 st sm sh p1 p2 p3
	cp_conf "$range" "$pps" "$nt" "$5" >"$DL_T/cp-$name.conf"
	if ! dl_start "$DL_T/cp-$name.conf" "$DL_T/cp-$name.log"; then fail "control-$name" "daemon did not start"; return; fi
	sleep 2 # the overload builds up
	c0=$(ctl --json status | jpy "d[\"$ctr\"]")
	if [ "$serial" = serial ]; then
		dctl latency "$((2 * CP_SECONDS))" status 100 >"$DL_T/cp-$name.status" 2>&1 &
		p1=$!
		dctl latency "$CP_SECONDS" metrics "$mp" >"$DL_T/cp-$name.metrics" 2>&1
		cp_http "$name" "$mp"
		wait "$p1"
	else
		dctl latency "$CP_SECONDS" status 100 >"$DL_T/cp-$name.status" 2>&1 &
		p1=$!
		dctl latency "$CP_SECONDS" metrics "$mp" >"$DL_T/cp-$name.metrics" 2>&1 &
		p2=$!
		cp_http "$name" "$mp" &
		p3=$!
		wait "$p1" "$p2" "$p3"
	fi
	[ "$name" = overload-6000 ] && cp_hangups "$DL_T/cp-$name.log"
	c1=$(ctl --json status | jpy "d[\"$ctr\"]")
	dl_stop TERM
	st=$(cat "$DL_T/cp-$name.status") sm=$(cat "$DL_T/cp-$name.metrics") sh=$(cat "$DL_T/cp-$name.http")
	note "$name ($nt targets, source_ports $range, pps $pps; $ctr +$((c1 - c0)) while measured): status $st; metrics $sm; GET /metrics $sh"
	"$DL_PY" - "$st" "$sm" "$sh" "$((c1 - c0))" "${SANITIZE:-0}" "$CP_SECONDS" "$mp" >"$DL_T/cp-$name.verdict" <<'PYEND'
import re, sys
def parse(s):
    m = re.match(r"n=(\d+) failed=(\d+) median_ms=(\d+) max_ms=(\d+)", s)
    return tuple(map(int, m.groups())) if m else None
st, sm, sh = (parse(a) for a in sys.argv[1:4])
grew = int(sys.argv[4])
timed = sys.argv[5] != "1"
nm = int(float(sys.argv[6]) * 1000 / float(sys.argv[7]) / 2) # half the requests made
bad = []
if grew <= 0:
    bad.append("the overload did not happen (counter +%d)" % grew)
for what, r, limit, nmin in (("status", st, 200, 40), ("metrics", sm, 2000, nm), ("GET /metrics", sh, 2000, nm)):
    if not r or r[0] < (nmin if timed else 4) or r[1] or (timed and r[3] > limit):
        bad.append("%s %s (limit %d ms, >= %d answered)" % (what, r, limit, nmin))
print("bad: " + "; ".join(bad) if bad else "ok")
PYEND
	if grep -qx ok "$DL_T/cp-$name.verdict"; then pass "control-$name"
	else fail "control-$name" "$(cat "$DL_T/cp-$name.verdict")"; fi
}
# Clients that hang up after 64 KiB of the ~24 MB exposition: 5 scrapers
# and 5 `metrics` requests, one after the other. Each render must stop (the
# daemon logs it; a render in one go never noticed) and the daemon go on
# answering.
cp_hangups() { # daemon log
	local log=$1 n1=0 n2=0 hh hc ok
	lab_cexec "$DL_PY" - "$MPORT" >"$DL_T/hangup-http.out" 2>&1 <<'PYEND'
import socket, sys
sys.path.insert(0, "tests/lab")
from dctl import read_upto
got = []
for _ in range(5):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: tcpprobe\r\n\r\n")
    got.append(read_upto(s, 65536))
    s.close()
print("read=%s" % ",".join(map(str, got)))
PYEND
	dctl hangup metrics 5 65536 >"$DL_T/hangup-ctl.out" 2>&1
	for _ in $(seq 1 50); do # noticed on the daemon's next passes
		n1=$(grep -c 'scraper gone after' "$log") n2=$(grep -c "gone during 'metrics'" "$log")
		[ "$n1" -ge 5 ] && [ "$n2" -ge 5 ] && break
		sleep 0.1
	done
	ok=$(ctl --json status | jpy 'd["ok"]')
	hh=$(cat "$DL_T/hangup-http.out") hc=$(cat "$DL_T/hangup-ctl.out")
	note "hang-ups: /metrics $hh, metrics $hc; renders stopped: /metrics $n1, metrics $n2; status after: $ok"
	if [ "$hh" = read=65536,65536,65536,65536,65536 ] && [ "$hc" = "$hh" ] && [ "$n1" -ge 5 ] &&
		[ "$n2" -ge 5 ] && [ "$ok" = True ]; then pass control-overload-6000-hangups
	else fail control-overload-6000-hangups "/metrics $hh ($n1 renders stopped), metrics $hc ($n2 stopped), status $ok"; fi
}
# LOAD_CP="overload-6000" (while working on one): those scenarios only.
cp_want() { [[ " ${LOAD_CP:-exhaustion overload overload-6000} " == *" $1 "* ]]; }
cp_want exhaustion && cp_measure exhaustion 20000-20099 10000 600 one port_exhausted
cp_want overload && cp_measure overload 20000-29999 2000 300 many sched_skipped
cp_want overload-6000 && cp_measure overload-6000 20000-29999 10000 6000 one sched_skipped 1000 serial
dl_done
