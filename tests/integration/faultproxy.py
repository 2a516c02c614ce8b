#!/usr/bin/env python3
"""faultproxy: the tests' one fault-injecting HTTP proxy (127.0.0.1), in front of an HTTP object
server (objserver.py and the servers built on it) or a real registry (registry/registry_lib.py).
It forwards GET and HEAD (Range and Authorization included) and breaks answers on purpose:

  delay      waits --delay-ms, then forwards
  reset      closes the connection unanswered (RST)
  stall      sends the status line, headers and part of the body, then nothing for --stall-ms
             (0: until the client hangs up), then closes
  5xx        answers 500, 502 or 503 with no Retry-After
  503ra      answers 503 with "Retry-After: 1"
  429        answers 429 with no Retry-After
  429ra      answers 429 with "Retry-After: 1"
  truncate   sends the headers of the whole answer and half its body, then closes
  short      answers a consistent but shorter body (Content-Length says so too)
  norange    ignores Range: 200 with the whole blob
  flip       forwards the answer with one body byte inverted

--rate R: each request is faulty with probability R, its fault drawn evenly from --kinds. The
draw is a function of --seed, the request (method, path, Range) and how many times that request
was seen before, so a run's faults do not depend on how threads interleave. Only requests whose
path matches --only (a regex) are faulted.

--mode (also set at run time): faults (as above), down (every connection is reset at once), hang
(connections are accepted and never answered), trickle (the upstream's answer, its body sent at
--trickle-bps bytes a second), trickle500 (500 with a chunked body that never ends, at
--trickle-bps).

The same proxy replaces the registry tests' cutproxy: --cut-first cuts the first 200 answer of
each blob halfway; --redirect answers ranged blob GETs with a 307 to the upstream.

Control (never faulted, never forwarded):
  GET  /_faultproxy/stats   {"requests": N, "faults": {kind: n}, "forwarded": N}
  POST /_faultproxy/config  JSON with any of rate, kinds, seed, mode, only, delay_ms, stall_ms,
                            trickle_bps

Logs "get DIGEST RANGE", "cut DIGEST BYTES", "redirect DIGEST RANGE", "manifest METHOD REF
STATUS" and "fault KIND METHOD PATH RANGE" lines to --log.

  faultproxy.py --upstream HOST:PORT (--port P | --port-file F) [--log F] [--rate 0.1] ...
"""

import argparse
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import socket
import socketserver
import struct
import sys
import threading
import time

KINDS = ["delay", "reset", "stall", "5xx", "503ra", "429", "429ra", "truncate", "short",
         "norange", "flip"]
BLOB = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$|^.*/blobs/sha256/([0-9a-f]{64})$")
MANIFEST = re.compile(r"^/v2/.+/manifests/([^/?]+)$")
HOP = {"connection", "transfer-encoding", "keep-alive", "content-length", "proxy-connection"}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.config = {"rate": args.rate, "kinds": args.kinds.split(",") if args.kinds else KINDS,
                       "seed": args.seed, "mode": args.mode, "only": args.only,
                       "delay_ms": args.delay_ms, "stall_ms": args.stall_ms,
                       "trickle_bps": args.trickle_bps}
        self.seen = {}
        self.faults = {}
        self.requests = 0
        self.forwarded = 0
        self.cut = set()
        self.args = args

    def log(self, line):
        if self.args.log:
            with self.lock, open(self.args.log, "a") as f:
                f.write(line + "\n")

    def draw(self, method, path, rng_header):
        """The fault for this request ("" for none) and a Random for its details."""
        with self.lock:
            cfg = dict(self.config)
            self.requests += 1
            key = (method, path, rng_header)
            n = self.seen.get(key, 0)
            self.seen[key] = n + 1
        seed = hashlib.sha256(("%s|%s|%s|%s|%d" % (cfg["seed"], method, path, rng_header, n))
                              .encode()).digest()
        r = random.Random(seed)
        if cfg["only"] and not re.search(cfg["only"], path):
            return "", r, cfg
        if r.random() >= cfg["rate"] or not cfg["kinds"]:
            return "", r, cfg
        kind = cfg["kinds"][r.randrange(len(cfg["kinds"]))]
        with self.lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1
        return kind, r, cfg


STATE = None


def make_handler(state):
    args = state.args

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send_plain(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def reset(self):
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def control(self):
            if self.path == "/_faultproxy/stats":
                with state.lock:
                    body = json.dumps({"requests": state.requests, "faults": state.faults,
                                       "forwarded": state.forwarded}).encode()
                self.send_plain(200, body, [("Content-Type", "application/json")])
            elif self.path == "/_faultproxy/config" and self.command == "POST":
                n = int(self.headers.get("Content-Length", "0"))
                new = json.loads(self.rfile.read(n) or b"{}")
                with state.lock:
                    state.config.update(new)
                self.send_plain(204)
            else:
                self.send_plain(404, b"no such control\n")

        def upstream(self, method, drop_range=False):
            up = http.client.HTTPConnection(args.upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection", "proxy-connection") and
                       not (drop_range and k.lower() == "range")}
            headers["Host"] = args.upstream
            up.request(method, self.path, headers=headers)
            resp = up.getresponse()
            body = resp.read() if method != "HEAD" else b""
            up.close()
            with state.lock:
                state.forwarded += 1
            return resp, body

        def forward(self, method):
            if self.path.startswith("/_faultproxy/"):
                self.control()
                return
            with state.lock:
                mode = state.config["mode"]
            if mode == "down":
                self.reset()
                return
            if mode == "hang":
                time.sleep(3600)
                self.reset()
                return
            if mode == "trickle500":
                self.send_response(500)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.trickle(iter(lambda: b"x" * 64, None), chunked=True)
                return
            rng_header = self.headers.get("Range", "-")
            m = BLOB.match(self.path)
            digest = (m.group(1) or "sha256:" + m.group(2)) if m else None
            if args.redirect and m and method == "GET" and self.headers.get("Range"):
                state.log("redirect %s %s" % (digest, rng_header))
                self.send_plain(307, headers=[("Location", "http://%s%s" % (args.upstream,
                                                                            self.path))])
                return
            kind, r, cfg = state.draw(method, self.path, rng_header)
            if kind:
                state.log("fault %s %s %s %s" % (kind, method, self.path, rng_header.replace(
                    " ", "")))
            if kind == "reset":
                self.reset()
                return
            if kind in ("5xx", "503ra", "429", "429ra"):
                status = {"5xx": r.choice([500, 502, 503]), "503ra": 503, "429": 429,
                          "429ra": 429}[kind]
                extra = [("Retry-After", "1")] if kind.endswith("ra") else []
                self.send_plain(status, b"injected fault\n", extra)
                return
            if kind == "delay":
                time.sleep(cfg["delay_ms"] / 1000.0)
            resp, body = self.upstream(method, drop_range=(kind == "norange"))
            mm = MANIFEST.match(self.path)
            if mm:
                state.log("manifest %s %s %d" % (method, mm.group(1), resp.status))
            cut_first = False
            if m and method == "GET":
                state.log("get %s %s" % (digest, rng_header))
                if args.cut_first and resp.status == 200 and len(body) > 1:
                    with state.lock:
                        cut_first = digest not in state.cut
                        state.cut.add(digest)
            status = resp.status
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
            length = len(body) if method != "HEAD" else int(resp.getheader("Content-Length") or 0)
            ok_body = method == "GET" and 200 <= status < 300 and len(body) > 1
            if kind == "flip" and ok_body:
                i = r.randrange(len(body))
                body = body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1:]
            if kind == "short" and ok_body:
                body = body[:len(body) - 1 - r.randrange(len(body) // 2)]
                length = len(body)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if method == "HEAD":
                return
            if mode == "trickle" and ok_body:
                self.trickle(body[i:i + 64] for i in range(0, len(body), 64))
                return
            if (kind in ("truncate", "stall") and ok_body) or cut_first:
                part = len(body) // 2 if kind != "stall" else r.randrange(1, len(body))
                self.wfile.write(body[:part])
                self.wfile.flush()
                if cut_first:
                    state.log("cut %s %d" % (digest, part))
                if kind == "stall":
                    time.sleep(cfg["stall_ms"] / 1000.0 if cfg["stall_ms"] else 3600)
                self.reset()
                return
            self.wfile.write(body)

        def trickle(self, pieces, chunked=False):
            """Writes PIECES at the configured rate until they or the client end."""
            with state.lock:
                bps = state.config["trickle_bps"]
            try:
                for piece in pieces:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    self.wfile.flush()
                    time.sleep(len(piece) / bps)
            except OSError:
                pass  # the client gave up: what the tests want
            self.close_connection = True

        def do_GET(self):
            self.forward("GET")

        def do_HEAD(self):
            self.forward("HEAD")

        def do_POST(self):
            if self.path.startswith("/_faultproxy/"):
                self.control()
            else:
                self.send_plain(405, b"the fault proxy forwards GET and HEAD only\n")

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--kinds", default="", help="comma-separated; default: all")
    p.add_argument("--seed", default="1")
    p.add_argument("--mode", default="faults",
                   choices=["faults", "down", "hang", "trickle", "trickle500"])
    p.add_argument("--trickle-bps", type=int, default=2048)
    p.add_argument("--only", default="", help="fault only paths matching this regex")
    p.add_argument("--delay-ms", type=int, default=300)
    p.add_argument("--stall-ms", type=int, default=0)
    p.add_argument("--cut-first", action="store_true",
                   help="cut each blob's first 200 answer halfway (registry resume tests)")
    p.add_argument("--redirect", action="store_true",
                   help="answer ranged blob GETs with 307 to the upstream")
    args = p.parse_args()
    for k in (args.kinds.split(",") if args.kinds else []):
        if k not in KINDS:
            p.error("unknown fault kind %r (known: %s)" % (k, ",".join(KINDS)))
    state = State(args)
    server = Server(("127.0.0.1", args.port), make_handler(state))
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
