// half.h — scalar IEEE binary16 (half) and bfloat16 conversions, the one copy for every layer.
//
// Who uses them: model/safetensors.cpp reads F16 / BF16 checkpoints, the kernels' reference
// table and the AVX2 bf16 packer round weights to bf16, retrieval/scan.cpp's reference table
// stores and reads f16 vectors. The SIMD paths (F16C vcvtph2ps / vcvtps2ph, the bf16 shift)
// must agree with these bit for bit except where noted; tests/test_half.cpp holds every
// 16-bit pattern and the float rounding edges against them.
//
// Contract
//   half_to_float   exact (every half is a float): zero and subnormals (renormalised), normals,
//                   ±Inf; a NaN keeps its sign and payload (mantissa << 13), so stays a NaN.
//   float_to_half   round to nearest, ties to even. Values at or above 65520 in magnitude
//                   become ±Inf; below 2^-25 (half the smallest subnormal, ties go to the even
//                   zero) ±0; in between subnormal halves are rounded the same way. ±Inf stays
//                   ±Inf; every NaN becomes the quiet NaN sign|0x7e00 (payload dropped; F16C
//                   keeps the top payload bits instead — only NaN bits differ).
//   bf16_to_float   exact: the bf16 bits are the high half of the float.
//   float_to_bf16   round to nearest, ties to even (finite values near FLT_MAX round to ±Inf,
//                   as IEEE rounding does); a NaN keeps its sign and high payload bits and is
//                   made quiet (bit 0x0040), so it never rounds into Inf.
// Inline, no tables, no state; safe in any thread and in the kernels' hot pack loops.
// Internal linkage (an unnamed namespace): this header is included by files compiled with ISA
// flags (kernels/x86/avx2/*, -mavx2), and a shared inline symbol emitted there could be picked
// by the linker for a portable caller on a CPU without AVX2 (kernels/x86/avx2/simd_avx2.h).
#pragma once

#include <cstdint>
#include <cstring>

namespace bertrank {
namespace {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)  // inf or nan
    return uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to inf
  if (absx < 0x38800000u) {  // subnormal or zero in half
    if (absx < 0x33000000u) return uint16_t(sign);
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 - (e - 112)
    uint32_t hm = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (hm & 1))) ++hm;
    return uint16_t(sign | hm);
  }
  uint32_t h = (absx - 0x38000000u) >> 13;
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return uint16_t(sign | h);
}

inline float bf16_to_float(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t float_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN: keep it quiet
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

}  // namespace
}  // namespace bertrank
