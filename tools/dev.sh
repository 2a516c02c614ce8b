#!/usr/bin/env bash
# The developer script: install what is missing, build, test.
#
#   tools/dev.sh deps       install the Debian packages the build and tests need
#   tools/dev.sh build      configure and build into build/ (BUILD_DIR overrides), -Werror
#   tools/dev.sh test       what CI runs: deps, the format check, core/ built and tested alone,
#                           the unit tests in a Debug + ASan/UBSan + LTO (-Wodr) build, 5 s
#                           of every fuzzer, then the main build (programs; of the unit tests
#                           only those with a case the sanitized build skips), the package and
#                           every other ctest test
#   tools/dev.sh sanitize   only the Debug + ASan/UBSan + LTO build and its unit tests (build-asan/)
#   tools/dev.sh core       only core/ alone (build-core/)
#   tools/dev.sh fuzz [S]   build the libFuzzer targets with clang into build-fuzz/; with S, run
#                           each for S seconds on its seed corpus
#   tools/dev.sh format [--fix]  check (or apply) .clang-format on every C++ file in git
#   tools/dev.sh package    build/imgfs_<version>_amd64.deb (CPack; the main build with prefix /usr)
#   tools/dev.sh package-smoke  install that package on this machine, run tests/package/smoke.sh
#                           from the installed paths, then purge it
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

PACKAGES=(
  # toolchain and libraries
  build-essential cmake ninja-build pkg-config git
  libssl-dev libxxhash-dev librocksdb-dev libzstd-dev zlib1g-dev nlohmann-json3-dev
  libarchive-dev libgtest-dev libgmock-dev libfuse3-dev fuse3 libcurl4-openssl-dev
  libcap-dev libseccomp-dev libtomlplusplus-dev libisal-dev
  # the containerd snapshotter: gRPC, and the snapshots API's .proto files (with gogo.proto)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev
  # the real tools tests compare against or drive
  umoci skopeo debootstrap zstd gzip tar python3 busybox-static bc hyperfine curl attr jq
  runc crun containerd podman iproute2 procps psmisc nginx-light openssl
  docker-registry apache2-utils
  # the CI checks: sanitizers and fuzzers (clang's runtimes), the format check
  clang libclang-rt-14-dev clang-format lld
  # the package: man pages from --help, Depends from the linked libraries, the unit checker
  help2man dpkg-dev systemd bash-completion
  # (stargz-snapshotter for coldstart-bench: tools/stargz/build.sh installs its Go sources itself;
  # CI does not build it)
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

# Configures DIR with the extra cmake ARGS; ccache is used when it is installed.
configure() {
  local dir=$1; shift
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$ROOT" -B "$dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
}

configure_and_build() {
  configure "$@"
  cmake --build "$1" -j"$(nproc)"
}

build() {
  configure_and_build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGFS_WERROR=ON \
    -DIMGFS_BUILD_UNIT_TESTS=ON "$@"
}

# Debug with AddressSanitizer and UndefinedBehaviorSanitizer, linked with LTO so that -Wodr sees
# every translation unit: two definitions of one name fail the build. Runs the unit tests.
sanitize() {
  local dir=$ROOT/build-asan
  # -g1: line tables are all a sanitizer's report needs, and full debug info doubles the build.
  configure "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" \
    -DCMAKE_C_FLAGS_DEBUG="-O0 -g1" -DIMGFS_SANITIZE=ON -DIMGFS_LTO=ON -DIMGFS_WERROR=ON
  cmake --build "$dir" -j"$(nproc)" --target unit_tests
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$(nproc)" -L unit)
}

# core/ alone: no FUSE, RocksDB, curl or libarchive on the compiler's or linker's command line.
core_alone() {
  local dir=$ROOT/build-core
  configure_and_build "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    -DCMAKE_C_FLAGS_DEBUG=-O0 -DIMGFS_CORE_ONLY=ON -DIMGFS_WERROR=ON
  (cd "$dir" && ctest --output-on-failure -j"$(nproc)")
}

FUZZERS=(layer_fuzz index_fuzz oci_json_fuzz runtime_spec_fuzz cdi_fuzz http_response_fuzz
  control_request_fuzz read_fuzz registry_fuzz)

# Seeds: tests/fuzz/corpus/FUZZER/, plus files of the repository and the host in the format a
# fuzzer reads (the first byte of a cdi_fuzz input picks its parser).
seed_corpus() {
  local f=$1 dir=$2 g
  if [[ -d $ROOT/tests/fuzz/corpus/$f ]]; then cp -r "$ROOT/tests/fuzz/corpus/$f/." "$dir/"; fi
  case $f in
    index_fuzz) cp "$ROOT"/tests/golden/*.imgfsidx "$dir/" ;;
    cdi_fuzz)
      for g in "$ROOT"/tests/gpu/golden/*; do { printf '\0'; cat "$g"; } >"$dir/$(basename "$g")"; done
      if [[ -f /etc/ld.so.cache ]]; then { printf '\1'; cat /etc/ld.so.cache; } >"$dir/ld.so.cache"; fi ;;
  esac
}

fuzz() {
  local seconds=${1:-}
  configure "$ROOT/build-fuzz" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" \
    -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only" -DIMGFS_FUZZ=ON -DIMGFS_WERROR=ON
  cmake --build "$ROOT/build-fuzz" -j"$(nproc)" --target "${FUZZERS[@]}"
  [[ -n $seconds ]] || return 0
  local f work rc
  for f in "${FUZZERS[@]}"; do
    work=$(mktemp -d)
    mkdir "$work/corpus"
    seed_corpus "$f" "$work/corpus"
    rc=0
    (cd "$work" && "$ROOT/build-fuzz/tests/fuzz/$f" -max_total_time="$seconds" \
      -print_final_stats=1 corpus >log 2>&1) || rc=$?
    echo "fuzz: $f, ${seconds}s: $(grep -o 'number_of_executed_units: *[0-9]*' "$work/log" |
      grep -o '[0-9]*$') runs, exit $rc"
    if ((rc != 0)); then tail -40 "$work/log" >&2; rm -rf "$work"; return 1; fi
    rm -rf "$work"
  done
}

format() {
  local files
  mapfile -t files < <(cd "$ROOT" && git ls-files '*.cc' '*.h')
  if [[ ${1:-} == --fix ]]; then
    (cd "$ROOT" && clang-format -i "${files[@]}")
  else
    (cd "$ROOT" && clang-format --dry-run -Werror "${files[@]}")
  fi
}

# The Debian package from the main build, reconfigured with prefix /usr (so the configuration
# goes to /etc/imgfs); nothing is recompiled.
package() {
  configure "$BUILD_DIR" -DCMAKE_INSTALL_PREFIX=/usr
  cmake --build "$BUILD_DIR" -j"$(nproc)"
  rm -f "$BUILD_DIR"/imgfs_*_amd64.deb
  (cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
  ls "$BUILD_DIR"/imgfs_*_amd64.deb
}

# Installs the package as a user would (apt-get resolves its Depends), runs the smoke test from
# the installed paths, and purges it again whatever the result.
package_smoke() {
  local deb rc=0
  deb=$(ls "$BUILD_DIR"/imgfs_*_amd64.deb)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$deb" >/dev/null
  dpkg-deb -f "$deb" Depends
  "$ROOT/tests/package/smoke.sh" || rc=$?
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq imgfs >/dev/null
  return $rc
}

# Runs one step of the CI run and says how long it took.
step() {
  local start=$SECONDS
  echo "== $*" >&2
  "$@"
  echo "== $1: $((SECONDS - start)) s" >&2
}

test_all() {
  step deps
  step format
  step core_alone
  step sanitize
  step fuzz 5
  # -g1 (line tables, enough for backtraces): full debug info costs a fifth of the build. The
  # unit tests are left out: the sanitizer pass built and ran every one of them.
  step build -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DIMGFS_BUILD_UNIT_TESTS=OFF
  step package
  step package_smoke
  cd "$BUILD_DIR"
  ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
}

case "${1:-}" in
  deps) deps ;;
  build) deps; build ;;
  test) shift; test_all "$@" ;;
  sanitize) deps; sanitize ;;
  core) deps; core_alone ;;
  fuzz) shift; deps; fuzz "$@" ;;
  format) shift; format "$@" ;;
  package) deps; build; package ;;
  package-smoke) deps; package_smoke ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
