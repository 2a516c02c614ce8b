#!/bin/bash
# build-debian-images.sh: the family of related Debian images the cold-start benchmark uses.
#
#   tools/build-debian-images.sh [CACHE_DIR]     (default $IMGFS_BENCH_CACHE or
#                                                  /var/cache/imgfs-bench)
#
# Four rootfs trees from debootstrap --variant=minbase bookworm:
#   base      (minbase)
#   python    (base + python3)
#   scipy     (base + python3 python3-numpy python3-scipy)
#   torch     (scipy + python3-torch)
# and one OCI layout, CACHE_DIR/oci, with tags debian-base, debian-python, debian-scipy,
# debian-torch, layered the way an image builder would: python = base layer + diff(base ->
# python), scipy = those two layers + diff(python -> scipy), torch = those three + diff(scipy ->
# torch); and debian-weights = base + a layer holding /models/weights.bin, 1 GiB of
# incompressible bytes (AES-CTR of zeros under a fixed key: the same bytes on every machine),
# the model-loading workload. Diffs carry new and changed entries
# (with their parent dirs and whole hardlink groups) and whiteouts for removed ones
# (tools/mkimage.py diff). Each root is kept as CACHE_DIR/NAME.tar; a rerun reuses them.
# Needs root, debootstrap, GNU tar, python3, and network to the Debian mirror on first run.
set -euo pipefail

CACHE=${1:-${IMGFS_BENCH_CACHE:-/var/cache/imgfs-bench}}
MIRROR=${IMGFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
HERE=$(cd "$(dirname "$0")" && pwd)
MKIMAGE="python3 $HERE/mkimage.py"
COMPRESSION=${IMGFS_BENCH_COMPRESSION:-gzip}

declare -A INCLUDE=(
  [base]=""
  [python]="python3"
  [scipy]="python3,python3-numpy,python3-scipy"
  [torch]="python3,python3-numpy,python3-scipy,python3-torch"
)
ORDER=(base python scipy torch)

[ "$(id -u)" = 0 ] || { echo "build-debian-images: needs root" >&2; exit 1; }
for tool in debootstrap tar python3 openssl; do
  command -v "$tool" >/dev/null || { echo "build-debian-images: $tool missing" >&2; exit 1; }
done
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The rootfs tar of one variant, made by debootstrap once.
rootfs_tar() {
  local name=$1 tar="$CACHE/$1.tar"
  if [ ! -f "$tar" ]; then
    local root="$WORK/debootstrap-$name" include=()
    [ -n "${INCLUDE[$name]}" ] && include=(--include="${INCLUDE[$name]}")
    echo "debootstrap $name ${INCLUDE[$name]}" >&2
    debootstrap --variant=minbase "${include[@]}" "$SUITE" "$root" "$MIRROR" >"$WORK/$name.log" 2>&1 \
      || { tail -5 "$WORK/$name.log" >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages
    $MKIMAGE pack --root "$root" --out "$tar.tmp"
    mv "$tar.tmp" "$tar"
    rm -rf "$root"
  fi
  echo "$tar"
}

extract() {  # tar dir
  mkdir -p "$2"
  tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$1" -C "$2"
}

start=$(date +%s)
for name in "${ORDER[@]}"; do rootfs_tar "$name" >/dev/null; done
echo "rootfs tars ready after $(( $(date +%s) - start ))s" >&2

# Layer tars: base whole, then the diffs between consecutive roots; a diff is made again only
# when one of its two roots is newer (rewriting it every run made every layout stale).
prev=base
for name in "${ORDER[@]:1}"; do
  layer="$CACHE/layer-$name.tar"
  if [ ! -f "$layer" ] || [ "$CACHE/$prev.tar" -nt "$layer" ] || [ "$CACHE/$name.tar" -nt "$layer" ]; then
    extract "$CACHE/$prev.tar" "$WORK/root-$prev"
    extract "$CACHE/$name.tar" "$WORK/root-$name"
    echo "diff $prev -> $name: $($MKIMAGE diff --lower "$WORK/root-$prev" \
          --upper "$WORK/root-$name" --out "$layer.tmp")" >&2
    mv "$layer.tmp" "$layer"
    rm -rf "$WORK/root-$prev" "$WORK/root-$name"
  fi
  prev=$name
done

# The weights layer: 1 GiB that no compressor shrinks, reproducible.
if [ ! -f "$CACHE/layer-weights.tar" ]; then
  mkdir -p "$WORK/weights/models"
  head -c 1073741824 /dev/zero | openssl enc -aes-128-ctr -nosalt \
    -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 \
    >"$WORK/weights/models/weights.bin"
  touch -d 2024-01-01T00:00:00Z "$WORK/weights/models/weights.bin" "$WORK/weights/models"
  $MKIMAGE pack --root "$WORK/weights" --out "$CACHE/layer-weights.tar.tmp"
  mv "$CACHE/layer-weights.tar.tmp" "$CACHE/layer-weights.tar"
  rm -rf "$WORK/weights"
fi

# Up to date: a layout with every tag, newer than every layer tar.
TAGS=(debian-base debian-python debian-scipy debian-torch debian-weights)
fresh=1
for t in "${TAGS[@]}"; do grep -q "\"$t\"" "$CACHE/oci/index.json" 2>/dev/null || fresh=0; done
for f in "$CACHE"/base.tar "$CACHE"/layer-*.tar; do
  [ "$CACHE/oci/index.json" -nt "$f" ] || fresh=0
done
if [ $fresh = 1 ]; then
  echo "images in $CACHE/oci are up to date (tags ${TAGS[*]})" >&2
  exit 0
fi

# Built beside the old layout and swapped in whole: a benchmark reading the old one meanwhile
# is not cut short.
rm -rf "$CACHE/oci.new"
$MKIMAGE tars --layout "$CACHE/oci.new" --tag debian-base --compression "$COMPRESSION" "$CACHE/base.tar"
$MKIMAGE tars --layout "$CACHE/oci.new" --tag debian-python --compression "$COMPRESSION" \
  "$CACHE/base.tar" "$CACHE/layer-python.tar"
$MKIMAGE tars --layout "$CACHE/oci.new" --tag debian-scipy --compression "$COMPRESSION" \
  "$CACHE/base.tar" "$CACHE/layer-python.tar" "$CACHE/layer-scipy.tar"
$MKIMAGE tars --layout "$CACHE/oci.new" --tag debian-torch --compression "$COMPRESSION" \
  "$CACHE/base.tar" "$CACHE/layer-python.tar" "$CACHE/layer-scipy.tar" "$CACHE/layer-torch.tar"
$MKIMAGE tars --layout "$CACHE/oci.new" --tag debian-weights --compression "$COMPRESSION" \
  "$CACHE/base.tar" "$CACHE/layer-weights.tar"
rm -rf "$CACHE/oci.old"
if [ -d "$CACHE/oci" ]; then mv "$CACHE/oci" "$CACHE/oci.old"; fi
mv "$CACHE/oci.new" "$CACHE/oci"
rm -rf "$CACHE/oci.old"
du -sh "$CACHE/oci" >&2
echo "images in $CACHE/oci (tags debian-base debian-python debian-scipy debian-torch debian-weights) after $(( $(date +%s) - start ))s" >&2
