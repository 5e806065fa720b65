// wordpiece.h — BERT WordPiece tokenizer with output identical to Hugging Face `tokenizers`
// (BertNormalizer + BertPreTokenizer + WordPiece + the BERT template post-processor).
//
// Pipeline, per input text (UTF-8):
//   0. Decoding. Invalid UTF-8 is not an error: each maximal ill-formed subsequence becomes one
//      U+FFFD (the WHATWG / Python `errors="replace"` / Rust `from_utf8_lossy` rule), which
//      step 2 then drops. Offsets count code points of that decoded text.
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
//   5. Post-processing: "[CLS] a [SEP]" (type 0) or "[CLS] a [SEP] b [SEP]" (b has type 1);
//      truncation `longest_first` to max_length counted *with* the special tokens; optional
//      padding with [PAD] (type 0, mask 0, offsets (0,0)). As in tokenizers, a max_length
//      smaller than the number of special tokens (2 single, 3 pair) disables truncation.
//
// Offsets are [start, end) code-point indices into the original text; special tokens and
// padding have (0, 0). The tokenizer is immutable after construction and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bertrank::tokenizer {

struct Offset {
  int32_t start = 0, end = 0;
  bool operator==(const Offset& o) const { return start == o.start && end == o.end; }
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<int32_t> attention_mask;
  std::vector<Offset> offsets;
  bool truncated = false;  // true if truncation removed at least one token
  size_t size() const { return ids.size(); }
};

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

enum class Padding { none, longest, max_length };

struct EncodeOptions {
  int max_length = 0;  // 0: no truncation; else total length including special tokens
  bool add_special_tokens = true;
  Padding padding = Padding::none;  // `longest` applies to batches; `max_length` pads to max_length
};

class WordPieceTokenizer {
 public:
  // vocab: token strings in id order (vocab.txt, one per line). Throws std::invalid_argument
  // if the vocab is empty, has duplicates, or lacks the special tokens the config names.
  explicit WordPieceTokenizer(std::vector<std::string> vocab, WordPieceConfig config = {});
  ~WordPieceTokenizer();
  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;

  // Reads vocab.txt (one token per line, "\n" or "\r\n"). Throws std::runtime_error naming the
  // file and problem.
  static WordPieceTokenizer from_vocab_file(const std::string& path, WordPieceConfig config = {});

  Encoding encode(std::string_view text, const EncodeOptions& opt = {}) const;
  Encoding encode_pair(std::string_view a, std::string_view b, const EncodeOptions& opt = {}) const;
  // Batch API: threads over inputs (OpenMP); Padding::longest pads to the batch's longest.
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                     const EncodeOptions& opt = {}) const;
  std::vector<Encoding> encode_pair_batch(const std::vector<std::pair<std::string, std::string>>& pairs,
                                          const EncodeOptions& opt = {}) const;

  // Steps 0-4 only: word-piece ids and offsets of one text, no special tokens, no truncation.
  void tokenize(std::string_view text, std::vector<int32_t>& ids, std::vector<Offset>& offsets) const;

  // Truncation of a pair to `budget` content tokens, exactly as tokenizers' LongestFirst
  // (returns the kept lengths {n_a, n_b}). With len_b < 0 (single sequence) n_b is 0.
  static std::pair<int, int> longest_first(int len_a, int len_b, int budget);

  int token_to_id(std::string_view token) const;  // -1 if absent
  const std::string& id_to_token(int32_t id) const;
  size_t vocab_size() const;
  const WordPieceConfig& config() const;
  int cls_id() const;
  int sep_id() const;
  int pad_id() const;
  int unk_id() const;

 private:
  Encoding encode_impl(std::string_view a, const std::string_view* b, const EncodeOptions& opt) const;
  void finish_batch(std::vector<Encoding>& out, const EncodeOptions& opt) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bertrank::tokenizer
