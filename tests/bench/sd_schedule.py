#!/usr/bin/python3
"""Was every probe of an unchanged target sent on time? Judged from the wire.

  sd_schedule.py PCAP --interval-ms MS --unchanged FILE --window NAME:T0:T1 ...
                 [--answers FILE --span-ms W --after NAME:T0:T1:CODE ...]

The daemon puts target NAME's probes on the grid phase + k * interval, with
phase = FNV-1a-64(NAME) mod interval on CLOCK_REALTIME (daemon/sched.c), and
adds a random jitter in [0, J), J = min(interval / 50, 20 ms). The capture's
timestamps are CLOCK_REALTIME too, so each SYN to an AnyIP target HOST:PORT
(its name as written in the http_sd list) falls in exactly one slot k of its
own grid, and its delay past the jitter is
    excess = (t - phase) mod interval - J     (<= 0 when on time).
This script recomputes the grid itself (it does not ask tcpprobe).

For each window NAME:T0:T1 (epoch ns) and each target listed in --unchanged,
every slot whose grid time lies in [T0, T1] is looked up: no SYN for it is a
lost probe. Prints one JSON object: per window the slots, lost, and the
excess delay's percentiles and maximum (ms), plus the few worst slots.

--after NAME:T0:T1:CODE looks at the W ms after each answer of status CODE
that the http_sd server (tests/lab/sd_server.py, its DIR/answers file) sent
between T0 and T1: the worst excess of each such span, and their median
("after" in the output). Occasional stalls of a loaded machine hit a few
spans; a refresh that blocks the daemon's loop hits every span after it.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import wire  # noqa: E402

SYN, ACK = 0x02, 0x10


def fnv1a(s):
    h = 0xcbf29ce484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def pct(v, q):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--interval-ms", type=int, required=True)
    ap.add_argument("--unchanged", required=True, help="file: one target name a line")
    ap.add_argument("--window", action="append", required=True, help="NAME:T0_NS:T1_NS")
    ap.add_argument("--answers", help="sd_server.py's answers file")
    ap.add_argument("--span-ms", type=int, default=500)
    ap.add_argument("--after", action="append", default=[], help="NAME:T0_NS:T1_NS:CODE")
    a = ap.parse_args()
    iv = a.interval_ms * 1000000
    jit = min(iv // 50, 20000000)
    with open(a.unchanged) as f:
        names = [x.strip() for x in f if x.strip()]
    phase = {n: fnv1a(n) % iv for n in names}
    sent = {}        # (name, k) -> first SYN's excess (ns)
    nsyn = 0
    for s in wire.segments(a.pcap):
        if s.flags & (SYN | ACK) != SYN or s.v6:
            continue
        name = "%s:%d" % (s.dst, s.dport)
        p = phase.get(name)
        if p is None:
            continue
        nsyn += 1
        k, r = divmod(s.t - p, iv)
        if r > iv // 2:          # before its slot: early (never expected)
            k, r = k + 1, r - iv
        sent.setdefault((name, k), r - jit)
    out = {"interval_ms": a.interval_ms, "jitter_ms": jit / 1e6, "unchanged": len(names),
           "syns_of_unchanged": nsyn, "windows": {}}
    for w in a.window:
        wn, t0, t1 = w.split(":")
        t0, t1 = int(t0), int(t1)
        ex, lost, worst = [], [], []
        for n in names:
            p = phase[n]
            k = -(-(t0 - p) // iv)          # first slot with grid >= t0
            while p + k * iv <= t1:
                e = sent.get((n, k))
                if e is None:
                    lost.append("%s@%d" % (n, p + k * iv))
                else:
                    ex.append(e)
                    worst.append((e, n, p + k * iv))
                k += 1
        worst.sort(reverse=True)
        ms = [e / 1e6 for e in ex]
        out["windows"][wn] = {
            "t0": t0, "t1": t1, "slots": len(ex) + len(lost), "lost": len(lost),
            "lost_first": lost[:5],
            "excess_ms_p50": pct(ms, 0.50), "excess_ms_p99": pct(ms, 0.99),
            "excess_ms_p999": pct(ms, 0.999), "excess_ms_max": max(ms) if ms else None,
            "late_beyond_jitter_1ms": sum(1 for e in ex if e > 1000000),
            "worst": [{"target": n, "grid_ns": g, "excess_ms": e / 1e6} for e, n, g in worst[:5]],
        }
    answers = []
    if a.answers:
        with open(a.answers) as f:
            answers = [(int(x.split()[0]), x.split()[1]) for x in f if x.strip()]
    span = a.span_ms * 1000000
    slot_ex = {}     # grid time -> excess (or None: lost), for the spans
    for n in names:
        p = phase[n]
        for k in range(-(-(min((t for t, _ in answers), default=0) - p) // iv),
                       (max((t for t, _ in answers), default=0) + span - p) // iv + 1):
            slot_ex.setdefault(p + k * iv, []).append(sent.get((n, k)))
    grid = sorted(slot_ex)
    out["after"] = {}
    import bisect
    for w in a.after:
        wn, t0, t1, code = w.split(":")
        t0, t1 = int(t0), int(t1)
        worst, lost = [], 0
        for t, c in answers:
            if c != code or not t0 <= t <= t1:
                continue
            lo, hi = bisect.bisect_left(grid, t), bisect.bisect_right(grid, t + span)
            ex = [e for g in grid[lo:hi] for e in slot_ex[g]]
            lost += sum(1 for e in ex if e is None)
            ex = [e for e in ex if e is not None]
            if ex:
                worst.append(max(ex) / 1e6)
        out["after"][wn] = {"spans": len(worst), "lost": lost,
                            "span_worst_ms": [round(x, 3) for x in worst],
                            "median_span_worst_ms": pct(worst, 0.5)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
