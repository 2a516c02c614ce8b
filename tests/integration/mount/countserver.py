#!/usr/bin/env python3
"""An HTTP object server on 127.0.0.1 that counts what it serves, with faults switched at run time,
for the mount tests (../objserver.py does the serving, as for ../remote/faultserver.py, whose
faults are fixed per URL).

  countserver.py --root DIR --port-file FILE

Objects: GET (one "Range: bytes=a-b" or none), HEAD and PUT (tmp + rename) of /PATH, served from
DIR/PATH, HTTP/1.1 keep-alive. Control (never counted):

  GET  /_stats   {"requests": [[method, path, first, last, body_bytes, status], ...]}
                 first/last are the served byte range (-1, -1 when no body was served)
  POST /_reset   forget the requests seen so far
  POST /_fault   JSON, replaces the faults in force:
                 {"corrupt": [[path, first, last], ...]}  bytes first..last of PATH are served
                                                           inverted (same length and status)
                 {"delay_ms": N}                           GETs of objects wait N ms first
                 {"status": 503}                           every object request gets it

The port is written to --port-file once the server listens. Runs until killed.
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import objserver  # noqa: E402

LOCK = threading.Lock()
REQUESTS = []  # GUARDED_BY(LOCK)
FAULTS = {}    # GUARDED_BY(LOCK)
ROOT = None


class Handler(objserver.ObjectHandler):
    def record(self, first, last, nbytes, status):
        with LOCK:
            REQUESTS.append([self.command, self.path, first, last, nbytes, status])

    def control(self):
        global FAULTS
        if self.path == "/_stats":
            with LOCK:
                body = json.dumps({"requests": REQUESTS}).encode()
            self.reply(200, body, [("Content-Type", "application/json")])
        elif self.path == "/_reset" and self.command == "POST":
            self.read_body()
            with LOCK:
                REQUESTS.clear()
            self.reply(204)
        elif self.path == "/_fault" and self.command == "POST":
            faults = json.loads(self.read_body() or b"{}")
            with LOCK:
                FAULTS = faults
            self.reply(204)
        else:
            self.reply(404, b"no such control\n")

    def handle_any(self):
        if self.path.startswith("/_"):
            self.control()
            return
        rel = self.path.lstrip("/")
        if ".." in rel.split("/"):
            self.reply(400, b"bad path\n")
            return
        with LOCK:
            faults = dict(FAULTS)
        if faults.get("status"):
            if self.command == "PUT":
                self.read_body()
            self.record(-1, -1, 0, faults["status"])
            self.reply(int(faults["status"]), b"fault\n")
            return
        path = os.path.join(ROOT, rel)
        if self.command == "PUT":
            self.record(-1, -1, 0, self.put_object(path))
            return
        try:
            f = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            self.record(-1, -1, 0, 404)
            self.reply(404, b"no such object\n")
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            if self.command == "HEAD":
                self.record(-1, -1, 0, 200)
                self.reply(200, length=size)
                return
            if faults.get("delay_ms"):
                time.sleep(faults["delay_ms"] / 1000.0)
            asked = self.byte_range(size)
            if isinstance(asked, int):  # refused, and answered
                self.record(-1, -1, 0, asked)
                return
            first, last = asked or (0, size - 1)
            f.seek(first)
            data = f.read(last + 1 - first)
        body = bytearray(data)
        for obj, a, b in faults.get("corrupt", []):
            if obj.lstrip("/") != rel:
                continue
            for i in range(max(a, first), min(b, last) + 1):
                body[i - first] ^= 0xFF
        status = 206 if asked else 200
        headers = [("Content-Range", "bytes %d-%d/%d" % (first, last, size))] if asked else []
        self.record(first, last, len(body), status)
        self.reply(status, bytes(body), headers)

    do_GET = handle_any
    do_HEAD = handle_any
    do_PUT = handle_any
    do_POST = handle_any


def main():
    global ROOT
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--port-file", required=True)
    args = p.parse_args()
    ROOT = args.root
    return objserver.serve(Handler, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
