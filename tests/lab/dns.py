#!/usr/bin/python3
"""A tiny authoritative DNS server for the lab (tests/integration/dns.sh).

  dns.py --listen ADDR --zone ZONE.json [--port 53] [--log FILE]

ZONE.json, read again whenever it changes:
  {"a": {"name.lab": "198.19.2.1", ...}, "dead": ["other.lab", ...]}
A and AAAA questions for a name in "a" get its IPv4 address (AAAA: no
data); a name in "dead" gets no answer at all, as from a server that died
for it; anything else gets NXDOMAIN. The question is echoed byte for byte
(evdns randomizes the case of names and checks it). Each query is logged
as "TIME NAME TYPE answered|dropped|nxdomain". Prints "ready" once bound.
"""

import argparse
import json
import os
import socket
import struct
import sys
import time


def parse_question(msg):
    """(id, flags, name lowercased, qtype, end offset of the question) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1 or flags & 0x8000:
        return None
    i, labels = 12, []
    while i < len(msg) and msg[i]:
        n = msg[i]
        if n & 0xC0 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 5 > len(msg):
        return None
    qtype, _qclass = struct.unpack("!HH", msg[i + 1:i + 5])
    return qid, flags, ".".join(labels).lower(), qtype, i + 5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--log", default="/dev/null")
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.listen, a.port))
    print("ready", flush=True)
    zone, mtime = {}, None
    log = open(a.log, "a", buffering=1)
    while True:
        msg, peer = s.recvfrom(4096)
        try:
            st = os.stat(a.zone).st_mtime_ns
            if st != mtime:
                with open(a.zone) as f:
                    zone = json.load(f)
                mtime = st
        except (OSError, ValueError) as e:
            print("zone: %s" % e, file=sys.stderr, flush=True)
        q = parse_question(msg)
        if not q:
            continue
        qid, flags, name, qtype, end = q
        name = name.rstrip(".")
        if name in zone.get("dead", []):
            log.write("%.6f %s %d dropped\n" % (time.time(), name, qtype))
            continue
        rd = flags & 0x0100
        addr = zone.get("a", {}).get(name)
        answers = b""
        if addr is None:
            rcode, what = 3, "nxdomain"
        else:
            rcode, what = 0, "answered"
            if qtype == 1:
                answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(addr)
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, 1 if answers else 0, 0, 0)
        s.sendto(hdr + msg[12:end] + answers, peer)
        log.write("%.6f %s %d %s\n" % (time.time(), name, qtype, what))


if __name__ == "__main__":
    main()
