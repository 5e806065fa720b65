// Document ingestion (retrieval/docs_io.h, retrieval/utf8.h): what is stored is always valid
// UTF-8 — invalid bytes become U+FFFD by the tokenizer's rule, or Latin-1 is decoded on request —
// and an index holding such text can be searched from the CLI (issue 13, defect 2).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "bertrank/bertrank.hpp"
#include "common/utf8.h"
#include "model_test_util.h"
#include "retrieval/docs_io.h"
#include "test_paths.h"
#include "tokenizer/wordpiece.h"

using namespace bertrank;
using namespace bertrank::retrieval;

namespace {
const std::string kFFFD = "\xEF\xBF\xBD";

std::string write_temp(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// JSON serialisation throws (type_error.316) for invalid UTF-8: the check every output path makes.
bool dumps(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::string cli() { return std::string(BERTRANK_BINARY_DIR) + "/bertrank"; }
}  // namespace

TEST(DocsIo, SmartLatin1TitleIsReplaced) {
  const auto p = write_temp("latin1_title.smart", ".I 1\n.T\n\xE9\n.W\nx\n");
  std::vector<DocInput> d;
  ASSERT_NO_THROW(d = read_smart_documents(p));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].text, "x");
  EXPECT_EQ(nlohmann::json::parse(d[0].meta)["title"], kFFFD);
}

TEST(DocsIo, SmartLatin1BodyIsReplaced) {
  const auto p = write_temp("latin1_body.smart", ".I 7\n.W\ncaf\xE9 au lait\n.I 8\n.W\nplain\n");
  const auto d = read_smart_documents(p);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].text, "caf" + kFFFD + " au lait");
  EXPECT_TRUE(dumps(d[0].text));
  EXPECT_EQ(d[1].text, "plain");
}

TEST(DocsIo, JsonlInvalidUtf8IsReplaced) {
  const auto p = write_temp("bad_utf8.jsonl",
                            "{\"id\": 1, \"text\": \"caf\xE9\", \"meta\": {\"t\": \"\xFF\xFE\"}}\n"
                            "{\"id\": 2, \"text\": \"ok \xC3\xA9\"}\n");
  std::vector<DocInput> d;
  ASSERT_NO_THROW(d = read_jsonl_documents(p));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].text, "caf" + kFFFD);
  EXPECT_EQ(nlohmann::json::parse(d[0].meta)["t"], kFFFD + kFFFD);
  EXPECT_EQ(d[1].text, "ok \xC3\xA9");  // valid UTF-8 is kept byte for byte
}

// End to end: a SMART file with a Latin-1 title and body -> `index build` -> `search` prints
// valid JSON holding the document.
TEST(DocsIoCli, SmartLatin1BuildsASearchableIndex) {
  if (!test::exists(cli())) GTEST_SKIP() << "no " << cli() << " (build the bertrank target)";
  const std::string dir = test::tmp_dir("docs_io_cli");
  test::TinyModel().write(dir + "/tiny.brm");
  std::ofstream(dir + "/docs.smart", std::ios::binary)
      << ".I 1\n.T\nh\xE9llo\n.W\nhello w\xF6rld\n.I 2\n.W\nthe a\n";
  ASSERT_EQ(std::system((cli() + " index build -m " + dir + "/tiny.brm --docs " + dir + "/docs.smart --bm25 -o " +
                         dir + "/x.bri > /dev/null 2> " + dir + "/build.err")
                            .c_str()),
            0)
      << slurp(dir + "/build.err");
  for (const char* mode : {"bm25", "dense"}) {
    ASSERT_EQ(std::system((cli() + " search -i " + dir + "/x.bri -q hello -k 2 --mode " + mode + " > " + dir +
                           "/hits.jsonl 2> " + dir + "/search.err")
                              .c_str()),
              0)
        << mode << ": " << slurp(dir + "/search.err");
    std::ifstream in(dir + "/hits.jsonl");
    bool found = false;
    for (std::string line; std::getline(in, line);) {
      const auto h = nlohmann::json::parse(line);
      if (h["id"] == 1) {
        found = true;
        EXPECT_EQ(h["text"], "hello w" + kFFFD + "rld");
        EXPECT_EQ(h["meta"]["title"], "h" + kFFFD + "llo");
      }
    }
    EXPECT_TRUE(found) << mode;
  }
}

// Defence in depth: an index that already holds invalid UTF-8 (made before ingestion decoded, or
// through the library, which stores bytes as given) can still be searched: `search` prints valid
// JSON, the bad bytes replaced.
TEST(DocsIoCli, SearchPrintsValidJsonForStoredInvalidBytes) {
  if (!test::exists(cli())) GTEST_SKIP() << "no " << cli() << " (build the bertrank target)";
  const std::string dir = test::tmp_dir("docs_io_old_index");
  test::TinyModel().write(dir + "/tiny.brm");
  {
    bertrank::Model m(dir + "/tiny.brm");
    bertrank_index_params ip = bertrank_index_default_params();
    ip.bm25 = 1;
    bertrank::Index idx(m, ip);
    idx.add(m, {3}, {"hello caf\xE9"});
    idx.save(dir + "/old.bri");
  }
  ASSERT_EQ(std::system((cli() + " search -i " + dir + "/old.bri -q hello --mode bm25 > " + dir + "/hits.jsonl 2> " +
                         dir + "/err.txt")
                            .c_str()),
            0)
      << slurp(dir + "/err.txt");
  const std::string out = slurp(dir + "/hits.jsonl");
  ASSERT_FALSE(out.empty());
  const auto h = nlohmann::json::parse(out.substr(0, out.find('\n')));
  EXPECT_EQ(h["id"], 3);
  EXPECT_EQ(h["text"], "hello caf" + kFFFD);
}

// The replacement rule, against Python's bytes.decode("utf-8", "replace") (which implements the
// same "maximal subpart" rule); the last case is Unicode 15 Table 3-8.
TEST(Utf8, ReplacesMaximalSubpartsLikePython) {
  const std::string R = kFFFD;
  const std::vector<std::tuple<std::string, std::string, size_t>> cases = {
      {"", "", 0},
      {"plain ascii", "plain ascii", 0},
      {"\xE9", R, 1},
      {"caf\xE9!", "caf" + R + "!", 1},
      {"\xC3", R, 1},                                   // truncated 2-byte sequence
      {"\xE2\x82", R, 1},                               // truncated 3-byte: one replacement
      {"\xE2\x82x", R + "x", 1},                        // the ASCII byte is never consumed
      {"\xF0\x9F\x98" "a", R + "a", 1},
      {"\xED\xA0\x80", R + R + R, 3},                   // surrogate
      {"\xC0\xAF", R + R, 2},                           // overlong
      {"\xE0\x80\xAF", R + R + R, 3},                   // overlong
      {"\xF4\x90\x80\x80", R + R + R + R, 4},           // above U+10FFFF
      {"\xF8\x88\x80\x80\x80", R + R + R + R + R, 5},   // 5-byte form
      {"\x80\x80", R + R, 2},                           // lone continuation bytes
      {"a\xF1\x80\x80", "a" + R, 1},
      {"\xF0\x9F\x98\x80\xE2\x82\xAC\xC3\xA9", "\xF0\x9F\x98\x80\xE2\x82\xAC\xC3\xA9", 0},  // valid: kept
      {R, R, 0},                                        // U+FFFD itself is valid
      {"\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41", R + R + R + R + "A", 4},
  };
  for (const auto& [in, want, n] : cases) {
    size_t replaced = 99;
    EXPECT_EQ(utf8_replace_invalid(in, &replaced), want) << in;
    EXPECT_EQ(replaced, n) << in;
    EXPECT_EQ(utf8_is_valid(in), n == 0) << in;
    EXPECT_TRUE(utf8_is_valid(want)) << in;
    std::string s = in;
    EXPECT_EQ(decode_text(s, TextEncoding::text_utf8), n > 0);
    EXPECT_EQ(s, want);
  }
}

TEST(Utf8, Latin1AndEncodingNames) {
  EXPECT_EQ(latin1_to_utf8("caf\xE9 \xA0\xFF"), "caf\xC3\xA9 \xC2\xA0\xC3\xBF");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(char(b));
  const std::string u = latin1_to_utf8(all);
  EXPECT_EQ(u.size(), 128u + 2u * 128u);
  EXPECT_TRUE(utf8_is_valid(u));
  std::string s = "\xE9t\xE9";
  EXPECT_FALSE(decode_text(s, TextEncoding::text_latin1));  // nothing replaced
  EXPECT_EQ(s, "\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(parse_text_encoding("UTF-8", "--encoding"), TextEncoding::text_utf8);
  EXPECT_EQ(parse_text_encoding("utf8", "--encoding"), TextEncoding::text_utf8);
  EXPECT_EQ(parse_text_encoding("latin-1", "--encoding"), TextEncoding::text_latin1);
  EXPECT_EQ(parse_text_encoding("ISO-8859-1", "--encoding"), TextEncoding::text_latin1);
  try {
    parse_text_encoding("cp1252", "--encoding");
    FAIL() << "accepted cp1252";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--encoding: unknown encoding 'cp1252'"), std::string::npos) << e.what();
  }
}

// What is stored and what is tokenized agree: tokenizing the replaced text gives the tokens (and
// code-point offsets) of tokenizing the raw bytes, on random byte strings.
TEST(Utf8, ReplacedTextTokenizesLikeTheRawBytes) {
  std::vector<std::string> vocab = test::TinyModel().meta["tokenizer"]["vocab"];
  const tokenizer::WordPieceTokenizer tok(vocab);
  uint64_t st = 0x9E3779B97F4A7C15ull;
  const char* pieces[] = {"hello", " ", "world", "\xE9", "\xC3\xA9", "\xE2\x82", "\xF0\x9F\x98\x80", "\xED\xA0\x80",
                          "\x80", "\xFF", ",", "a", "\xC0", "\xF4\x90", "\xE4\xB8\xAD"};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string raw;
    const int n = 1 + iter % 12;
    for (int k = 0; k < n; ++k) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      if ((st >> 60) < 3) raw.push_back(char(st >> 32));  // sometimes any byte
      else raw += pieces[(st >> 33) % (sizeof pieces / sizeof *pieces)];
    }
    std::vector<int32_t> ids_raw, ids_fixed;
    std::vector<tokenizer::Offset> off_raw, off_fixed;
    tok.tokenize(raw, ids_raw, off_raw);
    tok.tokenize(utf8_replace_invalid(raw), ids_fixed, off_fixed);
    ASSERT_EQ(ids_raw, ids_fixed) << "iteration " << iter;
    ASSERT_EQ(off_raw, off_fixed) << "iteration " << iter;
  }
}

TEST(DocsIo, Latin1EncodingDecodesSmartAndJsonl) {
  const auto s = write_temp("latin1.smart", ".I 1\n.T\nt\xEAte\n.W\ncaf\xE9\n");
  TextDecodeReport rep;
  auto d = read_documents(s, TextEncoding::text_latin1, &rep);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].text, "caf\xC3\xA9");
  EXPECT_EQ(nlohmann::json::parse(d[0].meta)["title"], "t\xC3\xAAte");
  EXPECT_EQ(rep.records, 1u);
  EXPECT_EQ(rep.replaced, 0u);

  const auto j = write_temp("latin1.jsonl", "{\"id\": \"5\", \"text\": \"caf\xE9\", \"meta\": {\"k\": \"\xFC\"}}\n");
  d = read_documents(j, TextEncoding::text_latin1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].id, 5);
  EXPECT_EQ(d[0].text, "caf\xC3\xA9");
  EXPECT_EQ(nlohmann::json::parse(d[0].meta)["k"], "\xC3\xBC");
}

TEST(DocsIo, ReportCountsReplacedDocumentsAndWhere) {
  const auto s = write_temp("count.smart", ".I 1\n.W\nok\n.I 2\n.T\n\xE9\n.W\nx\n.I 3\n.W\n\xFF \xFE\n");
  TextDecodeReport rep;
  read_documents(s, TextEncoding::text_utf8, &rep);
  EXPECT_EQ(rep.records, 3u);
  EXPECT_EQ(rep.replaced, 2u);  // a document counts once, however many bytes were bad
  EXPECT_EQ(rep.first_replaced, s + ":4 (.I 2)");
  EXPECT_EQ(text_decode_warning("index build", "documents", rep),
            "index build: 2 of 3 documents had invalid UTF-8 (first: " + s +
                ":4 (.I 2)), replaced with U+FFFD (use --encoding latin-1 for Latin-1 files)");

  const auto j = write_temp("count.jsonl", "{\"id\": 1, \"text\": \"a\"}\n\n{\"id\": 2, \"text\": \"\xE9\"}\n");
  TextDecodeReport jr;
  read_documents(j, TextEncoding::text_utf8, &jr);
  EXPECT_EQ(jr.records, 2u);
  EXPECT_EQ(jr.replaced, 1u);
  EXPECT_EQ(jr.first_replaced, j + ":3");
  EXPECT_EQ(text_decode_warning("x", "documents", TextDecodeReport{}), "");
}

// A line that is still not JSON after decoding is an error naming file:line and the reason.
TEST(DocsIo, JsonlErrorsNameFileLineAndReason) {
  const auto p = write_temp("surrogate.jsonl", "{\"id\": 1, \"text\": \"a\"}\n{\"id\": 2, \"text\": \"\\ud800\"}\n");
  try {
    read_documents(p);
    FAIL() << "accepted a lone surrogate escape";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(p + ":2: not a JSON object"), std::string::npos) << m;
    EXPECT_NE(m.find("surrogate"), std::string::npos) << m;
  }
}

// `index build --encoding latin-1` stores "é"; the default warns once on stderr; `index add`
// takes the option too; an unknown encoding is refused.
TEST(DocsIoCli, EncodingOptionAndWarning) {
  if (!test::exists(cli())) GTEST_SKIP() << "no " << cli() << " (build the bertrank target)";
  const std::string dir = test::tmp_dir("docs_io_encoding");
  test::TinyModel().write(dir + "/tiny.brm");
  std::ofstream(dir + "/docs.smart", std::ios::binary) << ".I 1\n.W\nhello caf\xE9\n.I 2\n.W\nthe world\n";
  std::ofstream(dir + "/more.jsonl", std::ios::binary) << "{\"id\": 9, \"text\": \"hello na\xEFve\"}\n";
  const std::string build = cli() + " index build -m " + dir + "/tiny.brm --docs " + dir + "/docs.smart --bm25 -o ";
  ASSERT_EQ(std::system((build + dir + "/u.bri > /dev/null 2> " + dir + "/u.err").c_str()), 0);
  EXPECT_NE(slurp(dir + "/u.err").find("index build: 1 of 2 documents had invalid UTF-8 (first: " + dir +
                                       "/docs.smart:1 (.I 1)), replaced with U+FFFD"),
            std::string::npos)
      << slurp(dir + "/u.err");
  ASSERT_EQ(std::system((build + dir + "/l.bri --encoding latin-1 > /dev/null 2> " + dir + "/l.err").c_str()), 0)
      << slurp(dir + "/l.err");
  EXPECT_EQ(slurp(dir + "/l.err").find("invalid UTF-8"), std::string::npos) << slurp(dir + "/l.err");
  ASSERT_EQ(std::system((cli() + " index add -i " + dir + "/l.bri --docs " + dir +
                         "/more.jsonl --encoding latin-1 > /dev/null 2> " + dir + "/a.err")
                            .c_str()),
            0)
      << slurp(dir + "/a.err");
  ASSERT_EQ(std::system((cli() + " search -i " + dir + "/l.bri -q hello -k 3 --mode bm25 > " + dir + "/hits.jsonl").c_str()),
            0);
  std::map<int64_t, std::string> got;
  std::ifstream in(dir + "/hits.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto h = nlohmann::json::parse(line);
    got[h["id"].get<int64_t>()] = h["text"];
  }
  EXPECT_EQ(got[1], "hello caf\xC3\xA9");
  EXPECT_EQ(got[9], "hello na\xC3\xAFve");
  EXPECT_NE(std::system((build + dir + "/x.bri --encoding cp1252 > /dev/null 2>&1").c_str()), 0);
}
