// LayerNorm, activations, softmax, pooling, L2 normalisation, dot. Body: kernels/x86/rows_impl.inc.
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
#include "kernels/x86/rows_impl.inc"
}  // namespace bertrank::kernels::avx512
