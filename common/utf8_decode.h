// utf8_decode.h — the one UTF-8 decoder: per code point, inline, for the tokenizers' inner loops
// and for common/utf8.cpp's whole-string checks (utf8_is_valid, utf8_replace_invalid).
//
// Invalid UTF-8 is not an error: each maximal ill-formed subsequence becomes one U+FFFD (Unicode
// §3.9 "substitution of maximal subparts", the WHATWG rule, Python's errors="replace", Rust's
// from_utf8_lossy), which is how `tokenizers` sees bytes that Python decoded with "replace".
// Overlong forms, surrogates and code points above U+10FFFF are ill-formed.
#pragma once

#include <cstddef>
#include <string>

namespace bertrank {

// Returns the code point starting at s[i] (i < n) and advances i past it; for an ill-formed
// subpart returns U+FFFD, advances past the subpart and sets *ill_formed (when given) to true,
// which is how a literal U+FFFD in the input is told from a replacement.
inline char32_t decode_utf8(const unsigned char* s, size_t n, size_t& i, bool* ill_formed = nullptr) {
  const unsigned char b0 = s[i];
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int need;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    ++i;  // 0x80..0xC1, 0xF5..0xFF: never valid as a first byte
    if (ill_formed) *ill_formed = true;
    return 0xFFFD;
  }
  size_t j = i + 1;
  for (int k = 0; k < need; ++k, ++j) {
    if (j >= n) {
      i = j;
      if (ill_formed) *ill_formed = true;
      return 0xFFFD;  // truncated at end of input: the whole prefix is one replacement
    }
    const unsigned char b = s[j];
    const unsigned char l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
    if (b < l || b > h) {
      i = j;  // the offending byte starts the next decode
      if (ill_formed) *ill_formed = true;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  i = j;
  return cp;
}

// Appends the UTF-8 encoding of the code point c (< 0x110000) to out.
inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(char(c));
  } else if (c < 0x800) {
    out.push_back(char(0xC0 | (c >> 6)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(char(0xE0 | (c >> 12)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (c >> 18)));
    out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  }
}

}  // namespace bertrank
