// docs_io.h — documents to index, from the two forms users have.
//
// jsonl: one JSON object per line: {"id": <integer >= 0, or a string of digits>, "text": "...",
//        "meta": {...optional object}}. Blank lines are skipped. Errors name the file and line.
// SMART: a collection file like ../shared/data/ir/*/ (read by smart.h); the ".I" id must be an
//        integer; the text is the record's text (smart.h); meta is {"title": .T} when a .T
//        field exists and differs from the text, else empty.
// read_documents() picks SMART when the first non-blank line starts with ".I", else jsonl.
// Ids must be unique within a file (error names both lines / records).
//
// Encoding: what is read here is stored in an index and written back out as JSON, so it is
// always valid UTF-8 (issue 13). Input bytes are decoded at ingestion (common/utf8.h):
//   utf-8    (default) valid UTF-8 is kept byte for byte; each maximal ill-formed subsequence
//            becomes one U+FFFD — the rule the WordPiece tokenizer applies to invalid bytes, so
//            the stored text and its tokens agree (the tokenizer then drops the U+FFFD). A
//            Latin-1 "caf\xE9" is stored as "caf\uFFFD".
//   latin-1  (`--encoding latin-1` on `index build` / `index add`) every byte is ISO-8859-1:
//            "caf\xE9" is stored as "café". Nothing is ever replaced.
// Both forms are decoded the same way: a jsonl line is decoded as a whole *before* it is parsed
// (nlohmann's parser rejects invalid UTF-8 inside strings; decoding never touches an ASCII byte,
// so the JSON structure is unchanged and \u escapes keep their meaning), which covers "text",
// string ids and every string in "meta"; a SMART record's id and fields (.T, .W, ...) are
// decoded by smart.h. Invalid UTF-8 is therefore never an error; a line that still is not JSON
// (e.g. a lone surrogate escape "\ud800") is an error naming file:line and the parser's reason.
// The optional TextDecodeReport counts the documents (lines / records) in which something was
// replaced and where the first one is, for the CLI's one-line warning
// ("index build: 3 of 1400 documents had invalid UTF-8 (first: f:12 (.I 7)), replaced with
// U+FFFD (use --encoding latin-1 for Latin-1 files)"). Encoding does not detect anything: a
// valid-UTF-8 file read as latin-1 is double-encoded ("Ã©"), as iconv would do.
// Outside these readers nothing decodes: the C API's add calls store text bytes as given, so an
// index made that way (or before this decoding existed) may hold invalid UTF-8; `bertrank
// search` prints such bytes as U+FFFD (nlohmann's error_handler_t::replace) instead of failing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/utf8.h"

namespace bertrank::retrieval {

struct DocInput {
  int64_t id = 0;
  std::string text;
  std::string meta;  // JSON object text, or empty
};

std::vector<DocInput> read_jsonl_documents(const std::string& path, TextEncoding encoding = TextEncoding::text_utf8,
                                           TextDecodeReport* report = nullptr);
std::vector<DocInput> read_smart_documents(const std::string& path, TextEncoding encoding = TextEncoding::text_utf8,
                                           TextDecodeReport* report = nullptr);
std::vector<DocInput> read_documents(const std::string& path, TextEncoding encoding = TextEncoding::text_utf8,
                                     TextDecodeReport* report = nullptr);

// Calls fn(object, where) for each non-blank line of a jsonl file, where = "path:line" for
// error messages; each line is decoded with `encoding` first (above), and counted in `report`.
// Throws std::runtime_error naming `what` if the file cannot be opened, and the line (with the
// parser's reason) if it is not a JSON object or one object in it holds a key twice
// ("path:3: the object has the key 'id' twice"; common/json_strict.h).
void for_each_jsonl_object(const std::string& path, const std::string& what,
                           const std::function<void(const nlohmann::json&, const std::string&)>& fn,
                           TextEncoding encoding = TextEncoding::text_utf8, TextDecodeReport* report = nullptr);

// "123" -> 123; throws std::invalid_argument naming `what` for anything but 1-18 ASCII digits.
int64_t parse_doc_id(const std::string& s, const std::string& what);

}  // namespace bertrank::retrieval
