#!/usr/bin/env bash
# ThreadSanitizer (clang) over the in-process concurrency tests (ctest label
# "threads": tests/test_thread_*.c). The seqlock's racy reads are relaxed
# atomics, so this runs without suppressions. Only those tests are built:
# the other stages compile everything else.
source "$(dirname "$0")/lib.sh"
dir=$root/_build/tsan
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
CC=clang cmake -S "$root" -B "$dir" -DSLOTCACHE_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug -DSLOTCACHE_SANITIZE=thread >/dev/null
targets=$(cd "$root/tests" && for f in test_thread_*.c; do echo "${f%.c}"; done)
cmake --build "$dir" -j "$jobs" --target $targets
run_tests "$dir" -L threads
