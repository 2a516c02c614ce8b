#!/usr/bin/python3
"""mount_vs_umoci: the tree a FUSE mount shows must be the tree `umoci unpack` writes.

Through the real kernel: every byte, mode, owner, size, mtime, xattr, link target, hardlink
group and device number (treecmp.py), for the feature image (feature_images.py) and the cached
Debian image of export_debian.py (skipped with a note when it is not cached and cannot be
built). Each image is compared twice: mounted from the local store it was converted into, and
mounted by digest from a file:// remote into an empty store (every chunk fetched lazily).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402
from itest import mkimage, treecmp  # noqa: E402
import feature_images as fi  # noqa: E402


def debian_layout(work):
    """The Debian OCI layout of export_debian.py (cached); None when it cannot be had."""
    import export_debian
    cache = os.environ.get("IMGFS_TEST_CACHE", "/var/cache/imgfs-test")
    cached = os.path.join(cache, "debian-layout-" + export_debian.LAYOUT_VERSION)
    if not os.path.exists(os.path.join(cached, "index.json")) and os.environ.get(
            "IMGFS_MOUNT_NO_DEBOOTSTRAP"):
        return None
    try:
        return export_debian.layout(export_debian.cache_dir(), work)
    except SystemExit:  # export_debian skips (no debootstrap / network)
        return None


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    itest.need_tools("umoci")
    report = ml.Report()
    with ml.Session("vs-umoci", args.imgfs) as s:
        layout = s.path("layout")
        mkimage.build_layout(layout, [dict(tag="features", layers=fi.features("gzip"))])
        images = [("features", layout, "features")]
        t0 = time.time()
        deb = debian_layout(s.path())
        if deb:
            images.append(("debian", deb, "debian"))
            print("debian layout ready in %.1fs" % (time.time() - t0), flush=True)
        else:
            print("NOTE: debian case skipped: no cached debian layout and debootstrap failed")

        local = s.store("local")
        remote_dir = s.path("remote")
        remote = "file://" + remote_dir
        for name, oci, tag in images:
            ref, start = itest.umoci_unpack(oci, tag, s.path("ref-" + name))
            digest = s.convert("oci:%s:%s" % (oci, tag), local, name)

            def local_case():
                mp, got = s.mount(name, local)
                ml.check(got == digest, "mount printed %s, convert %s" % (got, digest))
                diffs = treecmp.compare(ref, mp, start)
                st = s.stats(mp)
                ml.check(st["read_errors"] == 0, "read_errors=%d" % st["read_errors"])
                ml.check(st["bytes_fetched"] == 0, "a local mount fetched %d bytes"
                         % st["bytes_fetched"])
                s.umount(mp)
                return diffs

            def remote_case():
                s.push(digest, remote, local)
                mp, got = s.mount(digest, s.store("empty-" + name), remote=remote)
                ml.check(got == digest, "mount printed %s, push %s" % (got, digest))
                diffs = treecmp.compare(ref, mp, start)
                st = s.stats(mp)
                ml.check(st["read_errors"] == 0, "read_errors=%d" % st["read_errors"])
                ml.check(st["bytes_fetched"] > 0, "nothing fetched from the remote")
                s.umount(mp)
                return diffs

            ml.run_case(report, name + "-local", local_case)
            ml.run_case(report, name + "-remote", remote_case)
    report.exit()


if __name__ == "__main__":
    main()
