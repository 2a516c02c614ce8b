#!/usr/bin/env python3
"""`imgfs snapshotter` is the program imgfs-snapshotter, which imgfs execs; imgfs has no gRPC:

  no-grpc    imgfs links none of gRPC, protobuf or abseil (ldd); imgfs-snapshotter does
  exec       `imgfs snapshotter --version` is answered by imgfs-snapshotter, found beside imgfs
  config     a bad --config FILE, and a bad $IMGFS_* value, fail `imgfs snapshotter` with the
             very line (and exit code) they fail any imgfs command with: the configuration is
             loaded by the same code
  missing    an imgfs with no imgfs-snapshotter beside it or in PATH says so in one line, exit 1
Nothing is served: every command here fails, or exits, before it would listen.
"""

import os
import shutil
import subprocess
import sys
import tempfile

FAILED = []


def check(name, ok, detail=""):
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + str(detail)[-3000:]))
    sys.stdout.flush()
    if not ok:
        FAILED.append(name)


def run(argv, env=None):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60, env=env)


def main():
    imgfs = os.path.abspath(sys.argv[sys.argv.index("--imgfs") + 1])
    snapshotter = os.path.join(os.path.dirname(imgfs), "imgfs-snapshotter")

    heavy = ("grpc", "absl", "protobuf")
    libs = run(["ldd", imgfs]).stdout
    check("imgfs links no gRPC, protobuf or abseil",
          not any(h in line for line in libs.splitlines() for h in heavy), libs)
    libs = run(["ldd", snapshotter]).stdout
    check("imgfs-snapshotter links gRPC", "grpc" in libs, libs)

    p = run([imgfs, "snapshotter", "--version"])
    check("imgfs snapshotter --version is imgfs-snapshotter's",
          p.returncode == 0 and p.stdout.startswith("imgfs-snapshotter "), p)

    with tempfile.TemporaryDirectory(prefix="imgfs-snapshotter-exec.") as t:
        bad = os.path.join(t, "bad.toml")
        with open(bad, "w") as f:
            f.write("no_such_key = 1\n")
        ls = run([imgfs, "ls", "--config", bad])
        snap = run([imgfs, "snapshotter", "--config", bad])
        check("a bad --config fails imgfs snapshotter as it fails imgfs ls",
              ls.returncode == 2 and snap.returncode == 2 and ls.stderr.count("\n") == 1
              and snap.stderr == ls.stderr.replace("imgfs ls:", "imgfs snapshotter:", 1),
              (ls, snap))
        env = dict(os.environ, IMGFS_CACHE_SIZE="lots")
        ls = run([imgfs, "ls"], env=env)
        snap = run([imgfs, "snapshotter", "unpack", "x"], env=env)
        check("a bad $IMGFS_CACHE_SIZE fails imgfs snapshotter as it fails imgfs ls",
              ls.returncode == 2 and snap.returncode == 2
              and snap.stderr == ls.stderr.replace("imgfs ls:", "imgfs snapshotter:", 1),
              (ls, snap))

        alone = os.path.join(t, "bin")
        os.mkdir(alone)
        shutil.copy2(imgfs, alone)
        # An option no snapshotter takes: one that ran would fail on it, serving nothing.
        p = run([os.path.join(alone, "imgfs"), "snapshotter", "--no-such-option"],
                env=dict(os.environ, PATH=alone))
        check("without imgfs-snapshotter, imgfs snapshotter says so in one line",
              p.returncode == 1 and p.stderr.count("\n") == 1
              and p.stderr.startswith("imgfs snapshotter: this imgfs was built without gRPC"), p)

    print("%d failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
