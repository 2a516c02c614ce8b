#!/bin/bash
# Issue 16, tried for real through the runc-lite binary: ids that do not fit must not run the
# container as root; a rootfs that is the host's /, a config with 150,000 mounts and a signal in
# the middle of create leave nothing behind; a tampered state.json must not make kill/delete
# signal a process outside the container (a bystander this test starts itself).
source "$(dirname "$0")/lib.sh"

no_cgroup() {  # no_cgroup ID: no directory of ID's default cgroup path in any hierarchy
  local d
  for d in /sys/fs/cgroup/*/runc-lite/"$1" /sys/fs/cgroup/runc-lite/"$1"; do
    [[ -e $d ]] && return 1
  done
  return 0
}
alive() { [[ -e /proc/$1 ]] && [[ $(awk '{print $3}' "/proc/$1/stat") != Z ]]; }

# 1. Ids outside 0..4294967294 are refused before anything runs. Without the check, -1 meant
#    "unchanged" (root) to setresuid and 2^32 or 2^40 truncated to 0 (root).
bundle ids sh -c 'id > /ran'
chmod 1777 "$T/ids/rootfs"  # whatever uid the program got, it can leave its mark
cp "$T/ids/config.json" "$T/ids.base"
n=0
try_ids() {  # try_ids DESCRIPTION EXPECTED-ERROR JQ-FILTER
  n=$((n + 1))
  cp "$T/ids.base" "$T/ids/config.json"; jset ids "$3"; rm -f "$T/ids/rootfs/ran"
  local out rc
  out=$(cd "$T/ids" && $R run "ids$n" 2>&1 < /dev/null); rc=$?
  check "$1: refused (exit $rc)" test "$rc" -ne 0
  check "$1: error names the field ($out)" contains "$out" "$2"
  check "$1: the program never ran" test ! -e "$T/ids/rootfs/ran"
  check "$1: no state left" test ! -e "$ROOT/ids$n"
}
# The control: the largest valid id works and the program's mark appears.
cp "$T/ids.base" "$T/ids/config.json"; jset ids '.process.user.uid=4294967294 | .process.user.gid=4294967294'
(cd "$T/ids" && $R run ids0 < /dev/null > /dev/null 2>&1)
check "control: uid 4294967294 runs as that uid" grep -q "uid=4294967294 gid=4294967294" "$T/ids/rootfs/ran"
for v in -1 4294967295 4294967296 1099511627776 1.5; do
  try_ids "process.user.uid $v" "process.user.uid" ".process.user.uid=$v"
done
for v in -1 4294967296; do
  try_ids "process.user.gid $v" "process.user.gid" ".process.user.gid=$v"
done
try_ids "additionalGids [-1]" "additionalGids" '.process.user.additionalGids=[-1]'
try_ids "uidMappings hostID 2^32" "uidMappings" \
  '.linux.namespaces += [{"type":"user"}] | .linux.uidMappings=[{"containerID":0,"hostID":4294967296,"size":1}] | .linux.gidMappings=[{"containerID":0,"hostID":0,"size":1}]'
try_ids "gidMappings size -1" "gidMappings" \
  '.linux.namespaces += [{"type":"user"}] | .linux.uidMappings=[{"containerID":0,"hostID":0,"size":1}] | .linux.gidMappings=[{"containerID":0,"hostID":0,"size":-1}]'
try_ids "device owner uid -1" "linux.devices" \
  '.linux.devices=[{"path":"/dev/xnull","type":"c","major":1,"minor":3,"uid":-1}]'

# exec --user with an id that does not fit.
bundle ex sleep 1000
(cd "$T/ex" && $R create ex < /dev/null > /dev/null 2>&1) && $R start ex
for u in 4294967295 -1 0:4294967296 1.5 0:x; do
  out=$($R exec --user "$u" ex sh -c 'id > /ran-exec' 2>&1); rc=$?
  check "exec --user $u refused ($out)" test "$rc" -ne 0
  check "exec --user $u: error names --user" contains "$out" "--user"
  check "exec --user $u: the command never ran" test ! -e "$T/ex/rootfs/ran-exec"
done
out=$($R exec --user 65534 ex id 2>&1)
check "control: exec --user 65534 runs as 65534 ($out)" contains "$out" "uid=65534"
$R delete -f ex

# 2. A rootfs that resolves to the host's / is refused before anything is made.
bundle slash true
rm -rf "$T/slash/rootfs" && ln -s / "$T/slash/rootfs"
out=$(cd "$T/slash" && $R run slash 2>&1 < /dev/null)
check "rootfs symlinked to / refused ($out)" contains "$out" "resolves to the host's /"
check "rootfs symlinked to /: no state, no cgroup" eval 'test ! -e "$ROOT/slash" && no_cgroup slash'
jset slash '.root.path="/"'
out=$(cd "$T/slash" && $R run slash 2>&1 < /dev/null)
check "root.path / refused ($out)" contains "$out" "resolves to the host's /"

# 3. 150,000 mounts are refused at once, leaving nothing.
bundle many true
jset many -c '.mounts += [range(150000) | {destination: "/m\(.)", type: "tmpfs", source: "tmpfs"}]'
out=$(cd "$T/many" && $R run many 2>&1 < /dev/null)
check "150,000 mounts refused ($out)" contains "$out" "too many mounts (150007; at most 4096)"
check "150,000 mounts: no state, no cgroup" eval 'test ! -e "$ROOT/many" && no_cgroup many'

# 4. SIGTERM while create waits on a createRuntime hook: create fails, kills the hook and the
#    half-made init, and removes its state directory and cgroups.
bundle sig sleep 1000
mkfifo "$T/hook.fifo"
printf '#!/bin/sh\necho $$ > %s\nexec %s 1000\n' "$T/hook.fifo" "$(command -v sleep)" > "$T/hook.sh"
chmod +x "$T/hook.sh"
jset sig --arg h "$T/hook.sh" '.hooks.createRuntime=[{"path":$h}]'
(cd "$T/sig" && exec $R create sig < /dev/null > "$T/sig.out" 2>&1) &
create_pid=$!
hook_pid=$(timeout 60 cat "$T/hook.fifo")  # the hook runs: create is in the middle
check "create reached its hook" test -n "$hook_pid"
check "state and cgroup exist while create runs" eval 'test -d "$ROOT/sig" && ! no_cgroup sig'
kill -TERM "$create_pid"
wait "$create_pid"; rc=$?
check "create interrupted by SIGTERM exits non-zero ($rc)" test "$rc" -ne 0
check "create says it was interrupted ($(cat "$T/sig.out"))" grep -q "interrupted by signal 15" "$T/sig.out"
check "interrupted create: no state directory" test ! -e "$ROOT/sig"
check "interrupted create: no cgroup directory" no_cgroup sig
check "interrupted create: the hook was killed" eval '! alive "$hook_pid"'

# 5. Tampered state. A bystander process of this test must survive kill and delete whatever
#    state.json says.
bundle tam sleep 1000
(cd "$T/tam" && $R create tam < /dev/null > /dev/null 2>&1) && $R start tam
sleep 1000 &
by=$!
st=$ROOT/tam/state.json
cp "$st" "$T/tam.state"
# 5a. pid + start time of the bystander.
forge_pid() {
  jq --argjson p "$by" --argjson s "$(awk '{print $22}' "/proc/$by/stat")" \
    '.pid=$p | .start_time=$s' "$T/tam.state" > "$st"
}
forge_pid
out=$($R kill tam KILL 2>&1)
check "kill with a bystander's pid+start time refused ($out)" contains "$out" "not in the container's cgroup"
check "bystander alive after kill" alive "$by"
out=$($R exec tam true 2>&1)
check "exec with a bystander's pid refused ($out)" contains "$out" "not in the container's cgroup"
# 5b. cgroup_paths naming a plain directory that lists the bystander.
mkdir -p "$T/fakecg" && echo "$by" > "$T/fakecg/cgroup.procs"
jq --arg d "$T/fakecg" '.cgroup_paths |= map_values($d)' "$T/tam.state" > "$st"
out=$($R delete -f tam 2>&1)
check "delete with cgroup_paths at a plain directory refused ($out)" contains "$out" "refusing to touch it"
check "bystander alive after delete -f (plain directory)" alive "$by"
out=$($R kill --all tam KILL 2>&1)
check "kill --all with a forged cgroup refused ($out)" contains "$out" "refusing to touch it"
check "bystander alive after kill --all" alive "$by"
# 5c. cgroup_paths naming a real cgroup (made by this test) that holds the bystander.
cg=/sys/fs/cgroup/pids/runc-lite-hostile-test-$$
if [[ -d /sys/fs/cgroup/pids ]] && mkdir "$cg" 2>/dev/null && echo "$by" > "$cg/cgroup.procs"; then
  jq --arg d "$cg" '.cgroup_paths.pids=$d' "$T/tam.state" > "$st"
  out=$($R delete -f tam 2>&1)
  check "delete with cgroup_paths at another real cgroup refused ($out)" contains "$out" "not the container's"
  check "bystander alive after delete -f (real cgroup)" alive "$by"
else
  echo "note - no v1 pids hierarchy to make a real bystander cgroup in; 5c not run"
fi
# 5d. delete -f with the bystander's pid: the container goes (its real cgroup is emptied), the
#     bystander stays.
forge_pid
$R delete -f tam
check "delete -f with a forged pid: the container is gone" eval 'test ! -e "$ROOT/tam" && no_cgroup tam'
check "bystander alive after delete -f (forged pid)" alive "$by"
# The control: an untampered container is killed through the same verified path.
bundle tam2 sleep 1000
(cd "$T/tam2" && $R create tam2 < /dev/null > /dev/null 2>&1) && $R start tam2
check "control: the container's own init is signalled" $R kill tam2 KILL
$R delete -f tam2
check "control: container deleted, no state, no cgroup" eval 'test ! -e "$ROOT/tam2" && no_cgroup tam2'
check "bystander still alive at the end" alive "$by"
kill "$by"; wait "$by" 2>/dev/null
[[ -d ${cg:-} ]] && rmdir "$cg"
finish
