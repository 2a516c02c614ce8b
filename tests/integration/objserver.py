"""What the test HTTP object servers share (mount/countserver.py, remote/faultserver.py): objects
under a root directory served over HTTP/1.1 keep-alive on 127.0.0.1 — GET with one
"Range: bytes=a-b" or none, HEAD, PUT written to a temporary name and renamed into place — and
the start-up that writes the chosen port to a file. The servers add their faults and bookkeeping.
"""

import http.server
import os
import re
import socketserver
import sys
import threading

RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


class ObjectHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the servers keep their own records
        pass

    def reply(self, status, body=b"", headers=(), length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = b""
        while len(data) < n:
            part = self.rfile.read(n - len(data))
            if not part:
                break
            data += part
        return data

    def put_object(self, path):
        """Stores the request body at `path` whole or not at all; returns the status sent."""
        data = self.read_body()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        existed = os.path.exists(path)
        tmp = "%s.tmp.%d" % (path, threading.get_ident())
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
        status = 204 if existed else 201
        self.reply(status)
        return status

    def byte_range(self, size):
        """The Range asked for as (first, last), clipped to the object; None for no Range. When
        the range cannot be served, answers 400 or 416 itself and returns that status."""
        rng = self.headers.get("Range")
        if not rng:
            return None
        m = RANGE_RE.match(rng.strip())
        if not m:
            self.reply(400, b"unsupported range\n")
            return 400
        first = int(m.group(1))
        if first >= size:
            self.reply(416, headers=[("Content-Range", "bytes */%d" % size)])
            return 416
        last = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        return first, last


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Clients that hang up (timeouts, a Range slice cut short) are expected here.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def serve(handler_class, port_file):
    """Listens on 127.0.0.1 (a free port, written to port_file once listening) until killed."""
    server = Server(("127.0.0.1", 0), handler_class)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
