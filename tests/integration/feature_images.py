"""Image specs (for tools/mkimage.py) shared by the integration tests.

features(compression, ...) is one 3-layer image that exercises every layer feature the
indexer must apply like `umoci unpack` does. hostile() are images that must be refused.
"""

import base64

T0 = 1600000000            # default mtime of mkimage entries
CAP_NET_RAW = base64.b64encode(
    bytes.fromhex("0100000200200000000000000000000000000000")).decode()

LONG_DIR = "long/" + "d" * 120 + "/" + "e" * 120      # > 255 bytes once a file is added
PREFIX_NAME = "prefix/" + "p" * 60 + "/" + "q" * 60   # 100 < len <= 255: ustar prefix split


def F(path, content="x", **kw):
    return dict(type="file", path=path, content=content, **kw)


def D(path, **kw):
    return dict(type="dir", path=path, **kw)


def L(path, target, **kw):
    return dict(type="symlink", path=path, target=target, **kw)


def H(path, target, **kw):
    return dict(type="hardlink", path=path, target=target, **kw)


def layer0():
    return [
        D("./", raw=True, mode=0o755, mtime="1500000000.111111111"),
        D("etc", mtime="1600000000.123456789"),
        F("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        F("etc/shadow", "root:*:1::::::\n", mode=0o640, gid=42),
        D("usr"), D("usr/lib"), D("usr/bin"), D("usr/sbin"),
        L("lib", "usr/lib"), L("bin", "usr/bin"), L("sbin", "usr/sbin"),
        F("usr/bin/ping", "ELF-ping", mode=0o4755,
          xattrs={"security.capability": {"b64": CAP_NET_RAW}}),
        F("usr/bin/wall", "ELF-wall", mode=0o2755, gid=5),
        F("usr/bin/python3.11", "ELF-python", mode=0o755, mtime="1600000000.5"),
        H("usr/bin/python3", "usr/bin/python3.11"),
        H("usr/bin/python", "./usr/bin/python3.11"),
        D("tmp", mode=0o1777),
        D("opt", mode=0o750, uid=1000, gid=1000, mtime=1500000000),
        F("opt/big-ids", "ids", uid=100000, gid=200000, mtime="1600000000.000000001"),
        F("opt/huge-ids", "ids", uid=3000000, gid=4000000),
        F("opt/xattrs", "x", xattrs={"user.mime_type": "text/plain",
                                     "user.bin": {"b64": base64.b64encode(bytes(range(256))).decode()},
                                     "trusted.overlay.x": "t"}),
        F("opt/empty", ""),
        F("opt/mode-000", "locked", mode=0o000),
        F("opt/mode-7777", "all", mode=0o7777),
        dict(type="file", path="opt/random", random=[300000, 1]),
        F("opt/big-mtime", "future", mtime=4102444800),  # 2100-01-01
        F("opt/old-mtime", "past", mtime=1),
        F(PREFIX_NAME + "/file", "ustar prefix"),
        F(LONG_DIR + "/pax-path-file", "pax path"),
        L("opt/long-target", "/" + "t" * 150 + "/target"),
        H("opt/long-hardlink", LONG_DIR + "/pax-path-file"),
        dict(type="char", path="dev/null", major=1, minor=3, mode=0o666),
        dict(type="char", path="dev/big", major=4095, minor=1048575, mode=0o600),
        dict(type="block", path="dev/sda", major=8, minor=0, mode=0o660, gid=6),
        dict(type="fifo", path="run/initctl", mode=0o600),
        F("./dot-prefixed", "dot"),
        F("/absolute-name", "abs"),
        F("missing/parent/file", "implicit parents"),
        L("etc/alt", "/etc/passwd"),
        L("etc/dangling", "../nowhere"),
        L("etc/dot", "."),
        D("d", mtime=1500000000), F("d/old", "old"), F("d/keep", "keep"),
        D("w", mtime=1500000000), F("w/a", "a"), F("w/b", "b"),
        F("p", "p is a file"),
        D("q", mode=0o700, mtime=1500000000),
        F("sym-to-file", "becomes a symlink"),
        L("file-to-sym", "etc/passwd"),
        F("opt/shared", "shared by a hardlink from layer 1"),
        dict(type="sparse", path="var/sparse-pax", size=20 * 1024 * 1024,
             data=[[0, 4096], [8 * 1024 * 1024, 70000], [20 * 1024 * 1024 - 10, 10]],
             sparse_format="posix", sparse_version="1.0", mode=0o640, uid=7, gid=8,
             mtime="1600000000.25"),
        dict(type="sparse", path="var/sparse-hole-end", size=5 * 1024 * 1024,
             data=[[1024, 100]], sparse_format="posix", sparse_version="0.1"),
    ]


def layer1():
    return [
        dict(type="whiteout", path="w/a"),
        dict(type="whiteout", path="not/there"),
        F("d/new-before", "same layer, before the opaque marker"),
        F("d/keep", "rewritten in the opaque layer, before its marker"),
        dict(type="opaque", path="d"),
        F("d/new-after", "same layer, after the opaque marker"),
        H("opt/shared-link", "opt/shared"),
        D("etc", mode=0o700, mtime="1600000001.987654321"),
        D("p", mode=0o711), F("p/inside", "p is a dir now"),
        F("lib/merged-usr", "written through lib -> usr/lib"),
        F("usr/bin/ping", "ELF-ping-v2", mode=0o4755, uid=0,
          xattrs={"security.capability": {"b64": CAP_NET_RAW}, "user.v": "2"}),
        L("sym-to-file", "/etc/shadow"),
        F("file-to-sym", "a file again"),
        F("gnu/" + "g" * 140 + "/longlink-file", "GNU long name"),
        L("gnu/long-target", "/" + "k" * 130),
        F("gnu/base256-ids", "ids", uid=3000001, gid=4000001),
        D("q", mode=0o1777, mtime="1500000001.5"),
        dict(type="sparse", path="var/sparse-pax00", size=3 * 1024 * 1024,
             data=[[1024 * 1024, 5000]], sparse_format="posix", sparse_version="0.0"),
        F("opt/empty", "", mode=0o600),    # metadata-only change of an existing file
    ]


def layer2():
    return [
        F("p", "p is a file again", mode=0o600),
        dict(type="whiteout", path="missing"),
        dict(type="whiteout", path="usr/bin/python"),
        F("opt/shared", "rewritten: the layer-1 hardlink keeps the old bytes"),
        H("via-symlink", "lib/merged-usr"),
        D("newdir/sub", mtime=1500000000),
        F("newdir/sub/f", "f", mtime=1500000000),
        dict(type="whiteout", path="etc/dangling"),
        dict(type="whiteout", path="w/b"),
        F("w/b", "whited out and re-added in the same layer"),
        D("etc/alt", mode=0o755),   # a symlink becomes a directory
    ]


def features(compression="gzip", formats=("pax", "gnu", "pax")):
    """The feature image; `compression` is one method or a list, one per layer."""
    if isinstance(compression, str):
        compression = [compression] * 3
    return [dict(compression=c, format=f, entries=e) for c, f, e in
            zip(compression, formats, (layer0(), layer1(), layer2()))]


def symlink_escape(canary_dir):
    """Symlinks that point out of the root, then entries written through them: every
    entry must land inside the image (as umoci does), nothing on the host."""
    return [dict(compression="gzip", entries=[
        L("evil", "/"),
        L("up", "../.."),
        L("canary", canary_dir),
        F("evil/etc/passwd", "image passwd, not the host's"),
        F("up/tmp/escaped", "inside"),
        F("canary/owned", "inside"),
    ]), dict(compression="gzip", entries=[
        F("evil/etc/second-layer", "inside too"),
        H("evil/etc/hl", "canary/owned"),
    ])]


def gnu_sparse():
    """Old GNU sparse members (typeflag 'S'): umoci 0.4.7 refuses them ("unknown typeflag"),
    so the reference for this one-layer image is GNU tar's own extraction."""
    return [dict(compression="gzip", format="gnu", entries=[
        D("var"),
        dict(type="sparse", path="var/sparse-gnu", size=3 * 1024 * 1024,
             data=[[1024 * 1024, 5000]], sparse_format="gnu", mode=0o600, uid=3, gid=4),
    ])]
