#!/usr/bin/env bash
# The daemon's lab run under valgrind: every probe kind and result, the
# control socket, a metrics scrape, a reload and SIGTERM; valgrind must report
# no error and no leak (tests/valgrind.supp holds libnftables' netlink padding,
# which is not ours).
# checks: 2
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
source tests/lab/lab.sh

if [ "${SANITIZE:-0}" = 1 ]; then
	# Skips, not passes: tests/run.sh allows them under SANITIZE=1 only.
	skip valgrind-daemon-clean "the sanitizer build cannot run under valgrind"
	skip valgrind-daemon-probed "the sanitizer build cannot run under valgrind"
	exit 0
fi
command -v valgrind >/dev/null || { fail valgrind-installed "valgrind missing (make deps installs it)"; exit 1; }
dl_init valgrind ""
tmp=$DL_T
sed -e "s|@RUNDIR@|$tmp|" -e "s|@METRICS_PORT@|9957|" tests/lab/demo.conf >"$tmp/c.conf"
sed -i 's/^interval = 2s/interval = 500ms/' "$tmp/c.conf"
DL_SOCK=$tmp/control.sock # demo.conf's
DL_START_SECONDS=30 LAB_WRAP="valgrind --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
	--suppressions=tests/valgrind.supp --log-file=$tmp/vg.log" \
	dl_start "$tmp/c.conf" "$tmp/daemon.err" ||
	{ fail valgrind-daemon-start "no answer on the control socket after 30 s: $(tail -n 3 "$tmp/daemon.err")"; exit 1; }
# Until every target has a result of its own (the demo's 16 kinds): <= 60 s.
each_probed() { ctl --json targets | jpy 'd["targets"] and all(t["probes"] >= 2 for t in d["targets"])' | grep -qx True; }
wait_until 60 each_probed
ctl targets >"$tmp/targets.txt" 2>&1
ctl show four-way-close >/dev/null 2>&1
dl_http --compressed 127.0.0.1:9957/metrics >"$tmp/metrics.txt"
ctl reload >/dev/null 2>&1
ctl probe "$LAB_S6:$LAB_PORT_SLOWCLOSE" >/dev/null 2>&1
DL_STOP_WAIT=60 dl_stop TERM; rc=$DL_RC
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$tmp/vg.log" | tail -1)
lost=$(grep -E "definitely lost:|indirectly lost:" "$tmp/vg.log" | grep -v " 0 bytes" | head -2)
kinds=$(grep -cE '\b(ok|refused|timeout|unreachable|closed|silent)\b' "$tmp/targets.txt")
if [ "$rc" = 0 ] && [ "$errors" = 0 ] && [ -z "$lost" ]; then
	pass "valgrind-daemon-clean (targets listed: $kinds, metrics lines: $(wc -l <"$tmp/metrics.txt"))"
else
	fail valgrind-daemon-clean "rc=$rc errors=$errors lost='$lost'"
	grep -E "^==[0-9]+== " "$tmp/vg.log" | head -40
fi
[ "$kinds" -ge 14 ] && pass valgrind-daemon-probed || fail valgrind-daemon-probed "$(cat "$tmp/targets.txt")"
dl_done
