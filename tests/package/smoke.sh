#!/bin/bash
# The installed package, from its installed paths only (/usr/bin, /etc/imgfs, the unit):
# versions, the unit (systemd-analyze verify), a convert + mount + read, `runc-lite run` of a
# bundle, and containers run by a private containerd through /usr/bin/runc-lite: the runc shim's
# BinaryName option, and containerd's config.toml naming it as its linux runtime. Everything
# lives under one temp dir; the private containerd and every mount are gone at the end. Prints
# "N passed, N failed"; exit 1 on any failure.
#   tests/package/smoke.sh          (after: apt-get install ./imgfs_*_amd64.deb)
set -uo pipefail
T=$(mktemp -d /tmp/imgfs-package-smoke.XXXXXX)
chmod 755 "$T"
PASS=0 FAIL=0
check() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ok   - $what"; PASS=$((PASS + 1));
  else echo "FAIL - $what"; FAIL=$((FAIL + 1)); fi
}
ctd_pid=
cleanup() {
  [[ -n $ctd_pid ]] && { kill "$ctd_pid" 2>/dev/null; wait "$ctd_pid" 2>/dev/null; }
  /usr/bin/imgfs umount "$T/mnt" >/dev/null 2>&1
  for m in $(awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT

check "imgfs --version names a commit" bash -c "/usr/bin/imgfs --version | grep -q 'commit [0-9a-f]'"
check "runc-lite --version names a commit" bash -c "/usr/bin/runc-lite --version | grep -q '^commit: [0-9a-f]'"
check "imgfs-gpu --version" /usr/bin/imgfs-gpu --version
check "imgfs snapshotter runs the installed imgfs-snapshotter" \
  bash -c "/usr/bin/imgfs snapshotter --version | grep -q '^imgfs-snapshotter .*commit [0-9a-f]'"
check "imgfs links no gRPC, protobuf or abseil" \
  bash -c "L=\$(ldd /usr/bin/imgfs) && grep -q libfuse3 <<<\"\$L\" && ! grep -qE 'grpc|absl|protobuf' <<<\"\$L\""
check "imgfs-gpu-hook --version" /usr/bin/imgfs-gpu-hook --version
check "coldstart-bench --help" bash -c "/usr/bin/coldstart-bench --help | grep -q -- --quick"
check "the config is installed and valid" bash -c "/usr/bin/imgfs config show | grep -q '^# file: /etc/imgfs/config.toml'"
check "man page" bash -c "man -w imgfs | grep -q /usr/share/man/man1/imgfs.1.gz"
check "bash completion" test -s /usr/share/bash-completion/completions/imgfs
# A completion: LINE typed so far, the words it splits into; prints the candidates.
complete_line() {
  local prog=$1 line=$2
  bash -c 'source /usr/share/bash-completion/bash_completion
    source "/usr/share/bash-completion/completions/$1"
    COMP_LINE=$2 COMP_POINT=${#2}; read -ra COMP_WORDS <<<"$2"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    "_${1//-/_}"; echo "${COMPREPLY[*]}"' _ "$prog" "$line"
}
check "bash completion: imgfs commands" test "$(complete_line imgfs 'imgfs mo')" = mount
check "bash completion: a subcommand's flags" test "$(complete_line imgfs 'imgfs mount --ca')" = "--ca-file --cache-size"
check "bash completion: runc-lite commands" test "$(complete_line runc-lite 'runc-lite de')" = delete
check "systemd-analyze verify imgfs-daemon.service" \
  systemd-analyze verify /usr/lib/systemd/system/imgfs-daemon.service
check "systemd-analyze verify imgfs-snapshotter.service" \
  systemd-analyze verify /usr/lib/systemd/system/imgfs-snapshotter.service

# A small real image: busybox and a file, converted, mounted lazily, read back.
mkdir -p "$T/src/bin" "$T/src/etc" "$T/mnt"
cp "$(command -v busybox)" "$T/src/bin/busybox"
echo "installed imgfs works" > "$T/src/etc/motd"
S="--store $T/store"
check "convert from the installed binary" /usr/bin/imgfs convert "dir:$T/src" --tag smoke $S
check "mount" /usr/bin/imgfs mount smoke "$T/mnt" $S
check "read through the mount" bash -c "grep -q 'installed imgfs works' $T/mnt/etc/motd && cmp $T/mnt/bin/busybox $T/src/bin/busybox"
check "umount without --store" /usr/bin/imgfs umount "$T/mnt"

# runc-lite run of a busybox bundle.
mkdir -p "$T/bundle/rootfs/bin" "$T/bundle/rootfs/proc" "$T/bundle/rootfs/dev" "$T/bundle/rootfs/sys"
cp "$(command -v busybox)" "$T/bundle/rootfs/bin/busybox"
ln -s busybox "$T/bundle/rootfs/bin/sh"
(cd "$T/bundle" && /usr/bin/runc-lite spec)
jq '.process.terminal=false | .process.args=["/bin/busybox","echo","hello from runc-lite"]' \
  "$T/bundle/config.json" > "$T/bundle/c.json" && mv "$T/bundle/c.json" "$T/bundle/config.json"
out=$(cd "$T/bundle" && timeout 60 /usr/bin/runc-lite --root "$T/runc" run smoke 2>&1)
check "runc-lite run prints" grep -q "hello from runc-lite" <<<"$out"

# containerd with BinaryName = /usr/bin/runc-lite for its runc shim.
if command -v containerd >/dev/null && command -v ctr >/dev/null && command -v umoci >/dev/null; then
  source "$(dirname "$0")/../private_containerd.sh"
  start_private_containerd "$T/ctd"
  ctd_pid=$CTD_PID
  import_rootfs_image "$T" "$T/bundle/rootfs" localhost/smoke
  # The runc shim's BinaryName option, set per container as `ctr run --runc-binary` does (the CRI
  # plugin's `BinaryName` in config.toml sets the same option; it needs a CRI client to drive,
  # which Debian 12 does not ship).
  out=$(timeout 60 $C run --rm --runc-binary /usr/bin/runc-lite localhost/smoke:latest smoke \
    /bin/busybox echo hello-through-containerd 2>&1)
  check "containerd runs a container with BinaryName = /usr/bin/runc-lite" \
    grep -q hello-through-containerd <<<"$out"
  # Which runtime the shim ran: a detached container shows in runc-lite's own listing of the
  # shim's state root (runc's state files are not runc-lite's).
  timeout 60 $C run -d --runc-binary /usr/bin/runc-lite localhost/smoke:latest smoke-d \
    /bin/busybox sleep 600 >/dev/null 2>&1
  check "the shim ran /usr/bin/runc-lite" \
    bash -c "/usr/bin/runc-lite --root /run/containerd/runc/default list | grep -q '^smoke-d .*running'"
  $C task kill -s KILL smoke-d >/dev/null 2>&1
  for _ in $(seq 50); do $C task ls | grep -q 'smoke-d .*STOPPED' && break; sleep 0.1; done
  $C task rm smoke-d >/dev/null 2>&1
  $C containers rm smoke-d >/dev/null 2>&1
  # containerd configured in its config.toml to run /usr/bin/runc-lite: the linux runtime
  # plugin's `runtime` (the setting ctr's default path takes without CRI; the CRI plugin's
  # BinaryName needs a CRI client, which Debian 12 does not ship).
  kill "$ctd_pid"; wait "$ctd_pid" 2>/dev/null
  cat >> "$T/ctd/config.toml" <<CFG
[plugins."io.containerd.runtime.v1.linux"]
  runtime = "/usr/bin/runc-lite"
  runtime_root = "$T/v1root"
CFG
  containerd --config "$T/ctd/config.toml" >>"$T/ctd/log" 2>&1 &
  ctd_pid=$!
  for _ in $(seq 100); do $C version >/dev/null 2>&1 && break; sleep 0.1; done
  timeout 60 $C run -d --runtime io.containerd.runtime.v1.linux localhost/smoke:latest smoke-v1 \
    /bin/busybox sleep 600 >/dev/null 2>&1
  check "containerd configured with runtime = /usr/bin/runc-lite runs a container" \
    bash -c "/usr/bin/runc-lite --root $T/v1root/default list | grep -q '^smoke-v1 .*running'"
  $C task kill -s KILL smoke-v1 >/dev/null 2>&1
  for _ in $(seq 50); do $C task ls | grep -q 'smoke-v1 .*STOPPED' && break; sleep 0.1; done
  $C task rm smoke-v1 >/dev/null 2>&1
  $C containers rm smoke-v1 >/dev/null 2>&1
else
  echo "FAIL - containerd, ctr or umoci missing"; FAIL=$((FAIL + 1))
fi
echo "$PASS passed, $FAIL failed"
((FAIL == 0))
