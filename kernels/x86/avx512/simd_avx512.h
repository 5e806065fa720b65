// SIMD shim for the AVX-512 (F/BW/VL/DQ) kernels: 16 floats per vector.
// Same vocabulary as kernels/x86/avx2/simd_avx2.h; see there for why it is namespaced.
#pragma once
// GCC 12 warns spuriously inside its own avx512fintrin.h (_mm512_undefined_ps in reductions).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace bertrank::kernels::avx512 {

constexpr int W = 16;  // floats per vector
using vf = __m512;
using vm = __mmask16;

inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vset1(float x) { return _mm512_set1_ps(x); }
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline vf vbcast(const float* p) { return _mm512_set1_ps(*p); }

inline __mmask16 tail_mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
// First n lanes (n in [0, W]); masked lanes read as 0 and never fault.
inline vf vload_n(const float* p, int n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
inline void vstore_n(float* p, vf v, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
// Lanes >= n set to 0.
inline vf vmask_n(vf v, int n) { return _mm512_maskz_mov_ps(tail_mask(n), v); }

inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf vfnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
inline vf vabs(vf a) { return _mm512_abs_ps(a); }
inline vf vsignbit(vf a) { return _mm512_and_ps(_mm512_set1_ps(-0.0f), a); }
inline vf vor(vf a, vf b) { return _mm512_or_ps(a, b); }
inline vf vxor(vf a, vf b) { return _mm512_xor_ps(a, b); }
inline vf vround(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline vf vscale2(vf a, vf n) { return _mm512_scalef_ps(a, n); }
// a * 2^n where the low bits of t's pattern hold n (see vscale2_bits in simd_avx2.h).
inline vf vscale2_bits(vf a, vf t) {
  return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_slli_epi32(_mm512_castps_si512(t), 23)));
}
inline vm vlt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline vf vblend(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, a, b); }
inline vf vzero_where(vm m, vf a) { return _mm512_maskz_mov_ps(static_cast<__mmask16>(~m), a); }

inline float vhsum(vf v) { return _mm512_reduce_add_ps(v); }
inline float vhmax(vf v) { return _mm512_reduce_max_ps(v); }

}  // namespace bertrank::kernels::avx512
