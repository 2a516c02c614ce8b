#!/usr/bin/env python3
"""`imgfs push` to, `imgfs pull` from and `imgfs mount` out of the real CNCF distribution
registry (Debian's docker-registry 2.8) on 127.0.0.1, with an image that `skopeo copy` put there:

  push   the index, packs and trace go up as an imgfs artifact: tagged imgfs-<index hex>, its
         subject the image's manifest, listed in the referrers tag sha256-<manifest hex>; the
         image's own tag is left alone; `skopeo inspect --raw` reads all three; a second push
         uploads no pack; a tag that holds another image is refused; a free tag is set to the
         artifact and `skopeo copy` copies it to an OCI layout with the same manifest digest;
         a push to another repository with --mount-from mounts the blobs
  pull   fetches index and trace into an empty store by the image's tag
  mount  `imgfs mount docker://.../app:v1` (through faultproxy.py --cut-first, which logs every
         request) gives the same tree as the converted image, packs read with Range requests; `imgfs mount
         DIGEST --remote docker://.../app --trace replay` finds the trace through imgfs-<hex>;
         with the proxy answering ranged blob GETs with 307 (as a registry redirects to blob
         storage) the target is followed and reused; `imgfs convert docker://...` into a store
         whose daemon serves a mount goes through that daemon; from a registry with htpasswd
         auth, a mount is refused without credentials and works with $REGISTRY_AUTH_FILE (read
         by the daemon for its pack reads)
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "mount"))

import registry_lib as rl  # noqa: E402
from registry_lib import itest  # noqa: E402
from itest import mkimage, treecmp  # noqa: E402
import feature_images as fi  # noqa: E402
import mountlib  # noqa: E402


def main():
    args = itest.parse_args(__doc__)
    rl.need_registry_tools()
    mountlib.need_fuse()
    failures = []

    def check(name, cond, detail=""):
        print("%s %s%s" % ("ok  " if cond else "FAIL", name,
                           (": " + str(detail)) if detail and not cond else ""), flush=True)
        if not cond:
            failures.append(name)

    with mountlib.Session("registry", args.imgfs) as s:
        layout = s.path("layout")
        mkimage.build_layout(layout, [
            {"tag": "v1", "layers": fi.features("gzip")},
            {"tag": "other", "layers": [{"compression": "gzip",
                                         "entries": [fi.F("other", "another image")]}]},
        ])
        with open(os.path.join(layout, "index.json")) as f:
            manifests = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
                         for m in json.load(f)["manifests"]}
        reg = rl.Registry(s.dir, "anon")
        proxy = None
        try:
            rl.skopeo_copy("oci:%s:v1" % layout, reg.ref("app:v1"))
            rl.skopeo_copy("oci:%s:other" % layout, reg.ref("app:other"))
            a = s.store("a")
            digest = s.run("convert", reg.ref("app:v1"), "--plain-http", "--tag", "app",
                           store=a).stdout.strip()
            hexd = digest.split(":")[1]
            subject = manifests["v1"]

            # -- push ----------------------------------------------------------------------
            p = s.run("push", "app", reg.ref("app:v1"), "--plain-http", store=a)
            check("push prints the index digest and the subject",
                  p.stdout.strip() == digest and ("referring to " + subject) in p.stderr,
                  p.stdout + p.stderr)
            raw = rl.skopeo_inspect(reg.ref("app:v1"), raw=True)
            check("push leaves the image's tag alone",
                  "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == subject, raw[:300])
            art = json.loads(rl.skopeo_inspect(reg.ref("app:imgfs-" + hexd), raw=True))
            check("skopeo inspect --raw: the artifact",
                  art.get("artifactType") == "application/vnd.imgfs.image.v1" and
                  art["subject"]["digest"] == subject and art["layers"][0]["digest"] == digest and
                  art["layers"][1]["mediaType"] == "application/vnd.imgfs.index.v1+zstd" and
                  art["config"]["mediaType"] == "application/vnd.oci.empty.v1+json", art)
            with urllib.request.urlopen("http://%s/v2/app/blobs/%s" %
                                        (reg.host, art["layers"][1]["digest"])) as r:
                frame = r.read()
            unzstd = subprocess.run(["zstd", "-dc"], input=frame, stdout=subprocess.PIPE,
                                    check=True)
            check("the compressed index layer is the index as one zstd frame",
                  "sha256:" + hashlib.sha256(unzstd.stdout).hexdigest() == digest and
                  len(frame) < len(unzstd.stdout), len(frame))
            ref_index = json.loads(rl.skopeo_inspect(
                reg.ref("app:sha256-" + subject.split(":")[1]), raw=True))
            check("skopeo inspect --raw: the referrers tag fallback lists it",
                  ref_index["manifests"][-1].get("artifactType") ==
                  "application/vnd.imgfs.image.v1", ref_index)

            # A trace of the first chunks of the index, then a second push with it.
            with urllib.request.urlopen("http://%s/v2/app/blobs/%s" % (reg.host, digest)) as r:
                index = mountlib.Index(r.read())
            trace = s.path("trace")
            chunks = [index.chunk(c) for c in range(min(8, index.sec[5][1]))]
            with open(trace, "w") as f:
                f.write("".join("sha256:" + c["digest"] + "\n" for c in chunks))
            p = s.run("push", "app", reg.ref("app:v1"), "--plain-http", "--trace", trace,
                      store=a)
            check("a second push uploads no pack", "0 packs uploaded" in p.stderr and
                  "trace" in p.stderr, p.stderr)
            p = s.run("push", "app", reg.ref("app:other"), "--plain-http", check=False, store=a)
            check("push to a tag of another image is refused",
                  p.returncode != 0 and "image other than" in p.stderr, p.stderr)
            p = s.run("push", "app", reg.ref("app:art"), "--plain-http", store=a)
            check("push to a free tag tags the artifact", "tagged art" in p.stderr, p.stderr)
            out = s.path("copied")
            cp = subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                                 reg.ref("app:art"), "oci:%s:art" % out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=120)
            copied = ""
            if cp.returncode == 0:
                with open(os.path.join(out, "index.json")) as f:
                    copied = json.load(f)["manifests"][0]["digest"]
            art_raw = rl.skopeo_inspect(reg.ref("app:art"), raw=True)
            check("skopeo copy copies the artifact unchanged",
                  copied == "sha256:" + hashlib.sha256(art_raw.encode()).hexdigest(),
                  cp.stderr.strip())

            # Cross-repository mount: the packs are in app, a push to copy mounts them.
            p = s.run("push", "app", reg.ref("copy:v1"), "--plain-http", "--mount-from", "app",
                      store=a)
            npacks = sum(1 for l in art["layers"]
                         if l["mediaType"] == "application/vnd.imgfs.pack.v1")
            check("push --mount-from mounts the packs and both forms of the index",
                  ("%d blobs mounted from app" % (npacks + 2)) in p.stderr, p.stderr)

            # -- pull ----------------------------------------------------------------------
            b = s.store("b")
            p = s.run("pull", reg.ref("app:v1"), "--plain-http", "--tag", "pulled", store=b)
            check("pull by the image's tag", p.stdout.strip() == digest and
                  "index and trace" in p.stderr, p.stdout + p.stderr)

            # -- mount through a logging proxy ---------------------------------------------
            proxy_port = rl.free_port()
            proxy_log = s.path("faultproxy.log")
            proxy = rl.Process([sys.executable, rl.FAULTPROXY, "--cut-first", "--port",
                                str(proxy_port), "--upstream", reg.host, "--log", proxy_log],
                               s.path("faultproxy.out"), proxy_port)
            via = "docker://127.0.0.1:%d/" % proxy_port
            ref_tree = s.path("exported")
            s.run("export", "app", ref_tree, store=a)
            c = s.store("c")
            mp = s.path("mnt-c")
            os.makedirs(mp)
            s.mounts[mp] = c
            p = s.run("mount", via + "app:v1", mp, "--plain-http", store=c)
            check("mount docker://...:v1 prints the index digest", p.stdout.strip() == digest,
                  p.stdout + p.stderr)
            diffs = treecmp.compare(ref_tree, mp)
            check("the mounted tree equals the converted image", not diffs, diffs[:5])
            # The store's daemon converts for it (its mount holds the store).
            p = s.run("convert", reg.ref("app:v1"), "--plain-http", "--tag", "again", store=c)
            check("convert docker://... through the store's daemon", p.stdout.strip() == digest,
                  p.stdout + p.stderr)
            p = s.run("convert", reg.ref("app:v1"), "--plain-http", "--creds", "a:b", store=c,
                      check=False)
            check("--creds is not sent to the daemon", p.returncode != 0 and
                  "credential files" in p.stderr, p.stderr)
            p = s.run("pull", reg.ref("app:v1"), "--plain-http", "--tag", "pulled-held", store=c)
            listed = s.run("ls", store=c).stdout
            check("pull through the store's daemon", p.stdout.strip() == digest and
                  "pulled-held" in listed, p.stdout + p.stderr + listed)
            p = s.run("pull", reg.ref("app:v1"), "--plain-http", "--creds", "a:b", store=c,
                      check=False)
            check("pull sends no --creds to the daemon", p.returncode != 0 and
                  "credential files" in p.stderr, p.stderr)
            s.umount(mp)
            with open(proxy_log) as f:
                log = f.read().splitlines()
            packs = {p["digest"] for p in art["layers"][1:]}
            ranged = [l for l in log if l.startswith("get ") and l.split()[1] in packs and
                      l.split()[2].startswith("bytes=")]
            check("packs read as blobs with Range requests", ranged, log[-10:])

            d = s.store("d")
            mp = s.path("mnt-d")
            os.makedirs(mp)
            s.mounts[mp] = d
            s.run("mount", digest, mp, "--remote", via + "app", "--plain-http", "--trace",
                  "replay", store=d)
            with open(proxy_log) as f:
                log = f.read().splitlines()
            check("mount --remote docker://... --trace replay reads imgfs-<hex>",
                  any(l.startswith("manifest GET imgfs-" + hexd + " 200") for l in log), log[-10:])
            s.umount(mp)

            # -- redirects to "blob storage" are followed and reused --------------------------
            proxy.stop()
            proxy_port = rl.free_port()
            redirect_log = s.path("redirect.log")
            proxy = rl.Process([sys.executable, rl.FAULTPROXY, "--port",
                                str(proxy_port), "--upstream", reg.host, "--log", redirect_log,
                                "--redirect"], s.path("redirect.out"), proxy_port)
            e = s.store("e")
            mp = s.path("mnt-e")
            os.makedirs(mp)
            s.mounts[mp] = e
            s.run("mount", "docker://127.0.0.1:%d/app:v1" % proxy_port, mp, "--plain-http",
                  store=e)
            diffs = treecmp.compare(ref_tree, mp)
            fetches = s.stats(mp).get("fetch_requests", 0)
            s.umount(mp)
            with open(redirect_log) as f:
                redirects = [l.split()[1] for l in f.read().splitlines()
                             if l.startswith("redirect ")]
            check("mount through redirects: same tree, one redirect per pack, reused",
                  not diffs and redirects and len(redirects) == len(set(redirects)) and
                  fetches > len(redirects),
                  "diffs %s, redirects %s, fetch requests %d" % (diffs[:3], redirects, fetches))
        finally:
            if proxy:
                proxy.stop()
            reg.stop()

        # -- a registry that wants a password: the daemon reads the credential file ----------
        reg = rl.Registry(s.dir, "basic", auth=("htpasswd", "bob", "pw"))
        auth_file = s.path("auth.json")
        with open(auth_file, "w") as f:
            json.dump({"auths": {reg.host: {"auth": base64.b64encode(b"bob:pw").decode()}}}, f)
        try:
            p = s.run("push", "app", reg.ref("app:v1"), "--plain-http", "--creds", "bob:pw",
                      store=a)
            check("push with --creds", p.stdout.strip() == digest, p.stderr)
            f_store = s.store("f")
            mp = s.path("mnt-f")
            os.makedirs(mp)
            s.mounts[mp] = f_store
            p = s.run("mount", reg.ref("app:v1"), mp, "--plain-http", store=f_store, check=False)
            check("mount without credentials is refused", p.returncode != 0 and
                  "user name and password" in p.stderr, p.stderr)
            os.environ["REGISTRY_AUTH_FILE"] = auth_file  # the CLI and the daemon it starts
            try:
                s.run("mount", reg.ref("app:v1"), mp, "--plain-http", store=f_store)
                diffs = treecmp.compare(ref_tree, mp)
                check("mount with $REGISTRY_AUTH_FILE: the daemon authenticates its reads",
                      not diffs, diffs[:3])
                s.umount(mp)
            finally:
                del os.environ["REGISTRY_AUTH_FILE"]
        finally:
            reg.stop()

    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    print("all registry push/pull/mount checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
