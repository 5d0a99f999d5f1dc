#!/usr/bin/env bash
# The window is what the headers say (issue 9): the emulator allows LIMIT requests per WINDOW
# seconds (default 60 per 20 s, a third of a minute) and states limit, remaining and reset on
# every answer; /api_keys/rate_limits says nothing of the window. JOBS jobs (default 180, three
# windows' worth) go with the client told no rate. A pacer that assumed a 60 s window would take
# about (JOBS / LIMIT) minutes; following the headers, about (JOBS / LIMIT - 1) windows plus the
# last answers. Prints wall time, images/s, the share of the allowance used and the 429s.
# Usage: bench/window_20s.sh [LIMIT=60] [WINDOW_S=20] [JOBS=180] [CONCURRENCY=8]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
limit=${1:-60}
window=${2:-20}
jobs=${3:-180}
concurrency=${4:-8}
build=${BUILD_DIR:-build}
[ -x "$build/venice-batch" ] || BUILD_DIR=$build bash scripts/build.sh >/dev/null
work=$(mktemp -d /tmp/venice-window-XXXXXX)
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT
write_manifest "$work/m.jsonl" "$jobs" \
  '{"id": f"w{i}", "model": "z-image-turbo", "prompt": f"window probe {i}", "width": 64, "height": 64}'
start_mock "$build/venice-mock" "$work" --latency-ms 100-300 \
  --model-rpm "z-image-turbo=$limit" --rate-window-s "$window" --failure-lock
start=$(date +%s.%N)
VENICE_API_KEY=bench "$build/venice-batch" run --manifest "$work/m.jsonl" --out "$work/out" \
  --base-url "https://127.0.0.1:$port/api/v1" --ca-file "$work/cert.pem" --concurrency "$concurrency" --quiet >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
end=$(date +%s.%N)
curl -sk -H "Authorization: Bearer bench" "https://127.0.0.1:$port/__mock/stats" >"$work/stats.json"
python3 - "$work/stats.json" "$limit" "$window" "$jobs" "$start" "$end" <<'PY'
import json, math, sys
stats = json.load(open(sys.argv[1]))
limit, window, jobs, start, end = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
m = stats["by_model"].get("z-image-turbo", {})
wall = end - start
best = (math.ceil(jobs / limit) - 1) * window  # the last window opens this long after the first
print(f"{limit} per {window:g} s, {jobs} jobs: wall {wall:.1f} s (best possible ~{best:.0f} s plus answers; "
      f"a 60 s window assumed: ~{(math.ceil(jobs / limit) - 1) * 60:.0f} s)")
print(f"images {m.get('images', 0)}, requests {m.get('requests', 0)}, 429s {m.get('rate_limited', 0)}; "
      f"the best possible time is {100 * best / wall:.0f}% of the wall time (the rest: the last answers, up to 0.3 s each)")
PY
