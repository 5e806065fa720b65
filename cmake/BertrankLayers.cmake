# The layers of bertrank, each one static library, and the rule the build enforces between them:
# a layer's sources can include only its own headers and those of the layers below it that it
# names. Bottom to top:
#
#   common     OS-level helpers (atomic save, file locks, UTF-8, checked sizes, JSON, halves)
#   kernels    math on raw pointers and sizes; the ISA folders and dispatch     sees common
#   tokenizer  text -> word-piece ids                                           sees common
#   model      model file, encoder, heads, converter                            sees kernels tokenizer common
#   retrieval  flat / IVF / BM25 indexes, fusion, persistence, metrics          sees kernels common
#   api        the retrieve-then-rerank pipeline and the C API                  sees every layer above
#   server     `bertrank serve` over the C API (and common/); a library the CLI links, not part
#              of libbertrank
#   tools      the CLI, over the C API (and retrieval/ for document files and metrics, server/)
#
# How: each layer compiles with one include root of its own, ${build}/layers/<name>/, that holds
# a symbolic link per folder it may see (layers/model/ has common, kernels, tokenizer and model;
# no retrieval, no api). The repository root is never on a layer's include path, so
# `#include "model/model.h"` in a kernel source is "No such file or directory" at compile time.
# The roots are PRIVATE: linking a layer gives its link line, not its view of the tree. Only the
# api layer exports an include directory, the public include/ (bertrank/bertrank.h).
#
# bertrank_core (an INTERFACE target) is every layer plus the repository root on the include
# path: the white-box view that tests/, bench/ and tests/fuzz/ link.

# bertrank_layer_root(<out> <name> <folder>...): makes ${build}/layers/<name>/ with a link to each
# folder (paths relative to the repository root) and returns its path.
function(bertrank_layer_root out name)
  set(root ${PROJECT_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root})
  foreach(dir ${ARGN})
    if(NOT IS_DIRECTORY ${PROJECT_SOURCE_DIR}/${dir})
      message(FATAL_ERROR "layer ${name}: no folder ${dir}/ to see")
    endif()
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${dir} ${root}/${dir} SYMBOLIC)
  endforeach()
  set(${out} ${root} PARENT_SCOPE)
endfunction()

# bertrank_layer(<name> [SEES <folder>...] [SOURCES <file>...])
# Creates the static library bertrank_<name> from SOURCES, compiled with the include root that
# shows <name>/ and each folder in SEES, and links bertrank_<folder> of every SEES folder that
# is a layer (PRIVATE). Must be called from the layer's own CMakeLists.txt.
function(bertrank_layer name)
  cmake_parse_arguments(L "" "" "SEES;SOURCES" ${ARGN})
  bertrank_layer_root(root ${name} ${name} ${L_SEES})
  add_library(bertrank_${name} STATIC ${L_SOURCES})
  target_include_directories(bertrank_${name} PRIVATE ${root})
  foreach(dir ${L_SEES})
    if(TARGET bertrank_${dir})
      target_link_libraries(bertrank_${name} PRIVATE bertrank_${dir})
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY BERTRANK_LAYER_TARGETS bertrank_${name})
endfunction()

# $<TARGET_OBJECTS> of every layer, for the libraries and executables made of their objects
# (libbertrank.a / .so, bertrank-static).
function(bertrank_layer_objects out)
  set(objs "")
  get_property(targets GLOBAL PROPERTY BERTRANK_LAYER_TARGETS)
  foreach(t ${targets})
    list(APPEND objs $<TARGET_OBJECTS:${t}>)
  endforeach()
  set(${out} ${objs} PARENT_SCOPE)
endfunction()
