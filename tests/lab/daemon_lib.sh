# shellcheck shell=bash disable=SC2034 # variables set here are read by the tests
# Helpers shared by the daemon's lab tests (tests/integration/daemon.sh,
# load.sh, faults.sh, guard.sh, karn_daemon.sh, prometheus.sh, ...). Source
# after tests/lab/lab.sh:
#
#   pass/fail/skip NAME [WHY]   PASS/FAIL/SKIP lines, failures counted in
#                           DL_FAILS; dl_done (last line) is the script's status
#   dl_checks NAME          just the counting, for a script without the lab:
#                           check names prefixed NAME- ("": as given)
#   dl_init NAME [PREFIX]   temp dir $DL_T, PASS/FAIL prefix NAME-, EXIT trap
#                           (daemons, tools, the lab, the temp dir); private
#                           copies of tcpprobe ($DL_BIN) and flood ($DL_FLOOD)
#   dl_conf_daemon [KEY=VALUE...]   a [daemon] section for the lab: control
#                           socket in $DL_T, metrics off, overrides appended
#   dl_start CONF [LOG [ARGS...]]   `tcpprobe daemon -c CONF ARGS` in the client ns (via
#                           lab_tcpprobe_bg, $LAB_WRAP applies); waits (<=
#                           $DL_START_SECONDS, 10) until the control socket
#                           $DL_SOCK answers; PID in $DL_PID. A file at the
#                           socket's path is removed first, unless
#                           DL_KEEP_SOCK=1 (a test of the stale-socket rule)
#   dl_stop [SIGNAL]        dl_kill $DL_PID SIGNAL, and it is no longer $DL_PID
#   dl_spawn SOCK CONF LOG [ARGS...]   one more daemon, on control socket SOCK,
#                           started as dl_start does; PID in $DL_SPAWNED,
#                           stopped at exit (ctl on it: DL_SOCK=SOCK ctl ...)
#   dl_kill PID [SIGNAL]    signal a daemon started here (TERM) and wait for
#                           its exit: DL_RC its exit status, DL_STOP_MS the
#                           time it took; false if that was over
#                           $DL_STOP_WAIT s (10)
#   dl_run CONF LOG [ARGS...]   `tcpprobe daemon -c CONF ARGS` in the client ns
#                           in the foreground, for a daemon that must refuse
#                           to start: under timeout $DL_RUN_SECONDS (20) and
#                           $LAB_WRAP, stdout and stderr to LOG; its exit
#                           status in DL_RC (and returned)
#   dl_failed               count a failure whose FAIL line a tool printed
#   ctl ARGS...             tcpprobe ctl on the daemon's socket
#   jpy EXPR                eval EXPR on the JSON object read from stdin (d)
#   dctl ARGS...            tests/lab/dctl.py on the daemon's socket
#   dl_bg CMD...            start CMD in the background (not in a namespace),
#                           killed by PID at exit; PID in $DL_BG
#   dl_syn_ms PCAP T0 HOST PORT   ms from T0 (ns) to the first SYN to
#                           HOST:PORT in the capture so far (tcpdump -U
#                           writes as it goes), or nothing
#   dl_conf_defaults        a [defaults] section for quick lab probes: 500 ms
#                           interval, 200 ms timeout and time_wait, no retries
#   dl_sd_server PORT       tests/lab/sd_server.py on $LAB_S4:PORT in the
#                           server ns, serving $SDD (= $DL_T/www); waits
#                           until it answers
#   dl_probe NAME FILTER SECONDS ARGS...   `tcpprobe probe ARGS` in the client
#                           ns (killed after SECONDS) under a capture of FILTER;
#                           leaves $DL_T/NAME.out, .err, .rc, .pcap and .cap (why
#                           the capture is bad, empty when it is good)
#   dl_rc NAME, dl_capok NAME   that probe's exit status; its capture was good
#   wait_until SECONDS CMD...   poll CMD every 0.1 s until it succeeds
#   dl_drain TARGET N SECONDS   wait (<= SECONDS) until TARGET has N results,
#                           pause every target, wait (<= 15 s) until nothing is
#                           in flight or in TIME_WAIT; DL_N results, else
#                           false with the reason in DL_WHY
#   dl_capture_drain CAP FILTER CONF TARGET N SECONDS MIN PATTERN
#                           capture, dl_start CONF, dl_drain, stop the capture,
#                           lab_capture_ok CAP MIN PATTERN; fail and 1 if not
#   dl_http ARGS...         curl in the client namespace (no proxy, 10 s)
#   dl_prom_start PORT [ARGS...]   Prometheus in the client namespace on
#                           127.0.0.1:PORT ($DL_T/prometheus.yml, data and log
#                           in $DL_T); waits <= 30 s until it is ready; PID in
#                           $DL_PROM_PID, stopped at exit
#   dl_prom_stop            SIGTERM, wait <= 10 s for it to exit: its exit
#                           status in DL_PROM_RC (false if still running)
#   dl_prom_q EXPR [PYTHON] PYTHON (default r) on the query's result list r
#
# Every process is started here and stopped by PID; the lab removes both
# namespaces (and with them the daemon's nftables table) at exit.

DL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DL_BIN=${TCPPROBE:-$DL_ROOT/${B:-build}/tcpprobe}
DL_TOOLS=$DL_ROOT/${B:-build}/tests
DL_PY=/usr/bin/python3
DL_PID='' DL_RC='' DL_STOP_MS='' DL_BG=''
DL_PIDS=()
DL_FAILS=0
DL_NAME='test'

DL_PREFIX='test-'

# PASS/FAIL/SKIP lines, counted: a script ends with `dl_done` (its status).
pass() { echo "PASS $DL_PREFIX$1"; }
fail() { echo "FAIL $DL_PREFIX$1: $2"; DL_FAILS=$((DL_FAILS + 1)); }
skip() { echo "SKIP $DL_PREFIX$1: $2"; }
note() { echo "  $DL_NAME: $*"; }
dl_checks() { # NAME: check names get the prefix NAME- ("": none, names are whole)
	DL_NAME=${1:-test}
	DL_PREFIX=${1:+$1-}
}
dl_done() { [ "$DL_FAILS" = 0 ]; }
dl_failed() { DL_FAILS=$((DL_FAILS + 1)); }

dl_cleanup() {
	local p
	[ -n "$DL_PID" ] && DL_PIDS+=("$DL_PID")
	for p in "${DL_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${DL_PIDS[@]}"; do
		for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ "${LAB_UP:-0}" = 1 ] && lab_down
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $DL_T"; else rm -rf "$DL_T"; fi
}

dl_init() { # NAME [PREFIX]: PREFIX of check names, NAME- unless given ("" for none)
	dl_checks "$1"
	[ $# -ge 2 ] && DL_PREFIX=${2:+$2-}
	if [ "$(id -u)" != 0 ]; then echo "SKIP $DL_NAME: needs root (network namespaces)"; exit 0; fi
	if [ ! -x "$DL_BIN" ]; then echo "FAIL $DL_NAME-build: $DL_BIN not built"; exit 1; fi
	DL_T=$(mktemp -d "/tmp/tcpprobe-$DL_NAME.XXXXXX")
	DL_SOCK=$DL_T/ctl.sock
	trap dl_cleanup EXIT
	trap 'exit 130' INT TERM
	# Private copies: a rebuild in the tree meanwhile must not pull the
	# binaries from under a running test.
	install -m 0755 "$DL_BIN" "$DL_T/tcpprobe" && DL_BIN=$DL_T/tcpprobe
	LAB_TCPPROBE=$DL_BIN # lab_tcpprobe/_bg run this copy
	if [ -x "$DL_TOOLS/flood" ]; then install -m 0755 "$DL_TOOLS/flood" "$DL_T/flood"; fi
	DL_FLOOD=$DL_T/flood
	if ! lab_up; then echo "FAIL $DL_NAME-lab: lab_up failed"; exit 1; fi
}

ctl() { timeout 30 "$DL_BIN" ctl -s "$DL_SOCK" "$@"; }
# jpy EXPR: a failure (no JSON, a missing key) prints nothing and is false.
jpy() {
	"$DL_PY" -c '
import json, sys
try:
    d = json.loads(sys.stdin.readline())
    print(eval(sys.argv[1]))
except Exception as e:
    sys.exit("jpy: %s: %r" % (sys.argv[1][:60], e))' "$1"
}
dctl() { timeout 120 "$DL_PY" "$DL_ROOT/tests/lab/dctl.py" "$DL_SOCK" "$@"; }

# wait_until SECONDS CMD...: true once CMD succeeds, polled every 0.1 s; false
# when SECONDS pass first.
wait_until() {
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
tj() { ctl --json targets; }
# probes NAME: the target's probe count from `ctl targets` (-1 when absent)
probes() { tj | NAME=$1 "$DL_PY" -c '
import json, os, sys
d = json.loads(sys.stdin.readline())
print(next((t["probes"] for t in d["targets"] if t["name"] == os.environ["NAME"]), -1))'; }
probed() { [ "$(probes "$1")" -ge 1 ]; }
absent() { [ "$(probes "$1")" = -1 ]; }
listed() { [ "$(probes "$1")" -ge 0 ] 2>/dev/null; }
# Files of the discovery sources failing now (ctl status), and none failing.
dl_disc_failing() { ctl --json status | jpy 'sum(s["files_failing"] for s in d["discovery"])'; }
dl_disc_clear() { [ "$(dl_disc_failing)" = 0 ]; }
status_has() { ctl --json status | grep -qF -- "$1"; }

# ---- start, wait for N results, pause, drain ----
dl_results() { ctl --json show "$1" | jpy 'd["target"]["probes"]' 2>/dev/null || echo 0; }
dl_has_results() { [ "$(dl_results "$1")" -ge "$2" ]; }
dl_idle() { [ "$(ctl --json status | jpy 'd["inflight"] + d["time_wait"]' 2>/dev/null)" = 0 ]; }
dl_drain() { # TARGET N SECONDS
	DL_WHY=
	wait_until "$3" dl_has_results "$1" "$2" || DL_WHY="fewer than $2 results for $1 after $3 s; "
	ctl pause --all >/dev/null || DL_WHY="${DL_WHY}pause failed; "
	wait_until 15 dl_idle || DL_WHY="${DL_WHY}probes in flight or in TIME_WAIT 15 s after pausing; "
	DL_N=$(dl_results "$1")
	[ -z "$DL_WHY" ] && return 0
	DL_WHY="${DL_WHY}results: $DL_N"
	return 1
}

# CAP FILTER CONF TARGET N SECONDS MIN PATTERN: the whole run of a capture
# test: capture CAP (tcpdump FILTER), start the daemon on CONF, dl_drain
# TARGET N SECONDS, stop the capture and check it holds MIN packets
# matching PATTERN (lab_capture_ok). A failure is reported (capture, start,
# run) and returns 1.
dl_capture_drain() {
	local cap=$1 filter=$2 conf=$3 why rc
	lab_capture_start "$cap" "$filter" || { fail capture "tcpdump did not start"; return 1; }
	dl_start "$conf" || { lab_capture_stop "$cap"; fail start "daemon did not start"; return 1; }
	dl_drain "$4" "$5" "$6"
	rc=$?
	lab_capture_stop "$cap"
	[ "$rc" = 0 ] || { fail run "$DL_WHY"; return 1; }
	why=$(lab_capture_ok "$cap" "$7" "$8") || { fail capture "$why"; return 1; }
}

# ---- Prometheus ----
DL_PROM_PID='' DL_PROM_PORT='' DL_PROM_RC=''
dl_http() { lab_cexec curl --noproxy '*' -sS --max-time 10 "$@"; }
dl_prom_start() { # PORT [ARGS...]
	DL_PROM_PORT=$1
	shift
	mkdir -p "$DL_T/data"
	lab_cbg prometheus --config.file="$DL_T/prometheus.yml" --storage.tsdb.path="$DL_T/data" \
		--web.listen-address="127.0.0.1:$DL_PROM_PORT" --log.level=warn "$@" \
		>>"$DL_T/prometheus.log" 2>&1 || return 1
	DL_PROM_PID=$LAB_BG_PID
	DL_PIDS+=("$DL_PROM_PID")
	for _ in $(seq 1 150); do
		kill -0 "$DL_PROM_PID" 2>/dev/null || return 1
		dl_http -o /dev/null -f "http://127.0.0.1:$DL_PROM_PORT/-/ready" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
dl_prom_stop() {
	DL_PROM_RC=
	kill -TERM "$DL_PROM_PID" 2>/dev/null
	# Our child: once it exits it is a zombie until waited for.
	for _ in $(seq 1 100); do
		case $(awk '{print $3}' "/proc/$DL_PROM_PID/stat" 2>/dev/null) in
		"" | Z)
			wait "$DL_PROM_PID" 2>/dev/null
			DL_PROM_RC=$?
			return 0
			;;
		esac
		sleep 0.1
	done
	return 1
}
dl_prom_q() { # EXPR [PYTHON]
	dl_http -G --data-urlencode "query=$1" "http://127.0.0.1:$DL_PROM_PORT/api/v1/query" \
		>"$DL_T/q.json" || return 1
	"$DL_PY" - "$DL_T/q.json" "${2:-r}" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d.get('status') != 'success':
    sys.exit('query failed: %s' % d)
r = d['data']['result']
print(eval(sys.argv[2], {'r': r}))
EOF
}

dl_bg() {
	"$@" &
	DL_BG=$!
	DL_PIDS+=("$DL_BG")
}

dl_syn_ms() { # PCAP T0 HOST PORT
	"$DL_PY" - "$DL_ROOT/tests/lab" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import wire
cap, t0, host, port = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
for s in wire.segments(cap):
    if s.flags & 0x12 == 0x02 and s.dst == host and s.dport == port and s.t >= t0:
        print((s.t - t0) // 1000000)
        break
EOF
}

dl_conf_defaults() {
	printf '[defaults]\ninterval = 500ms\ntimeout = 200ms\nretries = 0\ntime_wait = 200ms\n'
}

dl_probe() { # NAME FILTER SECONDS ARGS...
	local name=$1 filter=$2 secs=$3
	shift 3
	lab_capture_start "$DL_T/$name.pcap" "$filter" || return 1
	LAB_WRAP="timeout $secs" lab_tcpprobe probe "$@" >"$DL_T/$name.out" 2>"$DL_T/$name.err"
	echo $? >"$DL_T/$name.rc"
	lab_capture_stop "$DL_T/$name.pcap"
	lab_capture_ok "$DL_T/$name.pcap" >"$DL_T/$name.cap" || true
}
dl_rc() { cat "$DL_T/$1.rc"; }
dl_capok() { [ ! -s "$DL_T/$1.cap" ]; }

dl_sd_server() { # PORT
	SDD=$DL_T/www
	mkdir -p "$SDD"
	lab_sbg "$DL_PY" "$DL_ROOT/tests/lab/sd_server.py" "$LAB_S4" "$1" "$SDD"
	DL_PIDS+=("$LAB_BG_PID")
	wait_until 5 lab_cexec curl -s -o /dev/null "http://$LAB_S4:$1/"
}

dl_conf_daemon() { # KEY=VALUE...: overrides (or additions), one per argument
	local kv k
	declare -A v=([control_socket]=$DL_SOCK [metrics_listen]=off [log_level]=info)
	local order=(control_socket metrics_listen log_level)
	for kv in "$@"; do
		k=${kv%%=*}
		[ -n "${v[$k]+x}" ] || order+=("$k")
		v[$k]=${kv#*=}
	done
	echo "[daemon]"
	for k in "${order[@]}"; do echo "$k = ${v[$k]}"; done
	echo
}

# SOCK CONF LOG [ARGS...]: a daemon in the background, LAB_BG_PID; true once
# SOCK answers, false (the log's tail on stderr) if it exits or stays mute.
dl_launch() {
	local sock=$1 conf=$2 log=$3 i n=$((${DL_START_SECONDS:-10} * 20))
	shift 3
	[ "${DL_KEEP_SOCK:-0}" = 1 ] || rm -f "$sock"
	lab_tcpprobe_bg daemon -c "$conf" "$@" 2>>"$log" || { echo "  lab_tcpprobe_bg refused" >&2; return 1; }
	for ((i = 0; i < n; i++)); do
		DL_SOCK=$sock ctl status >/dev/null 2>&1 && return 0
		kill -0 "$LAB_BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "  daemon did not start; log:" >&2
	tail -n 20 "$log" | sed 's/^/    /' >&2
	return 1
}

dl_start() { # CONF [LOG [DAEMON-ARGS...]]
	local conf=$1 log=${2:-$DL_T/daemon.log} rc
	shift
	[ $# -gt 0 ] && shift
	dl_launch "$DL_SOCK" "$conf" "$log" "$@"
	rc=$?
	DL_PID=$LAB_BG_PID
	return $rc
}

DL_SPAWNED=''
dl_spawn() { # SOCK CONF LOG [DAEMON-ARGS...]
	local rc
	dl_launch "$@"
	rc=$?
	DL_SPAWNED=$LAB_BG_PID
	[ -n "$DL_SPAWNED" ] && DL_PIDS+=("$DL_SPAWNED")
	return $rc
}

dl_kill() { # PID [SIGNAL]
	local pid=$1 sig=${2:-TERM} t0 i n=$((${DL_STOP_WAIT:-10} * 100))
	t0=$(date +%s%N)
	kill -"$sig" "$pid" 2>/dev/null
	# Our child: once it exits it is a zombie until waited for.
	for ((i = 0; i < n; i++)); do
		case $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) in
		"" | Z)
			wait "$pid" 2>/dev/null
			DL_RC=$?
			DL_STOP_MS=$((($(date +%s%N) - t0) / 1000000))
			return 0
			;;
		esac
		sleep 0.01
	done
	# Still running (a sanitizer's leak check at exit can take long under
	# load): wait for it all the same, as the caller needs its status;
	# run.sh's TEST_TIMEOUT bounds the script.
	wait "$pid" 2>/dev/null
	DL_RC=$?
	DL_STOP_MS=$((($(date +%s%N) - t0) / 1000000))
	return 1
}

dl_stop() { # [SIGNAL]
	[ -n "$DL_PID" ] || return 1
	local pid=$DL_PID
	DL_PID=
	dl_kill "$pid" "${1:-TERM}"
}

dl_run() { # CONF LOG [DAEMON-ARGS...]
	local conf=$1 log=$2
	shift 2
	LAB_WRAP="timeout ${DL_RUN_SECONDS:-20} ${LAB_WRAP:-}" lab_tcpprobe daemon -c "$conf" "$@" >"$log" 2>&1
	DL_RC=$?
	return $DL_RC
}

# The daemon's RSS in KiB from /proc (not via the control socket).
dl_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$(dl_daemon_pid)/status" 2>/dev/null; }
dl_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$(dl_daemon_pid)/status" 2>/dev/null; }
# `ip netns exec` execs the command, so $DL_PID is the daemon itself.
dl_daemon_pid() { echo "$DL_PID"; }
