#!/usr/bin/env bash
# The developer script: install what is missing, build, test.
#
#   tools/dev.sh deps     install the Debian packages the build and tests need
#   tools/dev.sh build    configure and build into build/ (BUILD_DIR overrides)
#   tools/dev.sh test     deps + build + the whole ctest suite (what CI runs)
#   tools/dev.sh fuzz     build the libFuzzer targets with clang into build-fuzz/
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

PACKAGES=(
  # toolchain and libraries
  build-essential cmake ninja-build pkg-config git
  libssl-dev libxxhash-dev librocksdb-dev libzstd-dev zlib1g-dev nlohmann-json3-dev
  libarchive-dev libgtest-dev libgmock-dev libfuse3-dev fuse3 libcurl4-openssl-dev
  libcap-dev libseccomp-dev
  # the real tools tests compare against or drive
  umoci skopeo debootstrap zstd gzip tar python3 busybox-static bc hyperfine curl attr jq
  runc crun containerd podman iproute2 procps psmisc nginx-light openssl
)

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

build() {
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)"
}

test_all() {
  deps
  build
  cd "$BUILD_DIR"
  ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
}

fuzz() {
  cmake -S "$ROOT" -B "$ROOT/build-fuzz" -G Ninja -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DIMGFS_FUZZ=ON -DIMGFS_SANITIZE=ON >/dev/null
  cmake --build "$ROOT/build-fuzz" -j"$(nproc)" --target layer_fuzz index_fuzz read_fuzz
}

case "${1:-}" in
  deps) deps ;;
  build) deps; build ;;
  test) shift; test_all "$@" ;;
  fuzz) deps; fuzz ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
