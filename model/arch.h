// arch.h — per-architecture descriptions: what differs between BERT-family checkpoints, as
// data, so that the converter, the config and the encoder ask the description instead of
// spelling BERT's names and offsets.
//
// ==== Adding a model family ====================================================================
// Follow these steps (XLM-R / multilingual-e5 of issue 17 is the worked example in brackets):
//   1. Tokenizer, if its tokenizer.json model.type is new [Unigram]: a class behind
//      tokenizer/tokenizer.h (tokenize(): normalizer, pre-tokenizer, model; vocabulary; special
//      ids) and its row in kFamilies in tokenizer/load.cpp: .brm "type", HF model.type, the reader
//      of the HF files into the .brm "tokenizer" object and back. The special-token template
//      ["<s> A </s></s> B </s>"] is read from tokenizer.json's post_processor by tokenizer/load.cpp:
//      nothing to write, and it is not part of the architecture (multilingual-e5 is a BertModel
//      with XLM-R's template).
//   2. The Architecture entry in kArchitectures (arch.cpp) [model_type "xlm-roberta", "roberta";
//      position ids after padding_idx; default type_vocab_size 1; classifier class
//      XLMRobertaForSequenceClassification]. A checkpoint whose model_type is already covered
//      [multilingual-e5-small: "bert", 250k vocabulary] needs no entry at all.
//   3. Its tensor mapping: the HF prefixes to drop ["roberta."] and the HF tensors each engine
//      tensor is made of (the engine's names are the .brm's, model/model_file.h). BERT's map is
//      the base; a family whose modules are BERT's under other names only renames [the
//      classification head: classifier.dense -> pooler.dense, classifier.out_proj -> classifier,
//      which the engine computes the same way, tanh(dense(h[CLS])) then a linear]. A family whose
//      computation differs (pre-LayerNorm, rotary positions, no token-type table) also needs a
//      field here and the code that reads it in model/encoder.cpp.
//   4. Goldens from a committed reference script: a seeded synthetic checkpoint written by
//      stdlib Python (as weights/make_synthetic_bert.py), per-layer hidden states and outputs
//      from transformers (as tests/golden/gen_model_goldens.py, gen_rerank_goldens.py), tokenizer
//      outputs from `tokenizers` (as tests/golden/gen_tokenizer_goldens.py); small files only.
//   5. Tests: the registry and mapping cases of tests/test_arch.cpp for the new entry (its map
//      covers every tensor of the synthetic checkpoint), layer-by-layer parity by name (as
//      tests/test_model_parity.cpp), tokenizer parity (as tests/test_tokenizer_golden.cpp).
// The .brm records the architecture as config.model_type, written only when it is not "bert":
// files without it (every file before issue 14, every BERT file since) are BERT.
// ===============================================================================================
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bertrank::model {

struct BertConfig;
struct HeadConfig;

// How position ids count: BERT from 0; RoBERTa / XLM-R from padding_idx + 1 (transformers'
// create_position_ids_from_input_ids; a sequence bertrank encodes is never padded, so the i-th
// token's position is padding_idx + 1 + i. The one difference: transformers also skips a token
// equal to the pad id inside a sequence, which only a text spelling the pad token can produce).
enum class PositionIds { from_zero, after_padding_idx };

// One engine tensor (its .brm name and shape) and the checkpoint tensors it is made of: one
// source copied as is, or several of shape `source_shape` concatenated along the first
// dimension in order (query | key | value -> the fused qkv). Every source must be present.
struct MappedTensor {
  std::string name;
  std::vector<uint64_t> shape;
  std::vector<std::string> sources;    // Hugging Face names, without the architecture's prefix
  std::vector<uint64_t> source_shape;  // the shape of each source
};

// Whether the checkpoint has a tensor (Hugging Face name, prefix dropped): optional parts,
// such as BERT's pooler in a bi-encoder, are mapped when present.
using HasTensorFn = std::function<bool(const std::string& name)>;

struct Architecture {
  std::string name;                          // "bert"
  std::vector<std::string> model_types;      // config.json model_type values it covers
  std::vector<std::string> tensor_prefixes;  // dropped from checkpoint tensor names ("bert.")
  PositionIds position_ids = PositionIds::from_zero;
  int default_type_vocab_size = 2;           // when config.json has no type_vocab_size
  // config.json architectures[0] values that, without sentence-transformers modules.json, get a
  // classifier head (cross-encoder: pooler + classifier tensors); any other class gets a
  // mean-pooled embedding head (bi-encoder). Empty: the family has no cross-encoder.
  std::vector<std::string> classifier_classes;
  // The engine tensors of a checkpoint with this config and head, in the order the converter
  // writes them, and their sources.
  std::vector<MappedTensor> (*tensor_map)(const BertConfig& cfg, const HeadConfig& head,
                                          const HasTensorFn& has) = nullptr;

  int position_offset(int pad_token_id) const {  // row of position_embeddings for token 0
    return position_ids == PositionIds::after_padding_idx ? pad_token_id + 1 : 0;
  }
  bool is_classifier_class(const std::string& hf_class) const;
};

// The description covering a config.json / .brm model_type. Throws std::runtime_error
// "model_type 'x' is not supported (supported: bert)" for any other.
const Architecture& find_architecture(const std::string& model_type);
// Every model_type the registry covers, comma-separated ("bert").
std::string supported_model_types();

}  // namespace bertrank::model
