// ceilings.h — what this machine can do at best, measured by the benchmark binary itself so
// that kernels and whole models are reported as a fraction of the same run's ceilings
// (bench_kernels, bench_e2e). Header-only; functions carry their own target attributes.
#pragma once

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace bertrank::bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 12 independent FMA chains per thread (Zen 3: 2 FMA pipes × latency 4 needs >= 8).
__attribute__((target("avx2,fma"), noinline)) inline float fma_chains_avx2(long iters) {
  __m256 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(1.0f + 0.01f * j);
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], b, c);
  }
  __m256 s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, acc[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

// Best of 7 GFLOP/s of `threads` threads each running body() (flops_per_thread FLOPs).
template <typename F>
double best_rate(int threads, double flops_per_thread, F body) {
  double best = 0.0;
  volatile float sink = 0.0f;
  for (int rep = 0; rep < 7; ++rep) {
    const double t0 = now_s();
#pragma omp parallel num_threads(threads)
    {
      const float r = body();
#pragma omp critical
      sink = sink + r;
    }
    best = std::max(best, flops_per_thread * threads / (now_s() - t0) * 1e-9);
  }
  (void)sink;
  return best;
}

// The AVX2 FMA peak of `threads` threads, GFLOP/s.
inline double fma_peak_avx2(int threads, long iters = 10'000'000) {
  return best_rate(threads, double(iters) * 12 * 8 * 2, [&] { return fma_chains_avx2(iters); });
}

// Sum of n floats (n a multiple of 32), four independent accumulators: a read-bandwidth probe.
__attribute__((target("avx2"))) inline float read_sum_avx2(const float* p, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return out[0];
}

}  // namespace bertrank::bench
