#!/usr/bin/env bash
# Install any missing Debian build/test dependency, then build and run the
# whole test suite: every stage in scripts/ci/, in name order. Run as root
# on a fresh Debian machine (apt-get is used only for missing packages).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake make gcc g++ clang llvm libclang-rt-14-dev pkg-config
          libcmocka-dev python3 file binutils
          valgrind meson ninja-build
          gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
          libcmocka-dev:arm64)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "ok installed" >/dev/null ||
        missing+=("$p")
done
if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The arm64 test stage needs arm64 cmocka (and so libc6:arm64) from
    # Debian's multiarch archive.
    if [[ " ${missing[*]} " == *":arm64 "* ]] &&
        ! dpkg --print-foreign-architectures | grep -x arm64 >/dev/null; then
        dpkg --add-architecture arm64
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export SLC_CI_JOBS=${SLC_CI_JOBS:-$(nproc)}
start=$SECONDS
for stage in scripts/ci/[0-9]*.sh; do
    echo "== stage ${stage##*/} ($((SECONDS - start)) s so far)"
    t=$SECONDS
    bash "$stage"
    echo "== stage ${stage##*/} passed in $((SECONDS - t)) s"
done
echo "== all stages passed in $((SECONDS - start)) s"
