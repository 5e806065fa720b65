// wordpiece.h — BERT WordPiece tokenizer with output identical to Hugging Face `tokenizers`
// (BertNormalizer + BertPreTokenizer + WordPiece, then the post-processor of tokenizer.h).
//
// Pipeline, per input text (UTF-8) — steps 0-4 are tokenize(), this family's part:
//   0. Decoding. Invalid UTF-8 is not an error: each maximal ill-formed subsequence becomes one
//      U+FFFD (the WHATWG / Python `errors="replace"` / Rust `from_utf8_lossy` rule,
//      common/utf8_decode.h), which step 2 then drops. Offsets count code points of that
//      decoded text.
//   1. Special tokens written literally in the text ("[CLS]", "[SEP]", "[MASK]", ...: the vocab's
//      added tokens) are split out first and kept as themselves, as `tokenizers` does.
//   2. Normalisation (BertNormalizer): drop U+0000, U+FFFD and control, format, surrogate and
//      private-use characters (Cc, Cf, Cs, Co; not \t \n \r; unassigned code points are kept
//      and end up as [UNK], as in tokenizers); map whitespace (White_Space) to a space; put
//      spaces around CJK ideographs; strip accents (NFD, drop Mn) when lowercasing (or when
//      asked); lowercase (per code point, full mapping). Unicode properties come from utf8proc
//      (Unicode 15 in Debian 12). Known divergence: tokenizers classifies with Unicode 8.0
//      tables, so for the few Cf/Mn/P* characters assigned after 2015 it keeps the character
//      inside its word (which then becomes [UNK]) where bertrank drops, strips or splits it.
//   3. Pre-tokenization (BertPreTokenizer): split on whitespace; every punctuation character
//      (ASCII punctuation, Unicode P*) is a word of its own.
//   4. WordPiece: greedy longest-match-first with the "##" continuation prefix; a word longer
//      than max_input_chars_per_word (100) characters, or one that cannot be matched in full,
//      becomes a single [UNK].
//   5. Post-processing (tokenizer.h, shared by every family): the special-token template —
//      the tokenizer.json post_processor when there is one, else BERT's "[CLS] a [SEP]" (type
//      0) / "[CLS] a [SEP] b [SEP]" (b and its [SEP] type 1); truncation `longest_first` to
//      max_length counted *with* the special tokens; optional padding with [PAD].
//
// Offsets are [start, end) code-point indices into the original text; special tokens and
// padding have (0, 0). The tokenizer is immutable after construction and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace bertrank::tokenizer {

struct WordPieceConfig {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool lowercase = true;
  int strip_accents = -1;  // -1: follow `lowercase` (as tokenizers' None); 0: no; 1: yes
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
  std::string continuing_subword_prefix = "##";
  int max_input_chars_per_word = 100;
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  // vocab: token strings in id order (vocab.txt, one per line). post_processor: the template
  // (tokenizer.json's post_processor, token ids of this vocab); none: BERT's, of the config's
  // cls_token / sep_token. Throws std::invalid_argument if the vocab is empty, has duplicates,
  // lacks the special tokens the config names, or the template is invalid.
  explicit WordPieceTokenizer(std::vector<std::string> vocab, WordPieceConfig config = {},
                              std::optional<SpecialTokenTemplate> post_processor = std::nullopt);
  ~WordPieceTokenizer() override;
  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;

  // Reads vocab.txt (one token per line, "\n" or "\r\n"). Throws std::runtime_error naming the
  // file and problem.
  static WordPieceTokenizer from_vocab_file(const std::string& path, WordPieceConfig config = {});

  const char* name() const override { return "wordpiece"; }
  // Steps 0-4 only: word-piece ids and offsets of one text, no special tokens, no truncation.
  void tokenize(std::string_view text, std::vector<int32_t>& ids, std::vector<Offset>& offsets) const override;

  int token_to_id(std::string_view token) const override;  // -1 if absent
  const std::string& id_to_token(int32_t id) const override;
  size_t vocab_size() const override;
  const WordPieceConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bertrank::tokenizer
