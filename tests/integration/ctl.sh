#!/usr/bin/env bash
# The control socket and `tcpprobe ctl`, against a daemon in the namespace lab:
# every command, access rules for a real unprivileged user, and clients that
# misbehave (garbage, overlong lines, never reading, too many of them).
# Prints "PASS name" / "FAIL name: why" / "SKIP name: why".
#
# Packets only flow inside the lab's two namespaces (no default route); the
# control socket is a file in a private temp directory; every process is
# started here and stopped by PID; users and groups created here are removed.
# checks: 57
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=../lab/lab.sh
source tests/lab/lab.sh
# shellcheck source=../lab/daemon_lib.sh
source tests/lab/daemon_lib.sh
dl_init ctl ""

# Names of this run's own (several runs of this test may overlap): a plain
# user, an admin_group member, and the group.
MARK_PREFIX="tcpprobe ctl.sh test"
GRP=tcpprobe-g$$ USR=tcpprobe-u$$ ADM=tcpprobe-a$$
T=$DL_T SOCK=$DL_SOCK CONF=$DL_T/tcpprobe.conf DLOG=$DL_T/daemon.log
MADE_USERS=() MADE_GROUP=0

# The users and the group go after the daemon (dl_cleanup stops it).
cleanup() {
	local p
	dl_cleanup
	for p in "${MADE_USERS[@]}"; do userdel "$p" 2>/dev/null; done
	[ "$MADE_GROUP" = 1 ] && groupdel "$GRP" 2>/dev/null
}
trap cleanup EXIT

dlog_has() { grep -q -- "$1" "$DLOG"; }

# Raw protocol client: tests/integration/ctl.sh is the only user.
cat >"$T/raw.py" <<'EOF'
import json, os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s

def lines(s, n):
    out, buf = [], b""
    while len(out) < n:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        buf += b
        while b"\n" in buf and len(out) < n:
            l, buf = buf.split(b"\n", 1)
            out.append(json.loads(l))
    return out

def closed(s):
    # True if the daemon hung up (EOF or reset) within 10 s; what it had
    # queued before hanging up is read and thrown away.
    end = time.time() + 10
    try:
        while time.time() < end:
            s.settimeout(max(0.1, end - time.time()))
            if not s.recv(1 << 20):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        pass
    return False

if mode == "send":          # send argv[3] verbatim (escapes decoded), print N replies
    s = conn()
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
    if len(sys.argv) > 5 and sys.argv[5] == "shut":
        s.shutdown(socket.SHUT_WR)
    for r in lines(s, int(sys.argv[4])):
        print(json.dumps(r))
elif mode == "garbage":     # 3 non-text requests: 3 errors, then hung up
    s = conn()
    s.sendall(b"\x01\x02\xff\n" * 3)
    r = lines(s, 3)
    ok = len(r) == 3 and all(not x["ok"] and "not text" in x["error"] for x in r)
    print("ok" if ok and closed(s) else "bad %r" % r)
elif mode == "overlong":    # argv[3]: with or without a newline
    s = conn()
    s.sendall(b"a" * 5000 + (b"\n" if sys.argv[3] == "nl" else b""))
    r = lines(s, 1)
    ok = len(r) == 1 and not r[0]["ok"] and "longer than" in r[0]["error"]
    print("ok" if ok and closed(s) else "bad %r" % r)
elif mode == "neverread":   # queue requests without ever reading; hold for argv[3] s
    s = conn()
    s.setblocking(False)
    sent = 0
    for i in range(200000):
        try:
            sent += s.send(b"help\n")
        except BlockingIOError:
            break
    print("ready %d" % sent, flush=True)
    time.sleep(float(sys.argv[3]))
elif mode == "watchflood":  # subscribe, never read; report when the daemon drops us
    s = conn()
    s.sendall(b"watch\n")
    time.sleep(float(sys.argv[3]))
    print("dropped" if closed(s) else "alive", flush=True)
elif mode == "hold":        # argv[3] clients ask for status; count answers within argv[4] s
    cs = [conn() for i in range(int(sys.argv[3]))]
    for c in cs:
        c.sendall(b"status\n")
        c.settimeout(float(sys.argv[4]))
    print(sum(1 for c in cs if lines(c, 1)), flush=True)
elif mode == "maxclients":  # fill every slot, then one more
    held = []
    for i in range(int(sys.argv[3])):
        try:
            c = conn()
            c.sendall(b"help\n")
            r = lines(c, 1)
        except OSError as e:
            r = [e]
        if not r or not isinstance(r[0], dict) or not r[0].get("ok"):
            print("bad: client %d: %r" % (i, r))
            sys.exit(0)
        held.append(c)
    extra = conn()
    r = lines(extra, 1)
    ok = len(r) == 1 and not r[0]["ok"] and "too many clients" in r[0]["error"]
    print("ok" if ok and closed(extra) else "bad %r" % r)
EOF
raw() { timeout 60 "$DL_PY" "$T/raw.py" "$SOCK" "$@"; }

write_conf() { # extra lines appended
	{
		dl_conf_daemon control_mode=0666 control_group="$GRP" admin_group="$GRP" \
			source_ports=20000-29999 history=20
		cat <<EOF
[defaults]
interval = 200ms
timeout = 300ms
retries = 1
time_wait = 200ms
fin_wait_2 = 1s

[target open4]
host = $LAB_S4
port = $LAB_PORT_OPEN

[target closed4]
host = $LAB_S4
port = $LAB_PORT_CLOSED

[target open6]
host = $LAB_S6
port = $LAB_PORT_OPEN
kind = syn

[target dropped4]
host = $LAB_S4
port = $LAB_PORT_DROPPED
kind = syn
timeout = 100ms
retries = 0
EOF
	} >"$CONF"
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$CONF"
	return 0
}

total_probes() { ctl --json targets | jpy 'sum(t["probes"] for t in d["targets"])'; }

# ---- users and group for the access tests ---------------------------------------
# Users carry "MARK_PREFIX PID STARTTIME" of the run that made them; remove
# those whose run is gone (killed before its trap ran), and their groups.
MARK="$MARK_PREFIX $$ $(lab_starttime $$)"
getent passwd | awk -F: -v m="$MARK_PREFIX " 'index($5, m) == 1 {print $1 ":" $5}' |
	while IFS=: read -r u gecos; do
		set -- ${gecos#"$MARK_PREFIX "}
		[ "$(lab_starttime "$1" 2>/dev/null)" = "${2:-}" ] && continue
		userdel "$u" 2>/dev/null
	done
getent group | awk -F: '$1 ~ /^tcpprobe-g[0-9]+$/ {print $1}' | while read -r g; do
	kill -0 "${g#tcpprobe-g}" 2>/dev/null || groupdel "$g" 2>/dev/null
done
user_ok=1
for u in "$USR" "$ADM"; do
	getent passwd "$u" >/dev/null && user_ok=0 # not ours: leave it alone
done
if getent group "$GRP" >/dev/null; then
	user_ok=0
elif groupadd -r "$GRP"; then
	MADE_GROUP=1
fi
if [ "$user_ok" = 1 ]; then
	useradd -r -M -N -g nogroup -s /usr/sbin/nologin -c "$MARK" "$USR" && MADE_USERS+=("$USR") || user_ok=0
	useradd -r -M -N -g nogroup -G "$GRP" -s /usr/sbin/nologin -c "$MARK" "$ADM" && MADE_USERS+=("$ADM") || user_ok=0
fi
if ! getent group "$GRP" >/dev/null; then
	fail ctl-setup "cannot create group $GRP"; exit 1
fi
chmod 0711 "$T" # the users run $DL_BIN, the private copy in it
as() { # USER ctl args...: the real user, its groups from /etc/group (initgroups)
	local u=$1; shift
	timeout 30 runuser -u "$u" -- "$DL_BIN" ctl -s "$SOCK" "$@"
}
as_nogroups() { # USER ctl args...: no supplementary groups; admin only via the member list
	local u=$1; shift
	timeout 30 setpriv --reuid="$u" --regid=nogroup --clear-groups -- "$DL_BIN" ctl -s "$SOCK" "$@"
}

# ---- the daemon -------------------------------------------------------------------
write_conf

# A stale socket: bound once, nobody listening. The daemon must replace it.
"$DL_PY" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"

if ! DL_KEEP_SOCK=1 dl_start "$CONF" "$DLOG"; then
	fail ctl-daemon-start "daemon did not answer; log: $(tail -n 20 "$DLOG")"
	exit 1
fi
pass ctl-daemon-start
if dlog_has "removing stale socket"; then pass ctl-stale-socket-removed
else fail ctl-stale-socket-removed "no 'removing stale socket' in the log"; fi

mode=$(stat -c %a "$SOCK") grp=$(stat -c %G "$SOCK")
if [ "$mode" = 666 ] && [ "$grp" = "$GRP" ]; then pass ctl-socket-mode-group
else fail ctl-socket-mode-group "mode $mode group $grp, expected 666 $GRP"; fi

# Wait for every target to have a few results: <= 10 s.
min_probes() { [ "$(ctl --json targets | jpy 'min(t["probes"] for t in d["targets"])')" -ge "$1" ] 2>/dev/null; }
wait_until 10 min_probes 10 || fail ctl-targets-probed "not every target had 10 probes after 10 s"

# ---- read commands --------------------------------------------------------------
out=$(ctl --json status)
if echo "$out" | jpy 'd["ok"] and d["targets"] == 4 and d["version"] and "rss_bytes" in d["memory"] and d["packets_sent"] > 0 and d["config"].endswith("tcpprobe.conf")' | grep -qx True &&
	ctl status | grep -q '^uptime:'; then pass ctl-status
else fail ctl-status "$out"; fi

out=$(ctl --json targets)
if echo "$out" | jpy '[(t["name"], t["state"], t["last_result"]) for t in d["targets"]] == [("open4","ok","ok"),("closed4","ok","refused"),("open6","ok","ok"),("dropped4","ok","timeout")] and d["targets"][0]["p99_rtt_us"] > 0 and d["targets"][1]["loss_pct"] == 0 and d["targets"][1]["failed_pct"] == 100 and d["targets"][3]["loss_pct"] == 100' | grep -qx True &&
	ctl targets | head -1 | grep -q '^NAME *ADDRESS *KIND *STATE *LAST *RTT *P50 *P99 *LOSS *FAILED$' &&
	ctl targets | grep -q "^open6 *\[$LAB_S6\]:$LAB_PORT_OPEN *syn"; then pass ctl-targets
else fail ctl-targets "$out"; fi

out=$(ctl --json show open4)
if echo "$out" | jpy 'd["target"]["name"] == "open4" and d["target"]["config"]["interval"] == "200ms" and d["target"]["results"]["ok"] >= 3 and len(d["target"]["recent"]) == 3 and len(d["target"]["recent"][0]["timeline"]) > 3 and sum(d["target"]["histograms"]["handshake"]["counts"]) >= 3 and d["target"]["peer"]["mss"] > 0' | grep -qx True &&
	ctl show open4 | grep -q '^handshake latency' && ctl show open4 | grep -q -- '--> S '; then pass ctl-show
else fail ctl-show "$(echo "$out" | cut -c1-300)"; fi
if ! ctl show nosuch 2>"$T/err" && grep -q "no target 'nosuch'" "$T/err"; then pass ctl-show-unknown
else fail ctl-show-unknown "$(cat "$T/err")"; fi

out=$(ctl --json history open4 3)
if echo "$out" | jpy 'len(d["results"]) == 3 and d["results"][0]["time"] > d["results"][1]["time"] > d["results"][2]["time"] and all(r["target"] == "open4" for r in d["results"])' | grep -qx True &&
	[ "$(ctl history closed4 | wc -l)" = 10 ] && ctl history closed4 | head -1 | grep -q ' refused$'; then pass ctl-history
else fail ctl-history "$(echo "$out" | cut -c1-300)"; fi

out=$(ctl --json metrics)
if echo "$out" | jpy '"# TYPE" in d["text"] and "tcpprobe_" in d["text"]' | grep -qx True &&
	ctl metrics | grep -q '^# TYPE'; then pass ctl-metrics
else fail ctl-metrics "$(echo "$out" | cut -c1-200)"; fi

if [ "$(ctl --json help | jpy 'len(d["commands"])')" = 14 ] && ctl help | grep -q 'probe HOST:PORT'; then pass ctl-help
else fail ctl-help "help lists the wrong commands"; fi

# ---- watch: two results, then hang up ---------------------------------------------
timeout -k 5 10 "$DL_BIN" ctl -s "$SOCK" --json watch 2>/dev/null | head -n 3 >"$T/watch"
if [ "$(head -1 "$T/watch")" = '{"ok":true}' ] && [ "$(grep -c '"event":"result"' "$T/watch")" = 2 ]; then
	pass ctl-watch
else fail ctl-watch "$(cut -c1-200 "$T/watch")"; fi
timeout -k 5 10 "$DL_BIN" ctl -s "$SOCK" watch 2>/dev/null | head -n 2 >"$T/watch"
if [ "$(grep -cE '^[0-9-]+ [0-9:.]+ (handshake|syn) \[' "$T/watch")" = 2 ]; then pass ctl-watch-human
else fail ctl-watch-human "$(cat "$T/watch")"; fi
# The daemon notices the watcher left at its next result.
clients_1() { [ "$(ctl --json status 2>/dev/null | jpy 'd["control_clients"]')" = 1 ]; }
if wait_until 3 clients_1; then pass ctl-watch-disconnect
else fail ctl-watch-disconnect "$(ctl --json status | jpy 'd["control_clients"]') clients still connected"; fi

# ---- one renderer: a result reads the same wherever it is printed ------------------
# The same probe from `ctl watch`, `ctl history` and `ctl show`: one line,
# byte for byte (report.c renders it from the JSON each command got).
dl_bg "$DL_BIN" ctl -s "$SOCK" watch >"$T/wtext" 2>/dev/null
WPID=$DL_BG
watched() { grep -q ' open4 sport=' "$T/wtext"; }
idle() { [ "$(ctl --json show open4 | jpy 'd["target"]["inflight"]')" = 0 ]; }
hline=
if wait_until 5 watched && ctl pause open4 >/dev/null && wait_until 5 idle; then
	hline=$(ctl history open4 1)
	in_watch() { grep -qxF -- "$hline" "$T/wtext"; }
	sline=$(ctl show open4 | sed -n '/^recent results:$/{n;p;q}')
fi
kill "$WPID" 2>/dev/null
ctl resume open4 >/dev/null
if [ -n "$hline" ] && wait_until 5 in_watch && [ "$sline" = "$hline" ] &&
	echo "$hline" | grep -qE "^[0-9-]+ [0-9:.]+ handshake \[$LAB_S4\]:$LAB_PORT_OPEN open4 sport=[0-9]+ ok rtt="; then
	pass ctl-result-same-text
else fail ctl-result-same-text "history: '$hline' show: '${sline:-}' watch: $(grep ' open4 ' "$T/wtext" | tail -2 | tr '\n' '|')"; fi
# `tcpprobe probe --trace` and `ctl probe`: the same line and timeline, but
# for what differs from probe to probe (port, times), probe's seq= and the
# name each gives a one-shot target (probe: the host, the daemon: HOST:PORT).
norm() { sed -E 's/^([a-z]+ \S+) \S+ (seq=[0-9]+ )?sport=/\1 NAME sport=/; s/sport=[0-9]+/sport=P/; s/rtt=[0-9.]+ ms/rtt=R ms/; s/^ +[0-9]+\.[0-9]+ us/ T us/'; }
plain=$(LAB_WRAP="timeout 30" lab_tcpprobe probe --source-ports 40000-40099 --trace --kind syn "$LAB_S4:$LAB_PORT_OPEN" 2>&1 | sed '/^$/,$d' | norm)
viactl=$(ctl probe "$LAB_S4:$LAB_PORT_OPEN" --kind syn 2>&1 | norm)
if [ -n "$plain" ] && [ "$plain" = "$viactl" ] && [ "$(echo "$plain" | grep -c ' us  ')" -ge 3 ] &&
	echo "$plain" | head -1 | grep -qxF "syn [$LAB_S4]:$LAB_PORT_OPEN NAME sport=P ok rtt=R ms ttl=64"; then
	pass ctl-probe-same-text
else fail ctl-probe-same-text "probe: $(echo "$plain" | tr '\n' '|') ctl probe: $(echo "$viactl" | tr '\n' '|')"; fi

# ---- probe -----------------------------------------------------------------------
out=$(ctl probe "$LAB_S4:$LAB_PORT_OPEN")
if [ $? = 0 ] && echo "$out" | head -1 | grep -q " ok rtt=" && echo "$out" | grep -q -- '<-- S\.'; then pass ctl-probe
else fail ctl-probe "$out"; fi
out=$(ctl --json probe "[$LAB_S6]:$LAB_PORT_CLOSED" kind=syn)
if [ "$(echo "$out" | wc -l)" = 2 ] && echo "$out" | head -1 | jpy 'd["event"] == "result" and d["result"]["result"] == "refused" and d["result"]["kind"] == "syn"' | grep -qx True &&
	[ "$(echo "$out" | tail -1)" = '{"ok":true}' ]; then pass ctl-probe-json
else fail ctl-probe-json "$out"; fi
out=$(ctl probe "$LAB_S4:$LAB_PORT_DROPPED" --kind syn timeout=100ms retries=0)
if echo "$out" | grep -q "syn .* timeout"; then pass ctl-probe-timeout
else fail ctl-probe-timeout "$out"; fi
if ! ctl probe 127.0.0.1:80 2>"$T/err" && [ -s "$T/err" ]; then pass ctl-probe-policy-error
else fail ctl-probe-policy-error "probe of 127.0.0.1 did not fail: $(cat "$T/err")"; fi

# ---- add / remove / pause / resume ---------------------------------------------------
if ctl add extra1 "$LAB_S4:$LAB_PORT_SLOWCLOSE" interval=100ms kind=syn >/dev/null &&
	ctl --json show extra1 | jpy 'd["target"]["kind"] == "syn" and d["target"]["config_line"] == 0' | grep -qx True; then
	pass ctl-add
else fail ctl-add "$(ctl show extra1 2>&1 | head -3)"; fi
if ! ctl add extra1 "$LAB_S4:$LAB_PORT_OPEN" 2>/dev/null; then pass ctl-add-duplicate
else fail ctl-add-duplicate "a second 'extra1' was accepted"; fi
if ! ctl add extra2 "$LAB_S4:$LAB_PORT_OPEN" nosuchkey=1 2>"$T/err"; then pass ctl-add-bad-option
else fail ctl-add-bad-option "accepted nosuchkey=1"; ctl remove extra2 >/dev/null 2>&1; fi
more_probes() { [ "$(probes "$1")" -gt "$2" ] 2>/dev/null; } # NAME N: more than N
if wait_until 3 more_probes extra1 0; then pass ctl-add-probes
else fail ctl-add-probes "added target never probed"; fi

ctl pause open4 >/dev/null
sleep 0.1 # a probe already in flight may still report
p1=$(ctl --json show open4 | jpy 'd["target"]["probes"]')
sleep 0.6
p2=$(ctl --json show open4 | jpy 'd["target"]["probes"]')
st=$(ctl --json show open4 | jpy 'd["target"]["state"]')
if [ "$st" = paused ] && [ "$p1" = "$p2" ]; then pass ctl-pause
else fail ctl-pause "state $st, probes $p1 -> $p2"; fi
ctl resume open4 >/dev/null
wait_until 5 more_probes open4 "$p2"
p3=$(ctl --json show open4 | jpy 'd["target"]["probes"]')
if [ "$(ctl --json show open4 | jpy 'd["target"]["state"]')" = ok ] && [ "$p3" -gt "$p2" ]; then pass ctl-resume
else fail ctl-resume "probes $p2 -> $p3"; fi
ctl pause --all >/dev/null
if [ "$(ctl --json status | jpy 'd["paused"] == d["targets"]')" = True ] &&
	[ "$(ctl --json targets | jpy 'set(t["state"] for t in d["targets"])')" = "{'paused'}" ]; then pass ctl-pause-all
else fail ctl-pause-all "$(ctl targets)"; fi
ctl resume --all >/dev/null
if [ "$(ctl --json status | jpy 'd["paused"]')" = 0 ]; then pass ctl-resume-all
else fail ctl-resume-all "$(ctl targets)"; fi
if ! ctl pause nosuch 2>/dev/null && ! ctl remove nosuch 2>/dev/null; then pass ctl-unknown-target-errors
else fail ctl-unknown-target-errors "pause/remove of a missing target succeeded"; fi
if ctl remove extra1 >/dev/null && ! ctl show extra1 2>/dev/null &&
	[ "$(ctl --json status | jpy 'd["targets"]')" = 4 ]; then pass ctl-remove
else fail ctl-remove "extra1 still there"; fi

# ---- log-level --------------------------------------------------------------------
if [ "$(ctl log-level)" = "log level: info" ] && ctl log-level debug >/dev/null &&
	[ "$(ctl --json log-level | jpy 'd["log_level"]')" = debug ] && ctl log-level info >/dev/null &&
	[ "$(ctl --json status | jpy 'd["log_level"]')" = info ]; then pass ctl-log-level
else fail ctl-log-level "$(ctl log-level 2>&1)"; fi
ctl log-level loud >/dev/null 2>&1; rc=$?
if [ "$rc" = 2 ]; then pass ctl-log-level-bad
else fail ctl-log-level-bad "exit $rc, expected 2"; fi

# ---- reload ---------------------------------------------------------------------------
write_conf "" "[target extra3]" "host = $LAB_S4" "port = $LAB_PORT_BANNER"
r0=$(ctl --json status | jpy 'd["reloads"]')
if ctl reload >/dev/null && ctl --json show extra3 >/dev/null 2>&1 &&
	[ "$(ctl --json status | jpy 'd["reloads"]')" -gt "$r0" ]; then pass ctl-reload
else fail ctl-reload "extra3 not there after reload"; fi
write_conf "" "[target broken" "host = $LAB_S4"
e0=$(ctl --json status | jpy 'd["reload_errors"]')
ctl reload 2>"$T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "tcpprobe.conf:" "$T/err" && ctl --json show extra3 >/dev/null 2>&1 &&
	[ "$(ctl --json status | jpy 'd["reload_errors"]')" -gt "$e0" ]; then pass ctl-reload-broken
else fail ctl-reload-broken "exit $rc: $(cat "$T/err")"; fi
write_conf
ctl reload >/dev/null
if ! ctl show extra3 2>/dev/null && [ "$(ctl --json status | jpy 'd["targets"]')" = 4 ]; then pass ctl-reload-restore
else fail ctl-reload-restore "extra3 survived the reload"; fi

# ---- access: a real unprivileged user -------------------------------------------------
if [ "$user_ok" = 1 ]; then
	bad=
	for cmd in "probe $LAB_S4:$LAB_PORT_OPEN" "add u1 $LAB_S4:$LAB_PORT_OPEN" "remove open4" \
		"pause open4" "pause --all" "resume open4" "resume --all" "reload" "log-level debug"; do
		# shellcheck disable=SC2086
		as "$USR" $cmd >/dev/null 2>"$T/err"
		rc=$?
		grep -q "permission denied: '${cmd%% *}' needs uid 0 or group $GRP" "$T/err" && [ "$rc" = 1 ] || bad="$bad [$cmd: exit $rc $(cat "$T/err")]"
	done
	if [ -z "$bad" ] && [ "$(ctl --json status | jpy 'd["paused"], d["targets"], d["log_level"]')" = "(0, 4, 'info')" ]; then
		pass ctl-user-mutating-denied
	else fail ctl-user-mutating-denied "$bad"; fi
	bad=
	for cmd in status targets "show open4" "history open4 2" metrics help log-level; do
		# shellcheck disable=SC2086
		as "$USR" $cmd >/dev/null 2>"$T/err" || bad="$bad [$cmd: $(cat "$T/err")]"
	done
	timeout -k 5 10 runuser -u "$USR" -- "$T/tcpprobe" ctl -s "$SOCK" --json watch 2>/dev/null | head -n 2 >"$T/watch"
	[ "$(grep -c '"event":"result"' "$T/watch")" = 1 ] || bad="$bad [watch]"
	if [ -z "$bad" ]; then pass ctl-user-read-allowed
	else fail ctl-user-read-allowed "$bad"; fi
	if as "$ADM" pause open4 >/dev/null && as "$ADM" resume open4 >/dev/null; then pass ctl-admin-group-member
	else fail ctl-admin-group-member "member of $GRP refused"; fi
	if as_nogroups "$ADM" pause open4 >/dev/null && as_nogroups "$ADM" resume open4 >/dev/null; then
		pass ctl-admin-group-member-list
	else fail ctl-admin-group-member-list "member of $GRP (by /etc/group only) refused"; fi
	chmod 0600 "$SOCK"
	as "$USR" status >/dev/null 2>"$T/err"; rc=$?
	chmod 0666 "$SOCK"
	if [ "$rc" = 1 ] && grep -q "Permission denied (need access to the socket)" "$T/err"; then pass ctl-user-socket-eacces
	else fail ctl-user-socket-eacces "exit $rc: $(cat "$T/err")"; fi
else
	skip ctl-user-access "users $USR/$ADM exist and are not this test's"
fi

# ---- protocol abuse -------------------------------------------------------------------
before=$(total_probes)
out=$(raw send 'frobnicate\nstatus\n' 2)
if echo "$out" | head -1 | jpy 'not d["ok"] and "unknown command" in d["error"]' | grep -qx True &&
	echo "$out" | tail -1 | jpy 'd["ok"]' | grep -qx True; then pass ctl-unknown-command
else fail ctl-unknown-command "$out"; fi
out=$(raw send 'status\r\ntargets\nhelp\n\n' 4)
if [ "$(echo "$out" | jpy 'd["ok"] and "uptime_s" in d')" = True ] &&
	[ "$(echo "$out" | sed -n 2p | jpy '"targets" in d')" = True ] &&
	[ "$(echo "$out" | sed -n 3p | jpy '"commands" in d')" = True ] &&
	[ "$(echo "$out" | sed -n 4p | jpy 'd["ok"]')" = False ]; then pass ctl-pipelined
else fail ctl-pipelined "$out"; fi
out=$(raw send 'status' 1 shut)
if echo "$out" | jpy 'd["ok"]' | grep -qx True; then pass ctl-last-line-without-newline
else fail ctl-last-line-without-newline "$out"; fi
out=$(raw send 'status now\n' 1)
if echo "$out" | jpy 'd["error"]' | grep -qx "usage: status"; then pass ctl-usage-error
else fail ctl-usage-error "$out"; fi
out=$(raw garbage)
[ "$out" = ok ] && pass ctl-garbage || fail ctl-garbage "$out"
out=$(raw overlong nl)
[ "$out" = ok ] && pass ctl-overlong-line || fail ctl-overlong-line "$out"
out=$(raw overlong nonl)
[ "$out" = ok ] && pass ctl-overlong-no-newline || fail ctl-overlong-no-newline "$out"

rss0=$(ctl --json status | jpy 'd["memory"]["rss_bytes"]')
# Not through raw(): $! must be the process holding the socket (timeout
# passes the TERM on to python).
dl_bg timeout 60 "$DL_PY" "$T/raw.py" "$SOCK" neverread 20 >"$T/nr"
nrpid=$DL_BG
for i in $(seq 1 100); do grep -q ready "$T/nr" && break; sleep 0.1; done
sleep 0.5
ok=1
for i in 1 2 3; do timeout 5 "$DL_BIN" ctl -s "$SOCK" status >/dev/null || ok=0; done
rss1=$(ctl --json status | jpy 'd["memory"]["rss_bytes"]')
if [ "$ok" = 1 ] && grep -q ready "$T/nr" && [ $((rss1 - rss0)) -lt $((16 << 20)) ]; then
	pass ctl-never-reading-client
else fail ctl-never-reading-client "status ok=$ok, $(cat "$T/nr"), rss $rss0 -> $rss1"; fi
kill "$nrpid" 2>/dev/null; wait "$nrpid" 2>/dev/null

# A watcher that never reads, with results coming fast (40 targets at the
# shortest interval, ~400 results/s of ~1 KB): dropped at the mark (1 MiB).
for i in $(seq 1 40); do ctl add flood$i "$LAB_S4:$LAB_PORT_OPEN" interval=100ms >/dev/null; done
out=$(raw watchflood 8)
for i in $(seq 1 40); do ctl remove flood$i >/dev/null; done
if [ "$out" = dropped ] && dlog_has "watcher not reading"; then pass ctl-slow-watcher-dropped
else fail ctl-slow-watcher-dropped "$out"; fi

# Out of descriptors: accept fails with EMFILE. The daemon must pause
# accepting for a second (not spin on the readable listener) and resume.
# A daemon of its own, with no targets and no RST guard: it sends nothing,
# and nothing else in it needs a descriptor during the test.
if command -v prlimit >/dev/null; then
	printf '%s\n' "[daemon]" "control_socket = $T/emfile.sock" "metrics_listen = off" \
		"source_ports = 30000-30999" "rst_guard = none" >"$T/emfile.conf"
	dl_spawn "$T/emfile.sock" "$T/emfile.conf" "$T/emfile.log" ||
		fail ctl-emfile-start "the second daemon did not answer in 10 s"
	epid=$DL_SPAWNED
	read -r soft hard < <(prlimit --pid "$epid" --nofile --output SOFT,HARD --noheadings)
	# The kernel hands out the lowest free descriptor: a limit at the first
	# gap makes the next accept fail.
	free=$(ls "/proc/$epid/fd" | sort -n | awk '$1 != NR - 1 {print NR - 1; f = 1; exit} END {if (!f) print NR}')
	cpu0=$(awk '{print $14 + $15}' "/proc/$epid/stat")
	prlimit --pid "$epid" --nofile="$free:$hard"
	dl_bg timeout 30 "$DL_PY" "$T/raw.py" "$T/emfile.sock" hold 3 6 >"$T/hold"
	hpid=$DL_BG
	sleep 2
	cpu1=$(awk '{print $14 + $15}' "/proc/$epid/stat" 2>/dev/null || echo 999999)
	prlimit --pid "$epid" --nofile="$soft:$hard"
	wait "$hpid"
	if grep -q "accept: Too many open files; not accepting for 1 s" "$T/emfile.log" &&
		[ "$(cat "$T/hold")" = 3 ] && [ $((cpu1 - cpu0)) -lt 50 ] &&
		timeout 5 "$DL_BIN" ctl -s "$T/emfile.sock" status >/dev/null; then
		pass ctl-emfile-pauses-accept
	else fail ctl-emfile-pauses-accept "answered $(cat "$T/hold")/3, cpu ticks $((cpu1 - cpu0)); $(tail -3 "$T/emfile.log")"; fi
	dl_kill "$epid"
else
	skip ctl-emfile-pauses-accept "no prlimit"
fi

# Every earlier client gone (the daemon notices at its next read or write).
wait_until 5 clients_1 || fail ctl-clients-gone "earlier clients still connected after 5 s"
out=$(raw maxclients 256)
if [ "$out" = ok ]; then pass ctl-max-clients
else fail ctl-max-clients "$out"; fi
if wait_until 3 clients_1 && ctl status >/dev/null; then pass ctl-after-max-clients
else fail ctl-after-max-clients "daemon does not answer"; fi

grown() { [ "$(total_probes)" -gt "$before" ]; }
wait_until 5 grown
after=$(total_probes)
if kill -0 "$DL_PID" 2>/dev/null && [ "$after" -gt "$before" ]; then pass ctl-daemon-survives-abuse
else fail ctl-daemon-survives-abuse "probes $before -> $after"; fi

# ---- a second daemon, and a path that is not a socket ------------------------------------
if ! kill -0 "$DL_PID" 2>/dev/null; then
	fail ctl-daemon-alive "the daemon died; log: $(tail -5 "$DLOG")"
	exit 1
fi
dl_conf_daemon source_ports=30000-30999 rst_guard=none >"$T/second.conf"
dl_run "$T/second.conf" "$T/second.log"; rc=$?
if [ "$rc" != 0 ] && grep -q "another daemon is answering" "$T/second.log" && ctl status >/dev/null; then
	pass ctl-second-daemon-refused
else fail ctl-second-daemon-refused "exit $rc: $(tail -3 "$T/second.log")"; fi
echo data >"$T/regular"
sed -i "s|^control_socket = .*|control_socket = $T/regular|" "$T/second.conf"
dl_run "$T/second.conf" "$T/second.log"; rc=$?
if [ "$rc" != 0 ] && grep -q "not a socket" "$T/second.log" && [ "$(cat "$T/regular")" = data ]; then
	pass ctl-not-a-socket-refused
else fail ctl-not-a-socket-refused "exit $rc: $(tail -3 "$T/second.log")"; fi

# ---- shutdown removes the socket -------------------------------------------------------
DPID=$DL_PID
dl_stop TERM
drc=$DL_RC
if [ "$drc" = 0 ] && [ ! -e "$SOCK" ]; then pass ctl-socket-removed-on-exit
else fail ctl-socket-removed-on-exit "daemon exit status $drc, socket left: $([ -e "$SOCK" ] && echo yes || echo no)"; fi
"$DL_BIN" ctl -s "$SOCK" status 2>"$T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "No such file or directory (is the daemon running?)" "$T/err"; then pass ctl-no-daemon-message
else fail ctl-no-daemon-message "exit $rc: $(cat "$T/err")"; fi

# Under SANITIZE=1 the daemon reports memory errors and leaks at exit: to
# its stderr, or (tests/run.sh sets log_path) to files PATH.PID. Read both;
# a plain build has no sanitizer to report (an allowed skip there).
if [ "${SANITIZE:-0}" = 1 ]; then
	sanfiles=()
	for o in "${ASAN_OPTIONS:-}" "${UBSAN_OPTIONS:-}"; do
		lp=$(echo "$o" | tr ':' '\n' | sed -n 's/^log_path=//p' | tail -n 1)
		[ -n "$lp" ] && [ -e "$lp.$DPID" ] && sanfiles+=("$lp.$DPID")
	done
	if grep -q "Sanitizer" "$DLOG"; then fail ctl-daemon-sanitizer-clean "$(grep -m3 -A8 Sanitizer "$DLOG")"
	elif [ ${#sanfiles[@]} -gt 0 ]; then
		fail ctl-daemon-sanitizer-clean "$(grep -hE 'ERROR|SUMMARY' "${sanfiles[@]}" | head -n 4 | paste -sd ';' -) (${sanfiles[*]})"
	elif [ "$drc" != 0 ]; then fail ctl-daemon-sanitizer-clean "the daemon exited $drc"
	else pass ctl-daemon-sanitizer-clean; fi
else
	skip ctl-daemon-sanitizer-clean "not a sanitizer build (make check SANITIZE=1 runs it)"
fi

dl_done || { echo "daemon log (last 30 lines):"; tail -n 30 "$DLOG" | sed 's/^/    /'; }
dl_done
