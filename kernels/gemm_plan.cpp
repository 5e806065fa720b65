#include "kernels/gemm_plan.h"

#include <cstddef>

namespace bertrank::kernels {

static int min_int(int a, int b) { return a < b ? a : b; }

GemmTask GemmPlan::task(int64_t t) const {
  const int ib = int(t) / nnb, jb = int(t) % nnb;
  const int row0 = ib * mc, panel0 = jb * pnb;
  return {row0, min_int(mc, m - row0), panel0, min_int(np, panel0 + pnb)};
}

GemmPlan gemm_plan(int m, int np, int mr, int mc_max, int threads) {
  GemmPlan p;
  p.m = m;
  p.np = np;
  p.nmb = (m + mc_max - 1) / mc_max;
  p.mc = ((m + p.nmb - 1) / p.nmb + mr - 1) / mr * mr;
  p.nmb = (m + p.mc - 1) / p.mc;
  p.nnb = 1;
  if (threads > 1 && p.nmb < 4 * threads) p.nnb = min_int(np, (4 * threads + p.nmb - 1) / p.nmb);
  p.pnb = (np + p.nnb - 1) / p.nnb;
  p.nnb = (np + p.pnb - 1) / p.pnb;
  p.ntasks = p.nmb * p.nnb;
  p.threads = p.ntasks < 2 ? 1 : min_int(threads, p.ntasks);
  return p;
}

int gemm_pack_threads(int n, int k) { return size_t(n) * size_t(k) > (size_t(1) << 18) ? 0 : 1; }

}  // namespace bertrank::kernels
