#!/bin/bash
# The default device nodes and /dev entries exist in every container, as runc makes them, also
# when the config mounts no tmpfs on /dev (they are then made in the rootfs's own /dev).
source "$(dirname "$0")/lib.sh"
list='for n in null zero full random urandom tty; do [ -c /dev/$n ] && echo $n; done;'
list+=' [ -L /dev/ptmx ] && echo ptmx; [ -d /dev/pts ] && echo pts; [ -d /dev/shm ] && echo shm;'
list+=' [ "$(readlink /dev/fd)" = /proc/self/fd ] && echo fd; [ -L /dev/stdin ] && echo stdin;'
list+=' head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-writable'
want="null zero full random urandom tty ptmx pts shm fd stdin 4 null-writable "
bundle tmp sh -c "$list"
(cd "$T/tmp" && $R run tmp < /dev/null > "$T/tmp.out" 2>&1)
check "with a /dev tmpfs: $(tr '\n' ' ' < "$T/tmp.out")" test "$(tr '\n' ' ' < "$T/tmp.out")" = "$want"

bundle bare sh -c "$list"
jset bare '.mounts |= map(select(.destination | startswith("/dev") | not))'
(cd "$T/bare" && $R run bare < /dev/null > "$T/bare.out" 2>&1)
check "without any /dev mount: $(tr '\n' ' ' < "$T/bare.out")" test "$(tr '\n' ' ' < "$T/bare.out")" = "$want"
check "  ... made in the rootfs's own /dev" test -c "$T/bare/rootfs/dev/null"
finish
