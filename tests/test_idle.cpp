// An idle process must not burn CPU: after a burst of work, the kernel worker threads (and
// OpenMP's, used by the tokenizer) go to sleep. Measured as this process's CPU time
// (getrusage, all threads) over a second of sleep, so other load on the machine does not
// matter. Issue #7: "no spinning threads burning a core while idle". The model test embeds
// more than 64 texts so that the tokenizer's OpenMP loop runs too; with OMP_WAIT_POLICY=active
// (libgomp workers spin forever) it fails, which shows the check can see a spinning thread.
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bertrank/bertrank.h"
#include "kernels/parallel.h"
#include "test_paths.h"

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// CPU seconds used by the whole process during `idle` of sleeping, after `settle` of grace.
double idle_cpu(std::chrono::milliseconds settle, std::chrono::milliseconds idle) {
  std::this_thread::sleep_for(settle);
  const double c0 = cpu_seconds();
  std::this_thread::sleep_for(idle);
  return cpu_seconds() - c0;
}

TEST(Idle, KernelWorkersSleepAfterWork) {
  // Enough tasks for every worker to wake and take some.
  std::atomic<int64_t> sum{0};
  bertrank::kernels::parallel_for(4096, 4, [&](int64_t t, int) {
    volatile double x = 0;
    for (int i = 0; i < 2000; ++i) x = x + double(t) * 1e-9;
    sum += t;
  });
  ASSERT_EQ(sum.load(), 4096 * 4095 / 2);
  const double used = idle_cpu(std::chrono::milliseconds(200), std::chrono::milliseconds(1000));
  EXPECT_LT(used, 0.05) << "the process used " << used << " s of CPU while idle for 1 s";
}

TEST(Idle, LoadedModelIsIdleBetweenCalls) {
  const std::string path = bertrank::test::weights_dir() + "/all-MiniLM-L6-v2.brm";
  if (!bertrank::test::exists(path)) GTEST_SKIP() << path << " not found (run ./scripts/setup.sh)";
  bertrank_model* m = nullptr;
  ASSERT_EQ(bertrank_model_load(path.c_str(), nullptr, &m), BERTRANK_OK) << bertrank_last_error();
  std::vector<std::string> texts(96, "a sentence long enough to make every thread of the pool take part in the work");
  std::vector<const char*> p;
  for (auto& t : texts) p.push_back(t.c_str());
  std::vector<float> out(texts.size() * 384);
  bertrank_embed_params ep = bertrank_embed_default_params();
  ep.num_threads = std::max(2, omp_get_num_procs());
  ASSERT_EQ(bertrank_embed(m, p.data(), nullptr, p.size(), &ep, out.data(), out.size(), nullptr), BERTRANK_OK);
  const double used = idle_cpu(std::chrono::milliseconds(300), std::chrono::milliseconds(1000));
  EXPECT_LT(used, 0.05) << "a loaded model used " << used << " s of CPU while idle for 1 s";
  bertrank_model_free(m);
}

}  // namespace
