// Kernel micro-benchmarks (Google Benchmark): GEMM on the MiniLM shapes beside OpenBLAS
// cblas_sgemm, the M=1 GEMV against measured memory bandwidth, attention, LayerNorm, GELU.
//
// At start the binary measures this machine's own ceilings and prints them (also into the
// benchmark context): the FMA peak (AVX2 and, if the CPU has it, AVX-512) on 1 and 2 threads
// with a loop of independent FMA chains, and the memory read bandwidth on 1 and 2 threads.
// `pct_peak` is GFLOPS as a percentage of the peak for the kernel table's ISA and the
// benchmark's thread count; `pct_bw` is GB/s as a percentage of the read bandwidth.
//
// Names: gemm/<impl>/M/N/K/threads, where <impl> is `ours` (the active kernel table, no
// epilogue: same work as sgemm), `ours_gelu` (bias + exact GELU fused), `openblas`
// (cblas_sgemm with the weight as an n×k row-major matrix, C = A·Wᵀ: CblasTrans on B).
// gemv_cold/<impl>/N/K/threads rotates over enough weight copies (>= 128 MiB) that every call
// streams its weights from DRAM, as a single-query forward pass over a whole model does.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/ceilings.h"
#include "kernels/kernels.h"

namespace bk = bertrank::kernels;

extern "C" {
// OpenBLAS extensions (declared in its cblas.h too; repeated so any cblas.h works).
void openblas_set_num_threads(int num_threads);
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

namespace {

// ---- Machine ceilings, measured at start ------------------------------------------------

struct Ceilings {
  double peak_avx2[3] = {0, 0, 0};    // GFLOP/s on [1] and [2] threads
  double peak_avx512[3] = {0, 0, 0};
  double read_bw[3] = {0, 0, 0};      // GB/s
  double peak_avx2_cpu = 0;           // GFLOP per second of the thread's own CPU time
  double peak_avx512_cpu = 0;
};
Ceilings g_ceil;

double thread_cpu_s() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

using bertrank::bench::best_rate;
using bertrank::bench::fma_chains_avx2;
using bertrank::bench::now_s;
using bertrank::bench::read_sum_avx2;

__attribute__((target("avx512f"), noinline)) float fma_chains_avx512(long iters) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_ps(1.0f + 0.01f * j);
  const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], b, c);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  return _mm512_reduce_add_ps(s);
}

// Best of several runs of `threads` threads each running body(); returns GFLOP/s.
void measure_ceilings() {
  const long iters = 40'000'000;
  const double flops = double(iters) * 12 * 8 * 2;
  for (int t : {1, 2})
    g_ceil.peak_avx2[t] = best_rate(t, flops, [&] { return fma_chains_avx2(iters); });
  // Per second of CPU time actually received: immune to time-sharing with other processes.
  for (int rep = 0; rep < 5; ++rep) {
    const double c0 = thread_cpu_s();
    volatile float r = fma_chains_avx2(iters);
    (void)r;
    g_ceil.peak_avx2_cpu = std::max(g_ceil.peak_avx2_cpu, flops / (thread_cpu_s() - c0) * 1e-9);
  }
  if (bk::cpu_supports(bk::Isa::avx512)) {
    for (int rep = 0; rep < 5; ++rep) {
      const double c0 = thread_cpu_s();
      volatile float r = fma_chains_avx512(iters);
      (void)r;
      g_ceil.peak_avx512_cpu =
          std::max(g_ceil.peak_avx512_cpu, double(iters) * 16 * 16 * 2 / (thread_cpu_s() - c0) * 1e-9);
    }
    const double f512 = double(iters) * 16 * 16 * 2;
    for (int t : {1, 2})
      g_ceil.peak_avx512[t] = best_rate(t, f512, [&] { return fma_chains_avx512(iters); });
  }
  // Read bandwidth: 512 MiB (far beyond the 32 MiB L3), split between the threads.
  const size_t n = size_t(128) << 20;
  float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) buf[i] = float(i & 1023);
  for (int t : {1, 2}) {
    double best = 0.0;
    for (int rep = 0; rep < 5; ++rep) {
      volatile float sink = 0.0f;
      const double t0 = now_s();
#pragma omp parallel num_threads(t)
      {
        const int id = omp_get_thread_num(), T = omp_get_num_threads();
        const size_t lo = n / T * id, hi = id == T - 1 ? n : n / T * (id + 1);
        const float r = read_sum_avx2(buf + lo, hi - lo);
#pragma omp critical
        sink = sink + r;
      }
      best = std::max(best, double(n) * 4 / (now_s() - t0) * 1e-9);
    }
    g_ceil.read_bw[t] = best;
  }
  std::free(buf);
}

double peak_for(bk::Isa isa, int threads) {
  return isa == bk::Isa::avx512 ? g_ceil.peak_avx512[threads] : g_ceil.peak_avx2[threads];
}

// ---- Buffers --------------------------------------------------------------------------------

struct AlignedBuf {
  float* p = nullptr;
  size_t n = 0;
  explicit AlignedBuf(size_t count) : n(count) {
    p = static_cast<float*>(std::aligned_alloc(64, ((count * 4 + 63) / 64) * 64 + 64));
  }
  ~AlignedBuf() { std::free(p); }
};

void fill_random(float* p, size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) p[i] = d(rng);
}

void set_threads(int threads) {
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

// On one thread, also the percentage of peak per second of CPU time the thread received
// (`cpu_s`: its CPU time over the timed loop): what the kernel achieves while it runs,
// whatever else the shared machine is doing.
void add_cpu_counter(benchmark::State& st, double flops, bk::Isa isa, int threads, double cpu_s) {
  if (threads != 1 || cpu_s <= 0) return;
  const double peak = isa == bk::Isa::avx512 ? g_ceil.peak_avx512_cpu : g_ceil.peak_avx2_cpu;
  st.counters["pct_peak_cpu"] = flops * double(st.iterations()) / cpu_s * 1e-9 * 100.0 / peak;
}

void add_flop_counters(benchmark::State& st, double flops, bk::Isa isa, int threads) {
  st.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["pct_peak"] = benchmark::Counter(flops * 1e-9 * 100.0 / peak_for(isa, threads),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// ---- GEMM -----------------------------------------------------------------------------------

enum class Impl { ours, ours_gelu, openblas };

void bm_gemm(benchmark::State& st, Impl impl, int m, int n, int k, int threads) {
  set_threads(threads);
  const bk::KernelTable& t = bk::active();
  AlignedBuf a(size_t(m) * k), w(size_t(n) * k), c(size_t(m) * n), bias{size_t(n)};
  AlignedBuf packed(t.gemm_packed_floats(n, k));
  fill_random(a.p, a.n, 1);
  fill_random(w.p, w.n, 2);
  fill_random(bias.p, bias.n, 3);
  t.gemm_pack(w.p, n, k, packed.p);
  bk::GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a.p, g.lda = k, g.packed_w = packed.p, g.c = c.p, g.ldc = n;
  if (impl == Impl::ours_gelu) g.bias = bias.p, g.act = bk::Activation::gelu_erf;
  double cpu_s = 0;
  for (auto _ : st) {
    const double c0 = thread_cpu_s();
    if (impl == Impl::openblas)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.p, k, w.p, k, 0.0f,
                  c.p, n);
    else
      t.gemm(g);
    benchmark::DoNotOptimize(c.p);
    benchmark::ClobberMemory();
    cpu_s += thread_cpu_s() - c0;
  }
  const bk::Isa isa = impl == Impl::openblas ? bk::Isa::avx2 : t.isa;
  add_flop_counters(st, 2.0 * m * double(n) * k, isa, threads);
  add_cpu_counter(st, 2.0 * m * double(n) * k, isa, threads, cpu_s);
}

// M = 1 with the weights coming from DRAM: rotate over enough copies to defeat the L3.
void bm_gemv_cold(benchmark::State& st, Impl impl, int n, int k, int threads) {
  set_threads(threads);
  const bk::KernelTable& t = bk::active();
  const size_t wbytes = size_t(n) * k * 4;
  const int copies = int(std::max<size_t>(2, (size_t(128) << 20) / wbytes));
  const size_t pf = impl == Impl::openblas ? size_t(n) * k : t.gemm_packed_floats(n, k);
  AlignedBuf store(pf * copies), a{size_t(k)}, c{size_t(n)};
  fill_random(a.p, a.n, 1);
  {
    AlignedBuf w{size_t(n) * k};
    fill_random(w.p, w.n, 2);
    for (int i = 0; i < copies; ++i) {
      if (impl == Impl::openblas) std::memcpy(store.p + pf * i, w.p, wbytes);
      else t.gemm_pack(w.p, n, k, store.p + pf * i);
    }
  }
  int idx = 0;
  for (auto _ : st) {
    const float* wp = store.p + pf * idx;
    idx = idx + 1 == copies ? 0 : idx + 1;
    if (impl == Impl::openblas) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, wp, k, a.p, 1, 0.0f, c.p, 1);
    } else {
      bk::GemmArgs g;
      g.m = 1, g.n = n, g.k = k, g.a = a.p, g.lda = k, g.packed_w = wp, g.c = c.p, g.ldc = n;
      t.gemm(g);
    }
    benchmark::DoNotOptimize(c.p);
    benchmark::ClobberMemory();
  }
  st.counters["GBps"] = benchmark::Counter(double(wbytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["pct_bw"] = benchmark::Counter(double(wbytes) * 1e-9 * 100.0 / g_ceil.read_bw[threads],
                                             benchmark::Counter::kIsIterationInvariantRate);
  add_flop_counters(st, 2.0 * n * double(k), t.isa, threads);
}

// ---- Attention, LayerNorm, GELU -------------------------------------------------------------

void bm_attention(benchmark::State& st, const bk::KernelTable* t, int len, int threads) {
  set_threads(threads);
  const int heads = 12, d = 32, hidden = heads * d;
  const int nseq = std::max(1, 512 / len), T = nseq * len;
  std::vector<int32_t> offs(size_t(nseq) + 1);
  for (int s = 0; s <= nseq; ++s) offs[size_t(s)] = s * len;
  AlignedBuf qkv(size_t(T) * 3 * hidden), out(size_t(T) * hidden);
  fill_random(qkv.p, qkv.n, 4);
  bk::AttentionArgs a;
  a.qkv = qkv.p, a.ld_qkv = 3 * hidden, a.out = out.p, a.ld_out = hidden;
  a.seq_offsets = offs.data(), a.nseq = nseq, a.num_heads = heads, a.head_dim = d;
  a.scale = 1.0f / std::sqrt(float(d));
  for (auto _ : st) {
    t->attention(a);
    benchmark::DoNotOptimize(out.p);
    benchmark::ClobberMemory();
  }
  st.counters["tokens_per_s"] = benchmark::Counter(T, benchmark::Counter::kIsIterationInvariantRate);
  add_flop_counters(st, 4.0 * double(len) * len * d * heads * nseq, t->isa, threads);
}

void bm_layernorm(benchmark::State& st, const bk::KernelTable* t, int m, int n) {
  AlignedBuf x(size_t(m) * n), r(size_t(m) * n), o(size_t(m) * n), gb(size_t(2) * n);
  fill_random(x.p, x.n, 5);
  fill_random(r.p, r.n, 6);
  fill_random(gb.p, gb.n, 7);
  for (auto _ : st) {
    t->layernorm(m, n, x.p, n, r.p, n, gb.p, gb.p + n, 1e-12f, o.p, n);
    benchmark::DoNotOptimize(o.p);
    benchmark::ClobberMemory();
  }
  const double bytes = 3.0 * m * n * 4;  // x and residual read, out written
  st.counters["GBps"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["pct_bw"] = benchmark::Counter(bytes * 1e-9 * 100.0 / g_ceil.read_bw[1],
                                             benchmark::Counter::kIsIterationInvariantRate);
}

void bm_gelu(benchmark::State& st, const bk::KernelTable* t, size_t n) {
  AlignedBuf x{n}, src{n};
  fill_random(src.p, n, 8);
  for (size_t i = 0; i < n; ++i) src.p[i] *= 4.0f;
  std::memcpy(x.p, src.p, n * 4);
  for (auto _ : st) {
    t->gelu_erf(n, x.p);
    st.PauseTiming();
    std::memcpy(x.p, src.p, n * 4);  // keep the inputs in range
    st.ResumeTiming();
  }
  const double bytes = 2.0 * n * 4;  // read + write in place
  st.counters["GBps"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["pct_bw"] = benchmark::Counter(bytes * 1e-9 * 100.0 / g_ceil.read_bw[1],
                                             benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  const int ms[] = {1, 16, 128, 512, 4096};
  const std::pair<int, int> nks[] = {{384, 384}, {1152, 384}, {1536, 384}, {384, 1536}};
  // All of ours first, then all of OpenBLAS: each library's idle threads spin for a while
  // after a call, so interleaving them per shape would make each slow the other down.
  for (Impl impl : {Impl::ours, Impl::ours_gelu, Impl::openblas})
    for (int threads : {1, 2})
      for (auto [n, k] : nks)
        for (int m : ms) {
          if (impl == Impl::ours_gelu && (n != 1536 || m < 128)) continue;
          const char* iname = impl == Impl::ours ? "ours" : impl == Impl::ours_gelu ? "ours_gelu" : "openblas";
          const std::string name = std::string("gemm/") + iname + "/" + std::to_string(m) + "/" +
                                   std::to_string(n) + "/" + std::to_string(k) +
                                   "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), bm_gemm, impl, m, n, k, threads)
              ->UseRealTime()->Unit(benchmark::kMicrosecond);
        }
  for (Impl impl : {Impl::ours, Impl::openblas})
    for (int threads : {1, 2})
      for (auto [n, k] : nks) {
        const std::string name = std::string("gemv_cold/") +
                                 (impl == Impl::ours ? "ours/" : "openblas_sgemv/") +
                                 std::to_string(n) + "/" + std::to_string(k) +
                                 "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), bm_gemv_cold, impl, n, k, threads)
            ->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
  const bk::KernelTable* act = &bk::active();
  const bk::KernelTable* ref = bk::kernels_for(bk::Isa::ref);
  for (int threads : {1, 2})
    for (int len : {16, 128, 256, 512}) {
      const std::string name = "/" + std::to_string(len) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("attention/ours" + name).c_str(), bm_attention, act, len, threads)
          ->UseRealTime()->Unit(benchmark::kMicrosecond);
      if (len == 128)
        benchmark::RegisterBenchmark(("attention/ref" + name).c_str(), bm_attention, ref, len, threads)
            ->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  for (int m : {128, 4096}) {
    benchmark::RegisterBenchmark(("layernorm/ours/" + std::to_string(m) + "/384").c_str(), bm_layernorm, act, m, 384)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("layernorm/ref/" + std::to_string(m) + "/384").c_str(), bm_layernorm, ref, m, 384)
        ->Unit(benchmark::kMicrosecond);
  }
  for (size_t n : {size_t(128) * 1536, size_t(4096) * 1536}) {
    benchmark::RegisterBenchmark(("gelu_erf/ours/" + std::to_string(n)).c_str(), bm_gelu, act, n)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("gelu_erf/ref/" + std::to_string(n)).c_str(), bm_gelu, ref, n)
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  measure_ceilings();
  const bk::KernelTable& t = bk::active();
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "isa=%s; FMA peak avx2 %.1f / %.1f GFLOP/s (1 / 2 threads), avx512 %.1f / %.1f; "
                "read bandwidth %.1f / %.1f GB/s; per CPU-second peak avx2 %.1f avx512 %.1f",
                bk::isa_name(t.isa), g_ceil.peak_avx2[1], g_ceil.peak_avx2[2],
                g_ceil.peak_avx512[1], g_ceil.peak_avx512[2], g_ceil.read_bw[1], g_ceil.read_bw[2],
                g_ceil.peak_avx2_cpu, g_ceil.peak_avx512_cpu);
  std::fprintf(stderr, "bench_kernels: %s\n", buf);
  benchmark::AddCustomContext("ceilings", buf);
  const char* ct = std::getenv("OPENBLAS_CORETYPE");
  const char* l2 = std::getenv("OPENBLAS_L2_SIZE");
  std::snprintf(buf, sizeof buf, "core=%s; config=%s; OPENBLAS_CORETYPE=%s; OPENBLAS_L2_SIZE=%s",
                openblas_get_corename(), openblas_get_config(), ct ? ct : "(unset)",
                l2 ? l2 : "(unset)");
  std::fprintf(stderr, "bench_kernels: openblas %s\n", buf);
  benchmark::AddCustomContext("openblas", buf);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
