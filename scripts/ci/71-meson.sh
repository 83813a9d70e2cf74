#!/usr/bin/env bash
# The Meson build (meson.build, meson_options.txt): builds the static and
# shared library and slc with -Werror; compiles the same sources as CMake
# and exports the same symbols under the same SONAME (so the two builds
# cannot drift apart silently); installs header, libraries and slotcache.pc;
# and serves as a subproject to a small Meson project that runs a round
# trip (dependency('slotcache', fallback: [...])).
source "$(dirname "$0")/lib.sh"
work=$root/_build/meson-ci
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- Both builds ---------------------------------------------------------
CC=gcc cmake -S "$root" -B "$work/cmake" -DSLOTCACHE_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Release -DSLOTCACHE_BUILD_TESTS=OFF \
    -DSLOTCACHE_BUILD_EXAMPLES=OFF -DSLOTCACHE_BUILD_TOOLS=OFF \
    -DSLOTCACHE_BUILD_SHARED=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$work/cmake" -j "$jobs" --target slotcache
CC=gcc meson setup "$work/meson" "$root" -Dwerror=true -Dtools=true \
    --prefix "$work/prefix" >/dev/null
ninja -C "$work/meson" -j "$jobs"

# ---- No drift: sources, exports, SONAME, version -------------------------
python3 - "$work/cmake/compile_commands.json" > "$work/sources-cmake.txt" <<'PY'
import json, os, sys
for e in json.load(open(sys.argv[1])):
    # The library sources are compiled once, in the OBJECT library.
    if "CMakeFiles/slotcache_objects.dir/" in e.get("output", e["command"]):
        print(os.path.realpath(e["file"]))
PY
meson introspect --targets "$work/meson" | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if t["name"] == "slotcache" and t["type"] == "shared library":
        for ts in t["target_sources"]:
            for s in ts["sources"]:
                print(os.path.realpath(s))' > "$work/sources-meson.txt"
sort -o "$work/sources-cmake.txt" "$work/sources-cmake.txt"
sort -o "$work/sources-meson.txt" "$work/sources-meson.txt"
[[ -s $work/sources-cmake.txt ]] || fail "no CMake sources found"
diff -u "$work/sources-cmake.txt" "$work/sources-meson.txt" ||
    fail "meson.build compiles other sources than CMakeLists.txt"

exports() { nm -D --defined-only "$1" | awk '{print $2, $3}' | sort; }
exports "$work/cmake/libslotcache.so" > "$work/exports-cmake.txt"
exports "$work/meson/libslotcache.so" > "$work/exports-meson.txt"
diff -u "$work/exports-cmake.txt" "$work/exports-meson.txt" ||
    fail "the Meson libslotcache.so exports other symbols than CMake's"
soname() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'; }
[[ $(soname "$work/cmake/libslotcache.so") == $(soname "$work/meson/libslotcache.so") ]] ||
    fail "SONAMEs differ"
bad=$(nm -g --defined-only "$work/meson/libslotcache.a" |
    awk 'NF == 3 {print $3}' | grep -v '^slc_' || true)
[[ -z $bad ]] || fail "the Meson libslotcache.a defines unprefixed symbols: $bad"
header_version=$(sed -n 's/^#define SLC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$root/include/slotcache.h" | paste -sd.)
meson_version=$(meson introspect --projectinfo "$work/meson" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
[[ $meson_version == "$header_version" ]] ||
    fail "meson.build says version $meson_version, the header $header_version"

# ---- Install ---------------------------------------------------------------
meson install -C "$work/meson" --quiet
pc=$(find "$work/prefix" -name slotcache.pc)
[[ -n $pc && -f $work/prefix/include/slotcache.h ]] || fail "incomplete install"
PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --modversion slotcache |
    grep -x "$header_version" >/dev/null || fail "installed slotcache.pc has another version"

# ---- As a subproject ---------------------------------------------------------
consumer=$work/consumer
cp -r "$root/tests/consumers/meson" "$consumer"
cp "$root"/tests/consumers/common/*.[ch] "$consumer/"
mkdir -p "$consumer/subprojects"
ln -s "$root" "$consumer/subprojects/libslotcache"
meson setup "$work/consumer-build" "$consumer" \
    --force-fallback-for=slotcache >/dev/null
ninja -C "$work/consumer-build" -j "$jobs"
meson test -C "$work/consumer-build" --print-errorlogs
echo "meson: same sources, exports and SONAME as CMake; install and subproject ok"
