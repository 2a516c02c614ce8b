#!/usr/bin/python3
"""faults_registry_slow: a registry that answers too slowly under a mount.

The daemon runs with IMGFS_REMOTE_TIMEOUT=4 (the configured bound, docs/operations.md). An image
of random files is pushed to Debian's docker-registry and mounted by digest through faultproxy.py
(`--remote docker://PROXY/app --plain-http`); the first files are read while all is well.

  trickle     every answer's body comes at 2 KiB/s: faster than curl's low-speed limit, so only
              the call's bound can end a read; an uncached read fails with EIO within the bound
              plus 3 s of slack.
  trickle500  every answer is a 500 whose body never ends (2 KiB/s): the same.
  recovers    the proxy forwards again: with no command to the daemon, the files that failed read
              right (polled for at most 30 s: the 5 s hold of a failed chunk must pass).
"""

import errno
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import ml, itest  # noqa: E402

sys.path.insert(0, os.path.join(fl.IT, "registry"))
import registry_lib as rl  # noqa: E402

BOUND = 4
FILES = 10


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    rl.need_registry_tools()
    os.environ["IMGFS_REMOTE_TIMEOUT"] = str(BOUND)
    report = ml.Report()
    with ml.Session("faults-registry-slow", args.imgfs) as s:
        src = s.path("src")
        os.makedirs(src)
        rnd = random.Random(7)
        for i in range(FILES):
            with open(os.path.join(src, "f%d.bin" % i), "wb") as f:
                f.write(rnd.randbytes(2 * fl.MiB))
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "img")
        reg = rl.Registry(s.dir, "registry")
        try:
            s.run("push", "img", reg.ref("app:v1"), "--plain-http", store=local)
            proxy = fl.FaultProxy(s.dir, reg.host)
            s.servers.append(proxy)
            store = s.store("lazy")
            mp = s.path("mnt")
            os.makedirs(mp)
            s.mounts[mp] = store
            s.run("mount", digest, mp, "--remote", "docker://127.0.0.1:%d/app" % proxy.port,
                  "--plain-http", store=store)
            f = lambda i: os.path.join(mp, "f%d.bin" % i)  # noqa: E731
            want = lambda i: open(os.path.join(src, "f%d.bin" % i), "rb").read()  # noqa: E731
            for i in (0, 1):
                ml.check(open(f(i), "rb").read() == want(i), "f%d differs before the fault" % i)

            def slow(mode, uncached):
                proxy.config(mode=mode, trickle_bps=2048)
                took, err, _ = fl.timed_read(f(uncached))
                print("  %s: uncached read of f%d failed after %.2f s (%s)"
                      % (mode, uncached, took, errno.errorcode.get(err, err) if err else "no error"),
                      flush=True)
                diffs = []
                if err != errno.EIO:
                    diffs.append("%s: uncached read gave %s, expected EIO"
                                 % (mode, errno.errorcode.get(err, err) if err else "data"))
                if took > BOUND + 3:
                    diffs.append("%s: the failing read took %.1f s; bound %d s"
                                 % (mode, took, BOUND))
                ml.drop_file_cache(f(0))
                if open(f(0), "rb").read() != want(0):
                    diffs.append("%s: f0, read before, does not read right" % mode)
                return diffs

            def recovers():
                proxy.config(mode="faults", rate=0)
                diffs = []
                deadline = time.monotonic() + 30
                for i in (FILES - 2, FILES - 1):
                    while True:
                        try:
                            if open(f(i), "rb").read() != want(i):
                                diffs.append("f%d read WRONG bytes after the registry recovered"
                                             % i)
                            break
                        except OSError as e:
                            if time.monotonic() > deadline:
                                diffs.append("f%d still fails 30 s after recovery: %s" % (i, e))
                                break
                            time.sleep(0.5)
                return diffs

            ml.run_case(report, "trickle", lambda: slow("trickle", FILES - 2))
            ml.run_case(report, "trickle500", lambda: slow("trickle500", FILES - 1))
            ml.run_case(report, "recovers", recovers)
        finally:
            reg.stop()
    report.exit()


if __name__ == "__main__":
    main()
