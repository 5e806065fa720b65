// common/json_strict.h: duplicate keys refused at any depth and named; syntax errors carry
// the parser's reason; the file reader names the file. And the readers that go through it
// (JSONL documents) name the line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <fstream>
#include <stdexcept>
#include <string>

#include "common/json_strict.h"
#include "retrieval/docs_io.h"
#include "tests/test_util.h"

using bertrank::json_parse_strict;
using bertrank::json_read_file_strict;

namespace {

std::string tmp_file(const std::string& name, const std::string& content) {
  const std::string p = ::testing::TempDir() + "json_strict_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

using bertrank::test::error_of;

}  // namespace

TEST(JsonStrict, ParsesValidJson) {
  const auto j = json_parse_strict(R"({"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]})");
  ASSERT_TRUE(j.ok()) << j.problem();
  EXPECT_EQ(j.value["b"]["a"], 2);  // the same key in different objects is fine
  EXPECT_EQ(j.value["c"][1]["a"], 4);
  EXPECT_EQ(j.problem(), "");
  EXPECT_TRUE(json_parse_strict("[1, 2]").ok());
  EXPECT_TRUE(json_parse_strict("  \"s\"  ").ok());
}

TEST(JsonStrict, DuplicateKeysRefusedAtAnyDepth) {
  for (const char* text : {R"({"a": 1, "a": 2})", R"({"x": {"a": 1, "b": 0, "a": 2}})",
                           R"([{"a": 1}, {"k": 0, "a": 1, "a": 1}])"}) {
    const auto j = json_parse_strict(text);
    EXPECT_FALSE(j.ok()) << text;
    EXPECT_EQ(j.duplicate_key, "a") << text;
    EXPECT_TRUE(j.value.is_discarded()) << text;
    EXPECT_EQ(j.problem(), "has the key 'a' twice") << text;
  }
  // A duplicate is named even when the text breaks off later.
  EXPECT_EQ(json_parse_strict(R"({"b": 1, "b": 2, )").duplicate_key, "b");
}

TEST(JsonStrict, SyntaxErrorsCarryTheReason) {
  for (const char* text : {"", "{", "{\"a\": nope}", "[1, 2,]", "{} x", "{\"n\": 1e999}"}) {
    const auto j = json_parse_strict(text);
    EXPECT_FALSE(j.ok()) << text;
    EXPECT_TRUE(j.duplicate_key.empty()) << text;
    EXPECT_FALSE(j.syntax_error.empty()) << text;
    EXPECT_EQ(j.problem().rfind("is not valid JSON: ", 0), 0u) << j.problem();
    EXPECT_TRUE(j.value.is_discarded()) << text;
  }
  EXPECT_NE(json_parse_strict("{\"a\": nope}").syntax_error.find("line 1, column"), std::string::npos);
}

TEST(JsonStrict, FileReaderNamesTheFile) {
  const std::string good = tmp_file("good.json", R"({"hidden_size": 8})");
  EXPECT_EQ(json_read_file_strict(good)["hidden_size"], 8);
  const std::string dup = tmp_file("dup.json", R"({"hidden_size": 8, "hidden_size": 16})");
  EXPECT_EQ(error_of([&] { json_read_file_strict(dup); }), "'" + dup + "' has the key 'hidden_size' twice");
  const std::string bad = tmp_file("bad.json", "{\"a\": }");
  EXPECT_EQ(error_of([&] { json_read_file_strict(bad); }).rfind("'" + bad + "' is not valid JSON: ", 0), 0u);
  const std::string missing = bad + ".absent";
  EXPECT_EQ(error_of([&] { json_read_file_strict(missing); }), "cannot open '" + missing + "'");
}

TEST(JsonStrict, JsonlRecordWithDuplicateKeyNamesTheLine) {
  const std::string p = tmp_file("dup.jsonl", "{\"id\": 1, \"text\": \"a\"}\n{\"id\": 2, \"text\": \"b\", \"id\": 3}\n");
  const std::string e = error_of([&] { bertrank::retrieval::read_jsonl_documents(p); });
  EXPECT_EQ(e, p + ":2: the object has the key 'id' twice");
}
