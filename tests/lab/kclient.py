#!/usr/bin/python3
"""Kernel TCP client for the lab: the reference behaviour tcpprobe is checked against.

Run in the client namespace (lab_cexec /usr/bin/python3 kclient.py ...).
Output is one line of key=value pairs, easy to pick apart in bash.

  connect HOST PORT [--timeout S]
      outcome=open|timeout|<ERRNO NAME> ms=<connect time>
  talk HOST PORT [--timeout S] [--pre-wait S]
      connect; collect what the peer sends (or its EOF) for --pre-wait
      seconds; shutdown(SHUT_WR); time the peer's EOF.
      outcome=... data=<escaped bytes> early_eof_ms=<ms after connect or -1>
      eof_ms=<ms after our shutdown or -1>
  wait [--timeout S] HOST:PORT...    ([v6]:port for IPv6)
      retry until every target accepts a connection; exit 1 naming the
      ones that did not, after --timeout seconds in all.  Each connection
      is closed gracefully and completely, so none is still closing (and
      none sends a packet) after this returns.

Linux quirk seen in the lab: an ICMPv6 error that comes back while
connect() still holds the socket lock is only kept as a soft error
(TcpExtLockDroppedIcmps); the connect then fails after the first SYN
retransmission (~1 s), not at once.  IPv4 errors are not affected here.
"""

import argparse
import errno
import select
import socket
import sys
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def now_ms():
    return time.monotonic() * 1000.0


def do_connect(host, port, timeout):
    """Return (socket or None, outcome string, elapsed ms)."""
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = now_ms()
    try:
        s.connect((host, port))
    except socket.timeout:
        s.close()
        return None, "timeout", now_ms() - t0
    except OSError as e:
        s.close()
        return None, errno.errorcode.get(e.errno, str(e.errno)), now_ms() - t0
    return s, "open", now_ms() - t0


def escape(b):
    return b.decode("latin-1").encode("unicode_escape").decode("ascii") or "-"


def read_until(s, deadline_ms, buf):
    """Read into buf until EOF or the deadline. Return True on EOF."""
    while True:
        left = deadline_ms - now_ms()
        if left <= 0:
            return False
        r, _, _ = select.select([s], [], [], left / 1000.0)
        if not r:
            return False
        try:
            d = s.recv(65536)
        except OSError:
            return True               # reset counts as end of stream here
        if not d:
            return True
        buf.extend(d)


def cmd_connect(a):
    s, outcome, ms = do_connect(a.host, a.port, a.timeout)
    if s:
        s.close()
    print("outcome=%s ms=%.1f" % (outcome, ms))
    return 0


def cmd_talk(a):
    s, outcome, ms = do_connect(a.host, a.port, a.timeout)
    if not s:
        print("outcome=%s ms=%.1f data=- early_eof_ms=-1 eof_ms=-1" % (outcome, ms))
        return 0
    buf = bytearray()
    t0 = now_ms()
    early = read_until(s, t0 + a.pre_wait * 1000.0, buf)
    early_ms = now_ms() - t0 if early else -1
    t1 = now_ms()
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    eof_ms = -1
    if early:
        eof_ms = 0
    elif read_until(s, t1 + a.timeout * 1000.0, buf):
        eof_ms = now_ms() - t1
    s.close()
    print("outcome=open ms=%.1f data=%s early_eof_ms=%.1f eof_ms=%.1f"
          % (ms, escape(bytes(buf)), early_ms, eof_ms))
    return 0


def split_target(t):
    host, _, port = t.rpartition(":")
    return host.strip("[]"), int(port)


def close_gracefully(s, timeout_ms):
    """shutdown, drain to the peer's EOF, close: no RST, nothing left in flight
    (a slow-close port finishes its close before this returns)."""
    try:
        s.shutdown(socket.SHUT_WR)
        read_until(s, now_ms() + timeout_ms, bytearray())
    except OSError:
        pass
    s.close()


def cmd_wait(a):
    pending = [split_target(t) for t in a.targets]
    deadline = time.monotonic() + a.timeout
    while pending and time.monotonic() < deadline:
        still = []
        for host, port in pending:
            s, _outcome, _ms = do_connect(host, port, 0.5)
            if s:
                close_gracefully(s, 2000)
            else:
                still.append((host, port))
        pending = still
        if pending:
            time.sleep(0.05)
    time.sleep(0.05)                  # the last ACKs of the last close
    if pending:
        print("not answering: " + " ".join("%s:%d" % hp for hp in pending))
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("connect")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--timeout", type=float, default=1.0)
    t = sub.add_parser("talk")
    t.add_argument("host")
    t.add_argument("port", type=int)
    t.add_argument("--timeout", type=float, default=2.0)
    t.add_argument("--pre-wait", type=float, default=0.15)
    w = sub.add_parser("wait")
    w.add_argument("targets", nargs="+")
    w.add_argument("--timeout", type=float, default=10.0)
    a = p.parse_args()
    return {"connect": cmd_connect, "talk": cmd_talk, "wait": cmd_wait}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
