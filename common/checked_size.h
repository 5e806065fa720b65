// checked_size.h — size arithmetic on sizes that callers give (n, k, candidates, batch).
//
// A count from a request (the C API, the CLI, later the server) is multiplied into a buffer
// size; a product that wraps makes a small buffer that is then written as a large one. Every
// such product goes through size_mul(), which refuses the overflow with std::invalid_argument
// (BERTRANK_ERR_INVALID_ARGUMENT at the C API) naming what was being sized; sat_mul() is for
// products that are only compared or capped (k * rescore_factor, capped at the index size).
#pragma once

#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace bertrank {

inline size_t size_mul(size_t a, size_t b, const char* what) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " x " + std::to_string(b) +
                                " overflows size_t");
  return a * b;
}

inline size_t size_add(size_t a, size_t b, const char* what) {
  if (b > std::numeric_limits<size_t>::max() - a)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " + " + std::to_string(b) +
                                " overflows size_t");
  return a + b;
}

// a * b, or SIZE_MAX when that overflows.
inline size_t sat_mul(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return std::numeric_limits<size_t>::max();
  return a * b;
}

}  // namespace bertrank
