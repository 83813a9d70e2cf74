#!/usr/bin/env bash
# The single-file build (scripts/amalgamate.py via the CMake target
# `amalgamation`): slotcache.c compiles alone with gcc and clang at
# -Wall -Wextra without a warning; only slc_ symbols are global and a
# shared object from it exports exactly the CMake library's API; the
# README's usage example, the demo, the slc CLI (with its test, which
# replays the conformance files) and the conformance test build from it
# and pass; and it is as fast as the library build (callgrind instruction
# counts of get hit, get miss and scan per slot no more than 2% above).
source "$(dirname "$0")/lib.sh"
work=$root/_build/amalgamation-ci
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

# The library build it is compared with, and the generated files.
CC=gcc cmake -S "$root" -B "$work/lib" -DSLOTCACHE_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Release -DSLOTCACHE_BUILD_TESTS=OFF \
    -DSLOTCACHE_BUILD_EXAMPLES=OFF -DSLOTCACHE_BUILD_TOOLS=OFF \
    -DSLOTCACHE_BUILD_SHARED=ON -DSLOTCACHE_BUILD_BENCH=ON >/dev/null 2>&1
cmake --build "$work/lib" -j "$jobs" --target amalgamation slotcache bench_slc
am=$work/lib/amalgamation
[[ -s $am/slotcache.c && -s $am/slotcache.h ]] || fail "no amalgamation written"
cmp -s "$am/slotcache.h" "$root/include/slotcache.h" ||
    fail "amalgamation/slotcache.h differs from include/slotcache.h"

# ---- Compiles alone, without warnings -----------------------------------
for cc in gcc clang; do
    for std in c11 gnu17; do
        $cc -std=$std -O2 -Wall -Wextra -Wpedantic -Werror -c "$am/slotcache.c" \
            -o "$work/slotcache-$cc-$std.o"
    done
done
bad=$(nm -g --defined-only "$work/slotcache-gcc-c11.o" |
    awk 'NF == 3 {print $3}' | grep -v '^slc_' || true)
[[ -z $bad ]] || fail "slotcache.c defines unprefixed global symbols: $bad"

# A shared object from it exports the same functions as the CMake one.
gcc -O2 -shared -fPIC "$am/slotcache.c" -pthread -o "$work/libamalg.so"
exports() { nm -D --defined-only "$1" | awk '$2 == "T" {print $3}' |
    sed 's/@.*//' | sort; }
exports "$work/lib/libslotcache.so" > "$work/exports-cmake.txt"
exports "$work/libamalg.so" > "$work/exports-amalg.txt"
diff -u "$work/exports-cmake.txt" "$work/exports-amalg.txt" ||
    fail "the amalgamation's shared object exports other symbols than CMake's"

# ---- The README example and the demo: cc app.c slotcache.c --------------
readme=$work/readme_example.c
{
    echo '#include <stdint.h>'
    echo '#include <stdio.h>'
    awk '/^## Usage/ {u = 1} u && /^```c$/ {on = 1; next}
         on && /^```$/ {exit} on && /^#include/ {print}' "$root/README.md"
    echo 'int main(void)'
    echo '{'
    echo '    uint8_t key[16] = {1}, old_key[16] = {2}, index_bytes[8] = {3};'
    echo '    int64_t mtime_ns = 42;'
    awk '/^## Usage/ {u = 1} u && /^```c$/ {on = 1; next}
         on && /^```$/ {exit} on && !/^#include/ {print "    " $0}' \
        "$root/README.md"
    echo '    return rc == SLC_OK && rev == 42 && index[0] == 3 ? 0 : 1;'
    echo '}'
} > "$readme"
for cc in gcc clang; do
    $cc -O2 -Wall -Wextra -Werror -I"$am" "$readme" "$am/slotcache.c" \
        -pthread -o "$work/readme-$cc"
    $cc -O2 -Wall -Wextra -Werror -I"$am" "$root/examples/demo.c" \
        "$am/slotcache.c" -pthread -o "$work/demo-$cc"
done
(cd "$work" && rm -f app.slc app.slc.lock && ./readme-gcc && ./readme-clang) ||
    fail "the README example built from the amalgamation failed"
"$work/demo-gcc" >/dev/null
"$work/demo-clang" >/dev/null

# ---- The CLI and the conformance replay ---------------------------------
gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$am" "$root"/tools/slc.c \
    "$root"/tools/slc_util.c "$am/slotcache.c" -pthread -o "$work/slc"
python3 "$root/tools/test_cli.py" "$work/slc" "$root/tests/conformance"
gcc -O2 -D_GNU_SOURCE -I"$am" -I"$root/tests" \
    -DSLC_TEST_DATA_DIR="\"$root/tests/conformance\"" \
    "$root/tests/test_conformance.c" "$root/tests/support.c" \
    "$am/slotcache.c" $(pkg-config --cflags --libs cmocka) -pthread \
    -o "$work/test_conformance"
"$work/test_conformance"

# ---- As fast as the library build ---------------------------------------
# Same flags as the CMake Release objects, bench drivers as bench/ builds them.
mkdir -p "$work/amalg-bench/bench"
gcc -O3 -DNDEBUG -fPIC -fvisibility=hidden -std=c11 -c "$am/slotcache.c" \
    -o "$work/amalg-bench/slotcache.o"
gcc -O3 -DNDEBUG -std=gnu11 -I"$am" -I"$root/bench" "$root/bench/bench_slc.c" \
    "$root/bench/whatif.c" "$root/bench/common.c" "$work/amalg-bench/slotcache.o" \
    -pthread -o "$work/amalg-bench/bench/bench_slc"
python3 "$root/bench/callgrind.py" --build "$work/lib" --systems slotcache \
    > "$work/ir-lib.txt"
python3 "$root/bench/callgrind.py" --build "$work/amalg-bench" \
    --systems slotcache > "$work/ir-amalg.txt"
python3 - "$work/ir-lib.txt" "$work/ir-amalg.txt" <<'EOF'
import sys
def rows(path):
    out = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2:
            try:
                out[cells[0]] = float(cells[1])
            except ValueError:
                pass
    return out
lib, am = rows(sys.argv[1]), rows(sys.argv[2])
bad = False
for label in ("get hit (W3), per get", "get miss (W4), per get",
              "scan + filter, snapshot (W5), per slot"):
    if label not in lib or label not in am:
        sys.exit(f"FAIL: callgrind.py printed no row '{label}'")
    d = (am[label] - lib[label]) / lib[label] * 100
    print(f"callgrind {label}: library {lib[label]}, amalgamation {am[label]} Ir ({d:+.1f}%)")
    bad |= d > 2.0
if bad:
    sys.exit("FAIL: the amalgamation runs more than 2% more instructions")
EOF
echo "amalgamation: builds warning-free with gcc and clang; exports, README" \
    "example, demo, CLI, conformance and instruction counts ok"
