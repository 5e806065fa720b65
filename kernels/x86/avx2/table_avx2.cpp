// The avx2 kernel table (picked by kernels/dispatch.cpp when the CPU supports it).
#include <cstddef>

#include "kernels/kernels.h"

namespace bertrank::kernels::avx2 {
#include "kernels/x86/isa_decls.inc"
size_t gemm_q8_packed_bytes(int n, int k);  // gemm_q8_avx2_6x16.cpp
void gemm_q8_pack(const float* w, int n, int k, void* packed);
void gemm_q8(const GemmQArgs& args);
size_t gemm_bf16_packed_bytes(int n, int k);  // gemm_bf16_avx2_6x16.cpp
void gemm_bf16_pack(const float* w, int n, int k, void* packed);
void gemm_bf16(const GemmQArgs& args);
}  // namespace bertrank::kernels::avx2

namespace bertrank::kernels {

const KernelTable* avx2_table() {
  namespace k = avx2;
  static const KernelTable t = {
      Isa::avx2,      k::gemm_packed_floats, k::gemm_pack, k::gemm,         k::attention,
      k::layernorm,   k::gelu_erf,           k::gelu_tanh, k::tanh_inplace, k::softmax_rows,
      k::pool_mean,   k::pool_max,           k::l2_normalize, k::dot,
      k::gemm_q8_packed_bytes, k::gemm_q8_pack, k::gemm_q8,
      k::gemm_bf16_packed_bytes, k::gemm_bf16_pack, k::gemm_bf16,
  };
  return &t;
}

}  // namespace bertrank::kernels
