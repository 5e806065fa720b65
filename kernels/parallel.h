// parallel.h — how gemm and attention spread their tiles over threads.
//
// Why not a plain `#pragma omp parallel for`: an OpenMP region ends in a barrier that every
// thread of the team must reach. On a machine whose cores are shared with other processes
// (the 2-core development VM; any busy server), a worker that is not scheduled when the
// region starts makes the caller wait for its next time slice: measured here, a 4.7 MFLOP
// GEMM took 25 ms instead of 0.1 ms with libgomp's default spinning workers.
//
// parallel_for instead hands out task indices from an atomic counter. The caller works too
// and only waits for tasks another thread has actually claimed; a worker that wakes late finds
// nothing left and goes back to sleep. Idle workers spin briefly (back-to-back kernel calls
// of a forward pass find them awake) and then sleep on a condition variable.
//
// Concurrent callers (a server calling the C API from many threads): one pool of up to
// cpu_count() - 1 workers serves them all. Each call publishes its job in a list of active
// jobs, runs tasks itself (slot 0), then waits only for the tasks workers claimed. An idle
// worker joins the listed job with unclaimed tasks and a free slot that has the fewest threads
// so far (the oldest on a tie), so N callers split the workers instead of the first taking
// them all; when that job has no tasks left it picks again. A job never has more threads than
// its own count, so thread_slot stays in [0, threads) and distinct within the call (slots are
// handed out once per call, never reused). The caller unlists its job, then waits until every
// worker that entered it has left (a count kept under the pool mutex), since the job lives on
// the caller's stack. (Was: one global job taken with try_lock; a second concurrent caller ran
// all its tasks alone on its own thread while the workers idled or served the first.)
// Why not work stealing or per-caller workers: a task is a whole GEMM tile or attention unit
// (microseconds to milliseconds), so the pool mutex, taken twice per worker join and twice per
// call, is cheap (single-caller GEMMs on 2 threads, old pool vs this one: no difference beyond
// the noise of the shared VM, bench_kernels A/B), and a caller never runs another caller's
// tasks (its latency stays its own, and an exception can only come from its own tasks).
// A caller waiting for its claimed tasks spins briefly, then sleeps on its job's condition
// variable (the old pool yielded in a loop: a runnable thread competing for the CPUs with the
// workers it waited for, and with other callers).
//
// Thread count: omp_get_max_threads() of the calling thread (so OMP_NUM_THREADS and
// omp_set_num_threads() still govern it), capped by the number of tasks and by the number of
// online CPUs (cpu_count(): more threads than CPUs never speeds up this compute-bound work, and
// `-t 10000` must not start 10,000 threads). It is an upper bound: with other calls running a
// job gets the workers that are free, down to the caller alone. Called from inside an OpenMP
// parallel region or from inside a parallel_for task, it runs serially on the calling thread
// (never deadlocks, never oversubscribes).
//
// Determinism: the kernels choose their task split from the thread count, but no task's
// arithmetic depends on it or on which thread runs it (each output element is computed by one
// task, in a fixed order: no K split across tasks, no reduction by slot), so results are
// bit-identical whatever the thread count and interleaving.
//
// Exceptions: a task that throws stops its own job (its tasks not yet started are skipped;
// other callers' jobs are untouched), and the first exception is rethrown by parallel_for on
// that job's calling thread once every running task of the job has returned. No exception
// ever escapes a worker thread.
#pragma once

#include <cstdint>

#include "common/parallel_errors.h"

namespace bertrank::kernels {

// Calls fn(ctx, task, thread_slot) once for every task in [0, ntasks); thread_slot is in
// [0, max_threads) and distinct among the threads of this call (usable to index scratch;
// another concurrent call has its own slots). May be called from many threads at once.
// max_threads <= 0 means omp_get_max_threads().
using TaskFn = void (*)(void* ctx, int64_t task, int thread_slot);
void parallel_for(int64_t ntasks, int max_threads, TaskFn fn, void* ctx);

// Convenience wrapper for lambdas: parallel_for(n, threads, [&](int64_t task, int slot) {...}).
template <typename F>
void parallel_for(int64_t ntasks, int max_threads, F&& f) {
  parallel_for(
      ntasks, max_threads,
      [](void* c, int64_t task, int slot) { (*static_cast<F*>(c))(task, slot); },
      static_cast<void*>(&f));
}

// The number of threads parallel_for would use now for a large job.
int parallel_max_threads();

// Online CPUs (sysconf), at least 1; and n capped at it (n <= 0 is returned unchanged: it
// means "the default" to the callers).
int cpu_count();
int clamp_threads(int n);

// Sets the calling thread's thread count (omp_set_num_threads, which parallel_for and the
// OpenMP regions of retrieval/ follow) for the lifetime of the object, and restores it.
// n > 0: n threads, capped at cpu_count(); n == 0: the process default, also capped (so
// OMP_NUM_THREADS=10000 does not start 10,000 threads); n < 0: std::invalid_argument.
class ThreadScope {
 public:
  explicit ThreadScope(int n);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

// ParallelErrors (exceptions out of OpenMP regions): common/parallel_errors.h.

}  // namespace bertrank::kernels
