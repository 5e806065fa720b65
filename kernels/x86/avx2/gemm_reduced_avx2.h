// The AVX2 int8 and bf16 GEMMs (gemm_q8_avx2_6x16.cpp, gemm_bf16_avx2_6x16.cpp; contract in
// kernels.h, "Reduced-precision GEMM"), declared once for their definitions and for the two
// tables that use them: avx2's, and avx512's until VNNI / AVX512-BF16 kernels exist (every
// AVX-512 CPU has AVX2). Plain declarations: including this needs no ISA flags.
#pragma once

#include <cstddef>

#include "kernels/kernels.h"

namespace bertrank::kernels::avx2 {

size_t gemm_q8_packed_bytes(int n, int k);
void gemm_q8_pack(const float* w, int n, int k, void* packed);
void gemm_q8(const GemmQArgs& args);
size_t gemm_bf16_packed_bytes(int n, int k);
void gemm_bf16_pack(const float* w, int n, int k, void* packed);
void gemm_bf16(const GemmQArgs& args);

// Sets the six entries above in t, by name. Only evaluated at compile time (the tables are
// constexpr), so no copy of it is ever emitted with one ISA's flags for another.
constexpr void fill_reduced_precision_entries(KernelTable& t) {
  t.gemm_q8_packed_bytes = gemm_q8_packed_bytes;
  t.gemm_q8_pack = gemm_q8_pack;
  t.gemm_q8 = gemm_q8;
  t.gemm_bf16_packed_bytes = gemm_bf16_packed_bytes;
  t.gemm_bf16_pack = gemm_bf16_pack;
  t.gemm_bf16 = gemm_bf16;
}

}  // namespace bertrank::kernels::avx2
