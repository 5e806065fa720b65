#include "model/convert.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "model/config.h"
#include "model/model.h"
#include "model/model_file.h"
#include "model/safetensors.h"
#include "tokenizer/load.h"

namespace bertrank::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + p.string() + "'");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string dup;
  json j = parse_json_strict(s.data(), s.data() + s.size(), &dup);
  if (!dup.empty()) throw std::runtime_error("'" + p.string() + "' has the key '" + dup + "' twice");
  if (j.is_discarded()) throw std::runtime_error("'" + p.string() + "' is not valid JSON");
  return j;
}

struct HeadSource {
  HeadConfig head;
  std::string note;
};

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

}  // namespace

json convert_hf_dir(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& opt) {
  const fs::path dir(hf_dir);
  if (!fs::is_directory(dir)) throw std::runtime_error("'" + hf_dir + "' is not a directory");
  const json hf_config = read_json_file(dir / "config.json");
  BertConfig cfg;
  try {
    cfg = BertConfig::from_hf_json(hf_config);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error((dir / "config.json").string() + ": " + e.what());
  }
  std::string arch = "BertModel";
  if (hf_config.contains("architectures") && hf_config["architectures"].is_array() && !hf_config["architectures"].empty() &&
      hf_config["architectures"][0].is_string())
    arch = hf_config["architectures"][0].get<std::string>();

  // Tokenizer: the .brm object (tokenizer/load.h), model_max_length from the config and
  // tokenizer_config.json, every field checked by building it.
  json tok = tokenizer::read_hf_tokenizer(hf_dir);
  int model_max_length = cfg.max_position_embeddings;
  if (fs::exists(dir / "tokenizer_config.json")) {
    const json tc = read_json_file(dir / "tokenizer_config.json");
    if (tc.contains("model_max_length") && tc["model_max_length"].is_number_integer()) {
      const int64_t mml = tc["model_max_length"].get<int64_t>();
      if (mml > 1 && mml < cfg.max_position_embeddings) model_max_length = int(mml);
    }
  }
  tok["model_max_length"] = model_max_length;
  size_t vocab_size = 0;
  try {
    vocab_size = tokenizer::tokenizer_from_brm(tok)->vocab_size();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("'" + hf_dir + "': " + e.what());
  }
  if (vocab_size > size_t(cfg.vocab_size))
    throw std::runtime_error("tokenizer in '" + hf_dir + "' has " + std::to_string(vocab_size) +
                             " tokens, more than config.json vocab_size " + std::to_string(cfg.vocab_size));

  // Head.
  HeadConfig head;
  const int default_len = std::min(model_max_length, cfg.max_position_embeddings);
  if (fs::exists(dir / "modules.json")) {
    head = read_st_head(dir, read_json_file(dir / "modules.json"), cfg, default_len);
  } else if (arch == "BertForSequenceClassification") {
    head.type = HeadType::classifier;
    head.max_seq_length = default_len;
    if (hf_config.contains("id2label") && hf_config["id2label"].is_object())
      for (auto it = hf_config["id2label"].begin(); it != hf_config["id2label"].end(); ++it)
        if (it.value().is_string()) head.id2label[it.key()] = it.value().get<std::string>();
    head.num_labels = hf_config.contains("num_labels") && hf_config["num_labels"].is_number_integer()
                          ? hf_config["num_labels"].get<int>()
                          : int(head.id2label.empty() ? 2 : head.id2label.size());
  } else {
    head.type = HeadType::embedding;
    head.pooling = Pooling::mean;
    head.dim = cfg.hidden_size;
    head.max_seq_length = default_len;
  }
  if (head.max_seq_length < 2 || head.max_seq_length > cfg.max_position_embeddings)
    throw std::runtime_error("max_seq_length " + std::to_string(head.max_seq_length) + " is outside [2, " +
                             std::to_string(cfg.max_position_embeddings) + "] (max_position_embeddings)");

  // Weights.
  const fs::path stp = dir / "model.safetensors";
  const SafetensorsFile st = SafetensorsFile::open(stp.string());
  const std::string fingerprint = "sha256:" + sha256_hex(st.file().data(), st.file().size());
  std::map<std::string, const StTensor*> by_name;  // without the "bert." prefix
  for (const auto& t : st.tensors()) {
    std::string n = t.name;
    if (n.rfind("bert.", 0) == 0) n = n.substr(5);
    if (!by_name.emplace(n, &t).second)
      throw std::runtime_error(stp.string() + ": tensor '" + n + "' appears with and without the 'bert.' prefix");
  }
  std::vector<std::vector<float>> storage;
  std::vector<TensorToWrite> out;
  auto get = [&](const std::string& name, const std::vector<uint64_t>& shape) -> const std::vector<float>& {
    auto it = by_name.find(name);
    if (it == by_name.end()) throw std::runtime_error(stp.string() + ": tensor '" + name + "' is missing");
    if (it->second->shape != shape)
      throw std::runtime_error(stp.string() + ": tensor '" + name + "' has shape " + shape_str(it->second->shape) +
                               ", config.json needs " + shape_str(shape));
    storage.push_back(st.to_f32(*it->second));
    return storage.back();
  };
  auto emit = [&](const std::string& name, const std::vector<uint64_t>& shape) {
    get(name, shape);
    out.push_back({name, shape, storage.back().data()});
  };
  storage.reserve(size_t(cfg.num_hidden_layers) * 20 + 16);
  using U = uint64_t;
  const U H = U(cfg.hidden_size), F = U(cfg.intermediate_size);
  emit("embeddings.word_embeddings.weight", {U(cfg.vocab_size), H});
  emit("embeddings.position_embeddings.weight", {U(cfg.max_position_embeddings), H});
  emit("embeddings.token_type_embeddings.weight", {U(cfg.type_vocab_size), H});
  emit("embeddings.LayerNorm.weight", {H});
  emit("embeddings.LayerNorm.bias", {H});
  for (int i = 0; i < cfg.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    std::vector<float> w, b;
    for (const char* m : {"query", "key", "value"}) {
      const auto& wm = get(p + "attention.self." + m + ".weight", {H, H});
      w.insert(w.end(), wm.begin(), wm.end());
      const auto& bm = get(p + "attention.self." + m + ".bias", {H});
      b.insert(b.end(), bm.begin(), bm.end());
    }
    storage.push_back(std::move(w));
    out.push_back({p + "attention.self.qkv.weight", {3 * H, H}, storage.back().data()});
    storage.push_back(std::move(b));
    out.push_back({p + "attention.self.qkv.bias", {3 * H}, storage.back().data()});
    emit(p + "attention.output.dense.weight", {H, H});
    emit(p + "attention.output.dense.bias", {H});
    emit(p + "attention.output.LayerNorm.weight", {H});
    emit(p + "attention.output.LayerNorm.bias", {H});
    emit(p + "intermediate.dense.weight", {F, H});
    emit(p + "intermediate.dense.bias", {F});
    emit(p + "output.dense.weight", {H, F});
    emit(p + "output.dense.bias", {H});
    emit(p + "output.LayerNorm.weight", {H});
    emit(p + "output.LayerNorm.bias", {H});
  }
  const bool has_pooler = by_name.count("pooler.dense.weight") > 0;
  if (has_pooler || head.type == HeadType::classifier) {
    emit("pooler.dense.weight", {H, H});
    emit("pooler.dense.bias", {H});
  }
  if (head.type == HeadType::classifier) {
    emit("classifier.weight", {U(head.num_labels), H});
    emit("classifier.bias", {U(head.num_labels)});
  }

  json meta;
  meta["format"] = "bertrank-model";
  meta["architecture"] = arch;
  meta["config"] = cfg.to_json();
  meta["hf_config"] = hf_config;
  meta["tokenizer"] = tok;
  meta["head"] = head.to_json();
  meta["source"] = {{"name", opt.name.empty() ? fs::absolute(dir).lexically_normal().filename().string() : opt.name},
                    {"fingerprint", fingerprint},
                    {"converter", "bertrank convert (format 1)"}};
  if (meta["source"]["name"] == "") meta["source"]["name"] = fs::absolute(dir).parent_path().filename().string();
  // Refuse to install a file we cannot load: it is loaded back before it replaces out_path
  // (deleting out_path after a failed load would destroy a previous or a concurrent good model).
  write_model_file(out_path, meta, out, [&](const std::string& tmp) {
    try {
      Model::load(tmp);
    } catch (const std::exception& e) {
      throw std::runtime_error("the converted model does not load, '" + out_path + "' left as it was: " + e.what());
    }
  });
  meta.erase("tensors");
  meta["tokenizer"].erase("vocab");
  meta["tokenizer"]["vocab_size"] = vocab_size;
  return meta;
}

}  // namespace bertrank::model
