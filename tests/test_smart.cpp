// SMART collection and qrels readers: small hand-made files, and the shared collections when
// they are beside the checkout.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "retrieval/smart.h"
#include "tests/test_paths.h"

using namespace bertrank::retrieval;

namespace {
std::string write_temp(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
}  // namespace

TEST(Smart, ParsesFieldsAndChoosesText) {
  auto p = write_temp("smart1.txt",
                      ".I 1\n.T\ntitle one\n.A\nsomeone\n.W\ntitle one\n  body line .\n"
                      ".I 2\n.T\nonly a title\n"
                      ".I 003\r\n.W\r\n\r\nw only\r\n");
  auto recs = read_smart_file(p);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].id, "1");
  EXPECT_EQ(recs[0].fields.at('T'), "title one");
  EXPECT_EQ(recs[0].fields.at('A'), "someone");
  EXPECT_EQ(recs[0].text, "title one\n  body line .");
  EXPECT_EQ(recs[1].text, "only a title");
  EXPECT_EQ(recs[2].id, "003");
  EXPECT_EQ(recs[2].text, "w only");
}

TEST(Smart, RefusesTextBeforeFirstRecord) {
  auto p = write_temp("smart2.txt", "stray text\n.I 1\n.W\nx\n");
  try {
    read_smart_file(p);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(":1: text before the first .I"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_smart_file(::testing::TempDir() + "does-not-exist"), std::runtime_error);
}

TEST(Smart, QrelsThreeAndFourColumns) {
  auto p = write_temp("q.txt", "1 184 2\n\n1 29 -1 \n");
  auto q = read_qrels_file(p);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].query_id, "1");
  EXPECT_EQ(q[0].doc_id, "184");
  EXPECT_EQ(q[1].grade, -1);
  auto t = read_qrels_file(write_temp("t.txt", "7 0 13 1\n"));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].doc_id, "13");
  EXPECT_THROW(read_qrels_file(write_temp("bad.txt", "1 2\n")), std::runtime_error);
  EXPECT_THROW(read_qrels_file(write_temp("bad2.txt", "1 2 x\n")), std::runtime_error);
}

TEST(Smart, SharedCollections) {
  const std::string d = bertrank::test::shared_data_dir() + "/ir";
  if (!bertrank::test::exists(d)) GTEST_SKIP() << "../shared/data not beside the checkout: " << d;
  auto cran = read_smart_file(d + "/cranfield/cran.all.1400");
  EXPECT_EQ(cran.size(), 1400u);
  EXPECT_EQ(read_smart_file(d + "/cranfield/cran.qry").size(), 225u);
  EXPECT_EQ(read_smart_file(d + "/medline/MED.ALL").size(), 1033u);
  EXPECT_EQ(read_smart_file(d + "/medline/MED.QRY").size(), 30u);
  std::vector<std::string> empty;  // Cranfield 471 and 995 are empty records in the original
  for (const auto& r : cran)
    if (r.text.empty()) empty.push_back(r.id);
  EXPECT_EQ(empty, (std::vector<std::string>{"471", "995"}));
  EXPECT_EQ(cran[0].text.rfind("experimental investigation of the aerodynamics", 0), 0u);
  EXPECT_GT(read_qrels_file(d + "/cranfield/cranqrel").size(), 1000u);
  EXPECT_GT(read_qrels_file(d + "/medline/MED.REL").size(), 500u);
}

// A malformed judgement line is quoted in the error, decoded (error text may end up in JSON).
TEST(Smart, QrelsErrorQuotesTheLineAsValidUtf8) {
  const auto p = write_temp("bad_utf8_qrels.txt", "1 0 5 1\n1 \xE9\n");
  try {
    read_qrels_file(p);
    FAIL() << "accepted a 2-column line";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(p + ":2: expected"), std::string::npos) << m;
    EXPECT_NE(m.find("got '1 \xEF\xBF\xBD'"), std::string::npos) << m;
  }
}
