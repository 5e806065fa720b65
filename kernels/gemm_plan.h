// gemm_plan.h — how every GEMM driver (fp32, int8 and bf16; every ISA) cuts C into tasks
// for kernels/parallel.h. One copy, so that a new ISA's driver (kernels/<arch>/<isa>/) plans
// its work the way the measured ones do and only brings its micro-kernel and blocking sizes.
//
// The plan, for C of m rows × np panels (a panel: the NR columns one micro-kernel call
// covers, NR fixed by the kernel) with a micro-kernel at most mr rows high:
//   M blocks  nmb = ceil(m / mc_max) blocks of mc rows, mc = ceil(m / nmb) rounded up to a
//             multiple of mr (so no block but the last ends in a short row tile); then nmb is
//             recomputed from mc, and the last block may be shorter.
//   N blocks  1, unless threads > 1 and there are fewer than 4 M blocks per thread: then the
//             panels are cut into nnb blocks of pnb panels, nnb about 4·threads / nmb (capped
//             at np), so a thread that starts late (a busy, shared machine) finds tasks left.
//   tasks     nmb × nnb, M block major: task t is M block t / nnb and N block t % nnb.
//   threads   as given (the driver decides from the size of the product whether threads pay),
//             capped at the number of tasks; a single task runs on the calling thread.
// Inside a task the driver runs its own loop nest (K blocks, panels, row tiles). K is never
// split across tasks, so every element of C is computed by exactly one task, by the same
// instruction sequence whatever the plan: the plan decides speed, never results.
// Sizes: m >= 1, np >= 1, mr >= 1, mc_max >= 1 (the drivers return before planning otherwise).
//
// Defined in gemm_plan.cpp, compiled without ISA flags, and not inline: the drivers are
// compiled with -mavx2 or -mavx512f, and an inline function they shared could be emitted
// with either ISA's instructions and picked by the linker for the other (see simd_avx2.h).
#pragma once

#include <cstdint>

#include "kernels/parallel.h"

namespace bertrank::kernels {

struct GemmTask {
  int row0, rows;      // rows [row0, row0 + rows) of A and C
  int panel0, panel1;  // panels [panel0, panel1) of the packed weight and of C
};

struct GemmPlan {
  int m = 0, np = 0;
  int mc = 0, nmb = 0;   // M blocks: nmb blocks of mc rows (the last may be shorter)
  int pnb = 0, nnb = 0;  // N blocks: nnb blocks of pnb panels (the last may be shorter)
  int ntasks = 0, threads = 1;

  GemmTask task(int64_t t) const;  // t in [0, ntasks)
};

GemmPlan gemm_plan(int m, int np, int mr, int mc_max, int threads);

// Runs fn(const GemmTask&) for every task of the plan over parallel_for (exceptions: as there).
template <typename F>
void gemm_run(const GemmPlan& plan, F&& fn) {
  parallel_for(plan.ntasks, plan.threads, [&](int64_t t, int) { fn(plan.task(t)); });
}

// Threads for packing a weight at load time (the packers run over panels): the default pool
// for weights of more than 2^18 elements, the calling thread for smaller ones.
int gemm_pack_threads(int n, int k);

}  // namespace bertrank::kernels
