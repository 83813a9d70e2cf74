#!/usr/bin/env bash
# The three ways to consume libslotcache, plus the ABI surface of the
# shared library:
#   1. cmake --install to a temporary prefix, then a Makefile project
#      using pkg-config (shared and --static);
#   2. find_package(slotcache CONFIG) (shared, static, and the static
#      archive linked into a shared object);
#   3. the source tree vendored with add_subdirectory (also with
#      BUILD_SHARED_LIBS=ON) and FetchContent.
source "$(dirname "$0")/lib.sh"
consumers=$root/tests/consumers
work=$root/_build/consumers
rm -rf "$work"
mkdir -p "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- The library, installed ---------------------------------------------
CC=${CC:-gcc} configure_build "$work/lib" -DCMAKE_BUILD_TYPE=Release \
    -DSLOTCACHE_BUILD_TESTS=OFF -DSLOTCACHE_BUILD_EXAMPLES=OFF \
    -DSLOTCACHE_BUILD_TOOLS=OFF -DSLOTCACHE_INSTALL=ON \
    -DSLOTCACHE_BUILD_SHARED=ON
prefix=$work/prefix
cmake --install "$work/lib" --prefix "$prefix" >/dev/null

# ---- ABI: SONAME, exported symbols, versions ----------------------------
header=$root/include/slotcache.h
macro() { sed -n "s/^#define SLC_VERSION_$1 \([0-9]*\)$/\1/p" "$header"; }
major=$(macro MAJOR) minor=$(macro MINOR) patch=$(macro PATCH)
version=$major.$minor.$patch
[[ -n $major && -n $minor && -n $patch ]] || fail "no SLC_VERSION_* in header"
so=$work/lib/libslotcache.so
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "libslotcache.so.$major" ]] ||
    fail "SONAME '$soname', expected libslotcache.so.$major"
[[ -e $work/lib/libslotcache.so.$version ]] ||
    fail "no libslotcache.so.$version: CMake project version != header"

# Exported: the public functions, plus the version node (type A) that the
# version script defines. Nothing else.
nm -D --defined-only "$so" | awk '{print $2, $3}' | sed 's/@.*//' \
    > "$work/exported.txt"
bad=$(grep -Ev "^(T slc_[a-z][a-z0-9_]*|A SLOTCACHE_$major)$" \
    "$work/exported.txt" || true)
[[ -z $bad ]] || fail "unexpected exported symbols:"$'\n'"$bad"
grep -oE '^SLC_API [^(]*[ *]slc_[a-z0-9_]+\(' "$header" |
    sed -E 's/.*[ *](slc_[a-z0-9_]+)\($/\1/' | sort > "$work/declared.txt"
awk '$1 == "T" {print $2}' "$work/exported.txt" | sort > "$work/defined.txt"
diff -u "$work/declared.txt" "$work/defined.txt" ||
    fail "exported functions differ from the SLC_API declarations"
echo "abi: $soname exports exactly $(wc -l < "$work/defined.txt")" \
    "slc_* functions"

# Documentation: each public function has a doc comment in the header
# (a comment ending on the line right above it, or above a run of
# declarations it belongs to) and a heading in docs/api.md.
undocumented=$(awk '
    /^SLC_API / { if (!doc) { sub(/\(.*/, ""); print $NF } next }
    /^[ \t]*(\/)?\*.*\*\/[ \t]*$/ { doc = 1; next }
    /^[ \t]+/ { next }
    { doc = 0 }' "$header")
[[ -z $undocumented ]] || fail "no doc comment in slotcache.h: $undocumented"
while read -r fn; do
    grep -qE "^#+ .*\b${fn}\b" "$root/docs/api.md" ||
        fail "docs/api.md has no section for $fn"
done < "$work/declared.txt"

# A static archive shares the application's namespace: every global symbol
# it defines must carry the slc_ prefix.
bad=$(nm -g --defined-only "$work/lib/libslotcache.a" |
    awk 'NF == 3 {print $3}' | grep -v '^slc_' || true)
[[ -z $bad ]] || fail "libslotcache.a defines unprefixed symbols: $bad"

# ---- 1. pkg-config ------------------------------------------------------
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig:$prefix/lib64/pkgconfig
pcver=$(pkg-config --modversion slotcache)
[[ $pcver == "$version" ]] || fail "slotcache.pc says $pcver, header $version"
mkdir -p "$work/pkgconfig"
make -C "$work/pkgconfig" -f "$consumers/pkgconfig/Makefile" check
readelf -d "$work/pkgconfig/roundtrip" | grep "libslotcache.so.$major" >/dev/null ||
    fail "roundtrip is not linked against the shared library"
if readelf -d "$work/pkgconfig/roundtrip-static" 2>/dev/null |
    grep 'NEEDED' >/dev/null; then
    fail "roundtrip-static is not fully static"
fi

# ---- 2. find_package ----------------------------------------------------
cmake -S "$consumers/find_package" -B "$work/find_package" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/find_package" -j "$jobs"
for f in app_static libplugin.so; do
    if readelf -d "$work/find_package/$f" | grep libslotcache >/dev/null; then
        fail "$f depends on libslotcache.so; expected the archive inside"
    fi
done
nm -D --defined-only "$work/find_package/libplugin.so" | grep ' slc_open$' >/dev/null ||
    fail "libplugin.so does not re-export the archive's slc_* symbols"
if nm -D --defined-only "$work/find_package/libplugin_hidden.so" |
    grep ' slc_' >/dev/null; then
    fail "--exclude-libs,ALL did not hide the archive's slc_* symbols"
fi
run_tests "$work/find_package"

# An install without the shared library: slotcache::slotcache is then the
# static one, and everything still links.
CC=${CC:-gcc} configure_build "$work/lib-static" -DCMAKE_BUILD_TYPE=Release \
    -DSLOTCACHE_BUILD_TESTS=OFF -DSLOTCACHE_BUILD_EXAMPLES=OFF \
    -DSLOTCACHE_BUILD_TOOLS=OFF -DSLOTCACHE_INSTALL=ON \
    -DSLOTCACHE_BUILD_SHARED=OFF
cmake --install "$work/lib-static" --prefix "$work/prefix-static" >/dev/null
cmake -S "$consumers/find_package" -B "$work/find_package-static" \
    -DCMAKE_PREFIX_PATH="$work/prefix-static" -DCMAKE_BUILD_TYPE=Release \
    -DSLC_EXPECT_SHARED=OFF >/dev/null
cmake --build "$work/find_package-static" -j "$jobs"
if readelf -d "$work/find_package-static/app" | grep libslotcache >/dev/null; then
    fail "static-only install: app depends on libslotcache.so"
fi
run_tests "$work/find_package-static"

# ---- 3. vendored: add_subdirectory and FetchContent ---------------------
# The parent project lives outside the tree and sees the library as
# ./libslotcache, as a vendored copy would be.
mkdir -p "$work/parent"
cp -r "$consumers/vendored" "$consumers/common" "$work/parent/"
ln -s "$root" "$work/parent/vendored/libslotcache"
cmake -S "$work/parent/vendored" -B "$work/subdirectory" \
    -DVENDOR_MODE=subdirectory >/dev/null
cmake --build "$work/subdirectory" -j "$jobs"
run_tests "$work/subdirectory"
# A parent that builds shared libraries gets libslotcache.so.
cmake -S "$work/parent/vendored" -B "$work/subdirectory-shared" \
    -DVENDOR_MODE=subdirectory -DBUILD_SHARED_LIBS=ON >/dev/null
cmake --build "$work/subdirectory-shared" -j "$jobs"
readelf -d "$work/subdirectory-shared/app" | grep "libslotcache.so" >/dev/null ||
    fail "vendored with BUILD_SHARED_LIBS=ON: app is not linked to libslotcache.so"
run_tests "$work/subdirectory-shared"
cmake -S "$work/parent/vendored" -B "$work/fetchcontent" \
    -DVENDOR_MODE=fetchcontent -DSLOTCACHE_SOURCE_DIR="$root" \
    -DASK_EXAMPLES=ON >/dev/null
cmake --build "$work/fetchcontent" -j "$jobs"
run_tests "$work/fetchcontent"
echo "consumers: pkg-config, find_package, add_subdirectory, FetchContent ok"
