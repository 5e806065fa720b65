// The avx512 kernel table (picked by kernels/dispatch.cpp when the CPU supports it).
#include <cstddef>

#include "kernels/kernels.h"

namespace bertrank::kernels::avx512 {
#include "kernels/x86/isa_decls.inc"
}  // namespace bertrank::kernels::avx512

namespace bertrank::kernels {

const KernelTable* avx512_table() {
  namespace k = avx512;
  static const KernelTable t = {
      Isa::avx512,      k::gemm_packed_floats, k::gemm_pack, k::gemm,         k::attention,
      k::layernorm,   k::gelu_erf,           k::gelu_tanh, k::tanh_inplace, k::softmax_rows,
      k::pool_mean,   k::pool_max,           k::l2_normalize, k::dot,
  };
  return &t;
}

}  // namespace bertrank::kernels
