# Packaging: what `cmake --install` puts in a prefix for programs that link bertrank.
#
#   include/bertrank/bertrank.h, bertrank.hpp   the public C API and its C++ wrapper
#   lib/libbertrank.a                           the engine layers' objects + utf8proc's, merged: a
#                                               consumer needs only libc, libstdc++ and OpenMP
#   lib/libbertrank.so.X.Y.Z (SONAME .so.X.Y)   exports only the bertrank_* C symbols
#   lib/cmake/bertrank/                         find_package(bertrank): bertrank::bertrank,
#                                               bertrank::bertrank_static, ::bertrank_shared
#   lib/pkgconfig/bertrank.pc, bertrank-static.pc
#   bin/bertrank                                the CLI
#
# Both libraries reuse the layers' object files ($<TARGET_OBJECTS> of every bertrank_<layer>,
# cmake/BertrankLayers.cmake), so nothing is compiled twice. Target names avoid the `bertrank`
# executable and `bertrank_core`; OUTPUT_NAME is bertrank.
#
# -DBERTRANK_STATIC_CLI=ON adds `bertrank-static` (build/bertrank-static): the CLI (`serve` included) linked with
# -static (glibc, libstdc++, libgomp, utf8proc all inside), for machines with nothing installed.
include(GNUInstallDirs)
bertrank_layer_objects(BERTRANK_ENGINE_OBJECTS)
get_property(BERTRANK_ENGINE_LAYERS GLOBAL PROPERTY BERTRANK_LAYER_TARGETS)
include(CMakePackageConfigHelpers)

option(BERTRANK_BUILD_PACKAGE "Build libbertrank.a / libbertrank.so for installation" ON)
option(BERTRANK_STATIC_CLI "Also build build/bertrank-static, a fully static CLI" OFF)

# The package version is the public header's (BERTRANK_VERSION_*): one source of truth. A new
# version in the header reconfigures (else a build dir would keep installing the old package).
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/bertrank/bertrank.h)
file(STRINGS ${PROJECT_SOURCE_DIR}/include/bertrank/bertrank.h _bertrank_ver_lines
     REGEX "^#define BERTRANK_VERSION_(MAJOR|MINOR|PATCH) ")
foreach(_part MAJOR MINOR PATCH)
  string(REGEX REPLACE ".*BERTRANK_VERSION_${_part} ([0-9]+).*" "\\1" BERTRANK_API_VERSION_${_part}
         "${_bertrank_ver_lines}")
endforeach()
set(BERTRANK_API_VERSION
    "${BERTRANK_API_VERSION_MAJOR}.${BERTRANK_API_VERSION_MINOR}.${BERTRANK_API_VERSION_PATCH}")
# 0.x: a minor release may break the ABI, so the SONAME carries major.minor (libbertrank.so.0.3).
if(BERTRANK_API_VERSION_MAJOR EQUAL 0)
  set(BERTRANK_SOVERSION "${BERTRANK_API_VERSION_MAJOR}.${BERTRANK_API_VERSION_MINOR}")
  set(_bertrank_compat SameMinorVersion)
else()
  set(BERTRANK_SOVERSION "${BERTRANK_API_VERSION_MAJOR}")
  set(_bertrank_compat SameMajorVersion)
endif()

# utf8proc's static archive, unpacked once at configure time so its objects can be merged into
# libbertrank.a (and linked, hidden, into libbertrank.so). Debian's libutf8proc.a is PIC.
find_library(BERTRANK_UTF8PROC_STATIC NAMES libutf8proc.a HINTS ${UTF8PROC_LIBRARY_DIRS})
set(BERTRANK_UTF8PROC_OBJECTS "")
if(BERTRANK_UTF8PROC_STATIC)
  set(_u8dir ${PROJECT_BINARY_DIR}/utf8proc_objects)
  file(REMOVE_RECURSE ${_u8dir})
  file(MAKE_DIRECTORY ${_u8dir})
  execute_process(COMMAND ${CMAKE_AR} x ${BERTRANK_UTF8PROC_STATIC} WORKING_DIRECTORY ${_u8dir}
                  RESULT_VARIABLE _u8rc)
  file(GLOB BERTRANK_UTF8PROC_OBJECTS ${_u8dir}/*.o)
  if(NOT _u8rc EQUAL 0 OR NOT BERTRANK_UTF8PROC_OBJECTS)
    message(FATAL_ERROR "could not unpack ${BERTRANK_UTF8PROC_STATIC}")
  endif()
endif()

if(BERTRANK_BUILD_PACKAGE)
  if(NOT BERTRANK_UTF8PROC_STATIC)
    message(WARNING "libutf8proc.a not found: libbertrank.a will need libutf8proc at link time")
  endif()

  # -- libbertrank.a --------------------------------------------------------------------------
  add_library(bertrank_static STATIC ${BERTRANK_ENGINE_OBJECTS} ${BERTRANK_UTF8PROC_OBJECTS})
  add_dependencies(bertrank_static ${BERTRANK_ENGINE_LAYERS})
  set_target_properties(bertrank_static PROPERTIES
    OUTPUT_NAME bertrank
    LINKER_LANGUAGE CXX
    ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
  target_include_directories(bertrank_static INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(bertrank_static INTERFACE OpenMP::OpenMP_CXX Threads::Threads)
  if(NOT BERTRANK_UTF8PROC_STATIC)
    target_link_libraries(bertrank_static INTERFACE $<BUILD_INTERFACE:PkgConfig::UTF8PROC>)
  endif()

  # -- libbertrank.so -------------------------------------------------------------------------
  add_library(bertrank_shared SHARED ${BERTRANK_ENGINE_OBJECTS})
  add_dependencies(bertrank_shared ${BERTRANK_ENGINE_LAYERS})
  set_target_properties(bertrank_shared PROPERTIES
    OUTPUT_NAME bertrank
    LINKER_LANGUAGE CXX
    VERSION ${BERTRANK_API_VERSION}
    SOVERSION ${BERTRANK_SOVERSION}
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib
    LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/bertrank.map)
  target_include_directories(bertrank_shared INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  # Only bertrank_* is exported (the version script); the engine and utf8proc stay local.
  target_link_options(bertrank_shared PRIVATE
    -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/bertrank.map -Wl,--exclude-libs,ALL)
  if(NOT BERTRANK_SANITIZE)
    target_link_options(bertrank_shared PRIVATE -Wl,--no-undefined)
  endif()
  if(BERTRANK_UTF8PROC_STATIC)
    target_link_libraries(bertrank_shared PRIVATE ${BERTRANK_UTF8PROC_STATIC})
  else()
    target_link_libraries(bertrank_shared PRIVATE PkgConfig::UTF8PROC)
  endif()
  target_link_libraries(bertrank_shared PRIVATE OpenMP::OpenMP_CXX Threads::Threads)

  # -- install ------------------------------------------------------------------------------
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/bertrank DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
  install(TARGETS bertrank_static bertrank_shared EXPORT bertrankTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  set(_cfgdir ${CMAKE_INSTALL_LIBDIR}/cmake/bertrank)
  install(EXPORT bertrankTargets NAMESPACE bertrank:: DESTINATION ${_cfgdir})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bertrankConfig.cmake.in
    ${PROJECT_BINARY_DIR}/package/bertrankConfig.cmake INSTALL_DESTINATION ${_cfgdir})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/bertrankConfigVersion.cmake
    VERSION ${BERTRANK_API_VERSION} COMPATIBILITY ${_bertrank_compat})
  install(FILES ${PROJECT_BINARY_DIR}/package/bertrankConfig.cmake
                ${PROJECT_BINARY_DIR}/package/bertrankConfigVersion.cmake DESTINATION ${_cfgdir})

  # pkg-config: what a C program must add when it links the static library (the C++ runtime,
  # the OpenMP runtime, libm). Paths are relative to the .pc file, so the prefix can move.
  set(_pc_libs -lstdc++)
  foreach(_l ${OpenMP_CXX_LIB_NAMES})
    list(APPEND _pc_libs -l${_l})
  endforeach()
  list(APPEND _pc_libs -lm)
  list(REMOVE_DUPLICATES _pc_libs)
  if(NOT BERTRANK_UTF8PROC_STATIC)
    list(APPEND _pc_libs -lutf8proc)
  endif()
  string(REPLACE ";" " " BERTRANK_PC_PRIVATE_LIBS "${_pc_libs}")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/bertrank.pc.in ${PROJECT_BINARY_DIR}/package/bertrank.pc @ONLY)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/bertrank-static.pc.in
                 ${PROJECT_BINARY_DIR}/package/bertrank-static.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/package/bertrank.pc ${PROJECT_BINARY_DIR}/package/bertrank-static.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# The CLI (it links libutf8proc.so and libgomp.so from the system; bertrank-static does not).
install(TARGETS bertrank RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# -- build/bertrank-static: the CLI with everything linked in (-static) ------------------------
if(BERTRANK_STATIC_CLI)
  if(NOT BERTRANK_UTF8PROC_STATIC)
    message(FATAL_ERROR "BERTRANK_STATIC_CLI needs libutf8proc.a (Debian: libutf8proc-dev)")
  endif()
  find_package(CLI11 REQUIRED)  # tools/ finds it, but imported targets are per directory
  # The `bertrank` target's own object files (tools/, compiled once), the server's and the
  # layers', plus utf8proc.o, linked statically; the CLI's other link libraries (CLI11) are
  # header-only. (Linking bertrank_server as a library would drag in OpenMP::OpenMP_CXX, i.e.
  # libgomp.so by path, through its bertrank_api dependency.)
  get_target_property(_cli_libs bertrank LINK_LIBRARIES)
  list(REMOVE_ITEM _cli_libs bertrank_core bertrank_static bertrank_shared bertrank_server ${BERTRANK_ENGINE_LAYERS})
  add_executable(bertrank-static $<TARGET_OBJECTS:bertrank> $<TARGET_OBJECTS:bertrank_server>
                 ${BERTRANK_ENGINE_OBJECTS} ${BERTRANK_UTF8PROC_OBJECTS})
  add_dependencies(bertrank-static bertrank bertrank_server ${BERTRANK_ENGINE_LAYERS})
  target_link_libraries(bertrank-static PRIVATE ${_cli_libs})
  # -static: glibc, libstdc++, libgcc and libgomp all inside; no PIE, no interpreter.
  # (OpenMP::OpenMP_CXX names libgomp.so by path, so the flag is given instead: with -static,
  # -fopenmp links libgomp.a.)
  separate_arguments(_omp_flags UNIX_COMMAND "${OpenMP_CXX_FLAGS}")
  target_link_options(bertrank-static PRIVATE -static -no-pie ${_omp_flags} -pthread)
  set_target_properties(bertrank-static PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}
    LINKER_LANGUAGE CXX)
endif()
