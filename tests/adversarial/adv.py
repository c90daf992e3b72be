#!/usr/bin/python3
"""Adversarial peer scenarios for tcpprobe (see README in this directory).

Each scenario is three things kept side by side:
  ARGS   the `tcpprobe probe` options it runs with,
  peer   the exact segment sequence a scapy peer answers with (server ns),
  check  what tcpprobe must have sent (the client veth pcap, via wire.py
         dump) and what it must have reported (its --json line).

  adv.py list                         scenario ids, one per line: NAME FAMILY
  adv.py args NAME                    the probe options, one per line
  adv.py peer NAME --family F --port P --local A --client A --iface IF
              --smac M --cmac M --dir D
      run the peer: open the receive socket, touch D/ready, play the script,
      write D/peer.json ({"ok", "error", "y", "iss", "cport", "log"})
  adv.py check NAME --family F --port P --dir D
      D holds probe.json, probe.rc, probe.end_ns (CLOCK_REALTIME ns when the
      probe exited), probe.pcap and peer.json; prints "ok" or the reason and
      exits 0 or 1.

Sequence numbers in scripts and checks are relative: the peer's to its ISN
Y, ours to our ISS (learnt from our SYN), like the fsm's .pkt scripts.
Needs Debian's /usr/bin/python3 (python3-scapy) for `peer`; `check` uses the
standard library only.
"""

import argparse
import re
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE = os.path.join(HERE, "..", "lab", "wire.py")
M32 = 0xFFFFFFFF
PEER_ISN = 3000000000
WIN = 65535
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
# The peer's SYN/ACK options: no timestamps, so our later segments carry no
# options and PAWS stays out of the way (one scenario checks TS separately).
SYNACK_OPTS = [("MSS", 1460), ("SAckOK", b""), ("NOP", None), ("WScale", 7)]

FLAGS = {"S": "S", "S.": "SA", ".": "A", "F.": "FA", "R": "R", "R.": "RA",
         "P.": "PA", "FP.": "FPA", "F": "F"}
LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."),
           (0x20, "U"), (0x40, "E"), (0x80, "W"))


def flag_str(f):
    return "".join(ch for bit, ch in LETTERS if f & bit) or "none"


class Fail(Exception):
    pass


# ---- the peer --------------------------------------------------------------

class Seg:
    """A segment from the client, relative numbers filled in by the peer."""
    __slots__ = ("t", "flags", "seq", "ack", "win", "plen", "raw", "sport", "rseq", "rack")

    def __str__(self):
        return "%s %s:%s win %d len %d" % (self.flags, self.rseq,
                                           self.rack if "." in self.flags else "-",
                                           self.win, self.plen)


class Peer:
    def __init__(self, a):
        self.v6 = a.family == 6
        self.local, self.client, self.port = a.local, a.client, a.port
        self.smac, self.cmac = a.smac, a.cmac
        self.y = PEER_ISN
        self.ip_opts = None   # raw IPv4 options on everything we send
        self.ttl = 64         # TTL / hop limit of what we send
        self.iss = None
        self.cport = None
        self.t0 = time.time()
        self.log = []
        # One plain packet socket for both directions: every frame on the
        # server veth, filtered here on the exact address pair and port.
        # Frames we send ourselves come back as PACKET_OUTGOING: skipped.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((a.iface, ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # scapy's first dissection imports half of it: do that before ready.
        self._parse(b"")

    def note(self, what):
        self.log.append("%8.3f %s" % (time.time() - self.t0, what))

    def rel_ack(self, v):
        return None if self.iss is None else (v - self.iss) & M32

    def _parse(self, frame):
        from scapy.all import Ether, IP, IPv6, TCP
        if not frame:
            Ether(bytes(Ether() / IP() / TCP()))
            return None
        e = Ether(frame)
        ipl = e.getlayer(IPv6 if self.v6 else IP)
        if ipl is None or ipl.src != self.client or ipl.dst != self.local:
            return None
        tcp = ipl.getlayer(TCP)
        if tcp is None or tcp.dport != self.port:
            return None
        if self.cport is not None and tcp.sport != self.cport:
            return None
        s = Seg()
        s.t = time.time()
        s.flags = flag_str(int(tcp.flags))
        s.seq, s.ack, s.win, s.sport = tcp.seq, tcp.ack, tcp.window, tcp.sport
        s.plen = len(bytes(tcp.payload))
        s.raw = bytes(ipl)
        if s.flags == "S" and self.iss is None:
            self.iss, self.cport = s.seq, s.sport
        s.rseq = self.rel_ack(s.seq)
        s.rack = (s.ack - self.y) & M32
        return s

    def recv(self, timeout):
        """The next client segment within timeout seconds, else None."""
        end = time.monotonic() + timeout
        for _ in range(100000):
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            frame, addr = self.sock.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue
            s = self._parse(frame)
            if s is not None:
                self.note("< %s" % s)
                return s
        return None

    def expect(self, flags, timeout=3.0, seq=None, ack=None):
        """Wait for a client segment with these flags (and relative seq/ack);
        others are logged and skipped (the check judges the exact sequence)."""
        end = time.monotonic() + timeout
        for _ in range(1000):
            s = self.recv(end - time.monotonic())
            if s is None:
                break
            if s.flags == flags and (seq is None or s.rseq == seq) and (ack is None or s.rack == ack):
                return s
        raise Fail("no %s%s%s from the client within %.1fs" % (
            flags, "" if seq is None else " seq %d" % seq, "" if ack is None else " ack %d" % ack,
            timeout))

    def quiet(self, secs):
        """Listen for secs; what arrives is logged (the check judges it)."""
        end = time.monotonic() + secs
        got = []
        for _ in range(1000):
            s = self.recv(end - time.monotonic())
            if s is None:
                break
            got.append(s)
        return got

    def _l3(self):
        from scapy.all import Ether, IP, IPv6
        from scapy.all import IPOption
        if self.v6:
            ip = IPv6(src=self.local, dst=self.client, hlim=self.ttl)
        elif self.ip_opts:
            ip = IP(src=self.local, dst=self.client, ttl=self.ttl, options=[IPOption(self.ip_opts)])
        else:
            ip = IP(src=self.local, dst=self.client, ttl=self.ttl)
        return Ether(src=self.smac, dst=self.cmac) / ip

    def send(self, flags, seq, ack=None, win=WIN, opts=None, payload=b"", raw_opts=None,
             bad_csum=False):
        """A segment: seq relative to Y, ack relative to our view of ISS."""
        from scapy.all import TCP, Raw
        tcp = TCP(sport=self.port, dport=self.cport, flags=FLAGS[flags],
                  seq=(self.y + seq) & M32,
                  ack=0 if ack is None else (self.iss + ack) & M32,
                  window=win, options=opts or [])
        if bad_csum:
            tcp.chksum = 0xdead
        if raw_opts is not None:
            # Options as raw bytes: the data offset covers them, scapy
            # sees them as payload (its checksum covers everything).
            assert len(raw_opts) % 4 == 0
            tcp.dataofs = 5 + len(raw_opts) // 4
            pkt = self._l3() / tcp / Raw(raw_opts + payload)
        else:
            pkt = self._l3() / tcp
            if payload:
                pkt = pkt / Raw(payload)
        self.sock.send(bytes(pkt))
        self.note("> %s %d:%s win %d len %d%s" % (flags, seq, "-" if ack is None else ack, win,
                                                   len(payload),
                                                   " rawopts " + raw_opts.hex() if raw_opts else ""))

    def send_icmp(self, quoted):
        """An ICMP(v6) port unreachable quoting the IP packet `quoted`."""
        from scapy.all import ICMP, ICMPv6DestUnreach, Raw
        icmp = ICMPv6DestUnreach(code=4) if self.v6 else ICMP(type=3, code=3)
        self.sock.send(bytes(self._l3() / icmp / Raw(quoted)))
        self.note("> icmp quoting seq %d" % self.rel_ack(
            struct.unpack("!I", quoted[(40 if self.v6 else (quoted[0] & 15) * 4) + 4:][:4])[0]))

    def syn_ack(self, ack=1, win=WIN, opts=None, raw_opts=None):
        self.send("S.", 0, ack, win=win, opts=SYNACK_OPTS if opts is None and raw_opts is None
                  else opts, raw_opts=raw_opts)

    def handshake(self):
        self.expect("S")
        self.syn_ack()
        self.expect(".", seq=1, ack=1)

    def zero_window_opens(self, delay):
        """S. with window 0, our ACK, then after delay s a window update:
        our held FIN comes on it; the usual close."""
        self.expect("S")
        self.syn_ack(win=0)
        self.expect(".", seq=1, ack=1)
        time.sleep(delay)
        self.send(".", 1, 1)
        self.expect("F.", seq=1, ack=1, timeout=2)
        self.finish_close()

    def finish_close(self):
        """Our FIN came (FIN_WAIT_1): ACK it, send ours, await the last ACK."""
        self.send(".", 1, 2)
        self.send("F.", 1, 2)
        self.expect(".", seq=2, ack=2)


def with_seq(ipraw, v6, seq):
    """The IP packet ipraw with the TCP sequence number replaced."""
    off = 40 if v6 else (ipraw[0] & 15) * 4
    return ipraw[:off + 4] + struct.pack("!I", seq & M32) + ipraw[off + 8:]


# ---- scenarios -------------------------------------------------------------
# Every scenario: ARGS (probe options), FAMILIES, peer(p), check(c).

SCENARIOS = {}


def scenario(name, args, families=(4,), known_bug=None):
    """known_bug: (reason, regex): the scenario's own check is expected to
    fail with a message matching regex until the bug is fixed; that one
    failure is reported as SKIP, a pass as PASS. Any other failure, and every
    failure of the checks made for all scenarios (report present, exit
    status, sanitizer output, checksums), stays a FAIL."""
    def deco(cls):
        cls.name, cls.args, cls.families, cls.known_bug = name, args, families, known_bug
        SCENARIOS[name] = cls
        return cls
    return deco


@scenario("simultaneous-open", ["--time-wait", "0.2"], (4, 6))
class SimultaneousOpen:
    """The peer's SYN (no ACK) crosses ours: SYN_RECEIVED, we answer S. with
    our SYN's options; the peer's S. establishes (RFC 9293 figure 8)."""
    @staticmethod
    def peer(p):
        p.expect("S")
        p.send("S", 0, opts=SYNACK_OPTS)
        p.expect("S.", seq=0, ack=1)
        p.send("S.", 0, 1, opts=SYNACK_OPTS)
        p.expect("F.", seq=1, ack=1)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S S. . F. .")
        c.seg(1, "S.", 0, 1)
        c.need("mss1460" in c.out[1].opts and "ws7" in c.out[1].opts,
               "our SYN/ACK lacks our SYN options: %s" % c.out[1].opts)
        # RFC 7323 3.2: the peer's SYN had no TSopt, so our SYN/ACK has none.
        c.need("TS" not in c.out[1].opts, "our SYN/ACK carries TS: %s" % c.out[1].opts)
        c.seg(2, ".", 1, 1)
        c.seg(4, ".", 2, 2)
        c.report(result="ok", close="ok", syn_retransmits=0, synack_retransmits=0)
        c.path_has("SYN_SENT SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT")


@scenario("simultaneous-open-ts", ["--time-wait", "0.2"])
class SimultaneousOpenTs:
    """Simultaneous open where the peer's SYN carries timestamps: our SYN/ACK
    carries TSopt echoing it (RFC 7323 3.2), later segments echo the latest
    TSval at the left window edge, and our TSval never goes back."""
    @staticmethod
    def peer(p):
        p.expect("S")
        p.send("S", 0, opts=[("MSS", 1460), ("Timestamp", (5000, 0))])
        p.expect("S.", seq=0, ack=1)
        p.send("S.", 0, 1, opts=[("MSS", 1460), ("Timestamp", (5001, 0))])
        p.expect("F.", seq=1, ack=1)
        p.send(".", 1, 2, opts=[("NOP", None), ("NOP", None), ("Timestamp", (5002, 0))])
        p.send("F.", 1, 2, opts=[("NOP", None), ("NOP", None), ("Timestamp", (5003, 0))])
        p.expect(".", seq=2, ack=2)

    @staticmethod
    def check(c):
        c.wire("S S. . F. .")
        ts = [c.ts(i) for i in range(5)]
        c.need(all(t is not None for t in ts), "a segment of ours lacks TSopt: %s" % ts)
        want_ecr = [0, 5000, 5001, 5001, 5003]
        c.need([t[1] for t in ts] == want_ecr, "TSecr %s, want %s" % ([t[1] for t in ts], want_ecr))
        vals = [t[0] for t in ts]
        c.need(vals == sorted(vals), "our TSval goes back: %s" % vals)
        c.report(result="ok", close="ok")
        c.need((c.rep.get("peer") or {}).get("timestamps") is True, "peer %s" % c.rep.get("peer"))


@scenario("syn-in-established", ["--hold", "0.5", "--time-wait", "0.2"])
class SynInEstablished:
    """A new SYN (another sequence number) during the hold: a challenge ACK
    (RFC 5961 4.2), the connection goes on and closes normally."""
    @staticmethod
    def peer(p):
        p.handshake()
        time.sleep(0.1)
        p.send("S", 77777, opts=SYNACK_OPTS)
        p.expect(".", seq=1, ack=1, timeout=1)
        p.expect("F.", seq=1, ack=1, timeout=2)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . . F. .")
        c.seg(2, ".", 1, 1)
        c.after_peer(2, "S", 0.1)
        c.report(result="ok", close="ok", challenge_acks=1)
        c.path_lacks("SYN_RECEIVED")


@scenario("simultaneous-close", ["--hold", "0.3", "--time-wait", "0.2"])
class SimultaneousClose:
    """The peer's FIN crosses ours (it does not ACK our FIN): CLOSING, our ACK
    of its FIN, then its ACK of ours: TIME_WAIT, never FIN_WAIT_2."""
    @staticmethod
    def peer(p):
        p.handshake()
        p.expect("F.", seq=1, ack=1, timeout=3)
        p.send("F.", 1, 1)
        p.expect(".", seq=2, ack=2)
        p.send(".", 2, 2)

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.seg(3, ".", 2, 2)
        c.report(result="ok", close="ok")
        c.path_has("ESTABLISHED FIN_WAIT_1 CLOSING TIME_WAIT")
        c.path_lacks("FIN_WAIT_2")


@scenario("synack-wrong-ack", ["--timeout", "0.5", "--time-wait", "0.2"], (4, 6))
class SynackWrongAck:
    """A SYN/ACK acknowledging something we never sent: RST with seq=SEG.ACK
    (flags R only, RFC 9293 3.10.7.3), stay in SYN_SENT, the SYN timer
    retransmits, the right SYN/ACK then opens normally."""
    @staticmethod
    def peer(p):
        p.expect("S")
        p.syn_ack(ack=1000)
        p.expect("R", seq=1000)
        p.expect("S", seq=0, timeout=2)
        p.syn_ack()
        p.expect("F.", seq=1, ack=1)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S R S . F. .")
        c.seg(1, "R", 1000)
        c.need(c.out[1].ack == 0, "our RST carries an ack number %d" % c.out[1].ack)
        c.gap(0, 2, 0.45, 0.7)
        c.report(result="ok", close="ok", syn_retransmits=1, synack_retransmits=0)


@scenario("rst-established-exact", ["--hold", "1"])
class RstEstablishedExact:
    """RST with seq = RCV.NXT during the hold: accepted. The peer reset the
    connection before it took our close: result reset (the handshake still
    timed), close none. No FIN follows."""
    @staticmethod
    def peer(p):
        p.handshake()
        time.sleep(0.15)
        p.send("R", 1)
        p.quiet(0.2)

    @staticmethod
    def check(c):
        c.wire("S .")
        c.report(result="reset", close="none", challenge_acks=0)
        c.need((c.rep.get("rtt_us") or 0) > 0, "the handshake was not timed")
        c.path_has("ESTABLISHED CLOSED")
        c.need(c.tl_end_us() < 800000, "the probe went on after the RST (%.0f us)" % c.tl_end_us())


@scenario("rst-established-in-window", ["--hold", "0.6", "--time-wait", "0.2"], (4, 6))
class RstEstablishedInWindow:
    """RST in the window but not exact: a challenge ACK (seq SND.NXT, ack
    RCV.NXT, RFC 5961 3.2); the connection goes on, closes normally."""
    @staticmethod
    def peer(p):
        p.handshake()
        time.sleep(0.1)
        p.send("R", 1 + 5000)
        p.expect(".", seq=1, ack=1, timeout=1)
        p.expect("F.", seq=1, ack=1, timeout=2)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . . F. .")
        c.seg(2, ".", 1, 1)
        c.after_peer(2, "R", 0.1)
        c.report(result="ok", close="ok", challenge_acks=1)


@scenario("rst-established-out-of-window", ["--hold", "0.6", "--time-wait", "0.2"])
class RstEstablishedOutOfWindow:
    """RSTs outside the window (far ahead, and just below RCV.NXT): ignored,
    nothing on the wire, the hold and the close go on."""
    @staticmethod
    def peer(p):
        p.handshake()
        time.sleep(0.1)
        p.send("R", 1 + 0x40000000)
        p.send("R", 0)
        p.expect("F.", seq=1, ack=1, timeout=2)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.gap(1, 2, 0.55, 0.75)
        c.report(result="ok", close="ok", challenge_acks=0)


@scenario("bad-checksum", ["--hold", "0.6", "--time-wait", "0.2"])
class BadChecksum:
    """During the hold, segments with a wrong TCP checksum: an exact RST, 10
    bytes of data and a FIN. All are discarded (RFC 9293 3.1, MUST-3): no
    answer, the connection goes on and closes normally."""
    @staticmethod
    def peer(p):
        p.handshake()
        time.sleep(0.1)
        p.send("R", 1, bad_csum=True)
        p.send("P.", 1, 1, payload=b"0123456789", bad_csum=True)
        p.send("F.", 1, 1, bad_csum=True)
        p.expect("F.", seq=1, ack=1, timeout=2)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.seg(2, "F.", 1, 1)
        c.gap(1, 2, 0.55, 0.75)
        c.report(result="ok", close="ok", bytes_received=0)


@scenario("rst-fin-wait-2-exact", ["--fin-wait-2", "2", "--time-wait", "0.2"])
class RstFinWait2Exact:
    """The peer ACKs our FIN, holds its own, then an exact RST: accepted,
    close reset, nothing more on the wire."""
    @staticmethod
    def peer(p):
        p.handshake()
        p.expect("F.", seq=1, ack=1)
        p.send(".", 1, 2)
        time.sleep(0.15)
        p.send("R", 1)
        p.quiet(0.2)

    @staticmethod
    def check(c):
        c.wire("S . F.")
        c.report(result="ok", close="reset")
        c.path_has("FIN_WAIT_1 FIN_WAIT_2 CLOSED")
        c.need(c.tl_end_us() < 1000000, "not ended by the RST (%.0f us)" % c.tl_end_us())


@scenario("rst-fin-wait-2-in-window", ["--fin-wait-2", "2", "--time-wait", "0.2"])
class RstFinWait2InWindow:
    """In FIN_WAIT_2 an in-window RST draws a challenge ACK (seq SND.NXT =
    ISS+2 after our FIN); the peer's FIN then closes normally."""
    @staticmethod
    def peer(p):
        p.handshake()
        p.expect("F.", seq=1, ack=1)
        p.send(".", 1, 2)
        time.sleep(0.1)
        p.send("R", 1 + 5000)
        p.expect(".", seq=2, ack=1, timeout=1)
        time.sleep(0.1)
        p.send("F.", 1, 2)
        p.expect(".", seq=2, ack=2)

    @staticmethod
    def check(c):
        c.wire("S . F. . .")
        c.seg(3, ".", 2, 1)
        c.after_peer(3, "R", 0.1)
        c.seg(4, ".", 2, 2)
        c.report(result="ok", close="ok", challenge_acks=1)
        c.path_has("FIN_WAIT_2 TIME_WAIT")


@scenario("rst-fin-wait-2-out-of-window", ["--fin-wait-2", "2", "--time-wait", "0.2"])
class RstFinWait2OutOfWindow:
    """In FIN_WAIT_2 out-of-window RSTs are ignored: silence until the
    peer's FIN, which is ACKed."""
    @staticmethod
    def peer(p):
        p.handshake()
        p.expect("F.", seq=1, ack=1)
        p.send(".", 1, 2)
        time.sleep(0.1)
        p.send("R", 1 + 0x40000000)
        p.send("R", 0)
        p.quiet(0.3)
        p.send("F.", 1, 2)
        p.expect(".", seq=2, ack=2)

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.after_peer(3, "F.", 0.1)
        c.report(result="ok", close="ok", challenge_acks=0)
        c.path_has("FIN_WAIT_2 TIME_WAIT")


TW = 0.6


@scenario("time-wait-fin-retransmit", ["--time-wait", str(TW)])
class TimeWaitFinRetransmit:
    """The peer re-sends its FIN in TIME_WAIT (as if our ACK was lost), at
    +0.35 s and +0.8 s: each is ACKed again and restarts the 2MSL timer
    (RFC 9293 3.10.7.4), so the second still finds the connection (it came
    after the unrestarted expiry) and the probe ends TW after the last."""
    @staticmethod
    def peer(p):
        p.handshake()
        p.expect("F.", seq=1, ack=1)
        p.send(".", 1, 2)
        t0 = time.monotonic()
        p.send("F.", 1, 2)
        p.expect(".", seq=2, ack=2)
        for at in (0.35, 0.8):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            p.send("F.", 1, 2)
            p.expect(".", seq=2, ack=2, timeout=0.3)

    @staticmethod
    def check(c):
        c.wire("S . F. . . .")
        fins = [s for s in c.inn if s.flags == "F."]
        c.need(len(fins) == 3, "the peer sent %d FINs" % len(fins))
        for i, k in ((3, 0), (4, 1), (5, 2)):
            c.seg(i, ".", 2, 2)
            d = c.out[i].t - fins[k].t
            c.need(0 <= d < 0.1, "ACK %d came %.3f s after FIN %d" % (i, d, k))
        c.need(fins[2].t - fins[0].t > TW, "the last FIN did not come after TIME_WAIT's first expiry")
        c.report(result="ok", close="ok")
        end = c.end - fins[2].t
        c.need(end >= TW - 0.02, "the probe ended %.3f s after the last FIN, before TIME_WAIT (%.1f s)"
               % (end, TW))
        c.need(c.end - fins[0].t > TW + 0.7, "the probe ended %.3f s after the first FIN"
               % (c.end - fins[0].t))


@scenario("synack-retransmit", ["--hold", "0.5", "--time-wait", "0.2"])
class SynackRetransmit:
    """The peer re-sends its SYN/ACK (our ACK was "lost"): we ACK it again,
    not as a challenge; synack_retransmits 1."""
    @staticmethod
    def peer(p):
        p.handshake()
        time.sleep(0.15)
        p.syn_ack()
        p.expect(".", seq=1, ack=1, timeout=1)
        p.expect("F.", seq=1, ack=1, timeout=2)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . . F. .")
        c.seg(2, ".", 1, 1)
        c.after_peer(2, "S.", 0.1, nth=1)
        c.report(result="ok", close="ok", synack_retransmits=1, challenge_acks=0)


@scenario("data-before-fin", ["--hold", "0.5"])
class DataBeforeFin:
    """10 bytes, then the peer's FIN, during the hold; the peer's sequence
    numbers wrap through 2^32 inside the data. Each is ACKed (ack covers the
    data, then the FIN); passive close: CLOSE_WAIT, LAST_ACK."""
    Y = (1 << 32) - 4

    @classmethod
    def peer(cls, p):
        p.y = cls.Y
        p.handshake()
        time.sleep(0.1)
        p.send("P.", 1, 1, payload=b"0123456789")
        p.expect(".", seq=1, ack=11, timeout=1)
        p.send("F.", 11, 1)
        p.expect("F.", seq=1, ack=12, timeout=1)
        p.send(".", 12, 2)

    @staticmethod
    def check(c):
        c.wire("S . . . F.")
        c.seg(2, ".", 1, 11)
        c.seg(3, ".", 1, 12)
        c.seg(4, "F.", 1, 12)
        c.report(result="ok", close="ok", bytes_received=10)
        c.path_has("ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED")


@scenario("data-with-fin", ["--time-wait", "0.2"])
class DataWithFin:
    """The segment that ACKs our FIN carries 10 bytes and the peer's FIN:
    one ACK covers both (RCV.NXT = seq + 10 + 1), straight to TIME_WAIT."""
    @staticmethod
    def peer(p):
        p.handshake()
        p.expect("F.", seq=1, ack=1)
        p.send("FP.", 1, 2, payload=b"0123456789")
        p.expect(".", seq=2, ack=12)

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.seg(3, ".", 2, 12)
        c.report(result="ok", close="ok", bytes_received=10)
        c.path_has("FIN_WAIT_1 TIME_WAIT")
        c.path_lacks("FIN_WAIT_2")


ZW_RTO = 0.3


@scenario("zero-window-probe", ["--timeout", str(ZW_RTO), "--time-wait", "0.2"])
class ZeroWindowProbe:
    """SYN/ACK with window 0. Our FIN takes sequence space, so it waits
    (RFC 9293 3.8.6.1): it goes as the zero-window probe one RTO later; the
    peer refuses it (ACK below it, window 0), the FIN is retransmitted with
    backoff, then accepted."""
    @staticmethod
    def peer(p):
        p.expect("S")
        p.syn_ack(win=0)
        p.expect(".", seq=1, ack=1)
        p.expect("F.", seq=1, ack=1, timeout=2)
        p.send(".", 1, 1, win=0)
        p.expect("F.", seq=1, ack=1, timeout=2)
        p.send(".", 1, 2)
        p.send("F.", 1, 2)
        p.expect(".", seq=2, ack=2)

    @staticmethod
    def check(c):
        c.wire("S . F. F. .")
        c.gap(1, 2, ZW_RTO - 0.03, ZW_RTO + 0.15)
        c.gap(2, 3, ZW_RTO - 0.03, ZW_RTO + 0.15)
        c.report(result="ok", close="ok")


@scenario("zero-window-opens", ["--timeout", "1", "--time-wait", "0.2"])
class ZeroWindowOpens:
    """SYN/ACK with window 0, then a window update: the held FIN goes at
    once on the update, long before the RTO."""
    @staticmethod
    def peer(p):
        p.zero_window_opens(0.2)

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.after_peer(2, ".", 0.1)
        c.report(result="ok", close="ok")


@scenario("fin-wait-2-timeout", ["--fin-wait-2", "0.5"])
class FinWait2Timeout:
    """The peer ACKs our FIN and never sends its own: FIN_WAIT_2 gives up
    after fin_wait_2, close timeout, nothing more on the wire."""
    @staticmethod
    def peer(p):
        p.handshake()
        p.expect("F.", seq=1, ack=1)
        p.send(".", 1, 2)
        p.quiet(0.8)

    @staticmethod
    def check(c):
        c.wire("S . F.")
        c.report(result="ok", close="timeout")
        c.path_has("FIN_WAIT_2 CLOSED")
        acked = [s for s in c.inn if s.flags == "."][-1].t
        end = c.tl_end_abs()
        c.need(0.48 <= end - acked <= 0.6, "FIN_WAIT_2 lasted %.3f s, not 0.5" % (end - acked))


FN_RTO = 0.2


@scenario("fin-never-acked", ["--timeout", str(FN_RTO), "--retries", "2"])
class FinNeverAcked:
    """The peer never ACKs our FIN: retransmitted twice with backoff (RTO,
    2 RTO), then after 4 RTO more close timeout."""
    @staticmethod
    def peer(p):
        p.handshake()
        for _ in range(3):
            p.expect("F.", seq=1, ack=1, timeout=2)
        p.quiet(0.3)

    @staticmethod
    def check(c):
        c.wire("S . F. F. F.")
        c.gap(2, 3, FN_RTO - 0.02, FN_RTO + 0.1)
        c.gap(3, 4, 2 * FN_RTO - 0.02, 2 * FN_RTO + 0.1)
        c.report(result="ok", close="timeout")
        end = c.tl_end_abs() - c.out[4].t
        c.need(4 * FN_RTO - 0.02 <= end <= 4 * FN_RTO + 0.1,
               "gave up %.3f s after the last FIN, not %.1f" % (end, 4 * FN_RTO))


@scenario("icmp-wrong-seq", ["--timeout", "0.5", "--time-wait", "0.2"], (4, 6))
class IcmpWrongSeq:
    """ICMP port unreachable quoting a sequence number that is not in flight
    (ours + 1000, and ISS - 1): ignored (RFC 5927 4.1); the SYN is
    retransmitted and the peer answers it: ok, no icmp in the report."""
    @staticmethod
    def peer(p):
        syn = p.expect("S")
        p.send_icmp(with_seq(syn.raw, p.v6, syn.seq + 1000))
        p.send_icmp(with_seq(syn.raw, p.v6, syn.seq - 1))
        p.expect("S", seq=0, timeout=2)
        p.syn_ack()
        p.expect("F.", seq=1, ack=1)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S S . F. .")
        c.need(len(c.icmp) == 2, "%d ICMP errors on the wire, not 2" % len(c.icmp))
        c.report(result="ok", close="ok", syn_retransmits=1)
        c.need("icmp" not in c.rep, "an ignored ICMP error was reported: %s" % c.rep.get("icmp"))


@scenario("icmp-right-seq", ["--timeout", "0.5"], (4, 6))
class IcmpRightSeq:
    """ICMP port unreachable quoting our SYN exactly: result unreachable with
    the ICMP type and code, nothing more sent."""
    @staticmethod
    def peer(p):
        syn = p.expect("S")
        p.send_icmp(syn.raw)
        p.quiet(0.2)

    @staticmethod
    def check(c):
        c.wire("S")
        want = (1, 4) if c.fam == 6 else (3, 3)
        c.report(result="unreachable", close="none")
        ic = c.rep.get("icmp") or {}
        c.need((ic.get("type"), ic.get("code")) == want and ic.get("name") == "port-unreachable",
               "icmp %s, not type/code %s" % (ic, want))


# MSS len 3, wscale len 4, timestamps len 9, SACK-permitted len 3, EOL pad.
BAD_OPTS = bytes([2, 3, 5, 3, 4, 7, 0, 8, 9, 1, 2, 3, 4, 5, 6, 7, 4, 3, 0, 0])


@scenario("ip-options", ["--time-wait", "0.2"])
class IpOptions:
    """Every segment of the peer's carries IPv4 options (IHL 6: NOP, NOP,
    NOP, EOL): the TCP header is found behind them, a normal probe."""
    @staticmethod
    def peer(p):
        p.ip_opts = bytes([1, 1, 1, 0])
        p.expect("S")
        p.syn_ack()
        p.expect("F.", seq=1, ack=1)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.report(result="ok", close="ok", syn_retransmits=0)
        c.need((c.rep.get("peer") or {}).get("mss") == 1460, "peer %s" % c.rep.get("peer"))


@scenario("options-malformed", ["--time-wait", "0.2"])
class OptionsMalformed:
    """A SYN/ACK whose every known option has the wrong length (each within
    the header): the options are skipped, the segment is accepted. No MSS,
    wscale, SACK or timestamps are recorded; our ACK carries no TS."""
    @staticmethod
    def peer(p):
        p.expect("S")
        p.syn_ack(raw_opts=BAD_OPTS)
        p.expect("F.", seq=1, ack=1)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.need(c.out[1].opts == "-", "our ACK carries options %s" % c.out[1].opts)
        c.report(result="ok", close="ok")
        peer = c.rep.get("peer") or {}
        c.need(peer.get("mss") is None and peer.get("wscale") is None and
               peer.get("sack") is False and peer.get("timestamps") is False,
               "peer options recorded: %s" % peer)


# MSS, NOP, wscale, then timestamps claiming 40 bytes in the 4 left.
OVERRUN_OPTS = bytes([2, 4, 5, 180, 1, 3, 3, 7, 8, 40, 0, 0])
# An option of length 0: the walk could not advance.
ZEROLEN_OPTS = bytes([2, 4, 5, 180, 30, 0, 0, 0])


@scenario("options-overrun", ["--timeout", "0.5", "--time-wait", "0.2"])
class OptionsOverrun:
    """SYN/ACKs with an option running past the header, and one with a zero
    option length: unparseable, dropped without an answer (no RST), so our
    SYN is retransmitted; the peer's proper SYN/ACK then opens."""
    @staticmethod
    def peer(p):
        p.expect("S")
        p.syn_ack(raw_opts=OVERRUN_OPTS)
        p.syn_ack(raw_opts=ZEROLEN_OPTS)
        p.expect("S", seq=0, timeout=2)
        p.syn_ack(opts=[("MSS", 1300)])
        p.expect("F.", seq=1, ack=1)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S S . F. .")
        c.gap(0, 1, 0.45, 0.7)
        c.report(result="ok", close="ok", syn_retransmits=1, synack_retransmits=0)
        c.need((c.rep.get("peer") or {}).get("mss") == 1300, "peer %s" % c.rep.get("peer"))


@scenario("syn-proxy-timing", ["--time-wait", "0.2"], (4, 6))
class SynProxyTiming:
    """A SYN proxy's signature: the S. advertises window 0 and, 5 ms after
    our ACK, a window update opens it (the backend accepted). The finding
    syn-proxy's backend connect time is our ACK's wire time to the update's,
    equal to the capture's within 1 us: our ACK is marked for the capture
    socket (IPv4: its IP ID; IPv6: its options start with four NOPs)."""
    @staticmethod
    def peer(p):
        p.zero_window_opens(0.005)

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.report(result="ok", close="ok")
        f = c.rep.get("findings") or []
        c.need([x["name"] for x in f] == ["syn-proxy"], "findings %s" % f)
        c.need(f[0]["ack_stamped"] is True, "our ACK not timed on the wire: %s" % f[0])
        if c.fam == 6:
            c.need(c.out[1].opts.startswith("nop,nop,nop,nop"), "our ACK's options %s" % c.out[1].opts)
        upd = [s for s in c.inn if s.flags == "." and s.win > 0]
        c.need(upd, "no window update in the capture")
        wire_us = (upd[0].tns - c.out[1].tns) / 1e3
        got = f[0]["backend_connect_us"]
        c.need(got is not None and abs(got - wire_us) <= 1.0,
               "backend connect time %s us, the capture's %.3f us" % (got, wire_us))
        c.need(4000 <= wire_us <= 500000, "window update %.3f us after our ACK" % wire_us)


@scenario("syn-proxy-other-stack", ["--time-wait", "0.2"], (4, 6))
class SynProxyOtherStack:
    """A proxy answers the handshake (S. with hop limit 64, not
    retransmitted) and a backend further away the rest (hop limit 60, no
    timestamps): the later segments come from another stack. The finding
    syn-proxy names the TTL change and the timestamps that went missing."""
    @staticmethod
    def peer(p):
        p.expect("S")
        p.syn_ack(opts=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (7000, 0)),
                        ("NOP", None), ("WScale", 7)])
        p.expect(".", seq=1, ack=1)
        p.ttl = 60
        p.expect("F.", seq=1, ack=1)
        p.finish_close()

    @staticmethod
    def check(c):
        c.wire("S . F. .")
        c.report(result="ok", close="ok", synack_retransmits=0)
        f = c.rep.get("findings") or []
        c.need([x["name"] for x in f] == ["syn-proxy"], "findings %s" % f)
        ev = f[0]["evidence"]
        c.need("ttl 64" in ev and "60" in ev and "timestamps" in ev, "evidence: %s" % ev)
        c.need(f[0].get("backend_connect_us") is None, "a backend connect time without a zero window: %s" % f[0])
        c.need(f[0].get("other_stack") is True and f[0].get("later_ttl") == 60, "finding %s" % f[0])


# ---- checks ----------------------------------------------------------------

class WSeg:
    __slots__ = ("t", "tns", "dir", "flags", "seq", "ack", "win", "plen", "opts", "csum", "rseq",
                 "rack")

    def __str__(self):
        return "%s %s:%s" % (self.flags, self.rseq, self.rack if "." in self.flags else "-")


class Check:
    def __init__(self, a, fam):
        d = a.dir
        self.fam = fam
        rep = [json.loads(l) for l in open(os.path.join(d, "probe.json")) if l.strip()]
        self.rep = rep[0] if rep else {}
        self.rc = int(open(os.path.join(d, "probe.rc")).read().strip() or -1)
        self.end = int(open(os.path.join(d, "probe.end_ns")).read().strip()) / 1e9
        self.peer = json.load(open(os.path.join(d, "peer.json")))
        dump = subprocess.run([sys.executable, WIRE, "dump", os.path.join(d, "probe.pcap")],
                              capture_output=True, text=True, check=True).stdout
        self.out, self.inn, self.icmp = [], [], []
        iss, y = None, self.peer.get("y", PEER_ISN)
        for line in dump.splitlines():
            f = line.split()
            if f[6].startswith("icmp"):
                # quote q:<src>.<sport>><dst>.<dport>/<seq>
                dst = f[11].split(">")[-1].rsplit("/", 1)[0]
                if dst.rsplit(".", 1)[-1] == str(a.port):
                    self.icmp.append(f)
                continue
            if a.port not in (int(f[3]), int(f[5])):
                continue
            s = WSeg()
            s.t, s.tns, s.dir, s.flags = int(f[0]) / 1e9, int(f[0]), f[1], f[6]
            s.seq, s.ack, s.win, s.plen, s.opts, s.csum = (int(f[7]), int(f[8]), int(f[9]),
                                                          int(f[10]), f[11], f[12])
            if s.dir == ">" and s.flags == "S" and iss is None:
                iss = s.seq
            if s.dir == ">":
                s.rseq = (s.seq - iss) & M32 if iss is not None else s.seq
                s.rack = (s.ack - y) & M32
                self.out.append(s)
            else:
                s.rseq = (s.seq - y) & M32
                s.rack = (s.ack - iss) & M32 if iss is not None else s.ack
                self.inn.append(s)
        err = open(os.path.join(d, "probe.err"), errors="replace").read()
        self.need(not any(w in err for w in ("Sanitizer", "runtime error")),
                  "sanitizer report: %s" % err[:300])
        # Every scenario: one report, and the exit status it implies (README:
        # 0 when the probe got its kind's answer, syn/handshake ok, fin
        # closed or silent; 1 otherwise). A crash after the JSON was written
        # exits with neither.
        self.need(len(rep) == 1, "%d JSON reports, want 1 (exit status %d)" % (len(rep), self.rc))
        answers = ("closed", "silent") if self.rep.get("kind") == "fin" else ("ok",)
        want_rc = 0 if self.rep.get("result") in answers else 1
        self.need(self.rc == want_rc, "exit status %d, want %d for result %s: %s" % (
            self.rc, want_rc, self.rep.get("result"), err.strip()[-300:]))
        self.need(self.out, "the capture holds no segment from tcpprobe")
        bad = [str(s) for s in self.out if s.csum != "ok"]
        self.need(not bad, "bad checksums on %s" % bad)

    def need(self, cond, msg):
        if not cond:
            raise Fail(msg)

    def flags(self):
        return " ".join(s.flags for s in self.out)

    def wire(self, want):
        self.need(self.flags() == want, "wire '%s', want '%s'" % (self.flags(), want))

    def seg(self, i, flags, seq, ack=None):
        s = self.out[i]
        ok = s.flags == flags and s.rseq == seq and (ack is None or s.rack == ack)
        self.need(ok, "segment %d is %s, want %s %d:%s" % (i, s, flags, seq, ack))

    def gap(self, i, j, lo, hi):
        g = self.out[j].t - self.out[i].t
        self.need(lo <= g <= hi, "segments %d..%d %.3f s apart, want %.2f..%.2f" % (i, j, g, lo, hi))

    def after_peer(self, i, flags, within, nth=0):
        """Our segment i answers the peer's nth segment with these flags."""
        ps = [s for s in self.inn if s.flags == flags]
        self.need(len(ps) > nth, "the peer sent no %s #%d" % (flags, nth))
        d = self.out[i].t - ps[nth].t
        self.need(0 <= d <= within, "segment %d came %.3f s after the peer's %s" % (i, d, flags))

    def report(self, **want):
        self.need(self.rep, "no JSON report")
        for k, v in want.items():
            key = {"close": "close"}.get(k, k)
            self.need(self.rep.get(key) == v, "report %s=%r, want %r" % (k, self.rep.get(key), v))

    def path(self):
        out = []
        for e in self.rep.get("timeline", []):
            if not out or out[-1] != e["state"]:
                out.append(e["state"])
        return out

    def path_has(self, states):
        want, p = states.split(), self.path()
        it = iter(p)
        self.need(all(s in it for s in want), "states %s lack %s in order" % (" ".join(p), states))

    def path_lacks(self, state):
        self.need(state not in self.path(), "states %s include %s" % (" ".join(self.path()), state))

    def ts(self, i):
        """(TSval, TSecr) of our segment i, or None."""
        for o in self.out[i].opts.split(","):
            if o.startswith("TS"):
                v, e = o[2:].split(":")
                return int(v), int(e)
        return None

    def tl_end_us(self):
        return self.rep["timeline"][-1]["t_us"]

    def tl_end_abs(self):
        return self.rep["time"] + self.tl_end_us() / 1e6


# ---- commands --------------------------------------------------------------

def cmd_peer(a):
    sc = SCENARIOS[a.name]
    facts = {"ok": False, "error": None}
    p = None
    try:
        p = Peer(a)
        open(os.path.join(a.dir, "ready"), "w").close()
        sc.peer(p)
        facts["ok"] = True
    except Fail as e:
        facts["error"] = str(e)
    except Exception as e:  # a scapy or socket error: report, never hang
        facts["error"] = "%s: %s" % (type(e).__name__, e)
    if p is not None:
        facts.update(y=p.y, iss=p.iss, cport=p.cport, log=p.log)
    with open(os.path.join(a.dir, "peer.json"), "w") as f:
        json.dump(facts, f, indent=1)
    return 0 if facts["ok"] else 1


def cmd_check(a):
    sc = SCENARIOS[a.name]
    c = None
    try:
        c = Check(a, a.family)      # the checks every scenario gets: never a known bug
        common_ok = True
        sc.check(c)
    except Fail as e:
        msg = str(e)
        try:
            msg += " [wire: %s] [result=%s close=%s]" % (c.flags(), c.rep.get("result"), c.rep.get("close"))
        except Exception:
            pass
        if sc.known_bug and c is not None and common_ok and re.search(sc.known_bug[1], str(e)):
            print("known bug: %s; %s" % (sc.known_bug[0], msg))
            return 3
        print(msg)
        return 1
    except (IndexError, KeyError, ValueError, OSError) as e:
        print("check could not run: %s: %s" % (type(e).__name__, e))
        return 1
    print("ok" if not sc.known_bug else "ok (known bug fixed? drop the known_bug mark)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    c = sub.add_parser("args")
    c.add_argument("name", choices=sorted(SCENARIOS))
    c = sub.add_parser("peer")
    c.add_argument("name", choices=sorted(SCENARIOS))
    for o in ("local", "client", "iface", "smac", "cmac", "dir"):
        c.add_argument("--" + o, required=True)
    c.add_argument("--family", type=int, choices=(4, 6), required=True)
    c.add_argument("--port", type=int, required=True)
    c = sub.add_parser("check")
    c.add_argument("name", choices=sorted(SCENARIOS))
    c.add_argument("--family", type=int, choices=(4, 6), required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--dir", required=True)
    a = ap.parse_args()
    if a.cmd == "list":
        for n, sc in SCENARIOS.items():
            for fam in sc.families:
                print(n, fam)
        return 0
    if a.cmd == "args":
        print("\n".join(SCENARIOS[a.name].args))
        return 0
    return cmd_peer(a) if a.cmd == "peer" else cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())
