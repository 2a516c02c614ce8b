#!/bin/bash
# Attacks a runtime must resist, each tried for real.
source "$(dirname "$0")/lib.sh"

# 1. A mount destination that is a symlink pointing out of the rootfs lands inside the rootfs
#    (resolved as if the rootfs were /; CVE-2021-30465 class).
bundle esc sh -c 'grep -c " /outside " /proc/self/mountinfo; echo data > /evil/marker'
mkdir -p "$T/outside"
ln -s /../../../../../..$T/outside "$T/esc/rootfs/evil"
jset esc '.mounts += [{"destination":"/evil","type":"tmpfs","source":"tmpfs"}]'
(cd "$T/esc" && $R run esc < /dev/null > "$T/esc.out" 2>&1)
check "symlinked mount destination resolved inside the rootfs" test -d "$T/esc/rootfs$T/outside"
check "host directory behind the symlink untouched" test -z "$(ls -A "$T/outside")"

# 2. A bundle that mounts something other than procfs on /proc is refused.
bundle np true
jset np '.mounts |= map(if .destination == "/proc" then .type="tmpfs" | .source="tmpfs" else . end)'
out=$(cd "$T/np" && $R run np 2>&1 < /dev/null)
check "non-procfs mount onto /proc refused" contains "$out" non-procfs

# 3. No fd of the runtime leaks into the container, even ones the caller leaked to us.
bundle fd sh -c 'ls /proc/self/fd'
(cd "$T/fd" && exec 7</ 8>"$T/leak" && $R run fd < /dev/null > "$T/fd.out" 2>&1)
check "only stdio (and ls's own dir fd) inside" test "$(tr -d '\n' < "$T/fd.out")" = "0123"

# 4. CVE-2024-21626: a cwd through a leaked host directory fd must not be accepted.
bundle cwd sh -c 'pwd; ls'
jset cwd '.process.cwd="/proc/self/fd/7"'
out=$(cd "$T/cwd" && exec 7</sys/fs/cgroup && $R run cwd 2>&1 < /dev/null)
check "cwd via a leaked fd refused" contains "$out" "outside the container root"

# 5. The runtime binary is not reachable from the container: init never re-execs it, and while
#    init is still a copy of the runtime (created state) its /proc/1/exe cannot be opened.
bundle exe sleep 100
(cd "$T/exe" && $R create exe < /dev/null > /dev/null 2>&1)
out=$($R exec exe sh -c 'cat /proc/1/exe > /dev/null && echo OPENED' 2>&1)
check "created init's /proc/1/exe not openable from an exec" contains "$out" "Permission denied"
$R start exe
sleep 0.2
check "running init's exe is the container binary" test "$($R exec exe readlink /proc/1/exe)" = /bin/busybox
$R delete -f exe

# 6. Masked paths are masked with the verified /dev/null; a fake /dev/null is refused.
bundle mk sh -c 'cat /proc/kcore | wc -c'
(cd "$T/mk" && $R run mk < /dev/null > "$T/mk.out" 2>&1)
check "masked /proc/kcore reads empty" grep -qx 0 "$T/mk.out"
bundle fake true
jset fake '.linux.devices=[{"path":"/dev/null","type":"c","major":1,"minor":5}]'
out=$(cd "$T/fake" && $R run fake 2>&1 < /dev/null)
check "a /dev/null that is not 1:3 is refused for masking" contains "$out" "not the null device"

# 7. seccomp is installed last: the runtime's own setup is unaffected by a filter that denies
#    syscalls it needs (mount, chdir), while the program is restricted.
bundle sl sh -c 'cd /tmp; echo cd=$?'
jset sl '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount","pivot_root","chdir","fchdir"],"action":"SCMP_ACT_ERRNO"}]}'
(cd "$T/sl" && $R run sl < /dev/null > "$T/sl.out" 2>&1)
check "setup succeeded under a filter denying mount/chdir; program denied chdir" grep -q "can't cd to /tmp: Operation not permitted" "$T/sl.out"
finish
