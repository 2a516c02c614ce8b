#!/bin/bash
# Lifecycle as containerd's shim drives it: create/start/state/kill/delete, run exit codes,
# signals, exec, ps, list, pause/resume, error wording and the JSON error log.
source "$(dirname "$0")/lib.sh"
bundle b sh -c 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.05; done'
cd "$T/b"

$R create --bundle "$T/b" --pid-file "$T/pid" c1 > "$T/out" 2>&1 < /dev/null
check "create succeeds" test $? = 0
check "pid file is digits only" grep -qxE '[0-9]+' "$T/pid"
pid=$(cat "$T/pid")
check "state is created" test "$(status_of c1)" = created
check "state pid matches pid file" test "$($R state c1 | jq .pid)" = "$pid"
check "init is blocked (not yet running the program)" bash -c "! grep -q ready '$T/out'"
check "init is in its cgroup before start" grep -q "pids:/runc-lite/c1" /proc/$pid/cgroup
check "state has bundle/rootfs/created/owner" bash -c "$R state c1 | jq -e '.bundle and .rootfs and .created and (.owner != null)' >/dev/null"
$R start c1
check "start succeeds" test $? = 0
sleep 0.3
check "program runs after start" grep -q ready "$T/out"
check "state is running" test "$(status_of c1)" = running
check "exec fifo is gone" test ! -e "$ROOT/c1/exec.fifo"
check "start twice fails" bash -c "! $R start c1 2>/dev/null"
check "ps --format json lists init" bash -c "$R ps --format json c1 | jq -e 'index($pid) != null' >/dev/null"
check "ps (table via ps -ef) shows init" bash -c "$R ps c1 | awk 'NR>1{print \$2}' | grep -qx $pid"
check "ps with ps(1) options" bash -c "$R ps c1 -o pid,comm | grep -q 'sh'"
check "list shows c1" bash -c "$R list | grep -q '^c1 .*running'"
check "list --format json" bash -c "$R list --format json | jq -e '.[0].id == \"c1\"' >/dev/null"
check "exec returns the exit code" bash -c "$R exec c1 sh -c 'exit 9'; test \$? = 9"
check "exec sees the container fs" bash -c "$R exec c1 cat /etc/passwd | grep -q root"
check "exec --env --cwd" bash -c "test \"\$($R exec --env FOO=bar --cwd /tmp c1 sh -c 'echo \$FOO \$(pwd)')\" = 'bar /tmp'"
check "exec is in the container's pid namespace" bash -c "$R exec c1 sh -c 'test \$\$ -lt 100'"
echo '{"args":["sh","-c","exit 3"],"cwd":"/","env":["PATH=/bin"]}' > "$T/proc.json"
check "exec --process" bash -c "$R exec --process $T/proc.json c1; test \$? = 3"
$R exec --detach --pid-file "$T/epid" c1 sleep 100
check "exec --detach writes the pid file" grep -qxE '[0-9]+' "$T/epid"
check "exec'd process is in the container cgroup" grep -q "pids:/runc-lite/c1" /proc/$(cat "$T/epid")/cgroup
$R exec c1 sh -c 'trap "exit 11" TERM; while :; do sleep 0.05; done' &
epid=$!
sleep 0.5
kill -TERM $epid
wait $epid
check "exec forwards SIGTERM to the process" test $? = 11
check "delete of a running container fails" bash -c "! $R delete c1 2>/dev/null"
$R pause c1
check "pause -> paused" test "$(status_of c1)" = paused
check "exec in a paused container fails" bash -c "! $R exec c1 true 2>/dev/null"
$R resume c1
check "resume -> running" test "$(status_of c1)" = running
$R kill c1 TERM
sleep 0.5
check "SIGTERM reaches the trap" grep -q got-term "$T/out"
for i in $(seq 50); do [[ $(status_of c1) == stopped ]] && break; sleep 0.1; done
check "state is stopped after exit" test "$(status_of c1)" = stopped
check "kill of a stopped container says not running" bash -c "$R kill c1 KILL 2>&1 | grep -q 'container not running'"
$R delete c1
check "delete succeeds" test $? = 0
check "state of a deleted container fails" bash -c "$R state c1 2>&1 | grep -q 'container does not exist'"
check "delete --force of an unknown id succeeds" $R delete --force nope
check "cgroup removed" test ! -e /sys/fs/cgroup/pids/runc-lite/c1
$RUNC_LITE --root "$ROOT" --log "$T/log.json" --log-format json kill nope 2>/dev/null
check "json error log line" bash -c "tail -1 $T/log.json | jq -e '.level == \"error\" and .msg == \"container does not exist\" and (.time|test(\"^[0-9]{4}-\"))' >/dev/null"
check "errors exit 1" bash -c "$R state nope 2>/dev/null; test \$? = 1"

bundle r sh -c 'exit 7'
check "run returns the exit code" bash -c "cd $T/r && $R run r1; test \$? = 7"
check "run deletes the container" bash -c "! $R state r1 2>/dev/null"
bundle k sleep 100
(cd "$T/k" && $R run k1 < /dev/null; echo $? > "$T/k.rc") &
for i in $(seq 50); do [[ $(status_of k1) == running ]] && break; sleep 0.1; done
$R kill k1 KILL
wait
check "run reports 128+signal" test "$(cat "$T/k.rc")" = 137
bundle d sleep 100
(cd "$T/d" && $R run --detach d1 < /dev/null > /dev/null 2>&1)
check "run --detach leaves it running" test "$(status_of d1)" = running
$R kill --all d1 KILL
for i in $(seq 50); do [[ $(status_of d1) == stopped ]] && break; sleep 0.1; done
check "kill --all stops it" test "$(status_of d1)" = stopped
$R delete d1
finish
