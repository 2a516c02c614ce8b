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
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import objserver  # noqa: E402

LOCK = threading.Lock()
COUNTS = {}
ARGS = None


def count(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(objserver.ObjectHandler):
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

    def misbehave(self, token, scenario):
        """Returns True when the request was answered (or dropped) by a fault."""
        n = count((token, scenario))
        m = re.match(r"^(503|reset)x?(\d+)$", scenario)
        if m and n <= int(m.group(2)):
            if self.command == "PUT":
                self.read_body()
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
            self.put_object(path)
            return
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            self.reply(404, b"no such object\n")
            return
        if scenario == "wrong":
            data = bytes(b ^ 0xFF for b in data)
        if self.command == "HEAD" or scenario == "norange":
            self.reply(200, data)
            return
        asked = self.byte_range(len(data))
        if asked is None:
            self.reply(200, data)
            return
        if isinstance(asked, int):  # refused, and answered
            return
        first, last = asked
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


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    ARGS = p.parse_args()
    return objserver.serve(Handler, ARGS.port_file)


if __name__ == "__main__":
    sys.exit(main())
