#!/usr/bin/python3
"""A Prometheus http_sd endpoint for the lab (tests/integration/discovery_http.sh).

  sd_server.py ADDR PORT DIR

GET /PATH answers with the file DIR/PATH (JSON), as the file is at that
moment, so a test changes the list by rewriting the file. DIR/mode picks a
failure instead: "500" answers 500, "hang" waits 30 s before answering, "big"
sends 17 MiB. DIR/PATH.auth, if present, holds the Authorization header the
request must carry (else 401). Every request's headers are appended to
DIR/requests (one JSON object per line).
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDR, PORT, DIR = sys.argv[1], int(sys.argv[2]), sys.argv[3]


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

    def send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (too large, timed out): expected
            pass

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
        body = read(name)
        if body is None or "/" in name:
            return self.send(404, b"not found\n", "text/plain")
        self.send(200, body)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((ADDR, PORT), H).serve_forever()
