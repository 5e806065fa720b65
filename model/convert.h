// convert.h — Hugging Face model folder -> one bertrank model file (.brm, see model_file.h).
//
// Steps: read config.json and choose the architecture its model_type names (model/arch.h;
// an unknown one is refused, naming the supported ones); read the tokenizer files into the
// .brm tokenizer object (tokenizer/load.h: vocab.txt / tokenizer.json / tokenizer_config.json);
// choose the head — the sentence-transformers files when present (modules.json, <pooling
// dir>/config.json: mean / cls / max, a Normalize module, sentence_bert_config.json:
// max_seq_length), else a classifier head (num_labels, id2label, pooler + classifier tensors)
// for the architecture's classifier classes (BertForSequenceClassification) and a mean-pooled
// embedding head for any other; map and check the tensors of model.safetensors (validated by
// safetensors.h) by the architecture's tensor map: F32, F16, BF16 or F64 become f32, its
// prefix ("bert.") is dropped, query, key and value are fused per layer; write. The written
// file is loaded back and validated before the converter reports success. Errors name the
// file and the tensor or field.
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
