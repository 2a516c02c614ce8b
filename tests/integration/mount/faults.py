#!/usr/bin/python3
"""faults: a mount under a small cache, a remote serving wrong bytes, a remote that goes away,
damaged bytes in the local store, and a daemon killed with SIGKILL.

  eviction      --cache-size 8M, a 96 MiB random file read whole: every byte right,
                evictions > 0, cached_bytes <= cap + one chunk; the first 8 MiB read again
                (evicted from the store and from the 64 MiB memory cache) come back right and
                are fetched again.
  wrong-bytes   countserver.py inverts the bytes of one chunk: reading it fails with EIO, never
                with wrong bytes; verify_failures >= 1 and the chunk was asked for twice (one
                refetch); the rest of the file reads fine; with the server fixed the same read
                succeeds.
  remote-down   after reading part of the image the server is killed: cached data is still
                served (page cache dropped first), metadata still works, an uncached read fails
                with EIO within 60 s (`timeout 120 dd`, not a hang), fetch_errors >= 1.
  umount-busy   a read waits on a remote that answers after 30 s: `imgfs umount` must return
                within 15 s (not after the fetch's retries), the reader gets an error, nothing
                stays mounted.
  local-damage  one byte of the store's first data file is flipped while no daemon runs. Cached
                chunks (fetched from the remote): the file still reads right, the damaged copy
                counted (local_corruptions >= 1) and fetched again; then the data file is cut
                short under the running daemon: the daemon lives, the file reads right again. Converted chunks (no remote):
                exactly one file fails with EIO, every other file reads right, none returns
                wrong bytes.
  kill-9        the daemon (supervisor and worker; a worker alone is restarted, crash.py) is
                killed with SIGKILL: the mountpoint answers ENOTCONN, `imgfs umount` detaches it,
                and a new mount at the same place serves the image again.
"""

import errno
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402

MiB = 1 << 20


def make_source(root):
    rnd = random.Random(5)
    os.makedirs(os.path.join(root, "data"))
    sizes = {"big.bin": 96 * MiB, "victim.bin": 2 * MiB, "a.bin": 1 * MiB, "b.bin": 3 * MiB,
             "c.bin": 2 * MiB}
    for name, size in sizes.items():
        with open(os.path.join(root, "data", name), "wb") as f:
            f.write(rnd.randbytes(size))


def read_range(path, off, n):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, n, off)
    finally:
        os.close(fd)


def host_bytes(src, rel, off=0, n=None):
    with open(os.path.join(src, rel), "rb") as f:
        f.seek(off)
        return f.read() if n is None else f.read(n)


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("faults", args.imgfs) as s:
        src = s.path("src")
        make_source(src)
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "faults")
        srv = s.start_server()
        url = srv.url + "/repo"
        s.push(digest, url, local)
        index = ml.load_index(os.path.join(srv.root, "repo"), digest)
        max_chunk = index.max_chunk_stored()

        def eviction():
            cap = 8 * MiB
            # The daemon's decoded chunks in memory (256 MiB by default) would serve the reread
            # below without the store: 1 MiB of them, so the reread shows the store's eviction.
            os.environ["IMGFS_MEMORY_CACHE"] = "1M"
            try:
                mp, _ = s.mount(digest, s.store("evict"), remote=url, cache_size="8M")
            finally:
                del os.environ["IMGFS_MEMORY_CACHE"]
            path = os.path.join(mp, "data/big.bin")
            ml.check(ml.sha256_file(path) == ml.sha256_file(os.path.join(src, "data/big.bin")),
                     "big.bin differs through a mount with an 8 MiB cache")
            st = s.stats(mp)
            diffs = []
            if st["cache.evictions"] <= 0:
                diffs.append("no evictions after reading 96 MiB into an 8 MiB cache")
            if st["cache.cached_bytes"] > cap + max_chunk:
                diffs.append("cached_bytes %d > cap %d + one chunk %d"
                             % (st["cache.cached_bytes"], cap, max_chunk))
            if st["bytes_fetched"] != index.file_stored_bytes("data/big.bin"):
                diffs.append("first read fetched %d, file is %d stored bytes"
                             % (st["bytes_fetched"], index.file_stored_bytes("data/big.bin")))
            ml.drop_file_cache(path)
            got = read_range(path, 0, 8 * MiB)
            if got != host_bytes(src, "data/big.bin", 0, 8 * MiB):
                diffs.append("reread of the first 8 MiB after eviction differs")
            st2 = s.stats(mp)
            if st2["bytes_fetched"] - st["bytes_fetched"] < 7 * MiB:
                diffs.append("reread of 8 MiB evicted data fetched only %d bytes"
                             % (st2["bytes_fetched"] - st["bytes_fetched"]))
            if st2["cache.cached_bytes"] > cap + max_chunk:
                diffs.append("after reread cached_bytes %d > cap + one chunk"
                             % st2["cache.cached_bytes"])
            print("  evictions %d, bytes_evicted %d, cached_bytes %d, refetched %d"
                  % (st2["cache.evictions"], st2["cache.bytes_evicted"],
                     st2["cache.cached_bytes"], st2["bytes_fetched"] - st["bytes_fetched"]))
            s.umount(mp)
            return diffs

        def wrong_bytes():
            rel = "data/victim.bin"
            chunks = index.file_chunks(rel)
            c = index.chunk(chunks[len(chunks) // 2])
            pack_hex = index.pack(c["pack"])["digest"]
            obj = "/repo/blobs/sha256/" + pack_hex
            first, last = c["offset"], c["offset"] + c["stored"] - 1
            # The file offset of the bad chunk.
            foff = 0
            for k in chunks:
                if index.chunk(k)["digest"] == c["digest"]:
                    break
                foff += index.chunk(k)["raw"]
            mp, _ = s.mount(digest, s.store("wrong"), remote=url)
            path = os.path.join(mp, rel)
            srv.reset()
            srv.fault(corrupt=[[obj, first, last]])
            diffs = []
            try:
                try:
                    got = read_range(path, foff, c["raw"])
                    diffs.append("read of a chunk served corrupt returned %d bytes (%s) "
                                 "instead of EIO" % (len(got), "right bytes" if got == host_bytes(
                                     src, rel, foff, c["raw"]) else "WRONG bytes"))
                except OSError as e:
                    if e.errno != errno.EIO:
                        diffs.append("read of a corrupt chunk failed with %s, not EIO"
                                     % errno.errorcode.get(e.errno, e.errno))
                asks = sum(1 for h, f, l in srv.pack_gets()
                           if h == pack_hex and f <= first and last <= l)
                if asks < 2:
                    diffs.append("the corrupt chunk was requested %d time(s), expected a refetch"
                                 % asks)
                st = s.stats(mp)
                if st["verify_failures"] < 1:
                    diffs.append("verify_failures=%d after a corrupt chunk" % st["verify_failures"])
                if st["read_errors"] < 1:
                    diffs.append("read_errors=%d after an EIO" % st["read_errors"])
                # Another chunk of the same file, away from the bad one, still reads.
                if foff >= 256 << 10:
                    if read_range(path, 0, 64 << 10) != host_bytes(src, rel, 0, 64 << 10):
                        diffs.append("a good chunk of the same file read wrong")
            finally:
                srv.fault()
            ml.drop_file_cache(path)
            if read_range(path, foff, c["raw"]) != host_bytes(src, rel, foff, c["raw"]):
                diffs.append("with the server fixed, the chunk still does not read right")
            if ml.sha256_file(path) != ml.sha256_file(os.path.join(src, rel)):
                diffs.append("with the server fixed, the whole file differs")
            s.umount(mp)
            return diffs

        def remote_down():
            srv2 = s.start_server(root=srv.root)  # same objects, a server we may kill
            url2 = srv2.url + "/repo"
            mp, _ = s.mount(digest, s.store("down"), remote=url2)
            a, b, c = (os.path.join(mp, "data", n) for n in ("a.bin", "b.bin", "c.bin"))
            ml.check(ml.sha256_file(a) == ml.sha256_file(os.path.join(src, "data/a.bin")),
                     "a.bin differs before the server went down")
            half = read_range(b, 0, 1 * MiB)
            ml.check(half == host_bytes(src, "data/b.bin", 0, 1 * MiB), "b.bin differs")
            srv2.stop()
            diffs = []
            ml.drop_file_cache(a)
            ml.drop_file_cache(b)
            if ml.sha256_file(a) != ml.sha256_file(os.path.join(src, "data/a.bin")):
                diffs.append("cached a.bin does not read right with the remote down")
            if read_range(b, 0, 512 << 10) != host_bytes(src, "data/b.bin", 0, 512 << 10):
                diffs.append("cached part of b.bin does not read right with the remote down")
            if sorted(os.listdir(os.path.join(mp, "data"))) != sorted(os.listdir(
                    os.path.join(src, "data"))):
                diffs.append("listing differs with the remote down")
            t0 = time.time()
            proc = subprocess.run(["timeout", "120", "dd", "if=" + c, "of=/dev/null", "bs=1M"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            took = time.time() - t0
            if proc.returncode == 0:
                diffs.append("reading uncached c.bin succeeded with the remote down")
            elif proc.returncode == 124:
                diffs.append("reading uncached c.bin hung for 120 s with the remote down")
            elif "Input/output error" not in proc.stdout:
                diffs.append("uncached read failed but not with EIO: %s" % proc.stdout.strip())
            if took >= 60:
                diffs.append("the failing read took %.1f s (bound 60 s)" % took)
            st = s.stats(mp)
            if st["fetch_errors"] < 1:
                diffs.append("fetch_errors=%d with the remote down" % st["fetch_errors"])
            print("  uncached read with the remote down failed after %.1f s: %s"
                  % (took, proc.stdout.strip().splitlines()[:1]))
            s.umount(mp)
            return diffs

        def umount_busy():
            srv3 = s.start_server(root=srv.root)
            store = s.store("busy")
            mp, _ = s.mount(digest, store, remote=srv3.url + "/repo")
            srv3.fault(delay_ms=30000)
            reader = subprocess.Popen(["dd", "if=" + os.path.join(mp, "data/b.bin"),
                                       "of=/dev/null", "bs=1M"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            diffs = []
            try:
                time.sleep(1)
                t0 = time.time()
                proc = s.run("umount", mp, store=store, check=False, timeout=200)
                took = time.time() - t0
                if proc.returncode != 0:
                    diffs.append("imgfs umount exited %d: %s" % (proc.returncode, proc.stderr.strip()))
                if took > 15:
                    diffs.append("imgfs umount took %.1f s while a read waited on a slow remote "
                                 "(bound 15 s)" % took)
                if ml.is_mounted(mp):
                    diffs.append("still mounted after imgfs umount")
                else:
                    s.mounts.pop(mp, None)
                try:
                    rc = reader.wait(timeout=120)
                    if rc == 0:
                        diffs.append("the reader succeeded although the mount went away")
                except subprocess.TimeoutExpired:
                    diffs.append("the reader still blocked 120 s after umount")
                print("  umount with a read in flight took %.1f s" % took)
            finally:
                if reader.poll() is None:
                    reader.kill()
                    reader.wait()
                srv3.stop()
            return diffs

        def flip_byte(store, offset=100):
            # The first chunk appended to a store's first data file starts at byte 0 and is at
            # least 16 KiB long (random data: stored raw, so in the data files).
            path = os.path.join(store, "data", "00000001.dat")
            with open(path, "r+b") as f:
                f.seek(offset)
                b = f.read(1)
                f.seek(offset)
                f.write(bytes([b[0] ^ 0xFF]))

        def local_damage():
            diffs = []
            rel = "data/c.bin"
            store = s.store("damage")
            mp, _ = s.mount(digest, store, remote=url)
            ml.check(ml.sha256_file(os.path.join(mp, rel)) == ml.sha256_file(os.path.join(src, rel)),
                     "c.bin differs before any damage")
            s.umount(mp)  # the daemon exits; the cached chunks stay in the store
            flip_byte(store)
            srv.reset()
            mp, _ = s.mount(digest, store, remote=url)
            if ml.sha256_file(os.path.join(mp, rel)) != ml.sha256_file(os.path.join(src, rel)):
                diffs.append("c.bin read wrong after one of its cached chunks was damaged")
            st = s.stats(mp)
            if st["local_corruptions"] < 1:
                diffs.append("local_corruptions=%d after a damaged cached chunk was read"
                             % st["local_corruptions"])
            if not srv.pack_gets():
                diffs.append("the damaged cached chunk was not fetched again")
            # Cut short under the running daemon: reading its mapping faults (SIGBUS), which must
            # become a refetch, not a dead daemon.
            before = s.stats(mp)["local_corruptions"]
            os.truncate(os.path.join(store, "data", "00000001.dat"), 4096)
            path = os.path.join(mp, rel)
            ml.drop_file_cache(path)
            try:
                if ml.sha256_file(path) != ml.sha256_file(os.path.join(src, rel)):
                    diffs.append("c.bin read wrong after its data file was cut short")
            except OSError as e:
                diffs.append("c.bin failed after its data file was cut short: %s" % e)
            if not s.daemon_pid(store):
                diffs.append("the daemon died when its data file was cut short")
            elif s.stats(mp)["local_corruptions"] <= before:
                diffs.append("a data file cut short was not noticed (local_corruptions unchanged)")
            s.umount(mp)

            pinned = s.store("damage-local")
            s.convert("dir:" + src, pinned, "faults")
            flip_byte(pinned)
            mp, _ = s.mount("faults", pinned)
            failed = []
            for name in sorted(os.listdir(os.path.join(src, "data"))):
                rel = "data/" + name
                try:
                    if ml.sha256_file(os.path.join(mp, rel)) != ml.sha256_file(
                            os.path.join(src, rel)):
                        diffs.append("%s read WRONG bytes from a damaged local store" % rel)
                except OSError as e:
                    if e.errno != errno.EIO:
                        diffs.append("%s failed with %s, expected EIO"
                                     % (rel, errno.errorcode.get(e.errno, e.errno)))
                    failed.append(rel)
            if len(failed) != 1:
                diffs.append("%d files failed to read after one damaged converted chunk: %s"
                             % (len(failed), failed))
            print("  damaged converted chunk: %s fails with EIO, the others read right"
                  % ", ".join(failed))
            s.umount(mp)
            return diffs

        def kill9():
            store = s.store("kill9")
            # A local store with the image in it (converted, chunks pinned).
            s.convert("dir:" + src, store, "faults")
            mp, _ = s.mount("faults", store)
            path = os.path.join(mp, "data/a.bin")
            ml.check(read_range(path, 0, 4096) == host_bytes(src, "data/a.bin", 0, 4096),
                     "a.bin differs before the kill")
            # Supervisor and worker: a killed worker alone is restarted (crash.py).
            s.kill_daemon(store)
            diffs = []
            # stat() of the root may be answered from the kernel's attribute cache; a listing
            # and an open must go to the (dead) daemon.
            for what, fn in (("listdir", lambda: os.listdir(mp)),
                             ("open", lambda: os.close(os.open(os.path.join(mp, "data/b.bin"),
                                                               os.O_RDONLY)))):
                try:
                    fn()
                    diffs.append("%s of the mountpoint succeeded after the daemon was killed"
                                 % what)
                except OSError as e:
                    if e.errno != errno.ENOTCONN:
                        diffs.append("%s after kill -9: %s, expected ENOTCONN"
                                     % (what, errno.errorcode.get(e.errno, e.errno)))
            proc = s.run("umount", mp, store=store, check=False, timeout=60)
            if proc.returncode != 0:
                diffs.append("imgfs umount after kill -9 exited %d: %s"
                             % (proc.returncode, proc.stderr.strip()))
            if ml.is_mounted(mp):
                diffs.append("still mounted after imgfs umount")
                subprocess.run(["umount", "-l", mp])
            s.mounts.pop(mp, None)
            mp2, _ = s.mount("faults", store, mountpoint=mp)
            if ml.sha256_file(os.path.join(mp2, "data/c.bin")) != ml.sha256_file(
                    os.path.join(src, "data/c.bin")):
                diffs.append("the new mount after kill -9 does not serve c.bin right")
            s.umount(mp2)
            return diffs

        ml.run_case(report, "eviction", eviction)
        ml.run_case(report, "wrong-bytes", wrong_bytes)
        ml.run_case(report, "remote-down", remote_down)
        ml.run_case(report, "umount-busy", umount_busy)
        ml.run_case(report, "local-damage", local_damage)
        ml.run_case(report, "kill-9", kill9)
    report.exit()


if __name__ == "__main__":
    main()
