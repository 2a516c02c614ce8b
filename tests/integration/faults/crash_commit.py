#!/usr/bin/python3
"""faults_crash_commit: the daemon killed with SIGKILL while it commits fetched chunks, many
times over one store; nothing it leaves behind may be wrong.

A 48 MiB image of random files (chunks stored raw, in the data files) is served by the counting
object server. Each of ITERATIONS rounds (seeded random kill points): mount by digest into the
same store (--cache-size 24M, so evictions punch holes while fetches append), start 4 readers
over the whole image, SIGKILL the daemon after a random 20..600 ms, detach the dead mount, then
`imgfs verify` must find every chunk record's bytes present and hashing to its digest, every
index and ref sound (exit 0). The round must also find the store usable: the next round's mount
succeeds. At the end a mount reads every byte right and verify passes once more.

Also checks verify itself: a byte flipped in a data file is reported (exit 1, one line naming
the chunk), so a passing verify means something.
"""

import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import ml, itest  # noqa: E402

ITERATIONS = 15


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("faults-crash", args.imgfs) as s:
        src = s.path("src")
        os.makedirs(src)
        rnd = random.Random(7)
        for i in range(12):
            with open(os.path.join(src, "f%02d.bin" % i), "wb") as f:
                f.write(rnd.randbytes(4 * fl.MiB))
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "img")
        srv = s.start_server()
        url = srv.url + "/repo"
        s.push(digest, url, local)
        store = s.store("crash")
        files = sorted(os.listdir(src))
        kill_rng = random.Random(int(os.environ.get("IMGFS_CRASH_SEED", "42")))

        def verify(where):
            proc = s.run("verify", store=store, check=False, timeout=120)
            if proc.returncode != 0:
                return ["%s: imgfs verify exited %d: %s%s" % (where, proc.returncode,
                                                            proc.stdout.strip()[-800:],
                                                            proc.stderr.strip())]
            return []

        def rounds():
            diffs = []
            killed_during = 0
            for it in range(ITERATIONS):
                mp, _ = s.mount(digest, store, remote=url, cache_size="24M")
                readers = []
                for k in range(4):
                    order = files[k::4] + files[:k]
                    readers.append(subprocess.Popen(
                        ["cat"] + [os.path.join(mp, n) for n in order],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                pid = s.daemon_pid(store)
                ml.check(pid, "no daemon for " + store)
                time.sleep(kill_rng.uniform(0.02, 0.6))  # the kill point is the thing varied
                os.kill(pid, signal.SIGKILL)
                if any(r.poll() is None for r in readers):
                    killed_during += 1
                deadline = time.time() + 10
                while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
                    time.sleep(0.02)
                for r in readers:
                    try:
                        r.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        r.kill()
                        r.wait()
                        diffs.append("round %d: a reader hung after the kill" % it)
                proc = s.run("umount", mp, store=store, check=False, timeout=60)
                if ml.is_mounted(mp):
                    diffs.append("round %d: still mounted after umount: %s" % (it, proc.stderr))
                    subprocess.run(["umount", "-l", mp])
                s.mounts.pop(mp, None)
                diffs += verify("round %d" % it)
                if diffs:
                    break
            print("  %d rounds, %d killed while readers were still reading"
                  % (ITERATIONS, killed_during), flush=True)
            if killed_during < ITERATIONS // 2:
                diffs.append("only %d of %d kills hit a running read: the test did not test"
                             % (killed_during, ITERATIONS))
            return diffs

        def final():
            mp, _ = s.mount(digest, store, remote=url, cache_size="24M")
            diffs = []
            for n in files:
                if ml.sha256_file(os.path.join(mp, n)) != ml.sha256_file(os.path.join(src, n)):
                    diffs.append("%s differs after the crashes" % n)
            s.umount(mp)
            diffs += verify("final")
            out = s.run("verify", "--json", store=store).stdout
            j = ml.json.loads(out)
            print("  verify: %d chunks, %d indexes, %d refs, images %s"
                  % (j["chunks"], j["indexes"], j["refs"],
                     [(i["name"][:19], i["local_chunks"], i["chunks"]) for i in j["images"]]))
            if j["chunks"] == 0:
                diffs.append("verify checked no chunk: the store holds none?")
            return diffs

        def verify_catches_damage():
            # gc first punches out bytes no record points at (a crash can leave some), so the
            # first data byte of a file is a live chunk's.
            s.run("gc", store=store)
            data = os.path.join(store, "data")
            victims = sorted(n for n in os.listdir(data) if n.endswith(".dat"))
            ml.check(victims, "no data file in the store")
            path = os.path.join(data, victims[0])
            # A live extent: the file's first non-hole byte.
            fd = os.open(path, os.O_RDWR)
            try:
                off = os.lseek(fd, 0, os.SEEK_DATA)
                b = os.pread(fd, 1, off + 100)
                os.pwrite(fd, bytes([b[0] ^ 0xFF]), off + 100)
            finally:
                os.close(fd)
            proc = s.run("verify", store=store, check=False)
            problems = [l for l in proc.stdout.splitlines() if l.startswith("problem:")]
            if proc.returncode != 1 or len(problems) != 1 or "chunk sha256:" not in problems[0]:
                return ["verify of a store with one flipped byte: exit %d, %r"
                        % (proc.returncode, proc.stdout.strip()[-500:])]
            return []

        ml.run_case(report, "rounds", rounds)
        ml.run_case(report, "final", final)
        ml.run_case(report, "verify-catches-damage", verify_catches_damage)
    report.exit()


if __name__ == "__main__":
    main()
