#!/bin/bash
# The pure cgroup v2 layout: on a v1/hybrid host it runs in a private mount namespace with the
# cgroup2 hierarchy mounted at /sys/fs/cgroup. There the v2 hierarchy owns only the controllers
# v1 does not hold (on this project's hybrid host: hugetlb; memory, pids, cpu and io stay bound
# to v1), so the limits enforced here are the v2 hierarchy's own ones (hugetlb through
# linux.resources.unified) and the other v2 files are covered by the emulated checks of
# cgroups_test and the unit tests. Checked: CLONE_INTO_CGROUP placement, the eBPF device filter,
# cgroup.freeze, exec --pid-file, ps, update, events --stats, kill-then-delete, cleanup.
if [[ ${RUNC_LITE_V2_INNER:-} != 1 && $(stat -fc %T /sys/fs/cgroup) != cgroup2fs &&
      $(id -u) == 0 ]]; then
  grep -q cgroup2 /proc/filesystems || { echo "SKIP: kernel without cgroup2"; exit 77; }
  exec unshare -m env RUNC_LITE_V2_INNER=1 bash -c \
    'umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec bash "$0"' "$0"
fi
source "$(dirname "$0")/lib.sh"
check "/sys/fs/cgroup is cgroup2" test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs
bundle dev sh -c 'head -c1 /dev/zero > /dev/null && echo zero-ok; mknod /tmp/m c 1 1; echo mem=$?; mknod /tmp/n c 1 3; echo null=$?'
jset dev '.linux.resources.devices=[{"allow":false,"access":"rwm"}]
  | .process.capabilities |= with_entries(.value += ["CAP_MKNOD"])'
(cd "$T/dev" && $R run dev < /dev/null > "$T/dev.out" 2>&1)
check "v2: default devices allowed under deny-all" grep -qx zero-ok "$T/dev.out"
check "v2: eBPF filter denies mknod of /dev/mem" grep -qx 'mem=1' "$T/dev.out"
check "v2: eBPF filter allows the null device" grep -qx 'null=0' "$T/dev.out"

bundle s sleep 100
(cd "$T/s" && $R run -d s < /dev/null > /dev/null 2>&1)
pid=$($R state s | jq .pid)
check "v2: init cloned into its cgroup" grep -qx '0::/runc-lite/s' /proc/$pid/cgroup
$R pause s
check "v2: pause sets cgroup.freeze" test "$(cat /sys/fs/cgroup/runc-lite/s/cgroup.freeze)" = 1
check "v2: state paused" test "$(status_of s)" = paused
$R resume s
check "v2: resume" test "$(status_of s)" = running
$R exec --detach --pid-file "$T/epid" s sleep 50
check "v2: exec'd process in the container cgroup" grep -qx '0::/runc-lite/s' /proc/$(cat "$T/epid")/cgroup
check "v2: ps lists both" test "$($R ps --format json s | jq length)" = 2
echo '{"devices":[{"allow":false,"access":"rwm"}]}' | $R update --resources - s
check "v2: update replaces the device filter" bash -c "! $R exec s head -c1 /dev/zero > /dev/null 2>&1"
stats=$($R events --stats s)
check "v2: events --stats type and id" test "$(jq -r '.type + " " + .id' <<< "$stats")" = "stats s"
d=/sys/fs/cgroup/runc-lite/s
if [[ -e $d/pids.current ]]; then
  check "v2: events --stats pids.current" test "$(jq '.data.pids.current' <<< "$stats")" = 2
fi
hp=$(cd "$d" && ls hugetlb.*.max 2>/dev/null | grep -v rsvd | head -1)
if [[ -n $hp ]]; then
  size=${hp#hugetlb.}; size=${size%.max}
  # Two pages of that size: the kernel rounds a limit down to whole pages (4 MiB of 1 GB pages
  # would read back as 0).
  case $size in
    *KB) page=$((${size%KB} << 10)) ;;
    *MB) page=$((${size%MB} << 20)) ;;
    *GB) page=$((${size%GB} << 30)) ;;
  esac
  limit=$((2 * page))
  echo "{\"unified\":{\"$hp\":\"$limit\"}}" | $R update --resources - s
  check "v2: update writes the v2 hierarchy's own $hp" test "$(cat "$d/$hp")" = $limit
  check "v2: events --stats hugetlb $size max" \
    test "$($R events --stats s | jq --arg s "$size" '.data.hugetlb[$s].max')" = $limit
else
  echo "note: the v2 hierarchy here has no hugetlb controller; its limit is not checked"
fi
$R kill s KILL
out=$($R delete s 2>&1)
check "v2: kill KILL; delete ($out)" test -z "$out"
check "v2: delete removes the cgroup" test ! -d /sys/fs/cgroup/runc-lite/s
finish
