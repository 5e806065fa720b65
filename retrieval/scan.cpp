// Scalar reference of the scan kernels (the test oracle and the fallback) and the dispatch.
#include "retrieval/scan.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace bertrank::retrieval::scan {

#if BERTRANK_RETRIEVAL_HAVE_AVX2
const ScanTable* avx2_table_impl();
#else
static const ScanTable* avx2_table_impl() { return nullptr; }
#endif

namespace {

void ip_block_ref(size_t nq, const float* q, size_t ldq, size_t nr, const float* r, size_t ldr,
                  size_t d, float* out, size_t ldo) {
  for (size_t i = 0; i < nq; ++i)
    for (size_t j = 0; j < nr; ++j) {
      // 8 lanes, as the SIMD versions accumulate, then a fixed reduction tree.
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      const float* a = q + i * ldq;
      const float* b = r + j * ldr;
      for (size_t t = 0; t < d; ++t) acc[t & 7] += a[t] * b[t];
      out[i * ldo + j] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
}

float half_to_float(uint16_t h) {
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

void f16_to_f32_ref(size_t n, const uint16_t* in, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = half_to_float(in[i]);
}
void f32_to_f16_ref(size_t n, const float* in, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = float_to_half(in[i]);
}
void u8_to_f32_ref(size_t n, const uint8_t* in, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = (float)in[i];
}

const ScanTable kRef = {"ref", ip_block_ref, f16_to_f32_ref, f32_to_f16_ref, u8_to_f32_ref};

const ScanTable& choose() {
  const char* env = std::getenv("BERTRANK_ISA");
  if (env && std::string(env) == "ref") return kRef;
  if (const ScanTable* t = avx2_table()) return *t;
  return kRef;
}

}  // namespace

const ScanTable& ref_table() { return kRef; }

#if defined(__x86_64__) || defined(__i386__)
// F16C is CPUID leaf 1, ECX bit 29. Read directly: clang (14) rejects
// __builtin_cpu_supports("f16c"). The OS-saves-YMM check is in cpu_supports(avx2).
static bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
#endif

const ScanTable* avx2_table() {
#if defined(__x86_64__) || defined(__i386__)
  if (!kernels::cpu_supports(kernels::Isa::avx2) || !cpu_has_f16c()) return nullptr;
  return avx2_table_impl();
#else
  return nullptr;
#endif
}

const ScanTable& active() {
  static const ScanTable& t = choose();
  return t;
}

}  // namespace bertrank::retrieval::scan
