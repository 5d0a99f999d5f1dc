#!/usr/bin/env bash
# The whole test suite: installs what is missing, then
#   1. builds and runs every test with ctest (unit tests, end-to-end tests against the
#      real emulator over TLS on loopback, the report in headless Chromium);
#   2. a short run (FUZZ_SECONDS, default 60) of each libFuzzer target (clang);
#   3. the same suite built with ASan + UBSan.
# Set QUICK=1 to run only step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=${JOBS:-2}
# ccache by paths relative to the checkout, so another clone (CI's, a worktree) hits the same cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
# Each step's duration, so a slow CI run says where its time went (the budget is 30 min on 2 cores).
step_start=$SECONDS
took() { echo "-- $1 took $((SECONDS - step_start)) s (total $SECONDS s)"; step_start=$SECONDS; }

echo "== tests (build) =="
bash scripts/build.sh
took "build"
ctest --test-dir build --output-on-failure --parallel "$jobs" --timeout 600
took "tests"

[ "${QUICK:-0}" = 1 ] && exit 0

echo "== fuzzing (build-fuzz) =="
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DVENICE_BATCH_FUZZ=ON -DVENICE_BATCH_BENCH=OFF >/dev/null
cmake --build build-fuzz --parallel "$jobs" --target fuzz_manifest_line fuzz_response
took "fuzz build"
for target in fuzz_manifest_line fuzz_response; do
  corpus="build-fuzz/corpus-$target"
  mkdir -p "$corpus"
  cp -n tests/fuzz_corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  echo "-- $target for ${FUZZ_SECONDS:-60} s"
  "build-fuzz/tests/$target" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
done
took "fuzzing"

echo "== tests under ASan + UBSan (build-asan) =="
BUILD_DIR=build-asan BUILD_TYPE=Debug bash scripts/build.sh -DVENICE_BATCH_SANITIZE=ON -DVENICE_BATCH_BENCH=OFF
took "ASan + UBSan build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --parallel "$jobs" --timeout 900
took "ASan + UBSan tests"
