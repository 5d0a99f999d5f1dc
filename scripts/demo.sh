#!/usr/bin/env bash
# The main job, end to end, with no key and no network: installs what is missing, builds,
# starts the bundled emulator (venice-mock) on loopback with a freshly generated self-signed
# certificate, runs the example manifest config/example.jsonl, and says where everything went.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

out=${1:-runs/demo}
work=$(mktemp -d /tmp/venice-demo-XXXXXX)
key="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
VENICE_MOCK_API_KEY="$key" build/venice-mock --port 0 --cert-dir "$work" --latency-ms 20-80 >"$work/mock.out" &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
line=$(head -n1 "$work/mock.out")
url=$(echo "$line" | sed -E 's/.*listening on (https:[^ ]+).*/\1/')
ca=$(echo "$line" | sed -E 's/.*ca=([^ ]+).*/\1/')
echo "emulator: $url (CA $ca)"

status=0
VENICE_API_KEY="$key" build/venice-batch run --manifest config/example.jsonl --out "$out" \
  --base-url "$url/api/v1" --ca-file "$ca" --concurrency 4 || status=$?
echo
echo "images:  $out/images/ ($(find "$out/images" -type f | wc -l) files)"
echo "results: $out/results.jsonl ($(wc -l <"$out/results.jsonl") lines)"
echo "metrics: $out/metrics.json, $out/timeline.jsonl, $out/metrics.prom"
exit $status
