#!/bin/bash
# Builds stargz-snapshotter's two programs from Debian 12's Go sources, offline:
#   tools/stargz/build.sh OUTDIR
# writes OUTDIR/ctr-remote (upstream's cmd/ctr-remote as Debian ships it) and
# OUTDIR/containerd-stargz-grpc (our daemon, tools/stargz/containerd-stargz-grpc/main.go, over
# the library's fs and snapshot packages; Debian does not ship upstream's daemon). Installs the
# Debian packages it needs with apt-get when they are missing (needs root then). GOPATH mode
# (GO111MODULE=off) over /usr/share/gocode: no module download, no network beyond apt.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
PACKAGES=(golang-go golang-github-containerd-stargz-snapshotter-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# CGO off: no C compiler needed (golang-go only recommends gcc) and static binaries.
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= CGO_ENABLED=0
# The build cache lives beside the output unless the caller set one.
export GOCACHE=${GOCACHE:-$out/.gocache}
jobs=${GO_JOBS:-2}

echo "build.sh: ctr-remote ($(go version))" >&2
go build -p "$jobs" -o "$out/ctr-remote" github.com/containerd/stargz-snapshotter/cmd/ctr-remote
echo "build.sh: containerd-stargz-grpc" >&2
(cd "$here/containerd-stargz-grpc" && go build -p "$jobs" -o "$out/containerd-stargz-grpc" .)
usage=$("$out/containerd-stargz-grpc" -h 2>&1 || true)
grep -q -- -address <<<"$usage"
echo "build.sh: built $out/ctr-remote $out/containerd-stargz-grpc" >&2
