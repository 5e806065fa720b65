// The tokenizer interface (tokenizer/tokenizer.h): the special-token template read from
// tokenizer.json's post_processor (TemplateProcessing, BertProcessing, RobertaProcessing, null),
// its truncation budget and type ids; the factory (tokenizer/load.h) refusing tokenizer
// families it does not have, clearly; the .brm tokenizer object round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "tests/model_test_util.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"
#include "tokenizer/load.h"
#include "tokenizer/wordpiece.h"

using namespace bertrank;
using namespace bertrank::tokenizer;
using nlohmann::json;

namespace {

// XLM-R's specials at its ids 0..3, then a few words.
std::vector<std::string> vocab() {
  return {"<s>", "<pad>", "</s>", "<unk>", "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"};
}
constexpr int32_t kS = 0, kEndS = 2, kCls = 6, kSep = 7, kA = 9, kB = 10;

using bertrank::test::error_of;

const json kRoberta = json::parse(R"({"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                                      "trim_offsets": true, "add_prefix_space": true})");
// transformers' XLMRobertaConverter: "<s> $A </s>" / "<s> $A </s> </s> $B </s>".
const json kXlmrTemplate = json::parse(R"({"type": "TemplateProcessing",
  "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
             {"SpecialToken": {"id": "</s>", "type_id": 0}}],
  "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
           {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
           {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
  "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                     "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}})");

WordPieceTokenizer with(const json& post_processor) {
  return WordPieceTokenizer(vocab(), {}, parse_post_processor(post_processor, vocab().size(), "test"));
}

// A Hugging Face folder: vocab.txt plus a tokenizer.json with this model type / post_processor.
std::string hf_dir(const std::string& name, const std::string& model_type, const json* post_processor) {
  const std::string dir = test::tmp_dir("tok_" + name);
  std::ofstream v(dir + "/vocab.txt");
  for (const auto& t : vocab()) v << t << "\n";
  v.close();
  json tj = {{"model", {{"type", model_type}, {"unk_token", "[UNK]"}}}, {"normalizer", nullptr}};
  if (post_processor) tj["post_processor"] = *post_processor;
  std::ofstream(dir + "/tokenizer.json") << tj.dump();
  return dir;
}

}  // namespace

TEST(TokenizerTemplate, BertIsTheWordPieceDefault) {
  const WordPieceTokenizer t(vocab());
  EXPECT_EQ(t.special_template(), SpecialTokenTemplate::bert(kCls, kSep));
  EXPECT_STREQ(t.name(), "wordpiece");
  const Encoding e = t.encode_pair("a", "b");
  EXPECT_EQ(e.ids, (std::vector<int32_t>{kCls, kA, kSep, kB, kSep}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1}));
  // BertProcessing and the TemplateProcessing of the real BERT tokenizer.json are the same template.
  const json bp = json::parse(R"({"type": "BertProcessing", "sep": ["[SEP]", 7], "cls": ["[CLS]", 6]})");
  EXPECT_EQ(parse_post_processor(bp, 12, "t"), SpecialTokenTemplate::bert(kCls, kSep));
  const std::string real = test::weights_dir() + "/hf/all-MiniLM-L6-v2/tokenizer.json";
  if (test::exists(real)) {
    std::ifstream in(real);
    const json tj = json::parse(in);
    EXPECT_EQ(parse_post_processor(tj["post_processor"], 30522, "t"), SpecialTokenTemplate::bert(101, 102));
  }
}

TEST(TokenizerTemplate, XlmRobertaPairsAndTruncation) {
  for (const json* pp : {&kRoberta, &kXlmrTemplate}) {
    const WordPieceTokenizer t = with(*pp);
    SCOPED_TRACE((*pp)["type"].get<std::string>());
    EXPECT_EQ(t.special_template().added_tokens(false), 2u);
    EXPECT_EQ(t.special_template().added_tokens(true), 4u);
    Encoding e = t.encode("a a");
    EXPECT_EQ(e.ids, (std::vector<int32_t>{kS, kA, kA, kEndS}));
    e = t.encode_pair("a a a", "b b");
    EXPECT_EQ(e.ids, (std::vector<int32_t>{kS, kA, kA, kA, kEndS, kEndS, kB, kB, kEndS}));
    EXPECT_EQ(e.type_ids, std::vector<int32_t>(9, 0));  // RoBERTa: every type id 0
    EXPECT_EQ(e.offsets[5], (Offset{0, 0}));
    EXPECT_EQ(e.offsets[6], (Offset{0, 1}));
    // longest_first to max_length counted with the 4 special tokens.
    EncodeOptions o;
    o.max_length = 7;
    e = t.encode_pair("a a a", "b b", o);
    EXPECT_EQ(e.ids, (std::vector<int32_t>{kS, kA, kA, kEndS, kEndS, kB, kEndS}));
    EXPECT_TRUE(e.truncated);
    o.max_length = 3;  // below the 4 special tokens: no truncation, as tokenizers
    EXPECT_EQ(t.encode_pair("a a a", "b b", o).size(), 9u);
    o = {};
    o.add_special_tokens = false;
    EXPECT_EQ(t.encode_pair("a", "b", o).ids, (std::vector<int32_t>{kA, kB}));
  }
}

TEST(TokenizerTemplate, NullPostProcessorAddsNothing) {
  const WordPieceTokenizer t = with(json());
  EXPECT_EQ(t.special_template(), SpecialTokenTemplate::none());
  const Encoding e = t.encode_pair("a", "b b");
  EXPECT_EQ(e.ids, (std::vector<int32_t>{kA, kB, kB}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 1, 1}));  // tokenizers: the pair has type 1
  EncodeOptions o;
  o.max_length = 2;
  EXPECT_EQ(t.encode_pair("a", "b b", o).ids, (std::vector<int32_t>{kA, kB}));
}

TEST(TokenizerTemplate, PostProcessOfTokenizeIsEncode) {
  const WordPieceTokenizer t(vocab());
  Tokens a, b;
  t.tokenize("a b c", a.ids, a.offsets);
  t.tokenize("c", b.ids, b.offsets);
  EncodeOptions o;
  o.max_length = 5;
  const Encoding x = t.post_process(a, &b, o), y = t.encode_pair("a b c", "c", o);
  EXPECT_EQ(x.ids, y.ids);
  EXPECT_EQ(x.type_ids, y.type_ids);
  EXPECT_EQ(x.offsets, y.offsets);
  EXPECT_EQ(x.truncated, y.truncated);
  EXPECT_EQ(t.post_process(a, nullptr).ids, t.encode("a b c").ids);
}

TEST(TokenizerTemplate, RefusesBadPostProcessors) {
  auto refused = [](const json& pp, const std::string& want) {
    const std::string e = error_of([&] { parse_post_processor(pp, 12, "tokenizer.json: post_processor"); });
    EXPECT_NE(e.find(want), std::string::npos) << "got: " << e;
  };
  refused(json::parse(R"({"type": "ByteLevel"})"),
          "type 'ByteLevel' is not supported (TemplateProcessing, BertProcessing, RobertaProcessing)");
  json t = kXlmrTemplate;
  t["single"].erase(1);  // no $A
  refused(t, "must hold A once");
  t = kXlmrTemplate;
  t["special_tokens"].erase("</s>");
  refused(t, "special token '</s>' has no ids");
  t = kXlmrTemplate;
  t["special_tokens"]["<s>"]["ids"] = {99};
  refused(t, "token id 99 is outside the vocabulary of 12");
  refused(json::parse(R"({"type": "BertProcessing", "sep": ["[SEP]"], "cls": ["[CLS]", 6]})"),
          "'sep' is not a [token, id] pair");
}

TEST(TokenizerFactory, RefusesTokenizerFamiliesItDoesNotHave) {
  for (const char* type : {"Unigram", "BPE"}) {
    const std::string dir = hf_dir(type, type, nullptr);
    const std::string e = error_of([&] { load_tokenizer(dir); });
    EXPECT_NE(e.find("tokenizer.json': model.type is '" + std::string(type) + "'"), std::string::npos) << e;
    EXPECT_NE(e.find("not supported yet (supported: WordPiece)"), std::string::npos) << e;
    EXPECT_NE(error_of([&] { read_hf_tokenizer(dir); }).find("not supported yet"), std::string::npos);
    EXPECT_NE(error_of([&] { load_wordpiece(dir); }).find("not supported yet"), std::string::npos);
  }
  const std::string e = error_of([&] { load_tokenizer(hf_dir("wordlevel", "WordLevel", nullptr)); });
  EXPECT_NE(e.find("model.type is 'WordLevel', not a tokenizer bertrank knows (supported: WordPiece)"),
            std::string::npos)
      << e;
  // And a model file's tokenizer object of an unknown type.
  test::TinyModel tiny;
  json obj = tiny.meta["tokenizer"];
  obj["type"] = "unigram";
  const std::string b = error_of([&] { tokenizer_from_brm(obj); });
  EXPECT_NE(b.find("tokenizer: type 'unigram' is not supported (wordpiece)"), std::string::npos) << b;
}

// tokenizer.json's post_processor reaches the tokenizer and the .brm object, which keeps it
// only when it is not the family's default (so BERT model files do not change).
TEST(TokenizerFactory, PostProcessorFromTheFolderToTheModelFile) {
  const json bert = json::parse(R"({"type": "BertProcessing", "sep": ["[SEP]", 7], "cls": ["[CLS]", 6]})");
  const json obj_default = read_hf_tokenizer(hf_dir("bertpp", "WordPiece", &bert));
  EXPECT_FALSE(obj_default.contains("post_processor"));
  EXPECT_EQ(tokenizer_from_brm(obj_default)->special_template(), SpecialTokenTemplate::bert(kCls, kSep));

  const std::string dir = hf_dir("robertapp", "WordPiece", &kRoberta);
  const json obj = read_hf_tokenizer(dir);
  ASSERT_TRUE(obj.contains("post_processor"));
  EXPECT_EQ(obj["post_processor"], kRoberta);
  const auto from_brm = tokenizer_from_brm(obj), from_dir = load_tokenizer(dir);
  EXPECT_EQ(from_brm->special_template(), with(kRoberta).special_template());
  EXPECT_EQ(from_dir->encode_pair("a", "b").ids, from_brm->encode_pair("a", "b").ids);
  EXPECT_EQ(from_dir->encode_pair("a", "b").ids, (std::vector<int32_t>{kS, kA, kEndS, kEndS, kB, kEndS}));

  const json null_pp;
  EXPECT_TRUE(read_hf_tokenizer(hf_dir("nullpp", "WordPiece", &null_pp))["post_processor"].is_null());
  // A model file's object with a bad template is refused, naming it.
  json bad = obj;
  bad["post_processor"]["cls"] = {"<s>", 500};
  const std::string e = error_of([&] { tokenizer_from_brm(bad); });
  EXPECT_NE(e.find("tokenizer: post_processor: special-token template (single): token id 500"), std::string::npos)
      << e;
}
