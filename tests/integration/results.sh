#!/usr/bin/env bash
# What a result means (issue 10: points 2, 3, 7), judged by the wire:
#  - one rule per kind for what an answer is (probes/outcome.c): the
#    `tcpprobe probe` summary and exit status, ctl's loss and /metrics' up;
#  - a send the local firewall refuses ends the probe `error`, nothing sent;
#  - a reset after the handshake (a SYN proxy in front of a closed port) is
#    result `reset`, a failure everywhere.
# checks: 14
set -u
cd "$(dirname "$0")/../.."
source tests/lab/lab.sh
source tests/lab/daemon_lib.sh
dl_init results
PY=$DL_PY
T=$DL_T

# probe NAME ARGS...: `tcpprobe probe ARGS` under a capture (daemon_lib's
# dl_probe): $T/NAME.out, .err, .rc, .pcap, .cap.
probe() { local name=$1; shift; dl_probe "$name" "tcp or icmp or icmp6" 60 "$@"; }
rc() { dl_rc "$1"; }
# capok NAME: the capture ran cleanly and lost nothing (else why in NAME.cap)
capok() { dl_capok "$1"; }
# wflags NAME PORT: one line per conversation with PORT, e.g. "F R."
wflags() { "$PY" tests/lab/wire.py flags "$T/$1.pcap" --port "$2" --dir; }
# count NAME PORT PATTERN: conversations whose flag line matches PATTERN (grep -E)
count() { wflags "$1" "$2" | grep -cE "$3"; }
why() { echo "$(cat "$T/$1.cap") rc=$(rc "$1") out: $(tr '\n' '|' <"$T/$1.out" | tail -c 400) err: $(head -c 200 "$T/$1.err") wire: $(wflags "$1" "$2" | tr '\n' '|')"; }

S=$LAB_S4

# ---- point 7: one rule for what an answer is --------------------------------
# FIN probes to a closed port: every FIN drew an RST (on the wire), so every
# probe is answered (`closed`): no loss, exit 0.
probe fin-closed --kind fin -c 3 -i 0.05 -t 0.3 -r 0 "$S:$LAB_PORT_CLOSED"
n_fin=$(count fin-closed "$LAB_PORT_CLOSED" '^>F( |$)')
n_rst=$(count fin-closed "$LAB_PORT_CLOSED" '^>F <R\.$')
if [ "$n_fin" = 3 ] && [ "$n_rst" = 3 ] && capok fin-closed && [ "$(rc fin-closed)" = 0 ] &&
   grep -qx "3 probes sent, 3 closed, 0 silent, 0.0% loss" "$T/fin-closed.out"; then
	pass fin-closed-answered
else fail fin-closed-answered "fins=$n_fin rsts=$n_rst $(why fin-closed "$LAB_PORT_CLOSED")"; fi

# FIN probes to a listening port: Linux drops a bare FIN (nothing comes back
# on the wire), the answer a FIN probe expects (`silent`).
probe fin-open --kind fin -c 2 -i 0.05 -t 0.2 -r 0 "$S:$LAB_PORT_OPEN"
n_fin=$(count fin-open "$LAB_PORT_OPEN" '^>F$')
n_back=$(wflags fin-open "$LAB_PORT_OPEN" | grep -c '<')
if [ "$n_fin" = 2 ] && [ "$n_back" = 0 ] && capok fin-open && [ "$(rc fin-open)" = 0 ] &&
   grep -qx "2 probes sent, 0 closed, 2 silent, 0.0% loss" "$T/fin-open.out"; then
	pass fin-silent-answered
else fail fin-silent-answered "fins=$n_fin replies=$n_back $(why fin-open "$LAB_PORT_OPEN")"; fi

# A refused handshake is answered (an RST came back): not loss, but a failure.
probe hs-refused -c 2 -i 0.05 -t 0.3 -r 0 "$S:$LAB_PORT_CLOSED"
n_ref=$(count hs-refused "$LAB_PORT_CLOSED" '^>S <R\.$')
if [ "$n_ref" = 2 ] && capok hs-refused && [ "$(rc hs-refused)" = 1 ] &&
   grep -qx "2 probes sent, 0 ok, 2 refused, 0.0% loss" "$T/hs-refused.out"; then
	pass handshake-refused-not-loss
else fail handshake-refused-not-loss "refused on the wire=$n_ref $(why hs-refused "$LAB_PORT_CLOSED")"; fi

# Silence is the only loss: SYNs to the dropped port, nothing back.
probe hs-dropped -t 0.1 -r 1 "$S:$LAB_PORT_DROPPED"
n_syn=$(wflags hs-dropped "$LAB_PORT_DROPPED" | grep -o '>S' | wc -l)
n_back=$(wflags hs-dropped "$LAB_PORT_DROPPED" | grep -c '<')
if [ "$n_syn" = 2 ] && [ "$n_back" = 0 ] && capok hs-dropped && [ "$(rc hs-dropped)" = 1 ] &&
   grep -qx "1 probes sent, 0 ok, 1 timeout, 100.0% loss" "$T/hs-dropped.out"; then
	pass handshake-timeout-is-loss
else fail handshake-timeout-is-loss "syns=$n_syn replies=$n_back $(why hs-dropped "$LAB_PORT_DROPPED")"; fi

# ICMP unreachable is an answer too, shown apart from loss.
probe hs-unreach -t 0.3 -r 0 "$S:$LAB_PORT_UNREACH"
n_icmp=$(wflags hs-unreach "$LAB_PORT_UNREACH" | grep -c '<icmp3/3')
if [ "$n_icmp" = 1 ] && capok hs-unreach && [ "$(rc hs-unreach)" = 1 ] &&
   grep -qx "1 probes sent, 0 ok, 1 unreachable, 0.0% loss" "$T/hs-unreach.out"; then
	pass handshake-unreachable-not-loss
else fail handshake-unreachable-not-loss "icmp=$n_icmp $(why hs-unreach "$LAB_PORT_UNREACH")"; fi

# The close results are in the summary: the four-way close completed on the wire.
probe hs-open -c 2 -i 0.05 --time-wait 0.1 "$S:$LAB_PORT_OPEN"
n_close=$(count hs-open "$LAB_PORT_OPEN" '>F\..*<F\..*>\.$')
if [ "$n_close" = 2 ] && capok hs-open && [ "$(rc hs-open)" = 0 ] &&
   grep -qx "2 probes sent, 2 ok, 0.0% loss" "$T/hs-open.out" &&
   grep -qx "close: 2 ok" "$T/hs-open.out"; then
	pass handshake-summary-close
else fail handshake-summary-close "closes on the wire=$n_close $(why hs-open "$LAB_PORT_OPEN")"; fi

# ---- point 3: a reset right after the handshake -------------------------------
# nftables SYNPROXY in the server ns in front of a port nothing listens on:
# the proxy completes the handshake (with a zero window, so our FIN waits),
# then opens the backend connection, and the backend's RST reaches us.
SP=8090
synproxy_up() {
	lab_sexec nft -f - <<NFT || return 1
table inet results_synproxy {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp dport $SP tcp flags syn notrack
	}
	chain in {
		type filter hook input priority filter; policy accept;
		tcp dport $SP ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		tcp dport $SP ct state invalid drop
	}
}
NFT
	# The proxy's cookies need these (the conntrack sysctl exists once the
	# table above has loaded nf_conntrack in this namespace).
	lab_sexec sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 net.ipv4.tcp_syncookies=1 \
		net.ipv4.tcp_timestamps=1
}
if synproxy_up; then pass synproxy-lab
else fail synproxy-lab "nftables synproxy could not be set up in $LAB_SNS"; fi

probe sp --time-wait 0.1 -c 2 -i 0.05 -t 0.3 -r 0 "$S:$SP"
probe sp-json --json --time-wait 0.1 -t 0.3 -r 0 "$S:$SP"
# On the wire: our SYN, the proxy's SYN/ACK, our ACK, the backend's RST;
# nothing of ours (no FIN) that the RST could have answered.
n_sp=$(count sp "$SP" '^>S <S\. >\. <R\.$')
n_spj=$(count sp-json "$SP" '^>S <S\. >\. <R\.$')
if capok sp && [ "$n_sp" = 2 ] && [ "$(rc sp)" = 1 ] &&
   grep -qx "2 probes sent, 0 ok, 2 reset, 0.0% loss" "$T/sp.out" &&
   [ "$(grep -c ' reset rtt=[0-9.]* ms ttl=' "$T/sp.out")" = 2 ]; then
	pass reset-after-handshake-summary
else fail reset-after-handshake-summary "wire matches=$n_sp $(why sp "$SP")"; fi
if capok sp-json && [ "$n_spj" = 1 ] && [ "$(rc sp-json)" = 1 ] &&
   [ "$(jpy 'd["result"] == "reset" and d["close"] == "none" and d["rtt_us"] > 0 and d["phases_us"]["handshake"] == d["rtt_us"] and [e["flags"] for e in d["timeline"] if e["dir"] in "<>"] == ["S", "S.", ".", "R."]' <"$T/sp-json.out")" = True ]; then
	pass reset-after-handshake-json
else fail reset-after-handshake-json "wire matches=$n_spj $(why sp-json "$SP")"; fi

# ---- point 2: a send the local firewall refuses -------------------------------
# An nftables output drop in the client ns for one port: sendmmsg fails with
# EPERM. The probe ends `error` with the reason, nothing reaches the wire,
# and nothing counts as (re)transmitted. A probe to another port in the same
# run shows the capture works.
FW=$LAB_PORT_BANNER
if lab_cexec nft -f - <<NFT
table inet results_fw {
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport $FW drop
	}
}
NFT
then pass firewall-lab; else fail firewall-lab "nft in $LAB_CNS"; fi
probe fw --json -t 0.2 -r 2 --time-wait 0.1 "$S:$FW" "$S:$LAB_PORT_OPEN"
n_fw=$(wflags fw "$FW" | wc -l)
n_open=$(count fw "$LAB_PORT_OPEN" '^>S <S\. >\. >F\.')
fwj() { grep "\"port\":$FW," "$T/fw.out" | jpy "$1"; }
if capok fw && [ "$n_fw" = 0 ] && [ "$n_open" = 1 ] && [ "$(rc fw)" = 1 ] &&
   [ "$(fwj 'd["result"] == "error" and d["error"] == "send: Operation not permitted" and d["syn_retransmits"] == 0 and d["rtt_us"] is None and [e["dir"] for e in d["timeline"] if e["dir"] not in ("user", "timer")] == ["unsent"]')" = True ] &&
   grep -q 'Operation not permitted' "$T/fw.err"; then
	pass send-error-handshake
else fail send-error-handshake "segments to $FW on the wire=$n_fw open=$n_open $(why fw "$FW")"; fi

probe fw-text --kind fin -t 0.2 -r 1 "$S:$FW" "$S:$LAB_PORT_CLOSED"
if capok fw-text && [ "$(wflags fw-text "$FW" | wc -l)" = 0 ] && [ "$(rc fw-text)" = 1 ] &&
   [ "$(count fw-text "$LAB_PORT_CLOSED" '^>F <R\.$')" = 1 ] &&
   grep -Eq "^fin \[$S\]:$FW $S seq=1 sport=[0-9]+ error \(send: Operation not permitted\)$" "$T/fw-text.out" &&
   grep -qx "1 probes sent, 0 closed, 0 silent, 1 error, 0.0% loss" "$T/fw-text.out"; then
	pass send-error-fin-text
else fail send-error-fin-text "$(why fw-text "$FW")"; fi

# The daemon counts by the same rule: ctl's loss (nothing answered) and
# failed shares, /metrics' up, checked against what the wire shows.
{
	dl_conf_daemon
	cat <<CONF
[defaults]
interval = 200ms
timeout = 200ms
retries = 0
time_wait = 100ms

[target fin-closed]
host = $S
port = $LAB_PORT_CLOSED
kind = fin

[target fin-open]
host = $S
port = $LAB_PORT_OPEN
kind = fin

[target refused]
host = $S
port = $LAB_PORT_CLOSED

[target dropped]
host = $S
port = $LAB_PORT_DROPPED

[target synproxy]
host = $S
port = $SP

[target firewalled]
host = $S
port = $FW
CONF
} >"$T/d7.conf"
# daemon_run NAME CONF: run the daemon under a capture until every target has
# 3 results, pause it and wait for nothing in flight; leaves $T/NAME.pcap,
# $T/NAME.targets (ctl --json targets), $T/NAME.metrics.
daemon_run() {
	local name=$1 conf=$2 i
	lab_capture_start "$T/$name.pcap" "tcp or icmp or icmp6" || return 1
	dl_start "$conf" "$T/$name.log" || return 1
	for i in $(seq 1 100); do
		[ "$(ctl --json targets | jpy 'min(t["probes"] for t in d["targets"])')" -ge 3 ] 2>/dev/null && break
		sleep 0.1
	done
	ctl pause --all >/dev/null
	for i in $(seq 1 100); do
		[ "$(ctl --json status | jpy 'd["inflight"] + d["queued"] + d["time_wait"]')" = 0 ] && break
		sleep 0.1
	done
	ctl --json targets >"$T/$name.targets"
	ctl --json show firewalled >"$T/$name.show-fw" 2>&1
	ctl metrics >"$T/$name.metrics"
	dl_stop
	lab_capture_stop "$T/$name.pcap"
	lab_capture_ok "$T/$name.pcap" >"$T/$name.cap" || true
}
# tfield NAME TARGET KEY: a field of ctl targets' row for TARGET (numbers as %g)
tfield() { jpy "(lambda v: '%g' % v if isinstance(v, (int, float)) else v)([t['$3'] for t in d['targets'] if t['name'] == '$2'][0])" <"$T/$1.targets"; }
up() { awk -v t="$2" '$1 == "tcpprobe_up{target=\""t"\"}" {print $2}' "$T/$1.metrics"; }
daemon_run d7 "$T/d7.conf"
n_closed=$(count d7 "$LAB_PORT_CLOSED" '^>F <R\.$')
n_refused=$(count d7 "$LAB_PORT_CLOSED" '^>S <R\.$')
n_fin_open=$(count d7 "$LAB_PORT_OPEN" '^>F$')
n_dropped=$(count d7 "$LAB_PORT_DROPPED" '^>S$')
n_sp=$(count d7 "$SP" '^>S <S\. >\. <R\.$')
got="$(cat "$T/d7.cap") wire: closed=$n_closed refused=$n_refused fin-open=$n_fin_open dropped=$n_dropped synproxy=$n_sp; ctl: $(cut -c1-1500 "$T/d7.targets"); up: $(grep '^tcpprobe_up{' "$T/d7.metrics" | tr '\n' ' ')"
if capok d7 && [ "$n_closed" -ge 3 ] && [ "$(tfield d7 fin-closed probes)" = "$n_closed" ] &&
   [ "$(tfield d7 fin-open probes)" = "$n_fin_open" ] &&
   [ "$(tfield d7 refused probes)" = "$n_refused" ] &&
   [ "$(tfield d7 dropped probes)" = "$n_dropped" ] &&
   [ "$(tfield d7 fin-closed loss_pct)" = 0 ] && [ "$(tfield d7 fin-closed failed_pct)" = 0 ] &&
   [ "$(tfield d7 fin-open loss_pct)" = 0 ] && [ "$(tfield d7 fin-open failed_pct)" = 0 ] &&
   [ "$(tfield d7 refused loss_pct)" = 0 ] && [ "$(tfield d7 refused failed_pct)" = 100 ] &&
   [ "$(tfield d7 dropped loss_pct)" = 100 ] && [ "$(tfield d7 dropped failed_pct)" = 100 ] &&
   [ "$(up d7 fin-closed)" = 1 ] && [ "$(up d7 fin-open)" = 1 ] &&
   [ "$(up d7 refused)" = 0 ] && [ "$(up d7 dropped)" = 0 ] &&
   [ "$(tfield d7 synproxy probes)" = "$n_sp" ] && [ "$(tfield d7 synproxy last_result)" = reset ] &&
   [ "$(tfield d7 synproxy loss_pct)" = 0 ] && [ "$(tfield d7 synproxy failed_pct)" = 100 ] &&
   [ "$(up d7 synproxy)" = 0 ] &&
   grep -qx 'tcpprobe_probes_total{target="synproxy",kind="handshake",result="reset"} '"$n_sp" "$T/d7.metrics"; then
	pass daemon-one-answer-rule
else fail daemon-one-answer-rule "$got"; fi

# A send the firewall refused: result error with its reason in ctl show and
# once in the log; nothing on the wire; a failure, not loss.
n_fw=$(wflags d7 "$FW" | wc -l)
n_log=$(grep -c "target firewalled: probe error: send: Operation not permitted" "$T/d7.log")
if capok d7 && [ "$n_fw" = 0 ] && [ "$n_log" = 1 ] &&
   [ "$(jpy '(lambda t: t["error"] == "send: Operation not permitted" and t["last_result"] == "error" and t["results"]["error"] == t["probes"] >= 3 and t["syn_retransmits"] == 0 and t["recent"][0]["error"] == t["error"] and t["loss_pct"] == 0 and t["failed_pct"] == 100)(d["target"])' <"$T/d7.show-fw")" = True ] &&
   [ "$(up d7 firewalled)" = 0 ]; then
	pass daemon-send-error
else fail daemon-send-error "segments to $FW on the wire=$n_fw log lines=$n_log show: $(cut -c1-700 "$T/d7.show-fw")"; fi

dl_done
