// The GEMM task planner (kernels/gemm_plan.h) that every GEMM driver shares: it covers every
// (row, panel) of C exactly once, and plans the shapes the benchmarks use exactly as the
// drivers' own copies did before it was shared.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/gemm_plan.h"

namespace bk = bertrank::kernels;

// The planner: every (row, panel) in exactly one task; M blocks of a multiple of mr rows (the
// last may be shorter) and at most mc_max rounded up to mr; threads capped by the tasks.
TEST(GemmPlan, TasksCoverCExactlyOnce) {
  for (int threads : {1, 2, 3, 8})
    for (int mr : {1, 6, 14})
      for (int mc_max : {72, 96, 112, 144})
        for (int m : {1, 2, 5, 6, 7, 13, 95, 96, 97, 143, 144, 145, 300, 1000})
          for (int np : {1, 2, 3, 24, 72, 97}) {
            const bk::GemmPlan p = bk::gemm_plan(m, np, mr, mc_max, threads);
            const std::string what = "m=" + std::to_string(m) + " np=" + std::to_string(np) + " mr=" +
                                     std::to_string(mr) + " mc_max=" + std::to_string(mc_max) +
                                     " threads=" + std::to_string(threads);
            ASSERT_EQ(p.mc % mr, 0) << what;
            ASSERT_LE(p.mc, (mc_max + mr - 1) / mr * mr) << what;
            ASSERT_GE(p.ntasks, 1) << what;
            ASSERT_GE(p.threads, 1) << what;
            ASSERT_LE(p.threads, std::max(1, std::min(threads, p.ntasks))) << what;
            if (threads == 1) {
              ASSERT_EQ(p.nnb, 1) << what;
            }
            std::vector<int> seen(size_t(m) * size_t(np), 0);
            for (int t = 0; t < p.ntasks; ++t) {
              const bk::GemmTask task = p.task(t);
              ASSERT_GT(task.rows, 0) << what;
              ASSERT_LT(task.panel0, task.panel1) << what;
              ASSERT_LE(task.row0 + task.rows, m) << what;
              ASSERT_LE(task.panel1, np) << what;
              for (int i = task.row0; i < task.row0 + task.rows; ++i)
                for (int j = task.panel0; j < task.panel1; ++j) ++seen[size_t(i) * np + j];
            }
            for (int v : seen) ASSERT_EQ(v, 1) << what;
          }
}

// The decomposition of the shapes the benchmarks and the MiniLM layers use, as the drivers
// computed it before the planner was shared (issue 14): same tasks, same speed.
TEST(GemmPlan, MatchesTheDriversFormerPlans) {
  struct Case {
    int m, np, mr, mc_max, threads;
    int mc, nmb, pnb, nnb, ntasks, used;
  };
  const Case cases[] = {
      // fp32 AVX2 (mr 6, MC 144), N = 384 / 16 = 24 and 1536 / 16 = 96 panels
      {512, 24, 6, 144, 1, 132, 4, 24, 1, 4, 1},
      {512, 24, 6, 144, 2, 132, 4, 12, 2, 8, 2},
      {16, 96, 6, 144, 2, 18, 1, 12, 8, 8, 2},
      {4096, 72, 6, 144, 2, 144, 29, 72, 1, 29, 2},
      // int8 / bf16 AVX2 (mr 6, MC 96)
      {128, 24, 6, 96, 2, 66, 2, 6, 4, 8, 2},
      {1, 24, 6, 96, 1, 6, 1, 24, 1, 1, 1},
      // AVX-512 fp32 (mr 14, MC 112), N = 384 / 32 = 12 panels
      {300, 12, 14, 112, 4, 112, 3, 2, 6, 18, 4},
  };
  for (const Case& c : cases) {
    const bk::GemmPlan p = bk::gemm_plan(c.m, c.np, c.mr, c.mc_max, c.threads);
    const std::string what = "m=" + std::to_string(c.m) + " np=" + std::to_string(c.np) +
                             " threads=" + std::to_string(c.threads);
    EXPECT_EQ(p.mc, c.mc) << what;
    EXPECT_EQ(p.nmb, c.nmb) << what;
    EXPECT_EQ(p.pnb, c.pnb) << what;
    EXPECT_EQ(p.nnb, c.nnb) << what;
    EXPECT_EQ(p.ntasks, c.ntasks) << what;
    EXPECT_EQ(p.threads, c.used) << what;
  }
}

TEST(GemmPlan, PackThreads) {
  EXPECT_EQ(bk::gemm_pack_threads(512, 512), 1);       // 2^18 elements: the calling thread
  EXPECT_EQ(bk::gemm_pack_threads(512, 513), 0);       // more: the default pool
  EXPECT_EQ(bk::gemm_pack_threads(1536, 384), 0);
}
