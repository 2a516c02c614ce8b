#!/bin/bash
# N create/start/delete cycles (N=50, RUNC_LITE_LEAK_CYCLES to change) leave nothing behind:
# no mounts, cgroup directories, processes, state directories or fds.
source "$(dirname "$0")/lib.sh"
N=${RUNC_LITE_LEAK_CYCLES:-50}
bundle b sh -c 'exit 0'
cd "$T/b"
count_cgroups() { find /sys/fs/cgroup -type d -path '*runc-lite/leak*' 2>/dev/null | wc -l; }
# Only mounts that involve this test's files count: other tests on the machine mount things too.
our_mounts() { grep -c -e "$T" -e runc-lite /proc/self/mountinfo; }
mounts0=$(our_mounts)
fds0=$(ls /proc/$$/fd | wc -l)
for i in $(seq "$N"); do
  $R create --pid-file "$T/pid" leak$i < /dev/null > /dev/null 2>&1 || { echo "create $i failed"; break; }
  $R start leak$i || break
  for j in $(seq 100); do [[ $(status_of leak$i) == stopped ]] && break; sleep 0.02; done
  $R delete leak$i || break
done
sleep 0.5
check "$N cycles: no state left" test -z "$(ls "$ROOT")"
check "no cgroup directories left" test "$(count_cgroups)" = 0
check "no mounts left (of the bundle, rootfs or runc-lite)" test "$(our_mounts)" = "$mounts0"
# Exited inits are reparented to the machine's init (there is no shim here); zombies waiting for
# it to reap them are not leaks.
left=0
for f in $(grep -l 'runc-lite/leak' /proc/[0-9]*/cgroup 2>/dev/null); do
  st=$(awk '{print $3}' "${f%/cgroup}/stat" 2>/dev/null)
  [[ -n $st && $st != Z ]] && left=$((left + 1))
done
check "no live processes left in container cgroups" test "$left" = 0
check "no fds leaked into the caller" test "$(ls /proc/$$/fd | wc -l)" = "$fds0"
check "no zombies of ours" test -z "$(ps -o stat= --ppid $$ | grep Z)"
finish
