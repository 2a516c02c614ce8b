#!/bin/bash
# bench-runtime.sh [RUNC_LITE] — start-up cost of runc-lite vs runc vs crun (not a test).
#
# One busybox bundle running /bin/true, in a private mount namespace with the cgroup layout
# LAYOUT (crun 1.8 refuses this host's hybrid layout, so all three are measured on the layouts
# crun accepts, under equal conditions):
#   LAYOUT=v1 (default): /sys/fs/cgroup shows only the v1 hierarchies (the cgroup2 mount is
#                        unmounted inside the namespace);
#   LAYOUT=v2:           /sys/fs/cgroup is the cgroup2 hierarchy alone.
# Parts:
#   1. `run` end to end: hyperfine -N, ROUNDS rounds of RUNS_PER_ROUND runs per runtime,
#      alternating runtimes between rounds (60 runs each by default);
#   2. the create / start / delete split (hyperfine, 30 runs each);
#   3. peak RSS of the runtime process for `run` (/usr/bin/time -v, max of 5);
#   4. runc-lite's phases: `run --debug` prints "phase NAME at T ms"; the median over 20 runs of
#      each phase's time since the previous one, and the start-up before main (`--version`).
# Prints median and min-max in milliseconds side by side. Needs root, hyperfine, jq, runc,
# crun, busybox-static.
set -euo pipefail
RL=$(readlink -f "${1:-$(dirname "$0")/../build/runc-lite/runc-lite}")
ROUNDS=${ROUNDS:-6}
RUNS_PER_ROUND=${RUNS_PER_ROUND:-10}
LAYOUT=${LAYOUT:-v1}
for t in hyperfine jq runc crun unshare /usr/bin/time; do
  command -v "$t" > /dev/null || { echo "missing: $t" >&2; exit 1; }
done
[[ -x $RL ]] || { echo "runc-lite binary not found: $RL" >&2; exit 1; }
T=$(mktemp -d /tmp/bench-runtime.XXXXXX)
trap 'rm -rf "$T"' EXIT
RUNC_LITE=$RL "$(dirname "$0")/../tests/runc-lite/make_bundle.sh" "$T/b" /bin/true
jq '.ociVersion="1.0.2-dev"' "$T/b/config.json" > "$T/c" && mv "$T/c" "$T/b/config.json"

if [[ ${BENCH_INNER:-} != 1 ]]; then
  # Re-enter in a private mount namespace with the layout asked for.
  case $LAYOUT in
    v1) setup='umount /sys/fs/cgroup/unified 2>/dev/null || true' ;;
    v2) setup='umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup' ;;
    *) echo "LAYOUT must be v1 or v2" >&2; exit 1 ;;
  esac
  exec unshare -m --propagation private env BENCH_INNER=1 BENCH_T="$T" ROUNDS=$ROUNDS \
    RUNS_PER_ROUND=$RUNS_PER_ROUND LAYOUT=$LAYOUT \
    bash -c "$setup"' && exec bash "$0" "$1"' "$0" "$RL"
fi
T=${BENCH_T:-$T}
cd "$T/b"
declare -A CMD=(
  [runc-lite]="$RL --root $T/root-rl"
  [runc]="runc --root $T/root-runc"
  [crun]="crun --root $T/root-crun"
)
NAMES=()
for n in runc-lite runc crun; do  # a runtime that refuses this layout is left out, with its reason
  if err=$(${CMD[$n]} run probe-$n 2>&1 > /dev/null); then NAMES+=("$n"); else
    echo "$n refuses this layout: ${err:0:200}"; fi
done
echo "host: $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); layout: $LAYOUT"
echo "versions: $($RL --version | head -1) | $(runc --version | head -1) | $(crun --version | head -1)"

stats() {  # stats FILE... -> "median min max" in ms over every "times" entry of the JSON exports
  jq -s '[.[].results[0].times[]] | sort | [.[length/2|floor], .[0], .[-1]] | map(. * 1000)
         | "\(.[0]*100|round/100) \(.[1]*100|round/100) \(.[2]*100|round/100)"' -r "$@"
}

echo
echo "== run /bin/true: $((ROUNDS * RUNS_PER_ROUND)) runs each, alternating in $ROUNDS rounds =="
for r in $(seq "$ROUNDS"); do
  for n in "${NAMES[@]}"; do
    hyperfine -N -w 2 --runs "$RUNS_PER_ROUND" --export-json "$T/run.$n.$r.json" \
      "${CMD[$n]} run bench-$n" > /dev/null 2>&1
  done
done
printf '%-10s %10s %20s\n' runtime median "min-max (ms)"
for n in "${NAMES[@]}"; do
  read -r med lo hi <<< "$(stats "$T"/run.$n.*.json)"
  printf '%-10s %10s %20s\n' "$n" "$med" "$lo-$hi"
done

echo
echo "== create / start / delete, 30 runs each (median, min-max ms) =="
printf '%-10s %22s %22s %22s\n' runtime create start delete
for n in "${NAMES[@]}"; do
  c=${CMD[$n]}
  id=split-$n
  hyperfine -N --runs 30 --prepare "sh -c '$c delete -f $id >/dev/null 2>&1; true'" \
    --export-json "$T/create-$n.json" "$c create $id" > /dev/null 2>&1
  hyperfine -N --runs 30 --prepare "sh -c '$c delete -f $id >/dev/null 2>&1; $c create $id'" \
    --export-json "$T/start-$n.json" "$c start $id" > /dev/null 2>&1
  hyperfine -N --runs 30 \
    --prepare "sh -c '$c delete -f $id >/dev/null 2>&1; $c create $id && $c start $id && sleep 0.05'" \
    --export-json "$T/delete-$n.json" "$c delete $id" > /dev/null 2>&1
  $c delete -f $id > /dev/null 2>&1 || true
  row=()
  for phase in create start delete; do
    read -r med lo hi <<< "$(stats "$T/$phase-$n.json")"
    row+=("$med ($lo-$hi)")
  done
  printf '%-10s %22s %22s %22s\n' "$n" "${row[@]}"
done

echo
echo "== peak RSS of the runtime process for run /bin/true (max of 5) =="
for n in "${NAMES[@]}"; do
  peak=0
  for i in 1 2 3 4 5; do
    kb=$( { /usr/bin/time -v ${CMD[$n]} run rss-$n > /dev/null; } 2>&1 |
          awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}')
    (( kb > peak )) && peak=$kb
  done
  printf '%-10s %8s KiB\n' "$n" "$peak"
done

echo
echo "== runc-lite phases (run --debug, 20 runs): median ms since the previous phase =="
for i in $(seq 20); do
  $RL --debug --root "$T/root-rl" run phases 2>&1 | sed -n 's/.*phase \(.*\) at \([0-9.]*\) ms.*/\1\t\2/p' |
    awk -F'\t' '{ printf "%s\t%.3f\n", $1, $2 - prev; prev = $2 }'
done > "$T/phases.tsv"
cut -f1 "$T/phases.tsv" | awk '!seen[$0]++' | while IFS= read -r phase; do
  awk -F'\t' -v p="$phase" '$1 == p { print $2 }' "$T/phases.tsv" | sort -n |
    awk -v p="$phase" '{ v[NR] = $1 } END { printf "  %-58s %7.3f\n", p, v[int((NR + 1) / 2)] }'
done
hyperfine -N -w 3 --runs 30 --export-json "$T/version.json" "$RL --version" > /dev/null 2>&1
read -r med lo hi <<< "$(stats "$T/version.json")"
echo "  process start-up to exit (runc-lite --version, 30 runs)     $med ($lo-$hi)"
