#!/usr/bin/python3
"""faults_profile: a real image read whole, and a container started from it, through a remote
where 10% of requests are faulty in every way faultproxy.py knows (delay, reset, stall, 5xx,
503 and 429 with and without Retry-After, truncated, short, Range ignored, a byte flipped).

The image (Debian bookworm minbase without usr/share, var, perl-base and gconv: ~650 files,
~65 MiB of Debian's binaries and libraries; else a busybox root: faultlib.real_image_tree) is
converted and pushed to the counting object server; faultproxy.py (seed fixed) stands in front.

  read   an empty store mounts the image by digest from the proxy; every regular file is read
         whole (8 readers at once) and compared byte for byte with the source tree, symlinks and
         names too: no difference, no read error; every fault kind was injected; `imgfs stats`
         counts retries (total and by cause: network, timeout, server_error, throttled,
         bad_answer each > 0) and /metrics has imgfs_remote_retries with the same total.
  run    `imgfs run --remote PROXY DIGEST` on another empty store (the daemon mounts it through
         the faults): sha256sum of a binary inside the container equals the host's.
The daemon runs with IMGFS_REMOTE_TIMEOUT=9 (attempts of 3 s, so a stall costs 3 s).
Prints the requests, faults, retries and bytes fetched against the image's stored size.
"""

import concurrent.futures
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import ml, itest  # noqa: E402

CAUSES = ["network", "timeout", "server_error", "throttled", "bad_answer"]


def read_all_parallel(src, mnt, workers=8):
    """compare_trees over the top-level entries in parallel; returns (files, bytes, diffs)."""
    files, nbytes, diffs = 0, 0, []
    tops = sorted(os.listdir(src))
    for name in tops:  # top-level files themselves
        s = os.path.join(src, name)
        if os.path.isfile(s) and not os.path.islink(s):
            with open(s, "rb") as a, open(os.path.join(mnt, name), "rb") as b:
                if a.read() != b.read():
                    diffs.append("%s: bytes differ" % name)
    dirs = [n for n in tops if os.path.isdir(os.path.join(src, n)) and
            not os.path.islink(os.path.join(src, n))]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for f, b, d in pool.map(lambda n: fl.compare_trees(os.path.join(src, n),
                                                           os.path.join(mnt, n)), dirs):
            files, nbytes, diffs = files + f, nbytes + b, diffs + d
    if sorted(os.listdir(mnt)) != tops:
        diffs.append("top-level names differ")
    return files, nbytes, diffs


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    os.environ["IMGFS_REMOTE_TIMEOUT"] = "9"  # the daemons the mounts start read it
    report = ml.Report()
    with ml.Session("faults-profile", args.imgfs) as s:
        # Without its 5,000 small documentation, locale and dpkg files (and perl's, gconv's):
        # each small file is a request of its own, and CI has a minute for this test.
        src, what = fl.real_image_tree(s.dir, prune=(
            "usr/share", "var", "usr/lib/x86_64-linux-gnu/perl-base",
            "usr/lib/x86_64-linux-gnu/gconv"))
        print("image: " + what, flush=True)
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "img")
        srv = s.start_server()
        s.push(digest, srv.url + "/repo", local)
        index = ml.load_index(os.path.join(srv.root, "repo"), digest)
        stored = sum(index.pack(p)["size"] for p in range(index.sec[6][1]))
        proxy = fl.FaultProxy(s.dir, "127.0.0.1:%d" % srv.port, rate=0.1, seed=20261202,
                              stall_ms=0, delay_ms=100)
        s.servers.append(proxy)
        remote = proxy.url + "/repo"

        def read_case():
            mp, _ = s.mount(digest, s.store("lazy"), remote=remote)
            files, nbytes, diffs = read_all_parallel(src, mp)
            st = s.stats(mp)
            full = ml.json.loads(s.run("stats", mp, "--json", store=s.mounts[mp]).stdout)
            retries = full["metrics"].get("retries", {})
            pstats = proxy.stats()
            if st["read_errors"]:
                diffs.append("read_errors=%d" % st["read_errors"])
            missing = [k for k in ("delay", "reset", "stall", "5xx", "503ra", "429", "429ra",
                                   "truncate", "short", "norange", "flip")
                       if not pstats["faults"].get(k)]
            if missing:
                diffs.append("fault kinds never injected (too few requests?): %s" % missing)
            for cause in CAUSES:
                if not retries.get(cause):
                    diffs.append("no retry counted for cause %s: %s" % (cause, retries))
            total = st.get("retries_total", 0)
            if total != sum(retries.values()) or total <= 0:
                diffs.append("retries_total %s vs by cause %s" % (total, retries))
            prom = s.metrics_text(s.mounts[mp])
            if "imgfs_remote_retries{" not in prom or \
                    fl.metric_sum(prom, "imgfs_remote_retries") < total:
                diffs.append("/metrics imgfs_remote_retries sums to %s, stats say %d"
                             % (fl.metric_sum(prom, "imgfs_remote_retries"), total))
            print("  %d files, %.1f MiB read; proxy: %d requests, %d faults %s; imgfs: %d fetch "
                  "requests, %d retries %s, %.1f MiB fetched for %.1f MiB stored (%.2fx)"
                  % (files, nbytes / fl.MiB, pstats["requests"], sum(pstats["faults"].values()),
                     pstats["faults"], st["fetch_requests"], total, retries,
                     st["bytes_fetched"] / fl.MiB, stored / fl.MiB,
                     st["bytes_fetched"] / max(stored, 1)), flush=True)
            s.umount(mp)
            return diffs

        def run_case():
            target = "/bin/busybox" if os.path.exists(os.path.join(src, "bin/busybox")) \
                else "/usr/bin/dpkg"
            with open(os.path.join(src, target.lstrip("/")), "rb") as f:
                want = hashlib.sha256(f.read()).hexdigest()
            store = s.store("run")
            proc = subprocess.run([args.imgfs, "run", "--store", store, "--remote", remote,
                                   digest, "/bin/sh", "-c", "sha256sum " + target],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  timeout=300)
            # The run leaves its image mounted (STORE/mounts/KEY): the session unmounts it.
            for mp in ml.mounted_paths():
                if mp.startswith(store + "/"):
                    s.mounts[mp] = store
            diffs = []
            if proc.returncode != 0:
                diffs.append("imgfs run exited %d: %s" % (proc.returncode, proc.stderr.strip()))
            elif proc.stdout.split()[:1] != [want]:
                diffs.append("sha256sum %s in the container printed %r, host says %s"
                             % (target, proc.stdout.strip(), want))
            print("  container: %s" % proc.stdout.strip(), flush=True)
            return diffs

        ml.run_case(report, "read", read_case)
        ml.run_case(report, "run", run_case)
    report.exit()


if __name__ == "__main__":
    main()
