#!/usr/bin/python3
"""Checks a daemon run against what crossed the wire (daemon lab tests).

  dcheck.py schedule SNAP.json PCAP --targets N --t0 T0 [--t0-ready T0R] --t1 T1
            [--slack-ms MS] [--slack-window START END MS] [--results]
            [--sent] [--received] [--ports LO-HI] [--only PREFIX]
  dcheck.py counted SNAP.json PCAP --targets N [--gap START END] [--missing K]
            [--ports LO-HI] [--only PREFIX]

--targets N: the snapshot (after --only) must hold exactly N targets: a run
with no targets, or with some missing, proves nothing.

counted: every probe the daemon recorded crossed the wire, and nothing more.
Per target: probes == expected, nothing in flight, and the probes on the wire
(first SYN or bare FIN per source port and ISN) == probes - results[error]
(an error result sends nothing: no route, no free source port). With --gap
(epoch seconds: the link was down, packets sent then never reach the veth's
tap) the wire may hold fewer: down to probes - errors - (the target's slots
in the gap + 2); with --missing K, K per target fewer. Targets sharing an
address and port are judged together. Every group needs a probe on the wire.

SNAP.json is `dctl.py snapshot` taken after every target was paused at T1
and nothing was left in flight; T0 is when the daemon was started (epoch
seconds). PCAP is a capture on the client veth covering T0..T1.

For every target (matched to the wire by its address and port):
  count     probes recorded == probes the daemon scheduled (`expected`)
            == probes on the wire (first SYN, or bare FIN, per source port
            and ISN); and equal to the slots of the target's grid (see
            phase) between T0 and T1, give or take the slots between T0
            and T0R (--t0-ready: before the daemon had its schedule) and
            one at T1 (its jitter may push it past the pause)
  phase     every probe left on the target's grid: the daemon spreads
            targets by phase = FNV-1a-64(name) mod interval (CLOCK_REALTIME,
            the capture's clock) plus a jitter of up to min(interval/50,
            20 ms); deviation = wire time - grid slot must lie within
            [-1 ms, jitter + slack] (--slack-ms, 50; --slack-window gives
            probes in a time window a slack of their own)
  results   (--results) each target's result counts equal what the wire
            shows per probe: SYN/ACK -> ok, RST -> refused (closed for fin),
            ICMP error -> unreachable, nothing -> timeout (silent for fin)
  sent      (--sent) TCP segments from the client on the wire ==
            status packets_sent
  received  (--received) status packets_received == TCP segments on the
            wire to the client's source ports (--ports, 20000-29999) plus
            ICMP errors quoting TCP from them: whatever else reached the
            veth was dropped by the daemon's kernel filter

Prints one summary line per check ("ok ..." or "bad ...", with up to 5
examples) and exits 1 if any check is bad.
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
DUR = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def dur_ns(s):
    """'5s', '250ms', '1.5s' (config_duration_str's output) -> ns."""
    if s == "0":
        return 0
    for u in sorted(DUR, key=len, reverse=True):  # "ms" before "s"
        if s.endswith(u):
            try:
                return int(round(float(s[:-len(u)]) * DUR[u] * 1e9))
            except ValueError:
                continue
    raise ValueError("bad duration %r" % s)


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def strip(a):
    """'[fd00::1]' -> 'fd00::1' (canonical inet_ntop form)."""
    import socket
    a = a.strip("[]")
    fam = socket.AF_INET6 if ":" in a else socket.AF_INET
    return socket.inet_ntop(fam, socket.inet_pton(fam, a))


def wire_probes(pcap, clients, ports):
    """({(dst, dport): {(sport, iss): probe}}, client segments sent, frames
    the daemon's receive filter should pass: TCP to a client address and a
    port in ports, ICMP errors quoting TCP from such a port)."""
    probes = collections.defaultdict(dict)
    by_key = {}
    sent = passed = 0
    for s in wire.segments(pcap):
        if s.icmp:
            if s.quote and s.quote[0] in clients:
                qs, qsp, qd, qdp, qseq = s.quote
                if qsp in ports and s.src not in clients:
                    passed += 1
                p = by_key.get((qd, qdp, qsp, qseq))
                if p is not None:
                    p["icmp"] = True
            continue
        if s.src in clients:
            sent += 1
            f = s.flags & (SYN | ACK | RST | FIN)
            if f == SYN or f == FIN:
                k = (s.dst, s.dport, s.sport, s.seq)
                if k not in by_key:
                    p = {"t": s.t, "synack": False, "rst": False, "icmp": False,
                         "fin": f == FIN}
                    by_key[k] = p
                    probes[(s.dst, s.dport)][(s.sport, s.seq)] = p
            continue
        # From the server: match on the ACK of our SYN / FIN.
        if s.dst in clients and s.dport in ports:
            passed += 1
        if not s.flags & ACK:
            continue
        p = by_key.get((s.src, s.sport, s.dport, (s.ack - 1) & 0xFFFFFFFF))
        if p is None:
            continue
        if s.flags & (SYN | ACK) == SYN | ACK:
            p["synack"] = True
        elif s.flags & RST:
            p["rst"] = True
    return probes, sent, passed


def wire_result(p, kind):
    if p["synack"]:
        return "ok"
    if p["rst"]:
        return "closed" if kind == "fin" else "refused"
    if p["icmp"]:
        return "unreachable"
    return "silent" if kind == "fin" else "timeout"


def report(name, bad, total, what, extra=""):
    if bad:
        print("bad %s: %d of %d targets %s; e.g. %s" % (name, len(bad), total, what,
                                                        "; ".join(bad[:5])))
        return False
    print("ok %s: %d targets%s" % (name, total, extra))
    return True


def count_ok(snap, a, check):
    """The snapshot holds exactly --targets targets (after --only); a "bad
    CHECK:" line first otherwise."""
    n = sum(1 for name in snap["show"] if name.startswith(a.only))
    if n != a.targets:
        print("bad %s: the snapshot holds %d targets%s, want %d" % (
            check, n, " named %s*" % a.only if a.only else "", a.targets))
        return False
    return True


def cmd_counted(a):
    snap = json.load(open(a.snap))
    clients = {strip(c) for c in a.client}
    lo, hi = (int(x) for x in a.ports.split("-"))
    probes, _, _ = wire_probes(a.pcap, clients, range(lo, hi + 1))
    ok = count_ok(snap, a, "counted")
    # Targets sharing an address and port share their wire probes: judge
    # each such group as one.
    groups = collections.defaultdict(list)
    for name, t in snap["show"].items():
        if name.startswith(a.only):
            groups[(strip(t["address"]), t["port"])].append((name, t))
    bad, n, nw, np = [], 0, 0, 0
    for key, ts in groups.items():
        n += len(ts)
        w = len(probes.get(key, {}))
        p = sum(t["probes"] for _, t in ts)
        errs = sum(t["results"].get("error", 0) for _, t in ts)
        nw, np = nw + w, np + p
        lo_w = p - errs - a.missing * len(ts)
        if a.gap:
            for _, t in ts:
                iv = dur_ns(t["config"]["interval"])
                lo_w -= int((a.gap[1] - a.gap[0]) * 1e9 // iv) + 2
        uncounted = [nm for nm, t in ts if t["probes"] != t["expected"] or t["inflight"]]
        if uncounted or not max(lo_w, 1) <= w <= p - errs:
            bad.append("%s%s probes=%d errors=%d wire=%d (want %s)%s" % (
                ts[0][0], " +%d sharing %s:%d" % (len(ts) - 1, key[0], key[1]) if len(ts) > 1 else "",
                p, errs, w, "%d" % (p - errs) if lo_w == p - errs else "%d..%d" % (max(lo_w, 1), p - errs),
                "; probes != expected or in flight: %s" % " ".join(uncounted[:3]) if uncounted else ""))
    ok &= report("counted", bad, n, "disagree with the wire",
                 " (%d probes recorded, %d on the wire)" % (np, nw))
    return 0 if ok else 1


def cmd_schedule(a):
    snap = json.load(open(a.snap))
    clients = {strip(c) for c in a.client}
    lo, hi = (int(x) for x in a.ports.split("-"))
    probes, sent, passed = wire_probes(a.pcap, clients, range(lo, hi + 1))
    slack = a.slack_ms * 1e6
    win, wslack, wdevs = None, 0, []
    if a.slack_window:
        win = (int(float(a.slack_window[0]) * 1e9), int(float(a.slack_window[1]) * 1e9))
        wslack = float(a.slack_window[2]) * 1e6
    elapsed = a.t1 - a.t0
    t0, t1 = int(a.t0 * 1e9), int(a.t1 * 1e9)
    t0r = int((a.t0_ready or a.t0) * 1e9)
    exact = 0
    bad_count, bad_phase, bad_res = [], [], []
    devs = []
    n = 0
    for name, t in snap["show"].items():
        if a.only and not name.startswith(a.only):
            continue
        n += 1
        iv = dur_ns(t["config"]["interval"])
        w = probes.get((strip(t["address"]), t["port"]), {})
        phase = fnv1a64(name) % iv
        # Slots of the target's grid between T0 and T1. Those before the
        # daemon had its schedule (T0 .. T0R) may or may not be probed;
        # the last one may fall after T1 by its jitter.
        slots = (t1 - phase) // iv - (t0 - phase) // iv
        sure = (t1 - phase) // iv - (t0r - phase) // iv
        if t["probes"] == slots:
            exact += 1
        if not (t["probes"] == t["expected"] == len(w) and sure - 1 <= t["probes"] <= slots):
            bad_count.append("%s probes=%d expected=%d wire=%d grid slots=%d elapsed/interval=%.2f" % (
                name, t["probes"], t["expected"], len(w), slots, elapsed * 1e9 / iv))
        jit = min(iv // 50, 20000000)
        worst = None
        for p in w.values():
            off = (p["t"] - phase) % iv
            dev = off if off < iv // 2 else off - iv
            inwin = win and win[0] <= p["t"] <= win[1]
            (wdevs if inwin else devs).append(dev)
            if dev < -1000000 or dev > jit + (wslack if inwin else slack):
                worst = dev
        if worst is not None:
            bad_phase.append("%s off grid by %.1f ms" % (name, worst / 1e6))
        if a.results:
            kind = t["kind"]
            got = collections.Counter(wire_result(p, kind) for p in w.values())
            want = {k: v for k, v in t["results"].items() if v}
            if dict(got) != want:
                bad_res.append("%s daemon %s wire %s" % (name, want, dict(got)))
    ok = count_ok(snap, a, "count")
    ok &= report("count", bad_count, n, "disagree",
                 " (probes == expected == wire; == grid slots in T0..T1 for %d, one fewer for the rest)" % exact)
    def stats(v):
        if not v:
            return "none"
        v.sort()
        return "p50 %.2f ms, p99 %.2f ms, max %.2f ms, n=%d" % (
            v[len(v) // 2] / 1e6, v[min(len(v) - 1, len(v) * 99 // 100)] / 1e6, v[-1] / 1e6, len(v))
    dstat = " (deviation from the grid incl. jitter: %s" % stats(devs)
    if win:
        dstat += "; inside the window (slack %.0f ms): %s" % (wslack / 1e6, stats(wdevs))
    dstat += ")"
    ok &= report("phase", bad_phase, n, "off their grid", dstat)
    if a.results:
        ok &= report("results", bad_res, n, "disagree with the wire")
    if a.sent:
        ps = snap["status"]["packets_sent"]
        if ps != sent:
            print("bad sent: status packets_sent %d, wire %d client segments" % (ps, sent))
            ok = False
        else:
            print("ok sent: %d segments" % sent)
    if a.received:
        pr = snap["status"]["packets_received"]
        if pr != passed:
            print("bad received: status packets_received %d, wire %d segments/errors for our ports" % (pr, passed))
            ok = False
        else:
            print("ok received: %d frames passed the filter, as many as the wire holds for our ports" % pr)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--client", action="append", default=[])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("schedule")
    c.add_argument("snap")
    c.add_argument("pcap")
    c.add_argument("--t0", type=float, required=True)
    c.add_argument("--t1", type=float, required=True)
    c.add_argument("--t0-ready", type=float, help="when the daemon answered (its schedule was set)")
    c.add_argument("--slack-ms", type=float, default=50)
    c.add_argument("--slack-window", nargs=3, metavar=("START", "END", "MS"),
                   help="probes sent between START and END (epoch s) get MS of slack instead")
    c.add_argument("--results", action="store_true")
    c.add_argument("--sent", action="store_true")
    c.add_argument("--received", action="store_true")
    c.add_argument("--ports", default="20000-29999", help="the daemon's source_ports")
    c.add_argument("--only", default="", help="only targets whose name starts so")
    c = sub.add_parser("counted")
    c.add_argument("snap")
    c.add_argument("pcap")
    c.add_argument("--gap", nargs=2, type=float, metavar=("START", "END"))
    c.add_argument("--missing", type=int, default=0,
                   help="probes per target that may be missing from the wire")
    c.add_argument("--ports", default="20000-29999", help="the daemon's source_ports")
    c.add_argument("--only", default="", help="only targets whose name starts so")
    for c in sub.choices.values():
        c.add_argument("--targets", type=int, required=True, help="how many targets the snapshot must hold")
    a = p.parse_args()
    a.client = a.client or [x for x in (os.environ.get("LAB_C4"), os.environ.get("LAB_C6")) if x] \
        or ["198.18.0.1", "fd00:18::1"]
    return cmd_counted(a) if a.cmd == "counted" else cmd_schedule(a)


if __name__ == "__main__":
    sys.exit(main())
