#!/bin/bash
# GPUs through runc-lite on a fake driver tree: CDI spec generated from the fake root, containers
# started by runc-lite that request GPUs by NVIDIA_VISIBLE_DEVICES (index, UUID, all, none, void)
# and must see the device nodes with the host nodes' numbers, the libraries mounted read-only
# and listed by `ldconfig -p`; a hostile image whose library directory is a symlink to / does
# not get the host written; the container's LD_PRELOAD does not reach the hook.
#   runc_lite_gpu_test.sh RUNC_LITE IMGFS_GPU IMGFS_GPU_HOOK
set -uo pipefail
runc=${1:?runc-lite}; gpu=${2:?imgfs-gpu}; hook=${3:?imgfs-gpu-hook}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in jq cc; do command -v $t >/dev/null || { echo "SKIP: needs $t"; exit 77; }; done
[ -x /sbin/ldconfig ] || { echo "SKIP: needs /sbin/ldconfig"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/gpu-runc.XXXXXX)
state=$tmp/state
cleanup() {
  for id in $("$runc" --root "$state" list -q 2>/dev/null); do "$runc" --root "$state" delete --force "$id"; done
  rm -rf "$tmp" /tmp/imgfs-gpu-pwned-$$
}
trap cleanup EXIT
failures=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

"$here/make_fake_driver.sh" "$tmp/root" || exit $?
mkdir -p "$tmp/root/etc/cdi"
"$gpu" cdi generate --root "$tmp/root" --hook-path "$hook" --output "$tmp/root/etc/cdi/nvidia.yaml" ||
  { echo "FAIL - cdi generate"; exit 1; }
export RUNC_LITE=$runc  # for make_bundle.sh
uuid1=$(sed -n 's/^GPU UUID:[[:space:]]*//p' "$tmp"/root/proc/driver/nvidia/gpus/*/information | head -1)

# A busybox rootfs with a static ldconfig, and an LD_PRELOAD library that leaves a mark on the
# host if it is ever loaded outside the container.
bundle() {  # bundle NAME ENV... -- ARGS...
  local b=$tmp/$1; shift
  local envs=() ; while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  "$here/../runc-lite/make_bundle.sh" "$b" "$@" >/dev/null || return 1
  mkdir -p "$b/rootfs/sbin" "$b/rootfs/usr/lib/x86_64-linux-gnu" "$b/rootfs/etc"
  cp /sbin/ldconfig "$b/rootfs/sbin/ldconfig"
  printf '#include <stdio.h>\n__attribute__((constructor)) static void mark(void){FILE*f=fopen("/tmp/imgfs-gpu-pwned-%d","w");if(f)fclose(f);}\n' $$ >"$tmp/evil.c"
  cc -shared -fPIC -o "$b/rootfs/evil.so" "$tmp/evil.c"
  local e; for e in "${envs[@]}"; do
    jq --arg e "$e" '.process.env += [$e]' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
  done
  echo "$b"
}
run() {  # run BUNDLE ID -> stdout of the container
  "$runc" --root "$state" run --cdi-root "$tmp/root" --bundle "$1" "$2"
}

probe='echo started; for d in /dev/nvidia0 /dev/nvidia1 /dev/nvidiactl; do [ -e $d ] && stat -c "%n %t:%T %a" $d; done; ldconfig -p | grep -o "libcuda.so.1 " | head -1; grep " /usr/lib/x86_64-linux-gnu/libcuda" /proc/mounts | cut -d" " -f4 | cut -d, -f1 | head -1'
# GPU index 0 is the first by bus id; its node is named by its minor, which the fake tree makes
# differ from the index (as on real multi-GPU hosts).
first_info=$(ls "$tmp"/root/proc/driver/nvidia/gpus/*/information | sort | head -1)
minor0=$(sed -n 's/^Device Minor:[[:space:]]*//p' "$first_info")
other=$((1 - minor0))
want0="/dev/nvidia$minor0 $(stat -c '%t:%T' "$tmp/root/dev/nvidia$minor0")"
wantctl="/dev/nvidiactl $(stat -c '%t:%T' "$tmp/root/dev/nvidiactl")"

b=$(bundle idx0 NVIDIA_VISIBLE_DEVICES=0 LD_PRELOAD=/evil.so -- /bin/sh -c "$probe") ||
  { echo "FAIL - cannot build a bundle"; exit 1; }
out=$(run "$b" g0 2>&1)
echo "$out" | grep -q "^$want0 " && ok "GPU 0: /dev/nvidia$minor0 with the host node's numbers" || fail "GPU 0 node: $out"
echo "$out" | grep -q "^$wantctl " && ok "control node nvidiactl present" || fail "nvidiactl: $out"
echo "$out" | grep -q "^/dev/nvidia$other " && fail "GPU 1 visible when only 0 was asked for" || ok "GPU 1 not visible"
echo "$out" | grep -q "^libcuda.so.1 $" && ok "ldconfig -p inside lists libcuda.so.1" || fail "ldconfig -p: $out"
echo "$out" | grep -qx "ro" && ok "libcuda mounted read-only" || fail "libcuda mount options: $out"
[ -e /tmp/imgfs-gpu-pwned-$$ ] && fail "the container's LD_PRELOAD ran outside the container" || ok "LD_PRELOAD did not reach the hook"

b=$(bundle all NVIDIA_VISIBLE_DEVICES=all -- /bin/sh -c "$probe")
out=$(run "$b" gall 2>&1)
echo "$out" | grep -q "^/dev/nvidia0 " && echo "$out" | grep -q "^/dev/nvidia1 " && ok "all: both GPUs" || fail "all: $out"

if [ -n "$uuid1" ]; then
  b=$(bundle uuid "NVIDIA_VISIBLE_DEVICES=$uuid1" -- /bin/sh -c "$probe")
  out=$(run "$b" guuid 2>&1)
  [ "$(echo "$out" | grep -c '^/dev/nvidia[01] ')" = 1 ] && ok "by UUID: exactly one GPU" || fail "uuid $uuid1: $out"
fi

for v in none void; do
  b=$(bundle "$v" NVIDIA_VISIBLE_DEVICES=$v -- /bin/sh -c "$probe")
  out=$(run "$b" "g$v" 2>&1)
  if ! echo "$out" | grep -qx started; then fail "$v: the container did not run: $out"
  elif echo "$out" | grep -q "^/dev/nvidia[01] "; then fail "$v: a GPU is visible: $out"
  else ok "$v: the container runs with no GPU"; fi
done

b=$(bundle bad NVIDIA_VISIBLE_DEVICES=7 -- /bin/true)
if err=$(run "$b" gbad 2>&1); then fail "GPU 7 accepted"; else
  echo "$err" | grep -q "unknown GPU 7" && ok "unknown GPU: one clear error" || fail "unknown GPU error: $err"
fi

# Hostile image: its library directory is a symlink to /. Mounts and hook writes must stay in
# the rootfs; the host's / must not get libcuda.so or an ld.so.conf.d entry.
b=$(bundle hostile NVIDIA_VISIBLE_DEVICES=0 -- /bin/true)
rm -rf "$b/rootfs/usr/lib/x86_64-linux-gnu" && ln -s / "$b/rootfs/usr/lib/x86_64-linux-gnu"
before=$(ls -1A /)  # names only: other tests running beside this one change /tmp's mtime
run "$b" ghostile >"$tmp/hostile.out" 2>&1
echo "  (hostile image run: $(tail -1 "$tmp/hostile.out"))"
[ -e /libcuda.so ] || [ -e /libcuda.so.1 ] && fail "hostile image: the host's / got a libcuda" || ok "hostile image: host / untouched"
[ "$(ls -1A /)" = "$before" ] && ok "hostile image: no new entry in the host's /" || fail "hostile image: host / has new entries: $(diff <(echo "$before") <(ls -1A /))"
ls /libnvidia* /libcuda* >/dev/null 2>&1 && fail "hostile image: NVIDIA libraries appeared in the host's /" || ok "hostile image: no NVIDIA library in the host's /"

echo "$failures failure(s)"
[ "$failures" = 0 ]
