#include "model/config.h"

#include <cmath>
#include <stdexcept>

namespace bertrank::model {

namespace {
[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

int get_int(const nlohmann::json& j, const char* key, const std::string& where, bool required, int dflt, int lo, int hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) bad(where, std::string("missing field '") + key + "'");
    return dflt;
  }
  if (!it->is_number_integer()) bad(where, std::string("field '") + key + "' is not an integer");
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    bad(where, std::string("field '") + key + "' = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]");
  return int(v);
}

std::string get_str(const nlohmann::json& j, const char* key, const std::string& where, bool required,
                    const std::string& dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) bad(where, std::string("missing field '") + key + "'");
    return dflt;
  }
  if (!it->is_string()) bad(where, std::string("field '") + key + "' is not a string");
  return it->get<std::string>();
}

bool get_bool(const nlohmann::json& j, const char* key, const std::string& where, bool required, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) bad(where, std::string("missing field '") + key + "'");
    return dflt;
  }
  if (!it->is_boolean()) bad(where, std::string("field '") + key + "' is not a boolean");
  return it->get<bool>();
}

constexpr int kMaxDim = 1 << 16, kMaxLayers = 1024, kMaxVocab = 1 << 24, kMaxPos = 1 << 20;

BertConfig parse(const nlohmann::json& j, bool brm) {
  const std::string w = brm ? "config" : "config.json";
  if (!j.is_object()) bad(w, "not a JSON object");
  BertConfig c;
  // The architecture first: another family's config.json names its fields differently.
  c.model_type = get_str(j, "model_type", w, false, "bert");
  const Architecture* arch = nullptr;
  try {
    arch = &find_architecture(c.model_type);
  } catch (const std::runtime_error& e) {
    bad(w, e.what());
  }
  c.hidden_size = get_int(j, "hidden_size", w, true, 0, 1, kMaxDim);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", w, true, 0, 1, kMaxLayers);
  c.num_attention_heads = get_int(j, "num_attention_heads", w, true, 0, 1, kMaxDim);
  c.intermediate_size = get_int(j, "intermediate_size", w, true, 0, 1, 1 << 20);
  c.vocab_size = get_int(j, "vocab_size", w, true, 0, 1, kMaxVocab);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", w, brm, 512, 1, kMaxPos);
  c.type_vocab_size = get_int(j, "type_vocab_size", w, brm, arch->default_type_vocab_size, 1, 1 << 16);
  c.pad_token_id = get_int(j, "pad_token_id", w, brm, 0, 0, kMaxVocab);
  c.position_offset = arch->position_offset(c.pad_token_id);
  auto eps = j.find("layer_norm_eps");
  if (eps == j.end() || eps->is_null()) {
    if (brm) bad(w, "missing field 'layer_norm_eps'");
  } else {
    if (!eps->is_number()) bad(w, "field 'layer_norm_eps' is not a number");
    c.layer_norm_eps = eps->get<double>();
  }
  c.hidden_act_name = get_str(j, "hidden_act", w, brm, "gelu");
  if (c.hidden_act_name == "gelu") c.hidden_act = HiddenAct::gelu;
  else if (c.hidden_act_name == "gelu_new" || c.hidden_act_name == "gelu_pytorch_tanh") c.hidden_act = HiddenAct::gelu_tanh;
  else bad(w, "hidden_act '" + c.hidden_act_name + "' is not supported (gelu, gelu_new, gelu_pytorch_tanh)");
  const std::string pet = get_str(j, "position_embedding_type", w, brm, "absolute");
  if (pet != "absolute") bad(w, "position_embedding_type '" + pet + "' is not supported (absolute)");
  c.validate();
  return c;
}
}  // namespace

BertConfig BertConfig::from_hf_json(const nlohmann::json& j) { return parse(j, false); }
BertConfig BertConfig::from_brm_json(const nlohmann::json& j) { return parse(j, true); }

void BertConfig::validate() const {
  if (hidden_size % num_attention_heads != 0)
    bad("config", "hidden_size " + std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
                      std::to_string(num_attention_heads));
  if (!(layer_norm_eps > 0.0) || !std::isfinite(layer_norm_eps)) bad("config", "layer_norm_eps must be positive and finite");
  if (pad_token_id >= vocab_size) bad("config", "pad_token_id is not below vocab_size");
  if (max_positions() < 1)
    bad("config", "max_position_embeddings " + std::to_string(max_position_embeddings) +
                      " leaves no position after the offset " + std::to_string(position_offset) + " of " +
                      model_type);
}

nlohmann::json BertConfig::to_json() const {
  nlohmann::json j = {{"hidden_size", hidden_size},
                      {"num_hidden_layers", num_hidden_layers},
                      {"num_attention_heads", num_attention_heads},
                      {"intermediate_size", intermediate_size},
                      {"vocab_size", vocab_size},
                      {"max_position_embeddings", max_position_embeddings},
                      {"type_vocab_size", type_vocab_size},
                      {"layer_norm_eps", layer_norm_eps},
                      {"hidden_act", hidden_act_name},
                      {"position_embedding_type", "absolute"},
                      {"pad_token_id", pad_token_id}};
  if (model_type != "bert") j["model_type"] = model_type;  // absent reads as bert: BERT files unchanged
  return j;
}

const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::mean: return "mean";
    case Pooling::cls: return "cls";
    case Pooling::max: return "max";
  }
  return "?";
}

HeadConfig HeadConfig::from_json(const nlohmann::json& j) {
  const std::string w = "head";
  if (!j.is_object()) bad(w, "not a JSON object");
  HeadConfig h;
  const std::string type = get_str(j, "type", w, true, "");
  h.max_seq_length = get_int(j, "max_seq_length", w, true, 0, 2, kMaxPos);
  if (type == "embedding") {
    h.type = HeadType::embedding;
    const std::string p = get_str(j, "pooling", w, true, "");
    if (p == "mean") h.pooling = Pooling::mean;
    else if (p == "cls") h.pooling = Pooling::cls;
    else if (p == "max") h.pooling = Pooling::max;
    else bad(w, "pooling '" + p + "' is not supported (mean, cls, max)");
    h.normalize = get_bool(j, "normalize", w, true, false);
    h.dim = get_int(j, "dim", w, true, 0, 1, kMaxDim);
  } else if (type == "classifier") {
    h.type = HeadType::classifier;
    h.num_labels = get_int(j, "num_labels", w, true, 0, 1, 1 << 16);
    if (auto it = j.find("id2label"); it != j.end() && it->is_object())
      for (auto l = it->begin(); l != it->end(); ++l)
        if (l.value().is_string()) h.id2label[l.key()] = l.value().get<std::string>();
  } else {
    bad(w, "type '" + type + "' is not supported (embedding, classifier)");
  }
  return h;
}

nlohmann::json HeadConfig::to_json() const {
  if (type == HeadType::embedding)
    return {{"type", "embedding"}, {"pooling", pooling_name(pooling)}, {"normalize", normalize},
            {"max_seq_length", max_seq_length}, {"dim", dim}};
  nlohmann::json j = {{"type", "classifier"}, {"num_labels", num_labels}, {"max_seq_length", max_seq_length}};
  j["id2label"] = nlohmann::json::object();
  for (const auto& [k, v] : id2label) j["id2label"][k] = v;
  return j;
}

}  // namespace bertrank::model
