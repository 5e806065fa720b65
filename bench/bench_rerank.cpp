// Cross-encoder rerank latency: one MEDLINE query against its N first MEDLINE documents
// (N = 20, 50, 100; MEDLINE abstracts average ~250 word pieces), scored by the default
// reranker weights/ms-marco-MiniLM-L-12-v2.brm (or $BERTRANK_RERANKER), with fp32 and int8
// linear layers, on 1 and 2 threads. Wall time per rerank call (`--benchmark_repetitions` for
// medians); counters: pairs/s and tokens/s.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include "model/cross_encoder.h"
#include "retrieval/smart.h"

namespace {

std::string data_dir() {
  if (const char* e = std::getenv("BERTRANK_SHARED_DATA")) return std::string(e) + "/ir";
  return std::string(BERTRANK_SOURCE_DIR) + "/../shared/data/ir";
}

std::string model_path() {
  if (const char* e = std::getenv("BERTRANK_RERANKER")) return e;
  return std::string(BERTRANK_SOURCE_DIR) + "/weights/ms-marco-MiniLM-L-12-v2.brm";
}

// One loaded cross-encoder per precision, loaded on first use.
const bertrank::model::CrossEncoder& reranker(bertrank::model::Precision p) {
  static std::map<bertrank::model::Precision, std::unique_ptr<bertrank::model::CrossEncoder>> cache;
  auto& ce = cache[p];
  if (!ce) {
    bertrank::model::LoadOptions lo;
    lo.precision = p;
    ce = std::make_unique<bertrank::model::CrossEncoder>(bertrank::model::Model::load(model_path(), lo));
  }
  return *ce;
}

void BM_Rerank(benchmark::State& state) {
  if (!std::filesystem::exists(data_dir()) || !std::filesystem::exists(model_path())) {
    state.SkipWithError(("needs ../shared/data and " + model_path() + " (scripts/setup.sh)").c_str());
    return;
  }
  const auto& ce = reranker(state.range(2) ? bertrank::model::Precision::int8 : bertrank::model::Precision::fp32);
  static const auto docs = bertrank::retrieval::read_smart_file(data_dir() + "/medline/MED.ALL");
  static const auto queries = bertrank::retrieval::read_smart_file(data_dir() + "/medline/MED.QRY");
  const size_t n = size_t(state.range(0));
  std::vector<std::string> texts;
  for (size_t i = 0; i < n && i < docs.size(); ++i) texts.push_back(docs[i].text);
  bertrank::model::ScoreOptions so;
  so.num_threads = int(state.range(1));
  std::vector<float> out(texts.size() * size_t(ce.num_labels()));
  bertrank::model::ScoreInfo info;
  for (auto _ : state) {
    ce.score(queries[0].text, texts, out.data(), &info, so);
    benchmark::DoNotOptimize(out.data());
  }
  size_t tokens = 0;
  for (int32_t t : info.num_tokens) tokens += size_t(t);
  state.counters["pairs_per_s"] = benchmark::Counter(double(texts.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens_per_s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens_per_pair"] = double(tokens) / double(texts.size());
}
BENCHMARK(BM_Rerank)
    ->ArgNames({"candidates", "threads", "int8"})
    ->ArgsProduct({{20, 50, 100}, {1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
