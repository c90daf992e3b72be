#!/usr/bin/python3
"""tcpprobe's benchmarks, run by tests/bench/run.sh inside the namespace lab.

run.sh brings the lab up (tests/lab/lab.sh), starts the sink (sink.c) in the
server namespace on ports SINK_LO..SINK_HI, then runs this with the lab's
variables in the environment. Every packet goes between the lab's two
namespaces: tools run in the client namespace (no default route), toward
the server address or the AnyIP prefix 198.19.0.0/16 only.

Every figure is a median over REPS runs with min and max beside it; every
comparison is a ratio against a baseline measured in this same run. CPU is
machine-wide busy time (user+nice+system+irq+softirq from /proc/stat), so
the peer's stack, which runs in softirq, is counted.

Writes the raw figures as JSON (--json) and prints a Markdown table.
"""

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/usr/bin/python3"
HZ = os.sysconf("SC_CLK_TCK")

E = os.environ
CNS, SNS = E["LAB_CNS"], E["LAB_SNS"]
C4, S4, SMAC, CIF = E["LAB_C4"], E["LAB_S4"], E["LAB_SMAC"], E["LAB_CIF"]
SINK_LO, SINK_HI = int(E["SINK_LO"]), int(E["SINK_HI"])
ANY_PREFIX = "198.19"          # inside $LAB_ANYNET4 (198.19.0.0/16)
assert E["LAB_ANYNET4"] == "198.19.0.0/16"

T0 = time.monotonic()
NOTES = []
FOREIGN = []   # (CPU seconds used by other users' processes, wall seconds) per window
RUNS = []      # every daemon step, zmap run, ...: the raw material of the figures
STARTED = []   # Popen objects of everything we started, killed by PID at exit


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def note(msg):
    log("note: " + msg)
    NOTES.append(msg)


def cexec(args):
    """A command line for the lab's client namespace. Like lab.sh's
    lab_tcpprobe, it refuses (raises) unless the namespace is the lab's and
    has no default route: nothing run through it can leave the lab."""
    if not CNS.startswith("tpc-"):
        raise SystemExit("bench: refusing to run in %r: not a lab client namespace" % CNS)
    for fam in ("-4", "-6"):
        r = subprocess.run(["ip", "-n", CNS, fam, "route", "show", "default"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            raise SystemExit("bench: refusing to run in %s: default route or error: %s%s"
                             % (CNS, r.stdout.strip(), r.stderr.strip()))
    return ["ip", "netns", "exec", CNS] + list(args)


def any_addr(i):
    """i-th AnyIP address of the lab (modulo 64,516), skipping .0 and .255."""
    i %= 254 * 254
    return "%s.%d.%d" % (ANY_PREFIX, 1 + i // 254, 1 + i % 254)


def sink_port(i):
    return SINK_LO + i % (SINK_HI - SINK_LO + 1)


# ---- CPU ---------------------------------------------------------------------

def softnet_drops():
    """Packets the kernel dropped because a CPU's input backlog was full
    (net.core.netdev_max_backlog; veth delivers through that backlog)."""
    n = 0
    with open("/proc/net/softnet_stat") as f:
        for line in f:
            n += int(line.split()[1], 16)
    return n


def cpu_ticks():
    """(busy, total) clock ticks of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


LAB_NETNS = set()
PF_KTHREAD = 0x00200000


def foreign_ticks():
    """{pid: utime+stime} of the processes that are not the benchmark's: not
    kernel threads (softirq work may run in ksoftirqd), not in the lab's
    namespaces, not this process or its descendants or ancestors. The machine
    is shared; what these use is taken out of the machine-wide busy time."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ns = os.readlink("/proc/%s/ns/net" % d)
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        ppid, flags = int(rest[1]), int(rest[6])
        procs[int(d)] = (ppid, flags, ns, int(rest[11]) + int(rest[12]))
    me = os.getpid()
    ours = {me}
    p = me
    while p in procs and procs[p][0] > 1:  # ancestors
        p = procs[p][0]
        ours.add(p)
    out = {}
    for pid, (ppid, flags, ns, t) in procs.items():
        if flags & PF_KTHREAD or ns in LAB_NETNS or pid in ours:
            continue
        q, hops = ppid, 0
        while q in procs and q != me and hops < 64:
            q, hops = procs[q][0], hops + 1
        if q == me:
            continue
        out[pid] = t
    return out


class CpuWindow:
    """Machine-wide busy time over a window, less what other users'
    processes used (foreign_ticks)."""

    def __enter__(self):
        self.f0 = foreign_ticks()
        self.b0, self.t0 = cpu_ticks()
        self.w0 = time.monotonic()
        return self

    def __exit__(self, *a):
        self.b1, self.t1 = cpu_ticks()
        self.w1 = time.monotonic()
        f1 = foreign_ticks()
        self.foreign = sum(t - self.f0.get(pid, 0) for pid, t in f1.items())
        FOREIGN.append((self.foreign / HZ, self.wall))

    @property
    def raw_busy_s(self):
        return (self.b1 - self.b0) / HZ

    @property
    def busy_s(self):
        return max(0, self.b1 - self.b0 - self.foreign) / HZ

    @property
    def wall(self):
        return self.w1 - self.w0

    def us_per(self, n):
        return self.busy_s * 1e6 / n if n else None


def netns_id(ns):
    """The net:[inode] link of a named network namespace."""
    r = run(["ip", "netns", "exec", ns, "readlink", "/proc/self/ns/net"], timeout=10)
    return r.stdout.strip()


# ---- processes -----------------------------------------------------------------

def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    STARTED.append(p)
    return p


def stop(p, sig=signal.SIGTERM, grace=10.0):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    if p in STARTED:
        STARTED.remove(p)


def stop_all():
    for p in list(STARTED):
        stop(p, grace=3.0)


def run(args, timeout, **kw):
    return subprocess.run(args, timeout=timeout, capture_output=True, text=True, **kw)


# ---- statistics ----------------------------------------------------------------

FIG = {}


def fig(key, runs, unit, desc):
    runs = [r for r in runs if r is not None]
    if runs:
        FIG[key] = {"median": statistics.median(runs), "min": min(runs), "max": max(runs),
                    "runs": runs, "unit": unit, "desc": desc}
    else:
        FIG[key] = {"median": None, "min": None, "max": None, "runs": [], "unit": unit,
                    "desc": desc}
    return FIG[key]["median"]


def med(key):
    f = FIG.get(key)
    return f["median"] if f else None


# ---- the daemon ----------------------------------------------------------------

class Daemon:
    """tcpprobe daemon in the client namespace on a generated config."""

    def __init__(self, tmp, name, targets, daemon_kv=None, defaults_kv=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.conf = os.path.join(self.dir, "tcpprobe.conf")
        dk = {"control_socket": self.sock, "metrics_listen": "off",
              "source_ports": "20000-29999", "max_inflight": "1000000",
              "pps": "10000000", "history": "1", "log_level": "warning", "rst_guard": "nft"}
        dk.update(daemon_kv or {})
        write_conf(self.conf, dk, defaults_kv or {}, targets)
        self.p = None

    def start(self, timeout=120.0):
        self.err = open(os.path.join(self.dir, "daemon.err"), "w")
        t0 = time.monotonic()
        self.p = start(cexec([BIN, "daemon", "-c", self.conf]), stdout=self.err,
                       stderr=self.err)
        while time.monotonic() - t0 < timeout:
            if self.p.poll() is not None:
                raise RuntimeError("daemon exited %s: %s" % (self.p.returncode, self.errtext()))
            if os.path.exists(self.sock):
                r = self.ctl("status", check=False)
                if r and r.get("ok"):
                    self.ready_s = time.monotonic() - t0
                    return self
            time.sleep(0.005)
        raise RuntimeError("daemon not ready after %.0f s" % timeout)

    def errtext(self):
        try:
            return open(os.path.join(self.dir, "daemon.err")).read()[-800:]
        except OSError:
            return ""

    def ctl(self, *args, check=True, timeout=60):
        r = run([BIN, "ctl", "-s", self.sock, "--json", "-t", str(timeout)] + list(args),
                timeout=timeout + 5)
        if r.returncode != 0 or not r.stdout.strip():
            if check:
                raise RuntimeError("ctl %s: rc=%d %s %s" % (args, r.returncode,
                                                            r.stdout[:300], r.stderr[:300]))
            return None
        return json.loads(r.stdout.splitlines()[0])

    def status(self):
        return self.ctl("status")

    def stop(self):
        if self.p:
            stop(self.p)
            self.p = None


def write_conf(path, daemon_kv, defaults_kv, targets):
    with open(path, "w") as f:
        f.write("[daemon]\n")
        for k, v in daemon_kv.items():
            f.write("%s = %s\n" % (k, v))
        f.write("[defaults]\n")
        for k, v in defaults_kv.items():
            f.write("%s = %s\n" % (k, v))
        for name, host, port in targets:
            f.write("[target %s]\nhost = %s\nport = %d\n" % (name, host, port))


def gen_targets(n, offset=0):
    """n targets with distinct (address, port) pairs (up to 258,064)."""
    return [("t%d" % i, any_addr(i + offset), sink_port(i + (i + offset) // (254 * 254)))
            for i in range(n)]


def failure_sample(d, n=3):
    """What a few failed probes reported, for the log."""
    out = []
    rows = d.ctl("targets", timeout=120)["targets"]
    lossy = [r for r in rows if r.get("failed_pct")]
    out.append("%d targets with failures" % len(lossy))
    for r in lossy:
        if r.get("failed_pct"):
            h = d.ctl("history", r["name"], "5")
            for e in (h.get("history") or h.get("results") or [])[:5]:
                if e.get("result") != "ok":
                    out.append("%s:%s/%s" % (r["name"], e.get("result"), e.get("close")))
            if len(out) >= n:
                break
    return " ".join(out[:n + 1])


def target_totals(d):
    """(probes, ok) summed over every target (ok from failed_pct, exact to
    rounding since failed_pct = 100 * (probes - ok) / probes)."""
    rows = d.ctl("targets", timeout=120)["targets"]
    probes = ok = 0
    for r in rows:
        n = r.get("probes") or 0
        probes += n
        if n:
            ok += n - round(n * (r.get("failed_pct") or 0.0) / 100.0)
    return probes, ok


# ---- throughput: the daemon ------------------------------------------------------

STEP = 0


def daemon_step(tmp, kind, rate, interval, time_wait, warm, window):
    """Run the daemon at `rate` probes/s (rate*interval targets) for `window`
    seconds after `warm`; return a dict of what happened."""
    global STEP
    STEP += 1
    n = max(1, round(rate * interval))
    # The defaults' retransmissions (1 s RTO, 2 retries), as a kernel client
    # makes them: one lost segment is not a failed connect() either. A
    # shorter RTO turns an overloaded moment into a retransmission storm.
    dkv = {"kind": kind, "interval": "%gms" % (interval * 1e3), "timeout": "1s",
           "retries": "2", "time_wait": time_wait, "fin_wait_2": "1s"}
    # Fresh 4-tuples in every step: a failure in one step must not leave
    # server-side state that a later step's SYN runs into.
    d = Daemon(tmp, "step", gen_targets(n, offset=STEP * 20011), defaults_kv=dkv).start()
    try:
        time.sleep(warm)
        a0 = time.monotonic()
        s0 = d.status()
        sd0 = softnet_drops()
        with CpuWindow() as cw:
            a1 = time.monotonic()
            time.sleep(window)
        b0 = time.monotonic()
        s1 = d.status()
        b1 = time.monotonic()
        d.ctl("pause", "--all")
        sd1 = softnet_drops()
        # Probes in flight finish; one still open after 3.5 s (it needed
        # two retransmissions) counts as failed.
        t_end = time.monotonic() + 3.5
        while time.monotonic() < t_end:
            s2 = d.status()
            if s2["inflight"] == 0 and s2["queued"] == 0:
                break
            time.sleep(0.05)
        s2 = d.status()
        probes, ok = target_totals(d)
        why = failure_sample(d) if s2["probes_started"] != ok else ""
    finally:
        d.stop()
    started = s1["probes_started"] - s0["probes_started"]
    res = {
        "rate": rate, "targets": n, "achieved": started / ((b0 + b1) / 2 - (a0 + a1) / 2),
        "cpu_us": cw.us_per(started), "started_total": s2["probes_started"],
        "reported": probes, "ok": ok, "failed": s2["probes_started"] - ok,
        "rx_kernel_drops": s2["rx_kernel_drops"], "send_errors": s2["send_errors"],
        "waited": s2["probes_waited"], "late_max_us": s1.get("sched_late_max_us"),
        "rss": s1["memory"]["rss_bytes"], "conns": s1["connections"],
        "inflight_after": s2["inflight"], "why": why, "backlog_drops": sd1 - sd0,
    }
    res["pass"] = (res["failed"] == 0 and res["achieved"] >= 0.97 * rate and
                   res["rx_kernel_drops"] == 0 and res["send_errors"] == 0)
    log("  %s %6d/s (%d targets): achieved %.0f/s, %s failed, %.1f us CPU/probe, "
        "drops %d -> %s" % (kind, rate, n, res["achieved"], res["failed"], res["cpu_us"] or 0,
                            res["rx_kernel_drops"], "ok" if res["pass"] else "FAIL"))
    RUNS.append(dict(res, what="daemon_step", kind=kind))
    if why or res["inflight_after"] or res["backlog_drops"]:
        log("    unfinished %d; backlog drops %d; failures: %s" % (
            res["inflight_after"], res["backlog_drops"], why))
    return res


def search_rate(tmp, kind, start_rate, budget_steps, interval, time_wait, lo_hint=None):
    """Highest rate (to ~10%) the daemon sustains with zero failed probes.
    Doubles from start_rate until a failure, then bisects; with lo_hint
    (an earlier run's answer) it steps around that instead. Returns
    (best_rate, best_step or None)."""
    good, bad, best = 0, None, None
    rate = lo_hint or start_rate
    for _ in range(budget_steps):
        r = daemon_step(tmp, kind, rate, interval, time_wait, warm=interval + 0.6, window=2.0)
        if r["pass"]:
            good, best = rate, r
        else:
            bad = rate
        if bad is None:
            rate = rate * (2 if not lo_hint else 1.15)
        elif not good:
            rate = rate / (2 if not lo_hint else 1.15)
        else:
            if bad / good < 1.12:
                break
            rate = (good + bad) / 2
        rate = int(round(rate / 500.0) * 500) or 500
        if rate == good or rate == bad:
            break
    return good, best


# ---- throughput: baselines -------------------------------------------------------

def epoll_run(inflight, secs):
    with CpuWindow() as cw:
        r = run(cexec([EPOLL, "-n", str(inflight), "-d", str(secs), "-a", "%s.1.1" % ANY_PREFIX,
                       "-c", "60000", "-p", "%d-%d" % (SINK_LO, SINK_HI)]), timeout=secs + 30)
    j = json.loads(r.stdout)
    j["cpu_us"] = cw.us_per(j["completed"])
    RUNS.append(dict(j, what="connect_epoll", inflight=inflight))
    return j


BLACKBOX_YML = """modules:
  tcp_connect:
    prober: tcp
    timeout: 5s
"""

WRK_LUA = r"""
local threads = {}
local nth = 0
function setup(thread)
  nth = nth + 1
  thread:set("id", nth)
  table.insert(threads, thread)
end
function init(args)
  fails = 0
  counter = id * 1000003
end
function request()
  counter = counter + 1
  local i = counter % 60000
  return wrk.format("GET", string.format(
    "/probe?module=tcp_connect&target=%s.%d.%d:%d", PREFIX,
    1 + math.floor(i / 254), 1 + i % 254, PORT))
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, "probe_success 1", 1, true) then
    fails = fails + 1
  end
end
function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + t:get("fails") end
  io.write(string.format("BENCH requests=%d fails=%d us=%d errors=%d\n",
    summary.requests, f, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
"""


def blackbox_runs(tmp, reps, secs):
    exe = "/usr/bin/prometheus-blackbox-exporter"
    if not os.access(exe, os.X_OK) or not os.access("/usr/bin/wrk", os.X_OK):
        note("blackbox_exporter or wrk not installed (make deps-bench): blackbox baseline skipped")
        return []
    yml = os.path.join(tmp, "blackbox.yml")
    open(yml, "w").write(BLACKBOX_YML)
    lua = os.path.join(tmp, "probe.lua")
    open(lua, "w").write(WRK_LUA.replace("PREFIX", '"%s"' % ANY_PREFIX)
                         .replace("PORT)", "%d)" % SINK_LO))
    err = open(os.path.join(tmp, "blackbox.err"), "w")
    bb = start(cexec([exe, "--config.file=" + yml, "--web.listen-address=127.0.0.1:9115",
                      "--log.level=error"]), stdout=err, stderr=err)
    out = []
    try:
        for _ in range(100):
            r = run(cexec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           "http://127.0.0.1:9115/-/healthy"]), timeout=10)
            if r.stdout == "200":
                break
            time.sleep(0.1)
        else:
            note("blackbox_exporter did not start: " + open(err.name).read()[-300:])
            return []
        for _ in range(reps):
            with CpuWindow() as cw:
                r = run(cexec(["wrk", "-t2", "-c64", "-d%ds" % secs, "-s", lua,
                               "http://127.0.0.1:9115"]), timeout=secs + 30)
            m = re.search(r"BENCH requests=(\d+) fails=(\d+) us=(\d+) errors=(\d+)", r.stdout)
            if not m:
                note("wrk output not understood: " + r.stdout[-300:] + r.stderr[-300:])
                continue
            n, fails, us, errs = (int(x) for x in m.groups())
            okn = n - fails
            out.append({"per_s": okn / (us / 1e6), "failed": fails + errs,
                        "cpu_us": cw.us_per(okn)})
            RUNS.append(dict(out[-1], what="blackbox_wrk"))
            log("  blackbox+wrk: %.0f probes/s, %d failed, %.1f us CPU/probe" %
                (out[-1]["per_s"], fails + errs, out[-1]["cpu_us"] or 0))
    finally:
        stop(bb)
    return out


def zmap_run(tmp, rate, probes_per):
    allow = os.path.join(tmp, "zmap.allow")
    block = os.path.join(tmp, "zmap.block")
    open(allow, "w").write(E["LAB_ANYNET4"] + "\n")  # the lab's AnyIP prefix only
    open(block, "w").write("")
    meta = os.path.join(tmp, "zmap.meta")
    with CpuWindow() as cw:
        r = run(cexec(["zmap", "-p", str(SINK_LO), "-i", CIF, "-G", SMAC, "-S", C4,
                       "-w", allow, "-b", block, "-r", str(rate), "-P", str(probes_per),
                       "-c", "1", "-o", "/dev/null", "-m", meta, "--disable-syslog",
                       "--max-runtime", "20"]), timeout=60)
    if r.returncode != 0:
        raise RuntimeError("zmap rc=%d: %s" % (r.returncode, r.stderr[-300:]))
    m = json.load(open(meta))
    sent = m["total_sent"]
    t = time.mktime(time.strptime(m["send_end_time"][:19], "%Y-%m-%dT%H:%M:%S")) - \
        time.mktime(time.strptime(m["send_start_time"][:19], "%Y-%m-%dT%H:%M:%S"))
    # zmap counts unique responders; -P N sends N probes to each address.
    hit = m["success_unique"] / max(1, m["blacklist_total_allowed"])
    # zmap's own average send rate, from its last status line.
    avg = re.findall(r"send: \d+ done \(([\d.]+) ([KMG]?)p/s avg\)", r.stderr)
    if avg:
        v, unit = avg[-1]
        per_s = float(v) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[unit]
    else:
        per_s = sent / max(cw.wall - 1.0, 0.1)
    res = {"rate": rate, "sent": sent, "hitrate": hit, "cpu_us": cw.us_per(sent),
           "send_per_s": per_s, "send_s_meta": t}
    res["pass"] = hit >= 0.999 and res["send_per_s"] >= 0.9 * rate
    RUNS.append(dict(res, what="zmap"))
    log("  zmap -r %d: sent %d, hitrate %.4f, %.0f pkt/s, %.1f us CPU/probe -> %s" % (
        rate, sent, hit, res["send_per_s"], res["cpu_us"], "ok" if res["pass"] else "FAIL"))
    return res


def zmap_search(tmp, reps):
    """Per rep: the highest send rate zmap keeps (>= 90% of what it was asked)
    with >= 99.9% of the lab's addresses answering; doubles, then bisects."""
    if not os.access("/usr/sbin/zmap", os.X_OK):
        note("zmap not installed (make deps-bench): zmap baseline skipped")
        return [], []
    rates, cpus = [], []
    hint = None
    for rep in range(reps):
        good, best, bad = 0, None, None
        rate = hint or 50000
        for _ in range(6 if hint is None else 3):
            # About two seconds of sending: -P probes per address of the /16.
            r = zmap_run(tmp, rate, max(1, min(8, round(rate * 2 / 65536))))
            if r["pass"]:
                good = rate
                if not best or r["send_per_s"] > best["send_per_s"]:
                    best = r
            else:
                bad = rate
            if bad is None:
                rate = int(rate * (2 if hint is None else 1.15))
            elif not good:
                rate = int(rate / (2 if hint is None else 1.15))
            else:
                if bad / good < 1.12:
                    break
                rate = (good + bad) // 2
        if good:
            hint = good
        rates.append(best["send_per_s"] if best else 0)
        cpus.append(best["cpu_us"] if best else None)
    return rates, cpus


def hping_flood(secs):
    if not os.access("/usr/sbin/hping3", os.X_OK):
        note("hping3 not installed: raw SYN flood rate skipped")
        return None
    with CpuWindow() as cw:
        r = run(cexec(["timeout", "-s", "INT", str(secs), "hping3", "--flood", "-S", "-p",
                       str(SINK_LO), any_addr(7)]), timeout=secs + 20)
    m = re.search(r"(\d+) packets transmitted", r.stdout + r.stderr)
    if not m:
        note("hping3 --flood output not understood")
        return None
    n = int(m.group(1))
    return {"per_s": n / cw.wall, "cpu_us": cw.us_per(n)}


# ---- timing accuracy --------------------------------------------------------------

class Capture:
    def __init__(self, path, filt):
        self.path = path
        self.errf = path + ".err"
        self.p = start(cexec(["tcpdump", "-Z", "root", "-n", "-i", CIF,
                              "--time-stamp-precision=nano", "--immediate-mode", "-U",
                              "-B", "65536", "-w", path, filt]),
                       stdout=subprocess.DEVNULL, stderr=open(self.errf, "w"))
        for _ in range(100):
            if "listening on" in open(self.errf).read():
                break
            time.sleep(0.05)

    def stop(self):
        time.sleep(0.2)
        stop(self.p, sig=signal.SIGINT)
        m = re.search(r"(\d+) packets dropped by kernel", open(self.errf).read())
        if m and int(m.group(1)):
            note("tcpdump dropped %s packets (%s)" % (m.group(1), os.path.basename(self.path)))


def wire_rtts(pcap):
    """[(t0_ns, sport, rtt_ns)] in SYN order."""
    r = run([PY, os.path.join(ROOT, "tests/lab/wire.py"), "rtts", pcap], timeout=120)
    out = []
    for line in r.stdout.splitlines():
        t0, src, sport, dst, dport, rtt, n = line.split()
        if src == C4:
            out.append((int(t0), int(sport), int(rtt)))
    out.sort()
    return out


def err_stats(errs_ns):
    if not errs_ns:
        return None
    e = sorted(errs_ns)
    n = len(e)
    return {"n": n, "median_us": e[n // 2] / 1e3, "p99_us": e[min(n - 1, n * 99 // 100)] / 1e3}


def acc_tcpprobe(tmp, tag, count, extra=()):
    pcap = os.path.join(tmp, "acc-%s.pcap" % tag)
    cap = Capture(pcap, "tcp and host %s and portrange 30000-30999" % any_addr(3))
    r = run(cexec([BIN, "probe", "--json", "--count", str(count), "--interval", "0.01",
                   "--time-wait", "100ms", "--source-ports", "30000-30999", *extra,
                   "%s:%d" % (any_addr(3), SINK_LO)]), timeout=count * 0.01 + 60)
    cap.stop()
    wire = {sp: rtt for _, sp, rtt in wire_rtts(pcap)}
    errs = []
    for line in r.stdout.splitlines():
        j = json.loads(line)
        if j.get("result") == "ok" and j.get("source_port") in wire and j.get("rtt_us"):
            errs.append(abs(j["rtt_us"] * 1000 - wire[j["source_port"]]))
    st = err_stats(errs)
    if not st or st["n"] < count * 0.95:
        note("tcpprobe %s: only %s of %d probes matched the wire" % (tag, st and st["n"], count))
    return st


def acc_hping(tmp, count):
    pcap = os.path.join(tmp, "acc-hping.pcap")
    cap = Capture(pcap, "tcp and host %s" % any_addr(4))
    r = run(cexec(["hping3", "-S", "-p", str(SINK_LO), "-c", str(count), "-i", "u10000",
                   any_addr(4)]), timeout=count * 0.01 + 60)
    cap.stop()
    rep = {}
    for m in re.finditer(r"flags=SA seq=(\d+) .*?rtt=([\d.]+) ms", r.stdout):
        rep[int(m.group(1))] = float(m.group(2)) * 1e6
    wire = wire_rtts(pcap)
    # hping3 sends probe k from source port base+k: match by order.
    if len(wire) != count or len(rep) != count:
        note("hping3: %d replies reported, %d SYN->SYN/ACK pairs on the wire, of %d" % (
            len(rep), len(wire), count))
    errs = [abs(rep[k] - w[2]) for k, w in enumerate(wire) if k in rep]
    return err_stats(errs)


def acc_nping(tmp, count):
    pcap = os.path.join(tmp, "acc-nping.pcap")
    cap = Capture(pcap, "tcp and host %s" % any_addr(5))
    r = run(cexec(["nping", "--tcp", "-p", str(SINK_LO), "--flags", "syn", "-c", str(count),
                   "--delay", "10ms", any_addr(5)]), timeout=count * 0.01 + 60)
    cap.stop()
    sent, rtts = None, []
    for line in r.stdout.splitlines():
        m = re.match(r"(SENT|RCVD) \(([\d.]+)s\) TCP", line)
        if not m:
            continue
        if m.group(1) == "SENT":
            sent = float(m.group(2))
        elif sent is not None and " SA " in line:
            rtts.append((m.group(2), (float(m.group(2)) - sent) * 1e9))
            sent = None
    wire = wire_rtts(pcap)
    # nping reuses one source port: match by order.
    if len(wire) != count or len(rtts) != count:
        note("nping: %d replies reported, %d SYN->SYN/ACK pairs on the wire, of %d" % (
            len(rtts), len(wire), count))
    errs = [abs(rt - w[2]) for (_, rt), w in zip(rtts, wire)]
    return err_stats(errs)


# ---- sections -------------------------------------------------------------------------

def sec_throughput(tmp, reps):
    log("handshake throughput, short TIME_WAIT (daemon)")
    hs, hs_cpu, hint = [], [], None
    for rep in range(reps):
        good, best = search_rate(tmp, "handshake", 8000, 7 if hint is None else 4,
                                 0.2, "500ms", lo_hint=hint)
        hs.append(good)
        hs_cpu.append(best["cpu_us"] if best else None)
        hint = good or hint
    fig("hs_rate", hs, "probes/s", "tcpprobe handshake probes/s, 0 failed (timeout 1s, "
        "retries 2, time_wait 500ms)")
    fig("hs_cpu", hs_cpu, "us/probe", "tcpprobe handshake, machine CPU per probe at that rate")

    log("handshake baseline: connect()+epoll client")
    best_n, best = None, 0
    for n in (64, 256, 1024):
        j = epoll_run(n, 2)
        log("  epoll -n %d: %.0f/s, %d failed, %.1f us CPU" % (n, j["per_s"], j["failed"],
                                                              j["cpu_us"] or 0))
        if j["per_s"] > best:
            best, best_n = j["per_s"], n
    ep, ep_cpu, ep_fail = [], [], []
    for _ in range(reps):
        j = epoll_run(best_n, 2)
        ep.append(j["per_s"])
        ep_cpu.append(j["cpu_us"])
        ep_fail.append(j["failed"])
    fig("epoll_rate", ep, "conn/s", "connect()+epoll client, %d in flight" % best_n)
    fig("epoll_cpu", ep_cpu, "us/conn", "connect()+epoll client, machine CPU per connection")
    if any(ep_fail):
        note("connect()+epoll client had failed connects: %s" % ep_fail)

    log("handshake baseline: blackbox_exporter tcp_connect via wrk")
    bb = blackbox_runs(tmp, reps, 3)
    fig("bb_rate", [b["per_s"] for b in bb], "probes/s", "blackbox_exporter tcp_connect (wrk -c64)")
    fig("bb_cpu", [b["cpu_us"] for b in bb], "us/probe", "blackbox_exporter + wrk CPU per probe")

    log("handshake with time_wait 60s over many AnyIP targets (no collapse)")
    tw_rate = int(min(med("hs_rate") or 10000, 40000) * 0.7)
    fig("tw60_offered", [tw_rate], "probes/s", "offered rate of the time_wait 60s runs")
    tw, tw_cpu, tw_conns, mem_pc = [], [], [], []
    for _ in range(reps):
        r = tw60_run(tmp, tw_rate)
        tw.append(r["late_rate"])
        tw_cpu.append(r["cpu_us"])
        tw_conns.append(r["conns_end"])
        mem_pc.append(r["bytes_per_conn"])
        if r["failed"]:
            note("time_wait 60s run at %d/s: %d failed probes" % (tw_rate, r["failed"]))
    fig("tw60_rate", tw, "probes/s",
        "handshake, time_wait 60s, offered %d/s: achieved rate in the last 2 s" % tw_rate)
    fig("tw60_cpu", tw_cpu, "us/probe", "same, machine CPU per probe")
    fig("tw60_conns", tw_conns, "conns", "connections in the table at the end (TIME_WAIT)")
    fig("tw60_mem_conn", mem_pc, "B/conn", "RSS growth per connection in those runs, probe "
        "contexts of a near-capacity rate included")

    log("memory per connection: 100,000 more connections in TIME_WAIT at 12,500 probes/s")
    mem = []
    for _ in range(reps):
        mem.append(mem_run(tmp, 12500))
    fig("mem_conn", mem, "B/conn", "RSS growth per connection, +100k conns (TIME_WAIT)")

    log("syn throughput (daemon)")
    sy, sy_cpu, hint = [], [], None
    for rep in range(reps):
        good, best = search_rate(tmp, "syn", 16000, 7 if hint is None else 4, 0.2, "500ms",
                                 lo_hint=hint)
        sy.append(good)
        sy_cpu.append(best["cpu_us"] if best else None)
        hint = good or hint
    fig("syn_rate", sy, "probes/s", "tcpprobe syn probes/s, 0 failed")
    fig("syn_cpu", sy_cpu, "us/probe", "tcpprobe syn, machine CPU per probe at that rate")

    log("syn baseline: zmap")
    zr, zc = zmap_search(tmp, reps)
    fig("zmap_rate", zr, "probes/s", "zmap SYN scan of the lab /16, hitrate >= 99.9%")
    fig("zmap_cpu", zc, "us/probe", "zmap, machine CPU per probe at that rate")

    log("raw SYN rate: hping3 --flood")
    hp = [hping_flood(2) for _ in range(reps)]
    hp = [h for h in hp if h]
    fig("hping_rate", [h["per_s"] for h in hp], "pkt/s", "hping3 --flood -S, send only")
    fig("hping_cpu", [h["cpu_us"] for h in hp], "us/pkt", "hping3 --flood, machine CPU per SYN")


def tw60_run(tmp, rate):
    """time_wait 60s: RSS per connection at ~100k connections, and whether the
    rate holds while the table fills."""
    interval = 1.0
    n = int(rate * interval)
    dkv = {"kind": "handshake", "interval": "1s", "timeout": "1s", "retries": "2",
           "time_wait": "60s", "fin_wait_2": "1s"}
    global STEP
    STEP += 1
    d = Daemon(tmp, "tw60", gen_targets(n, offset=STEP * 20011), defaults_kv=dkv).start()
    try:
        time.sleep(interval + 0.5)  # every target has its history entry: per-target memory done
        s0 = d.status()
        want = s0["connections"] + 100000
        t_end = time.monotonic() + max(8.0, 100000 / rate * 1.5 + 2)
        mem = None
        samples = []
        with CpuWindow() as cw:
            while time.monotonic() < t_end:
                time.sleep(0.25)
                s = d.status()
                samples.append((time.monotonic(), s["probes_started"]))
                if mem is None and s["connections"] >= want:
                    mem = (s["memory"]["rss_bytes"] - s0["memory"]["rss_bytes"]) / \
                          (s["connections"] - s0["connections"])
                if mem is not None and time.monotonic() > t_end - 2.5 and \
                        samples[-1][0] - samples[0][0] > 6:
                    break
        s1 = d.status()
        d.ctl("pause", "--all")
        for _ in range(70):
            s2 = d.status()
            if s2["inflight"] == 0:
                break
            time.sleep(0.05)
        s2 = d.status()
        probes, ok = target_totals(d)
    finally:
        d.stop()
    # Rate over the last 2 s of the run, when the table is largest.
    last = samples[-1]
    first = next(x for x in samples if x[0] >= last[0] - 2.0)
    late = (last[1] - first[1]) / max(last[0] - first[0], 0.1)
    started = s1["probes_started"] - s0["probes_started"]
    res = {"late_rate": late, "cpu_us": cw.us_per(started), "conns_end": s1["connections"],
           "bytes_per_conn": mem, "failed": s2["probes_started"] - ok}
    RUNS.append(dict(res, what="tw60", rate=rate))
    log("  tw60 %d/s: late rate %.0f/s, %d conns, %s B/conn, %d failed, %.1f us CPU" % (
        rate, late, s1["connections"], "%.0f" % mem if mem else "-", res["failed"],
        res["cpu_us"] or 0))
    return res


def mem_run(tmp, rate):
    """RSS growth over 100,000 more connections (time_wait 60s) at a rate
    well inside capacity, so that what grows is the connection table and
    not the contexts of probes held up in flight."""
    dkv = {"kind": "handshake", "interval": "1s", "timeout": "1s", "retries": "2",
           "time_wait": "60s", "fin_wait_2": "1s"}
    global STEP
    STEP += 1
    d = Daemon(tmp, "mem", gen_targets(rate, offset=STEP * 20011), defaults_kv=dkv).start()
    try:
        time.sleep(1.5)  # every target has its history entry: per-target memory done
        s0 = d.status()
        t_end = time.monotonic() + 100000 / rate * 2 + 2
        while time.monotonic() < t_end:
            time.sleep(0.2)
            s = d.status()
            if s["connections"] >= s0["connections"] + 100000:
                break
    finally:
        d.stop()
    dc = s["connections"] - s0["connections"]
    if dc < 100000:
        note("memory run: only %d more connections" % dc)
    per = (s["memory"]["rss_bytes"] - s0["memory"]["rss_bytes"]) / max(dc, 1)
    RUNS.append({"what": "mem", "rate": rate, "conns0": s0["connections"],
                 "conns1": s["connections"], "rss0": s0["memory"]["rss_bytes"],
                 "rss1": s["memory"]["rss_bytes"], "bytes_per_conn": per,
                 "conn_bytes": s["memory"]["conn_bytes"] / max(s["connections"], 1)})
    log("  %d -> %d conns: %.0f B/conn (sizeof conn %.0f)" % (
        s0["connections"], s["connections"], per, RUNS[-1]["conn_bytes"]))
    return per


def sec_accuracy(tmp, reps):
    log("timing accuracy: 500 probes each at 100/s")
    # The probes below use source ports 30000-30999 with --rst-guard none (so
    # they can run next to a daemon with source ports 20000-29999, refused to overlap);
    # this table drops the kernel's RSTs for that range instead.
    nft = "table inet tcpprobe_bench { chain output { type filter hook output priority 0; " \
          "policy accept; tcp sport 30000-30999 tcp flags & rst == rst meta mark != 0x7470 " \
          "drop; } }"
    run(cexec(["nft", nft]), timeout=10)
    res = {"tcpprobe": [], "hping3": [], "nping": [], "tcpprobe_load": []}
    for _ in range(reps):
        res["tcpprobe"].append(acc_tcpprobe(tmp, "idle", 500, ("--rst-guard", "none")))
        if os.access("/usr/sbin/hping3", os.X_OK):
            res["hping3"].append(acc_hping(tmp, 500))
        if os.access("/usr/bin/nping", os.X_OK):
            res["nping"].append(acc_nping(tmp, 500))
    # Under load: the daemon at ~10,000 probes/s in the same namespace.
    dkv = {"kind": "handshake", "interval": "100ms", "timeout": "500ms", "retries": "0",
           "time_wait": "500ms", "fin_wait_2": "500ms"}
    d = Daemon(tmp, "load", gen_targets(1000, offset=100), defaults_kv=dkv).start()
    try:
        time.sleep(1.0)
        s0 = d.status()
        t0 = time.monotonic()
        for _ in range(reps):
            res["tcpprobe_load"].append(acc_tcpprobe(tmp, "load", 500, ("--rst-guard", "none")))
        s1 = d.status()
        bg = (s1["probes_started"] - s0["probes_started"]) / (time.monotonic() - t0)
    finally:
        d.stop()
    run(cexec(["nft", "delete", "table", "inet", "tcpprobe_bench"]), timeout=10)
    fig("load_bg_rate", [bg], "probes/s", "background daemon rate during the loaded runs")
    note("RTT error: hping3 prints rtt= in 0.1 ms steps from user-space clocks; nping prints "
         "its SENT/RCVD times in 0.1 ms steps; tcpprobe reports kernel timestamps in us")
    for tool in ("tcpprobe", "tcpprobe_load", "hping3", "nping"):
        rs = [r for r in res[tool] if r]
        fig("acc_%s_med" % tool, [r["median_us"] for r in rs], "us",
            "%s: median |reported RTT - wire RTT|" % tool)
        fig("acc_%s_p99" % tool, [r["p99_us"] for r in rs], "us",
            "%s: p99 |reported RTT - wire RTT|" % tool)
        if rs:
            log("  %s: median %.2f us, p99 %.2f us (n=%d)" % (
                tool, med("acc_%s_med" % tool), med("acc_%s_p99" % tool), rs[0]["n"]))


def proc_cpu_s(pid):
    """User+system CPU seconds of a process so far (/proc/PID/stat)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def sec_scale(tmp, reps):
    log("memory per target and config scale (100,000 targets)")
    dkv = {"kind": "handshake", "interval": "24h", "timeout": "1s"}
    big = Daemon(tmp, "big", gen_targets(100000), defaults_kv=dkv)
    one = Daemon(tmp, "one", gen_targets(1), defaults_kv=dkv)
    load, load_cpu, ready, ready_cpu, reload_s, per_t = [], [], [], [], [], []
    for _ in range(reps):
        t0 = time.monotonic()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([BIN, "daemon", "-n", "-c", big.conf], timeout=120,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        load.append(time.monotonic() - t0)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_cpu.append(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime)
        if r.returncode != 0:
            note("daemon -n on the 100k config failed: %s" % r.stderr[-300:])
        one.start()
        rss1 = one.status()["memory"]["rss_bytes"]
        one.stop()
        big.start()
        ready.append(big.ready_s)
        ready_cpu.append(proc_cpu_s(big.p.pid))
        s = big.status()
        if s["targets"] != 100000:
            note("big config: daemon has %d targets" % s["targets"])
        per_t.append((s["memory"]["rss_bytes"] - rss1) / 100000)
        t0 = time.monotonic()
        big.ctl("reload", timeout=120)
        reload_s.append(time.monotonic() - t0)
        big.stop()
    fig("load_s", load, "s", "tcpprobe daemon -n -c (100k targets): parse, check, print")
    fig("load_cpu_s", load_cpu, "s", "tcpprobe daemon -n -c (100k targets): CPU (user+system)")
    fig("ready_s", ready, "s", "daemon start to first ctl reply (100k targets)")
    fig("ready_cpu_s", ready_cpu, "s", "daemon CPU (user+system) at its first ctl reply (100k targets)")
    fig("reload_s", reload_s, "s", "ctl reload round trip (100k targets, unchanged)")
    fig("mem_target", per_t, "B/target", "RSS per configured target (100k vs 1)")

    log("/metrics for 10,000 targets")
    port = 19110
    m = Daemon(tmp, "metrics", gen_targets(10000),
               daemon_kv={"metrics_listen": "127.0.0.1:%d" % port},
               defaults_kv={"kind": "syn", "interval": "1s", "timeout": "500ms"})
    try:
        m.start()
    except RuntimeError as e:
        note("metrics: daemon with metrics_listen did not start: SKIP (%s)" % str(e)[-200:])
        return
    try:
        time.sleep(1.5)  # one probe per target: every series has data
        ts, sizes = [], []
        for _ in range(reps):
            r = run(cexec(["curl", "-s", "-o", "/dev/null", "-w",
                           "%{http_code} %{time_total} %{size_download}",
                           "http://127.0.0.1:%d/metrics" % port]), timeout=60)
            parts = r.stdout.split()
            if len(parts) != 3 or parts[0] != "200":
                note("metrics: GET /metrics answered %r: SKIP" % r.stdout)
                return
            ts.append(float(parts[1]))
            sizes.append(int(parts[2]))
        fig("metrics_s", ts, "s", "GET /metrics, 10k targets (curl time_total)")
        fig("metrics_bytes", sizes, "bytes", "/metrics size, 10k targets")
    finally:
        m.stop()


# ---- report ---------------------------------------------------------------------------

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        s = "{:,.0f}".format(v)
    elif abs(v) >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s


def cell(key):
    f = FIG.get(key)
    if not f or f["median"] is None:
        return "n/a"
    if len(f["runs"]) > 1:
        return "%s [%s–%s]" % (fmt(f["median"]), fmt(f["min"]), fmt(f["max"]))
    return fmt(f["median"])


def ratio(a, b):
    va, vb = med(a), med(b)
    if va is None or vb in (None, 0):
        return None
    return va / vb


RATIOS = {}


def table():
    rows = []

    def row(what, ours, base, rkey, rat, target, met, unit=""):
        r = "%.2f×" % rat if rat is not None else "n/a"
        RATIOS[rkey] = rat
        rows.append("| %s | %s | %s | %s | %s | %s |" % (what, ours, base, r, target, met))

    def metq(cond):
        return "n/a" if cond is None else ("yes" if cond else "**no**")

    r1 = ratio("hs_rate", "epoll_rate")
    r2 = ratio("hs_cpu", "epoll_cpu")
    row("handshake probes/s (0 failed) vs connect()+epoll", cell("hs_rate"), cell("epoll_rate"),
        "hs_vs_epoll", r1, "≥ 1.0×", metq(None if r1 is None else r1 >= 1.0))
    row("handshake CPU µs/probe vs connect()+epoll", cell("hs_cpu"), cell("epoll_cpu"),
        "hs_cpu_vs_epoll", r2, "≤ 1.0×", metq(None if r2 is None else r2 <= 1.0))
    r = ratio("hs_rate", "bb_rate")
    row("handshake probes/s vs blackbox_exporter (wrk)", cell("hs_rate"), cell("bb_rate"),
        "hs_vs_blackbox", r, "—", "—")
    r = ratio("hs_cpu", "bb_cpu")
    row("handshake CPU µs/probe vs blackbox_exporter", cell("hs_cpu"), cell("bb_cpu"),
        "hs_cpu_vs_blackbox", r, "—", "—")
    r = ratio("tw60_rate", "tw60_offered")
    row("handshake, time_wait 60s, many AnyIP targets: rate in the last 2 s vs offered "
        "(conns at end %s)" % cell("tw60_conns"), cell("tw60_rate"), cell("tw60_offered"),
        "tw60_vs_offered", r, "≥ 0.95× (no collapse)",
        metq(None if r is None else FIG["tw60_rate"]["min"] >= 0.95 * med("tw60_offered")))
    r3 = ratio("syn_rate", "zmap_rate")
    r4 = ratio("syn_cpu", "zmap_cpu")
    row("syn probes/s (0 failed) vs zmap", cell("syn_rate"), cell("zmap_rate"), "syn_vs_zmap", r3,
        "≥ 1.0×", metq(None if r3 is None else r3 >= 1.0))
    row("syn CPU µs/probe vs zmap", cell("syn_cpu"), cell("zmap_cpu"), "syn_cpu_vs_zmap", r4,
        "≤ 1.0×", metq(None if r4 is None else r4 <= 1.0))
    r = ratio("syn_rate", "hping_rate")
    row("syn probes/s vs hping3 --flood SYNs/s (send only)", cell("syn_rate"),
        cell("hping_rate"), "syn_vs_hping", r, "—", "—")
    for tool, lbl in (("tcpprobe", "idle"), ("tcpprobe_load", "under %s probes/s" %
                                              fmt(med("load_bg_rate")))):
        m, p = med("acc_%s_med" % tool), med("acc_%s_p99" % tool)
        row("tcpprobe RTT error median / p99 µs, %s" % lbl,
            "%s / %s" % (cell("acc_%s_med" % tool), cell("acc_%s_p99" % tool)),
            "hping3 %s / %s; nping %s / %s" % (cell("acc_hping3_med"), cell("acc_hping3_p99"),
                                              cell("acc_nping_med"), cell("acc_nping_p99")),
            "acc_" + tool, None, "≤ 5 / ≤ 50",
            metq(None if m is None else (m <= 5 and p <= 50)))
    m = med("mem_conn")
    row("RSS per concurrent connection (B), +100k in TIME_WAIT at 12,500/s", cell("mem_conn"), "256 B target",
        "mem_conn", m / 256 if m else None, "≤ 256 B", metq(None if m is None else m <= 256))
    row("same, in the time_wait 60s runs near capacity (probe contexts in flight included)",
        cell("tw60_mem_conn"), "256 B target", "tw60_mem_conn", None, "—", "—")
    row("RSS per configured target (B), 100k targets", cell("mem_target"), "—", "mem_target",
        None, "—", "—")
    m = med("load_s")
    row("100k-target config: daemon -n (s)", cell("load_s"), "—", "load", None, "≤ 1 s",
        metq(None if m is None else m <= 1.0))
    m = med("ready_s")
    # The baseline: daemon -n on the same file in the same run (parse and
    # check only), so the ratio is what start-up adds, whatever the machine.
    row("100k-target config: start to ready (s) vs daemon -n", cell("ready_s"), cell("load_s"),
        "ready", ratio("ready_s", "load_s"), "≤ 1 s", metq(None if m is None else m <= 1.0))
    m = med("ready_cpu_s")
    row("100k-target config: daemon CPU at ready (s) vs daemon -n's CPU", cell("ready_cpu_s"),
        cell("load_cpu_s"), "ready_cpu", ratio("ready_cpu_s", "load_cpu_s"), "≤ 1 s",
        metq(None if m is None else m <= 1.0))
    row("100k-target config: ctl reload round trip (s)", cell("reload_s"), "—", "reload", None,
        "—", "—")
    if "metrics_s" in FIG:
        row("GET /metrics, 10k targets: s / bytes", "%s / %s" % (cell("metrics_s"),
                                                                 cell("metrics_bytes")),
            "—", "metrics", None, "—", "—")
    else:
        row("GET /metrics, 10k targets", "SKIP (see notes)", "—", "metrics", None, "—", "—")
    head = ["| measurement | tcpprobe median [min–max] | baseline median [min–max] | ratio | "
            "target | met |", "|---|---|---|---|---|---|"]
    return "\n".join(head + rows)


def main():
    global BIN, EPOLL
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--epoll", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="throughput,accuracy,scale")
    a = ap.parse_args()
    BIN, EPOLL = a.bin, a.epoll
    for ns in (CNS, SNS):
        LAB_NETNS.add(os.readlink("/run/netns/" + ns) if os.path.islink("/run/netns/" + ns)
                      else netns_id(ns))
    tmp = tempfile.mkdtemp(prefix="tcpprobe-bench.")
    only = a.only.split(",")
    try:
        if "throughput" in only:
            sec_throughput(tmp, a.reps)
        if "accuracy" in only:
            sec_accuracy(tmp, a.reps)
        if "scale" in only:
            sec_scale(tmp, a.reps)
    finally:
        stop_all()
    t = table()
    fs = sum(f for f, _ in FOREIGN)
    ws = sum(w for _, w in FOREIGN)
    if ws and fs / ws > 0.05:
        note("other users' processes used %.2f CPUs on average during the measured windows; "
             "their time is taken out of the CPU figures, but they also compete for the CPUs, "
             "which lowers the rates" % (fs / ws))
    out = {"figures": FIG, "ratios": RATIOS, "notes": NOTES, "reps": a.reps, "runs": RUNS,
           "binary": BIN,
           "foreign_cpus": fs / ws if ws else None,
           "seconds": time.monotonic() - T0, "cpus": os.cpu_count(), "hz": HZ,
           "kernel": os.uname().release, "table": t}
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    print(t)
    if NOTES:
        print("\nNotes:")
        for n in NOTES:
            print("- " + n)
    print("\n(%d runs per figure; %.0f s; raw figures in %s)" % (a.reps, time.monotonic() - T0,
                                                                a.json))


if __name__ == "__main__":
    main()
