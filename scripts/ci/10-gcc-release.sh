#!/usr/bin/env bash
# gcc, Release, -Werror: the whole suite.
source "$(dirname "$0")/lib.sh"
dir=$root/_build/gcc-release
CC=gcc configure_build "$dir" -DCMAKE_BUILD_TYPE=Release
run_tests "$dir"
