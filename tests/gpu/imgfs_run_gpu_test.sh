#!/bin/bash
# `imgfs run --gpus` on the fake driver tree: a busybox image converted into a private store is
# run lazily (daemon, FUSE, overlay, runc-lite) with --gpus as docker reads it (a count, device=,
# all) and must see exactly the asked GPUs' nodes; another runtime (runc) gets the GPUs through
# the config imgfs run writes; an unknown GPU or a malformed --gpus is exit 125 with one line,
# leaving no container behind. The work runs in a private mount namespace below a scratch dir.
#   imgfs_run_gpu_test.sh IMGFS IMGFS_GPU IMGFS_GPU_HOOK
set -uo pipefail
imgfs=${1:?imgfs}; gpu=${2:?imgfs-gpu}; hook=${3:?imgfs-gpu-hook}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -c /dev/fuse ] || { echo "SKIP: needs /dev/fuse"; exit 77; }
for t in busybox cc unshare; do command -v $t >/dev/null || { echo "SKIP: needs $t"; exit 77; }; done
if [ -z "${IMGFS_GPU_RUN_INNER:-}" ]; then
  IMGFS_GPU_RUN_INNER=1 exec unshare -m --propagation private "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/gpu-imgfs-run.XXXXXX)
store=$tmp/store
cleanup() {
  for m in $(awk -v s="$tmp/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

"$here/make_fake_driver.sh" "$tmp/drv" || exit $?
mkdir -p "$tmp/drv/etc/cdi"
"$gpu" cdi generate --root "$tmp/drv" --hook-path "$hook" --output "$tmp/drv/etc/cdi/nvidia.yaml" ||
  { echo "FAIL - cdi generate"; exit 1; }
mkdir -p "$tmp/img"/{bin,etc,tmp,proc,sys,dev}
cp "$(readlink -f "$(command -v busybox)")" "$tmp/img/bin/busybox"
for a in sh ls cat env true; do ln -s busybox "$tmp/img/bin/$a"; done
"$imgfs" convert "dir:$tmp/img" --store "$store" --tag bb >/dev/null || { echo "FAIL - convert"; exit 1; }

# GPU index 0 is the first by bus id; the fake tree gives it a minor that differs from 0.
first_info=$(ls "$tmp"/drv/proc/driver/nvidia/gpus/*/information | sort | head -1)
minor0=$(sed -n 's/^Device Minor:[[:space:]]*//p' "$first_info")
minor1=$((1 - minor0))
uuid1=$(sed -n 's/^GPU UUID:[[:space:]]*//p' "$(ls "$tmp"/drv/proc/driver/nvidia/gpus/*/information | sort | tail -1)")
nodes() {  # nodes FLAGS... -> the GPU nodes the container sees, sorted, space-separated
  "$imgfs" run --store "$store" --cdi-root "$tmp/drv" "$@" bb -- sh -c 'ls /dev' 2>"$tmp/err" |
    grep -x 'nvidia[0-9]*' | sort | tr '\n' ' '
}
[ "$(nodes --gpus 1)" = "nvidia$minor0 " ] && ok "--gpus 1: the first GPU only" ||
  fail "--gpus 1: $(nodes --gpus 1) $(cat "$tmp/err")"
[ "$(nodes --gpus device=1)" = "nvidia$minor1 " ] && ok "--gpus device=1: GPU 1 only" ||
  fail "--gpus device=1: $(nodes --gpus device=1)"
[ "$(nodes --gpus "$uuid1")" = "nvidia$minor1 " ] && ok "--gpus UUID: that GPU only" ||
  fail "--gpus $uuid1: $(nodes --gpus "$uuid1")"
[ "$(nodes --gpus all)" = "nvidia0 nvidia1 " ] && ok "--gpus all: both" || fail "--gpus all: $(nodes --gpus all)"
[ "$(nodes)" = "" ] && ok "no --gpus: no GPU" || fail "without --gpus: $(nodes)"
if command -v runc >/dev/null; then
  got=$(nodes --gpus device=0 --runtime "$(command -v runc)")
  [ "$got" = "nvidia$minor0 " ] && ok "runc as the runtime: the GPU through the config" ||
    fail "runc --gpus device=0: '$got' $(cat "$tmp/err")"
fi
for bad in 7 "x y" 0; do
  "$imgfs" run --store "$store" --cdi-root "$tmp/drv" --gpus "$bad" bb -- true 2>"$tmp/err" >/dev/null
  rc=$?
  if [ $rc = 125 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "--gpus" "$tmp/err"; then
    ok "--gpus $bad: exit 125, one line: $(cat "$tmp/err")"
  else
    fail "--gpus $bad: exit $rc, $(cat "$tmp/err")"
  fi
done
left=$(ls -A "$store/containers" 2>/dev/null)
[ -z "$left" ] && ok "no container left behind" || fail "left behind: $left"
[ -e /proc/self/mountinfo ] || fail "/proc/self/mountinfo is gone"
echo "$failures failure(s)"
[ "$failures" = 0 ]
