#include "common/utf8.h"

#include <stdexcept>

namespace bertrank {

namespace {

// Length of the sequence at s[i]: > 0 for a valid code point of that many bytes; -m for an
// ill-formed maximal subpart of m >= 1 bytes (the same table as tokenizer/wordpiece.cpp).
inline long sequence_at(const unsigned char* s, size_t n, size_t i) {
  const unsigned char b0 = s[i];
  if (b0 < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;  // 0x80..0xC1, 0xF5..0xFF never start a sequence
  }
  size_t j = i + 1;
  for (int k = 0; k < need; ++k, ++j) {
    if (j >= n) return -long(j - i);  // truncated at the end: the whole prefix is one subpart
    const unsigned char b = s[j];
    const unsigned char l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
    if (b < l || b > h) return -long(j - i);  // the offending byte starts the next sequence
  }
  return long(need + 1);
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

}  // namespace

TextEncoding parse_text_encoding(const std::string& name, const std::string& what) {
  std::string n;
  for (char c : name) n += ascii_lower(c);
  if (n == "utf-8" || n == "utf8") return TextEncoding::text_utf8;
  if (n == "latin-1" || n == "latin1" || n == "iso-8859-1" || n == "iso8859-1")
    return TextEncoding::text_latin1;
  throw std::invalid_argument(what + ": unknown encoding '" + name + "' (use utf-8 or latin-1)");
}

const char* text_encoding_name(TextEncoding e) { return e == TextEncoding::text_latin1 ? "latin-1" : "utf-8"; }

bool utf8_is_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    const long len = sequence_at(p, s.size(), i);
    if (len < 0) return false;
    i += size_t(len);
  }
  return true;
}

std::string utf8_replace_invalid(std::string_view s, size_t* replaced) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  out.reserve(s.size());
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    const long len = sequence_at(p, s.size(), i);
    if (len > 0) {
      out.append(s.data() + i, size_t(len));
      i += size_t(len);
    } else {
      out += "\xEF\xBF\xBD";
      ++count;
      i += size_t(-len);
    }
  }
  if (replaced) *replaced = count;
  return out;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    if (b < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(char(0xC0 | (b >> 6)));
      out.push_back(char(0x80 | (b & 0x3F)));
    }
  }
  return out;
}

bool decode_text(std::string& s, TextEncoding e) {
  if (e == TextEncoding::text_latin1) {
    for (char c : s)
      if (static_cast<unsigned char>(c) >= 0x80) {
        s = latin1_to_utf8(s);
        break;
      }
    return false;
  }
  if (utf8_is_valid(s)) return false;
  s = utf8_replace_invalid(s);
  return true;
}

std::string text_decode_warning(const std::string& what, const std::string& noun, const TextDecodeReport& r) {
  if (r.replaced == 0) return {};
  return what + ": " + std::to_string(r.replaced) + " of " + std::to_string(r.records) + " " + noun +
         " had invalid UTF-8 (first: " + r.first_replaced +
         "), replaced with U+FFFD (use --encoding latin-1 for Latin-1 files)";
}

}  // namespace bertrank
