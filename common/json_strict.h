// json_strict.h — the one JSON reader for everything bertrank reads from a file or a record:
// the .brm metadata, safetensors headers, Hugging Face config / tokenizer JSON files, JSONL
// documents and queries.
//
// Why not plain nlohmann::json::parse: for an object that holds one key twice nlohmann keeps
// the last value silently, so {"id": 1, ..., "id": 2} or a model file whose metadata says
// "hidden_size" twice would be read as whatever came last. The safetensors reference refuses
// such headers; bertrank refuses them everywhere, naming the key.
//
// Contract
//   json_parse_strict(text): parses one JSON value (RFC 8259, UTF-8; nlohmann's rules: no
//     comments, no trailing commas, nothing but whitespace after the value). Never throws for
//     bad input (only std::bad_alloc). The result says what is wrong, if anything:
//       duplicate_key  the first key found twice in one object (nested objects each have
//                      their own keys), or ""
//       syntax_error   nlohmann's message when the text is not JSON (including a number
//                      beyond double range, e.g. 1e999), or ""
//     A duplicate is reported even when the text is also not valid JSON further on.
//   problem(): the two as a phrase to put after the thing read — "has the key 'k' twice" or
//     "is not valid JSON: <syntax_error>" — so callers say "<what> " + problem().
//   json_read_file_strict(path): reads a whole file and parses it; throws std::runtime_error
//     "cannot open '<path>'", "'<path>' has the key 'k' twice" or
//     "'<path>' is not valid JSON: <why>".
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace bertrank {

struct StrictJson {
  nlohmann::json value;       // discarded unless ok()
  std::string duplicate_key;  // see above
  std::string syntax_error;   // see above
  bool ok() const { return duplicate_key.empty() && syntax_error.empty(); }
  std::string problem() const;
};

StrictJson json_parse_strict(const char* begin, const char* end);
inline StrictJson json_parse_strict(const std::string& text) {
  return json_parse_strict(text.data(), text.data() + text.size());
}

nlohmann::json json_read_file_strict(const std::string& path);

}  // namespace bertrank
