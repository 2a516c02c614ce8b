#!/usr/bin/python3
"""export_vs_umoci: `imgfs convert` + `imgfs export` must write the tree `umoci unpack` writes.

Builds the feature image (tests/integration/feature_images.py) with gzip, uncompressed,
zstd and mixed layers, as a docker-archive and inside a multi-platform index; plus an
image whose symlinks point out of the root, and one with old GNU sparse members. For
each: the reference is `umoci unpack` (GNU tar for the GNU-sparse one, which umoci 0.4.7
refuses), the result is `imgfs export IMAGE DIR` and, extracted with GNU tar,
`imgfs export IMAGE --tar FILE`; treecmp.py compares them. zstd layers are compared
against umoci's unpack of the gzip image (same diff_ids), since umoci 0.4.7 has no zstd.
"""

import hashlib
import os
import platform
import subprocess
import time

import itest
from itest import mkimage, treecmp
import feature_images as fi


def file_sha(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def tree_digests(root):
    """{path below root: SHA-256 of the file} for every file under root."""
    out = {}
    for top, _, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            out[os.path.relpath(path, root)] = file_sha(path)
    return out


def host_platform():
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    other = "arm64" if arch != "arm64" else "amd64"
    return arch, other


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    itest.need_root()
    itest.need_tools("umoci", "tar")
    report = itest.Report()
    with itest.Workdir("export-vs-umoci") as w:
        canary = w("canary")
        os.makedirs(canary)
        arch, other = host_platform()
        images = [
            dict(tag="gzip", layers=fi.features("gzip"), platform={"os": "linux",
                                                                     "architecture": arch}),
            dict(tag="none", layers=fi.features("none")),
            dict(tag="escape", layers=fi.symlink_escape(canary)),
            dict(tag="gnu-sparse", layers=fi.gnu_sparse()),
        ]
        have_zstd = mkimage.have_zstd()
        if have_zstd:
            images += [dict(tag="zstd", layers=fi.features("zstd")),
                       dict(tag="mixed", layers=fi.features(["zstd", "none", "gzip"]))]
        else:
            print("SKIP zstd cases: the zstd CLI is not installed")
        images.append(dict(tag="multi", platforms=[
            dict(layers=[dict(compression="gzip", entries=[fi.F("wrong-platform", other)])],
                 platform={"os": "linux", "architecture": other}),
            dict(layers=fi.features("gzip"), platform={"os": "linux", "architecture": arch}),
        ]))
        layout = w("layout")
        mkimage.build_layout(layout, images)

        refs = {}

        def ref(tag):
            if tag not in refs:
                refs[tag] = itest.umoci_unpack(layout, tag, w("ref-" + tag))
            return refs[tag]

        imgfs = itest.Imgfs(args.imgfs, w("store"))
        passwd_before = file_sha("/etc/passwd")

        def check(name, source, ref_tag=None, ref_tree=None, by_digest=False):
            """Converts `source`, exports it both ways, compares with the reference."""
            t0 = time.time()
            try:
                root, start = ref_tree or ref(ref_tag)
                digest = imgfs.convert(source, tag=name)
                image = digest if by_digest else name
                out = w("out-" + name)
                imgfs.export(image, out)
                diffs = treecmp.compare(root, out, start)
                tar_path = w("out-%s.tar" % name)
                imgfs.export_tar(image, tar_path)
                tar_out = w("tar-" + name)
                itest.tar_extract(tar_path, tar_out)
                diffs += ["[--tar] " + d for d in treecmp.compare(root, tar_out, start)]
                if name == "escape":
                    diffs += escape_checks(out, canary, passwd_before)
            except (itest.CommandFailed, AssertionError, subprocess.CalledProcessError) as e:
                diffs = ["error: %s" % e]
            report.case(name, diffs, time.time() - t0)

        check("gzip", "oci:%s:gzip" % layout, "gzip", by_digest=True)
        check("none", "oci:%s:none" % layout, "none")
        if have_zstd:
            check("zstd", "oci:%s:zstd" % layout, "gzip")
            check("mixed", "oci:%s:mixed" % layout, "gzip")
        if os.path.exists("/usr/bin/skopeo") or itest.shutil.which("skopeo"):
            archive = w("gzip.docker.tar")
            try:
                mkimage.docker_archive(layout, "gzip", archive)
                check("docker-archive", "docker-archive:" + archive, "gzip")
            except subprocess.CalledProcessError as e:
                report.error("docker-archive", "skopeo failed: %s" % e)
        else:
            print("SKIP docker-archive case: skopeo is not installed")
        check("multi-platform", "oci:%s:multi" % layout, "gzip")
        check("escape", "oci:%s:escape" % layout, "escape")

        # Old GNU sparse members: the reference is GNU tar's extraction of the one layer.
        gnu_ref = w("ref-gnu-sparse")
        os.makedirs(gnu_ref)
        start = time.time_ns()
        tar_bytes = mkimage.build_layer_tar(fi.gnu_sparse()[0])
        subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                        "--warning=no-timestamp", "-xpf", "-", "-C", gnu_ref],
                       input=tar_bytes, check=True)
        os.utime(gnu_ref, ns=(0, 0))  # like umoci's undeclared root
        check("gnu-sparse", "oci:%s:gnu-sparse" % layout, ref_tree=(gnu_ref, start))

        # A rootfs directory as the source: the umoci tree must come back unchanged.
        root, start = ref("gzip")
        check("dir-source", "dir:" + root, ref_tree=(root, start))

        # libarchive is opened at the first tar, not linked: without a loadable one, commands
        # that read no tar still work, and convert and export --tar fail in one line each.
        t0 = time.time()
        broken = w("broken-lib")
        os.makedirs(broken)
        open(os.path.join(broken, "libarchive.so.13"), "w").close()  # not a library
        env = dict(os.environ, LD_LIBRARY_PATH=broken)

        def run(*argv):
            return subprocess.run([args.imgfs, *argv, "--store", w("store")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        diffs = []
        p = run("ls")
        if p.returncode != 0 or "gzip" not in p.stdout:
            diffs.append("imgfs ls needs no libarchive, yet: %s" % p.stderr.strip())
        for argv in (["convert", "oci:%s:none" % layout, "--tag", "again"],
                     ["export", "none", "--tar", w("no-lib.tar")]):
            p = run(*argv)
            lines = p.stderr.strip().splitlines()
            if p.returncode == 0 or len(lines) != 1 or "cannot load libarchive" not in lines[0]:
                diffs.append("%s without a loadable libarchive: rc %d, %r" %
                             (argv[0], p.returncode, p.stderr))
        report.case("libarchive-unloadable", diffs, time.time() - t0)

        # OpenSSL's libcrypto is opened at the first SHA-256 it does (a push's pack digests; on a
        # CPU with SHA-NI, conversion and short messages never need it). Without it, SHA-256 runs
        # on imgfs's own code: a push works and writes exactly what a push with libcrypto writes.
        t0 = time.time()
        broken = w("broken-crypto")
        os.makedirs(broken)
        open(os.path.join(broken, "libcrypto.so.3"), "w").close()  # not a library
        diffs = []
        env = dict(os.environ)
        p = run("push", "none", "file://" + w("pushed-with"))
        if p.returncode != 0:
            diffs.append("push with libcrypto: rc %d, %r" % (p.returncode, p.stderr))
        env = dict(os.environ, LD_LIBRARY_PATH=broken)
        p = run("ls")
        if p.returncode != 0 or "gzip" not in p.stdout:
            diffs.append("imgfs ls needs no libcrypto, yet: %s" % p.stderr.strip())
        p = run("push", "none", "file://" + w("pushed-without"))
        if p.returncode != 0:
            diffs.append("push without a loadable libcrypto: rc %d, %r" % (p.returncode, p.stderr))
        with_files = tree_digests(w("pushed-with"))
        without_files = tree_digests(w("pushed-without"))
        if not with_files or with_files != without_files:
            diffs.append("push without libcrypto wrote %d files, with it %d; differing: %s" % (
                len(without_files), len(with_files),
                sorted(set(with_files.items()) ^ set(without_files.items()))[:4]))
        report.case("libcrypto-unloadable", diffs, time.time() - t0)
    report.exit()


def escape_checks(out, canary, passwd_before):
    diffs = []
    if file_sha("/etc/passwd") != passwd_before:
        diffs.append("/etc/passwd: host file changed by convert/export")
    if os.listdir(canary):
        diffs.append("%s: host dir written through a symlink: %s" % (canary, os.listdir(canary)))
    for inside in ("etc/passwd", "etc/second-layer", "tmp/escaped", canary.lstrip("/") + "/owned"):
        path = os.path.join(out, inside)
        if os.path.islink(path) or not os.path.isfile(path):
            diffs.append("%s: expected a regular file inside the export" % inside)
    return diffs


if __name__ == "__main__":
    main()
