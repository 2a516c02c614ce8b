#!/usr/bin/python3
"""crash: `kill -9` of the daemon does not leave its mounts dead; readers see no error, no wrong byte.

`imgfs daemon` is a supervisor that holds every mount's /dev/fuse descriptor and restarts the
daemon (its worker) when it dies; the new worker takes the connections over and asks the kernel
to resend the requests the dead one had read and not answered (docs/operations.md, "Daemon crash
and restart"). Runs in a private mount namespace below its own scratch dir.

  readers     a local image; one reader loops over a 64 MiB file (page cache dropped before every
              pass, so reads reach the daemon; read-ahead keeps several in flight), another keeps
              three files open across every kill and reads them at random offsets. The worker is
              killed with SIGKILL KILLS times (default 5, --kills), each time after both readers
              made progress; every byte read is compared, no read may fail, /stats must show a new
              worker pid and the restart count, and a client of the control socket right after
              the kill must wait for the new worker, not be refused. Afterwards the mount is
              still served (a full read and `imgfs stats`), and `imgfs umount` stops supervisor
              and worker. The pause a reader sees at each kill is printed, not asserted: the
              longest time between two of its reads finishing, from the last before the kill to
              the first after the new worker answers /stats (read-ahead may hide part of the
              outage).
  upgrade     the same readers while `imgfs daemon --upgrade` hands the mounts to the installed
              binary UPGRADES times (default 3, --upgrades): a planned hand-over, the worker
              drains its control requests and exits, the supervisor starts the binary now at its
              path.
  http-inflight
              an image mounted by digest from countserver.py on 127.0.0.1 with an empty store;
              every GET waits 1.5 s. A read is started; once the daemon's /stats shows the remote
              request under way (so the kernel has handed the FUSE request to the daemon), the
              worker is killed. The read must complete with the right bytes (without the kernel's
              resend it would wait forever: the reader is given 60 s), and the server must have
              seen the range asked twice (the dead worker's and the new one's).
  give-up     daemon.max_restarts = 1: the first kill of the worker is survived, the second makes
              the supervisor give up: the mount is dead (ENOTCONN), the log says so.
  unsupervised
              `imgfs daemon --no-supervise` is one process, says so in /stats, and refuses
              `--upgrade` with one line.
  whole-daemon
              supervisor and worker both killed: the mount is dead (ENOTCONN) and the next mount
              of the point replaces it (the fallback, imgfs/daemon/mount_point.h).
"""

import errno
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402

BLOCK = 1 << 20


def in_private_namespace(argv):
    """Re-runs this script in a private mount namespace (its mounts vanish with it)."""
    if os.environ.get("IMGFS_CRASH_TEST_NS") == "1":
        return None
    env = dict(os.environ, IMGFS_CRASH_TEST_NS="1")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                           os.path.abspath(__file__), *argv], env=env)
    return proc.returncode


def daemon_stats(store):
    raw = ml.control_exchange(os.path.join(store, "imgfs.sock"),
                              b"GET /stats HTTP/1.0\r\n\r\n", timeout=30)
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def wait_for(what, fn, timeout=60):
    """Polls an outside process's state (never used to order this script's threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except OSError:
            pass
        time.sleep(0.01)
    raise ml.Failure("timed out waiting for " + what)


def worker_pid(store):
    return daemon_stats(store)["daemon"]["pid"]


class Reader(threading.Thread):
    """Reads files through the mount and compares every byte; records when each read finished."""

    def __init__(self, name, jobs, hold_open):
        super().__init__(daemon=True, name=name)
        self.jobs = jobs  # [(mount path, expected bytes)]
        self.hold_open = hold_open
        self.stop = threading.Event()
        self.cond = threading.Condition()
        self.count = 0
        self.stamps = []  # monotonic time at the end of each read
        self.errors = []
        self.bytes = 0

    def _done(self, got, want, what):
        now = time.monotonic()
        if got != want:
            self.errors.append("%s: %d bytes differ from the source" % (what, len(want)))
        with self.cond:
            self.count += 1
            self.bytes += len(got)
            self.stamps.append(now)
            self.cond.notify_all()

    def wait_reads(self, n, timeout=60):
        with self.cond:
            target = self.count + n
            if not self.cond.wait_for(lambda: self.count >= target or self.errors, timeout):
                raise ml.Failure("%s made no progress for %d s" % (self.name, timeout))

    def run(self):
        fds = [os.open(p, os.O_RDONLY) for p, _ in self.jobs] if self.hold_open else None
        rnd = random.Random(self.name)
        try:
            while not self.stop.is_set():
                for i, (path, want) in enumerate(self.jobs):
                    fd = fds[i] if fds else os.open(path, os.O_RDONLY)
                    try:
                        # Drop the cached pages so the reads go to the daemon again.
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                        if self.hold_open:
                            for _ in range(8):
                                off = rnd.randrange(0, len(want))
                                got = os.pread(fd, 128 << 10, off)
                                self._done(got, want[off:off + (128 << 10)], "%s@%d" % (path, off))
                        else:
                            for off in range(0, len(want), BLOCK):
                                if self.stop.is_set():
                                    break
                                got = os.pread(fd, BLOCK, off)
                                self._done(got, want[off:off + BLOCK], "%s@%d" % (path, off))
                    finally:
                        if not fds:
                            os.close(fd)
        except OSError as e:
            self.errors.append("%s: %s" % (self.name, os.strerror(e.errno)))
            with self.cond:
                self.cond.notify_all()
        finally:
            for fd in fds or []:
                os.close(fd)

    def longest_gap(self, t0, t1):
        """The longest time between two consecutive reads finishing, from the last read before
        T0 to the first after T1: the pause this reader saw while the worker was replaced."""
        with self.cond:
            before = [x for x in self.stamps if x <= t0]
            inside = [x for x in self.stamps if t0 < x <= t1]
            after = [x for x in self.stamps if x > t1]
        points = before[-1:] + inside + after[:1]
        return max((b - a for a, b in zip(points, points[1:])), default=None)


def make_source(root):
    rnd = random.Random(11)
    os.makedirs(os.path.join(root, "data"))
    sizes = {"data/big.bin": 64 << 20, "data/a.bin": 4 << 20, "data/b.bin": 3 << 20,
             "data/c.bin": (5 << 20) + 12345}
    for rel, size in sizes.items():
        with open(os.path.join(root, rel), "wb") as f:
            f.write(rnd.randbytes(size))
    return list(sizes)


def read_source(src, rel):
    with open(os.path.join(src, rel), "rb") as f:
        return f.read()


def main():
    def extra(p):
        p.add_argument("--kills", type=int, default=5, help="kills of the worker (readers)")
        p.add_argument("--upgrades", type=int, default=3, help="hand-overs (upgrade)")

    args = itest.parse_args(__doc__.splitlines()[1], extra=extra)
    ml.need_fuse()
    if not shutil.which("unshare"):
        itest.skip("unshare (util-linux) is not installed")
    rc = in_private_namespace(sys.argv[1:])
    if rc is not None:
        return rc
    # The supervisor gives up at the sixth crash within a minute by default; the readers case
    # kills more often than that when asked to.
    os.environ["IMGFS_DAEMON_MAX_RESTARTS"] = str(max(5, args.kills))
    report = ml.Report()
    with ml.Session("crash", os.path.abspath(args.imgfs)) as s:
        src = s.path("src")
        files = make_source(src)
        expected = {rel: read_source(src, rel) for rel in files}
        store = s.store("local")
        s.convert("dir:" + src, store, "crash")

        def readers(how, times):
            """Readers going while the worker is replaced TIMES times, HOW: "kill" or "upgrade"."""
            mp, _ = s.mount("crash", store)
            first = daemon_stats(store)["daemon"]
            ml.check(first["supervised"], "the daemon started by imgfs mount is not supervised")
            supervisor = s.daemon_pid(store)
            ml.check(supervisor and supervisor != first["pid"],
                     "no supervisor process apart from the worker %d" % first["pid"])
            big = Reader("loop-reader", [(os.path.join(mp, "data/big.bin"),
                                          expected["data/big.bin"])], hold_open=False)
            held = Reader("open-files", [(os.path.join(mp, rel), expected[rel])
                                         for rel in ("data/a.bin", "data/b.bin", "data/c.bin")],
                          hold_open=True)
            big.start()
            held.start()
            diffs, pauses = [], []
            try:
                pid = first["pid"]
                for k in range(times):
                    big.wait_reads(20)
                    held.wait_reads(20)
                    t_kill = time.monotonic()
                    new = None
                    if how == "kill":
                        os.kill(pid, signal.SIGKILL)
                        wait_for("the killed worker to be reaped",
                                 lambda: not os.path.exists("/proc/%d" % pid))
                        # The supervisor keeps the control socket listening: a client waits for
                        # the new worker, it is never refused (nor starts a second daemon).
                        try:
                            new = daemon_stats(store)["daemon"]
                        except OSError as e:
                            diffs.append("kill %d: the control socket refused a client while "
                                         "the worker restarted: %s" % (k + 1, e))
                    else:
                        s.run("daemon", "--upgrade", store=store, timeout=60)
                    if not new or new["pid"] == pid:
                        new = wait_for("a new worker after %s %d" % (how, k + 1),
                                       lambda: (lambda d: d if d["pid"] != pid else None)(
                                           daemon_stats(store)["daemon"]))
                    if new["restarts"] != k + 1:
                        diffs.append("after %s %d /stats says restarts=%d"
                                     % (how, k + 1, new["restarts"]))
                    pid = new["pid"]
                    t_back = time.monotonic()
                    big.wait_reads(5)
                    held.wait_reads(5)
                    gaps = [g for g in (big.longest_gap(t_kill, t_back),
                                        held.longest_gap(t_kill, t_back)) if g]
                    pauses.append(max(gaps))
                    print("  %s %d: new worker %d, pause %.0f ms"
                          % (how, k + 1, pid, max(gaps) * 1000))
            finally:
                big.stop.set()
                held.stop.set()
                big.join(60)
                held.join(60)
            for r in (big, held):
                diffs += r.errors[:5]
                if r.is_alive():
                    diffs.append("%s still blocked 60 s after it was stopped" % r.name)
            print("  %s x%d: pause median %.0f ms, min %.0f, max %.0f; %d + %d reads, %.0f MiB"
                  % (how, len(pauses), statistics.median(pauses) * 1000, min(pauses) * 1000,
                     max(pauses) * 1000, big.count, held.count,
                     (big.bytes + held.bytes) / (1 << 20)))
            if s.daemon_pid(store) != supervisor:
                diffs.append("the supervisor changed or went away across the %ss" % how)
            if ml.sha256_file(os.path.join(mp, "data/big.bin")) != ml.sha256_file(
                    os.path.join(src, "data/big.bin")):
                diffs.append("big.bin read whole after the %ss differs" % how)
            st = s.stats(mp)
            if st.get("read_errors"):
                diffs.append("the daemon counted %d read errors" % st["read_errors"])
            s.umount(mp)  # waits for the supervisor to exit
            if os.path.exists("/proc/%d" % pid):
                diffs.append("worker %d still running after the last umount" % pid)
            return diffs

        def http_inflight():
            local = s.store("http-src")
            digest = s.convert("dir:" + src, local, "crash")
            srv = s.start_server()
            url = srv.url + "/repo"
            s.push(digest, url, local)
            empty = s.store("http-empty")
            mp, _ = s.mount(digest, empty, remote=url)
            srv.reset()
            srv.fault(delay_ms=1500)
            pid = worker_pid(empty)
            want = expected["data/c.bin"]
            result = {}

            def read_all():
                try:
                    with open(os.path.join(mp, "data/c.bin"), "rb") as f:
                        result["got"] = f.read()
                except OSError as e:
                    result["error"] = e

            reader = threading.Thread(target=read_all, daemon=True)
            reader.start()
            wait_for("the daemon to ask the remote",
                     lambda: any(m["metrics"].get("fetch_requests", 0) > 0
                                 for m in daemon_stats(empty)["mounts"]))
            os.kill(pid, signal.SIGKILL)
            t_kill = time.monotonic()
            reader.join(60)
            diffs = []
            if reader.is_alive():
                diffs.append("the read in flight at the kill never completed (no resend?)")
                return diffs
            took = time.monotonic() - t_kill
            if "error" in result:
                diffs.append("the read in flight at the kill failed: %s" % result["error"])
            elif result["got"] != want:
                diffs.append("the read in flight at the kill returned wrong bytes")
            srv.fault()
            gets = srv.pack_gets()
            firsts = [f for _, f, _ in gets]
            if len(gets) < 2 or len(set(firsts)) == len(firsts):
                diffs.append("the server did not see a range asked twice (%d GETs): the kill "
                             "did not catch a request in flight" % len(gets))
            print("  read in flight completed %.2f s after the kill (the remote waits 1.5 s "
                  "per GET); %d pack GETs" % (took, len(gets)))
            if worker_pid(empty) == pid:
                diffs.append("no new worker")
            s.umount(mp)
            return diffs

        def whole_daemon():
            mp, _ = s.mount("crash", store)
            supervisor = s.daemon_pid(store)
            worker = worker_pid(store)
            for pid in (supervisor, worker):
                os.kill(pid, signal.SIGKILL)
            wait_for("both daemon processes to go",
                     lambda: not any(os.path.exists("/proc/%d" % p) for p in (supervisor, worker)))
            diffs = []
            try:
                os.statvfs(mp)
                diffs.append("the mount still answers after supervisor and worker were killed")
            except OSError as e:
                if e.errno != errno.ENOTCONN:
                    diffs.append("statfs of the dead mount: %s" % e)
            out = s.run("mount", "crash", mp, store=store, timeout=120).stdout.split()
            ml.check(out and itest.DIGEST_RE.match(out[-1]), "mount printed %r" % out)
            if read_source(src, "data/a.bin") != open(os.path.join(mp, "data/a.bin"), "rb").read():
                diffs.append("the replacing mount does not serve a.bin right")
            s.umount(mp)
            return diffs

        def give_up():
            """daemon.max_restarts = 1: the first crash is survived, the second is not."""
            os.environ["IMGFS_DAEMON_MAX_RESTARTS"] = "1"
            try:
                mp, _ = s.mount("crash", store)
            finally:
                os.environ["IMGFS_DAEMON_MAX_RESTARTS"] = str(max(5, args.kills))
            supervisor = s.daemon_pid(store)
            pid = worker_pid(store)
            os.kill(pid, signal.SIGKILL)
            new = wait_for("a new worker", lambda: (lambda p: p if p != pid else None)(
                worker_pid(store)))
            diffs = []
            if read_source(src, "data/b.bin") != open(os.path.join(mp, "data/b.bin"), "rb").read():
                diffs.append("b.bin differs after the first crash")
            os.kill(new, signal.SIGKILL)
            wait_for("the supervisor to give up", lambda: not os.path.exists(
                "/proc/%d" % supervisor))
            try:
                os.statvfs(mp)
                diffs.append("the mount still answers after the supervisor gave up")
            except OSError as e:
                if e.errno != errno.ENOTCONN:
                    diffs.append("statfs after the supervisor gave up: %s" % e)
            if "giving up" not in s.daemon_log(store):
                diffs.append("no 'giving up' line in the daemon's log")
            s.run("umount", mp, store=store, timeout=60)
            s.mounts.pop(mp, None)
            return diffs

        def unsupervised():
            """--no-supervise: one process, /stats says so, --upgrade is refused in one line."""
            alone = s.store("alone")
            proc = subprocess.Popen([s.binary, "daemon", "--no-supervise", "--store", alone,
                                     "--exit-when-idle"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            diffs = []
            try:
                info = wait_for("the unsupervised daemon's socket",
                                lambda: daemon_stats(alone)["daemon"])
                if info["supervised"] or info["pid"] != proc.pid:
                    diffs.append("/stats of --no-supervise: %r (pid %d)" % (info, proc.pid))
                p = s.run("daemon", "--upgrade", store=alone, check=False, timeout=60)
                err = p.stderr.strip()
                if p.returncode == 0 or "supervisor" not in err or "\n" in err:
                    diffs.append("--upgrade of an unsupervised daemon: rc %d, %r"
                                 % (p.returncode, err))
                ml.control_exchange(os.path.join(alone, "imgfs.sock"),
                                    b"POST /shutdown HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            return diffs

        ml.run_case(report, "readers", lambda: readers("kill", args.kills))
        ml.run_case(report, "upgrade", lambda: readers("upgrade", args.upgrades))
        ml.run_case(report, "http-inflight", http_inflight)
        ml.run_case(report, "give-up", give_up)
        ml.run_case(report, "unsupervised", unsupervised)
        ml.run_case(report, "whole-daemon", whole_daemon)
    report.exit()


if __name__ == "__main__":
    sys.exit(main())
