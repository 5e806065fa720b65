// bf16-weight GEMM, AVX2+FMA: 6x16 register tile of fp32 accumulators (see kernels.h,
// "Reduced-precision GEMM"). The weights are widened to fp32 in registers (a bf16 is the high
// half of an fp32) and fed to the same FMAs as the fp32 kernel; A, C and every sum are fp32.
// On AVX2 this halves the weight bytes, not the arithmetic: expect the fp32 kernel's speed
// (a little less for the two extra integer ops per K step) and half its weight memory.
//
// Packed weight layout: ceil(n/16) panels of 16 columns, each k rows of 32 bytes; in row p,
// 32-bit lane l (0..7) holds column l in its low half and column 8+l in its high half, so one
// load gives columns 0-7 by a left shift of 16 and columns 8-15 by masking the low half
// (zero past n).
//
// Loop nest: tasks of (M block × N block), kernels/gemm_plan.h; the micro-kernel runs over
// the whole K with the accumulators in registers (no partial sums in C, so C may alias the
// residual), reading A in place.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <new>
#include <vector>
#include <cstdlib>
#include <cstring>

#include "common/half.h"
#include "kernels/gemm_plan.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/x86/avx2/gemm_reduced_avx2.h"
#include "kernels/x86/avx2/simd_avx2.h"

namespace bertrank::kernels::avx2 {
#include "kernels/x86/common.inc"

namespace {
constexpr int BF_MR = 6;
constexpr int BF_NR = 16;
constexpr int BF_MC = 96;

inline size_t bf_panel_elems(int k) { return size_t(BF_NR) * size_t(k); }

struct BfEpilogue {
  const float* bias;      // offset to the tile's first column, or null
  const float* residual;  // offset to the tile's first element, or null
  int ldr;
  Activation act;
};

inline void bf_store_vec(const BfEpilogue& e, __m256 x, float* c, int i, int col, int nv) {
  if (e.bias) x = _mm256_add_ps(x, nv == W ? vload(e.bias + col) : vload_n(e.bias + col, nv));
  act_residual_store(e.act, x, e.residual ? e.residual + size_t(i) * e.ldr + col : nullptr, c + col, nv);
}

template <int ROWS>
__attribute__((always_inline)) inline void ukernel_bf16(int k, const float* __restrict a, int lda,
                                                        const uint16_t* __restrict bp, float* c, int ldc,
                                                        int ncols, const BfEpilogue& e) {
  __m256 acc[ROWS][2];
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const float* ar[ROWS];
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) ar[i] = a + size_t(i) * lda;
  const __m256i hi_mask = _mm256_set1_epi32(int32_t(0xFFFF0000u));
  for (int p = 0; p < k; ++p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + size_t(p) * BF_NR));
    const __m256 b0 = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    const __m256 b1 = _mm256_castsi256_ps(_mm256_and_si256(v, hi_mask));
#pragma GCC unroll 8
    for (int i = 0; i < ROWS; ++i) {
      const __m256 av = _mm256_broadcast_ss(ar[i] + p);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) {
    float* ci = c + size_t(i) * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < 2; ++v) {
      const int nv = imin(W, ncols - v * W);
      if (nv > 0) bf_store_vec(e, acc[i][v], ci, i, v * W, nv);
    }
  }
}

using BfFn = void (*)(int, const float*, int, const uint16_t*, float*, int, int, const BfEpilogue&);
template <int ROWS>
void bf_call(int k, const float* a, int lda, const uint16_t* bp, float* c, int ldc, int ncols, const BfEpilogue& e) {
  ukernel_bf16<ROWS>(k, a, lda, bp, c, ldc, ncols, e);
}
constexpr BfFn kBf[BF_MR] = {&bf_call<1>, &bf_call<2>, &bf_call<3>, &bf_call<4>, &bf_call<5>, &bf_call<6>};
}  // namespace

size_t gemm_bf16_packed_bytes(int n, int k) {
  return size_t((n + BF_NR - 1) / BF_NR) * bf_panel_elems(k) * sizeof(uint16_t);
}

void gemm_bf16_pack(const float* w, int n, int k, void* packed) {
  const int np = (n + BF_NR - 1) / BF_NR;
  auto* out = static_cast<uint16_t*>(packed);
  parallel_for(np, gemm_pack_threads(n, k), [&](int64_t task, int) {
    const int jp = int(task);
    uint16_t* dst = out + size_t(jp) * bf_panel_elems(k);
    for (int j = 0; j < BF_NR; ++j) {
      const int col = jp * BF_NR + j;
      const int slot = j < 8 ? 2 * j : 2 * (j - 8) + 1;  // low half of lane j, or high half of lane j-8
      for (int p = 0; p < k; ++p)
        dst[size_t(p) * BF_NR + size_t(slot)] = col < n ? bertrank::float_to_bf16(w[size_t(col) * k + p]) : 0;
    }
  });
}

void gemm_bf16(const GemmQArgs& g) {
  const int m = g.m, n = g.n, k = g.k;
  if (m <= 0 || n <= 0) return;
  const int np = (n + BF_NR - 1) / BF_NR;
  const double flops = 2.0 * m * double(n) * k;
  const GemmPlan plan = gemm_plan(m, np, BF_MR, BF_MC, flops >= 1.5e6 ? parallel_max_threads() : 1);
  const auto* panels = static_cast<const uint16_t*>(g.packed_w);
  gemm_run(plan, [&](const GemmTask& task) {
    const int i0 = task.row0, rows = task.rows;
    for (int jp = task.panel0; jp < task.panel1; ++jp) {
      const int col0 = jp * BF_NR, ncols = imin(BF_NR, n - col0);
      const uint16_t* bp = panels + size_t(jp) * bf_panel_elems(k);
      const RowTiles tiles(rows, BF_MR);
      for (int t = 0, ir = 0; t < tiles.count; ir += tiles.height(t), ++t) {
        const int r = tiles.height(t), row = i0 + ir;
        const BfEpilogue e{g.bias ? g.bias + col0 : nullptr,
                           g.residual ? g.residual + size_t(row) * g.ldr + col0 : nullptr, g.ldr, g.act};
        kBf[r - 1](k, g.a + size_t(row) * g.lda, g.lda, bp, g.c + size_t(row) * g.ldc + col0, g.ldc, ncols, e);
      }
    }
  });
}

}  // namespace bertrank::kernels::avx2
