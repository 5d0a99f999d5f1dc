#!/usr/bin/env bash
# Installs every build and test dependency of venice-batch from Debian packages.
# Idempotent: packages already present are skipped, and apt-get update runs only
# when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libssl-dev openssl ca-certificates
  libsimdjson-dev rapidjson-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev libjpeg-dev libwebp-dev libbrotli-dev zlib1g-dev libarchive-dev
  clang libclang-rt-14-dev
  tmux python3
  nginx wrk python3-aiohttp
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
