#!/usr/bin/python3
"""unique_content.py TAR...: the bytes of distinct regular-file content across root-filesystem
tars (files deduplicated by SHA-256 of their whole content): the floor that a store of these
images could reach with whole-file dedup and no compression."""
import hashlib
import sys
import tarfile

seen = {}
total = 0
for path in sys.argv[1:]:
    with tarfile.open(path) as tar:
        for m in tar:
            if not m.isreg():
                continue
            h = hashlib.sha256()
            f = tar.extractfile(m)
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
            total += m.size
            seen[h.digest()] = m.size
print("files_bytes %d unique_bytes %d" % (total, sum(seen.values())))
