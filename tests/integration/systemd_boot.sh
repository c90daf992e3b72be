#!/usr/bin/env bash
# The unit under a real systemd as PID 1: a Debian 12 root (debootstrap
# minbase plus systemd, dbus, nftables and tcpprobe's runtime libraries, from
# the mirror apt is configured with), `make install DESTDIR=` into an overlay
# over it, booted with systemd-nspawn --boot inside a lab client namespace.
# Checks sysusers, tmpfiles, start (READY=1), STATUS=, CAP_NET_RAW only, the
# guard table, a probe of the lab server judged on the lab veth, reload (good
# and bad file), the watchdog, stop, a hand-started daemon after stop, a
# broken config reaching `failed`, and the journal: no warning on a clean
# start and reload, config errors at priority err under the name tcpprobe.
#
# The root is cached in $TCPPROBE_ROOTFS_CACHE (default
# /var/cache/tcpprobe-test): reused while its stamp matches, else rebuilt
# into a new directory and renamed into place (~80 s, ~330 MB). The boot
# runs on an overlay, so the cache is never written. Not run under
# SANITIZE=1 (tests/run.sh PLAIN_ONLY): the unit's sandbox and ASan do not
# mix, and the daemon's code paths are covered by the other tests.
# Prints PASS/FAIL lines. Every wait is bounded.
# checks: 22
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
root=$PWD
source tests/lab/lab.sh
B=${B:-build}
CACHE=${TCPPROBE_ROOTFS_CACHE:-/var/cache/tcpprobe-test}
ROOTFS=$CACHE/rootfs
SUITE=bookworm
# tcpprobe's runtime libraries (libnftables1 comes with nftables, libsystemd0
# with systemd); the ldd check below catches a missing one.
PKGS=systemd,dbus,nftables,libnet1,libevent-2.1-7,libinih1,libcap2,zlib1g,libjansson4,libyaml-0-2,libprotobuf-c1,libsnappy1v5
STAMP="$SUITE minbase $PKGS v1"
CONF=/etc/tcpprobe/tcpprobe.conf

t_start=$SECONDS

tmp=$(mktemp -d /tmp/tcpprobe-boot.XXXXXX)
merged=$tmp/merged
nspawn_pid='' leader='' mounted=0
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# SIGTERM makes nspawn shut the container down cleanly.
		kill -TERM "$nspawn_pid" 2>/dev/null
		for _ in $(seq 1 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$nspawn_pid" 2>/dev/null && { echo "container did not stop in 30 s: killing it"; kill -KILL "$nspawn_pid"; }
		wait "$nspawn_pid" 2>/dev/null
	fi
	[ "$mounted" = 1 ] && { umount "$merged" 2>/dev/null || umount -l "$merged"; }
	lab_down
	rm -rf "$tmp"
}
trap cleanup EXIT

for c in debootstrap systemd-nspawn nsenter; do
	command -v "$c" >/dev/null || { fail boot-tools "$c not installed (make deps)"; exit 1; }
done

# ---- the cached root ---------------------------------------------------------

# The Debian mirror apt uses (deb822 .sources or one-line .list), for SUITE.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v s="$SUITE" '
			/^[ \t]*$/ { if (u && suite) { print u; exit } u = ""; suite = 0; next }
			tolower($1) == "uris:" { u = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) suite = 1 }
			END { if (u && suite) print u }' "$f"
	done
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i < NF; i++) if ($(i) !~ /^\[/ && $(i+1) == s) { print $i; break } }'
}

rootfs_ok() { [ -f "$ROOTFS/.tcpprobe-stamp" ] && [ "$(cat "$ROOTFS/.tcpprobe-stamp")" = "$STAMP" ]; }

build_rootfs() {
	local mirror new t0=$SECONDS
	mirror=$(apt_mirror | head -n 1)
	mirror=${mirror:-http://deb.debian.org/debian}
	new=$CACHE/rootfs.new.$$
	# Leftovers of a build that was killed (we hold the lock: none is live).
	rm -rf "$CACHE"/rootfs.new.* "$CACHE"/rootfs.old.*
	echo "building $ROOTFS: debootstrap $SUITE from $mirror"
	if ! timeout 900 debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$new" "$mirror" \
		>"$tmp/debootstrap.log" 2>&1; then
		tail -n 15 "$tmp/debootstrap.log"
		rm -rf "$new"
		return 1
	fi
	# Smaller and quieter boots: no timers that would fetch anything.
	rm -f "$new"/etc/systemd/system/timers.target.wants/*.timer
	echo "$STAMP" >"$new/.tcpprobe-stamp"
	if [ -e "$ROOTFS" ]; then mv "$ROOTFS" "$CACHE/rootfs.old.$$" && rm -rf "$CACHE/rootfs.old.$$"; fi
	mv "$new" "$ROOTFS" || return 1
	echo "rootfs built in $((SECONDS - t0)) s ($(du -sm "$ROOTFS" | cut -f1) MB)"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
if ! flock -w 900 9; then
	fail boot-rootfs "could not lock $CACHE/lock in 15 min"; exit 1
fi
if rootfs_ok; then
	echo "reusing $ROOTFS"
else
	build_rootfs || { fail boot-rootfs "debootstrap failed"; exit 1; }
fi
rootfs_ok && pass boot-rootfs || { fail boot-rootfs "no complete root at $ROOTFS"; exit 1; }
echo "at $((SECONDS - t_start)) s: root ready"
flock -s 9 # others may read it while we boot; nobody rebuilds it meanwhile

mkdir -p "$tmp/upper" "$tmp/work" "$merged"
mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$tmp/upper,workdir=$tmp/work" "$merged" ||
	{ fail boot-install "overlay mount failed"; exit 1; }
mounted=1
if ! make -s --no-print-directory install DESTDIR="$merged" PREFIX=/usr B="$B" >"$tmp/install.log" 2>&1; then
	fail boot-install "make install failed: $(tail -n 5 "$tmp/install.log" | tr '\n' '|')"; exit 1
fi
missing=$(chroot "$merged" ldd /usr/sbin/tcpprobe 2>&1 | grep 'not found')
if [ -n "$missing" ]; then fail boot-install "libraries missing in the root: $missing"; exit 1; fi
pass boot-install

# A config the lab can answer: the sample file as installed (rst_guard = nft,
# which the unit overrides), plus two targets on the lab server.
cp "$merged$CONF" "$tmp/sample.conf"
cat "$tmp/sample.conf" - >"$merged$CONF" <<EOF

[target lab4]
host = $LAB_S4
port = $LAB_PORT_OPEN
interval = 500ms

[target lab6]
host = $LAB_S6
port = $LAB_PORT_OPEN
interval = 500ms
EOF
cp "$merged$CONF" "$tmp/good.conf"

# ---- boot ----------------------------------------------------------------------

lab_up || { fail boot-lab "lab did not come up"; exit 1; }
lab_capture_start "$tmp/wire.pcap" "tcp" || { fail boot-lab "capture did not start"; exit 1; }
# The container shares the lab client namespace: the daemon it starts probes
# from there, so the same rule as lab_tcpprobe holds (no default route).
lab_safe_ns "$LAB_CNS" || { fail boot-lab "refusing to boot outside a safe lab namespace"; exit 1; }

systemd-nspawn --quiet --boot --directory="$merged" --machine="tcpprobe-$LAB_ID" \
	--register=no --keep-unit --network-namespace-path="/run/netns/$LAB_CNS" \
	--capability=CAP_NET_ADMIN --system-call-filter=bpf --console=read-only \
	</dev/null >"$tmp/console.log" 2>&1 &
nspawn_pid=$!
for _ in $(seq 1 100); do
	leader=$(ps -o pid=,comm= --ppid "$nspawn_pid" 2>/dev/null | awk '$2 == "systemd" { print $1; exit }')
	[ -n "$leader" ] && break
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$leader" ]; then
	fail boot-container "no systemd in the container after 10 s: $(tail -n 5 "$tmp/console.log" | tr '\n' '|')"; exit 1
fi
# In the container: its namespaces and root, a clean environment.
cx() { nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
sctl() { cx timeout 60 systemctl --no-pager "$@"; }
# kill(1) is procps', not in a minbase root: the shell's builtin.
ckill() { cx sh -c "kill $*"; }
prop() { sctl show -P "$1" tcpprobe.service 2>/dev/null; }
# wait_for SECONDS CMD...: until CMD succeeds; 1 if it never did.
wait_for() {
	local end=$((SECONDS + $1)); shift
	while :; do
		"$@" && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}
bus_up() { cx test -S /run/systemd/private; }
wait_for 30 bus_up || { fail boot-container "no /run/systemd/private after 30 s: $(tail -n 5 "$tmp/console.log" | tr '\n' '|')"; exit 1; }
state=$(cx timeout 90 systemctl is-system-running --wait 2>&1)
case $state in
running) pass boot-container ;;
degraded) pass boot-container; echo "degraded: $(sctl --failed --plain --no-legend | tr '\n' '|')" ;;
*) fail boot-container "systemd says '$state': $(tail -n 5 "$tmp/console.log" | tr '\n' '|')"; exit 1 ;;
esac
echo "at $((SECONDS - t_start)) s: booted"

# ---- before the start: sysusers and tmpfiles ran at boot ---------------------

pw=$(cx getent passwd tcpprobe)
if [[ $pw =~ ^tcpprobe:x:([0-9]+):([0-9]+):tcpprobe\ daemon:/:/usr/sbin/nologin$ ]] &&
	[ "${BASH_REMATCH[1]}" -lt 1000 ] && cx getent group tcpprobe >/dev/null; then
	uid=${BASH_REMATCH[1]}
	pass boot-sysusers
else
	uid=x
	fail boot-sysusers "passwd entry '$pw'"
fi
run_dir_ok() { [ "$(cx stat -c '%a %U %G' /run/tcpprobe 2>&1)" = "750 tcpprobe tcpprobe" ]; }
run_dir_ok && pass boot-tmpfiles || fail boot-tmpfiles "/run/tcpprobe is '$(cx stat -c '%a %U %G' /run/tcpprobe 2>&1)'"

# ---- start -------------------------------------------------------------------

guard_tables() { cx nft list tables 2>/dev/null | grep -c tcpprobe; }
[ "$(guard_tables)" = 0 ] || fail boot-guard "a tcpprobe table exists before the start"

# Type=notify: start returns once READY=1 arrived.
if out=$(sctl start tcpprobe.service 2>&1) && [ "$(prop ActiveState)/$(prop SubState)" = active/running ]; then
	pass boot-start-ready
else
	fail boot-start-ready "start: $out; $(prop ActiveState)/$(prop SubState) result=$(prop Result)"
	sctl status tcpprobe.service | tail -n 15
	exit 1
fi
pid=$(prop MainPID)
# STATUS= every second: "N targets, N in flight, N pkt/s".
status_ok() { [[ $(prop StatusText) =~ ^2\ targets,\ [0-9]+\ in\ flight ]]; }
wait_for 5 status_ok && pass boot-status || fail boot-status "StatusText='$(prop StatusText)'"

# Exactly CAP_NET_RAW (bit 13), effective and ambient, as user tcpprobe.
st=$(cx cat "/proc/$pid/status")
caps=$(echo "$st" | awk '/^Cap(Prm|Eff|Amb|Bnd):/ { printf "%s=%s ", $1, $2 }')
uids=$(echo "$st" | awk '/^Uid:/ { print $2 "," $3 "," $4 }')
if [ "$caps" = "CapPrm:=0000000000002000 CapEff:=0000000000002000 CapBnd:=0000000000002000 CapAmb:=0000000000002000 " ] &&
	[ "$uids" = "$uid,$uid,$uid" ]; then
	pass boot-caps-net-raw-only
else
	fail boot-caps-net-raw-only "$caps uid=$uids (tcpprobe is $uid)"
fi

[ "$(guard_tables)" = 1 ] && pass boot-guard-present || fail boot-guard-present "tables: $(cx nft list tables 2>&1 | tr '\n' ' ')"

# ---- a probe end to end --------------------------------------------------------

targets_ok() {
	cx tcpprobe ctl --json targets 2>/dev/null | "$LAB_PY" -c '
import json, sys
t = {x["name"]: x for x in json.loads(sys.stdin.readline())["targets"]}
sys.exit(0 if all(t[n]["last_result"] == "ok" and t[n]["probes"] >= 2 for n in ("lab4", "lab6")) else 1)'
}
wait_for 10 targets_ok && ctl_ok=1 || ctl_ok=0
lab_capture_stop "$tmp/wire.pcap"
# The wire: handshakes from the configured source range to the lab server,
# answered, and not one RST from the client's kernel.
wire=$(lab_wire dump "$tmp/wire.pcap" 2>&1 | "$LAB_PY" -c '
import sys
syn = synack = 0
for l in sys.stdin:
    f = l.split()
    if len(f) < 7: continue
    if f[1] == ">" and f[6] == "S" and f[5] == "8080" and 20000 <= int(f[3]) <= 29999: syn += 1
    if f[1] == "<" and f[6] == "S." and f[3] == "8080": synack += 1
print(syn, synack)')
rsts=$(lab_wire rsts "$tmp/wire.pcap" 2>/dev/null | wc -l)
read -r syn synack <<<"$wire"
capok=$(lab_capture_ok "$tmp/wire.pcap" 8) && capok=ok
if [ "$capok" = ok ] && [ "$ctl_ok" = 1 ] && [ "${syn:-0}" -ge 4 ] && [ "${synack:-0}" -ge 4 ] && [ "$rsts" -eq 0 ]; then
	pass boot-probe-wire
else
	fail boot-probe-wire "capture: $capok; ctl ok=$ctl_ok, wire: $wire (SYN, SYN/ACK), $rsts client RSTs; $(cx tcpprobe ctl targets 2>&1 | tr '\n' '|')"
fi

echo "at $((SECONDS - t_start)) s: probed"
# ---- reload --------------------------------------------------------------------

# A good file with one more target: reload applies it, same process.
cat "$tmp/good.conf" - >"$merged$CONF" <<EOF

[target lab4b]
host = $LAB_S4
port = $LAB_PORT_SLOWCLOSE
EOF
has_lab4b() { cx tcpprobe ctl targets 2>/dev/null | grep -qw lab4b; }
if out=$(sctl reload tcpprobe.service 2>&1) && wait_for 5 has_lab4b && [ "$(prop MainPID)" = "$pid" ] &&
	[ "$(prop ActiveState)" = active ]; then
	pass boot-reload
else
	fail boot-reload "reload: $out; MainPID $(prop MainPID) (was $pid), $(prop ActiveState); targets: $(cx tcpprobe ctl targets 2>&1 | tr '\n' '|')"
fi

# Nothing at warning or worse from a clean start and reload.
warn=$(cx journalctl -b -u tcpprobe.service -p warning -o cat --no-pager 2>&1)
[ -z "$warn" ] && pass boot-journal-clean || fail boot-journal-clean "$(echo "$warn" | head -n 5 | tr '\n' '|')"

# A broken file: reload fails, the daemon keeps running the old config, and the
# error reaches the journal at priority err as tcpprobe's.
jcursor=$(cx journalctl -n 0 --show-cursor --no-pager 2>/dev/null | sed -n 's/^-- cursor: //p')
printf '[daemon]\nsource_ports = 30000-20000\n' >"$merged$CONF"
# err_logged WHAT: the journal since $jcursor holds an err line from tcpprobe
# naming the bad key, and no info-or-lower line that does.
err_logged() {
	cx journalctl -u tcpprobe.service --after-cursor="$jcursor" -o json --no-pager 2>/dev/null | "$LAB_PY" -c '
import json, sys
err = low = 0
for l in sys.stdin:
    e = json.loads(l)
    m = e.get("MESSAGE")
    if not isinstance(m, str) or "source_ports" not in m: continue
    if e.get("PRIORITY") == "3" and e.get("SYSLOG_IDENTIFIER") == "tcpprobe": err += 1
    else: low += 1; print("as", e.get("SYSLOG_IDENTIFIER"), "priority", e.get("PRIORITY"), repr(m))
sys.exit(0 if err and not low else 1)'
}
if ! sctl reload tcpprobe.service >/dev/null 2>&1 && [ "$(prop MainPID)" = "$pid" ] &&
	[ "$(prop ActiveState)" = active ] && cx tcpprobe ctl targets 2>/dev/null | grep -qw lab4b; then
	pass boot-reload-bad-kept
else
	fail boot-reload-bad-kept "MainPID $(prop MainPID) (was $pid), $(prop ActiveState)"
fi
out=$(err_logged) && pass boot-reload-error-priority || fail boot-reload-error-priority "no err line naming source_ports from tcpprobe; ${out:-none at all}"
cp "$tmp/good.conf" "$merged$CONF"

echo "at $((SECONDS - t_start)) s: reloaded"
# ---- watchdog ------------------------------------------------------------------

wd0=$(prop WatchdogTimestampMonotonic)
wd_moved() { [ "$(prop WatchdogTimestampMonotonic)" -gt "${wd0:-0}" ] 2>/dev/null; }
if [ "$(prop WatchdogUSec)" = 30s ]; then
	wait_for 5 wd_moved && pass boot-watchdog-pings || fail boot-watchdog-pings "WatchdogTimestampMonotonic stays $wd0"
else
	fail boot-watchdog-pings "WatchdogUSec=$(prop WatchdogUSec)"
fi
# A stalled daemon is killed and restarted: a 2 s watchdog, then SIGSTOP.
# (The container's /run is its own tmpfs: written from inside.)
dropin=/run/systemd/system/tcpprobe.service.d
cx sh -c "mkdir -p $dropin && printf '[Service]\\nWatchdogSec=2s\\n' >$dropin/wd.conf"
sctl daemon-reload && sctl restart tcpprobe.service
[ "$(prop WatchdogUSec)" = 2s ] || echo "note: the 2 s watchdog drop-in did not apply: WatchdogUSec=$(prop WatchdogUSec)"
pid=$(prop MainPID)
r0=$(prop NRestarts)
ckill -STOP "$pid"
restarted() { [ "$(prop NRestarts)" -gt "$r0" ] && [ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" != "$pid" ]; }
if wait_for 20 restarted; then
	pass boot-watchdog-restart
else
	fail boot-watchdog-restart "after SIGSTOP: $(prop ActiveState)/$(prop SubState) result=$(prop Result) NRestarts=$(prop NRestarts)"
	ckill -CONT "$pid" 2>/dev/null
fi
cx rm -rf "$dropin"
sctl daemon-reload

echo "at $((SECONDS - t_start)) s: watchdog"
# ---- stop ----------------------------------------------------------------------

if sctl stop tcpprobe.service && [ "$(prop ActiveState)" = inactive ]; then pass boot-stop; else fail boot-stop "$(prop ActiveState)"; fi
[ "$(guard_tables)" = 0 ] && pass boot-guard-removed || fail boot-guard-removed "tables: $(cx nft list tables 2>&1 | tr '\n' ' ')"
run_dir_ok && pass boot-stop-keeps-run-dir || fail boot-stop-keeps-run-dir "/run/tcpprobe after stop: $(cx stat -c '%a %U %G' /run/tcpprobe 2>&1)"
# Started by hand as root, as the README shows, after the unit stopped.
# Its PID is the container's: it outlives the shell that started it.
hand=$(cx sh -c "tcpprobe daemon -c $CONF >/tmp/hand.log 2>&1 & echo \$!")
hand_up() { cx tcpprobe ctl status >/dev/null 2>&1; }
if wait_for 10 hand_up; then pass boot-hand-start-after-stop; else fail boot-hand-start-after-stop "$(cx head -n 5 /tmp/hand.log | tr '\n' '|')"; fi
ckill -TERM "$hand" 2>/dev/null
hand_gone() { ! ckill -0 "$hand" 2>/dev/null; }
wait_for 5 hand_gone || { echo "hand-started daemon ignored SIGTERM"; ckill -KILL "$hand"; }

echo "at $((SECONDS - t_start)) s: stopped"
# ---- a broken config at start reaches `failed` -----------------------------------

sctl reset-failed tcpprobe.service 2>/dev/null
jcursor=$(cx journalctl -n 0 --show-cursor --no-pager 2>/dev/null | sed -n 's/^-- cursor: //p')
printf '[daemon]\nsource_ports = 30000-20000\n' >"$merged$CONF"
t0=$SECONDS
sctl start tcpprobe.service >/dev/null 2>&1 && fail boot-broken-start "systemctl start succeeded"
is_failed() { [ "$(prop ActiveState)" = failed ]; }
if wait_for 30 is_failed; then
	pass boot-broken-start-failed
	echo "broken config: failed after $((SECONDS - t0)) s, NRestarts=$(prop NRestarts), Result=$(prop Result)"
else
	fail boot-broken-start-failed "after 30 s: $(prop ActiveState)/$(prop SubState) NRestarts=$(prop NRestarts) Result=$(prop Result)"
	sctl stop tcpprobe.service >/dev/null 2>&1
fi
out=$(err_logged) && pass boot-start-error-priority || fail boot-start-error-priority "no err line naming source_ports from tcpprobe; ${out:-none at all}"

echo "systemd_boot: $((SECONDS - t_start)) s"
dl_done
