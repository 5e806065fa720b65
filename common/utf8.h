// common/utf8.h — making input text valid UTF-8 before it is stored (documents, queries, ids).
//
// Why: what an index stores is written back out as JSON (`bertrank search`, the server), and
// JSON text must be UTF-8; a byte that is not valid UTF-8 would make every search that returns
// its document fail. So text is decoded once, at ingestion (docs_io.h, metrics.h read_queries,
// smart.h read_qrels_file), with one of two encodings:
//
//   utf8    (the default) valid UTF-8 is kept byte for byte; each *maximal ill-formed
//           subsequence* (Unicode 15 §3.9 "U+FFFD Substitution of Maximal Subparts", the
//           WHATWG Encoding rule, Python's errors="replace", Rust's from_utf8_lossy) becomes
//           one U+FFFD (EF BF BD). It is the rule the WordPiece tokenizer applies
//           (tokenizer/wordpiece.h step 0), so the stored text and the tokens agree: tokenizing
//           the replaced text gives the same tokens as tokenizing the raw bytes. Overlong forms,
//           surrogates (ED A0..BF ..) and code points above U+10FFFF are ill-formed. ASCII bytes
//           are never consumed by a replacement, so JSON or SMART structure is never altered.
//   latin1  every byte is ISO-8859-1 (byte b = code point U+00b b), re-encoded as UTF-8:
//           always valid, never replaced. "\xE9" -> "é" (C3 A9).
//
// Everything here is pure, allocation-bounded (output <= 3 x input) and safe on any bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bertrank {

enum class TextEncoding { text_utf8, text_latin1 };

// "utf-8" | "utf8" -> text_utf8; "latin-1" | "latin1" | "iso-8859-1" -> text_latin1 (ASCII
// case-insensitive). Throws std::invalid_argument naming `what` (e.g. "--encoding") otherwise.
TextEncoding parse_text_encoding(const std::string& name, const std::string& what);
const char* text_encoding_name(TextEncoding e);  // "utf-8" | "latin-1"

// True when s is valid UTF-8 (the rule above; an empty string is valid).
bool utf8_is_valid(std::string_view s);

// s with each maximal ill-formed subsequence replaced by U+FFFD; *replaced (may be null)
// receives how many replacements were made (0: the result equals s).
std::string utf8_replace_invalid(std::string_view s, size_t* replaced = nullptr);

// ISO-8859-1 bytes to UTF-8.
std::string latin1_to_utf8(std::string_view s);

// Decodes s in place with encoding e; returns true when something was replaced (utf8 only).
bool decode_text(std::string& s, TextEncoding e);

// What decoding did to the records (documents, queries, judgements) of one file.
struct TextDecodeReport {
  size_t records = 0;          // records read
  size_t replaced = 0;         // records in which >= 1 invalid sequence became U+FFFD
  std::string first_replaced;  // where the first such record is, e.g. "docs.txt:12 (.I 7)"
};

// The one-line warning the CLI prints on stderr when r.replaced > 0, else "":
// "<what>: 3 of 1400 <noun> had invalid UTF-8 (first: docs.txt:12 (.I 7)), replaced with U+FFFD
// (use --encoding latin-1 for Latin-1 files)".
std::string text_decode_warning(const std::string& what, const std::string& noun, const TextDecodeReport& r);

}  // namespace bertrank
