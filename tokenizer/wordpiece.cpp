// WordPiece tokenizer: one pass over the UTF-8 input does decoding, special-token splitting,
// BertNormalizer and BertPreTokenizer at once, handing each finished word to WordPiece. ASCII
// takes a table-driven fast path; everything else asks utf8proc for its Unicode properties.
#include "tokenizer/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <unordered_map>

#include "common/utf8_decode.h"

namespace bertrank::tokenizer {

namespace {

// ---- Unicode properties (utf8proc) -----------------------------------------------------------
inline utf8proc_category_t category(char32_t c) {
  return utf8proc_category(utf8proc_int32_t(c));
}

// tokenizers' is_control: control, format, surrogate and private-use characters (Cc, Cf, Cs,
// Co). Unassigned code points (Cn) are NOT dropped: tokenizers keeps them (they become [UNK]).
inline bool is_other(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CS ||
         cat == UTF8PROC_CATEGORY_CO;
}

// Rust's char::is_whitespace (the White_Space property): the separators Zs, Zl, Zp plus the
// C0/C1 controls \t \n \v \f \r and U+0085.
inline bool is_whitespace(char32_t c, utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP ||
         (c >= 0x09 && c <= 0x0D) || c == 0x85;
}

inline bool is_punctuation_cat(utf8proc_category_t cat) {
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

// CJK ideograph blocks, exactly those of tokenizers' BertNormalizer (which, unlike the original
// BERT code, starts the Extension E/F range at U+2B920, leaving U+2B820..U+2B91F out).
inline bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// ASCII classes for the fast path.
enum : uint8_t { A_DROP = 0, A_SPACE = 1, A_PUNCT = 2, A_WORD = 3 };
struct AsciiTable {
  uint8_t cls[128];
  char lower[128];
  AsciiTable() {
    for (int c = 0; c < 128; ++c) {
      lower[c] = char(c >= 'A' && c <= 'Z' ? c + 32 : c);
      if (c == '\t' || c == '\n' || c == '\r' || c == ' ') cls[c] = A_SPACE;
      else if (c < 0x20 || c == 0x7F) cls[c] = A_DROP;  // incl. \v \f: controls are dropped first
      else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) cls[c] = A_WORD;
      else cls[c] = A_PUNCT;  // every other printable ASCII char is ASCII punctuation
    }
  }
};
const AsciiTable kAscii;

// The vocabulary lookup, string -> id: the WordPiece inner loop asks it for every candidate
// piece, so it is an open-addressing table of 8-byte slots {hash tag, index} (linear probing,
// at most half full) over the keys kept in insertion order. A miss, the common case, touches one
// or two slots of a compact array, not a linked node and its key; a tag match is confirmed
// against the key. (std::unordered_map's chained nodes made the speed depend on where the heap
// had put them: 15-20 % between two builds of the same code, bench_tokenizer.)
class Map {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, Slot{0, -1});
    keys_.reserve(n);
    ids_.reserve(n);
  }
  // Adds key -> id; false (and no change) when key is there already.
  bool insert(std::string_view key, int32_t id) {
    if (2 * (keys_.size() + 1) > slots_.size()) grow();
    const uint64_t h = hash(key);
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      Slot& sl = slots_[i];
      if (sl.index < 0) {
        sl = Slot{uint32_t(h >> 32), int32_t(keys_.size())};
        keys_.push_back(key);
        ids_.push_back(id);
        return true;
      }
      if (sl.tag == uint32_t(h >> 32) && keys_[size_t(sl.index)] == key) return false;
    }
  }
  // The id of key, or -1.
  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash(key);
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& sl = slots_[i];
      if (sl.index < 0) return -1;
      if (sl.tag == uint32_t(h >> 32) && keys_[size_t(sl.index)] == key) return ids_[size_t(sl.index)];
    }
  }

 private:
  struct Slot {
    uint32_t tag;   // the hash's high half
    int32_t index;  // into keys_ / ids_; -1: empty
  };
  // FNV-1a, then a multiply-xorshift finaliser so the low bits (the slot) mix all the bytes.
  static uint64_t hash(std::string_view s) noexcept {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
  }
  void grow() {
    std::vector<std::string_view> keys = std::move(keys_);
    std::vector<int32_t> ids = std::move(ids_);
    keys_.clear();
    ids_.clear();
    reserve(std::max<size_t>(16, keys.size() * 2));
    for (size_t i = 0; i < keys.size(); ++i) insert(keys[i], ids[i]);
  }
  std::vector<Slot> slots_;
  std::vector<std::string_view> keys_;
  std::vector<int32_t> ids_;
};

}  // namespace

struct WordPieceTokenizer::Impl {
  std::vector<std::string> vocab;
  WordPieceConfig cfg;
  bool strip_accents = true;
  Map words;  // tokens that start a word
  Map conts;  // continuation tokens, stored without the prefix
  size_t max_word_bytes = 0, max_cont_bytes = 0;
  int32_t unk = -1;
  struct Special {
    std::string text;
    int32_t id;
    int32_t chars;
  };
  std::vector<Special> specials;  // literal special tokens split out of the input, longest first
  bool special_first[256] = {};

  // Per-call scratch for one word: normalised UTF-8 bytes, the byte start of each char, and
  // the original code-point index each char came from.
  struct Word {
    std::string bytes;
    std::vector<int32_t> pos;
    std::vector<int32_t> orig;
    void clear() {
      bytes.clear();
      pos.clear();
      orig.clear();
    }
    void push(char32_t c, int32_t o) {
      pos.push_back(int32_t(bytes.size()));
      orig.push_back(o);
      append_utf8(bytes, c);
    }
  };

  void wordpiece(Word& w, std::vector<int32_t>& ids, std::vector<Offset>& offs) const;
  struct Scan;
};

void WordPieceTokenizer::Impl::wordpiece(Word& w, std::vector<int32_t>& ids,
                                         std::vector<Offset>& offs) const {
  const size_t n = w.orig.size();
  if (n == 0) return;
  w.pos.push_back(int32_t(w.bytes.size()));  // sentinel: end of the last char
  const std::string_view bytes(w.bytes);
  if (n > size_t(cfg.max_input_chars_per_word)) {
    ids.push_back(unk);
    offs.push_back({w.orig[0], w.orig[n - 1] + 1});
    return;
  }
  const size_t first_id = ids.size();
  size_t start = 0;
  while (start < n) {
    const Map& m = start == 0 ? words : conts;
    const size_t max_bytes = start == 0 ? max_word_bytes : max_cont_bytes;
    size_t end = n;
    int32_t found = -1;
    while (end > start) {
      const size_t b0 = size_t(w.pos[start]), b1 = size_t(w.pos[end]);
      if (b1 - b0 <= max_bytes) {
        found = m.find(bytes.substr(b0, b1 - b0));
        if (found >= 0) break;
      }
      --end;
    }
    if (found < 0) {  // the word cannot be matched in full: one [UNK] for all of it
      ids.resize(first_id);
      offs.resize(first_id);
      ids.push_back(unk);
      offs.push_back({w.orig[0], w.orig[n - 1] + 1});
      return;
    }
    ids.push_back(found);
    offs.push_back({w.orig[start], w.orig[end - 1] + 1});
    start = end;
  }
}

// One tokenize() call: a single pass over the input (steps 0-3 of wordpiece.h at once), each
// finished word handed to wordpiece() (step 4).
struct WordPieceTokenizer::Impl::Scan {
  const Impl& m;
  std::string_view text;
  const unsigned char* s;
  std::vector<int32_t>& ids;
  std::vector<Offset>& offs;
  Word& w;
  size_t i = 0;    // byte position
  int32_t cp = 0;  // code-point index of the character being read

  void run() {
    while (i < text.size()) {
      const unsigned char b = s[i];
      if (m.special_first[b] && take_special()) continue;
      if (b < 0x80) take_ascii(b);
      else take_unicode();
    }
    flush();
  }

  void flush() {
    m.wordpiece(w, ids, offs);
    w.clear();
  }
  void single(char32_t c, int32_t o) {  // a word of one character (punctuation, CJK)
    flush();
    w.push(c, o);
    flush();
  }

  // Step 1: a special token written literally at i (longest first) is a token of its own.
  bool take_special() {
    for (const Special& sp : m.specials) {
      if (text.compare(i, sp.text.size(), sp.text) == 0) {
        flush();
        ids.push_back(sp.id);
        offs.push_back({cp, cp + sp.chars});
        i += sp.text.size();
        cp += sp.chars;
        return true;
      }
    }
    return false;
  }

  // Steps 2-3 for an ASCII byte, by table.
  void take_ascii(unsigned char b) {
    ++i;
    switch (kAscii.cls[b]) {
      case A_WORD: w.push(char32_t(m.cfg.lowercase ? kAscii.lower[b] : char(b)), cp); break;
      case A_SPACE: flush(); break;
      case A_PUNCT: single(b, cp); break;
      case A_DROP:
        if (!m.cfg.clean_text) {
          // Without cleaning, \v and \f still split words (they are White_Space); the other
          // controls stay inside words as tokenizers keeps them.
          if (b == 0x0B || b == 0x0C) flush();
          else w.push(b, cp);
        }
        break;
    }
    ++cp;
  }

  // Steps 0, 2 and 3 for one non-ASCII code point.
  void take_unicode() {
    const char32_t c = decode_utf8(s, text.size(), i);
    const int32_t o = cp++;
    const utf8proc_category_t cat = category(c);
    if (m.cfg.clean_text && (c == 0xFFFD || is_other(cat))) return;
    if (is_whitespace(c, cat)) {
      flush();
      return;
    }
    const bool cjk = m.cfg.handle_chinese_chars && is_cjk(c);
    if (cjk) flush();
    normalize(c, cat, o);
    if (cjk) flush();
  }

  // NFD and drop non-spacing marks (when stripping accents), then lowercase (full mapping);
  // each resulting character goes to its word.
  void normalize(char32_t c, utf8proc_category_t cat, int32_t o) {
    utf8proc_int32_t buf[32];
    utf8proc_ssize_t nd = 1;
    buf[0] = utf8proc_int32_t(c);
    if (m.strip_accents) {
      int bound = 0;
      nd = utf8proc_decompose_char(utf8proc_int32_t(c), buf, 32, UTF8PROC_DECOMPOSE, &bound);
      if (nd < 0 || nd > 32) {
        nd = 1;
        buf[0] = utf8proc_int32_t(c);
      }
    }
    for (utf8proc_ssize_t k = 0; k < nd; ++k) {
      const char32_t d = char32_t(buf[k]);
      const utf8proc_category_t dcat = d == c ? cat : category(d);
      if (m.strip_accents && dcat == UTF8PROC_CATEGORY_MN) continue;
      char32_t lowered[2] = {d, 0};
      int nl = 1;
      if (m.cfg.lowercase) {
        if (d == 0x130) {  // the one unconditional multi-char lowercase mapping (SpecialCasing)
          lowered[0] = 'i';
          lowered[1] = 0x307;
          nl = 2;
        } else {
          lowered[0] = char32_t(utf8proc_tolower(utf8proc_int32_t(d)));
        }
      }
      for (int q = 0; q < nl; ++q) put(lowered[q], lowered[q] == d ? dcat : category(lowered[q]), o);
    }
  }

  // Step 3 for a normalised character: punctuation is a word of its own.
  void put(char32_t e, utf8proc_category_t ecat, int32_t o) {
    if (e < 0x80 ? kAscii.cls[e] == A_PUNCT : is_punctuation_cat(ecat)) single(e, o);
    else w.push(e, o);
  }
};

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceConfig config,
                                       std::optional<SpecialTokenTemplate> post_processor)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.vocab = std::move(vocab);
  m.cfg = std::move(config);
  m.strip_accents = m.cfg.strip_accents < 0 ? m.cfg.lowercase : m.cfg.strip_accents != 0;
  if (m.vocab.empty()) throw std::invalid_argument("WordPiece vocabulary is empty");
  if (m.cfg.max_input_chars_per_word < 1)
    throw std::invalid_argument("max_input_chars_per_word must be at least 1");
  if (m.vocab.size() > size_t(INT32_MAX)) throw std::invalid_argument("WordPiece vocabulary too large");
  const std::string& prefix = m.cfg.continuing_subword_prefix;
  m.words.reserve(m.vocab.size());
  m.conts.reserve(m.vocab.size() / 4);
  for (size_t id = 0; id < m.vocab.size(); ++id) {
    const std::string_view tok(m.vocab[id]);
    if (!m.words.insert(tok, int32_t(id)))
      throw std::invalid_argument("WordPiece vocabulary has a duplicate token '" + m.vocab[id] +
                                  "' (ids " + std::to_string(m.words.find(tok)) + " and " +
                                  std::to_string(id) + ")");
    m.max_word_bytes = std::max(m.max_word_bytes, tok.size());
    if (!prefix.empty() && tok.size() > prefix.size() && tok.compare(0, prefix.size(), prefix) == 0) {
      m.conts.insert(tok.substr(prefix.size()), int32_t(id));
      m.max_cont_bytes = std::max(m.max_cont_bytes, tok.size() - prefix.size());
    }
  }
  auto need = [&](const std::string& t, const char* what) {
    const int32_t id = m.words.find(t);
    if (id < 0)
      throw std::invalid_argument(std::string("WordPiece vocabulary lacks the ") + what + " token '" + t + "'");
    return id;
  };
  SpecialIds special;
  special.unk = m.unk = need(m.cfg.unk_token, "unknown");
  special.cls = need(m.cfg.cls_token, "CLS");
  special.sep = need(m.cfg.sep_token, "SEP");
  special.pad = need(m.cfg.pad_token, "padding");
  for (const std::string* t : {&m.cfg.pad_token, &m.cfg.unk_token, &m.cfg.cls_token, &m.cfg.sep_token,
                               &m.cfg.mask_token}) {
    const int32_t id = t->empty() ? -1 : m.words.find(*t);
    if (id < 0) continue;
    int32_t chars = 0;
    for (unsigned char c : *t) chars += (c & 0xC0) != 0x80;
    m.specials.push_back({*t, id, chars});
    m.special_first[static_cast<unsigned char>((*t)[0])] = true;
  }
  std::stable_sort(m.specials.begin(), m.specials.end(),
                   [](const Impl::Special& a, const Impl::Special& b) { return a.text.size() > b.text.size(); });
  set_post_processing(special, post_processor ? std::move(*post_processor)
                                              : SpecialTokenTemplate::bert(special.cls, special.sep));
}

WordPieceTokenizer::~WordPieceTokenizer() = default;
WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, WordPieceConfig config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open vocabulary file '" + path + "'");
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(line);
  }
  if (in.bad()) throw std::runtime_error("error reading vocabulary file '" + path + "'");
  try {
    return WordPieceTokenizer(std::move(vocab), std::move(config));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("vocabulary file '" + path + "': " + e.what());
  }
}

void WordPieceTokenizer::tokenize(std::string_view text, std::vector<int32_t>& ids,
                                  std::vector<Offset>& offsets) const {
  thread_local Impl::Word w;  // scratch reused across calls
  w.clear();
  Impl::Scan{*impl_, text, reinterpret_cast<const unsigned char*>(text.data()), ids, offsets, w}.run();
}

int WordPieceTokenizer::token_to_id(std::string_view token) const {
  return impl_->words.find(token);
}
const std::string& WordPieceTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || size_t(id) >= impl_->vocab.size())
    throw std::out_of_range("token id " + std::to_string(id) + " outside the vocabulary of " +
                            std::to_string(impl_->vocab.size()));
  return impl_->vocab[size_t(id)];
}
size_t WordPieceTokenizer::vocab_size() const { return impl_->vocab.size(); }
const WordPieceConfig& WordPieceTokenizer::config() const { return impl_->cfg; }

}  // namespace bertrank::tokenizer
