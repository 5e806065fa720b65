#include "retrieval/smart.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bertrank::retrieval {

static std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  const size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

static bool is_field_marker(const std::string& line) {
  return line.size() == 2 && line[0] == '.' && line[1] >= 'A' && line[1] <= 'Z';
}

std::vector<SmartRecord> read_smart_file(const std::string& path, TextEncoding encoding, TextDecodeReport* report) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open SMART file '" + path + "'");
  std::vector<SmartRecord> out;
  std::string line, current;
  char field = 0;
  size_t lineno = 0;
  auto flush = [&] {
    if (!out.empty() && field) out.back().fields[field] = trim(current);
    current.clear();
    field = 0;
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(".I", 0) == 0 && (line.size() == 2 || line[2] == ' ' || line[2] == '\t')) {
      flush();
      SmartRecord r;
      r.line = lineno;
      r.id = trim(line.substr(2));
      if (r.id.empty())
        throw std::runtime_error(path + ":" + std::to_string(lineno) + ": record without an id after .I");
      out.push_back(std::move(r));
      continue;
    }
    const std::string t = trim(line);
    if (is_field_marker(t)) {
      flush();
      if (out.empty())
        throw std::runtime_error(path + ":" + std::to_string(lineno) + ": field before the first .I line");
      field = t[1];
      continue;
    }
    if (out.empty()) {
      if (t.empty()) continue;
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": text before the first .I line");
    }
    if (!field) continue;  // text between .I and the first field marker: ignored
    if (!current.empty()) current += '\n';
    current += line;
  }
  flush();
  for (auto& r : out) {
    bool replaced = decode_text(r.id, encoding);
    for (auto& [letter, text] : r.fields) replaced |= decode_text(text, encoding);
    if (report) {
      ++report->records;
      if (replaced && report->replaced++ == 0)
        report->first_replaced = path + ":" + std::to_string(r.line) + " (.I " + r.id + ")";
    }
    auto w = r.fields.find('W');
    if (w != r.fields.end() && !w->second.empty()) r.text = w->second;
    else if (auto t = r.fields.find('T'); t != r.fields.end()) r.text = t->second;
  }
  return out;
}

bool is_smart_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  std::string line;
  while (std::getline(in, line)) {
    const size_t p = line.find_first_not_of(" \t\r\n\v\f");
    if (p == std::string::npos) continue;
    return line.compare(p, 2, ".I") == 0;
  }
  return false;
}

std::vector<Qrel> read_qrels_file(const std::string& path, TextEncoding encoding, TextDecodeReport* report) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open qrels file '" + path + "'");
  std::vector<Qrel> out;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::istringstream ss(line);
    std::vector<std::string> cols;
    for (std::string c; ss >> c;) cols.push_back(c);
    if (cols.empty()) continue;
    Qrel q;
    try {
      if (cols.size() == 3) {
        q = {cols[0], cols[1], std::stoi(cols[2])};
      } else if (cols.size() == 4) {
        q = {cols[0], cols[2], std::stoi(cols[3])};
      } else {
        throw std::invalid_argument("columns");
      }
    } catch (const std::exception&) {
      throw std::runtime_error(path + ":" + std::to_string(lineno) +
                               ": expected 'query doc grade' or 'query 0 doc grade', got '" +
                               utf8_replace_invalid(line) + "'");  // messages are UTF-8 too
    }
    bool replaced = decode_text(q.query_id, encoding);
    replaced |= decode_text(q.doc_id, encoding);
    if (report) {
      ++report->records;
      if (replaced && report->replaced++ == 0) report->first_replaced = path + ":" + std::to_string(lineno);
    }
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace bertrank::retrieval
