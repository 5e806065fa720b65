#include "model/convert.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "common/json_strict.h"
#include "model/arch.h"
#include "model/config.h"
#include "model/model.h"
#include "model/model_file.h"
#include "model/safetensors.h"
#include "tokenizer/load.h"

namespace bertrank::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json_file(const fs::path& p) { return json_read_file_strict(p.string()); }

HeadConfig read_st_head(const fs::path& dir, const json& modules, const BertConfig& cfg, int max_len_default) {
  HeadConfig h;
  h.type = HeadType::embedding;
  h.dim = cfg.hidden_size;
  h.max_seq_length = max_len_default;
  if (!modules.is_array()) throw std::runtime_error("'" + (dir / "modules.json").string() + "' is not a JSON array");
  bool have_pooling = false;
  for (const auto& m : modules) {
    const std::string type = m.is_object() ? m.value("type", std::string()) : std::string();
    const std::string path = m.is_object() ? m.value("path", std::string()) : std::string();
    if (type.find("models.Transformer") != std::string::npos) continue;
    if (type.find("models.Normalize") != std::string::npos) {
      h.normalize = true;
    } else if (type.find("models.Pooling") != std::string::npos) {
      const fs::path pc = dir / path / "config.json";
      const json p = read_json_file(pc);
      const bool cls = p.value("pooling_mode_cls_token", false), mean = p.value("pooling_mode_mean_tokens", false),
                 mx = p.value("pooling_mode_max_tokens", false), msq = p.value("pooling_mode_mean_sqrt_len_tokens", false),
                 wm = p.value("pooling_mode_weightedmean_tokens", false), last = p.value("pooling_mode_lasttoken", false);
      if (int(cls) + int(mean) + int(mx) + int(msq) + int(wm) + int(last) != 1)
        throw std::runtime_error("'" + pc.string() + "': exactly one of cls / mean / max pooling must be set");
      if (msq || wm || last) throw std::runtime_error("'" + pc.string() + "': pooling mode not supported (mean, cls, max)");
      h.pooling = cls ? Pooling::cls : mean ? Pooling::mean : Pooling::max;
      if (p.contains("word_embedding_dimension") && p["word_embedding_dimension"] != cfg.hidden_size)
        throw std::runtime_error("'" + pc.string() + "': word_embedding_dimension differs from hidden_size");
      have_pooling = true;
    } else {
      throw std::runtime_error("'" + (dir / "modules.json").string() + "': module '" + type +
                               "' is not supported (Transformer, Pooling, Normalize)");
    }
  }
  if (!have_pooling) throw std::runtime_error("'" + (dir / "modules.json").string() + "' has no Pooling module");
  const fs::path sbc = dir / "sentence_bert_config.json";
  if (fs::exists(sbc)) {
    const json s = read_json_file(sbc);
    if (s.contains("max_seq_length") && s["max_seq_length"].is_number_integer())
      h.max_seq_length = s["max_seq_length"].get<int>();
  }
  return h;
}

// ---- the steps of convert_hf_dir ------------------------------------------------------------

// What config.json says: the encoder config, the architecture that covers its model_type, and
// the Hugging Face class (architectures[0], "BertModel" when absent).
struct HfModel {
  json hf_config;
  BertConfig cfg;
  const Architecture* arch = nullptr;
  std::string hf_class = "BertModel";
};

HfModel read_hf_config(const fs::path& dir) {
  HfModel m;
  m.hf_config = read_json_file(dir / "config.json");
  try {
    m.cfg = BertConfig::from_hf_json(m.hf_config);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error((dir / "config.json").string() + ": " + e.what());
  }
  m.arch = &m.cfg.architecture();
  const json& classes = m.hf_config.contains("architectures") ? m.hf_config["architectures"] : json();
  if (classes.is_array() && !classes.empty() && classes[0].is_string()) m.hf_class = classes[0].get<std::string>();
  return m;
}

// The .brm "tokenizer" object (tokenizer/load.h) with model_max_length: the positions the
// model has, or tokenizer_config.json's model_max_length when smaller.
struct TokenizerPart {
  json brm;
  size_t vocab_size = 0;
};

TokenizerPart read_tokenizer(const fs::path& dir, const BertConfig& cfg) {
  TokenizerPart t;
  t.brm = tokenizer::read_hf_tokenizer(dir.string());
  int model_max_length = cfg.max_positions();
  if (fs::exists(dir / "tokenizer_config.json")) {
    const json tc = read_json_file(dir / "tokenizer_config.json");
    if (tc.contains("model_max_length") && tc["model_max_length"].is_number_integer()) {
      const int64_t mml = tc["model_max_length"].get<int64_t>();
      if (mml > 1 && mml < model_max_length) model_max_length = int(mml);
    }
  }
  t.brm["model_max_length"] = model_max_length;
  try {
    t.vocab_size = tokenizer::tokenizer_from_brm(t.brm)->vocab_size();  // every field checked now
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("'" + dir.string() + "': " + e.what());
  }
  if (t.vocab_size > size_t(cfg.vocab_size))
    throw std::runtime_error("tokenizer in '" + dir.string() + "' has " + std::to_string(t.vocab_size) +
                             " tokens, more than config.json vocab_size " + std::to_string(cfg.vocab_size));
  return t;
}

// sentence-transformers modules when present; else the architecture's classifier classes get a
// cross-encoder head, any other class a mean-pooled embedding head.
HeadConfig choose_head(const fs::path& dir, const HfModel& m, int model_max_length) {
  const BertConfig& cfg = m.cfg;
  HeadConfig head;
  const int default_len = std::min(model_max_length, cfg.max_positions());
  if (fs::exists(dir / "modules.json")) {
    head = read_st_head(dir, read_json_file(dir / "modules.json"), cfg, default_len);
  } else if (m.arch->is_classifier_class(m.hf_class)) {
    const json& hc = m.hf_config;
    head.type = HeadType::classifier;
    head.max_seq_length = default_len;
    if (hc.contains("id2label") && hc["id2label"].is_object())
      for (auto it = hc["id2label"].begin(); it != hc["id2label"].end(); ++it)
        if (it.value().is_string()) head.id2label[it.key()] = it.value().get<std::string>();
    head.num_labels = hc.contains("num_labels") && hc["num_labels"].is_number_integer()
                          ? hc["num_labels"].get<int>()
                          : int(head.id2label.empty() ? 2 : head.id2label.size());
  } else {
    head.type = HeadType::embedding;
    head.pooling = Pooling::mean;
    head.dim = cfg.hidden_size;
    head.max_seq_length = default_len;
  }
  if (head.max_seq_length < 2 || head.max_seq_length > cfg.max_positions())
    throw std::runtime_error("max_seq_length " + std::to_string(head.max_seq_length) + " is outside [2, " +
                             std::to_string(cfg.max_positions()) + "] (max_position_embeddings)");
  return head;
}

// The engine tensors, as f32, made from model.safetensors by the architecture's tensor map;
// every source checked against the shape the config implies.
struct Weights {
  std::vector<std::vector<float>> storage;  // owns what `tensors` points to
  std::vector<TensorToWrite> tensors;
  std::string fingerprint;                  // of model.safetensors
};

Weights map_tensors(const fs::path& stp, const Architecture& arch, const BertConfig& cfg, const HeadConfig& head) {
  const SafetensorsFile st = SafetensorsFile::open(stp.string());
  Weights w;
  w.fingerprint = "sha256:" + sha256_hex(st.file().data(), st.file().size());
  std::map<std::string, const StTensor*> by_name;  // without the architecture's prefix
  for (const auto& t : st.tensors()) {
    std::string n = t.name, prefix;
    for (const std::string& p : arch.tensor_prefixes)
      if (n.rfind(p, 0) == 0) {
        prefix = p;
        n = n.substr(p.size());
        break;
      }
    if (!by_name.emplace(n, &t).second)
      throw std::runtime_error(stp.string() + ": tensor '" + n + "' appears with and without the '" +
                               (prefix.empty() ? arch.tensor_prefixes.at(0) : prefix) + "' prefix");
  }
  const auto map = arch.tensor_map(cfg, head, [&](const std::string& n) { return by_name.count(n) > 0; });
  w.storage.reserve(map.size());
  for (const MappedTensor& m : map) {
    std::vector<float> data;
    for (const std::string& src : m.sources) {
      auto it = by_name.find(src);
      if (it == by_name.end()) throw std::runtime_error(stp.string() + ": tensor '" + src + "' is missing");
      if (it->second->shape != m.source_shape)
        throw std::runtime_error(stp.string() + ": tensor '" + src + "' has shape " + shape_str(it->second->shape) +
                                 ", config.json needs " + shape_str(m.source_shape));
      std::vector<float> f = st.to_f32(*it->second);
      if (m.sources.size() == 1) data = std::move(f);
      else data.insert(data.end(), f.begin(), f.end());  // concatenated along dim 0
    }
    w.storage.push_back(std::move(data));
    w.tensors.push_back({m.name, m.shape, w.storage.back().data()});
  }
  return w;
}

json make_metadata(const fs::path& dir, const HfModel& m, const TokenizerPart& tok, const HeadConfig& head,
                   const std::string& fingerprint, const ConvertOptions& opt) {
  json meta;
  meta["format"] = "bertrank-model";
  meta["architecture"] = m.hf_class;
  meta["config"] = m.cfg.to_json();
  meta["hf_config"] = m.hf_config;
  meta["tokenizer"] = tok.brm;
  meta["head"] = head.to_json();
  meta["source"] = {{"name", opt.name.empty() ? fs::absolute(dir).lexically_normal().filename().string() : opt.name},
                    {"fingerprint", fingerprint},
                    {"converter", "bertrank convert (format 1)"}};
  if (meta["source"]["name"] == "") meta["source"]["name"] = fs::absolute(dir).parent_path().filename().string();
  return meta;
}

}  // namespace

json convert_hf_dir(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& opt) {
  const fs::path dir(hf_dir);
  if (!fs::is_directory(dir)) throw std::runtime_error("'" + hf_dir + "' is not a directory");
  const HfModel m = read_hf_config(dir);
  const TokenizerPart tok = read_tokenizer(dir, m.cfg);
  const HeadConfig head = choose_head(dir, m, tok.brm["model_max_length"].get<int>());
  const Weights w = map_tensors(dir / "model.safetensors", *m.arch, m.cfg, head);
  json meta = make_metadata(dir, m, tok, head, w.fingerprint, opt);
  // Refuse to install a file we cannot load: it is loaded back before it replaces out_path
  // (deleting out_path after a failed load would destroy a previous or a concurrent good model).
  write_model_file(out_path, meta, w.tensors, [&](const std::string& tmp) {
    try {
      Model::load(tmp);
    } catch (const std::exception& e) {
      throw std::runtime_error("the converted model does not load, '" + out_path + "' left as it was: " + e.what());
    }
  });
  meta.erase("tensors");
  meta["tokenizer"].erase("vocab");
  meta["tokenizer"]["vocab_size"] = tok.vocab_size;
  return meta;
}

}  // namespace bertrank::model
