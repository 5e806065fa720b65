// parallel_errors.h — exceptions out of OpenMP parallel regions.
//
// An exception that leaves an OpenMP region (or a worker thread) ends the process with
// std::terminate; an engine behind a socket must turn it into an error for its caller instead.
#pragma once

#include <atomic>
#include <exception>
#include <mutex>

namespace bertrank {

// For code inside an OpenMP parallel region, where an exception that leaves the region ends the
// process: run(f) calls f and keeps the first exception it throws; rethrow() after the region
// rethrows it on the calling thread. Every thread must still reach the region's worksharing
// constructs, so wrap the body of each iteration, not the construct:
//   ParallelErrors errs;
//   #pragma omp parallel for
//   for (...) errs.run([&] { ... });
//   errs.rethrow();
class ParallelErrors {
 public:
  template <typename F>
  void run(F&& f) noexcept {
    if (failed()) return;
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_release);
    }
  }
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  void rethrow() {
    if (failed()) std::rethrow_exception(error_);
  }

 private:
  std::mutex mu_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

}  // namespace bertrank
