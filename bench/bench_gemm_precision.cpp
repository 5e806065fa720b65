// GEMM of the MiniLM linear layers at fp32 and at reduced precision (prec 1: int8, 2: bf16),
// same table, same shapes: C[m×n] = A[m×k]·Wᵀ + bias. Counter GOPS = 2·m·n·k / s
// (a multiply-add counts 2 whatever the precision), so the int8/fp32 ratio is read directly.
//   build/bench/bench_gemm_precision --benchmark_filter='m:512'
// BERTRANK_ISA picks the table as everywhere else.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace bk = bertrank::kernels;

namespace {

struct Buf {
  void* p;
  explicit Buf(size_t bytes) : p(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64)) {}
  ~Buf() { std::free(p); }
};

std::vector<float> rnd(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// prec: 0 fp32, 1 int8, 2 bf16
void BM_Gemm(benchmark::State& st) {
  const int prec = int(st.range(0)), m = int(st.range(1)), n = int(st.range(2)), k = int(st.range(3));
  const bk::KernelTable& t = bk::active();
  const auto a = rnd(size_t(m) * k, 1), w = rnd(size_t(n) * k, 2), bias = rnd(size_t(n), 3);
  std::vector<float> c(size_t(m) * n);
  size_t bytes = 0;
  if (prec == 0) bytes = t.gemm_packed_floats(n, k) * 4;
  else if (prec == 1) bytes = t.gemm_q8_packed_bytes(n, k);
  else bytes = t.gemm_bf16_packed_bytes(n, k);
  Buf packed(bytes);
  if (prec == 0) t.gemm_pack(w.data(), n, k, static_cast<float*>(packed.p));
  else if (prec == 1) t.gemm_q8_pack(w.data(), n, k, packed.p);
  else t.gemm_bf16_pack(w.data(), n, k, packed.p);
  for (auto _ : st) {
    if (prec == 0) {
      bk::GemmArgs g;
      g.m = m, g.n = n, g.k = k, g.a = a.data(), g.lda = k, g.packed_w = static_cast<float*>(packed.p);
      g.bias = bias.data(), g.c = c.data(), g.ldc = n;
      t.gemm(g);
    } else {
      bk::GemmQArgs g;
      g.m = m, g.n = n, g.k = k, g.a = a.data(), g.lda = k, g.packed_w = packed.p;
      g.bias = bias.data(), g.c = c.data(), g.ldc = n;
      if (prec == 1) t.gemm_q8(g);
      else t.gemm_bf16(g);
    }
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["GOPS"] = benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (int prec : {0, 1, 2})
    for (int m : {1, 32, 512, 4096})
      for (auto nk : std::vector<std::pair<int, int>>{{1152, 384}, {384, 384}, {1536, 384}, {384, 1536}})
        b->Args({prec, m, nk.first, nk.second});
}
BENCHMARK(BM_Gemm)->ArgNames({"prec", "m", "n", "k"})->Apply(shapes)->UseRealTime()->MinTime(0.3);

}  // namespace

BENCHMARK_MAIN();
