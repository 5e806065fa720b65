// load.h — building a WordPieceTokenizer from what users have on disk.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/wordpiece.h"

namespace bertrank::tokenizer {

// Vocabulary and settings of a Hugging Face BERT tokenizer folder. Settings come from
// tokenizer.json (normalizer and model sections) when present, else tokenizer_config.json
// (do_lower_case, strip_accents, tokenize_chinese_chars, special tokens), else BERT uncased
// defaults. The vocabulary comes from vocab.txt, else from tokenizer.json's model.vocab.
// Throws std::runtime_error naming the file and field on anything malformed or unsupported
// (e.g. a tokenizer.json whose model is not WordPiece).
struct HfTokenizerFiles {
  std::vector<std::string> vocab;
  WordPieceConfig config;
};
HfTokenizerFiles read_hf_tokenizer_dir(const std::string& dir);

// `path` may be a vocab.txt (uncased BERT defaults) or a Hugging Face model folder (as above).
// For a bertrank model file (.brm) use model::load_model_tokenizer (model/model.h).
WordPieceTokenizer load_wordpiece(const std::string& path);

}  // namespace bertrank::tokenizer
