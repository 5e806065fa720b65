// Whole models at reduced precision (model::LoadOptions::precision) against fp32: embeddings of
// real texts stay close in cosine, cross-encoder scores keep their order, results do not depend
// on the batch, and the tiny hand-made model loads at every precision. Needs
// weights/all-MiniLM-L6-v2.brm and weights/seeded-cross-encoder.brm (scripts/setup.sh) and
// ../shared/data for the real texts; skips, saying why, without them. The full measurement
// over both collections is bench/bench_precision (bench/results/precision_quality.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "model/cross_encoder.h"
#include "model/model.h"
#include "model_test_util.h"
#include "retrieval/smart.h"
#include "test_paths.h"

using namespace bertrank;

namespace {

std::shared_ptr<const model::Model> load(const std::string& path, model::Precision p) {
  model::LoadOptions o;
  o.precision = p;
  return model::Model::load(path, o);
}

double cosine(const float* a, const float* b, int n) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// 24 MEDLINE documents and 16 Cranfield queries, or a few fixed sentences without ../shared.
std::vector<std::string> texts(bool* real) {
  const std::string ir = test::shared_data_dir() + "/ir";
  std::vector<std::string> out;
  *real = test::exists(ir + "/medline/MED.ALL") && test::exists(ir + "/cranfield/cran.qry");
  if (*real) {
    const auto d = retrieval::read_smart_file(ir + "/medline/MED.ALL");
    const auto q = retrieval::read_smart_file(ir + "/cranfield/cran.qry");
    for (size_t i = 0; i < 24 && i < d.size(); ++i) out.push_back(d[i].text);
    for (size_t i = 0; i < 16 && i < q.size(); ++i) out.push_back(q[i].text);
  } else {
    out = {"hello world", "The quick brown fox jumps over the lazy dog.",
           "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft",
           "Correlation between maternal and fetal plasma levels of glucose and free fatty acids."};
  }
  return out;
}

TEST(PrecisionModel, Int8EmbeddingsCloseToFp32) {
  const std::string p = test::weights_dir() + "/all-MiniLM-L6-v2.brm";
  if (!test::exists(p)) GTEST_SKIP() << "no " << p << " (scripts/setup.sh makes it)";
  const model::BiEncoder f32(load(p, model::Precision::fp32));
  const model::BiEncoder q8(load(p, model::Precision::int8));
  EXPECT_EQ(q8.model().precision(), model::Precision::int8);
  bool real = false;
  const auto t = texts(&real);
  const int d = f32.dim();
  std::vector<float> a(t.size() * size_t(d)), b(t.size() * size_t(d));
  f32.embed(t, a.data());
  q8.embed(t, b.data());
  double sum = 0, mn = 1;
  for (size_t i = 0; i < t.size(); ++i) {
    const double c = cosine(a.data() + i * d, b.data() + i * d, d);
    sum += c;
    mn = std::min(mn, c);
  }
  const double mean = sum / double(t.size());
  RecordProperty("mean_cosine", std::to_string(mean));
  RecordProperty("min_cosine", std::to_string(mn));
  EXPECT_GE(mean, 0.995) << t.size() << " texts" << (real ? "" : " (../shared absent: fixed sentences)");
  EXPECT_GE(mn, 0.98);

  // Batch composition and pass size do not change int8 results (quantisation is per token).
  std::vector<float> one(static_cast<size_t>(d));
  q8.embed({t[3]}, one.data());
  for (int j = 0; j < d; ++j) ASSERT_EQ(one[size_t(j)], b[3 * size_t(d) + j]) << j;
  model::EmbedOptions small;
  small.max_batch_tokens = 64;
  std::vector<float> c(b.size());
  q8.embed(t, c.data(), nullptr, small);
  ASSERT_EQ(b, c);
}

TEST(PrecisionModel, Int8CrossEncoderKeepsOrder) {
  const std::string p = test::weights_dir() + "/seeded-cross-encoder.brm";
  if (!test::exists(p)) GTEST_SKIP() << "no " << p << " (scripts/setup.sh makes it)";
  const model::CrossEncoder f32(load(p, model::Precision::fp32));
  const model::CrossEncoder q8(load(p, model::Precision::int8));
  bool real = false;
  auto t = texts(&real);
  const std::string query = real ? t.back() : "glucose levels in pregnancy";
  t.resize(std::min<size_t>(t.size(), 16));
  std::vector<float> a(t.size() * size_t(f32.num_labels())), b(a.size());
  f32.score(query, t, a.data());
  q8.score(query, t, b.data());
  // Spearman over the candidates (no ties expected in real-valued logits).
  auto rank = [](const std::vector<float>& x) {
    std::vector<size_t> idx(x.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t i, size_t j) { return x[i] < x[j]; });
    std::vector<double> r(x.size());
    for (size_t i = 0; i < idx.size(); ++i) r[idx[i]] = double(i);
    return r;
  };
  const auto ra = rank(a), rb = rank(b);
  double d2 = 0;
  for (size_t i = 0; i < ra.size(); ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
  const double n = double(ra.size());
  const double rho = 1 - 6 * d2 / (n * (n * n - 1));
  RecordProperty("spearman", std::to_string(rho));
  EXPECT_GE(rho, 0.95) << t.size() << " candidates";
}

TEST(PrecisionModel, TinyModelEveryPrecision) {
  test::TinyModel tm;
  const std::string path = test::tmp_dir("precision") + "/tiny.brm";
  tm.write(path);
  const model::BiEncoder ef(load(path, model::Precision::fp32));
  const auto a = ef.embed_one("hello world, the worlds.");
  for (auto p : {model::Precision::int8, model::Precision::bf16}) {
    const auto m = load(path, p);
    EXPECT_EQ(m->precision(), p);
    const model::BiEncoder e(m);
    const auto b = e.embed_one("hello world, the worlds.");
    EXPECT_GE(cosine(a.data(), b.data(), ef.dim()), p == model::Precision::bf16 ? 0.999 : 0.97)
        << model::precision_name(p);
  }
}

TEST(PrecisionModel, Bf16EmbeddingsCloseToFp32) {
  const std::string p = test::weights_dir() + "/all-MiniLM-L6-v2.brm";
  if (!test::exists(p)) GTEST_SKIP() << "no " << p << " (scripts/setup.sh makes it)";
  const model::BiEncoder f32(load(p, model::Precision::fp32));
  const model::BiEncoder b16(load(p, model::Precision::bf16));
  bool real = false;
  auto t = texts(&real);
  t.resize(std::min<size_t>(t.size(), 12));
  const int d = f32.dim();
  std::vector<float> a(t.size() * size_t(d)), b(t.size() * size_t(d));
  f32.embed(t, a.data());
  b16.embed(t, b.data());
  for (size_t i = 0; i < t.size(); ++i) EXPECT_GE(cosine(a.data() + i * d, b.data() + i * d, d), 0.999) << i;
}

}  // namespace
