// Small helpers shared by the test files.
#pragma once
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
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

// Standard base64 (RFC 4648: A-Z a-z 0-9 + /, '=' padding) -> bytes. Throws std::invalid_argument
// for a length that is not a multiple of 4, a character outside the alphabet, or misplaced padding,
// so a test never compares against a silently mangled decoding.
inline std::string base64_decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) throw std::invalid_argument("base64: length not a multiple of 4");
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=');
    if (pad && !last) throw std::invalid_argument("base64: padding before the end");
    uint32_t x = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + size_t(k)];
      const int v = (k >= 4 - pad) ? 0 : val(c);
      if (v < 0) throw std::invalid_argument(std::string("base64: bad character '") + c + "'");
      x = x << 6 | uint32_t(v);
    }
    out.push_back(char(x >> 16));
    if (pad < 2) out.push_back(char(x >> 8));
    if (pad < 1) out.push_back(char(x));
  }
  return out;
}

}  // namespace bertrank::test
