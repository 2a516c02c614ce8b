#!/usr/bin/python3
"""daemon_control: the daemon's control socket against local users, slow clients and hostile numbers.

  private           `imgfs daemon` started under umask 000 on a store that already exists as
                    0755: the store becomes 0700 and the socket 0600, and so they stay after an
                    `imgfs mount` under umask 000. uid 65534 cannot even connect; with the modes
                    opened by hand (a broken setup), it gets 403 on /convert of dir:/etc, /mount
                    and /stats, and nothing of /etc lands in the store; root is served.
  foreign owner     a store owned by uid 65534: `imgfs daemon` and `imgfs mount` refuse it with
                    one line naming the owner and leave it as it was (no socket).
  slow client       a request sent a byte a second: /stats from another client answers while it
                    is still connected and sending; it is then cut off with 408.
  hanging remote    a mount whose remote does not answer (a gate the test holds shut): /stats
                    answers and lists the mount point as mounting, another mount of the store
                    is unmounted; a second mount of the same point (a local image) fails at
                    once with "being mounted"; once the gate opens the first mount succeeds:
                    exactly one mount is there.
  hostile numbers   threads=100000, chunk_max=0, a float, a negative, prefetch_threads=100000,
                    cache_size=-1 over the socket get 400 and the daemon keeps serving; the same
                    through CLI flags are one-line errors naming the flag (exit 2).
  dead mount        the daemon (supervisor and worker) killed with SIGKILL leaves a dead mount
                    (ENOTCONN); mounting the same point again replaces it (one mount there, files read right); after the
                    umount nothing is mounted there.
  failed first mount  the daemon that a failing `imgfs mount` started exits.
  help              every subcommand answers --help with its usage (exit 0).
"""

import errno
import http.server
import json
import os
import select
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402
import objserver  # noqa: E402

NOBODY = 65534


def make_tree(root):
    files = {"etc/conf": b"a=1\n", "bin/tool": os.urandom(300 << 10), "lib/text": b"x\n" * 5000}
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    return files


def ask(sock, method, path, body=None, timeout=60):
    """One request on the control socket: (HTTP status, body bytes)."""
    payload = b"" if body is None else json.dumps(body).encode()
    out = ml.control_exchange(sock, b"%s %s HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % (
        method.encode(), path.encode(), len(payload)) + payload, timeout)
    head, _, rest = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def as_nobody(fn):
    """Runs fn() in a forked child as uid/gid 65534 with no groups; returns what it returns (a
    string), or "EXC name: message" for an exception."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = str(fn())
        except BaseException as e:  # noqa: B902: everything goes back to the parent
            out = "EXC %s: %s" % (type(e).__name__, e)
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        part = os.read(r, 65536)
        if not part:
            break
        data += part
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode()


def umask0():
    os.umask(0)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def mount_count(path):
    return ml.mounted_paths().count(os.path.realpath(path))


def wait_for(what, cond, deadline_s=30):
    """Polls cond() until true; the deadline only bounds a failure, it orders nothing."""
    deadline = time.time() + deadline_s
    while not cond():
        if time.time() > deadline:
            raise ml.Failure("timed out waiting for " + what)
        time.sleep(0.05)


def start_daemon(s, store, umask_zero=False):
    s.stores.add(store)
    proc = subprocess.Popen([s.binary, "daemon", "--store", store, "--exit-when-idle"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=umask0 if umask_zero else None)
    sock = os.path.join(store, "imgfs.sock")

    def up():
        if proc.poll() is not None:
            raise ml.Failure("imgfs daemon exited: %s" % proc.stderr.read())
        try:
            return ask(sock, "GET", "/stats", timeout=5)[0] == 200
        except OSError:
            return False
    wait_for("the daemon's socket", up)
    return proc, sock


class GateServer:
    """Objects under ROOT over HTTP on 127.0.0.1; every GET waits until open() is called."""

    def __init__(self, root):
        gate = self.gate = threading.Event()

        class Handler(objserver.ObjectHandler):
            def do_GET(self):
                gate.wait(120)
                path = os.path.join(root, self.path.lstrip("/"))
                if ".." in self.path or not os.path.isfile(path):
                    self.reply(404, b"no such object\n")
                    return
                with open(path, "rb") as f:
                    data = f.read()
                asked = self.byte_range(len(data))
                if isinstance(asked, int):
                    return
                if asked is None:
                    self.reply(200, data)
                else:
                    first, last = asked
                    self.reply(206, data[first:last + 1], [
                        ("Content-Range", "bytes %d-%d/%d" % (first, last, len(data)))])

            do_HEAD = do_GET

        self.server = objserver.Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def open(self):
        self.gate.set()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("control", args.imgfs) as s:
        src = s.path("src")
        files = make_tree(src)

        def private():
            diffs = []
            store = s.path("store-private")
            os.mkdir(store)
            os.chmod(store, 0o755)
            s.run("convert", "dir:" + src, "--tag", "a", store=store)
            os.chmod(store, 0o755)  # as an old imgfs or a careless admin left it
            proc, sock = start_daemon(s, store, umask_zero=True)
            if mode(store) != 0o700:
                diffs.append("daemon start left the store %o" % mode(store))
            if mode(sock) != 0o600:
                diffs.append("the socket is %o under umask 000" % mode(sock))
            mp = s.path("mnt-private")
            os.mkdir(mp)
            s.mounts[mp] = store
            subprocess.run([s.binary, "mount", "a", mp, "--store", store], check=True,
                           stdout=subprocess.DEVNULL, preexec_fn=umask0, timeout=120)
            if mode(store) != 0o700 or mode(sock) != 0o600:
                diffs.append("after a mount under umask 000: store %o, socket %o" % (
                    mode(store), mode(sock)))

            def connect():
                c = socket.socket(socket.AF_UNIX)
                try:
                    c.connect(sock)
                    return "connected"
                except OSError as e:
                    return "refused: " + errno.errorcode.get(e.errno, str(e.errno))
                finally:
                    c.close()
            os.chmod(s.dir, 0o711)  # only the store's own mode stands in the way now
            try:
                got = as_nobody(connect)
            finally:
                os.chmod(s.dir, 0o700)
            if got != "refused: EACCES":
                diffs.append("uid 65534 connecting to the socket: %s" % got)

            # A broken setup opens the modes: the daemon still refuses by peer credentials.
            session_mode = mode(s.dir)  # the test's own scratch dir (mkdtemp: 0700)
            os.chmod(s.dir, 0o711)
            os.chmod(store, 0o711)
            os.chmod(sock, 0o777)
            try:
                victim = s.path("victim")
                os.mkdir(victim)
                attempts = [("POST", "/convert", {"source": "dir:/etc", "tag": "stolen"}),
                            ("POST", "/mount", {"image": "a", "mountpoint": victim}),
                            ("GET", "/stats", None)]
                for method, path, body in attempts:
                    got = as_nobody(lambda: ask(sock, method, path, body))
                    if not got.startswith("(403, ") or "permission denied: uid 65534" not in got:
                        diffs.append("uid 65534 %s %s: %s" % (method, path, got[:200]))
                if ml.is_mounted(victim):
                    diffs.append("uid 65534 got a mount on %s" % victim)
            finally:
                os.chmod(sock, 0o600)
                os.chmod(store, 0o700)
                os.chmod(s.dir, session_mode)
            code, body = ask(sock, "GET", "/stats")
            if code != 200 or mp not in body.decode():
                diffs.append("root's /stats: %d %r" % (code, body[:200]))
            if "stolen" in s.run("ls", store=store).stdout:
                diffs.append("a tag 'stolen' was converted for uid 65534")
            s.umount(mp, wait_daemon=False)  # the daemon is our child: wait() reaps it
            proc.wait(timeout=30)
            return diffs

        def foreign_owner():
            diffs = []
            store = s.path("store-foreign")
            os.mkdir(store)
            os.chown(store, NOBODY, NOBODY)
            os.chmod(store, 0o755)
            mp = s.path("mnt-foreign")
            os.mkdir(mp)
            for cmd in (["daemon"], ["mount", "a", mp]):
                p = s.run(*cmd, store=store, check=False, timeout=60)
                err = p.stderr.strip()
                if p.returncode == 0 or "owned by uid 65534" not in err or "\n" in err:
                    diffs.append("imgfs %s on a store of uid 65534: rc %d, %r" % (
                        cmd[0], p.returncode, err))
            st = os.stat(store)
            if st.st_uid != NOBODY or mode(store) != 0o755 or os.listdir(store):
                diffs.append("the foreign store was changed: uid %d mode %o %s" % (
                    st.st_uid, mode(store), os.listdir(store)))
            if ml.is_mounted(mp):
                diffs.append("a mount was made from the foreign store")
            return diffs

        store = s.store("main")
        s.convert("dir:" + src, store, "a")
        mp_main, _ = s.mount("a", store)  # the daemon for the next cases
        sock = os.path.join(store, "imgfs.sock")

        def slow_client():
            diffs = []
            request = b"POST /umount HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(60)
            c.connect(sock)
            c.sendall(request[:1])
            code, _ = ask(sock, "GET", "/stats", timeout=30)
            if code != 200:
                diffs.append("/stats beside a slow client answered %d" % code)
            # The slow client is still connected: nothing to read, and it can go on sending.
            if select.select([c], [], [], 0)[0]:
                diffs.append("the slow client was answered before /stats")
            sent, reply = 1, b""
            while sent < len(request):
                time.sleep(1)  # the slow client's pace, not an ordering device
                if select.select([c], [], [], 0)[0]:
                    break
                try:
                    c.sendall(request[sent:sent + 1])
                except OSError:
                    break
                sent += 1
            try:
                while True:
                    part = c.recv(4096)
                    if not part:
                        break
                    reply += part
            except OSError:
                pass
            c.close()
            if sent >= len(request) or not reply.startswith(b"HTTP/1.0 408"):
                diffs.append("a client sending a byte a second: sent %d of %d bytes, got %r" % (
                    sent, len(request), reply[:80]))
            return diffs

        def hanging_remote():
            diffs = []
            # An image the second store lacks (the same tree would have the same digest).
            src_b = s.path("src-b")
            make_tree(src_b)
            s.convert("dir:" + src_b, store, "b")
            remote_root = s.path("remote-gate")
            digest = s.push("b", "file://" + remote_root, store)
            gate = GateServer(remote_root)
            store2 = s.store("gate")
            s.convert("dir:" + src, store2, "local")
            mp_other, _ = s.mount("local", store2)  # to unmount while the hanging mount waits
            mp = s.path("mnt-gate")
            os.mkdir(mp)
            s.mounts[mp] = store2
            first = subprocess.Popen([s.binary, "mount", digest, mp, "--store", store2,
                                      "--remote", gate.url], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            try:
                sock2 = os.path.join(store2, "imgfs.sock")

                def mounting():
                    if first.poll() is not None:
                        raise ml.Failure("the hanging mount ended: rc %d, %r" % (
                            first.returncode, first.communicate()))
                    try:
                        code, body = ask(sock2, "GET", "/stats", timeout=5)
                    except OSError:
                        return False
                    return code == 200 and mp in json.loads(body).get("mounting", [])
                wait_for("/stats to list the hanging mount as mounting", mounting)
                second = s.run("mount", "local", mp, store=store2, check=False, timeout=60)
                if second.returncode == 0 or "being mounted" not in second.stderr:
                    diffs.append("a second mount of a point being mounted: rc %d, %r" % (
                        second.returncode, second.stderr.strip()))
                code, _ = ask(sock2, "GET", "/stats", timeout=10)
                if code != 200:
                    diffs.append("/stats during the hanging mount answered %d" % code)
                s.umount(mp_other, wait_daemon=False)  # /umount answers too
                if not mounting():
                    diffs.append("the hanging mount was no longer pending when the others "
                                 "had answered: this case proved nothing")
                gate.open()
                out, err = first.communicate(timeout=120)
                if first.returncode != 0 or out.strip() != digest:
                    diffs.append("the first mount, once the remote answered: rc %d, %r %r" % (
                        first.returncode, out, err))
                if mount_count(mp) != 1:
                    diffs.append("%d mounts at %s" % (mount_count(mp), mp))
                elif sorted(os.listdir(mp)) != ["bin", "etc", "lib"]:
                    diffs.append("the remote mount lists %s" % os.listdir(mp))
            finally:
                gate.stop()
                if first.poll() is None:
                    first.kill()
                    first.wait()
            if ml.is_mounted(mp):
                s.umount(mp)
            return diffs

        def hostile_numbers():
            diffs = []
            victim = s.path("mnt-numbers")
            os.mkdir(victim)
            cases = [
                ("/convert", {"source": "dir:" + src, "threads": 100000}, "threads"),
                ("/convert", {"source": "dir:" + src, "chunk_max": 0}, "maximum chunk size"),
                ("/convert", {"source": "dir:" + src, "chunk_avg": 3000}, "average chunk size"),
                ("/convert", {"source": "dir:" + src, "chunk_min": 0}, "minimum chunk size"),
                ("/convert", {"source": "dir:" + src, "threads": 2.5}, "threads"),
                ("/convert", {"source": "dir:" + src, "threads": -1}, "threads"),
                ("/mount", {"image": "a", "mountpoint": victim, "prefetch_threads": 100000},
                 "prefetch_threads"),
                ("/mount", {"image": "a", "mountpoint": victim, "trace_seconds": -1},
                 "trace_seconds"),
                ("/cache", {"cache_size": -1}, "cache_size"),
                ("/cache", {"cache_size": 1e300}, "cache_size"),
            ]
            for path, body, word in cases:
                code, out = ask(sock, "POST", path, body)
                if code != 400 or word not in out.decode():
                    diffs.append("POST %s %s: %d %r" % (path, body, code, out[:160]))
            if ml.is_mounted(victim):
                diffs.append("a mount with hostile numbers was made")
            code, out = ask(sock, "GET", "/stats")
            if code != 200 or mp_main not in out.decode():
                diffs.append("after hostile numbers /stats answered %d" % code)
            cli = [(["convert", "dir:" + src, "--threads", "100000"], "--threads"),
                   (["convert", "dir:" + src, "--threads", "x"], "--threads"),
                   (["convert", "dir:" + src, "--chunk-size", "3000"], "--chunk-size"),
                   (["mount", "a", victim, "--cache-size", "x"], "--cache-size"),
                   (["mount", "a", victim, "--cache-size", "99999999999T"], "--cache-size"),
                   (["mount", "a", victim, "--trace-seconds", "-1"], "--trace-seconds"),
                   (["daemon", "--memory-cache", "lots"], "--memory-cache"),
                   (["daemon", "--memory-cache", "0"], "--memory-cache")]
            for argv, flag in cli:
                p = s.run(*argv, store=store, check=False, timeout=60)
                err = p.stderr.strip()
                if p.returncode != 2 or flag not in err or "\n" in err:
                    diffs.append("imgfs %s: rc %d, %r" % (" ".join(argv), p.returncode, err))
            return diffs

        def dead_mount():
            diffs = []
            store3 = s.store("dead")
            s.convert("dir:" + src, store3, "a")
            mp, _ = s.mount("a", store3)
            s.kill_daemon(store3)  # supervisor and worker (a worker alone is restarted)
            try:
                os.statvfs(mp)  # (stat() may be answered from the attribute cache)
                diffs.append("the mount of a killed daemon still answers statfs()")
            except OSError as e:
                if e.errno != errno.ENOTCONN:
                    diffs.append("stat of the dead mount: %s" % e)
            # (Session.mount would mkdir the point first, which fails on a dead mount.)
            out = s.run("mount", "a", mp, store=store3, timeout=120).stdout.split()
            ml.check(out and itest.DIGEST_RE.match(out[-1]), "mount printed %r" % out)
            if mount_count(mp) != 1:
                diffs.append("%d mounts at %s after mounting over a dead one" % (mount_count(mp), mp))
            for rel, data in files.items():
                with open(os.path.join(mp, rel), "rb") as f:
                    if f.read() != data:
                        diffs.append("%s reads wrong after the replacement" % rel)
            try:
                s.umount(mp)
            except ml.Failure as e:
                diffs.append("%s (%d mounts there)" % (e, mount_count(mp)))
            if mount_count(mp) != 0:
                diffs.append("after umount %d mounts are left at %s" % (mount_count(mp), mp))
            return diffs

        def failed_first_mount():
            store4 = s.store("failed")
            mp = s.path("mnt-failed")
            os.mkdir(mp)
            p = s.run("mount", "no-such-image", mp, store=store4, check=False, timeout=120)
            diffs = []
            if p.returncode == 0:
                diffs.append("mounting a missing image succeeded")
            # The daemon it started exits on its own (the deadline only bounds a failure).
            deadline = time.time() + 30
            while s.daemon_pid(store4) and time.time() < deadline:
                time.sleep(0.1)
            if s.daemon_pid(store4):
                diffs.append("the daemon started by a failed first mount is still running")
            return diffs

        def help_texts():
            diffs = []
            for cmd in ("convert", "inspect", "export", "ls", "rm", "gc", "push", "repack",
                        "mount", "umount", "stats", "daemon"):
                p = s.run(cmd, "--help", check=False, timeout=30)
                if p.returncode != 0 or not p.stdout.startswith("usage: imgfs " + cmd):
                    diffs.append("imgfs %s --help: rc %d, %r %r" % (
                        cmd, p.returncode, p.stdout[:80], p.stderr[:80]))
            return diffs

        for name, fn in (("private store and socket", private),
                         ("store of another user refused", foreign_owner),
                         ("slow client does not delay /stats", slow_client),
                         ("hanging remote: one mount per point, /stats answers", hanging_remote),
                         ("hostile numbers get 400", hostile_numbers),
                         ("dead mount replaced", dead_mount),
                         ("daemon of a failed first mount exits", failed_first_mount),
                         ("every subcommand answers --help", help_texts)):
            if os.environ.get("IMGFS_CASE", "") in name:  # IMGFS_CASE=word runs only those
                ml.run_case(report, name, fn)
        s.umount(mp_main)
    return report.exit()


if __name__ == "__main__":
    sys.exit(main())
