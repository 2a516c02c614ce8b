#!/usr/bin/env bash
# bench-mount.sh: imgfs mounts vs the host filesystem. Not a test: prints figures, median and
# min-max over N rounds.
#
#   tools/bench-mount.sh [-n ROUNDS] [-s FILE_MIB] [--imgfs BIN]
#
#   cold read   a FILE_MIB (default 1024) random file and a compressible one in an image converted
#               locally (every chunk in the local store), read sequentially (dd bs=1M) through the
#               mount vs the same file on the host fs; page cache dropped before each read.
#   metadata    `find -xdev | wc -l` and an lstat of every entry (find -printf) on the debian-scipy
#               image (tools/build-debian-images.sh; /var/cache/imgfs-bench) vs the same tree
#               unpacked on the host; page cache, dentries and inodes dropped before each.
#   lazy start  debian-scipy pushed to a file:// remote, mounted by digest with an empty store:
#               chroot MNT python3 -c 'import numpy' wall time, bytes fetched vs read vs image.
#   memory      VmRSS of the daemon with debian-scipy mounted, per 10k inodes.
# Needs root, /dev/fuse, python3; the scipy image for the last three (skipped when missing).
# Drops the machine's page cache (echo 3 > /proc/sys/vm/drop_caches): run on a quiet machine.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=5 SIZE_MIB=1024 IMGFS=${IMGFS_BIN:-$ROOT/build/imgfs/imgfs}
BENCH_CACHE=${IMGFS_BENCH_CACHE:-/var/cache/imgfs-bench}
while [ $# -gt 0 ]; do
  case $1 in
    -n) ROUNDS=$2; shift 2 ;;
    -s) SIZE_MIB=$2; shift 2 ;;
    --imgfs) IMGFS=$2; shift 2 ;;
    *) echo "usage: $0 [-n ROUNDS] [-s FILE_MIB] [--imgfs BIN]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bench-mount: needs root" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "bench-mount: no /dev/fuse" >&2; exit 1; }
[ -x "$IMGFS" ] || { echo "bench-mount: $IMGFS not built" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/imgfs-bench-mount.XXXXXX)
MOUNTS=() STORES=()
daemon_pid() {  # STORE -> pid of "imgfs daemon --store STORE ..." (the supervisor)
  local p
  for p in /proc/[0-9]*; do
    [ "$(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | cut -d' ' -f2-4)" = "daemon --store $1" ] &&
      { echo "${p#/proc/}"; return; }
  done
  return 0
}
worker_pid() {  # STORE -> pid of the daemon serving it: "imgfs daemon --supervised-by FD ..."
  local p c
  for p in /proc/[0-9]*; do
    c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
    case "$c" in "imgfs daemon --supervised-by "*"--store $1 "*) echo "${p#/proc/}"; return ;; esac
  done
  return 0
}
cleanup() {
  for mp in "${MOUNTS[@]}"; do
    "$IMGFS" umount "$mp" --store "${mp%/*}/store-${mp##*/mnt-}" >/dev/null 2>&1 || true
    if mountpoint -q "$mp"; then umount -l "$mp"; fi
  done
  for st in "${STORES[@]}"; do   # a daemon left running: by its exact command line
    pid=$(daemon_pid "$st"); [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
# summary LABEL UNIT VALUES...: median and min-max
summary() {
  python3 - "$@" <<'EOF'
import statistics, sys
label, unit, vals = sys.argv[1], sys.argv[2], [float(v) for v in sys.argv[3:]]
fmt = "%.3f" if unit == "s" else "%.1f"  # seconds to the millisecond
print(("  %-34s %10s %-5s (min " + fmt + ", max " + fmt + ", n=%d)") % (
    label, fmt % statistics.median(vals), unit, min(vals), max(vals), len(vals)))
EOF
}
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float,sys.argv[1:])))' "$@"; }
# mount NAME IMAGE [ARGS...] -> echo mountpoint (store WORK/store-NAME)
do_mount() {
  local name=$1 image=$2; shift 2
  local mp=$WORK/mnt-$name st=$WORK/store-$name
  mkdir -p "$mp"; MOUNTS+=("$mp"); STORES+=("$st")
  "$IMGFS" mount "$image" "$mp" --store "$st" "$@" >/dev/null
  echo "$mp"
}
do_umount() {  # and wait for the store's daemon to exit (it does after its last mount)
  local st=$WORK/store-${1##*/mnt-} i
  "$IMGFS" umount "$1" --store "$st"
  for i in $(seq 200); do [ -z "$(daemon_pid "$st")" ] && return; sleep 0.1; done
}
stat_json() { "$IMGFS" stats "$1" --store "$WORK/store-${1##*/mnt-}" --json; }
field() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

echo "imgfs bench-mount: $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), $ROUNDS rounds"
echo "work dir $WORK ($(df -h --output=source,fstype "$WORK" | tail -1 | tr -s ' '))"

# --- cold read ----------------------------------------------------------------------------
echo; echo "== cold sequential read, ${SIZE_MIB} MiB files, chunks in the local store (MB/s)"
mkdir -p "$WORK/src"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/src/random.bin"
python3 - "$WORK/src/text.bin" $((SIZE_MIB << 20)) <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
block = "".join("%08d the quick brown fox jumps over the lazy dog %d\n" % (i, i * 7919 % 1000)
                for i in range(20000)).encode()
with open(path, "wb") as f:
    n = 0
    i = 0
    while n < size:
        b = block.replace(b"fox", b"f%02d" % (i % 100))[: size - n]
        f.write(b)
        n += len(b)
        i += 1
EOF
STORES+=("$WORK/store-local")
t0=$(now)
"$IMGFS" convert "dir:$WORK/src" --store "$WORK/store-local" --tag files >/dev/null
echo "  (convert of both files: $(python3 -c "print('%.1f s' % ($(now) - $t0))"))"
for f in random.bin text.bin; do
  fuse=() host=()
  for _ in $(seq "$ROUNDS"); do
    # A fresh daemon each round: the daemon maps the store's files, and mapped pages survive
    # drop_caches, which would make a "cold" read warm.
    mp=$(do_mount local files)
    drop; t=$(now); dd if="$mp/$f" of=/dev/null bs=1M status=none; e=$(now)
    do_umount "$mp"
    fuse+=("$(python3 -c "print($SIZE_MIB * 1.048576 / ($e - $t))")")
    drop; t=$(now); dd if="$WORK/src/$f" of=/dev/null bs=1M status=none; e=$(now)
    host+=("$(python3 -c "print($SIZE_MIB * 1.048576 / ($e - $t))")")
  done
  summary "$f imgfs mount" MB/s "${fuse[@]}"
  summary "$f host fs" MB/s "${host[@]}"
  echo "  ratio mount/host (medians): $(python3 -c "print('%.2f' % ($(median "${fuse[@]}") / $(median "${host[@]}")))")"
done

# --- metadata, lazy start, memory: the scipy image ---------------------------------------
OCI=$BENCH_CACHE/oci
if [ ! -f "$OCI/index.json" ] || ! grep -q debian-scipy "$OCI/index.json"; then
  echo; echo "SKIP metadata, lazy start, memory: no $OCI with tag debian-scipy (tools/build-debian-images.sh)"
  exit 0
fi
echo; echo "== metadata: debian-scipy, every entry (s)"
STORES+=("$WORK/store-scipy")
digest=$("$IMGFS" convert "oci:$OCI:debian-scipy" --store "$WORK/store-scipy" --tag scipy | tail -1)
inodes=$("$IMGFS" inspect scipy --store "$WORK/store-scipy" --json | field 'j["inodes"]')
stored=$("$IMGFS" inspect scipy --store "$WORK/store-scipy" --json | field 'j["stored_bytes"]')
filebytes=$("$IMGFS" inspect scipy --store "$WORK/store-scipy" --json | field 'j["file_bytes"]')
mkdir -p "$WORK/tree"
umoci unpack --image "$OCI:debian-scipy" "$WORK/bundle" >/dev/null 2>&1 && tree=$WORK/bundle/rootfs ||
  { "$IMGFS" export scipy "$WORK/tree" --store "$WORK/store-scipy"; tree=$WORK/tree; }
mp=$(do_mount scipy scipy)
echo "  $inodes inodes, $(find "$mp" -xdev | wc -l) entries found"
for what in "find|wc" "find -printf (lstat)"; do
  fuse=() host=()
  for _ in $(seq "$ROUNDS"); do
    for side in fuse host; do
      dir=$mp; [ $side = host ] && dir=$tree
      drop; t=$(now)
      if [ "$what" = "find|wc" ]; then find "$dir" -xdev | wc -l >/dev/null
      else find "$dir" -xdev -printf '%s %m %u %T@\n' >/dev/null; fi
      e=$(now)
      eval "$side+=(\$(python3 -c 'print($e - $t)'))"
    done
  done
  summary "$what imgfs mount" s "${fuse[@]}"
  summary "$what host fs" s "${host[@]}"
  echo "  ratio mount/host (medians): $(python3 -c "print('%.2f' % ($(median "${fuse[@]}") / $(median "${host[@]}")))")"
done
pid=$(worker_pid "$WORK/store-scipy")
rss_metadata=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
do_umount "$mp"

echo; echo "== lazy start: debian-scipy from a file:// remote, empty store"
STORES+=("$WORK/store-scipy")
"$IMGFS" push scipy "file://$WORK/remote" --store "$WORK/store-scipy" >/dev/null
starts=() fetched=() served=()
for i in $(seq "$ROUNDS"); do
  drop
  t=$(now)
  mp=$(do_mount "lazy$i" "$digest" --remote "file://$WORK/remote")
  m=$(now)
  env -i PATH=/usr/bin:/bin "$(command -v chroot)" "$mp" python3 -c 'import numpy'
  e=$(now)
  js=$(stat_json "$mp")
  starts+=("$(python3 -c "print($e - $m)")")
  fetched+=("$(echo "$js" | field 'j["metrics"]["bytes_fetched"]/1e6')")
  served+=("$(echo "$js" | field 'j["metrics"]["bytes_served"]/1e6')")
  mount_s=$(python3 -c "print($m - $t)")
  if [ "$i" = 1 ]; then
    pid=$(worker_pid "$WORK/store-lazy$i")
    rss_lazy=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  fi
  do_umount "$mp"
done
summary "import numpy, wall" s "${starts[@]}"
echo "  (last imgfs mount by digest, daemon start + index fetch: $(python3 -c "print('%.2f s' % $mount_s)"))"
summary "bytes fetched" MB "${fetched[@]}"
summary "bytes read (bytes_served)" MB "${served[@]}"
echo "  image: $(python3 -c "print('%.1f MB stored, %.1f MB of files' % ($stored/1e6, $filebytes/1e6))")"
echo "  fetched / image stored: $(python3 -c "print('%.1f %%' % (100 * $(median "${fetched[@]}") * 1e6 / $stored))")"

echo; echo "== daemon memory (VmRSS)"
echo "  after find+lstat of every entry (local mount): $((rss_metadata / 1024)) MiB," \
     "$(python3 -c "print('%.1f MiB per 10k inodes' % ($rss_metadata / 1024 / ($inodes / 1e4)))")"
echo "  after import numpy (remote mount, 1st round):   $((rss_lazy / 1024)) MiB," \
     "$(python3 -c "print('%.1f MiB per 10k inodes' % ($rss_lazy / 1024 / ($inodes / 1e4)))")"
