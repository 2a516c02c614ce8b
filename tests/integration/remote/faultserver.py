#!/usr/bin/env python3
"""An HTTP object server on 127.0.0.1 that misbehaves on request, for the remote store tests.

URLs are /s/TOKEN/SCENARIO/OBJECT, where OBJECT (e.g. blobs/sha256/<hex>) is a file under --root
shared by all scenarios, TOKEN is any name a test picks so that its requests can be counted
apart, and SCENARIO is one of:

  ok          GET (with a single "Range: bytes=a-b"), HEAD, PUT (tmp + rename), HTTP/1.1 keep-alive
  503xN       the first N requests of this TOKEN and SCENARIO get 503, then as ok
  resetN      the first N requests of this TOKEN and SCENARIO: connection closed unanswered
  404         every request gets 404
  hang        never answers (the connection stays open until the server exits)
  stall       GET: sends the status line, headers and a few body bytes, then nothing more
  norange     GET ignores Range: 200 with the whole body
  wrong       GET answers as ok but every byte is inverted (same length, same status)
  short       GET with Range: 206 whose body is one byte shorter than the range
  badrange    GET with Range: 206 whose Content-Range starts one byte later than asked

Every request is logged to --log as one line: "TOKEN METHOD SCENARIO CLIENT_PORT RANGE OBJECT".
The port is written to --port-file once the server listens. Runs until killed.
"""

import argparse
import http.server
import os
import re
import socketserver
import sys
import threading
import time

LOCK = threading.Lock()
COUNTS = {}
ARGS = None
RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


def count(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the request log is --log
        pass

    def parse(self):
        m = re.match(r"^/s/([A-Za-z0-9_.-]+)/([A-Za-z0-9]+)/(.+)$", self.path)
        if not m or ".." in m.group(3).split("/"):
            return None
        token, scenario, obj = m.groups()
        rng = self.headers.get("Range", "-")
        with LOCK:
            with open(ARGS.log, "a") as f:
                f.write("%s %s %s %d %s %s\n" % (token, self.command, scenario,
                                                  self.client_address[1], rng.replace(" ", ""),
                                                  obj))
        return token, scenario, obj

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drain_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def misbehave(self, token, scenario):
        """Returns True when the request was answered (or dropped) by a fault."""
        n = count((token, scenario))
        m = re.match(r"^(503|reset)x?(\d+)$", scenario)
        if m and n <= int(m.group(2)):
            if self.command == "PUT":
                self.drain_body()
            if m.group(1) == "503":
                self.reply(503, b"busy\n")
            else:
                self.close_connection = True
                self.connection.shutdown(2)
            return True
        if scenario == "404":
            self.reply(404, b"not here\n")
            return True
        if scenario == "hang":
            time.sleep(3600)
            return True
        return False

    def handle_any(self):
        parsed = self.parse()
        if parsed is None:
            self.reply(400, b"bad path\n")
            return
        token, scenario, obj = parsed
        if self.misbehave(token, scenario):
            return
        path = os.path.join(ARGS.root, obj)
        if self.command == "PUT":
            data = self.drain_body()
            os.makedirs(os.path.dirname(path), exist_ok=True)
            existed = os.path.exists(path)
            tmp = "%s.tmp.%d" % (path, threading.get_ident())
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, path)
            self.reply(204 if existed else 201)
            return
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            self.reply(404, b"no such object\n")
            return
        if scenario == "wrong":
            data = bytes(b ^ 0xFF for b in data)
        rng = self.headers.get("Range")
        if self.command == "HEAD" or not rng or scenario == "norange":
            self.reply(200, data)
            return
        m = RANGE_RE.match(rng.strip())
        if not m:
            self.reply(400, b"unsupported range\n")
            return
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else len(data) - 1
        if first >= len(data):
            self.reply(416, headers=[("Content-Range", "bytes */%d" % len(data))])
            return
        last = min(last, len(data) - 1)
        body = data[first:last + 1]
        shown_first = first
        if scenario == "short":
            body = body[:-1]
        if scenario == "badrange":
            shown_first = first + 1
        cr = ("Content-Range", "bytes %d-%d/%d" % (shown_first, last, len(data)))
        if scenario == "stall":
            self.send_response(206)
            self.send_header(*cr)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(3600)
            return
        self.reply(206, body, [cr])

    do_GET = handle_any
    do_HEAD = handle_any
    do_PUT = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that hang up (timeouts, a Range slice cut short) are expected here.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    ARGS = p.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
