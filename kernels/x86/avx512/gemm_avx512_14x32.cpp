// GEMM, AVX-512: 14x32 register tile (28 zmm accumulators). Body: kernels/x86/gemm_impl.inc.
#include "kernels/parallel.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "kernels/kernels.h"
#include "kernels/x86/avx512/simd_avx512.h"

namespace bertrank::kernels::avx512 {
#include "kernels/x86/common.inc"
constexpr int MR = 14;
constexpr int NV = 2;
constexpr int KC_MAX = 256;
constexpr int MC_MAX = 112;
#include "kernels/x86/gemm_impl.inc"
}  // namespace bertrank::kernels::avx512
