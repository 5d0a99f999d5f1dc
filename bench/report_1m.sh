#!/usr/bin/env bash
# `venice-batch report` on a run of 1,000,000 jobs, from the user's side: wall time, peak RSS
# and the page's size, for this build and (if given) a baseline binary on the same out dir.
# The out dir is made by bench/bench_report.cpp's generator (1,050,000 journal lines), which
# also times write_report in-process.
# Usage: bench/report_1m.sh [BASELINE_VENICE_BATCH]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}
BUILD_DIR=$build BUILD_TYPE=${BUILD_TYPE:-Release} JOBS=${JOBS:-1} bash scripts/build.sh >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/venice-report-XXXXXX")
trap 'rm -rf "$work"' EXIT
VENICE_BENCH_OUT="$work" "$build/bench/bench_report"
printf '%-40s %8s %12s %10s\n' binary wall_s peak_RSS_MB page_MB
for exe in "$build/venice-batch" ${1:-}; do
  /usr/bin/time -f '%e %M' -o "$work/time" "$exe" report "$work" >/dev/null
  read -r wall rss_kb <"$work/time"
  awk -v e="$exe" -v w="$wall" -v r="$rss_kb" -v p="$(stat -c %s "$work/report.html")" \
    'BEGIN { printf "%-40s %8s %12.0f %10.2f\n", e, w, r / 1024, p / 1e6 }'
done
