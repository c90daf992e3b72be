#!/usr/bin/env bash
# Service discovery, labels and sharding (issue "Fleet scale") against the lab:
#  a. [discovery lab] files = DIR/*.json DIR/*.yml: the targets of a file_sd
#     file are probed (on the wire) within 5 s of start; a file written later
#     is probed within 5 s without a reload; removing it removes its targets;
#     a YAML file works the same; a malformed file or a bad group keeps the
#     last good list (still probed), the error (file, group index) shows in
#     `ctl status` (probing judged on the wire: the first SYN, SYNs after a
#     malformed write, none after a removal);
#     an unchanged target keeps its counters across refreshes
#  b. labels: the group's labels (and a static target's `labels =`) on every
#     per-target series of /metrics, escaped; promtool accepts the page;
#     `ctl targets --labels`, `ctl show`, `ctl watch` JSON carry them;
#     __tcpprobe_kind sets the kind (SYN then RST on the wire)
#  c. shard = 0/3, 1/3, 2/3: three daemons over one file of 3,000 targets
#     keep disjoint sets that together cover the file
# Prints PASS/FAIL/SKIP lines. Every daemon runs in the lab's client namespace.
# checks: 20
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
dl_init discovery

SD=$DL_T/sd
mkdir -p "$SD"
MPORT=9111
O4="$LAB_S4:$LAB_PORT_OPEN" C4="$LAB_S4:$LAB_PORT_CLOSED" O6="[$LAB_S6]:$LAB_PORT_OPEN"
Y4="$LAB_S4:$LAB_PORT_BANNER"

# wait_until SECONDS CMD...: poll every 0.1 s; 0 as soon as CMD succeeds.
# Write a file atomically (as a generator should): temp name, then rename.
put() { printf '%s\n' "$2" >"$SD/.tmp.$$" && mv "$SD/.tmp.$$" "$SD/$1"; }

# ---- a. file_sd ---------------------------------------------------------------------
put a.json "[{\"targets\": [\"$O4\", \"$O6\"],
  \"labels\": {\"team\": \"net\", \"env\": \"a \\\"b\\\" \\\\ c\", \"__meta_x\": \"hidden\",
              \"__tcpprobe_kind\": \"syn\"}}]"
{
	dl_conf_daemon metrics_listen=127.0.0.1:$MPORT source_ports=21000-21999
	dl_conf_defaults
	cat <<EOF

[discovery lab]
files = $SD/*.json $SD/*.yml
refresh = 1m

[target static-1]
; a port of its own: the wire checks tell targets apart by address and port
host = $LAB_S4
port = 9001
labels = team=core, site=lab
EOF
} >"$DL_T/d.conf"
syn_ms() { dl_syn_ms "$DL_T/a.pcap" "$@"; } # T0 HOST PORT
# within5 T0 HOST PORT: its first SYN came within 5 s of T0 (judged on the wire)
within5() { local m; m=$(syn_ms "$@"); [ -n "$m" ] && [ "$m" -le 5000 ]; }
# syn_after T0 HOST PORT: a SYN to HOST:PORT after T0 is in the capture
syn_after() { [ -n "$(syn_ms "$@")" ]; }
lab_capture_start "$DL_T/a.pcap" "tcp" || { fail capture "tcpdump did not start"; exit 1; }
t0=$(date +%s%N)
dl_start "$DL_T/d.conf" || { fail start "daemon did not start"; exit 1; }
wait_until 8 probed "$O4"
wait_until 8 probed "$O6"
m4=$(syn_ms "$t0" "$LAB_S4" "$LAB_PORT_OPEN") m6=$(syn_ms "$t0" "$LAB_S6" "$LAB_PORT_OPEN")
if within5 "$t0" "$LAB_S4" "$LAB_PORT_OPEN" && within5 "$t0" "$LAB_S6" "$LAB_PORT_OPEN"; then
	pass file-probed-at-start
	note "first file's targets: first SYN on the wire ${m4} ms and ${m6} ms after start"
else fail file-probed-at-start "first SYNs ${m4:-none} ms and ${m6:-none} ms after start (want <= 5000): $(tj | head -c 400)"; fi

put b.json "[{\"targets\": [\"$C4\"], \"labels\": {\"team\": \"web\"}}]"
t0=$(date +%s%N)
wait_until 8 probed "$C4"
m=$(syn_ms "$t0" "$LAB_S4" "$LAB_PORT_CLOSED")
if within5 "$t0" "$LAB_S4" "$LAB_PORT_CLOSED"; then
	pass second-file-probed
	note "second file's target: first SYN on the wire ${m} ms after the write"
else fail second-file-probed "first SYN ${m:-none} ms after the write (want <= 5000): $(tj | head -c 400)"; fi

before=$(probes "$O4")
rm -f "$SD/b.json"
# Removed: gone from the registry, and no SYN to it after that (the wire).
if wait_until 5 absent "$C4"; then
	t_gone=$(date +%s%N)
	sleep 1.5 # three of its 500 ms intervals
	if syn_after "$t_gone" "$LAB_S4" "$LAB_PORT_CLOSED"; then
		fail file-removed-targets-removed "still probed on the wire after its file was removed"
	else pass file-removed-targets-removed; fi
else fail file-removed-targets-removed "$(tj | head -c 600)"; fi
after=$(probes "$O4")
if [ "$after" -ge "$before" ] && [ "$before" -ge 1 ]; then pass unchanged-target-kept
else fail unchanged-target-kept "probes of $O4 went $before -> $after"; fi

put c.yml "- targets: ['$Y4']
  labels:
    team: yaml"
t_yaml=$(date +%s%N)
wait_until 8 probed "$Y4"
if within5 "$t_yaml" "$LAB_S4" "$LAB_PORT_BANNER"; then pass yaml-file-probed
else fail yaml-file-probed "first SYN $(syn_ms "$t_yaml" "$LAB_S4" "$LAB_PORT_BANNER") ms after the write (want <= 5000): $(tj | head -c 400)"; fi

# A malformed file: its last good list stays, the error is shown.
printf '[{"targets": ["%s"' "$O4" >"$SD/.tmp.$$" && mv "$SD/.tmp.$$" "$SD/a.json"
# Still probed after the error shows: SYNs on the wire after it.
if wait_until 5 status_has "a.json: line" && t_bad=$(date +%s%N) &&
	wait_until 3 syn_after "$t_bad" "$LAB_S4" "$LAB_PORT_OPEN" &&
	wait_until 3 syn_after "$t_bad" "$LAB_S6" "$LAB_PORT_OPEN" && probed "$Y4"; then
	pass malformed-keeps-last-good
else fail malformed-keeps-last-good "$(ctl status | tail -n 4; tj | head -c 400)"; fi
# A bad group (index 1): the same, with the group's index.
put c.yml "- targets: ['$Y4']
- targets: ['no such:host:1']"
if wait_until 5 status_has "c.yml: group 1: " && probed "$Y4"; then pass bad-group-named
else fail bad-group-named "$(ctl status | tail -n 4)"; fi
if ctl status | grep -q "discovery lab:.*failing"; then pass status-shows-discovery
else fail status-shows-discovery "$(ctl status)"; fi
# Fix both again for what follows.
put a.json "[{\"targets\": [\"$O4\", \"$O6\"],
  \"labels\": {\"team\": \"net\", \"env\": \"a \\\"b\\\" \\\\ c\", \"__meta_x\": \"hidden\",
              \"__tcpprobe_kind\": \"syn\"}}]"
put c.yml "- targets: ['$Y4']
  labels: {team: yaml}"
if wait_until 5 dl_disc_clear; then
	pass errors-clear
else fail errors-clear "$(ctl status | tail -n 4)"; fi
# A YAML file removed: the same as a JSON one.
rm -f "$SD/c.yml"
if wait_until 5 absent "$Y4"; then
	t_gone=$(date +%s%N)
	sleep 1.5
	if syn_after "$t_gone" "$LAB_S4" "$LAB_PORT_BANNER"; then
		fail yaml-file-removed "still probed on the wire after its file was removed"
	else pass yaml-file-removed; fi
else fail yaml-file-removed "$(tj | head -c 400)"; fi

# ---- b. labels ----------------------------------------------------------------------
lab_cexec curl --noproxy '*' -sS --max-time 10 -o "$DL_T/metrics" "http://127.0.0.1:$MPORT/metrics"
want="tcpprobe_probes_total{target=\"$O4\",env=\"a \\\"b\\\" \\\\ c\",team=\"net\",kind=\"syn\",result=\"ok\"}"
if grep -qF "$want" "$DL_T/metrics"; then pass metrics-group-labels
else fail metrics-group-labels "no '$want' in $(grep "tcpprobe_probes_total{target=\"$O4\"" "$DL_T/metrics" | head -3)"; fi
# Every per-target series of a labelled target has them; __ labels never.
bad=$(grep -F "target=\"$O4\"" "$DL_T/metrics" | grep -vF 'team="net"' | head -3)
if [ -z "$bad" ] && grep -qF "target=\"$O4\"" "$DL_T/metrics" &&
	! grep -q '__meta_x\|__tcpprobe\|hidden' "$DL_T/metrics" &&
	grep -qF 'tcpprobe_handshake_duration_seconds_bucket{target="static-1",site="lab",team="core",le=' "$DL_T/metrics"; then
	pass metrics-labels-every-series
else fail metrics-labels-every-series "unlabelled: $bad"; fi
if out=$(promtool check metrics <"$DL_T/metrics" 2>&1); then pass promtool-accepts
else fail promtool-accepts "$(echo "$out" | head -5)"; fi

if ctl targets --labels | grep -F "$O4" | grep -qF 'env=a "b" \ c,team=net' &&
	ctl targets --labels | head -1 | grep -q 'LABELS$' && ! ctl targets | head -1 | grep -q LABELS; then
	pass ctl-targets-labels
else fail ctl-targets-labels "$(ctl targets --labels | head -4)"; fi
if ctl show "$O4" | grep -q '^  labels: *env=a "b" \\ c,team=net$' &&
	ctl --json show "$O4" | grep -qF '"labels":{"env":"a \"b\" \\ c","team":"net"}'; then
	pass ctl-show-labels
else fail ctl-show-labels "$(ctl show "$O4" | head -4)"; fi
timeout -k 5 3 "$DL_BIN" ctl -s "$DL_SOCK" --json watch >"$DL_T/watch" 2>/dev/null
if grep -F "\"target\":\"$O4\"" "$DL_T/watch" | grep -qF '"labels":{"env":"a \"b\" \\ c","team":"net"}'; then
	pass watch-json-labels
else fail watch-json-labels "$(head -c 400 "$DL_T/watch")"; fi

lab_capture_stop "$DL_T/a.pcap"
if ! why=$(lab_capture_ok "$DL_T/a.pcap" 3 " S "); then fail capture "$why"; fi
# __tcpprobe_kind = syn: the discovered target's conversations are S, S., R.
# (only the discovered targets use this port; told apart by address).
flags=$("$DL_PY" tests/lab/wire.py flags "$DL_T/a.pcap" --port "$LAB_PORT_OPEN" --tuple 2>/dev/null |
	grep -F ">$LAB_S6.$LAB_PORT_OPEN: " | sed 's/^.*: //' | sort | uniq -c | sort -rn | head -3)
# At least 3 conversations, every one S S. R.
if [ -n "$flags" ] && [ "$(echo "$flags" | wc -l)" = 1 ] &&
	echo "$flags" | grep -Eq '^ *([3-9]|[1-9][0-9]+) S S\. R\.$'; then
	pass wire-tcpprobe-kind-syn
else fail wire-tcpprobe-kind-syn "conversations with [$LAB_S6]:$LAB_PORT_OPEN: $flags"; fi
dl_stop
if [ "$DL_RC" = 0 ]; then pass stop; else fail stop "exit $DL_RC"; fi

# ---- c. shards ----------------------------------------------------------------------
"$DL_PY" - "$LAB_S4" >"$DL_T/all.json" <<'EOF'
import json, sys
print(json.dumps([{"targets": ["%s:%d" % (sys.argv[1], p) for p in range(1, 3001)],
                   "labels": {"team": "shard"}}]))
EOF
mkdir -p "$DL_T/shard"
cp "$DL_T/all.json" "$DL_T/shard/all.json"
for i in 0 1 2; do
	{
		dl_conf_daemon control_socket="$DL_T/s$i.sock" rst_guard=none \
			source_ports=$((22000 + i * 1000))-$((22999 + i * 1000)) shard=$i/3
		cat <<EOF
[defaults]
interval = 1h

[discovery all]
files = $DL_T/shard/*.json
EOF
	} >"$DL_T/s$i.conf"
	dl_spawn "$DL_T/s$i.sock" "$DL_T/s$i.conf" "$DL_T/s$i.log" 2>/dev/null ||
		fail shard-start "daemon $i: $(tail -3 "$DL_T/s$i.log")"
done
for i in 0 1 2; do
	DL_SOCK=$DL_T/s$i.sock ctl --json targets >"$DL_T/t$i.json"
	DL_SOCK=$DL_T/s$i.sock ctl --json status >"$DL_T/st$i.json"
done
res=$("$DL_PY" - "$DL_T" <<'EOF'
import json, sys
d = sys.argv[1]
want = {t for g in json.load(open(d + "/all.json")) for t in g["targets"]}
sets, skipped, shards = [], [], []
for i in range(3):
    sets.append({t["name"] for t in json.loads(open("%s/t%d.json" % (d, i)).readline())["targets"]})
    st = json.loads(open("%s/st%d.json" % (d, i)).readline())
    skipped.append(st["shard_skipped"]); shards.append(st["shard"])
union = set().union(*sets)
disjoint = sum(len(s) for s in sets) == len(union)
ok = disjoint and union == want and all(sk == 3000 - len(s) for sk, s in zip(skipped, sets)) \
    and shards == ["0/3", "1/3", "2/3"] and all(800 < len(s) < 1200 for s in sets)
print("ok" if ok else "bad", [len(s) for s in sets], skipped, shards, disjoint, union == want)
EOF
)
if [ "${res%% *}" = ok ]; then pass shards-disjoint-cover; note "shards: $res"
else fail shards-disjoint-cover "$res"; fi
if timeout 5 "$DL_BIN" ctl -s "$DL_T/s1.sock" status | grep -q '^shard: *1/3 ([0-9,]* targets left to other shards)'; then
	pass shard-status
else fail shard-status "$(timeout 5 "$DL_BIN" ctl -s "$DL_T/s1.sock" status | tail -3)"; fi

dl_done
