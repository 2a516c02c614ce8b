#!/bin/bash
# linux.namespaces[{type: mount, path: P}] joins the existing mount namespace P as it is: the
# container sees what is mounted there (and not in the host's), nothing is pivoted or remounted,
# and exec joins it too.
source "$(dirname "$0")/lib.sh"
bundle mn sleep 100
bb=$T/mn/rootfs/bin/busybox
mkdir -p "$T/ns-only" && touch "$T/mntns"
# A mount namespace of the test's own, kept alive by a bind of its nsfs file, with a tmpfs at
# $T/ns-only that only it has.
unshare --mount="$T/mntns" --propagation private \
  sh -c "mount -t tmpfs tmpfs '$T/ns-only' && echo inside > '$T/ns-only/marker'" ||
  skip "unshare --mount=FILE failed"
jset mn --arg p "$T/mntns" --arg bb "$bb" \
  '.linux.namespaces |= map(if .type == "mount" then .path = $p else . end)
   | .process.args = [$bb, "sleep", "100"]'
(cd "$T/mn" && $R run -d mn < /dev/null > "$T/mn.out" 2>&1); out=$(cat "$T/mn.out")
check "container with a mount namespace by path starts ($out)" test "$(status_of mn)" = running
pid=$($R state mn | jq .pid)
check "init is in that mount namespace" test "$(stat -Lc %i /proc/$pid/ns/mnt)" = "$(stat -Lc %i "$T/mntns")"
out=$($R exec mn "$bb" cat "$T/ns-only/marker" 2>&1)
check "exec sees the namespace's own mount ($out)" test "$out" = inside
check "the host does not see it" test ! -e "$T/ns-only/marker"
$R delete -f mn
umount "$T/mntns"
finish
