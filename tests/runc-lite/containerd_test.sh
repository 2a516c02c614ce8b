#!/bin/bash
# End-to-end with containerd's io.containerd.runc.v2 shim: a private containerd (own config,
# root, state and socket under a temp dir), a locally built OCI image of the busybox rootfs,
# `ctr run --runc-binary runc-lite`, task exec/ps/pause/resume/kill, tty.
source "$(dirname "$0")/lib.sh"
for t in containerd ctr umoci script; do command -v $t > /dev/null || skip "$t not installed"; done
bundle img true
source "$TEST_DIR/../private_containerd.sh"
start_private_containerd "$T/ctd"
ctd_pid=$CTD_PID
trap 'kill $ctd_pid 2>/dev/null; wait $ctd_pid 2>/dev/null; umount -R "$T/ctd/root" 2>/dev/null; cleanup' EXIT
import_rootfs_image "$T" "$T/img/rootfs" localhost/rl
check "image imported" bash -c "$C images ls -q | grep -q localhost/rl:latest"
RL=$(readlink -f "$RUNC_LITE")
out=$(timeout 60 $C run --runc-binary "$RL" --rm localhost/rl:latest t1 sh -c 'echo hello-ctr; exit 3')
rc=$?
check "ctr run --rm prints output" contains "$out" hello-ctr
check "ctr run returns the exit code" test $rc = 3
$C run -d --runc-binary "$RL" localhost/rl:latest t2 sleep 1000
check "ctr run -d" bash -c "$C task ls | grep -q 't2 .*RUNNING'"
out=$(timeout 30 $C task exec --exec-id e1 t2 sh -c 'echo in-exec; exit 4')
rc=$?
check "task exec output" contains "$out" in-exec
check "task exec exit code" test $rc = 4
pid=$($C task ls | awk '$1=="t2"{print $2}')
check "task ps lists init" bash -c "$C task ps t2 | grep -q '^$pid '"
out=$(timeout 30 script -qec "$C task exec -t --exec-id e2 t2 tty" /dev/null)
check "task exec -t gets a pty" contains "$out" /dev/pts/
$C task pause t2
check "task pause" bash -c "$C task ls | grep -q 't2 .*PAUSED'"
$C task resume t2
check "task resume" bash -c "$C task ls | grep -q 't2 .*RUNNING'"
$C task kill -s KILL t2
for i in $(seq 50); do $C task ls | grep -q 't2 .*STOPPED' && break; sleep 0.1; done
check "task kill" bash -c "$C task ls | grep -q 't2 .*STOPPED'"
$C task rm t2 > /dev/null 2>&1; $C containers rm t2
out=$(timeout 60 script -qec "$C run -t --runc-binary $RL --rm localhost/rl:latest t3 tty" /dev/null)
check "ctr run -t gets a pty" contains "$out" /dev/pts/
out=$(timeout 60 $C run --runc-binary "$RL" --rm localhost/rl:latest t4 /nonexistent 2>&1)
check "exec failure is reported through containerd" contains "$out" "exec /nonexistent"
finish
