// load.h — the tokenizer factory: a Tokenizer (tokenizer.h) from what users have on disk, and
// from / for the "tokenizer" object of a bertrank model file.
//
// Why one factory: model/, api/ and the CLI ask for "the tokenizer of this folder / this model
// file" and get a `std::unique_ptr<Tokenizer>`; which family it is, is decided here, once, from
// the files. One row per family in load.cpp (kFamilies):
//
//   family     .brm "type"   tokenizer.json model.type   Hugging Face files read
//   WordPiece  "wordpiece"   "WordPiece"                 tokenizer.json (model, normalizer,
//                                                        post_processor), else tokenizer_config.json
//                                                        (do_lower_case, strip_accents,
//                                                        tokenize_chinese_chars, special tokens),
//                                                        else BERT uncased defaults; vocab.txt,
//                                                        else tokenizer.json's model.vocab
//
// A tokenizer.json whose model.type is "Unigram" or "BPE" is refused with "... not supported
// yet"; any other type with the list of supported ones. A folder without tokenizer.json is
// WordPiece (vocab.txt).
//
// The special-token template is tokenizer.json's post_processor: TemplateProcessing (its
// "single" / "pair" pieces and "special_tokens" ids), BertProcessing ("[CLS] A [SEP]" /
// "[CLS] A [SEP] B [SEP]", B's part type 1), RobertaProcessing ("<s> A </s>" /
// "<s> A </s></s> B </s>", every type id 0; its trim_offsets only concerns byte-level BPE
// tokens, which no supported family makes) or null (no special tokens). Other post-processors
// are refused naming the type. Without a tokenizer.json the family's default applies.
//
// The .brm "tokenizer" object (the file format is in model/model_file.h):
//   wordpiece: {"type": "wordpiece", "vocab": [token strings in id order], "lowercase",
//               "clean_text", "handle_chinese_chars" (bools), "strip_accents" (null | bool),
//               "unk_token", "cls_token", "sep_token", "pad_token", "mask_token",
//               "continuing_subword_prefix" (strings), "max_input_chars_per_word" (integer),
//               "model_max_length" (integer, optional: 2..2^30, default 512)}
//   every family: "post_processor" (optional): the tokenizer.json post_processor, verbatim, or
//               null. Absent means the family's default (WordPiece: BERT's, of cls_token and
//               sep_token) — so files written before there was a template, and every file
//               whose template is that default, read the same; the converter writes it only
//               when it differs, and BERT model files stay byte-identical to earlier ones.
// Errors are std::runtime_error naming the file and field ("'<path>': model.type is ...") or,
// for the .brm object, starting with "tokenizer: ". Never asserts on input.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/wordpiece.h"

namespace bertrank::tokenizer {

// `path`: a vocab.txt (WordPiece, BERT uncased defaults) or a Hugging Face model folder.
// For a bertrank model file (.brm) use model::load_model_tokenizer (model/model.h).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// A Hugging Face folder's tokenizer as the .brm "tokenizer" object (without model_max_length,
// which the converter sets from the model's config).
nlohmann::json read_hf_tokenizer(const std::string& dir);

// The tokenizer a .brm "tokenizer" object describes, every field checked.
std::unique_ptr<Tokenizer> tokenizer_from_brm(const nlohmann::json& j);

// HF post_processor JSON -> template, special ids checked against the vocabulary. `where`
// prefixes errors. Null: SpecialTokenTemplate::none().
SpecialTokenTemplate parse_post_processor(const nlohmann::json& pp, size_t vocab_size, const std::string& where);

// WordPiece only (its own tests and benchmark): as load_tokenizer, refusing other families.
WordPieceTokenizer load_wordpiece(const std::string& path);

}  // namespace bertrank::tokenizer
