// Scalar reference table (always compiled). See kernels/kernels.h for the contracts.
#pragma once
#include "kernels/kernels.h"

#include <cstdint>

namespace bertrank::kernels::ref {
const KernelTable& table();

// Symmetric int8 quantisation of one row (kernels.h, "Reduced-precision GEMM"): writes
// q[0..n) = clamp(rne(x · 127/max|x|), ±127) and returns the scale max|x| / 127 (0 for an
// all-zero row, whose q are then 0). The AVX2 packers and quantisers reproduce it exactly.
float quantize_row_s8(const float* x, int n, int8_t* q);
}
