// metrics.h — the counters and histograms GET /metrics exports, in the Prometheus text
// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Exported families:
//   bertrank_requests_total{route,status}              counter
//   bertrank_request_duration_seconds{route}           histogram
//   bertrank_queue_depth{model}                        gauge (requests waiting; read at render)
//   bertrank_batch_size{model}                         histogram, inputs per engine batch
//   bertrank_batch_tokens{model}                       histogram, tokens per engine batch
//   bertrank_tokens_total{model}                       counter (tokens/s = rate() of it)
//   bertrank_inference_seconds_total{model}            counter
//   bertrank_inference_duration_seconds{model}         histogram, seconds per engine call
// `route` is the route pattern ("/documents/{id}", or "other" for unknown paths), never the
// raw path, so a client cannot grow the label set. `model` is "encoder" or "reranker".
//
// Lock-light: histogram buckets, sums and the model counters are atomics updated without a
// lock; the (route, status) counters and per-route histograms sit in a map behind a mutex that
// is held only to find or insert an entry (the set of routes and statuses is small and fixed).
// All methods are thread-safe and never throw except std::bad_alloc.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bertrank::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // ascending; +Inf is implicit
  void observe(double v);
  // Appends the _bucket (cumulative), _sum and _count lines; labels: "" or `route="/embed"`.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (the last is +Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& route, int status, double seconds);
  // A batch the engine ran for `model` (index 0 encoder, 1 reranker).
  void count_batch(int model, size_t inputs, size_t tokens, double seconds);
  // queue_depth(model) is called at render time for each model.
  std::string render(const std::function<size_t(int model)>& queue_depth) const;

  static constexpr int kModels = 2;
  static const char* model_name(int model);

 private:
  struct PerModel {
    PerModel();
    Histogram batch_size, batch_tokens, inference_seconds;
    std::atomic<uint64_t> tokens{0};
    std::atomic<double> seconds{0.0};
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, std::unique_ptr<Histogram>> durations_;
  PerModel models_[kModels];
};

}  // namespace bertrank::server
