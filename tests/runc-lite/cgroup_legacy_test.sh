#!/bin/bash
# The legacy layout: cgroup v1 hierarchies only, no cgroup2 anywhere. Emulated in a private mount
# namespace whose /sys/fs/cgroup is a new tmpfs holding only this host's v1 hierarchies, mounted
# over the host's tree (so mountinfo still lists the hidden cgroup2 of a hybrid host, which must
# not be used). create, exec (--pid-file), update, pause/resume, ps, events --stats, kill and
# delete, all through the v1 controllers.
if [[ ${RUNC_LITE_LEGACY_INNER:-} != 1 && $(id -u) == 0 ]]; then
  grep -q ' - cgroup cgroup ' /proc/self/mountinfo ||
    { echo "SKIP: no cgroup v1 hierarchy on this host (pure v2): the legacy layout cannot be emulated"; exit 77; }
  exec unshare -m --propagation private env RUNC_LITE_LEGACY_INNER=1 bash "$0"
fi
if [[ ${RUNC_LITE_LEGACY_INNER:-} == 1 ]]; then
  # mount point and super options of each v1 hierarchy, then a tmpfs over them and only them.
  mapfile -t v1 < <(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") break;
                           if ($(i + 1) == "cgroup") print $5, $(i + 3) }' /proc/self/mountinfo)
  mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup || exit 1
  for m in "${v1[@]}"; do
    read -r mp opts <<< "$m"
    mkdir -p "$mp" && mount -t cgroup -o "$opts" cgroup "$mp" || { echo "mount $mp failed"; exit 1; }
  done
fi
source "$(dirname "$0")/lib.sh"
check "emulated legacy layout: no cgroup2 visible" bash -c "! test -e /sys/fs/cgroup/unified && test \$(stat -fc %T /sys/fs/cgroup) = tmpfs"
has() { [[ -d /sys/fs/cgroup/$1 ]]; }
dir() { jq -r --arg c "$2" '.cgroup_paths[$c] // empty' "$ROOT/$1/state.json"; }

bundle lg sleep 100
jset lg '.linux.resources.pids={"limit":20} | .linux.resources.memory={"limit":67108864}'
(cd "$T/lg" && $R create lg < /dev/null > /dev/null 2>&1)
check "create" test "$(status_of lg)" = created
check "no unified directory recorded" test -z "$(dir lg unified)"
check "nothing written into the tmpfs itself" test ! -e /sys/fs/cgroup/runc-lite
$R start lg
pid=$($R state lg | jq .pid)
for c in pids memory freezer; do
  has $c && check "init in the v1 $c cgroup" grep -qx "$pid" "$(dir lg $c)/cgroup.procs"
done
has pids && check "pids.max from the config" test "$(cat "$(dir lg pids)/pids.max")" = 20
$R exec --detach --pid-file "$T/epid" lg sleep 50
check "exec --pid-file" test -s "$T/epid"
has pids && check "exec'd process in the container's cgroup" grep -qx "$(cat "$T/epid")" "$(dir lg pids)/cgroup.procs"
check "ps lists init and the exec'd process" test "$($R ps --format json lg | jq length)" = 2
if has pids && has memory; then
  $R update --pids-limit 30 --memory 96M lg
  check "update pids.max" test "$(cat "$(dir lg pids)/pids.max")" = 30
  check "update memory.limit_in_bytes" test "$(cat "$(dir lg memory)/memory.limit_in_bytes")" = 100663296
fi
if has freezer; then
  $R pause lg
  check "pause: FROZEN" grep -q FROZEN "$(dir lg freezer)/freezer.state"
  check "pause: state paused" test "$(status_of lg)" = paused
  $R resume lg
  check "resume: running" test "$(status_of lg)" = running
fi
stats=$($R events --stats lg)
check "events --stats: type and id" test "$(jq -r '.type + " " + .id' <<< "$stats")" = "stats lg"
has pids && check "events --stats: pids.current 2, limit 30" test "$(jq -c '.data.pids' <<< "$stats")" = '{"current":2,"limit":30}'
has memory && check "events --stats: memory limit and usage" test "$(jq '.data.memory.usage.limit' <<< "$stats")" = 100663296 -a "$(jq '.data.memory.usage.usage' <<< "$stats")" -gt 0
has cpuacct && check "events --stats: cpu usage" test "$(jq '.data.cpu.usage.total' <<< "$stats")" -gt 0
$R kill lg KILL
out=$($R delete lg 2>&1)
check "kill KILL; delete ($out)" test -z "$out"
for c in pids memory freezer; do
  has $c && check "delete removed the $c cgroup" test ! -d /sys/fs/cgroup/$c/runc-lite/lg
done
finish
