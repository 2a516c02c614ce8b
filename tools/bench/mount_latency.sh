#!/usr/bin/env bash
# How long `imgfs run` takes to resolve and mount an image (its own "resolve + mount" step, from
# --timings), from a cold page cache. Not a test: prints figures; docs/BENCHMARKS.md keeps them.
#   remote index: the store's daemon running (started untimed), the store empty, the image's
#                 index and trace on a file:// remote (what a mount of a new image costs the
#                 node beyond the network)
#   daemon start: the image in the store, no daemon running (`imgfs run` starts it)
# The image is converted from an OCI layout into a scratch store and pushed to a scratch remote.
# IMGFS names the binary (default build/imgfs/imgfs): run twice for a before/after.
#
#   tools/bench/mount_latency.sh [RUNS] [LAYOUT:TAG]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-6}
SOURCE=${2:-/var/cache/imgfs-bench/oci:debian-scipy}
IMGFS=${IMGFS:-$ROOT/build/imgfs/imgfs}
WORK=$(mktemp -d /tmp/imgfs-mount-latency.XXXXXX)
stop_daemon() {  # the daemon of store $1, and its mounts
  pkill -f "daemon --store $1" 2>/dev/null || true
  for _ in $(seq 50); do pgrep -f "daemon --store $1" >/dev/null || break; sleep 0.1; done
  for m in "$1"/mounts/*; do [ -d "$m" ] && umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
  stop_daemon "$WORK/store"
  stop_daemon "$WORK/empty"
  rm -rf "$WORK"
}
trap cleanup EXIT
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
step() { awk '/resolve \+ mount/ {print $6}'; }
stats() { sort -g | awk '{v[NR]=$1} END {printf "%.1f ms (%.1f-%.1f)", v[int((NR+1)/2)], v[1], v[NR]}'; }

digest=$("$IMGFS" convert "oci:${SOURCE#oci:}" --store "$WORK/store" --quiet | tail -1)
"$IMGFS" push "$digest" "file://$WORK/remote" --store "$WORK/store" >/dev/null
stop_daemon "$WORK/store"
: >"$WORK/remote.ms"; : >"$WORK/start.ms"
for ((r = 0; r < RUNS; r++)); do
  stop_daemon "$WORK/empty"; rm -rf "$WORK/empty"; mkdir -m 700 "$WORK/empty"
  "$IMGFS" daemon --store "$WORK/empty" --exit-when-idle >/dev/null 2>&1 &
  for _ in $(seq 100); do [ -S "$WORK/empty/imgfs.sock" ] && break; sleep 0.05; done
  cold
  "$IMGFS" run --store "$WORK/empty" --remote "file://$WORK/remote" --timings "$digest" -- true \
    2>&1 >/dev/null | step >>"$WORK/remote.ms"
  stop_daemon "$WORK/empty"
  stop_daemon "$WORK/store"; cold
  "$IMGFS" run --store "$WORK/store" --timings "$digest" -- true 2>&1 >/dev/null |
    step >>"$WORK/start.ms"
  stop_daemon "$WORK/store"
done
echo "imgfs: $("$IMGFS" --version); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "image: $SOURCE ($digest); $RUNS runs, cold page cache; median (min-max) of resolve + mount"
echo "remote index, daemon running   $(stats <"$WORK/remote.ms")"
echo "daemon start, index in store   $(stats <"$WORK/start.ms")"
