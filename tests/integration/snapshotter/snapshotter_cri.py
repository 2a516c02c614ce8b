#!/usr/bin/env python3
"""`imgfs snapshotter` under containerd's CRI plugin, driven the way the kubelet drives it, by
imgfs-cri (our client of the published CRI API, runtime.v1): a real containerd 1.6 started here
(own root, state, sockets; the CRI plugin enabled with `snapshotter = "imgfs"` and
`disable_snapshot_annotations = false`, the sandbox image and every image served by Debian's
docker-registry on 127.0.0.1 over plain HTTP, runc-lite and runc as runtime handlers) in a
private mount namespace:

  lazy       an image converted and pushed with imgfs (artifact next to it) is pulled through
             CRI PullImage with an empty node store: the snapshotter finds the artifact from the
             CRI labels and answers its layers "already exists", so the registry's access log
             shows no GET of any of its layer blobs; a pod (host network) with runc-lite runs a
             container of it: its stdout, stderr (from the CRI log file) and exit code are the
             program's, and still no layer blob is fetched (files come as pack range reads)
  lying      an artifact whose index metadata claims the layers (diff_ids) of the ordinary
             image below, attached to an image of its own, is pulled through CRI first (so
             its index is in the node's shared store, fetched) -- what any pod's image could do
  ordinary   an image without an artifact is pulled and run through CRI the same way, with
             runc: unpacked by the same snapshotter, its own files (not the lying index's)
  cleanup    RemoveImage of both; containerd stops cleanly
"""

import ctypes
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import snapshotter_containerd as sc  # noqa: E402
from snapshotter_containerd import check, rl, itest  # noqa: E402

CRI = "io.containerd.grpc.v1.cri"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def xxh3(data):
    """XXH3-64 (seed 0) of DATA, through the system's libxxhash (what imgfs links)."""
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH3_64bits.restype = ctypes.c_uint64
    lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return lib.XXH3_64bits(data, len(data))


def with_metadata(index, edit):
    """The index bytes INDEX with its metadata section (the last; docs/index-format.md) replaced
    by EDIT(metadata as JSON), and the size, section length and XXH3 trailer made to match."""
    header = bytearray(index[:152])
    off, count = struct.unpack_from("<QQ", header, 24 + 16 * 7)
    meta = json.loads(index[off:off + count])
    new = json.dumps(edit(meta)).encode()
    body = bytes(header[:24]) + index[24:off] + new
    out = bytearray(body)
    struct.pack_into("<Q", out, 16, len(body) + 8)
    struct.pack_into("<QQ", out, 24 + 16 * 7, off, len(new))
    return bytes(out) + struct.pack("<Q", xxh3(bytes(out)))


def registry_put(host, path, data, content_type=None, method="PUT"):
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request("http://%s%s" % (host, path), data=data, method=method,
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers


def put_blob(host, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = registry_put(host, "/v2/%s/blobs/uploads/" % repo, b"", method="POST")["Location"]
    loc = loc.split("://", 1)[1].split("/", 1)[1] if "://" in loc else loc.lstrip("/")
    registry_put(host, "/%s%sdigest=%s" % (loc, "&" if "?" in loc else "?", digest), data,
                 "application/octet-stream")
    return {"digest": digest, "size": len(data)}


def lie_about_layers(host, repo, subject, diff_ids):
    """Replaces the imgfs artifact of SUBJECT in REPO (pushed by imgfs) with one whose index
    claims DIFF_IDS: the same packs, a new index, a new artifact in the referrers tag."""
    tag = "sha256-" + subject.split(":")[1]
    referrers = json.loads(sc.get("http://%s/v2/%s/manifests/%s" % (host, repo, tag), OCI_INDEX))
    art_desc = referrers["manifests"][0]
    art = json.loads(sc.get("http://%s/v2/%s/manifests/%s" % (host, repo, art_desc["digest"]),
                            OCI_MANIFEST))
    index = sc.get("http://%s/v2/%s/blobs/%s" % (host, repo, art["layers"][0]["digest"]))

    def edit(meta):
        meta["config"]["rootfs"]["diff_ids"] = diff_ids
        return meta
    lying = put_blob(host, repo, with_metadata(index, edit))
    lying["mediaType"] = art["layers"][0]["mediaType"]
    art["layers"] = [lying] + [l for l in art["layers"] if l["mediaType"].endswith("pack.v1")]
    art["annotations"]["dev.imgfs.index.digest"] = lying["digest"]
    body = json.dumps(art).encode()
    registry_put(host, "/v2/%s/manifests/imgfs-%s" % (repo, lying["digest"].split(":")[1]), body,
                 OCI_MANIFEST)
    referrers["manifests"] = [dict(art_desc, digest="sha256:" + hashlib.sha256(body).hexdigest(),
                                   size=len(body))]
    registry_put(host, "/v2/%s/manifests/%s" % (repo, tag), json.dumps(referrers).encode(),
                 OCI_INDEX)
    return lying["digest"]


def containerd_config(ctd, snap_sock, host, runc_lite):
    p = '[plugins."%s"' % CRI
    return "\n".join([
        'version = 2', 'root = "%s/root"' % ctd, 'state = "%s/state"' % ctd,
        '[grpc]', '  address = "%s/sock"' % ctd, '[ttrpc]', '  address = "%s/sock.ttrpc"' % ctd,
        '[proxy_plugins]', '  [proxy_plugins.imgfs]', '    type = "snapshot"',
        '    address = "%s"' % snap_sock,
        p + ']',
        '  sandbox_image = "%s/pause:1"' % host,
        '  stream_server_address = "127.0.0.1"', '  stream_server_port = "0"',
        '  disable_apparmor = true',
        # Containers (CI) may lack CAP_SYS_RESOURCE: no oom_score_adj below our own.
        '  restrict_oom_score_adj = true',
        p + '.containerd]',
        '  snapshotter = "imgfs"', '  disable_snapshot_annotations = false',
        '  default_runtime_name = "runc-lite"',
        p + '.containerd.runtimes.runc-lite]', '  runtime_type = "io.containerd.runc.v2"',
        p + '.containerd.runtimes.runc-lite.options]', '  BinaryName = "%s"' % runc_lite,
        p + '.containerd.runtimes.runc]', '  runtime_type = "io.containerd.runc.v2"',
        p + '.containerd.runtimes.runc.options]', '  BinaryName = "%s"' % shutil.which("runc"),
        p + '.cni]', '  bin_dir = "%s/cni/bin"' % ctd, '  conf_dir = "%s/cni/conf"' % ctd,
        p + '.registry.mirrors."%s"]' % host, '  endpoint = ["http://%s"]' % host, ''])


def main():
    args = itest.parse_args(__doc__, lambda p: (
        p.add_argument("--cri", help="the imgfs-cri binary"),
        p.add_argument("--runc-lite", help="the runc-lite binary")))
    itest.need_root()
    itest.need_tools("containerd", "ctr", "runc", "docker-registry", "skopeo", "unshare")
    if not os.path.exists("/bin/busybox"):
        itest.skip("no /bin/busybox (busybox-static)")
    for what, path in (("imgfs-cri", args.cri), ("runc-lite", args.runc_lite)):
        if not path or not os.access(path, os.X_OK):
            itest.skip("%s not built (imgfs without gRPC?)" % what)
    if os.environ.get("IMGFS_SNAPSHOTTER_NS") != "1":
        env = dict(os.environ, IMGFS_SNAPSHOTTER_NS="1")
        p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                            os.path.abspath(__file__), "--imgfs", args.imgfs, "--cri", args.cri,
                            "--runc-lite", args.runc_lite], env=env)
        sys.exit(p.returncode)

    with itest.Workdir("snapshotter-cri") as w:
        registry, host = sc.registry_with_access_log(w)
        store = w("node-store")
        ctd = w("ctd")
        snap = sc.Snapshotter(args.imgfs, store, w("snap.sock"), w("snapshotter.log"))
        os.makedirs(ctd + "/cni/bin")
        os.makedirs(ctd + "/cni/conf")
        with open(ctd + "/config.toml", "w") as f:
            f.write(containerd_config(ctd, snap.sock, host, args.runc_lite))
        ctd_log = open(ctd + "/log", "w")
        containerd = subprocess.Popen(["containerd", "--config", ctd + "/config.toml"],
                                      stdout=ctd_log, stderr=subprocess.STDOUT)
        cri = [args.cri, "--runtime-endpoint", ctd + "/sock", "--timeout", "120"]
        ctr = ["ctr", "-a", ctd + "/sock", "-n", "k8s.io"]
        try:
            if not sc.wait_socket(ctd + "/sock", containerd):
                raise RuntimeError("containerd did not start")
            version = None
            for _ in range(100):
                version = sc.run(cri + ["version"], check_rc=False)
                if version.returncode == 0:
                    break
                time.sleep(0.1)
            check("imgfs-cri talks to containerd's CRI plugin",
                  version.returncode == 0 and version.stdout.startswith("containerd"),
                  version.stdout + version.stderr)

            pause = sc.make_image(w, "pause", [{}], entrypoint=["/bin/busybox", "sleep", "3600"])
            rl.skopeo_copy("oci:%s:1" % pause, "docker://%s/pause:1" % host)
            plain = sc.make_image(w, "plain", [{"/plain-base": "b"}, {"/marker": "plain-marker\n"}])
            rl.skopeo_copy("oci:%s:1" % plain, "docker://%s/plain:1" % host)
            lazy = sc.make_image(w, "lazy", [{"/lazy-base": "l"}, {"/marker": "lazy-marker\n"}])
            rl.skopeo_copy("oci:%s:1" % lazy, "docker://%s/lazy:1" % host)
            builder = itest.Imgfs(args.imgfs, w("build-store"))
            builder.run("convert", "docker://%s/lazy:1" % host, "--plain-http", "--tag", "lazy")
            builder.run("push", "lazy", "docker://%s/lazy:1" % host, "--plain-http")
            manifest = json.loads(sc.get("http://%s/v2/lazy/manifests/1" % host,
                                         "application/vnd.oci.image.manifest.v1+json"))
            layers = [l["digest"] for l in manifest["layers"]]

            # lazy: CRI PullImage, then a pod with runc-lite.
            registry.log.flush()
            start = os.path.getsize(registry.log_path)
            pulled = sc.run(cri + ["pull", host + "/lazy:1"], check_rc=False, timeout=120)
            check("CRI PullImage of an imgfs image", pulled.returncode == 0 and
                  pulled.stdout.startswith("sha256:"), pulled.stdout + pulled.stderr)
            gets = sc.blob_gets(registry.log_path, start, layers)
            check("CRI pull is lazy: no layer blob of the imgfs image downloaded", not gets, gets)
            inspected = sc.run(cri + ["inspecti", host + "/lazy:1"], check_rc=False)
            check("CRI ImageStatus knows the pulled image", inspected.returncode == 0 and
                  "tag %s/lazy:1" % host in inspected.stdout, inspected.stdout + inspected.stderr)

            out = sc.run(cri + ["run", "--runtime-handler", "runc-lite", "--timings",
                                host + "/lazy:1", "/bin/busybox", "sh", "-c",
                                "cat /marker; echo to-stderr >&2; exit 3"],
                         check_rc=False, timeout=120)
            check("a pod with runc-lite runs the imgfs image: its stdout",
                  out.stdout == "lazy-marker\n", out.stdout + out.stderr)
            check("... its stderr and exit code",
                  "to-stderr\n" in out.stderr and out.returncode == 3,
                  "rc %d: %s" % (out.returncode, out.stderr))
            check("imgfs-cri reports the time to the first output",
                  re.search(r"imgfs-cri: first output [0-9.]+ ms", out.stderr), out.stderr)
            gets = sc.blob_gets(registry.log_path, start, layers)
            check("no layer blob downloaded after the container ran", not gets, gets)
            image_blobs = layers + [manifest["config"]["digest"]]
            lazy_reads = [l for l in sc.blob_gets(registry.log_path, start, ["/blobs/"])
                          if not any(d in l for d in image_blobs)]
            check("its files came lazily (blob reads of the imgfs artifact: index, packs)",
                  lazy_reads, "no artifact blob read")

            # lying: its artifact's index claims plain's layers; pulled first, so that its index
            # is in the node's store when plain is pulled.
            lying = sc.make_image(w, "lying", [{"/lying-base": "x"}, {"/marker": "LIED\n"}])
            rl.skopeo_copy("oci:%s:1" % lying, "docker://%s/lying:1" % host)
            builder.run("convert", "docker://%s/lying:1" % host, "--plain-http", "--tag", "lying")
            builder.run("push", "lying", "docker://%s/lying:1" % host, "--plain-http")
            lying_manifest = "sha256:" + hashlib.sha256(sc.get(
                "http://%s/v2/lying/manifests/1" % host, OCI_MANIFEST)).hexdigest()
            plain_manifest = json.loads(sc.get("http://%s/v2/plain/manifests/1" % host,
                                               OCI_MANIFEST))
            plain_config = json.loads(sc.get("http://%s/v2/plain/blobs/%s" % (
                host, plain_manifest["config"]["digest"])))
            lie = lie_about_layers(host, "lying", lying_manifest,
                                   plain_config["rootfs"]["diff_ids"])
            pulled = sc.run(cri + ["pull", host + "/lying:1"], check_rc=False, timeout=120)
            check("CRI PullImage of the image whose artifact lies", pulled.returncode == 0,
                  pulled.stdout + pulled.stderr)
            listed = sc.run([args.imgfs, "ls", "--store", store], check_rc=False).stdout
            check("the lying index is in the node's store", lie.split(":")[1][:12] in listed,
                  listed)

            # ordinary: no artifact; pulled (--pull) and run with runc.
            out = sc.run(cri + ["run", "--pull", "--runtime-handler", "runc", host + "/plain:1",
                                "/bin/busybox", "cat", "/marker"], check_rc=False, timeout=120)
            check("an ordinary image pulled and run through CRI (runc), with its own files "
                  "(not those of the index that claims its layers)",
                  out.stdout == "plain-marker\n" and out.returncode == 0,
                  "rc %d: %s" % (out.returncode, out.stdout + out.stderr))
            snaps = sc.run(ctr + ["snapshots", "--snapshotter", "imgfs", "ls"]).stdout
            check("the ordinary image's layers are committed snapshots of imgfs",
                  len(re.findall(r"\sCommitted", snaps)) >= 2, snaps)

            # cleanup
            for image in ("lazy", "plain", "lying"):
                rm = sc.run(cri + ["rmi", "%s/%s:1" % (host, image)], check_rc=False)
                check("CRI RemoveImage %s" % image, rm.returncode == 0, rm.stderr)
            gone = sc.run(cri + ["inspecti", host + "/lazy:1"], check_rc=False)
            check("the image is gone", gone.returncode == 1, gone.stdout + gone.stderr)
        except Exception as e:  # noqa: BLE001
            check("the run went through", False, e)
        finally:
            sc.stop_containerd(containerd)
            ctd_log.close()
            snap.stop()
            sc.release_image_mounts(args.imgfs, store)
            registry.stop()
            if sc.FAILED:
                for name in ("snapshotter.log", "ctd/log", "node-store/daemon.log"):
                    if os.path.exists(w(name)):
                        print("---- %s (tail)\n%s" % (name, open(w(name)).read()[-6000:]))
            # Everything mounted here dies with this private mount namespace.
    print("%d failed" % len(sc.FAILED))
    sys.exit(1 if sc.FAILED else 0)


if __name__ == "__main__":
    main()
