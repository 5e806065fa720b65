// bench_index — the vector index against the machine's read bandwidth and against FAISS
// (Debian libfaiss-dev, linked into this benchmark only), on the same data and queries.
//
//   build/bench/bench_index [--benchmark_...]        (env: BENCH_INDEX_N=1000000, _DIM=384,
//                                                     _NQ=1000, _NLIST=1024, _SKIP_FAISS=1)
//
// Data: N unit vectors built from 1000 real all-MiniLM-L6-v2 embeddings of the shared IR
// texts (tests/golden/model_minilm.f32): each vector is (1-w)*anchor_a + w*anchor_b + noise
// (w uniform in [0, 0.5], isotropic Gaussian noise of norm about 0.8), L2-normalised. Queries
// are NQ fresh draws from the same process. Ground truth is exact top-10 (bertrank flat f32, checked
// against FAISS IndexFlatIP).
//
// Stages run one after another (each frees its indexes) so the peak memory stays ~3 copies:
//   bandwidth      read a 1.5 GB buffer, 1 and 2 threads (GB/s)
//   flat           bertrank FlatIndex f32 vs faiss::IndexFlatIP, single query and batch of NQ
//   ivf            bertrank IvfIndex vs faiss::IndexIVFFlat (same nlist, same training
//                  sample size), nprobe sweep; recall@10 vs exact
//   quantized      bertrank flat f16, int8, int8 + exact re-score: recall@10, QPS, bytes
// Counters: QPS (queries/s), GBps (vector bytes scanned per second), recall@10, and build
// seconds / index bytes as counters on the first benchmark of each index. Because the machine
// is shared, QPS_cpu and GBps_per_cpu_s divide by the CPU time the process actually received
// (all threads) instead of wall-clock time.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#if __has_include(<faiss/IndexFlat.h>) && defined(BERTRANK_BENCH_FAISS)
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#define HAVE_FAISS 1
using fidx = faiss::Index::idx_t;
#else
#define HAVE_FAISS 0
#endif

#include "retrieval/flat_index.h"
#include "retrieval/ivf_index.h"

using namespace bertrank::retrieval;

namespace {

size_t env_size(const char* name, size_t def) {
  const char* v = std::getenv(name);
  return v && *v ? (size_t)std::strtoull(v, nullptr, 10) : def;
}

const size_t N = env_size("BENCH_INDEX_N", 1000000);
const size_t D = env_size("BENCH_INDEX_DIM", 384);
const size_t NQ = env_size("BENCH_INDEX_NQ", 1000);
const size_t NLIST = env_size("BENCH_INDEX_NLIST", 1024);
const bool SKIP_FAISS = env_size("BENCH_INDEX_SKIP_FAISS", 0) != 0;
constexpr size_t K = 10;

std::vector<float> g_x, g_q;
std::vector<int64_t> g_ids, g_truth;

// 1000 real all-MiniLM-L6-v2 sentence embeddings (texts of ../shared/data/ir, committed as
// the model parity golden) are the anchors; each vector mixes an anchor with a second one and
// adds isotropic noise, then is normalised. Falls back to random anchors without the golden.
void make_data() {
  std::vector<float> anchors;
  size_t na = 0;
  {
    const std::string path = std::string(BERTRANK_SOURCE_DIR) + "/tests/golden/model_minilm.f32";
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      if (D == 384) {
        anchors.resize(1000 * D);
        na = std::fread(anchors.data(), sizeof(float) * D, 1000, f);
        anchors.resize(na * D);
      }
      std::fclose(f);
    }
    if (na == 0) {
      na = 1000;
      anchors.resize(na * D);
      std::mt19937_64 rng(42);
      std::normal_distribution<float> nd(0.f, 1.f / std::sqrt((float)D));
      for (auto& v : anchors) v = nd(rng);
    }
    std::fprintf(stderr, "bench_index: %zu anchors (%s)\n", na, anchors.empty() ? "" :
                 (D == 384 && na == 1000 ? "real MiniLM embeddings" : "random"));
  }
  const float sigma = 0.8f / std::sqrt((float)D);  // noise norm about 0.8
  auto draw = [&](size_t n, uint64_t seed, std::vector<float>& out) {
    out.resize(n * D);
#pragma omp parallel
    {
      std::mt19937_64 rng(seed + 7919 * (uint64_t)omp_get_thread_num());
      std::normal_distribution<float> nd(0.f, sigma);
      std::uniform_real_distribution<float> ur(0.f, 0.5f);
#pragma omp for schedule(static)
      for (size_t i = 0; i < n; ++i) {
        const float* a = &anchors[(rng() % na) * D];
        const float* b = &anchors[(rng() % na) * D];
        const float w = ur(rng);
        double s = 0;
        float* v = &out[i * D];
        for (size_t d = 0; d < D; ++d) {
          v[d] = (1 - w) * a[d] + w * b[d] + nd(rng);
          s += (double)v[d] * v[d];
        }
        const float inv = (float)(1.0 / std::sqrt(s));
        for (size_t d = 0; d < D; ++d) v[d] *= inv;
      }
    }
  };
  draw(N, 1, g_x);
  draw(NQ, 2, g_q);
  g_ids.resize(N);
  std::iota(g_ids.begin(), g_ids.end(), 0);
}

double recall_at_k(const std::vector<int64_t>& got) {
  size_t hit = 0;
  for (size_t i = 0; i < NQ; ++i)
    for (size_t j = 0; j < K; ++j) {
      const int64_t* t = &g_truth[i * K];
      hit += std::find(t, t + K, got[i * K + j]) != t + K;
    }
  return (double)hit / (double)(NQ * K);
}

// CPU seconds used by the whole process (all threads): the VM is shared, so rates are also
// reported per CPU-second received ("_cpu" counters), next to the wall-clock ones.
double process_cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs `search(nq, queries, out_scores, out_ids)` as a benchmark: single queries (one per
// iteration, cycling) or whole batches; reports QPS, GB/s over `bytes_per_query`, recall@10.
template <class F>
void register_search(const std::string& name, F search, double bytes_per_query, bool batch,
                     double build_s, double index_bytes) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
    std::vector<float> s(NQ * K);
    std::vector<int64_t> o(NQ * K);
    size_t qi = 0, nq_done = 0;
    const double cpu0 = process_cpu_seconds();
    for (auto _ : st) {
      if (batch) {
        search(NQ, g_q.data(), s.data(), o.data());
        nq_done += NQ;
      } else {
        search(1, &g_q[qi * D], &s[qi * K], &o[qi * K]);
        qi = (qi + 1) % NQ;
        ++nq_done;
      }
    }
    const double cpu = process_cpu_seconds() - cpu0;
    search(NQ, g_q.data(), s.data(), o.data());  // full pass for recall
    st.counters["QPS_cpu"] = (double)nq_done / cpu;
    st.counters["GBps_per_cpu_s"] = (double)nq_done * bytes_per_query / 1e9 / cpu;
    st.counters["QPS"] = benchmark::Counter((double)nq_done, benchmark::Counter::kIsRate);
    st.counters["GBps"] = benchmark::Counter((double)nq_done * bytes_per_query / 1e9, benchmark::Counter::kIsRate);
    st.counters["recall@10"] = recall_at_k(o);
    if (build_s >= 0) st.counters["build_s"] = build_s;
    if (index_bytes >= 0) st.counters["index_MB"] = index_bytes / 1e6;
  });
  b->Unit(benchmark::kMillisecond)->UseRealTime();
  if (batch) b->Iterations(1);
  else b->MinTime(2.0);
}

void run_stage() {
  static benchmark::ConsoleReporter console(benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&console);
  benchmark::ClearRegisteredBenchmarks();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::fprintf(stderr, "bench_index: N=%zu dim=%zu queries=%zu nlist=%zu threads=%d faiss=%s\n", N, D, NQ,
               NLIST, omp_get_max_threads(), HAVE_FAISS && !SKIP_FAISS ? "yes" : "no");
  make_data();
  const double vec_bytes = (double)N * D * 4;

  // ---- read bandwidth ----
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(("read_bandwidth/threads:" + std::to_string(threads)).c_str(),
                                 [threads](benchmark::State& st) {
      const uint64_t* p = (const uint64_t*)g_x.data();
      const size_t n = g_x.size() / 2;
      uint64_t sink = 0;
      const double cpu0 = process_cpu_seconds();
      for (auto _ : st) {
        uint64_t acc = 0;
#pragma omp parallel for reduction(+ : acc) num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; ++i) acc += p[i];
        sink += acc;
      }
      benchmark::DoNotOptimize(sink);
      // Per thread-CPU-second: what one core streams while it actually runs.
      st.counters["GBps_per_cpu_s"] = (double)st.iterations() * n * 8 / 1e9 / (process_cpu_seconds() - cpu0);
      st.counters["GBps"] = benchmark::Counter((double)st.iterations() * n * 8 / 1e9, benchmark::Counter::kIsRate);
    })->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
  }
  run_stage();

  // ---- flat ----
  {
    auto t0 = std::chrono::steady_clock::now();
    auto flat = std::make_shared<FlatIndex>(D);
    flat->add(N, g_x.data(), g_ids.data());
    const double build = seconds_since(t0);
    std::vector<float> s(NQ * K);
    g_truth.resize(NQ * K);
    flat->search(NQ, g_q.data(), K, s.data(), g_truth.data());
    auto search = [flat](size_t n, const float* q, float* s, int64_t* o) { flat->search(n, q, K, s, o); };
    register_search("flat_f32/bertrank/single", search, vec_bytes, false, build, vec_bytes);
    register_search("flat_f32/bertrank/batch", search, vec_bytes, true, -1, -1);
    run_stage();
  }
#if HAVE_FAISS
  if (!SKIP_FAISS) {
    auto t0 = std::chrono::steady_clock::now();
    auto fx = std::make_shared<faiss::IndexFlatIP>((int)D);
    fx->add((fidx)N, g_x.data());
    const double build = seconds_since(t0);
    auto search = [fx](size_t n, const float* q, float* s, int64_t* o) {
      fx->search((fidx)n, q, (fidx)K, s, (fidx*)o);
    };
    register_search("flat_f32/faiss/single", search, vec_bytes, false, build, vec_bytes);
    register_search("flat_f32/faiss/batch", search, vec_bytes, true, -1, -1);
    run_stage();
  }
#endif

  // ---- IVF ----
  const std::vector<size_t> probes = {4, 8, 16, 32, 64};
  {
    auto t0 = std::chrono::steady_clock::now();
    auto ivf = std::make_shared<IvfIndex>(D, NLIST);
    ivf->train(N, g_x.data());
    ivf->add(N, g_x.data(), g_ids.data());
    const double build = seconds_since(t0);
    for (size_t p : probes) {
      auto search = [ivf, p](size_t n, const float* q, float* s, int64_t* o) {
        SearchParams sp;
        sp.nprobe = p;
        ivf->search(n, q, K, s, o, sp);
      };
      const double bpq = vec_bytes * (double)p / (double)NLIST;
      const bool first = p == probes.front();
      register_search("ivf_f32/bertrank/nprobe:" + std::to_string(p) + "/single", search, bpq, false,
                      first ? build : -1, first ? vec_bytes : -1);
      register_search("ivf_f32/bertrank/nprobe:" + std::to_string(p) + "/batch", search, bpq, true, -1, -1);
    }
    run_stage();
  }
#if HAVE_FAISS
  if (!SKIP_FAISS) {
    auto t0 = std::chrono::steady_clock::now();
    auto quant = std::make_shared<faiss::IndexFlatIP>((int)D);
    auto fx = std::make_shared<faiss::IndexIVFFlat>(quant.get(), (size_t)D, NLIST, faiss::METRIC_INNER_PRODUCT);
    // Same training sample size as bertrank's default (128 per list), random subset.
    const size_t ns = std::min(N, 128 * NLIST);
    std::vector<float> sample(ns * D);
    {
      std::mt19937_64 rng(7);
      std::vector<size_t> idx(N);
      std::iota(idx.begin(), idx.end(), 0);
      for (size_t i = 0; i < ns; ++i) std::swap(idx[i], idx[i + rng() % (N - i)]);
      for (size_t i = 0; i < ns; ++i) std::memcpy(&sample[i * D], &g_x[idx[i] * D], D * 4);
    }
    fx->train((fidx)ns, sample.data());
    fx->add((fidx)N, g_x.data());
    const double build = seconds_since(t0);
    for (size_t p : probes) {
      auto search = [fx, quant, p](size_t n, const float* q, float* s, int64_t* o) {
        fx->nprobe = p;  // benchmarks run one at a time
        fx->search((fidx)n, q, (fidx)K, s, (fidx*)o);
      };
      const double bpq = vec_bytes * (double)p / (double)NLIST;
      const bool first = p == probes.front();
      register_search("ivf_f32/faiss/nprobe:" + std::to_string(p) + "/single", search, bpq, false,
                      first ? build : -1, first ? vec_bytes : -1);
      register_search("ivf_f32/faiss/nprobe:" + std::to_string(p) + "/batch", search, bpq, true, -1, -1);
    }
    run_stage();
  }
#endif

  // ---- quantized flat ----
  for (auto [t, rescore, name] : {std::tuple{StorageType::f16, false, "flat_f16"},
                                  std::tuple{StorageType::int8, false, "flat_int8"},
                                  std::tuple{StorageType::int8, true, "flat_int8_rescore"}}) {
    auto t0 = std::chrono::steady_clock::now();
    auto flat = std::make_shared<FlatIndex>(D, t, rescore);
    flat->add(N, g_x.data(), g_ids.data());
    const double build = seconds_since(t0);
    const double code_bytes = (double)N * row_bytes(t, padded_dim(D));
    const double bytes = code_bytes + (rescore ? vec_bytes : 0);
    auto search = [flat](size_t n, const float* q, float* s, int64_t* o) { flat->search(n, q, K, s, o); };
    register_search(std::string(name) + "/bertrank/single", search, code_bytes, false, build, bytes);
    register_search(std::string(name) + "/bertrank/batch", search, code_bytes, true, -1, -1);
    run_stage();
  }
  benchmark::Shutdown();
  return 0;
}
