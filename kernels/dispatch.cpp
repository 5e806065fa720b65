// cpuid once -> one table of function pointers. BERTRANK_ISA=ref|avx2|avx512 overrides.
// Adding an ISA: kernels/README.md.
#include <cstddef>
#include <cstdlib>
#include <iterator>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"
#include "kernels/ref/kernels_ref.h"

namespace bertrank::kernels {

// Defined in kernels/x86/<isa>/; kernels/CMakeLists.txt sets BERTRANK_HAVE_<ISA> when built.
#if BERTRANK_HAVE_AVX2
const KernelTable* avx2_table();
#else
static const KernelTable* avx2_table() { return nullptr; }
#endif
#if BERTRANK_HAVE_AVX512
const KernelTable* avx512_table();
#else
static const KernelTable* avx512_table() { return nullptr; }
#endif

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::ref: return "ref";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

bool cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::ref: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
#else
  return isa == Isa::ref;
#endif
}

const KernelTable* kernels_built(Isa isa) {
  switch (isa) {
    case Isa::ref: return &ref::table();
    case Isa::avx2: return avx2_table();
    case Isa::avx512: return avx512_table();
  }
  return nullptr;
}

const KernelTable* kernels_for(Isa isa) { return cpu_supports(isa) ? kernels_built(isa) : nullptr; }

const char* kernel_table_missing_entry(const KernelTable& t) {
  const struct {
    const char* name;
    bool set;
  } entries[] = {
      {"gemm_packed_floats", t.gemm_packed_floats != nullptr},
      {"gemm_pack", t.gemm_pack != nullptr},
      {"gemm", t.gemm != nullptr},
      {"attention", t.attention != nullptr},
      {"layernorm", t.layernorm != nullptr},
      {"gelu_erf", t.gelu_erf != nullptr},
      {"gelu_tanh", t.gelu_tanh != nullptr},
      {"tanh_inplace", t.tanh_inplace != nullptr},
      {"softmax_rows", t.softmax_rows != nullptr},
      {"pool_mean", t.pool_mean != nullptr},
      {"pool_max", t.pool_max != nullptr},
      {"l2_normalize", t.l2_normalize != nullptr},
      {"dot", t.dot != nullptr},
      {"gemm_q8_packed_bytes", t.gemm_q8_packed_bytes != nullptr},
      {"gemm_q8_pack", t.gemm_q8_pack != nullptr},
      {"gemm_q8", t.gemm_q8 != nullptr},
      {"gemm_bf16_packed_bytes", t.gemm_bf16_packed_bytes != nullptr},
      {"gemm_bf16_pack", t.gemm_bf16_pack != nullptr},
      {"gemm_bf16", t.gemm_bf16 != nullptr},
  };
  // A new entry in KernelTable that is not listed above fails here.
  static_assert(sizeof(KernelTable) ==
                    offsetof(KernelTable, gemm_packed_floats) + sizeof(entries) / sizeof(entries[0]) * sizeof(void (*)()),
                "kernel_table_missing_entry must list every entry of KernelTable");
  for (const auto& e : entries)
    if (!e.set) return e.name;
  return nullptr;
}

const KernelTable& select_kernels(const char* env) {
  if (env && *env) {
    const std::string want(env);
    const Isa* named = nullptr;
    std::string names;
    for (const Isa& i : kAllIsas) {
      if (want == isa_name(i)) named = &i;
      names += (names.empty() ? "" : ", ") + std::string(isa_name(i));
    }
    if (!named) throw std::runtime_error("BERTRANK_ISA='" + want + "' is not one of " + names);
    const Isa isa = *named;
    const KernelTable* t = kernels_for(isa);
    if (!t)
      throw std::runtime_error("BERTRANK_ISA=" + want + " was requested but this " +
                               (cpu_supports(isa) ? "build lacks" : "CPU lacks") + " " + want);
    return *t;
  }
  for (size_t i = std::size(kAllIsas); i-- > 0;)
    if (const KernelTable* t = kernels_for(kAllIsas[i])) return *t;
  return ref::table();
}

static const KernelTable& choose() { return select_kernels(std::getenv("BERTRANK_ISA")); }

const KernelTable& active() {
  static const KernelTable& t = choose();
  return t;
}

}  // namespace bertrank::kernels
