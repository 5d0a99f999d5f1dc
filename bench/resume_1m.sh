#!/usr/bin/env bash
# Resume of a finished 1,000,000-job run, from the user's side: `venice-batch run` on an out dir
# whose journal records every line done, until it exits 0 with nothing to send (wall time, peak
# RSS). The out dir is made by bench/bench_resume.cpp (the library's own writer), which also times
# the resume pass in-process with finished lines skipped unparsed vs every line parsed.
# Usage: bench/resume_1m.sh [BASELINE_VENICE_BATCH]   (TMPDIR picks the disk; default /var/tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}
BUILD_DIR=$build BUILD_TYPE=${BUILD_TYPE:-Release} JOBS=${JOBS:-1} bash scripts/build.sh >/dev/null
work=$(mktemp -d "${TMPDIR:-/var/tmp}/venice-resume-XXXXXX")
trap 'rm -rf "$work"' EXIT
VENICE_BENCH_OUT="$work" "$build/bench/bench_resume"
# Nothing is left to send, so nothing may be sent: the base URL is a closed port, no start-up check.
cat >"$work/config.json" <<'JSON'
{"base_url": "https://127.0.0.1:9/api/v1", "check_api_at_start": false, "fetch_catalog": false,
 "defaults": {"model": "z-image-turbo", "format": "webp"}}
JSON
printf '%-40s %8s %8s %12s\n' binary wall_s user_s peak_RSS_MB
for exe in "$build/venice-batch" ${1:-}; do
  for i in 1 2 3; do
    VENICE_API_KEY=bench /usr/bin/time -f '%e %U %M' -o "$work/time" "$exe" run --manifest "$work/manifest.jsonl" \
      --out "$work/out" --config "$work/config.json" --quiet >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    read -r wall user rss_kb <"$work/time"
    awk -v e="$exe" -v w="$wall" -v u="$user" -v r="$rss_kb" 'BEGIN { printf "%-40s %8s %8s %12.0f\n", e, w, u, r / 1024 }'
  done
done
