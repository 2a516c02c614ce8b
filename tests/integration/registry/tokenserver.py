#!/usr/bin/env python3
"""A small token server for the distribution registry's `auth: token` mode (tests only).

GET /token?service=S&scope=repository:NAME:ACTIONS answers {"token", "access_token",
"expires_in"} with a JWT signed RS256 by --key (openssl does the signing); the JWT header names
the key by its libtrust key ID, which the registry finds in its rootcertbundle. With --users
USER:PASS the request must carry that Basic authorization (401 otherwise). --bad-first N signs
the first N tokens with a key the registry does not trust (the client must fetch again on the
registry's 401). --lifetime L: the registry accepts each token for about L seconds (its exp
claim is L - 60 s ahead, since distribution allows 60 s of clock skew past exp); --advertised
A: the expires_in the client is told (default: L), so A > L makes tokens die unannounced.
Every request is appended to --log as one line: "token <scope> <ok|bad|denied>".

  tokenserver.py --port P --key KEY.pem --bad-key BAD.pem --issuer I [--users U:P] [--bad-first N]
                 [--lifetime L] [--advertised A]
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key_path):
    der = subprocess.run(["openssl", "pkey", "-in", key_path, "-pubout", "-outform", "DER"],
                         check=True, stdout=subprocess.PIPE).stdout
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def sign(key_path, data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path], input=data,
                          check=True, stdout=subprocess.PIPE).stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--bad-key", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--users", default="")
    p.add_argument("--bad-first", type=int, default=0)
    p.add_argument("--log", required=True)
    p.add_argument("--lifetime", type=int, default=0, help="seconds; 0: 600, as before")
    p.add_argument("--advertised", type=int, default=0)
    args = p.parse_args()
    kid = libtrust_key_id(args.key)
    bad_kid = kid  # the registry looks the key up by this id: the signature will not verify
    lock = threading.Lock()
    state = {"bad_left": args.bad_first}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def log(self, line):
            with lock, open(args.log, "a") as f:
                f.write(line + "\n")

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(url.query)
            scope = q.get("scope", [""])[0]
            if url.path != "/token":
                self.send_error(404)
                return
            if args.users:
                want = "Basic " + base64.b64encode(args.users.encode()).decode()
                if self.headers.get("Authorization") != want:
                    self.log("token %s denied" % scope)
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            access = []
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository":
                access.append({"type": "repository", "name": parts[1],
                               "actions": parts[2].split(",")})
            now = int(time.time())
            claims = {"iss": args.issuer, "sub": args.users.split(":")[0],
                      "aud": q.get("service", [""])[0],
                      "exp": now + (args.lifetime - 60 if args.lifetime else 600), "nbf": now - 90,
                      "iat": now, "jti": os.urandom(8).hex(), "access": access}
            with lock:
                bad = state["bad_left"] > 0
                if bad:
                    state["bad_left"] -= 1
            header = {"typ": "JWT", "alg": "RS256", "kid": bad_kid if bad else kid}
            signing_input = (b64url(json.dumps(header).encode()) + "." +
                             b64url(json.dumps(claims).encode())).encode()
            token = signing_input.decode() + "." + b64url(
                sign(args.bad_key if bad else args.key, signing_input))
            advertised = args.advertised or args.lifetime or 600
            body = json.dumps({"token": token, "access_token": token, "expires_in": advertised,
                               "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                          time.gmtime(now))}).encode()
            self.log("token %s %s" % (scope, "bad" if bad else "ok"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
