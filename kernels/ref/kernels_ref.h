// Scalar reference table (always compiled). See kernels/kernels.h for the contracts.
#pragma once
#include "kernels/kernels.h"

#include <cstdint>

namespace bertrank::kernels::ref {
const KernelTable& table();

// Symmetric quantisation of one row (kernels.h, "Reduced-precision GEMM"): writes
// q[0..n) = clamp(rne(x · qmax/max|x|), ±qmax) and returns the scale max|x| / qmax (0 for an
// all-zero row, whose q are then 0). qmax is kGemmQ8ActMax (127) for activations and
// kGemmQ8WeightMax (64) for weights. The AVX2 packers and quantisers reproduce it exactly.
float quantize_row_s8(const float* x, int n, int8_t* q, int qmax);
}
