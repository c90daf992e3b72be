#!/usr/bin/env bash
# Remote write (issue "Fleet scale"): credentials and error handling, judged
# at a receiver in the lab's server namespace (tests/lab/rw_server.py decodes
# every request itself: snappy, then the WriteRequest protobuf):
#  a. [remote_write tok] bearer_token_file: every request carries
#     "Authorization: Bearer <file>" and the standard headers, and its body
#     decodes; a new token in the file is sent from the next request on;
#     [remote_write basic]: "Authorization: Basic base64(user:password)"
#  b. a 400 is not retried: each batch answered 400 is never sent again, and
#     the daemon's rejected_samples grew by exactly the samples the receiver
#     refused; collections after it are delivered
#  c. a 500 is retried (the same body, after 1 s, then 2 s: doubling up to
#     the 2 s interval) until it is taken; every batch that got a 500 is
#     delivered later, no collection is missing, and failed_requests grew by
#     exactly the 500s the receiver sent
#  d. a receiver that does not answer within `timeout` (1 s): the same body
#     is sent again and delivered once it answers; failed_requests counts
#     exactly the requests it left unanswered
# Prints PASS/FAIL lines. The daemon runs in the lab's client namespace.
# checks: 10
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
dl_init remote-write-auth

RW=$DL_T/rw
mkdir -p "$RW"
RPORT=7600
lab_sbg "$DL_PY" tests/lab/rw_server.py "$LAB_S4" "$RPORT" "$RW"
DL_PIDS+=("$LAB_BG_PID")
wait_until 5 lab_cexec curl -s -o /dev/null -X POST -d '' "http://$LAB_S4:$RPORT/probe" ||
	{ fail server "rw_server did not start"; exit 1; }

printf 'tok-1\n' >"$DL_T/token"
printf 'pw:with colon\n' >"$DL_T/pass"
echo 'Bearer tok-1' >"$RW/tok.auth"
echo "Basic $(printf 'u:pw:with colon' | base64)" >"$RW/basic.auth"
{
	dl_conf_daemon source_ports=25000-25999
	dl_conf_defaults
	cat <<EOF

[target web]
host = $LAB_S4
port = $LAB_PORT_OPEN

[remote_write tok]
url = http://$LAB_S4:$RPORT/tok
interval = 2s
timeout = 1s
bearer_token_file = $DL_T/token

[remote_write basic]
url = http://$LAB_S4:$RPORT/basic
interval = 2s
timeout = 1s
basic_auth_user = u
basic_auth_password_file = $DL_T/pass
EOF
} >"$DL_T/d.conf"
dl_start "$DL_T/d.conf" || { fail start "daemon did not start"; exit 1; }

# rq PYTHON: evaluated over the receiver's log r (a list of dicts), with
# since(T) = the requests answered after T (ns) and tok = the /tok ones.
rq() {
	"$DL_PY" - "$RW/requests" "$1" <<'EOF'
import json, sys
r = [json.loads(x) for x in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
tok = [x for x in r if x["path"] == "/tok"]
since = lambda t, l=None: [x for x in (tok if l is None else l) if x["t_ns"] > t]
print(eval(sys.argv[2]))
EOF
}
rw() { ctl --json status | jpy "next(w for w in d['remote_write'] if w['name'] == 'tok')['$1']"; }
now_ns() { date +%s%N; }
count_ge() { [ "$(rq "$1")" -ge "$2" ]; } # PYTHON N: its value is at least N
# phase MODE PYTHON-COND N: the counters now (rej0, fail0) and t; the receiver
# answers as MODE until N requests since t meet COND, then normally (t1)
# until 2 more batches are delivered
phase() {
	rej0=$(rw rejected_samples) fail0=$(rw failed_requests)
	t=$(now_ns)
	echo "$1" >"$RW/tok.mode"
	wait_until 20 count_ge "sum(1 for x in since($t) if $2)" "$3"
	echo ok >"$RW/tok.mode"
	t1=$(now_ns)
	wait_until 15 count_ge "sum(1 for x in since($t1) if x['mode'] == 'ok' and x['status'] == 204)" 2
}

# ---- a. credentials and headers ------------------------------------------------------
if wait_until 10 count_ge 'sum(1 for x in tok if x["status"] == 204)' 2 &&
	wait_until 10 count_ge 'sum(1 for x in r if x["path"] == "/basic" and x["status"] == 204)' 2; then
	pass delivered-with-credentials
else fail delivered-with-credentials "$(rq '[(x["path"], x["status"], x["headers"]["Authorization"]) for x in r[-6:]]')"; fi
hdr=$(rq 'all(x["headers"] == {"Authorization": "Bearer tok-1", "Content-Encoding": "snappy",
  "Content-Type": "application/x-protobuf", "X-Prometheus-Remote-Write-Version": "0.1.0",
  "User-Agent": x["headers"]["User-Agent"]} and x["decoded"] and x["samples"] > 0 and x["series"] > 0
  for x in tok) and len(tok) >= 2')
if [ "$hdr" = True ]; then pass bearer-headers-body
else fail bearer-headers-body "$(rq 'tok[:2]')"; fi
b64=$(printf 'u:pw:with colon' | base64)
if [ "$(rq "all(x['headers']['Authorization'] == 'Basic $b64' and x['decoded'] for x in r if x['path'] == '/basic')")" = True ]; then
	pass basic-auth-header
else fail basic-auth-header "$(rq '[x["headers"] for x in r if x["path"] == "/basic"][:2]')"; fi
# Rotation: the receiver stops checking, the file changes, the next requests carry the new token.
rm -f "$RW/tok.auth"
printf 'tok-2\n' >"$DL_T/token"
t=$(now_ns)
if wait_until 10 count_ge "sum(1 for x in since($t) if x['headers']['Authorization'] == 'Bearer tok-2')" 1; then
	first=$(rq "min(x['t_ns'] for x in since($t) if x['headers']['Authorization'] == 'Bearer tok-2')")
	old=$(rq "sum(1 for x in since($first) if x['headers']['Authorization'] != 'Bearer tok-2')")
	if [ "$old" = 0 ]; then pass token-rotated
	else fail token-rotated "$old requests after the first with tok-2 carried another token"; fi
else fail token-rotated "no request with the new token: $(rq '[x["headers"]["Authorization"] for x in tok[-3:]]')"; fi
echo 'Bearer tok-2' >"$RW/tok.auth"

# ---- b. 400: dropped, counted, not retried -----------------------------------------------
phase 400 "x['status'] == 400" 3
res=$(rq "(lambda bad: (len(bad), sum(x['samples'] for x in bad),
  sum(1 for x in tok if x['sha1'] in {b['sha1'] for b in bad}) - len(bad)))([x for x in since($t) if x['status'] == 400])")
read -r n400 s400 resent <<<"$(echo "$res" | tr -d '(),')"
rej=$(($(rw rejected_samples) - rej0)) fails=$(($(rw failed_requests) - fail0))
note "400 phase: $n400 batches ($s400 samples) refused by the receiver, sent again: $resent; daemon: rejected_samples +$rej, failed_requests +$fails"
if [ "${n400:-0}" -ge 3 ] && [ "$resent" = 0 ]; then pass 4xx-not-retried
else fail 4xx-not-retried "$n400 batches got a 400, $resent of them were sent again"; fi
if [ "${n400:-0}" -ge 3 ] && [ "$rej" = "$s400" ] && [ "$fails" = 0 ]; then pass 4xx-dropped-counted
else fail 4xx-dropped-counted "receiver refused $s400 samples; daemon rejected_samples +$rej, failed_requests +$fails"; fi

# ---- c. 500: retried with backoff until delivered -----------------------------------------
phase 500 "x['status'] == 500" 4
res=$(rq "(lambda bad, ok: (len(bad), len({b['sha1'] for b in bad}), sum(1 for b in {x['sha1'] for x in bad} if b not in ok),
  ' '.join('%.2f' % ((b['t_ns'] - a['t_ns']) / 1e9) for a, b in zip(bad, bad[1:]) if a['sha1'] == b['sha1'])))(
  [x for x in since($t) if x['status'] == 500], {x['sha1'] for x in since($t) if x['status'] == 204})")
read -r n500 nbody undelivered gaps <<<"$(echo "$res" | tr -d "(),'")"
fails=$(($(rw failed_requests) - fail0)) rej=$(($(rw rejected_samples) - rej0))
# Every collection of the outage reached the receiver: the 204s' timestamps step by the interval.
step=$(rq "(lambda ts: max(b - a for a, b in zip(ts, ts[1:])) / 1000)(sorted(x['ts_min'] for x in since($t - 4000000000) if x['status'] == 204))")
note "500 phase: $n500 answers 500 to $nbody distinct bodies; retry gaps (s): $gaps; daemon: failed_requests +$fails, rejected +$rej; delivered collections at most ${step} s apart"
gaps_ok=$(echo "$gaps" | awk '{ ok = NF >= 2; e = 1; for (i = 1; i <= NF; i++) { if ($i < 0.95 * e || $i > e + 1) ok = 0; if (e < 2) e *= 2 } print ok }')
if [ "${n500:-0}" -ge 4 ] && [ "$undelivered" = 0 ] && [ "$gaps_ok" = 1 ] &&
	awk -v s="$step" 'BEGIN { exit !(s <= 3) }'; then
	pass 5xx-retried-delivered
else fail 5xx-retried-delivered "$n500 500s, $undelivered bodies never delivered, retry gaps '$gaps' (want 1, 2, 2... s), collections up to ${step} s apart"; fi
if [ "${n500:-0}" -ge 4 ] && [ "$fails" = "$n500" ] && [ "$rej" = 0 ]; then pass 5xx-counted
else fail 5xx-counted "receiver sent $n500 500s; daemon failed_requests +$fails, rejected +$rej"; fi

# ---- d. no answer within the timeout ------------------------------------------------------
phase hang "x['mode'] == 'hang'" 2
hung() { rq "sum(1 for x in since($t) if x['mode'] == 'hang')"; }
# The daemon has given up on each hung request long before it is logged (3 s).
settled() { [ "$(($(rw failed_requests) - fail0))" = "$(hung)" ]; }
wait_until 8 settled
nh=$(hung) fails=$(($(rw failed_requests) - fail0)) rej=$(($(rw rejected_samples) - rej0))
res=$(rq "(lambda h: (len({x['sha1'] for x in h}), sum(1 for b in {x['sha1'] for x in h} if b not in {x['sha1'] for x in since($t) if x['mode'] == 'ok' and x['status'] == 204})))([x for x in since($t) if x['mode'] == 'hang'])")
read -r nbody undelivered <<<"$(echo "$res" | tr -d '(),')"
note "timeout phase: $nh requests left unanswered within 1 s ($nbody distinct bodies); daemon: failed_requests +$fails"
if [ "${nh:-0}" -ge 2 ] && [ "$nbody" -lt "$nh" ] && [ "$undelivered" = 0 ]; then pass timeout-retried-delivered
else fail timeout-retried-delivered "$nh hung requests over $nbody bodies, $undelivered never delivered"; fi
if [ "${nh:-0}" -ge 2 ] && [ "$fails" = "$nh" ] && [ "$rej" = 0 ]; then pass timeout-counted
else fail timeout-counted "$nh requests unanswered; daemon failed_requests +$fails, rejected +$rej"; fi
dl_stop
dl_done
