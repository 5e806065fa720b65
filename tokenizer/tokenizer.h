// tokenizer.h — what model/ and api/ know of a tokenizer: the interface every tokenizer family
// implements, and the post-processing all of them share.
//
// Why an interface: bertrank speaks WordPiece (BERT) now and SentencePiece Unigram (XLM-R,
// multilingual-e5) next; the encoder, the heads, the C API and the CLI hold a `const Tokenizer&`
// and never learn which one they have. The split follows Hugging Face `tokenizers`:
//
//   tokenize()        per family (virtual, called once per text): decoding, normalizer,
//                     pre-tokenizer and model; the content tokens of one text with their offsets,
//                     no special tokens, no truncation. WordPiece: tokenizer/wordpiece.h.
//   post_process()    shared, here: truncation `longest_first` to max_length counted *with* the
//                     special tokens, the special-token template, padding. encode(),
//                     encode_pair() and the batch calls are tokenize() + post_process().
//
// The special-token template (SpecialTokenTemplate) is data, not code: HF's post_processor
// (TemplateProcessing, BertProcessing, RobertaProcessing in tokenizer.json) decides whether a
// pair is "[CLS] A [SEP] B [SEP]" (B and its [SEP] type 1) or "<s> A </s></s> B </s>" (all type
// 0); tokenizer/load.h reads it, and a family without one in its files uses its own default
// (WordPiece: BERT's). It belongs to the tokenizer, not to the architecture: multilingual-e5 is a
// BertModel with XLM-R's template.
//
// Post-processing contract (identical to `tokenizers`):
//   * truncation: with max_length > 0 the content tokens are cut to max_length minus the
//     template's special tokens (2 "[CLS] A [SEP]", 3 "[CLS] A [SEP] B [SEP]", 4 for XLM-R's
//     pair) by longest_first(); a max_length below that count disables truncation.
//   * template: pieces in template order; a sequence's tokens get the sequence's type id, a
//     special token its own type id and offsets (0, 0). add_special_tokens = false keeps the
//     sequences (and their type ids) and drops the special tokens.
//   * padding: pad_id(), type 0, attention mask 0, offsets (0, 0); Padding::longest pads a batch
//     to its longest encoding, Padding::max_length to max_length.
// Offsets are [start, end) code-point indices into the original text (the family says how it
// decodes invalid UTF-8). A Tokenizer is immutable after construction and thread-safe.
#pragma once

#include <cstdint>
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

enum class Padding { none, longest, max_length };

struct EncodeOptions {
  int max_length = 0;  // 0: no truncation; else total length including special tokens
  bool add_special_tokens = true;
  Padding padding = Padding::none;  // `longest` applies to batches; `max_length` pads to max_length
};

// One element of a template: a special token, or the sequence A or B, with the type id it gets.
struct TemplatePiece {
  enum Kind : uint8_t { piece_special, piece_a, piece_b };
  Kind kind = piece_special;
  int32_t id = -1;  // the token id (piece_special only)
  int32_t type_id = 0;
  bool operator==(const TemplatePiece& o) const {
    return kind == o.kind && id == o.id && type_id == o.type_id;
  }
};

// HF's post_processor as data: `single` holds A once, `pair` A and B once each, plus any
// special tokens.
struct SpecialTokenTemplate {
  std::vector<TemplatePiece> single, pair;

  // "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1" (HF BertProcessing).
  static SpecialTokenTemplate bert(int32_t cls, int32_t sep);
  // No post_processor: "$A" / "$A $B:1", as `tokenizers` without one.
  static SpecialTokenTemplate none();

  size_t added_tokens(bool is_pair) const;  // the special tokens the template adds
  int32_t max_type_id() const;              // over both templates
  // Throws std::invalid_argument unless single has exactly one A and no B, pair exactly one A
  // and one B, and every special id lies in [0, vocab_size).
  void validate(size_t vocab_size) const;
  bool operator==(const SpecialTokenTemplate& o) const { return single == o.single && pair == o.pair; }
};

// The content tokens of one text, as tokenize() appends them.
struct Tokens {
  std::vector<int32_t> ids;
  std::vector<Offset> offsets;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The family, as the .brm "tokenizer" object's "type" names it: "wordpiece".
  virtual const char* name() const = 0;
  // The family's own steps only: appends the content tokens of `text` and their offsets.
  virtual void tokenize(std::string_view text, std::vector<int32_t>& ids, std::vector<Offset>& offsets) const = 0;

  virtual int token_to_id(std::string_view token) const = 0;  // -1 if absent
  // Throws std::out_of_range outside [0, vocab_size()).
  virtual const std::string& id_to_token(int32_t id) const = 0;
  virtual size_t vocab_size() const = 0;

  // Special ids (-1 when the family has no such token). cls / sep are what HF calls
  // cls_token / sep_token ([CLS] / [SEP] for BERT, <s> / </s> for XLM-R).
  int pad_id() const { return special_.pad; }
  int unk_id() const { return special_.unk; }
  int cls_id() const { return special_.cls; }
  int sep_id() const { return special_.sep; }
  const SpecialTokenTemplate& special_template() const { return template_; }

  Encoding encode(std::string_view text, const EncodeOptions& opt = {}) const;
  Encoding encode_pair(std::string_view a, std::string_view b, const EncodeOptions& opt = {}) const;
  // Batch API: threads over inputs (OpenMP); Padding::longest pads to the batch's longest.
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, const EncodeOptions& opt = {}) const;
  std::vector<Encoding> encode_pair_batch(const std::vector<std::pair<std::string, std::string>>& pairs,
                                          const EncodeOptions& opt = {}) const;

  // Truncation, template and padding (as above) over already tokenized content: `b` null for
  // a single sequence. encode(t) == post_process(tokenize(t), nullptr).
  Encoding post_process(const Tokens& a, const Tokens* b, const EncodeOptions& opt = {}) const;

  // Truncation of a pair to `budget` content tokens, exactly as tokenizers' LongestFirst
  // (returns the kept lengths {n_a, n_b}). With len_b < 0 (single sequence) n_b is 0.
  static std::pair<int, int> longest_first(int len_a, int len_b, int budget);

 protected:
  struct SpecialIds {
    int32_t pad = -1, unk = -1, cls = -1, sep = -1;
  };
  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = default;
  Tokenizer(Tokenizer&&) noexcept = default;
  Tokenizer& operator=(const Tokenizer&) = default;
  Tokenizer& operator=(Tokenizer&&) noexcept = default;
  // Called by the family's constructor once its vocabulary is known. Throws
  // std::invalid_argument if the template is invalid (SpecialTokenTemplate::validate).
  void set_post_processing(SpecialIds ids, SpecialTokenTemplate tmpl);

 private:
  Encoding encode_impl(std::string_view a, const std::string_view* b, const EncodeOptions& opt) const;
  void finish_batch(std::vector<Encoding>& out, const EncodeOptions& opt) const;

  SpecialIds special_;
  SpecialTokenTemplate template_;
};

}  // namespace bertrank::tokenizer
