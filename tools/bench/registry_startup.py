#!/usr/bin/env python3
"""Start-up set from a registry (issue 10, the netem benchmark without netem: this kernel has no
sch_netem, so the registry is on loopback and only bytes and requests are meaningful, not the
link-time goal). Not a test.

A Debian python3 image (one gzip layer of ROOTFS.tar) is converted, its start-up set recorded
(`imgfs mount --trace record`, then `chroot MNT python3 -c 'import json'`), repacked in trace
order, and pushed with its trace to a registry (docker-registry on 127.0.0.1). Then, ROUNDS
times each, from an empty store: `imgfs mount docker://...` with and without `--trace replay`,
the same program run in the mount; wall time from the mount to the program's exit, bytes the
program's reads returned, bytes fetched and range requests (imgfs stats).

  tools/bench/registry_startup.py --imgfs build/imgfs/imgfs [--rounds 3] [--tar ROOTFS.tar]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "registry"))
import registry_lib as rl  # noqa: E402

PROGRAM = ["/usr/bin/python3", "-c", "import json"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--imgfs", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tar", default="/var/cache/imgfs-test/bookworm-python3.tar")
    args = p.parse_args()
    imgfs = os.path.abspath(args.imgfs)
    work = tempfile.mkdtemp(prefix="imgfs-bench-startup-")
    mounts = []

    def run(*a, check=True):
        return subprocess.run([imgfs, *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, check=check)

    def mount(store, image, mp, *extra):
        os.makedirs(mp, exist_ok=True)
        run("mount", image, mp, "--store", store, *extra)
        mounts.append((mp, store))

    def umount(mp, store):
        run("umount", mp, "--store", store)
        mounts.remove((mp, store))

    reg = rl.Registry(work, "reg")
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "mkimage.py"), "tars",
                        "--layout", work + "/layout", "--tag", "img", "--compression", "gzip",
                        args.tar], check=True, stdout=subprocess.DEVNULL)
        a = work + "/store-a"
        run("convert", "oci:%s/layout:img" % work, "--tag", "img", "--store", a, "--quiet")
        mp = work + "/mnt-record"
        mount(a, "img", mp, "--trace", "record", "--trace-seconds", "600")
        subprocess.run(["chroot", mp] + PROGRAM, check=True)
        umount(mp, a)
        run("repack", "img", "--tag", "img-repacked", "--store", a)
        run("push", "img-repacked", reg.ref("py3:startup"), "--plain-http", "--store", a)
        ref = reg.ref("py3:startup")
        results = {"off": [], "replay": []}
        for r in range(args.rounds):
            for mode in ("off", "replay"):
                store = "%s/store-%s-%d" % (work, mode, r)
                mp = "%s/mnt-%s-%d" % (work, mode, r)
                subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True)
                t0 = time.time()
                mount(store, ref, mp, "--plain-http", "--trace", mode)
                subprocess.run(["chroot", mp] + PROGRAM, check=True)
                t1 = time.time()
                stats = json.loads(run("stats", mp, "--json", "--store", store).stdout)
                m = stats.get("metrics", {})
                results[mode].append((t1 - t0, m.get("bytes_served", 0), m.get("bytes_fetched", 0),
                                      m.get("fetch_requests", 0)))
                umount(mp, store)
        print("machine: %d cores, load %s; registry on loopback (no netem)" %
              (os.cpu_count(), open("/proc/loadavg").read().split()[0]))
        print("program: chroot MNT %s; %d rounds (median, min-max)" % (" ".join(PROGRAM),
                                                                       args.rounds))
        for mode, rows in results.items():
            t = sorted(x[0] for x in rows)
            served = statistics.median(x[1] for x in rows)
            fetched = statistics.median(x[2] for x in rows)
            reqs = statistics.median(x[3] for x in rows)
            print("trace %-6s  %.2f s (%.2f-%.2f)  read %.1f MB  fetched %.1f MB (%.2fx)  "
                  "%d range requests" % (mode, statistics.median(t), t[0], t[-1], served / 1e6,
                                         fetched / 1e6, fetched / served if served else 0, reqs))
    finally:
        for mp, store in list(mounts):
            subprocess.run([imgfs, "umount", mp, "--store", store], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
