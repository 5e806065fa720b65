// Task pool behind parallel_for (see parallel.h for why it is not an OpenMP region).
#include "kernels/parallel.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BERTRANK_PAUSE() _mm_pause()
#else
#define BERTRANK_PAUSE() ((void)0)
#endif

namespace bertrank::kernels {
namespace {

struct Job {
  TaskFn fn;
  void* ctx;
  int64_t ntasks;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<int> slots{1};  // slot 0 is the caller
};

thread_local bool t_in_task = false;

void run_tasks(Job& j, int slot) {
  for (;;) {
    const int64_t t = j.next.fetch_add(1, std::memory_order_relaxed);
    if (t >= j.ntasks) break;
    j.fn(j.ctx, t, slot);
    j.done.fetch_add(1, std::memory_order_release);
  }
}

class Pool {
 public:
  static Pool& get() {
    static Pool* p = new Pool();  // never destroyed: workers may outlive static destructors
    return *p;
  }

  // Runs the job on the caller and up to `helpers` workers.
  void run(Job& job, int helpers) {
    ensure_workers(helpers);
    {
      std::lock_guard<std::mutex> lk(mu_);
      wanted_ = helpers;
      current_.store(&job, std::memory_order_seq_cst);
      generation_.fetch_add(1, std::memory_order_seq_cst);
    }
    if (sleeping_.load(std::memory_order_seq_cst) > 0) cv_.notify_all();
    run_tasks(job, 0);
    // Wait only for tasks other threads claimed and are still running.
    for (int spins = 0; job.done.load(std::memory_order_acquire) < job.ntasks; ++spins) {
      if (spins < 4096) BERTRANK_PAUSE();
      else std::this_thread::yield();
    }
    current_.store(nullptr, std::memory_order_seq_cst);
    // A worker that picked up the job pointer may still be inside run_tasks (finding nothing);
    // the job lives on the caller's stack, so wait until every such worker has left.
    while (inside_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }

  std::mutex busy;  // one parallel_for at a time; others run serially

 private:
  void ensure_workers(int n) {
    std::lock_guard<std::mutex> lk(mu_);
    while (int(workers_.size()) < n) {
      const int id = int(workers_.size());
      workers_.emplace_back([this, id] { worker_loop(id); });
      workers_.back().detach();
    }
  }

  void worker_loop(int id) {
    t_in_task = true;  // a task that calls a kernel runs it serially
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      // Spin for a while (~50-100 µs) so back-to-back calls find us awake, then sleep.
      uint64_t g = seen;
      for (int i = 0; i < 20000 && (g = generation_.load(std::memory_order_acquire)) == seen; ++i)
        BERTRANK_PAUSE();
      if (g == seen) {
        std::unique_lock<std::mutex> lk(mu_);
        sleeping_.fetch_add(1, std::memory_order_seq_cst);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        sleeping_.fetch_sub(1, std::memory_order_seq_cst);
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (id >= wanted_.load(std::memory_order_acquire)) continue;
      inside_.fetch_add(1, std::memory_order_seq_cst);
      Job* job = current_.load(std::memory_order_seq_cst);
      if (job && job->next.load(std::memory_order_relaxed) < job->ntasks) {
        const int slot = job->slots.fetch_add(1, std::memory_order_relaxed);
        run_tasks(*job, slot);
      }
      inside_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<Job*> current_{nullptr};
  std::atomic<int> inside_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<int> wanted_{0};
};

}  // namespace

int parallel_max_threads() {
  if (t_in_task || omp_in_parallel()) return 1;
  return omp_get_max_threads();
}

void parallel_for(int64_t ntasks, int max_threads, TaskFn fn, void* ctx) {
  if (ntasks <= 0) return;
  int threads = max_threads > 0 ? max_threads : parallel_max_threads();
  if (t_in_task || omp_in_parallel()) threads = 1;
  if (int64_t(threads) > ntasks) threads = int(ntasks);
  Job job;
  job.fn = fn, job.ctx = ctx, job.ntasks = ntasks;
  if (threads <= 1) {
    run_tasks(job, 0);
    return;
  }
  Pool& pool = Pool::get();
  std::unique_lock<std::mutex> lk(pool.busy, std::try_to_lock);
  if (!lk.owns_lock()) {  // another thread is using the pool: do our share alone
    run_tasks(job, 0);
    return;
  }
  t_in_task = true;
  pool.run(job, threads - 1);
  t_in_task = false;
}

}  // namespace bertrank::kernels
