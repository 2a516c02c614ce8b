#!/usr/bin/python3
"""trace: a start-up trace recorded on one mount is replayed as prefetch on the next, so the
files it read are then served without a single fetch.

An image of 24 random files is pushed to countserver.py and mounted by digest (empty store) with
--trace record --trace-seconds 3; five files are read, the window passes, the trace is saved to
the store, and the mount goes away. The store's cached chunks are then evicted (a mount with
--cache-size 1 evicts them when its daemon loads the cache), keeping the trace. A mount with
--trace replay must prefetch: prefetch_total = the distinct chunks of the five files,
prefetch_done reaches it within 30 s, the server sees those chunks fetched; reading the five
files then fetches nothing (0 pack GETs, bytes_fetched and cache_misses unchanged), while a file
outside the trace is still fetched on demand.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402

STARTUP = ["app/bin/main", "app/lib/libcore.so", "app/lib/libutil.so", "app/conf/settings.json",
           "app/models/small.bin"]


def make_source(root):
    rnd = random.Random(3)
    paths = list(STARTUP) + ["app/data/blob%02d" % i for i in range(19)]
    for rel in paths:
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(rnd.randbytes(rnd.randrange(100 << 10, 600 << 10)))
    return paths


def read_all(mp, rels):
    for rel in rels:
        with open(os.path.join(mp, rel), "rb") as f:
            while f.read(1 << 20):
                pass


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("trace", args.imgfs) as s:
        src = s.path("src")
        make_source(src)
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "trace")
        srv = s.start_server()
        url = srv.url + "/repo"
        s.push(digest, url, local)
        index = ml.load_index(os.path.join(srv.root, "repo"), digest)
        store = s.store("node")
        startup_chunks = set()
        for rel in STARTUP:
            startup_chunks |= set(index.file_chunks(rel))

        def record():
            mp, _ = s.mount(digest, store, remote=url, trace="record", trace_seconds=3)
            read_all(mp, STARTUP)
            time.sleep(4.5)
            log = s.daemon_log(store)
            s.umount(mp)
            diffs = []
            if "trace" not in log:
                diffs.append("daemon.log says nothing about a recorded trace: %r" % log[-300:])
            # Empty the cache, keep the store (and its trace).
            mp, _ = s.mount(digest, store, remote=url, cache_size=1)
            st = s.stats(mp)
            if st["cache.cached_bytes"] > 0:
                diffs.append("--cache-size 1 left %d cached bytes" % st["cache.cached_bytes"])
            s.umount(mp)
            return diffs

        def replay():
            srv.reset()
            mp, _ = s.mount(digest, store, remote=url, trace="replay")
            diffs = []
            try:
                deadline = time.time() + 30
                while True:
                    st = s.stats(mp)
                    if st["prefetch_total"] and st["prefetch_done"] >= st["prefetch_total"]:
                        break
                    if time.time() > deadline:
                        diffs.append("prefetch not done after 30 s: %d of %d"
                                     % (st["prefetch_done"], st["prefetch_total"]))
                        break
                    time.sleep(0.1)
                if st["prefetch_total"] != len(startup_chunks):
                    diffs.append("prefetch_total=%d; the five files have %d distinct chunks"
                                 % (st["prefetch_total"], len(startup_chunks)))
                spans = ml.chunk_spans(index, startup_chunks)
                counts, outside = ml.coverage(spans, srv.pack_gets())
                never = sum(1 for c in counts.values() if c == 0)
                if never:
                    diffs.append("%d traced chunks were not fetched by the prefetch (was the "
                                 "cache really empty?)" % never)
                if outside:
                    diffs.append("prefetch fetched %d bytes outside the traced chunks" % outside)
                srv.reset()
                before = s.stats(mp)
                for rel in STARTUP:
                    with open(os.path.join(mp, rel), "rb") as f, \
                            open(os.path.join(src, rel), "rb") as g:
                        if f.read() != g.read():
                            diffs.append("%s differs after prefetch" % rel)
                after = s.stats(mp)
                gets = srv.pack_gets()
                if gets:
                    diffs.append("reading the traced files after prefetch made %d pack GETs"
                                 % len(gets))
                for k in ("bytes_fetched", "cache_misses"):
                    if after[k] != before[k]:
                        diffs.append("%s grew by %d reading prefetched files"
                                     % (k, after[k] - before[k]))
                read_all(mp, ["app/data/blob07"])
                if not srv.pack_gets():
                    diffs.append("a file outside the trace was not fetched (prefetched too much?)")
                print("  prefetch %d of %d chunks; %d pack GETs on demand afterwards"
                      % (st["prefetch_done"], st["prefetch_total"], len(srv.pack_gets())))
            finally:
                s.umount(mp)
            return diffs

        ml.run_case(report, "record", record)
        ml.run_case(report, "replay", replay)
    report.exit()


if __name__ == "__main__":
    main()
