#include "retrieval/docs_io.h"

#include <fstream>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/json_strict.h"
#include "retrieval/smart.h"

namespace bertrank::retrieval {

int64_t parse_doc_id(const std::string& s, const std::string& what) {
  if (s.empty() || s.size() > 18)
    throw std::invalid_argument(what + ": id '" + s + "' is not an integer of 1 to 18 digits");
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') throw std::invalid_argument(what + ": id '" + s + "' is not a non-negative integer");
    v = v * 10 + (c - '0');
  }
  return v;
}

void for_each_jsonl_object(const std::string& path, const std::string& what,
                           const std::function<void(const nlohmann::json&, const std::string&)>& fn,
                           TextEncoding encoding, TextDecodeReport* report) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + what + " file '" + path + "'");
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    const bool replaced = decode_text(line, encoding);  // before parsing: the parser rejects bad UTF-8
    if (report) {
      ++report->records;
      if (replaced && report->replaced++ == 0) report->first_replaced = where;
    }
    const StrictJson j = json_parse_strict(line);
    if (!j.duplicate_key.empty()) throw std::runtime_error(where + ": the object " + j.problem());
    if (!j.ok()) throw std::runtime_error(where + ": not a JSON object (" + j.syntax_error + ")");
    if (!j.value.is_object()) throw std::runtime_error(where + ": not a JSON object");
    fn(j.value, where);
  }
}

std::vector<DocInput> read_jsonl_documents(const std::string& path, TextEncoding encoding, TextDecodeReport* report) {
  std::vector<DocInput> out;
  std::unordered_map<int64_t, std::string> seen;  // id -> where it was first used
  for_each_jsonl_object(path, "documents", [&](const nlohmann::json& j, const std::string& where) {
    DocInput d;
    if (!j.contains("id")) throw std::runtime_error(where + ": missing \"id\"");
    const auto& id = j["id"];
    if (id.is_number_unsigned())
      d.id = (int64_t)id.get<uint64_t>();
    else if (id.is_number_integer())
      throw std::runtime_error(where + ": \"id\" is negative");
    else if (id.is_string())
      try {
        d.id = parse_doc_id(id.get<std::string>(), where);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(e.what());
      }
    else
      throw std::runtime_error(where + ": \"id\" must be an integer or a string of digits");
    if (d.id < 0) throw std::runtime_error(where + ": \"id\" does not fit in 63 bits");
    if (!j.contains("text") || !j["text"].is_string())
      throw std::runtime_error(where + ": missing \"text\" string");
    d.text = j["text"].get<std::string>();
    if (j.contains("meta") && !j["meta"].is_null()) {
      if (!j["meta"].is_object()) throw std::runtime_error(where + ": \"meta\" must be an object");
      d.meta = j["meta"].dump();
    }
    auto [it, fresh] = seen.emplace(d.id, where);
    if (!fresh)
      throw std::runtime_error(where + ": id " + std::to_string(d.id) + " already used on line " +
                               it->second.substr(it->second.rfind(':') + 1));
    out.push_back(std::move(d));
  }, encoding, report);
  return out;
}

std::vector<DocInput> read_smart_documents(const std::string& path, TextEncoding encoding, TextDecodeReport* report) {
  std::vector<DocInput> out;
  std::unordered_map<int64_t, size_t> seen;
  const auto recs = read_smart_file(path, encoding, report);  // decoded there: valid UTF-8
  for (size_t i = 0; i < recs.size(); ++i) {
    const auto& r = recs[i];
    DocInput d;
    try {
      d.id = parse_doc_id(r.id, path + ": record " + std::to_string(i + 1) + " (.I)");
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
    d.text = r.text;
    auto t = r.fields.find('T');
    if (t != r.fields.end() && !t->second.empty() && t->second != r.text)
      d.meta = nlohmann::json{{"title", t->second}}.dump();
    auto [it, fresh] = seen.emplace(d.id, i + 1);
    if (!fresh)
      throw std::runtime_error(path + ": .I " + r.id + " repeats record " + std::to_string(it->second));
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<DocInput> read_documents(const std::string& path, TextEncoding encoding, TextDecodeReport* report) {
  return is_smart_file(path) ? read_smart_documents(path, encoding, report)
                             : read_jsonl_documents(path, encoding, report);
}

}  // namespace bertrank::retrieval
