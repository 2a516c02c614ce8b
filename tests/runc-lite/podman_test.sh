#!/bin/bash
# podman --runtime runc-lite with a private storage root, cgroupfs manager and file events.
source "$(dirname "$0")/lib.sh"
for t in podman umoci; do command -v $t > /dev/null || skip "$t not installed"; done
bundle img true
(cd "$T" && umoci init --layout oci && umoci new --image oci:latest &&
 umoci insert --image oci:latest "$T/img/rootfs" / > /dev/null && (cd oci && tar cf ../img.tar .))
P="podman --root $T/pod/root --runroot $T/pod/run --cgroup-manager cgroupfs --events-backend file --runtime $(readlink -f "$RUNC_LITE")"
trap '$P rm -af > /dev/null 2>&1; umount -R "$T/pod" 2>/dev/null; cleanup' EXIT
$P load -i "$T/img.tar" > /dev/null 2>&1
out=$(timeout 120 $P run --rm --network none localhost/latest sh -c 'echo hello-podman; exit 5' 2>&1)
rc=$?
check "podman run output" contains "$out" hello-podman
check "podman run exit code" test $rc = 5
$P run -d --name p1 --network none localhost/latest sleep 1000 > /dev/null
out=$($P exec p1 sh -c 'echo in-podman-exec' 2>&1)
check "podman exec" contains "$out" in-podman-exec
$P stop -t 1 p1 > /dev/null 2>&1
check "podman stop" bash -c "$P ps -a --format '{{.Status}}' --filter name=p1 | grep -q Exited"
$P rm p1 > /dev/null
finish
