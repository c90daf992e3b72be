#!/usr/bin/env bash
# Host names never block the daemon (issue 11 point 1), in the namespace
# lab with a DNS server of our own (tests/lab/dns.py, server namespace) and
# the client namespace's own /etc/netns/NS/resolv.conf (ip netns exec
# bind-mounts it over /etc/resolv.conf). Targets every 200 ms, port 8080:
#   a4, a6    given by address
#   good      good.lab: 198.19.2.1, changed to 198.19.2.2 at TC
#   flaky     flaky.lab: 198.19.3.1, then its server stops answering at TC
#   dead      dead.lab: the server never answers for it
# resolve_interval = 2s. Checks, by the capture and while it runs:
#   status-latency  `ctl status` answers within 200 ms throughout (every
#                   100 ms from start to end)
#   schedule-count  a4 and a6 keep their probe count (dcheck.py: probes ==
#                   expected == wire == grid slots +-1): a lookup on the loop
#                   would stall it for a resolver timeout, 1 s here, and
#                   lose 5 slots each time. (No phase check: dcheck matches a
#                   probe to its nearest slot, so with 200 ms slots a busy
#                   machine's 100 ms delay reads as off grid.)
#   good-follows    the first SYN to the new address comes within
#                   resolve_interval (+ one interval) of the change, and
#                   none to the old one after that
#   flaky-keeps     SYNs to its last address go on after its DNS died, and
#                   `ctl show` has the address, resolved_at and the error
#   dead-error      `ctl show` for dead has an error, no address,
#                   a resolve_error, and its slots recorded as error
# Prints PASS/FAIL lines. Packets stay inside the lab's namespaces.
# checks: 13
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh

RI=2       # resolve_interval, s
IV=0.2     # probe interval, s
RUN=10     # seconds the schedule runs
TC=4       # the DNS change, s after start

dl_init dns
NETNS_ETC=/etc/netns/$LAB_CNS
dns_cleanup() { rm -rf "$NETNS_ETC"; dl_cleanup; }
trap dns_cleanup EXIT

ZONE=$DL_T/zone.json
zone() { # good-address flaky-dead(0/1)
	local dead='"dead.lab"'
	[ "$2" = 1 ] && dead='"dead.lab", "flaky.lab"'
	printf '{"a": {"good.lab": "%s", "flaky.lab": "198.19.3.1"}, "dead": [%s]}\n' "$1" "$dead" >"$ZONE.tmp"
	mv "$ZONE.tmp" "$ZONE"
}
zone 198.19.2.1 0
lab_sbg "$DL_PY" tests/lab/dns.py --listen "$LAB_S4" --zone "$ZONE" --log "$DL_T/dns.log" \
	>"$DL_T/dns.out" 2>&1
DL_PIDS+=("$LAB_BG_PID")
for _ in $(seq 1 100); do grep -q ready "$DL_T/dns.out" && break; sleep 0.05; done
grep -q ready "$DL_T/dns.out" || { fail dns-server "$(cat "$DL_T/dns.out")"; exit 1; }
mkdir -p "$NETNS_ETC"
printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$LAB_S4" >"$NETNS_ETC/resolv.conf"
if lab_cexec getent ahostsv4 good.lab | grep -q 198.19.2.1; then pass dns-server
else fail dns-server "good.lab does not resolve in the client namespace"; exit 1; fi

CONF=$DL_T/tcpprobe.conf
{
	dl_conf_daemon resolve_interval=${RI}s
	printf '[defaults]\ninterval = 200ms\ntimeout = 1s\nport = 8080\nkind = syn\nfamily = ipv4\n\n'
	printf '[target a4]\nhost = 198.19.1.1\n\n'
	printf '[target a6]\nhost = fd00:19::1:2\nfamily = any\n\n'
	printf '[target good]\nhost = good.lab\n\n'
	printf '[target flaky]\nhost = flaky.lab\n\n'
	printf '[target dead]\nhost = dead.lab\n\n'
} >"$CONF"

CAPF="tcp[tcpflags] & tcp-syn != 0 or (ip6 and tcp)"
lab_capture_start "$DL_T/dns.pcap" "$CAPF" || { fail capture "tcpdump"; exit 1; }
t0=$(date +%s.%N)
if ! dl_start "$CONF"; then fail start "daemon did not start"; exit 1; fi
t0r=$(date +%s.%N)
pass start

# ctl status every 100 ms until the end, each on a new connection, timed.
dctl latency "$RUN" status >"$DL_T/lat.out" 2>&1 &
lpid=$!
DL_PIDS+=("$lpid")

sleep "$TC"
zone 198.19.2.2 1
tc=$(date +%s.%N) # dns.py reads the zone again at its next query
sleep $((RUN - TC))
ctl pause --all >/dev/null
t1=$(date +%s.%N)
for _ in $(seq 1 50); do
	ctl --json status | jpy 'd["inflight"] + d["queued"]' | grep -qx 0 && break
	sleep 0.1
done
wait "$lpid"
dctl snapshot "$DL_T/snap.json" || { fail snapshot "dctl snapshot failed"; exit 1; }
ctl --json show flaky >"$DL_T/flaky.json"
ctl --json show dead >"$DL_T/dead.json"
ctl --json show good >"$DL_T/good.json"
lab_capture_stop "$DL_T/dns.pcap"

lat=$(cat "$DL_T/lat.out")
note "ctl status while running: $lat"
read -r n lf lmax < <(echo "$lat" | sed -n 's/^n=\([0-9]*\) failed=\([0-9]*\) .*max_ms=\([0-9]*\)$/\1 \2 \3/p')
if [ -n "${n:-}" ] && [ "$n" -ge $((RUN * 5)) ] && [ "$lf" = 0 ] && [ "$lmax" -le 200 ]; then
	pass status-latency
else fail status-latency "$lat"; fi

out=$("$DL_PY" tests/lab/dcheck.py schedule "$DL_T/snap.json" "$DL_T/dns.pcap" --t0 "$t0" \
	--t0-ready "$t0r" --t1 "$t1" --only a --targets 2 2>&1)
echo "$out" | sed 's/^/  /'
for k in count; do
	l=$(echo "$out" | grep -E "^(ok|bad) $k:")
	case $l in
	ok*) pass "schedule-$k" ;;
	*) fail "schedule-$k" "${l:-no output: $(echo "$out" | tail -3)}" ;;
	esac
done

# SYN times per destination address from the capture (first SYNs only:
# the lab answers on 8080, so there are no retransmissions).
tshark -r "$DL_T/dns.pcap" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' -T fields \
	-e frame.time_epoch -e ip.dst 2>/dev/null >"$DL_T/syns.txt"
nsyn=$(wc -l <"$DL_T/syns.txt")
note "capture: $nsyn SYNs; DNS queries: $(wc -l <"$DL_T/dns.log")"
"$DL_PY" - "$DL_T/syns.txt" "$tc" "$t1" "$RI" "$IV" "$DL_T/flaky.json" "$DL_T/dead.json" \
	"$DL_T/good.json" >"$DL_T/judge.out" <<'EOF'
import json, sys
syns = [(float(t), a) for t, a in (l.split() for l in open(sys.argv[1]) if len(l.split()) == 2)]
tc, t1, ri, iv = map(float, sys.argv[2:6])
flaky, dead, good = (json.loads(open(p).readline())["target"] for p in sys.argv[6:9])
new = [t for t, a in syns if a == "198.19.2.2"]
old_after = [t for t, a in syns if a == "198.19.2.1" and new and t > new[0]]
if new and new[0] - tc <= ri + iv + 0.1 and not old_after:
    print("ok good-follows: first SYN to the new address %.2f s after the change "
          "(resolve_interval %.0f s)" % (new[0] - tc, ri))
else:
    print("bad good-follows: new address first at %s, %d SYNs to the old one after" %
          ("%.2f s" % (new[0] - tc) if new else "never", len(old_after)))
fl = [t for t, a in syns if a == "198.19.3.1"]
late = [t for t in fl if t > tc + ri + 2]
want = int((t1 - (tc + ri + 2)) / iv)  # whole slots in the window, give or take one
# (every target is paused at the end: state says paused, error says why not ok)
if len(late) >= want - 1 and flaky.get("address") == "198.19.3.1" and flaky.get("resolve_error") \
        and flaky.get("resolved_at") and flaky["resolved_at"] < tc + 0.2 and not flaky.get("error"):
    print("ok flaky-keeps: %d SYNs to its last address after its DNS died (%.0f slots); "
          "resolve_error %r" % (len(late), want, flaky["resolve_error"]))
else:
    print("bad flaky-keeps: %d SYNs after (want ~%.0f); change at %.3f; show %s" % (len(late), want, tc,
          {k: flaky.get(k) for k in ("address", "error", "resolved_at", "resolve_error")}))
if dead.get("error") and not dead.get("address") and dead.get("resolve_error") \
        and not dead.get("resolved_at") and dead.get("results", {}).get("error", 0) > 0:
    print("ok dead-error: %s" % dead["resolve_error"])
else:
    print("bad dead-error: %s" % {k: dead.get(k) for k in ("address", "error", "resolve_error", "results")})
if good.get("resolved_at") and t1 - good["resolved_at"] <= ri + 1 and good.get("address") == "198.19.2.2":
    print("ok good-show: address %s resolved %.1f s before the end" % (good["address"], t1 - good["resolved_at"]))
else:
    print("bad good-show: %s" % {k: good.get(k) for k in ("address", "resolved_at", "resolve_error")})
EOF
sed 's/^/  /' "$DL_T/judge.out"
# The capture itself first: started, stopped cleanly, nothing dropped.
if ! why=$(lab_capture_ok "$DL_T/dns.pcap"); then fail capture-holds "$why"
elif [ "$nsyn" -lt $((RUN * 10)) ]; then fail capture-holds "only $nsyn SYNs in the capture"
else pass capture-holds; fi
for k in good-follows flaky-keeps dead-error good-show; do
	l=$(grep -E "^(ok|bad) $k:" "$DL_T/judge.out")
	case $l in ok*) pass "$k" ;; *) fail "$k" "${l:-no verdict}" ;; esac
done

# One-shot probes and ctl add take names too, looked up off the loop.
p=$(ctl --json probe good.lab:8080 kind=syn 2>&1 | jpy 'd["result"]["address"] + " " + d["result"]["result"]' 2>&1)
if [ "$p" = "198.19.2.2 ok" ]; then pass probe-name
else fail probe-name "ctl probe good.lab: $p"; fi
# (the lookup fails after timeout:1 attempts:2; status is timed meanwhile)
dctl latency 2 status >"$DL_T/lat2.out" 2>&1 &
lpid=$!
ctl probe dead.lab:8080 kind=syn >"$DL_T/pdead.out" 2>&1; prc=$?
wait "$lpid"
lmax=$(sed -n 's/.*max_ms=\([0-9]*\)$/\1/p' "$DL_T/lat2.out")
if [ "$prc" = 1 ] && grep -q "cannot resolve 'dead.lab'" "$DL_T/pdead.out" && [ "${lmax:-999}" -le 200 ]; then
	pass probe-dead-name
else fail probe-dead-name "exit $prc: $(head -c 200 "$DL_T/pdead.out"); status meanwhile: $(cat "$DL_T/lat2.out")"; fi
if ctl add added good.lab:8080 kind=syn >/dev/null 2>&1 &&
	for _ in $(seq 1 20); do ctl --json show added | jpy 'd["target"]["address"]' | grep -qx 198.19.2.2 && break; sleep 0.1; done &&
	ctl --json show added | jpy 'd["target"]["address"]' | grep -qx 198.19.2.2; then
	pass add-name
else fail add-name "$(ctl --json show added 2>&1 | head -c 300)"; fi

dl_stop TERM
if [ "$DL_RC" = 0 ] && [ "$DL_STOP_MS" -le 2000 ]; then pass stop
else fail stop "exit $DL_RC after $DL_STOP_MS ms"; fi
dl_done
