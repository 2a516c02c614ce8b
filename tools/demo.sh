#!/usr/bin/env bash
# The main job on the embedded default (a local RocksDB store, no server): build a small real
# image (a busybox root filesystem in two layers, as an OCI layout), convert it, inspect it,
# export it back and check the export against `umoci unpack` of the same image; then push it to a
# directory remote and mount it lazily on a second, empty store, showing that listing the tree
# fetches nothing and that running a program fetches only what it reads; finally run a command in
# it with runc-lite (overlay: the lazy mount below, a writable layer above) and time each step;
# last, `imgfs run` does that whole path in one command, printing each step's time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/tools/dev.sh" build >&2
IMGFS=${BUILD_DIR:-$ROOT/build}/imgfs/imgfs
RUNC_LITE=${BUILD_DIR:-$ROOT/build}/runc-lite/runc-lite
WORK=${DEMO_DIR:-$(mktemp -d /tmp/imgfs-demo.XXXXXX)}
export IMGFS_STORE=$WORK/store
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
declare -a TIMES=()
timed() {  # timed LABEL CMD...: runs CMD, remembers how long it took
  local label=$1 t0 t1
  shift
  t0=$(date +%s%N)
  "$@"
  t1=$(date +%s%N)
  TIMES+=("$(printf '%-34s %8.1f ms' "$label" "$(echo "($t1 - $t0) / 1000000" | bc -l)")")
}

step "building a busybox image (two layers) in $WORK/layout"
base=$WORK/rootfs-base app=$WORK/rootfs-app
mkdir -p "$base"/{bin,etc,tmp,root,proc,sys,dev} && chmod 1777 "$base/tmp"
cp /bin/busybox "$base/bin/busybox"
for applet in $("$base/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$base/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$base/etc/passwd"
printf 'root:x:0:\n' >"$base/etc/group"
cp -a "$base" "$app"
mkdir -p "$app/app" && rm "$app/bin/vi"
printf '#!/bin/sh\necho hello from the app layer\n' >"$app/app/run.sh" && chmod 755 "$app/app/run.sh"
head -c 3000000 /dev/urandom >"$app/app/model.bin"
ln "$app/app/model.bin" "$app/app/model.link"
python3 "$ROOT/tools/mkimage.py" diff --lower /nonexistent --upper "$base" --out "$WORK/base.tar" >/dev/null 2>&1 ||
  tar --numeric-owner --xattrs -C "$base" -cf "$WORK/base.tar" .
python3 "$ROOT/tools/mkimage.py" diff --lower "$base" --upper "$app" --out "$WORK/app.tar"
python3 "$ROOT/tools/mkimage.py" tars --layout "$WORK/layout" --tag demo --compression gzip \
  "$WORK/base.tar" "$WORK/app.tar"
ls -l "$WORK/layout/blobs/sha256"

step "imgfs convert oci:$WORK/layout:demo"
timed "imgfs convert" "$IMGFS" convert "oci:$WORK/layout:demo" --tag demo

step "imgfs inspect demo"
"$IMGFS" inspect demo

step "imgfs ls"
"$IMGFS" ls

step "imgfs export demo $WORK/export, compared with umoci unpack"
"$IMGFS" export demo "$WORK/export"
umoci unpack --image "$WORK/layout:demo" "$WORK/umoci" >/dev/null
python3 "$ROOT/tests/integration/treecmp.py" "$WORK/umoci/rootfs" "$WORK/export" &&
  echo "export matches umoci unpack: every byte, mode, owner, mtime, xattr, link and device"

step "imgfs push demo file://$WORK/remote, then mount it by digest on an empty store"
timed "imgfs push" "$IMGFS" push demo "file://$WORK/remote" >"$WORK/digest" 2>/dev/null
digest=$(cat "$WORK/digest")
export IMGFS_STORE=$WORK/node2
mkdir -p "$WORK/mnt"
cleanup() {
  umount "$WORK/ctr/rootfs" 2>/dev/null || true
  "$IMGFS" umount "$WORK/mnt" >/dev/null 2>&1 || true
}
trap cleanup EXIT
timed "imgfs mount (empty store, remote)" "$IMGFS" mount "$digest" "$WORK/mnt" --remote "file://$WORK/remote"
fetched() { "$IMGFS" stats "$WORK/mnt" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); m=j["metrics"]; print("%d bytes fetched in %d requests, %d bytes read; image: %d bytes of files" % (m["bytes_fetched"], m["fetch_requests"], m["bytes_served"], j["image_file_bytes"]))'; }
echo "after mount:               $(fetched)"
ls -lR "$WORK/mnt" >/dev/null
echo "after ls -lR of the tree:  $(fetched)"
chroot "$WORK/mnt" /bin/sh -c 'echo "  (inside the image) $(cat /etc/passwd | cut -d: -f1) runs $(busybox | head -1)"'
echo "after running busybox:     $(fetched)"
sh "$WORK/mnt/app/run.sh"
echo "after reading run.sh:      $(fetched)"
"$IMGFS" stats "$WORK/mnt"

step "runc-lite run in the lazily mounted image (overlay: imgfs below, a writable layer above)"
mkdir -p "$WORK/ctr/upper" "$WORK/ctr/work" "$WORK/ctr/rootfs"
timed "overlay mount" mount -t overlay overlay \
  -o "lowerdir=$WORK/mnt,upperdir=$WORK/ctr/upper,workdir=$WORK/ctr/work" "$WORK/ctr/rootfs"
(cd "$WORK/ctr" && "$RUNC_LITE" spec)
python3 - "$WORK/ctr/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["root"] = {"path": "rootfs", "readonly": False}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c",
    "echo \"hello from $(hostname), pid $$ in its own namespace\"; echo kept > /written; /app/run.sh"]
json.dump(c, open(path, "w"), indent=2)
PY
timed "runc-lite run" "$RUNC_LITE" --root "$WORK/runc-lite" run --bundle "$WORK/ctr" demo
echo "the container's write landed in the upper layer: $(cat "$WORK/ctr/upper/written")"
echo "after the container ran:   $(fetched)"
umount "$WORK/ctr/rootfs"
timed "imgfs umount" "$IMGFS" umount "$WORK/mnt"

step "imgfs run: all of the above in one command, on a third empty store, from the remote"
"$IMGFS" run --store "$WORK/node3" --remote "file://$WORK/remote" --timings -e WHO=imgfs-run \
  "$digest" sh -c 'echo "hello from $WHO in $(hostname)"; /app/run.sh'
echo "a second container of the same image reuses its mount (the image mount stays warm):"
"$IMGFS" run --store "$WORK/node3" --remote "file://$WORK/remote" --timings "$digest" /app/run.sh
"$IMGFS" ls --mounts | grep "$WORK/node3" || true
for mp in "$WORK"/node3/mounts/*; do "$IMGFS" umount "$mp"; done

step "how long each step took"
printf '%s\n' "${TIMES[@]}"
echo "files are in $WORK"
