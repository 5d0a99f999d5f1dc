#!/usr/bin/env bash
# Pacing against a server that enforces a per-minute request limit, like the API: venice-mock
# with --rpm L counts requests in 60 s windows, sets x-ratelimit-*-requests on every answer and
# answers 429 past the limit. The client is given no rate: it must learn it from the headers.
# Runs for DURATION seconds (default 600), then stops the client with SIGINT and reports
# successful requests per minute as a share of L, and the share of requests answered 429.
# Usage: bench/rate_limit.sh [L=120] [DURATION=600] [CONCURRENCY=8]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
limit=${1:-120}
duration=${2:-600}
concurrency=${3:-8}
[ -x build/venice-batch ] || bash scripts/build.sh >/dev/null
work=$(mktemp -d /tmp/venice-ratelimit-XXXXXX)
trap 'kill $mock_pid 2>/dev/null || true' EXIT
write_manifest "$work/m.jsonl" 20000 '{"id": f"r{i}", "prompt": f"rate limit probe {i}", "width": 64, "height": 64}'
start_mock build/venice-mock "$work" --rpm "$limit" --latency-ms 200-800
start=$(date +%s.%N)
VENICE_API_KEY=bench timeout -s INT "$duration" build/venice-batch run --manifest "$work/m.jsonl" --out "$work/out" \
  --base-url "https://127.0.0.1:$port/api/v1" --ca-file "$work/cert.pem" --concurrency "$concurrency" --quiet || true
end=$(date +%s.%N)
python3 - "$work" "$limit" "$start" "$end" <<'PY'
import json, sys, urllib.request, ssl
work, limit, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
m = json.load(open(f"{work}/out/metrics.json"))
ok = m["jobs"]["ok"]
statuses = m["status_counts"]
total = sum(statuses.values())
r429 = statuses.get("429", 0)
minutes = (end - start) / 60
print(f"limit {limit}/min, wall {end-start:.1f} s, requests {total}, ok {ok}, 429 {r429}")
print(f"achieved {ok/minutes:.1f}/min = {100*ok/minutes/limit:.1f}% of the limit; 429s {100*r429/max(total,1):.2f}% of requests")
PY
