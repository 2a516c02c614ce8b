#!/bin/bash
# Sysctls reach only the container's own namespaces: a key of a namespace the container shares
# with the host (net.* without a network namespace, the IPC keys without an IPC namespace,
# kernel.hostname without a UTS namespace) and every non-namespaced key (vm.*, kernel.pid_max...)
# is refused before anything runs; allowed keys land inside. The host's values are read before
# and after and must not change.
# The test runs in network, IPC and UTS namespaces of its own, so a runtime that wrongly wrote a
# namespaced key would change only those; the non-namespaced keys it tries are set to the values
# they already have.
if [[ ${RUNC_LITE_SYSCTL_INNER:-} != 1 && $(id -u) == 0 ]]; then
  exec unshare --net --ipc --uts env RUNC_LITE_SYSCTL_INNER=1 bash "$0"
fi
source "$(dirname "$0")/lib.sh"
host_values() {
  cat /proc/sys/net/ipv4/ping_group_range /proc/sys/fs/mqueue/queues_max /proc/sys/kernel/hostname \
    /proc/sys/vm/swappiness /proc/sys/kernel/shmmni /proc/sys/kernel/pid_max
}
before=$(host_values)

refused() {  # refused NAME NAMESPACE-TYPE-TO-DROP KEY VALUE
  local name=$1 drop=$2 key=$3 value=$4
  bundle "$name" sh -c 'echo program-ran'
  jset "$name" --arg d "$drop" --arg k "$key" --arg v "$value" \
    '.linux.namespaces |= map(select(.type != $d)) | .linux.sysctl = {($k): $v} | del(.hostname)'
  local out
  out=$(cd "$T/$name" && $R run "$name" 2>&1 < /dev/null)
  check "$key without a $drop namespace of its own is refused ($out)" contains "$out" "sysctl ${key//\//.}"
  check "  ... and the program did not run" eval '! contains "$out" program-ran'
  check "  ... and no state is left" eval "! $R state $name > /dev/null 2>&1"
}
refused net network net.ipv4.ping_group_range "0 2147483647"
refused mq ipc fs.mqueue.queues_max 77
refused shm ipc kernel.shmmni 77
refused uts uts kernel.hostname evil
refused vm none vm.swappiness "$(cat /proc/sys/vm/swappiness)"
refused pidmax none kernel/pid_max "$(cat /proc/sys/kernel/pid_max)"

# A network namespace given by path that is the host's own counts as shared.
bundle hostnet sh -c 'echo program-ran'
jset hostnet '.linux.namespaces |= map(if .type == "network" then .path = "/proc/'$$'/ns/net" else . end)
  | .linux.sysctl = {"net.ipv4.ip_forward": "1"}'
out=$(cd "$T/hostnet" && $R run hostnet 2>&1 < /dev/null)
check "net.* in the host's network namespace joined by path is refused" contains "$out" "sysctl net.ipv4.ip_forward"

# With namespaces of its own the container gets its values, inside.
bundle own sh -c 'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/fs/mqueue/queues_max /proc/sys/kernel/shmmni /proc/sys/kernel/domainname'
jset own '.linux.sysctl = {"net.ipv4.ping_group_range": "0 0", "fs.mqueue.queues_max": "77",
  "kernel/shmmni": "1234", "kernel.domainname": "inside.test"}'
(cd "$T/own" && $R run own < /dev/null > "$T/own.out" 2>&1)
check "allowed sysctls set inside the container" test "$(tr -s '\t\n' '  ' < "$T/own.out")" = "0 0 77 1234 inside.test "

check "the host's values are unchanged" test "$(host_values)" = "$before"
finish
