#!/usr/bin/python3
"""faults_disk_full: the node's store on a full disk.

Runs in a private mount namespace of its own (unshare -m --propagation private); each store is
a small tmpfs mounted by the test below its work dir.

  fetch    a store on a 12 MiB tmpfs mounts a 40 MiB image (random files) from the counting
           object server; every file read whole is right (the chunks that did not fit are
           served from memory), read_errors 0, cache_write_failures > 0 in `imgfs stats --json`,
           in its text and in /metrics (imgfs_cache_write_failures); the tmpfs was really full.
  convert  a store on a 24 MiB tmpfs holds a small image; converting a 64 MiB one into it fails
           with exit 1 and one line on stderr that says the disk is full; `imgfs ls` and
           `imgfs verify --json` (chunks, bytes, refs, images) are the same as before, and verify
           finds no problem; the tmpfs has as much free space as before (nothing half-written
           left; within 1 MiB, RocksDB's own log files aside).
"""

import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import ml, itest  # noqa: E402


def tmpfs(path, size_mib):
    os.makedirs(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % size_mib, "tmpfs",
                    path], check=True)
    return path


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def random_tree(root, count, size, seed):
    os.makedirs(root)
    rnd = random.Random(seed)
    for i in range(count):
        with open(os.path.join(root, "f%02d.bin" % i), "wb") as f:
            f.write(rnd.randbytes(size))


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    fl.in_private_mount_namespace()
    report = ml.Report()
    with ml.Session("faults-diskfull", args.imgfs) as s:
        def fetch():
            src = s.path("src-fetch")
            random_tree(src, 10, 4 * fl.MiB, 1)
            local = s.store("local")
            digest = s.convert("dir:" + src, local, "img")
            srv = s.start_server()
            s.push(digest, srv.url + "/repo", local)
            store = tmpfs(s.path("store-small"), 12)
            s.stores.add(store)
            mp, _ = s.mount(digest, store, remote=srv.url + "/repo")
            diffs = []
            min_free = free_bytes(store)
            for n in sorted(os.listdir(src)):
                if ml.sha256_file(os.path.join(mp, n)) != ml.sha256_file(os.path.join(src, n)):
                    diffs.append("%s read wrong from a full store" % n)
                min_free = min(min_free, free_bytes(store))
            full = ml.json.loads(s.run("stats", mp, "--json", store=store).stdout)
            m = full["metrics"]
            if m["read_errors"]:
                diffs.append("read_errors=%d" % m["read_errors"])
            if not m.get("cache_write_failures"):
                diffs.append("cache_write_failures=%s with a 12 MiB store and 40 MiB read"
                             % m.get("cache_write_failures"))
            text = s.run("stats", mp, store=store).stdout
            if "not cached" not in text:
                diffs.append("imgfs stats does not show chunks not cached: %s" % text)
            prom = s.metrics_text(store)
            if fl.metric_sum(prom, "imgfs_cache_write_failures") < 1:
                diffs.append("/metrics: imgfs_cache_write_failures is 0")
            if min_free > 1 * fl.MiB:
                diffs.append("the store's tmpfs never filled (%d bytes free at least)" % min_free)
            print("  %d chunks not cached (served from memory), %.1f MiB fetched"
                  % (m.get("cache_write_failures", 0), m["bytes_fetched"] / fl.MiB), flush=True)
            s.umount(mp)
            return diffs

        def convert():
            store = tmpfs(s.path("store-convert"), 24)
            s.stores.add(store)
            small = s.path("src-small")
            random_tree(small, 2, 1 * fl.MiB, 2)
            s.convert("dir:" + small, store, "small")
            big = s.path("src-big")
            random_tree(big, 16, 4 * fl.MiB, 3)

            def state():
                ls = s.run("ls", store=store).stdout
                v = ml.json.loads(s.run("verify", "--json", store=store).stdout)
                return ls, v

            ls0, v0 = state()
            free0 = free_bytes(store)
            proc = s.run("convert", "dir:" + big, "--tag", "big", store=store, check=False)
            lines = proc.stderr.strip().splitlines()
            diffs = []
            if proc.returncode == 0:
                diffs.append("convert of 64 MiB into a 24 MiB store succeeded")
            if len(lines) != 1 or "space" not in proc.stderr.lower():
                diffs.append("convert's error is not one line about space: %r" % proc.stderr)
            ls1, v1 = state()
            if ls1 != ls0:
                diffs.append("imgfs ls changed:\n%s\n->\n%s" % (ls0, ls1))
            for k in ("chunks", "stored_bytes", "indexes", "refs", "images", "problems"):
                if v0[k] != v1[k]:
                    diffs.append("verify %s: %s -> %s" % (k, v0[k], v1[k]))
            if v1["problems"]:
                diffs.append("verify finds problems: %s" % v1["problems"])
            free1 = free_bytes(store)
            if free1 < free0 - 1 * fl.MiB:
                diffs.append("the failed convert left %d bytes behind" % (free0 - free1))
            print("  convert failed with: %s; free before %.1f MiB, after %.1f MiB"
                  % (lines[-1] if lines else "", free0 / fl.MiB, free1 / fl.MiB), flush=True)
            return diffs

        ml.run_case(report, "fetch", fetch)
        ml.run_case(report, "convert", convert)
    report.exit()


if __name__ == "__main__":
    main()
