#!/usr/bin/env bash
# Configures and builds venice-batch into ${BUILD_DIR:-build} (Ninja; ccache when present).
# Extra CMake arguments can be passed after the script name.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
# ccache by paths relative to the checkout, so another clone (CI's, a worktree) hits the same cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
build_type=${BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
cmake --build "$build_dir" --parallel "${JOBS:-2}"
