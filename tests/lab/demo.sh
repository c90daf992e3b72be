#!/usr/bin/env bash
# The demo: brings up the namespace lab, runs the daemon in its client
# namespace on tests/lab/demo.conf, and shows `ctl targets` refreshing until
# Ctrl-C (or DEMO_SECONDS), then tears everything down.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "${1:-build/tcpprobe}")" && pwd)/$(basename "${1:-build/tcpprobe}")
[ "$(id -u)" = 0 ] || { echo "demo: run as root (namespaces, raw sockets, nftables)" >&2; exit 1; }
source "$here/lab.sh"

run=$(mktemp -d /tmp/tcpprobe-demo.XXXXXX)
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null
	fi
	lab_down
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

lab_up demo$$ || { echo "demo: lab did not come up" >&2; exit 1; }
sed -e "s|@RUNDIR@|$run|" -e "s|@METRICS_PORT@|9955|" "$here/demo.conf" >"$run/tcpprobe.conf"
LAB_TCPPROBE=$bin lab_tcpprobe_bg daemon -c "$run/tcpprobe.conf" 2>"$run/daemon.log" ||
	{ echo "demo: refused to start tcpprobe outside the lab" >&2; exit 1; }
daemon_pid=$LAB_BG_PID
for _ in $(seq 50); do [ -S "$run/control.sock" ] && break; sleep 0.1; done
if ! [ -S "$run/control.sock" ]; then
	echo "demo: the daemon did not start:" >&2; cat "$run/daemon.log" >&2; exit 1
fi
end=$(( $(date +%s) + ${DEMO_SECONDS:-86400} ))
while [ "$(date +%s)" -lt "$end" ] && kill -0 "$daemon_pid" 2>/dev/null; do
	[ -t 1 ] && clear
	echo "tcpprobe demo: the daemon probes a namespace lab (client $LAB_C4/$LAB_C6, server $LAB_S4/$LAB_S6)."
	echo "Ctrl-C stops it and removes the lab.   metrics: ip netns exec $LAB_CNS curl -s 127.0.0.1:9955/metrics"
	echo
	"$bin" ctl -s "$run/control.sock" targets
	echo
	echo "The four-way close, as the daemon last saw it:"; "$bin" ctl -s "$run/control.sock" show four-way-close 2>/dev/null | sed -n '/^recent results/,$p' | sed -n '2,10p'
	sleep 2
done
