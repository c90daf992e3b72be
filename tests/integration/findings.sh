#!/usr/bin/env bash
# Middlebox findings (issue 16), ground truth from Linux's own middleboxes in
# the lab, judged against the capture:
#  - nftables synproxy in front of a listener: syn-proxy, with the backend
#    connect time (our ACK -> the window update) equal to the capture's
#    within 1 us; in front of a closed port: result reset, the finding names
#    the proxy and the backend's refusal;
#  - a plain Linux listener, 1,000 probes over IPv4 and IPv6 with and
#    without timestamps/SACK/wscale offered: zero findings;
#  - nftables `reset tcp option` on the SYN/ACK: options-stripped naming
#    exactly those options; `tcp option maxseg size set`: mss-clamped;
#  - ECN (--ecn: an ECN-setup SYN): server tcp_ecn 1 -> ecn-negotiated, 0 ->
#    ecn-refused; a rule that clears the ECN field of the peer's data ->
#    ecn-bleached (the capture shows the data ECT(0), then not-ECT);
#  - the opt-in SYN/ACK retransmission check: tcp_syncookies = 2 on the
#    server -> syn-cookies (one SYN/ACK on the wire); a normal listener
#    retransmits its SYN/ACK (two on the wire) -> none;
#  - the daemon: ctl show and /metrics carry the findings; switching the
#    listener's stack (tcp_timestamps off in the server ns) counts one
#    fingerprint change and logs it once;
#  - findings that take two targets: stateful-firewall (a closed port behind
#    `ct state invalid drop`: FIN silent, SYN refused; without the rule
#    none), and mss-clamped by the same MSS over IPv4 and IPv6 of one host.
# checks: 18
set -u
cd "$(dirname "$0")/../.."
source tests/lab/lab.sh
source tests/lab/daemon_lib.sh
dl_init findings
PY=$DL_PY
T=$DL_T

# probe NAME ARGS...: `tcpprobe probe ARGS` under a capture (daemon_lib's
# dl_probe): $T/NAME.out, .err, .rc, .pcap, .cap.
probe() { local name=$1; shift; dl_probe "$name" tcp 120 "$@"; }
rc() { dl_rc "$1"; }
capok() { dl_capok "$1"; }
why() { echo "$(cat "$T/$1.cap") rc=$(rc "$1") out: $(tr '\n' '|' <"$T/$1.out" | tail -c 600) err: $(head -c 300 "$T/$1.err")"; }
dump() { "$PY" tests/lab/wire.py dump "$T/$1.pcap"; }

S=$LAB_S4 S6=$LAB_S6
P_PROXY=$((LAB_PORT_EXTRA_LO + 1))   # a listener behind the proxy
P_REFUSED=8090                       # nothing listens behind the proxy
P_PLAIN=$LAB_PORT_EXTRA_LO           # a plain listener
P_STRIP=$((LAB_PORT_EXTRA_LO + 3))   # SACK-permitted and timestamps NOPed
P_STRIPTS=$((LAB_PORT_EXTRA_LO + 4)) # timestamps NOPed
P_CLAMP=$((LAB_PORT_EXTRA_LO + 5))   # MSS clamped to 1400

# ---- no false alarms: a plain Linux listener ---------------------------------
# 1,000 handshakes: IPv4 and IPv6, with every option, without SACK, without
# timestamps, without wscale, with none of them (125 each).
i=0 bad=""
for fam in "$S" "[$S6]"; do
	for opts in "" "--no-sack" "--no-timestamps" "--wscale off" "--no-sack --no-timestamps --wscale off"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		probe plain$i --json -c 100 -i 0.002 --time-wait 0.1 $opts "$fam:$P_PLAIN"
		capok plain$i || bad="$bad plain$i: $(why plain$i)"
	done
done
# 10 runs x 100 = 1,000 probes; every one ok, a fingerprint, no finding.
summary=$(cat "$T"/plain*.out | "$PY" -c '
import json, sys
n = ok = fp = found = 0
for l in sys.stdin:
    d = json.loads(l); n += 1
    ok += d["result"] == "ok"; fp += d["fingerprint"] is not None; found += len(d["findings"])
print(n, ok, fp, found)')
if [ -z "$bad" ] && [ "$summary" = "1000 1000 1000 0" ]; then
	pass no-false-alarms
else fail no-false-alarms "probes ok fingerprints findings: $summary;$bad"; fi

# ---- nftables rules that rewrite the SYN/ACK's options -------------------------
if lab_sexec nft -f - <<NFT
table inet findings_opts {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp sport $P_STRIP tcp flags & (syn | ack) == syn | ack reset tcp option sack-perm reset tcp option timestamp
		tcp sport $P_STRIPTS tcp flags & (syn | ack) == syn | ack reset tcp option timestamp
		tcp sport $P_CLAMP tcp flags & (syn | ack) == syn | ack tcp option maxseg size set 1400
	}
}
NFT
then :; else fail options-lab "nftables option rules could not be loaded"; fi

# options-stripped: the capture shows the SYN/ACK without the options and
# with NOPs in their place; the finding names exactly those.
probe strip --json -c 3 -i 0.01 --time-wait 0.1 "$S:$P_STRIP" "[$S6]:$P_STRIP"
probe stripts --json -c 3 -i 0.01 --time-wait 0.1 "$S:$P_STRIPTS"
# The SYN/ACKs on the wire: options as wire.py prints them, with counts.
wire_strip=$(dump strip | awk -v p="$P_STRIP" '$7 == "S." && $4 == p { print $12 }' | sed 's/ws[0-9]*$/wsN/' | sort | uniq -c | tr '\n' ' ' | tr -s ' ')
wire_stripts=$(dump stripts | awk -v p="$P_STRIPTS" '$7 == "S." && $4 == p { print $12 }' | sed 's/ws[0-9]*$/wsN/' | sort | uniq -c | tr '\n' ' ' | tr -s ' ')
nop13=mss1460$(printf ',nop%.0s' $(seq 13)),wsN
nop11=mss1460,sackOK$(printf ',nop%.0s' $(seq 11)),wsN
v=$(cat "$T/strip.out" | "$PY" -c '
import json, sys
ok = 0
for l in sys.stdin:
    d = json.loads(l)
    f = [x for x in d["findings"]]
    ok += d["result"] == "ok" and len(f) == 1 and f[0]["name"] == "options-stripped" and f[0]["options"] == ["sack", "timestamps"] and not d["peer"]["sack"] and not d["peer"]["timestamps"]
print(ok)')
vts=$(cat "$T/stripts.out" | "$PY" -c '
import json, sys
ok = 0
for l in sys.stdin:
    d = json.loads(l)
    f = d["findings"]
    ok += d["result"] == "ok" and len(f) == 1 and f[0]["name"] == "options-stripped" and f[0]["options"] == ["timestamps"]
print(ok)')
# wire.py prints a SYN/ACK's options as a list; the stripped ones are nop runs
if capok strip && capok stripts && [ "$v" = 6 ] && [ "$vts" = 3 ] &&
   [ "$wire_strip" = " 3 ${nop13/1460/1440} 3 $nop13 " ] && [ "$wire_stripts" = " 3 $nop11 " ]; then
	pass options-stripped
else fail options-stripped "json ok $v/6 $vts/3; wire SYN/ACK options: $wire_strip / $wire_stripts; $(why strip) $(why stripts)"; fi

probe clamp --json -c 3 -i 0.01 --time-wait 0.1 "$S:$P_CLAMP" "[$S6]:$P_CLAMP"
# The expected value is configurable (expect_mss): 1400 expected, no finding.
probe clamp-exp --json --expect-mss 1400 -c 2 -i 0.01 --time-wait 0.1 "$S:$P_CLAMP"
wire_mss=$(dump clamp | awk -v p="$P_CLAMP" '$7 == "S." && $4 == p { print $12 }' | grep -o 'mss[ =:]*[0-9]*' | sort -u | tr '\n' ' ')
v=$(cat "$T/clamp.out" | "$PY" -c '
import json, sys
ok = 0
for l in sys.stdin:
    d = json.loads(l)
    f = d["findings"]
    exp = 1440 if ":" in d["address"] else 1460
    ok += d["result"] == "ok" and len(f) == 1 and f[0]["name"] == "mss-clamped" and f[0]["mss"] == 1400 and f[0]["expected"] == exp and d["peer"]["mss"] == 1400
print(ok)')
v_exp=$("$PY" -c '
import json, sys
print(sum(json.loads(l)["result"] == "ok" and json.loads(l)["findings"] == [] and json.loads(l)["peer"]["mss"] == 1400 for l in open(sys.argv[1])))' "$T/clamp-exp.out")
if capok clamp && [ "$v" = 6 ] && echo "$wire_mss" | grep -q '1400' && ! echo "$wire_mss" | grep -qE '14[46]0' &&
   capok clamp-exp && [ "$v_exp" = 2 ]; then
	pass mss-clamped
else fail mss-clamped "json ok $v/6, with expect_mss 1400 $v_exp/2 without a finding; wire SYN/ACK mss: $wire_mss; $(why clamp "$P_CLAMP")"; fi

# ---- ECN --------------------------------------------------------------------------
# jfind NAME: per probe "result finding,finding,..." (sorted)
jfind() { "$PY" -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print(d["result"], ",".join(sorted(f["name"] for f in d["findings"])) or "-")' "$T/$1.out" | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
# synacks NAME PORT: the flags of the SYNs and SYN/ACKs on the wire, with counts
synflags() { dump "$1" | awk -v p="$2" '($4 == p || $6 == p) && $7 ~ /^S/ { print $2 $7 }' | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
# dataecn NAME PORT: the IP ECN field of the peer's data segments, with counts
dataecn() { tcpdump -nr "$T/$1.pcap" -v "src port $2" 2>/dev/null | "$PY" -c '
import re, sys
# tcpdump -v: the IP header (tos / class, absent when 0 for IPv6), then the
# TCP part with "Flags [P.]" for data: on the next line (IPv4) or the same (IPv6).
ecn = None
for l in sys.stdin:
    if re.match(r"\S+ IP6? ", l):
        m = re.search(r"(?:tos|class) 0x([0-9a-f]+)", l)
        ecn = int(m.group(1), 16) & 3 if m else 0
    if "Flags [P" in l and ecn is not None:
        print(ecn)' | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
ecn_was=$(lab_sexec sysctl -n net.ipv4.tcp_ecn)
lab_sexec sysctl -qw net.ipv4.tcp_ecn=1
probe ecn1 --json --ecn -c 2 -i 0.01 --time-wait 0.1 "$S:$P_PLAIN" "[$S6]:$P_PLAIN"
lab_sexec sysctl -qw net.ipv4.tcp_ecn=0
probe ecn0 --json --ecn -c 2 -i 0.01 --time-wait 0.1 "$S:$P_PLAIN" "[$S6]:$P_PLAIN"
if capok ecn1 && [ "$(jfind ecn1)" = " 4 ok ecn-negotiated;" ] &&
   [ "$(synflags ecn1 "$P_PLAIN")" = " 4 <S.E; 4 >SEW;" ]; then
	pass ecn-negotiated
else fail ecn-negotiated "findings: $(jfind ecn1) wire: $(synflags ecn1 "$P_PLAIN") $(why ecn1)"; fi
if capok ecn0 && [ "$(jfind ecn0)" = " 4 ok ecn-refused;" ] &&
   [ "$(synflags ecn0 "$P_PLAIN")" = " 4 <S.; 4 >SEW;" ]; then
	pass ecn-refused
else fail ecn-refused "findings: $(jfind ecn0) wire: $(synflags ecn0 "$P_PLAIN") $(why ecn0)"; fi
# The banner server sends data: ECT(0) as negotiated, then not-ECT once a
# rule in the server's namespace clears the ECN field on the way out.
B=$LAB_PORT_BANNER
lab_sexec sysctl -qw net.ipv4.tcp_ecn=1
probe ecnb --json --ecn -c 2 -i 0.01 --time-wait 0.1 "$S:$B" "[$S6]:$B"
lab_sexec nft -f - <<NFT || fail ecn-bleached "the bleaching rule could not be loaded"
table inet findings_bleach {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp sport $B ip ecn set not-ect
		tcp sport $B ip6 ecn set not-ect
	}
}
NFT
probe ecnx --json --ecn -c 2 -i 0.01 --time-wait 0.1 "$S:$B" "[$S6]:$B"
lab_sexec nft delete table inet findings_bleach
lab_sexec sysctl -qw net.ipv4.tcp_ecn="$ecn_was"
if capok ecnb && capok ecnx && [ "$(jfind ecnb)" = " 4 ok ecn-negotiated;" ] &&
   [ "$(jfind ecnx)" = " 4 ok ecn-bleached,ecn-negotiated;" ] &&
   [ "$(dataecn ecnb "$B")" = " 4 2;" ] && [ "$(dataecn ecnx "$B")" = " 4 0;" ]; then
	pass ecn-bleached
else fail ecn-bleached "findings: $(jfind ecnb) / $(jfind ecnx) wire ECN of the data: $(dataecn ecnb "$B") / $(dataecn ecnx "$B") $(why ecnx)"; fi

# ---- syn-cookies: the opt-in SYN/ACK retransmission check -------------------------
probe ck-normal --json -k syn --check-synack-retransmit -c 2 -i 0.01 "$S:$P_PLAIN" "[$S6]:$P_PLAIN"
cookies_was=$(lab_sexec sysctl -n net.ipv4.tcp_syncookies)
lab_sexec sysctl -qw net.ipv4.tcp_syncookies=2
probe ck-cookie --json -k syn --check-synack-retransmit -c 2 -i 0.01 "$S:$P_PLAIN" "[$S6]:$P_PLAIN"
lab_sexec sysctl -qw net.ipv4.tcp_syncookies="$cookies_was"
if capok ck-normal && [ "$(jfind ck-normal)" = " 4 ok -;" ] &&
   [ "$(synflags ck-normal "$P_PLAIN")" = " 8 <S.; 4 >S;" ]; then
	pass synack-check-stateful
else fail synack-check-stateful "findings: $(jfind ck-normal) wire: $(synflags ck-normal "$P_PLAIN") $(why ck-normal)"; fi
if capok ck-cookie && [ "$(jfind ck-cookie)" = " 4 ok syn-cookies;" ] &&
   [ "$(synflags ck-cookie "$P_PLAIN")" = " 4 <S.; 4 >S;" ]; then
	pass syn-cookies
else fail syn-cookies "findings: $(jfind ck-cookie) wire: $(synflags ck-cookie "$P_PLAIN") $(why ck-cookie)"; fi

# ---- nftables synproxy ----------------------------------------------------------
synproxy_up() {
	lab_sexec nft -f - <<NFT || return 1
table inet findings_synproxy {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp dport { $P_PROXY, $P_REFUSED } tcp flags syn notrack
	}
	chain in {
		type filter hook input priority filter; policy accept;
		tcp dport { $P_PROXY, $P_REFUSED } ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		tcp dport { $P_PROXY, $P_REFUSED } ct state invalid drop
	}
}
NFT
	lab_sexec sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 net.ipv4.tcp_syncookies=1 \
		net.ipv4.tcp_timestamps=1
}
if synproxy_up; then pass synproxy-lab
else fail synproxy-lab "nftables synproxy could not be set up in $LAB_SNS"; fi

# Behind the proxy a listener: the window update is the backend's accept.
# The capture's our-ACK -> window-update is the backend connect time.
probe proxy --json -c 10 -i 0.02 --time-wait 0.1 "$S:$P_PROXY"
dump proxy >"$T/proxy.dump"
cmp=$("$PY" - "$T/proxy.out" "$T/proxy.dump" "$P_PROXY" <<'EOF'
import json, sys
out, dumpf, port = sys.argv[1], sys.argv[2], sys.argv[3]
# dump: t_ns dir src sport dst dport flags seq ack win plen opts csum
wire = {}
for l in open(dumpf):
    f = l.split()
    t, d, sport, dport, fl, win = int(f[0]), f[1], f[3], f[5], f[6], f[9]
    cport = sport if d == ">" else dport
    if port not in (sport, dport):
        continue
    c = wire.setdefault(cport, {})
    if d == "<" and fl == "S." and "synack" not in c:
        c["synack"], c["win0"] = t, win == "0"
    elif d == ">" and fl == "." and "synack" in c and "ack" not in c:
        c["ack"] = t
    elif d == "<" and "ack" in c and "wupd" not in c and win not in ("0", "-") and "R" not in fl:
        c["wupd"] = t
n = good = 0
worst = 0.0
bad = []
for l in open(out):
    r = json.loads(l)
    n += 1
    c = wire.get(str(r["source_port"]), {})
    f = [x for x in r["findings"] if x["name"] == "syn-proxy"]
    if not (r["result"] == "ok" and len(r["findings"]) == 1 and f and c.get("win0") and "wupd" in c):
        bad.append("sport %s result %s findings %s wire %s" % (r["source_port"], r["result"], r["findings"], c))
        continue
    wire_us = (c["wupd"] - c["ack"]) / 1000.0
    err = abs(f[0]["backend_connect_us"] - wire_us)
    worst = max(worst, err)
    if err <= 1.0 and f[0]["ack_stamped"] and not f[0]["backend_refused"] and r["rtt_us"] > 0:
        good += 1
    else:
        bad.append("sport %s backend %.3f wire %.3f" % (r["source_port"], f[0]["backend_connect_us"], wire_us))
print("%d/%d worst=%.3f us %s" % (good, n, worst, "; ".join(bad[:3])))
EOF
)
if capok proxy && [ "${cmp%%/*}" = 10 ] && [ "$(echo "$cmp" | cut -d' ' -f1)" = 10/10 ]; then
	pass syn-proxy-backend-connect-time
else fail syn-proxy-backend-connect-time "$cmp; $(why proxy)"; fi
echo "  backend connect time vs capture: $cmp"

# Behind the proxy nothing listens: the backend's refusal arrives as an RST
# after the handshake: result reset (not ok), the finding names the proxy.
probe refused --json -c 3 -i 0.02 --time-wait 0.1 -t 0.3 -r 0 "$S:$P_REFUSED"
probe refused-text --trace -t 0.3 -r 0 "$S:$P_REFUSED"
v=$(cat "$T/refused.out" | "$PY" -c '
import json, sys
ok = 0
for l in sys.stdin:
    d = json.loads(l)
    f = d["findings"]
    ok += d["result"] == "reset" and len(f) == 1 and f[0]["name"] == "syn-proxy" and f[0]["backend_refused"] and f[0]["backend_connect_us"] is None and f[0]["backend_us"] > 0 and "backend refused behind the proxy" in f[0]["evidence"]
print(ok)')
n_rst=$(dump refused | awk -v p="$P_REFUSED" '$4 == p && $7 ~ /^R/' | wc -l)
if capok refused && [ "$v" = 3 ] && [ "$n_rst" = 3 ] && [ "$(rc refused)" = 1 ]; then
	pass syn-proxy-backend-refused
else fail syn-proxy-backend-refused "json ok $v/3 rsts on the wire $n_rst; $(why refused)"; fi
if grep -q ' reset .*findings=syn-proxy' "$T/refused-text.out" &&
   grep -q '^  finding syn-proxy: SYN/ACK window 0; RST .* us after our ACK: the backend refused behind the proxy$' "$T/refused-text.out" &&
   grep -q '^  fingerprint: win=0 ' "$T/refused-text.out"; then
	pass syn-proxy-trace-text
else fail syn-proxy-trace-text "$(why refused-text)"; fi

# ---- the daemon: ctl show, /metrics, fingerprint changes -----------------------
# The daemon's [defaults]: every 100 ms, quick.
conf_defaults() {
	dl_conf_daemon
	printf '[defaults]\ninterval = 100ms\ntimeout = 300ms\nretries = 0\ntime_wait = 100ms\n%s\n' "$*"
}
{
	conf_defaults
	cat <<CONF
[target plain]
host = $S
port = $P_PLAIN

[target proxy]
host = $S
port = $P_PROXY
CONF
} >"$T/d.conf"
ge() { [ "$(probes "$1")" -ge "$2" ]; }
lab_capture_start "$T/d.pcap" "tcp port $P_PLAIN" || fail daemon-capture "could not start"
if dl_start "$T/d.conf" "$T/d.log" && wait_until 30 ge plain 5 && wait_until 30 ge proxy 5; then
	ctl --json show proxy >"$T/show-proxy.json"
	ctl show proxy >"$T/show-proxy.txt"
	ctl --json show plain >"$T/show-plain1.json"
	ctl metrics >"$T/metrics1.txt"
	n0=$(probes plain)
	# Another stack answers: the listener's host switches timestamps off.
	lab_sexec sysctl -qw net.ipv4.tcp_timestamps=0
	wait_until 30 ge plain $((n0 + 10)) || true
	ctl pause --all >/dev/null
	wait_until 10 eval '[ "$(ctl --json status | jpy "d[\"inflight\"] + d[\"queued\"] + d[\"time_wait\"]")" = 0 ]' || true
	ctl --json show plain >"$T/show-plain2.json"
	ctl metrics >"$T/metrics2.txt"
	dl_stop
fi
lab_sexec sysctl -qw net.ipv4.tcp_timestamps=1
lab_capture_stop "$T/d.pcap"
v=$("$PY" -c '
import json, sys
p = json.load(open(sys.argv[1]))["target"]
f = p["findings"]
# The last probe decides the findings of the target; its backend connect time is
# null if that one probe saw no window update (once in many runs the lab
# synproxy did not open it), so the time is judged on any recent result.
rec = [x for r in p["recent"] for x in r["findings"] if x["name"] == "syn-proxy" and (x["backend_connect_us"] or 0) > 0]
print(len(f) == 1 and f[0]["name"] == "syn-proxy" and p["fingerprint"].startswith("win=0 ") and len(rec) >= 1)' "$T/show-proxy.json" 2>&1)
# ctl show's text: the target's lines, and each recent result's as --trace prints them.
if [ "$v" = True ] && grep -q '^  findings: *syn-proxy: SYN/ACK window 0' "$T/show-proxy.txt" &&
   grep -q '^  fingerprint: *win=0 ttl=64 df opts=mss,sok,ts,nop,ws .* (changed 0 times)$' "$T/show-proxy.txt" &&
   grep -q '^  finding syn-proxy: SYN/ACK window 0; window opened .* us after our ACK (backend connect time)$' "$T/show-proxy.txt"; then
	pass daemon-show-findings
else fail daemon-show-findings "json: $v; text: $(grep -E 'finding|fingerprint' "$T/show-proxy.txt" | tr '\n' '|')"; fi
m_proxy=$(grep -c '^tcpprobe_peer_finding{target="proxy",finding="syn-proxy"} 1$' "$T/metrics1.txt")
m_plain=$(grep -c '^tcpprobe_peer_finding{target="plain",finding="[a-z-]*"} 0$' "$T/metrics1.txt")
m_all=$(grep -c '^tcpprobe_peer_finding{' "$T/metrics1.txt")
if [ "$m_proxy" = 1 ] && [ "$m_plain" = 3 ] && [ "$m_all" = 6 ] &&
   grep -q '^tcpprobe_peer_fingerprint_changes_total{target="plain"} 0$' "$T/metrics1.txt"; then
	pass daemon-metrics-findings
else fail daemon-metrics-findings "proxy=$m_proxy plain zeros=$m_plain series=$m_all; $(grep -E 'peer_finding|fingerprint_changes' "$T/metrics1.txt" | tr '\n' '|')"; fi
# The wire: the SYN/ACKs from the listener carry timestamps, then none; one switch.
switches=$(dump d | awk -v p="$P_PLAIN" '$7 == "S." && $4 == p { print ($12 ~ /TS/) ? "ts" : "nots" }' | uniq | tr '\n' ' ')
c1=$(jpy 'd["target"]["fingerprint_changes"]' <"$T/show-plain1.json" 2>&1)
c2=$(jpy 'd["target"]["fingerprint_changes"]' <"$T/show-plain2.json" 2>&1)
fp2=$(jpy 'd["target"]["fingerprint"]' <"$T/show-plain2.json" 2>&1)
nlog=$(grep -c 'target plain: fingerprint changed: .* opts=mss,sok,ts,nop,ws .* -> .* opts=mss,nop,nop,sok,nop,ws ' "$T/d.log")
nlog_all=$(grep -c 'fingerprint changed' "$T/d.log")
if lab_capture_ok "$T/d.pcap" >/dev/null && [ "$switches" = "ts nots " ] && [ "$c1" = 0 ] && [ "$c2" = 1 ] &&
   [ "$nlog" = 1 ] && [ "$nlog_all" = 1 ] &&
   grep -q '^tcpprobe_peer_fingerprint_changes_total{target="plain"} 1$' "$T/metrics2.txt" &&
   grep -q '^tcpprobe_peer_fingerprint_changes_total{target="proxy"} 0$' "$T/metrics2.txt"; then
	pass fingerprint-change-once
else fail fingerprint-change-once "wire: $switches changes $c1 -> $c2 ($fp2) log lines $nlog/$nlog_all: $(grep 'fingerprint' "$T/d.log" | head -3 | tr '\n' '|')"; fi

# ---- findings that take two targets (daemon/pairs.c) -------------------------------
# stateful-firewall: a closed port (the server's kernel answers a SYN with an
# RST) behind a rule that drops what conntrack cannot place (a bare FIN):
# the fin target's probes are silent where the syn target's are refused, over
# IPv4 and IPv6. Without the rule the FIN gets its RST too (closed): none.
# mss-clamped by equal MSS: one host name (dual.lab: both families, from the
# client ns's own hosts file) probed over IPv4 and IPv6 with expect_mss 1400,
# so the threshold says nothing; a clamp to 1420 on both: the same MSS over
# both families (IPv6's would be 20 less): found on both; the plain listener
# (1460 / 1440): none.
P_SF=$LAB_PORT_CLOSED
P_CLAMP2=$((LAB_PORT_EXTRA_LO + 6))
NETNS_ETC=/etc/netns/$LAB_CNS
trap 'rm -rf "$NETNS_ETC"; dl_cleanup' EXIT
mkdir -p "$NETNS_ETC" && printf '%s dual.lab\n%s dual.lab\n' "$S" "$S6" >"$NETNS_ETC/hosts"
lab_sexec nft -f - <<NFT || fail pairs-lab "nftables rules could not be loaded"
table inet findings_sf {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport $P_SF ct state invalid drop
	}
}
table inet findings_mss {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp sport $P_CLAMP2 tcp flags & (syn | ack) == syn | ack tcp option maxseg size set 1420
	}
}
NFT
{
	conf_defaults "expect_mss = 1400"
	# NAME HOST PORT KEY=VALUE: one target each
	while read -r name host port kv; do
		printf '\n[target %s]\nhost = %s\nport = %s\n%s = %s\n' "$name" "$host" "$port" "${kv%%=*}" "${kv#*=}"
	done <<LIST
sf-syn $S $P_SF kind=syn
sf-fin $S $P_SF kind=fin
sf-syn6 $S6 $P_SF kind=syn
sf-fin6 $S6 $P_SF kind=fin
mss4 dual.lab $P_CLAMP2 family=ipv4
mss6 dual.lab $P_CLAMP2 family=ipv6
plain4 dual.lab $P_PLAIN family=ipv4
plain6 dual.lab $P_PLAIN family=ipv6
LIST
} >"$T/p.conf"
# pshow NAME PHASE: ctl --json show NAME into $T/p-NAME-PHASE.json
pshow() { ctl --json show "$1" >"$T/p-$1-$2.json"; }
# pf NAME PHASE: "result finding(target,target_result|mss),..." of the show
pf() { "$PY" -c '
import json, sys
t = json.load(open(sys.argv[1]))["target"]
f = ",".join("%s(%s,%s)" % (x["name"], x.get("target"), x.get("target_result", x.get("mss"))) for x in t["findings"])
print(t["last_result"], f or "-")' "$T/p-$1-$2.json" 2>&1; }
pm() { grep -c "^tcpprobe_peer_finding{target=\"$2\",finding=\"$3\"} $4\$" "$T/p-metrics-$1.txt"; }
lab_capture_start "$T/p1.pcap" "tcp port $P_SF or tcp port $P_CLAMP2 or tcp port $P_PLAIN" || fail pairs-capture "could not start"
if dl_start "$T/p.conf" "$T/p.log" && wait_until 30 ge sf-fin 5 && wait_until 30 ge sf-fin6 5 &&
   wait_until 30 ge mss6 5 && wait_until 30 ge plain6 5; then
	for n in sf-syn sf-fin sf-syn6 sf-fin6 mss4 mss6 plain4 plain6; do pshow $n 1; done
	ctl show sf-fin >"$T/p-sf-fin-1.txt"
	ctl metrics >"$T/p-metrics-1.txt"
	lab_capture_stop "$T/p1.pcap"
	# The rule goes: the FIN gets its RST, the finding goes with the next result.
	lab_sexec nft delete table inet findings_sf
	n1=$(probes sf-fin) n6=$(probes sf-fin6)
	lab_capture_start "$T/p2.pcap" "tcp port $P_SF" || fail pairs-capture "could not start"
	wait_until 30 ge sf-fin $((n1 + 5)) && wait_until 30 ge sf-fin6 $((n6 + 5))
	# A FIN sent before the delete ends silent 300 ms later, possibly after
	# newer probes ended closed: the last result is judged once it is closed.
	last_closed() { pshow "$1" 2 && [ "$(pf "$1" 2)" = "closed -" ]; }
	wait_until 10 last_closed sf-fin; wait_until 10 last_closed sf-fin6
	for n in sf-fin sf-fin6; do pshow $n 2; done
	ctl metrics >"$T/p-metrics-2.txt"
	lab_capture_stop "$T/p2.pcap"
	dl_stop
else
	fail pairs-daemon "the daemon did not start or probe: $(tail -3 "$T/p.log" | tr '\n' '|')"
fi
# The wire: per phase, FINs to the port and RSTs from it answering them.
wire_sf() { dump "$1" | awk -v p="$P_SF" '
	$2 == ">" && $6 == p && $7 == "F" { fin[$4] = 1; nfin++ }
	$2 == "<" && $4 == p && $7 ~ /^R/ { if ($6 in fin) rfin++; else rsyn++ }
	END { printf "fins=%d fin-rsts=%d syn-rsts=%d", nfin, rfin, rsyn }'; }
w1=$(wire_sf p1) w2=$(wire_sf p2)
v1="$(pf sf-fin 1) / $(pf sf-fin6 1) / $(pf sf-syn 1) / $(pf sf-syn6 1)"
if [ "$v1" = "silent stateful-firewall(sf-syn,refused) / silent stateful-firewall(sf-syn6,refused) / refused - / refused -" ] &&
   [[ $w1 =~ ^fins=[1-9][0-9]*\ fin-rsts=0\ syn-rsts=[1-9] ]] &&
   [ "$(pm 1 sf-fin stateful-firewall 1)" = 1 ] && [ "$(pm 1 sf-fin6 stateful-firewall 1)" = 1 ] &&
   grep -q "^  findings: *stateful-firewall: FIN probes silent, while target sf-syn's SYNs to the same address and port are refused (RST): a firewall drops segments of connections it does not track$" "$T/p-sf-fin-1.txt"; then
	pass stateful-firewall
else fail stateful-firewall "shows: $v1; wire: $w1; metrics: $(grep 'stateful-firewall' "$T/p-metrics-1.txt" | tr '\n' '|'); text: $(grep findings "$T/p-sf-fin-1.txt")"; fi
v2="$(pf sf-fin 2) / $(pf sf-fin6 2)"
if [ "$v2" = "closed - / closed -" ] && [[ $w2 =~ ^fins=([1-9][0-9]*)\ fin-rsts=([0-9]+) ]] &&
   [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
   [ "$(pm 2 sf-fin stateful-firewall 0)" = 1 ] && [ "$(pm 2 sf-fin6 stateful-firewall 0)" = 1 ]; then
	pass stateful-firewall-none
else fail stateful-firewall-none "shows: $v2; wire: $w2; metrics: $(grep 'stateful-firewall' "$T/p-metrics-2.txt" | tr '\n' '|')"; fi
# The SYN/ACKs' MSS on the wire, per family and port.
wire_mss=$(dump p1 | awk -v a="$P_CLAMP2" -v b="$P_PLAIN" '$2 == "<" && $7 == "S." && ($4 == a || $4 == b) {
	m = $12; sub(/^mss/, "", m); sub(/,.*/, "", m); print $4 "/" ($3 ~ /:/ ? 6 : 4) "=" m }' | sort -u | tr '\n' ' ')
vm="$(pf mss4 1) / $(pf mss6 1) / $(pf plain4 1) / $(pf plain6 1)"
if [ "$vm" = "ok mss-clamped(mss6,1420) / ok mss-clamped(mss4,1420) / ok - / ok -" ] &&
   [ "$wire_mss" = "$P_PLAIN/4=1460 $P_PLAIN/6=1440 $P_CLAMP2/4=1420 $P_CLAMP2/6=1420 " ] &&
   [ "$(pm 1 mss4 mss-clamped 1)" = 1 ] && [ "$(pm 1 mss6 mss-clamped 1)" = 1 ] &&
   [ "$(pm 1 plain4 mss-clamped 0)" = 1 ] && [ "$(pm 1 plain6 mss-clamped 0)" = 1 ]; then
	pass mss-equal-families
else fail mss-equal-families "shows: $vm; wire SYN/ACK mss: $wire_mss; metrics: $(grep 'mss-clamped' "$T/p-metrics-1.txt" | tr '\n' '|')"; fi

dl_done
