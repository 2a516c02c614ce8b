#!/usr/bin/env python3
"""`imgfs convert docker://...` against the real CNCF distribution registry (Debian's
docker-registry 2.8) on 127.0.0.1, with images that `skopeo copy` pushed from OCI layouts that
tools/mkimage.py built:

  anonymous   the 3-layer feature image (gzip and zstd layers) gives the same index digest
              converted from the registry (by tag and by digest) as from its OCI layout; the
              same tree from a Docker schema 2 copy (skopeo --format v2s2); a
              2-platform index with --platform; missing tags, missing repositories and https to
              a plain-http registry fail with one clear line
  broken      through faultproxy.py --cut-first, which breaks every blob's first download
              halfway: the client resumes with Range and the digest is still the same
  https       a registry with a certificate from a CA made for the run: refused without
              --ca-file, converted with it and with --tls-verify=false
  basic       htpasswd: no credentials and wrong ones are refused; --creds and
              $REGISTRY_AUTH_FILE (a base64 "auth" entry) work
  token       tokenserver.py (Basic-authenticated, RS256 JWTs): the first token it hands out is
              one the registry rejects, the client fetches another on the 401
"""

import base64
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import registry_lib as rl  # noqa: E402
from registry_lib import itest  # noqa: E402
from itest import mkimage, treecmp  # noqa: E402
import feature_images as fi  # noqa: E402


def platform_image(arch, marker):
    return {"platform": {"os": "linux", "architecture": arch},
            "layers": [{"compression": "gzip",
                        "entries": [fi.F("etc/arch", marker), fi.D("usr/bin"),
                                    fi.F("usr/bin/tool", "tool for " + marker * 500)]}]}


def main():
    args = itest.parse_args(__doc__)
    rl.need_registry_tools()
    # skopeo gzips plain layers on the way to a registry (a new manifest): compressed ones only.
    compression = ["gzip", "zstd" if mkimage.have_zstd() else "gzip", "gzip"]
    failures = []

    def check(name, cond, detail=""):
        print("%s %s%s" % ("ok  " if cond else "FAIL", name, (": " + detail) if detail and not cond else ""),
              flush=True)
        if not cond:
            failures.append(name)

    with itest.Workdir("registry-convert") as wd:
        layout = wd("layout")
        mkimage.build_layout(layout, [
            {"tag": "v1", "layers": fi.features(compression)},
            {"tag": "gz", "layers": fi.features("gzip")},  # Docker schema 2 has no zstd
            {"tag": "multi", "platforms": [platform_image("amd64", "A"),
                                           platform_image("arm64", "B")]},
        ])
        imgfs = itest.Imgfs(args.imgfs, wd("store"))
        want = imgfs.convert("oci:%s:v1" % layout)
        want_arm = imgfs.run("convert", "oci:%s:multi" % layout, "--platform", "linux/arm64",
                             "--store", imgfs.store).stdout.strip()
        with open(os.path.join(layout, "index.json")) as f:
            v1_manifest = [m["digest"] for m in json.load(f)["manifests"]
                           if m["annotations"]["org.opencontainers.image.ref.name"] == "v1"][0]

        def convert(ref, *extra, check_rc=True):
            store = wd("store-%d" % len(os.listdir(wd.path)))
            return itest.Imgfs(args.imgfs, store).run("convert", ref, "--store", store, *extra,
                                                      check=check_rc, timeout=300)

        # -- anonymous --------------------------------------------------------------------
        reg = rl.Registry(wd.path, "anon")
        try:
            rl.skopeo_copy("oci:%s:v1" % layout, reg.ref("imgfs/features:v1"))
            rl.skopeo_copy("oci:%s:multi" % layout, reg.ref("imgfs/multi:latest"),
                           all_platforms=True)
            got = convert(reg.ref("imgfs/features:v1"), "--plain-http").stdout.strip()
            check("anonymous: same index digest as the OCI layout", got == want,
                  "%s vs %s" % (got, want))
            got = convert(reg.ref("imgfs/features@" + v1_manifest), "--plain-http").stdout.strip()
            check("anonymous: by digest", got == want, got)
            # Docker schema 2 (skopeo rewrites the manifest: another manifest digest, the same
            # tree).
            rl.skopeo_copy("oci:%s:gz" % layout, reg.ref("imgfs/docker:v1"), docker_format=True)
            raw = json.loads(rl.skopeo_inspect(reg.ref("imgfs/docker:v1"), raw=True))
            store = wd("store-docker")
            docker_imgfs = itest.Imgfs(args.imgfs, store)
            docker_imgfs.run("convert", reg.ref("imgfs/docker:v1"), "--plain-http", "--tag", "d",
                             "--store", store)
            docker_imgfs.run("export", "d", wd("tree-docker"), "--store", store)
            gz = imgfs.convert("oci:%s:gz" % layout)
            imgfs.run("export", gz, wd("tree-oci"), "--store", imgfs.store)
            diffs = treecmp.compare(wd("tree-oci"), wd("tree-docker"))
            check("anonymous: Docker schema 2 manifest, same tree",
                  raw.get("mediaType") == "application/vnd.docker.distribution.manifest.v2+json"
                  and not diffs, "%s %s" % (raw.get("mediaType"), diffs[:3]))
            got = convert(reg.ref("imgfs/multi"), "--plain-http", "--platform",
                          "linux/arm64").stdout.strip()
            check("anonymous: 2-platform index, --platform linux/arm64", got == want_arm,
                  "%s vs %s" % (got, want_arm))
            for ref, extra, text in [
                    (reg.ref("imgfs/features:nope"), ["--plain-http"], "MANIFEST_UNKNOWN"),
                    (reg.ref("imgfs/none:v1"), ["--plain-http"], "HTTP 404"),
                    (reg.ref("imgfs/features:v1"), [], "SSL"),
                    (reg.ref("imgfs/multi"), ["--plain-http", "--platform", "linux/s390x"],
                     "no manifest for platform")]:
                p = convert(ref, *extra, check_rc=False)
                lines = p.stderr.strip().splitlines()
                check("anonymous: %s %s refused" % (ref, " ".join(extra)),
                      p.returncode != 0 and len(lines) == 1 and text in p.stderr,
                      "rc %d: %s" % (p.returncode, p.stderr.strip()))

            # -- broken transfers resume ------------------------------------------------------
            proxy_port = rl.free_port()
            proxy_log = wd("faultproxy.log")
            proxy = rl.Process([sys.executable, rl.FAULTPROXY, "--cut-first", "--port",
                                str(proxy_port), "--upstream", reg.host, "--log", proxy_log],
                               wd("faultproxy.out"), proxy_port)
            try:
                got = convert("docker://127.0.0.1:%d/imgfs/features:v1" % proxy_port,
                              "--plain-http").stdout.strip()
            finally:
                proxy.stop()
            with open(proxy_log) as f:
                log = f.read().splitlines()
            cuts = [l.split()[1] for l in log if l.startswith("cut ")]
            resumed = [l for l in log if l.startswith("get ") and l.split()[2].startswith("bytes=")]
            check("broken: every blob cut once, resumed with Range, same digest",
                  got == want and len(cuts) >= 4 and len(resumed) >= len(cuts) - 1,
                  "digest %s, %d cuts, %d ranged: %s" % (got, len(cuts), len(resumed), log))
        finally:
            reg.stop()

        # -- https with a CA made for the run ------------------------------------------------
        reg = rl.Registry(wd.path, "tls", tls=True)
        try:
            rl.skopeo_copy("oci:%s:v1" % layout, reg.ref("imgfs/features:v1"))
            ref = reg.ref("imgfs/features:v1")
            p = convert(ref, check_rc=False)
            check("https: a certificate nobody vouches for is refused",
                  p.returncode != 0 and "SSL certificate problem" in p.stderr, p.stderr.strip())
            got = convert(ref, "--ca-file", reg.ca).stdout.strip()
            check("https: --ca-file", got == want, got)
            got = convert(ref, "--tls-verify=false").stdout.strip()
            check("https: --tls-verify=false", got == want, got)
            p = convert(ref, "--plain-http", "--ca-file", reg.ca, check_rc=False)
            check("https: --plain-http to an https registry fails", p.returncode != 0,
                  p.stderr.strip())
        finally:
            reg.stop()

        # -- basic auth ----------------------------------------------------------------------
        reg = rl.Registry(wd.path, "basic", auth=("htpasswd", "alice", "s3cret:x"))
        try:
            rl.skopeo_copy("oci:%s:v1" % layout, reg.ref("imgfs/features:v1"),
                           creds="alice:s3cret:x")
            ref = reg.ref("imgfs/features:v1")
            p = convert(ref, "--plain-http", check_rc=False)
            check("basic: no credentials refused", p.returncode != 0 and
                  "user name and password" in p.stderr, p.stderr.strip())
            p = convert(ref, "--plain-http", "--creds", "alice:wrong", check_rc=False)
            check("basic: wrong password refused", p.returncode != 0 and "refused" in p.stderr,
                  p.stderr.strip())
            got = convert(ref, "--plain-http", "--creds", "alice:s3cret:x").stdout.strip()
            check("basic: --creds", got == want, got)
            auth_file = wd("auth.json")
            with open(auth_file, "w") as f:
                json.dump({"auths": {reg.host: {
                    "auth": base64.b64encode(b"alice:s3cret:x").decode()}}}, f)
            store = wd("store-authfile")
            env = dict(os.environ, REGISTRY_AUTH_FILE=auth_file)
            p = subprocess.run([args.imgfs, "convert", ref, "--plain-http", "--store", store],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=300)
            check("basic: $REGISTRY_AUTH_FILE", p.returncode == 0 and p.stdout.strip() == want,
                  p.stderr.strip())
        finally:
            reg.stop()

        # -- token auth ----------------------------------------------------------------------
        reg = rl.Registry(wd.path, "token", auth=("token", "bob", "pw", 0))
        try:
            rl.skopeo_copy("oci:%s:v1" % layout, reg.ref("imgfs/features:v1"), creds="bob:pw")
        finally:
            reg.stop()
        # The same storage behind a token server whose first token the registry rejects.
        reg2 = rl.Registry(wd.path, "token2", auth=("token", "bob", "pw", 1), storage=reg.storage)
        try:
            ref = reg2.ref("imgfs/features:v1")
            p = convert(ref, "--plain-http", check_rc=False)
            check("token: anonymous token refused by the token server", p.returncode != 0,
                  p.stderr.strip())
            got = convert(ref, "--plain-http", "--creds", "bob:pw").stdout.strip()
            tokens = reg2.token_requests()
            check("token: a rejected token is fetched again, same digest",
                  got == want and any(t.endswith(" bad") for t in tokens) and
                  any(t.endswith(" ok") for t in tokens), "%s %s" % (got, tokens))
        finally:
            reg2.stop()

    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    print("all registry convert checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
