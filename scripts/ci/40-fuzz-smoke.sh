#!/usr/bin/env bash
# libFuzzer smoke run: build the four fuzz targets with clang (ASan+UBSan)
# and run each for ~20 s from the checked-in corpora; any finding fails.
# The corpora and past findings are also replayed with gcc in the normal
# suite (test_fuzz_regressions_<target>: fuzz/replay.c with each target).
source "$(dirname "$0")/lib.sh"
export SLC_FUZZ_BUILD=$root/_build/fuzz-smoke
export SLC_FUZZ_WORK=$SLC_FUZZ_BUILD/work
rm -rf "$SLC_FUZZ_WORK" # start from the checked-in corpora only
bash "$root/fuzz/run.sh" "${SLC_FUZZ_SMOKE_SECONDS:-20}"
