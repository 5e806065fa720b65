// Unit tests of the WordPiece tokenizer on a small hand-made vocabulary: algorithm details,
// invalid UTF-8, truncation, padding and batching. Parity with Hugging Face on the real
// vocabulary is in test_tokenizer_golden.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "tokenizer/load.h"
#include "tokenizer/wordpiece.h"

using namespace bertrank::tokenizer;

namespace {

std::vector<std::string> small_vocab() {
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "aff", "able",
          "a",     "##b",   "b",     "cafe",  ",",      "!",  "i",     "##i",   "x",   "##x",
          "中",    "文",    "$",     "€"};
}

WordPieceTokenizer small() { return WordPieceTokenizer(small_vocab()); }

std::vector<std::string> tokens(const WordPieceTokenizer& t, const Encoding& e) {
  std::vector<std::string> out;
  for (int32_t id : e.ids) out.push_back(t.id_to_token(id));
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST(WordPiece, GreedyLongestMatchFirst) {
  auto t = small();
  EXPECT_EQ(tokens(t, t.encode("unaffable")), (V{"[CLS]", "un", "##aff", "##able", "[SEP]"}));
  EXPECT_EQ(tokens(t, t.encode("UnAffAble, able!")),
            (V{"[CLS]", "un", "##aff", "##able", ",", "able", "!", "[SEP]"}));
  // A word that cannot be matched in full is one [UNK] covering the whole word.
  auto e = t.encode("unaffablez x");
  EXPECT_EQ(tokens(t, e), (V{"[CLS]", "[UNK]", "x", "[SEP]"}));
  EXPECT_EQ(e.offsets[1], (Offset{0, 10}));
}

TEST(WordPiece, HundredCharacterLimit) {
  auto t = small();
  const std::string w100(100, 'x'), w101(101, 'x');
  auto e100 = t.encode(w100);
  EXPECT_EQ(e100.size(), 2u + 100u);  // x ##x ##x ...
  auto e101 = t.encode(w101);
  EXPECT_EQ(tokens(t, e101), (V{"[CLS]", "[UNK]", "[SEP]"}));
  EXPECT_EQ(e101.offsets[1], (Offset{0, 101}));
  // The limit counts characters, not bytes: 100 two-byte characters is still within it.
  std::string multi;
  for (int i = 0; i < 100; ++i) multi += "\xc3\xa9";  // é -> e after accent stripping
  EXPECT_EQ(t.encode(multi).ids[1], t.unk_id());     // 'e' is not in this vocab
}

TEST(WordPiece, NormalisationAndOffsets) {
  auto t = small();
  // Accents stripped (precomposed and combining), lowercased; offsets index code points.
  auto e = t.encode("Caf\xc3\xa9 cafe\xcc\x81");
  EXPECT_EQ(tokens(t, e), (V{"[CLS]", "cafe", "cafe", "[SEP]"}));
  EXPECT_EQ(e.offsets[1], (Offset{0, 4}));
  EXPECT_EQ(e.offsets[2], (Offset{5, 9}));  // the dropped U+0301 is outside the span
  // CJK ideographs become words of their own; zero-width and control characters vanish.
  e = t.encode("\xe4\xb8\xad\xe6\x96\x87x\xe2\x80\x8b\x01x");
  EXPECT_EQ(tokens(t, e), (V{"[CLS]", "中", "文", "x", "##x", "[SEP]"}));
  EXPECT_EQ(e.offsets[3], (Offset{2, 3}));
  EXPECT_EQ(e.offsets[4], (Offset{5, 6}));
  // NBSP and ideographic space split words; $ is ASCII punctuation, € (Sc) is not.
  e = t.encode("a\xc2\xa0" "a\xe3\x80\x80$\xe2\x82\xac");
  EXPECT_EQ(tokens(t, e), (V{"[CLS]", "a", "a", "$", "€", "[SEP]"}));
  // Literal special tokens are kept; lower-case look-alikes are not special.
  e = t.encode("a[MASK]b [mask]");
  EXPECT_EQ(tokens(t, e)[2], "[MASK]");
  EXPECT_EQ(e.offsets[2], (Offset{1, 7}));
  EXPECT_EQ(t.encode("[mask]").ids[1], t.token_to_id("[UNK]"));
}

TEST(WordPiece, InvalidUtf8IsReplacedThenDropped) {
  auto t = small();
  const std::string fffd = "\xef\xbf\xbd";
  // Each maximal ill-formed subsequence is one U+FFFD (as Python's errors="replace").
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a\xff" "b", "a" + fffd + "b"},
      {"a\x80\x80" "b", "a" + fffd + fffd + "b"},
      {"a\xe4\xb8" "b", "a" + fffd + "b"},              // truncated 3-byte sequence
      {"a\xc0\x80" "b", "a" + fffd + fffd + "b"},        // overlong NUL
      {"a\xed\xa0\x80" "b", "a" + fffd + fffd + fffd + "b"},  // UTF-16 surrogate
      {"a\xf4\x90\x80\x80", "a" + fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"ab\xf0\x9f\x98", "ab" + fffd},                   // truncated at end of input
  };
  for (const auto& [bad, replaced] : cases) {
    const Encoding a = t.encode(bad), b = t.encode(replaced);
    EXPECT_EQ(a.ids, b.ids) << "input bytes of length " << bad.size();
    EXPECT_EQ(a.offsets, b.offsets) << "input bytes of length " << bad.size();
  }
  EXPECT_EQ(tokens(t, t.encode("a\xff" "b")), (V{"[CLS]", "a", "##b", "[SEP]"}));
}

TEST(WordPiece, RandomBytesNeverBreakInvariants) {
  auto t = small();
  std::mt19937 rng(42);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = char(rng() % 4 == 0 ? 'a' + rng() % 3 : rng() & 0xFF);
    const Encoding e = t.encode(s, {16, true, Padding::none});
    ASSERT_LE(e.size(), 16u);
    ASSERT_EQ(e.ids.front(), t.cls_id());
    ASSERT_EQ(e.ids.back(), t.sep_id());
    int32_t prev = 0;
    for (size_t i = 1; i + 1 < e.size(); ++i) {
      ASSERT_LE(e.offsets[i].start, e.offsets[i].end);
      ASSERT_LE(int32_t(e.offsets[i].end), int32_t(s.size()));
      ASSERT_GE(e.offsets[i].start, prev);
      prev = e.offsets[i].start;
    }
  }
}

TEST(WordPiece, LongestFirstRule) {
  // tokenizers' LongestFirst: the shorter sequence s is kept whole when 2s <= budget and the
  // longer gets the rest; otherwise both get half, the longer one (b on ties) the odd token.
  for (int budget = 0; budget <= 40; ++budget)
    for (int a = 0; a <= 45; ++a)
      for (int b = 0; b <= 45; ++b) {
        const auto [ka, kb] = WordPieceTokenizer::longest_first(a, b, budget);
        ASSERT_EQ(ka + kb, std::min(a + b, budget)) << a << " " << b << " " << budget;
        if (a + b <= budget) {
          ASSERT_EQ(ka, a);
          ASSERT_EQ(kb, b);
          continue;
        }
        const int s = std::min(a, b);
        if (2 * s <= budget) {
          ASSERT_EQ(a <= b ? ka : kb, s) << a << " " << b << " " << budget;
        } else {
          ASSERT_EQ(a > b ? kb : ka, budget / 2) << a << " " << b << " " << budget;
        }
      }
  EXPECT_EQ(WordPieceTokenizer::longest_first(10, -1, 4), std::make_pair(4, 0));
}

TEST(WordPiece, PairTruncationPaddingAndBatch) {
  auto t = small();
  EncodeOptions opt;
  opt.max_length = 7;  // 3 special tokens + 4 content tokens
  const Encoding e = t.encode_pair("a a a a a", "b b", opt);
  EXPECT_EQ(tokens(t, e), (V{"[CLS]", "a", "a", "[SEP]", "b", "b", "[SEP]"}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_TRUE(e.truncated);
  EXPECT_FALSE(t.encode_pair("a", "b", opt).truncated);
  // A max_length below the special tokens disables truncation (as tokenizers does).
  opt.max_length = 2;
  EXPECT_EQ(t.encode_pair("a a", "b", opt).size(), 6u);

  opt = {};
  opt.max_length = 6;
  opt.padding = Padding::max_length;
  const Encoding p = t.encode("a", opt);
  EXPECT_EQ(p.ids, (std::vector<int32_t>{2, 10, 3, 0, 0, 0}));
  EXPECT_EQ(p.attention_mask, (std::vector<int32_t>{1, 1, 1, 0, 0, 0}));

  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(std::string(size_t(i % 7), 'x') + " unaffable");
  EncodeOptions lp;
  lp.padding = Padding::longest;
  auto batch = t.encode_batch(texts, lp);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const Encoding one = t.encode(texts[i]);
    EXPECT_EQ(batch[i].size(), batch[6].size());
    EXPECT_TRUE(std::equal(one.ids.begin(), one.ids.end(), batch[i].ids.begin())) << i;
  }
}

TEST(WordPiece, RefusesBadVocabularies) {
  EXPECT_THROW(WordPieceTokenizer({}), std::invalid_argument);
  EXPECT_THROW(WordPieceTokenizer({"[UNK]", "[CLS]", "[SEP]", "[PAD]", "a", "a"}), std::invalid_argument);
  try {
    WordPieceTokenizer({"[CLS]", "[SEP]", "[PAD]", "a"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[UNK]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(WordPieceTokenizer::from_vocab_file("/nonexistent/vocab.txt"), std::runtime_error);
  EXPECT_THROW(load_wordpiece("/nonexistent-dir-or-file"), std::runtime_error);
}
