#!/bin/bash
# Capability names this kernel or libcap does not know are warned about and skipped (the
# container starts with the rest); `exec --cap` adds a capability to the exec'd process's
# bounding, effective and permitted sets.
source "$(dirname "$0")/lib.sh"
has_bit() { (( (16#$1 >> $2) & 1 )); }  # has_bit HEXMASK BIT
bundle unk sh -c 'grep -E "^Cap(Eff|Bnd):" /proc/self/status'
jset unk '.process.capabilities |= with_entries(.value += ["CAP_FROM_THE_FUTURE", "NOT_A_CAPABILITY"])'
(cd "$T/unk" && $R run unk < /dev/null > "$T/unk.out" 2> "$T/unk.err")
check "unknown capabilities: the container ran" test $? = 0
check "  ... a warning names each" bash -c "grep -q CAP_FROM_THE_FUTURE '$T/unk.err' && grep -q NOT_A_CAPABILITY '$T/unk.err'"
eff=$(awk '/^CapEff/ {print $2}' "$T/unk.out")
check "  ... the known ones are applied (CAP_KILL effective: $eff)" has_bit "$eff" 5

CAP_NET_RAW=13
bundle ex sleep 100
(cd "$T/ex" && $R run -d ex < /dev/null > /dev/null 2>&1)
out=$($R exec ex grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status)
for set in Eff Prm Bnd; do
  m=$(awk -v s="Cap$set:" '$1 == s {print $2}' <<< "$out")
  check "without --cap: CAP_NET_RAW not in Cap$set ($m)" eval "! has_bit $m $CAP_NET_RAW"
done
out=$($R exec --cap CAP_NET_RAW ex grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status)
for set in Eff Prm Bnd; do
  m=$(awk -v s="Cap$set:" '$1 == s {print $2}' <<< "$out")
  check "exec --cap CAP_NET_RAW: in Cap$set ($m)" has_bit "$m" $CAP_NET_RAW
done
check "exec --cap: the container's own set is unchanged" test \
  "$(awk '/^CapEff/ {print $2}' /proc/$($R state ex | jq .pid)/status)" = "$(awk '/^CapEff/ {print $2}' <<< "$($R exec ex cat /proc/self/status)")"
$R delete -f ex
finish
