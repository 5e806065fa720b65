// convert.h — Hugging Face model folder -> one bertrank model file (.brm, see model_file.h).
//
// Reads config.json, model.safetensors (validated by safetensors.h), the tokenizer files
// (vocab.txt / tokenizer.json / tokenizer_config.json, via tokenizer/load.h) and, when present,
// the sentence-transformers files: modules.json, <pooling dir>/config.json (mean / cls / max),
// a Normalize module, sentence_bert_config.json (max_seq_length). Without modules.json a
// BertForSequenceClassification checkpoint gets a classifier head (num_labels, id2label,
// pooler + classifier tensors), any other BertModel a mean-pooled embedding head.
// Weights stored as F32, F16, BF16 or F64 become f32; a "bert." prefix is dropped; query, key
// and value are fused per layer. The written file is loaded back and validated before the
// converter reports success. Errors name the file and the tensor or field.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bertrank::model {

struct ConvertOptions {
  std::string name;  // source.name in the metadata; default: the folder's name
};

// Returns the metadata written (without the tensor table) for reporting.
nlohmann::json convert_hf_dir(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& opt = {});

}  // namespace bertrank::model
