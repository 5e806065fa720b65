// int8 GEMM, AVX2: 6x16 register tile of int32 accumulators, vpmaddubsw + vpmaddwd (see
// kernels.h, "Reduced-precision GEMM", for the contract and why this cannot saturate).
//
// Operands: activations quantised to s8 in [-127, 127] and stored as u8 = s8 + 128 (1..255);
// weights quantised to [-64, 64]. vpmaddubsw (u8 × s8, adjacent pairs added into int16) then
// gives at most 2·255·64 = 32640 in magnitude: no saturation. vpmaddwd with ones adds pairs of
// those into int32 (4 products per lane) and vpaddd accumulates. The +128 offset is removed in
// the epilogue: Σ (a+128)·w = Σ a·w + 128·Σ w, with 128·Σ_p w[j,p] precomputed per column.
//
// Packed weight layout (npad = 16·ceil(n/16)): npad float scales, npad int32 values
// 128·colsum (both 0 past n), then ceil(n/16) panels of 16 columns. A panel holds kq = k
// rounded up to a multiple of 4, as kq/4 groups of 64 bytes; group g is columns 0-7 then 8-15
// of the panel, each column as its four weights W[col][4g .. 4g+3] (zero past n and past k).
//
// Per call: every row of A is quantised (u8, row stride kq, padding 128 = zero) into
// per-thread scratch, in parallel over row chunks; then tasks of (M block × N block,
// kernels/gemm_plan.h) run the micro-kernel over the whole K (int32 accumulators never leave
// registers, so C aliasing the residual is always safe and there is no partial-sum traffic).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <new>
#include <vector>
#include <cstdlib>
#include <cstring>

#include "kernels/gemm_plan.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/x86/avx2/gemm_reduced_avx2.h"
#include "kernels/x86/avx2/simd_avx2.h"

namespace bertrank::kernels::avx2 {
#include "kernels/x86/common.inc"

namespace {
#ifndef BERTRANK_GEMM_Q8_MR
#define BERTRANK_GEMM_Q8_MR 6
#endif
constexpr int Q8_MR = BERTRANK_GEMM_Q8_MR;
constexpr int Q8_NR = 16;
#ifndef BERTRANK_GEMM_Q8_MC
#define BERTRANK_GEMM_Q8_MC 96
#endif
constexpr int Q8_MC = BERTRANK_GEMM_Q8_MC;

inline int round_up4(int k) { return (k + 3) & ~3; }
inline size_t q8_npad(int n) { return size_t((n + Q8_NR - 1) / Q8_NR) * Q8_NR; }
inline size_t q8_head_bytes(int n) { return q8_npad(n) * 8; }  // scales + 128·colsums
inline size_t q8_panel_bytes(int k) { return size_t(Q8_NR) * size_t(round_up4(k)); }

// One row of A -> u8 = s8 + 128, kq entries (128 past k); returns the scale. Same arithmetic
// as ref::quantize_row_s8(x, k, q, 127): max|x| exact, x·(127/max) rounded to nearest even.
float quantize_row(const float* x, int k, int kq, uint8_t* q) {
  __m256 vmaxabs = _mm256_setzero_ps();
  int p = 0;
  for (; p + 8 <= k; p += 8) vmaxabs = _mm256_max_ps(vmaxabs, vabs(_mm256_loadu_ps(x + p)));
  if (p < k) vmaxabs = _mm256_max_ps(vmaxabs, vabs(vload_n(x + p, k - p)));
  const float amax = vhmax(vmaxabs);
  if (!(amax > 0.0f)) {
    std::memset(q, 128, size_t(kq));
    return 0.0f;
  }
  const float inv_s = 127.0f / amax;
  const __m256 inv = _mm256_set1_ps(inv_s);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i offset = _mm256_set1_epi8(-128);
  p = 0;
  for (; p + 32 <= k; p += 32) {
    __m256i v[4];
    for (int u = 0; u < 4; ++u) {
      const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p + 8 * u), inv));
      v[u] = _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
    }
    // packs work per 128-bit lane; the permute puts the 4-byte groups back in order.
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    const __m256i u8 = _mm256_xor_si256(_mm256_permutevar8x32_epi32(b, order), offset);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + p), u8);
  }
  for (; p < k; ++p) {
    float r = std::nearbyint(x[p] * inv_s);
    if (!(r >= -127.0f)) r = -127.0f;
    if (r > 127.0f) r = 127.0f;
    q[p] = uint8_t(int(r) + 128);
  }
  for (; p < kq; ++p) q[p] = 128;
  return amax / 127.0f;
}

struct Epilogue {
  const float* sw;        // column scales, offset to the tile's first column (padded to 16)
  const int32_t* comp;    // 128·colsum, likewise
  const float* bias;      // offset likewise, or null
  const float* residual;  // offset to the tile's first element, or null
  int ldr;
  Activation act;
};

inline void store_tile_vec(const Epilogue& e, __m256i acc, float sa, float* c, int i, int col, int nv) {
  acc = _mm256_sub_epi32(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.comp + col)));
  const __m256 x0 = _mm256_cvtepi32_ps(acc);
  const __m256 s = _mm256_mul_ps(_mm256_set1_ps(sa), _mm256_loadu_ps(e.sw + col));
  __m256 b = _mm256_setzero_ps();
  if (e.bias) b = nv == W ? vload(e.bias + col) : vload_n(e.bias + col, nv);
  const __m256 x = _mm256_fmadd_ps(x0, s, b);
  act_residual_store(e.act, x, e.residual ? e.residual + size_t(i) * e.ldr + col : nullptr, c + col, nv);
}

// C[ROWS × ncols] = epilogue(Aq[ROWS × kq] · panel); a: row stride lda bytes; quads = kq/4.
template <int ROWS>
__attribute__((always_inline)) inline void ukernel_q8(int quads, const uint8_t* __restrict a, int lda,
                                                      const int8_t* __restrict bp, const float* sa,
                                                      float* c, int ldc, int ncols, const Epilogue& e) {
  __m256i acc[ROWS][2];
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  const uint8_t* ar[ROWS];
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) ar[i] = a + size_t(i) * lda;
  const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 2
  for (int g = 0; g < quads; ++g) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + size_t(g) * 64));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + size_t(g) * 64 + 32));
#pragma GCC unroll 8
    for (int i = 0; i < ROWS; ++i) {
      int32_t quad;
      std::memcpy(&quad, ar[i] + 4 * g, 4);
      const __m256i av = _mm256_set1_epi32(quad);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
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

// The full 6-row tile in inline assembly: with intrinsics GCC spills accumulators inside the
// K loop (12 accumulators + 2 weight vectors + broadcast + temporary + the ones vector is 17
// ymm registers; here the ones are a memory operand of vpmaddwd, so 16 suffice).
void ukernel_q8_6(int quads, const uint8_t* __restrict a, int lda, const int8_t* __restrict bp, const float* sa,
                  float* c, int ldc, int ncols, const Epilogue& e) {
  alignas(32) static const int16_t kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const int64_t ld = lda;
  int64_t n = quads;
  if (n > 0) {
#define BR_Q8_ROW(addr, acc0, acc1)                  \
  "vpbroadcastd " addr ", %%ymm14\n\t"               \
  "vpmaddubsw %%ymm12, %%ymm14, %%ymm15\n\t"         \
  "vpmaddubsw %%ymm13, %%ymm14, %%ymm14\n\t"         \
  "vpmaddwd (%[ones]), %%ymm15, %%ymm15\n\t"         \
  "vpmaddwd (%[ones]), %%ymm14, %%ymm14\n\t"         \
  "vpaddd %%ymm15, %" acc0 ", %" acc0 "\n\t"         \
  "vpaddd %%ymm14, %" acc1 ", %" acc1 "\n\t"
    // r8: row 0 of A, r9: row 3, r10: weights, r11: K groups left (the operand limit of 30
    // leaves no room for them as read-write operands).
    __asm__ volatile(
        "movq %[a], %%r8\n\t"
        "leaq (%[a],%[ld],2), %%r9\n\t"
        "addq %[ld], %%r9\n\t"
        "movq %[b], %%r10\n\t"
        "movq %[n], %%r11\n\t"
        "1:\n\t"
        "vmovdqu (%%r10), %%ymm12\n\t"
        "vmovdqu 32(%%r10), %%ymm13\n\t"
        BR_Q8_ROW("(%%r8)", "[c00]", "[c01]")
        BR_Q8_ROW("(%%r8,%[ld])", "[c10]", "[c11]")
        BR_Q8_ROW("(%%r8,%[ld],2)", "[c20]", "[c21]")
        BR_Q8_ROW("(%%r9)", "[c30]", "[c31]")
        BR_Q8_ROW("(%%r9,%[ld])", "[c40]", "[c41]")
        BR_Q8_ROW("(%%r9,%[ld],2)", "[c50]", "[c51]")
        "addq $64, %%r10\n\t"
        "addq $4, %%r8\n\t"
        "addq $4, %%r9\n\t"
        "decq %%r11\n\t"
        "jnz 1b\n\t"
        : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20),
          [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41),
          [c50] "+x"(c50), [c51] "+x"(c51)
        : [a] "r"(a), [b] "r"(bp), [n] "r"(n), [ld] "r"(ld), [ones] "r"(kOnes)
        : "xmm12", "xmm13", "xmm14", "xmm15", "r8", "r9", "r10", "r11", "memory", "cc");
#undef BR_Q8_ROW
  }
  const __m256i acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < 6; ++i) {
    float* ci = c + size_t(i) * ldc;
    for (int v = 0; v < 2; ++v) {
      const int nv = imin(W, ncols - v * W);
      if (nv > 0) store_tile_vec(e, acc[i][v], sa[i], ci, i, v * W, nv);
    }
  }
}

using UkFn = void (*)(int, const uint8_t*, int, const int8_t*, const float*, float*, int, int, const Epilogue&);
template <int ROWS>
void uk_call(int quads, const uint8_t* a, int lda, const int8_t* bp, const float* sa, float* c, int ldc, int ncols,
             const Epilogue& e) {
  ukernel_q8<ROWS>(quads, a, lda, bp, sa, c, ldc, ncols, e);
}
#ifndef BERTRANK_GEMM_Q8_INTRINSICS_ONLY
constexpr UkFn kUk[6] = {&uk_call<1>, &uk_call<2>, &uk_call<3>, &uk_call<4>, &uk_call<5>, &ukernel_q8_6};
#else
constexpr UkFn kUk[6] = {&uk_call<1>, &uk_call<2>, &uk_call<3>, &uk_call<4>, &uk_call<5>, &uk_call<6>};
#endif
static_assert(Q8_MR >= 1 && Q8_MR <= 6, "Q8_MR in 1..6");

// Scratch for the quantised A of the calling thread: m*kq bytes, then m float scales.
struct Q8Scratch {
  void* p = nullptr;
  size_t cap = 0;
  ~Q8Scratch() { std::free(p); }
  void* get(size_t bytes) {
    if (bytes > cap) {
      std::free(p);
      p = nullptr;
      cap = (bytes + 4095) / 4096 * 4096;
      p = std::aligned_alloc(64, cap);
      if (!p) {
        cap = 0;
        throw std::bad_alloc();  // parallel_for carries it back to the caller
      }
    }
    return p;
  }
};
}  // namespace

size_t gemm_q8_packed_bytes(int n, int k) {
  return q8_head_bytes(n) + size_t((n + Q8_NR - 1) / Q8_NR) * q8_panel_bytes(k);
}

void gemm_q8_pack(const float* w, int n, int k, void* packed) {
  const int np = (n + Q8_NR - 1) / Q8_NR, kq = round_up4(k);
  auto* scales = static_cast<float*>(packed);
  auto* comp = reinterpret_cast<int32_t*>(static_cast<char*>(packed) + q8_npad(n) * 4);
  auto* panels = static_cast<int8_t*>(packed) + q8_head_bytes(n);
  std::memset(packed, 0, gemm_q8_packed_bytes(n, k));
  parallel_for(np, gemm_pack_threads(n, k), [&](int64_t task, int) {
    const int jp = int(task);
    int8_t* dst = panels + size_t(jp) * q8_panel_bytes(k);
    std::vector<int8_t> qbuf(size_t(kq), 0);
    int8_t* q = qbuf.data();
    for (int j = 0; j < Q8_NR; ++j) {
      const int col = jp * Q8_NR + j;
      if (col >= n) break;
      scales[col] = ref::quantize_row_s8(w + size_t(col) * k, k, q, kGemmQ8WeightMax);
      int32_t sum = 0;
      for (int p = 0; p < k; ++p) sum += q[p];
      comp[col] = 128 * sum;
      const int half = j / 8, c8 = j % 8;
      for (int g = 0; g < kq / 4; ++g)
        for (int u = 0; u < 4; ++u) dst[size_t(g) * 64 + size_t(half) * 32 + size_t(c8) * 4 + u] = q[4 * g + u];
    }
  });
}

void gemm_q8(const GemmQArgs& g) {
  const int m = g.m, n = g.n, k = g.k;
  if (m <= 0 || n <= 0) return;
  const int kq = round_up4(k), quads = kq / 4;
  const int np = (n + Q8_NR - 1) / Q8_NR;
  const int max_threads = parallel_max_threads();

  // 1. Quantise A (per row) into scratch.
  static thread_local Q8Scratch scratch;
  const size_t aq_bytes = (size_t(m) * size_t(kq) + 63) / 64 * 64;
  auto* base = static_cast<char*>(scratch.get(aq_bytes + size_t(m) * sizeof(float)));
  auto* aq = reinterpret_cast<uint8_t*>(base);
  auto* sa = reinterpret_cast<float*>(base + aq_bytes);
  {
    const int chunk = 32;
    const int nchunks = (m + chunk - 1) / chunk;
    const int qthreads = size_t(m) * size_t(k) >= (size_t(1) << 16) ? imin(max_threads, nchunks) : 1;
    parallel_for(nchunks, qthreads, [&](int64_t t, int) {
      const int r0 = int(t) * chunk, r1 = imin(m, r0 + chunk);
      for (int i = r0; i < r1; ++i) sa[i] = quantize_row(g.a + size_t(i) * g.lda, k, kq, aq + size_t(i) * kq);
    });
  }

  // 2. Tasks of (M block × N block), kernels/gemm_plan.h: M blocks of at most Q8_MC rows.
  const double macs = double(m) * n * k;
  const GemmPlan plan = gemm_plan(m, np, Q8_MR, Q8_MC, macs >= 1.5e6 ? max_threads : 1);
  const auto* sw_all = static_cast<const float*>(g.packed_w);
  const auto* comp_all = reinterpret_cast<const int32_t*>(static_cast<const char*>(g.packed_w) + q8_npad(n) * 4);
  const auto* panels = static_cast<const int8_t*>(g.packed_w) + q8_head_bytes(n);
  const size_t panel_bytes = q8_panel_bytes(k);

  gemm_run(plan, [&](const GemmTask& task) {
    const int i0 = task.row0, rows = task.rows;
    for (int jp = task.panel0; jp < task.panel1; ++jp) {
      const int col0 = jp * Q8_NR, ncols = imin(Q8_NR, n - col0);
      const int8_t* bp = panels + size_t(jp) * panel_bytes;
      for (int ir = 0; ir < rows; ir += Q8_MR) {
        const int r = imin(Q8_MR, rows - ir), row = i0 + ir;
        Epilogue e{sw_all + col0, comp_all + col0, g.bias ? g.bias + col0 : nullptr,
                   g.residual ? g.residual + size_t(row) * g.ldr + col0 : nullptr, g.ldr, g.act};
        kUk[r - 1](quads, aq + size_t(row) * kq, kq, bp, sa + row, g.c + size_t(row) * g.ldc + col0, g.ldc, ncols,
                   e);
      }
    }
  });
}

}  // namespace bertrank::kernels::avx2
