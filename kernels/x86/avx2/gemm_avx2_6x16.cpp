// GEMM, AVX2+FMA: 6x16 register tile (12 ymm accumulators). Body: kernels/x86/gemm_impl.inc.
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "kernels/kernels.h"
#include "kernels/x86/avx2/simd_avx2.h"

namespace bertrank::kernels::avx2 {
#include "kernels/x86/common.inc"
constexpr int MR = 6;
constexpr int NV = 2;
constexpr int KC_MAX = 256;
constexpr int MC_MAX = 120;
#include "kernels/x86/gemm_impl.inc"
}  // namespace bertrank::kernels::avx2
