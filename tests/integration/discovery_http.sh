#!/usr/bin/env bash
# http_sd (issue "Fleet scale"): a Prometheus http_sd server in the lab's
# server namespace (tests/lab/sd_server.py) serving a changing list:
#  a. its targets are probed; a changed list is followed (added probed,
#     removed gone: judged on the wire); the request carries the bearer token and Prometheus's
#     X-Prometheus-Refresh-Interval-Seconds; basic auth works
#  b. a 500, a timeout and a too-large response each keep the last list
#     (its target still probed: SYNs on the wire) and show in `ctl status`
#  c. 10,000 targets: a refresh that changes 1% of them adds and removes
#     exactly those, leaves the other 9,900 untouched (same objects); its
#     loop time is printed (make bench judges it and the probes' timing:
#     tests/bench/discovery_scale.sh)
# Prints PASS/FAIL/SKIP lines. The daemon runs in the lab's client namespace.
# checks: 12
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
dl_init discovery-http

SPORT=7500
O4="$LAB_S4:$LAB_PORT_OPEN" C4="$LAB_S4:$LAB_PORT_CLOSED" Y4="$LAB_S4:$LAB_PORT_BANNER"

put() { printf '%s\n' "$2" >"$SDD/.tmp" && mv "$SDD/.tmp" "$SDD/$1"; }

dl_sd_server "$SPORT" || { fail server "sd_server did not start"; exit 1; }

printf 's3cret-token\n' >"$DL_T/token"
printf 'pw:with colon\n' >"$DL_T/pass"
printf 'Bearer s3cret-token\n' >"$SDD/sd.auth"
printf 'Basic %s\n' "$(printf 'u:pw:with colon' | base64)" >"$SDD/basic.auth"
put sd "[{\"targets\": [\"$O4\"], \"labels\": {\"team\": \"http\"}}]"
put basic "[{\"targets\": [\"$Y4\"]}]"
{
	dl_conf_daemon source_ports=23000-23999
	dl_conf_defaults
	cat <<EOF
kind = syn

[discovery web]
url = http://$LAB_S4:$SPORT/sd
refresh = 1s
bearer_token_file = $DL_T/token

[discovery basic]
url = http://$LAB_S4:$SPORT/basic
refresh = 1s
basic_auth_user = u
basic_auth_password_file = $DL_T/pass
EOF
} >"$DL_T/d.conf"
# The wire judges: SYNs to each target (tcpdump -U: readable as it goes).
CAP=$DL_T/syn.pcap
lab_capture_start "$CAP" "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" ||
	{ fail capture "tcpdump did not start"; exit 1; }
syn_after() { [ -n "$(dl_syn_ms "$CAP" "$@")" ]; } # T0 HOST PORT: a SYN to it after T0
dl_start "$DL_T/d.conf" || { fail start "daemon did not start"; exit 1; }

# ---- a. follow ---------------------------------------------------------------------
if wait_until 5 probed "$O4"; then pass probed; else fail probed "$(tj | head -c 500)"; fi
hdrs=$(grep '"/sd"' "$SDD/requests" | tail -1)
if echo "$hdrs" | grep -qF '"Authorization": "Bearer s3cret-token"' &&
	echo "$hdrs" | grep -qF '"X-Prometheus-Refresh-Interval-Seconds": "1"'; then
	pass request-headers
else fail request-headers "$hdrs"; fi
if wait_until 5 probed "$Y4"; then pass basic-auth; else fail basic-auth "$(ctl status | tail -4)"; fi
t=$(date +%s%N)
put sd "[{\"targets\": [\"$C4\"], \"labels\": {\"team\": \"http\"}}]"
# The new target on the wire; the old one gone, and silent three intervals later.
if wait_until 5 syn_after "$t" "$LAB_S4" "$LAB_PORT_CLOSED" && wait_until 5 absent "$O4"; then
	t_gone=$(date +%s%N)
	sleep 1.5
	if syn_after "$t_gone" "$LAB_S4" "$LAB_PORT_OPEN"; then
		fail follows-changes "$O4 still probed on the wire after it left the list"
	else pass follows-changes; fi
else fail follows-changes "$(tj | head -c 500)"; fi

# ---- b. failures keep the last list --------------------------------------------------
for mode in 500 hang big; do
	case $mode in
	500) want='HTTP 500' ;;
	hang) want='no response: timed out' ;;
	big) want='no response: response larger than the limit' ;;
	esac
	echo "$mode" >"$SDD/mode"
	n0=$(ctl --json status | jpy 'd["discovery"][0]["errors"]')
	if wait_until 8 status_has "$want"; then
		t=$(date +%s%N)
		# Still there and still probed (every 500 ms) meanwhile: SYNs on the wire.
		if wait_until 3 syn_after "$t" "$LAB_S4" "$LAB_PORT_CLOSED"; then pass "$mode-keeps-last-list"
		else fail "$mode-keeps-last-list" "no SYN to $C4 on the wire since the error showed"; fi
	else
		fail "$mode-keeps-last-list" "status never said '$want' (errors were $n0): $(ctl status | tail -3)"
	fi
	echo ok >"$SDD/mode"
done
if wait_until 8 dl_disc_clear; then
	pass recovers
else fail recovers "$(ctl status | tail -4)"; fi
if ctl status | grep -q "discovery web:"; then pass status-line; else fail status-line "$(ctl status)"; fi
dl_stop
if [ "$DL_RC" = 0 ]; then pass stop; else fail stop "exit $DL_RC"; fi
lab_capture_stop "$CAP"
if ! why=$(lab_capture_ok "$CAP" 10); then fail wire "$why"; fi

# ---- c. 10,000 targets, 1% changed ---------------------------------------------------
gen() { "$DL_PY" tests/lab/sd_server.py gen "$1"; } # FIRST: 10,000 AnyIP targets
gen 0 >"$SDD/big.json"
{
	dl_conf_daemon source_ports=23000-23999 log_level=debug
	cat <<EOF
[defaults]
interval = 1h
kind = syn

[discovery scale]
url = http://$LAB_S4:$SPORT/big.json
refresh = 1s
EOF
} >"$DL_T/s.conf"
dl_start "$DL_T/s.conf" || { fail scale-start "daemon did not start"; exit 1; }
count() { [ "$(ctl --json status | jpy 'd["targets"]')" = "$1" ]; }
if wait_until 20 count 10000; then
	ctl --json targets | jpy '"\n".join(t["name"] for t in d["targets"])' | sort >"$DL_T/before"
	ctl pause "198.19.20.1:9000" >/dev/null
	# 1%: the first 100 go, 100 new ones come.
	gen 100 >"$SDD/.tmp" && mv "$SDD/.tmp" "$SDD/big.json"
	if wait_until 10 listed 198.19.40.100:9099; then
		ctl --json targets | jpy '"\n".join(t["name"] for t in d["targets"])' | sort >"$DL_T/after"
		gone=$(comm -23 "$DL_T/before" "$DL_T/after" | wc -l)
		new=$(comm -13 "$DL_T/before" "$DL_T/after" | wc -l)
		# The loop time of the refresh that applied the change, from the
		# daemon's log: the apply line, then that refresh's total.
		line=$(grep -A1 'discovery: 100 targets added, 100 removed, 10000 targets' \
			"$DL_T/daemon.log" | grep -o 'refresh [0-9.]* ms of loop time' | head -1)
		ms=$(echo "$line" | awk '{print $2}')
		note "10,000 targets from http_sd, 1% changed: that refresh took ${ms:-?} ms of loop time (apply; the parse runs off the loop)"
		if [ "$gone" = 100 ] && [ "$new" = 100 ] && [ -n "$ms" ]; then pass scale-1pct-refresh
		else fail scale-1pct-refresh "gone $gone new $new refresh ${ms:-?} ms"; fi
		# An unchanged target is the same object: paused before the
		# change, still paused after it (a new object would not be).
		st=$(ctl --json show "198.19.20.1:9000" | jpy 'd["target"]["state"], d["target"]["labels"]')
		if [ "$st" = "('paused', {'team': 'a'})" ]; then pass scale-unchanged-kept
		else fail scale-unchanged-kept "$st"; fi
	else fail scale-1pct-refresh "the change never arrived: $(ctl status | tail -4)"; fi
else fail scale-1pct-refresh "10,000 targets never arrived: $(ctl status | tail -4)"; fi
dl_stop

dl_done
