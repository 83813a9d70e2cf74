#!/usr/bin/env bash
# Build libslotcache (Release) and run the demo: create a cache, write
# 100,000 entries in one session, read them back, scan, update, reopen.
# Installs cmake/make/gcc from Debian's packages first if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for p in cmake make gcc; do
    command -v "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" libc6-dev
fi
cmake -S . -B _build/demo -DCMAKE_BUILD_TYPE=Release \
    -DSLOTCACHE_BUILD_TESTS=OFF -DSLOTCACHE_BUILD_TOOLS=OFF >/dev/null
cmake --build _build/demo -j "$(nproc)" --target demo >/dev/null
exec _build/demo/examples/demo
