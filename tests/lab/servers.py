#!/usr/bin/python3
"""Lab servers: one single-threaded selector loop on the kernel's own TCP stack.

Run inside the lab's server namespace by lab.sh (tests/lab/lab.sh), with
/usr/bin/python3 and the standard library only.  Every listener is one
dual-stack socket bound to [::] with IPV6_V6ONLY=0, so it answers on every
address of the namespace, including the AnyIP ranges routed to lo.

Behaviours (port numbers come from the command line; lab.sh owns the map):
  open         accept, read until EOF, close (normal close)
  slow-close   accept, read until EOF, wait --slow-ms, close: the ACK of the
               peer's FIN (delayed ACK, ~40 ms) and our FIN go out as separate
               segments, so the peer sees a four-way close
  close-first  accept and close at once: our FIN comes first
  banner       accept, send the banner, read until EOF, close
The extra range (--extra LO-HI) gets the open behaviour on real listeners:
no NAT, hence no conntrack in the server namespace, so crafted segments
reach the kernel's TCP exactly as sent.

Ports 8081 (closed), 8082 (dropped) and 8083/8084 (ICMP rejects) need no
process: nothing listens, and nftables (set up by lab.sh) does the rest.

Exits on SIGTERM/SIGINT, and by itself when the --owner process is gone, so
a killed test script cannot leak it.
"""

import argparse
import errno
import heapq
import os
import resource
import selectors
import signal
import socket
import sys
import time

BANNER = b"SSH-2.0-tcpprobe-lab\r\n"

OPEN, SLOW, FIRST, BANNER_B = "open", "slow-close", "close-first", "banner"


def log(msg):
    print("servers[%d]: %s" % (os.getpid(), msg), file=sys.stderr, flush=True)


def port_range(s):
    lo, _, hi = s.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not 0 < lo <= hi < 65536:
        raise argparse.ArgumentTypeError("bad port range %r" % s)
    return range(lo, hi + 1)


class Conn:
    __slots__ = ("sock", "kind", "last")

    def __init__(self, sock, kind, now):
        self.sock, self.kind, self.last = sock, kind, now


class Servers:
    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.listeners = {}          # fd -> (socket, behaviour)
        self.conns = {}              # fd -> Conn
        self.timers = []             # heap of (deadline, seq, fn, arg)
        self.tseq = 0
        self.stop = False
        self.accept_paused = False
        self.stats = {"accepted": 0, "closed": 0, "emfile": 0}

    # timers -----------------------------------------------------------
    def at(self, delay, fn, arg=None):
        self.tseq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.tseq, fn, arg))

    def run_timers(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, fn, arg = heapq.heappop(self.timers)
            fn(arg)

    # listeners --------------------------------------------------------
    def listen(self, port, kind):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(self.args.backlog)
        s.setblocking(False)
        self.listeners[s.fileno()] = (s, kind)
        self.sel.register(s, selectors.EVENT_READ, ("L", kind))

    def pause_accept(self, _=None):
        # Out of descriptors: stop accepting for a second instead of spinning
        # on a listener that stays readable (relayd does the same).
        if self.accept_paused:
            return
        self.accept_paused = True
        for s, _k in self.listeners.values():
            self.sel.unregister(s)
        self.at(1.0, self.resume_accept)

    def resume_accept(self, _=None):
        self.accept_paused = False
        for s, kind in self.listeners.values():
            self.sel.register(s, selectors.EVENT_READ, ("L", kind))

    def on_accept(self, ls, kind):
        for _ in range(256):          # bounded per wake-up, fair to the rest
            try:
                cs, _addr = ls.accept()
            except BlockingIOError:
                return
            except (ConnectionAbortedError, ConnectionResetError):
                continue
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.stats["emfile"] += 1
                    log("accept: %s; pausing accepts for 1 s" % os.strerror(e.errno))
                    self.pause_accept()
                    return
                raise
            self.stats["accepted"] += 1
            if kind == FIRST:
                cs.close()
                self.stats["closed"] += 1
                continue
            cs.setblocking(False)
            if kind == BANNER_B:
                try:
                    cs.send(BANNER)
                except OSError:
                    cs.close()
                    self.stats["closed"] += 1
                    continue
            c = Conn(cs, kind, time.monotonic())
            self.conns[cs.fileno()] = c
            self.sel.register(cs, selectors.EVENT_READ, ("C", c))

    # connections ------------------------------------------------------
    def close(self, c):
        if self.conns.pop(c.sock.fileno(), None) is None:
            return
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        self.stats["closed"] += 1

    def close_later(self, c):
        # Stop reading but keep the socket in conns so shutdown still closes it.
        self.sel.unregister(c.sock)
        self.at(self.args.slow_ms / 1000.0, self.close_unregistered, c)

    def close_unregistered(self, c):
        if self.conns.pop(c.sock.fileno(), None) is not None:
            c.sock.close()
            self.stats["closed"] += 1

    def on_read(self, c):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:               # ECONNRESET, ETIMEDOUT: peer is gone
            self.close(c)
            return
        c.last = time.monotonic()
        if data:
            return
        if c.kind == SLOW:
            self.close_later(c)
        else:
            self.close(c)

    def reap_idle(self, _=None):
        limit = time.monotonic() - self.args.idle
        for c in [c for c in self.conns.values() if c.last < limit]:
            if self.sel.get_map().get(c.sock.fileno()) is not None:
                self.close(c)
        self.at(min(5.0, self.args.idle), self.reap_idle)

    def check_owner(self, _=None):
        try:
            os.kill(self.args.owner, 0)
        except ProcessLookupError:
            log("owner %d is gone; exiting" % self.args.owner)
            self.stop = True
            return
        except PermissionError:
            pass
        self.at(1.0, self.check_owner)

    # main loop --------------------------------------------------------
    def run(self):
        a = self.args
        for port in a.open:
            self.listen(port, OPEN)
        for port in a.slow_close:
            self.listen(port, SLOW)
        for port in a.close_first:
            self.listen(port, FIRST)
        for port in a.banner:
            self.listen(port, BANNER_B)
        for r in a.extra:
            for port in r:
                self.listen(port, OPEN)
        self.at(min(5.0, a.idle), self.reap_idle)
        if a.owner:
            self.at(1.0, self.check_owner)
        log("ready: %d listeners, backlog %d" % (len(self.listeners), a.backlog))
        print("ready", flush=True)
        while not self.stop:
            timeout = 0.5
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - time.monotonic()))
            for key, _ev in self.sel.select(timeout):
                tag, obj = key.data
                if tag == "L":
                    self.on_accept(key.fileobj, obj)
                else:
                    self.on_read(obj)
            self.run_timers()
        for c in list(self.conns.values()):
            c.sock.close()
        for s, _k in self.listeners.values():
            s.close()
        log("exit: %s" % " ".join("%s=%d" % kv for kv in sorted(self.stats.items())))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--open", type=int, action="append", default=[])
    p.add_argument("--slow-close", type=int, action="append", default=[])
    p.add_argument("--close-first", type=int, action="append", default=[])
    p.add_argument("--banner", type=int, action="append", default=[])
    p.add_argument("--extra", type=port_range, action="append", default=[],
                   help="LO-HI: extra open-behaviour ports")
    p.add_argument("--slow-ms", type=int, default=200)
    p.add_argument("--backlog", type=int, default=16384)
    p.add_argument("--idle", type=float, default=120.0,
                   help="close connections idle this many seconds")
    p.add_argument("--owner", type=int, default=0,
                   help="exit when this PID no longer exists")
    args = p.parse_args()

    # 1000+ listeners plus load-test connections exceed the usual 1024.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 1 << 20), hard))

    srv = Servers(args)

    def on_signal(_sig, _frm):
        srv.stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        srv.run()
    except OSError as e:
        log("fatal: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
