#!/usr/bin/python3
"""mkimage: build OCI image layouts from a declarative spec (stdlib only).

Used by the integration tests and the benchmark image builders. It writes layer
tars byte by byte (its own ustar/PAX/GNU writer) so that tests control exactly
what a reader sees: raw names (`./x`, `/x`, `../x`), long names, PAX records
(mtime with ns, large uid/gid, SCHILY.xattr.*), whiteouts, opaque markers,
hardlinks, devices and fifos. Sparse files come from GNU tar --sparse run on a
real sparse file and are spliced into the layer stream.

Commands:
  mkimage.py build SPEC.json --layout DIR     build every image of SPEC ("-" = stdin)
  mkimage.py rootfs --root PATH --layout DIR --tag TAG [--compression gzip|zstd|none]
                                              pack a rootfs dir as a one-layer image (GNU tar)
  mkimage.py tars --layout DIR --tag TAG [--compression C] LAYER.tar...
                                              one image from prepared uncompressed layer tars
  mkimage.py pack --root PATH --out LAYER.tar  a rootfs dir as one uncompressed layer tar
  mkimage.py diff --lower A --upper B --out LAYER.tar
                                              layer tar of what B changes over A (whiteouts too)
  mkimage.py docker-archive --layout DIR --tag TAG --out FILE
                                              skopeo copy oci:DIR:TAG docker-archive:FILE:TAG

Spec (JSON, or the same dicts through build_layout()):
  {"images": [IMAGE, ...]}
  IMAGE = {"tag": "v1", "layers": [LAYER...], "platform": {"os":..,"architecture":..},
           "extra_tags": [...],            # more index.json names for the same manifest
           "manifest_raw": "...", "config_raw": "...",   # hostile: replace the JSON blob
           "diff_ids": {"0": "sha256:..."}}              # hostile: override diff_ids
     or  {"tag": "multi", "platforms": [IMAGE-without-tag, ...]}  # nested image index
  LAYER = {"compression": "gzip"|"zstd"|"none", "format": "pax"|"gnu",
           "entries": [ENTRY...]  or  "tar_file": "prepared.tar",
           "truncate": N,          # hostile: cut the compressed blob to N bytes (digest fits)
           "corrupt_at": N,        # hostile: flip a byte of the compressed blob (digest fits)
           "bad_digest": true,     # hostile: blob bytes differ from the descriptor digest
           "media_type": "..."}
  ENTRY = {"type": "file"|"dir"|"symlink"|"hardlink"|"char"|"block"|"fifo"|
                   "whiteout"|"opaque"|"sparse",
           "path": "usr/bin/x",     # written verbatim (dirs get a trailing "/" unless "raw")
           "content": "text" | "content_b64": "..." | "random": [size, seed],
           "target": "...",          # symlink / hardlink target, verbatim
           "mode": 0o644, "uid": 0, "gid": 0, "uname": "", "gname": "",
           "mtime": 1600000000 | "1600000000.123456789",
           "xattrs": {"user.a": "text" | {"b64": "..."}},
           "major": 1, "minor": 3,
           "pax": {"key": "value"},  # extra PAX records
           "size": N, "data": [[offset, length_or_text], ...],  # sparse
           "sparse_format": "posix"|"gnu", "sparse_version": "1.0"}
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

BLOCK = 512
DEFAULT_MTIME = 1600000000
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
TYPEFLAG = {"file": b"0", "hardlink": b"1", "symlink": b"2", "char": b"3",
            "block": b"4", "dir": b"5", "fifo": b"6"}
DEFAULT_MODE = {"file": 0o644, "dir": 0o755, "symlink": 0o777, "hardlink": 0o644,
                "char": 0o666, "block": 0o660, "fifo": 0o644, "whiteout": 0o644,
                "opaque": 0o644}


class SpecError(Exception):
    pass


def have_zstd():
    return shutil.which("zstd") is not None


# ---------------------------------------------------------------- tar writer

def _octal(value, width):
    """NUL-terminated octal field, or None when it does not fit."""
    digits = "%o" % value
    if len(digits) > width - 1 or value < 0:
        return None
    return digits.zfill(width - 1).encode() + b"\0"


def _base256(value, width):
    return bytes([0x80]) + value.to_bytes(width - 1, "big")


def _pax_record(key, value):
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    key = key.encode()
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _header(name, mode, uid, gid, size, mtime, typeflag, linkname=b"",
            uname=b"", gname=b"", major=0, minor=0, prefix=b"", gnu=False):
    def num(value, width, key):
        field = _octal(value, width)
        if field is None:
            if not gnu:
                raise SpecError("%s=%d does not fit a ustar field" % (key, value))
            field = _base256(value, width)
        return field

    hdr = bytearray(BLOCK)
    hdr[0:100] = name[:100].ljust(100, b"\0")
    hdr[100:108] = num(mode, 8, "mode")
    hdr[108:116] = num(uid, 8, "uid")
    hdr[116:124] = num(gid, 8, "gid")
    hdr[124:136] = num(size, 12, "size")
    hdr[136:148] = num(mtime, 12, "mtime")
    hdr[148:156] = b" " * 8
    hdr[156:157] = typeflag
    hdr[157:257] = linkname[:100].ljust(100, b"\0")
    hdr[257:265] = b"ustar  \0" if gnu else b"ustar\x0000"
    hdr[265:297] = uname[:32].ljust(32, b"\0")
    hdr[297:329] = gname[:32].ljust(32, b"\0")
    hdr[329:337] = num(major, 8, "devmajor")
    hdr[337:345] = num(minor, 8, "devminor")
    if not gnu:
        hdr[345:500] = prefix[:155].ljust(155, b"\0")
    checksum = sum(hdr)
    hdr[148:156] = ("%06o" % checksum).encode() + b"\0 "
    return bytes(hdr)


def _pad(data):
    return data + b"\0" * (-len(data) % BLOCK)


def _split_ustar(name):
    """(prefix, name) for the ustar prefix field, or None if it cannot hold `name`."""
    if len(name) <= 100:
        return b"", name
    for i in range(len(name) - 1, 0, -1):
        if name[i:i + 1] == b"/" and i <= 155 and len(name) - i - 1 <= 100 and i > 0:
            if len(name) - i - 1 == 0:
                continue
            return name[:i], name[i + 1:]
    return None


def _parse_mtime(value):
    """(seconds, pax_string or None)."""
    if value is None:
        return DEFAULT_MTIME, None
    if isinstance(value, int):
        return value, None
    text = str(value)
    if "." in text:
        sec, frac = text.split(".", 1)
        if int(frac or "0") == 0:
            return int(sec), None
        return int(sec), text
    return int(text), None


def _content(entry):
    if "content" in entry:
        return entry["content"].encode("utf-8", "surrogateescape")
    if "content_b64" in entry:
        return base64.b64decode(entry["content_b64"])
    if "random" in entry:
        size, seed = entry["random"]
        return random.Random(seed).randbytes(size)
    return b""


def _xattr_value(value):
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


class TarWriter:
    """Writes tar members exactly as told. format "pax": ustar + PAX 'x' headers;
    format "gnu": GNU magic, ././@LongLink for long names, base-256 numbers."""

    def __init__(self, fmt="pax"):
        if fmt not in ("pax", "gnu"):
            raise SpecError("unknown tar format %r" % fmt)
        self.fmt = fmt
        self.out = io.BytesIO()
        self.pax_seq = 0

    def raw(self, data):
        self.out.write(data)

    def member(self, name, typeflag, mode, uid, gid, mtime, data=b"", linkname=b"",
               uname=b"", gname=b"", major=0, minor=0, xattrs=None, pax=None):
        if isinstance(name, str):
            name = name.encode("utf-8", "surrogateescape")
        if isinstance(linkname, str):
            linkname = linkname.encode("utf-8", "surrogateescape")
        sec, pax_mtime = _parse_mtime(mtime)
        records = {}
        if pax:
            records.update(pax)
        for key, value in (xattrs or {}).items():
            records["SCHILY.xattr." + key] = _xattr_value(value)
        gnu = self.fmt == "gnu"
        prefix = b""
        if gnu:
            if pax_mtime is not None:
                records["mtime"] = pax_mtime  # GNU has no ns field; Go and libarchive read PAX
            if len(name) > 100:
                self._gnu_long(b"L", name)
            if len(linkname) > 100:
                self._gnu_long(b"K", linkname)
        else:
            split = _split_ustar(name)
            if split is None:
                records["path"] = name
            else:
                prefix, name = split
            if len(linkname) > 100:
                records["linkpath"] = linkname
            if pax_mtime is not None:
                records["mtime"] = pax_mtime
            for key, value, width in (("uid", uid, 8), ("gid", gid, 8),
                                      ("size", len(data), 12)):
                if _octal(value, width) is None:
                    records[key] = str(value)
        if records:
            # In "gnu" format this mixes a PAX header into a GNU archive (for xattrs and
            # ns mtimes): GNU tar never writes that, but Go and libarchive read it.
            self._pax(name if len(name) <= 80 else name[-80:], records)

        def clamp(value, width):
            return value if _octal(value, width) is not None or gnu else 0

        hdr = _header(name, mode, clamp(uid, 8), clamp(gid, 8), len(data)
                      if _octal(len(data), 12) is not None or gnu else 0, sec,
                      typeflag, linkname, uname.encode() if isinstance(uname, str) else uname,
                      gname.encode() if isinstance(gname, str) else gname,
                      major, minor, prefix, gnu)
        self.out.write(hdr)
        self.out.write(_pad(data))

    def _pax(self, name, records):
        body = b"".join(_pax_record(k, v) for k, v in records.items())
        self.pax_seq += 1
        base = os.path.basename(name.rstrip(b"/")) or b"root"
        hname = b"PaxHeaders.%d/" % self.pax_seq + base[:60]
        self.out.write(_header(hname, 0o644, 0, 0, len(body), 0, b"x", gnu=False))
        self.out.write(_pad(body))

    def global_pax(self, records):
        body = b"".join(_pax_record(k, v) for k, v in records.items())
        self.out.write(_header(b"GlobalHead.0.1", 0o644, 0, 0, len(body), 0, b"g"))
        self.out.write(_pad(body))

    def _gnu_long(self, kind, value):
        data = value + b"\0"
        self.out.write(_header(b"././@LongLink", 0o644, 0, 0, len(data), 0, kind, gnu=True))
        self.out.write(_pad(data))

    def finish(self, end_blocks=2):
        self.out.write(b"\0" * BLOCK * end_blocks)
        return self.out.getvalue()


def _sparse_member(entry):
    """Bytes of one tar member produced by GNU tar --sparse from a real sparse file."""
    tar = shutil.which("tar")
    if not tar:
        raise SpecError("sparse entries need GNU tar")
    path = entry["path"].lstrip("/")
    with tempfile.TemporaryDirectory(prefix="mkimage-sparse-") as tmp:
        full = os.path.join(tmp, path)
        os.makedirs(os.path.dirname(full) or tmp, exist_ok=True)
        with open(full, "wb") as f:
            f.truncate(entry["size"])
            for offset, what in entry.get("data", []):
                f.seek(offset)
                if isinstance(what, int):
                    f.write(random.Random(offset).randbytes(what))
                else:
                    f.write(what.encode())
        os.chmod(full, entry.get("mode", 0o644))
        sec, pax = _parse_mtime(entry.get("mtime"))
        ns = sec * 10**9 + (int(pax.split(".")[1].ljust(9, "0")[:9]) if pax else 0)
        os.utime(full, ns=(ns, ns))
        fmt = entry.get("sparse_format", "posix")
        cmd = [tar, "-b1", "--sparse", "--format=" + fmt, "--numeric-owner",
               "--owner=+%d" % entry.get("uid", 0), "--group=+%d" % entry.get("gid", 0),
               "--no-recursion", "-C", tmp, "-cf", "-"]
        if fmt == "posix":
            cmd.insert(3, "--sparse-version=" + entry.get("sparse_version", "1.0"))
            # Keep the archive free of atime/ctime so it is reproducible.
            cmd.insert(3, "--pax-option=delete=atime,delete=ctime")
        cmd.append(path)
        blob = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        members = tf.getmembers()
        if len(members) != 1 or not members[0].issparse():
            raise SpecError("GNU tar did not write %s as a sparse member" % path)
        end = tf.offset
    return blob[:end]


def build_layer_tar(layer):
    """Uncompressed tar bytes of one LAYER spec."""
    if "tar_file" in layer:
        with open(layer["tar_file"], "rb") as f:
            return f.read()
    writer = TarWriter(layer.get("format", "pax"))
    if "global_pax" in layer:
        writer.global_pax(layer["global_pax"])
    for entry in layer.get("entries", []):
        kind = entry["type"]
        path = entry["path"]
        common = dict(mode=entry.get("mode", DEFAULT_MODE.get(kind, 0o644)),
                      uid=entry.get("uid", 0), gid=entry.get("gid", 0),
                      mtime=entry.get("mtime"), uname=entry.get("uname", ""),
                      gname=entry.get("gname", ""), xattrs=entry.get("xattrs"),
                      pax=entry.get("pax"))
        if kind == "file":
            writer.member(path, b"0", data=_content(entry), **common)
        elif kind == "dir":
            name = path if entry.get("raw") or path.endswith("/") else path + "/"
            writer.member(name, b"5", **common)
        elif kind in ("symlink", "hardlink"):
            writer.member(path, TYPEFLAG[kind], linkname=entry["target"], **common)
        elif kind in ("char", "block"):
            writer.member(path, TYPEFLAG[kind], major=entry.get("major", 0),
                          minor=entry.get("minor", 0), **common)
        elif kind == "fifo":
            writer.member(path, b"6", **common)
        elif kind == "whiteout":
            head, _, base = path.rstrip("/").rpartition("/")
            writer.member((head + "/" if head else "") + ".wh." + base, b"0", **common)
        elif kind == "opaque":
            writer.member(path.rstrip("/") + "/.wh..wh..opq", b"0", **common)
        elif kind == "sparse":
            writer.raw(_sparse_member(entry))
        else:
            raise SpecError("unknown entry type %r" % kind)
    return writer.finish(layer.get("end_blocks", 2))


def compress(data, method):
    if method == "none":
        return data
    if method == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if method == "zstd":
        if not have_zstd():
            raise SpecError("zstd compression needs the zstd CLI")
        return subprocess.run(["zstd", "-q", "-3", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    raise SpecError("unknown compression %r" % method)


# ---------------------------------------------------------------- OCI layout

def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        index_path = os.path.join(path, "index.json")
        if os.path.exists(index_path):
            with open(index_path) as f:
                self.index = json.load(f)
        else:
            self.index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}

    def put(self, data, digest=None):
        digest = digest or sha256(data)
        with open(os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1]),
                  "wb") as f:
            f.write(data)
        return digest

    def put_file(self, src):
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = "sha256:" + h.hexdigest()
        dst = os.path.join(self.path, "blobs", "sha256", h.hexdigest())
        shutil.copyfile(src, dst)
        return digest, os.path.getsize(dst)

    def tag(self, name, descriptor):
        self.index["manifests"] = [
            m for m in self.index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != name]
        desc = dict(descriptor)
        desc["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.index["manifests"].append(desc)

    def save(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(self.index, f, indent=1)


def _layer_blob(layout, layer):
    tar_bytes = build_layer_tar(layer)
    method = layer.get("compression", "gzip")
    blob = compress(tar_bytes, method)
    if "truncate" in layer:
        blob = blob[:layer["truncate"]]
    if "corrupt_at" in layer:
        i = layer["corrupt_at"] % len(blob)
        blob = blob[:i] + bytes([blob[i] ^ 0xff]) + blob[i + 1:]
    digest = sha256(blob)
    if layer.get("bad_digest"):
        blob = blob[:-1] + bytes([blob[-1] ^ 0x01])
    layout.put(blob, digest)
    desc = {"mediaType": layer.get("media_type", MT_LAYER[method]), "digest": digest,
            "size": len(blob)}
    return desc, sha256(tar_bytes)


def _manifest(layout, image):
    layers, diff_ids = [], []
    for layer in image["layers"]:
        desc, diff_id = _layer_blob(layout, layer)
        layers.append(desc)
        diff_ids.append(diff_id)
    for index, value in image.get("diff_ids", {}).items():
        diff_ids[int(index)] = value
    platform = image.get("platform", {"os": "linux", "architecture": "amd64"})
    config = {
        "created": "2020-09-13T12:26:40Z",
        "architecture": platform["architecture"], "os": platform["os"],
        "config": image.get("config", {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:"
                                               "/usr/sbin:/usr/bin:/sbin:/bin"],
                                       "Cmd": ["/bin/sh"]}),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2020-09-13T12:26:40Z", "created_by": "mkimage layer %d" % i}
                    for i in range(len(diff_ids))],
    }
    if "variant" in platform:
        config["variant"] = platform["variant"]
    config_bytes = (image["config_raw"].encode() if "config_raw" in image
                    else json.dumps(config, sort_keys=True).encode())
    config_digest = layout.put(config_bytes)
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": config_digest,
                           "size": len(config_bytes)},
                "layers": layers}
    manifest_bytes = (image["manifest_raw"].encode() if "manifest_raw" in image
                      else json.dumps(manifest, sort_keys=True).encode())
    digest = layout.put(manifest_bytes)
    return {"mediaType": MT_MANIFEST, "digest": digest, "size": len(manifest_bytes),
            "platform": platform}


def build_image(layout, image):
    """Adds one IMAGE spec to `layout`; returns its top descriptor."""
    if "platforms" in image:
        manifests = [_manifest(layout, sub) for sub in image["platforms"]]
        for sub, desc in zip(image["platforms"], manifests):
            for extra in sub.get("extra_tags", []):
                layout.tag(extra, desc)
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests}
        data = json.dumps(index, sort_keys=True).encode()
        desc = {"mediaType": MT_INDEX, "digest": layout.put(data), "size": len(data)}
    else:
        desc = _manifest(layout, image)
    layout.tag(image["tag"], desc)
    for extra in image.get("extra_tags", []):
        layout.tag(extra, desc)
    return desc


def build_layout(path, images):
    layout = Layout(path)
    descs = [build_image(layout, image) for image in images]
    layout.save()
    return descs


def image_from_tars(path, tag, tars, compression="gzip", platform=None):
    layers = [{"tar_file": t, "compression": compression} for t in tars]
    image = {"tag": tag, "layers": layers}
    if platform:
        image["platform"] = platform
    return build_layout(path, [image])[0]


def pack_rootfs_tar(root, out_path):
    """Whole rootfs as a tar the way image builders (and `docker export`) write it."""
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--sparse", "--numeric-owner",
                    "--format=posix", "--pax-option=delete=atime,delete=ctime",
                    "-C", root, "-cf", out_path, "."], check=True)


# ---------------------------------------------------------------- rootfs diff

def _snapshot(root):
    """relpath -> (lstat, symlink target) for every entry under root."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            target = os.readlink(full) if stat.S_ISLNK(st.st_mode) else None
            result[rel] = (st, target)
    return result


def _xattrs(path):
    try:
        return {k: os.getxattr(path, k, follow_symlinks=False)
                for k in os.listxattr(path, follow_symlinks=False)}
    except OSError:
        return {}


def _same(lower_root, upper_root, rel, a, b):
    sa, ta = a
    sb, tb = b
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
        return False
    if (sa.st_mode, sa.st_uid, sa.st_gid) != (sb.st_mode, sb.st_uid, sb.st_gid):
        return False
    if ta != tb or sa.st_rdev != sb.st_rdev:
        return False
    if _xattrs(os.path.join(lower_root, rel)) != _xattrs(os.path.join(upper_root, rel)):
        return False
    if stat.S_ISDIR(sa.st_mode):
        return sa.st_mtime_ns == sb.st_mtime_ns
    if stat.S_ISREG(sa.st_mode):
        if sa.st_size != sb.st_size or sa.st_mtime_ns != sb.st_mtime_ns:
            return False
        # Same size and mtime: like containerd's differ, trust it only if the bytes agree.
        with open(os.path.join(lower_root, rel), "rb") as fa, \
                open(os.path.join(upper_root, rel), "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    return sa.st_mtime_ns == sb.st_mtime_ns


def diff_layer(lower, upper, out_path):
    """Writes the layer tar that turns rootfs `lower` into rootfs `upper`: changed and new
    entries (with their parent dirs and whole hardlink groups) by GNU tar, then whiteouts
    for removed entries. Returns (changed count, whiteout count)."""
    low, up = _snapshot(lower), _snapshot(upper)
    changed = set()
    for rel, info in up.items():
        if rel not in low or not _same(lower, upper, rel, low[rel], info):
            changed.add(rel)
    # Whole hardlink groups, so that every link has its target in the same layer.
    by_ino = {}
    for rel, (st, _) in up.items():
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            by_ino.setdefault(st.st_ino, []).append(rel)
    for group in by_ino.values():
        if any(r in changed for r in group):
            changed.update(group)
    for rel in list(changed):
        parent = os.path.dirname(rel)
        while parent:
            changed.add(parent)
            parent = os.path.dirname(parent)
    removed = sorted(r for r in low if r not in up)
    removed = [r for r in removed
               if not any(r.startswith(p + "/") for p in removed if p != r and
                          stat.S_ISDIR(low[p][0].st_mode))]
    with tempfile.NamedTemporaryFile("w", delete=False, prefix="mkimage-list-") as lst:
        for rel in sorted(changed):
            lst.write("./" + rel + "\n")
        list_path = lst.name
    try:
        blob = subprocess.run(
            ["tar", "--xattrs", "--xattrs-include=*", "--sparse", "--numeric-owner",
             "--format=posix", "--pax-option=delete=atime,delete=ctime", "-b1",
             "--no-recursion", "-C", upper, "-T", list_path, "-cf", "-"],
            check=True, stdout=subprocess.PIPE).stdout
    finally:
        os.unlink(list_path)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        tf.getmembers()
        end = tf.offset
    writer = TarWriter("pax")
    writer.raw(blob[:end])
    for rel in removed:
        head, _, base = ("./" + rel).rpartition("/")
        writer.member(head + "/.wh." + base, b"0", mode=0o644, uid=0, gid=0,
                      mtime=DEFAULT_MTIME)
    with open(out_path, "wb") as f:
        f.write(writer.finish())
    return len(changed), len(removed)


# ---------------------------------------------------------------- CLI

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("spec")
    b.add_argument("--layout", required=True)
    r = sub.add_parser("rootfs")
    r.add_argument("--root", required=True)
    r.add_argument("--layout", required=True)
    r.add_argument("--tag", required=True)
    r.add_argument("--compression", default="gzip", choices=sorted(MT_LAYER))
    t = sub.add_parser("tars")
    t.add_argument("--layout", required=True)
    t.add_argument("--tag", required=True)
    t.add_argument("--compression", default="gzip", choices=sorted(MT_LAYER))
    t.add_argument("tars", nargs="+")
    k = sub.add_parser("pack")
    k.add_argument("--root", required=True)
    k.add_argument("--out", required=True)
    d = sub.add_parser("diff")
    d.add_argument("--lower", required=True)
    d.add_argument("--upper", required=True)
    d.add_argument("--out", required=True)
    a = sub.add_parser("docker-archive")
    a.add_argument("--layout", required=True)
    a.add_argument("--tag", required=True)
    a.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        if args.cmd == "build":
            f = sys.stdin if args.spec == "-" else open(args.spec)
            with f:
                spec = json.load(f)
            for desc in build_layout(args.layout, spec["images"]):
                print(desc["digest"])
        elif args.cmd == "rootfs":
            with tempfile.TemporaryDirectory(prefix="mkimage-") as tmp:
                tar_path = os.path.join(tmp, "layer.tar")
                pack_rootfs_tar(args.root, tar_path)
                print(image_from_tars(args.layout, args.tag, [tar_path],
                                      args.compression)["digest"])
        elif args.cmd == "tars":
            print(image_from_tars(args.layout, args.tag, args.tars,
                                  args.compression)["digest"])
        elif args.cmd == "pack":
            pack_rootfs_tar(args.root, args.out)
        elif args.cmd == "diff":
            changed, removed = diff_layer(args.lower, args.upper, args.out)
            print("%d changed, %d removed" % (changed, removed))
        elif args.cmd == "docker-archive":
            docker_archive(args.layout, args.tag, args.out)
    except (SpecError, subprocess.CalledProcessError, OSError) as e:
        print("mkimage: %s" % e, file=sys.stderr)
        return 1
    return 0


def docker_archive(layout, tag, out):
    if os.path.exists(out):
        os.unlink(out)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q",
                    "oci:%s:%s" % (layout, tag), "docker-archive:%s:imgfs-test:%s" % (out, tag)],
                   check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
