#include "tokenizer/load.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/json_strict.h"

namespace bertrank::tokenizer {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + p.string() + "'");
  try {
    return json_read_file_strict(p.string());  // common/json_strict.h: refuses duplicate keys
  } catch (const json::exception& e) {
    throw std::runtime_error("'" + p.string() + "' is not valid JSON: " + e.what());
  }
}

// A special token in tokenizer_config.json is either a string or {"content": ...}.
bool token_field(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  if (it->is_string()) out = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    out = (*it)["content"].get<std::string>();
  else return false;
  return true;
}

void read_vocab_txt(const fs::path& p, std::vector<std::string>& vocab) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open vocabulary file '" + p.string() + "'");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(line);
  }
}

}  // namespace

HfTokenizerFiles read_hf_tokenizer_dir(const std::string& dir_str) {
  const fs::path dir(dir_str);
  HfTokenizerFiles out;
  WordPieceConfig& c = out.config;
  const fs::path tj = dir / "tokenizer.json", tc = dir / "tokenizer_config.json", vt = dir / "vocab.txt";
  if (fs::exists(tc)) {
    const json j = read_json(tc);
    const std::string where = "'" + tc.string() + "': ";
    try {
      if (j.contains("do_lower_case")) c.lowercase = j["do_lower_case"].get<bool>();
      if (j.contains("strip_accents"))
        c.strip_accents = j["strip_accents"].is_null() ? -1 : int(j["strip_accents"].get<bool>());
      if (j.contains("tokenize_chinese_chars")) c.handle_chinese_chars = j["tokenize_chinese_chars"].get<bool>();
    } catch (const json::exception& e) {
      throw std::runtime_error(where + "unexpected type: " + e.what());
    }
    token_field(j, "unk_token", c.unk_token);
    token_field(j, "cls_token", c.cls_token);
    token_field(j, "sep_token", c.sep_token);
    token_field(j, "pad_token", c.pad_token);
    token_field(j, "mask_token", c.mask_token);
  }
  json tok_json;
  if (fs::exists(tj)) {
    tok_json = read_json(tj);
    const std::string where = "'" + tj.string() + "': ";
    try {
      const json& model = tok_json.at("model");
      if (model.value("type", std::string()) != "WordPiece")
        throw std::runtime_error(where + "model.type is '" + model.value("type", std::string("?")) +
                                 "', only WordPiece is supported here");
      if (model.contains("unk_token")) c.unk_token = model["unk_token"].get<std::string>();
      if (model.contains("continuing_subword_prefix"))
        c.continuing_subword_prefix = model["continuing_subword_prefix"].get<std::string>();
      if (model.contains("max_input_chars_per_word"))
        c.max_input_chars_per_word = model["max_input_chars_per_word"].get<int>();
      const json& norm = tok_json.at("normalizer");
      if (!norm.is_null()) {
        if (norm.value("type", std::string()) != "BertNormalizer")
          throw std::runtime_error(where + "normalizer.type is '" + norm.value("type", std::string("?")) +
                                   "', only BertNormalizer is supported");
        c.clean_text = norm.value("clean_text", true);
        c.handle_chinese_chars = norm.value("handle_chinese_chars", true);
        c.lowercase = norm.value("lowercase", true);
        c.strip_accents = !norm.contains("strip_accents") || norm["strip_accents"].is_null()
                              ? -1
                              : int(norm["strip_accents"].get<bool>());
      }
    } catch (const json::exception& e) {
      throw std::runtime_error(where + "unexpected structure: " + e.what());
    }
  }
  if (fs::exists(vt)) {
    read_vocab_txt(vt, out.vocab);
  } else if (!tok_json.is_null()) {
    const json& v = tok_json["model"]["vocab"];
    if (!v.is_object()) throw std::runtime_error("'" + tj.string() + "': model.vocab is not an object");
    out.vocab.resize(v.size());
    for (auto it = v.begin(); it != v.end(); ++it) {
      const int64_t id = it.value().is_number_integer() ? it.value().get<int64_t>() : -1;
      if (id < 0 || size_t(id) >= out.vocab.size() || !out.vocab[size_t(id)].empty())
        throw std::runtime_error("'" + tj.string() + "': model.vocab id of '" + it.key() +
                                 "' is out of range or repeated");
      out.vocab[size_t(id)] = it.key();
    }
  } else {
    throw std::runtime_error("'" + dir.string() + "' has neither vocab.txt nor tokenizer.json");
  }
  return out;
}

WordPieceTokenizer load_wordpiece(const std::string& path) {
  if (fs::is_directory(path)) {
    HfTokenizerFiles f = read_hf_tokenizer_dir(path);
    try {
      return WordPieceTokenizer(std::move(f.vocab), std::move(f.config));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("tokenizer in '" + path + "': " + e.what());
    }
  }
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".brm") == 0)
    throw std::runtime_error("'" + path + "' is a bertrank model file: use model::load_model_tokenizer");
  return WordPieceTokenizer::from_vocab_file(path);
}

}  // namespace bertrank::tokenizer
