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
