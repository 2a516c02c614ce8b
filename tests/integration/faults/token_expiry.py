#!/usr/bin/python3
"""faults_token_expiry: registry tokens that expire while a mount reads.

Debian's docker-registry with token auth (registry/tokenserver.py) whose tokens the registry
accepts for LIFETIME (4 s); an image of 16 random files is pushed there and mounted by digest
(`--remote docker://HOST/app`, credentials from $REGISTRY_AUTH_FILE, read by the daemon).
Files are read one after another for 4 lifetimes, each right.

  announced  the token server says expires_in=LIFETIME: the client fetches new tokens before
             they die (the token log shows several), no read fails.
  silent     the token server says expires_in=600 but the tokens die after LIFETIME: only the
             registry's 401 tells; the client must get a new token then and repeat the request.

In each case a token fetched at the start is tried again at the end straight against the
registry and must be refused (401): the expiry really happened during the reads.
"""

import base64
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import ml, itest  # noqa: E402

sys.path.insert(0, os.path.join(fl.IT, "registry"))
import registry_lib as rl  # noqa: E402

LIFETIME = 4
USER, PASSWORD = "alice", "s3cret"


def fetch_token(reg):
    """A token for pulling app, fetched as the client would (realm from the 401)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        opener.open("http://%s/v2/app/tags/list" % reg.host, timeout=10)
        raise ml.Failure("the registry answered without a token")
    except urllib.error.HTTPError as e:
        challenge = e.headers.get("WWW-Authenticate", "")
    params = dict(p.split("=", 1) for p in challenge[len("Bearer "):].split(","))
    params = {k: v.strip('"') for k, v in params.items()}
    url = "%s?service=%s&scope=repository:app:pull" % (params["realm"], params["service"])
    req = urllib.request.Request(url, headers={
        "Authorization": "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode())
        .decode()})
    with opener.open(req, timeout=10) as r:
        return json.loads(r.read())["token"]


def token_status(reg, token):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request("http://%s/v2/app/tags/list" % reg.host,
                                 headers={"Authorization": "Bearer " + token})
    try:
        with opener.open(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    rl.need_registry_tools()
    report = ml.Report()
    with ml.Session("faults-token", args.imgfs) as s:
        src = s.path("src")
        os.makedirs(src)
        rnd = random.Random(5)
        for i in range(16):
            with open(os.path.join(src, "f%02d.bin" % i), "wb") as f:
                f.write(rnd.randbytes(1 * fl.MiB + i))
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "img")

        def case(name, advertised):
            reg = rl.Registry(s.dir, name, auth=("token", USER, PASSWORD, 0),
                              token_args=["--lifetime", str(LIFETIME),
                                          "--advertised", str(advertised)])
            diffs = []
            try:
                s.run("push", "img", reg.ref("app:v1"), "--plain-http", "--creds",
                      "%s:%s" % (USER, PASSWORD), store=local)
                auth_file = s.path("auth-%s.json" % name)
                with open(auth_file, "w") as f:
                    json.dump({"auths": {reg.host: {"auth": base64.b64encode(
                        ("%s:%s" % (USER, PASSWORD)).encode()).decode()}}}, f)
                early = fetch_token(reg)
                if token_status(reg, early) != 200:
                    diffs.append("a fresh token is refused by the registry")
                tokens_before = len(reg.token_requests())
                os.environ["REGISTRY_AUTH_FILE"] = auth_file  # the CLI and the daemon it starts
                try:
                    store = s.store(name)
                    mp = s.path("mnt-" + name)
                    os.makedirs(mp)
                    s.mounts[mp] = store
                    s.run("mount", digest, mp, "--remote", "docker://%s/app" % reg.host,
                          "--plain-http", store=store)
                finally:
                    del os.environ["REGISTRY_AUTH_FILE"]
                files = sorted(os.listdir(src))
                start = time.monotonic()
                i = 0
                # One file every LIFETIME/4 s, for 4 lifetimes: reads before and after expiries.
                while time.monotonic() - start < 4 * LIFETIME and i < len(files):
                    n = files[i]
                    try:
                        got = open(os.path.join(mp, n), "rb").read()
                        if got != open(os.path.join(src, n), "rb").read():
                            diffs.append("%s read WRONG bytes" % n)
                    except OSError as e:
                        diffs.append("%s failed after %.1f s: %s"
                                     % (n, time.monotonic() - start, e))
                    i += 1
                    time.sleep(LIFETIME / 4)
                st = s.stats(mp)
                if st["read_errors"]:
                    diffs.append("read_errors=%d" % st["read_errors"])
                if token_status(reg, early) != 401:
                    diffs.append("the registry still accepts a token from %.0f s ago: the test "
                                 "saw no expiry" % (time.monotonic() - start))
                tokens = [t for t in reg.token_requests()[tokens_before:] if t.endswith(" ok")]
                if len(tokens) < 3:
                    diffs.append("only %d token(s) fetched over %d lifetimes: %s"
                                 % (len(tokens), 4, reg.token_requests()[tokens_before:]))
                print("  %s: %d files read over %.1f s, %d tokens fetched, %d fetch requests"
                      % (name, i, time.monotonic() - start, len(tokens), st["fetch_requests"]),
                      flush=True)
                s.umount(mp)
            finally:
                reg.stop()
            return diffs

        ml.run_case(report, "announced", lambda: case("announced", LIFETIME))
        ml.run_case(report, "silent", lambda: case("silent", 600))
    report.exit()


if __name__ == "__main__":
    main()
