// AVX2+FMA+F16C scan kernels (compiled with -mavx2 -mfma -mf16c; chosen at run time).
#include "retrieval/scan.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace bertrank::retrieval::scan {
namespace {

inline float hsum(__m256 v) {
  // ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)), the reference's order.
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_add_ss(x, _mm_shuffle_ps(x, x, 1)));
}

inline __m256i tail_mask(size_t rem) {
  alignas(32) static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256((const __m256i*)(m + 8 - rem));
}

// One QN x RN tile: every pair has its own 8-lane accumulator, updated in the same order.
template <int QN, int RN>
inline void tile(const float* q, size_t ldq, const float* r, size_t ldr, size_t d, float* out,
                 size_t ldo) {
  __m256 acc[QN][RN];
  for (int i = 0; i < QN; ++i)
    for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_setzero_ps();
  size_t t = 0;
  for (; t + 8 <= d; t += 8) {
    __m256 rv[RN];
    for (int j = 0; j < RN; ++j) rv[j] = _mm256_loadu_ps(r + j * ldr + t);
    for (int i = 0; i < QN; ++i) {
      const __m256 qv = _mm256_loadu_ps(q + i * ldq + t);
      for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_fmadd_ps(qv, rv[j], acc[i][j]);
    }
  }
  if (t < d) {
    const __m256i m = tail_mask(d - t);
    __m256 rv[RN];
    for (int j = 0; j < RN; ++j) rv[j] = _mm256_maskload_ps(r + j * ldr + t, m);
    for (int i = 0; i < QN; ++i) {
      const __m256 qv = _mm256_maskload_ps(q + i * ldq + t, m);
      for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_fmadd_ps(qv, rv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < QN; ++i)
    for (int j = 0; j < RN; ++j) out[i * ldo + j] = hsum(acc[i][j]);
}

void ip_block_avx2(size_t nq, const float* q, size_t ldq, size_t nr, const float* r, size_t ldr,
                   size_t d, float* out, size_t ldo) {
  size_t i = 0;
  for (; i + 4 <= nq; i += 4) {
    const float* qi = q + i * ldq;
    float* oi = out + i * ldo;
    size_t j = 0;
    for (; j + 2 <= nr; j += 2) tile<4, 2>(qi, ldq, r + j * ldr, ldr, d, oi + j, ldo);
    for (; j < nr; ++j) tile<4, 1>(qi, ldq, r + j * ldr, ldr, d, oi + j, ldo);
  }
  for (; i < nq; ++i) {
    const float* qi = q + i * ldq;
    float* oi = out + i * ldo;
    size_t j = 0;
    for (; j + 4 <= nr; j += 4) tile<1, 4>(qi, ldq, r + j * ldr, ldr, d, oi + j, ldo);
    for (; j < nr; ++j) tile<1, 1>(qi, ldq, r + j * ldr, ldr, d, oi + j, ldo);
  }
}

void f16_to_f32_avx2(size_t n, const uint16_t* in, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(in + i))));
  if (i < n) {
    alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    alignas(32) float tf[8];
    for (size_t k = i; k < n; ++k) tmp[k - i] = in[k];
    _mm256_store_ps(tf, _mm256_cvtph_ps(_mm_load_si128((const __m128i*)tmp)));
    for (size_t k = i; k < n; ++k) out[k] = tf[k - i];
  }
}

void f32_to_f16_avx2(size_t n, const float* in, uint16_t* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i*)(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  if (i < n) {
    alignas(32) float tf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    alignas(16) uint16_t th[8];
    for (size_t k = i; k < n; ++k) tf[k - i] = in[k];
    _mm_store_si128((__m128i*)th, _mm256_cvtps_ph(_mm256_load_ps(tf), _MM_FROUND_TO_NEAREST_INT));
    for (size_t k = i; k < n; ++k) out[k] = th[k - i];
  }
}

void u8_to_f32_avx2(size_t n, const uint8_t* in, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i b = _mm_loadl_epi64((const __m128i*)(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
  }
  for (; i < n; ++i) out[i] = (float)in[i];
}

// Filled by name at compile time (constant-initialised: no AVX2 code runs to build it).
constexpr ScanTable make_avx2_table() {
  ScanTable t{};
  t.name = "avx2";
  t.ip_block = ip_block_avx2;
  t.f16_to_f32 = f16_to_f32_avx2;
  t.f32_to_f16 = f32_to_f16_avx2;
  t.u8_to_f32 = u8_to_f32_avx2;
  return t;
}
constexpr ScanTable kAvx2 = make_avx2_table();

}  // namespace

const ScanTable* avx2_table_impl() { return &kAvx2; }

}  // namespace bertrank::retrieval::scan

#endif  // __AVX2__ && __FMA__ && __F16C__
