# SPDX-License-Identifier: Apache-2.0
# Cross-compiling for 64-bit ARM Linux with Debian's cross toolchain (g++-aarch64-linux-gnu);
# tests run under qemu-user (qemu-aarch64), which ctest and gtest_discover_tests use through
# CMAKE_CROSSCOMPILING_EMULATOR. Used by scripts/test-arm.sh:
#
#   cmake -S . -B build/arm -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#
# Override the triplet prefix with -DTERNARY_CROSS_TRIPLE=..., the target sysroot (libc,
# libstdc++ for the dynamic loader under qemu) with -DTERNARY_CROSS_ROOT=....
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(TERNARY_CROSS_TRIPLE aarch64-linux-gnu CACHE STRING "Cross toolchain triplet prefix")
set(TERNARY_CROSS_ROOT "/usr/${TERNARY_CROSS_TRIPLE}" CACHE PATH
    "Target root: libraries and loader of the target architecture")

set(CMAKE_C_COMPILER ${TERNARY_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${TERNARY_CROSS_TRIPLE}-g++)

# Run target binaries (tests, test discovery, try_run) under qemu with the target's loader and
# libraries. qemu-aarch64's default CPU model ("max") has the dot-product extension, so the
# NEON (armv8.2-a+dotprod) kernels run.
find_program(TERNARY_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(TERNARY_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${TERNARY_QEMU_AARCH64};-L;${TERNARY_CROSS_ROOT}")
endif()

# Look for libraries, headers and packages in the target root only, never on the host (an
# amd64 libgtest.a or fmt config would not link); programs (ninja, pkg-config) come from the host.
set(CMAKE_FIND_ROOT_PATH "${TERNARY_CROSS_ROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# xsimd is header-only and architecture-independent, but Debian installs it for the host only
# (/usr/include/xsimd). Expose that one directory, not all of the host's /usr/include, through a
# build-tree include root holding a link to it. Skipped in try_compile projects and when the
# caller chose TERNARY_XSIMD_INCLUDE_DIR.
get_property(_ternary_in_try_compile GLOBAL PROPERTY IN_TRY_COMPILE)
if(NOT _ternary_in_try_compile AND NOT TERNARY_XSIMD_INCLUDE_DIR
   AND EXISTS /usr/include/xsimd/xsimd.hpp)
  set(_ternary_host_xsimd_root "${CMAKE_BINARY_DIR}/host-headers")
  file(MAKE_DIRECTORY "${_ternary_host_xsimd_root}")
  if(NOT EXISTS "${_ternary_host_xsimd_root}/xsimd/xsimd.hpp")
    file(CREATE_LINK /usr/include/xsimd "${_ternary_host_xsimd_root}/xsimd" SYMBOLIC)
  endif()
  set(TERNARY_XSIMD_INCLUDE_DIR "${_ternary_host_xsimd_root}" CACHE PATH
      "Directory holding xsimd/xsimd.hpp (the host's xsimd, linked alone)")
endif()
