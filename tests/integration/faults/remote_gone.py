#!/usr/bin/python3
"""faults_remote_gone: the remote goes away under a mount and comes back.

The daemon runs with IMGFS_REMOTE_TIMEOUT=4 (the configured bound, docs/operations.md). The
remote is faultproxy.py (no faults) in front of the counting object server.

  hang      the proxy accepts connections and never answers: files read before are still served
            (page cache dropped first), listings work, an uncached read fails with EIO, and
            within the bound plus 3 s of slack (not a hang, not the default 30 s); fetch_errors
            and timeout retries counted.
  gone      the proxy process is killed (connection refused): the same, EIO at once.
  recovers  the proxy comes back on the same port: with no command to the daemon, the read that
            failed succeeds (polled for at most 30 s: the 5 s hold of a failed chunk must pass)
            and every byte of the image is right.
"""

import errno
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import ml, itest  # noqa: E402

BOUND = 4


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    os.environ["IMGFS_REMOTE_TIMEOUT"] = str(BOUND)
    report = ml.Report()
    with ml.Session("faults-gone", args.imgfs) as s:
        src = s.path("src")
        os.makedirs(os.path.join(src, "d"))
        rnd = random.Random(3)
        for i in range(6):
            with open(os.path.join(src, "d", "f%d.bin" % i), "wb") as f:
                f.write(rnd.randbytes(2 * fl.MiB))
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "img")
        srv = s.start_server()
        s.push(digest, srv.url + "/repo", local)
        proxy = fl.FaultProxy(s.dir, "127.0.0.1:%d" % srv.port)
        s.servers.append(proxy)
        store = s.store("lazy")
        mp, _ = s.mount(digest, store, remote=proxy.url + "/repo")
        f = lambda i: os.path.join(mp, "d", "f%d.bin" % i)  # noqa: E731
        want = lambda i: open(os.path.join(src, "d", "f%d.bin" % i), "rb").read()  # noqa: E731
        for i in (0, 1):
            ml.check(open(f(i), "rb").read() == want(i), "f%d differs before the outage" % i)

        def outage(name, uncached):
            diffs = []
            for i in (0, 1):
                ml.drop_file_cache(f(i))
                if open(f(i), "rb").read() != want(i):
                    diffs.append("%s: cached f%d does not read right" % (name, i))
            if sorted(os.listdir(os.path.join(mp, "d"))) != sorted(os.listdir(
                    os.path.join(src, "d"))):
                diffs.append("%s: listing differs" % name)
            took, err, _ = fl.timed_read(f(uncached))
            if err != errno.EIO:
                diffs.append("%s: uncached read gave %s, expected EIO"
                             % (name, errno.errorcode.get(err, err) if err else "data"))
            if took > BOUND + 3:
                diffs.append("%s: the failing read took %.1f s; bound %d s" % (name, took, BOUND))
            print("  %s: uncached read failed after %.2f s (%s)"
                  % (name, took, errno.errorcode.get(err, err)), flush=True)
            return diffs

        def hang():
            proxy.config(mode="hang")
            diffs = outage("hang", 2)
            st = s.stats(mp)
            full = ml.json.loads(s.run("stats", mp, "--json", store=store).stdout)
            if st["fetch_errors"] < 1:
                diffs.append("fetch_errors=%d after a hanging remote" % st["fetch_errors"])
            if not full["metrics"]["retries"].get("timeout"):
                diffs.append("no timeout retry counted: %s" % full["metrics"]["retries"])
            return diffs

        def gone():
            proxy.stop()
            return outage("gone", 3)

        def recovers():
            proxy.restart()  # same port, no faults
            diffs = []
            deadline = time.monotonic() + 30
            took = None
            while time.monotonic() < deadline:
                _, err, data = fl.timed_read(f(3))
                if err is None:
                    took = 30 - (deadline - time.monotonic())
                    if data != want(3)[:len(data)]:
                        diffs.append("f3 read WRONG bytes after the remote came back")
                    break
                time.sleep(0.5)
            if took is None:
                diffs.append("f3 still fails 30 s after the remote came back")
            for i in range(6):
                ml.drop_file_cache(f(i))
                if open(f(i), "rb").read() != want(i):
                    diffs.append("f%d differs after recovery" % i)
            print("  the remote back: reads work again after %s s" %
                  ("%.1f" % took if took is not None else "-"), flush=True)
            return diffs

        ml.run_case(report, "hang", hang)
        ml.run_case(report, "gone", gone)
        ml.run_case(report, "recovers", recovers)
    report.exit()


if __name__ == "__main__":
    main()
