// SIMD shim for the AVX2+FMA kernels: 8 floats per vector.
//
// The shared kernel bodies (kernels/x86/*.inc) are written once against this small vocabulary
// and included inside an ISA namespace (bertrank::kernels::avx2 here); simd_avx512.h provides
// the same names for 16 floats. Everything here is `inline` in the ISA namespace, so the two
// ISAs never share a symbol: a function compiled with -mavx512f can never be picked by the
// linker for an AVX2 caller. For the same reason the .inc bodies avoid std:: templates that
// could be emitted out of line (containers, algorithms); they use the helpers below instead.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace bertrank::kernels::avx2 {

constexpr int W = 8;  // floats per vector
using vf = __m256;
using vm = __m256;  // lane mask (result of a compare)

inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vset1(float x) { return _mm256_set1_ps(x); }
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline vf vbcast(const float* p) { return _mm256_broadcast_ss(p); }

// Lane mask with the first n lanes set, n in [0, W].
inline __m256i tail_mask(int n) {
  alignas(64) static const int32_t tbl[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                              0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tbl + 8 - n));
}
// First n lanes (n in [0, W]); the other lanes read as 0 and are never touched in memory.
inline vf vload_n(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
inline void vstore_n(float* p, vf v, int n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
// Lanes >= n set to 0.
inline vf vmask_n(vf v, int n) { return _mm256_and_ps(v, _mm256_castsi256_ps(tail_mask(n))); }

inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }    // a*b + c
inline vf vfnmadd(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a*b
inline vf vabs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline vf vsignbit(vf a) { return _mm256_and_ps(_mm256_set1_ps(-0.0f), a); }
inline vf vor(vf a, vf b) { return _mm256_or_ps(a, b); }
inline vf vxor(vf a, vf b) { return _mm256_xor_ps(a, b); }
inline vf vround(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// a * 2^n for integer-valued n with n + 127 in [1, 254].
inline vf vscale2(vf a, vf n) {
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(a, _mm256_castsi256_ps(e));
}
// a * 2^n where the low bits of t's pattern hold n (t = x + 1.5·2^23, see vexp_nonpos):
// n << 23 is added to a's exponent field, exact as long as a and a·2^n are normal floats.
inline vf vscale2_bits(vf a, vf t) {
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(a), _mm256_slli_epi32(_mm256_castps_si256(t), 23)));
}
inline vm vlt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
// Lanes where m is set take b, the others a.
inline vf vblend(vm m, vf a, vf b) { return _mm256_blendv_ps(a, b, m); }
// Zero where m is set.
inline vf vzero_where(vm m, vf a) { return _mm256_andnot_ps(m, a); }

inline float vhsum(vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float vhmax(vf v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace bertrank::kernels::avx2
