#!/usr/bin/env python3
"""An HTTP proxy in front of a registry that breaks each blob's first download halfway: it sends
the headers and half the body, then closes the connection. With --redirect it instead answers
every ranged blob GET with a 307 to the registry itself (as registries redirect to blob storage),
logging "redirect <digest> <Range>". Later requests (a client resuming
with Range) pass through. Logs "cut <digest> <bytes sent>" and "get <digest> <Range or ->" lines
and "manifest <method> <reference> <status>" lines to --log. GET and HEAD only (what
conversion and mounts need).

  cutproxy.py --port P --upstream 127.0.0.1:Q --log FILE
"""

import argparse
import http.client
import http.server
import re
import sys
import threading

BLOB = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$")
MANIFEST = re.compile(r"^/v2/.+/manifests/([^/?]+)$")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--redirect", action="store_true",
                   help="answer ranged blob GETs with 307 to the upstream instead (no cuts)")
    args = p.parse_args()
    lock = threading.Lock()
    cut = set()

    def log(line):
        with lock, open(args.log, "a") as f:
            f.write(line + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def forward(self, method):
            m = BLOB.match(self.path)
            if args.redirect and m and method == "GET" and self.headers.get("Range"):
                log("redirect %s %s" % (m.group(1), self.headers.get("Range")))
                self.send_response(307)
                self.send_header("Location", "http://%s%s" % (args.upstream, self.path))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            up = http.client.HTTPConnection(args.upstream, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
            up.request(method, self.path, headers=headers)
            resp = up.getresponse()
            body = resp.read() if method != "HEAD" else b""
            m = BLOB.match(self.path)
            mm = MANIFEST.match(self.path)
            if mm:
                log("manifest %s %s %d" % (method, mm.group(1), resp.status))
            first = False
            if m and method == "GET":
                log("get %s %s" % (m.group(1), self.headers.get("Range", "-")))
                with lock:
                    first = (resp.status == 200 and m.group(1) not in cut and len(body) > 1 and
                             not args.redirect)
                    if first:
                        cut.add(m.group(1))
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                    self.send_header(k, v)
            if method == "HEAD" or "content-length" not in (k.lower() for k, _ in resp.getheaders()):
                pass
            self.end_headers()
            if first:
                half = len(body) // 2
                self.wfile.write(body[:half])
                self.wfile.flush()
                log("cut %s %d" % (m.group(1), half))
                self.close_connection = True
                return
            self.wfile.write(body)
            up.close()

        def do_GET(self):
            self.forward("GET")

        def do_HEAD(self):
            self.forward("HEAD")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
