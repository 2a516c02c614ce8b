#!/usr/bin/python3
"""run_programs: programs run from a mounted image (chroot), from the local store and lazily from
a remote.

  busybox   a busybox root (static /bin/busybox and its applets, like tools/demo.sh, plus an app
            layer with a script, a 3 MB random file and a hardlink), as a two-layer OCI image:
            `chroot MNT /bin/sh -c ...` runs applets, a script, sha256sum; output checked.
  python3   a Debian bookworm image with python3: `chroot MNT python3 -c 'import json; ...'`.
            The image is CACHE/bookworm-python3.tar (IMGFS_TEST_CACHE, default
            /var/cache/imgfs-test), or else tag debian-python of /var/cache/imgfs-bench/oci
            (tools/build-debian-images.sh), or else made by debootstrap --variant=minbase
            --include=python3 and cached as that tar. Skipped (with a note) when neither can be had.
Each image is run twice: mounted from the store it was converted into, and mounted by digest
from a file:// remote into an empty store; for the latter the bytes fetched are printed next to
the image size (lazy start-up) and must be less than the image.
"""

import hashlib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402
from itest import mkimage  # noqa: E402

MIRROR = os.environ.get("IMGFS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ENV = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root",
       "LANG=C"]


def busybox_layout(work):
    """OCI layout WORK/bb-layout, tag bb: busybox base layer + app layer."""
    busybox = shutil.which("busybox")
    if not busybox:
        return None, "busybox is not installed"
    out = subprocess.run(["file", "-L", busybox], stdout=subprocess.PIPE, text=True).stdout \
        if shutil.which("file") else "statically linked"
    if "statically linked" not in out and "static-pie" not in out:
        return None, "%s is not statically linked (install busybox-static)" % busybox
    base, app = os.path.join(work, "bb-base"), os.path.join(work, "bb-app")
    for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
        os.makedirs(os.path.join(base, d))
    os.chmod(os.path.join(base, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(base, "bin/busybox"))
    applets = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(base, "bin", a))
    with open(os.path.join(base, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    subprocess.run(["cp", "-a", base, app], check=True)
    os.makedirs(os.path.join(app, "app"))
    with open(os.path.join(app, "app/run.sh"), "w") as f:
        f.write("#!/bin/sh\necho hello from the app layer \"$@\"\n")
    os.chmod(os.path.join(app, "app/run.sh"), 0o755)
    with open(os.path.join(app, "app/model.bin"), "wb") as f:
        f.write(os.urandom(3000000))
    os.link(os.path.join(app, "app/model.bin"), os.path.join(app, "app/model.link"))
    layout = os.path.join(work, "bb-layout")
    base_tar, app_tar = os.path.join(work, "bb-base.tar"), os.path.join(work, "bb-app.tar")
    mkimage.pack_rootfs_tar(base, base_tar)
    mkimage.diff_layer(base, app, app_tar)
    mkimage.image_from_tars(layout, "bb", [base_tar, app_tar], "gzip")
    with open(os.path.join(app, "app/model.bin"), "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    return (layout, "bb", model_sha), None


def python_source(work):
    """(imgfs convert SOURCE, note) for a Debian root with python3, or (None, reason)."""
    cache = os.environ.get("IMGFS_TEST_CACHE", "/var/cache/imgfs-test")
    tar_path = os.path.join(cache, "bookworm-python3.tar")
    bench = "/var/cache/imgfs-bench/oci"
    if not os.path.exists(tar_path) and os.path.exists(os.path.join(bench, "index.json")) and \
            "debian-python" in open(os.path.join(bench, "index.json")).read():
        return "oci:%s:debian-python" % bench, bench + ":debian-python"
    if not os.path.exists(tar_path) and not os.environ.get("IMGFS_MOUNT_NO_DEBOOTSTRAP"):
        if shutil.which("debootstrap"):
            os.makedirs(cache, exist_ok=True)
            root = os.path.join(cache, "debootstrap-python3-%d" % os.getpid())
            print("debootstrap bookworm --include=python3 into %s (first run only)" % root,
                  flush=True)
            try:
                proc = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3",
                                       "bookworm", root, MIRROR], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, timeout=600)
                ok = proc.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            if ok:
                mkimage.pack_rootfs_tar(root, tar_path + ".tmp")
                os.rename(tar_path + ".tmp", tar_path)
            shutil.rmtree(root, ignore_errors=True)
    if os.path.exists(tar_path):
        layout = os.path.join(work, "py-layout")
        mkimage.image_from_tars(layout, "py", [tar_path], "gzip")
        return "oci:%s:py" % layout, tar_path
    return None, "no cached Debian python3 image and debootstrap failed (no network?)"


def chroot(mp, *cmd):
    return subprocess.run(ENV + ["chroot", mp] + list(cmd), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    itest.need_tools("chroot")
    report = ml.Report()
    ran = 0
    with ml.Session("run", args.imgfs) as s:
        local = s.store("local")
        remote = "file://" + s.path("remote")
        images = []
        bb, why = busybox_layout(s.path())
        if bb:
            images.append(("busybox", "oci:%s:%s" % bb[:2], bb[2]))
        else:
            print("SKIP busybox: " + why)
        src, note = python_source(s.path())
        if src:
            print("python3 image: " + note)
            images.append(("python3", src, None))
        else:
            print("SKIP python3: " + note)
        if not images:
            ml.skip("neither a static busybox nor a Debian python3 image is available")

        def check_busybox(mp, model_sha):
            diffs = []
            p = chroot(mp, "/bin/sh", "-c",
                       "echo hello; id -u; ls /bin | wc -l; cat /etc/passwd; /app/run.sh x y; "
                       "sha256sum /app/model.bin /app/model.link; stat -c %h /app/model.bin; "
                       "echo data > /tmp/w 2>/dev/null && echo writable || echo read-only")
            want = ["hello", "0", None, "root:x:0:0:root:/root:/bin/sh",
                    "hello from the app layer x y", "%s  /app/model.bin" % model_sha,
                    "%s  /app/model.link" % model_sha, "2", "read-only"]
            got = p.stdout.splitlines()
            if p.returncode != 0 or len(got) != len(want):
                return ["chroot sh exited %d: stdout %r stderr %r"
                        % (p.returncode, p.stdout, p.stderr)]
            for i, (w, g) in enumerate(zip(want, got)):
                if w is not None and w != g:
                    diffs.append("line %d: want %r got %r" % (i, w, g))
            if int(got[2]) < 100:
                diffs.append("only %s entries in /bin" % got[2])
            return diffs

        def check_python(mp, _):
            p = chroot(mp, "python3", "-c", "import json, sys; print(json.dumps([1])); "
                       "print(sys.version_info[0])")
            if p.returncode != 0 or p.stdout.splitlines() != ["[1]", "3"]:
                return ["chroot python3 exited %d: stdout %r stderr %r"
                        % (p.returncode, p.stdout, p.stderr[-800:])]
            return []

        for name, source, extra in images:
            check_fn = check_busybox if name == "busybox" else check_python
            digest = s.convert(source, local, name)

            def local_case():
                mp, _ = s.mount(name, local)
                try:
                    return check_fn(mp, extra)
                finally:
                    s.umount(mp)

            def remote_case():
                s.push(digest, remote, local)
                mp, _ = s.mount(digest, s.store("empty-" + name), remote=remote)
                try:
                    diffs = check_fn(mp, extra)
                    st = s.stats(mp)
                    size = _stored_bytes(s, digest, local)
                    print("  %s lazily: fetched %d bytes in %d requests, served %d bytes, "
                          "image stores %d bytes" % (name, st["bytes_fetched"],
                                                      st["fetch_requests"], st["bytes_served"],
                                                      size))
                    if st["bytes_fetched"] <= 0:
                        diffs.append("nothing fetched although the store was empty")
                    # busybox reads nearly all of its image; python3 must not.
                    if name == "python3" and size and st["bytes_fetched"] >= size // 2:
                        diffs.append("fetched %d bytes, the whole image is %d"
                                     % (st["bytes_fetched"], size))
                    return diffs
                finally:
                    s.umount(mp)

            ml.run_case(report, name + "-local", local_case)
            ml.run_case(report, name + "-remote", remote_case)
            ran += 1
    report.exit()


def _stored_bytes(s, digest, store):
    """Sum of the pack sizes of the image (its stored bytes)."""
    import json
    j = json.loads(s.run("inspect", digest, "--json", store=store).stdout)
    for key in ("stored_bytes", "bytes_stored", "packs_bytes"):
        if isinstance(j.get(key), int):
            return j[key]
    return 0


if __name__ == "__main__":
    main()
