#!/bin/bash
# An idmapped bind mount in a user-namespaced container: the source (owned by the host's root)
# is seen owned by the container's root, and the container's root writes files the host sees
# as its own root's; the destination is a symlink inside the rootfs, resolved inside it.
source "$(dirname "$0")/lib.sh"
bundle im sh -c 'stat -c %u /mnt/target/f; touch /mnt/target/new && echo wrote'
jset im '.linux.namespaces += [{"type":"user"}]
  | .linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}]
  | .linux.gidMappings=[{"containerID":0,"hostID":100000,"size":65536}]
  | .mounts |= map(select(.destination != "/sys" and .destination != "/sys/fs/cgroup"))'
mkdir -p "$T/idsrc" "$T/im/rootfs/mnt" && touch "$T/idsrc/f" && chmod 755 "$T/idsrc"
ln -s /mnt "$T/im/rootfs/link"
chown -R -h 100000:100000 "$T/im/rootfs"
jset im --arg s "$T/idsrc" '.mounts += [{"destination":"/link/target","type":"bind","source":$s,"options":["rbind","idmap"]}]'
(cd "$T/im" && $R run im < /dev/null > "$T/im.out" 2>&1)
check "idmapped bind: the host root's file is the container root's ($(tr '\n' ' ' < "$T/im.out"))" \
  test "$(tr '\n' ' ' < "$T/im.out")" = "0 wrote "
check "  ... the container root's write is the host root's" test "$(stat -c %u "$T/idsrc/new" 2>/dev/null)" = 0
check "  ... the symlinked destination resolved inside the rootfs" test -d "$T/im/rootfs/mnt/target"
check "  ... nothing mounted at the host's /mnt/target" test ! -e /mnt/target

bundle noun true
jset noun --arg s "$T/idsrc" '.mounts += [{"destination":"/x","type":"bind","source":$s,"options":["bind","idmap"]}]'
out=$(cd "$T/noun" && $R run noun 2>&1 < /dev/null)
check "idmap without a user namespace of the container's own: a clear error ($out)" contains "$out" "idmapped mounts need a new user namespace"
finish
