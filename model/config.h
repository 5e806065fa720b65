// config.h — what a model file's metadata says about the encoder, its head and its tokenizer.
//
// Parsed from the .brm metadata (model_file.h has the field list) and validated before any
// tensor is touched: every field present and of the right type, sizes positive and within
// sane limits, hidden_size divisible by num_attention_heads. Errors name the field.
// Nothing here is specific to one checkpoint: any BERT-family configuration is accepted.
// The tokenizer's part of the metadata is tokenizer/load.h's.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bertrank::model {

enum class HiddenAct { gelu, gelu_tanh };  // "gelu" (erf); "gelu_new" / "gelu_pytorch_tanh" (tanh form)

struct BertConfig {
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_position_embeddings = 0;
  int type_vocab_size = 0;
  double layer_norm_eps = 1e-12;
  HiddenAct hidden_act = HiddenAct::gelu;
  std::string hidden_act_name = "gelu";
  int pad_token_id = 0;

  int head_dim() const { return hidden_size / num_attention_heads; }

  // From Hugging Face config.json (missing optional fields take BERT defaults) — for the converter.
  static BertConfig from_hf_json(const nlohmann::json& j);
  // From the .brm "config" object: every field required. Throws std::runtime_error naming it.
  static BertConfig from_brm_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void validate() const;  // throws std::runtime_error naming the bad field
};

enum class Pooling { mean, cls, max };
const char* pooling_name(Pooling p);

enum class HeadType { embedding, classifier };

struct HeadConfig {
  HeadType type = HeadType::embedding;
  Pooling pooling = Pooling::mean;
  bool normalize = false;
  int max_seq_length = 512;  // tokens, the special tokens included
  int dim = 0;               // embedding width (= hidden_size)
  int num_labels = 0;        // classifier
  std::map<std::string, std::string> id2label;

  static HeadConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

}  // namespace bertrank::model
