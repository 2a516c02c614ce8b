#!/bin/bash
# Time to load the CDI spec, resolve NVIDIA_VISIBLE_DEVICES=all and apply it to an OCI config, for
# the fake driver tree (or a real root with --root /). Median and min-max over N runs.
#   tools/bench-gpu.sh [path/to/imgfs-gpu] [runs]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
gpu=${1:-$here/build/gpu-hooks/imgfs-gpu}
runs=${2:-100}
[ -x "$gpu" ] || { echo "imgfs-gpu not found at $gpu (build it: ninja -C build imgfs-gpu)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$here/tests/gpu/make_fake_driver.sh" "$tmp/root"
"$gpu" bench --root "$tmp/root" --runs "$runs"

# Time GPU injection adds to a whole container start: runc-lite `run` of /bin/true from the same
# busybox bundle with and without NVIDIA_VISIBLE_DEVICES=0 (fake driver tree: device nodes, the
# library bind mounts, the createContainer hook with links and a confined ldconfig), alternating.
runc=$here/build/runc-lite/runc-lite
hook=$here/build/gpu-hooks/imgfs-gpu-hook
if [ -x "$runc" ] && command -v hyperfine >/dev/null; then
  mkdir -p "$tmp/root/etc/cdi"
  "$gpu" cdi generate --root "$tmp/root" --hook-path "$hook" --output "$tmp/root/etc/cdi/nvidia.yaml"
  export RUNC_LITE=$runc
  for kind in plain gpu; do
    "$here/tests/runc-lite/make_bundle.sh" "$tmp/$kind" /bin/true >/dev/null
    mkdir -p "$tmp/$kind/rootfs/sbin" && cp /sbin/ldconfig "$tmp/$kind/rootfs/sbin/"
  done
  jq '.process.env += ["NVIDIA_VISIBLE_DEVICES=0"]' "$tmp/gpu/config.json" >"$tmp/c" && mv "$tmp/c" "$tmp/gpu/config.json"
  echo "container start, runc-lite run /bin/true, with and without a GPU (fake driver tree):"
  hyperfine -N -w 3 -r 50 --export-json "$tmp/h.json" \
    "$runc --root $tmp/state run --cdi-root $tmp/root --bundle $tmp/plain bench-plain" \
    "$runc --root $tmp/state run --cdi-root $tmp/root --bundle $tmp/gpu bench-gpu" >/dev/null
  jq -r '.results[] | [(.command | split(" ") | .[-1]), (.median*1000), (.min*1000), (.max*1000)] | @tsv' "$tmp/h.json" |
    awk -F'\t' '{printf "  %-12s median %6.2f ms (min %.2f, max %.2f)\n", $1, $2, $3, $4; m[NR]=$2}
                END {printf "  GPU injection adds %.2f ms to the median start\n", m[2]-m[1]}'
fi
