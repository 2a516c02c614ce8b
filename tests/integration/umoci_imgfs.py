#!/usr/bin/python3
"""A stand-in for the imgfs CLI built on umoci and skopeo, used to check the integration
tests themselves (IMGFS_BIN=tests/integration/umoci_imgfs.py ctest -L integration): a
test that fails against it is a broken test, not an imgfs bug. It implements convert,
export (dir and --tar), ls, rm, gc and inspect --json over a JSON store in $IMGFS_STORE;
"chunks" are whole files keyed by SHA-256. It validates nothing that umoci accepts.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile


def fail(msg):
    print("imgfs: " + msg, file=sys.stderr)
    sys.exit(1)


def store_dir(argv):
    if "--store" in argv:
        i = argv.index("--store")
        path = argv[i + 1]
        del argv[i:i + 2]
        return path
    return os.environ.get("IMGFS_STORE") or fail("no store: pass --store or set IMGFS_STORE")


def load(store):
    os.makedirs(os.path.join(store, "trees"), exist_ok=True)
    path = os.path.join(store, "db.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"refs": {}, "chunks": {}, "images": {}}


def save(store, db):
    with open(os.path.join(store, "db.json"), "w") as f:
        json.dump(db, f)


def unpack(source, dest):
    """rootfs of SOURCE at dest."""
    with tempfile.TemporaryDirectory(prefix="umoci-imgfs-") as tmp:
        if source.startswith("dir:"):
            subprocess.run(["cp", "-a", source[4:], dest], check=True)
            return
        if source.startswith("docker-archive:"):
            subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", source,
                            "oci:%s/l:img" % tmp], check=True, stdout=subprocess.DEVNULL)
            layout, tag = tmp + "/l", "img"
        elif source.startswith("oci:"):
            rest = source[4:]
            layout, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
        else:
            fail("unknown source " + source)
        proc = subprocess.run(["umoci", "unpack", "--image", "%s:%s" % (layout, tag),
                               tmp + "/b"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if proc.returncode:
            fail("%s: %s" % (source, proc.stderr.strip().splitlines()[-1]))
        os.rename(tmp + "/b/rootfs", dest)


def resolve(db, image):
    return db["refs"].get(image, image if image in db["images"] else None)


def main():
    argv = sys.argv[1:]
    store = store_dir(argv)
    db = load(store)
    cmd, args = argv[0], argv[1:]
    if cmd == "convert":
        tag = None
        if "--tag" in args:
            i = args.index("--tag")
            tag = args[i + 1]
            del args[i:i + 2]
        tmp = os.path.join(store, "trees", "new")
        shutil.rmtree(tmp, ignore_errors=True)
        unpack(args[0], tmp)
        files = dirs = 0
        known = set(db["chunks"])
        mine = set()
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(tmp):
            dirs += 1
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                h.update(full[len(tmp):].encode())
                if os.path.isfile(full) and not os.path.islink(full):
                    files += 1
                    with open(full, "rb") as f:
                        chunk = hashlib.sha256(f.read()).hexdigest()
                    db["chunks"][chunk] = 1
                    mine.add(chunk)
        digest = "sha256:" + h.hexdigest()
        final = os.path.join(store, "trees", digest)
        if os.path.exists(final):
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, final)
        db["images"][digest] = {"files": files, "dirs": dirs, "chunks": len(mine),
                                "shared_chunks": len(mine & known)}
        if tag:
            db["refs"][tag] = digest
        save(store, db)
        print(digest)
    elif cmd == "export":
        digest = resolve(db, args[0]) or fail("unknown image " + args[0])
        tree = os.path.join(store, "trees", digest)
        if "--tar" in args:
            subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                            "--format=posix", "-C", tree, "-cf", args[args.index("--tar") + 1],
                            "."], check=True)
        else:
            subprocess.run(["cp", "-a", tree, args[1]], check=True)
    elif cmd == "ls":
        for tag, digest in sorted(db["refs"].items()):
            print("%s\t%s" % (tag, digest))
    elif cmd == "rm":
        if args[0] not in db["refs"]:
            fail("rm: no image named " + args[0])
        del db["refs"][args[0]]
        save(store, db)
    elif cmd == "gc":
        live = set(db["refs"].values())
        for digest in list(db["images"]):
            if digest not in live:
                del db["images"][digest]
                shutil.rmtree(os.path.join(store, "trees", digest), ignore_errors=True)
        keep = {}
        for digest in live:
            for dirpath, _, filenames in os.walk(os.path.join(store, "trees", digest)):
                for name in filenames:
                    full = os.path.join(dirpath, name)
                    if os.path.isfile(full) and not os.path.islink(full):
                        with open(full, "rb") as f:
                            keep[hashlib.sha256(f.read()).hexdigest()] = 1
        removed = len(set(db["chunks"]) - set(keep))
        db["chunks"] = keep
        save(store, db)
        print("removed %d chunks, kept %d chunks" % (removed, len(keep)))
    elif cmd == "inspect":
        digest = resolve(db, args[0]) or fail("unknown image " + args[0])
        print(json.dumps(dict(digest=digest, **db["images"][digest])))
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
