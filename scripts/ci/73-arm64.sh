#!/usr/bin/env bash
# arm64: cross-build the library, every test, the examples and slc for
# aarch64 (gcc-aarch64-linux-gnu, cmake/aarch64-linux-gnu.cmake, cmocka from
# Debian's libcmocka-dev:arm64) and run the whole ctest suite and the CLI
# test (less one test, below) under qemu-user. Emulation runs arm64 code
# but with x86-64's memory ordering: docs/concurrency.md ("arm64 under
# emulation") says what this proves and what it does not.
source "$(dirname "$0")/lib.sh"
work=$root/_build/arm64-ci
rm -rf "$work"
mkdir -p "$work/include"
fail() { echo "FAIL: $*" >&2; exit 1; }

arm_pc=/usr/lib/aarch64-linux-gnu/pkgconfig
[[ -f $arm_pc/cmocka.pc ]] || fail "no arm64 cmocka (apt install libcmocka-dev:arm64)"
# cmocka.h is architecture-independent and lives in /usr/include, which the
# cross compiler does not search; give it (only it) as a system header.
ln -s /usr/include/cmocka.h "$work/include/cmocka.h"

PKG_CONFIG_LIBDIR=$arm_pc cmake -S "$root" -B "$work/build" \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DSLOTCACHE_WERROR=ON \
    -DCMAKE_C_FLAGS="-isystem $work/include" >/dev/null
cmake --build "$work/build" -j "$jobs"

for f in libslotcache.a tools/slc tests/test_api; do
    readelf -h "$work/build/$f" | grep 'Machine:.*AArch64' >/dev/null ||
        fail "$f is not an AArch64 binary"
done

# Every test (ctest prefixes each with qemu-aarch64, the toolchain's
# CMAKE_CROSSCOMPILING_EMULATOR) except cli_slc, whose Python driver would
# exec slc directly: it runs below through a qemu wrapper.
run_tests "$work/build" -E '^cli_slc$'
printf '#!/bin/sh\nexec qemu-aarch64 %q "$@"\n' "$work/build/tools/slc" \
    > "$work/slc-qemu"
chmod +x "$work/slc-qemu"
# Left out: Compact.test_compact_with_readers. When slc get followed the
# path only once after a rebuild invalidated its file, a reader slower than
# two back-to-back compactions got SLC_EINVALIDATED, under qemu in about
# half the runs. It now follows up to 8 times (follows_left, tools/slc.c);
# the exclusion is kept because under qemu the reader may still be slower
# than eight back-to-back compactions, and the test has not been run under
# qemu since that change. Everything else in test_cli.py runs.
python3 - "$root/tools/test_cli.py" "$work/slc-qemu" "$root/tests/conformance" <<'PY'
import importlib.util, sys, unittest
spec = importlib.util.spec_from_file_location("test_cli", sys.argv[1])
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)
cli.SLC, cli.CONF = sys.argv[2], sys.argv[3]
def flat(suite):
    for t in suite:
        yield from flat(t) if isinstance(t, unittest.TestSuite) else [t]
tests = [t for t in flat(unittest.defaultTestLoader.loadTestsFromModule(cli))
         if not t.id().endswith(".test_compact_with_readers")]
result = unittest.TextTestRunner(verbosity=1).run(unittest.TestSuite(tests))
sys.exit(0 if result.wasSuccessful() and result.testsRun == len(tests) else 1)
PY
# The default target (armv8-a) takes the portable CRC-32C; with the CRC
# extension format.c uses the __crc32c* instructions instead. Build that
# variant too and run the tests that check checksums against fixed bytes.
crc_tests=(test_format test_conformance test_api test_validation)
PKG_CONFIG_LIBDIR=$arm_pc cmake -S "$root" -B "$work/build-crc" \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DSLOTCACHE_WERROR=ON \
    -DSLOTCACHE_BUILD_TOOLS=OFF -DSLOTCACHE_BUILD_EXAMPLES=OFF \
    -DCMAKE_C_FLAGS="-march=armv8-a+crc -isystem $work/include" >/dev/null
cmake --build "$work/build-crc" -j "$jobs" --target "${crc_tests[@]}"
n=$(aarch64-linux-gnu-objdump -d "$work/build-crc/tests/test_format" |
    grep -c 'crc32c[bhwx]' || true)
((n > 0)) || fail "the +crc build does not use the crc32c instructions"
run_tests "$work/build-crc" -R "^($(IFS='|'; echo "${crc_tests[*]}"))\$"
echo "arm64: cross-built; every ctest and the CLI test (less one race, above)" \
    "pass under qemu-aarch64"
