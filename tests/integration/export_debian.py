#!/usr/bin/python3
"""export_debian: a real Debian image (bookworm minbase) converted and exported must equal
`umoci unpack` of it, both as a tree and as a tar.

The image has two gzip layers: the debootstrap rootfs (GNU tar, --xattrs --sparse
--numeric-owner), then a layer made by diffing that rootfs against a modified copy
(apt-get clean and deleted docs/man pages: whiteouts on real data, directory whiteouts,
edited files, a capability xattr, a setuid change, new files copied from /usr/lib: chunks
already in the store). The debootstrap result and the OCI layout are cached under
$IMGFS_TEST_CACHE (default /var/cache/imgfs-test); with a warm cache no network is used.
"""

import os
import shutil
import subprocess
import time

import itest
from itest import mkimage, treecmp

MIRROR = os.environ.get("IMGFS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
LAYOUT_VERSION = "v1"  # bump when the second layer's recipe changes


def cache_dir():
    path = os.environ.get("IMGFS_TEST_CACHE", "/var/cache/imgfs-test")
    os.makedirs(path, exist_ok=True)
    return path


def base_tar(cache):
    """CACHE/bookworm-minbase.tar, made by debootstrap on first use."""
    tar_path = os.path.join(cache, "%s-minbase.tar" % SUITE)
    if os.path.exists(tar_path):
        return tar_path
    itest.need_tools("debootstrap")
    root = os.path.join(cache, "debootstrap-%d" % os.getpid())
    print("debootstrap %s into %s (first run only)" % (SUITE, root), flush=True)
    proc = subprocess.run(["debootstrap", "--variant=minbase", SUITE, root, MIRROR],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        itest.skip("debootstrap failed (no network to %s?): %s"
                   % (MIRROR, proc.stdout.strip().splitlines()[-1:]))
    mkimage.pack_rootfs_tar(root, tar_path + ".tmp")
    os.rename(tar_path + ".tmp", tar_path)
    shutil.rmtree(root)
    return tar_path


def modify(root):
    """What a second Dockerfile step might do to the base rootfs."""
    for sub in ("var/cache/apt/archives",):
        for name in os.listdir(os.path.join(root, sub)):
            if name.endswith(".deb"):
                os.unlink(os.path.join(root, sub, name))          # apt-get clean
    shutil.rmtree(os.path.join(root, "usr/share/man"))           # whole-dir whiteout
    doc = os.path.join(root, "usr/share/doc")
    for name in sorted(os.listdir(doc))[::2]:                    # some entries, not the dir
        path = os.path.join(doc, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    with open(os.path.join(root, "etc/os-release"), "a") as f:
        f.write('VARIANT="imgfs test"\n')
    with open(os.path.join(root, "etc/passwd"), "a") as f:
        f.write("app:x:100000:100000::/opt/app:/bin/sh\n")
    app = os.path.join(root, "opt/app")
    os.makedirs(os.path.join(app, "lib"))
    libdir = os.path.join(root, "usr/lib/x86_64-linux-gnu")
    if not os.path.isdir(libdir):
        libdir = os.path.join(root, "usr/lib")
    for name in sorted(os.listdir(libdir))[:40]:
        src = os.path.join(libdir, name)
        if os.path.isfile(src) and not os.path.islink(src):
            shutil.copy2(src, os.path.join(app, "lib", name))     # same bytes as layer 0
    os.link(os.path.join(root, "etc/os-release"), os.path.join(app, "os-release"))
    os.chown(app, 100000, 100000)
    os.setxattr(os.path.join(root, "usr/bin/bash"), "security.capability",
                bytes.fromhex("0100000200200000000000000000000000000000"))
    os.chmod(os.path.join(root, "usr/bin/tail"), 0o4755)
    os.utime(os.path.join(root, "etc"), ns=(1700000000123456789, 1700000000123456789))


def layout(cache, work):
    """CACHE/debian-layout-VERSION with tag "debian", built on first use."""
    path = os.path.join(cache, "debian-layout-" + LAYOUT_VERSION)
    if os.path.exists(os.path.join(path, "index.json")):
        return path
    tar_path = base_tar(cache)
    lower, upper = os.path.join(work, "lower"), os.path.join(work, "upper")
    os.makedirs(lower)
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf",
                    tar_path, "-C", lower], check=True)
    subprocess.run(["cp", "-a", lower, upper], check=True)
    modify(upper)
    layer1 = os.path.join(work, "layer1.tar")
    changed, removed = mkimage.diff_layer(lower, upper, layer1)
    print("layer 1: %d changed entries, %d whiteouts" % (changed, removed), flush=True)
    tmp = path + ".tmp-%d" % os.getpid()
    mkimage.image_from_tars(tmp, "debian", [tar_path, layer1], "gzip")
    os.rename(tmp, path)
    shutil.rmtree(lower)
    shutil.rmtree(upper)
    return path


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    itest.need_root()
    itest.need_tools("umoci", "tar")
    report = itest.Report()
    cache = cache_dir()
    with itest.Workdir("debian") as w:
        t0 = time.time()
        oci = layout(cache, w.path)
        print("image ready in %.1fs" % (time.time() - t0), flush=True)
        t0 = time.time()
        ref, start = itest.umoci_unpack(oci, "debian", w("ref"))
        print("umoci unpack: %.1fs" % (time.time() - t0), flush=True)
        imgfs = itest.Imgfs(args.imgfs, w("store"))
        try:
            t0 = time.time()
            digest = imgfs.convert("oci:%s:debian" % oci, tag="debian")
            print("imgfs convert: %.1fs" % (time.time() - t0), flush=True)
            t0 = time.time()
            imgfs.export("debian", w("out"))
            print("imgfs export: %.1fs" % (time.time() - t0), flush=True)
            report.case("debian-export", treecmp.compare(ref, w("out"), start))
            shutil.rmtree(w("out"))
            t0 = time.time()
            imgfs.export_tar(digest, w("out.tar"))
            itest.tar_extract(w("out.tar"), w("tar-out"))
            print("imgfs export --tar + extract: %.1fs" % (time.time() - t0), flush=True)
            report.case("debian-export-tar", treecmp.compare(ref, w("tar-out"), start))
        except (itest.CommandFailed, AssertionError, subprocess.CalledProcessError) as e:
            report.error("debian", e)
    report.exit()


if __name__ == "__main__":
    main()
