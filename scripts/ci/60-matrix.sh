#!/usr/bin/env bash
# Compiler matrix, all with -Werror: gcc and clang, Debug and Release.
# Stage 10 already builds and runs everything with gcc Release and stage 20
# with clang Debug (under ASan+UBSan), so those two build only the library
# here; gcc Debug and clang Release build every default target. Then the
# public header from strict C99/C11 (gcc, clang) and from C++ (g++,
# clang++), each compiled with -Wall -Wextra -Wpedantic -Werror, linked
# against the library and run. And one clang build with the sanitizers in
# CFLAGS (the shared library, test_api and test_format).
source "$(dirname "$0")/lib.sh"
header_tests=$root/tests/consumers/header
lib_only=(-DSLOTCACHE_BUILD_TESTS=OFF -DSLOTCACHE_BUILD_EXAMPLES=OFF
          -DSLOTCACHE_BUILD_TOOLS=OFF)

for cc in gcc clang; do
    for type in Debug Release; do
        dir=$root/_build/matrix-$cc-${type,,}
        case $cc-$type in
            gcc-Release|clang-Debug) extra=("${lib_only[@]}") what="library" ;;
            *) extra=() what="all targets" ;;
        esac
        echo "-- $cc $type: $what"
        CC=$cc configure_build "$dir" -DCMAKE_BUILD_TYPE=$type "${extra[@]}"
    done
done

# Sanitizers given the usual way (OSS-Fuzz's convention), in CFLAGS rather
# than SLOTCACHE_SANITIZE: the shared library must still link (it drops
# --no-undefined then) and two suites run.
dir=$root/_build/matrix-cflags-sanitize
echo "-- clang, CFLAGS=-fsanitize=address,undefined: library, test_api, test_format"
CC=clang CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
    cmake -S "$root" -B "$dir" -DSLOTCACHE_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
    -DSLOTCACHE_BUILD_SHARED=ON >/dev/null
cmake --build "$dir" -j "$jobs" --target slotcache slotcache_static test_api \
    test_format
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_tests "$dir" -R 'test_api|test_format'

warn=(-Wall -Wextra -Wpedantic -Werror)
out=$root/_build/matrix-header
rm -rf "$out" && mkdir -p "$out"
for cc in gcc clang; do
    lib=$root/_build/matrix-$cc-release/libslotcache.a
    for std in c99 c11; do
        $cc -std=$std "${warn[@]}" -Wstrict-prototypes -Wmissing-prototypes \
            -I"$root/include" "$header_tests/header_c.c" "$lib" -lpthread \
            -o "$out/header-$cc-$std"
        "$out/header-$cc-$std"
    done
done
for cxx in g++ clang++; do
    lib=$root/_build/matrix-$([[ $cxx == g++ ]] && echo gcc || echo clang)-release/libslotcache.a
    for std in c++11 c++17; do
        $cxx -std=$std "${warn[@]}" -I"$root/include" \
            "$header_tests/header_cxx.cpp" "$lib" -lpthread \
            -o "$out/header-$cxx-$std"
        "$out/header-$cxx-$std"
    done
done
echo "matrix: gcc/clang x Debug/Release built; CFLAGS sanitizer build ok;" \
    "header clean in C99, C11, C++11, C++17"
