#!/bin/bash
# `kill` then `delete` right away: once init dies of the signal, `delete` (no --force) succeeds
# instead of finding it "running" - for SIGKILL, for a signal the program exits on from its
# handler, and for a container started with `run --detach`.
source "$(dirname "$0")/lib.sh"
wait_for() {  # wait_for FILE: bounded wait for the program to say it is ready
  for _ in $(seq 500); do [[ -e $1 ]] && return 0; sleep 0.01; done; return 1
}
for i in 1 2 3; do
  bundle k$i sleep 100
  (cd "$T/k$i" && $R create k$i < /dev/null > /dev/null 2>&1) && $R start k$i
  $R kill k$i KILL
  out=$($R delete k$i 2>&1)
  check "kill KILL; delete ($i): $out" test -z "$out"
  check "  ... state gone" bash -c "! $R state k$i > /dev/null 2>&1"
done

bundle term sh -c 'trap "exit 3" TERM; touch /ready; sleep 100 & wait'
(cd "$T/term" && $R create term < /dev/null > /dev/null 2>&1) && $R start term
check "the program traps TERM" wait_for "$T/term/rootfs/ready"
$R kill term TERM
out=$($R delete term 2>&1)
check "kill TERM (handled, exits); delete: $out" test -z "$out"

bundle det sleep 100
(cd "$T/det" && $R run -d det < /dev/null > /dev/null 2>&1)
check "run -d: running" test "$(status_of det)" = running
$R kill det SIGKILL
out=$($R delete det 2>&1)
check "run -d; kill SIGKILL; delete: $out" test -z "$out"

# Still refused for a container that keeps running (a pid-namespace init drops an unhandled TERM).
bundle live sleep 100
(cd "$T/live" && $R run -d live < /dev/null > /dev/null 2>&1)
$R kill live TERM
out=$($R delete live 2>&1)
check "delete of a still-running container refused" contains "$out" "not stopped: running"
$R delete -f live
finish
