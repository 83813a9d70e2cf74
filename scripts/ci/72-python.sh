#!/usr/bin/env bash
# The Python binding (bindings/python, ctypes): its unittest suite against
# the CMake-built libslotcache.so, including the golden conformance files
# and the cross-language checks with the slc tool (CI=true: those may not
# skip); then the lookup of an installed library without $SLOTCACHE_LIBRARY.
source "$(dirname "$0")/lib.sh"
work=$root/_build/python-ci
rm -rf "$work"
CC=gcc configure_build "$work/lib" -DCMAKE_BUILD_TYPE=Release \
    -DSLOTCACHE_BUILD_TESTS=OFF -DSLOTCACHE_BUILD_EXAMPLES=OFF \
    -DSLOTCACHE_BUILD_TOOLS=ON -DSLOTCACHE_BUILD_SHARED=ON \
    -DSLOTCACHE_INSTALL=ON
CI=true SLOTCACHE_LIBRARY=$work/lib/libslotcache.so SLC_CLI=$work/lib/tools/slc \
    SLC_TEST_DATA_DIR=$root/tests/conformance \
    python3 -m unittest discover -s "$root/bindings/python" -v

# Installed: the loader finds libslotcache.so.0 by its SONAME.
cmake --install "$work/lib" --prefix "$work/prefix" >/dev/null
libdir=$(dirname "$(find "$work/prefix" -name 'libslotcache.so.0' | head -n 1)")
got=$(cd "$root/bindings/python" && env -u SLOTCACHE_LIBRARY \
    LD_LIBRARY_PATH="$libdir" python3 -c \
    'import slotcache; print(slotcache.library_version())')
want=$(sed -n 's/^#define SLC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$root/include/slotcache.h" | paste -sd.)
[[ $got == "$want"* ]] || { echo "FAIL: installed library says '$got'" >&2; exit 1; }
echo "python: binding tests pass; installed library $got found by SONAME"
