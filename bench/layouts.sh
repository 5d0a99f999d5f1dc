#!/usr/bin/env bash
# Each layout on the same JOBS-job manifest (default 20,000, 512x512 WebP from the emulator, no
# latency, concurrency 16, default config: durable writes and embedded metadata on), out dir on
# the disk under OUT_BASE (default /var/tmp: a user's disk, not tmpfs). After each run the output
# is checked as its users would read it: webdataset shards with Python's tarfile
# (tests/check_webdataset.py) and `tar -t`, imagefolder's metadata.jsonl with
# tests/check_imagefolder.py, files by counting the images the journal lists. Prints wall time
# and images/s per layout (webdataset's wall includes packing the last shard).
# Usage: bench/layouts.sh [JOBS=20000] [CONCURRENCY=16]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
jobs=${1:-20000}
concurrency=${2:-16}
build=${BUILD_DIR:-build}
[ -x "$build/venice-batch" ] || BUILD_DIR=$build bash scripts/build.sh >/dev/null
work=$(mktemp -d /tmp/venice-layouts-XXXXXX)
out_base=$(mktemp -d "${OUT_BASE:-/var/tmp}/venice-layouts-out-XXXXXX")
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work" "$out_base"' EXIT
write_manifest "$work/m.jsonl" "$jobs" \
  '{"id": f"set.{i}", "prompt": f"layout probe {i}", "width": 512, "height": 512, "seed": i + 1}'
start_mock "$build/venice-mock" "$work" --threads 1
echo "layouts: $jobs jobs, concurrency $concurrency, out dir on $(df --output=fstype "$out_base" | tail -1) ($out_base)"
for layout in files webdataset imagefolder; do
  sync
  out="$out_base/$layout"
  start=$(date +%s.%N)
  VENICE_API_KEY=bench "$build/venice-batch" run --manifest "$work/m.jsonl" --out "$out" --layout "$layout" \
    --base-url "https://127.0.0.1:$port/api/v1" --ca-file "$work/cert.pem" --concurrency "$concurrency" \
    --quiet >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  end=$(date +%s.%N)
  check=""
  case $layout in
    files) check="$(find "$out/images" -type f | wc -l) image files in $(find "$out/images" -mindepth 1 -type d | wc -l) folders" ;;
    webdataset)
      python3 tests/check_webdataset.py "$out" --expect "$jobs" >"$work/check.json" || { cat "$work/check.json"; exit 1; }
      members=0
      for t in "$out"/shards/*.tar; do members=$((members + $(tar -tf "$t" | wc -l))); done
      check="$(ls "$out"/shards/*.tar | wc -l) shards, $members members by tar -t, tarfile check ok" ;;
    imagefolder)
      python3 tests/check_imagefolder.py "$out" --expect "$jobs" >"$work/check.json" || { cat "$work/check.json"; exit 1; }
      check="metadata.jsonl names $(wc -l <"$out/metadata.jsonl") images once each, convention check ok" ;;
  esac
  python3 -c "import sys; w=float(sys.argv[2])-float(sys.argv[1]); print(f'{sys.argv[3]:12s} wall {w:6.1f} s  {int(sys.argv[4])/w:7.0f} images/s  ({sys.argv[5]})')" \
    "$start" "$end" "$layout" "$jobs" "$check"
  rm -rf "$out"
done
