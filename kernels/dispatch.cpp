// cpuid once -> one table of function pointers. BERTRANK_ISA=ref|avx2|avx512 overrides.
#include <cstdlib>
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

const KernelTable* kernels_for(Isa isa) {
  if (!cpu_supports(isa)) return nullptr;
  switch (isa) {
    case Isa::ref: return &ref::table();
    case Isa::avx2: return avx2_table();
    case Isa::avx512: return avx512_table();
  }
  return nullptr;
}

const KernelTable& select_kernels(const char* env) {
  if (env && *env) {
    const std::string want(env);
    Isa isa;
    if (want == "ref") isa = Isa::ref;
    else if (want == "avx2") isa = Isa::avx2;
    else if (want == "avx512") isa = Isa::avx512;
    else throw std::runtime_error("BERTRANK_ISA='" + want + "' is not one of ref, avx2, avx512");
    const KernelTable* t = kernels_for(isa);
    if (!t)
      throw std::runtime_error("BERTRANK_ISA=" + want + " was requested but this " +
                               (cpu_supports(isa) ? "build lacks" : "CPU lacks") + " " + want);
    return *t;
  }
  for (Isa isa : {Isa::avx512, Isa::avx2})
    if (const KernelTable* t = kernels_for(isa)) return *t;
  return ref::table();
}

static const KernelTable& choose() { return select_kernels(std::getenv("BERTRANK_ISA")); }

const KernelTable& active() {
  static const KernelTable& t = choose();
  return t;
}

}  // namespace bertrank::kernels
