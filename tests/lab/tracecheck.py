#!/usr/bin/python3
"""Judge a `tcpprobe probe --kind trace --json` result against the lab chain
(tests/lab/lab_chain.sh) and against a capture on the client's link.

  tracecheck.py hops JSON --routers A,B,C --target T [--silent I,...]
      the result lists the routers in order (a silent hop: address null,
      kind silent), the target last with its SYN/ACK or RST, result ok or
      refused as the target answered
  tracecheck.py wire JSON PCAP --routers A,B,C --target T [--silent I,...]
      the capture shows what the result says: every SYN on one 4-tuple (the
      result's source port), TTL i sent as many times as hop i's tries, each
      with its own sequence number; an ICMP time exceeded from router i
      quoting a SYN of TTL i (none from a silent one); the target's answer
      acknowledging a SYN of the last TTL and, for a SYN/ACK, our RST on its
      ACK number; each hop's rtt_us equal to the capture's SYN -> answer time
      within --tolerance-us (20)

  tracecheck.py ecmp RESULTS --legs A.pcap,B.pcap --via RA,RB --target T --flows N
      RESULTS is `probe --kind trace --flows N --json` output (one result a
      line, with the round and flows objects) or a `ctl --json show` of such a target (its flows[].path); the
      captures on the two ECMP legs' first links say which source port took
      which leg: every flow's SYNs crossed one leg only, its path has the
      leg's router (RA or RB) at hop 2 and the target last, its reply TTL (the
      per-flow table's ttl) is 64 less the path's routers, and both legs
      carry some flow

Prints "ok" and exits 0, or prints why and exits 1.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

SYN, RST, ACK = 0x02, 0x04, 0x10


def load(path):
    with open(path) as f:
        lines = [ln for ln in f if ln.strip()]
    if len(lines) != 1:
        raise SystemExit("want one JSON line in %s, got %d" % (path, len(lines)))
    return json.loads(lines[0])


def check_hops(r, routers, target, silent):
    hops = r.get("hops")
    if not isinstance(hops, list):
        return "no hops array"
    want = len(routers) + 1
    if len(hops) != want:
        return "%d hops, want %d: %s" % (len(hops), want, hops)
    for i, h in enumerate(hops):
        if h["ttl"] != i + 1:
            return "hop %d has ttl %s" % (i + 1, h["ttl"])
    for i, addr in enumerate(routers):
        h = hops[i]
        if i + 1 in silent:
            if h["address"] is not None or h["kind"] != "silent" or h["rtt_us"] is not None:
                return "hop %d should be silent: %s" % (i + 1, h)
            continue
        if h["address"] != addr or h["kind"] != "router":
            return "hop %d is %s (%s), want router %s" % (i + 1, h["address"], h["kind"], addr)
        icmp = h.get("icmp") or {}
        if (icmp.get("type"), icmp.get("code")) not in ((11, 0), (3, 0)):
            return "hop %d icmp %s, want time exceeded" % (i + 1, icmp)
        if not h["rtt_us"] or h["rtt_us"] <= 0:
            return "hop %d rtt_us %s" % (i + 1, h["rtt_us"])
    last = hops[-1]
    if last["address"] != target or last["kind"] != "target" or last["icmp"] is not None:
        return "last hop %s, want the target %s" % (last, target)
    want_result = {"S.": "ok", "R.": "refused"}.get(last.get("flags"))
    if r["result"] != want_result:
        return "result %s with the target's %s" % (r["result"], last.get("flags"))
    return None


def check_wire(r, pcap, routers, target, silent, tol_us):
    segs = list(wire.segments(pcap))
    port, sport = r["port"], r["source_port"]
    syns = [s for s in segs if s.icmp is None and s.flags == SYN and s.dst == target
            and s.dport == port]
    if not syns:
        return "no SYN to %s:%d in the capture" % (target, port)
    tuples = {(s.src, s.sport) for s in syns}
    if len(tuples) != 1 or next(iter(tuples))[1] != sport:
        return "SYNs from %s, want one 4-tuple with source port %d" % (sorted(tuples), sport)
    client = next(iter(tuples))[0]
    by_seq = {}
    for s in syns:
        if s.seq in by_seq:
            return "sequence number %d sent twice (TTL %d and %d)" % (s.seq, by_seq[s.seq].ttl,
                                                                   s.ttl)
        by_seq[s.seq] = s
    hops = r["hops"]
    n = len(hops)
    for h in hops:
        sent = sum(1 for s in syns if s.ttl == h["ttl"])
        if sent != h["tries"]:
            return "TTL %d: %d SYNs on the wire, the result says %d tries" % (h["ttl"], sent,
                                                                             h["tries"])

    def quoted_ttl(q):
        qs, qsp, qd, qdp, qseq = q
        if (qs, qsp, qd, qdp) != (client, sport, target, port) or qseq not in by_seq:
            return None
        return by_seq[qseq]

    exceeded = [s for s in segs if s.icmp in ("icmp11/0", "icmp6:3/0") and s.quote]
    for i, addr in enumerate(routers):
        ttl = i + 1
        mine = [s for s in exceeded if s.src == addr]
        if ttl in silent:
            if mine:
                return "router %d (%s) sent ICMP, yet was to be silent" % (ttl, addr)
            continue
        match = [(s, quoted_ttl(s.quote)) for s in mine]
        match = [(s, q) for s, q in match if q is not None and q.ttl == ttl]
        if not match:
            return "no ICMP time exceeded from %s quoting a SYN of TTL %d" % (addr, ttl)
        rtts = [(s.t - q.t) / 1e3 for s, q in match]
        got = hops[i]["rtt_us"]
        if not any(abs(got - w) <= tol_us for w in rtts):
            return "hop %d rtt_us %.3f, the capture says %s" % (ttl, got,
                                                                ["%.3f" % w for w in rtts])
    answers = [s for s in segs if s.icmp is None and s.src == target and s.sport == port
               and s.dport == sport and s.flags & (SYN | RST) and s.flags & ACK]
    last = [s for s in answers if (s.ack - 1) % 2**32 in by_seq
            and by_seq[(s.ack - 1) % 2**32].ttl == n]
    if not last:
        return "no answer from the target acknowledging a SYN of TTL %d" % n
    a, q = last[0], by_seq[(last[0].ack - 1) % 2**32]
    got = hops[-1]["rtt_us"]
    if abs(got - (a.t - q.t) / 1e3) > tol_us:
        return "target rtt_us %.3f, the capture says %.3f" % (got, (a.t - q.t) / 1e3)
    # Every SYN/ACK of the target met our RST on its ACK number: no
    # half-open connection left behind.
    rsts = {s.seq for s in segs if s.icmp is None and s.src == client and s.sport == sport
            and s.flags & RST}
    for s in answers:
        if s.flags & SYN and s.ack not in rsts:
            return "SYN/ACK acknowledging %d got no RST from us" % s.ack
    if min(s.ttl for s in syns) != 1 or not all(any(s.ttl == t for s in syns)
                                                for t in range(1, n + 1)):
        return "SYN TTLs %s, want 1..%d" % (sorted({s.ttl for s in syns}), n)
    return None


def flow_paths(path):
    """[(source_port, [hop addresses], result or None, the flow's reply TTL)] of
    RESULTS (the TTL from the per-flow table: ctl show's flows[], --json's
    flows object)."""
    with open(path) as f:
        rows = [json.loads(ln) for ln in f if ln.strip()]
    if len(rows) == 1 and "target" in rows[0] and isinstance(rows[0]["target"], dict):
        return [(fl["source_port"], fl.get("path"), None, fl.get("ttl"))
                for fl in rows[0]["target"].get("flows") or []]
    # The results, and the flows table: --json also prints each round.
    ttl = {fl["source_port"]: fl.get("ttl") for r in rows if "flows" in r for fl in r["flows"]}
    return [(r["source_port"], [h["address"] for h in r["hops"]], r["result"],
             ttl.get(r["source_port"], "no row")) for r in rows if "result" in r]


def check_ecmp(results, pcaps, via, target, nflows):
    legs = [{s.sport for s in wire.segments(p)
             if s.icmp is None and s.flags == SYN and s.dst == target} for p in pcaps]
    flows = flow_paths(results)
    if len(flows) != nflows:
        return "%d flows, want %d" % (len(flows), nflows)
    seen, why = set(), []
    for sport, path, result, ttl in flows:
        on = [i for i, leg in enumerate(legs) if sport in leg]
        if len(on) != 1 or not path:
            why.append("sport %d: on legs %s, path %s" % (sport, on, path))
            continue
        seen.add(on[0])
        if (result not in (None, "ok") or len(path) != 4 or path[1] != via[on[0]]
                or path[3] != target):
            why.append("sport %d took leg %d: path %s (%s)" % (sport, on[0], path, result))
        # The flow's reply TTL: the target's SYN/ACK, from Linux's 64 through
        # the routers of the path (the way back has as many here).
        elif ttl != 64 - (len(path) - 1):
            why.append("sport %d: reply ttl %s, want %d" % (sport, ttl, 64 - (len(path) - 1)))
    if not why and len(seen) != 2:
        why.append("every flow on leg %s" % seen)
    return "; ".join(why[:4]) or None


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "ecmp":
        p = argparse.ArgumentParser()
        p.add_argument("cmd")
        p.add_argument("results")
        p.add_argument("--legs", required=True)
        p.add_argument("--via", required=True)
        p.add_argument("--target", required=True)
        p.add_argument("--flows", type=int, required=True)
        a = p.parse_args()
        why = check_ecmp(a.results, a.legs.split(","), a.via.split(","), a.target, a.flows)
        print(why or "ok")
        return 1 if why else 0
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=("hops", "wire"))
    p.add_argument("json")
    p.add_argument("pcap", nargs="?")
    p.add_argument("--routers", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--silent", default="")
    p.add_argument("--tolerance-us", type=float, default=20.0)
    a = p.parse_args()
    r = load(a.json)
    routers = a.routers.split(",")
    silent = {int(x) for x in a.silent.split(",") if x}
    why = check_hops(r, routers, a.target, silent)
    if why is None and a.cmd == "wire":
        if not a.pcap:
            raise SystemExit("wire needs PCAP")
        why = check_wire(r, a.pcap, routers, a.target, silent, a.tolerance_us)
    print(why or "ok")
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
