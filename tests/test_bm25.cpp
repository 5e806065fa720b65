// BM25 (hand-computed scores), the analyzer, reciprocal rank fusion, hybrid search and the
// document readers (jsonl, SMART).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "retrieval/bm25.h"
#include "retrieval/docs_io.h"
#include "retrieval/index.h"
#include "test_paths.h"

using namespace bertrank::retrieval;

TEST(Bm25, Analyzer) {
  EXPECT_EQ(analyze("The Cat-sat, on THE mat42!", true), (std::vector<std::string>{"cat", "sat", "mat42"}));
  EXPECT_EQ(analyze("The Cat-sat", false), (std::vector<std::string>{"the", "cat", "sat"}));
  EXPECT_EQ(analyze("  ", true), std::vector<std::string>{});
  EXPECT_EQ(analyze("caf\xc3\xa9 na\xc3\xafve", true), (std::vector<std::string>{"caf\xc3\xa9", "na\xc3\xafve"}));
}

// Three documents after the analyzer (stop words on):
//   1 "The cat sat on the mat."  -> cat sat mat     |d| = 3
//   2 "The dog chased the cat!"  -> dog chased cat  |d| = 3
//   3 "Dogs and cats."           -> dogs cats       |d| = 2
// N = 3, avgdl = 8/3, k1 = 1.2, b = 0.75.
//   idf(cat) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6 = 0.4700036
//   idf(dog) = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln 2.6667 = 0.9808293
//   tf part for tf = 1, |d| = 3: 2.2 / (1 + 1.2 (0.25 + 0.75 * 3 / (8/3))) = 2.2 / 2.3125 = 0.9513514
//   "cat dog": doc 2 = (0.4700036 + 0.9808293) * 0.9513514 = 1.3802518; doc 1 = 0.4471386;
//   doc 3 has neither token and is not returned.
TEST(Bm25, HandComputedScores) {
  Bm25Index idx;
  idx.add(1, "The cat sat on the mat.");
  idx.add(2, "The dog chased the cat!");
  idx.add(3, "Dogs and cats.");
  auto hits = idx.search("cat dog", 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, 2);
  EXPECT_NEAR(hits[0].score, 1.3802518, 1e-6);
  EXPECT_EQ(hits[1].id, 1);
  EXPECT_NEAR(hits[1].score, 0.4471386, 1e-6);
  // Batch form pads.
  std::string q = "cat dog";
  float s[4];
  int64_t o[4];
  idx.search(1, &q, 4, s, o);
  EXPECT_EQ(o[0], 2);
  EXPECT_EQ(o[1], 1);
  EXPECT_EQ(o[2], -1);
  EXPECT_TRUE(std::isinf(s[3]) && s[3] < 0);
  // Ties (docs 1 and 2 both have cat once, same length) break by smaller id.
  hits = idx.search("cat", 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, 1);
  EXPECT_FLOAT_EQ(hits[0].score, hits[1].score);
  // b = 0: no length normalisation, tf part = 1 for tf = 1, so the score is idf(cat).
  Bm25Index flat_b(Bm25Params{2.0f, 0.0f, true});
  flat_b.add(1, "The cat sat on the mat.");
  flat_b.add(2, "The dog chased the cat!");
  flat_b.add(3, "Dogs and cats.");
  EXPECT_NEAR(flat_b.search("cat", 1)[0].score, std::log(1.6), 1e-6);
  // Stop words kept: "the" becomes searchable.
  Bm25Index keep(Bm25Params{1.2f, 0.75f, false});
  keep.add(1, "The cat");
  keep.add(2, "a dog");
  EXPECT_EQ(keep.search("the", 5).size(), 1u);
  EXPECT_TRUE(idx.search("the", 5).empty());
  // Remove: statistics follow.
  EXPECT_TRUE(idx.remove(3));
  EXPECT_FALSE(idx.remove(3));
  hits = idx.search("cat dog", 10);
  // N = 2, avgdl = 3: idf(cat) = ln(1 + 0.5/2.5) = ln 1.2, idf(dog) = ln(1 + 1.5/1.5) = ln 2, tf part = 1.
  EXPECT_NEAR(hits[0].score, std::log(1.2) + std::log(2.0), 1e-6);
  EXPECT_THROW(idx.add(1, "again"), std::invalid_argument);
}

TEST(Bm25, ReciprocalRankFusion) {
  // dense: 10, 20, 30; bm25: 30, 10.  10: 1/61 + 1/62; 30: 1/63 + 1/61; 20: 1/62.
  std::vector<std::vector<Hit>> lists = {{{0.9f, 10, 0}, {0.8f, 20, 0}, {0.7f, 30, 0}},
                                         {{5.f, 30, 0}, {4.f, 10, 0}}};
  auto f = rrf_fuse(lists, 10);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].id, 10);
  EXPECT_NEAR(f[0].score, 1.0 / 61 + 1.0 / 62, 1e-7);
  EXPECT_EQ(f[1].id, 30);
  EXPECT_NEAR(f[1].score, 1.0 / 63 + 1.0 / 61, 1e-7);
  EXPECT_EQ(f[2].id, 20);
  EXPECT_EQ(rrf_fuse(lists, 1).size(), 1u);
}

TEST(Bm25, HybridSearchThroughIndex) {
  IndexOptions o;
  o.bm25 = true;
  Index idx(2, o, "fp", "model.brm");
  // Dense favours 1 then 2 then 3; BM25 only matches 3 ("zebra").
  std::vector<float> v = {1, 0, 0.8f, 0.6f, 0, 1};
  std::vector<int64_t> ids = {1, 2, 3};
  std::vector<std::string> t = {"apple pie", "apple tart", "zebra crossing"};
  idx.add(3, v.data(), ids.data(), t.data(), nullptr);
  float q[2] = {1, 0};
  std::string qt = "zebra";
  float s[3];
  int64_t o3[3];
  idx.search_hybrid(1, q, &qt, 3, s, o3);
  // 3: 1/63 + 1/61; 1: 1/61; 2: 1/62.
  EXPECT_EQ(o3[0], 3);
  EXPECT_EQ(o3[1], 1);
  EXPECT_EQ(o3[2], 2);
  EXPECT_NEAR(s[0], 1.0 / 63 + 1.0 / 61, 1e-7);
  idx.search_bm25(1, &qt, 3, s, o3);
  EXPECT_EQ(o3[0], 3);
  EXPECT_EQ(o3[1], -1);
  Index no_bm25(2, IndexOptions{}, "fp", "m");
  EXPECT_THROW(no_bm25.search_bm25(1, &qt, 3, s, o3), std::logic_error);
}

// A document with no indexable terms (stopwords only) survives save + load and can then be
// removed (regression: remove() after load dereferenced a missing term list).
TEST(Bm25, RemoveTermlessDocumentAfterLoad) {
  IndexOptions o;
  o.bm25 = true;
  Index idx(2, o, "fp", "model.brm");
  std::vector<float> v = {1, 0, 0, 1};
  std::vector<int64_t> ids = {1, 2};
  std::vector<std::string> t = {"the a of", "zebra crossing"};
  idx.add(2, v.data(), ids.data(), t.data(), nullptr);
  const std::string p = std::filesystem::temp_directory_path().string() + "/bertrank_" +
                        std::to_string(getpid()) + "_termless.bri";
  idx.save(p);
  for (bool mmap : {false, true}) {
    LoadOptions lo;
    lo.mmap = mmap;
    Index back = Index::load(p, lo);
    ASSERT_EQ(back.bm25()->size(), 2u);
    const int64_t rm[] = {1};
    EXPECT_EQ(back.remove(1, rm), 1u);
    EXPECT_EQ(back.bm25()->size(), 1u);
    std::string qt = "zebra";
    float s[2];
    int64_t out[2];
    back.search_bm25(1, &qt, 2, s, out);
    EXPECT_EQ(out[0], 2);
    EXPECT_EQ(out[1], -1);
  }
  std::filesystem::remove(p);
}

namespace {
std::string write_tmp(const std::string& name, const std::string& body) {
  const std::string p = std::filesystem::temp_directory_path().string() + "/bertrank_" +
                        std::to_string(getpid()) + "_" + name;
  std::ofstream(p, std::ios::binary) << body;
  return p;
}
void expect_error(const std::string& body, const std::string& what) {
  const std::string p = write_tmp("bad.jsonl", body);
  try {
    read_documents(p);
    ADD_FAILURE() << "accepted: " << body;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
  std::filesystem::remove(p);
}
}  // namespace

TEST(Bm25, DocumentReaders) {
  const std::string p = write_tmp("docs.jsonl",
                                  "{\"id\": 7, \"text\": \"seven\"}\n\n"
                                  "{\"id\": \"0012\", \"text\": \"twelve\", \"meta\": {\"lang\": \"en\"}}\n");
  auto d = read_documents(p);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].id, 7);
  EXPECT_EQ(d[0].meta, "");
  EXPECT_EQ(d[1].id, 12);
  EXPECT_EQ(d[1].meta, "{\"lang\":\"en\"}");
  std::filesystem::remove(p);
  expect_error("{\"id\": -1, \"text\": \"x\"}\n", ":1: \"id\" is negative");
  expect_error("{\"id\": \"12a\", \"text\": \"x\"}\n", "not a non-negative integer");
  expect_error("{\"id\": 1.5, \"text\": \"x\"}\n", "must be an integer");
  expect_error("{\"id\": 1}\n", ":1: missing \"text\"");
  expect_error("{\"id\": 1, \"text\": \"a\"}\n{\"id\": \"1\", \"text\": \"b\"}\n", ":2: id 1 already used on line 1");
  expect_error("not json\n", ":1: not a JSON object");
  expect_error("{\"id\": 1, \"text\": \"a\", \"meta\": 3}\n", "\"meta\" must be an object");

  const std::string s = write_tmp("docs.smart", ".I 1\n.T\nTitle one\n.W\nBody one\n.I 2\n.W\nBody two\n");
  d = read_documents(s);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].id, 1);
  EXPECT_EQ(d[0].text, "Body one");
  EXPECT_EQ(d[0].meta, "{\"title\":\"Title one\"}");
  EXPECT_EQ(d[1].text, "Body two");
  std::filesystem::remove(s);
  const std::string bad = write_tmp("bad.smart", ".I x1\n.W\nBody\n");
  EXPECT_THROW(read_documents(bad), std::runtime_error);
  std::filesystem::remove(bad);
}

TEST(Bm25, CranfieldCollection) {
  const std::string p = bertrank::test::shared_data_dir() + "/ir/cranfield/cran.all.1400";
  if (!bertrank::test::exists(p)) GTEST_SKIP() << p << " not found";
  auto docs = read_documents(p);
  EXPECT_EQ(docs.size(), 1400u);
  Bm25Index idx;
  for (auto& d : docs) idx.add(d.id, d.text);
  // Cranfield query 1 is about similarity laws for wind-tunnel models; its judged documents
  // include 184, 29, 31, 12, 51, 102, 13, 14, 15, 57 ...; BM25 should find some in its top 10.
  auto hits = idx.search(
      "what similarity laws must be obeyed when constructing aeroelastic models of heated high "
      "speed aircraft", 10);
  ASSERT_EQ(hits.size(), 10u);
  int found = 0;
  for (auto& h : hits)
    for (int64_t rel : {184, 29, 31, 12, 51, 102, 13, 14, 15, 57, 378, 859, 185, 30, 37, 52, 142, 195, 875, 56, 66, 95, 462, 497, 858, 876, 879, 880, 486})
      found += h.id == rel;
  EXPECT_GE(found, 3);
}
