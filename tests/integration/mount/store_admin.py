#!/usr/bin/python3
"""store_admin: imgfs convert, rm and gc on a store whose daemon is serving a mount.

RocksDB admits one writing process, so these commands go through the daemon's socket. With image
A mounted from store S: a conversion of B into S (from a relative dir: path) succeeds while A is
being read and `imgfs stats` answers; B mounts and reads back byte for byte; a conversion of a
missing source fails with one line naming it; a trace recorded on a second mount of A lets
`imgfs repack A` run through the daemon too, and the repacked image mounts and reads right; `imgfs rm A` + `imgfs gc` keep A's chunks because
A is mounted (every file of A still reads right after its page cache is dropped); `rm B` + `gc`
removes B's own chunks. Clients that hang up before their answer (20 stats requests closed at
once, an `imgfs convert` killed mid-way) do not take the daemon down: it stays, keeps serving A,
and finishes that conversion; nor do malformed requests (fields of the wrong JSON type, a bad
Content-Length), which get a 400 with a one-line error. After A's last unmount the daemon exits, and an `imgfs gc` run
at once (while the daemon may still be letting go of the store) removes A.
"""

import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402


def make_tree(root, seed, big_mib):
    rnd = random.Random(seed)
    files = {
        "bin/tool": rnd.randbytes(3 << 20),
        "lib/small.txt": ("line %d of %d\n" % (seed, seed) * 2000).encode(),
        "data/big.bin": rnd.randbytes(big_mib << 20),
        "etc/conf": b"seed=%d\n" % seed,
    }
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    return sorted(files)


def same_tree(mp, src, rels):
    diffs = []
    for rel in rels:
        path = os.path.join(mp, rel)
        ml.drop_file_cache(path)
        if ml.sha256_file(path) != ml.sha256_file(os.path.join(src, rel)):
            diffs.append("%s differs from its source" % rel)
    return diffs


def gc_counts(out):
    m = re.search(r"removed (\d+) images, (\d+) chunks", out)
    ml.check(m, "gc printed %r" % out)
    return int(m.group(1)), int(m.group(2))


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("admin", args.imgfs) as s:
        src_a, src_b = s.path("src-a"), s.path("src-b")
        rels_a, rels_b = make_tree(src_a, 1, 8), make_tree(src_b, 2, 48)
        store = s.store("node")
        s.convert("dir:" + src_a, store, "a")
        mp_a, digest_a = s.mount("a", store)

        def convert_while_mounted():
            diffs = []
            reads, stats_ok, stop = [0], [0], threading.Event()

            def reader():  # A is read, and stats asked for, all through the conversion
                while not stop.is_set():
                    diffs.extend(same_tree(mp_a, src_a, ["bin/tool"]))
                    reads[0] += 1
                    if s.run("stats", mp_a, store=store, check=False).returncode == 0:
                        stats_ok[0] += 1

            t = threading.Thread(target=reader)
            t.start()
            try:
                p = subprocess.run([s.binary, "convert", "dir:src-b", "--tag", "b", "--store",
                                    store], cwd=s.dir, capture_output=True, text=True, timeout=300)
            finally:
                stop.set()
                t.join()
            if p.returncode != 0:
                return diffs + ["convert beside the daemon failed: %s" % p.stderr.strip()]
            if not itest.DIGEST_RE.match(p.stdout.strip()):
                diffs.append("convert printed %r" % p.stdout)
            if reads[0] == 0 or stats_ok[0] == 0:
                diffs.append("during the conversion: %d reads of A, %d stats answered"
                             % (reads[0], stats_ok[0]))
            listed = s.run("ls", store=store).stdout
            if not re.search(r"^b\s", listed, re.M) or not re.search(r"^a\s", listed, re.M):
                diffs.append("imgfs ls does not list a and b: %r" % listed)
            mp_b, _ = s.mount("b", store)
            diffs += same_tree(mp_b, src_b, rels_b)
            s.umount(mp_b, wait_daemon=False)
            print("  %d reads of A and %d stats during the conversion" % (reads[0], stats_ok[0]))
            return diffs

        def convert_error():
            p = s.run("convert", "dir:" + s.path("no-such-dir"), store=store, check=False)
            diffs = []
            if p.returncode == 0:
                diffs.append("converting a missing directory succeeded")
            lines = p.stderr.strip().splitlines()
            if len(lines) != 1 or "no-such-dir" not in p.stderr:
                diffs.append("the error is not one line naming the source: %r" % p.stderr)
            return diffs

        def repack_while_mounted():
            diffs = []
            mp, _ = s.mount("a", store, trace="record", trace_seconds=1)
            for rel in ("etc/conf", "bin/tool"):
                with open(os.path.join(mp, rel), "rb") as f:
                    f.read()
            deadline = time.time() + 30  # the trace is stored once its window has passed
            while "trace" not in s.daemon_log(store) and time.time() < deadline:
                time.sleep(0.2)
            s.umount(mp, wait_daemon=False)
            p = s.run("repack", "a", "--tag", "a-repacked", store=store, check=False)
            if p.returncode != 0:
                return ["repack beside the daemon failed: %s" % p.stderr.strip()]
            if not itest.DIGEST_RE.match(p.stdout.strip()):
                diffs.append("repack printed %r" % p.stdout)
            mp2, _ = s.mount("a-repacked", store)
            diffs += same_tree(mp2, src_a, rels_a)
            s.umount(mp2, wait_daemon=False)
            s.run("rm", "a-repacked", store=store)
            images, chunks = gc_counts(s.run("gc", store=store).stdout)
            if images != 1 or chunks:
                diffs.append("gc of the repacked copy removed %d images, %d chunks; expected its "
                             "index only (its chunks are A's)" % (images, chunks))
            return diffs

        def gc_keeps_mounted():
            diffs = []
            out = s.run("rm", "a", store=store).stdout
            if "removed a" not in out:
                diffs.append("rm printed %r" % out)
            images, chunks = gc_counts(s.run("gc", store=store).stdout)
            if images or chunks:
                diffs.append("gc removed %d images, %d chunks while A is mounted and B named"
                             % (images, chunks))
            diffs += same_tree(mp_a, src_a, rels_a)
            s.run("rm", "b", store=store)
            images, chunks = gc_counts(s.run("gc", store=store).stdout)
            if images != 1 or chunks == 0:
                diffs.append("gc after rm b removed %d images, %d chunks; expected B and its "
                             "chunks" % (images, chunks))
            diffs += same_tree(mp_a, src_a, rels_a)
            return diffs

        def clients_gone():
            diffs = []
            pid = s.daemon_pid(store)
            for _ in range(20):  # ask, and hang up before the answer
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.connect(os.path.join(store, "imgfs.sock"))
                c.sendall(b"GET /stats HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
                c.close()
            src_c = s.path("src-c")
            make_tree(src_c, 3, 160)
            p = subprocess.Popen([s.binary, "convert", "dir:" + src_c, "--tag", "c", "--store",
                                  store], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            p.kill()  # like Ctrl-C: the daemon's answer will find nobody
            p.wait()
            deadline = time.time() + 120
            while time.time() < deadline and s.daemon_pid(store) == pid and not re.search(
                    r"^c\s", s.run("ls", store=store).stdout, re.M):
                time.sleep(0.2)
            time.sleep(1)  # the answer to the killed client has been written by now
            if s.daemon_pid(store) != pid:
                diffs.append("the daemon died when its clients hung up")
                return diffs
            if not re.search(r"^c\s", s.run("ls", store=store).stdout, re.M):
                diffs.append("the conversion whose client was killed did not finish")
            diffs += same_tree(mp_a, src_a, ["bin/tool"])
            s.run("rm", "c", store=store)
            s.run("gc", store=store)
            return diffs

        def malformed_requests():
            diffs = []
            pid = s.daemon_pid(store)

            def ask(head, body):
                return ml.control_exchange(os.path.join(store, "imgfs.sock"), head + body, 30)

            for route, body in ((b"POST /cache", b'{"cache_size": "big"}'),
                                (b"POST /convert", b'{"source": 5, "tag": [1, 2]}'),
                                (b"POST /mount", b'{"image": 5, "mountpoint": "/x"}'),
                                (b"POST /rm", b'{"image": {"a": 1}}')):
                out = ask(route + b" HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body), body)
                if not out.startswith(b"HTTP/1.0 400") or b'"error"' not in out:
                    diffs.append("%s with %s answered %r" % (route, body, out[:120]))
            out = ask(b"GET /stats HTTP/1.0\r\nContent-Length: lots\r\n\r\n", b"")
            if not out.startswith(b"HTTP/1.0 400"):
                diffs.append("a bad Content-Length answered %r" % out[:120])
            if s.daemon_pid(store) != pid:
                diffs.append("the daemon died on a malformed request")
            else:
                diffs += same_tree(mp_a, src_a, ["etc/conf"])
            return diffs

        def gc_after_unmount():
            # The last mount: the daemon exits, and gc right away must wait for it to let go.
            s.umount(mp_a, wait_daemon=False)
            images, chunks = gc_counts(s.run("gc", store=store).stdout)
            diffs = []
            if images != 1 or chunks == 0:
                diffs.append("gc without a daemon removed %d images, %d chunks; expected A"
                             % (images, chunks))
            left = s.run("ls", store=store).stdout.strip().splitlines()
            if len(left) != 1:
                diffs.append("images left after removing both: %r" % left)
            return diffs

        ml.run_case(report, "convert while mounted", convert_while_mounted)
        ml.run_case(report, "convert error", convert_error)
        ml.run_case(report, "repack while mounted", repack_while_mounted)
        ml.run_case(report, "gc keeps mounted images", gc_keeps_mounted)
        ml.run_case(report, "clients gone", clients_gone)
        ml.run_case(report, "malformed requests", malformed_requests)
        ml.run_case(report, "gc after unmount", gc_after_unmount)
    report.exit()


if __name__ == "__main__":
    main()
