#!/usr/bin/env bash
# Conversion benchmarks (issue: foundation). Not a test: prints figures; docs/BENCHMARKS.md keeps
# them. Uses the Debian image family from tools/build-debian-images.sh (built if missing).
#
#   tools/bench-convert.sh [ROUNDS]
#
# 1. Throughput: `imgfs convert` of each image into an empty store, ROUNDS times (default 3),
#    side by side with `umoci unpack` of the same image and a bare `gzip -dc` of its layers
#    (the decompression floor), in the same run. MB/s are of uncompressed layer bytes.
# 2. Dedup: the three images converted into one store: stored bytes against their distinct file
#    content, and against the OCI layout's layer blobs.
# 3. Index size and load time per 10k files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-3}
CACHE=${IMGFS_BENCH_CACHE:-/var/cache/imgfs-bench}
BUILD=${BUILD_DIR:-$ROOT/build}
IMGFS=$BUILD/imgfs/imgfs
[ -d "$CACHE/oci" ] || "$ROOT/tools/build-debian-images.sh" "$CACHE"
WORK=$(mktemp -d /tmp/imgfs-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TAGS=(debian-base debian-python debian-scipy)

stats() {  # prints "median min max" of the numbers on stdin
  sort -g | awk '{v[NR]=$1} END {printf "%.2f %.2f %.2f\n", v[int((NR+1)/2)], v[1], v[NR]}'
}
now() { date +%s.%N; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "== conversion throughput (uncompressed layer MB/s; median, min-max over $ROUNDS rounds)"
printf '%-14s %9s | %-24s | %-24s | %-24s\n' image "input MB" "imgfs convert" "umoci unpack" "gzip -dc (floor)"
for tag in "${TAGS[@]}"; do
  manifest=$(python3 -c "import json,sys; d=json.load(open('$CACHE/oci/index.json'))
print([m['digest'] for m in d['manifests'] if m.get('annotations',{}).get('org.opencontainers.image.ref.name')=='$tag'][0].split(':')[1])")
  layers=$(python3 -c "import json; m=json.load(open('$CACHE/oci/blobs/sha256/$manifest')); print(' '.join(l['digest'].split(':')[1] for l in m['layers']))")
  bytes=0
  for l in $layers; do bytes=$((bytes + $(gzip -dc "$CACHE/oci/blobs/sha256/$l" | wc -c))); done
  mb=$(echo "$bytes / 1000000" | bc -l)
  : >"$WORK/t.imgfs"; : >"$WORK/t.umoci"; : >"$WORK/t.gzip"
  for ((r = 0; r < ROUNDS; r++)); do
    rm -rf "$WORK/store" "$WORK/unpack"; sync; echo 3 >/proc/sys/vm/drop_caches
    t0=$(now); "$IMGFS" convert "oci:$CACHE/oci:$tag" --store "$WORK/store" >/dev/null; t1=$(now)
    echo "$mb / ($t1 - $t0)" | bc -l >>"$WORK/t.imgfs"
    sync; echo 3 >/proc/sys/vm/drop_caches
    t0=$(now); umoci unpack --image "$CACHE/oci:$tag" "$WORK/unpack" >/dev/null 2>&1; t1=$(now)
    echo "$mb / ($t1 - $t0)" | bc -l >>"$WORK/t.umoci"
    sync; echo 3 >/proc/sys/vm/drop_caches
    t0=$(now); for l in $layers; do gzip -dc "$CACHE/oci/blobs/sha256/$l" >/dev/null; done; t1=$(now)
    echo "$mb / ($t1 - $t0)" | bc -l >>"$WORK/t.gzip"
  done
  read -r im imn imx < <(stats <"$WORK/t.imgfs")
  read -r um umn umx < <(stats <"$WORK/t.umoci")
  read -r gm gmn gmx < <(stats <"$WORK/t.gzip")
  printf '%-14s %9.0f | %6.0f (%4.0f-%4.0f) MB/s | %6.0f (%4.0f-%4.0f) MB/s | %6.0f (%4.0f-%4.0f) MB/s\n' \
    "$tag" "$mb" "$im" "$imn" "$imx" "$um" "$umn" "$umx" "$gm" "$gmn" "$gmx"
done
rm -rf "$WORK/unpack"
# The same scipy image with its layers stored as plain tar: the converter without gzip in front.
python3 "$ROOT/tools/bench/uncompressed_layout.py" "$CACHE/oci" debian-scipy "$WORK/plain"
: >"$WORK/t.plain"
for ((r = 0; r < ROUNDS; r++)); do
  rm -rf "$WORK/store"; sync; echo 3 >/proc/sys/vm/drop_caches
  t0=$(now); "$IMGFS" convert "oci:$WORK/plain:debian-scipy" --store "$WORK/store" >/dev/null; t1=$(now)
  echo "$mb / ($t1 - $t0)" | bc -l >>"$WORK/t.plain"
done
read -r pm pmn pmx < <(stats <"$WORK/t.plain")
printf '%-14s %9.0f | %6.0f (%4.0f-%4.0f) MB/s   (the scipy layers stored as plain tar)\n' \
  "debian-scipy" "$mb" "$pm" "$pmn" "$pmx"
rm -rf "$WORK/plain"

echo
echo "== dedup across the family (one store)"
rm -rf "$WORK/store"
for tag in "${TAGS[@]}"; do "$IMGFS" convert "oci:$CACHE/oci:$tag" --store "$WORK/store" --tag "$tag" >/dev/null; done
gc=$("$IMGFS" gc --store "$WORK/store")
read -r _ files_bytes _ unique_bytes < <(python3 "$ROOT/tools/bench/unique_content.py" "$CACHE"/{base,python,scipy}.tar)
store_du=$(du -sb "$WORK/store" | cut -f1)
blobs=$(du -sb "$CACHE/oci/blobs" | cut -f1)
echo "files in the three images: $((files_bytes / 1000000)) MB; distinct file content: $((unique_bytes / 1000000)) MB"
echo "imgfs gc: $gc"
echo "imgfs store on disk (du): $((store_du / 1000000)) MB = $(echo "$store_du / $unique_bytes" | bc -l | cut -c1-5)x the distinct content"
echo "OCI layout blobs (gzip layers, shared layers once): $((blobs / 1000000)) MB"
for tag in "${TAGS[@]}"; do
  "$IMGFS" inspect "$tag" --store "$WORK/store" --json | python3 -c "import json,sys; j=json.load(sys.stdin)
print('  %-14s files %6d  bytes %5d MB  unique chunks %6d  stored %5d MB  shared with the others %5d MB' % ('$tag', j['files'], j['file_bytes']//10**6, j['unique_chunks'], j['stored_bytes']//10**6, j['shared_with_store']['stored_bytes']//10**6))"
done

echo
echo "== chunk size: the family in one store per average chunk size (min = avg/4, max = 4 avg)"
printf '%-8s %10s %26s %14s %12s\n' avg chunks "stored | raw" "index kB (3)" "scipy s"
for avg in 16384 32768 65536 131072; do
  rm -rf "$WORK/cs"
  for tag in "${TAGS[@]}"; do
    t0=$(now)
    "$IMGFS" convert "oci:$CACHE/oci:$tag" --store "$WORK/cs" --tag "$tag" --chunk-size $avg >/dev/null
    t1=$(now)
  done
  line=$("$IMGFS" gc --store "$WORK/cs")
  chunks=$(echo "$line" | sed -E 's/.*holds [0-9]+ images, ([0-9]+) chunks.*/\1/')
  idx=0
  for tag in "${TAGS[@]}"; do
    idx=$((idx + $("$IMGFS" inspect "$tag" --store "$WORK/cs" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["index_bytes"])')))
  done
  stored=$(echo "$line" | sed -E 's/.*chunks \(([^,]*) stored, ([^)]*) raw\).*/\1 | \2/')
  printf '%-8s %10s %26s %14d %12.1f\n' "$avg" "$chunks" "$stored" $((idx / 1000)) "$(echo "$t1 - $t0" | bc -l)"
done
rm -rf "$WORK/cs"

echo
echo "== index size and load time"
for tag in "${TAGS[@]}"; do echo "$tag:"; "$BUILD/tools/imgfs-index-bench" "$WORK/store" "$tag" 20 | sed 's/^/  /'; done
