#!/bin/bash
# `start` returns only once the container's program has been exec'd: a signal sent right after it
# reaches the program. With a seccomp profile init has more to do after `start` released it;
# before the fix a PID-namespace init without a handler dropped the signal.
source "$(dirname "$0")/lib.sh"
bundle sig sh -c 'trap "echo got > /got; exit 0" USR1; sleep 100 & wait'
jset sig '.linux.seccomp = {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["kexec_load","open_by_handle_at","bpf","perf_event_open","userfaultfd","add_key",
            "request_key","keyctl","swapon","swapoff","reboot","init_module","finit_module"],
   "action":"SCMP_ACT_ERRNO"}]}'
got=0 exec_ok=0
for i in $(seq 5); do
  rm -f "$T/sig/rootfs/got"
  (cd "$T/sig" && $R create sig < /dev/null > /dev/null 2>&1)
  pid=$($R state sig | jq .pid)
  $R start sig
  # When start returns, init is the program already, never runc-lite still setting up.
  exe=$(readlink /proc/$pid/exe)
  [[ $exe == */bin/busybox ]] && exec_ok=$((exec_ok + 1)) || echo "init's exe after start: $exe"
  $R kill sig USR1
  for _ in $(seq 300); do [[ $(status_of sig) == stopped ]] && break; sleep 0.01; done
  [[ -e $T/sig/rootfs/got ]] && got=$((got + 1))
  $R delete -f sig
done
check "start returned after the program's execve $exec_ok/5 times" test $exec_ok = 5
check "start; kill USR1 reached the program $got/5 times" test $got = 5
finish
