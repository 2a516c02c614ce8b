#!/bin/bash
# All six hook kinds run in the order and place the OCI spec defines, each with only its own env
# and the state on stdin; a hook that overruns its timeout fails the create.
source "$(dirname "$0")/lib.sh"
bundle h sh -c 'echo program >> /hooks.log'
log=$T/h/rootfs/hooks.log
cat > "$T/hook.sh" <<HOOK
#!/bin/sh
# \$1 = hook name; logs name, the state's status, whether the runtime's env leaked, its own env,
# and what the container's pid is running (poststart must see the program, never runc-lite's init).
state=\$(/bin/busybox head -c 4096)
status=\$(echo "\$state" | /usr/bin/jq -r .status)
pid=\$(echo "\$state" | /usr/bin/jq -r '.pid // 0')
exe=\$(/bin/busybox readlink /proc/\$pid/exe 2>/dev/null || echo gone)
echo "\$1 \$status leak=\${RUNC_LITE:-none} own=\${HOOKVAR:-unset} exe=\$exe" >> $log
HOOK
chmod +x "$T/hook.sh"
cat > "$T/h/rootfs/hook.sh" <<'HOOK'
#!/bin/sh
echo "$1 $(head -c 4096 | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"') own=${HOOKVAR:-unset}" >> /hooks.log
HOOK
chmod +x "$T/h/rootfs/hook.sh"
hk() { echo "{\"path\":\"$1\",\"args\":[\"hook.sh\",\"$2\"],\"env\":[\"HOOKVAR=$2\"]}"; }
jset h ".hooks={
  \"prestart\":[$(hk "$T/hook.sh" prestart)],
  \"createRuntime\":[$(hk "$T/hook.sh" createRuntime)],
  \"createContainer\":[$(hk "$T/hook.sh" createContainer)],
  \"startContainer\":[$(hk /hook.sh startContainer)],
  \"poststart\":[$(hk "$T/hook.sh" poststart)],
  \"poststop\":[$(hk "$T/hook.sh" poststop)]}"
cd "$T/h"
$R create h < /dev/null
check "create with hooks" test $? = 0
$R start h
sleep 0.5
$R delete h
# The program and the poststart hooks run at the same time (the spec calls poststart after the
# program is started, not after it wrote anything), so "program" may land on either side of it.
order=$(cut -d' ' -f1 "$log" | grep -v '^program$' | tr '\n' ' ')
check "hook order: $order" test "$order" = "prestart createRuntime createContainer startContainer poststart poststop "
check "the program ran after startContainer, before poststop" bash -c "cut -d' ' -f1 $log | tr '\\n' ' ' | grep -q 'startContainer .*program .*poststop'"
check "poststart saw the program, not runc-lite's init" bash -c "! grep '^poststart' $log | grep -q runc-lite"
check "each hook gets only its own env" bash -c "! grep -q 'leak=/' $log && test \$(grep -c 'own=' $log) = 6 && ! grep -q own=unset $log"
check "state on stdin (creating/created/running/stopped)" bash -c "grep -q '^createRuntime creating' $log && grep -q '^startContainer created' $log && grep -q '^poststart running' $log && grep -q '^poststop stopped' $log"

bundle slow true
jset slow '.hooks={"createRuntime":[{"path":"/bin/sleep","args":["sleep","10"],"timeout":1}]}'
start=$(date +%s)
out=$(cd "$T/slow" && $R create slow 2>&1 < /dev/null)
check "hook timeout fails the create" contains "$out" "timed out"
check "within the timeout" test $(( $(date +%s) - start )) -lt 5
check "failed create leaves no state" bash -c "! $R state slow 2>/dev/null"
bundle orphan sleep 100
jset orphan '.hooks={"createRuntime":[{"path":"/bin/sh","args":["sh","-c","kill -9 $PPID"]}]}'
(cd "$T/orphan" && $R create orphan < /dev/null > /dev/null 2>&1)
sleep 0.5
left=$(cat /sys/fs/cgroup/pids/runc-lite/orphan/cgroup.procs /sys/fs/cgroup/runc-lite/orphan/cgroup.procs 2>/dev/null | wc -l)
check "init does not outlive a SIGKILLed create" test "$left" = 0
check "delete --force cleans up after it" $R delete --force orphan

bundle slow2 sh -c 'echo program-ran'
jset slow2 '.hooks={"startContainer":[{"path":"/bin/sleep","args":["sleep","10"],"timeout":1}]}'
start=$(date +%s)
out=$(cd "$T/slow2" && $R run slow2 2>&1 < /dev/null)
check "startContainer hook timeout stops the container" contains "$out" "startContainer hook timed out"
check "the program did not run" bash -c "! grep -q program-ran <<< '$out'"
check "within the timeout (startContainer)" test $(( $(date +%s) - start )) -lt 5
finish
