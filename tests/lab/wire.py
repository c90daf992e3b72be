#!/usr/bin/python3
"""What went over the lab's wire, read from a pcap (nanosecond or microsecond).

Stdlib only: a small pcap reader rather than scapy, because benchmark captures
hold millions of segments.

  wire.py dump FILE               one line per TCP segment or ICMP error/echo
  wire.py flags FILE --port P     flag sequence per conversation with port P
  wire.py rtts FILE [--stats]     wire RTT of each SYN -> SYN/ACK pair
  wire.py rsts FILE [--side S]    RST segments sent by the client (or S) side

Dump columns (space separated, '-' for none):
  t_ns dir src sport dst dport flags seq ack win len opts csum_ok
t_ns is the capture timestamp in ns since the epoch (--rel: since the first
packet); dir is '>' client->server, '<' otherwise; flags use tcpdump's letters
in tcpdump's order (S, S., ., F., R., R, P., FP., SEW, none); seq and ack are
absolute; len is the TCP payload length; opts are comma separated: mss1460,
sackOK, TS<val>:<ecr>, nop, eol, ws<shift>, sack<l>-<r>[/<l>-<r>...],
fastopen<hex>, opt<kind>:<hex>; csum_ok is ok, bad (TCP), badip (IPv4 header)
or ? (truncated or fragmented: cannot tell).
ICMP lines put icmp<type>/<code> (icmp6:<type>/<code>) in flags, the ICMP
length in len, the quoted segment as q:<src>.<sport>><dst>.<dport>/<seq> in
opts, and the ICMP checksum in csum_ok.  Neighbour discovery and MLD are left
out unless --all.

Client addresses: --client (repeatable), else $LAB_C4/$LAB_C6, else the lab's
198.18.0.1 and fd00:18::1.
"""

import argparse
import os
import socket
import struct
import sys

# tcpdump's print-tcp.c order, so "FIN|ACK" prints as "F." like tcpdump.
FLAG_LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"),
                (0x10, "."), (0x20, "U"), (0x40, "E"), (0x80, "W"))
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def flag_str(f):
    s = "".join(ch for bit, ch in FLAG_LETTERS if f & bit)
    return s or "none"


def csum16(data, init=0):
    if len(data) & 1:
        data += b"\0"
    s = init + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class Seg:
    """One parsed TCP segment or ICMP message."""
    __slots__ = ("t", "v6", "src", "dst", "sport", "dport", "flags", "seq", "ack",
                 "win", "plen", "opts", "csum", "icmp", "quote", "ttl", "ipid")

    def key(self):
        """Conversation key: the unordered pair of endpoints."""
        a, b = (self.src, self.sport), (self.dst, self.dport)
        return (a, b) if a <= b else (b, a)


def tcp_opts(b):
    out, i = [], 0
    while i < len(b):
        k = b[i]
        if k == 0:
            out.append("eol")
            break
        if k == 1:
            out.append("nop")
            i += 1
            continue
        if i + 1 >= len(b) or b[i + 1] < 2 or i + b[i + 1] > len(b):
            out.append("bad%d" % k)
            break
        n = b[i + 1]
        v = b[i + 2:i + n]
        if k == 2 and n == 4:
            out.append("mss%d" % struct.unpack("!H", v)[0])
        elif k == 3 and n == 3:
            out.append("ws%d" % v[0])
        elif k == 4 and n == 2:
            out.append("sackOK")
        elif k == 5 and (n - 2) % 8 == 0:
            blocks = [struct.unpack("!II", v[j:j + 8]) for j in range(0, len(v), 8)]
            out.append("sack" + "/".join("%d-%d" % lr for lr in blocks))
        elif k == 8 and n == 10:
            out.append("TS%d:%d" % struct.unpack("!II", v))
        elif k == 34:
            out.append("fastopen" + (v.hex() or "req"))
        else:
            out.append("opt%d:%s" % (k, v.hex()))
        i += n
    return ",".join(out) or "-"


def ntop(v6, raw):
    return socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw)


def parse_ip(buf, want_csum=True):
    """Return (v6, src, dst, proto, l4 bytes, l4 wire length, pseudo-header sum,
    ip_ok, ttl, ipid, complete) or None."""
    if len(buf) < 1:
        return None
    ver = buf[0] >> 4
    if ver == 4:
        if len(buf) < 20:
            return None
        ihl = (buf[0] & 15) * 4
        tot, ipid, frag, ttl, proto = struct.unpack("!2xHHHBB", buf[:10])
        if ihl < 20 or len(buf) < ihl:
            return None
        if frag & 0x1FFF:
            return None              # not the first fragment: no L4 header
        src, dst = buf[12:16], buf[16:20]
        ip_ok = csum16(buf[:ihl]) == 0xFFFF if want_csum else True
        l4len = tot - ihl
        complete = not (frag & 0x2000) and len(buf) >= tot
        pseudo = csum16(src + dst + struct.pack("!BBH", 0, proto, l4len & 0xFFFF))
        return (False, src, dst, proto, buf[ihl:tot], l4len, pseudo, ip_ok, ttl, ipid, complete)
    if ver == 6:
        if len(buf) < 40:
            return None
        plen, nh, hlim = struct.unpack("!HBB", buf[4:8])
        src, dst = buf[8:24], buf[24:40]
        off, end, complete = 40, 40 + plen, True
        for _ in range(8):           # extension headers, bounded
            if nh in (0, 43, 60) and off + 2 <= len(buf):
                nh, off = buf[off], off + (buf[off + 1] + 1) * 8
            elif nh == 51 and off + 2 <= len(buf):
                nh, off = buf[off], off + (buf[off + 1] + 2) * 4
            elif nh == 44 and off + 8 <= len(buf):
                fo = struct.unpack("!H", buf[off + 2:off + 4])[0]
                if fo & 0xFFF8:
                    return None
                complete = complete and not (fo & 1)
                nh, off = buf[off], off + 8
            else:
                break
        l4len = end - off
        complete = complete and len(buf) >= end
        pseudo = csum16(src + dst + struct.pack("!IxxxB", l4len, nh))
        return (True, src, dst, nh, buf[off:end], l4len, pseudo, True, hlim, 0, complete)
    return None


def parse_l3(t, buf, show_all):
    ip = parse_ip(buf)
    if ip is None:
        return None
    v6, src, dst, proto, l4, l4len, pseudo, ip_ok, ttl, ipid, complete = ip
    s = Seg()
    s.t, s.v6, s.src, s.dst, s.ttl, s.ipid = t, v6, ntop(v6, src), ntop(v6, dst), ttl, ipid
    s.icmp = s.quote = None
    if proto == 6:
        if len(l4) < 20:
            return None
        (s.sport, s.dport, s.seq, s.ack, off, s.flags,
         s.win) = struct.unpack("!HHIIBBH", l4[:16])
        hl = (off >> 4) * 4
        s.opts = tcp_opts(l4[20:hl]) if hl > 20 else "-"
        s.plen = max(0, l4len - hl)
        if not complete:
            s.csum = "?"
        else:
            s.csum = "ok" if csum16(l4, pseudo) == 0xFFFF else "bad"
            if not ip_ok:
                s.csum = "badip"
        return s
    if proto in (1, 58):
        if len(l4) < 8:
            return None
        typ, code = l4[0], l4[1]
        if proto == 1:
            if not show_all and typ not in (0, 3, 4, 5, 8, 11, 12):
                return None
            s.icmp = "icmp%d/%d" % (typ, code)
            ok = csum16(l4) == 0xFFFF
            err = typ in (3, 4, 5, 11, 12)
        else:
            if not show_all and typ >= 130:   # ND, MLD and friends
                return None
            s.icmp = "icmp6:%d/%d" % (typ, code)
            ok = csum16(l4, pseudo) == 0xFFFF
            err = typ < 128
        s.csum = ("ok" if ok else "bad") if complete else "?"
        s.sport = s.dport = s.seq = s.ack = s.win = None
        s.flags, s.plen, s.opts = 0, l4len, "-"
        if err:
            q = parse_ip(l4[8:], want_csum=False)
            if q and q[3] == 6 and len(q[4]) >= 8:
                qs, qd, qseq = struct.unpack("!HHI", q[4][:8])
                s.quote = (ntop(q[0], q[1]), qs, ntop(q[0], q[2]), qd, qseq)
                s.opts = "q:%s.%d>%s.%d/%d" % s.quote
        return s
    return None


def read_pcap(path):
    """Yield (t_ns, linktype, frame bytes)."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = hdr[:4]
        table = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
                 b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}
        if magic not in table:
            sys.exit("wire.py: %s: not a pcap file (pcapng is not supported)" % path)
        end, mult = table[magic]
        linktype = struct.unpack(end + "I", hdr[20:24])[0] & 0x0FFFFFFF
        rec = struct.Struct(end + "IIII")
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, frac, incl, _orig = rec.unpack(rh)
            data = f.read(incl)
            if len(data) < incl:
                return                # capture cut short mid-record
            yield sec * 1000000000 + frac * mult, linktype, data


def l3_of(linktype, d):
    if linktype == 1:                 # Ethernet, maybe 802.1Q tagged
        off, et = 14, struct.unpack("!H", d[12:14])[0] if len(d) >= 14 else 0
        while et in (0x8100, 0x88A8) and len(d) >= off + 4:
            et, off = struct.unpack("!H", d[off + 2:off + 4])[0], off + 4
        return d[off:] if et in (0x0800, 0x86DD) else None
    if linktype == 113:               # Linux cooked v1
        return d[16:] if len(d) >= 16 and d[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype == 276:               # Linux cooked v2
        return d[20:] if len(d) >= 20 and d[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype in (12, 14, 101, 228, 229):
        return d
    if linktype == 0:                 # BSD loopback
        return d[4:]
    return None


def segments(path, show_all=False):
    for t, lt, frame in read_pcap(path):
        l3 = l3_of(lt, frame)
        if l3 is None:
            continue
        s = parse_l3(t, l3, show_all)
        if s is not None:
            yield s


class Dir:
    def __init__(self, clients):
        self.clients = set(clients)

    def __call__(self, s):
        return ">" if s.src in self.clients else "<"


def dash(v):
    return "-" if v is None else str(v)


def line(s, d, t0=0, verbose=False):
    fl = s.icmp or flag_str(s.flags)
    out = "%d %s %s %s %s %s %s %s %s %s %d %s %s" % (
        s.t - t0, d(s), s.src, dash(s.sport), s.dst, dash(s.dport), fl,
        dash(s.seq), dash(s.ack), dash(s.win), s.plen, s.opts, s.csum)
    if verbose:
        out += " ttl=%d id=%d" % (s.ttl, s.ipid)
    return out


def cmd_dump(a, d):
    t0 = None
    for s in segments(a.file, a.all):
        if t0 is None:
            t0 = s.t if a.rel else 0
        print(line(s, d, t0, a.verbose))


def conversations(a):
    """Group TCP segments (and the ICMP errors quoting them) touching port P
    into conversations, in order of first appearance. A pure SYN with a new
    sequence number on a known 4-tuple starts a new conversation."""
    convs, current, last_syn = [], {}, {}
    for s in segments(a.file):
        if s.icmp:
            if not s.quote:
                continue
            qs, qsp, qd, qdp, _ = s.quote
            if a.port not in (qsp, qdp):
                continue
            a_, b_ = (qs, qsp), (qd, qdp)
            key = (a_, b_) if a_ <= b_ else (b_, a_)
        else:
            if a.port not in (s.sport, s.dport):
                continue
            key = s.key()
            if s.flags & (SYN | ACK) == SYN:
                prev = last_syn.get((key, s.src))
                if prev is not None and prev != s.seq:
                    current.pop(key, None)
                last_syn[(key, s.src)] = s.seq
        if key not in current:
            current[key] = []
            convs.append((key, current[key]))
        current[key].append(s)
    return convs


def cmd_flags(a, d):
    for key, segs in conversations(a):
        toks = [(d(s) if a.dir else "") + (s.icmp or flag_str(s.flags)) for s in segs]
        pre = ""
        if a.tuple:
            c = segs[0]
            pre = "%s.%s>%s.%s: " % (c.src, dash(c.sport), c.dst, dash(c.dport))
            if c.icmp:
                pre = "%s.%d>%s.%d: " % c.quote[:4]
        print(pre + " ".join(toks))


def cmd_rtts(a, d):
    syns = {}       # (src, sport, dst, dport, seq) -> [t_first, t_last, count]
    rtts = []
    for s in segments(a.file):
        if s.icmp:
            continue
        fl = s.flags & (SYN | ACK | RST)
        if fl == SYN:
            k = (s.src, s.sport, s.dst, s.dport, s.seq)
            e = syns.get(k)
            if e is None:
                syns[k] = [s.t, s.t, 1]
            else:
                e[1], e[2] = s.t, e[2] + 1
        elif fl == SYN | ACK:
            k = (s.dst, s.dport, s.src, s.sport, (s.ack - 1) & 0xFFFFFFFF)
            e = syns.pop(k, None)
            if e is None:
                continue
            # Karn: with retransmitted SYNs the answer is matched to the last one.
            rtt = s.t - e[1]
            rtts.append(rtt)
            if not a.stats:
                print("%d %s %d %s %d %d %d" % (e[0], k[0], k[1], k[2], k[3], rtt, e[2]))
    if a.unmatched and not a.stats:
        for k, e in syns.items():
            print("%d %s %d %s %d - %d" % (e[0], k[0], k[1], k[2], k[3], e[2]))
    if a.stats:
        if not rtts:
            print("n=0 unmatched=%d" % len(syns))
            return
        rtts.sort()
        n = len(rtts)

        def pct(p):
            return rtts[min(n - 1, int(p * n / 100.0))]
        print("n=%d unmatched=%d min=%d p50=%d p90=%d p99=%d max=%d mean=%d" % (
            n, len(syns), rtts[0], pct(50), pct(90), pct(99), rtts[-1], sum(rtts) // n))


def cmd_rsts(a, d):
    for s in segments(a.file):
        if s.icmp or not s.flags & RST:
            continue
        side = "client" if d(s) == ">" else "server"
        if a.side in (side, "any"):
            print(line(s, d, 0, a.verbose))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--client", action="append", default=[],
                   help="a client-side address (repeatable)")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("dump")
    c.add_argument("file")
    c.add_argument("--rel", action="store_true", help="t_ns relative to the first line")
    c.add_argument("--all", action="store_true", help="also ICMPv6 ND/MLD and other ICMP")
    c.add_argument("-v", "--verbose", action="store_true", help="append ttl= id=")
    c = sub.add_parser("flags")
    c.add_argument("file")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--dir", action="store_true", help="prefix each flag with > or <")
    c.add_argument("--tuple", action="store_true", help="prefix each line with the 4-tuple")
    c = sub.add_parser("rtts")
    c.add_argument("file")
    c.add_argument("--stats", action="store_true", help="one summary line instead")
    c.add_argument("--unmatched", action="store_true", help="also SYNs never answered")
    c = sub.add_parser("rsts")
    c.add_argument("file")
    c.add_argument("--side", choices=("client", "server", "any"), default="client")
    c.add_argument("-v", "--verbose", action="store_true", help="append ttl= id=")
    a = p.parse_args()

    clients = a.client or [x for x in (os.environ.get("LAB_C4"), os.environ.get("LAB_C6")) if x]
    clients = clients or ["198.18.0.1", "fd00:18::1"]
    # Normalise so "fd00:18:0::1" matches inet_ntop's "fd00:18::1".
    norm = []
    for c in clients:
        fam = socket.AF_INET6 if ":" in c else socket.AF_INET
        norm.append(socket.inet_ntop(fam, socket.inet_pton(fam, c)))
    d = Dir(norm)
    try:
        {"dump": cmd_dump, "flags": cmd_flags, "rtts": cmd_rtts, "rsts": cmd_rsts}[a.cmd](a, d)
    except BrokenPipeError:
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
