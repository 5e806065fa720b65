// The avx512 kernel table (picked by kernels/dispatch.cpp when the CPU supports it), filled by
// name at compile time; tests/test_dispatch.cpp checks that no entry is left null.
#include <cstddef>

#include "kernels/kernels.h"
#include "kernels/x86/avx2/gemm_reduced_avx2.h"

namespace bertrank::kernels::avx512 {
#include "kernels/x86/isa_decls.inc"

constexpr KernelTable make_table() {
  KernelTable t{};
  t.isa = Isa::avx512;
  fill_common_entries(t);
  // int8 and bf16: the AVX2 kernels and layouts; VNNI / AVX512-BF16 ones are still to come.
  avx2::fill_reduced_precision_entries(t);
  return t;
}
}  // namespace bertrank::kernels::avx512

namespace bertrank::kernels {

// Constant-initialised: no code of this (-mavx512f) file runs to build it, so kernels_built()
// may return it on any CPU.
const KernelTable* avx512_table() {
  static constexpr KernelTable t = avx512::make_table();
  return &t;
}

}  // namespace bertrank::kernels
