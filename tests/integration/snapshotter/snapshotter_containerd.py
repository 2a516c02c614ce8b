#!/usr/bin/env python3
"""`imgfs snapshotter` as containerd's proxy snapshotter, through a real containerd 1.6 started
here (own root, state, sockets, config with proxy_plugins) in a private mount namespace, and
Debian's docker-registry on 127.0.0.1 with its access log on:

  ordinary   `ctr images pull --snapshotter imgfs` of an image without an imgfs index unpacks
             it through the snapshotter (Prepare, Commit of every layer; `ctr snapshots usage`
             counts the busybox layer); `ctr run --snapshotter imgfs` prints the image's file
  lazy       an image converted and pushed with imgfs (artifact next to it), pulled into the
             node's store (`imgfs pull`, index only); `imgfs snapshotter unpack` registers its
             layers with containerd (Prepare with containerd.io/snapshot.ref answers "already
             exists"); `ctr images import` of its manifest and config alone; `ctr run` prints its
             file, read through the lazy mount; the registry's access log shows no GET of any of
             its layer blobs after the node's pull
  restart    a running container keeps serving across a snapshotter restart (exec reads a file
             through its rootfs), state comes back from the snapshotter's metadata, and a new
             container starts after it
  cleanup    after the containers, unpack's lease and the images are removed (`ctr images rm
             --sync`: containerd's GC calls Remove and Cleanup), no snapshot, directory or
             mount is left but the image's mount, which the daemon keeps warm (and still serves)
  registry   a Prepare whose CRI image-ref label names an unreachable registry fails through
             containerd with an "unavailable" gRPC error naming it
"""

import gzip
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import tarfile
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "registry"))

import registry_lib as rl  # noqa: E402
from registry_lib import itest  # noqa: E402

FAILED = []


def check(name, ok, detail=""):
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + str(detail)[-3000:]))
    sys.stdout.flush()
    if not ok:
        FAILED.append(name)


def run(argv, check_rc=True, timeout=300, env=None):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, env=env)
    if check_rc and p.returncode != 0:
        raise itest.CommandFailed(" ".join(argv), p)
    return p


def wait_socket(path, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if os.path.exists(path):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(path)
                    return True
                except OSError:
                    pass
        time.sleep(0.05)
    return False


def make_image(w, name, files, entrypoint=None):
    """An OCI layout W/NAME (tag 1) with one layer per dict of FILES (path: text), busybox in
    the first, and ENTRYPOINT (a list) in its config when given. Written here with Python's
    tarfile (umoci insert leaves the last file's padding out of its layer)."""
    layout = w(name)
    os.makedirs(layout + "/blobs/sha256")

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open("%s/blobs/sha256/%s" % (layout, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    layers, diff_ids = [], []
    for i, extra in enumerate(files):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            if i == 0:
                d = tarfile.TarInfo("bin")
                d.type, d.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(d)
                tar.add("/bin/busybox", "bin/busybox")
            for path, text in extra.items():
                info = tarfile.TarInfo(path.lstrip("/"))
                data = text.encode()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
        layers.append(dict(blob(gzip.compress(raw.getvalue(), mtime=0)),
                           mediaType="application/vnd.oci.image.layer.v1.tar+gzip"))
    image_config = {"Env": ["PATH=/bin"]}
    if entrypoint:
        image_config["Entrypoint"] = entrypoint
    config = blob(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = blob(json.dumps({"schemaVersion": 2,
                                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": config, "layers": layers}).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    with open(layout + "/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(layout + "/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
    return layout


class Snapshotter:
    def __init__(self, imgfs, store, sock, log):
        self.argv = [imgfs, "snapshotter", "--store", store, "--address", sock, "--plain-http",
                     "--log-level", "debug"]
        self.sock = sock
        self.log = log
        self.start()

    def start(self):
        self.out = open(self.log, "a")
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=subprocess.STDOUT)
        if not wait_socket(self.sock, self.proc):
            raise RuntimeError("snapshotter did not start: " + open(self.log).read()[-2000:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


def registry_with_access_log(w):
    d = w("registry")
    os.makedirs(d + "/storage")
    port = rl.free_port()
    config = d + "/config.yml"
    with open(config, "w") as f:
        f.write("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
                "storage:\n  filesystem:\n    rootdirectory: %s/storage\n"
                "http:\n  addr: 127.0.0.1:%d\n  secret: imgfs-test\n" % (d, port))
    proc = rl.Process(["docker-registry", "serve", config], d + "/registry.log", port)
    return proc, "127.0.0.1:%d" % port


def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def layerless_layout_tar(w, host, repo, tag):
    """An OCI layout tar with the image's manifest and config only (as `ctr import` takes it)."""
    mt = "application/vnd.oci.image.manifest.v1+json"
    manifest = get("http://%s/v2/%s/manifests/%s" % (host, repo, tag), mt)
    m = json.loads(manifest)
    config = get("http://%s/v2/%s/blobs/%s" % (host, repo, m["config"]["digest"]))
    d = w("import-" + repo)
    os.makedirs(d + "/blobs/sha256")
    md = "sha256:" + hashlib.sha256(manifest).hexdigest()
    for blob in (manifest, config):
        with open(d + "/blobs/sha256/" + hashlib.sha256(blob).hexdigest(), "wb") as f:
            f.write(blob)
    with open(d + "/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(d + "/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": m.get("mediaType", mt), "digest": md, "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    tar = d + ".tar"
    run(["tar", "-C", d, "-cf", tar, "."])
    return tar, [l["digest"] for l in m["layers"]]


def blob_gets(log_path, start, digests):
    with open(log_path) as f:
        f.seek(start)
        text = f.read()
    return [l for l in text.splitlines() if "GET /v2/" in l and any(d in l for d in digests)]


def stop_containerd(proc):
    """SIGTERM, then SIGKILL after 30 s; reaped either way."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def release_image_mounts(imgfs, store):
    """Unmounts the image mounts the snapshotter left to the store's daemon (its keep-warm
    policy keeps them), so the daemon, which started for them, exits when idle: it lives in this
    mount namespace and would otherwise keep it, and itself, alive after the test."""
    mounts = os.path.join(store, "mounts")
    for m in (os.listdir(mounts) if os.path.isdir(mounts) else []):
        subprocess.run([imgfs, "umount", os.path.join(mounts, m), "--store", store],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    deadline = time.time() + 20
    while time.time() < deadline and os.path.exists(os.path.join(store, "imgfs.sock")):
        time.sleep(0.05)


def mounts_under(path):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4].startswith(path):
                out.append(fields[4] + " " + line.split(" - ")[1].split()[0])
    return out


def main():
    args = itest.parse_args(__doc__)
    itest.need_root()
    itest.need_tools("containerd", "ctr", "runc", "docker-registry", "skopeo", "unshare")
    if not os.path.exists("/bin/busybox"):
        itest.skip("no /bin/busybox (busybox-static)")
    probe = run([args.imgfs, "snapshotter", "--address", "/nonexistent/dir/x/s.sock",
                 "--store", "/nonexistent-store-dir/x"], check_rc=False, timeout=30)
    if "without gRPC" in probe.stderr:
        itest.skip("imgfs built without gRPC")
    if os.environ.get("IMGFS_SNAPSHOTTER_NS") != "1":
        env = dict(os.environ, IMGFS_SNAPSHOTTER_NS="1")
        p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                            os.path.abspath(__file__), "--imgfs", args.imgfs], env=env)
        sys.exit(p.returncode)

    with itest.Workdir("snapshotter") as w:
        registry, host = registry_with_access_log(w)
        store = w("node-store")
        ctd = w("ctd")
        snap = Snapshotter(args.imgfs, store, w("snap.sock"), w("snapshotter.log"))
        empty = Snapshotter(args.imgfs, w("empty-store"), w("snap-empty.sock"),
                            w("snapshotter-empty.log"))
        os.makedirs(ctd)
        with open(ctd + "/config.toml", "w") as f:
            f.write('version = 2\nroot = "%s/root"\nstate = "%s/state"\n'
                    'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    '[grpc]\n  address = "%s/sock"\n[ttrpc]\n  address = "%s/sock.ttrpc"\n'
                    '[proxy_plugins]\n  [proxy_plugins.imgfs]\n    type = "snapshot"\n'
                    '    address = "%s"\n  [proxy_plugins.imgfs-empty]\n'
                    '    type = "snapshot"\n    address = "%s"\n' %
                    (ctd, ctd, ctd, ctd, snap.sock, empty.sock))
        ctd_log = open(ctd + "/log", "w")
        containerd = subprocess.Popen(["containerd", "--config", ctd + "/config.toml"],
                                      stdout=ctd_log, stderr=subprocess.STDOUT)
        ctr = ["ctr", "-a", ctd + "/sock"]
        containers = []
        try:
            if not wait_socket(ctd + "/sock", containerd):
                raise RuntimeError("containerd did not start")
            for _ in range(100):
                if run(ctr + ["version"], check_rc=False).returncode == 0:
                    break
                time.sleep(0.1)
            plugins = run(ctr + ["plugins", "ls"]).stdout
            check("containerd lists the imgfs proxy snapshotter",
                  re.search(r"io\.containerd\.snapshotter\.v1\s+imgfs\s.*ok", plugins), plugins)

            # ordinary: an image without an imgfs index, unpacked through the snapshotter.
            plain = make_image(w, "plain", [{"/plain-base": "b"}, {"/marker": "plain-marker\n"}])
            rl.skopeo_copy("oci:%s:1" % plain, "docker://%s/plain:1" % host)
            run(ctr + ["images", "pull", "--plain-http", "--snapshotter", "imgfs",
                       host + "/plain:1"])
            out = run(ctr + ["run", "--rm", "--snapshotter", "imgfs", host + "/plain:1", "c-plain",
                             "/bin/busybox", "cat", "/marker"], timeout=120)
            check("ctr run --snapshotter imgfs of an ordinary image", out.stdout == "plain-marker\n",
                  out.stdout + out.stderr)
            snaps = run(ctr + ["snapshots", "--snapshotter", "imgfs", "ls"]).stdout
            check("the ordinary image's layers are committed snapshots",
                  len(re.findall(r"\sCommitted", snaps)) == 2, snaps)
            usage = run(ctr + ["snapshots", "--snapshotter", "imgfs", "usage"]).stdout
            sizes = [float(m) * {"KiB": 1 << 10, "MiB": 1 << 20, "B": 1}.get(u, 0)
                     for m, u in re.findall(r"\s([0-9.]+)\s*(B|KiB|MiB)\s", usage)]
            check("Usage counts the busybox layer's blocks (kubelet's disk accounting)",
                  any(s >= 1 << 20 for s in sizes), usage)

            # lazy: converted and pushed with imgfs, only the index pulled to the node.
            lazy = make_image(w, "lazy", [{"/lazy-base": "l"}, {"/marker": "lazy-marker\n"}])
            rl.skopeo_copy("oci:%s:1" % lazy, "docker://%s/lazy:1" % host)
            builder = itest.Imgfs(args.imgfs, w("build-store"))
            builder.run("convert", "docker://%s/lazy:1" % host, "--plain-http", "--tag", "lazy")
            builder.run("push", "lazy", "docker://%s/lazy:1" % host, "--plain-http")
            node = itest.Imgfs(args.imgfs, store)
            node.run("pull", "docker://%s/lazy:1" % host, "--plain-http")
            tar, layers = layerless_layout_tar(w, host, "lazy", "1")
            log_start = os.path.getsize(registry.log_path)
            registry.log.flush()
            unpacked = node.run("snapshotter", "unpack", "docker://%s/lazy:1" % host,
                                "--containerd", ctd + "/sock", check=False)
            check("imgfs snapshotter unpack registers the layers with containerd",
                  unpacked.returncode == 0 and unpacked.stdout.startswith("sha256:"),
                  unpacked.stdout + unpacked.stderr)
            leases = run(ctr + ["leases", "ls"]).stdout
            check("unpack holds the layers in an expiring containerd lease",
                  re.search(r"imgfs-unpack-\S+.*containerd.io/gc.expire=", leases), leases)
            run(ctr + ["images", "import", "--base-name", host + "/lazy", "--snapshotter", "imgfs",
                       tar])
            out = run(ctr + ["run", "--rm", "--snapshotter", "imgfs", host + "/lazy:1", "c-lazy",
                             "/bin/busybox", "cat", "/marker"], check_rc=False, timeout=120)
            check("ctr run --snapshotter imgfs of an imgfs image", out.stdout == "lazy-marker\n",
                  out.stdout + out.stderr)
            gets = blob_gets(registry.log_path, log_start, layers)
            check("no layer blob of the imgfs image was downloaded", not gets, gets)
            all_gets = blob_gets(registry.log_path, log_start, ["/blobs/"])
            check("its files came from the registry lazily (pack range reads)", all_gets,
                  "no blob GET at all")

            # restart: a running container keeps its rootfs; state comes back.
            run(ctr + ["run", "-d", "--snapshotter", "imgfs", host + "/lazy:1", "c-long",
                       "/bin/busybox", "sleep", "600"], timeout=120)
            containers.append("c-long")
            before = run(ctr + ["snapshots", "--snapshotter", "imgfs", "ls"]).stdout
            rc = snap.stop()
            check("the snapshotter stops on SIGTERM", rc == 0, rc)
            snap.start()
            out = run(ctr + ["task", "exec", "--exec-id", "e1", "c-long", "/bin/busybox", "cat",
                             "/marker"], check_rc=False, timeout=60)
            check("a container's rootfs serves across a snapshotter restart",
                  out.stdout == "lazy-marker\n", out.stdout + out.stderr)
            after = run(ctr + ["snapshots", "--snapshotter", "imgfs", "ls"]).stdout
            check("snapshots are the same after the restart", before == after, before + after)
            out = run(ctr + ["run", "--rm", "--snapshotter", "imgfs", host + "/lazy:1", "c-again",
                             "/bin/busybox", "cat", "/lazy-base"], check_rc=False, timeout=120)
            check("a new container starts after the restart", out.stdout == "l",
                  out.stdout + out.stderr)

            # registry: unreachable at Prepare, through containerd, with a CRI image-ref label.
            dead = rl.free_port()
            out = node.run("snapshotter", "unpack", "docker://%s/lazy:1" % host, "--containerd",
                           ctd + "/sock", "--snapshotter", "imgfs-empty", "--label",
                           "containerd.io/snapshot/cri.image-ref=127.0.0.1:%d/lazy:1" % dead,
                           check=False, timeout=120)
            check("an unreachable registry at Prepare is a clear unavailable error",
                  out.returncode == 1 and "UNAVAILABLE" in out.stderr and
                  "127.0.0.1:%d" % dead in out.stderr, out.stdout + out.stderr)

            # cleanup: remove everything; containerd's GC removes the snapshots.
            run(ctr + ["task", "kill", "-s", "KILL", "c-long"], check_rc=False)
            for _ in range(100):
                if "STOPPED" in run(ctr + ["task", "ls"]).stdout or \
                        "c-long" not in run(ctr + ["task", "ls"]).stdout:
                    break
                time.sleep(0.1)
            run(ctr + ["task", "rm", "-f", "c-long"], check_rc=False)
            run(ctr + ["containers", "rm", "c-long"], check_rc=False)
            containers.remove("c-long")
            for line in run(ctr + ["leases", "ls"]).stdout.splitlines():
                if line.startswith("imgfs-unpack-"):
                    run(ctr + ["leases", "rm", line.split()[0]])
            run(ctr + ["images", "rm", "--sync", host + "/plain:1", host + "/lazy:1"])
            left = run(ctr + ["snapshots", "--snapshotter", "imgfs", "ls"]).stdout
            with open(store + "/snapshotter/metadata.json") as f:
                table = json.load(f)
            dirs = os.listdir(store + "/snapshotter/snapshots")
            mounted = mounts_under(w.path)
            mounted = [m for m in mounted if "/registry" not in m]
            # The image mount is the daemon's: Remove leaves it to the keep-warm policy (an
            # `imgfs run` container may be using it), and it still serves.
            images = [m.split()[0] for m in mounted if m.startswith(store + "/mounts/")]
            mounted = [m for m in mounted if not m.startswith(store + "/mounts/")]
            check("Remove leaves the image mount to the daemon, still serving",
                  len(images) == 1 and
                  open(images[0] + "/marker").read() == "lazy-marker\n", images)
            check("nothing left after Remove and Cleanup",
                  len(left.strip().splitlines()) <= 1 and not table["snapshots"] and not dirs and
                  not mounted, "ctr: %s\ntable: %s\ndirs: %s\nmounts: %s" %
                  (left, table["snapshots"], dirs, mounted))
        except Exception as e:  # noqa: BLE001
            check("the run went through", False, e)
        finally:
            for c in containers:
                run(ctr + ["task", "kill", "-s", "KILL", c], check_rc=False)
                run(ctr + ["task", "rm", "-f", c], check_rc=False)
                run(ctr + ["containers", "rm", c], check_rc=False)
            stop_containerd(containerd)
            snap.stop()
            empty.stop()
            release_image_mounts(args.imgfs, store)
            registry.stop()
            if FAILED:
                for name in ("snapshotter.log", "snapshotter-empty.log", "ctd/log",
                             "node-store/daemon.log"):
                    if os.path.exists(w(name)):
                        print("---- %s (tail)\n%s" % (name, open(w(name)).read()[-4000:]))
            # Everything mounted here dies with this private mount namespace.
    print("%d failed" % len(FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
