// int8 GEMM, AVX2: 6x16 register tile of int32 accumulators, vpmovsxbw + vpmaddwd (see
// kernels.h, "Reduced-precision GEMM", for the contract and why this cannot saturate).
//
// Packed weight layout: 16·ceil(n/16) float scales (0 past n), then ceil(n/16) panels of 16
// columns. A panel holds kp = k rounded up to even, as kp/2 groups of 32 bytes; group g is
// columns 0-7 then 8-15 of the panel, each column as its two int8 weights W[col][2g],
// W[col][2g+1] (zero past n and past k). vpmovsxbw of one 16-byte half gives 8 int16 pairs that
// vpmaddwd multiplies with a broadcast pair of quantised activations (A[i][2g], A[i][2g+1]).
//
// Per call: every row of A is quantised to int16-stored int8 (row stride kp, zero-padded) into
// per-thread scratch, in parallel over row chunks; then tasks of (M block × N block) run the
// micro-kernel over the whole K (int32 accumulators never leave registers, so C aliasing the
// residual is always safe and there is no partial-sum traffic).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/x86/avx2/simd_avx2.h"

namespace bertrank::kernels::avx2 {
#include "kernels/x86/common.inc"

namespace {
constexpr int Q8_MR = 6;
constexpr int Q8_NR = 16;
#ifndef BERTRANK_GEMM_Q8_MC
#define BERTRANK_GEMM_Q8_MC 96
#endif
constexpr int Q8_MC = BERTRANK_GEMM_Q8_MC;

inline int round_up2(int k) { return (k + 1) & ~1; }
inline size_t q8_scale_bytes(int n) { return size_t((n + Q8_NR - 1) / Q8_NR) * Q8_NR * 4; }
inline size_t q8_panel_bytes(int k) { return size_t(Q8_NR) * size_t(round_up2(k)); }

// One row of A -> int16 (values in [-127, 127]), kp entries (zero past k); returns the scale.
// Same arithmetic as ref::quantize_row_s8: max|x| exact, x·(127/max) rounded to nearest even.
float quantize_row(const float* x, int k, int kp, int16_t* q) {
  __m256 vmaxabs = _mm256_setzero_ps();
  int p = 0;
  for (; p + 8 <= k; p += 8) vmaxabs = _mm256_max_ps(vmaxabs, vabs(_mm256_loadu_ps(x + p)));
  if (p < k) vmaxabs = _mm256_max_ps(vmaxabs, vabs(vload_n(x + p, k - p)));
  float amax = vhmax(vmaxabs);
  if (!(amax > 0.0f)) {
    std::memset(q, 0, sizeof(int16_t) * size_t(kp));
    return 0.0f;
  }
  const float inv_s = 127.0f / amax;
  const __m256 inv = _mm256_set1_ps(inv_s);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  p = 0;
  for (; p + 16 <= k; p += 16) {
    __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p), inv));
    __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p + 8), inv));
    q0 = _mm256_min_epi32(_mm256_max_epi32(q0, lo), hi);
    q1 = _mm256_min_epi32(_mm256_max_epi32(q1, lo), hi);
    // packs works per 128-bit lane: fix the order with a cross-lane permute.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + p), packed);
  }
  for (; p < k; ++p) {
    float r = std::nearbyint(x[p] * inv_s);
    if (!(r >= -127.0f)) r = -127.0f;
    if (r > 127.0f) r = 127.0f;
    q[p] = int16_t(r);
  }
  for (; p < kp; ++p) q[p] = 0;
  return amax / 127.0f;
}

struct Epilogue {
  const float* sw;        // column scales, offset to the tile's first column
  const float* bias;      // offset likewise, or null
  const float* residual;  // offset to the tile's first element, or null
  int ldr;
  Activation act;
};

inline void store_tile_vec(const Epilogue& e, __m256i acc, float sa, float* c, int i, int col, int nv) {
  const __m256 x0 = _mm256_cvtepi32_ps(acc);
  const __m256 s = _mm256_mul_ps(_mm256_set1_ps(sa), _mm256_loadu_ps(e.sw + col));  // sw is padded
  __m256 b = _mm256_setzero_ps();
  if (e.bias) b = nv == W ? vload(e.bias + col) : vload_n(e.bias + col, nv);
  __m256 x = _mm256_fmadd_ps(x0, s, b);
  if (e.act == Activation::gelu_erf) x = vgelu_erf(x);
  else if (e.act == Activation::gelu_tanh) x = vgelu_tanh(x);
  if (e.residual) {
    const float* r = e.residual + size_t(i) * e.ldr + col;
    x = _mm256_add_ps(x, nv == W ? vload(r) : vload_n(r, nv));
  }
  if (nv == W) vstore(c + col, x);
  else vstore_n(c + col, x, nv);
}

// C[ROWS × ncols] = epilogue(Aq[ROWS × kp] · panel), a: row stride lda (int16), pairs = kp/2.
template <int ROWS>
__attribute__((always_inline)) inline void ukernel_q8(int pairs, const int16_t* __restrict a, int lda,
                                                      const int8_t* __restrict bp, const float* sa,
                                                      float* c, int ldc, int ncols, const Epilogue& e) {
  __m256i acc[ROWS][2];
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  const int16_t* ar[ROWS];
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) ar[i] = a + size_t(i) * lda;
#pragma GCC unroll 2
  for (int g = 0; g < pairs; ++g) {
    const __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bp + size_t(g) * 32)));
    const __m256i b1 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bp + size_t(g) * 32 + 16)));
#pragma GCC unroll 8
    for (int i = 0; i < ROWS; ++i) {
      int32_t pair;
      std::memcpy(&pair, ar[i] + 2 * g, 4);
      const __m256i av = _mm256_set1_epi32(pair);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(av, b0));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(av, b1));
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) {
    float* ci = c + size_t(i) * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < 2; ++v) {
      const int nv = imin(W, ncols - v * W);
      if (nv > 0) store_tile_vec(e, acc[i][v], sa[i], ci, i, v * W, nv);
    }
  }
}

using UkFn = void (*)(int, const int16_t*, int, const int8_t*, const float*, float*, int, int, const Epilogue&);
template <int ROWS>
void uk_call(int pairs, const int16_t* a, int lda, const int8_t* bp, const float* sa, float* c, int ldc, int ncols,
             const Epilogue& e) {
  ukernel_q8<ROWS>(pairs, a, lda, bp, sa, c, ldc, ncols, e);
}
constexpr UkFn kUk[Q8_MR] = {&uk_call<1>, &uk_call<2>, &uk_call<3>, &uk_call<4>, &uk_call<5>, &uk_call<6>};

// Scratch for the quantised A of the calling thread: m*kp int16, then m float scales.
struct Q8Scratch {
  void* p = nullptr;
  size_t cap = 0;
  ~Q8Scratch() { std::free(p); }
  void* get(size_t bytes) {
    if (bytes > cap) {
      std::free(p);
      cap = (bytes + 4095) / 4096 * 4096;
      p = std::aligned_alloc(64, cap);
      if (!p) std::abort();  // out of memory in a kernel: nothing sensible to return
    }
    return p;
  }
};
}  // namespace

size_t gemm_q8_packed_bytes(int n, int k) {
  return q8_scale_bytes(n) + size_t((n + Q8_NR - 1) / Q8_NR) * q8_panel_bytes(k);
}

void gemm_q8_pack(const float* w, int n, int k, void* packed) {
  const int np = (n + Q8_NR - 1) / Q8_NR, kp = round_up2(k);
  auto* scales = static_cast<float*>(packed);
  auto* panels = static_cast<int8_t*>(packed) + q8_scale_bytes(n);
  std::memset(packed, 0, gemm_q8_packed_bytes(n, k));
  const int threads = size_t(n) * size_t(k) > (1u << 18) ? 0 : 1;
  parallel_for(np, threads, [&](int64_t task, int) {
    const int jp = int(task);
    int8_t* dst = panels + size_t(jp) * q8_panel_bytes(k);
    int8_t* q = static_cast<int8_t*>(std::malloc(size_t(kp)));
    if (!q) std::abort();
    for (int j = 0; j < Q8_NR; ++j) {
      const int col = jp * Q8_NR + j;
      if (col >= n) break;
      q[kp - 1] = 0;
      scales[col] = ref::quantize_row_s8(w + size_t(col) * k, k, q);
      const int half = j / 8, c8 = j % 8;
      for (int g = 0; g < kp / 2; ++g) {
        dst[size_t(g) * 32 + size_t(half) * 16 + size_t(c8) * 2] = q[2 * g];
        dst[size_t(g) * 32 + size_t(half) * 16 + size_t(c8) * 2 + 1] = q[2 * g + 1];
      }
    }
    std::free(q);
  });
}

void gemm_q8(const GemmQArgs& g) {
  const int m = g.m, n = g.n, k = g.k;
  if (m <= 0 || n <= 0) return;
  const int kp = round_up2(k), pairs = kp / 2;
  const int np = (n + Q8_NR - 1) / Q8_NR;
  const int max_threads = parallel_max_threads();

  // 1. Quantise A (per row) into scratch.
  static thread_local Q8Scratch scratch;
  const size_t aq_bytes = (size_t(m) * size_t(kp) * sizeof(int16_t) + 63) / 64 * 64;
  auto* base = static_cast<char*>(scratch.get(aq_bytes + size_t(m) * sizeof(float)));
  auto* aq = reinterpret_cast<int16_t*>(base);
  auto* sa = reinterpret_cast<float*>(base + aq_bytes);
  {
    const int chunk = 32;
    const int nchunks = (m + chunk - 1) / chunk;
    const int qthreads = size_t(m) * size_t(k) >= (size_t(1) << 16) ? imin(max_threads, nchunks) : 1;
    parallel_for(nchunks, qthreads, [&](int64_t t, int) {
      const int r0 = int(t) * chunk, r1 = imin(m, r0 + chunk);
      for (int i = r0; i < r1; ++i)
        sa[i] = quantize_row(g.a + size_t(i) * g.lda, k, kp, aq + size_t(i) * kp);
    });
  }

  // 2. Tiles. M blocks of at most Q8_MC rows (multiple of Q8_MR), N blocks for enough tasks.
  const double macs = double(m) * n * k;
  int nthreads = macs >= 1.5e6 ? max_threads : 1;
  int nmb = (m + Q8_MC - 1) / Q8_MC;
  const int mc = ((m + nmb - 1) / nmb + Q8_MR - 1) / Q8_MR * Q8_MR;
  nmb = (m + mc - 1) / mc;
  int nnb = 1;
  if (nthreads > 1 && nmb < 4 * nthreads) nnb = imin(np, (4 * nthreads + nmb - 1) / nmb);
  const int pnb = (np + nnb - 1) / nnb;
  nnb = (np + pnb - 1) / pnb;
  const int ntasks = nmb * nnb;
  if (ntasks < 2) nthreads = 1;
  nthreads = imin(nthreads, ntasks);
  const auto* sw_all = static_cast<const float*>(g.packed_w);
  const auto* panels = static_cast<const int8_t*>(g.packed_w) + q8_scale_bytes(n);
  const size_t panel_bytes = q8_panel_bytes(k);

  parallel_for(ntasks, nthreads, [&](int64_t task, int) {
    const int ib = int(task) / nnb, jb = int(task) % nnb;
    const int i0 = ib * mc, rows = imin(mc, m - i0);
    const int jp0 = jb * pnb, jp1 = imin(np, jp0 + pnb);
    for (int jp = jp0; jp < jp1; ++jp) {
      const int col0 = jp * Q8_NR, ncols = imin(Q8_NR, n - col0);
      const int8_t* bp = panels + size_t(jp) * panel_bytes;
      for (int ir = 0; ir < rows; ir += Q8_MR) {
        const int r = imin(Q8_MR, rows - ir), row = i0 + ir;
        Epilogue e{sw_all + col0, g.bias ? g.bias + col0 : nullptr,
                   g.residual ? g.residual + size_t(row) * g.ldr + col0 : nullptr, g.ldr, g.act};
        kUk[r - 1](pairs, aq + size_t(row) * kp, kp, bp, sa + row, g.c + size_t(row) * g.ldc + col0, g.ldc, ncols,
                   e);
      }
    }
  });
}

}  // namespace bertrank::kernels::avx2
