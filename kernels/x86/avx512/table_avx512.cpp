// The avx512 kernel table (picked by kernels/dispatch.cpp when the CPU supports it).
#include <cstddef>

#include "kernels/kernels.h"

namespace bertrank::kernels::avx512 {
#include "kernels/x86/isa_decls.inc"
}  // namespace bertrank::kernels::avx512

namespace bertrank::kernels::avx2 {  // kernels/x86/avx2/gemm_q8_avx2_6x16.cpp
size_t gemm_q8_packed_bytes(int n, int k);
void gemm_q8_pack(const float* w, int n, int k, void* packed);
void gemm_q8(const GemmQArgs& args);
size_t gemm_bf16_packed_bytes(int n, int k);  // gemm_bf16_avx2_6x16.cpp
void gemm_bf16_pack(const float* w, int n, int k, void* packed);
void gemm_bf16(const GemmQArgs& args);
}  // namespace bertrank::kernels::avx2

namespace bertrank::kernels {

const KernelTable* avx512_table() {
  namespace k = avx512;
  static const KernelTable t = {
      Isa::avx512,      k::gemm_packed_floats, k::gemm_pack, k::gemm,         k::attention,
      k::layernorm,   k::gelu_erf,           k::gelu_tanh, k::tanh_inplace, k::softmax_rows,
      k::pool_mean,   k::pool_max,           k::l2_normalize, k::dot,
      // int8 and bf16: the AVX2 kernels (every AVX-512 CPU has AVX2); VNNI / AVX512-BF16 ones
      // are still to come.
      avx2::gemm_q8_packed_bytes, avx2::gemm_q8_pack, avx2::gemm_q8,
      avx2::gemm_bf16_packed_bytes, avx2::gemm_bf16_pack, avx2::gemm_bf16,
  };
  return &t;
}

}  // namespace bertrank::kernels
