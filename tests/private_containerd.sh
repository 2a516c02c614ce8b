# Sourced by shell tests: a containerd of their own, under DIR, never the host's.
#   start_private_containerd DIR    writes DIR/config.toml (root, state, sockets under DIR; no CRI
#                                   plugin), starts containerd (log DIR/log) and waits until it
#                                   answers; sets CTD_PID and C ("ctr -a DIR/sock").
#   import_rootfs_image DIR ROOTFS NAME   packs ROOTFS as an OCI image (umoci) and imports it as
#                                   NAME:latest
start_private_containerd() {
  local dir=$1
  mkdir -p "$dir"
  cat > "$dir/config.toml" <<CFG
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/sock"
[ttrpc]
  address = "$dir/sock.ttrpc"
CFG
  containerd --config "$dir/config.toml" >"$dir/log" 2>&1 &
  CTD_PID=$!
  C="ctr -a $dir/sock"
  local _
  for _ in $(seq 100); do $C version >/dev/null 2>&1 && break; sleep 0.1; done
}

import_rootfs_image() {
  local dir=$1 rootfs=$2 name=$3
  (cd "$dir" && umoci init --layout oci >/dev/null && umoci new --image oci:latest >/dev/null &&
    umoci insert --image oci:latest "$rootfs" / >/dev/null && (cd oci && tar cf ../img.tar .))
  $C images import --base-name "$name" "$dir/img.tar" >/dev/null
}
