#!/usr/bin/python3
"""Control-socket client for the daemon's lab tests (stdlib only).

  dctl.py SOCK snapshot OUT.json    status, targets and `show` of every
                                    target (pipelined on one connection)
                                    into one JSON file
  dctl.py SOCK many N SECONDS       N clients connect at once, each sends
                                    `status`; prints "answered=A refused=R
                                    failed=F" (refused: a clean error reply
                                    or a hang-up before any reply)
  dctl.py SOCK latency SECONDS REQUEST [PERIOD_MS]  REQUEST (e.g. status)
                                    on a new connection every PERIOD_MS
                                    (100) for SECONDS,
                                    each timed from connect to the whole
                                    reply (5 s limit); prints "n=N failed=F
                                    median_ms=M max_ms=X"
  dctl.py SOCK hangup REQUEST N BYTES  N clients one after the other send
                                    REQUEST, read BYTES of the reply and
                                    hang up; prints "read=B1,B2,..."

One request per line, one JSON reply per line: the protocol `tcpprobe ctl`
speaks (daemon/ctlproto.h).
"""

import json
import socket
import sys
import time


def connect(path, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


class Lines:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def next(self):
        return json.loads(self.next_raw())

    def next_raw(self):
        # A `metrics` reply is tens of MB: look for the newline in each new
        # chunk only and join once (no rescan, no quadratic +=).
        parts, n = [self.buf], self.buf.find(b"\n")
        while n < 0:
            b = self.s.recv(1 << 20)
            if not b:
                raise EOFError("daemon hung up")
            parts.append(b)
            n = b.find(b"\n")
        buf = b"".join(parts)
        n = buf.find(b"\n", len(buf) - len(parts[-1]))
        line, self.buf = buf[:n], buf[n + 1:]
        return line


def snapshot(path, out):
    s = connect(path)
    rd = Lines(s)
    s.sendall(b"status\ntargets\n")
    status, targets = rd.next(), rd.next()
    if not status.get("ok") or not targets.get("ok"):
        sys.exit("dctl: %r %r" % (status, targets))
    names = [t["name"] for t in targets["targets"]]
    shows = {}
    # A window of requests in flight: replies are a few KB each.
    sent = got = 0
    while got < len(names):
        while sent < len(names) and sent - got < 64:
            s.sendall(("show %s\n" % names[sent]).encode())
            sent += 1
        r = rd.next()
        if not r.get("ok"):
            sys.exit("dctl: show %s: %r" % (names[got], r))
        shows[r["target"]["name"]] = r["target"]
        got += 1
    s.close()
    with open(out, "w") as f:
        json.dump({"time": time.time(), "status": status, "targets": targets["targets"],
                   "show": shows}, f)


def many(path, n, secs):
    """n clients, all connected before any reply is read. The connects
    block (no timeout: Python would make the socket non-blocking, and a
    Unix socket's connect fails with EAGAIN, not EINPROGRESS, when the
    listen backlog is full); the daemon accepts as fast as it can. The
    caller bounds the whole run with timeout(1)."""
    socks, failed = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(secs)
            s.send(b"status\n")
        except BrokenPipeError:
            pass  # refused before the request went out: read the reply anyway
        except OSError:
            failed += 1
            s.close()
            continue
        socks.append(s)
    answered = refused = 0
    end = time.time() + secs
    for s in socks:
        s.settimeout(max(0.05, end - time.time()))
        buf = b""
        try:
            while b"\n" not in buf:
                b = s.recv(65536)
                if not b:
                    break
                buf += b
        except socket.timeout:
            failed += 1
            s.close()
            continue
        except ConnectionResetError:
            pass
        if b"\n" not in buf:
            refused += 1  # hung up without a reply
        else:
            r = json.loads(buf.split(b"\n", 1)[0])
            if r.get("ok") and "uptime_s" in r:
                answered += 1
            elif not r.get("ok") and r.get("error"):
                refused += 1
            else:
                failed += 1
        s.close()
    print("answered=%d refused=%d failed=%d" % (answered, refused, failed))


def read_upto(s, nbytes):
    """Read up to nbytes from s (fewer if it hangs up); how many came."""
    k = 0
    while k < nbytes:
        b = s.recv(nbytes - k)
        if not b:
            break
        k += len(b)
    return k


def hangup(path, request, n, nbytes):
    """n clients that send request, read nbytes of the reply, and hang up."""
    got = []
    for _ in range(n):
        s = connect(path, timeout=5)
        s.sendall(request.encode() + b"\n")
        got.append(read_upto(s, nbytes))
        s.close()
    print("read=%s" % ",".join(map(str, got)))


def latency(path, secs, request, period=0.1):
    end = time.time() + secs
    lat, failed = [], 0
    while time.time() < end:
        t = time.time()
        try:
            s = connect(path, timeout=5)
            s.sendall(request.encode() + b"\n")
            line = Lines(s).next_raw()
            # Parsing 31 MB of `metrics` JSON takes this client longer than
            # the daemon takes to send it: a whole reply ends with its "ok"
            # (the text is checked elsewhere: metrics.sh ctl-agrees).
            ok = line.endswith(b',"ok":true}') or json.loads(line).get("ok")
            s.close()
        except (OSError, EOFError, ValueError):
            ok = False
        dt = time.time() - t
        lat.append(dt)
        failed += not ok
        time.sleep(max(0, period - dt))
    lat.sort()
    print("n=%d failed=%d median_ms=%.0f max_ms=%.0f" % (
        len(lat), failed, lat[len(lat) // 2] * 1000 if lat else 0, lat[-1] * 1000 if lat else 0))


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    if cmd == "snapshot":
        snapshot(path, sys.argv[3])
    elif cmd == "many":
        many(path, int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "hangup":
        hangup(path, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "latency":
        latency(path, float(sys.argv[3]), sys.argv[4],
                float(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0.1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
