#include "common/utf8.h"

#include <stdexcept>

#include "common/utf8_decode.h"

namespace bertrank {

namespace {

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
    bool bad = false;
    decode_utf8(p, s.size(), i, &bad);
    if (bad) return false;
  }
  return true;
}

std::string utf8_replace_invalid(std::string_view s, size_t* replaced) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  out.reserve(s.size());
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    bool bad = false;
    decode_utf8(p, s.size(), i, &bad);
    if (bad) {
      out += "\xEF\xBF\xBD";
      ++count;
    } else {
      out.append(s.data() + start, i - start);
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
