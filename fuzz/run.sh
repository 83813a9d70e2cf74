#!/usr/bin/env bash
# fuzz/run.sh SECONDS [TARGET...]
#
# Builds the libFuzzer targets with clang (ASan+UBSan) if needed and runs
# each TARGET (default: open ops prefix header) for SECONDS, one after the
# other, each as one single-threaded process. New inputs go to a working
# corpus in the build directory; the checked-in fuzz/corpus/<t> and
# fuzz/regressions/<t> are read as seeds. Any finding (crash, sanitizer
# report, harness check, leak, timeout) stops that target, leaves the input
# in $work/artifacts/ and makes the script exit 1 after the other targets.
#
# Environment: SLC_FUZZ_BUILD (build dir, default _build/fuzz),
# SLC_FUZZ_WORK (working corpora, default $SLC_FUZZ_BUILD/work),
# SLC_CI_JOBS (build parallelism, default 2), SLC_FUZZ_ARGS (extra
# libFuzzer flags).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:?usage: fuzz/run.sh SECONDS [open|ops|prefix|header ...]}
shift
targets=("$@")
((${#targets[@]})) || targets=(open ops prefix header)
build=${SLC_FUZZ_BUILD:-$root/_build/fuzz}
work=${SLC_FUZZ_WORK:-$build/work}
jobs=${SLC_CI_JOBS:-2}

CC=${SLC_FUZZ_CC:-clang} cmake -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLOTCACHE_BUILD_FUZZ=ON \
    -DSLOTCACHE_WERROR=ON -DSLOTCACHE_BUILD_TESTS=OFF \
    -DSLOTCACHE_BUILD_EXAMPLES=OFF -DSLOTCACHE_BUILD_TOOLS=OFF \
    -DSLOTCACHE_BUILD_SHARED=OFF -DSLOTCACHE_INSTALL=OFF >/dev/null
cmake --build "$build" -j "$jobs" \
    --target "${targets[@]/#/fuzz_}" >/dev/null

# Longest inputs: files for open, call programs for the others.
declare -A max_len=([open]=16384 [ops]=4096 [prefix]=2048 [header]=1024)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "$work/artifacts"
    seeds=("$root/fuzz/corpus/$t")
    if [[ -d $root/fuzz/regressions/$t ]] &&
        [[ -n $(ls -A "$root/fuzz/regressions/$t") ]]; then
        seeds+=("$root/fuzz/regressions/$t")
    fi
    dict=()
    [[ $t == open || $t == header ]] && dict=(-dict="$root/fuzz/slc1.dict")
    log=$work/fuzz_$t.log
    echo "== fuzz_$t: ${secs}s"
    # shellcheck disable=SC2086
    if "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -max_len="${max_len[$t]}" -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t-" "${dict[@]}" \
        ${SLC_FUZZ_ARGS:-} "$work/$t" "${seeds[@]}" >"$log" 2>&1; then
        grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1 || true
        grep -E "stat::(number_of_executed_units|average_exec_per_sec)" "$log"
    else
        echo "!! fuzz_$t found something (log: $log)"
        grep -E "harness check|ERROR|SUMMARY|Test unit written" -A2 "$log" |
            head -30
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "== findings in: ${failed[*]}"
    exit 1
fi
echo "== no findings"
