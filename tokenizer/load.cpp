#include "tokenizer/load.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <climits>
#include <optional>
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

// ---- checked fields of a .brm object (errors name the field; the caller adds "tokenizer: ") ----

[[noreturn]] void bad(const std::string& what) { throw std::runtime_error(what); }
[[noreturn]] void fail_at(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

const json* field(const json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) bad(std::string("missing field '") + key + "'");
    return nullptr;
  }
  return &*it;
}

std::string get_str(const json& j, const char* key) {
  const json* v = field(j, key, true);
  if (!v->is_string()) bad(std::string("field '") + key + "' is not a string");
  return v->get<std::string>();
}

bool get_bool(const json& j, const char* key) {
  const json* v = field(j, key, true);
  if (!v->is_boolean()) bad(std::string("field '") + key + "' is not a boolean");
  return v->get<bool>();
}

int get_int(const json& j, const char* key, bool required, int dflt, int lo, int hi) {
  const json* v = field(j, key, required);
  if (!v) return dflt;
  if (!v->is_number_integer()) bad(std::string("field '") + key + "' is not an integer");
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi)
    bad(std::string("field '") + key + "' = " + std::to_string(x) + " is outside [" + std::to_string(lo) + ", " +
        std::to_string(hi) + "]");
  return int(x);
}

// The optional "post_processor" of a .brm object: absent -> the family's default (nullopt).
std::optional<SpecialTokenTemplate> brm_post_processor(const json& j, size_t vocab_size) {
  auto it = j.find("post_processor");
  if (it == j.end()) return std::nullopt;
  return parse_post_processor(*it, vocab_size, "post_processor");
}

// Writes tokenizer.json's post_processor into the .brm object `out` unless it is `dflt`.
void keep_post_processor(const json& tok_json, const SpecialTokenTemplate& dflt, size_t vocab_size,
                         const std::string& where, json& out) {
  if (tok_json.is_null() || !tok_json.contains("post_processor")) return;
  const json& pp = tok_json["post_processor"];
  if (!(parse_post_processor(pp, vocab_size, where + "post_processor") == dflt)) out["post_processor"] = pp;
}

// ---- WordPiece -----------------------------------------------------------------------------

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

void wordpiece_settings_from_tokenizer_config(const fs::path& tc, WordPieceConfig& c) {
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

void wordpiece_settings_from_tokenizer_json(const json& tok_json, const std::string& where, WordPieceConfig& c) {
  try {
    const json& model = tok_json.at("model");
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

void wordpiece_vocab_from_tokenizer_json(const json& tok_json, const fs::path& tj, std::vector<std::string>& vocab) {
  const json& model = tok_json.at("model");  // family_of_hf checked it is an object
  const auto vi = model.find("vocab");
  if (vi == model.end() || !vi->is_object())
    throw std::runtime_error("'" + tj.string() + "': model.vocab is not an object");
  const json& v = *vi;
  vocab.resize(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) {
    const int64_t id = it.value().is_number_integer() ? it.value().get<int64_t>() : -1;
    if (id < 0 || size_t(id) >= vocab.size() || !vocab[size_t(id)].empty())
      throw std::runtime_error("'" + tj.string() + "': model.vocab id of '" + it.key() + "' is out of range or repeated");
    vocab[size_t(id)] = it.key();
  }
}

json wordpiece_to_brm(const std::vector<std::string>& vocab, const WordPieceConfig& c) {
  json j = {{"type", "wordpiece"},
            {"lowercase", c.lowercase},
            {"clean_text", c.clean_text},
            {"handle_chinese_chars", c.handle_chinese_chars},
            {"unk_token", c.unk_token},
            {"cls_token", c.cls_token},
            {"sep_token", c.sep_token},
            {"pad_token", c.pad_token},
            {"mask_token", c.mask_token},
            {"continuing_subword_prefix", c.continuing_subword_prefix},
            {"max_input_chars_per_word", c.max_input_chars_per_word}};
  j["strip_accents"] = c.strip_accents < 0 ? json(nullptr) : json(c.strip_accents == 1);
  j["vocab"] = vocab;
  return j;
}

// Settings: tokenizer_config.json, then tokenizer.json over it; vocabulary: vocab.txt, else
// tokenizer.json's model.vocab.
json wordpiece_read_hf(const fs::path& dir, const json& tok_json) {
  std::vector<std::string> vocab;
  WordPieceConfig c;
  const fs::path tj = dir / "tokenizer.json", tc = dir / "tokenizer_config.json", vt = dir / "vocab.txt";
  if (fs::exists(tc)) wordpiece_settings_from_tokenizer_config(tc, c);
  const std::string where = "'" + tj.string() + "': ";
  if (!tok_json.is_null()) wordpiece_settings_from_tokenizer_json(tok_json, where, c);
  if (fs::exists(vt)) read_vocab_txt(vt, vocab);
  else if (!tok_json.is_null()) wordpiece_vocab_from_tokenizer_json(tok_json, tj, vocab);
  else throw std::runtime_error("'" + dir.string() + "' has neither vocab.txt nor tokenizer.json");
  json out = wordpiece_to_brm(vocab, c);
  // The default to compare with: BERT's template of cls_token / sep_token (a vocabulary that
  // lacks them is refused when the tokenizer is built from `out`).
  auto id_of = [&](const std::string& t) {
    const auto it = std::find(vocab.begin(), vocab.end(), t);
    return it == vocab.end() ? int32_t(-1) : int32_t(it - vocab.begin());
  };
  keep_post_processor(tok_json, SpecialTokenTemplate::bert(id_of(c.cls_token), id_of(c.sep_token)), vocab.size(),
                      where, out);
  return out;
}

WordPieceTokenizer wordpiece_build(const json& j) {
  if (!j.is_object()) bad("not a JSON object");
  auto v = j.find("vocab");
  if (v == j.end() || !v->is_array()) bad("missing 'vocab' array");
  std::vector<std::string> vocab;
  vocab.reserve(v->size());
  for (const auto& s : *v) {
    if (!s.is_string()) bad("vocab entry " + std::to_string(vocab.size()) + " is not a string");
    vocab.push_back(s.get<std::string>());
  }
  WordPieceConfig c;
  c.lowercase = get_bool(j, "lowercase");
  c.clean_text = get_bool(j, "clean_text");
  c.handle_chinese_chars = get_bool(j, "handle_chinese_chars");
  auto sa = j.find("strip_accents");
  if (sa == j.end()) bad("missing field 'strip_accents'");
  if (sa->is_null()) c.strip_accents = -1;
  else if (sa->is_boolean()) c.strip_accents = sa->get<bool>() ? 1 : 0;
  else bad("field 'strip_accents' must be null or a boolean");
  c.unk_token = get_str(j, "unk_token");
  c.cls_token = get_str(j, "cls_token");
  c.sep_token = get_str(j, "sep_token");
  c.pad_token = get_str(j, "pad_token");
  c.mask_token = get_str(j, "mask_token");
  c.continuing_subword_prefix = get_str(j, "continuing_subword_prefix");
  c.max_input_chars_per_word = get_int(j, "max_input_chars_per_word", true, 0, 1, 1 << 20);
  get_int(j, "model_max_length", false, 512, 2, 1 << 30);  // checked; the model's business
  const size_t n = vocab.size();
  return WordPieceTokenizer(std::move(vocab), std::move(c), brm_post_processor(j, n));
}

std::unique_ptr<Tokenizer> wordpiece_from_brm(const json& j) {
  return std::make_unique<WordPieceTokenizer>(wordpiece_build(j));
}

// ---- the families ----------------------------------------------------------------------------

struct Family {
  const char* brm_type;       // the .brm object's "type"
  const char* hf_model_type;  // tokenizer.json model.type
  // The .brm object from a Hugging Face folder; tok_json is null when there is no tokenizer.json.
  json (*read_hf)(const fs::path& dir, const json& tok_json);
  // The tokenizer from a .brm object; throws std::runtime_error (field errors, without the
  // "tokenizer: " prefix) or std::invalid_argument (an inconsistent vocabulary or template).
  std::unique_ptr<Tokenizer> (*from_brm)(const json& j);
};

const Family kFamilies[] = {
    {"wordpiece", "WordPiece", wordpiece_read_hf, wordpiece_from_brm},
};

// tokenizer.json model types of Hugging Face that no family reads yet.
const char* const kNotYet[] = {"Unigram", "BPE"};

std::string supported_hf_types() {
  std::string s;
  for (const Family& f : kFamilies) s += std::string(s.empty() ? "" : ", ") + f.hf_model_type;
  return s;
}

const Family& family_of_hf(const json& tok_json, const fs::path& tj) {
  const std::string where = "'" + tj.string() + "': ";
  if (!tok_json.is_object() || !tok_json.contains("model") || !tok_json["model"].is_object())
    throw std::runtime_error(where + "no model object");
  const json& t = tok_json["model"].contains("type") ? tok_json["model"]["type"] : json();
  const std::string type = t.is_string() ? t.get<std::string>() : std::string("?");
  for (const Family& f : kFamilies)
    if (type == f.hf_model_type) return f;
  for (const char* n : kNotYet)
    if (type == n)
      throw std::runtime_error(where + "model.type is '" + type + "': " +
                               (type == "Unigram" ? "SentencePiece Unigram" : "BPE") +
                               " tokenizers are not supported yet (supported: " + supported_hf_types() + ")");
  throw std::runtime_error(where + "model.type is '" + type + "', not a tokenizer bertrank knows (supported: " +
                           supported_hf_types() + ")");
}

}  // namespace

SpecialTokenTemplate parse_post_processor(const json& pp, size_t vocab_size, const std::string& where) {
  if (pp.is_null()) return SpecialTokenTemplate::none();
  using P = TemplatePiece;
  auto fail = [&](const std::string& what) { fail_at(where, what); };
  if (!pp.is_object() || !pp.contains("type") || !pp["type"].is_string()) fail("not an object with a \"type\"");
  const std::string type = pp["type"].get<std::string>();
  // A (token, id) pair of BertProcessing / RobertaProcessing.
  auto token_id = [&](const char* key) {
    auto it = pp.find(key);
    if (it == pp.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer())
      fail_at(where, std::string("'") + key + "' is not a [token, id] pair");
    return (*it)[1].get<int64_t>();
  };
  SpecialTokenTemplate t;
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    const int64_t cls = token_id("cls"), sep = token_id("sep");
    if (cls < 0 || cls > INT32_MAX || sep < 0 || sep > INT32_MAX) fail("token id out of range");
    if (type == "BertProcessing") {
      t = SpecialTokenTemplate::bert(int32_t(cls), int32_t(sep));
    } else {  // every type id 0, "</s></s>" between the sequences
      t.single = {{P::piece_special, int32_t(cls), 0}, {P::piece_a, -1, 0}, {P::piece_special, int32_t(sep), 0}};
      t.pair = {{P::piece_special, int32_t(cls), 0}, {P::piece_a, -1, 0}, {P::piece_special, int32_t(sep), 0},
                {P::piece_special, int32_t(sep), 0}, {P::piece_b, -1, 0}, {P::piece_special, int32_t(sep), 0}};
    }
  } else if (type == "TemplateProcessing") {
    const json* specials = pp.contains("special_tokens") ? &pp["special_tokens"] : nullptr;
    auto pieces = [&](const char* key, std::vector<TemplatePiece>& out) {
      auto it = pp.find(key);
      if (it == pp.end() || !it->is_array()) fail(std::string("'") + key + "' is not an array");
      for (const json& piece : *it) {
        const bool seq = piece.is_object() && piece.contains("Sequence");
        const bool sp = piece.is_object() && piece.contains("SpecialToken");
        if (seq == sp) fail(std::string("'") + key + "' has a piece that is neither Sequence nor SpecialToken");
        const json& body = piece[seq ? "Sequence" : "SpecialToken"];
        if (!body.is_object() || !body.contains("id") || !body["id"].is_string())
          fail(std::string("'") + key + "' has a piece without a string id");
        const json& tid = body.contains("type_id") ? body["type_id"] : json(0);
        if (!tid.is_number_integer() || tid.get<int64_t>() < 0 || tid.get<int64_t>() > 1 << 16)
          fail(std::string("'") + key + "' has a piece with a bad type_id");
        const int32_t type_id = int32_t(tid.get<int64_t>());
        const std::string id = body["id"].get<std::string>();
        if (seq) {
          if (id != "A" && id != "B") fail(std::string("'") + key + "' has the sequence '" + id + "' (A or B)");
          out.push_back({id == "A" ? P::piece_a : P::piece_b, -1, type_id});
          continue;
        }
        const json* st = specials && specials->is_object() && specials->contains(id) ? &(*specials)[id] : nullptr;
        if (!st || !st->is_object() || !st->contains("ids") || !(*st)["ids"].is_array())
          fail("special token '" + id + "' has no ids in 'special_tokens'");
        for (const json& x : (*st)["ids"]) {
          if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
            fail("special token '" + id + "' has a bad id");
          out.push_back({P::piece_special, int32_t(x.get<int64_t>()), type_id});
        }
      }
    };
    pieces("single", t.single);
    pieces("pair", t.pair);
  } else {
    fail("type '" + type + "' is not supported (TemplateProcessing, BertProcessing, RobertaProcessing)");
  }
  try {
    t.validate(vocab_size);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  return t;
}

json read_hf_tokenizer(const std::string& dir_str) {
  const fs::path dir(dir_str), tj = dir / "tokenizer.json";
  if (!fs::exists(tj)) return kFamilies[0].read_hf(dir, json());  // WordPiece: vocab.txt
  const json tok_json = read_json(tj);
  return family_of_hf(tok_json, tj).read_hf(dir, tok_json);
}

std::unique_ptr<Tokenizer> tokenizer_from_brm(const json& j) {
  try {
    if (!j.is_object()) bad("not a JSON object");
    const std::string type = get_str(j, "type");
    std::string names;
    for (const Family& f : kFamilies) {
      if (type == f.brm_type) return f.from_brm(j);
      names += std::string(names.empty() ? "" : ", ") + f.brm_type;
    }
    bad("type '" + type + "' is not supported (" + names + ")");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("tokenizer: ") + e.what());
  } catch (const std::invalid_argument& e) {  // the family's constructor: inconsistent contents
    throw std::runtime_error(std::string("tokenizer: ") + e.what());
  }
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  if (fs::is_directory(path)) {
    const json j = read_hf_tokenizer(path);
    try {
      return tokenizer_from_brm(j);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("'" + path + "': " + e.what());
    }
  }
  return std::make_unique<WordPieceTokenizer>(load_wordpiece(path));
}

WordPieceTokenizer load_wordpiece(const std::string& path) {
  if (fs::is_directory(path)) {
    const json j = read_hf_tokenizer(path);
    try {
      if (j.value("type", std::string()) != "wordpiece") bad("not a WordPiece tokenizer");
      return wordpiece_build(j);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("tokenizer in '" + path + "': " + e.what());
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("tokenizer in '" + path + "': " + e.what());
    }
  }
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".brm") == 0)
    throw std::runtime_error("'" + path + "' is a bertrank model file: use model::load_model_tokenizer");
  return WordPieceTokenizer::from_vocab_file(path);
}

}  // namespace bertrank::tokenizer
