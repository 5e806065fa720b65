// docs_io.h — documents to index, from the two forms users have.
//
// jsonl: one JSON object per line: {"id": <integer >= 0, or a string of digits>, "text": "...",
//        "meta": {...optional object}}. Blank lines are skipped. Errors name the file and line.
// SMART: a collection file like ../shared/data/ir/*/ (read by smart.h); the ".I" id must be an
//        integer; the text is the record's text (smart.h); meta is {"title": .T} when a .T
//        field exists and differs from the text, else empty.
// read_documents() picks SMART when the first non-blank line starts with ".I", else jsonl.
// Ids must be unique within a file (error names both lines / records).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace bertrank::retrieval {

struct DocInput {
  int64_t id = 0;
  std::string text;
  std::string meta;  // JSON object text, or empty
};

std::vector<DocInput> read_jsonl_documents(const std::string& path);
std::vector<DocInput> read_smart_documents(const std::string& path);
std::vector<DocInput> read_documents(const std::string& path);

// Calls fn(object, where) for each non-blank line of a jsonl file, where = "path:line" for
// error messages. Throws std::runtime_error naming `what` if the file cannot be opened, and
// the line if it is not a JSON object.
void for_each_jsonl_object(const std::string& path, const std::string& what,
                           const std::function<void(const nlohmann::json&, const std::string&)>& fn);

// "123" -> 123; throws std::invalid_argument naming `what` for anything but 1-18 ASCII digits.
int64_t parse_doc_id(const std::string& s, const std::string& what);

}  // namespace bertrank::retrieval
