"""Helpers for the mount tests: a session that owns every mount, daemon, server and temp dir it
creates and always cleans them up; the counting HTTP server; a reader of the image-index format
(docs/index-format.md) to know which chunks a file has and where they lie in the packs.

Cleanup never uses broad process matches: a daemon is found by its exact command line
("imgfs daemon --store STORE ...", STORE unique to the session) and killed by pid.
"""

import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import itest  # noqa: E402
from itest import skip, CommandFailed  # noqa: E402,F401

SKIP = 77


def need_fuse():
    itest.need_root()
    if not os.path.exists("/dev/fuse"):
        skip("/dev/fuse is missing (no FUSE in this kernel or container)")
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        skip("/dev/fuse cannot be opened: %s" % e.strerror)


def mounted_paths():
    """Mount points from /proc/self/mountinfo (octal escapes decoded)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            out.append(mp.encode().decode("unicode_escape"))
    return out


def is_mounted(path):
    return os.path.realpath(path) in mounted_paths()


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Session:
    """Temp dir, imgfs CLI, and everything started: torn down by close() (use `with`)."""

    def __init__(self, name, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="imgfs-mount-%s-" % name)
        self.mounts = {}   # mountpoint -> store
        self.stores = set()
        self.servers = []
        self.failures = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the CLI -------------------------------------------------------------------------
    def run(self, *args, check=True, timeout=600, store=None):
        cmd = [self.binary, *args]
        if store:
            cmd += ["--store", store]
            self.stores.add(store)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise CommandFailed("imgfs %s" % " ".join(args), proc)
        return proc

    def store(self, name):
        s = self.path("store-" + name)
        self.stores.add(s)
        return s

    def convert(self, source, store, tag):
        out = self.run("convert", source, "--tag", tag, store=store).stdout.split()
        check(out and itest.DIGEST_RE.match(out[-1]), "convert printed %r" % out)
        return out[-1]

    def push(self, image, dest, store):
        out = self.run("push", image, dest, store=store).stdout.split()
        check(out and itest.DIGEST_RE.match(out[-1]), "push printed %r" % out)
        return out[-1]

    def mount(self, image, store, mountpoint=None, remote=None, cache_size=None, trace=None,
              trace_seconds=None, timeout=120):
        mp = mountpoint or tempfile.mkdtemp(prefix="mnt-", dir=self.dir)
        os.makedirs(mp, exist_ok=True)
        args = ["mount", image, mp]
        if remote:
            args += ["--remote", remote]
        if cache_size is not None:
            args += ["--cache-size", str(cache_size)]
        if trace:
            args += ["--trace", trace]
        if trace_seconds is not None:
            args += ["--trace-seconds", str(trace_seconds)]
        self.mounts[mp] = store
        out = self.run(*args, store=store, timeout=timeout).stdout.split()
        check(out and itest.DIGEST_RE.match(out[-1]), "mount printed %r" % out)
        check(is_mounted(mp), "imgfs mount returned but %s is not in mountinfo" % mp)
        return mp, out[-1]

    def umount(self, mp, wait_daemon=True):
        store = self.mounts.get(mp)
        pid = self.daemon_pid(store) if store else None
        self.run("umount", mp, store=store, timeout=60)
        check(not is_mounted(mp), "imgfs umount returned but %s is still mounted" % mp)
        self.mounts.pop(mp, None)
        if wait_daemon and pid and store not in self.mounts.values():
            # The daemon exits after its last mount; wait so a next mount starts a fresh one.
            deadline = time.time() + 20
            while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
                time.sleep(0.05)
            # (The log's end says why: a worker restarted by its supervisor, a request in
            # flight, a slow teardown.)
            check(not os.path.exists("/proc/%d" % pid),
                  "daemon %d still running 20 s after its last umount; its log ends: %s"
                  % (pid, " | ".join(self.daemon_log(store).splitlines()[-8:])))

    def stats(self, mp):
        out = self.run("stats", mp, "--json", store=self.mounts[mp], timeout=30).stdout
        j = json.loads(out)
        flat = dict(j.get("metrics", {}))
        for k, v in j.get("cache", {}).items():
            flat["cache." + k] = v
        return flat

    def metrics_text(self, store):
        proc = subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket",
                               os.path.join(store, "imgfs.sock"), "http://x/metrics"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise CommandFailed("curl /metrics", proc)
        return proc.stdout

    def daemon_pids(self, store):
        """The supervisor and the worker serving STORE (imgfs/daemon/supervisor.h): supervisors
        first, so that killing in this order never leaves a supervisor to restart a worker."""
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    argv = [a.decode(errors="replace") for a in f.read().split(b"\0")]
            except OSError:
                continue
            if argv[1:2] == ["daemon"] and any(
                    argv[i:i + 2] == ["--store", store] for i in range(2, len(argv) - 1)):
                pids.append(("--supervised-by" in argv, int(name)))
        return [pid for _, pid in sorted(pids)]

    def kill_daemon(self, store):
        """SIGKILL to supervisor and worker: the whole daemon dies, its mounts go dead."""
        pids = self.daemon_pids(store)
        check(pids, "no daemon process found for " + store)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while any(os.path.exists("/proc/%d" % p) for p in pids) and time.time() < deadline:
            time.sleep(0.05)
        return pids

    def daemon_pid(self, store):
        """The daemon's supervisor (the worker it starts has --supervised-by FD after "daemon")."""
        want = ["daemon", "--store", store]
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if [a.decode(errors="replace") for a in argv[1:4]] == want:
                return int(name)
        return None

    def daemon_log(self, store):
        try:
            with open(os.path.join(store, "daemon.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    # --- the counting server ------------------------------------------------------------
    def start_server(self, root=None):
        srv = CountServer(root or self.path("remote-%d" % len(self.servers)), self.dir)
        self.servers.append(srv)
        return srv

    # --- teardown -----------------------------------------------------------------------
    def close(self):
        for mp, store in list(self.mounts.items()):
            try:
                subprocess.run([self.binary, "umount", mp, "--store", store], timeout=30,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                pass
        for store in self.stores:
            pid = self.daemon_pid(store)
            if pid:
                kill_pid(pid)
            for pid in self.daemon_pids(store):  # a worker whose supervisor is gone
                kill_pid(pid)
        for mp in mounted_paths():
            if mp.startswith(self.dir + "/"):
                subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        for srv in self.servers:
            srv.stop()
        left = [mp for mp in mounted_paths() if mp.startswith(self.dir + "/")]
        if left:
            print("WARNING: mounts left behind: %s" % left)
        elif os.environ.get("IMGFS_KEEP_TMP"):
            print("work dir kept: " + self.dir)
        else:
            subprocess.run(["rm", "-rf", "--one-file-system", self.dir])


def control_exchange(sock_path, request, timeout=60):
    """Sends REQUEST (bytes, as written) on the store's control socket and returns every byte
    of the answer, read until the daemon closes the connection."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(timeout)
    try:
        c.connect(sock_path)
        c.sendall(request)
        out = b""
        while True:
            part = c.recv(65536)
            if not part:
                return out
            out += part
    finally:
        c.close()


def kill_pid(pid, grace=5):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace
    while time.time() < deadline:
        if not os.path.exists("/proc/%d" % pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class CountServer:
    """countserver.py in a child process; stop() kills it (all its connections die with it)."""

    def __init__(self, root, workdir):
        self.root = root
        os.makedirs(root, exist_ok=True)
        port_file = tempfile.mktemp(prefix="port-", dir=workdir)
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "countserver.py"),
                                      "--root", root, "--port-file", port_file])
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("countserver.py did not start")
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def _call(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as r:
            return r.read()

    def requests(self):
        return json.loads(self._call("GET", "/_stats"))["requests"]

    def reset(self):
        self._call("POST", "/_reset", b"")

    def fault(self, **faults):
        self._call("POST", "/_fault", json.dumps(faults).encode())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def pack_gets(self, base=""):
        """(pack hex, first, last) of every GET of a pack blob that served a body."""
        out = []
        for method, path, first, last, nbytes, status in self.requests():
            if method == "GET" and "/blobs/sha256/" in path and nbytes > 0:
                out.append((path.rsplit("/", 1)[1], first, last))
        return out


# --- the image index (docs/index-format.md) ----------------------------------------------
class Index:
    def __init__(self, data):
        check(data[:8] == b"IMGFSIX\0", "not an imgfs index")
        self.data = data
        secs = [struct.unpack_from("<QQ", data, 24 + 16 * i) for i in range(8)]
        self.strings = data[secs[0][0]:secs[0][0] + secs[0][1]]
        self.sec = secs

    def _rec(self, section, size, i):
        off, count = self.sec[section]
        check(i < count, "record %d out of range in section %d" % (i, section))
        return off + size * i

    def inode(self, i):
        o = self._rec(1, 64, i)
        (mode, uid, gid, nlink, size, mtime, mns, ma, mi, xf, xc, df, dc) = struct.unpack_from(
            "<IIIIQqIIIIIII", self.data, o)
        return dict(mode=mode, size=size, data_first=df, data_count=dc)

    def children(self, i):
        ino = self.inode(i)
        out = {}
        for k in range(ino["data_count"]):
            o = self._rec(2, 12, ino["data_first"] + k)
            noff, nlen, _, child = struct.unpack_from("<IHHI", self.data, o)
            out[bytes(self.strings[noff:noff + nlen]).decode(errors="surrogateescape")] = child
        return out

    def lookup(self, rel):
        """Index inode of a path relative to the root, following no symlinks."""
        i = 0
        for part in [p for p in rel.split("/") if p]:
            i = self.children(i)[part]
        return i

    def chunk(self, c):
        o = self._rec(5, 56, c)
        digest = bytes(self.data[o:o + 32]).hex()
        raw, stored, pack, _, off = struct.unpack_from("<IIIIQ", self.data, o + 32)
        return dict(digest=digest, raw=raw, stored=stored, pack=pack, offset=off)

    def pack(self, p):
        o = self._rec(6, 40, p)
        return dict(digest=bytes(self.data[o:o + 32]).hex(),
                    size=struct.unpack_from("<Q", self.data, o + 32)[0])

    def file_chunks(self, rel):
        """Chunk numbers of a regular file, in file order (repeats kept)."""
        ino = self.inode(self.lookup(rel))
        check(stat.S_ISREG(ino["mode"]), "%s is not a regular file in the index" % rel)
        out = []
        for k in range(ino["data_count"]):
            o = self._rec(4, 16, ino["data_first"] + k)
            _, c, _ = struct.unpack_from("<QII", self.data, o)
            out.append(c)
        return out

    def chunk_count(self):
        return self.sec[5][1]

    def file_stored_bytes(self, rel):
        return sum(self.chunk(c)["stored"] for c in set(self.file_chunks(rel)))

    def max_chunk_stored(self):
        return max((self.chunk(c)["stored"] for c in range(self.chunk_count())), default=0)


def load_index(remote_root, digest):
    with open(os.path.join(remote_root, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        return Index(f.read())


def chunk_spans(index, chunks):
    """{(pack hex, offset, offset+stored)} of the given chunk numbers."""
    out = set()
    for c in chunks:
        r = index.chunk(c)
        out.add((index.pack(r["pack"])["digest"], r["offset"], r["offset"] + r["stored"]))
    return out


def coverage(spans, gets):
    """For each span, how many GETs fully cover it; plus the bytes of GETs outside every span."""
    counts = {s: 0 for s in spans}
    by_pack = {}
    for s in spans:
        by_pack.setdefault(s[0], []).append(s)
    outside = 0
    for pack, first, last in gets:
        inside = 0
        for s in by_pack.get(pack, []):
            if first <= s[1] and s[2] - 1 <= last:
                counts[s] += 1
            lo, hi = max(first, s[1]), min(last + 1, s[2])
            if hi > lo:
                inside += hi - lo
        outside += (last - first + 1) - inside
    return counts, outside


def drop_file_cache(path):
    """Drops the kernel page cache of one file (works on FUSE: clean pages are invalidated)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sha256_file(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Report(itest.Report):
    pass


def run_case(report, name, fn):
    """Runs one case; its assertion or command failure becomes a FAIL line, never a crash."""
    t0 = time.time()
    try:
        diffs = fn() or []
    except (Failure, CommandFailed, AssertionError, subprocess.CalledProcessError,
            subprocess.TimeoutExpired, OSError) as e:
        diffs = ["%s: %s" % (type(e).__name__, e)]
    report.case(name, diffs, time.time() - t0)
