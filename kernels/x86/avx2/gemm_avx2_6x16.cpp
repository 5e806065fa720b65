// GEMM, AVX2+FMA: 6x16 register tile (12 ymm accumulators). Body: kernels/x86/gemm_impl.inc.
#include "kernels/gemm_plan.h"
#include "kernels/parallel.h"

#include <cmath>
#include <cstdint>
#include <new>
#include <vector>
#include <cstdlib>
#include <utility>

#include "kernels/kernels.h"
#include "kernels/x86/avx2/simd_avx2.h"

namespace bertrank::kernels::avx2 {
#include "kernels/x86/common.inc"
constexpr int MR = 6;
constexpr int NV = 2;
#ifndef BERTRANK_GEMM_KC
#define BERTRANK_GEMM_KC 384  // Zen 3: 384 (one K block for K=384: no C reload) beat 256 and 192
#endif
#ifndef BERTRANK_GEMM_MC
#define BERTRANK_GEMM_MC 144  // 144 > 72 on Zen 3: each B micro-panel fetched from L3 serves 24 row groups
#endif
constexpr int KC_MAX = BERTRANK_GEMM_KC;
constexpr int MC_MAX = BERTRANK_GEMM_MC;
#include "kernels/x86/gemm_impl.inc"
}  // namespace bertrank::kernels::avx2
