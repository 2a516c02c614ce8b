#!/usr/bin/python3
"""lazy_fetch: metadata never touches the network, and reading a file fetches its chunks only.

An image (random and compressible files, many small files, symlinks, xattrs, nested dirs) is
converted, pushed to countserver.py on 127.0.0.1 (which logs every ranged GET), and mounted by
digest with an empty store. `ls -lR`, lstat of every entry, readlink of every symlink and every
xattr of the tree (getfattr -R -d when installed, else listxattr/getxattr) must fetch nothing but
the index: 0 pack bytes at the server, bytes_fetched = cache_misses = 0. Reading one file must
fetch exactly the stored bytes of that file's chunks (from the index, docs/index-format.md):
every GET lies inside those chunks, every chunk is fetched, and the daemon's bytes_fetched agrees
with the server.

A second mount of the image fetches no index again, and after the mounts the store lists it
(the daemon writes a fetched index to the store after the mount has answered).

Xattrs: the image's are served (a name it lacks: ENODATA). An image without a single xattr
answers getxattr with ENOSYS once, so the kernel answers every later one itself: EOPNOTSUPP, also
through an overlay on the mount, while listxattr still lists nothing and the overlay reads as
the image.
"""

import errno
import os
import random
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402


def make_source(root):
    rnd = random.Random(7)
    os.makedirs(os.path.join(root, "data", "sub"))
    os.makedirs(os.path.join(root, "etc"))
    files = {"data/big.bin": 3 << 20, "data/mid.bin": 700 << 10, "data/sub/deep.bin": 1 << 20,
             "etc/small.conf": 300}
    for rel, size in files.items():
        with open(os.path.join(root, rel), "wb") as f:
            f.write(rnd.randbytes(size))
    with open(os.path.join(root, "data", "text.log"), "w") as f:
        for i in range(60000):
            f.write("line %d: the quick brown fox jumps over the lazy dog\n" % i)
    many = os.path.join(root, "many")
    for d in range(10):
        os.makedirs(os.path.join(many, "d%d" % d))
        for i in range(30):
            with open(os.path.join(many, "d%d" % d, "f%d" % i), "wb") as f:
                f.write(rnd.randbytes(rnd.randrange(1, 5000)))
    os.symlink("data/big.bin", os.path.join(root, "link-big"))
    os.symlink("/nowhere/at/all", os.path.join(root, "dangling"))
    os.link(os.path.join(root, "data/mid.bin"), os.path.join(root, "mid-hardlink"))
    os.setxattr(os.path.join(root, "data/mid.bin"), "user.kind", b"mid")
    os.setxattr(os.path.join(root, "etc"), "user.dir", b"yes")
    os.chmod(os.path.join(root, "etc/small.conf"), 0o600)


def walk_metadata(mp):
    """Everything but reading file content: listings, lstat, readlink, xattrs."""
    subprocess.run(["ls", "-lRa", "--full-time", mp], stdout=subprocess.DEVNULL, check=True)
    n = 0
    for dirpath, dirnames, filenames in os.walk(mp):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            n += 1
            if stat.S_ISLNK(st.st_mode):
                os.readlink(p)
            for x in os.listxattr(p, follow_symlinks=False):
                os.getxattr(p, x, follow_symlinks=False)
    os.statvfs(mp)
    if shutil.which("getfattr"):
        subprocess.run(["getfattr", "-R", "-P", "-d", "-m", "-", mp], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if shutil.which("stat"):
        subprocess.run(["find", mp, "-exec", "stat", "{}", "+"], stdout=subprocess.DEVNULL,
                       check=True)
    return n


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("lazy", args.imgfs) as s:
        src = s.path("src")
        make_source(src)
        local = s.store("local")
        digest = s.convert("dir:" + src, local, "lazy")
        srv = s.start_server()
        url = srv.url + "/repo"
        s.push(digest, url, local)
        index = ml.load_index(os.path.join(srv.root, "repo"), digest)
        srv.reset()
        mp, _ = s.mount(digest, s.store("empty"), remote=url)

        def metadata_case():
            n = walk_metadata(mp)
            ml.check(n > 300, "walked only %d entries" % n)
            st = s.stats(mp)
            gets = srv.pack_gets()
            index_hex = digest.split(":")[1]
            pack_bytes = sum(l - f + 1 for h, f, l in gets if h != index_hex)
            diffs = []
            if pack_bytes:
                diffs.append("metadata walk fetched %d pack bytes in %d GETs" % (pack_bytes, len(gets)))
            for k in ("bytes_fetched", "cache_misses", "fetch_requests", "reads"):
                if st[k]:
                    diffs.append("metadata walk: %s=%d, expected 0" % (k, st[k]))
            return diffs

        def read_case(rel):
            def case():
                srv.reset()
                before = s.stats(mp)
                with open(os.path.join(src, rel), "rb") as f:
                    want = f.read()
                with open(os.path.join(mp, rel), "rb") as f:
                    got = f.read()
                ml.check(got == want, "%s: content differs through the mount" % rel)
                after = s.stats(mp)
                chunks = index.file_chunks(rel)
                spans = ml.chunk_spans(index, chunks)
                expected = sum(b - a for _, a, b in spans)
                counts, outside = ml.coverage(spans, srv.pack_gets())
                server_bytes = sum(l - f + 1 for _, f, l in srv.pack_gets())
                fetched = after["bytes_fetched"] - before["bytes_fetched"]
                diffs = []
                if outside:
                    diffs.append("%d fetched bytes lie outside %s's chunks" % (outside, rel))
                missing = [sp for sp, c in counts.items() if c == 0]
                if missing:
                    diffs.append("%d of %d chunks of %s never fetched" % (len(missing), len(spans), rel))
                if server_bytes != expected:
                    diffs.append("server sent %d pack bytes; %s's chunks are %d stored bytes"
                                 % (server_bytes, rel, expected))
                if fetched != server_bytes:
                    diffs.append("daemon bytes_fetched grew by %d, server sent %d"
                                 % (fetched, server_bytes))
                misses = after["cache_misses"] - before["cache_misses"]
                if misses != len(spans):
                    diffs.append("cache_misses grew by %d, file has %d distinct chunks"
                                 % (misses, len(spans)))
                ml.check(expected > 0 and fetched > 0, "nothing fetched for %s" % rel)
                # Bound from the brief, independent of the exact layout.
                if fetched > index.file_stored_bytes(rel) + index.max_chunk_stored():
                    diffs.append("fetched %d > file's stored %d + one max chunk"
                                 % (fetched, index.file_stored_bytes(rel)))
                print("  %s: %d bytes, %d chunks, %d stored bytes, %d fetched in %d GETs"
                      % (rel, len(want), len(spans), expected, fetched, len(srv.pack_gets())))
                return diffs
            return case

        ml.run_case(report, "metadata-fetches-nothing", metadata_case)
        ml.run_case(report, "read-one-file", read_case("data/mid.bin"))
        ml.run_case(report, "read-big-file", read_case("data/big.bin"))
        ml.run_case(report, "read-compressible-file", read_case("data/text.log"))
        ml.run_case(report, "read-small-file", read_case("many/d3/f17"))

        def xattrs_case():
            diffs = []
            got = os.getxattr(os.path.join(mp, "data/mid.bin"), "user.kind")
            if got != b"mid":
                diffs.append("user.kind of data/mid.bin is %r, not b'mid'" % got)
            try:
                os.getxattr(os.path.join(mp, "data/mid.bin"), "user.absent")
                diffs.append("an absent xattr was served")
            except OSError as e:
                if e.errno != errno.ENODATA:
                    diffs.append("absent xattr: %s, expected ENODATA" % e)
            plain = s.path("plain")
            os.makedirs(os.path.join(plain, "etc"))
            with open(os.path.join(plain, "etc", "conf"), "w") as f:
                f.write("plain\n")
            plain_store = s.store("plain")
            pmp, _ = s.mount(s.convert("dir:" + plain, plain_store, "plain"), plain_store)
            ov = s.path("ov")
            for d in ("upper", "work", "root"):
                os.makedirs(os.path.join(ov, d))
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (pmp, ov, ov),
                            os.path.join(ov, "root")], check=True)
            try:
                for root in (pmp, os.path.join(ov, "root")):
                    path = os.path.join(root, "etc", "conf")
                    with open(path) as f:
                        if f.read() != "plain\n":
                            diffs.append("%s reads wrong" % path)
                    if os.listxattr(path):
                        diffs.append("%s lists xattrs %r" % (path, os.listxattr(path)))
                    for _ in range(2):
                        try:
                            os.getxattr(path, "user.any")
                            diffs.append("%s: getxattr succeeded" % path)
                        except OSError as e:
                            if e.errno != errno.EOPNOTSUPP:
                                diffs.append("%s: getxattr %s, expected EOPNOTSUPP" % (path, e))
            finally:
                subprocess.run(["umount", os.path.join(ov, "root")], check=True)
                s.umount(pmp)
            return diffs

        ml.run_case(report, "xattrs", xattrs_case)

        # The fetched index is written to the store after the mount answers: a second mount of
        # the image while the first is up fetches no index again (from memory or the store),
        # and once the daemon is gone the store lists the image.
        def index_kept_case():
            index_hex = digest.split(":")[1]
            srv.reset()
            mp2, _ = s.mount(digest, s.store("empty"), remote=url)
            diffs = []
            again = [r for r in srv.requests() if r[0] == "GET" and index_hex in r[1]]
            if again:
                diffs.append("the second mount fetched the index again: %r" % again)
            s.umount(mp2)
            s.umount(mp)
            listed = s.run("ls", store=s.store("empty")).stdout
            if digest not in listed:
                diffs.append("after the mounts, the store does not list %s: %r" % (digest, listed))
            return diffs

        ml.run_case(report, "index-kept", index_kept_case)
        if ml.is_mounted(mp):
            s.umount(mp)
    report.exit()


if __name__ == "__main__":
    main()
