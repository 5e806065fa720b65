# Included by the top-level CMakeLists.txt before any target when BERTRANK_BUILD_FUZZ is ON:
# the fuzz targets need the whole engine built with libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link) and ASan+UBSan, which only clang provides.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "BERTRANK_BUILD_FUZZ=ON needs clang (libFuzzer), but the C++ compiler is "
    "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} (${CMAKE_CXX_COMPILER}). Configure a "
    "fresh build directory with CC=clang CXX=clang++, or use scripts/fuzz.sh.")
endif()
if(NOT BERTRANK_SANITIZE)
  set(BERTRANK_SANITIZE "address,undefined" CACHE STRING "Sanitizers to build with" FORCE)
endif()
add_compile_options(-fsanitize=fuzzer-no-link -g)
