#!/usr/bin/env bash
# Per-model pacing against the emulator (issue 9): two models with their own limits (default
# z-image-turbo 30/min, venice-sd35 90/min), one manifest mixing them line by line, the client
# given no rate (it learns each model's from the headers and /api_keys/rate_limits). Runs for
# DURATION seconds (default 300), stops the client with SIGINT, then reports for each model the
# images per minute reached as a share of its own limit, and the share of requests answered 429.
# Usage: bench/two_models.sh [RPM_A=30] [RPM_B=90] [DURATION=300] [CONCURRENCY=8]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rpm_a=${1:-30}
rpm_b=${2:-90}
duration=${3:-300}
concurrency=${4:-8}
build=${BUILD_DIR:-build}
[ -x "$build/venice-batch" ] || BUILD_DIR=$build bash scripts/build.sh >/dev/null
work=$(mktemp -d /tmp/venice-two-models-XXXXXX)
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT
# Alternating models: a model that waits must not hold the other back.
write_manifest "$work/m.jsonl" 20000 \
  '{"id": f"t{i}", "model": "z-image-turbo" if i % 2 == 0 else "venice-sd35", "prompt": f"two model probe {i}", "width": 64, "height": 64}'
start_mock "$build/venice-mock" "$work" --latency-ms 200-800 --track-prompts \
  --model-rpm "z-image-turbo=$rpm_a,venice-sd35=$rpm_b" --failure-lock
start=$(date +%s.%N)
VENICE_API_KEY=bench timeout -s INT "$duration" "$build/venice-batch" run --manifest "$work/m.jsonl" --out "$work/out" \
  --base-url "https://127.0.0.1:$port/api/v1" --ca-file "$work/cert.pem" --concurrency "$concurrency" --quiet || true
end=$(date +%s.%N)
curl -sk -H "Authorization: Bearer bench" "https://127.0.0.1:$port/__mock/stats" >"$work/stats.json"
python3 - "$work" "$rpm_a" "$rpm_b" "$start" "$end" <<'PY'
import json, sys
work, rpm_a, rpm_b, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
stats = json.load(open(f"{work}/stats.json"))
minutes = (end - start) / 60
print(f"wall {end - start:.1f} s, concurrency from the command line, client told no rate")
print(f"{'model':<16}{'limit/min':>10}{'images':>8}{'per min':>9}{'% of limit':>11}{'requests':>10}{'429s':>6}{'% 429':>7}")
for model, limit in (("z-image-turbo", rpm_a), ("venice-sd35", rpm_b)):
    m = stats["by_model"].get(model, {})
    images, requests, r429 = m.get("images", 0), m.get("requests", 0), m.get("rate_limited", 0)
    # The first window starts at the first request: a run of W windows can place W full windows
    # of images, so the reachable rate over the wall time is limit * ceil(minutes) / minutes at most.
    print(f"{model:<16}{limit:>10}{images:>8}{images / minutes:>9.1f}{100 * images / minutes / limit:>10.1f}%"
          f"{requests:>10}{r429:>6}{100 * r429 / max(requests, 1):>6.2f}%")
PY
