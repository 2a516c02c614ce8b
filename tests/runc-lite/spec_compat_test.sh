#!/bin/bash
# Configs written by `runc spec` and `crun spec` start unchanged (only the rootfs is ours):
# their ambient capabilities are not in the inheritable set, which runc and crun skip with a
# warning; so does runc-lite. The terminal they ask for goes to a --console-socket.
source "$(dirname "$0")/lib.sh"
[[ -x ${RUNC_LITE_HELPERS:-}/runc_lite_recvtty ]] || skip "runc_lite_recvtty not built"
tried=0
for peer in runc crun; do
  command -v $peer > /dev/null || { echo "no $peer here: its spec not tried"; continue; }
  tried=$((tried + 1))
  bundle $peer true
  rm "$T/$peer/config.json"
  (cd "$T/$peer" && $peer spec) || { check "$peer spec" false; continue; }
  timeout 20 "$RUNC_LITE_HELPERS/runc_lite_recvtty" "$T/$peer.sock" > "$T/$peer.tty" &
  for _ in $(seq 100); do [[ -S $T/$peer.sock ]] && break; sleep 0.05; done
  $R create --bundle "$T/$peer" --console-socket "$T/$peer.sock" $peer < /dev/null 2> "$T/$peer.err"
  check "$peer spec config: create ($(head -c 300 "$T/$peer.err"))" test "$(status_of $peer)" = created
  $R start $peer
  check "$peer spec config: running its interactive sh" test "$(status_of $peer)" = running
  if jq -e '.process.capabilities.ambient | length > 0' "$T/$peer/config.json" > /dev/null; then
    check "$peer spec config: the unraisable ambient capabilities are warned about" \
      grep -q "ambient capability" "$T/$peer.err"
  fi
  $R delete -f $peer
  wait
done
[[ $tried -gt 0 ]] || skip "neither runc nor crun installed"
finish
