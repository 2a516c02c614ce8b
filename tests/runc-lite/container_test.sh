#!/bin/bash
# What the container looks like inside: namespaces, hostname, mounts, devices, masked and
# read-only paths, sysctls, rlimits, user, capabilities, seccomp, user namespaces, tty.
source "$(dirname "$0")/lib.sh"
run_in() {  # run_in BUNDLE: runs it, stdout to $T/BUNDLE.out, returns the exit code
  (cd "$T/$1" && $R run "$1" < /dev/null > "$T/$1.out" 2> "$T/$1.err")
}
bundle ns sh -c 'hostname; cat /proc/1/cmdline | tr "\0" " "; echo; ls /dev; mount; ulimit -n; id; umask; cat /proc/sys/net/ipv4/ip_forward; grep CapBnd /proc/self/status; cat /proc/kcore | wc -c; touch /proc/sys/x 2>&1; touch /rofile 2>&1; ls -l /dev/null /dev/fd; cat /proc/self/oom_score_adj'
jset ns '.hostname="boxy" | .root.readonly=true | .linux.sysctl={"net.ipv4.ip_forward":"1"}
  | .process.rlimits=[{"type":"RLIMIT_NOFILE","soft":123,"hard":456}]
  | .process.user={"uid":1000,"gid":1000,"additionalGids":[10],"umask":63}
  | .process.oomScoreAdj=100
  | .process.capabilities={"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"],"inheritable":[],"ambient":[]}
  | .process.noNewPrivileges=true
  | .linux.devices=[{"path":"/dev/mydev","type":"c","major":1,"minor":3,"fileMode":438}]'
run_in ns
check "container runs" test $? = 0
out=$T/ns.out
check "hostname set" grep -qx boxy "$out"
check "program is pid 1" grep -q '^sh -c' "$out"
check "default devices exist" bash -c "grep -qx null $out && grep -qx urandom $out && grep -qx ptmx $out && grep -qx mydev $out"
check "/dev/fd symlink" grep -q 'fd -> /proc/self/fd' "$out"
check "/dev/null is a char device" grep -q '^crw.* /dev/null' "$out"
check "rootfs read-only" grep -q 'rofile.*Read-only' "$out"
check "readonlyPaths /proc/sys" grep -q 'on /proc/sys type proc (ro' "$out"
check "maskedPaths /proc/kcore is empty" grep -qx 0 "$out"
check "sysctl applied" grep -qx 1 "$out"
check "rlimit applied" grep -qx 123 "$out"
check "user and groups" grep -q 'uid=1000 gid=1000 groups=10' "$out"
check "umask" grep -qx 0077 "$out"
check "bounding set reduced to CAP_KILL+CAP_CHOWN" grep -q 'CapBnd:.*0000000000000021' "$out"
check "oom_score_adj" grep -qx 100 "$out"

bundle hm sh -c 'echo home=$HOME; pwd'
jset hm '.process.env=["PATH=/bin"] | .process.cwd="/new/work/dir"'
run_in hm
check "HOME from the container's /etc/passwd when unset" grep -qx 'home=/root' "$T/hm.out"
check "missing cwd is created" grep -qx '/new/work/dir' "$T/hm.out"

bundle cg sh -c 'ls /sys/fs/cgroup; mkdir /sys/fs/cgroup/x 2>&1; cat /sys/fs/cgroup/pids/pids.max'
jset cg '.linux.resources.pids={"limit":42}'
run_in cg
if [[ -d /sys/fs/cgroup/pids ]]; then
  check "cgroup mount shows the container's own pids cgroup" grep -qx 42 "$T/cg.out"
fi
check "cgroup mount read-only" grep -q 'Read-only' "$T/cg.out"

bundle sc sh -c 'mkdir /tmp/x; echo mkdir=$?; touch /tmp/y; echo touch=$?'
jset sc '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}'
run_in sc
check "seccomp denies mkdir" grep -qx 'mkdir=1' "$T/sc.out"
check "seccomp errnoRet used (EACCES)" grep -q 'Permission denied' "$T/sc.err"
check "seccomp allows the rest" grep -qx 'touch=0' "$T/sc.out"
bundle sa sh -c 'echo hi; touch /tmp/rc$?; ls /nonexistent'
jset sa '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["write"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}'
run_in sa
check "seccomp arg filter: write(1) denied" test -e "$T/sa/rootfs/tmp/rc1"
check "seccomp arg filter: write(2) allowed" grep -q nonexistent "$T/sa.err"

bundle cp sh -c 'grep -E "Cap(Eff|Amb)" /proc/self/status'
jset cp '.process.user={"uid":1000,"gid":1000}
  | .process.capabilities={"bounding":["CAP_NET_RAW","CAP_KILL"],"effective":["CAP_NET_RAW"],"permitted":["CAP_NET_RAW"],"inheritable":["CAP_NET_RAW"],"ambient":["CAP_NET_RAW"]}'
run_in cp
check "ambient capability survives exec as non-root" grep -q 'CapAmb:.*0000000000002000' "$T/cp.out"
check "effective = ambient only" grep -q 'CapEff:.*0000000000002000' "$T/cp.out"

bundle un sh -c 'id; cat /proc/self/uid_map; touch /x && echo wrote'
jset un '.linux.namespaces += [{"type":"user"}] | .linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}]
  | .linux.gidMappings=[{"containerID":0,"hostID":100000,"size":65536}]
  | .mounts |= map(select(.destination != "/sys" and .destination != "/sys/fs/cgroup"))'
chown -R 100000:100000 "$T/un/rootfs"
run_in un
check "user namespace: root inside" grep -q 'uid=0(root)' "$T/un.out"
check "user namespace: uid map" grep -q '0 *100000 *65536' "$T/un.out"

for prop in rshared shared rslave private; do
  bundle p-$prop true
  jset p-$prop --arg p $prop '.linux.rootfsPropagation=$p'
  run_in p-$prop
  check "rootfsPropagation $prop" test $? = 0
done
(cd "$T/p-private" && $R run --no-pivot nopivot < /dev/null > /dev/null 2>&1)
check "--no-pivot" test $? = 0

bundle na sleep 100
jset na '.hostname="joined-host"'
(cd "$T/na" && $R run -d na < /dev/null > /dev/null 2>&1)
pa=$($R state na | jq .pid)
bundle nb sh -c 'hostname; cat /proc/uptime; ps'
jset nb --arg p "$pa" 'del(.hostname) | .linux.namespaces=(.linux.namespaces|map(
    if .type=="uts" then .path="/proc/\($p)/ns/uts" elif .type=="pid" then .path="/proc/\($p)/ns/pid" else . end))
  + [{"type":"time"}] | .linux.timeOffsets={"boottime":{"secs":864000,"nanosecs":0}}'
run_in nb
check "joins a uts namespace by path" grep -qx joined-host "$T/nb.out"
check "joins a pid namespace by path (sees the other init)" grep -q 'sleep 100' "$T/nb.out"
check "time namespace boottime offset" test "$(cut -d. -f1 < <(grep -E '^[0-9]+\.[0-9]+ ' "$T/nb.out"))" -gt 864000
$R delete -f na

[[ -x ${RUNC_LITE_HELPERS:-}/runc_lite_recvtty ]] || { echo "SKIP tty part: runc_lite_recvtty not built"; finish; }
bundle tn sh -c 'tty; echo tty-ok'
jset tn '.process.terminal=true'
timeout 20 "$RUNC_LITE_HELPERS/runc_lite_recvtty" "$T/tty.sock" > "$T/tty.out" &
rpid=$!
for i in $(seq 50); do [[ -S $T/tty.sock ]] && break; sleep 0.05; done
$R create --bundle "$T/tn" --console-socket "$T/tty.sock" tn < /dev/null
check "create with --console-socket" test $? = 0
$R start tn
wait $rpid
check "console socket received the pty master" grep -q RECEIVED_PTY "$T/tty.out"
check "process has a tty" grep -q '/dev/pts/0' "$T/tty.out"
$R delete -f tn
finish
