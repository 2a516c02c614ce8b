#!/bin/bash
# exec: --env K=V replaces the config's K; --user NAME[:GROUP] is resolved through the
# container's /etc/passwd and /etc/group (supplementary groups and HOME from them); --pid-file
# names the exec'd process.
source "$(dirname "$0")/lib.sh"
bundle ex sleep 100
cat >> "$T/ex/rootfs/etc/passwd" <<'P'
alice:x:1234:2345:Alice:/home/alice:/bin/sh
bob:x:1500:1500::/srv/bob:/bin/sh
P
cat >> "$T/ex/rootfs/etc/group" <<'G'
staff:x:2345:
audio:x:63:alice,bob
video:x:44:alice
G
jset ex '.process.env = ["PATH=/bin", "FOO=config"]'
(cd "$T/ex" && $R run -d ex < /dev/null > /dev/null 2>&1)

out=$($R exec --env FOO=cli ex sh -c 'env | grep -c ^FOO=; echo $FOO')
check "exec --env FOO=cli replaces FOO=config ($out)" test "$(tr '\n' ' ' <<< "$out")" = "1 cli "
out=$($R exec --user alice ex sh -c 'id -u; id -g; echo HOME=$HOME')
check "--user alice: uid, primary group and HOME from /etc/passwd ($out)" \
  test "$(tr '\n' ' ' <<< "$out")" = "1234 2345 HOME=/home/alice "
groups=$($R exec --user alice ex id -G | tr ' ' '\n' | sort -n | tr '\n' ' ')
check "--user alice: supplementary groups from /etc/group ($groups)" test "$groups" = "44 63 2345 "
out=$($R exec --user bob:staff ex sh -c 'id -u; id -g; echo HOME=$HOME')
check "--user bob:staff ($out)" test "$(tr '\n' ' ' <<< "$out")" = "1500 2345 HOME=/srv/bob "
out=$($R exec --user 1500:44 ex sh -c 'id -u; id -g')
check "--user 1500:44 numeric ($out)" test "$(tr '\n' ' ' <<< "$out")" = "1500 44 "
out=$($R exec --user mallory ex true 2>&1)
check "--user of an unknown name refused ($out)" contains "$out" "no user mallory"
out=$($R exec --user alice:nogroup ex true 2>&1)
check "--user with an unknown group refused ($out)" contains "$out" "no group nogroup"
# A symlinked /etc/passwd is read inside the rootfs, never from the host.
ln -sf /etc/shadow "$T/ex/rootfs/etc/passwd"
out=$($R exec --user root ex true 2>&1)
check "symlinked /etc/passwd resolved inside the rootfs ($out)" contains "$out" "no user root"

$R exec --detach --pid-file "$T/epid" ex sleep 50
pid=$(cat "$T/epid")
check "exec --pid-file names the exec'd process" test "$(cat /proc/$pid/comm 2>/dev/null)" = sleep
$R delete -f ex
finish
