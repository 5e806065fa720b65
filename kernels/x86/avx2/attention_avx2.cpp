// Attention over packed variable-length sequences. Body: kernels/x86/attention_impl.inc.
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
constexpr int ATT_QR = 6;
#include "kernels/x86/attention_impl.inc"
}  // namespace bertrank::kernels::avx2
