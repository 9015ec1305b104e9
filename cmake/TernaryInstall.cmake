# SPDX-License-Identifier: Apache-2.0
# Export and install rules (fmt's model).
#
# - Always: a build-tree export (ternary-targets.cmake + ternaryConfig.cmake in the build dir),
#   so a consumer that adds ternary with add_subdirectory/FetchContent can export() its own
#   targets that link ternary::ternary (fmt #4806), and find_package can use the build tree.
# - TERNARY_INSTALL=ON: install(TARGETS/EXPORT), headers (with the generated build_config.hpp),
#   the package config + version files and ternary.pc. A consumer that install(EXPORT)s a target
#   linking ternary::ternary needs TERNARY_INSTALL=ON.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TERNARY_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/ternary"
    CACHE STRING "Install directory of the ternary CMake package files")
mark_as_advanced(TERNARY_INSTALL_CMAKEDIR)

target_include_directories(ternary_headers
                           INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

set(_ternary_export_targets ternary ternary_headers)
foreach(_ternary_component quant io)
  if(TARGET ternary_${_ternary_component})
    list(APPEND _ternary_export_targets ternary_${_ternary_component})
  endif()
endforeach()
if(TARGET ternary_cli)
  list(APPEND _ternary_export_targets ternary_cli)
endif()

write_basic_package_version_file("${PROJECT_BINARY_DIR}/ternaryConfigVersion.cmake"
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

# Build-tree package: find_package(ternary) with ternary_DIR=<build dir>.
configure_package_config_file(
  cmake/ternaryConfig.cmake.in "${PROJECT_BINARY_DIR}/ternaryConfig.cmake"
  INSTALL_DESTINATION "${PROJECT_BINARY_DIR}" INSTALL_PREFIX "${PROJECT_BINARY_DIR}")

if(NOT TERNARY_INSTALL)
  export(TARGETS ${_ternary_export_targets} NAMESPACE ternary::
         FILE "${PROJECT_BINARY_DIR}/ternary-targets.cmake")
  return()
endif()

install(
  TARGETS ${_ternary_export_targets}
  EXPORT ternary-targets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ternary_runtime
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT ternary_runtime
          NAMELINK_COMPONENT ternary_development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT ternary_development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(
  DIRECTORY "${PROJECT_SOURCE_DIR}/include/ternary"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT ternary_development
  FILES_MATCHING
  PATTERN "*.hpp"
  PATTERN "*.h"
  PATTERN "*.def"
  PATTERN "*.inl")
install(FILES "${PROJECT_BINARY_DIR}/include/ternary/build_config.hpp"
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ternary COMPONENT ternary_development)

install(EXPORT ternary-targets NAMESPACE ternary:: DESTINATION ${TERNARY_INSTALL_CMAKEDIR}
        FILE ternary-targets.cmake COMPONENT ternary_development)
export(EXPORT ternary-targets NAMESPACE ternary::
       FILE "${PROJECT_BINARY_DIR}/ternary-targets.cmake")

configure_package_config_file(
  cmake/ternaryConfig.cmake.in "${PROJECT_BINARY_DIR}/cmake/install/ternaryConfig.cmake"
  INSTALL_DESTINATION ${TERNARY_INSTALL_CMAKEDIR})
install(FILES "${PROJECT_BINARY_DIR}/cmake/install/ternaryConfig.cmake"
              "${PROJECT_BINARY_DIR}/ternaryConfigVersion.cmake"
        DESTINATION ${TERNARY_INSTALL_CMAKEDIR} COMPONENT ternary_development)

# pkg-config. Relocatable: prefix is found from the .pc file's own place (${pcfiledir}), so
# `cmake --install --prefix <dir>` gives a usable file. A static libternary needs its link-only
# dependencies in Libs.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(TERNARY_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _ternary_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" _ternary_pc_up "${_ternary_pc_up}")
  set(TERNARY_PC_PREFIX "\${pcfiledir}/${_ternary_pc_up}")
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(TERNARY_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(TERNARY_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
set(TERNARY_PC_CFLAGS "")
set(_ternary_pc_deps ${CMAKE_THREAD_LIBS_INIT})
if(TERNARY_WITH_CUDA)
  list(APPEND _ternary_pc_deps "-L${CUDAToolkit_LIBRARY_DIR}" -lcudart)
endif()
if(TERNARY_SANITIZE AND NOT MSVC)
  string(APPEND TERNARY_PC_CFLAGS " -fsanitize=${TERNARY_SANITIZE}")
  list(APPEND _ternary_pc_deps "-fsanitize=${TERNARY_SANITIZE}")
endif()
list(JOIN _ternary_pc_deps " " _ternary_pc_deps)
if(_ternary_pc_deps)
  string(PREPEND _ternary_pc_deps " ")
endif()
set(TERNARY_PC_LIBS "")
set(TERNARY_PC_LIBS_PRIVATE "")
get_target_property(_ternary_pc_type ternary TYPE)
if(_ternary_pc_type STREQUAL "SHARED_LIBRARY")
  string(APPEND TERNARY_PC_CFLAGS " -DTERNARY_SHARED")
  set(TERNARY_PC_LIBS_PRIVATE "${_ternary_pc_deps}")
else()
  set(TERNARY_PC_LIBS "${_ternary_pc_deps}")
endif()
configure_file(cmake/ternary.pc.in "${PROJECT_BINARY_DIR}/ternary.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/ternary.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT ternary_development)
