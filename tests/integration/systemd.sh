#!/usr/bin/env bash
# The systemd unit: `systemd-analyze verify` is clean and the sandbox keeps its
# exposure score. Needs systemd (systemd-analyze) and man-db; no running
# systemd, no root. Prints PASS/FAIL lines.
# checks: 8
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lab/daemon_lib.sh
. tests/lab/daemon_lib.sh
dl_checks ""
root=$PWD
B=${B:-build}
TCPPROBE=${TCPPROBE:-$root/$B/tcpprobe}

# What a raw-socket prober on the host network cannot shed: PrivateNetwork,
# PrivateUsers (capabilities would not reach the host's network namespace),
# IPAddressDeny (targets are anywhere), AF_INET/INET6/PACKET/NETLINK/UNIX,
# CAP_NET_RAW/NET_ADMIN as ambient capabilities, and capset (for the daemon to
# drop CAP_NET_RAW after setup). That floor is 1.9 with
# systemd 252; fail on anything above it, i.e. a lost hardening option.
SECURITY_MAX=${SECURITY_MAX:-1.5}

tmp=$(mktemp -d /tmp/tcpprobe-systemd.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! command -v systemd-analyze >/dev/null; then
	fail systemd-analyze "not installed (apt-get install systemd)"
	exit 1
fi

# The unit as install.mk writes it, with @SBINDIR@ pointing at a directory
# holding the built binary (verify wants ExecStart to exist), and the man
# pages on MANPATH for Documentation=.
mkdir -p "$tmp/sbin" "$tmp/man/man8" "$tmp/man/man5" "$tmp/unit"
if [ -x "$TCPPROBE" ]; then
	cp "$TCPPROBE" "$tmp/sbin/tcpprobe"
else
	echo "note: $TCPPROBE not built; verifying against a stand-in executable"
	printf '#!/bin/sh\nexit 0\n' >"$tmp/sbin/tcpprobe"
	chmod 0755 "$tmp/sbin/tcpprobe"
fi
cp "$B/man/tcpprobe.8" "$tmp/man/man8/"
cp "$B/man/tcpprobe.conf.5" "$tmp/man/man5/"
unit=$tmp/unit/tcpprobe.service
sed "s|@SBINDIR@|$tmp/sbin|g" systemd/tcpprobe.service >"$unit"

if grep -q '@[A-Z]*@' "$unit"; then
	fail unit_substituted "placeholders left: $(grep -o '@[A-Z]*@' "$unit" | sort -u | tr '\n' ' ')"
else
	pass unit_substituted
fi

out=$(MANPATH="$tmp/man:" systemd-analyze verify "$unit" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
	pass unit_verify
else
	fail unit_verify "systemd-analyze verify exited $rc: $(echo "$out" | head -5 | tr '\n' '|')"
fi

sec=$(systemd-analyze security --offline=true "$unit" 2>&1)
score=$(echo "$sec" | sed -n 's/.*Overall exposure level for tcpprobe.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
	fail unit_security "no exposure level in: $(echo "$sec" | tail -3 | tr '\n' '|')"
elif awk -v s="$score" -v m="$SECURITY_MAX" 'BEGIN { exit !(s <= m) }'; then
	echo "exposure level $score (limit $SECURITY_MAX)"
	pass unit_security
else
	fail unit_security "exposure level $score > $SECURITY_MAX; exposed:"
	echo "$sec" | grep '✗' | sed 's/^/    /'
fi

# The privilege model: never root, exactly CAP_NET_RAW; the guard table is
# installed and removed by privileged ExecStartPre=+/ExecStopPost=+ steps.
key() { sed -n "s/^$1=//p" "$unit" | tail -1; }
[ "$(key User)" = tcpprobe ] && pass unit_user || fail unit_user "User=$(key User), want tcpprobe"
caps_ok=1
for k in AmbientCapabilities CapabilityBoundingSet; do
	v=$(key $k | tr ' ' '\n' | sort | tr '\n' ' ')
	[ "$v" = "CAP_NET_RAW " ] || { fail unit_caps "$k=$v"; caps_ok=0; }
done
grep -q '^ExecStartPre=+.*tcpprobe guard install' "$unit" && grep -q '^ExecStopPost=+.*tcpprobe guard remove' "$unit" &&
	grep -q '^ExecStart=.*--rst-guard=external' "$unit" || { fail unit_caps "guard not split out to ExecStartPre=+/ExecStopPost=+"; caps_ok=0; }
[ $caps_ok = 1 ] && pass unit_caps

# What the daemon relies on: sd_notify readiness, the watchdog it pings,
# SIGHUP for reload (by the shell's kill: no procps needed), /run/tcpprobe
# for the control socket, kept at stop; a start limit so that a failing
# ExecStartPre= ends in `failed`; one journal identifier.
# tests/integration/systemd_boot.sh runs all of it under a real systemd.
svc_ok=1
for kv in Type=notify NotifyAccess=main WatchdogSec=30s RuntimeDirectory=tcpprobe \
	RuntimeDirectoryMode=0750 RuntimeDirectoryPreserve=yes Restart=on-failure \
	StartLimitIntervalSec=60s StartLimitBurst=5 SyslogIdentifier=tcpprobe \
	"ExecReload=/bin/sh -c '$tmp/sbin/tcpprobe daemon -n -c /etc/tcpprobe/tcpprobe.conf >/dev/null && kill -HUP \"\$\$MAINPID\"'"; do
	grep -qxF "$kv" "$unit" || { fail unit_service "missing $kv"; svc_ok=0; }
done
[ $svc_ok = 1 ] && pass unit_service

# sysusers and tmpfiles lines parse (in a scratch root, nothing on the host).
mkdir -p "$tmp/root/etc" "$tmp/root/usr/lib/sysusers.d" "$tmp/root/usr/lib/tmpfiles.d"
cp systemd/tcpprobe.sysusers "$tmp/root/usr/lib/sysusers.d/tcpprobe.conf"
cp systemd/tcpprobe.tmpfiles "$tmp/root/usr/lib/tmpfiles.d/tcpprobe.conf"
if out=$(systemd-sysusers --root="$tmp/root" 2>&1) &&
	grep -q '^tcpprobe:x:[0-9]*:[0-9]*:tcpprobe daemon:/:/usr/sbin/nologin$' "$tmp/root/etc/passwd" &&
	grep -q '^tcpprobe:x:' "$tmp/root/etc/group"; then
	pass sysusers
else
	fail sysusers "$out $(grep tcpprobe "$tmp/root/etc/passwd" 2>/dev/null)"
fi
uid=$(awk -F: '$1 == "tcpprobe" { print $3 }' "$tmp/root/etc/passwd")
if out=$(systemd-tmpfiles --create --root="$tmp/root" 2>&1) &&
	[ "$(stat -c '%a %u %g' "$tmp/root/run/tcpprobe" 2>/dev/null)" = "750 $uid $uid" ]; then
	pass tmpfiles
else
	fail tmpfiles "$out; /run/tcpprobe is $(stat -c '%a %u %g' "$tmp/root/run/tcpprobe" 2>&1), want 750 $uid $uid"
fi
dl_done
