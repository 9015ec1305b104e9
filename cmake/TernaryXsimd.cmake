# SPDX-License-Identifier: Apache-2.0
# xsimd, a private build-time dependency of the kernels (header-only).
#
# Sets TERNARY_XSIMD_INCLUDE_DIRS. The library takes it as a PRIVATE include path rather than
# linking a target, so xsimd can appear in neither the install nor the build-tree export.
#
# Debian's xsimd 8.1 config declares INTERFACE_LINK_LIBRARIES "xtl" without finding xtl, so
# linking its `xsimd` target adds a bare -lxtl that does not exist. Since in-tree code (tests,
# benchmarks) may still link `xsimd`, that dangling entry is stripped here.
include_guard(GLOBAL)

find_package(xsimd QUIET CONFIG)

set(TERNARY_XSIMD_INCLUDE_DIRS)
if(TARGET xsimd)
  get_target_property(_ternary_xsimd_imported xsimd IMPORTED)
  get_target_property(_ternary_xsimd_links xsimd INTERFACE_LINK_LIBRARIES)
  if(_ternary_xsimd_imported AND _ternary_xsimd_links AND NOT TARGET xtl)
    list(REMOVE_ITEM _ternary_xsimd_links xtl)
    set_property(TARGET xsimd PROPERTY INTERFACE_LINK_LIBRARIES "${_ternary_xsimd_links}")
  endif()
  get_target_property(TERNARY_XSIMD_INCLUDE_DIRS xsimd INTERFACE_INCLUDE_DIRECTORIES)
endif()
if(NOT TERNARY_XSIMD_INCLUDE_DIRS)
  find_path(TERNARY_XSIMD_INCLUDE_DIR xsimd/xsimd.hpp DOC "Directory holding xsimd/xsimd.hpp")
  if(NOT TERNARY_XSIMD_INCLUDE_DIR)
    message(FATAL_ERROR "ternary: xsimd not found (Debian/Ubuntu: apt-get install libxsimd-dev; "
                        "or set xsimd_DIR / TERNARY_XSIMD_INCLUDE_DIR)")
  endif()
  set(TERNARY_XSIMD_INCLUDE_DIRS "${TERNARY_XSIMD_INCLUDE_DIR}")
endif()
