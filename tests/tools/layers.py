#!/usr/bin/env python3
"""The module graph of daemon/, from the built objects and the sources.

X depends on Y when X's object uses a symbol Y's object defines (nm), or
when X.c includes Y's header. Checks, each printed as PASS/FAIL:
  layers-no-cycle        no cycle among daemon/ modules
  layers-allowed-edges   every edge is in tests/layers.allowed, and every
                         listed edge is real (the list, and the README
                         picture drawn from it, stay true); a module's
                         private header (X_priv.h) is included by its own
                         files alone
  layers-probes-pure     probes/ objects use no daemon/ symbol
  layers-readme-picture  README "How it works" names every daemon/ and
                         probes/ source file, and no daemon/ module depends
                         on one drawn above it there (but for the helpers)
usage: layers.py BUILD_DIR [--print]   (--print: the edges, nothing checked)
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
# Modules of more than one file: the registry (registry.c: the targets and
# their index; sched.c: schedule, results, one-shots, watchers; pathwatch.c:
# trace_interval's traces; resolve.c: name lookups off the loop) share their
# state (registry_priv.h); the config
# (config.c: the INI parser; config_keys.c: the probe keys' table, config_keys.h;
# config_sections.c: the other sections' key tables; config_value.c:
# the value syntax; config_print.c) shares config_priv.h; discovery
# (discovery.c: sources, file_sd, applying; discovery_http.c: http_sd)
# shares discovery_priv.h; the engine (engine.c: its lifetime; engine_probe.c,
# engine_io.c, engine_trace.c, engine_report.c, engine_conns.c,
# engine_ports.c, engine_route.c) shares engine_priv.h; the control socket
# (control.c: clients and listener; control_cmds.c: dispatch;
# control_access.c: the socket file, admin access) shares control_priv.h;
# metrics_ctl.c (`ctl metrics` streamed) is part of metrics; statuspage_svg.c
# (the charts) of the status page (statuspage_priv.h).
GROUP = {"sched": "registry", "pathwatch": "registry", "resolve": "registry",
         "discovery_http": "discovery",
         "engine_probe": "engine", "engine_io": "engine", "engine_trace": "engine",
         "engine_report": "engine", "engine_conns": "engine", "engine_ports": "engine",
         "engine_route": "engine",
         "control_cmds": "control", "control_access": "control", "metrics_ctl": "metrics",
         "statuspage_svg": "statuspage",
         "config_keys": "config", "config_sections": "config",
         "config_value": "config", "config_print": "config"}
# Headers not named after one .c file: the module they belong to. commands.h
# only declares each command's entry point (main.c's dispatch table).
HEADER_MODULE = {"registry_priv.h": "registry", "discovery_priv.h": "discovery",
                 "engine_priv.h": "engine", "control_priv.h": "control",
                 "statuspage_priv.h": "statuspage",
                 "commands.h": None}


def module(f):
    return GROUP.get(f, f)


def nm(obj):
    defs, uses = set(), set()
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        if f[1] == "U":
            uses.add(f[0])
        elif f[1] in "TDBRGSVW":
            defs.add(f[0])
    return defs, uses


def graph(build):
    mods = {}
    for o in sorted(glob.glob(os.path.join(build, "daemon", "*.o")) +
                    glob.glob(os.path.join(build, "daemon", "proto", "*.o"))):
        d, u = nm(o)
        m = module(os.path.basename(o)[:-2])
        pd, pu = mods.get(m, (set(), set()))
        mods[m] = (pd | d, pu | u)
    owner = {}
    for m, (defs, _) in mods.items():
        for s in defs:
            owner.setdefault(s, m)
    edges = {}
    for m, (_, uses) in mods.items():
        for s in uses:
            y = owner.get(s)
            if y and y != m:
                edges.setdefault((m, y), set()).add(s)
    for c in sorted(glob.glob(os.path.join(ROOT, "daemon", "*.c"))):
        m = module(os.path.basename(c)[:-2])
        for h in re.findall(r'^#include "([^"]+)"', open(c).read(), re.M):
            y = HEADER_MODULE.get(h, module(h[:-2]) if h.endswith(".h") else None)
            if y in mods and y != m:
                edges.setdefault((m, y), set()).add("#include " + h)
    return mods, edges


def cycles(mods, edges):
    """Tarjan's strongly connected components of more than one module."""
    adj = {m: sorted(y for (x, y) in edges if x == m) for m in mods}
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for m in mods:
        if m not in index:
            visit(m)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    mods, edges = graph(build)
    if "--print" in sys.argv:
        for (x, y), why in sorted(edges.items()):
            print(f"{x} -> {y}  # {', '.join(sorted(why)[:4])}")
        return 0
    failed = 0

    def result(name, problems):
        nonlocal failed
        if problems:
            failed = 1
            print(f"FAIL {name}: " + "; ".join(problems[:8]) +
                  (f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""))
        else:
            print(f"PASS {name}")

    if len(mods) < 10:
        result("layers-objects", [f"only {len(mods)} objects under {build}/daemon: build first"])
        return 1
    result("layers-no-cycle", ["cycle " + " <-> ".join(c) + ": " +
                               ", ".join(f"{x}->{y} ({sorted(edges[(x, y)])[0]})"
                                         for (x, y) in sorted(edges) if x in c and y in c)
                               for c in cycles(mods, edges)])

    allowed = set()
    for line in open(os.path.join(ROOT, "tests", "layers.allowed")):
        line = line.split("#")[0].strip()
        if line:
            x, arrow, ys = line.partition(" -> ")
            allowed |= {(x.strip(), y) for y in ys.split()}
    probs = [f"{x} -> {y} not in tests/layers.allowed (uses {', '.join(sorted(edges[(x, y)])[:3])})"
             for (x, y) in sorted(set(edges) - allowed)]
    probs += [f"{x} -> {y} listed in tests/layers.allowed but not used: remove it"
              for (x, y) in sorted(allowed - set(edges))]
    # A module's state stays its own: its private header in no other file.
    for c in sorted(glob.glob(os.path.join(ROOT, "daemon", "*.c"))):
        m = module(os.path.basename(c)[:-2])
        for h in re.findall(r'^#include "([^"]+_priv\.h)"', open(c).read(), re.M):
            y = HEADER_MODULE.get(h, module(h[:-len("_priv.h")]))
            if y != m:
                probs.append(f"{os.path.basename(c)} includes {h}, the {y} module's private header")
    result("layers-allowed-edges", probs)

    daemon_syms = set()
    for m, (defs, _) in mods.items():
        daemon_syms |= defs
    probs = []
    for o in sorted(glob.glob(os.path.join(build, "probes", "*.o"))):
        bad = sorted(nm(o)[1] & daemon_syms)
        if bad:
            probs.append(f"{os.path.basename(o)} uses {', '.join(bad[:3])}")
    result("layers-probes-pure", probs)

    readme = open(os.path.join(ROOT, "README.md")).read()
    sect = readme.split("## How it works", 1)[1].split("\n## ", 1)[0]
    probs = [f"{os.path.relpath(c, ROOT)} not named"
             for c in sorted(glob.glob(os.path.join(ROOT, "daemon", "*.c")) +
                             glob.glob(os.path.join(ROOT, "probes", "*.c")))
             if not re.search(r"\b" + re.escape(os.path.basename(c)) + r"\b", sect)]
    # "Dependencies point down the tree": a module is drawn on the line that
    # first names one of its files; none depends on one drawn above it but
    # the helpers (the block from "helpers" on, which anything may use).
    pic = sect.split("```")[1].splitlines() if sect.count("```") >= 2 else []
    drawn, helpers = {}, len(pic)
    for i, line in enumerate(pic):
        if helpers == len(pic) and re.search(r"\bhelpers\b", line):
            helpers = i
        for f in re.findall(r"\b(\w+)\.c\b", line):
            if os.path.exists(os.path.join(ROOT, "daemon", f + ".c")):
                drawn.setdefault(module(f), i)
    probs += [f"{x} -> {y}, but {y} is drawn above {x} ({', '.join(sorted(edges[(x, y)])[:2])})"
              for (x, y) in sorted(edges)
              if x in drawn and y in drawn and drawn[y] < drawn[x] and drawn[y] < helpers]
    result("layers-readme-picture", probs)
    return failed


if __name__ == "__main__":
    sys.exit(main())
