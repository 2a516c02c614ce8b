#!/usr/bin/python3
"""hostile_index: self-consistent hostile indexes (digest and checksum right, built by
hostile_index_tool) mounted from a file:// remote into the store of a good image, through the
same daemon, must harm neither that image nor the daemon.

  lying   the index names the good image's chunks (one kept in RocksDB, one in a data file) with
          a length one byte short: reading its files fails with EIO; the good mount still reads
          right; after everything is unmounted (the daemon exits) the good image, mounted again,
          reads right (its pinned chunks were not deleted).
  twice   the index names one chunk digest twice with two lengths: the mount is refused with an
          error naming the index, not mounted; the daemon and the good mount live on.
"""

import errno
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402


def make_source(root):
    rnd = random.Random(16)
    os.makedirs(root)
    # One chunk each (at most the chunker's 16 KiB minimum); random: stored raw. The small one
    # stays in RocksDB, the 16 KiB one goes to a data file.
    for name, size in (("small.bin", 5000), ("mid.bin", 16384)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(rnd.randbytes(size))


def read_errno(path):
    """None when the whole file reads, else the errno of the failure."""
    try:
        with open(path, "rb") as f:
            f.read()
        return None
    except OSError as e:
        return e.errno


def main():
    args = itest.parse_args(__doc__.splitlines()[0])
    ml.need_fuse()
    tool = os.environ.get("IMGFS_HOSTILE_INDEX_TOOL")
    if not tool or not os.access(tool, os.X_OK):
        itest.skip("hostile_index_tool not built (IMGFS_HOSTILE_INDEX_TOOL unset)")
    report = ml.Report()
    with ml.Session("hostile", args.imgfs) as s:
        src = s.path("src")
        make_source(src)
        store = s.store("shared")
        good = s.convert("dir:" + src, store, "good")
        remote = s.path("remote")
        files = [os.path.join(src, n) for n in ("small.bin", "mid.bin")]
        out = subprocess.run([tool, remote] + files, stdout=subprocess.PIPE, text=True,
                             check=True).stdout.split()
        digests = dict(zip(out[0::2], out[1::2]))
        url = "file://" + remote
        mp_good, _ = s.mount(good, store)

        def good_reads(mp):
            diffs = []
            for name in ("small.bin", "mid.bin"):
                path = os.path.join(mp, name)
                ml.drop_file_cache(path)
                err = read_errno(path)
                if err is not None:
                    diffs.append("%s of the good image fails to read: %s"
                                 % (name, errno.errorcode[err]))
                elif ml.sha256_file(path) != ml.sha256_file(os.path.join(src, name)):
                    diffs.append("%s of the good image does not read right" % name)
            return diffs

        def lying():
            diffs = good_reads(mp_good)
            mp, _ = s.mount(digests["lying"], store, remote=url)
            for i, name in enumerate(("small.bin", "mid.bin")):
                err = read_errno(os.path.join(mp, "f%d" % i))
                if err != errno.EIO:
                    diffs.append("reading the lying index's f%d (%s's chunk): %s, expected EIO"
                                 % (i, name, "success" if err is None else errno.errorcode[err]))
            diffs += ["after the lying read: " + d for d in good_reads(mp_good)]
            s.umount(mp)
            s.umount(mp_good)  # the daemon exits: nothing of the chunks stays in its memory
            mp_again, _ = s.mount(good, store)
            diffs += ["mounted again: " + d for d in good_reads(mp_again)]
            return diffs, mp_again

        state = {}

        def lying_case():
            diffs, state["mp"] = lying()
            return diffs

        def twice_case():
            mp_good_now = state.get("mp") or s.mount(good, store)[0]
            mp = s.path("mnt-twice")
            os.makedirs(mp)
            s.mounts[mp] = store  # cleaned up should it mount after all
            proc = s.run("mount", digests["twice"], mp, "--remote", url, store=store,
                         check=False, timeout=120)
            diffs = []
            if proc.returncode == 0 or ml.is_mounted(mp):
                diffs.append("the index naming one chunk twice was mounted")
                err = read_errno(os.path.join(mp, "b"))
                diffs.append("and reading its file b gave %s" % (
                    "success" if err is None else errno.errorcode[err]))
            else:
                s.mounts.pop(mp, None)
                msg = proc.stderr.strip()
                print("  refused: %s" % msg)
                if "index" not in msg:
                    diffs.append("the refusal does not name the index: %r" % msg)
            diffs += ["after the refused mount: " + d for d in good_reads(mp_good_now)]
            if s.daemon_pid(store) is None:
                diffs.append("the daemon is gone")
            return diffs

        ml.run_case(report, "lying-length", lying_case)
        ml.run_case(report, "digest-twice", twice_case)
    report.exit()


if __name__ == "__main__":
    main()
