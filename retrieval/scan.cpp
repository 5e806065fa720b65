// Scalar reference of the scan kernels (the test oracle and the fallback) and the dispatch.
#include "retrieval/scan.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/half.h"
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

void f16_to_f32_ref(size_t n, const uint16_t* in, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = half_to_float(in[i]);
}
void f32_to_f16_ref(size_t n, const float* in, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = float_to_half(in[i]);
}
void u8_to_f32_ref(size_t n, const uint8_t* in, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = (float)in[i];
}

// Filled by name at compile time; tests/test_dispatch.cpp checks that no entry is left null.
constexpr ScanTable make_ref_table() {
  ScanTable t{};
  t.name = "ref";
  t.ip_block = ip_block_ref;
  t.f16_to_f32 = f16_to_f32_ref;
  t.f32_to_f16 = f32_to_f16_ref;
  t.u8_to_f32 = u8_to_f32_ref;
  return t;
}
constexpr ScanTable kRef = make_ref_table();

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

const char* scan_table_missing_entry(const ScanTable& t) {
  static_assert(sizeof(ScanTable) == 5 * sizeof(void*), "scan_table_missing_entry must check every entry");
  if (!t.name || !*t.name) return "name";
  if (!t.ip_block) return "ip_block";
  if (!t.f16_to_f32) return "f16_to_f32";
  if (!t.f32_to_f16) return "f32_to_f16";
  if (!t.u8_to_f32) return "u8_to_f32";
  return nullptr;
}

const ScanTable& active() {
  static const ScanTable& t = choose();
  return t;
}

}  // namespace bertrank::retrieval::scan
