#!/usr/bin/python3
"""hostile_images: `imgfs convert` must refuse broken or malicious images with a one-line
error that names the layer and the entry, and leave the store as it was.

The store first holds one good image. For each hostile image: convert must exit non-zero,
print exactly one non-empty line on stderr naming the layer (its digest, a 12+ hex prefix
of it, or "layer N") and, for entry-level faults, the entry; nothing on stdout. Then
`imgfs gc` and the store must list the same images (`imgfs ls`) and hold the same number
of chunks as before. A last image writes through symlinks that point out of the root
(`evil -> /`, `up -> ../..`): it is accepted, and its export must keep everything inside
the export directory (host /etc/passwd and a canary dir untouched).
"""

import hashlib
import json
import os
import re

import itest
from itest import mkimage
import feature_images as fi

F, H = fi.F, fi.H


def base_layer():
    # Compressible, large enough that gzip/zstd blobs have a body to cut or corrupt.
    return dict(compression="gzip", entries=[
        fi.D("etc"), F("etc/os-release", "ID=hostile\n" * 2000),
        dict(type="file", path="data/random", random=[200000, 7])])


def hostile_cases():
    """(tag, layers or image overrides, entry named in the error or None, bad layer index)"""
    good = base_layer()
    bad_tar = dict(compression="gzip", tar_file=None)  # filled in below
    return [
        ("traversal", [good, dict(compression="gzip", entries=[F("../../etc/x", "x")])],
         "../../etc/x", 1),
        ("traversal-inner", [good, dict(compression="gzip", entries=[F("a/../../x", "x")])],
         "a/../../x", 1),
        ("hardlink-missing", [good, dict(compression="gzip", entries=[H("l", "no/such/file")])],
         "no/such/file", 1),
        ("hardlink-outside", [good, dict(compression="gzip", entries=[H("l", "../outside")])],
         "../outside", 1),
        ("hardlink-to-dir", [good, dict(compression="gzip", entries=[H("dir-hardlink", "etc")])],
         "dir-hardlink", 1),
        ("truncated-gzip", [good, dict(compression="gzip", truncate=300, entries=[
            dict(type="file", path="big", random=[100000, 3])])], None, 1),
        ("corrupt-zstd", [good, dict(compression="zstd", corrupt_at=200, entries=[
            F("text", "all work and no play " * 5000)])], None, 1),
        # Uncompressed, the flipped last byte is in the end-of-archive padding: only the
        # digest check can catch it.
        ("layer-digest-mismatch", [good, dict(compression="none", bad_digest=True, entries=[
            F("a", "a" * 1000)])], None, 1),
        ("diff-id-mismatch", dict(layers=[good, dict(compression="gzip", entries=[F("a")])],
                                  diff_ids={"1": "sha256:" + "0" * 64}), None, 1),
        # No Linux file carries these: refused by name, not left to fail inside the index.
        ("xattr-name-too-long", [good, dict(compression="gzip", entries=[
            dict(F("xname"), xattrs={"user." + "n" * 300: "v"})])], "xname", 1),
        ("xattr-value-too-large", [good, dict(compression="gzip", entries=[
            dict(F("xvalue"), xattrs={"user.big": "v" * 70000})])], "xvalue", 1),
        ("bad-tar-checksum", [good, bad_tar], None, 1),
        ("malformed-manifest", dict(layers=[good], manifest_raw='{"schemaVersion": 2, "layers": ['),
         None, None),
        ("malformed-config", dict(layers=[good], config_raw='{"rootfs": {"diff_ids": '),
         None, None),
    ]


def corrupt_tar(path):
    """A layer tar whose first header checksum is wrong."""
    data = bytearray(mkimage.build_layer_tar(dict(entries=[F("ok", "fine"), F("next", "n")])))
    data[148:156] = b"0000001\0"
    with open(path, "wb") as f:
        f.write(bytes(data))


def layer_names(layout, tag):
    """Ways an error may name each layer: digest hex, 12-hex prefix, "layer N"."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for desc in index["manifests"]:
        if desc["annotations"]["org.opencontainers.image.ref.name"] == tag:
            with open(os.path.join(layout, "blobs/sha256", desc["digest"][7:])) as f:
                try:
                    return [l["digest"][7:] for l in json.load(f)["layers"]]
                except ValueError:
                    return []
    return []


def check_refusal(proc, layer_hexes, bad_layer, entry, expect=""):
    problems = []
    if proc.returncode == 0:
        return ["convert succeeded (stdout %r)" % proc.stdout.strip()]
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    if len(lines) != 1:
        problems.append("stderr has %d lines, want 1: %r" % (len(lines), proc.stderr[-500:]))
    text = proc.stderr
    if proc.stdout.strip():
        problems.append("stdout not empty: %r" % proc.stdout.strip()[:200])
    if bad_layer is not None:
        hexd = layer_hexes[bad_layer] if bad_layer < len(layer_hexes) else ""
        named = (hexd and hexd[:12] in text) or re.search(r"layer\s*#?\s*%d\b" % bad_layer, text) \
            or re.search(r"layer\s*#?\s*%d\b" % (bad_layer + 1), text)
        if not named:
            problems.append("error does not name layer %d (%s): %r"
                            % (bad_layer, hexd[:12], text.strip()[:300]))
    if bad_layer is not None and "digest" in expect and "digest" not in text.lower():
        problems.append("error does not say the digest is wrong: %r" % text.strip()[:300])
    if entry and entry not in text:
        problems.append("error does not name entry %r: %r" % (entry, text.strip()[:300]))
    return problems


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    itest.need_root()
    itest.need_tools("tar")
    report = itest.Report()
    with itest.Workdir("hostile") as w:
        layout = w("layout")
        corrupt_tar(w("bad.tar"))
        images = [dict(tag="good", layers=[base_layer()])]
        cases = []
        for tag, spec, entry, bad_layer in hostile_cases():
            if tag == "corrupt-zstd" and not mkimage.have_zstd():
                print("SKIP corrupt-zstd: the zstd CLI is not installed")
                continue
            image = dict(spec) if isinstance(spec, dict) else dict(layers=spec)
            image["layers"] = [dict(l) for l in image["layers"]]
            for l in image["layers"]:
                if l.get("tar_file", 1) is None:
                    l["tar_file"] = w("bad.tar")
            image["tag"] = tag
            images.append(image)
            cases.append((tag, entry, bad_layer))
        canary = w("canary")
        os.makedirs(canary)
        images.append(dict(tag="escape", layers=fi.symlink_escape(canary)))
        mkimage.build_layout(layout, images)

        imgfs = itest.Imgfs(args.imgfs, w("store"))
        try:
            imgfs.convert("oci:%s:good" % layout, tag="good")
            imgfs.gc()
            ls_before, chunks_before = imgfs.ls(), imgfs.chunk_count()
        except (itest.CommandFailed, AssertionError) as e:
            report.error("setup", e)
            report.exit()
        if chunks_before is None:
            print("note: `imgfs gc` prints no chunk total; comparing `imgfs ls` and "
                  "'removed N chunks' of a second gc only")

        for tag, entry, bad_layer in cases:
            problems = []
            try:
                proc = imgfs.run("convert", "oci:%s:%s" % (layout, tag), "--store",
                                 imgfs.store, "--tag", tag, check=False)
                problems += check_refusal(proc, layer_names(layout, tag), bad_layer, entry, tag)
                print("  %s: exit %d: %s" % (tag, proc.returncode, proc.stderr.strip()[:300]))
                if proc.returncode == 0:  # keep later cases independent of this failure
                    imgfs.run("rm", tag, check=False)
                imgfs.gc()
                if imgfs.ls() != ls_before:
                    problems.append("`imgfs ls` changed: %r -> %r" % (ls_before, imgfs.ls()))
                again = itest.removed_chunks(imgfs.gc())
                if again not in (None, 0):
                    problems.append("a second gc still removed %d chunks" % again)
                if chunks_before is not None and imgfs.chunk_count() != chunks_before:
                    problems.append("store holds %s chunks after gc, %d before"
                                    % (imgfs.chunk_count(), chunks_before))
            except (itest.CommandFailed, AssertionError) as e:
                problems.append("error: %s" % e)
            report.case(tag, problems)

        # Symlinks out of the root: accepted, and nothing lands outside the export.
        problems = []
        passwd = hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest()
        try:
            imgfs.convert("oci:%s:escape" % layout, tag="escape")
            out = w("out-escape")
            imgfs.export("escape", out)
            for inside in ("etc/passwd", "etc/second-layer", "etc/hl", "tmp/escaped",
                           canary.lstrip("/") + "/owned"):
                p = os.path.join(out, inside)
                if os.path.islink(p) or not os.path.isfile(p):
                    problems.append("%s: not a regular file inside the export" % inside)
            with open(os.path.join(out, "etc/passwd")) as f:
                if "image passwd" not in f.read():
                    problems.append("etc/passwd in the export is not the image's")
        except (itest.CommandFailed, AssertionError, OSError) as e:
            problems.append("error: %s" % e)
        if hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest() != passwd:
            problems.append("/etc/passwd on the host changed")
        if os.listdir(canary):
            problems.append("host canary dir written: %s" % os.listdir(canary))
        report.case("symlink-escape", problems)
    report.exit()


if __name__ == "__main__":
    main()
