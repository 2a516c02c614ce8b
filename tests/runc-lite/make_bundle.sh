#!/bin/bash
# make_bundle.sh DIR [ARGS...]: a bundle at DIR with a busybox-static rootfs and a config.json
# from `runc-lite spec` adjusted for non-interactive use (terminal off, ARGS as process.args,
# rootfs writable). Exits 77 when busybox-static or jq is missing.
set -euo pipefail
dir=$1; shift
bb=$(command -v busybox || true)
if [[ -z $bb ]] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
  echo "SKIP: busybox-static not installed (apt-get install busybox-static)" >&2; exit 77
fi
command -v jq >/dev/null || { echo "SKIP: jq not installed" >&2; exit 77; }
RUNC_LITE=${RUNC_LITE:?set RUNC_LITE to the runc-lite binary}
mkdir -p "$dir/rootfs"/{bin,dev,proc,sys,tmp,etc,root}
cp "$bb" "$dir/rootfs/bin/busybox"
# One symlink per applet, made by one process (a loop of ln took seconds on a loaded machine).
(cd "$dir/rootfs/bin" && "$bb" --list | perl -ne 'chomp; symlink("busybox", $_) unless $_ eq "busybox" || -e $_')
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/rootfs/etc/passwd"
echo 'root:x:0:' > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
"$RUNC_LITE" spec --bundle "$dir"
args=$(printf '%s\n' "${@:-sh}" | jq -R . | jq -s .)
jq --argjson a "$args" '.process.terminal=false | .process.args=$a | .root.readonly=false
  | .process.env += ["HOME=/root"]' "$dir/config.json" > "$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
