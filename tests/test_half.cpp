// common/half.h against the copies it replaced (kept here verbatim as the oracle of "behaviour
// did not change"), and against the F16C hardware conversions where the CPU has them.
// Every one of the 65,536 half and bf16 patterns; for float -> half / bf16 every float whose
// bits below the rounding point are one of the edge patterns (exact, one above, one below /
// at / above the halfway point, all ones), for every sign, exponent and kept mantissa; where
// the half is subnormal (more bits dropped) the same edges for each exponent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/half.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define BERTRANK_TEST_F16C 1
#endif

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- the pre-issue-14 copies, verbatim -------------------------------------------------------
namespace legacy {

// model/safetensors.cpp (retrieval/scan.cpp had the same code with 0x8000u etc.)
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) { man <<= 1; --exp; }
      man &= 0x3ff;
      bits = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// retrieval/scan.cpp
float scan_half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) { mant <<= 1; --exp; }
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

// retrieval/scan.cpp
uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)  // inf or nan
    return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // rounds to inf
  if (absx < 0x38800000u) {  // subnormal or zero in half
    if (absx < 0x33000000u) return (uint16_t)sign;
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 - (e - 112)
    uint32_t hm = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (hm & 1))) ++hm;
    return (uint16_t)(sign | hm);
  }
  uint32_t h = ((absx - 0x38000000u) >> 13);
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return (uint16_t)(sign | h);
}

// kernels/ref/kernels_ref.cpp (model/safetensors.cpp had the same bf16_to_float)
uint16_t float_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN: keep it quiet
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float bf16_to_float(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace legacy

#if BERTRANK_TEST_F16C
__attribute__((target("f16c"))) float hw_half_to_float(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) uint16_t hw_float_to_half(float f) {
  return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
#endif

bool has_f16c() {
#if BERTRANK_TEST_F16C
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
#else
  return false;
#endif
}

// Floats whose low bits sit at every rounding edge of a 16-bit target that drops `drop` bits.
template <typename F>
void for_each_edge_float(int drop, F&& f) {
  const uint32_t halfway = 1u << (drop - 1), low = (1u << drop) - 1;
  const uint32_t edges[] = {0, 1, halfway - 1, halfway, halfway + 1, low};
  for (uint32_t hi = 0; hi < (1u << (32 - drop)); ++hi)
    for (uint32_t e : edges) f(float_of((hi << drop) | (e & low)));
}

// Positive floats that round to a subnormal half (or to 0 or the smallest normal), at every
// rounding edge: there float_to_half drops 14 to 24 bits, depending on the exponent. Plus every
// 97th float of that range.
template <typename F>
void for_each_subnormal_edge_float(F&& f) {
  for (uint32_t e = 102; e <= 112; ++e) {
    const uint32_t shift = 126 - e, halfway = 1u << (shift - 1), low = (1u << shift) - 1;
    const uint32_t edges[] = {0, 1, halfway - 1, halfway, halfway + 1, low};
    for (uint32_t hm = 0; hm < (1u << (24 - shift)); ++hm)
      for (uint32_t r : edges) {
        const uint32_t m = (hm << shift) | r;  // 24-bit significand, implicit bit included
        if (m < (1u << 23) || m >= (1u << 24)) continue;
        f(float_of((e << 23) | (m & 0x7fffffu)));
      }
  }
  for (uint32_t u = 0x33000000u - 4; u <= 0x38800000u; u += 97) f(float_of(u));
}

}  // namespace

TEST(Half, HalfToFloatAllPatternsMatchBothOldCopies) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint32_t got = bits_of(bertrank::half_to_float(uint16_t(h)));
    ASSERT_EQ(got, bits_of(legacy::half_to_float(uint16_t(h)))) << std::hex << h;
    ASSERT_EQ(got, bits_of(legacy::scan_half_to_float(uint16_t(h)))) << std::hex << h;
  }
}

TEST(Half, Bf16ToFloatAllPatternsMatchOldCopy) {
  for (uint32_t b = 0; b < 65536; ++b)
    ASSERT_EQ(bits_of(bertrank::bf16_to_float(uint16_t(b))), bits_of(legacy::bf16_to_float(uint16_t(b))))
        << std::hex << b;
}

TEST(Half, FloatToHalfMatchesOldCopyAtEveryRoundingEdge) {
  size_t n = 0;
  for_each_edge_float(13, [&](float f) {
    ++n;
    ASSERT_EQ(bertrank::float_to_half(f), legacy::float_to_half(f)) << std::hex << bits_of(f);
  });
  // Subnormal halves drop more than 13 bits (both signs: the sign takes no part in rounding).
  for_each_subnormal_edge_float([&](float f) {
    ASSERT_EQ(bertrank::float_to_half(f), legacy::float_to_half(f)) << std::hex << bits_of(f);
    ASSERT_EQ(bertrank::float_to_half(-f), legacy::float_to_half(-f)) << std::hex << bits_of(-f);
  });
  EXPECT_EQ(n, size_t(6) << 19);
}

TEST(Half, FloatToBf16MatchesOldCopyAtEveryRoundingEdge) {
  for_each_edge_float(16, [&](float f) {
    ASSERT_EQ(bertrank::float_to_bf16(f), legacy::float_to_bf16(f)) << std::hex << bits_of(f);
  });
}

TEST(Half, RoundTripsAndEdgeValues) {
  using bertrank::bf16_to_float;
  using bertrank::float_to_bf16;
  using bertrank::float_to_half;
  using bertrank::half_to_float;
  // Every non-NaN half and bf16 survives a round trip through float.
  for (uint32_t h = 0; h < 65536; ++h) {
    const bool half_nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
    if (!half_nan) {
      ASSERT_EQ(float_to_half(half_to_float(uint16_t(h))), h) << std::hex << h;
    }
    const bool bf_nan = (h & 0x7f80u) == 0x7f80u && (h & 0x7fu);
    if (!bf_nan) {
      ASSERT_EQ(float_to_bf16(bf16_to_float(uint16_t(h))), h) << std::hex << h;
    } else {
      ASSERT_TRUE(std::isnan(bf16_to_float(float_to_bf16(bf16_to_float(uint16_t(h))))));
    }
  }
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(float_to_half(65504.0f), 0x7bffu);   // largest half
  EXPECT_EQ(float_to_half(65519.996f), 0x7bffu);  // just below the tie to Inf
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00u);   // the tie rounds to even: Inf
  EXPECT_EQ(float_to_half(-inf), 0xfc00u);
  EXPECT_EQ(float_to_half(std::nanf("")), 0x7e00u);
  EXPECT_EQ(float_to_half(-std::nanf("")), 0xfe00u);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001u);   // smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000u);   // its half: tie to even zero
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001u);
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002u);   // 1.5 ulp: tie to even 2
  EXPECT_EQ(float_to_half(-0.0f), 0x8000u);
  EXPECT_EQ(half_to_float(0x0001u), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03ffu), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_TRUE(std::isnan(half_to_float(0x7c01u)));
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 256), 0x3f80u);  // tie to even (down)
  EXPECT_EQ(float_to_bf16(1.0f + 3.0f / 256), 0x3f82u);  // tie to even (up)
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80u);  // rounds to Inf
  EXPECT_EQ(float_to_bf16(float_of(0x7f800001u)), 0x7fc0u);  // signalling NaN made quiet, not Inf
  EXPECT_EQ(float_to_bf16(float_of(0xff800001u)), 0xffc0u);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000u);
}

TEST(Half, AgreesWithF16cHardware) {
  if (!has_f16c()) GTEST_SKIP() << "this CPU has no F16C";
#if BERTRANK_TEST_F16C
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = bertrank::half_to_float(uint16_t(h)), b = hw_half_to_float(uint16_t(h));
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a)) << std::hex << h;
    } else {
      ASSERT_EQ(bits_of(a), bits_of(b)) << std::hex << h;
    }
  }
  for_each_edge_float(13, [&](float f) {
    if (std::isnan(f)) return;  // F16C keeps payload bits, half.h does not (both stay NaN)
    ASSERT_EQ(bertrank::float_to_half(f), hw_float_to_half(f)) << std::hex << bits_of(f);
  });
  for_each_subnormal_edge_float([&](float f) {
    ASSERT_EQ(bertrank::float_to_half(f), hw_float_to_half(f)) << std::hex << bits_of(f);
  });
#endif
}
