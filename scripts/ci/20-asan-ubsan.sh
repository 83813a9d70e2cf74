#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite.
source "$(dirname "$0")/lib.sh"
dir=$root/_build/asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
CC=clang configure_build "$dir" -DCMAKE_BUILD_TYPE=Debug \
    -DSLOTCACHE_SANITIZE=address,undefined
run_tests "$dir"
