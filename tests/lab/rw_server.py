#!/usr/bin/python3
"""A Prometheus remote-write receiver for the lab (tests/integration/remote_write_auth.sh).

  rw_server.py ADDR PORT DIR

POST /PATH: the body is snappy-decompressed and decoded as a WriteRequest
(remote write 1.0) here, in plain Python (no tcpprobe code), and answered:
 - 401 when DIR/PATH.auth exists and the Authorization header is not its
   content;
 - else as DIR/PATH.mode says: "ok" (or no file) 204, "400" 400, "500" 500,
   "hang" nothing for 3 s, then 204 (the client has given up by then).
Every request appends one JSON line to DIR/requests: t_ns (when it was
answered), path, status, the headers that matter, whether the body decoded,
its series and samples, the samples' timestamps (min, max) and the body's
SHA-1 (the same batch sent again has the same one).
"""
import hashlib
import json
import os
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDR, PORT, DIR = sys.argv[1], int(sys.argv[2]), sys.argv[3]
LOCK = threading.Lock()


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def unsnappy(b):
    """Snappy block format (format_description.txt)."""
    n, i = varint(b, 0)
    out = bytearray()
    while i < len(b):
        tag = b[i]
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln < 60:
                ln, i = ln + 1, i + 1
            else:
                nb = ln - 59
                ln, i = int.from_bytes(b[i + 1:i + 1 + nb], "little") + 1, i + 1 + nb
            out += b[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln, off, i = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | b[i + 1], i + 2
        elif kind == 2:
            ln, off, i = (tag >> 2) + 1, int.from_bytes(b[i + 1:i + 3], "little"), i + 3
        else:
            ln, off, i = (tag >> 2) + 1, int.from_bytes(b[i + 1:i + 5], "little"), i + 5
        if off == 0 or off > len(out):
            raise ValueError("bad copy offset")
        for _ in range(ln):
            out.append(out[-off])
    if len(out) != n:
        raise ValueError("length %d, header says %d" % (len(out), n))
    return bytes(out)


def fields(b):
    """(field number, value) of a protobuf message: ints, floats or bytes."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = struct.unpack("<d", b[i:i + 8])[0], i + 8
        elif wt == 2:
            ln, i = varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, v


def decode(body):
    """WriteRequest{1: TimeSeries{1: Label{1 name, 2 value}, 2: Sample{1 value, 2 ts}}}."""
    series = samples = 0
    ts = []
    names = set()
    for num, t in fields(unsnappy(body)):
        if num != 1:
            continue
        series += 1
        for n2, v in fields(t):
            if n2 == 1:
                lab = dict(fields(v))
                if lab.get(1) == b"__name__":
                    names.add(lab.get(2, b"").decode())
            elif n2 == 2:
                samples += 1
                ts.append(dict(fields(v)).get(2, 0))
    return {"series": series, "samples": samples, "ts_min": min(ts, default=0),
            "ts_max": max(ts, default=0), "metric_names": len(names)}


def read(name):
    try:
        with open(os.path.join(DIR, name), "rb") as f:
            return f.read().decode().strip()
    except OSError:
        return None


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        name = self.path.lstrip("/").split("?")[0]
        rec = {"path": self.path, "sha1": hashlib.sha1(body).hexdigest(), "bytes": len(body),
               "headers": {k: self.headers.get(k) for k in (
                   "Authorization", "Content-Encoding", "Content-Type",
                   "X-Prometheus-Remote-Write-Version", "User-Agent")}}
        try:
            rec.update(decode(body), decoded=True)
        except (ValueError, IndexError, struct.error) as e:
            rec.update(decoded=False, error=str(e))
        auth = read(name + ".auth") if "/" not in name else None
        mode = read(name + ".mode") if "/" not in name else None
        if auth is not None and self.headers.get("Authorization", "") != auth:
            code = 401
        elif mode in ("400", "500"):
            code = int(mode)
        else:
            code = 204
            if mode == "hang":
                time.sleep(3)
        try:
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
        except OSError:   # the client gave up (timed out): expected for "hang"
            pass
        rec.update(status=code, mode=mode or "ok", t_ns=time.time_ns())
        with LOCK, open(os.path.join(DIR, "requests"), "a") as f:
            f.write(json.dumps(rec) + "\n")


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((ADDR, PORT), H).serve_forever()
