#!/usr/bin/python3
"""run: `imgfs run` end to end, through the real daemon, FUSE, overlayfs and runc-lite.

A busybox image with an image config (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts)
is converted from an OCI layout. Cases: the image's command runs as its user in its working
directory with its env (and a note about the exposed port); a command after the image replaces
Cmd and keeps nothing of it; -e, -u, -w, a read-only volume, the exit code; -t gives the container a terminal on all three
stdio; --read-only refuses
writes; the writable upper layer is gone after the run, and a second run reuses the image's
mount (one mount for both); the image pushed to a file:// remote runs by digest on an empty
store; SIGINT to `imgfs run` stops the container (exit 130) and leaves no runtime state, no
overlay and no container directory; a missing program is exit 127 and a missing image 125, with
one line each, leaving nothing behind. -d prints the container's ID once it runs; `imgfs ps`
lists it running, `imgfs logs` shows its stdout and stderr, `imgfs stop` stops it (SIGTERM, its
trap's exit code; SIGKILL after -t for one that ignores SIGTERM) and removes its overlay, the
record stays exited until `imgfs ps --prune`; a -d run that fails is one line and leaves nothing.
`imgfs run --plain-http docker://HOST/REPO:TAG` runs the image from the artifact imgfs push put
beside it in a real registry (docker-registry on 127.0.0.1), on an empty store.
`imgfs run` killed with SIGKILL leaves a record that ps shows as gone; ps --prune removes its
container (runtime state), overlay and directory.
--runtime PATH: a runtime of one's own is asked for its default config (`PATH spec`) and runs
the container; without it imgfs run builds on runc-lite's default itself.
--keep-warm 1: the image's mount stays while a container uses it (past several idle periods)
and is dropped by the daemon once the container is gone; mounts with the default stay.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools")
CONFIG = {
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["echo image-cmd $GREETING $HOME; id -u; pwd"],
    "Env": ["PATH=/bin", "GREETING=hello"],
    "WorkingDir": "/srv",
    "User": "app",
    "ExposedPorts": {"8080/tcp": {}},
}


def make_rootfs(root):
    for d in ("bin", "etc", "srv", "home/app", "tmp", "proc", "sys", "dev"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    bb = os.path.realpath("/bin/busybox")
    with open(bb, "rb") as src, open(os.path.join(root, "bin", "busybox"), "wb") as dst:
        dst.write(src.read())
    os.chmod(os.path.join(root, "bin", "busybox"), 0o755)
    for applet in ("sh", "echo", "id", "pwd", "cat", "touch", "sleep", "ls", "env"):
        os.symlink("busybox", os.path.join(root, "bin", applet))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\napp:x:1000:\nstaff:x:50:\n")
    os.chown(os.path.join(root, "home", "app"), 1000, 1000)


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    itest.need_tools("busybox")
    report = ml.Report()
    with ml.Session("run", args.imgfs) as s:
        rootfs = s.path("rootfs")
        make_rootfs(rootfs)
        layer = s.path("layer.tar")
        subprocess.run([sys.executable, os.path.join(TOOLS, "mkimage.py"), "pack", "--root",
                        rootfs, "--out", layer], check=True, stdout=subprocess.DEVNULL)
        spec = s.path("spec.json")
        with open(spec, "w") as f:
            json.dump({"images": [{"tag": "v1", "config": CONFIG,
                                   "layers": [{"compression": "gzip", "tar_file": layer}]}]}, f)
        layout = s.path("layout")
        subprocess.run([sys.executable, os.path.join(TOOLS, "mkimage.py"), "build", spec,
                        "--layout", layout], check=True, stdout=subprocess.DEVNULL)
        store = s.store("node")
        digest = s.convert("oci:%s:v1" % layout, store, "app")
        s.convert("dir:" + rootfs, store, "plain")  # no image config at all
        vol = s.path("vol")
        os.makedirs(vol)
        with open(os.path.join(vol, "data.txt"), "w") as f:
            f.write("from the host\n")

        def run(*argv, st=store, timeout=120):
            return subprocess.run([s.binary, "run", "--store", st, *argv],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  timeout=timeout)

        def leftovers(st):
            found = []
            cdir = os.path.join(st, "containers")
            if os.path.isdir(cdir) and os.listdir(cdir):
                found.append("container dirs %r" % os.listdir(cdir))
            over = [m for m in ml.mounted_paths() if m.startswith(cdir + "/")]
            if over:
                found.append("overlays %r" % over)
            runtime = os.path.join(st, "runtime")
            if os.path.isdir(runtime) and os.listdir(runtime):
                found.append("runtime state %r" % os.listdir(runtime))
            return found

        def image_command():
            p = run("app")
            diffs = []
            if p.returncode != 0 or p.stdout != "image-cmd hello /home/app\n1000\n/srv\n":
                diffs.append("exit %d, out %r, err %r" % (p.returncode, p.stdout, p.stderr))
            if "8080/tcp" not in p.stderr:
                diffs.append("no note about the exposed port: %r" % p.stderr)
            return diffs

        def flags():
            p = run("-e", "GREETING=bye", "-e", "EXTRA=1", "-u", "0:50", "-w", "/tmp",
                    "-v", vol + ":/data:ro", "app",
                    "echo $GREETING $EXTRA $PATH; id -u; id -g; pwd; cat /data/data.txt; "
                    "touch /data/x 2>/dev/null || echo ro-volume; exit 7")
            want = "bye 1 /bin\n0\n50\n/tmp\nfrom the host\nro-volume\n"
            return [] if p.returncode == 7 and p.stdout == want else [
                "exit %d, out %r, err %r" % (p.returncode, p.stdout, p.stderr)]

        def read_only():
            p = run("--read-only", "-u", "0", "app", "touch /srv/x && echo wrote || echo refused")
            writable = run("-u", "0", "app", "touch /srv/x && echo wrote || echo refused")
            return [] if p.stdout == "refused\n" and writable.stdout == "wrote\n" else [
                "--read-only: %r %r; writable: %r %r" % (p.stdout, p.stderr, writable.stdout,
                                                        writable.stderr)]

        def upper_gone_mount_reused():
            diffs = leftovers(store)
            run("app", "echo 1 > /srv/marker")
            p = run("app", "cat /srv/marker 2>/dev/null || echo fresh")
            if p.stdout != "fresh\n":
                diffs.append("a file written by one run shows in the next: %r" % p.stdout)
            mounts = [m for m in ml.mounted_paths() if m.startswith(store + "/mounts/")]
            if len(mounts) != 1:
                diffs.append("image mounts after several runs: %r" % mounts)
            return diffs + leftovers(store)

        def from_remote():
            remote = s.path("remote")
            os.makedirs(remote)
            s.push("app", "file://" + remote, store)
            empty = s.store("empty")
            p = run("--remote", "file://" + remote, digest, "echo remote-ok", st=empty)
            return [] if p.returncode == 0 and p.stdout == "remote-ok\n" else [
                "exit %d, out %r, err %r" % (p.returncode, p.stdout, p.stderr)]

        def sigint_stops():
            proc = subprocess.Popen([s.binary, "run", "--store", store, "--name", "sleeper",
                                     "--stop-timeout", "1",
                                     "app", "echo started; exec sleep 300"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = proc.stdout.readline()
            ml.check(line == "started\n", "the container did not start: %r" % line)
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                return ["imgfs run (or the container holding its output) still running 30 s "
                        "after SIGINT"]
            # The shell's `sleep` as PID 1 ignores SIGINT: it is killed after the stop timeout.
            diffs = [] if proc.returncode in (130, 137) else ["exit %d after SIGINT, err %r" % (
                proc.returncode, err)]
            return diffs + leftovers(store)

        def tty():
            itest.need_tools("script")
            p = subprocess.run(["script", "-qec", "%s run --store %s -t app 'test -t 0 && test -t 1 "
                                "&& test -t 2 && echo all-tty'" % (s.binary, store), "/dev/null"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            return [] if "all-tty" in p.stdout else ["-t: %r %r" % (p.stdout, p.stderr)]

        def failures_leave_nothing():
            diffs = []
            p = run("plain", "--", "/bin/nosuch")
            if p.returncode != 127 or len(p.stderr.strip().splitlines()) != 1 or \
                    "nosuch" not in p.stderr:
                diffs.append("missing program: exit %d, %r" % (p.returncode, p.stderr))
            p = run("no-such-image", "true")
            if p.returncode != 125 or len(p.stderr.strip().splitlines()) != 1:
                diffs.append("missing image: exit %d, %r" % (p.returncode, p.stderr))
            p = run("-v", "relative:/x", "app", "true")
            if p.returncode != 125 or "-v" not in p.stderr:
                diffs.append("bad volume: exit %d, %r" % (p.returncode, p.stderr))
            return diffs + leftovers(store)

        def cli(*argv, timeout=60):
            return subprocess.run([s.binary, *argv, "--store", store], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=timeout)

        def ps():
            p = cli("ps", "--json")
            return {c["id"]: c for c in json.loads(p.stdout)} if p.returncode == 0 else {
                "error": p.stderr}

        def wait_log(cid, text):
            for _ in range(100):  # the container writes while we look: up to 10 s
                p = cli("logs", cid)
                if text in p.stdout:
                    return p.stdout
                time.sleep(0.1)
            return p.stdout

        def detached():
            diffs = []
            p = run("-d", "--name", "bg", "app",
                    "echo out; echo err >&2; trap 'echo term; exit 3' TERM; "
                    "while :; do sleep 0.1; done")
            if p.returncode != 0 or p.stdout != "bg\n":
                return ["run -d: exit %d, out %r, err %r" % (p.returncode, p.stdout, p.stderr)]
            got = ps().get("bg", {})
            if got.get("status") != "running" or not got.get("detached"):
                diffs.append("ps while running: %r" % got)
            log = wait_log("bg", "err\n")
            if "out\n" not in log or "err\n" not in log:
                diffs.append("logs: %r" % log)
            p = cli("stop", "bg")
            if p.returncode != 0 or p.stdout != "bg\n":
                diffs.append("stop: exit %d, %r %r" % (p.returncode, p.stdout, p.stderr))
            got = ps().get("bg", {})
            if got.get("status") != "exited" or got.get("exit_code") != 3:
                diffs.append("ps after stop: %r" % got)
            if "term\n" not in cli("logs", "bg").stdout:
                diffs.append("the trap's output is not in the log")
            over = [m for m in ml.mounted_paths() if "/containers/bg/" in m]
            if over:
                diffs.append("overlay left after stop: %r" % over)
            # One that ignores SIGTERM (sleep as PID 1) is killed after -t.
            run("-d", "--name", "stubborn", "app", "exec sleep 300")
            p = cli("stop", "-t", "1", "stubborn")
            got = ps().get("stubborn", {})
            if p.returncode != 0 or got.get("exit_code") != 137:
                diffs.append("stop -t 1 of a container ignoring SIGTERM: %r %r" % (p.stderr, got))
            p = cli("ps", "--prune")
            if sorted(p.stdout.split()) != ["bg", "stubborn"]:
                diffs.append("ps --prune printed %r" % p.stdout)
            p = run("-d", "plain", "--", "/bin/nosuch")
            if p.returncode != 127 or len(p.stderr.strip().splitlines()) != 1 or p.stdout:
                diffs.append("-d of a missing program: exit %d, %r %r" % (p.returncode, p.stdout,
                                                                         p.stderr))
            return diffs + leftovers(store)

        def from_registry():
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__))), "registry"))
            import registry_lib as rl
            if not all(shutil.which(t) for t in ("docker-registry", "skopeo")):
                return ["docker-registry or skopeo missing (tools/dev.sh deps installs them)"]
            reg = rl.Registry(s.dir, "run-reg")
            try:
                rl.skopeo_copy("oci:%s:v1" % layout, reg.ref("app:v1"))
                s.run("push", "app", reg.ref("app:v1"), "--plain-http", store=store)
                empty = s.store("from-registry")
                p = run("--plain-http", reg.ref("app:v1"), "echo registry-ok", st=empty)
                diffs = [] if p.returncode == 0 and p.stdout == "registry-ok\n" else [
                    "exit %d, out %r, err %r" % (p.returncode, p.stdout, p.stderr)]
                p = run(reg.ref("app:v1"), "true", st=empty)  # https against a plain registry
                if p.returncode != 125 or len(p.stderr.strip().splitlines()) != 1:
                    diffs.append("without --plain-http: exit %d, %r" % (p.returncode, p.stderr))
                return diffs + leftovers(empty)
            finally:
                reg.stop()

        def killed_run_pruned():
            proc = subprocess.Popen([s.binary, "run", "--store", store, "--name", "orphan",
                                     "app", "echo started; exec sleep 300"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = proc.stdout.readline()
            ml.check(line == "started\n", "the container did not start: %r" % line)
            proc.kill()
            proc.wait()
            diffs = []
            if ps().get("orphan", {}).get("status") != "gone":
                diffs.append("ps after SIGKILL of imgfs run: %r" % ps().get("orphan"))
            if not leftovers(store):
                diffs.append("nothing left behind by a killed imgfs run: the case proves nothing")
            p = cli("ps", "--prune")
            if p.stdout.split() != ["orphan"]:
                diffs.append("ps --prune: %r %r" % (p.stdout, p.stderr))
            return diffs + leftovers(store)

        def keep_warm():
            s.convert("dir:" + rootfs, store, "warm")
            image_mounts = lambda: [m for m in ml.mounted_paths()  # noqa: E731
                                    if m.startswith(store + "/mounts/")]
            before = image_mounts()
            p = run("-d", "--keep-warm", "1", "--name", "w", "warm", "/bin/sleep", "300")
            if p.returncode != 0:
                return ["run -d --keep-warm 1: %r" % p.stderr]
            warm = [m for m in image_mounts() if m not in before]
            time.sleep(3)  # three idle periods while the container holds the mount
            diffs = []
            if len(warm) != 1 or warm[0] not in image_mounts():
                diffs.append("the mount of a running container was dropped: %r" % warm)
            cli("stop", "-t", "0", "w")
            cli("ps", "--prune")
            for _ in range(150):  # the daemon looks every 0.5 s: up to 30 s
                if not warm or warm[0] not in image_mounts():
                    break
                time.sleep(0.2)
            else:
                diffs.append("the idle mount %s is still there 30 s after its container" % warm)
            if sorted(image_mounts()) != sorted(before):
                diffs.append("other image mounts changed: %r -> %r" % (before, image_mounts()))
            return diffs

        ml.run_case(report, "the image's command, user, workdir, env; exposed port noted",
                    image_command)
        ml.run_case(report, "-e -u -w -v and the exit code", flags)
        ml.run_case(report, "--read-only", read_only)
        ml.run_case(report, "upper layer gone, mount reused", upper_gone_mount_reused)
        ml.run_case(report, "by digest from a file:// remote on an empty store", from_remote)
        ml.run_case(report, "SIGINT stops the container and cleans up", sigint_stops)
        ml.run_case(report, "-t: stdin, stdout and stderr are a terminal", tty)
        ml.run_case(report, "failures are one line and leave nothing", failures_leave_nothing)
        ml.run_case(report, "-d, ps, logs, stop, ps --prune", detached)
        ml.run_case(report, "docker:// image from a real registry, empty store", from_registry)
        ml.run_case(report, "a killed imgfs run: ps says gone, ps --prune cleans up",
                    killed_run_pruned)
        def own_runtime():
            # runc-lite as imgfs finds it: beside imgfs (installed), else in the build tree.
            runc_lite = os.path.join(os.path.dirname(s.binary), "runc-lite")
            if not os.access(runc_lite, os.X_OK):
                runc_lite = os.path.join(os.path.dirname(os.path.dirname(s.binary)),
                                         "runc-lite", "runc-lite")
            log = s.path("runtime.log")
            wrapper = s.path("my-runtime")
            with open(wrapper, "w") as f:
                f.write('#!/bin/sh\necho "$@" >> %s\n%s "$@" || exit\n'
                        'if [ "$1" = spec ]; then\n  %s -c "import json, sys\n'
                        'p = sys.argv[1] + \'/config.json\'\nc = json.load(open(p))\n'
                        'c[\'process\'][\'rlimits\'][0].update(soft=777, hard=777)\n'
                        'json.dump(c, open(p, \'w\'))" "$3"\nfi\n'
                        % (log, runc_lite, sys.executable))
            os.chmod(wrapper, 0o755)
            p = run("--runtime", wrapper, "app", "ulimit -n")
            own = open(log).read().split("\n")
            q = run("app", "ulimit -n")
            diffs = []
            if p.returncode != 0 or p.stdout != "777\n":
                diffs.append("--runtime: exit %d, out %r, err %r" % (p.returncode, p.stdout,
                                                                     p.stderr))
            if not own[0].startswith("spec --bundle") or not any(" run " in l for l in own):
                diffs.append("the runtime was called as %r" % own)
            if q.returncode != 0 or q.stdout != "1024\n":
                diffs.append("default runtime: exit %d, out %r" % (q.returncode, q.stdout))
            return diffs + leftovers(store)

        ml.run_case(report, "--runtime: its own default config, then run", own_runtime)
        ml.run_case(report, "--keep-warm: kept while used, dropped when idle", keep_warm)
        # The image mounts the runs left up belong to the session: unmount them.
        for mp in ml.mounted_paths():
            if mp.startswith(s.dir + "/") and "/mounts/" in mp:
                s.run("umount", mp)
    report.exit()


if __name__ == "__main__":
    main()
