// The batch worker: take what has arrived (token budget), group by engine params, one call each.
#include "server/batcher.h"

#include <chrono>
#include <cstdio>
#include <exception>

namespace bertrank::server {

BatchEngine batch_engine_embed(const bertrank_model* model, int num_threads, int max_batch_tokens) {
  return [=](const BatchKey& key, const std::vector<const char*>& a, const std::vector<size_t>& a_len,
             const std::vector<const char*>*, const std::vector<size_t>*, float* out) -> std::string {
    bertrank_embed_params p = bertrank_embed_default_params();
    p.num_threads = num_threads;
    p.max_length = key.max_length;
    p.normalize = key.normalize;
    if (max_batch_tokens > 0) p.max_batch_tokens = max_batch_tokens;
    bertrank_model_info info;
    if (bertrank_model_get_info(model, &info) != BERTRANK_OK) return bertrank_last_error();
    const size_t n = a.size();
    if (bertrank_embed(model, a.data(), a_len.data(), n, &p, out, n * size_t(info.dim), nullptr) != BERTRANK_OK)
      return bertrank_last_error();
    return "";
  };
}

BatchEngine batch_engine_score(const bertrank_model* model, int num_threads, int max_batch_tokens) {
  return [=](const BatchKey& key, const std::vector<const char*>& a, const std::vector<size_t>& a_len,
             const std::vector<const char*>* b, const std::vector<size_t>* b_len, float* out) -> std::string {
    if (!b || !b_len || b->size() != a.size()) return "score batch without second texts";
    bertrank_score_params p = bertrank_score_default_params();
    p.num_threads = num_threads;
    p.max_length = key.max_length;
    p.activation = BERTRANK_ACTIVATION_NONE;
    if (max_batch_tokens > 0) p.max_batch_tokens = max_batch_tokens;
    bertrank_model_info info;
    if (bertrank_model_get_info(model, &info) != BERTRANK_OK) return bertrank_last_error();
    const size_t n = a.size(), width = info.num_labels > 0 ? size_t(info.num_labels) : 1;
    if (bertrank_score_pairs(model, a.data(), a_len.data(), b->data(), b_len->data(), n, &p, out, n * width) !=
        BERTRANK_OK)
      return bertrank_last_error();
    return "";
  };
}

Batcher::Batcher(BatchEngine engine, size_t width, size_t max_batch_tokens, Metrics* metrics, int model_index)
    : engine_(std::move(engine)),
      width_(width),
      max_batch_tokens_(max_batch_tokens),
      metrics_(metrics),
      model_index_(model_index),
      worker_([this] { run(); }) {}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

BatchResult Batcher::submit(BatchJob job) {
  Pending p{std::move(job), {}};
  std::future<BatchResult> f = p.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return BatchResult{false, "the service is shutting down", {}};
    queue_.push_back(&p);
  }
  cv_.notify_one();
  return f.get();
}

size_t Batcher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

uint64_t Batcher::batches() const { return batches_.load(std::memory_order_relaxed); }

void Batcher::run() {
  for (;;) {
    std::vector<Pending*> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and the queued work is done
      size_t tokens = 0;
      while (!queue_.empty()) {
        Pending* next = queue_.front();
        if (!batch.empty() && tokens + next->job.tokens > max_batch_tokens_) break;
        tokens += next->job.tokens;
        batch.push_back(next);
        queue_.pop_front();
      }
    }
    // Group by key, keeping arrival order inside each group.
    std::vector<bool> taken(batch.size(), false);
    for (size_t i = 0; i < batch.size(); ++i) {
      if (taken[i]) continue;
      std::vector<Pending*> group;
      for (size_t j = i; j < batch.size(); ++j)
        if (!taken[j] && batch[j]->job.key == batch[i]->job.key) {
          taken[j] = true;
          group.push_back(batch[j]);
        }
      run_group(group);
    }
  }
}

void Batcher::run_group(std::vector<Pending*>& group) {
  std::vector<const char*> a, b;
  std::vector<size_t> a_len, b_len;
  size_t tokens = 0;
  bool pairs = false;
  for (Pending* p : group) {
    tokens += p->job.tokens;
    pairs = pairs || !p->job.queries.empty();
  }
  std::string error;
  std::vector<float> out;
  try {
    for (Pending* p : group) {
      const BatchJob& j = p->job;
      for (size_t i = 0; i < j.texts.size(); ++i) {
        if (pairs) {
          const std::string& q = i < j.queries.size() ? j.queries[i] : j.texts[i];
          a.push_back(q.data());
          a_len.push_back(q.size());
          b.push_back(j.texts[i].data());
          b_len.push_back(j.texts[i].size());
        } else {
          a.push_back(j.texts[i].data());
          a_len.push_back(j.texts[i].size());
        }
      }
    }
    out.resize(a.size() * width_);
    const auto t0 = std::chrono::steady_clock::now();
    if (!a.empty()) error = engine_(group.front()->job.key, a, a_len, pairs ? &b : nullptr, pairs ? &b_len : nullptr, out.data());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    batches_.fetch_add(1, std::memory_order_relaxed);
    if (metrics_ && error.empty()) metrics_->count_batch(model_index_, a.size(), tokens, seconds);
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown engine failure";
  }
  if (!error.empty()) std::fprintf(stderr, "bertrank serve: %s batch of %zu inputs failed: %s\n",
                                   Metrics::model_name(model_index_), a.size(), error.c_str());
  size_t at = 0;
  for (Pending* p : group) {
    BatchResult r;
    const size_t n = p->job.texts.size() * width_;
    if (error.empty()) {
      r.ok = true;
      try {
        r.values.assign(out.begin() + std::ptrdiff_t(at), out.begin() + std::ptrdiff_t(at + n));
      } catch (...) {
        r.ok = false;
        r.error = "out of memory";
      }
    } else {
      r.error = error;
    }
    at += n;
    p->done.set_value(std::move(r));
  }
}

}  // namespace bertrank::server
