// End-to-end speed of bertrank (text in -> embedding / rerank score out) on a plan written by
// bench/peers/peers.py, so that bertrank and the peer engines (ONNX Runtime,
// sentence-transformers) run exactly the same texts, batches and thread counts. Driven by
// bench/peers/run.sh; not a Google Benchmark binary (it only shares the bench/ build rule).
//
//   build/bench/bench_e2e --plan plan.json --precision fp32|int8|bf16
//       [--model weights/all-MiniLM-L6-v2.brm] [--cross-encoder weights/seeded-cross-encoder.brm]
//       [--threads T] [--peak] [--out results.jsonl]
//
// Plan (JSON): {"threads": [1, 2], "corpora": {name: [text, ...]},
//               "rerank": {"query": text, "docs": [text, ...]},
//               "tasks": [{"id", "kind": "embed", "corpus", "idx": [...], "batch", "max_length", "reps"},
//                         {"id", "kind": "latency", "corpus", "idx": [...], "passes", "threads": [..]},
//                         {"id", "kind": "rerank", "n", "reps"}]}
// Every task runs at every plan thread count (or its own "threads"); --threads T keeps only T.
// One warm-up call precedes the timed ones. Output: one JSON object per line and thread count:
//   {"engine": "bertrank", "precision", "threads", "task", "times": [seconds per rep or per call],
//    "tokens": tokens per rep (incl. [CLS]/[SEP]), "texts": texts per rep}
// A precision this build cannot load (Model::load throws std::invalid_argument) gives one line
//   {"engine": "bertrank", "precision", "status": "n/a", "reason": "..."} and exit code 0.
// --peak adds {"kind": "peak", "threads": t, "gflops": ...}: the AVX2 FMA peak on t threads
// (12 independent FMA chains per thread, best of 7, as bench_kernels measures it), and with
// --threads 1 (or none) {"kind": "bandwidth", "gbps": ...}: one thread's DRAM read bandwidth.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "model/cross_encoder.h"
#include "model/model.h"

#include "bench/ceilings.h"

namespace bm = bertrank::model;
using nlohmann::json;

namespace {

using bertrank::bench::now_s;
using bertrank::bench::read_sum_avx2;

// DRAM read bandwidth of one thread (GB/s): a 256 MiB buffer summed, best of 5.
double read_bandwidth() {
  const size_t n = size_t(64) << 20;
  std::vector<float> buf(n, 1.0f);
  double best = 0.0;
  volatile float sink = 0.0f;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = now_s();
    sink = sink + read_sum_avx2(buf.data(), n);
    best = std::max(best, double(n) * 4 / (now_s() - t0) * 1e-9);
  }
  (void)sink;
  return best;
}

std::vector<int> thread_list(const json& task, const json& plan, int only) {
  const json& t = task.contains("threads") ? task["threads"] : plan["threads"];
  std::vector<int> v = t.get<std::vector<int>>();
  if (only > 0) v.erase(std::remove_if(v.begin(), v.end(), [&](int x) { return x != only; }), v.end());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string plan_path, precision = "fp32", out_path;
  std::string model_path = std::string(BERTRANK_SOURCE_DIR) + "/weights/all-MiniLM-L6-v2.brm";
  std::string ce_path = std::string(BERTRANK_SOURCE_DIR) + "/weights/seeded-cross-encoder.brm";
  bool peak = false;
  int only_threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--plan") plan_path = next();
    else if (a == "--precision") precision = next();
    else if (a == "--model") model_path = next();
    else if (a == "--cross-encoder") ce_path = next();
    else if (a == "--out") out_path = next();
    else if (a == "--peak") peak = true;
    else if (a == "--threads") only_threads = std::stoi(next());
    else {
      std::fprintf(stderr, "usage: bench_e2e --plan plan.json [--precision fp32|int8|bf16] [--model M.brm] "
                           "[--cross-encoder CE.brm] [--threads T] [--peak] [--out results.jsonl]\n");
      return 2;
    }
  }
  if (plan_path.empty()) {
    std::fprintf(stderr, "bench_e2e: --plan is required\n");
    return 2;
  }
  std::ofstream file;
  if (!out_path.empty()) file.open(out_path, std::ios::app);
  std::ostream& out = out_path.empty() ? std::cout : file;
  auto emit = [&](json j) {
    j["engine"] = "bertrank";
    j["precision"] = precision;
    out << j.dump() << "\n";
    out.flush();
  };

  json plan;
  {
    std::ifstream in(plan_path);
    if (!in) {
      std::fprintf(stderr, "bench_e2e: cannot read %s\n", plan_path.c_str());
      return 1;
    }
    in >> plan;
  }

  const bm::LoadOptions lo{bm::parse_precision(precision)};
  std::shared_ptr<const bm::Model> model, ce_model;
  try {
    model = bm::Model::load(model_path, lo);
  } catch (const std::invalid_argument& e) {
    emit({{"status", "n/a"}, {"reason", e.what()}});
    std::fprintf(stderr, "bench_e2e: %s: %s\n", precision.c_str(), e.what());
    return 0;
  }
  const bm::BiEncoder enc(model);
  std::unique_ptr<bm::CrossEncoder> ce;
  std::string ce_reason;
  try {
    ce_model = bm::Model::load(ce_path, lo);
    ce = std::make_unique<bm::CrossEncoder>(ce_model);
  } catch (const std::invalid_argument& e) {
    ce_reason = e.what();
  }
  std::fprintf(stderr, "bench_e2e: %s, precision %s, kernels %s\n", model->name().c_str(), precision.c_str(),
               bertrank::kernels::isa_name(bertrank::kernels::active().isa));

  if (peak) {
    if (only_threads <= 1) emit({{"kind", "bandwidth"}, {"threads", 1}, {"gbps", read_bandwidth()}});
    for (int t : thread_list(json::object(), plan, only_threads))
      emit({{"kind", "peak"}, {"threads", t}, {"gflops", bertrank::bench::fma_peak_avx2(t)},
            {"isa", bertrank::kernels::isa_name(bertrank::kernels::active().isa)}});
  }

  std::vector<float> buf;
  for (const json& task : plan["tasks"]) {
    const std::string kind = task["kind"], id = task["id"];
    for (int threads : thread_list(task, plan, only_threads)) {
      json row = {{"task", id}, {"kind", kind}, {"threads", threads}};
      std::vector<double> times;
      size_t tokens = 0, texts = 0;
      if (kind == "embed" || kind == "latency") {
        const auto& corpus = plan["corpora"][task["corpus"].get<std::string>()];
        std::vector<std::string> all;
        for (int i : task["idx"].get<std::vector<int>>()) all.push_back(corpus[size_t(i)].get<std::string>());
        bm::EmbedOptions eo;
        eo.num_threads = threads;
        eo.max_length = task.value("max_length", 0);
        const size_t batch = kind == "latency" ? 1 : task["batch"].get<size_t>();
        const int reps = kind == "latency" ? task["passes"].get<int>() : task["reps"].get<int>();
        buf.resize(batch * size_t(enc.dim()));
        bm::EmbedInfo info;
        {  // warm-up: the first batch
          std::vector<std::string> b(all.begin(), all.begin() + std::min(batch, all.size()));
          enc.embed(b, buf.data(), &info, eo);
        }
        for (int r = 0; r < reps; ++r) {
          double pass = 0.0;
          size_t pass_tokens = 0;
          for (size_t s = 0; s < all.size(); s += batch) {
            std::vector<std::string> b(all.begin() + s, all.begin() + std::min(s + batch, all.size()));
            const double t0 = now_s();
            enc.embed(b, buf.data(), &info, eo);
            const double dt = now_s() - t0;
            for (int32_t n : info.num_tokens) pass_tokens += size_t(n);
            if (kind == "latency") times.push_back(dt);
            pass += dt;
          }
          if (kind == "embed") times.push_back(pass);
          tokens = pass_tokens;
        }
        texts = kind == "latency" ? 1 : all.size();
        if (kind == "latency") tokens /= all.size();  // mean per call
      } else if (kind == "rerank") {
        if (!ce) {
          row["status"] = "n/a";
          row["reason"] = ce_reason;
          emit(row);
          continue;
        }
        const size_t n = task["n"].get<size_t>();
        const std::string query = plan["rerank"]["query"];
        std::vector<std::string> docs;
        for (size_t i = 0; i < n; ++i) docs.push_back(plan["rerank"]["docs"][i].get<std::string>());
        bm::ScoreOptions so;
        so.num_threads = threads;
        std::vector<float> scores(docs.size() * size_t(ce->num_labels()));
        bm::ScoreInfo info;
        std::vector<std::string> warm(docs.begin(), docs.begin() + std::min<size_t>(8, docs.size()));
        ce->score(query, warm, scores.data(), &info, so);
        for (int r = 0; r < task["reps"].get<int>(); ++r) {
          const double t0 = now_s();
          ce->score(query, docs, scores.data(), &info, so);
          times.push_back(now_s() - t0);
        }
        for (int32_t t : info.num_tokens) tokens += size_t(t);
        texts = n;
      } else {
        continue;
      }
      row["times"] = times;
      row["tokens"] = tokens;
      row["texts"] = texts;
      emit(row);
      std::fprintf(stderr, "bench_e2e: %-28s %d thread(s): median %.4f s\n", id.c_str(), threads, [&] {
        std::vector<double> t = times;
        std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
        return t[t.size() / 2];
      }());
    }
  }
  return 0;
}
