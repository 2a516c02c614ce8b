#!/usr/bin/python3
"""treecmp: compare two extracted root filesystems attribute by attribute.

  treecmp.py REF OUT [--implicit-after NS] [--max N]

REF is the reference tree (what `umoci unpack` wrote, its rootfs/ dir), OUT the tree under
test. Both are walked with lstat, never following symlinks. For every path it compares:
type, permission bits incl. setuid/setgid/sticky, uid, gid, size (regular files and
symlinks), mtime in ns, rdev (devices), symlink target, SHA-256 of the content, xattrs
(listxattr/getxattr without following symlinks) and, over the whole tree, the hardlink
groups (the partition of paths by inode must be the same). Each difference is printed on
one line as "PATH: WHAT ref=... out=..."; exit status 1 if any, 0 if none, 2 on usage error.

What is NOT compared, and why (found by running umoci 0.4.7 on the test images and by
unpacking the same image twice):
  * size of directories: st_size of a directory is whatever the host file system says
    (ext4: 4096 per block of entries); it is not image content.
  * mtime of a directory that the image never declares (a parent created implicitly for
    a deeper entry, and the root of the tree when no layer has a "./" entry): umoci
    creates it with mode 0755 root:root and leaves the unpack time as mtime, which
    differs on every run. Such a directory is recognised by a reference mtime at or
    after --implicit-after (pass the wall-clock time in ns taken just before umoci ran;
    every image in the tests has older mtimes). Its mode, uid and gid are still compared.
  * mtime of the root when the reference has 0 there: with no "./" entry and no implicit
    directory, umoci leaves the root at the epoch; it is no image content either.
  * atime and ctime: set by the kernel when the tree is written or read.
  * xattr security.selinux: labelled by the host's LSM on creation, not by the image.
  * inode numbers, link counts and device ids themselves: only the grouping of paths
    into hardlink groups is meaningful (it is compared).
"""

import argparse
import hashlib
import os
import stat
import sys

IGNORED_XATTRS = {"security.selinux"}
TYPES = [(stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
         (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
         (stat.S_ISSOCK, "socket")]


def kind(mode):
    for test, name in TYPES:
        if test(mode):
            return name
    return "unknown"


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    result = {}
    for name in names:
        if name in IGNORED_XATTRS:
            continue
        try:
            result[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            result[name] = "<error %s>" % e.strerror
    return result


def scan(root):
    """relpath -> lstat result for every entry, "." for the root itself."""
    entries = {".": os.lstat(root)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            entries[os.path.relpath(full, root)] = os.lstat(full)
    return entries


def show(value):
    if isinstance(value, bytes):
        try:
            text = value.decode()
            if text.isprintable():
                return repr(text)
        except UnicodeDecodeError:
            pass
        text = "0x" + value.hex()
        return text if len(text) <= 80 else "%s...(%d bytes)" % (text[:64], len(value))
    return repr(value) if isinstance(value, str) else str(value)


def compare(ref_root, out_root, implicit_after=None):
    """List of one-line differences."""
    diffs = []
    ref, out = scan(ref_root), scan(out_root)
    for rel in sorted(set(ref) - set(out)):
        diffs.append("%s: missing in out (ref has %s)" % (rel, kind(ref[rel].st_mode)))
    for rel in sorted(set(out) - set(ref)):
        diffs.append("%s: extra in out (%s)" % (rel, kind(out[rel].st_mode)))

    def differ(rel, what, a, b):
        if a != b:
            diffs.append("%s: %s ref=%s out=%s" % (rel, what, show(a), show(b)))
            return True
        return False

    for rel in sorted(set(ref) & set(out)):
        a, b = ref[rel], out[rel]
        ka, kb = kind(a.st_mode), kind(b.st_mode)
        if differ(rel, "type", ka, kb):
            continue
        pa, pb = os.path.join(ref_root, rel), os.path.join(out_root, rel)
        differ(rel, "mode", "%04o" % stat.S_IMODE(a.st_mode), "%04o" % stat.S_IMODE(b.st_mode))
        differ(rel, "uid", a.st_uid, b.st_uid)
        differ(rel, "gid", a.st_gid, b.st_gid)
        implicit = ka == "dir" and implicit_after is not None and a.st_mtime_ns >= implicit_after
        implicit = implicit or (rel == "." and a.st_mtime_ns == 0)
        if not implicit:
            differ(rel, "mtime_ns", a.st_mtime_ns, b.st_mtime_ns)
        if ka in ("file", "symlink"):
            differ(rel, "size", a.st_size, b.st_size)
        if ka in ("char", "block"):
            differ(rel, "rdev", "%d:%d" % (os.major(a.st_rdev), os.minor(a.st_rdev)),
                   "%d:%d" % (os.major(b.st_rdev), os.minor(b.st_rdev)))
        if ka == "symlink":
            differ(rel, "target", os.readlink(pa), os.readlink(pb))
        if ka == "file" and a.st_size == b.st_size:
            differ(rel, "sha256", digest(pa), digest(pb))
        xa, xb = xattrs(pa), xattrs(pb)
        for name in sorted(set(xa) | set(xb)):
            differ(rel, "xattr " + name, xa.get(name, "<absent>"), xb.get(name, "<absent>"))

    # Hardlink groups: the partition of non-directory paths by inode.
    def groups(entries):
        by_ino = {}
        for rel, st in entries.items():
            if not stat.S_ISDIR(st.st_mode):
                by_ino.setdefault((st.st_dev, st.st_ino), []).append(rel)
        return {frozenset(g) for g in by_ino.values() if len(g) > 1}

    common = set(ref) & set(out)
    ga = {frozenset(g & common) for g in groups(ref)}
    gb = {frozenset(g & common) for g in groups(out)}
    ga = {g for g in ga if len(g) > 1}
    gb = {g for g in gb if len(g) > 1}
    for g in sorted(ga - gb, key=sorted):
        diffs.append("%s: hardlink group in ref only: %s" % (sorted(g)[0], " ".join(sorted(g))))
    for g in sorted(gb - ga, key=sorted):
        diffs.append("%s: hardlink group in out only: %s" % (sorted(g)[0], " ".join(sorted(g))))
    return diffs


def main(argv=None):
    p = argparse.ArgumentParser(description="compare two extracted trees")
    p.add_argument("ref")
    p.add_argument("out")
    p.add_argument("--implicit-after", type=int, default=None,
                   help="ns timestamp; ref dirs with mtime >= this were created implicitly")
    p.add_argument("--max", type=int, default=200, help="print at most N differences")
    args = p.parse_args(argv)
    for root in (args.ref, args.out):
        if not os.path.isdir(root):
            print("treecmp: %s is not a directory" % root, file=sys.stderr)
            return 2
    diffs = compare(args.ref, args.out, args.implicit_after)
    for line in diffs[:args.max]:
        print(line)
    if len(diffs) > args.max:
        print("... and %d more differences" % (len(diffs) - args.max))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
