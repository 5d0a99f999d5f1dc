#!/usr/bin/env bash
# `venice-batch bench` against `venice-mock` (latency 100-300 ms, like a fast model): a closed
# loop at concurrency 16 and an open loop at 100 requests/s, 10 s each after a 2 s warmup,
# 1024x1024 WebP, images decoded and checked but discarded. Prints both tables.
# Usage: bench/bench_mode.sh [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
secs=${1:-10}
BUILD_DIR=build-bench BUILD_TYPE=Release bash scripts/build.sh >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/venice-benchmode-XXXXXX")
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT
echo '{"id":"bench","prompt":"a lighthouse in a storm","width":1024,"height":1024,"format":"webp"}' >"$work/m.jsonl"
start_mock build-bench/venice-mock "$work" --latency-ms 100-300
url="https://127.0.0.1:$port"
# Identity answers: this measures the client, not gzip (bench/compressed.sh compares the two).
echo '{"compressed_responses": false}' >"$work/config.json"
common=(--config "$work/config.json" --manifest "$work/m.jsonl" --base-url "$url/api/v1" --ca-file "$work/cert.pem" --discard-images --warmup 2s --duration "${secs}s")
echo "### closed loop, concurrency 16"
VENICE_API_KEY=bench build-bench/venice-batch bench "${common[@]}" --concurrency 16
echo
echo "### open loop, 100 requests/s"
VENICE_API_KEY=bench build-bench/venice-batch bench "${common[@]}" --rate 100/s
