// Small helpers shared by the test files.
#pragma once
#include <exception>
#include <functional>
#include <string>

namespace bertrank::test {

// The message of the exception f throws, or "" when it returns normally.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace bertrank::test
