// config.h — what a model file's metadata says about the encoder, its head and its tokenizer.
//
// Parsed from the .brm metadata (model_file.h has the field list) and validated before any
// tensor is touched: every field present and of the right type, sizes positive and within
// sane limits, hidden_size divisible by num_attention_heads. Errors name the field.
// Nothing here is specific to one checkpoint: any configuration of an architecture in the
// registry (model/arch.h) is accepted; model_type picks the architecture, which supplies what
// config.json leaves implicit (default type_vocab_size, the position offset).
// The tokenizer's part of the metadata is tokenizer/load.h's.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/arch.h"

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
  // The architecture (arch.h). In the .brm "config" only when it is not "bert" (absent: bert).
  std::string model_type = "bert";
  // Derived from the architecture, not stored: the position_embeddings row of a sequence's
  // first token (0 for BERT; pad_token_id + 1 for RoBERTa / XLM-R).
  int position_offset = 0;

  int head_dim() const { return hidden_size / num_attention_heads; }
  // The longest sequence the position table holds.
  int max_positions() const { return max_position_embeddings - position_offset; }
  const Architecture& architecture() const { return find_architecture(model_type); }

  // From Hugging Face config.json (missing optional fields take the architecture's defaults,
  // BERT's) — for the converter. An unknown model_type is refused, naming the supported ones.
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
