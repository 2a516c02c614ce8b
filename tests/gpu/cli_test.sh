#!/bin/bash
# imgfs-gpu cdi generate -> /var/run/cdi -> imgfs-gpu apply on a bundle config -> the hook from the
# resulting config on a rootfs. Exit 77 when not root (the fake tree needs mknod).
set -euo pipefail
gpu=${1:?imgfs-gpu}; hook=${2:?imgfs-gpu-hook}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for mknod"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
"$here/make_fake_driver.sh" "$tmp/root" || exit $?
mkdir -p "$tmp/root/var/run/cdi"
"$gpu" cdi generate --root "$tmp/root" --hook-path "$hook" --output "$tmp/root/var/run/cdi/nvidia.yaml"
"$gpu" cdi list --root "$tmp/root" | grep -qx 'nvidia.com/gpu=all'
mkdir -p "$tmp/bundle/rootfs/usr/lib/x86_64-linux-gnu"
cat > "$tmp/bundle/config.json" <<J
{"ociVersion":"1.2.0","root":{"path":"rootfs"},
 "process":{"args":["/bin/true"],"env":["PATH=/bin","NVIDIA_VISIBLE_DEVICES=1","LD_PRELOAD=/evil.so"]}}
J
"$gpu" apply --root "$tmp/root" --config "$tmp/bundle/config.json" --output "$tmp/bundle/config.json"
c=$tmp/bundle/config.json
[ "$(jq -r '.linux.devices | map(.path) | join(",")' "$c")" = "/dev/nvidiactl,/dev/nvidia-uvm,/dev/nvidia-uvm-tools,/dev/nvidia-caps/nvidia-cap1,/dev/nvidia-caps/nvidia-cap2,/dev/nvidia0" ]
[ "$(jq -r '.hooks.createContainer[0].env | join(",")' "$c")" = "PATH=/usr/sbin:/usr/bin:/sbin:/bin" ]
jq -e '.process.env | index("NVIDIA_VISIBLE_DEVICES=void")' "$c" >/dev/null
# Unknown GPU: one clear line, exit 1.
printf '{"process":{"env":["NVIDIA_VISIBLE_DEVICES=7"]}}' > "$tmp/bad.json"
if "$gpu" apply --root "$tmp/root" --config "$tmp/bad.json" 2> "$tmp/err"; then echo "FAIL: GPU 7 accepted"; exit 1; fi
grep -q 'unknown GPU 7' "$tmp/err"
# Run the hook as the runtime would: its args, its env, the state on stdin.
mapfile -t args < <(jq -r '.hooks.createContainer[0].args[1:][]' "$c")
printf '{"ociVersion":"1.2.0","id":"t","bundle":"%s"}' "$tmp/bundle" |
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$(jq -r '.hooks.createContainer[0].path' "$c")" "${args[@]}"
[ "$(readlink "$tmp/bundle/rootfs/usr/lib/x86_64-linux-gnu/libcuda.so")" = libcuda.so.1 ]
grep -qx /usr/lib/x86_64-linux-gnu "$tmp/bundle/rootfs/etc/ld.so.conf.d/00-imgfs-gpu.conf"
echo "gpu_cli_test: OK"
