"""Helpers shared by the integration test scripts: skipping, running the imgfs CLI against a
private store, unpacking references with umoci, comparing trees.

Every script takes --imgfs PATH (CMake passes $<TARGET_FILE:imgfs>) or reads IMGFS_BIN, and
exits 77 (ctest SKIP_RETURN_CODE) with a "SKIP: reason" line when something it needs is
missing. Set IMGFS_KEEP_TMP=1 to keep the work directory for debugging.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools")
sys.path.insert(0, TOOLS)
sys.path.insert(0, HERE)

import mkimage  # noqa: E402
import treecmp  # noqa: E402

SKIP = 77
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def need_tools(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            skip("%s is not installed" % tool)


def need_root():
    if os.geteuid() != 0:
        skip("needs root (device nodes, chown, security.* xattrs)")


def parse_args(description, extra=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--imgfs", default=os.environ.get("IMGFS_BIN"),
                   help="path of the imgfs binary (default: $IMGFS_BIN)")
    if extra:
        extra(p)
    args = p.parse_args()
    if not args.imgfs:
        skip("imgfs binary not built (no imgfs target; pass --imgfs or set IMGFS_BIN)")
    if not os.access(args.imgfs, os.X_OK):
        skip("imgfs binary %s is not executable" % args.imgfs)
    return args


class Workdir:
    """A temporary directory removed at exit unless IMGFS_KEEP_TMP is set."""

    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix="imgfs-%s-" % name)

    def __call__(self, *parts):
        return os.path.join(self.path, *parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if os.environ.get("IMGFS_KEEP_TMP"):
            print("work dir kept: " + self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


class Imgfs:
    """The CLI with a private store (IMGFS_STORE in its environment)."""

    def __init__(self, binary, store):
        self.binary = binary
        self.store = store
        self.env = dict(os.environ, IMGFS_STORE=store)

    def run(self, *args, check=True, timeout=900):
        proc = subprocess.run([self.binary, *args], env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise CommandFailed("imgfs %s" % " ".join(args), proc)
        return proc

    def convert(self, source, tag=None):
        """Digest printed by `imgfs convert` (its only stdout line)."""
        args = ["convert", source, "--store", self.store]
        if tag:
            args += ["--tag", tag]
        out = self.run(*args).stdout.strip().splitlines()
        if not out or not DIGEST_RE.match(out[-1]):
            raise AssertionError("convert printed %r, not an index digest" % out)
        return out[-1]

    def export(self, image, dest):
        self.run("export", image, dest)

    def export_tar(self, image, tar_path):
        self.run("export", image, "--tar", tar_path)

    def ls(self):
        return self.run("ls").stdout

    def gc(self):
        proc = self.run("gc")
        return proc.stdout + proc.stderr

    def chunk_count(self):
        """Chunks the store holds after a gc: `imgfs gc` prints "removed I images, N chunks
        (B); store holds J images, M chunks (B)". None if it prints no such figure."""
        text = self.run("gc").stdout
        m = re.search(r"(?:holds|kept|live|total|remaining)[^\n]*?(\d+)\s+chunks", text)
        return int(m.group(1)) if m else None

    def ls_names(self):
        """Image names listed by `imgfs ls` (its first column, header row dropped)."""
        rows = [l.split() for l in self.ls().splitlines() if l.split()]
        return [r[0] for r in rows if r[0] != "NAME"]


def removed_chunks(gc_output):
    m = re.search(r"removed[^\n]*?(\d+)\s+chunks", gc_output)
    return int(m.group(1)) if m else None


class CommandFailed(Exception):
    def __init__(self, what, proc):
        super().__init__("%s exited %d: %s" % (what, proc.returncode,
                                                (proc.stderr or "").strip()[-2000:]))
        self.proc = proc


def umoci_unpack(layout, tag, bundle):
    """Unpacks with umoci; returns (rootfs path, ns time taken just before)."""
    start = time.time_ns()
    proc = subprocess.run(["umoci", "unpack", "--image", "%s:%s" % (layout, tag), bundle],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise CommandFailed("umoci unpack %s:%s" % (layout, tag), proc)
    return os.path.join(bundle, "rootfs"), start


def tar_extract(tar_path, dest):
    os.makedirs(dest, exist_ok=True)
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                    "--warning=no-timestamp", "--warning=no-unknown-keyword", "-xpf", tar_path, "-C", dest], check=True)


class Report:
    """Collects per-case results; prints one line per difference."""

    def __init__(self):
        self.failed = []
        self.passed = []

    def case(self, name, diffs, seconds=None):
        took = "" if seconds is None else " (%.1fs)" % seconds
        if diffs:
            self.failed.append(name)
            print("FAIL %s%s: %d difference(s)" % (name, took, len(diffs)))
            for line in diffs[:100]:
                print("  %s: %s" % (name, line))
            if len(diffs) > 100:
                print("  %s: ... %d more" % (name, len(diffs) - 100))
        else:
            self.passed.append(name)
            print("PASS %s%s" % (name, took))
        sys.stdout.flush()

    def error(self, name, exc):
        self.case(name, ["error: %s" % exc])

    def exit(self):
        print("%d passed, %d failed%s" % (len(self.passed), len(self.failed),
                                          (": " + " ".join(self.failed)) if self.failed else ""))
        sys.exit(1 if self.failed else 0)
