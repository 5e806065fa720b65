// Fuzz target: the WordPiece tokenizer (tokenizer/wordpiece.h) and the C API's
// bertrank_tokenize (include/bertrank/bertrank.h), on a small built-in vocabulary (specials,
// letters and their ## continuations, a few words, accented and CJK characters).
//
// Input: byte 0 = flags (bits 0-1: tokenizer settings 0 uncased, 1 cased, 2 uncased without
// text cleaning / CJK splitting / accent stripping; bit 2: a pair), byte 1 = max_length
// (0..255), byte 2 = where the pair splits the rest (fraction /256), then the text bytes
// (any bytes: NULs and invalid UTF-8 included).
//
// Invariants, for single texts and pairs, with and without truncation:
//   [CLS] a [SEP] (b [SEP]): the first and the last token are [CLS] / [SEP], the middle is the
//   prefix of tokenize(a) (and of tokenize(b)) that truncation keeps; ids.size() <= max_length
//   whenever max_length can hold the special tokens (else no truncation); the kept lengths
//   are longest-first (total = min(na + nb, budget); a truncated side keeps at least the other
//   side's kept length minus one); `truncated` iff something was dropped; type ids 0 then 1;
//   attention mask all 1; offsets (0, 0) for specials, else 0 <= start <= end <= bytes of the
//   text, starts non-decreasing; encode_batch agrees with encode; and bertrank_tokenize (on a
//   tokenizer loaded from the same vocab.txt) returns the same ids, type ids and offsets.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bertrank/bertrank.h"
#include "tests/fuzz/fuzz_util.h"
#include "tokenizer/wordpiece.h"

using namespace bertrank;
using tokenizer::Encoding;
using tokenizer::WordPieceTokenizer;

namespace {

std::vector<std::string> make_vocab() {
  std::vector<std::string> v = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char c = 'a'; c <= 'z'; ++c) v.push_back(std::string(1, c)), v.push_back("##" + std::string(1, c));
  for (char c = 'A'; c <= 'Z'; ++c) v.push_back(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c) v.push_back(std::string(1, c)), v.push_back("##" + std::string(1, c));
  for (const char* p : {".", ",", "!", "?", "-", "'", "\"", "(", ")", "[", "]", "#", "##", "@", "/", ":"})
    v.push_back(p);
  for (const char* w : {"hello", "world", "the", "un", "##able", "##ing", "##s", "##ed", "play", "token",
                        "##izer", "caf", "##é", "é", "e", "##e", "über", "ü", "ß", "中", "文", "日", "本",
                        "語", "ж", "##ж", "naïve", "\xE2\x80\x94", "\xF0\x9F\x98\x80"})
    if (std::find(v.begin(), v.end(), w) == v.end()) v.push_back(w);
  return v;
}

struct State {
  std::string vocab_path;
  std::unique_ptr<WordPieceTokenizer> tok[3];
  bertrank_tokenizer* c_tok = nullptr;
};

const State& state() {
  static State* s = [] {
    auto* st = new State;
    const auto vocab = make_vocab();
    st->vocab_path = fuzz::scratch_dir() + "/vocab.txt";
    {
      std::ofstream out(st->vocab_path, std::ios::binary);
      for (const auto& t : vocab) out << t << "\n";
    }
    tokenizer::WordPieceConfig uncased, cased, raw;
    cased.lowercase = false;
    raw.clean_text = false;
    raw.handle_chinese_chars = false;
    raw.strip_accents = 0;
    st->tok[0] = std::make_unique<WordPieceTokenizer>(WordPieceTokenizer::from_vocab_file(st->vocab_path, uncased));
    st->tok[1] = std::make_unique<WordPieceTokenizer>(vocab, cased);
    st->tok[2] = std::make_unique<WordPieceTokenizer>(vocab, raw);
    FUZZ_CHECK(bertrank_tokenizer_load(st->vocab_path.c_str(), &st->c_tok) == BERTRANK_OK, bertrank_last_error());
    return st;
  }();
  return *s;
}

void check_content(const Encoding& e, size_t at, const std::vector<int32_t>& ids,
                   const std::vector<tokenizer::Offset>& offs, size_t keep, size_t text_bytes, int type) {
  int32_t last_start = 0;
  for (size_t i = 0; i < keep; ++i) {
    FUZZ_CHECK(e.ids[at + i] == ids[i], "kept token " + std::to_string(i) + " differs from tokenize()");
    FUZZ_CHECK(e.offsets[at + i] == offs[i], "offset of kept token " + std::to_string(i) + " differs");
    FUZZ_CHECK(e.type_ids[at + i] == type, "type id of token " + std::to_string(at + i));
    const auto o = e.offsets[at + i];
    FUZZ_CHECK(0 <= o.start && o.start <= o.end && size_t(o.end) <= text_bytes,
               "offset (" + std::to_string(o.start) + ", " + std::to_string(o.end) + ") outside the text");
    FUZZ_CHECK(o.start >= last_start, "offsets go backwards at token " + std::to_string(at + i));
    last_start = o.start;
  }
}

void check_special(const Encoding& e, size_t i, int32_t id, int type) {
  FUZZ_CHECK(e.ids[i] == id, "special token expected at " + std::to_string(i));
  FUZZ_CHECK(e.type_ids[i] == type, "type id of special token " + std::to_string(i));
  FUZZ_CHECK(e.offsets[i] == (tokenizer::Offset{0, 0}), "special token offsets not (0, 0)");
}

// bertrank_tokenize must agree with the C++ encoding.
void check_c_api(const State& st, std::string_view a, const std::string_view* b, int max_length, const Encoding& e) {
#ifdef BERTRANK_NUL_TERMINATED
  const char* pa = a.data();
  const char* pb = b ? b->data() : nullptr;
  std::string dummy;
  if (!pa) pa = dummy.c_str();  // empty string_view may have a null data()
  if (b && !pb) pb = dummy.c_str();
  auto call = [&](int32_t* ids, int32_t* types, int32_t* offs, size_t cap, size_t* len) {
    return bertrank_tokenize(st.c_tok, pa, a.size(), pb, b ? b->size() : 0, max_length, ids, types, offs, cap, len);
  };
#else
  // The older C API takes NUL-terminated texts: compare only texts without a NUL.
  if (a.find('\0') != std::string_view::npos || (b && b->find('\0') != std::string_view::npos)) return;
  const std::string sa(a), sb(b ? std::string(*b) : std::string());
  auto call = [&](int32_t* ids, int32_t* types, int32_t* offs, size_t cap, size_t* len) {
    return bertrank_tokenize(st.c_tok, sa.c_str(), b ? sb.c_str() : nullptr, max_length, ids, types, offs, cap, len);
  };
#endif
  size_t len = 0;
  FUZZ_CHECK(call(nullptr, nullptr, nullptr, 0, &len) == BERTRANK_ERR_BUFFER_TOO_SMALL, "capacity 0 not refused");
  FUZZ_CHECK(len == e.size(), "C API token count " + std::to_string(len) + " != " + std::to_string(e.size()));
  std::vector<int32_t> ids(len), types(len), offs(2 * len);
  FUZZ_CHECK(call(ids.data(), types.data(), offs.data(), len, &len) == BERTRANK_OK, bertrank_last_error());
  FUZZ_CHECK(len == e.size(), "C API token count changed");
  for (size_t i = 0; i < len; ++i) {
    FUZZ_CHECK(ids[i] == e.ids[i] && types[i] == e.type_ids[i], "C API token " + std::to_string(i) + " differs");
    FUZZ_CHECK(offs[2 * i] == e.offsets[i].start && offs[2 * i + 1] == e.offsets[i].end,
               "C API offsets of token " + std::to_string(i) + " differ");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const State& st = state();
  const int which = (data[0] & 3) == 3 ? 0 : (data[0] & 3);
  const bool pair = (data[0] & 4) != 0;
  const int max_length = data[1];
  const std::string_view text(reinterpret_cast<const char*>(data + 3), size - 3);
  const size_t split = pair ? text.size() * data[2] / 256 : text.size();
  const std::string_view a = text.substr(0, split), b = text.substr(split);
  const WordPieceTokenizer& tok = *st.tok[which];

  std::vector<int32_t> ia, ib;
  std::vector<tokenizer::Offset> oa, ob;
  tok.tokenize(a, ia, oa);
  FUZZ_CHECK(ia.size() == oa.size(), "tokenize: ids and offsets differ in length");
  if (pair) tok.tokenize(b, ib, ob);
  const size_t na = ia.size(), nb = ib.size();
  const size_t specials = pair ? 3 : 2;

  tokenizer::EncodeOptions eo;
  eo.max_length = max_length;
  const Encoding e = pair ? tok.encode_pair(a, b, eo) : tok.encode(a, eo);
  FUZZ_CHECK(e.type_ids.size() == e.size() && e.attention_mask.size() == e.size() && e.offsets.size() == e.size(),
             "encoding fields differ in length");
  for (int32_t m : e.attention_mask) FUZZ_CHECK(m == 1, "attention mask not 1 without padding");
  for (int32_t id : e.ids) FUZZ_CHECK(id >= 0 && size_t(id) < tok.vocab_size(), "id outside the vocab");

  size_t ka = na, kb = nb;
  if (max_length > 0 && size_t(max_length) >= specials) {
    const size_t budget = size_t(max_length) - specials;
    FUZZ_CHECK(e.size() <= size_t(max_length), "longer than max_length");
    const auto kept = WordPieceTokenizer::longest_first(int(na), pair ? int(nb) : -1, int(budget));
    ka = size_t(kept.first);
    kb = pair ? size_t(kept.second) : 0;
    const std::string lens = "na=" + std::to_string(na) + " nb=" + std::to_string(nb) + " budget=" +
                             std::to_string(budget) + " kept " + std::to_string(ka) + ", " + std::to_string(kb);
    FUZZ_CHECK(ka <= na && kb <= nb && ka + kb == std::min(na + nb, budget), "longest_first lengths: " + lens);
    // A truncated side never keeps fewer than the other side's kept length minus one (the odd
    // token of a split budget goes to the second).
    if (ka < na) FUZZ_CHECK(ka + 1 >= kb, "first truncated too far: " + lens);
    if (kb < nb) FUZZ_CHECK(kb + 1 >= ka, "second truncated too far: " + lens);
  }
  FUZZ_CHECK(e.truncated == (ka < na || kb < nb), "truncated flag");
  FUZZ_CHECK(e.size() == ka + kb + specials, "token count");
  check_special(e, 0, tok.cls_id(), 0);
  check_content(e, 1, ia, oa, ka, a.size(), 0);
  check_special(e, 1 + ka, tok.sep_id(), 0);
  if (pair) {
    check_content(e, 2 + ka, ib, ob, kb, b.size(), 1);
    check_special(e, 2 + ka + kb, tok.sep_id(), 1);
  }

  // The batch API agrees with the single one.
  if (pair) {
    const auto batch = tok.encode_pair_batch({{std::string(a), std::string(b)}}, eo);
    FUZZ_CHECK(batch.size() == 1 && batch[0].ids == e.ids && batch[0].offsets == e.offsets, "encode_pair_batch differs");
  } else {
    const auto batch = tok.encode_batch({std::string(a)}, eo);
    FUZZ_CHECK(batch.size() == 1 && batch[0].ids == e.ids && batch[0].offsets == e.offsets, "encode_batch differs");
  }

  if (which == 0) check_c_api(st, a, pair ? &b : nullptr, max_length, e);
  return 0;
}
