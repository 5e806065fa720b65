#include "common/json_strict.h"

#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <vector>

namespace bertrank {

std::string StrictJson::problem() const {
  if (!duplicate_key.empty()) return "has the key '" + duplicate_key + "' twice";
  if (!syntax_error.empty()) return "is not valid JSON: " + syntax_error;
  return "";
}

StrictJson json_parse_strict(const char* begin, const char* end) {
  StrictJson r;
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) {
      keys.emplace_back();
    } else if (ev == E::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == E::key && !keys.empty() && parsed.is_string()) {
      if (!keys.back().insert(parsed.get<std::string>()).second && r.duplicate_key.empty())
        r.duplicate_key = parsed.get<std::string>();
    }
    return true;
  };
  try {
    r.value = nlohmann::json::parse(begin, end, cb, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    r.syntax_error = e.what();
  }
  if (!r.ok()) r.value = nlohmann::json(nlohmann::json::value_t::discarded);
  return r;
}

nlohmann::json json_read_file_strict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("cannot read '" + path + "'");
  StrictJson j = json_parse_strict(text);
  if (!j.ok()) throw std::runtime_error("'" + path + "' " + j.problem());
  return std::move(j.value);
}

}  // namespace bertrank
