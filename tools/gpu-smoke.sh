#!/bin/bash
# GPU smoke test for a machine with an NVIDIA GPU and driver (not run in CI).
#   sudo tools/gpu-smoke.sh [BUILD_DIR] [RUNS]
# 1. builds a tiny CUDA program with nvcc (device count + vector add), statically linked cudart;
# 2. makes a bundle from a debian rootfs (docker/podman export, else debootstrap) with the program;
# 3. writes the CDI spec with imgfs-gpu into /var/run/cdi/imgfs-nvidia.yaml;
# 4. injects NVIDIA_VISIBLE_DEVICES=all with `imgfs-gpu apply` (the same library call runc-lite
#    makes at create), runs the program and `nvidia-smi -L` under runc-lite;
# 5. prints the median time of `runc-lite run` with and without the GPU request (RUNS each).
# Every step says what it does; the first failure stops with the reason.
set -euo pipefail
build=${1:-build}; runs=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
gpu=$here/$build/gpu-hooks/imgfs-gpu
hook=$here/$build/gpu-hooks/imgfs-gpu-hook
runc=$here/$build/runc-lite/runc-lite
step() { echo "== $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (runc-lite and device nodes need it)"
for f in "$gpu" "$hook" "$runc"; do [ -x "$f" ] || die "$f missing: ninja -C $build imgfs-gpu imgfs-gpu-hook runc-lite"; done
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: is the NVIDIA driver installed?"
nvidia-smi -L || die "nvidia-smi -L fails on the host: fix the driver first"
command -v nvcc >/dev/null || for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && PATH=$d:$PATH && break; done
command -v nvcc >/dev/null || die "nvcc not found (install the CUDA toolkit or add it to PATH)"
command -v jq >/dev/null || die "jq not found"

work=$(mktemp -d /tmp/gpu-smoke.XXXXXX)
trap '"$runc" delete -f gpu-smoke >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

step "building the CUDA program"
cat > "$work/vecadd.cu" <<'CU'
#include <cstdio>
__global__ void add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}
int main() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) { printf("cudaGetDeviceCount: %s\n", cudaGetErrorString(e)); return 1; }
  printf("devices: %d\n", count);
  const int n = 1 << 20;
  float *a, *b, *c;
  cudaMallocManaged(&a, n * sizeof(float)); cudaMallocManaged(&b, n * sizeof(float));
  cudaMallocManaged(&c, n * sizeof(float));
  for (int i = 0; i < n; ++i) { a[i] = i; b[i] = 2 * i; }
  add<<<(n + 255) / 256, 256>>>(a, b, c, n);
  if ((e = cudaDeviceSynchronize()) != cudaSuccess) { printf("kernel: %s\n", cudaGetErrorString(e)); return 1; }
  for (int i = 0; i < n; ++i) if (c[i] != 3.0f * i) { printf("wrong result at %d\n", i); return 1; }
  printf("vector add OK\n");
  return 0;
}
CU
nvcc -O2 -cudart static -o "$work/vecadd" "$work/vecadd.cu" || die "nvcc failed"

step "preparing a debian rootfs"
mkdir -p "$work/bundle/rootfs"
if command -v docker >/dev/null && { docker image inspect debian:bookworm-slim >/dev/null 2>&1 || docker pull -q debian:bookworm-slim >/dev/null 2>&1; }; then
  cid=$(docker create debian:bookworm-slim); docker export "$cid" | tar -C "$work/bundle/rootfs" -x; docker rm "$cid" >/dev/null
elif command -v podman >/dev/null && podman pull -q debian:bookworm-slim >/dev/null 2>&1; then
  cid=$(podman create debian:bookworm-slim); podman export "$cid" | tar -C "$work/bundle/rootfs" -x; podman rm "$cid" >/dev/null
elif command -v debootstrap >/dev/null; then
  debootstrap --variant=minbase bookworm "$work/bundle/rootfs" >/dev/null || die "debootstrap failed"
else
  die "need docker, podman or debootstrap to make a debian rootfs (glibc is needed for libcuda)"
fi
cp "$work/vecadd" "$work/bundle/rootfs/usr/local/bin/vecadd"

step "generating the CDI spec"
mkdir -p /var/run/cdi
"$gpu" cdi generate --hook-path "$hook" --output /var/run/cdi/imgfs-nvidia.yaml
"$gpu" cdi list

make_config() {  # ARGS-JSON GPU(yes|no) -> bundle/config.json
  "$runc" spec --bundle "$work/bundle" 2>/dev/null || (cd "$work/bundle" && "$runc" spec)
  jq --argjson args "$1" '.process.terminal=false | .process.args=$args | .root.readonly=false' \
    "$work/bundle/config.json" > "$work/c.json"
  if [ "$2" = yes ]; then
    jq '.process.env += ["NVIDIA_VISIBLE_DEVICES=all","NVIDIA_DRIVER_CAPABILITIES=compute,utility"]' \
      "$work/c.json" > "$work/c2.json"
    "$gpu" apply --config "$work/c2.json" --output "$work/bundle/config.json"
  else
    cp "$work/c.json" "$work/bundle/config.json"
  fi
}
run() { "$runc" run --bundle "$work/bundle" gpu-smoke; }

step "running the CUDA program in a container"
make_config '["/usr/local/bin/vecadd"]' yes
run | tee "$work/out" || die "the CUDA program failed in the container"
grep -q "vector add OK" "$work/out" || die "no 'vector add OK' in the output"

step "running nvidia-smi -L in a container"
make_config '["nvidia-smi","-L"]' yes
run || die "nvidia-smi -L failed in the container"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {  # GPU(yes|no)
  make_config '["/bin/true"]' "$1"
  for _ in $(seq "$runs"); do
    s=$(date +%s%N); run >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))
  done | median
}
step "timing runc-lite run /bin/true, $runs runs each"
plain=$(time_runs no); withgpu=$(time_runs yes)
echo "median start without GPU: ${plain} ms; with NVIDIA_VISIBLE_DEVICES=all: ${withgpu} ms;" \
     "the GPU step added $((withgpu - plain)) ms (includes the ldconfig hook)"
echo "gpu-smoke: OK"
