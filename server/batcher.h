// batcher.h — dynamic batching for one model: requests from many connection threads are queued
// and one worker thread runs what has arrived as one engine call.
//
// Contract
//   submit(job) blocks the calling (connection) thread until the job's results are ready and
//   returns them: `width` floats per input (embeddings: dim; scores: num_labels), in input
//   order, or ok=false with the engine's message. It never throws except std::bad_alloc.
//   The worker takes queued jobs in arrival order while their tokens fit max_batch_tokens (a
//   job larger than the budget alone still runs, by itself), groups them by their engine
//   parameters (BatchKey) and makes one engine call per group, then completes each job. It never
//   waits for more jobs to arrive: at concurrency 1 a job runs at once, and batches form from
//   jobs that arrived while the previous batch ran. A job's inputs are never split.
//   Results are identical to running each job alone, because the engine's results do not depend
//   on the batch. An engine error completes every job of that call with the message (logged to
//   stderr); the worker keeps running. The destructor finishes queued jobs, then joins.
//   Admission (how many requests may wait) is the caller's: see Admission below.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bertrank/bertrank.h"
#include "server/metrics.h"

namespace bertrank::server {

// The engine parameters jobs must share to run in one call.
struct BatchKey {
  int normalize = -1;  // embeddings: bertrank_embed_params.normalize
  int max_length = 0;  // truncation length; 0: the model's
  bool operator==(const BatchKey& o) const { return normalize == o.normalize && max_length == o.max_length; }
};

struct BatchJob {
  std::vector<std::string> texts;    // embeddings: the inputs; scores: the second text of each pair
  std::vector<std::string> queries;  // scores only: the first text of each pair (same size as texts)
  size_t tokens = 0;                 // tokens of the whole job (for the batch budget and metrics)
  BatchKey key;
};

struct BatchResult {
  bool ok = false;
  std::string error;
  std::vector<float> values;  // texts.size() * width
};

// One engine call over n inputs: a[i] (and b[i] for pairs; b is null for embeddings), writing
// n * width floats to out. Returns "" or the error message. Must not throw.
using BatchEngine = std::function<std::string(const BatchKey& key, const std::vector<const char*>& a,
                                              const std::vector<size_t>& a_len, const std::vector<const char*>* b,
                                              const std::vector<size_t>* b_len, float* out)>;

// bertrank_embed / bertrank_score_pairs (raw logits) on `model` with these thread and memory
// settings.
BatchEngine batch_engine_embed(const bertrank_model* model, int num_threads, int max_batch_tokens);
BatchEngine batch_engine_score(const bertrank_model* model, int num_threads, int max_batch_tokens);

class Batcher {
 public:
  // model_index: Metrics' model label (0 encoder, 1 reranker); metrics may be null.
  Batcher(BatchEngine engine, size_t width, size_t max_batch_tokens, Metrics* metrics, int model_index);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  BatchResult submit(BatchJob job);
  size_t queue_depth() const;  // jobs waiting (not yet taken by the worker)
  uint64_t batches() const;    // engine calls made so far

 private:
  struct Pending {
    BatchJob job;
    std::promise<BatchResult> done;
  };
  void run();
  void run_group(std::vector<Pending*>& group);

  BatchEngine engine_;
  size_t width_, max_batch_tokens_;
  Metrics* metrics_;
  int model_index_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> batches_{0};
  std::thread worker_;
};

// Counts requests queued or running across all routes; try_enter() fails once `limit` are in.
class Admission {
 public:
  explicit Admission(size_t limit) : limit_(limit) {}
  bool try_enter() {
    size_t cur = n_.load(std::memory_order_relaxed);
    do {
      if (cur >= limit_) return false;
    } while (!n_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel));
    return true;
  }
  void leave() { n_.fetch_sub(1, std::memory_order_acq_rel); }
  size_t in_flight() const { return n_.load(std::memory_order_relaxed); }

 private:
  size_t limit_;
  std::atomic<size_t> n_{0};
};

}  // namespace bertrank::server
