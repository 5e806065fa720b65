// Task pool behind parallel_for (see parallel.h for why it is not an OpenMP region, and for
// how concurrent callers share the workers).
#include "kernels/parallel.h"

#include <omp.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
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
  TaskFn fn = nullptr;
  void* ctx = nullptr;
  int64_t ntasks = 0;
  int threads = 1;  // most threads this job may use, the caller included
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};  // tasks finished or skipped
  // The first exception a task threw; set once (under err_mu), rethrown on the caller.
  std::mutex err_mu;
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  // Under the pool mutex: slots handed out (slot 0 is the caller), workers inside the job,
  // whether the caller sleeps on `left` for them, and the links of the pool's list of jobs.
  int slots = 1;
  int inside = 0;
  bool waiting = false;
  std::condition_variable left;
  Job* prev = nullptr;
  Job* next_job = nullptr;
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

  // Runs the job on the caller and on up to job.threads - 1 workers.
  void run(Job& job) {
    ensure_workers(job.threads - 1);
    int sleeping;
    {
      std::lock_guard<std::mutex> lk(mu_);
      link(job);
      generation_.fetch_add(1, std::memory_order_release);
      sleeping = sleeping_;
    }
    // One wake-up per slot still free (extra ones would only find nothing to do).
    for (int i = 0; i < sleeping && i < job.threads - 1; ++i) cv_.notify_one();
    run_tasks(job, 0);
    // Every task is claimed now. Spin briefly for the ones workers still run (back-to-back
    // kernel calls end within microseconds of each other), then sleep until they are done.
    for (int i = 0; i < 4096 && job.done.load(std::memory_order_acquire) < job.ntasks; ++i) BERTRANK_PAUSE();
    std::unique_lock<std::mutex> lk(mu_);
    unlink(job);
    // A worker that picked the job may still be inside run_tasks (finding nothing, or running
    // its last task); the job lives on the caller's stack, so wait until every one has left.
    if (job.inside > 0) {
      job.waiting = true;
      job.left.wait(lk, [&] { return job.inside == 0; });
    }
  }

 private:
  // Starts workers up to n (at most cpu_count() - 1: the caller is the other thread). A
  // thread that cannot be started (EAGAIN: a process or system limit) is not an error: the
  // job runs with the workers there are.
  void ensure_workers(int n) {
    if (nworkers_.load(std::memory_order_acquire) >= n) return;
    std::lock_guard<std::mutex> lk(mu_);
    while (nworkers_.load(std::memory_order_relaxed) < n) {
      try {
        std::thread(&Pool::worker_loop, this).detach();
      } catch (const std::exception&) {  // std::system_error (EAGAIN) or bad_alloc
        break;
      }
      nworkers_.fetch_add(1, std::memory_order_release);
    }
  }

  void link(Job& j) {
    j.prev = tail_;
    j.next_job = nullptr;
    (tail_ ? tail_->next_job : head_) = &j;
    tail_ = &j;
  }
  void unlink(Job& j) {
    (j.prev ? j.prev->next_job : head_) = j.next_job;
    (j.next_job ? j.next_job->prev : tail_) = j.prev;
  }

  // Under mu_: the listed job with unclaimed tasks and a free slot that has the fewest
  // threads so far (the oldest of those), or null.
  Job* pick() const {
    Job* best = nullptr;
    for (Job* j = head_; j; j = j->next_job)
      if (j->slots < j->threads && j->next.load(std::memory_order_relaxed) < j->ntasks &&
          (!best || j->slots < best->slots))
        best = j;
    return best;
  }

  void worker_loop() {
    t_in_task = true;  // a task that calls a kernel runs it serially
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (Job* job = pick()) {
        const int slot = job->slots++;
        ++job->inside;
        lk.unlock();
        run_tasks(*job, slot);
        lk.lock();
        if (--job->inside == 0 && job->waiting) job->left.notify_one();
        continue;
      }
      // Nothing to do. The generation read under the lock that found nothing: a job
      // published after that changes it, so the wait below cannot miss it.
      const uint64_t seen = generation_.load(std::memory_order_relaxed);
      lk.unlock();
      // Spin for a while (~50-100 µs) so back-to-back calls find us awake, then sleep.
      for (int i = 0; i < 20000 && generation_.load(std::memory_order_acquire) == seen; ++i) BERTRANK_PAUSE();
      lk.lock();
      if (generation_.load(std::memory_order_relaxed) == seen) {
        ++sleeping_;
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
        --sleeping_;
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;   // workers sleep here; a new job wakes them
  Job* head_ = nullptr;          // jobs being run, oldest first (under mu_)
  Job* tail_ = nullptr;
  int sleeping_ = 0;             // workers waiting on cv_ (under mu_)
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) for every job published
  std::atomic<int> nworkers_{0};
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
  job.fn = fn, job.ctx = ctx, job.ntasks = ntasks, job.threads = threads;
  {
    InTaskScope in_task;  // a kernel called from a task runs serially, also when this call does
    if (threads <= 1) run_tasks(job, 0);
    else Pool::get().run(job);
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace bertrank::kernels
