# Cross-compiling for arm64 Linux with Debian's gcc-aarch64-linux-gnu and
# libc6-dev-arm64-cross; tests run under qemu-user (scripts/ci/73-arm64.sh).
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake ...
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# ctest runs every test executable through the emulator.
find_program(SLOTCACHE_QEMU_AARCH64 qemu-aarch64)
# With the multiarch arm64 libc installed (libc6:arm64, which
# libcmocka-dev:arm64 pulls in) the guest loader is found at
# /lib/ld-linux-aarch64.so.1; only without it point qemu at the cross
# sysroot with -L (qemu 7.2 then hangs in fork, so process tests fail).
if(SLOTCACHE_QEMU_AARCH64)
    if(EXISTS /lib/ld-linux-aarch64.so.1)
        set(CMAKE_CROSSCOMPILING_EMULATOR ${SLOTCACHE_QEMU_AARCH64})
    else()
        set(CMAKE_CROSSCOMPILING_EMULATOR ${SLOTCACHE_QEMU_AARCH64}
            -L /usr/aarch64-linux-gnu)
    endif()
endif()
