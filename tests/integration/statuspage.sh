#!/usr/bin/env bash
# The status page (daemon/statuspage.c) in the namespace lab, read by
# Debian's headless Chromium (package chromium, in the Makefile's DEB_TEST):
# the DOM it builds (--dump-dom) is judged by tests/lab/pagecheck.py against
# the daemon's JSON (ctl --json), which is itself judged against the lab's
# known outcomes. Screenshots go to $STATUSPAGE_ARTEFACTS (default
# build/artefacts/statuspage). Everything runs in the lab's client
# namespace: the daemon, curl and chromium (127.0.0.1 there is the lab's).
#
#  1. /api/targets and /api/target/NAME are byte for byte what ctl --json
#     targets / show print (the daemon paused, so nothing changes between).
#  2. / lists every lab target with its right result (open ok, syn ok,
#     four-way close ok, closed refused, dropped timeout, port-unreach and
#     admin-prohib unreachable).
#  3. /target/fourway: seven arrows in wire order whose labels (flags, seq,
#     ack) match the newest probe's timeline and whose client ends sit at
#     its t_us on the linear scale (within 0.5 px of one line), strictly
#     ordered on the compressed scale; FIN_WAIT_2 bracketed between the
#     arrows that entered and left it, its duration within 1 us of the JSON.
#  4. /target/closed: SYN then RST; /target/unreach: SYN then an ICMP
#     port-unreachable arrow; /target/dropped: SYN then the SYN again,
#     marked as a retransmission.
#  5. A hostile label value is escaped: the raw HTML has no tag from it, the
#     DOM shows it as text and holds no script; so is a hostile query string
#     the filter form shows back.
#  6. Every method but GET and HEAD is 405 (with Allow) on every page path;
#     HEAD has the headers and no body; the CSP is strict and the DOM loads
#     nothing from elsewhere; an unknown target is 404.
#  7. status_page = no (ctl reload): /, /target/NAME, /api/targets are 404,
#     /metrics still 200.
#  8. The SmokePing-style graph of a target whose path delay steps up by
#     2 x 20 ms (tests/tools/impair between client and server) shows the
#     step in the bucket where it happened (3 s buckets, 100 ms interval).
# checks: 19
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/lab.sh
. tests/lab/lab.sh
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh

ART=${STATUSPAGE_ARTEFACTS:-$DL_ROOT/${B:-build}/artefacts/statuspage}
CHECK="$DL_PY $DL_ROOT/tests/lab/pagecheck.py"
if ! command -v chromium >/dev/null 2>&1; then
	dl_checks statuspage
	fail chromium "chromium not installed (Debian package chromium; make deps installs it)"
	exit 1
fi
export LAB_MIDDLE=1 # the delay step (8) needs the forwarder; the rest does not mind
dl_init statuspage
mkdir -p "$ART"
MPORT=9110
URL=http://127.0.0.1:$MPORT

c() { lab_cexec curl -sS --max-time 10 "$@"; }
status() { awk 'NR==1 {print $2}' "$DL_T/hdr"; }
# chromium in the client namespace, a throwaway profile, bounded in time.
chrome() { # ARGS... (URL last)
	lab_cexec timeout 60 chromium --headless --no-sandbox --disable-gpu \
		--disable-dev-shm-usage --no-first-run --user-data-dir="$DL_T/chrome" \
		--window-size=1400,1800 "$@" 2>>"$DL_T/chrome.log"
}
dom() { chrome --dump-dom "$2" >"$1"; }
shot() { # FILE URL: a screenshot artefact, checked to be a PNG
	rm -f "$1"
	chrome --screenshot="$1" "$2" >/dev/null
	[ -s "$1" ] && [ "$(head -c 4 "$1" | tail -c 3)" = PNG ]
}

HOSTILE="<script>alert(1)</script>\"'&amp;<img src=x>"
conf() { # STATUS_PAGE
	dl_conf_daemon metrics_listen=127.0.0.1:$MPORT status_page="$1" status_bucket=3s \
		buckets="100us, 250us, 500us, 1ms, 2500us, 5ms, 10ms, 15ms, 20ms, 25ms, 50ms, 100ms, 1s"
	cat <<EOF
[defaults]
interval = 500ms
timeout = 200ms
retries = 1
time_wait = 1s
fin_wait_2 = 2s

[target open]
host = $LAB_S4
port = $LAB_PORT_OPEN
labels = evil=$HOSTILE

[target syn]
host = $LAB_S4
port = $LAB_PORT_OPEN
kind = syn

[target fourway]
host = $LAB_S4
port = $LAB_PORT_SLOWCLOSE

[target closed]
host = $LAB_S4
port = $LAB_PORT_CLOSED

[target dropped]
host = $LAB_S4
port = $LAB_PORT_DROPPED

[target unreach]
host = $LAB_S6
port = $LAB_PORT_UNREACH

[target prohib]
host = $LAB_S4
port = $LAB_PORT_PROHIB

[target $LAB_S4:9001]
host = $LAB_S4
port = 9001
interval = 100ms
EOF
}
conf yes >"$DL_T/d.conf"
if ! dl_start "$DL_T/d.conf"; then fail start "daemon did not start"; exit 1; fi

# Wait for results: the four-way close reports after FIN_WAIT_2 (~200 ms),
# the dropped target after its retransmission (~600 ms).
fourway_closed() { [ "$(ctl --json show fourway | jpy 'd["target"]["close_results"].get("ok", 0)')" -ge 1 ] 2>/dev/null; }
all_probed() { local tn; for tn in open syn fourway closed dropped unreach prohib; do probed "$tn" || return 1; done; }
if ! wait_until 20 all_probed || ! wait_until 20 fourway_closed; then
	fail start "targets not probed in 20 s: $(tj)"
	exit 1
fi
ctl pause --all >/dev/null
idle() { [ "$(ctl --json status | jpy 'd["inflight"]')" = 0 ]; }
wait_until 10 idle || note "probes still in flight after 10 s"

# ---- 1. the API is ctl's JSON -----------------------------------------------
ctl --json targets >"$DL_T/targets.json"
c -D "$DL_T/hdr" -o "$DL_T/api_targets.json" "$URL/api/targets"
ctl --json show fourway >"$DL_T/fourway.json"
c -o "$DL_T/api_fourway.json" "$URL/api/target/fourway"
ctl --json show "$LAB_S4:9001" >"$DL_T/colon.json"
c -o "$DL_T/api_colon.json" "$URL/api/target/$LAB_S4%3A9001"
if [ "$(status)" = 200 ] && grep -qi '^content-type: application/json' "$DL_T/hdr" &&
	cmp -s "$DL_T/targets.json" "$DL_T/api_targets.json" &&
	cmp -s "$DL_T/fourway.json" "$DL_T/api_fourway.json" &&
	cmp -s "$DL_T/colon.json" "$DL_T/api_colon.json"; then
	pass api-same-json
else
	fail api-same-json "status $(status); $(diff <(tr ',' '\n' <"$DL_T/targets.json") <(tr ',' '\n' <"$DL_T/api_targets.json") | head -n 6 | tr '\n' ' ') $(cmp "$DL_T/fourway.json" "$DL_T/api_fourway.json" 2>&1) $(cmp "$DL_T/colon.json" "$DL_T/api_colon.json" 2>&1)"
fi

# The lab's outcomes, from ctl: the page is then judged against ctl.
want="open=ok syn=ok fourway=ok closed=refused dropped=timeout unreach=unreachable prohib=unreachable $LAB_S4:9001=ok"
got=$(for kv in $want; do n=${kv%=*}; F=$DL_T/targets.json NAME=$n "$DL_PY" -c '
import json, os
d = json.load(open(os.environ["F"]))
print(os.environ["NAME"] + "=" + str(next(t["last_result"] for t in d["targets"] if t["name"] == os.environ["NAME"])))'; done | tr '\n' ' ')
if [ "${got% }" = "$want" ]; then pass lab-results; else fail lab-results "ctl says '$got', the lab '$want'"; fi

# ---- 2. / in Chromium ---------------------------------------------------------
dom "$DL_T/overview.html" "$URL/"
if out=$($CHECK overview "$DL_T/overview.html" "$DL_T/targets.json"); then pass overview; note "$out"
else fail overview "$out"; fi

# ---- 3. the four-way close's ladder -----------------------------------------
dom "$DL_T/fourway_lin.html" "$URL/target/fourway?scale=linear"
if out=$($CHECK ladder "$DL_T/fourway_lin.html" "$DL_T/fourway.json" linear); then pass ladder-linear; note "$out"
else fail ladder-linear "$out"; fi
dom "$DL_T/fourway_cmp.html" "$URL/target/fourway"
if out=$($CHECK ladder "$DL_T/fourway_cmp.html" "$DL_T/fourway.json" compressed); then pass ladder-compressed; note "$out"
else fail ladder-compressed "$out"; fi

# ---- 4. a refused target ------------------------------------------------------
dom "$DL_T/closed.html" "$URL/target/closed"
if out=$($CHECK refused "$DL_T/closed.html"); then pass ladder-refused; note "$out"
else fail ladder-refused "$out"; fi

# ICMP errors and retransmissions are marked: the port-unreachable target's
# SYN is answered by an ICMP arrow; the dropped target's SYN is sent again
# (retries = 1) and that arrow says so.
dom "$DL_T/unreach.html" "$URL/target/unreach"
if out=$($CHECK sequence "$DL_T/unreach.html" "out:S seq=0" "icmp:ICMP port-unreachable"); then
	pass ladder-icmp; note "$out"
else fail ladder-icmp "$out"; fi
dom "$DL_T/dropped.html" "$URL/target/dropped"
if out=$($CHECK sequence "$DL_T/dropped.html" "out:S seq=0" "retx:S seq=0 ack=0 retransmit"); then
	pass ladder-retransmit; note "$out"
else fail ladder-retransmit "$out"; fi

# Screenshots: artefacts for a person to look at.
bad=""
shot "$ART/overview.png" "$URL/" || bad="$bad overview"
shot "$ART/fourway.png" "$URL/target/fourway" || bad="$bad fourway"
shot "$ART/fourway-linear.png" "$URL/target/fourway?scale=linear" || bad="$bad fourway-linear"
shot "$ART/closed.png" "$URL/target/closed" || bad="$bad closed"
if [ -z "$bad" ]; then pass screenshots; note "screenshots in $ART"
else fail screenshots "no PNG for:$bad ($(tail -n 2 "$DL_T/chrome.log" | tr '\n' ' '))"; fi

# ---- 5. hostile label ---------------------------------------------------------
c -o "$DL_T/raw.html" "$URL/"
out=""
if ! grep -qF '<script>' "$DL_T/raw.html" && ! grep -qF '<img' "$DL_T/raw.html" &&
	grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;amp;&lt;img src=x&gt;' "$DL_T/raw.html" &&
	out=$($CHECK hostile "$DL_T/overview.html" "$HOSTILE"); then
	pass hostile-escaped
else fail hostile-escaped "${out:-the raw HTML carries the label unescaped}"; fi
c -o "$DL_T/raw_open.html" "$URL/target/open"
if ! grep -qF '<script>' "$DL_T/raw_open.html" && grep -qF '&lt;script&gt;' "$DL_T/raw_open.html"; then
	pass hostile-escaped-target
else fail hostile-escaped-target "target page carries the label unescaped"; fi

# The filter form shows the query back: escaped too.
c -o "$DL_T/raw_q.html" "$URL/?name=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&label=%27%3E%3Cb%3E&page=%zz"
if ! grep -qF '<script>' "$DL_T/raw_q.html" && ! grep -qF "'><b>" "$DL_T/raw_q.html" &&
	grep -qF 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' "$DL_T/raw_q.html"; then
	pass hostile-query
else fail hostile-query "the filter form reflects the query unescaped: $(grep -o 'value="[^"]*"' "$DL_T/raw_q.html" | head -n 2 | tr '\n' ' ')"; fi

# ---- 6. read-only, CSP, 404 ------------------------------------------------------
bad=""
for p in / /target/fourway /api/targets /api/target/fourway /style.css; do
	for m in POST PUT DELETE PATCH OPTIONS; do
		c -X "$m" -o /dev/null -D "$DL_T/hdr" "$URL$p"
		[ "$(status)" = 405 ] && grep -qi '^allow: GET, HEAD' "$DL_T/hdr" || bad="$bad $m$p:$(status)"
	done
done
if [ -z "$bad" ]; then pass methods-405; else fail methods-405 "$bad"; fi
len=$(c --head -o /dev/null -D "$DL_T/hdr" -w '%{size_download}' "$URL/target/fourway")
if [ "$(status)" = 200 ] && [ "$len" = 0 ] && grep -qi '^content-length: [1-9]' "$DL_T/hdr"; then pass head
else fail head "status $(status), $len bytes"; fi
c -o /dev/null -D "$DL_T/hdr" "$URL/"
csp=$(grep -i '^content-security-policy:' "$DL_T/hdr" | tr -d '\r')
ext=$(grep -oE '(src|href)="(https?:)?//[^"]*' "$DL_T/overview.html" "$DL_T/fourway_cmp.html" | head -n 3)
if [[ $csp == *"default-src 'none'"* ]] && [[ $csp == *"style-src 'self'"* ]] &&
	[[ $csp != *unsafe* ]] && [[ $csp != *script-src* ]] && [[ $csp == *"frame-ancestors 'none'"* ]] &&
	grep -qi '^x-content-type-options: nosniff' "$DL_T/hdr" && [ -z "$ext" ] &&
	! grep -q '<script' "$DL_T/overview.html" "$DL_T/fourway_cmp.html"; then
	pass csp-strict
else fail csp-strict "csp '$csp', external: $ext"; fi
c -o /dev/null -D "$DL_T/hdr" "$URL/target/nope"; s1=$(status)
c -o /dev/null -D "$DL_T/hdr" "$URL/api/target/nope"; s2=$(status)
c -o /dev/null -D "$DL_T/hdr" "$URL/target/%3Cx%3E"; s3=$(status)
if [ "$s1 $s2 $s3" = "404 404 404" ]; then pass unknown-404; else fail unknown-404 "$s1 $s2 $s3"; fi

# ---- 7. status_page = no -------------------------------------------------------
conf no >"$DL_T/d.conf"
if ctl reload >/dev/null; then
	got=""
	for p in / /target/fourway /api/targets /api/target/fourway /style.css /metrics; do
		c -o /dev/null -D "$DL_T/hdr" "$URL$p"; got="$got $(status)"
	done
	if [ "$got" = " 404 404 404 404 404 200" ]; then pass status-page-off
	else fail status-page-off "statuses$got for / /target /api/targets /api/target /style.css /metrics"; fi
else
	fail status-page-off "ctl reload failed"
fi
conf yes >"$DL_T/d.conf"
ctl reload >/dev/null || note "reload back on failed"

# ---- 8. the SmokePing graph shows a delay step in its bucket -----------------
# The 100 ms target runs alone; after >= 4 s of a clean link the forwarder
# delays every frame 20 ms each way, switched on early in a 3 s bucket.
ctl resume "$LAB_S4:9001" >/dev/null
now_s() { date +%s.%N; }
frac() { local ns; ns=$(date +%s%N); echo $(((ns % 3000000000) / 30000000)); } # % of a bucket
# At least 100 probes (10 s, three whole buckets) on the clean link, then 100 with the delay.
more_probes() { [ "$(probes "$LAB_S4:9001")" -ge "$1" ]; }
n0=$(probes "$LAB_S4:9001")
wait_until 25 more_probes $((n0 + 100)) || note "fewer than 100 probes in 25 s"
for _ in $(seq 1 300); do f=$(frac); [ "$f" -ge 2 ] && [ "$f" -le 10 ] && break; sleep 0.01; done
t_a=$(now_s)
lab_impair --delay 20 || fail smoke-step "lab_impair failed"
t_b=$(now_s)
n0=$(probes "$LAB_S4:9001")
wait_until 30 more_probes $((n0 + 100)) || note "fewer than 100 delayed probes in 30 s"
ctl pause --all >/dev/null
dom "$DL_T/step.html" "$URL/target/$LAB_S4%3A9001"
shot "$ART/delay-step.png" "$URL/target/$LAB_S4%3A9001?n=1" || note "no screenshot of the step"
if out=$($CHECK step "$DL_T/step.html" "$t_a" "$t_b"); then pass smoke-step; note "$out"
else fail smoke-step "$out"; fi

# The history costs what ctl status says per target.
per=$(ctl --json status | jpy 'd["memory"]["per_target_status_history_bytes"]')
if [ "$per" -gt 0 ] 2>/dev/null; then pass status-memory; note "status history: $per bytes per target"
else fail status-memory "ctl status memory: '$per'"; fi

dl_stop
[ "$DL_RC" = 0 ] || fail start "daemon exit $DL_RC"
dl_done
