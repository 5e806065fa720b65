// Helpers shared by the kernel tests (test_kernels.cpp, test_gemm_q8.cpp).
#pragma once

#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace bertrank::test {

inline const kernels::KernelTable& ref_kernels() { return *kernels::kernels_for(kernels::Isa::ref); }

// Every ISA but ref (kernels::kAllIsas): the tables the ISA tests compare against ref.
inline std::vector<kernels::Isa> simd_isas() {
  std::vector<kernels::Isa> out;
  for (kernels::Isa isa : kernels::kAllIsas)
    if (isa != kernels::Isa::ref) out.push_back(isa);
  return out;
}

// n floats uniform in [lo, hi), reproducible from the seed.
inline std::vector<float> random_vec(size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace bertrank::test
