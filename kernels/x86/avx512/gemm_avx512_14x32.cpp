// GEMM, AVX-512: 14x32 register tile (28 zmm accumulators). Body: kernels/x86/gemm_impl.inc.
#include "kernels/gemm_plan.h"
#include "kernels/parallel.h"

#include <cmath>
#include <cstdint>
#include <new>
#include <vector>
#include <cstdlib>
#include <utility>

#include "kernels/kernels.h"
#include "kernels/x86/avx512/simd_avx512.h"

namespace bertrank::kernels::avx512 {
#include "kernels/x86/common.inc"
constexpr int MR = 14;
constexpr int NV = 2;
// Untuned: written and compiled on a Zen 3 without AVX-512, so never run. Starting points for
// a Zen 5 (48 KiB L1d, 1 MiB L2): a 256 × 32 B micro-panel is 32 KiB; a 112-row A block of
// K=384 is 168 KiB. Tune like the AVX2 ones (bench/README.md) on a machine that has AVX-512.
constexpr int KC_MAX = 256;
constexpr int MC_MAX = 112;
#include "kernels/x86/gemm_impl.inc"
}  // namespace bertrank::kernels::avx512
