#!/usr/bin/env bash
# Registry conversion benchmark (issue 10). Not a test: prints figures; docs/BENCHMARKS.md keeps
# them. A CNCF distribution registry (Debian's docker-registry) on 127.0.0.1 with its own config
# and storage in a temporary directory holds a one-gzip-layer image of a Debian rootfs tar
# (default /var/cache/imgfs-test/bookworm-python3.tar, put there by skopeo copy). Each round, caches
# dropped first:
#   imgfs convert docker://127.0.0.1:PORT/bench/img --plain-http   into an empty store
#   imgfs convert oci:LAYOUT (the same image on disk)                 the registry's cost
#   skopeo copy docker://... oci:DIR  then  umoci unpack             (the usual way to a rootfs)
# MB/s are of uncompressed layer bytes per second of wall time. CPU-s is the user + system time of
# the imgfs convert process (all its threads): the figure that stays comparable when the machine
# is shared.
#
#   tools/bench-registry.sh [ROUNDS] [ROOTFS.tar]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-3}
TAR=${2:-/var/cache/imgfs-test/bookworm-python3.tar}
BUILD=${BUILD_DIR:-$ROOT/build}
IMGFS=$BUILD/imgfs/imgfs
for tool in docker-registry skopeo umoci python3; do
  command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
[ -f "$TAR" ] || { echo "no rootfs tar $TAR (tools/build-debian-images.sh makes one)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/imgfs-bench-registry.XXXXXX)
REG_PID=
cleanup() {
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: 127.0.0.1:$PORT
  secret: bench
YAML
docker-registry serve "$WORK/config.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
  sleep 0.1
done
python3 "$ROOT/tools/mkimage.py" tars --layout "$WORK/layout" --tag img --compression gzip "$TAR" >/dev/null
skopeo copy --quiet --dest-tls-verify=false "oci:$WORK/layout:img" "docker://127.0.0.1:$PORT/bench/img:latest"
REF="docker://127.0.0.1:$PORT/bench/img:latest"
bytes=$(stat -c %s "$TAR")
mb=$(echo "$bytes / 1000000" | bc -l)
gz=$(du -b "$WORK/layout/blobs/sha256" | cut -f1)

TIMEFORMAT='%U %S'  # what `time` reports: user and system CPU seconds
cpu() {
  awk '{print $1 + $2}' | sort -g |
    awk '{v[NR]=$1} END {printf "%.2f (%.2f-%.2f)", v[int((NR+1)/2)], v[1], v[NR]}'
}
stats() { sort -g | awk '{v[NR]=$1} END {printf "%.0f (%.0f-%.0f)", v[int((NR+1)/2)], v[1], v[NR]}'; }
now() { date +%s.%N; }
: >"$WORK/t.imgfs"; : >"$WORK/c.imgfs"; : >"$WORK/t.oci"; : >"$WORK/c.oci"; : >"$WORK/t.skopeo"; : >"$WORK/t.umoci"; : >"$WORK/t.both"
for ((r = 0; r < ROUNDS; r++)); do
  rm -rf "$WORK/store" "$WORK/oci" "$WORK/bundle"; sync; echo 3 >/proc/sys/vm/drop_caches
  t0=$(now)
  { time "$IMGFS" convert "$REF" --plain-http --quiet --store "$WORK/store" >/dev/null; } 2>>"$WORK/c.imgfs"
  t1=$(now)
  echo "$mb / ($t1 - $t0)" | bc -l >>"$WORK/t.imgfs"
  rm -rf "$WORK/store"; sync; echo 3 >/proc/sys/vm/drop_caches
  t0=$(now)
  { time "$IMGFS" convert "oci:$WORK/layout:img" --quiet --store "$WORK/store" >/dev/null; } 2>>"$WORK/c.oci"
  t1=$(now)
  echo "$mb / ($t1 - $t0)" | bc -l >>"$WORK/t.oci"
  sync; echo 3 >/proc/sys/vm/drop_caches
  t0=$(now); skopeo copy --quiet --src-tls-verify=false "$REF" "oci:$WORK/oci:img"; t1=$(now)
  umoci unpack --image "$WORK/oci:img" "$WORK/bundle" >/dev/null 2>&1; t2=$(now)
  echo "$mb / ($t1 - $t0)" | bc -l >>"$WORK/t.skopeo"
  echo "$mb / ($t2 - $t1)" | bc -l >>"$WORK/t.umoci"
  echo "$mb / ($t2 - $t0)" | bc -l >>"$WORK/t.both"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'image: %s, %.0f MB uncompressed, %.0f MB gzip, one layer; %d rounds (median, min-max MB/s)\n' \
  "$(basename "$TAR")" "$mb" "$(echo "$gz / 1000000" | bc -l)" "$ROUNDS"
echo "imgfs convert docker://...          $(stats <"$WORK/t.imgfs") MB/s, $(cpu <"$WORK/c.imgfs") CPU-s"
echo "imgfs convert oci:LAYOUT (same)     $(stats <"$WORK/t.oci") MB/s, $(cpu <"$WORK/c.oci") CPU-s"
echo "skopeo copy + umoci unpack          $(stats <"$WORK/t.both") MB/s"
echo "  skopeo copy alone                 $(stats <"$WORK/t.skopeo") MB/s"
echo "  umoci unpack alone                $(stats <"$WORK/t.umoci") MB/s"
