// Task pool behind parallel_for (see parallel.h for why it is not an OpenMP region).
#include "kernels/parallel.h"

#include <omp.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
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
  // The first exception a task threw; set once (under err_mu), rethrown on the caller.
  std::mutex err_mu;
  std::exception_ptr error;
  std::atomic<bool> failed{false};
};

thread_local bool t_in_task = false;

// Sets t_in_task for a scope and restores it, also when the scope is left by an exception.
struct InTaskScope {
  bool saved;
  InTaskScope() : saved(t_in_task) { t_in_task = true; }
  ~InTaskScope() { t_in_task = saved; }
};

// Claims tasks until none are left. A throwing task records its exception and stops the job:
// tasks not yet claimed are counted as done without running, so the caller's wait ends.
void run_tasks(Job& j, int slot) noexcept {
  for (;;) {
    const int64_t t = j.next.fetch_add(1, std::memory_order_relaxed);
    if (t >= j.ntasks) break;
    if (!j.failed.load(std::memory_order_relaxed)) {
      try {
        j.fn(j.ctx, t, slot);
      } catch (...) {
        std::lock_guard<std::mutex> lk(j.err_mu);
        if (!j.error) j.error = std::current_exception();
        j.failed.store(true, std::memory_order_relaxed);
      }
    }
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
  // Starts workers up to n. A thread that cannot be started (EAGAIN: a process or system
  // limit) is not an error: the job runs with the workers there are.
  void ensure_workers(int n) {
    std::lock_guard<std::mutex> lk(mu_);
    while (int(workers_.size()) < n) {
      const int id = int(workers_.size());
      try {
        // The generation before this job is published (run() bumps it after this call): a
        // worker that starts late still sees the job as new instead of sleeping through it.
        const uint64_t gen = generation_.load(std::memory_order_acquire);
        workers_.emplace_back([this, id, gen] { worker_loop(id, gen); });
      } catch (const std::exception&) {  // std::system_error (EAGAIN) or bad_alloc
        break;
      }
      workers_.back().detach();
    }
  }

  void worker_loop(int id, uint64_t seen) {
    t_in_task = true;  // a task that calls a kernel runs it serially
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

int cpu_count() {
  static const int n = [] {
    const long c = ::sysconf(_SC_NPROCESSORS_ONLN);
    return c >= 1 && c <= 65536 ? int(c) : 1;
  }();
  return n;
}

int clamp_threads(int n) {
  if (n <= 0) return n;
  return n < cpu_count() ? n : cpu_count();
}

ThreadScope::ThreadScope(int n) : saved_(omp_get_max_threads()) {
  if (n < 0) throw std::invalid_argument("num_threads must be >= 0 (0: the default), got " + std::to_string(n));
  const int want = clamp_threads(n > 0 ? n : saved_);
  if (want != saved_) omp_set_num_threads(want);
}
ThreadScope::~ThreadScope() { omp_set_num_threads(saved_); }

int parallel_max_threads() {
  if (t_in_task || omp_in_parallel()) return 1;
  return clamp_threads(omp_get_max_threads());
}

void parallel_for(int64_t ntasks, int max_threads, TaskFn fn, void* ctx) {
  if (ntasks <= 0) return;
  int threads = max_threads > 0 ? clamp_threads(max_threads) : parallel_max_threads();
  if (t_in_task || omp_in_parallel()) threads = 1;
  if (int64_t(threads) > ntasks) threads = int(ntasks);
  Job job;
  job.fn = fn, job.ctx = ctx, job.ntasks = ntasks;
  if (threads <= 1) {
    run_tasks(job, 0);
  } else {
    Pool& pool = Pool::get();
    std::unique_lock<std::mutex> lk(pool.busy, std::try_to_lock);
    InTaskScope in_task;
    if (!lk.owns_lock())  // another thread is using the pool: do our share alone
      run_tasks(job, 0);
    else
      pool.run(job, threads - 1);
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace bertrank::kernels
