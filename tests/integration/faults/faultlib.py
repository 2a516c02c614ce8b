"""Helpers for the fault tests: faultproxy.py (../faultproxy.py) in a child process, in front of
the counting object server (../mount/countserver.py) or a registry; a real image to read; the
whole-tree byte comparison; a private mount namespace for tests that mount a small filesystem
of their own.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
IT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(IT, "mount"))
sys.path.insert(0, IT)

import mountlib as ml  # noqa: E402,F401
import itest  # noqa: E402,F401

FAULTPROXY = os.path.join(IT, "faultproxy.py")
DEBIAN_TAR = os.path.join(os.environ.get("IMGFS_TEST_CACHE", "/var/cache/imgfs-test"),
                          "bookworm-minbase.tar")
MiB = 1 << 20


class FaultProxy:
    """faultproxy.py in a child process. restart() brings it back on the same port."""

    def __init__(self, workdir, upstream, port=0, **opts):
        self.workdir = workdir
        self.upstream = upstream
        self.opts = opts
        self.port = port
        self.log = os.path.join(workdir, "faultproxy-%d.log" % os.getpid())
        self.proc = None
        self.start()

    def start(self):
        port_file = tempfile.mktemp(prefix="proxyport-", dir=self.workdir)
        argv = [sys.executable, FAULTPROXY, "--upstream", self.upstream, "--port-file", port_file,
                "--port", str(self.port), "--log", self.log]
        for k, v in self.opts.items():
            argv += ["--" + k.replace("_", "-"), str(v)]
        self.proc = subprocess.Popen(argv)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise ml.Failure("faultproxy.py did not start")
            time.sleep(0.02)
        self.port = int(open(port_file).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        # The port was ours a moment ago; SO_REUSEADDR lets the new process take it again.
        for _ in range(100):
            try:
                self.start()
                return
            except ml.Failure:
                time.sleep(0.1)
        raise ml.Failure("faultproxy.py did not come back on port %d" % self.port)

    def _call(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as r:
            return r.read()

    def config(self, **cfg):
        self._call("POST", "/_faultproxy/config", json.dumps(cfg).encode())

    def stats(self):
        return json.loads(self._call("GET", "/_faultproxy/stats"))


def timed_read(path, n=256 << 10):
    """(seconds, errno or None, bytes) of reading N bytes at the start of PATH."""
    t0 = time.monotonic()
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, n, 0)
        finally:
            os.close(fd)
        return time.monotonic() - t0, None, data
    except OSError as e:
        return time.monotonic() - t0, e.errno, b""


def real_image_tree(workdir, prune=()):
    """(directory, description) of a real image's root: Debian bookworm minbase (built by
    debootstrap from Debian packages, cached at DEBIAN_TAR by the mount tests) when present,
    less the subtrees in PRUNE, else a busybox root with random files made here (and said
    so)."""
    root = os.path.join(workdir, "image-root")
    os.makedirs(root)
    if os.path.exists(DEBIAN_TAR):
        subprocess.run(["tar", "-xf", DEBIAN_TAR, "-C", root, "--numeric-owner",
                        "--exclude=./dev/*"], check=True)
        for p in prune:
            shutil.rmtree(os.path.join(root, p), ignore_errors=True)
        return root, "Debian bookworm minbase (%s)%s" % (
            DEBIAN_TAR, " without " + ", ".join(prune) if prune else "")
    itest.need_tools("busybox")
    for d in ("bin", "etc", "data", "tmp", "proc", "sys", "dev"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(os.path.realpath("/bin/busybox"), os.path.join(root, "bin", "busybox"))
    for applet in ("sh", "cat", "sha256sum", "echo"):
        os.symlink("busybox", os.path.join(root, "bin", applet))
    rnd = random.Random(11)
    for i in range(40):
        with open(os.path.join(root, "data", "f%02d.bin" % i), "wb") as f:
            f.write(rnd.randbytes(rnd.randrange(1, 3 * MiB)))
    return root, "busybox root with 40 random files (no cached Debian image at %s)" % DEBIAN_TAR


def compare_trees(src, mnt, limit=10):
    """Reads every regular file under MNT whole and compares it byte for byte with SRC; also
    symlink targets and the set of names. Returns (files read, bytes read, differences)."""
    diffs, files, nbytes = [], 0, 0
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        mdir = os.path.join(mnt, rel)
        try:
            got = set(os.listdir(mdir))
        except OSError as e:
            diffs.append("%s: listdir: %s" % (rel, e))
            continue
        want = set(dirnames) | set(filenames)
        if got != want:
            diffs.append("%s: names differ: missing %s extra %s"
                         % (rel, sorted(want - got)[:5], sorted(got - want)[:5]))
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            s, m = os.path.join(dirpath, name), os.path.join(mdir, name)
            if os.path.islink(s):
                try:
                    if os.readlink(m) != os.readlink(s):
                        diffs.append("%s: symlink target differs" % os.path.join(rel, name))
                except OSError as e:
                    diffs.append("%s: readlink: %s" % (os.path.join(rel, name), e))
                continue
            if not os.path.isfile(s):
                continue
            try:
                with open(s, "rb") as a, open(m, "rb") as b:
                    while True:
                        x, y = a.read(1 << 20), b.read(1 << 20)
                        nbytes += len(y)
                        if x != y:
                            diffs.append("%s: bytes differ" % os.path.join(rel, name))
                            break
                        if not x:
                            break
                files += 1
            except OSError as e:
                diffs.append("%s: %s" % (os.path.join(rel, name), e))
            if len(diffs) >= limit:
                return files, nbytes, diffs
    return files, nbytes, diffs


def metric_sum(text, name):
    """The sum of every sample of metric NAME in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def in_private_mount_namespace():
    """Re-runs this script in a private mount namespace (unshare -m --propagation private)
    unless it already is in one it made; returns only in the namespace."""
    if os.environ.get("IMGFS_FAULTS_NS") == "1":
        return
    if not shutil.which("unshare"):
        itest.skip("unshare is missing")
    env = dict(os.environ, IMGFS_FAULTS_NS="1")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable] +
                          sys.argv, env=env)
    sys.exit(proc.returncode)
