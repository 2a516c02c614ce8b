# Sourced by the runc-lite root integration tests. Provides: $R (runc-lite with a private
# --root), $T (a temp dir removed on exit), bundle NAME ARGS... (a busybox bundle at $T/NAME),
# jset NAME JQ (edit NAME's config.json), check/fail, and skip REASON (exit 77).
set -uo pipefail
skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root"
: "${RUNC_LITE:?set RUNC_LITE to the runc-lite binary}"
TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d /tmp/runc-lite-test.XXXXXX)
chmod 755 "$T"  # user-namespaced containers must reach their rootfs
ROOT=$T/state
R="$RUNC_LITE --root $ROOT"
FAILS=0
cleanup() {
  for id in $($R list -q 2>/dev/null); do $R delete -f "$id" >/dev/null 2>&1; done
  rm -rf "$T"
}
[[ -n ${KEEP:-} ]] || trap cleanup EXIT
bundle() {
  local name=$1; shift
  RUNC_LITE=$RUNC_LITE "$TEST_DIR/make_bundle.sh" "$T/$name" "$@" || exit $?
}
jset() {  # jset NAME [jq options...] FILTER
  local f=$T/$1/config.json; shift
  jq "$@" "$f" > "$f.new" && mv "$f.new" "$f"
}
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; FAILS=$((FAILS + 1)); fi
}
contains() { [[ $1 == *"$2"* ]]; }
finish() { echo "$FAILS failure(s)"; [[ $FAILS == 0 ]]; exit $?; }
status_of() { $R state "$1" 2>/dev/null | jq -r .status; }
