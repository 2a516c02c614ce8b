#!/bin/bash
# Cgroup limits are visibly enforced: memory OOM-kills, pids.max stops forks, cpu/cpuset files
# are written, update changes them, and delete removes the cgroups.
source "$(dirname "$0")/lib.sh"
ctrl_dir() {  # ctrl_dir CONTROLLER ID -> the container's directory for that controller
  local id=$1 c=$2
  $R state "$id" >/dev/null || return 1
  jq -r --arg c "$c" '.cgroup_paths[$c] // empty' "$ROOT/$id/state.json"
}
bundle mem sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd=$?'
jset mem '.linux.resources.memory={"limit":16777216,"swap":16777216}'
(cd "$T/mem" && $R run mem < /dev/null > "$T/mem.out" 2>&1)
check "allocating over memory.limit is OOM-killed" grep -qx 'dd=137' "$T/mem.out"

bundle pids sh -c 'for i in $(seq 20); do sleep 2 & done; wait'
jset pids '.linux.resources.pids={"limit":8}'
(cd "$T/pids" && $R run pids < /dev/null > "$T/pids.out" 2>&1)
check "pids.max stops forks" grep -q "can't fork" "$T/pids.out"

bundle cpu sleep 100
jset cpu '.linux.resources.cpu={"shares":512,"quota":20000,"period":100000,"cpus":"0"}'
(cd "$T/cpu" && $R run -d cpu < /dev/null > /dev/null 2>&1)
if [[ -d /sys/fs/cgroup/cpu ]]; then
  d=$(ctrl_dir cpu cpu)
  check "cpu.shares" test "$(cat "$d/cpu.shares")" = 512
  check "cpu.cfs_quota_us" test "$(cat "$d/cpu.cfs_quota_us")" = 20000
  check "cpuset.cpus" test "$(cat "$(ctrl_dir cpu cpuset)/cpuset.cpus")" = 0
  $R update --pids-limit 7 --memory 32M --cpu-quota 30000 cpu
  check "update --pids-limit" test "$(cat "$(ctrl_dir cpu pids)/pids.max")" = 7
  check "update --memory" test "$(cat "$(ctrl_dir cpu memory)/memory.limit_in_bytes")" = 33554432
  check "update --cpu-quota" test "$(cat "$d/cpu.cfs_quota_us")" = 30000
  echo '{"pids":{"limit":9}}' | $R update --resources - cpu
  check "update --resources -" test "$(cat "$(ctrl_dir cpu pids)/pids.max")" = 9
  mdir=$(ctrl_dir cpu memory) pdir=$(ctrl_dir cpu pids)
else
  d=$(ctrl_dir cpu unified)
  check "cpu.weight" test -n "$(cat "$d/cpu.weight")"
  check "cpu.max" test "$(cat "$d/cpu.max")" = "20000 100000"
  $R update --pids-limit 7 cpu
  check "update --pids-limit" test "$(cat "$d/pids.max")" = 7
  mdir=$d pdir=$d
fi
stats=$($R events --stats cpu)
check "events --stats: pids.current and limit" test "$(jq -c '.data.pids' <<< "$stats")" = "{\"current\":1,\"limit\":$(cat "$pdir/pids.max")}"
check "events --stats: memory usage" test "$(jq '.data.memory.usage.usage' <<< "$stats")" -gt 0
$R delete -f cpu
check "delete removes the cgroup" test ! -d "$mdir"
check "events --stats of a deleted container fails" eval "! $R events --stats cpu 2> /dev/null"

bundle dev sh -c 'head -c1 /dev/zero > /dev/null && echo zero-ok; mknod /tmp/m c 1 1; echo mem=$?; mknod /tmp/n c 1 3; echo null=$?'
jset dev '.linux.resources.devices=[{"allow":false,"access":"rwm"}]
  | .process.capabilities |= with_entries(.value += ["CAP_MKNOD"])'
(cd "$T/dev" && $R run dev < /dev/null > "$T/dev.out" 2>&1)
check "default devices allowed under deny-all" grep -qx zero-ok "$T/dev.out"
check "device rules deny mknod of /dev/mem (CAP_MKNOD held)" grep -qx 'mem=1' "$T/dev.out"
check "device rules allow mknod of the null device" grep -qx 'null=0' "$T/dev.out"
finish
