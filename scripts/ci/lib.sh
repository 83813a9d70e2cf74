# Helpers for CI stages (sourced). Each stage builds in its own directory.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jobs=${SLC_CI_JOBS:-2}

# configure_build DIR [cmake args...]
configure_build() {
    local dir=$1; shift
    cmake -S "$root" -B "$dir" -DSLOTCACHE_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
}

# run_tests DIR [ctest args...]
run_tests() {
    local dir=$1; shift
    (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@")
}
