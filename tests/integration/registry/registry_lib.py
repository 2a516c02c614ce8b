"""Running Debian's CNCF distribution registry (`docker-registry`, 2.8) for the tests: each one
on 127.0.0.1 with its own config and storage below the test's work dir, anonymous, with htpasswd
basic auth or with token auth (tokenserver.py); never the system service. FAULTPROXY is the tests' fault-injecting
proxy (../faultproxy.py: --cut-first breaks each blob's first transfer halfway, --redirect, and
faults drawn at a rate).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import itest  # noqa: E402

FAULTPROXY = os.path.join(os.path.dirname(HERE), "faultproxy.py")

ISSUER = "imgfs-test-issuer"
SERVICE = "imgfs-test-registry"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=20):
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


class Process:
    def __init__(self, argv, log_path, port):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for_port(port, self.proc):
            self.stop()
            with open(log_path) as f:
                raise RuntimeError("%s did not start: %s" % (argv[0], f.read()[-2000:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def need_registry_tools():
    itest.need_tools("docker-registry", "skopeo", "htpasswd", "openssl")


class Registry:
    """One registry; auth is None, ("htpasswd", user, password) or ("token", user, password,
    bad_first)."""

    def __init__(self, workdir, name, auth=None, storage=None, tls=False, token_args=()):
        self.dir = os.path.join(workdir, name)
        self.storage = storage or os.path.join(self.dir, "storage")
        os.makedirs(self.dir)
        os.makedirs(self.storage, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.token = None
        self.token_log = os.path.join(self.dir, "tokens.log")
        auth_yaml = ""
        if auth and auth[0] == "htpasswd":
            htpasswd = os.path.join(self.dir, "htpasswd")
            out = subprocess.run(["htpasswd", "-Bbn", auth[1], auth[2]], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            with open(htpasswd, "w") as f:
                f.write(out)
            auth_yaml = "auth:\n  htpasswd:\n    realm: imgfs-test\n    path: %s\n" % htpasswd
        elif auth and auth[0] == "token":
            key, cert, bad = (os.path.join(self.dir, n) for n in ("key.pem", "cert.pem", "bad.pem"))
            for k, c in ((key, cert), (bad, bad + ".crt")):
                subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                "-keyout", k, "-out", c, "-days", "2", "-subj",
                                "/CN=imgfs-test-token"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            token_port = free_port()
            self.token = Process([sys.executable, os.path.join(HERE, "tokenserver.py"),
                                  "--port", str(token_port), "--key", key, "--bad-key", bad,
                                  "--issuer", ISSUER, "--users", "%s:%s" % (auth[1], auth[2]),
                                  "--bad-first", str(auth[3]), "--log", self.token_log,
                                  *token_args],
                                 os.path.join(self.dir, "tokenserver.log"), token_port)
            auth_yaml = ("auth:\n  token:\n    realm: http://127.0.0.1:%d/token\n"
                         "    service: %s\n    issuer: %s\n    rootcertbundle: %s\n" %
                         (token_port, SERVICE, ISSUER, cert))
        tls_yaml = ""
        self.ca = None
        if tls:
            self.ca, cert, key = make_tls(self.dir)
            tls_yaml = "  tls:\n    certificate: %s\n    key: %s\n" % (cert, key)
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                    "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n"
                    "    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n  secret: imgfs-test\n%s%s" %
                    (self.storage, self.port, tls_yaml, auth_yaml))
        try:
            self.registry = Process(["docker-registry", "serve", config],
                                    os.path.join(self.dir, "registry.log"), self.port)
        except Exception:
            if self.token:
                self.token.stop()
            raise

    def ref(self, repo_tag):
        return "docker://%s/%s" % (self.host, repo_tag)

    def token_requests(self):
        if not os.path.exists(self.token_log):
            return []
        with open(self.token_log) as f:
            return f.read().split("\n")[:-1]

    def stop(self):
        self.registry.stop()
        if self.token:
            self.token.stop()


def make_tls(work):
    """A certificate authority made for the run and a server certificate for 127.0.0.1 that it
    signed: (ca.pem, server.pem, server.key)."""
    ca_key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.pem")
    key, csr, cert = (os.path.join(work, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(work, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    for cmd in (["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                 "-out", ca, "-days", "2", "-subj", "/CN=imgfs registry test CA"],
                ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                 "-subj", "/CN=127.0.0.1"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ca, cert, key


def skopeo_copy(src, dest, creds=None, all_platforms=False, docker_format=False):
    argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--src-tls-verify=false"]
    if docker_format:
        argv += ["--format", "v2s2"]
    if creds:
        argv += ["--dest-creds", creds]
    if all_platforms:
        argv += ["--all"]
    proc = subprocess.run(argv + [src, dest], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    if proc.returncode != 0:
        raise itest.CommandFailed("skopeo copy %s %s" % (src, dest), proc)


def skopeo_inspect(ref, creds=None, raw=False):
    argv = ["skopeo", "inspect", "--tls-verify=false"]
    if creds:
        argv += ["--creds", creds]
    if raw:
        argv += ["--raw"]
    proc = subprocess.run(argv + [ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise itest.CommandFailed("skopeo inspect %s" % ref, proc)
    return proc.stdout
