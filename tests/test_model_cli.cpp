// `bertrank convert` and `bertrank embed` end to end on a hand-made model: the .npy and jsonl
// outputs hold exactly what BiEncoder::embed returns, and bad input exits non-zero with a message.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/model.h"
#include "model_test_util.h"
#include "test_paths.h"

using namespace bertrank;

namespace {
std::string cli() { return std::string(BERTRANK_BINARY_DIR) + "/bertrank"; }
int run(const std::string& cmd) { return std::system((cmd + " 2>/dev/null").c_str()); }
}  // namespace

TEST(EmbedCli, NpyAndJsonlHoldTheBiEncoderOutput) {
  if (!test::exists(cli())) GTEST_SKIP() << "no " << cli() << " (build the bertrank target)";
  const std::string dir = test::tmp_dir("cli");
  test::TinyModel tiny;
  const std::string m = dir + "/tiny.brm";
  tiny.write(m);
  std::ofstream(dir + "/in.txt") << "hello world\r\nthe world, a hello.\n\nhello hello hello hello hello hello hello hello hello";
  ASSERT_EQ(run(cli() + " embed -m " + m + " " + dir + "/in.txt --format npy -o " + dir + "/out.npy"), 0);
  ASSERT_EQ(run(cli() + " embed -m " + m + " -o " + dir + "/out.jsonl < " + dir + "/in.txt"), 0);

  model::BiEncoder bi(model::Model::load(m));
  const std::vector<std::string> texts = {"hello world", "the world, a hello.", "",
                                          "hello hello hello hello hello hello hello hello hello"};
  std::vector<float> want(texts.size() * 8);
  bi.embed(texts, want.data());

  const auto npy = test::read_bytes(dir + "/out.npy");
  ASSERT_GE(npy.size(), 10u);
  ASSERT_EQ(std::string(npy.begin() + 1, npy.begin() + 6), "NUMPY");
  const size_t hl = npy[8] | (size_t(npy[9]) << 8);
  ASSERT_EQ((10 + hl) % 64, 0u);
  const std::string header(npy.begin() + 10, npy.begin() + 10 + long(hl));
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (4, 8)"), std::string::npos) << header;
  ASSERT_EQ(npy.size(), 10 + hl + want.size() * 4);
  EXPECT_EQ(std::memcmp(npy.data() + 10 + hl, want.data(), want.size() * 4), 0);

  std::ifstream jl(dir + "/out.jsonl");
  std::string line;
  size_t row = 0;
  while (std::getline(jl, line)) {
    const auto arr = nlohmann::json::parse(line);
    ASSERT_EQ(arr.size(), 8u);
    for (size_t j = 0; j < 8; ++j) EXPECT_EQ(arr[j].get<float>(), want[row * 8 + j]);
    ++row;
  }
  EXPECT_EQ(row, 4u);

  EXPECT_NE(run(cli() + " embed -m " + dir + "/in.txt < /dev/null"), 0);
  EXPECT_NE(run(cli() + " convert " + dir + " -o " + dir + "/x.brm"), 0);  // no config.json there
}

// `bertrank eval` with several modes and depths scores each pair once and must give, row for
// row, what one `eval --mode M --rerank X --candidates N` run (the search pipeline) gives.
TEST(EvalCli, ManyModesAndDepthsEqualSingleRuns) {
  if (!test::exists(cli())) GTEST_SKIP() << "no " << cli() << " (build the bertrank target)";
  const std::string dir = test::tmp_dir("cli_eval");
  test::TinyModel tiny;
  test::TinyCrossModel cross;
  tiny.write(dir + "/tiny.brm");
  cross.write(dir + "/cross.brm");
  {
    std::ofstream docs(dir + "/docs.jsonl");
    const char* words[] = {"hello", "world", "the", "a", "worlds", "hello world", "a hello", "the world"};
    for (int i = 0; i < 24; ++i)
      docs << "{\"id\": " << i << ", \"text\": \"" << words[i % 8] << " " << words[(i * 5 + 3) % 8] << " "
           << words[(i * 3 + 1) % 8] << "\"}\n";
    std::ofstream(dir + "/q.jsonl") << "{\"id\": \"q1\", \"text\": \"hello world\"}\n"
                                    << "{\"id\": \"q2\", \"text\": \"the worlds\"}\n"
                                    << "{\"id\": \"q3\", \"text\": \"a hello\"}\n";
    std::ofstream qrels(dir + "/qrels.txt");
    for (int i = 0; i < 24; i += 3) qrels << "q" << (1 + i % 3) << " 0 " << i << " " << (1 + i % 2) << "\n";
  }
  ASSERT_EQ(run(cli() + " index build -m " + dir + "/tiny.brm --docs " + dir + "/docs.jsonl --bm25 -o " + dir +
                "/x.bri > /dev/null"),
            0);
  const std::string base = cli() + " eval -i " + dir + "/x.bri --queries " + dir + "/q.jsonl --qrels " + dir +
                           "/qrels.txt --rerank " + dir + "/cross.brm";
  ASSERT_EQ(run(base + " --mode bm25,dense,hybrid --candidates 3,10 > " + dir + "/many.jsonl"), 0);
  std::ifstream in(dir + "/many.jsonl");
  int rows = 0, reranked = 0;
  for (std::string line; std::getline(in, line); ++rows) {
    const auto r = nlohmann::json::parse(line);
    const std::string mode = r["mode"];
    const size_t n = r["rerank_candidates"];
    const std::string one = dir + "/one.json";
    if (n == 0) {
      ASSERT_EQ(run(cli() + " eval -i " + dir + "/x.bri --queries " + dir + "/q.jsonl --qrels " + dir +
                    "/qrels.txt --mode " + mode + " > " + one),
                0);
    } else {
      ++reranked;
      ASSERT_EQ(run(base + " --mode " + mode + " --candidates " + std::to_string(n) + " > " + one), 0);
    }
    std::ifstream f(one);
    const auto want = nlohmann::json::parse(f);
    for (const char* key : {"ndcg@10", "mrr@10", "recall@100", "queries"})
      EXPECT_EQ(r[key], want[key]) << mode << " rerank@" << n << " " << key;
  }
  EXPECT_EQ(rows, 9);  // 3 modes x (first stage, @3, @10)
  EXPECT_EQ(reranked, 6);
  EXPECT_NE(run(base + " --mode dense --candidates 0"), 0);
  EXPECT_NE(run(base + " --mode sparse"), 0);
}
