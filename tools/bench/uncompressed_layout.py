#!/usr/bin/python3
"""uncompressed_layout.py SRC_LAYOUT TAG DST_LAYOUT: copies image TAG of an OCI layout with its
gzip layers stored uncompressed (same diff_ids, new blob digests), so a benchmark can tell the
converter's own speed from gzip's."""
import gzip
import hashlib
import json
import os
import shutil
import sys

src, tag, dst = sys.argv[1:4]
blobs = os.path.join(dst, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def blob(digest):
    return os.path.join(src, "blobs", "sha256", digest.split(":")[1])


def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


index = json.load(open(os.path.join(src, "index.json")))
desc = next(m for m in index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(blob(desc["digest"])))
shutil.copy(blob(manifest["config"]["digest"]), blobs)
for layer in manifest["layers"]:
    with gzip.open(blob(layer["digest"])) as f:
        data = f.read()
    layer["digest"], layer["size"] = put(data)
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
mdigest, msize = put(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize,
    "annotations": {"org.opencontainers.image.ref.name": tag}}]},
    open(os.path.join(dst, "index.json"), "w"))
with open(os.path.join(dst, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion": "1.0.0"}')
