// checked_size.h — overflow-checked size arithmetic, the one copy for every layer.
//
// A count from a request (the C API, the CLI, later the server) is multiplied into a buffer
// size; a product that wraps makes a small buffer that is then written as a large one. Every
// such product goes through size_mul(), which refuses the overflow with std::invalid_argument
// (BERTRANK_ERR_INVALID_ARGUMENT at the C API) naming what was being sized; sat_mul() is for
// products that are only compared or capped (k * rescore_factor, capped at the index size).
//
// The file readers (model/model_file, model/safetensors, retrieval/index_file) check sizes read
// from a file and report an overflow as their own format error ("tensor 'x': shape's element
// count overflows 64 bits"), so they use the bool forms: mul_overflows(a, b, &r) and
// add_overflows(a, b, &r) store the wrapped result in r and return true when the exact result
// does not fit (as __builtin_mul_overflow does), for unsigned integer types no narrower than
// unsigned int (size_t, uint64_t, uint32_t; narrower ones would be promoted to int).
#pragma once

#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace bertrank {

template <typename T>
inline bool mul_overflows(T a, T b, T* out) {
  static_assert(std::is_unsigned<T>::value && sizeof(T) >= sizeof(unsigned), "mul_overflows: unsigned, not narrower than unsigned int");
  *out = T(a * b);
  return a != 0 && b > std::numeric_limits<T>::max() / a;
}

template <typename T>
inline bool add_overflows(T a, T b, T* out) {
  static_assert(std::is_unsigned<T>::value && sizeof(T) >= sizeof(unsigned), "add_overflows: unsigned, not narrower than unsigned int");
  *out = T(a + b);
  return b > std::numeric_limits<T>::max() - a;
}

inline size_t size_mul(size_t a, size_t b, const char* what) {
  size_t r;
  if (mul_overflows(a, b, &r))
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " x " + std::to_string(b) +
                                " overflows size_t");
  return r;
}

inline size_t size_add(size_t a, size_t b, const char* what) {
  size_t r;
  if (add_overflows(a, b, &r))
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " + " + std::to_string(b) +
                                " overflows size_t");
  return r;
}

// a * b, or SIZE_MAX when that overflows.
inline size_t sat_mul(size_t a, size_t b) {
  size_t r;
  return mul_overflows(a, b, &r) ? std::numeric_limits<size_t>::max() : r;
}

}  // namespace bertrank
