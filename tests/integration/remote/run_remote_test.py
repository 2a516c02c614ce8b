#!/usr/bin/env python3
"""Runs the HTTP remote store tests against a real server on 127.0.0.1.

  --server fault   starts faultserver.py and runs remote_http_test's FaultServerTest suite
  --server nginx   starts nginx (dav_methods PUT, its own config, logs and temp paths in a work
                   dir), runs the NginxTest suite, then `imgfs convert` + `imgfs push` to it
  --server nginx-tls  the same over https, with a certificate authority made for the run (openssl)
                   that only --ca-file makes trusted; then mounts the pushed image over https
                   (needs root and /dev/fuse)

Exits 77 ("SKIP: reason") when nginx is missing and cannot be installed, or does not start.
Set IMGFS_KEEP_TMP=1 to keep the work directory.
"""

import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def skip(reason):
    print("SKIP: " + reason, flush=True)
    sys.exit(SKIP)


def fail(reason):
    print("FAIL: " + reason, flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def clean_env():
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    return env


def run_gtest(binary, suite, env):
    cmd = [binary, "--gtest_filter=%s.*" % suite, "--gtest_brief=0"]
    print("+ " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        fail("%s failed (exit %d)" % (suite, rc))


def find_nginx():
    for path in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if path and os.access(path, os.X_OK):
            return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("nginx not found; trying apt-get install nginx-light", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "install", "-y", "--no-install-recommends", "nginx-light"],
                    ["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "nginx-light"]):
            try:
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               timeout=240)
            except subprocess.TimeoutExpired:
                break
            if shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK):
                return shutil.which("nginx") or "/usr/sbin/nginx"
    skip("nginx is not installed and could not be installed (apt-get install nginx-light)")


NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port}{tls};
        root {root};
        client_max_body_size 0;
        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"""


def make_tls_files(work):
    """A CA and a server certificate for 127.0.0.1 signed by it; returns (ca, cert, key)."""
    if not shutil.which("openssl"):
        skip("openssl is not installed")
    ca_key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.pem")
    key, csr, cert = (os.path.join(work, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(work, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    for cmd in (["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                 "-out", ca, "-days", "2", "-subj", "/CN=imgfs test CA"],
                ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                 "-subj", "/CN=127.0.0.1"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            fail("%s: %s" % (" ".join(cmd[:2]), p.stderr.strip()[-300:]))
    return ca, cert, key


def start_nginx(nginx, work, root, tls=None):
    for _ in range(5):
        port = free_port()
        conf = os.path.join(work, "nginx.conf")
        user = "user root root;" if os.geteuid() == 0 else ""
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                user=user, work=work, root=root, port=port,
                tls="" if not tls else " ssl;\n        ssl_certificate %s;\n        "
                "ssl_certificate_key %s" % tls))
        proc = subprocess.Popen([nginx, "-p", work, "-c", conf, "-e", os.path.join(work, "error.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if wait_for_port(port, proc):
            return proc, port
        stop(proc)
    log = open(os.path.join(work, "error.log")).read() if os.path.exists(
        os.path.join(work, "error.log")) else ""
    skip("nginx did not start: " + log.strip().replace("\n", " | ")[-400:])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cli_push(imgfs, work, url, root_dir, env, ca=None):
    """imgfs convert + push through the CLI; checks what landed on the server. Returns the
    image digest and the source directory."""
    src = os.path.join(work, "src")
    os.makedirs(os.path.join(src, "bin"))
    with open(os.path.join(src, "bin", "app"), "wb") as f:
        f.write(os.urandom(3 << 20))
    with open(os.path.join(src, "readme"), "w") as f:
        f.write("hello from the CLI test\n" * 1000)
    store = os.path.join(work, "store")

    def imgfs_cmd(*args):
        p = subprocess.run([imgfs] + list(args) + ["--store", store], env=env,
                           capture_output=True, text=True, timeout=120)
        print("+ imgfs %s -> %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr),
              flush=True)
        return p

    if imgfs_cmd("convert", "dir:" + src, "--tag", "app").returncode != 0:
        fail("imgfs convert failed")
    tls_args = ["--ca-file", ca] if ca else []
    if ca:
        p = imgfs_cmd("push", "app", url)
        if p.returncode == 0 or "certificate" not in p.stderr:
            fail("a push to a server whose certificate nobody vouches for should fail saying so")
    p = imgfs_cmd("push", "app", url, *tls_args)
    if p.returncode != 0:
        fail("imgfs push failed")
    digest = p.stdout.strip()
    if not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        fail("imgfs push printed %r, not an index digest" % p.stdout)
    if not re.search(r"[1-9]\d* packs uploaded", p.stderr):
        fail("no upload summary on stderr: %r" % p.stderr)
    index_path = os.path.join(root_dir, "blobs", "sha256", digest[7:])
    if not os.path.isfile(index_path) or sha256_file(index_path) != digest[7:]:
        fail("the index blob is not on the server at " + index_path)
    blobs = os.listdir(os.path.join(root_dir, "blobs", "sha256"))
    for name in blobs:
        if sha256_file(os.path.join(root_dir, "blobs", "sha256", name)) != name:
            fail("blob %s on the server does not match its name" % name)
    if len(blobs) < 2:
        fail("expected the index and at least one pack on the server, found %s" % blobs)
    p = imgfs_cmd("push", "app", url, *tls_args)
    if p.returncode != 0 or p.stdout.strip() != digest or not re.search(
            r"(^|\s)0 packs uploaded", p.stderr):
        fail("a second push should upload nothing")
    p = imgfs_cmd("push", "app", "http://127.0.0.1:%d/nothing-listens" % free_port())
    if p.returncode == 0 or "127.0.0.1" not in p.stderr:
        fail("a push to a dead server should fail naming it")
    p = imgfs_cmd("push", "no-such-image", url)
    if p.returncode == 0:
        fail("pushing an unknown image should fail")
    # libcurl is opened at the first network use, not linked: without a loadable one, local
    # commands still work and a push fails with one line saying what is missing.
    broken = os.path.join(work, "broken-lib")
    os.makedirs(broken, exist_ok=True)
    open(os.path.join(broken, "libcurl.so.4"), "w").close()  # not a library
    saved = dict(env)
    env["LD_LIBRARY_PATH"] = broken
    try:
        if imgfs_cmd("ls").returncode != 0:
            fail("imgfs ls needs no libcurl, yet failed with an unloadable one")
        p = imgfs_cmd("push", "app", url, *tls_args)
        if p.returncode == 0 or "cannot load libcurl" not in p.stderr or \
                len(p.stderr.strip().splitlines()) != 1:
            fail("a push without a loadable libcurl should fail in one line saying so")
    finally:
        env.clear()
        env.update(saved)
    return digest, src


def cli_mount(imgfs, work, url, digest, src, env, ca):
    """Mounts a pushed image by digest over https with an empty store; compares its files."""
    store, mnt = os.path.join(work, "store-mount"), os.path.join(work, "mnt")
    os.makedirs(mnt)
    cmd = [imgfs, "mount", digest, mnt, "--remote", url, "--ca-file", ca, "--store", store]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    print("+ %s -> %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr), flush=True)
    if p.returncode != 0:
        fail("imgfs mount over https failed")
    try:
        for rel in ("bin/app", "readme"):
            if sha256_file(os.path.join(mnt, rel)) != sha256_file(os.path.join(src, rel)):
                fail("%s read over https differs from the source" % rel)
    finally:
        subprocess.run([imgfs, "umount", mnt, "--store", store], env=env, timeout=60)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", choices=["fault", "nginx", "nginx-tls"], required=True)
    p.add_argument("--test-bin", required=True, help="the remote_http_test binary")
    p.add_argument("--imgfs", default=os.environ.get("IMGFS_BIN"))
    args = p.parse_args()
    if not os.access(args.test_bin, os.X_OK):
        skip("test binary %s not built" % args.test_bin)
    work = tempfile.mkdtemp(prefix="imgfs-remote-%s-" % args.server)
    env = clean_env()
    proc = None
    try:
        if args.server == "fault":
            port_file = os.path.join(work, "port")
            log = os.path.join(work, "requests.log")
            os.makedirs(os.path.join(work, "root"))
            proc = subprocess.Popen([sys.executable, os.path.join(HERE, "faultserver.py"),
                                     "--root", os.path.join(work, "root"), "--log", log,
                                     "--port-file", port_file])
            deadline = time.time() + 10
            while not os.path.exists(port_file):
                if proc.poll() is not None or time.time() > deadline:
                    fail("faultserver.py did not start")
                time.sleep(0.05)
            port = int(open(port_file).read())
            env["IMGFS_TEST_FAULT_URL"] = "http://127.0.0.1:%d" % port
            env["IMGFS_TEST_FAULT_LOG"] = log
            run_gtest(args.test_bin, "FaultServerTest", env)
        else:
            tls = args.server == "nginx-tls"
            if tls and (os.geteuid() != 0 or not os.path.exists("/dev/fuse")):
                skip("the https test mounts the pushed image: needs root and /dev/fuse")
            if tls and not (args.imgfs and os.access(args.imgfs, os.X_OK)):
                skip("the https test needs the imgfs binary (--imgfs)")
            nginx = find_nginx()
            root = os.path.join(work, "root")
            os.makedirs(root)
            ca, cert, key = make_tls_files(work) if tls else (None, None, None)
            proc, port = start_nginx(nginx, work, root, (cert, key) if tls else None)
            url = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
            env["IMGFS_TEST_NGINX_URL"] = url
            env["IMGFS_TEST_NGINX_ROOT"] = root
            if ca:
                env["IMGFS_TEST_CA_FILE"] = ca
            run_gtest(args.test_bin, "NginxTest", env)
            if args.imgfs and os.access(args.imgfs, os.X_OK):
                digest, src = cli_push(args.imgfs, work, url + "/cli", os.path.join(root, "cli"),
                                       env, ca)
                if tls:
                    cli_mount(args.imgfs, work, url + "/cli", digest, src, env, ca)
            else:
                print("note: no imgfs binary given; CLI push not tested", flush=True)
    finally:
        stop(proc)
        if os.environ.get("IMGFS_KEEP_TMP"):
            print("work dir kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
