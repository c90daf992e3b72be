#!/usr/bin/python3
"""A Prometheus http_sd endpoint for the lab (tests/integration/discovery_http.sh).

  sd_server.py ADDR PORT DIR
  sd_server.py gen FIRST    print a list of 10,000 AnyIP targets (198.19/16)
                            from index FIRST, in two groups (team a, b)

GET /PATH answers with the file DIR/PATH (JSON), as the file is at that
moment, so a test changes the list by rewriting the file. DIR/mode picks a
failure instead: "500" answers 500, "hang" waits 30 s before answering, "big"
sends 17 MiB. DIR/PATH.auth, if present, holds the Authorization header the
request must carry (else 401). DIR/PATH.seq, if present, lists files (one
a line): the requests for PATH get them in turn, round and round. Every
request's headers are appended to DIR/requests (one JSON object per line),
and DIR/answers gets one line per answer sent: the time it was written out
(ns since the epoch), its status, and the file served.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if sys.argv[1] == "gen":
    first = int(sys.argv[2])
    t = ["198.19.%d.%d:%d" % (i // 250, i % 250 + 1, 9000 + i % 1000)
         for i in range(first, first + 10000)]
    print(json.dumps([{"targets": t[:5000], "labels": {"team": "a"}},
                      {"targets": t[5000:], "labels": {"team": "b"}}]))
    sys.exit(0)
ADDR, PORT, DIR = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SEQ = {}  # PATH -> requests served from PATH.seq so far
LOCK = threading.Lock()


def read(name, default=None):
    try:
        with open(os.path.join(DIR, name), "rb") as f:
            return f.read()
    except OSError:
        return default


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json", served="-"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (too large, timed out): expected
            pass
        with LOCK, open(os.path.join(DIR, "answers"), "a") as f:
            f.write("%d %d %s\n" % (time.time_ns(), code, served))

    def do_GET(self):
        name = self.path.lstrip("/").split("?")[0]
        with open(os.path.join(DIR, "requests"), "a") as f:
            f.write(json.dumps({"path": self.path, "headers": dict(self.headers)}) + "\n")
        mode = (read("mode", b"ok") or b"ok").strip()
        if mode == b"500":
            return self.send(500, b"internal error\n", "text/plain")
        if mode == b"hang":
            time.sleep(30)
        if mode == b"big":
            return self.send(200, b"[" + b" " * (17 << 20) + b"]")
        auth = read(name + ".auth")
        if auth is not None and self.headers.get("Authorization", "") != auth.decode().strip():
            return self.send(401, b"unauthorized\n", "text/plain")
        seq = read(name + ".seq")
        if seq is not None and "/" not in name:
            files = seq.decode().split()
            with LOCK:
                i = SEQ.get(name, 0)
                SEQ[name] = i + 1
            name = files[i % len(files)] if files else name
        body = read(name)
        if body is None or "/" in name:
            return self.send(404, b"not found\n", "text/plain")
        self.send(200, body, served=name)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((ADDR, PORT), H).serve_forever()
