#!/bin/bash
# A user-namespaced container can bind a source that its mapped root could not reach itself
# (a directory below one only the host's root may enter): the runtime opens the source before
# init enters the user namespace, as runc does. The binding stays in the container.
source "$(dirname "$0")/lib.sh"
bundle ub sh -c 'cat /data/secret; echo written > /data/from-container && echo wrote'
jset ub '.linux.namespaces += [{"type":"user"}]
  | .linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}]
  | .linux.gidMappings=[{"containerID":0,"hostID":100000,"size":65536}]
  | .mounts |= map(select(.destination != "/sys" and .destination != "/sys/fs/cgroup"))'
chown -R 100000:100000 "$T/ub/rootfs"
mkdir -p "$T/private/data"
chmod 700 "$T/private"  # root only: host uid 100000 cannot enter it
echo only-for-mapped-root > "$T/private/data/secret"
chown -R 100000:100000 "$T/private/data"
jset ub --arg s "$T/private/data" '.mounts += [{"destination":"/data","type":"bind","source":$s,"options":["rbind","rw"]}]'
(cd "$T/ub" && $R run ub < /dev/null > "$T/ub.out" 2>&1)
check "bind of a source the mapped root cannot reach: $(tr '\n' ' ' < "$T/ub.out")" \
  test "$(tr '\n' ' ' < "$T/ub.out")" = "only-for-mapped-root wrote "
check "  ... the write landed in the source" test "$(cat "$T/private/data/from-container" 2>/dev/null)" = written
check "  ... owned by the mapped root" test "$(stat -c %u "$T/private/data/from-container" 2>/dev/null)" = 100000
check "no mount of the source leaked to the host" bash -c "! grep -q ' $T/ub/rootfs/data ' /proc/self/mountinfo"
finish
