#!/bin/bash
# Builds a fake NVIDIA driver root for gpu-hooks tests: procfs files for two GPUs, /proc/devices,
# real char device nodes (mknod; root only: without root the nodes are skipped and the script
# exits 0, tests that need them skip), tiny real ELF shared objects for the user-space libraries,
# an ld.so.cache built by the real ldconfig over them, binaries, firmware and IPC paths.
#
#   make_fake_driver.sh ROOT        (ROOT must not exist or be empty)
# Prints nothing on success; exits 77 when cc or ldconfig is missing.
set -euo pipefail
root=${1:?usage: make_fake_driver.sh ROOT}
version=550.54.14
libdir=usr/lib/x86_64-linux-gnu

for tool in cc ldconfig; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_fake_driver: $tool not found" >&2; exit 77; }
done
mkdir -p "$root"
root=$(cd "$root" && pwd)

mkdir -p "$root/proc/driver/nvidia/gpus/0000:3b:00.0" "$root/proc/driver/nvidia/gpus/0000:86:00.0"
cat > "$root/proc/driver/nvidia/version" <<V
NVRM version: NVIDIA UNIX x86_64 Kernel Module  $version  Thu Feb 22 01:44:30 UTC 2024
GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)
V
info() {  # bus minor uuid
  cat <<I
Model: 		 NVIDIA H100 80GB HBM3
IRQ:   		 152
GPU UUID: 	 $3
Video BIOS: 	 96.00.99.00.01
Bus Type: 	 PCIe
DMA Size: 	 52 bits
DMA Mask: 	 0xfffffffffffff
Bus Location: 	 $1
Device Minor: 	 $2
GPU Excluded:	 No
I
}
# The second GPU has the lower minor, so index (bus order) and minor differ.
info 0000:3b:00.0 1 GPU-4a0c3e02-7f6c-1c7e-2f7e-8d1a9b5c6d01 \
  > "$root/proc/driver/nvidia/gpus/0000:3b:00.0/information"
info 0000:86:00.0 0 GPU-9b1d4f13-0a7d-2d8f-3a8f-9e2b0c6d7e02 \
  > "$root/proc/driver/nvidia/gpus/0000:86:00.0/information"

cat > "$root/proc/devices" <<D
Character devices:
  1 mem
  4 /dev/vc/0
195 nvidia-frontend
195 nvidia
234 nvidia-caps
508 nvidia-uvm

Block devices:
  8 sd
D

mkdir -p "$root/dev/nvidia-caps"
if [ "$(id -u)" = 0 ]; then
  mknod -m 666 "$root/dev/nvidiactl" c 195 255
  mknod -m 666 "$root/dev/nvidia0" c 195 0
  mknod -m 666 "$root/dev/nvidia1" c 195 1
  mknod -m 666 "$root/dev/nvidia-uvm" c 508 0
  mknod -m 666 "$root/dev/nvidia-uvm-tools" c 508 1
  mknod -m 400 "$root/dev/nvidia-caps/nvidia-cap1" c 234 1
  mknod -m 444 "$root/dev/nvidia-caps/nvidia-cap2" c 234 2
fi

# Libraries: real ELF objects with sonames, so ldconfig adds them to the cache.
mkdir -p "$root/$libdir" "$root/etc"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'int imgfs_fake_driver_symbol;' > "$tmp/empty.c"
for lib in libcuda libnvidia-ml libnvidia-ptxjitcompiler libnvidia-nvvm libcudadebugger \
           libnvidia-opencl libnvidia-gpucomp libnvidia-allocator libnvidia-cfg libnvidia-encode \
           libnvcuvid libnvidia-glcore libGLX_nvidia libEGL_nvidia libnvidia-eglcore libnvidia-glsi \
           libnvidia-tls libnvidia-fbc; do
  soname=$lib.so.1
  case $lib in libGLX_nvidia|libEGL_nvidia) soname=$lib.so.0 ;; libnvidia-nvvm) soname=$lib.so.4 ;; esac
  cc -shared -Wl,-soname,$soname -o "$root/$libdir/$lib.so.$version" "$tmp/empty.c"
done
# A non-NVIDIA library that must not be selected.
cc -shared -Wl,-soname,libz.so.1 -o "$root/$libdir/libz.so.1.2.13" "$tmp/empty.c"
echo "/$libdir" > "$root/etc/ld.so.conf"
ldconfig -r "$root" -C /etc/ld.so.cache -f /etc/ld.so.conf

mkdir -p "$root/usr/bin"
for b in nvidia-smi nvidia-debugdump nvidia-persistenced nvidia-cuda-mps-control \
         nvidia-cuda-mps-server; do
  printf '#!/bin/sh\necho fake %s\n' "$b" > "$root/usr/bin/$b"
  chmod 755 "$root/usr/bin/$b"
done
mkdir -p "$root/lib/firmware/nvidia/$version"
echo gsp > "$root/lib/firmware/nvidia/$version/gsp_ga10x.bin"
echo gsp > "$root/lib/firmware/nvidia/$version/gsp_tu10x.bin"
mkdir -p "$root/run/nvidia-persistenced" "$root/tmp/nvidia-mps"
: > "$root/run/nvidia-persistenced/socket"
