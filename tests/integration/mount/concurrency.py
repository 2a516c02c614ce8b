#!/usr/bin/python3
"""concurrency: many threads in several processes reading overlapping ranges of one file of a
fresh remote mount get every byte right, and every chunk is fetched exactly once.

A 24 MiB random file (plus a compressible one) is pushed to countserver.py, which delays each
GET by 30 ms so that readers pile up on chunks in flight, and mounted by digest with an empty
store. 4 processes x 6 threads plus 12 threads of this process start together: first all read
the same 2 MiB (maximum contention on one set of chunks), then random overlapping ranges, each
compared with the source bytes. Then: every chunk of the file was fetched once (cache_misses =
distinct chunks, bytes_fetched = their stored bytes, and the server's GETs cover each chunk
exactly once and nothing else), and read_errors = 0.
"""

import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402

FILE_SIZE = 24 << 20
HOT = (5 << 20, 2 << 20)   # offset, length read by everyone first
READS_PER_THREAD = 40
PROCS, PROC_THREADS, LOCAL_THREADS = 4, 6, 12


def reader(path, want, seed, start_at, errors):
    """One reader thread: the hot range, then random ranges; failures appended to errors."""
    rnd = random.Random(seed)
    size = len(want)
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            plan = [HOT] + [(rnd.randrange(size), rnd.randrange(1, 700 << 10))
                            for _ in range(READS_PER_THREAD)]
            for off, n in plan:
                got = os.pread(fd, n, off)
                if got != want[off:off + n]:
                    errors.append("seed %d: bytes %d+%d differ (got %d bytes)"
                                  % (seed, off, n, len(got)))
                    return
        finally:
            os.close(fd)
    except OSError as e:
        errors.append("seed %d: %s" % (seed, e))


def run_threads(path, src, seeds, start_at):
    with open(src, "rb") as f:
        want = f.read()
    errors = []
    threads = [threading.Thread(target=reader, args=(path, want, sd, start_at, errors))
               for sd in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def child_main(argv):
    path, src, first_seed, start_at = argv[0], argv[1], int(argv[2]), float(argv[3])
    errors = run_threads(path, src, range(first_seed, first_seed + PROC_THREADS), start_at)
    for e in errors:
        print("reader process %d: %s" % (os.getpid(), e))
    sys.exit(1 if errors else 0)


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("concurrency", args.imgfs) as s:
        src = s.path("src")
        os.makedirs(os.path.join(src, "data"))
        rnd = random.Random(11)
        with open(os.path.join(src, "data/model.bin"), "wb") as f:
            f.write(rnd.randbytes(FILE_SIZE))
        with open(os.path.join(src, "data/words.txt"), "w") as f:
            for i in range(200000):
                f.write("%d %s\n" % (i, "lorem ipsum dolor sit amet"[i % 20:]))
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "conc")
        srv = s.start_server()
        url = srv.url + "/repo"
        s.push(digest, url, local)
        index = ml.load_index(os.path.join(srv.root, "repo"), digest)
        srv.fault(delay_ms=30)
        mp, _ = s.mount(digest, s.store("empty"), remote=url)

        def case(rel):
            def run():
                srv.reset()
                before = s.stats(mp)
                path, host = os.path.join(mp, rel), os.path.join(src, rel)
                start_at = time.time() + 1.5
                procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child",
                                           path, host, str(1000 * (p + 1)), repr(start_at)])
                         for p in range(PROCS)]
                errors = run_threads(path, host, range(LOCAL_THREADS), start_at)
                for p in procs:
                    try:
                        rc = p.wait(timeout=240)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        rc = "timeout"
                    if rc != 0:
                        errors.append("reader process exited %s" % rc)
                # Whole file once more (all chunks now local), through a fresh open.
                ml.check(ml.sha256_file(path) == ml.sha256_file(host),
                         "%s: whole-file SHA-256 differs through the mount" % rel)
                after = s.stats(mp)
                chunks = index.file_chunks(rel)
                spans = ml.chunk_spans(index, chunks)
                stored = sum(b - a for _, a, b in spans)
                gets = srv.pack_gets()
                counts, outside = ml.coverage(spans, gets)
                diffs = list(errors)
                twice = [c for c in counts.values() if c > 1]
                never = [c for c in counts.values() if c == 0]
                if twice:
                    diffs.append("%d of %d chunks fetched more than once (max %d times)"
                                 % (len(twice), len(spans), max(twice)))
                if never:
                    diffs.append("%d chunks never fetched" % len(never))
                if outside:
                    diffs.append("%d fetched bytes outside the file's chunks" % outside)
                d = {k: after[k] - before[k] for k in ("cache_misses", "bytes_fetched",
                                                       "read_errors", "verify_failures")}
                if d["cache_misses"] != len(spans):
                    diffs.append("cache_misses grew by %d; the file has %d distinct chunks"
                                 % (d["cache_misses"], len(spans)))
                if d["bytes_fetched"] != stored:
                    diffs.append("bytes_fetched grew by %d; its chunks are %d stored bytes"
                                 % (d["bytes_fetched"], stored))
                if d["read_errors"] or d["verify_failures"]:
                    diffs.append("read_errors +%d, verify_failures +%d"
                                 % (d["read_errors"], d["verify_failures"]))
                print("  %s: %d chunks, %d stored bytes, %d GETs, fetched %d, misses %d"
                      % (rel, len(spans), stored, len(gets), d["bytes_fetched"],
                         d["cache_misses"]))
                return diffs
            return run

        ml.run_case(report, "random-file", case("data/model.bin"))
        ml.run_case(report, "compressible-file", case("data/words.txt"))
        s.umount(mp)
    report.exit()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
