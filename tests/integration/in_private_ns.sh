#!/bin/sh
# Runs a test in a mount namespace of its own (as root, with unshare): its mounts vanish with it,
# and no test running beside it (ctest -j2) takes copies of them into a namespace it creates, which
# would keep a FUSE connection, and its daemon, alive after the test unmounted it. Not root: runs
# it as it is (the tests that need root skip).
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then
  exec unshare -m --propagation private "$@"
fi
exec "$@"
