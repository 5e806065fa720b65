// Tokenizer throughput, single-threaded, on every document and query of ../shared/data/ir
// (the same texts bench/peers/tokenizer_hf.py feeds Hugging Face tokenizers; compare with
// bench/tokenizer_vs_hf.sh). Counters: bytes_per_second (MB/s) and tokens_per_second.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "retrieval/smart.h"
#include "tokenizer/load.h"

namespace {

std::string data_dir() {
  if (const char* e = std::getenv("BERTRANK_SHARED_DATA")) return std::string(e) + "/ir";
  return std::string(BERTRANK_SOURCE_DIR) + "/../shared/data/ir";
}

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  for (const char* f : {"cranfield/cran.all.1400", "cranfield/cran.qry", "medline/MED.ALL", "medline/MED.QRY"})
    for (auto& r : bertrank::retrieval::read_smart_file(data_dir() + "/" + f)) texts.push_back(std::move(r.text));
  return texts;
}

void BM_WordPieceEncode(benchmark::State& state) {
  const std::string model = std::string(BERTRANK_SOURCE_DIR) + "/weights/hf/all-MiniLM-L6-v2";
  if (!std::filesystem::exists(data_dir()) || !std::filesystem::exists(model)) {
    state.SkipWithError("needs ../shared/data and weights/hf/all-MiniLM-L6-v2 (weights/fetch_models.sh)");
    return;
  }
  static const auto tok = bertrank::tokenizer::load_wordpiece(model);
  static const auto texts = corpus();
  size_t bytes = 0, tokens = 0;
  for (auto _ : state) {
    for (const auto& t : texts) {
      auto e = tok.encode(t);
      tokens += e.size();
      benchmark::DoNotOptimize(e.ids.data());
    }
    for (const auto& t : texts) bytes += t.size();
  }
  state.SetBytesProcessed(int64_t(bytes));
  state.counters["tokens_per_second"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
  state.counters["texts"] = double(texts.size());
}
BENCHMARK(BM_WordPieceEncode)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
